/*
 * The node agent's endpoints (spec/agent-protocol.md), node token only:
 *   POST /api/v1/body/heartbeat    soft state in, instructions out
 *   GET  /api/v1/body/provision    the node's roles with their recipes
 *   GET  /api/v1/body/shell/check  whether an interactive shell waits
 *
 * A heartbeat changes memory at once (fleet/softstate.h flushes it to
 * SQLite within a second). Flags are durable: they stay set until the agent
 * acknowledges the generation it acted on (flags_ack), and clearing them is a
 * commit like any other durable write, answered after it.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "commit.h"
#include "jsonio.h"
#include "log.h"
#include "node_json.h"
#include "metrics.h"
#include "registry.h"
#include "serve.h"
#include "softstate.h"

#define DIAG_MAX_KEYS 64
#define DIAG_MAX_KEY 64     /* bytes */
#define DIAG_MAX_VALUE 1024 /* bytes */

/* The heartbeat answer (caller holds the nodes lock; copies out). A pending
 * node gets no roles: it may show that it is alive, nothing more. */
/* The heartbeat answer, written straight into b (the hot path of every
 * agent: no jansson tree, no malloc while the answer fits b's stack memory);
 * caller holds the nodes lock. Left open: respond_answer adds exec_pending,
 * which the exec module gives without our lock held. */
static void heartbeat_answer(node_json_buf_t *b, const node_t *n)
{
    int approved = strcmp(n->approval, "approved") == 0;
    node_json_put(b, "{\"node_id\":", 11);
    node_json_put_str(b, n->id);
    node_json_put(b, ",\"approval\":", 12);
    node_json_put_str(b, n->approval);
    node_json_put(b, ",\"roles\":[", 10);
    size_t i, k = 0;
    json_t *v;
    if (approved)
        json_array_foreach(n->roles, i, v)
        {
            if (!json_is_string(v))
                continue;
            if (k++)
                node_json_put(b, ",", 1);
            node_json_put_str(b, json_string_value(v));
        }
    char tail[256];
    int len = snprintf(tail, sizeof(tail),
                       "],\"flags\":{\"update_node\":%s,\"update_services\":%s,\"reprovision\":%s},"
                       "\"flags_generation\":%lld,\"heartbeat_interval_s\":%d",
                       n->flag_update_node ? "true" : "false", n->flag_update_services ? "true" : "false",
                       n->flag_reprovision ? "true" : "false", (long long)n->flags_generation,
                       (int)serve_config()->nodes.heartbeat_interval_s);
    node_json_put(b, tail, (size_t)len);
}

static void respond_answer(hc_req_t *r, const char *node_id, node_json_buf_t *b)
{
    char tail[48];
    int len = snprintf(tail, sizeof(tail), ",\"exec_pending\":%d}\n", registry_exec_pending(node_id));
    node_json_put(b, tail, (size_t)len);
    if (b->oom)
        json_error(r, 500, "internal", "out of memory");
    else
        json_respond_text(r, 200, b->p, b->len);
    node_json_buf_free(b);
}

static void respond_gone(hc_req_t *r)
{
    json_error(r, 401, "unauthorized", "this node no longer exists (it was deleted): enroll it again");
}

/* ---- flags_ack: clearing acknowledged flags is durable ---- */

typedef struct {
    char node_id[NODE_ID_MAX];
    int64_t generation;
} ack_t;

static int ack_apply(sqlite3 *db, void *arg)
{
    ack_t *a = arg;
    /* only the generation the agent saw: a flag set since stays */
    sqlite3_stmt *st = store_prepare(db, "UPDATE nodes SET flag_update_node = 0, flag_update_services = 0, "
                                         "flag_reprovision = 0 WHERE id = ?1 AND flags_generation = ?2");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, a->node_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a->generation);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void ack_publish(void *arg)
{
    ack_t *a = arg;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(a->node_id);
    if (n != NULL && n->flags_generation == a->generation)
        n->flag_update_node = n->flag_update_services = n->flag_reprovision = 0;
    lock_give(&registry_nodes_lock);
}

static void ack_respond(hc_req_t *r, int status, void *arg)
{
    ack_t *a = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the acknowledgement could not be stored; send it again");
        return;
    }
    char mem[1024];
    node_json_buf_t answer = {.p = mem, .cap = sizeof(mem), .borrowed = 1};
    lock_take_shared(&registry_nodes_lock);
    node_t *n = registry_node_find(a->node_id);
    if (n != NULL)
        heartbeat_answer(&answer, n);
    lock_give(&registry_nodes_lock);
    if (n == NULL) {
        respond_gone(r);
        return;
    }
    respond_answer(r, a->node_id, &answer);
}

static const commit_spec_t ack_spec = {ack_apply, ack_publish, ack_respond, free};

/* ---- POST /api/v1/body/heartbeat ---- */

/* a short status/version string: 1 given, 0 absent, -1 answered 400 */
static int get_short(hc_req_t *r, const char *key, const char **out)
{
    char err[256];
    int rc = r->body ? json_get_str(r->body, key, NODE_SHORT_MAX - 1, out, err, sizeof(err)) : 0;
    if (rc < 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return -1;
    }
    if (rc > 0 && !nodes_text_ok(*out)) {
        json_error(r, 400, "bad_request", "\"%s\" must not contain control characters", key);
        return -1;
    }
    return rc;
}

/* diagnostics: an object of at most DIAG_MAX_KEYS string values; NULL when
 * absent, a copy to install when valid, or (json_t *)-1 after a 400 */
static json_t *get_diagnostics(hc_req_t *r)
{
    json_t *d = r->body ? json_object_get(r->body, "diagnostics") : NULL;
    if (d == NULL || json_is_null(d))
        return NULL;
    if (!json_is_object(d)) {
        json_error(r, 400, "bad_request", "\"diagnostics\" must be an object of strings");
        return (json_t *)-1;
    }
    if (json_object_size(d) > DIAG_MAX_KEYS) {
        json_error(r, 400, "bad_request", "\"diagnostics\" has %zu keys; at most %d are kept", json_object_size(d),
                   DIAG_MAX_KEYS);
        return (json_t *)-1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(d, k, v)
    {
        if (k[0] == '\0' || strlen(k) > DIAG_MAX_KEY || !nodes_text_ok(k)) {
            json_error(r, 400, "bad_request", "\"diagnostics\" keys must be 1 to %d bytes without control characters",
                       DIAG_MAX_KEY);
            return (json_t *)-1;
        }
        if (!json_is_string(v)) {
            json_error(r, 400, "bad_request", "\"diagnostics\".\"%s\" must be a string", k);
            return (json_t *)-1;
        }
        if (json_string_length(v) > DIAG_MAX_VALUE) {
            json_error(r, 400, "bad_request", "\"diagnostics\".\"%s\" is longer than %d bytes", k, DIAG_MAX_VALUE);
            return (json_t *)-1;
        }
    }
    json_t *copy = json_deep_copy(d);
    if (copy == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return (json_t *)-1;
    }
    return copy;
}

void api_body_heartbeat(hc_req_t *r)
{
    static const char *const allowed[] = {"version",      "stream_status", "provider_status", "wireguard_ip",
                                          "lan_ip",       "diagnostics",   "flags_ack",       NULL};
    char err[256];
    const char *version = NULL, *stream_status = NULL, *provider_status = NULL, *wireguard_ip = NULL, *lan_ip = NULL;
    int64_t ack = -1;
    if (r->body != NULL && json_check_keys(r->body, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    if (get_short(r, "version", &version) < 0 || get_short(r, "stream_status", &stream_status) < 0 ||
        get_short(r, "provider_status", &provider_status) < 0 || get_short(r, "wireguard_ip", &wireguard_ip) < 0 ||
        get_short(r, "lan_ip", &lan_ip) < 0)
        return;
    if (stream_status != NULL && stream_status[0] != '\0' && !nodes_stream_status_ok(stream_status)) {
        json_error(r, 400, "bad_request", "\"stream_status\" must be idle, streaming or error");
        return;
    }
    if ((wireguard_ip != NULL && !nodes_ip_ok(wireguard_ip)) || (lan_ip != NULL && !nodes_ip_ok(lan_ip))) {
        json_error(r, 400, "bad_request", "\"%s\" must be an IPv4 or IPv6 address",
                   wireguard_ip != NULL && !nodes_ip_ok(wireguard_ip) ? "wireguard_ip" : "lan_ip");
        return;
    }
    if (r->body != NULL && json_get_int(r->body, "flags_ack", 0, INT64_MAX, &ack, err, sizeof(err)) < 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    json_t *diag = get_diagnostics(r);
    if (diag == (json_t *)-1)
        return;

    const char *id = r->auth.node_id;
    int64_t now = clock_now();
    json_t *old_diag = NULL;
    char mem[1024];
    node_json_buf_t answer = {.p = mem, .cap = sizeof(mem), .borrowed = 1};
    int clear_flags = 0;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(id);
    if (n != NULL) {
        unsigned bits = SOFT_DIRTY_STATE;
        /* out of memory keeps the old value; the agent repeats it in its next heartbeat */
        if ((version != NULL && intern_set(&n->version, version) != 0) ||
            (stream_status != NULL && intern_set(&n->stream_status, stream_status) != 0) ||
            (provider_status != NULL && intern_set(&n->provider_status, provider_status) != 0))
            log_error("msg=\"out of memory applying a heartbeat\" node=%s", id);
        if (wireguard_ip != NULL) {
            snprintf(n->wireguard_ip, sizeof(n->wireguard_ip), "%s", wireguard_ip);
            bits |= SOFT_DIRTY_WIREGUARD_IP;
        }
        if (lan_ip != NULL) {
            snprintf(n->lan_ip, sizeof(n->lan_ip), "%s", lan_ip);
            bits |= SOFT_DIRTY_LAN_IP;
        }
        if (diag != NULL) {
            old_diag = n->diagnostics;
            n->diagnostics = diag;
            diag = NULL;
        }
        snprintf(n->ip, sizeof(n->ip), "%s", r->client_ip);
        n->last_seen = now;
        softstate_mark(n, bits);
        clear_flags = ack >= 0 && ack == n->flags_generation &&
                      (n->flag_update_node || n->flag_update_services || n->flag_reprovision);
        if (!clear_flags)
            heartbeat_answer(&answer, n);
    }
    lock_give(&registry_nodes_lock);
    json_decref(old_diag);
    json_decref(diag);
    if (n == NULL) {
        respond_gone(r);
        return;
    }
    metrics_heartbeat_inc();
    if (!clear_flags) {
        respond_answer(r, id, &answer);
        return;
    }
    ack_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(a->node_id, sizeof(a->node_id), "%s", id);
    a->generation = ack;
    commit_submit(r, &ack_spec, a);
}

/* ---- GET /api/v1/body/provision ---- */

void api_body_provision(hc_req_t *r)
{
    const char *id = r->auth.node_id;
    char approval[16] = "";
    json_t *names = NULL;
    /* nodes (rank 20) and catalog (rank 10) one after the other, never nested
     * in this order: copy the names out first */
    lock_take_shared(&registry_nodes_lock);
    node_t *n = registry_node_find(id);
    if (n != NULL) {
        snprintf(approval, sizeof(approval), "%s", n->approval);
        names = strcmp(n->approval, "approved") == 0 ? json_deep_copy(n->roles) : json_array();
    }
    lock_give(&registry_nodes_lock);
    if (n == NULL) {
        respond_gone(r);
        return;
    }
    json_t *roles = json_array(), *missing = json_array();
    if (names == NULL || roles == NULL || missing == NULL) {
        json_decref(names);
        json_decref(roles);
        json_decref(missing);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    size_t i;
    json_t *v;
    lock_take_shared(&registry_catalog_lock);
    json_array_foreach(names, i, v)
    {
        const role_t *role = registry_role_find(json_string_value(v));
        if (role != NULL)
            json_array_append_new(roles, json_pack("{s:s, s:s, s:O}", "name", role->name, "description",
                                                   role->description, "recipe", role->recipe));
        else
            json_array_append(missing, v); /* removed from the catalog a moment ago */
    }
    lock_give(&registry_catalog_lock);
    json_decref(names);
    json_t *o = json_pack("{s:s, s:s, s:o}", "node_id", id, "approval", approval, "roles", roles);
    if (o == NULL) {
        json_decref(missing);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    if (json_array_size(missing) > 0)
        json_object_set(o, "missing_roles", missing);
    json_decref(missing);
    json_respond(r, 200, o);
}

/* ---- GET /api/v1/body/shell/check ---- */

/* This server has no interactive shell sessions yet (the WebSocket relay is
 * not built), so no admin can be waiting for one: the true answer is null. */
void api_body_shell_check(hc_req_t *r)
{
    json_respond(r, 200, json_pack("{s:n}", "session"));
}
