/*
 * Streaming sessions: one head streaming from one body. (Not the web UI's
 * login sessions: those are web/login_sessions.h.)
 *
 * The agents name a session (the relay makes its id): a body reports
 * `session_id` in its heartbeat while it streams, a head in PUT
 * /api/v1/heads/{id} and in its heartbeat. A session starts when it is first
 * reported and ends once: body_idle / head_idle (that side reported idle or
 * another session), silence (the body stopped heartbeating while streaming),
 * node_deleted, stream_stopped (DELETE /api/v1/nodes/{id}/stream). An ended
 * session is never reopened; a late report of it changes nothing.
 *
 * Durability: only transitions are written, each through the commit pattern
 * of the request that carried it (stream_sessions_report gives the change,
 * the caller's apply/publish run it), so a heartbeat that changes nothing
 * stays soft and is answered at once, and one that starts or ends a session
 * is answered after the commit. The tables are in store/sessions.h.
 *
 * Memory (this module's lock, rank 33, taken after the nodes lock when both
 * are held): the active sessions, the recently ended ids, and what each node
 * reports now. It serves the transitions and the housekeeping watchdog (every
 * second: silence, orphans; every minute: retention), never the API reads,
 * which go to the store through the writer (api/sessions.c).
 */
#ifndef HC_STREAM_SESSIONS_H
#define HC_STREAM_SESSIONS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "config.h"
#include "sessions.h"

#define SS_ID_MAX STORE_SESSION_ID_MAX

/* end reasons */
enum { SS_BODY_IDLE, SS_HEAD_IDLE, SS_SILENCE, SS_NODE_DELETED, SS_STREAM_STOPPED, SS_REASONS };
const char *stream_sessions_reason_name(int reason);

/* 1 when s can be a session id: 1..SS_ID_MAX bytes of [A-Za-z0-9._:-] */
int stream_sessions_id_ok(const char *s);

/* Main thread, at start: init, then load the active sessions from db (before
 * the writer starts), then register the housekeeping tasks and the metrics
 * collector (before housekeeping starts). 0 or -1 (err). */
int stream_sessions_init(void);
int stream_sessions_load(sqlite3 *db, char *err, size_t errlen);
int stream_sessions_register(void);
void stream_sessions_free(void);

/* What one report of a node says about its session. */
enum { SS_REPORT_UNKNOWN, SS_REPORT_NONE, SS_REPORT_SESSION };
typedef struct ss_report {
    const char *node_id, *name, *district, *venue; /* copied */
    int is_head;
    int kind;               /* SS_REPORT_* */
    const char *session_id; /* SS_REPORT_SESSION: a valid id */
    int64_t now;
} ss_report_t;

/* A transition to make durable. */
typedef struct ss_change ss_change_t;

/* Any thread, no lock held. Records the report and returns the transition it
 * causes (the caller commits it: apply on the writer, publish after the
 * commit, free on every path), or NULL when nothing durable changes (also
 * out of memory: the next report tries again). */
ss_change_t *stream_sessions_report(const ss_report_t *rep);
int stream_sessions_change_apply(sqlite3 *db, ss_change_t *c); /* writer, inside an apply: 0 or -1 */
void stream_sessions_change_publish(ss_change_t *c);           /* writer, publish: takes its own lock */
void stream_sessions_change_free(ss_change_t *c);              /* NULL is fine */

/* Ends every active session node_id is part of (node deletion, DELETE
 * …/stream): apply inside the caller's apply (ended gets the ids), publish
 * in its publish with no lock held; forget = 1 also drops what the node
 * reported (it is gone). */
int stream_sessions_end_node_apply(sqlite3 *db, const char *node_id, int reason, json_t *ended);
void stream_sessions_end_node_publish(const char *node_id, int reason, json_t *ended, int forget);

/* One housekeeping pass at now (also what the tasks run; tests of this module
 * call it directly): silence then orphans. Housekeeping thread (blocks on the
 * store), no lock held. */
void stream_sessions_watchdog(int64_t now);

#endif
