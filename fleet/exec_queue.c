/*
 * The exec queue: in-memory state under exec_lock, made durable through the
 * store writer. See exec_queue.h for the states, the at-most-once rule and
 * which thread calls what.
 *
 * Every command is an entry in the id table and in exactly one of its node's
 * lists: queued (FIFO by seq), reserved (taken out of the FIFO while a
 * dispatch or cancel is being committed), running, finished (finish order;
 * also linked in the global finished list that pruning walks from the front).
 */
#include "exec_queue.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "clock.h"
#include "housekeeping.h"
#include "jsonio.h"
#include "lock.h"
#include "log.h"
#include "metrics.h"
#include "secret.h"
#include "serve.h"
#include "store.h"

#define EXEC_TICK_MS 1000
/* the SQL prune runs at least this often (and whenever memory was pruned) */
#define EXEC_PRUNE_EVERY_TICKS 60
#define EXEC_PRUNE_BATCH 5000
#define EXEC_AUDIT_COMMAND_MAX 256

/* park values for result waiters */
#define WAKE_CHANGED 1

typedef struct waiter {
    park_t *park;
    struct waiter *next;
} waiter_t;

typedef struct exec_node exec_node_t;

typedef struct exec_entry {
    exec_rec_t rec;
    int64_t started_ms; /* wall clock, for the expiry */
    uint64_t submit_mono_us; /* monotonic, when the submit was published; 0 = loaded at start (unknown) */
    int reserved;       /* out of the FIFO while a dispatch or cancel commits */
    int expiring;       /* a timeout transition is being committed */
    waiter_t *waiters;  /* parked on its result */
    exec_node_t *node;
    h2o_linklist_t node_link; /* in node->queued / reserved / running / finished */
    h2o_linklist_t fin_link;  /* in finished_all */
    struct exec_entry *next_by_id;
} exec_entry_t;

struct exec_node {
    char id[NODE_ID_MAX];
    h2o_linklist_t queued, reserved, running, finished;
    size_t nqueued, nreserved, nrunning, nfinished;
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

static hc_lock_t exec_lock;
/* guarded by exec_lock: */
static exec_entry_t **by_id;
static size_t id_buckets, n_entries;
static exec_node_t **node_tab;
static size_t node_buckets, n_nodes;
static h2o_linklist_t finished_all;
/* lock-free: submit acknowledged -> dispatch committed, in µs */
static metrics_histogram_t dispatch_latency;
/* the store writer's (after exec_queue_load on main): the last seq handed out */
static int64_t writer_seq;
/* housekeeping thread only */
static unsigned prune_ticks;

static const char *const status_db[] = {"queued", "running", "done", "failed", "timeout", "canceled"};

const char *exec_status_db(exec_status_t s)
{
    return (unsigned)s < sizeof(status_db) / sizeof(status_db[0]) ? status_db[s] : "unknown";
}

const char *exec_status_api(exec_status_t s)
{
    return s == EXEC_QUEUED ? "pending" : exec_status_db(s);
}

static int status_from_db(const char *s, exec_status_t *out)
{
    for (size_t i = 0; i < sizeof(status_db) / sizeof(status_db[0]); i++)
        if (s != NULL && strcmp(s, status_db[i]) == 0) {
            *out = (exec_status_t)i;
            return 0;
        }
    return -1;
}

static int is_finished(exec_status_t s)
{
    return s >= EXEC_DONE;
}

void exec_rec_clear(exec_rec_t *rec)
{
    free(rec->command);
    free(rec->out);
    free(rec->err);
    rec->command = rec->out = rec->err = NULL;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* ---- tables (caller holds exec_lock) ---- */

static exec_entry_t *entry_find(const char *id)
{
    if (by_id == NULL)
        return NULL;
    for (exec_entry_t *e = by_id[hash_str(id) % id_buckets]; e != NULL; e = e->next_by_id)
        if (strcmp(e->rec.id, id) == 0)
            return e;
    return NULL;
}

static void id_rehash(void)
{
    size_t nb = id_buckets * 2;
    exec_entry_t **t = calloc(nb, sizeof(*t));
    if (t == NULL)
        return; /* longer chains, still correct */
    for (size_t b = 0; b < id_buckets; b++)
        for (exec_entry_t *e = by_id[b], *next; e != NULL; e = next) {
            next = e->next_by_id;
            size_t i = hash_str(e->rec.id) % nb;
            e->next_by_id = t[i];
            t[i] = e;
        }
    free(by_id);
    by_id = t;
    id_buckets = nb;
}

static void entry_index(exec_entry_t *e)
{
    if (n_entries + 1 > id_buckets)
        id_rehash();
    size_t i = hash_str(e->rec.id) % id_buckets;
    e->next_by_id = by_id[i];
    by_id[i] = e;
    n_entries++;
}

static void entry_unindex(exec_entry_t *e)
{
    for (exec_entry_t **pp = &by_id[hash_str(e->rec.id) % id_buckets]; *pp != NULL; pp = &(*pp)->next_by_id)
        if (*pp == e) {
            *pp = e->next_by_id;
            n_entries--;
            return;
        }
}

static exec_node_t *node_find(const char *id)
{
    if (node_tab == NULL)
        return NULL;
    for (exec_node_t *n = node_tab[hash_str(id) % node_buckets]; n != NULL; n = n->next)
        if (strcmp(n->id, id) == 0)
            return n;
    return NULL;
}

static void node_rehash(void)
{
    size_t nb = node_buckets * 2;
    exec_node_t **t = calloc(nb, sizeof(*t));
    if (t == NULL)
        return;
    for (size_t b = 0; b < node_buckets; b++)
        for (exec_node_t *n = node_tab[b], *next; n != NULL; n = next) {
            next = n->next;
            size_t i = hash_str(n->id) % nb;
            n->next = t[i];
            t[i] = n;
        }
    free(node_tab);
    node_tab = t;
    node_buckets = nb;
}

/* finds or creates; NULL on allocation failure */
static exec_node_t *node_get(const char *id)
{
    exec_node_t *n = node_find(id);
    if (n != NULL)
        return n;
    n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    snprintf(n->id, sizeof(n->id), "%s", id);
    h2o_linklist_init_anchor(&n->queued);
    h2o_linklist_init_anchor(&n->reserved);
    h2o_linklist_init_anchor(&n->running);
    h2o_linklist_init_anchor(&n->finished);
    n->agents_tail = &n->agents;
    if (n_nodes + 1 > node_buckets)
        node_rehash();
    size_t i = hash_str(id) % node_buckets;
    n->next = node_tab[i];
    node_tab[i] = n;
    n_nodes++;
    return n;
}

static exec_entry_t *entry_of(h2o_linklist_t *link)
{
    return H2O_STRUCT_FROM_MEMBER(exec_entry_t, node_link, link);
}

/* ---- list moves (caller holds exec_lock) ---- */

static void queue_insert_sorted(exec_node_t *n, exec_entry_t *e)
{
    h2o_linklist_t *pos = n->queued.prev;
    while (pos != &n->queued && entry_of(pos)->rec.seq > e->rec.seq)
        pos = pos->prev;
    h2o_linklist_insert(pos->next, &e->node_link);
    n->nqueued++;
}

/* takes a queued entry out of the FIFO so nobody else can take it */
static void reserve_locked(exec_entry_t *e)
{
    h2o_linklist_unlink(&e->node_link);
    e->node->nqueued--;
    h2o_linklist_insert(&e->node->reserved, &e->node_link);
    e->node->nreserved++;
    e->reserved = 1;
}

static void unreserve_locked(exec_entry_t *e)
{
    if (!e->reserved || e->rec.status != EXEC_QUEUED)
        return;
    h2o_linklist_unlink(&e->node_link);
    e->node->nreserved--;
    e->reserved = 0;
    queue_insert_sorted(e->node, e);
}

static void unlink_from_node(exec_entry_t *e)
{
    exec_node_t *n = e->node;
    if (!h2o_linklist_is_linked(&e->node_link))
        return;
    h2o_linklist_unlink(&e->node_link);
    switch (e->rec.status) {
    case EXEC_QUEUED:
        if (e->reserved)
            n->nreserved--;
        else
            n->nqueued--;
        break;
    case EXEC_RUNNING:
        n->nrunning--;
        break;
    default:
        n->nfinished--;
        break;
    }
}

/* moves e to the finished lists; returns its result waiters (detached) */
static waiter_t *finish_locked(exec_entry_t *e, exec_status_t st, int64_t finished_at)
{
    unlink_from_node(e);
    e->reserved = 0;
    e->expiring = 0;
    e->rec.status = st;
    e->rec.finished_at = finished_at;
    h2o_linklist_insert(&e->node->finished, &e->node_link);
    e->node->nfinished++;
    h2o_linklist_insert(&finished_all, &e->fin_link);
    waiter_t *w = e->waiters;
    e->waiters = NULL;
    return w;
}

/* unlinks and frees e; appends its waiters to *waiters */
static void entry_drop_locked(exec_entry_t *e, waiter_t **waiters)
{
    unlink_from_node(e);
    if (h2o_linklist_is_linked(&e->fin_link))
        h2o_linklist_unlink(&e->fin_link);
    entry_unindex(e);
    if (e->waiters != NULL) {
        waiter_t *last = e->waiters;
        while (last->next != NULL)
            last = last->next;
        last->next = *waiters;
        *waiters = e->waiters;
    }
    exec_rec_clear(&e->rec);
    free(e);
}

static void waiters_append(waiter_t **list, waiter_t *more)
{
    while (*list != NULL)
        list = &(*list)->next;
    *list = more;
}

/* No lock held: wakes (or, when already woken, just releases) each waiter. */
static void wake_all(waiter_t *w, intptr_t value)
{
    while (w != NULL) {
        waiter_t *next = w->next;
        park_wake(w->park, value);
        park_unref(w->park);
        free(w);
        w = next;
    }
}

static int waiter_remove(waiter_t **list, waiter_t ***tail, park_t *p)
{
    for (waiter_t **pp = list; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->park == p) {
            waiter_t *w = *pp;
            *pp = w->next;
            if (tail != NULL && *tail == &w->next)
                *tail = pp;
            free(w);
            return 1;
        }
    }
    return 0;
}

/* ---- dispatch ---- */

static exec_dispatch_t *dispatch_new_locked(exec_entry_t *e)
{
    exec_dispatch_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->command = strdup(e->rec.command);
    if (d->command == NULL) {
        free(d);
        return NULL;
    }
    snprintf(d->id, sizeof(d->id), "%s", e->rec.id);
    snprintf(d->node_id, sizeof(d->node_id), "%s", e->rec.node_id);
    d->timeout_s = e->rec.timeout_s;
    return d;
}

static void dispatch_destroy(exec_dispatch_t *d)
{
    free(d->command);
    free(d);
}

/*
 * Hands queued commands of the node to its parked agents, one each: pairs
 * them under the lock, then wakes without it. A park that already ended
 * (timeout, disconnect) refuses the wake; its command goes back in front.
 */
static void kick(const char *node_id)
{
    for (;;) {
        lock_take(&exec_lock);
        exec_node_t *n = node_find(node_id);
        if (n == NULL || n->agents == NULL || h2o_linklist_is_empty(&n->queued)) {
            lock_give(&exec_lock);
            return;
        }
        exec_entry_t *e = entry_of(n->queued.next);
        exec_dispatch_t *d = dispatch_new_locked(e);
        if (d == NULL) {
            lock_give(&exec_lock);
            log_error("msg=\"out of memory handing a command to a parked agent; it gets it on its next poll\" "
                      "node_id=%s",
                      node_id);
            return;
        }
        waiter_t *w = n->agents;
        n->agents = w->next;
        if (n->agents == NULL)
            n->agents_tail = &n->agents;
        reserve_locked(e);
        lock_give(&exec_lock);

        int woke = park_wake(w->park, (intptr_t)d);
        park_unref(w->park);
        free(w);
        if (!woke) {
            lock_take(&exec_lock);
            exec_entry_t *again = entry_find(d->id);
            if (again != NULL)
                unreserve_locked(again);
            lock_give(&exec_lock);
            dispatch_destroy(d);
        }
    }
}

int exec_queue_take(const char *node_id, int approved, park_t *wait_park, exec_dispatch_t **out)
{
    *out = NULL;
    lock_take(&exec_lock);
    exec_node_t *n = node_get(node_id);
    if (n == NULL) {
        lock_give(&exec_lock);
        return EXEC_ENOMEM;
    }
    if (approved && !h2o_linklist_is_empty(&n->queued)) {
        exec_entry_t *e = entry_of(n->queued.next);
        exec_dispatch_t *d = dispatch_new_locked(e);
        if (d == NULL) {
            lock_give(&exec_lock);
            return EXEC_ENOMEM;
        }
        reserve_locked(e);
        lock_give(&exec_lock);
        *out = d;
        return 1;
    }
    if (wait_park != NULL) {
        waiter_t *w = calloc(1, sizeof(*w));
        if (w == NULL) {
            lock_give(&exec_lock);
            return EXEC_ENOMEM;
        }
        w->park = wait_park;
        *n->agents_tail = w;
        n->agents_tail = &w->next;
    }
    lock_give(&exec_lock);
    return 0;
}

void exec_queue_agent_forget(const char *node_id, park_t *p)
{
    lock_take(&exec_lock);
    exec_node_t *n = node_find(node_id);
    int removed = n != NULL && waiter_remove(&n->agents, &n->agents_tail, p);
    lock_give(&exec_lock);
    if (removed)
        park_unref(p);
}

int exec_apply_dispatch(sqlite3 *db, void *arg)
{
    exec_dispatch_t *d = arg;
    int64_t ms = wall_ms();
    char now[32];
    d->started_at = ms / 1000;
    sqlite3_stmt *st =
        store_prepare(db, "UPDATE exec SET status = 'running', started_at = ?2 WHERE id = ?1 AND status = 'queued'");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, clock_rfc3339(d->started_at, now, sizeof(now)), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(db) == 1 ? 0 : EXEC_ENOENT;
}

void exec_publish_dispatch(void *arg)
{
    exec_dispatch_t *d = arg;
    uint64_t submitted_us = 0;
    lock_take(&exec_lock);
    exec_entry_t *e = entry_find(d->id);
    if (e != NULL && e->rec.status == EXEC_QUEUED) {
        submitted_us = e->submit_mono_us;
        unlink_from_node(e);
        e->reserved = 0;
        e->rec.status = EXEC_RUNNING;
        e->rec.started_at = d->started_at;
        e->started_ms = wall_ms();
        h2o_linklist_insert(&e->node->running, &e->node_link);
        e->node->nrunning++;
    }
    d->published = 1;
    lock_give(&exec_lock);
    /* the agent's 200 goes out right after this publish */
    if (submitted_us != 0) {
        uint64_t now = clock_mono_us();
        metrics_histogram_observe(&dispatch_latency, now > submitted_us ? now - submitted_us : 0);
    }
}

void exec_dispatch_free(void *arg)
{
    exec_dispatch_t *d = arg;
    if (!d->published) {
        lock_take(&exec_lock);
        exec_entry_t *e = entry_find(d->id);
        if (e != NULL)
            unreserve_locked(e);
        lock_give(&exec_lock);
        kick(d->node_id);
    }
    dispatch_destroy(d);
}

/* ---- submission ---- */

size_t exec_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t cut = max;
    /* back off continuation bytes (10xxxxxx) so the cut lands on a lead byte */
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

int exec_apply_submit(sqlite3 *db, exec_rec_t *rec, const char *via)
{
    int64_t seq = writer_seq + 1;
    char submitted[32];
    clock_rfc3339(rec->submitted_at, submitted, sizeof(submitted));
    /* the node must still exist and be approved when the row is written */
    sqlite3_stmt *st = store_prepare(
        db, "INSERT INTO exec (id, seq, node_id, command, timeout_s, status, submitted_at, submitted_by) "
            "SELECT ?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7 WHERE EXISTS "
            "(SELECT 1 FROM nodes WHERE id = ?3 AND approval = 'approved')");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_text(st, 3, rec->node_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rec->command, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, rec->timeout_s);
    sqlite3_bind_text(st, 6, submitted, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, rec->submitted_by, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(db) != 1) {
        st = store_prepare(db, "SELECT 1 FROM nodes WHERE id = ?1");
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, rec->node_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? EXEC_ENOTAPPROVED : rc == SQLITE_DONE ? EXEC_ENOENT : -1;
    }
    /* audited on the node, so the node's audit trail shows what ran on it */
    size_t cl = exec_utf8_cut(rec->command, strlen(rec->command), EXEC_AUDIT_COMMAND_MAX);
    json_t *d = json_pack("{s:s, s:I, s:s%}", "exec_id", rec->id, "timeout_s", (json_int_t)rec->timeout_s,
                          "command", rec->command, cl);
    if (d != NULL && via != NULL && via[0] != '\0')
        json_object_set_new(d, "via", json_string(via));
    rc = store_audit_append(db, rec->submitted_by, "exec.submit", rec->node_id, d);
    json_decref(d);
    if (rc != 0)
        return -1;
    writer_seq = seq;
    rec->seq = seq;
    return 0;
}

static exec_transition_t *transition_new(exec_status_t from, exec_status_t to, size_t n)
{
    exec_transition_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->items = calloc(n ? n : 1, sizeof(*t->items));
    if (t->items == NULL) {
        free(t);
        return NULL;
    }
    t->from = from;
    t->to = to;
    t->at = clock_now();
    return t;
}

static void transition_add_locked(exec_transition_t *t, exec_entry_t *e)
{
    struct transition_item *it = &t->items[t->n++];
    snprintf(it->id, sizeof(it->id), "%s", e->rec.id);
    snprintf(it->node_id, sizeof(it->node_id), "%s", e->rec.node_id);
    if (t->action != NULL && e->rec.command != NULL) {
        /* out of memory: the audit row goes without the command (the exec row keeps it) */
        size_t cl = exec_utf8_cut(e->rec.command, strlen(e->rec.command), EXEC_AUDIT_COMMAND_MAX);
        it->command = strndup(e->rec.command, cl);
    }
}

static void transition_done(void *arg, int status)
{
    if (status == 0)
        exec_publish_transition(arg);
    exec_transition_free(arg);
}

/* submits t without a request waiting on it (expiry, internal cancels) */
static void transition_submit(exec_transition_t *t)
{
    if (store_submit(exec_apply_transition, transition_done, t) != 0)
        exec_transition_free(t);
}

/* the requester of an internal submission is gone: cancel its command if it is still queued */
static exec_transition_t *cancel_abandoned_locked(exec_entry_t *e, const char *via)
{
    if (e->rec.status != EXEC_QUEUED || e->reserved)
        return NULL;
    exec_transition_t *t = transition_new(EXEC_QUEUED, EXEC_CANCELED, 1);
    if (t == NULL)
        return NULL;
    snprintf(t->actor, sizeof(t->actor), "%s", e->rec.submitted_by);
    t->action = "exec.cancel";
    snprintf(t->via, sizeof(t->via), "%s", via ? via : "");
    transition_add_locked(t, e);
    reserve_locked(e);
    return t;
}

void exec_publish_submit(exec_rec_t *rec, park_t *result_waiter)
{
    exec_transition_t *abandoned = NULL;
    exec_entry_t *e = calloc(1, sizeof(*e));
    lock_take(&exec_lock);
    exec_node_t *n = e != NULL ? node_get(rec->node_id) : NULL;
    if (n == NULL) {
        lock_give(&exec_lock);
        free(e);
        /* committed but not in memory: it is loaded at the next start */
        log_error("msg=\"out of memory publishing a submitted command; it is queued after a restart\" id=%s", rec->id);
        return;
    }
    e->rec = *rec;
    e->rec.status = EXEC_QUEUED;
    /* publish runs right after the commit, just before the submitter's 2xx */
    e->submit_mono_us = clock_mono_us();
    rec->command = rec->out = rec->err = NULL; /* moved */
    e->node = n;
    entry_index(e);
    /* publish runs in commit order, so appending keeps the FIFO in seq order */
    queue_insert_sorted(n, e);
    if (result_waiter != NULL) {
        if (park_done(result_waiter)) {
            abandoned = cancel_abandoned_locked(e, "abandoned");
        } else {
            waiter_t *w = calloc(1, sizeof(*w));
            if (w != NULL) {
                park_ref(result_waiter);
                w->park = result_waiter;
                w->next = e->waiters;
                e->waiters = w;
            }
            /* without memory the requester just waits until its timeout */
        }
    }
    lock_give(&exec_lock);
    if (abandoned != NULL)
        transition_submit(abandoned);
    kick(rec->node_id);
}

/* ---- results ---- */

int exec_queue_report_check(const char *node_id, const char *id, exec_status_t *status)
{
    int rc;
    lock_take_shared(&exec_lock);
    exec_entry_t *e = entry_find(id);
    if (e == NULL)
        rc = EXEC_ENOENT;
    else if (strcmp(e->rec.node_id, node_id) != 0)
        rc = EXEC_EFORBIDDEN;
    else if (is_finished(e->rec.status))
        rc = EXEC_EALREADY;
    else if (e->rec.status == EXEC_QUEUED)
        rc = EXEC_ECONFLICT;
    else
        rc = 0;
    if (e != NULL)
        *status = e->rec.status;
    lock_give(&exec_lock);
    return rc;
}

int exec_apply_report(sqlite3 *db, void *arg)
{
    exec_report_t *rep = arg;
    char at[32];
    sqlite3_stmt *st = store_prepare(db, "UPDATE exec SET status = ?2, finished_at = ?3, exit_code = ?4, stdout = ?5, "
                                         "stderr = ?6, duration_ms = ?7, truncated = ?8 "
                                         "WHERE id = ?1 AND status = 'running'");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, rep->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, exec_status_db(rep->status), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, clock_rfc3339(rep->finished_at, at, sizeof(at)), -1, SQLITE_TRANSIENT);
    if (rep->has_exit_code)
        sqlite3_bind_int64(st, 4, rep->exit_code);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, rep->out ? rep->out : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, rep->err ? rep->err : "", -1, SQLITE_STATIC);
    if (rep->has_duration)
        sqlite3_bind_int64(st, 7, rep->duration_ms);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_int(st, 8, rep->truncated);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(db) == 1 ? 0 : EXEC_EALREADY;
}

void exec_publish_report(void *arg)
{
    exec_report_t *rep = arg;
    waiter_t *w = NULL;
    lock_take(&exec_lock);
    exec_entry_t *e = entry_find(rep->id);
    if (e != NULL && e->rec.status == EXEC_RUNNING) {
        e->rec.has_exit_code = rep->has_exit_code;
        e->rec.exit_code = rep->exit_code;
        e->rec.has_duration = rep->has_duration;
        e->rec.duration_ms = rep->duration_ms;
        e->rec.truncated = rep->truncated;
        free(e->rec.out);
        free(e->rec.err);
        e->rec.out = rep->out ? rep->out : strdup("");
        e->rec.err = rep->err ? rep->err : strdup("");
        rep->out = rep->err = NULL;
        w = finish_locked(e, rep->status, rep->finished_at);
    }
    lock_give(&exec_lock);
    wake_all(w, WAKE_CHANGED);
}

void exec_report_free(void *arg)
{
    exec_report_t *rep = arg;
    free(rep->out);
    free(rep->err);
    free(rep);
}

/* ---- cancel, purge, expiry ---- */

int exec_queue_cancel_prepare(const char *node_id, const char *exec_id, const char *actor, exec_transition_t **out,
                              exec_status_t *status)
{
    *out = NULL;
    lock_take(&exec_lock);
    exec_transition_t *t = NULL;
    if (exec_id != NULL) {
        exec_entry_t *e = entry_find(exec_id);
        if (e == NULL || strcmp(e->rec.node_id, node_id) != 0) {
            lock_give(&exec_lock);
            return EXEC_ENOENT;
        }
        if (e->rec.status != EXEC_QUEUED || e->reserved) {
            *status = e->rec.status;
            lock_give(&exec_lock);
            return EXEC_ECONFLICT;
        }
        t = transition_new(EXEC_QUEUED, EXEC_CANCELED, 1);
        if (t == NULL) {
            lock_give(&exec_lock);
            return EXEC_ENOMEM;
        }
        t->action = "exec.cancel";
        transition_add_locked(t, e);
        reserve_locked(e);
    } else {
        exec_node_t *n = node_find(node_id);
        t = transition_new(EXEC_QUEUED, EXEC_CANCELED, n ? n->nqueued : 0);
        if (t == NULL) {
            lock_give(&exec_lock);
            return EXEC_ENOMEM;
        }
        t->action = "exec.purge";
        snprintf(t->target, sizeof(t->target), "%s", node_id);
        while (n != NULL && !h2o_linklist_is_empty(&n->queued)) {
            exec_entry_t *e = entry_of(n->queued.next);
            transition_add_locked(t, e);
            reserve_locked(e);
        }
    }
    lock_give(&exec_lock);
    snprintf(t->actor, sizeof(t->actor), "%s", actor);
    *out = t;
    return 0;
}

size_t exec_transition_count(const exec_transition_t *t)
{
    return t->n;
}

void exec_transition_ids(const exec_transition_t *t, json_t *array)
{
    for (size_t i = 0; i < t->n; i++)
        json_array_append_new(array, json_string(t->items[i].id));
}

int exec_apply_transition(sqlite3 *db, void *arg)
{
    exec_transition_t *t = arg;
    char at[32];
    clock_rfc3339(t->at, at, sizeof(at));
    size_t changed = 0;
    for (size_t i = 0; i < t->n; i++) {
        sqlite3_stmt *st =
            store_prepare(db, "UPDATE exec SET status = ?2, finished_at = ?3 WHERE id = ?1 AND status = ?4");
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, t->items[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, exec_status_db(t->to), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, exec_status_db(t->from), -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return -1;
        t->items[i].changed = sqlite3_changes(db) == 1;
        changed += (size_t)t->items[i].changed;
    }
    if (t->actor[0] == '\0' || t->action == NULL)
        return 0;
    /* audited on the node (like exec.submit); the commands' ids are in the detail */
    if (strcmp(t->action, "exec.purge") == 0) {
        json_t *ids = json_array(), *commands = json_array();
        exec_transition_ids(t, ids);
        for (size_t i = 0; commands != NULL && i < t->n; i++)
            json_array_append_new(commands, json_string(t->items[i].command ? t->items[i].command : ""));
        json_t *d = json_pack("{s:I, s:o, s:o}", "count", (json_int_t)changed, "ids", ids, "commands", commands);
        int rc = d != NULL ? store_audit_append(db, t->actor, t->action, t->target, d) : -1;
        json_decref(d);
        return rc == 0 ? 0 : -1;
    }
    if (t->n == 1 && !t->items[0].changed)
        return EXEC_ENOENT;
    json_t *d = json_pack("{s:s}", "exec_id", t->n ? t->items[0].id : "");
    if (d != NULL && t->n && t->items[0].command != NULL)
        json_object_set_new(d, "command", json_string(t->items[0].command));
    if (d != NULL && t->via[0] != '\0')
        json_object_set_new(d, "via", json_string(t->via));
    int rc = d != NULL ? store_audit_append(db, t->actor, t->action, t->n ? t->items[0].node_id : "", d) : -1;
    json_decref(d);
    return rc == 0 ? 0 : -1;
}

void exec_publish_transition(void *arg)
{
    exec_transition_t *t = arg;
    waiter_t *all = NULL;
    lock_take(&exec_lock);
    for (size_t i = 0; i < t->n; i++) {
        if (!t->items[i].changed)
            continue;
        t->items[i].published = 1;
        exec_entry_t *e = entry_find(t->items[i].id);
        if (e == NULL || e->rec.status != t->from)
            continue;
        waiters_append(&all, finish_locked(e, t->to, t->at));
    }
    lock_give(&exec_lock);
    wake_all(all, WAKE_CHANGED);
}

void exec_transition_free(void *arg)
{
    exec_transition_t *t = arg;
    int requeued = 0;
    lock_take(&exec_lock);
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i].published)
            continue;
        exec_entry_t *e = entry_find(t->items[i].id);
        if (e == NULL)
            continue;
        if (t->from == EXEC_QUEUED) {
            unreserve_locked(e);
            requeued = 1;
        } else {
            e->expiring = 0;
        }
    }
    lock_give(&exec_lock);
    /* put-back commands may be owed to a parked agent */
    for (size_t i = 0; requeued && i < t->n; i++)
        if (!t->items[i].published && (i == 0 || strcmp(t->items[i].node_id, t->items[i - 1].node_id) != 0))
            kick(t->items[i].node_id);
    for (size_t i = 0; i < t->n; i++)
        free(t->items[i].command);
    free(t->items);
    free(t);
}

/* housekeeping: running commands past timeout + grace become "timeout" */
static void expire_running(void)
{
    const hc_config_t *cfg = serve_config();
    int64_t grace = cfg ? (int64_t)cfg->exec.timeout_grace_ms : 30000;
    int64_t now = wall_ms();
    exec_transition_t *t = NULL;
    lock_take(&exec_lock);
    size_t due = 0;
    for (size_t b = 0; b < node_buckets; b++)
        for (exec_node_t *n = node_tab[b]; n != NULL; n = n->next)
            for (h2o_linklist_t *l = n->running.next; l != &n->running; l = l->next) {
                exec_entry_t *e = entry_of(l);
                if (!e->expiring && now >= e->started_ms + e->rec.timeout_s * 1000 + grace)
                    due++;
            }
    if (due > 0 && (t = transition_new(EXEC_RUNNING, EXEC_TIMEOUT, due)) != NULL) {
        for (size_t b = 0; b < node_buckets; b++)
            for (exec_node_t *n = node_tab[b]; n != NULL; n = n->next)
                for (h2o_linklist_t *l = n->running.next; l != &n->running; l = l->next) {
                    exec_entry_t *e = entry_of(l);
                    if (t->n < due && !e->expiring && now >= e->started_ms + e->rec.timeout_s * 1000 + grace) {
                        e->expiring = 1;
                        transition_add_locked(t, e);
                    }
                }
    }
    lock_give(&exec_lock);
    if (t != NULL) {
        log_info("msg=\"exec commands ran past their timeout without a result\" count=%zu", t->n);
        transition_submit(t);
    }
}

static int prune_apply(sqlite3 *db, void *arg)
{
    sqlite3_stmt *st =
        store_prepare(db, "DELETE FROM exec WHERE id IN (SELECT id FROM exec WHERE finished_at < ?1 LIMIT ?2)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, (const char *)arg, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, EXEC_PRUNE_BATCH);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void prune_done(void *arg, int status)
{
    (void)status;
    free(arg);
}

/* housekeeping: finished results older than exec.result_retention go */
static void prune_finished(void)
{
    const hc_config_t *cfg = serve_config();
    uint64_t retention_ms = cfg ? cfg->exec.result_retention_ms : 168ULL * 3600 * 1000;
    int64_t cutoff = clock_now() - (int64_t)(retention_ms / 1000);
    waiter_t *w = NULL;
    size_t dropped = 0;
    lock_take(&exec_lock);
    while (!h2o_linklist_is_empty(&finished_all)) {
        exec_entry_t *e = H2O_STRUCT_FROM_MEMBER(exec_entry_t, fin_link, finished_all.next);
        if (e->rec.finished_at >= cutoff)
            break;
        entry_drop_locked(e, &w);
        dropped++;
    }
    lock_give(&exec_lock);
    wake_all(w, WAKE_CHANGED);
    if (dropped == 0 && prune_ticks++ % EXEC_PRUNE_EVERY_TICKS != 0)
        return;
    char *at = malloc(32);
    if (at == NULL)
        return;
    clock_rfc3339(cutoff, at, 32);
    if (store_submit(prune_apply, prune_done, at) != 0)
        free(at);
}

static void on_tick(void *arg)
{
    (void)arg;
    expire_running();
    prune_finished();
}

int exec_queue_register_tasks(void)
{
    return housekeeping_every("exec expiry and pruning", EXEC_TICK_MS, on_tick, NULL);
}

/* ---- reads ---- */

static json_t *time_json(int64_t t)
{
    char buf[32];
    return t ? json_string(clock_rfc3339(t, buf, sizeof(buf))) : json_null();
}

static json_t *entry_json_locked(const exec_entry_t *e, int with_output)
{
    const exec_rec_t *c = &e->rec;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:b}", "id", c->id, "node_id",
                          c->node_id, "status", exec_status_api(c->status), "command", c->command, "timeout_s",
                          (json_int_t)c->timeout_s, "submitted_at", time_json(c->submitted_at), "submitted_by",
                          c->submitted_by, "started_at", time_json(c->started_at), "finished_at",
                          time_json(c->finished_at), "exit_code",
                          c->has_exit_code ? json_integer(c->exit_code) : json_null(), "duration_ms",
                          c->has_duration ? json_integer(c->duration_ms) : json_null(), "truncated", c->truncated);
    if (o != NULL && with_output) {
        json_object_set_new(o, "stdout", json_string(c->out ? c->out : ""));
        json_object_set_new(o, "stderr", json_string(c->err ? c->err : ""));
    }
    return o;
}

static json_t *result_json_locked(const exec_entry_t *e)
{
    if (is_finished(e->rec.status))
        return entry_json_locked(e, 1);
    return json_pack("{s:s, s:s}", "id", e->rec.id, "status", exec_status_api(e->rec.status));
}

json_t *exec_queue_result_json_wait(const char *node_id, const char *exec_id, int *finished, park_t *p)
{
    json_t *o = NULL;
    /* a plain read shares the lock; registering a waiter changes the entry */
    if (p != NULL)
        lock_take(&exec_lock);
    else
        lock_take_shared(&exec_lock);
    exec_entry_t *e = entry_find(exec_id);
    if (e != NULL && strcmp(e->rec.node_id, node_id) == 0) {
        *finished = is_finished(e->rec.status);
        o = result_json_locked(e);
        if (!*finished && p != NULL && o != NULL) {
            waiter_t *w = calloc(1, sizeof(*w));
            if (w == NULL) {
                json_decref(o);
                o = NULL;
            } else {
                park_ref(p);
                w->park = p;
                w->next = e->waiters;
                e->waiters = w;
            }
        }
    }
    lock_give(&exec_lock);
    return o;
}

json_t *exec_queue_result_json(const char *node_id, const char *exec_id, int *finished)
{
    return exec_queue_result_json_wait(node_id, exec_id, finished, NULL);
}

void exec_queue_result_forget(const char *exec_id, park_t *p)
{
    lock_take(&exec_lock);
    exec_entry_t *e = entry_find(exec_id);
    int removed = e != NULL && waiter_remove(&e->waiters, NULL, p);
    lock_give(&exec_lock);
    if (removed)
        park_unref(p);
}

json_t *exec_queue_list_json(const char *node_id, size_t limit)
{
    json_t *cmds = json_array();
    if (cmds == NULL)
        return NULL;
    size_t pending = 0, running = 0;
    lock_take_shared(&exec_lock);
    exec_node_t *n = node_find(node_id);
    if (n != NULL) {
        pending = n->nqueued + n->nreserved;
        running = n->nrunning;
        /* the reserved ones are being handed out or canceled: still pending, and first in line */
        for (h2o_linklist_t *l = n->reserved.next; l != &n->reserved; l = l->next)
            json_array_append_new(cmds, entry_json_locked(entry_of(l), 0));
        for (h2o_linklist_t *l = n->queued.next; l != &n->queued; l = l->next)
            json_array_append_new(cmds, entry_json_locked(entry_of(l), 0));
        for (h2o_linklist_t *l = n->running.next; l != &n->running; l = l->next)
            json_array_append_new(cmds, entry_json_locked(entry_of(l), 0));
        size_t k = 0;
        for (h2o_linklist_t *l = n->finished.prev; l != &n->finished && k < limit; l = l->prev, k++)
            json_array_append_new(cmds, entry_json_locked(entry_of(l), 0));
    }
    lock_give(&exec_lock);
    return json_pack("{s:s, s:I, s:I, s:o}", "node_id", node_id, "pending", (json_int_t)pending, "running",
                     (json_int_t)running, "commands", cmds);
}

int exec_queue_pending_count(const char *node_id)
{
    lock_take_shared(&exec_lock);
    exec_node_t *n = node_find(node_id);
    size_t c = n ? n->nqueued + n->nreserved : 0;
    lock_give(&exec_lock);
    return c > 0x7fffffff ? 0x7fffffff : (int)c;
}

void exec_queue_metrics_render(FILE *f)
{
    size_t queued = 0, running = 0, finished = 0;
    int64_t oldest = 0;
    lock_take_shared(&exec_lock);
    for (size_t b = 0; b < node_buckets; b++)
        for (exec_node_t *n = node_tab[b]; n != NULL; n = n->next) {
            queued += n->nqueued + n->nreserved;
            running += n->nrunning;
            finished += n->nfinished;
            if (!h2o_linklist_is_empty(&n->queued)) {
                int64_t t = entry_of(n->queued.next)->rec.submitted_at;
                if (oldest == 0 || t < oldest)
                    oldest = t;
            }
        }
    lock_give(&exec_lock);
    int64_t age = oldest ? clock_now() - oldest : 0;
    fprintf(f,
            "# HELP hydracluster_exec_queued Exec commands waiting for their agent.\n"
            "# TYPE hydracluster_exec_queued gauge\nhydracluster_exec_queued %zu\n"
            "# HELP hydracluster_exec_running Exec commands handed to an agent and not finished.\n"
            "# TYPE hydracluster_exec_running gauge\nhydracluster_exec_running %zu\n"
            "# HELP hydracluster_exec_results_kept Finished exec results kept for exec.result_retention.\n"
            "# TYPE hydracluster_exec_results_kept gauge\nhydracluster_exec_results_kept %zu\n"
            "# HELP hydracluster_exec_oldest_queued_age_seconds Age of the oldest command waiting for its agent.\n"
            "# TYPE hydracluster_exec_oldest_queued_age_seconds gauge\n"
            "hydracluster_exec_oldest_queued_age_seconds %lld\n",
            queued, running, finished, (long long)(age > 0 ? age : 0));
    metrics_histogram_family(f, "hydracluster_exec_dispatch_latency_seconds",
                             "Time from an acknowledged submit to its hand-over to the agent (commands submitted "
                             "since this start).");
    metrics_histogram_render(f, "hydracluster_exec_dispatch_latency_seconds", NULL, &dispatch_latency);
}

/* ---- node deletion ---- */

void exec_queue_node_deleted(const char *node_id)
{
    waiter_t *results = NULL, *agents = NULL;
    lock_take(&exec_lock);
    exec_node_t *n = node_find(node_id);
    if (n == NULL) {
        lock_give(&exec_lock);
        return;
    }
    h2o_linklist_t *lists[] = {&n->queued, &n->reserved, &n->running, &n->finished};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        while (!h2o_linklist_is_empty(lists[i]))
            entry_drop_locked(entry_of(lists[i]->next), &results);
    agents = n->agents;
    for (exec_node_t **pp = &node_tab[hash_str(node_id) % node_buckets]; *pp != NULL; pp = &(*pp)->next)
        if (*pp == n) {
            *pp = n->next;
            n_nodes--;
            break;
        }
    free(n);
    lock_give(&exec_lock);
    wake_all(agents, 0); /* 0: no command, answer 204 */
    wake_all(results, WAKE_CHANGED);
}

int exec_store_delete_node(sqlite3 *db, const char *node_id)
{
    sqlite3_stmt *st = store_prepare(db, "DELETE FROM exec WHERE node_id = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, node_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- internal submissions ---- */

typedef struct internal {
    _Atomic int refs; /* the writer's side and the park callback's side */
    park_t *park;
    exec_rec_t rec;
    char via[32];
    exec_internal_cb cb;
    void *data;
} internal_t;

static void internal_unref(internal_t *in)
{
    if (atomic_fetch_sub_explicit(&in->refs, 1, memory_order_acq_rel) == 1) {
        exec_rec_clear(&in->rec);
        free(in);
    }
}

static int internal_apply(sqlite3 *db, void *arg)
{
    internal_t *in = arg;
    return exec_apply_submit(db, &in->rec, in->via);
}

static void internal_done(void *arg, int status)
{
    internal_t *in = arg;
    if (status == 0)
        exec_publish_submit(&in->rec, in->park);
    else
        park_wake(in->park, status);
    park_unref(in->park);
    internal_unref(in);
}

static void internal_on_wake(park_t *p, hc_req_t *r, int reason, intptr_t value)
{
    internal_t *in = park_data(p);
    exec_result_t res = {.id = in->rec.id, .status = EXEC_QUEUED, .out = "", .err = ""};
    char *out = NULL, *err = NULL;
    int outcome;
    if (reason == PARK_WOKEN && value < 0) {
        outcome = value == EXEC_ENOENT          ? EXEC_INTERNAL_ENOENT
                  : value == EXEC_ENOTAPPROVED ? EXEC_INTERNAL_NOT_APPROVED
                                               : EXEC_INTERNAL_ESTORE;
    } else {
        exec_transition_t *cancel = NULL;
        int removed = 0;
        lock_take(&exec_lock);
        exec_entry_t *e = entry_find(in->rec.id);
        if (e != NULL && reason != PARK_WOKEN)
            removed = waiter_remove(&e->waiters, NULL, p);
        if (e == NULL) {
            /* woken: the node (and its commands) went away; else the
             * submission has not been published yet: still pending */
            outcome = reason == PARK_WOKEN ? EXEC_INTERNAL_ENOENT : EXEC_INTERNAL_WAIT_ENDED;
        } else if (is_finished(e->rec.status)) {
            outcome = EXEC_INTERNAL_FINISHED;
            res.status = e->rec.status;
            res.has_exit_code = e->rec.has_exit_code;
            res.exit_code = e->rec.exit_code;
            res.duration_ms = e->rec.has_duration ? e->rec.duration_ms : 0;
            res.truncated = e->rec.truncated;
            out = strdup(e->rec.out ? e->rec.out : "");
            err = strdup(e->rec.err ? e->rec.err : "");
        } else {
            outcome = EXEC_INTERNAL_WAIT_ENDED;
            res.status = e->rec.status;
            cancel = cancel_abandoned_locked(e, in->via);
            if (cancel != NULL)
                res.status = EXEC_CANCELED;
        }
        lock_give(&exec_lock);
        if (removed)
            park_unref(p);
        if (cancel != NULL)
            transition_submit(cancel);
        if (out != NULL)
            res.out = out;
        if (err != NULL)
            res.err = err;
    }
    in->cb(r, outcome, &res, in->data);
    free(out);
    free(err);
    internal_unref(in);
}

int exec_queue_submit_internal(hc_req_t *r, const char *node_id, const char *command, int64_t timeout_s,
                               const char *actor, const char *via, uint64_t wait_ms, exec_internal_cb cb, void *data)
{
    internal_t *in = calloc(1, sizeof(*in));
    if (in == NULL || (in->rec.command = strdup(command)) == NULL) {
        free(in);
        json_error(r, 500, "internal", "out of memory");
        return -1;
    }
    secret_id_new("exec-", in->rec.id, sizeof(in->rec.id));
    int bad_node = strlen(node_id) >= sizeof(in->rec.node_id);
    snprintf(in->rec.node_id, sizeof(in->rec.node_id), "%s", node_id);
    in->rec.timeout_s = timeout_s < EXEC_TIMEOUT_MIN_S   ? EXEC_TIMEOUT_MIN_S
                        : timeout_s > EXEC_TIMEOUT_MAX_S ? EXEC_TIMEOUT_MAX_S
                                                         : timeout_s;
    in->rec.submitted_at = clock_now();
    snprintf(in->rec.submitted_by, sizeof(in->rec.submitted_by), "%s", actor);
    snprintf(in->via, sizeof(in->via), "%s", via ? via : "");
    in->cb = cb;
    in->data = data;
    atomic_init(&in->refs, 2);
    in->park = park_start(r, wait_ms, internal_on_wake, in);
    if (in->park == NULL) {
        exec_rec_clear(&in->rec);
        free(in);
        json_error(r, 500, "internal", "out of memory");
        return -1;
    }
    int rc = bad_node ? EXEC_ENOENT : store_submit(internal_apply, internal_done, in);
    if (rc != 0) {
        park_wake(in->park, rc);
        park_unref(in->park);
        internal_unref(in);
    }
    return 0;
}

/* ---- relayed output ---- */

typedef struct {
    char id[EXEC_ID_MAX];
    char *text;
} output_replace_t;

static int output_replace_apply(sqlite3 *db, void *arg)
{
    output_replace_t *o = arg;
    sqlite3_stmt *st = store_prepare(db, "UPDATE exec SET stdout = ?2 WHERE id = ?1 AND finished_at IS NOT NULL");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, o->text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void output_replace_done(void *arg, int status)
{
    output_replace_t *o = arg;
    if (status != 0)
        log_warn("msg=\"a relayed command output could not be dropped from the database\" id=%s", o->id);
    free(o->text);
    free(o);
}

void exec_queue_output_replace(const char *exec_id, const char *text)
{
    output_replace_t *o = calloc(1, sizeof(*o));
    char *mem = strdup(text);
    if (o == NULL || mem == NULL || (o->text = strdup(text)) == NULL || strlen(exec_id) >= sizeof(o->id)) {
        free(o ? o->text : NULL);
        free(o);
        free(mem);
        return;
    }
    snprintf(o->id, sizeof(o->id), "%s", exec_id);
    int finished = 0;
    lock_take(&exec_lock);
    exec_entry_t *e = entry_find(exec_id);
    if (e != NULL && is_finished(e->rec.status)) {
        finished = 1;
        free(e->rec.out);
        e->rec.out = mem;
        mem = NULL;
    }
    lock_give(&exec_lock);
    free(mem);
    if (!finished || store_submit(output_replace_apply, output_replace_done, o) != 0) {
        free(o->text);
        free(o);
    }
}

/* ---- start-up ---- */

int exec_queue_init(void)
{
    lock_init(&exec_lock, "exec", LOCK_RANK_EXEC);
    id_buckets = 1024;
    node_buckets = 256;
    by_id = calloc(id_buckets, sizeof(*by_id));
    node_tab = calloc(node_buckets, sizeof(*node_tab));
    h2o_linklist_init_anchor(&finished_all);
    metrics_histogram_init(&dispatch_latency, metrics_latency_bounds_us, metrics_latency_bounds_count, 1e6);
    return by_id && node_tab ? 0 : -1;
}

static int64_t time_col(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    int64_t t = 0;
    if (s != NULL && clock_parse_rfc3339((const char *)s, &t) != 0)
        t = 0;
    return t;
}

static char *text_col(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    const unsigned char *s = sqlite3_column_text(st, col);
    return strdup(s ? (const char *)s : "");
}

#define LOAD_COLUMNS                                                                                                   \
    "id, seq, node_id, command, timeout_s, status, submitted_at, submitted_by, started_at, finished_at, exit_code, "   \
    "stdout, stderr, duration_ms, truncated"

/* one row into memory; caller holds exec_lock */
static int load_row(sqlite3_stmt *st)
{
    exec_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return -1;
    exec_rec_t *c = &e->rec;
    snprintf(c->id, sizeof(c->id), "%s", (const char *)sqlite3_column_text(st, 0));
    c->seq = sqlite3_column_int64(st, 1);
    snprintf(c->node_id, sizeof(c->node_id), "%s", (const char *)sqlite3_column_text(st, 2));
    c->command = text_col(st, 3);
    c->timeout_s = sqlite3_column_int64(st, 4);
    exec_status_t status;
    if (status_from_db((const char *)sqlite3_column_text(st, 5), &status) != 0)
        status = EXEC_FAILED;
    c->submitted_at = time_col(st, 6);
    snprintf(c->submitted_by, sizeof(c->submitted_by), "%s", (const char *)sqlite3_column_text(st, 7));
    c->started_at = time_col(st, 8);
    c->finished_at = time_col(st, 9);
    if ((c->has_exit_code = sqlite3_column_type(st, 10) != SQLITE_NULL))
        c->exit_code = sqlite3_column_int64(st, 10);
    c->out = text_col(st, 11);
    c->err = text_col(st, 12);
    if ((c->has_duration = sqlite3_column_type(st, 13) != SQLITE_NULL))
        c->duration_ms = sqlite3_column_int64(st, 13);
    c->truncated = sqlite3_column_int(st, 14);
    exec_node_t *n = c->command ? node_get(c->node_id) : NULL;
    if (n == NULL) {
        exec_rec_clear(c);
        free(e);
        return -1;
    }
    e->node = n;
    entry_index(e);
    if (status == EXEC_QUEUED) {
        c->status = EXEC_QUEUED;
        queue_insert_sorted(n, e);
    } else if (status == EXEC_RUNNING) {
        /* it stays running: the agent may still report; else it times out */
        c->status = EXEC_RUNNING;
        e->started_ms = (c->started_at ? c->started_at : c->submitted_at) * 1000;
        h2o_linklist_insert(&n->running, &e->node_link);
        n->nrunning++;
    } else {
        c->status = EXEC_QUEUED; /* finish_locked starts from a listed state */
        queue_insert_sorted(n, e);
        waiter_t *w = finish_locked(e, status, c->finished_at ? c->finished_at : clock_now());
        (void)w; /* nobody waits at start */
    }
    return 0;
}

int exec_queue_load(sqlite3 *db, char *err, size_t errlen)
{
    const hc_config_t *cfg = serve_config();
    uint64_t retention_ms = cfg ? cfg->exec.result_retention_ms : 168ULL * 3600 * 1000;
    char cutoff[32];
    clock_rfc3339(clock_now() - (int64_t)(retention_ms / 1000), cutoff, sizeof(cutoff));
    static const char *const queries[] = {
        "SELECT " LOAD_COLUMNS " FROM exec WHERE finished_at IS NULL ORDER BY seq",
        "SELECT " LOAD_COLUMNS " FROM exec WHERE finished_at >= ?1 ORDER BY finished_at, seq",
    };
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(seq), 0) FROM exec", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto fail;
    writer_seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    size_t loaded = 0, pending = 0;
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        if (sqlite3_prepare_v2(db, queries[q], -1, &st, NULL) != SQLITE_OK)
            goto fail;
        if (q == 1)
            sqlite3_bind_text(st, 1, cutoff, -1, SQLITE_STATIC);
        int rc;
        lock_take(&exec_lock);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (load_row(st) != 0) {
                lock_give(&exec_lock);
                sqlite3_finalize(st);
                snprintf(err, errlen, "out of memory loading the exec queue");
                return -1;
            }
            loaded++;
            pending += q == 0;
        }
        lock_give(&exec_lock);
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_DONE)
            goto fail;
    }
    if (loaded > 0)
        log_info("msg=\"exec queue loaded\" queued_or_running=%zu results=%zu", pending, loaded - pending);
    return 0;
fail:
    snprintf(err, errlen, "cannot load the exec queue from the database: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
}
