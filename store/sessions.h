/*
 * The stream_sessions and stream_session_logs tables (migrations/0003). Pure
 * SQL: every function runs on the connection's own thread (the writer, inside
 * an op; or main at start) and keeps no state. Times are RFC 3339 text, log
 * times milliseconds since the epoch.
 */
#ifndef HC_STORE_SESSIONS_H
#define HC_STORE_SESSIONS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#define STORE_SESSION_ID_MAX 128 /* bytes of a session id */
#define STORE_SESSION_NODE_MAX 64

/* a session as store_session_report leaves it */
typedef struct store_session_row {
    int active; /* 0: the session had ended before (a late report changes nothing) */
    char body_id[STORE_SESSION_NODE_MAX], head_id[STORE_SESSION_NODE_MAX]; /* "" = not joined */
    char started_at[32];
} store_session_row_t;

/* A node reported session id from its side (head = 0: body, 1: head): the
 * session starts when unknown, or the node joins it when it is active and
 * that side is empty; a side already held by another node is left alone.
 * Reads the row back into *out. 0 or -1. */
int store_session_report(sqlite3 *db, const char *id, int head, const char *node_id, const char *name,
                         const char *district, const char *venue, const char *now, store_session_row_t *out);

/* Ends session id when active. 0 or -1. */
int store_session_end(sqlite3 *db, const char *id, const char *reason, const char *now);

/* Ends every active session node_id is part of; appends the ended ids to
 * ended (an array). 0 or -1. */
int store_session_end_node(sqlite3 *db, const char *node_id, const char *reason, const char *now, json_t *ended);

/* Deletes up to max sessions that ended before cutoff, with their lines;
 * *pruned gets how many. 0 or -1. */
int store_session_prune(sqlite3 *db, const char *cutoff, int max, int *pruned);

/* The active sessions, for loading memory at start: calls fn for each. */
typedef void (*store_session_visit_fn)(const char *id, const char *body_id, const char *head_id,
                                       const char *started_at, void *arg);
int store_session_load_active(sqlite3 *db, store_session_visit_fn fn, void *arg);

/* Session objects (the API's): newest first; state NULL/"active"/"ended";
 * node NULL or a node id (body or head); before NULL or a session id (only
 * older ones). A new array; NULL with *unknown_before = 1 when before names
 * no session, NULL on a store error. */
json_t *store_session_list(sqlite3 *db, const char *state, const char *node, const char *before, int limit,
                           int *unknown_before);
/* One session object, or NULL (*found = 0 when there is no such session). */
json_t *store_session_get(sqlite3 *db, const char *id, int *found);

/* Appends lines (an array of {"ts_ms": integer, "line": string}) to node_id's
 * side of session id and drops that side's oldest lines beyond cap.
 * Returns 0; STORE_SESSION_ENOENT (no such session); STORE_SESSION_EFORBIDDEN
 * (node_id is neither its body nor its head); -1 on error. *dropped gets how
 * many old lines went, *kept how many the side holds now. */
#define STORE_SESSION_ENOENT (-20)
#define STORE_SESSION_EFORBIDDEN (-21)
int store_session_logs_append(sqlite3 *db, const char *id, const char *node_id, json_t *lines, int64_t cap,
                              int64_t *dropped, int64_t *kept);

/* {"session":{…}, "body":{node_id, name, lines:[{ts, line}]}, "head":{…}},
 * each side's last tail lines (-1: all) in time order; NULL (*found = 0)
 * when there is no such session. */
json_t *store_session_logs(sqlite3 *db, const char *id, int64_t tail, int *found);

#endif
