/*
 * What happened to a node, for GET /api/v1/nodes/{id}/events: the fleet's
 * rules for when an event is recorded (rows: store/node_events.h).
 *
 *  - offline: housekeeping (every few seconds) finds a node whose last
 *    heartbeat is older than nodes.offline_after and whose last recorded
 *    presence is online; detail {last_seen}.
 *  - online: the next heartbeat of a node recorded offline (or never seen);
 *    detail {last_seen_before, offline_s}. A heartbeat that comes back
 *    before the sweep noticed the gap records both.
 *  - stream_start / stream_stop: a heartbeat's stream_status changing to or
 *    from "streaming"; DELETE …/stream records stream_stop itself.
 *  - enroll, approve, reject, roles, flags_delivered: recorded by those
 *    writes inside their own transaction (store_node_event_append).
 * Heartbeat and sweep events are soft, like the heartbeat itself: they are
 * queued to the writer without waiting (a crash may lose the last second).
 * node_t.presence_online remembers the last recorded presence; at start it
 * is loaded from the table, so a restart does not invent transitions.
 */
#ifndef HC_FLEET_NODE_EVENTS_H
#define HC_FLEET_NODE_EVENTS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "registry.h"

#define NODE_EVENTS_HEARTBEAT_MAX 3

/* Events a heartbeat produced, decided under the nodes lock and queued
 * after it is released (node_events_submit). */
typedef struct node_events_pending {
    char node_id[NODE_ID_MAX];
    int64_t at;
    int n;
    const char *kind[NODE_EVENTS_HEARTBEAT_MAX];
    json_t *detail[NODE_EVENTS_HEARTBEAT_MAX];
} node_events_pending_t;

/* Worker, nodes lock held exclusively, after a heartbeat updated n (last_seen
 * = now, stream_status); prev_* are the values before it. Fills out. */
void node_events_heartbeat(node_t *n, int64_t prev_last_seen, const char *prev_stream_status, int64_t now,
                           uint64_t offline_after_ms, node_events_pending_t *out);
/* No lock held: queues what node_events_heartbeat decided (frees the
 * details). Any thread. */
void node_events_submit(node_events_pending_t *p);

/* Main thread, after registry_load and before the writer starts: sets every
 * node's presence_online from its last online/offline event. 0 or -1. */
int node_events_load(sqlite3 *db, char *err, size_t errlen);

/* Main thread, before housekeeping starts: the offline sweep and the
 * retention prune. 0 or -1. */
int node_events_register(void);

/* Housekeeping thread (tests may call it): records offline events for nodes
 * past offline_after; returns how many. */
int node_events_sweep(void);

#endif
