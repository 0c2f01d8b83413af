#include "node_events.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "events.h"
#include "housekeeping.h"
#include "log.h"
#include "serve.h"
#include "store.h"

/* one queued batch of soft events (heartbeat or sweep) */
typedef struct {
    size_t n, cap;
    struct ev {
        char node_id[NODE_ID_MAX];
        int64_t at;
        const char *kind;
        json_t *detail;
    } *ev;
} ev_batch_t;

static void batch_free(ev_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        json_decref(b->ev[i].detail);
    free(b->ev);
    free(b);
}

static int batch_add(ev_batch_t *b, const char *node_id, int64_t at, const char *kind, json_t *detail)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct ev *ev = realloc(b->ev, cap * sizeof(*ev));
        if (ev == NULL) {
            json_decref(detail);
            return -1;
        }
        b->ev = ev;
        b->cap = cap;
    }
    struct ev *e = &b->ev[b->n++];
    snprintf(e->node_id, sizeof(e->node_id), "%s", node_id);
    e->at = at;
    e->kind = kind;
    e->detail = detail;
    return 0;
}

static int batch_apply(sqlite3 *db, void *arg)
{
    ev_batch_t *b = arg;
    for (size_t i = 0; i < b->n; i++)
        if (store_node_event_append(db, b->ev[i].node_id, b->ev[i].at, b->ev[i].kind, b->ev[i].detail) != 0)
            return -1;
    return 0;
}

static void batch_done(void *arg, int status)
{
    if (status != 0)
        log_warn("msg=\"node events were not stored\" status=%d", status);
    batch_free(arg);
}

static void batch_submit(ev_batch_t *b)
{
    if (b->n == 0) {
        batch_free(b);
        return;
    }
    int rc = store_submit(batch_apply, batch_done, b);
    if (rc != 0) {
        log_warn("msg=\"node events dropped: the store does not take writes\" count=%zu", b->n);
        batch_free(b);
    }
}

static json_t *time_or_null(int64_t t)
{
    char buf[32];
    return t ? json_string(clock_rfc3339(t, buf, sizeof(buf))) : json_null();
}

static void pending_add(node_events_pending_t *p, const char *kind, json_t *detail)
{
    if (p->n == NODE_EVENTS_HEARTBEAT_MAX) {
        json_decref(detail);
        return;
    }
    p->kind[p->n] = kind;
    p->detail[p->n++] = detail;
}

void node_events_heartbeat(node_t *n, int64_t prev_last_seen, const char *prev_stream_status, int64_t now,
                           uint64_t offline_after_ms, node_events_pending_t *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->node_id, sizeof(out->node_id), "%s", n->id);
    out->at = now;
    node_t before = {.last_seen = prev_last_seen};
    int was_online = prev_last_seen != 0 && registry_node_online(&before, now, offline_after_ms);
    if (n->presence_online && !was_online)
        /* back before the sweep saw the gap: the drop happened all the same */
        pending_add(out, "offline", json_pack("{s:o}", "last_seen", time_or_null(prev_last_seen)));
    if (!n->presence_online || !was_online)
        pending_add(out, "online",
                    json_pack("{s:o, s:o}", "last_seen_before", time_or_null(prev_last_seen), "offline_s",
                              prev_last_seen ? json_integer(now - prev_last_seen) : json_null()));
    n->presence_online = 1;
    int was_streaming = strcmp(prev_stream_status, "streaming") == 0;
    int streaming = strcmp(n->stream_status, "streaming") == 0;
    if (streaming != was_streaming)
        pending_add(out, streaming ? "stream_start" : "stream_stop",
                    json_pack("{s:s, s:s}", "from", prev_stream_status, "to", n->stream_status));
}

void node_events_submit(node_events_pending_t *p)
{
    if (p->n == 0)
        return;
    ev_batch_t *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        for (int i = 0; i < p->n; i++)
            json_decref(p->detail[i]);
        p->n = 0;
        return;
    }
    for (int i = 0; i < p->n; i++)
        batch_add(b, p->node_id, p->at, p->kind[i], p->detail[i]);
    p->n = 0;
    batch_submit(b);
}

/* ---- start: presence from the table ---- */

static void set_presence(const char *node_id, int online, void *arg)
{
    (void)arg;
    node_t *n = registry_node_find(node_id);
    if (n != NULL)
        n->presence_online = online && n->last_seen != 0;
}

static int presence_default(node_t *n, void *arg)
{
    (void)arg;
    /* no event yet (older database): a node that was ever seen counts as
     * online, so the sweep records its drop if it is gone */
    n->presence_online = n->last_seen != 0;
    return 0;
}

int node_events_load(sqlite3 *db, char *err, size_t errlen)
{
    lock_take(&registry_nodes_lock);
    registry_node_foreach(presence_default, NULL);
    int rc = store_node_events_presence(db, set_presence, NULL);
    lock_give(&registry_nodes_lock);
    if (rc != 0)
        snprintf(err, errlen, "cannot read the node events table: %s", sqlite3_errmsg(db));
    return rc;
}

/* ---- housekeeping: offline sweep, retention ---- */

typedef struct {
    int64_t now;
    uint64_t offline_after_ms;
    ev_batch_t *b;
    int count;
} sweep_t;

static int sweep_count(node_t *n, void *arg)
{
    sweep_t *s = arg;
    if (n->presence_online && !registry_node_online(n, s->now, s->offline_after_ms))
        s->count++;
    return 0;
}

static int sweep_mark(node_t *n, void *arg)
{
    sweep_t *s = arg;
    if (!n->presence_online || registry_node_online(n, s->now, s->offline_after_ms))
        return 0;
    json_t *d = json_pack("{s:o}", "last_seen", time_or_null(n->last_seen));
    if (d == NULL || batch_add(s->b, n->id, s->now, "offline", d) != 0)
        return 1; /* out of memory: the rest go with the next sweep */
    n->presence_online = 0;
    s->count++;
    return 0;
}

int node_events_sweep(void)
{
    sweep_t s = {.now = clock_now(), .offline_after_ms = serve_config()->nodes.offline_after_ms};
    /* a shared pass first: most sweeps find nothing and block no heartbeat */
    lock_take_shared(&registry_nodes_lock);
    registry_node_foreach(sweep_count, &s);
    lock_give(&registry_nodes_lock);
    if (s.count == 0)
        return 0;
    s.count = 0;
    s.b = calloc(1, sizeof(*s.b));
    if (s.b == NULL)
        return 0;
    lock_take(&registry_nodes_lock);
    registry_node_foreach(sweep_mark, &s);
    lock_give(&registry_nodes_lock);
    batch_submit(s.b);
    return s.count;
}

static void sweep_task(void *arg)
{
    (void)arg;
    node_events_sweep();
}

static int prune_apply(sqlite3 *db, void *arg)
{
    int n = store_node_events_prune(db, arg);
    if (n > 0)
        log_info("msg=\"pruned node events\" count=%d before=%s", n, (const char *)arg);
    return n < 0 ? -1 : 0;
}

static void prune_done(void *arg, int status)
{
    (void)status;
    free(arg);
}

static void prune_task(void *arg)
{
    (void)arg;
    uint64_t keep_s = serve_config()->nodes.events_retention_ms / 1000;
    int64_t now = clock_now();
    if (keep_s >= (uint64_t)now)
        return; /* kept since before the epoch: nothing is that old */
    char *cutoff = malloc(32);
    if (cutoff == NULL)
        return;
    clock_rfc3339(now - (int64_t)keep_s, cutoff, 32);
    if (store_submit(prune_apply, prune_done, cutoff) != 0)
        free(cutoff);
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int node_events_register(void)
{
    const hc_config_t *cfg = serve_config();
    /* a drop is noticed within a quarter of offline_after (at most 5 s late) */
    uint64_t sweep_ms = clamp(cfg->nodes.offline_after_ms / 4, 250, 5000);
    uint64_t prune_ms = clamp(cfg->nodes.events_retention_ms / 4, 500, 10 * 60 * 1000);
    if (housekeeping_every("node events sweep", sweep_ms, sweep_task, NULL) != 0 ||
        housekeeping_every("node events prune", prune_ms, prune_task, NULL) != 0)
        return -1;
    return 0;
}
