/*
 * A node's history (table node_events, migrations/0004): online/offline
 * transitions, enrollment, approval, role changes, flags delivered, stream
 * start/stop. The fleet side (fleet/node_events.h) decides what happened;
 * this file only reads and writes rows.
 *
 * Threads: every function runs on the thread that owns db: the writer
 * (inside an apply) or main before the writer starts. Nothing here locks.
 */
#ifndef HC_STORE_EVENTS_H
#define HC_STORE_EVENTS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

/* Appends one event at time at (seconds since the epoch); detail may be
 * NULL and is not consumed. 0 or -1 (logged). */
int store_node_event_append(sqlite3 *db, const char *node_id, int64_t at, const char *kind, json_t *detail);

/* The node's events, newest first: [{id, at, kind, detail}]. before > 0:
 * only ids below it (paging); since non-NULL: only at >= since (RFC 3339);
 * kinds non-NULL: a JSON array of kind names to keep. A new array, or NULL
 * on error (logged). */
json_t *store_node_events_read(sqlite3 *db, const char *node_id, int64_t before, int limit, const char *since,
                               json_t *kinds);

/* Deletes events older than cutoff (RFC 3339); the number deleted, or -1. */
int store_node_events_prune(sqlite3 *db, const char *cutoff);

/* For each node with an online/offline event, fn(node_id, online, arg) with
 * its latest one (online = 1 for "online"). 0 or -1 (logged). */
int store_node_events_presence(sqlite3 *db, void (*fn)(const char *node_id, int online, void *arg), void *arg);

#endif
