/* fleet/: heartbeat soft state and its batched flush (softstate.h). */
#include "softstate.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "housekeeping.h"
#include "log.h"
#include "node_events.h"
#include "serve.h"
#include "store.h"
#include "str.h"

/* set when some node was marked since the last flush took its copies: lets
 * an idle server skip the (empty) transaction every second */
static atomic_int pending;

typedef struct {
    char id[NODE_ID_MAX];
    unsigned bits;
    char version[NODE_SHORT_MAX], stream_status[NODE_SHORT_MAX], provider_status[NODE_SHORT_MAX];
    char ip[NODE_SHORT_MAX], wireguard_ip[NODE_SHORT_MAX], lan_ip[NODE_SHORT_MAX];
    char last_seen[32];
    char *diagnostics; /* compact JSON */
} soft_row_t;

typedef struct {
    soft_row_t *rows;
    size_t n, cap;
    int oom;
} soft_batch_t;

void softstate_mark(node_t *n, unsigned bits)
{
    n->soft_dirty |= bits;
    atomic_store(&pending, 1);
}

void softstate_node_seen(const char *id, const char *client_ip)
{
    node_events_pending_t events = {0};
    int64_t now = clock_now();
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(id);
    if (n != NULL) {
        int64_t prev_seen = n->last_seen;
        str_copy(n->ip, sizeof(n->ip), client_ip);
        n->last_seen = now;
        softstate_mark(n, SOFT_DIRTY_STATE);
        node_events_heartbeat(n, prev_seen, n->stream_status, now, serve_config()->nodes.offline_after_ms, &events);
    }
    lock_give(&registry_nodes_lock);
    node_events_submit(&events);
}

/* nodes lock held exclusively */
static int collect(node_t *n, void *arg)
{
    soft_batch_t *b = arg;
    if (n->soft_dirty == 0)
        return 0;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        soft_row_t *rows = realloc(b->rows, cap * sizeof(*rows));
        if (rows == NULL) {
            b->oom = 1;
            return 1; /* the rest stays marked for the next flush */
        }
        b->rows = rows;
        b->cap = cap;
    }
    soft_row_t *r = &b->rows[b->n];
    memset(r, 0, sizeof(*r));
    r->diagnostics = json_dumps(n->diagnostics, JSON_COMPACT);
    if (r->diagnostics == NULL) {
        b->oom = 1;
        return 1;
    }
    b->n++;
    snprintf(r->id, sizeof(r->id), "%s", n->id);
    r->bits = n->soft_dirty;
    snprintf(r->version, sizeof(r->version), "%s", n->version);
    snprintf(r->stream_status, sizeof(r->stream_status), "%s", n->stream_status);
    snprintf(r->provider_status, sizeof(r->provider_status), "%s", n->provider_status);
    snprintf(r->ip, sizeof(r->ip), "%s", n->ip);
    snprintf(r->wireguard_ip, sizeof(r->wireguard_ip), "%s", n->wireguard_ip);
    snprintf(r->lan_ip, sizeof(r->lan_ip), "%s", n->lan_ip);
    if (n->last_seen != 0)
        clock_rfc3339(n->last_seen, r->last_seen, sizeof(r->last_seen));
    n->soft_dirty = 0;
    return 0;
}

static void bind_or_keep(sqlite3_stmt *st, int i, int set, const char *v)
{
    if (set)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* writer thread: copies the marked nodes (ordered with every other apply)
 * and writes them */
static int flush_apply(sqlite3 *db, void *arg)
{
    soft_batch_t *b = arg;
    lock_take(&registry_nodes_lock);
    registry_node_foreach(collect, b);
    lock_give(&registry_nodes_lock);
    if (b->oom)
        atomic_store(&pending, 1);
    if (b->n == 0)
        return 0;
    /* NULL keeps a column: only what a heartbeat reported is written */
    sqlite3_stmt *st = store_prepare(
        db, "UPDATE nodes SET version = coalesce(?2, version), stream_status = coalesce(?3, stream_status), "
            "provider_status = coalesce(?4, provider_status), ip = coalesce(?5, ip), "
            "last_seen = coalesce(?6, last_seen), diagnostics = coalesce(?7, diagnostics), "
            "wireguard_ip = coalesce(?8, wireguard_ip), lan_ip = coalesce(?9, lan_ip) WHERE id = ?1");
    if (st == NULL)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        soft_row_t *r = &b->rows[i];
        int state = (r->bits & SOFT_DIRTY_STATE) != 0;
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        bind_or_keep(st, 2, state, r->version);
        bind_or_keep(st, 3, state, r->stream_status);
        bind_or_keep(st, 4, state, r->provider_status);
        bind_or_keep(st, 5, state, r->ip);
        bind_or_keep(st, 6, state && r->last_seen[0], r->last_seen);
        bind_or_keep(st, 7, state, r->diagnostics);
        bind_or_keep(st, 8, (r->bits & SOFT_DIRTY_WIREGUARD_IP) != 0, r->wireguard_ip);
        bind_or_keep(st, 9, (r->bits & SOFT_DIRTY_LAN_IP) != 0, r->lan_ip);
        /* a node deleted meanwhile matches no row: nothing to do */
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
            log_error("msg=\"cannot write heartbeat state\" err=\"%s\"", sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

int softstate_flush(void)
{
    if (!atomic_exchange(&pending, 0))
        return 0;
    soft_batch_t b = {0};
    int rc = store_submit_wait(flush_apply, &b);
    int written = (int)b.n;
    if (rc != 0) {
        /* not stored: mark them again so the next flush retries */
        lock_take(&registry_nodes_lock);
        for (size_t i = 0; i < b.n; i++) {
            node_t *n = registry_node_find(b.rows[i].id);
            if (n != NULL)
                n->soft_dirty |= b.rows[i].bits;
        }
        lock_give(&registry_nodes_lock);
        if (b.n > 0 || rc != STORE_ESTOPPED)
            atomic_store(&pending, 1);
        log_warn("msg=\"heartbeat state not flushed; retrying at the next flush\" nodes=%zu status=%d", b.n, rc);
        written = -1;
    }
    for (size_t i = 0; i < b.n; i++)
        free(b.rows[i].diagnostics);
    free(b.rows);
    return written;
}

static void flush_task(void *arg)
{
    (void)arg;
    softstate_flush();
}

static void flush_at_stop(void *arg)
{
    (void)arg;
    int n = softstate_flush();
    if (n > 0)
        log_info("msg=\"flushed heartbeat state at stop\" nodes=%d", n);
}

int softstate_register(void)
{
    if (housekeeping_every("softstate_flush", SOFTSTATE_FLUSH_MS, flush_task, NULL) != 0 ||
        housekeeping_on_stop(flush_at_stop, NULL) != 0)
        return -1;
    return 0;
}

void softstate_forget_addresses(const char *id, int wireguard_ip, int lan_ip)
{
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(id);
    if (n != NULL) {
        if (wireguard_ip)
            n->soft_dirty &= ~(unsigned)SOFT_DIRTY_WIREGUARD_IP;
        if (lan_ip)
            n->soft_dirty &= ~(unsigned)SOFT_DIRTY_LAN_IP;
    }
    lock_give(&registry_nodes_lock);
}
