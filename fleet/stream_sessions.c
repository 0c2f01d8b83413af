#include "stream_sessions.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "housekeeping.h"
#include "lock.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "serve.h"
#include "store.h"

#define WATCHDOG_MS 1000
#define PRUNE_EVERY_MS (60 * 1000)
#define PRUNE_BATCH 200           /* sessions per transaction: keeps each prune short for the writer */
#define ENDED_KEEP_S (24 * 3600)  /* how long memory remembers an ended id (the store knows for ever) */
#define ENDED_MAX 4096
#define CHANGE_ENDS_MAX 4

static const char *const reason_names[SS_REASONS] = {"body_idle", "head_idle", "silence", "node_deleted",
                                                     "stream_stopped"};

const char *stream_sessions_reason_name(int reason)
{
    return reason >= 0 && reason < SS_REASONS ? reason_names[reason] : "unknown";
}

int stream_sessions_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SS_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- memory (ss_lock) ---- */

typedef struct {
    char id[SS_ID_MAX + 1];
    char body_id[NODE_ID_MAX], head_id[NODE_ID_MAX]; /* "" = that side has not joined */
    int64_t last_body, last_head;                    /* last report of it by each side */
} ss_active_t;

typedef struct {
    char id[SS_ID_MAX + 1];
    int64_t at;
} ss_ended_t;

typedef struct {
    char node_id[NODE_ID_MAX];
    int is_head;
    char session[SS_ID_MAX + 1]; /* what it reports now ("" none) */
    int64_t since;               /* when it began reporting that */
    int64_t at;                  /* its last report of it */
    int64_t streaming_seen;      /* the watchdog first saw it (a body) streaming; 0 = not streaming */
} ss_node_t;

static hc_lock_t ss_lock;
static ss_active_t *active;
static size_t nactive, cap_active;
static ss_ended_t ended[ENDED_MAX]; /* a ring: the oldest is overwritten */
static size_t ended_next, nended;
static ss_node_t *nodes;
static size_t nnodes, cap_nodes;
static atomic_uint_fast64_t ended_total[SS_REASONS];

static void *grow(void *v, size_t *cap, size_t elem)
{
    size_t c = *cap ? *cap * 2 : 32;
    void *p = realloc(v, c * elem);
    if (p != NULL)
        *cap = c;
    return p;
}

/* The active sessions and the nodes are arrays sorted by id: the watchdog
 * looks one up per streaming body every second under the nodes lock, so
 * lookups are binary searches; inserting (a new session, a node's first
 * report) moves the tail, which is rare. */
static size_t sorted_pos(const void *base, size_t n, size_t size, const char *id, int *found)
{
    size_t lo = 0, hi = n;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp((const char *)base + mid * size, id); /* the id is each struct's first member */
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static ss_active_t *active_find(const char *id)
{
    int found;
    size_t i = sorted_pos(active, nactive, sizeof(*active), id, &found);
    return found ? &active[i] : NULL;
}

static ss_active_t *active_add(const char *id)
{
    int found;
    size_t i = sorted_pos(active, nactive, sizeof(*active), id, &found);
    if (found)
        return &active[i];
    if (nactive == cap_active) {
        void *p = grow(active, &cap_active, sizeof(*active));
        if (p == NULL)
            return NULL;
        active = p;
    }
    memmove(&active[i + 1], &active[i], (nactive - i) * sizeof(*active));
    nactive++;
    ss_active_t *a = &active[i];
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    return a;
}

static void active_remove(const char *id)
{
    int found;
    size_t i = sorted_pos(active, nactive, sizeof(*active), id, &found);
    if (found) {
        memmove(&active[i], &active[i + 1], (nactive - i - 1) * sizeof(*active));
        nactive--;
    }
}

static int ended_find(const char *id)
{
    for (size_t i = 0; i < nended; i++)
        if (strcmp(ended[i].id, id) == 0)
            return 1;
    return 0;
}

static void ended_add(const char *id, int64_t now)
{
    if (ended_find(id))
        return;
    ss_ended_t *e = &ended[ended_next];
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->at = now;
    ended_next = (ended_next + 1) % ENDED_MAX;
    if (nended < ENDED_MAX)
        nended++;
}

static void ended_prune(int64_t now)
{
    for (size_t i = 0; i < nended; i++)
        if (ended[i].id[0] && now - ended[i].at > ENDED_KEEP_S)
            ended[i].id[0] = '\0'; /* a hole: never matches a valid id */
}

static ss_node_t *node_find(const char *id)
{
    int found;
    size_t i = sorted_pos(nodes, nnodes, sizeof(*nodes), id, &found);
    return found ? &nodes[i] : NULL;
}

static ss_node_t *node_get(const char *id)
{
    int found;
    size_t i = sorted_pos(nodes, nnodes, sizeof(*nodes), id, &found);
    if (found)
        return &nodes[i];
    if (nnodes == cap_nodes) {
        void *p = grow(nodes, &cap_nodes, sizeof(*nodes));
        if (p == NULL)
            return NULL;
        nodes = p;
    }
    memmove(&nodes[i + 1], &nodes[i], (nnodes - i) * sizeof(*nodes));
    nnodes++;
    ss_node_t *n = &nodes[i];
    memset(n, 0, sizeof(*n));
    snprintf(n->node_id, sizeof(n->node_id), "%s", id);
    return n;
}

static void node_forget(const char *id)
{
    int found;
    size_t i = sorted_pos(nodes, nnodes, sizeof(*nodes), id, &found);
    if (found) {
        memmove(&nodes[i], &nodes[i + 1], (nnodes - i - 1) * sizeof(*nodes));
        nnodes--;
    }
}

/* 1 when it was active (two racing reports may both end a session: the
 * second end matches no row and is neither counted nor logged) */
static int end_in_memory(const char *id, int reason, int64_t now)
{
    int was = active_find(id) != NULL;
    active_remove(id);
    ended_add(id, now);
    if (was && reason >= 0 && reason < SS_REASONS)
        atomic_fetch_add(&ended_total[reason], 1);
    return was;
}

/* ---- start-up ---- */

int stream_sessions_init(void)
{
    lock_init(&ss_lock, "stream_sessions", LOCK_RANK_STREAM_SESSIONS);
    return 0;
}

typedef struct {
    int64_t now;
    int oom;
} load_t;

static void load_visit(const char *id, const char *body_id, const char *head_id, const char *started_at, void *arg)
{
    (void)started_at;
    load_t *l = arg;
    ss_active_t *a = active_add(id);
    if (a == NULL) {
        l->oom = 1;
        return;
    }
    snprintf(a->body_id, sizeof(a->body_id), "%s", body_id);
    snprintf(a->head_id, sizeof(a->head_id), "%s", head_id);
    /* the sides get the watchdog's full timeouts from the restart on */
    a->last_body = a->last_head = l->now;
}

int stream_sessions_load(sqlite3 *db, char *err, size_t errlen)
{
    load_t l = {.now = clock_now()};
    lock_take(&ss_lock);
    int rc = store_session_load_active(db, load_visit, &l);
    lock_give(&ss_lock);
    if (rc != 0 || l.oom) {
        snprintf(err, errlen, "cannot load the streaming sessions: %s", l.oom ? "out of memory" : sqlite3_errmsg(db));
        return -1;
    }
    if (nactive > 0)
        log_info("msg=\"loaded active streaming sessions\" count=%zu", nactive);
    return 0;
}

void stream_sessions_free(void)
{
    free(active);
    free(nodes);
    active = NULL;
    nodes = NULL;
    nactive = cap_active = nnodes = cap_nodes = nended = ended_next = 0;
}

/* ---- transitions ---- */

struct ss_change {
    int64_t now;
    char now_s[32];
    size_t nend;
    struct {
        char id[SS_ID_MAX + 1];
        int reason;
    } end[CHANGE_ENDS_MAX];
    int has_report; /* start the session, or join it */
    char id[SS_ID_MAX + 1];
    int head;
    char node_id[NODE_ID_MAX], name[NODE_TEXT_MAX], district[NODE_TEXT_MAX], venue[NODE_TEXT_MAX];
    store_session_row_t row; /* apply's read-back, for publish */
};

static ss_change_t *change_new(ss_change_t **c, int64_t now)
{
    if (*c == NULL && (*c = calloc(1, sizeof(**c))) != NULL) {
        (*c)->now = now;
        clock_rfc3339(now, (*c)->now_s, sizeof((*c)->now_s));
    }
    return *c;
}

ss_change_t *stream_sessions_report(const ss_report_t *rep)
{
    if (rep->kind == SS_REPORT_UNKNOWN)
        return NULL;
    const char *want = rep->kind == SS_REPORT_SESSION ? rep->session_id : "";
    ss_change_t *c = NULL;
    lock_take(&ss_lock);
    ss_node_t *nd = node_get(rep->node_id);
    if (nd != NULL) {
        if (strcmp(nd->session, want) != 0) {
            snprintf(nd->session, sizeof(nd->session), "%s", want);
            nd->since = rep->now;
        }
        nd->at = rep->now;
        nd->is_head = rep->is_head;
    }
    /* the node's other sessions end: it reported idle, or another session */
    for (size_t i = 0; i < nactive; i++) {
        ss_active_t *a = &active[i];
        int as_body = strcmp(a->body_id, rep->node_id) == 0, as_head = strcmp(a->head_id, rep->node_id) == 0;
        if (!as_body && !as_head)
            continue;
        if (strcmp(a->id, want) == 0) {
            if (as_body)
                a->last_body = rep->now;
            if (as_head)
                a->last_head = rep->now;
            continue;
        }
        if (change_new(&c, rep->now) == NULL || c->nend == CHANGE_ENDS_MAX)
            break;
        snprintf(c->end[c->nend].id, sizeof(c->end[0].id), "%s", a->id);
        c->end[c->nend].reason = as_head ? SS_HEAD_IDLE : SS_BODY_IDLE;
        c->nend++;
    }
    if (want[0] != '\0') {
        ss_active_t *a = active_find(want);
        int needed;
        if (a != NULL) {
            const char *side = rep->is_head ? a->head_id : a->body_id;
            needed = side[0] == '\0'; /* join; a side held by another node stays as it is */
            if (!needed && strcmp(side, rep->node_id) != 0)
                log_warn("msg=\"session reported by a node that is not part of it\" session=%s node=%s side=%s "
                         "held_by=%s",
                         want, rep->node_id, rep->is_head ? "head" : "body", side);
        } else {
            needed = !ended_find(want);
        }
        if (needed && change_new(&c, rep->now) != NULL) {
            c->has_report = 1;
            snprintf(c->id, sizeof(c->id), "%s", want);
            c->head = rep->is_head;
            snprintf(c->node_id, sizeof(c->node_id), "%s", rep->node_id);
            snprintf(c->name, sizeof(c->name), "%s", rep->name ? rep->name : "");
            snprintf(c->district, sizeof(c->district), "%s", rep->district ? rep->district : "");
            snprintf(c->venue, sizeof(c->venue), "%s", rep->venue ? rep->venue : "");
        }
    }
    lock_give(&ss_lock);
    return c;
}

int stream_sessions_change_apply(sqlite3 *db, ss_change_t *c)
{
    for (size_t i = 0; i < c->nend; i++)
        if (store_session_end(db, c->end[i].id, reason_names[c->end[i].reason], c->now_s) != 0)
            return -1;
    if (c->has_report && store_session_report(db, c->id, c->head, c->node_id, c->name, c->district, c->venue,
                                              c->now_s, &c->row) != 0)
        return -1;
    return 0;
}

void stream_sessions_change_publish(ss_change_t *c)
{
    lock_take(&ss_lock);
    for (size_t i = 0; i < c->nend; i++)
        if (end_in_memory(c->end[i].id, c->end[i].reason, c->now))
            log_info("msg=\"streaming session ended\" session=%s reason=%s", c->end[i].id,
                     reason_names[c->end[i].reason]);
    if (c->has_report) {
        if (!c->row.active) {
            active_remove(c->id);
            ended_add(c->id, c->now);
        } else {
            int fresh = active_find(c->id) == NULL;
            ss_active_t *a = active_add(c->id);
            if (a != NULL) {
                snprintf(a->body_id, sizeof(a->body_id), "%s", c->row.body_id);
                snprintf(a->head_id, sizeof(a->head_id), "%s", c->row.head_id);
                if (c->head)
                    a->last_head = c->now;
                else
                    a->last_body = c->now;
                if (fresh)
                    log_info("msg=\"streaming session started\" session=%s %s=%s", c->id, c->head ? "head" : "body",
                             c->node_id);
            }
        }
    }
    lock_give(&ss_lock);
}

void stream_sessions_change_free(ss_change_t *c)
{
    free(c);
}

int stream_sessions_end_node_apply(sqlite3 *db, const char *node_id, int reason, json_t *ended_ids)
{
    char now[32];
    return store_session_end_node(db, node_id, reason_names[reason], clock_rfc3339(clock_now(), now, sizeof(now)),
                                  ended_ids);
}

void stream_sessions_end_node_publish(const char *node_id, int reason, json_t *ended_ids, int forget)
{
    int64_t now = clock_now();
    size_t i;
    json_t *v;
    lock_take(&ss_lock);
    json_array_foreach(ended_ids, i, v)
    {
        end_in_memory(json_string_value(v), reason, now);
        log_info("msg=\"streaming session ended\" session=%s reason=%s node=%s", json_string_value(v),
                 reason_names[reason], node_id);
    }
    if (forget)
        node_forget(node_id);
    lock_give(&ss_lock);
}

/* ---- watchdog: silence ---- */

typedef struct {
    char id[NODE_ID_MAX];
    int64_t last_seen;
} silent_body_t;

typedef struct {
    silent_body_t *bodies;
    size_t nbodies, cap;
    char (*ends)[SS_ID_MAX + 1];
    size_t nends;
    int64_t now, silence_s;
    char now_s[32];
    int oom;
} silence_t;

static int collect_silent(node_t *n, void *arg)
{
    silence_t *s = arg;
    if (n->head != NULL || strcmp(n->stream_status, "streaming") != 0 || n->last_seen == 0 ||
        s->now - n->last_seen < s->silence_s)
        return 0;
    if (s->nbodies == s->cap) {
        void *p = grow(s->bodies, &s->cap, sizeof(*s->bodies));
        if (p == NULL) {
            s->oom = 1;
            return 1;
        }
        s->bodies = p;
    }
    silent_body_t *b = &s->bodies[s->nbodies++];
    snprintf(b->id, sizeof(b->id), "%s", n->id);
    b->last_seen = n->last_seen;
    return 0;
}

static int silence_apply(sqlite3 *db, void *arg)
{
    silence_t *s = arg;
    for (size_t i = 0; i < s->nends; i++)
        if (store_session_end(db, s->ends[i], "silence", s->now_s) != 0)
            return -1;
    sqlite3_stmt *st = store_prepare(db, "UPDATE nodes SET stream_status = 'idle' WHERE id = ?1");
    if (st == NULL)
        return -1;
    for (size_t i = 0; i < s->nbodies; i++) {
        sqlite3_bind_text(st, 1, s->bodies[i].id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

static void silence_pass(int64_t now, int64_t silence_s)
{
    silence_t s = {.now = now, .silence_s = silence_s};
    clock_rfc3339(now, s.now_s, sizeof(s.now_s));
    lock_take_shared(&registry_nodes_lock);
    registry_node_foreach(collect_silent, &s);
    lock_take(&ss_lock);
    s.ends = calloc(nactive ? nactive : 1, sizeof(*s.ends));
    for (size_t i = 0; s.ends != NULL && i < nactive; i++) {
        ss_active_t *a = &active[i];
        int silent;
        if (a->body_id[0] != '\0') {
            /* whatever its last stream_status (a restart may have loaded a
             * stale one), a session's body that stopped heartbeating ends it */
            const node_t *b = registry_node_find(a->body_id);
            int64_t seen = b != NULL && b->last_seen > a->last_body ? b->last_seen : a->last_body;
            silent = now - seen >= silence_s;
        } else {
            /* no body ever joined: the head's reports keep it */
            silent = now - a->last_head >= silence_s;
        }
        if (silent)
            snprintf(s.ends[s.nends++], SS_ID_MAX + 1, "%s", a->id);
    }
    lock_give(&ss_lock);
    lock_give(&registry_nodes_lock);

    if (s.ends != NULL && (s.nbodies > 0 || s.nends > 0)) {
        int rc = store_submit_wait(silence_apply, &s);
        if (rc == 0) {
            lock_take(&registry_nodes_lock);
            for (size_t i = 0; i < s.nbodies; i++) {
                node_t *n = registry_node_find(s.bodies[i].id);
                /* a heartbeat since then wins: it is not silent any more */
                if (n != NULL && n->last_seen == s.bodies[i].last_seen) {
                    if (intern_set(&n->stream_status, "idle") != 0)
                        log_error("msg=\"out of memory setting stream_status idle\" node=%s", n->id);
                    log_warn("msg=\"body silent while streaming: stream_status idle\" node=%s last_seen_s_ago=%lld",
                             n->id, (long long)(now - n->last_seen));
                }
            }
            lock_give(&registry_nodes_lock);
            lock_take(&ss_lock);
            for (size_t i = 0; i < s.nends; i++)
                if (end_in_memory(s.ends[i], SS_SILENCE, now))
                    log_info("msg=\"streaming session ended\" session=%s reason=silence", s.ends[i]);
            lock_give(&ss_lock);
        } else if (rc != STORE_ESTOPPED) {
            log_warn("msg=\"silent sessions not ended; retrying\" status=%d", rc);
        }
    }
    free(s.ends);
    free(s.bodies);
}

/* ---- watchdog: orphans ---- */

typedef struct {
    int64_t now, silence_s, orphan_s;
    uint64_t offline_after_ms;
    const char **fed; /* bodies a streaming, online head has pinned (sorted) */
    size_t nfed;
} orphan_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int collect_fed(node_t *n, void *arg)
{
    orphan_t *o = arg;
    if (n->head != NULL && n->head->assigned_body_id[0] != '\0' && strcmp(n->head->status, "streaming") == 0 &&
        registry_node_online(n, o->now, o->offline_after_ms))
        o->fed[o->nfed++] = n->head->assigned_body_id;
    return 0;
}

/* nodes lock (exclusive) and ss_lock held */
static int judge_orphan(node_t *n, void *arg)
{
    orphan_t *o = arg;
    if (n->head != NULL)
        return 0;
    int streaming = strcmp(n->stream_status, "streaming") == 0 && n->last_seen != 0 &&
                    o->now - n->last_seen < o->silence_s;
    ss_node_t *nd = streaming ? node_get(n->id) : node_find(n->id);
    if (!streaming || nd == NULL) {
        if (nd != NULL)
            nd->streaming_seen = 0;
        if (n->orphaned_since != 0)
            log_info("msg=\"body no longer orphaned\" node=%s reason=not_streaming", n->id);
        n->orphaned_since = 0;
        return 0;
    }
    if (nd->streaming_seen == 0)
        nd->streaming_seen = o->now;
    int64_t quiet_since = nd->streaming_seen; /* no head reported its session since */
    if (nd->session[0] != '\0') {
        if (nd->since > quiet_since)
            quiet_since = nd->since;
        ss_active_t *a = active_find(nd->session);
        int64_t head_at = a != NULL && a->head_id[0] != '\0' ? a->last_head : 0;
        if (a == NULL) /* ended (or never stored): a head may still report it */
            for (size_t i = 0; i < nnodes; i++)
                if (nodes[i].is_head && nodes[i].at > head_at && strcmp(nodes[i].session, nd->session) == 0)
                    head_at = nodes[i].at;
        if (head_at > quiet_since)
            quiet_since = head_at;
    }
    const char *id = n->id;
    if (o->nfed > 0 && bsearch(&id, o->fed, o->nfed, sizeof(*o->fed), cmp_str) != NULL)
        quiet_since = o->now; /* a head without session ids streams from it */
    /* times are whole seconds: a head report late in the previous second is
     * less than orphan_after ago even when the difference reads orphan_after,
     * so only a difference past it counts (else a head reporting every few
     * hundred ms could look absent to a pass early in each second) */
    if (o->now - quiet_since > o->orphan_s) {
        if (n->orphaned_since == 0) {
            n->orphaned_since = quiet_since;
            log_warn("msg=\"body orphaned: streaming with no head\" node=%s session=%s since_s_ago=%lld", n->id,
                     nd->session[0] ? nd->session : "-", (long long)(o->now - quiet_since));
        }
    } else {
        if (n->orphaned_since != 0)
            log_info("msg=\"body no longer orphaned\" node=%s reason=head_reported", n->id);
        n->orphaned_since = 0;
    }
    return 0;
}

static void orphan_pass(int64_t now, int64_t silence_s, int64_t orphan_s, uint64_t offline_after_ms)
{
    orphan_t o = {.now = now, .silence_s = silence_s, .orphan_s = orphan_s, .offline_after_ms = offline_after_ms};
    lock_take(&registry_nodes_lock);
    size_t count = registry_node_count();
    o.fed = calloc(count ? count : 1, sizeof(*o.fed));
    if (o.fed != NULL) {
        registry_node_foreach(collect_fed, &o);
        qsort(o.fed, o.nfed, sizeof(*o.fed), cmp_str);
        lock_take(&ss_lock);
        registry_node_foreach(judge_orphan, &o);
        lock_give(&ss_lock);
    }
    lock_give(&registry_nodes_lock);
    free(o.fed);
}

static int64_t ceil_s(uint64_t ms)
{
    return (int64_t)((ms + 999) / 1000);
}

void stream_sessions_watchdog(int64_t now)
{
    const hc_config_t *cfg = serve_config();
    int64_t silence_s = ceil_s(cfg->sessions.silence_timeout_ms);
    silence_pass(now, silence_s);
    orphan_pass(now, silence_s, ceil_s(cfg->sessions.orphan_after_ms), cfg->nodes.offline_after_ms);
}

static void watchdog_task(void *arg)
{
    (void)arg;
    stream_sessions_watchdog(clock_now());
}

/* ---- retention ---- */

typedef struct {
    char cutoff[32];
    int pruned;
} prune_t;

static int prune_apply(sqlite3 *db, void *arg)
{
    prune_t *p = arg;
    return store_session_prune(db, p->cutoff, PRUNE_BATCH, &p->pruned);
}

static void prune_task(void *arg)
{
    (void)arg;
    int64_t now = clock_now();
    prune_t p;
    clock_rfc3339(now - ceil_s(serve_config()->sessions.retention_ms), p.cutoff, sizeof(p.cutoff));
    int total = 0;
    /* in batches, so that other writes get in between */
    do {
        p.pruned = 0;
        if (store_submit_wait(prune_apply, &p) != 0)
            break;
        total += p.pruned;
    } while (p.pruned == PRUNE_BATCH);
    if (total > 0)
        log_info("msg=\"pruned ended streaming sessions\" count=%d older_than=%s", total, p.cutoff);
    lock_take(&ss_lock);
    ended_prune(now);
    lock_give(&ss_lock);
}

/* ---- metrics ---- */

static int count_orphaned(node_t *n, void *arg)
{
    if (n->orphaned_since != 0)
        (*(size_t *)arg)++;
    return 0;
}

static void metrics_collect(FILE *f)
{
    size_t orphaned = 0, act;
    lock_take_shared(&registry_nodes_lock);
    registry_node_foreach(count_orphaned, &orphaned);
    lock_give(&registry_nodes_lock);
    lock_take_shared(&ss_lock);
    act = nactive;
    lock_give(&ss_lock);
    fprintf(f,
            "# HELP hydracluster_nodes_orphaned Bodies streaming with no head reporting their session "
            "(sessions.orphan_after).\n"
            "# TYPE hydracluster_nodes_orphaned gauge\nhydracluster_nodes_orphaned %zu\n"
            "# HELP hydracluster_stream_sessions_active Streaming sessions not ended.\n"
            "# TYPE hydracluster_stream_sessions_active gauge\nhydracluster_stream_sessions_active %zu\n"
            "# HELP hydracluster_stream_sessions_ended_total Streaming sessions ended, by reason.\n"
            "# TYPE hydracluster_stream_sessions_ended_total counter\n",
            orphaned, act);
    for (int i = 0; i < SS_REASONS; i++)
        fprintf(f, "hydracluster_stream_sessions_ended_total{reason=\"%s\"} %llu\n", reason_names[i],
                (unsigned long long)atomic_load(&ended_total[i]));
}

int stream_sessions_register(void)
{
    uint64_t retention = serve_config()->sessions.retention_ms;
    uint64_t prune_ms = retention < PRUNE_EVERY_MS ? retention : PRUNE_EVERY_MS;
    if (housekeeping_every("stream sessions watchdog", WATCHDOG_MS, watchdog_task, NULL) != 0 ||
        housekeeping_every("stream sessions retention", prune_ms, prune_task, NULL) != 0 ||
        metrics_register_collector(metrics_collect) != 0)
        return -1;
    return 0;
}
