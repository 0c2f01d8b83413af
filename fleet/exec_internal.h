/*
 * The exec queue's private header: the in-memory state shared by the
 * fleet/exec_*.c files, never included outside them. exec_queue.h is the
 * public API and describes the states, the at-most-once rule and threads.
 *
 *   exec_queue.c       state: the id and node tables, list moves, reads, metrics, start-up
 *   exec_dispatch.c    long-poll delivery: handing queued commands to parked agents
 *   exec_wait.c        parking and waking: result waiters and internal submissions
 *   exec_transitions.c the transitions after a commit (submit, report, cancel/purge,
 *                      expiry, pruning, relayed output)
 *   exec_store.c       persistence: every SQL statement on the exec table, and the load
 *
 * Every command is an entry in the id table and in exactly one of its node's
 * lists: queued (FIFO by seq), reserved (taken out of the FIFO while a
 * dispatch or cancel is being committed), running, finished (finish order;
 * also linked in exec_finished_all, which pruning walks from the front).
 *
 * Functions named *_locked and the table functions run with exec_lock held
 * (exclusive unless they only read); the others take it themselves.
 */
#ifndef HC_EXEC_INTERNAL_H
#define HC_EXEC_INTERNAL_H

#include "exec_queue.h"
#include "lock.h"
#include "metrics.h"

/* the SQL prune runs at least this often (and whenever memory was pruned) */
#define EXEC_PRUNE_EVERY_TICKS 60
#define EXEC_PRUNE_BATCH 5000
#define EXEC_AUDIT_COMMAND_MAX 256

/* park values for result waiters */
#define WAKE_CHANGED 1

typedef struct waiter {
    park_t *park; /* the list holds one reference */
    struct waiter *next;
} waiter_t;

typedef struct exec_node exec_node_t;

typedef struct exec_entry {
    exec_rec_t rec;
    int64_t started_ms;      /* wall clock, for the expiry */
    uint64_t submit_mono_us; /* monotonic, when the submit was published; 0 = loaded at start (unknown) */
    int reserved;            /* out of the FIFO while a dispatch or cancel commits */
    int expiring;            /* a timeout transition is being committed */
    waiter_t *waiters;       /* parked on its result */
    exec_node_t *node;
    h2o_linklist_t node_link; /* in node->queued / reserved / running / finished */
    h2o_linklist_t fin_link;  /* in exec_finished_all */
    struct exec_entry *next_by_id;
} exec_entry_t;

struct exec_node {
    char id[NODE_ID_MAX];
    h2o_linklist_t queued, reserved, running, finished;
    size_t nqueued, nreserved, nrunning, nfinished;
    size_t nadmitted; /* submissions admitted by exec_queue_admit, not yet published or failed */
    waiter_t *agents; /* parked long polls, oldest first */
    waiter_t **agents_tail;
    exec_node_t *next;
};

struct exec_transition {
    exec_status_t from, to;
    char actor[EXEC_ACTOR_MAX]; /* "" = not audited (expiry) */
    const char *action;         /* audit action; set before items are added (they copy the command then) */
    char target[NODE_ID_MAX];   /* audit target for a purge: the node */
    char via[32];
    int64_t at;
    size_t n;
    struct transition_item {
        char id[EXEC_ID_MAX];
        char node_id[NODE_ID_MAX];
        char *command; /* audited transitions: the first EXEC_AUDIT_COMMAND_MAX bytes; NULL otherwise */
        int changed, published;
    } *items;
};

/* exec_queue.c */
extern hc_lock_t exec_lock;
/* guarded by exec_lock: the node table (walked by expiry and metrics) and
 * the finished entries in finish order */
extern exec_node_t **exec_node_tab;
extern size_t exec_node_buckets;
extern h2o_linklist_t exec_finished_all;
/* lock-free: submit acknowledged -> dispatch committed, in µs */
extern metrics_histogram_t exec_dispatch_latency;

int exec_status_from_db(const char *s, exec_status_t *out);
int exec_is_finished(exec_status_t s);
int64_t exec_wall_ms(void);
exec_entry_t *exec_entry_find(const char *id);
void exec_entry_index(exec_entry_t *e);
exec_node_t *exec_node_find(const char *id);
/* finds or creates; NULL on allocation failure */
exec_node_t *exec_node_get(const char *id);
exec_entry_t *exec_entry_of(h2o_linklist_t *link);
void exec_queue_insert_sorted(exec_node_t *n, exec_entry_t *e);
/* takes a queued entry out of the FIFO so nobody else can take it */
void exec_reserve_locked(exec_entry_t *e);
void exec_unreserve_locked(exec_entry_t *e);
void exec_unlink_from_node(exec_entry_t *e);
/* moves e to the finished lists; returns its result waiters (detached) */
waiter_t *exec_finish_locked(exec_entry_t *e, exec_status_t st, int64_t finished_at);
/* unlinks and frees e; appends its waiters to *waiters */
void exec_entry_drop_locked(exec_entry_t *e, waiter_t **waiters);
json_t *exec_entry_json_locked(const exec_entry_t *e, int with_output);
json_t *exec_result_json_locked(const exec_entry_t *e);

/* exec_wait.c */
void exec_waiters_append(waiter_t **list, waiter_t *more);
/* No lock held: wakes (or, when already woken, just releases) each waiter. */
void exec_wake_all(waiter_t *w, intptr_t value);
/* removes p from the list (and fixes *tail when given); 1 if it was there */
int exec_waiter_remove(waiter_t **list, waiter_t ***tail, park_t *p);

/* exec_dispatch.c */
/* Hands queued commands of the node to its parked agents; no lock held. */
void exec_kick(const char *node_id);

/* exec_transitions.c */
exec_transition_t *exec_transition_new(exec_status_t from, exec_status_t to, size_t n);
void exec_transition_add_locked(exec_transition_t *t, exec_entry_t *e);
/* submits t without a request waiting on it (expiry, internal cancels) */
void exec_transition_submit(exec_transition_t *t);
/* the requester of an internal submission is gone: cancel its command if it is still queued */
exec_transition_t *exec_cancel_abandoned_locked(exec_entry_t *e, const char *via);

/* exec_store.c: writes submitted to the store writer without a request
 * waiting on them; 0 when submitted, -1 when not (nothing left behind). */
int exec_store_prune_submit(int64_t cutoff);
/* takes text (malloc'ed) on success */
int exec_store_output_replace_submit(const char *exec_id, char *text);

#endif
