/*
 * The node agent's endpoints (spec/agent-protocol.md), node token only:
 *   POST /api/v1/body/heartbeat    soft state in, instructions out
 *   GET  /api/v1/body/provision    the node's roles with their recipes
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
#include "metrics.h"
#include "registry.h"
#include "serve.h"
#include "softstate.h"
#include "stream_sessions.h"

#define DIAG_MAX_KEYS 64
#define DIAG_MAX_KEY 64     /* bytes */
#define DIAG_MAX_VALUE 1024 /* bytes */

/* The heartbeat answer (caller holds the nodes lock; copies out). A pending
 * node gets no roles: it may show that it is alive, nothing more. */
static json_t *heartbeat_answer(const node_t *n)
{
    int approved = strcmp(n->approval, "approved") == 0;
    return json_pack("{s:s, s:s, s:o, s:{s:b, s:b, s:b}, s:I, s:i}", "node_id", n->id, "approval", n->approval,
                     "roles", approved ? json_deep_copy(n->roles) : json_array(), "flags", "update_node",
                     n->flag_update_node, "update_services", n->flag_update_services, "reprovision",
                     n->flag_reprovision, "flags_generation", (json_int_t)n->flags_generation,
                     "heartbeat_interval_s", (int)serve_config()->nodes.heartbeat_interval_s);
}

/* answers with the answer built under the lock, plus the exec count, which
 * the exec module gives without our lock held */
static void respond_answer(hc_req_t *r, const char *node_id, json_t *answer)
{
    if (answer == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_object_set_new(answer, "exec_pending", json_integer(registry_exec_pending(node_id)));
    json_respond(r, 200, answer);
}

static void respond_gone(hc_req_t *r)
{
    json_error(r, 401, "unauthorized", "this node no longer exists (it was deleted): enroll it again");
}

/* ---- flags_ack: clearing acknowledged flags is durable ---- */

typedef struct {
    char node_id[NODE_ID_MAX];
    int64_t generation;   /* -1: no flags to clear */
    ss_change_t *session; /* a streaming session starts or ends (fleet/stream_sessions.h) */
} ack_t;

static int ack_apply(sqlite3 *db, void *arg)
{
    ack_t *a = arg;
    if (a->session != NULL && stream_sessions_change_apply(db, a->session) != 0)
        return -1;
    if (a->generation < 0)
        return 0;
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
    if (a->session != NULL)
        stream_sessions_change_publish(a->session);
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
        json_error(r, 500, "store_error", "the acknowledgement or session change could not be stored; send it again");
        return;
    }
    lock_take_shared(&registry_nodes_lock);
    node_t *n = registry_node_find(a->node_id);
    json_t *answer = n ? heartbeat_answer(n) : NULL;
    lock_give(&registry_nodes_lock);
    if (n == NULL) {
        respond_gone(r);
        return;
    }
    respond_answer(r, a->node_id, answer);
}

static void ack_free(void *arg)
{
    ack_t *a = arg;
    stream_sessions_change_free(a->session);
    free(a);
}

static const commit_spec_t ack_spec = {ack_apply, ack_publish, ack_respond, ack_free};

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
                                          "lan_ip",       "diagnostics",   "flags_ack",       "session_id",
                                          NULL};
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
    /* session_id is read tolerantly: one that cannot be an id says nothing */
    json_t *sid = r->body ? json_object_get(r->body, "session_id") : NULL;
    int sid_none = sid != NULL && (json_is_null(sid) || (json_is_string(sid) && json_string_length(sid) == 0));
    const char *session_id = stream_sessions_id_ok(json_string_value(sid)) ? json_string_value(sid) : NULL;
    ss_report_t rep = {.node_id = r->auth.node_id, .session_id = session_id};
    char name[NODE_TEXT_MAX] = "", district[NODE_TEXT_MAX] = "", venue[NODE_TEXT_MAX] = "";

    const char *id = r->auth.node_id;
    int64_t now = clock_now();
    json_t *answer = NULL, *old_diag = NULL;
    int clear_flags = 0;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(id);
    if (n != NULL) {
        unsigned bits = SOFT_DIRTY_STATE;
        if (version != NULL)
            snprintf(n->version, sizeof(n->version), "%s", version);
        if (stream_status != NULL)
            snprintf(n->stream_status, sizeof(n->stream_status), "%s", stream_status);
        if (provider_status != NULL)
            snprintf(n->provider_status, sizeof(n->provider_status), "%s", provider_status);
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
        /* a head: its session_id alone counts; a body: while it streams. A
         * node not approved streams for nobody: its reports are not sessions */
        rep.is_head = n->head != NULL;
        int streaming = strcmp(n->stream_status, "streaming") == 0;
        if (strcmp(n->approval, "approved") != 0)
            rep.kind = SS_REPORT_UNKNOWN;
        else if (sid_none || (!rep.is_head && !streaming && stream_status != NULL))
            rep.kind = SS_REPORT_NONE;
        else if (session_id != NULL && (rep.is_head || streaming))
            rep.kind = SS_REPORT_SESSION;
        snprintf(name, sizeof(name), "%s", n->name);
        snprintf(district, sizeof(district), "%s", n->district);
        snprintf(venue, sizeof(venue), "%s", n->venue);
        if (!clear_flags)
            answer = heartbeat_answer(n);
    }
    lock_give(&registry_nodes_lock);
    json_decref(old_diag);
    json_decref(diag);
    if (n == NULL) {
        respond_gone(r);
        return;
    }
    metrics_heartbeat_inc();
    rep.name = name;
    rep.district = district;
    rep.venue = venue;
    rep.now = now;
    /* only a session's start or end is a write: other heartbeats stay soft */
    ss_change_t *session = stream_sessions_report(&rep);
    if (!clear_flags && session == NULL) {
        respond_answer(r, id, answer);
        return;
    }
    json_decref(answer);
    ack_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        stream_sessions_change_free(session);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(a->node_id, sizeof(a->node_id), "%s", id);
    a->generation = clear_flags ? ack : -1;
    a->session = session;
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
