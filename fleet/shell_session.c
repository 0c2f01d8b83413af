/*
 * Shell sessions: the table, the per-node limit, the agents' parked checks,
 * the timeouts (a once-a-second sweep on the housekeeping thread), node
 * deletion, and the audit row and metrics when a session ends. The relay
 * itself is fleet/shell_relay.c.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "housekeeping.h"
#include "log.h"
#include "metrics.h"
#include "shell_internal.h"
#include "store.h"

hc_lock_t shell_lock;

const char *const shell_end_reason_names[SHELL_END_COUNT] = {
    "exit",         "agent_closed", "client_closed", "connect_timeout",
    "idle_timeout", "max_duration", "node_deleted",  "server_stopping",
};

typedef struct check_waiter {
    struct check_waiter *next;
    char node_id[NODE_ID_MAX];
    park_t *p;
} check_waiter_t;

/* under shell_lock */
static shell_session_t *table;
static check_waiter_t *waiters;

static uint64_t connect_timeout_ms, idle_timeout_ms, max_duration_ms;
static unsigned max_per_node;

static _Atomic uint64_t started_total;
static _Atomic uint64_t ended_total[SHELL_END_COUNT];
_Atomic uint64_t shell_bytes_total[2];

void shell_session_ref(shell_session_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void shell_session_unref(shell_session_t *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < 2; i++) {
        while (s->end[i].in_head != NULL) {
            shell_frame_t *f = s->end[i].in_head;
            s->end[i].in_head = f->next;
            free(f);
        }
    }
    free(s->command);
    free(s);
}

const char *shell_session_id(const shell_session_t *s)
{
    return s->id;
}

void shell_offer_free(shell_offer_t *o)
{
    if (o == NULL)
        return;
    free(o->command);
    free(o);
}

/* under the lock */
static shell_offer_t *offer_make(const shell_session_t *s)
{
    shell_offer_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    memcpy(o->id, s->id, sizeof(o->id));
    o->cols = s->cols;
    o->rows = s->rows;
    if (s->command != NULL && (o->command = strdup(s->command)) == NULL) {
        free(o);
        return NULL;
    }
    return o;
}

/* Hands a waiting session to one of its node's parked checks, if any. */
static void offer_to_waiter(shell_session_t *s)
{
    for (;;) {
        park_t *p = NULL;
        shell_offer_t *o = NULL;
        lock_take(&shell_lock);
        if (s->state == SH_WAITING && !s->closing) {
            for (check_waiter_t **w = &waiters; *w != NULL; w = &(*w)->next) {
                if (strcmp((*w)->node_id, s->node_id) == 0) {
                    check_waiter_t *cw = *w;
                    *w = cw->next;
                    p = cw->p;
                    free(cw);
                    break;
                }
            }
            if (p != NULL && (o = offer_make(s)) != NULL)
                s->state = SH_OFFERED;
        }
        lock_give(&shell_lock);
        if (p == NULL)
            return;
        int woke = o != NULL && park_wake(p, (intptr_t)o);
        if (!woke) {
            if (o == NULL)
                park_wake(p, 0);
            shell_offer_free(o);
            lock_take(&shell_lock);
            if (s->state == SH_OFFERED)
                s->state = SH_WAITING;
            lock_give(&shell_lock);
        }
        park_unref(p);
        if (woke)
            return;
    }
}

static void audit_submit(const char *actor, const char *action, const char *node_id, json_t *detail);

shell_session_t *shell_session_open(const char *node_id, const char *actor, unsigned cols, unsigned rows,
                                    const char *command, int *err)
{
    shell_session_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (command != NULL && (s->command = strdup(command)) == NULL)) {
        free(s);
        *err = SHELL_ENOMEM;
        return NULL;
    }
    uint8_t rnd[12];
    randombytes_buf(rnd, sizeof(rnd));
    char hex[sizeof(rnd) * 2 + 1];
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(s->id, sizeof(s->id), "sh-%s", hex);
    snprintf(s->node_id, sizeof(s->node_id), "%s", node_id);
    snprintf(s->actor, sizeof(s->actor), "%s", actor);
    s->cols = cols;
    s->rows = rows;
    s->started_at = clock_now();
    s->created_ms = clock_mono_ms();
    atomic_init(&s->last_activity_ms, s->created_ms);
    atomic_init(&s->refs, 2); /* the table's and the caller's */
    s->exit_code = -1;
    s->end_reason = -1;
    for (int i = 0; i < 2; i++) {
        s->end[i].s = s;
        s->end[i].side = i;
    }
    size_t n = 0;
    lock_take(&shell_lock);
    for (shell_session_t *t = table; t != NULL; t = t->next)
        if (t->state != SH_CLOSED && strcmp(t->node_id, node_id) == 0)
            n++;
    if (n < max_per_node) {
        s->next = table;
        table = s;
    }
    lock_give(&shell_lock);
    if (n >= max_per_node) {
        free(s->command);
        free(s);
        *err = SHELL_ELIMIT;
        return NULL;
    }
    atomic_fetch_add(&started_total, 1);
    /* a row at the start too: a crash mid-session must not hide who opened a shell */
    audit_submit(actor, "shell.start", node_id,
                 json_pack("{s:s, s:s?, s:b, s:i, s:i}", "session", s->id, "command", command, "interactive",
                           command == NULL, "cols", (int)cols, "rows", (int)rows));
    log_info("msg=\"shell session opened\" session=%s node=%s actor=%s command=%s", s->id, node_id, actor,
             command != NULL ? "given" : "interactive");
    offer_to_waiter(s);
    return s;
}

shell_session_t *shell_session_find(const char *node_id, const char *id, int *err)
{
    shell_session_t *found = NULL;
    *err = SHELL_ENOENT;
    lock_take(&shell_lock);
    for (shell_session_t *s = table; s != NULL; s = s->next) {
        if (strcmp(s->id, id) != 0 || strcmp(s->node_id, node_id) != 0)
            continue;
        if (s->state == SH_CLOSED || s->closing || s->end[SHELL_AGENT].gone)
            break;
        if (s->end[SHELL_AGENT].attached) {
            *err = SHELL_EBUSY;
            break;
        }
        shell_session_ref(s);
        found = s;
        break;
    }
    lock_give(&shell_lock);
    return found;
}

int shell_check_take(const char *node_id, park_t *p, shell_offer_t **out)
{
    *out = NULL;
    int rc = 0;
    lock_take(&shell_lock);
    for (shell_session_t *s = table; s != NULL; s = s->next) {
        if (s->state == SH_WAITING && !s->closing && strcmp(s->node_id, node_id) == 0) {
            if ((*out = offer_make(s)) == NULL) {
                rc = SHELL_ENOMEM;
                break;
            }
            s->state = SH_OFFERED;
            rc = 1;
            break;
        }
    }
    if (rc == 0 && p != NULL) {
        check_waiter_t *w = calloc(1, sizeof(*w));
        if (w == NULL) {
            rc = SHELL_ENOMEM;
        } else {
            snprintf(w->node_id, sizeof(w->node_id), "%s", node_id);
            w->p = p;
            w->next = waiters;
            waiters = w;
        }
    }
    lock_give(&shell_lock);
    return rc;
}

void shell_check_forget(const char *node_id, park_t *p)
{
    park_t *drop = NULL;
    lock_take(&shell_lock);
    for (check_waiter_t **w = &waiters; *w != NULL; w = &(*w)->next) {
        if ((*w)->p == p && strcmp((*w)->node_id, node_id) == 0) {
            check_waiter_t *cw = *w;
            *w = cw->next;
            drop = cw->p;
            free(cw);
            break;
        }
    }
    lock_give(&shell_lock);
    if (drop != NULL)
        park_unref(drop);
}

void shell_offer_return(const char *node_id, shell_offer_t *o)
{
    shell_session_t *found = NULL;
    lock_take(&shell_lock);
    for (shell_session_t *s = table; s != NULL; s = s->next) {
        if (strcmp(s->id, o->id) == 0 && strcmp(s->node_id, node_id) == 0) {
            if (s->state == SH_OFFERED) {
                s->state = SH_WAITING;
                shell_session_ref(s);
                found = s;
            }
            break;
        }
    }
    lock_give(&shell_lock);
    shell_offer_free(o);
    if (found != NULL) {
        offer_to_waiter(found);
        shell_session_unref(found);
    }
}

static void close_reason_json(char *buf, size_t len, int reason)
{
    switch (reason) {
    case SHELL_END_CONNECT_TIMEOUT:
        snprintf(buf, len, "{\"code\":\"agent_timeout\",\"error\":\"the agent did not connect within %llus\"}",
                 (unsigned long long)(connect_timeout_ms / 1000));
        break;
    case SHELL_END_IDLE_TIMEOUT:
        snprintf(buf, len, "{\"code\":\"idle_timeout\",\"error\":\"no input or output for %llus\"}",
                 (unsigned long long)(idle_timeout_ms / 1000));
        break;
    case SHELL_END_MAX_DURATION:
        snprintf(buf, len, "{\"code\":\"max_duration\",\"error\":\"the session reached its limit of %llus\"}",
                 (unsigned long long)(max_duration_ms / 1000));
        break;
    default:
        snprintf(buf, len, "{\"code\":\"node_deleted\",\"error\":\"the node was deleted or rejected\"}");
        break;
    }
}

static uint16_t close_code_of(int reason)
{
    switch (reason) {
    case SHELL_END_CONNECT_TIMEOUT:
        return 4001;
    case SHELL_END_IDLE_TIMEOUT:
        return 4002;
    case SHELL_END_MAX_DURATION:
        return 4003;
    default:
        return 4004;
    }
}

#define SWEEP_BATCH 64

/* Closes sessions that match (node_id, or every timed-out one when NULL). */
static void close_matching(const char *node_id, int node_reason)
{
    uint64_t now = clock_mono_ms();
    shell_end_t *notify[SWEEP_BATCH];
    size_t n = 0;
    char reason[124];
    lock_take(&shell_lock);
    for (shell_session_t *s = table; s != NULL && n + 2 <= SWEEP_BATCH; s = s->next) {
        if (s->state == SH_CLOSED || s->closing)
            continue;
        int why = -1;
        if (node_id != NULL) {
            if (strcmp(s->node_id, node_id) == 0)
                why = node_reason;
        } else if (s->state != SH_ACTIVE) {
            if (now - s->created_ms >= connect_timeout_ms)
                why = SHELL_END_CONNECT_TIMEOUT;
        } else if (now - atomic_load(&s->last_activity_ms) >= idle_timeout_ms) {
            why = SHELL_END_IDLE_TIMEOUT;
        } else if (now - s->active_ms >= max_duration_ms) {
            why = SHELL_END_MAX_DURATION;
        }
        if (why < 0) {
            /* pings keep proxies from cutting a quiet session */
            if (node_id == NULL && s->state == SH_ACTIVE && now - s->pinged_ms >= SHELL_PING_MS) {
                s->pinged_ms = now;
                for (int i = 0; i < 2; i++) {
                    shell_end_t *e = &s->end[i];
                    if (e->attached && !e->gone && n < SWEEP_BATCH) {
                        e->ping = 1;
                        shell_session_ref(s);
                        notify[n++] = e;
                    }
                }
            }
            continue;
        }
        s->closing = 1;
        s->end_reason = why;
        close_reason_json(reason, sizeof(reason), why);
        for (int i = 0; i < 2; i++) {
            shell_end_t *e = &s->end[i];
            shell_end_close_locked(e, 1, close_code_of(why), reason);
            if (e->attached && !e->gone) {
                shell_session_ref(s);
                notify[n++] = e;
            }
        }
    }
    /* parked checks of a deleted node: answer them (null) now */
    park_t *wake[SWEEP_BATCH];
    size_t nw = 0;
    if (node_id != NULL) {
        for (check_waiter_t **w = &waiters; *w != NULL && nw < SWEEP_BATCH;) {
            if (strcmp((*w)->node_id, node_id) == 0) {
                check_waiter_t *cw = *w;
                *w = cw->next;
                wake[nw++] = cw->p;
                free(cw);
            } else {
                w = &(*w)->next;
            }
        }
    }
    lock_give(&shell_lock);
    for (size_t i = 0; i < n; i++) {
        shell_session_t *s = notify[i]->s;
        shell_end_notify(notify[i]);
        shell_session_unref(s);
    }
    for (size_t i = 0; i < nw; i++) {
        park_wake(wake[i], 0);
        park_unref(wake[i]);
    }
}

static void sweep(void *arg)
{
    (void)arg;
    close_matching(NULL, 0);
}

void shell_node_gone(const char *node_id)
{
    close_matching(node_id, SHELL_END_NODE_GONE);
}

void shell_end_gone(shell_end_t *e, int ws_code)
{
    (void)ws_code;
    shell_session_t *s = e->s;
    shell_end_t *peer = &s->end[e->side == SHELL_CLIENT ? SHELL_AGENT : SHELL_CLIENT];
    worker_t *w = worker_current();
    int stopping = w != NULL && w->stopping;
    int done = 0;
    lock_take(&shell_lock);
    e->gone = 1;
    e->attached = 0;
    shell_end_drop_locked(e);
    if (s->end_reason < 0) {
        if (stopping)
            s->end_reason = SHELL_END_SERVER_STOPPING;
        else if (e->side == SHELL_AGENT)
            s->end_reason = s->exit_code >= 0 ? SHELL_END_EXIT : SHELL_END_AGENT_CLOSED;
        else
            s->end_reason = SHELL_END_CLIENT_CLOSED;
    }
    char reason[124];
    if (stopping)
        shell_end_close_locked(peer, 1, 1001, "{\"code\":\"server_stopping\",\"error\":\"the server is stopping\"}");
    else if (e->side == SHELL_CLIENT)
        shell_end_close_locked(peer, 0, 1000, "{\"code\":\"client_closed\",\"error\":\"the client closed the session\"}");
    else if (s->exit_code >= 0) {
        snprintf(reason, sizeof(reason), "{\"code\":\"exit\",\"exit_code\":%d}", s->exit_code);
        shell_end_close_locked(peer, 0, 1000, reason);
    } else {
        shell_end_close_locked(peer, 0, 4005,
                               "{\"code\":\"agent_closed\",\"error\":\"the agent closed the session without an exit status\"}");
    }
    int notify = peer->attached && !peer->gone;
    if (peer->gone && s->state != SH_CLOSED) {
        s->state = SH_CLOSED;
        done = 1;
    }
    lock_give(&shell_lock);
    if (notify)
        shell_end_notify(peer);
    if (done)
        shell_session_finish(s);
    shell_session_unref(s); /* the end's */
}

void shell_session_abandon(shell_session_t *s)
{
    int done = 0;
    lock_take(&shell_lock);
    s->end[SHELL_CLIENT].gone = 1;
    if (s->end_reason < 0)
        s->end_reason = SHELL_END_CLIENT_CLOSED;
    shell_end_close_locked(&s->end[SHELL_AGENT], 1, 1011, "{\"code\":\"internal\",\"error\":\"the client could not attach\"}");
    if (s->end[SHELL_AGENT].gone && s->state != SH_CLOSED) {
        s->state = SH_CLOSED;
        done = 1;
    }
    lock_give(&shell_lock);
    if (done)
        shell_session_finish(s);
    shell_session_unref(s);
}

/* ---- the end: audit and metrics ---- */

typedef struct {
    char actor[80];
    char action[32];
    char node_id[NODE_ID_MAX];
    json_t *detail;
} audit_rec_t;

static int audit_apply(sqlite3 *db, void *arg)
{
    audit_rec_t *a = arg;
    return store_audit_append(db, a->actor, a->action, a->node_id, a->detail);
}

static void audit_done(void *arg, int status)
{
    audit_rec_t *a = arg;
    if (status != 0)
        log_error("msg=\"could not store a shell audit row\" action=%s node=%s status=%d", a->action, a->node_id,
                  status);
    json_decref(a->detail);
    free(a);
}

/* queues an audit row (consumes detail); logged when it cannot be queued */
static void audit_submit(const char *actor, const char *action, const char *node_id, json_t *detail)
{
    audit_rec_t *a = calloc(1, sizeof(*a));
    if (a == NULL || detail == NULL) {
        log_error("msg=\"could not audit a shell session\" action=%s node=%s", action, node_id);
        json_decref(detail);
        free(a);
        return;
    }
    snprintf(a->actor, sizeof(a->actor), "%s", actor);
    snprintf(a->action, sizeof(a->action), "%s", action);
    snprintf(a->node_id, sizeof(a->node_id), "%s", node_id);
    a->detail = detail;
    if (store_submit(audit_apply, audit_done, a) != 0) {
        log_error("msg=\"could not audit a shell session\" action=%s node=%s", action, node_id);
        json_decref(a->detail);
        free(a);
    }
}

void shell_session_finish(shell_session_t *s)
{
    lock_take(&shell_lock);
    for (shell_session_t **t = &table; *t != NULL; t = &(*t)->next) {
        if (*t == s) {
            *t = s->next;
            break;
        }
    }
    int reason = s->end_reason >= 0 ? s->end_reason : SHELL_END_CLIENT_CLOSED;
    int exit_code = s->exit_code;
    int attached = s->active_ms != 0;
    lock_give(&shell_lock);
    atomic_fetch_add(&ended_total[reason], 1);
    char started[40], ended[40];
    clock_rfc3339(s->started_at, started, sizeof(started));
    clock_rfc3339(clock_now(), ended, sizeof(ended));
    uint64_t to_node = atomic_load(&s->bytes[SHELL_CLIENT]), from_node = atomic_load(&s->bytes[SHELL_AGENT]);
    log_info("msg=\"shell session ended\" session=%s node=%s reason=%s exit_code=%d bytes_to_node=%llu "
             "bytes_from_node=%llu",
             s->id, s->node_id, shell_end_reason_names[reason], exit_code, (unsigned long long)to_node,
             (unsigned long long)from_node);
    audit_submit(s->actor, "shell.session", s->node_id,
                 json_pack("{s:s, s:s?, s:b, s:s, s:s, s:o, s:s, s:b, s:I, s:I}", "session", s->id, "command",
                              s->command, "interactive", s->command == NULL, "started_at", started, "ended_at",
                              ended, "exit_code", exit_code >= 0 ? json_integer(exit_code) : json_null(), "reason",
                              shell_end_reason_names[reason], "agent_attached", attached, "bytes_to_node",
                              (json_int_t)to_node, "bytes_from_node", (json_int_t)from_node));
    shell_session_unref(s); /* the table's */
}

size_t shell_sessions_open(void)
{
    size_t n = 0;
    lock_take(&shell_lock);
    for (shell_session_t *s = table; s != NULL; s = s->next)
        n++;
    lock_give(&shell_lock);
    return n;
}

static void metrics_collect(FILE *f)
{
    size_t open = shell_sessions_open();
    fprintf(f,
            "# HELP hydracluster_shell_sessions_open Shell sessions not yet ended (waiting for the agent or active).\n"
            "# TYPE hydracluster_shell_sessions_open gauge\n"
            "hydracluster_shell_sessions_open %zu\n"
            "# HELP hydracluster_shell_sessions_started_total Shell sessions opened by clients.\n"
            "# TYPE hydracluster_shell_sessions_started_total counter\n"
            "hydracluster_shell_sessions_started_total %llu\n"
            "# HELP hydracluster_shell_sessions_ended_total Shell sessions ended, by reason.\n"
            "# TYPE hydracluster_shell_sessions_ended_total counter\n",
            open, (unsigned long long)atomic_load(&started_total));
    for (int i = 0; i < SHELL_END_COUNT; i++)
        fprintf(f, "hydracluster_shell_sessions_ended_total{reason=\"%s\"} %llu\n", shell_end_reason_names[i],
                (unsigned long long)atomic_load(&ended_total[i]));
    fprintf(f,
            "# HELP hydracluster_shell_bytes_relayed_total Bytes of shell messages relayed, by direction.\n"
            "# TYPE hydracluster_shell_bytes_relayed_total counter\n"
            "hydracluster_shell_bytes_relayed_total{direction=\"to_node\"} %llu\n"
            "hydracluster_shell_bytes_relayed_total{direction=\"from_node\"} %llu\n",
            (unsigned long long)atomic_load(&shell_bytes_total[SHELL_CLIENT]),
            (unsigned long long)atomic_load(&shell_bytes_total[SHELL_AGENT]));
}

int shell_init(const hc_config_t *cfg)
{
    lock_init(&shell_lock, "shell", LOCK_RANK_SHELL);
    connect_timeout_ms = cfg->shell.connect_timeout_ms;
    idle_timeout_ms = cfg->shell.idle_timeout_ms;
    max_duration_ms = cfg->shell.max_duration_ms;
    max_per_node = cfg->shell.max_sessions_per_node;
    if (metrics_register_collector(metrics_collect) != 0 || housekeeping_every("shell sweep", 1000, sweep, NULL) != 0)
        return -1;
    return 0;
}
