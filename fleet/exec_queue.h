/*
 * The exec queue: commands queued per node for its agent, and their results
 * (spec/API.md "Exec queue", spec/agent-protocol.md "Exec").
 *
 * State lives in memory under its own lock (exec_lock, rank LOCK_RANK_EXEC)
 * and is loaded from the exec table at start; every transition is made
 * durable through the store writer before anyone is told about it:
 *
 *   queued --dispatch--> running --result--> done | failed
 *      |                    \--expiry----> timeout   (timeout_s + exec.timeout_grace after started_at)
 *      \--cancel/purge/internal wait ended--> canceled
 *
 * Per node: a FIFO of queued commands (in commit order, which is seq order),
 * the running ones, the finished ones (kept exec.result_retention, then
 * pruned from memory and SQLite), and the agents parked on a long poll.
 * Per command: the requests parked waiting for its result.
 *
 * At most once: a command leaves the FIFO under the lock ("reserved") before
 * its transition to running is submitted to the writer, so two agent polls
 * can never both take it; the agent is answered only after that transition
 * committed. If the commit fails the command goes back to its place in the
 * FIFO. If the agent disconnected after the commit the command stays running
 * and finishes as timeout; it is never handed out again.
 *
 * Waking never happens under the lock: waiters are collected (or a command is
 * reserved for one) under it, the lock is released, then park_wake sends the
 * cross-thread message. Submissions wake agents from the writer thread right
 * after their commit, so a parked agent on any worker gets the command within
 * one fsync plus one loop turn.
 *
 * Threads: functions named exec_apply_* run on the store writer inside an
 * apply callback; exec_publish_* on the writer after the commit (commit.h's
 * publish); everything else on any thread with NO lock held unless it says
 * otherwise.
 */
#ifndef HC_EXEC_QUEUE_H
#define HC_EXEC_QUEUE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "park.h"
#include "registry.h"
#include "router.h"

#define EXEC_ID_MAX 40
#define EXEC_ACTOR_MAX 80
#define EXEC_COMMAND_MAX (64 * 1024)
#define EXEC_WAIT_MAX_S 55
#define EXEC_TIMEOUT_MIN_S 1
#define EXEC_TIMEOUT_MAX_S (24 * 3600)
#define EXEC_LIST_DEFAULT 50
#define EXEC_LIST_MAX 1000

typedef enum {
    EXEC_QUEUED = 0, /* API: "pending" */
    EXEC_RUNNING,
    EXEC_DONE,     /* the agent ran it; exit_code says how it went */
    EXEC_FAILED,   /* the agent reported it could not run it ("error") */
    EXEC_TIMEOUT,  /* no result within timeout_s + exec.timeout_grace */
    EXEC_CANCELED, /* canceled or purged while queued */
} exec_status_t;

/* "queued", "running", ... as stored in the exec table */
const char *exec_status_db(exec_status_t s);
/* the API's name: "pending" for queued, else the same */
const char *exec_status_api(exec_status_t s);

/* Negative results of the apply functions and of the prepare functions
 * (anything else negative is a store failure). */
#define EXEC_ENOENT (-20)      /* unknown node or command */
#define EXEC_ENOTAPPROVED (-21) /* the node is pending or rejected */
#define EXEC_EFORBIDDEN (-22)  /* the command belongs to another node */
#define EXEC_ECONFLICT (-23)   /* wrong state for this transition (see status) */
#define EXEC_EALREADY (-24)    /* already finished: an idempotent repeat */
#define EXEC_ENOMEM (-25)

/* A command as copied between threads. Strings are malloc'ed and owned by
 * the holder; exec_rec_clear frees them. Times are seconds since the epoch
 * (0 = not yet). */
typedef struct exec_rec {
    char id[EXEC_ID_MAX];
    char node_id[NODE_ID_MAX];
    char *command;
    int64_t timeout_s;
    exec_status_t status;
    int64_t seq;
    int64_t submitted_at, started_at, finished_at;
    char submitted_by[EXEC_ACTOR_MAX];
    int has_exit_code;
    int64_t exit_code;
    char *out, *err; /* stdout, stderr (NULL until finished) */
    int has_duration;
    int64_t duration_ms;
    int truncated;
} exec_rec_t;

void exec_rec_clear(exec_rec_t *rec);

/* ---- start-up and housekeeping (main thread) ---- */

/* Once, before anything else here. */
int exec_queue_init(void);
/* Loads queued and running commands and the finished ones still within
 * exec.result_retention; main thread, after registry_load, before the
 * writer starts. */
int exec_queue_load(sqlite3 *db, char *err, size_t errlen);
/* Registers the periodic task (expiry of running commands, pruning of old
 * results) with housekeeping; main thread, before housekeeping_start. */
int exec_queue_register_tasks(void);

/* ---- for other modules ---- */

/* Commands waiting for the node (queued, not yet handed out): the
 * heartbeat's exec_pending. Any thread; may be called with the nodes lock
 * held (exec ranks after nodes), never with the exec lock. */
int exec_queue_pending_count(const char *node_id);

/* The node was deleted: drops its commands and results from memory, answers
 * its parked agents (204) and wakes whoever waits on its commands (they see
 * the command gone). Call from the node deletion's publish, with no lock
 * held. The rows go with exec_store_delete_node inside the deletion's apply. */
void exec_queue_node_deleted(const char *node_id);
/* Writer thread, inside an apply: DELETE the node's exec rows. 0 or -1. */
int exec_store_delete_node(sqlite3 *db, const char *node_id);

/* Prometheus lines: queue depth, running, age of the oldest queued command. */
void exec_queue_metrics_render(FILE *f);

/*
 * Internal submission (DELETE …/stream, and the heads' screenshot and log
 * proxies): queue `command` on `node_id` on behalf of the request r and park
 * r until the result arrives or wait_ms pass, without blocking the worker.
 *
 * The submission is durable (and audited as exec.submit by `actor` with
 * detail.via = `via`) before any agent can see it. `cb` then runs exactly
 * once, on r's worker, with no lock held:
 *   EXEC_INTERNAL_FINISHED     res is the finished result (done, failed,
 *                              timeout or canceled)
 *   EXEC_INTERNAL_WAIT_ENDED   wait_ms passed first (or the server is
 *                              stopping); res->status says "pending" or
 *                              "running". A command still pending then is
 *                              canceled, so a stale request never runs later
 *                              on a node that comes back; a running one is
 *                              left to finish (its result is kept as usual).
 *   EXEC_INTERNAL_ENOENT       unknown node (or it was deleted meanwhile)
 *   EXEC_INTERNAL_NOT_APPROVED the node is pending or rejected
 *   EXEC_INTERNAL_ESTORE       the submission could not be committed
 * r is NULL when the client went away: then only free `data`. res (never
 * NULL) and its strings are valid during the call only. If this function
 * returns -1 (out of memory) it has answered 500 itself and cb never runs.
 * wait_ms should be a fixed, configured value (each distinct park duration
 * uses one of a worker's WORKER_MAX_TIMEOUTS timeout lists).
 * Worker thread, inside a handler or a park callback of r.
 */
enum {
    EXEC_INTERNAL_FINISHED = 0,
    EXEC_INTERNAL_WAIT_ENDED,
    EXEC_INTERNAL_ENOENT,
    EXEC_INTERNAL_NOT_APPROVED,
    EXEC_INTERNAL_ESTORE,
};
typedef struct exec_result {
    const char *id;
    exec_status_t status;
    int has_exit_code;
    int64_t exit_code;
    const char *out; /* "" when none */
    const char *err;
    int64_t duration_ms;
    int truncated;
} exec_result_t;
typedef void (*exec_internal_cb)(hc_req_t *r, int outcome, const exec_result_t *res, void *data);
int exec_queue_submit_internal(hc_req_t *r, const char *node_id, const char *command, int64_t timeout_s,
                               const char *actor, const char *via, uint64_t wait_ms, exec_internal_cb cb, void *data);

/* Replaces a finished command's stdout, in memory at once and in its row
 * soon after, with `text` (the caller's note of what it was), so bulk output
 * that was only relayed (a head's screenshot in base64) does not stay in the
 * database and in memory for exec.result_retention. Best effort: the row
 * update is not waited for, and a command not finished (or unknown) is left
 * as it is. Any thread, no lock held. */
void exec_queue_output_replace(const char *exec_id, const char *text);

/* ---- the HTTP handlers' building blocks (api/exec.c) ---- */

/* Submission: rec filled by the handler (id, node_id, command, timeout_s,
 * submitted_at, submitted_by). apply assigns seq and INSERTs when the node
 * exists and is approved (EXEC_ENOENT / EXEC_ENOTAPPROVED otherwise) and
 * audits; publish moves rec's strings into memory, registers result_waiter
 * (may be NULL) on the new command and hands the command to a parked agent. */
int exec_apply_submit(sqlite3 *db, exec_rec_t *rec, const char *via);
void exec_publish_submit(exec_rec_t *rec, park_t *result_waiter);

/* Dispatch to an agent. */
typedef struct exec_dispatch {
    char id[EXEC_ID_MAX];
    char node_id[NODE_ID_MAX];
    char *command;
    int64_t timeout_s;
    int64_t started_at;
    int published;
} exec_dispatch_t;
/* The agent of node_id asks for work. When approved and a command is queued,
 * reserves the first one and returns it in *out (1). Otherwise, when
 * wait_park is given, registers it as the node's parked agent, taking over
 * the caller's reference (0); a later submission wakes it with an
 * exec_dispatch_t * as the value. Returns 0 with nothing registered when
 * wait_park is NULL, EXEC_ENOMEM on allocation failure (nothing registered). */
int exec_queue_take(const char *node_id, int approved, park_t *wait_park, exec_dispatch_t **out);
/* The agent's park ended without a command (timeout, gone, shutdown):
 * removes it from the node's list (drops the list's reference). */
void exec_queue_agent_forget(const char *node_id, park_t *p);
int exec_apply_dispatch(sqlite3 *db, void *d /* exec_dispatch_t */);
void exec_publish_dispatch(void *d);
/* Frees d; when its dispatch was not published, the command goes back to its
 * place in the FIFO (and to a parked agent, if any). Any thread, no lock. */
void exec_dispatch_free(void *d);

/* The agent's result. */
typedef struct exec_report {
    char id[EXEC_ID_MAX];
    char node_id[NODE_ID_MAX];
    exec_status_t status; /* EXEC_DONE or EXEC_FAILED */
    int has_exit_code;
    int64_t exit_code;
    char *out, *err;
    int64_t duration_ms;
    int has_duration;
    int truncated;
    int64_t finished_at;
} exec_report_t;
/* Where the command stands for this node's report: 0 running (go on),
 * EXEC_ENOENT, EXEC_EFORBIDDEN, EXEC_EALREADY (finished: *status set),
 * EXEC_ECONFLICT (still queued: never handed out). */
int exec_queue_report_check(const char *node_id, const char *id, exec_status_t *status);
/* UPDATE … WHERE status = 'running'; EXEC_EALREADY when it finished meanwhile */
int exec_apply_report(sqlite3 *db, void *rep);
void exec_publish_report(void *rep);
void exec_report_free(void *rep);
/* Cuts s (len bytes of UTF-8) to at most max bytes without splitting a
 * character; returns the new length. */
size_t exec_utf8_cut(const char *s, size_t len, size_t max);

/* Cancel one queued command (exec_id) or purge every queued command of the
 * node (exec_id NULL). The commands are reserved (no agent can take them)
 * until the transition committed; exec_transition_free puts back the ones
 * that were not published. */
typedef struct exec_transition exec_transition_t;
/* 0 with *out (purge: possibly with zero commands), EXEC_ENOENT, EXEC_ECONFLICT
 * (*status says running/finished; EXEC_QUEUED means it is being handed to
 * the agent right now), EXEC_ENOMEM. */
int exec_queue_cancel_prepare(const char *node_id, const char *exec_id, const char *actor, exec_transition_t **out,
                              exec_status_t *status);
size_t exec_transition_count(const exec_transition_t *t);
/* appends the ids to a JSON array */
void exec_transition_ids(const exec_transition_t *t, json_t *array);
int exec_apply_transition(sqlite3 *db, void *t);
void exec_publish_transition(void *t);
void exec_transition_free(void *t);

/* Reads. Each returns a new JSON value built under the lock. */
/* The result object (finished: every field, 200; else {"id","status"}, 202).
 * NULL when the command is unknown or not node_id's. *finished set. */
json_t *exec_queue_result_json(const char *node_id, const char *exec_id, int *finished);
/* Like exec_queue_result_json, and when the command is not finished,
 * registers p (taking a new reference) to be woken (value 0) when it
 * finishes. NULL: unknown (p not registered). */
json_t *exec_queue_result_json_wait(const char *node_id, const char *exec_id, int *finished, park_t *p);
/* p's wait ended: drop it from the command's waiters (if still there). */
void exec_queue_result_forget(const char *exec_id, park_t *p);
/* One page of a node's commands for GET /api/v1/nodes/{id}/exec. The
 * listing is one sequence: pending (in the order the agent gets them), then
 * running, then finished, newest first. The page is up to `limit` entries
 * following the command `after`, or the `limit` entries just before the
 * command `before` (neither: from the start):
 * {"node_id","pending","running","commands":[…],"next_after":id|null,
 *  "prev_before":id|null} (next_after: more follow; prev_before: more
 * precede). Commands come without stdout/stderr, and their text cut to
 * EXEC_LIST_PREVIEW bytes (with "command_bytes", the whole length) unless
 * full. NULL with *bad_cursor = 1 when after/before names no command of the
 * node, NULL otherwise on allocation failure. Any thread, no lock held. */
#define EXEC_LIST_PREVIEW 256
json_t *exec_queue_list_json(const char *node_id, size_t limit, const char *after, const char *before, int full,
                             int *bad_cursor);

/* Admission of one more command to node_id's pending queue: 0 admitted
 * (then call exec_queue_admit_done exactly once, after the submission was
 * published or failed), 1 refused because max_pending commands are pending
 * or admitted already, EXEC_ENOMEM. Pending and admitted count together, so
 * concurrent submissions cannot pass the bound. Any thread, no lock held. */
int exec_queue_admit(const char *node_id, size_t max_pending);
void exec_queue_admit_done(const char *node_id);

#endif
