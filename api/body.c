/*
 * The node agent's endpoints (spec/agent-protocol.md), node token only:
 *   POST /api/v1/body/heartbeat    soft state in, instructions out
 *   GET  /api/v1/body/provision    the node's roles with their recipes
 *
 * A heartbeat changes memory at once (fleet/softstate.h flushes it to
 * SQLite within a second). Flags are durable: for an agent that acknowledges
 * (it sent flags_ack at least once) they stay set until it acknowledges the
 * generation it acted on; for an agent that never did (the deployed ones) a
 * flag is delivered once, as the old service did. Either way clearing them is
 * a commit like any other durable write, answered after it.
 *
 * A heartbeat's session_id (fleet/stream_sessions.h) starts or ends a
 * streaming session; only such a start or end is written, in the same commit
 * as any flag change.
 *
 * Every body here is read tolerantly (api/agent_fields.h): unknown members
 * and unusable values are ignored and counted, never refused.
 */
#include <stdlib.h>
#include <string.h>

#include "agent_fields.h"
#include "api.h"
#include "clock.h"
#include "commit.h"
#include "events.h"
#include "jsonio.h"
#include "log.h"
#include "metrics.h"
#include "node_events.h"
#include "node_json.h"
#include "str.h"
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

static void put_bool(node_json_buf_t *b, int v)
{
    if (v)
        node_json_put(b, "true", 4);
    else
        node_json_put(b, "false", 5);
}

/* The same answer written straight into b, for the common heartbeat (the
 * hot path of every agent: no jansson tree, no malloc while it fits b's
 * stack memory); caller holds the nodes lock. Left open: respond_answer_text
 * adds exec_pending. */
static void heartbeat_answer_text(node_json_buf_t *b, const node_t *n)
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
    /* the rest by hand: snprintf showed in the heartbeat's profile */
    node_json_put(b, "],\"flags\":{\"update_node\":", 25);
    put_bool(b, n->flag_update_node);
    node_json_put(b, ",\"update_services\":", 19);
    put_bool(b, n->flag_update_services);
    node_json_put(b, ",\"reprovision\":", 15);
    put_bool(b, n->flag_reprovision);
    node_json_put(b, "},\"flags_generation\":", 21);
    char num[24];
    node_json_put(b, num, str_from_int(num, (long long)n->flags_generation));
    node_json_put(b, ",\"heartbeat_interval_s\":", 24);
    node_json_put(b, num, str_from_int(num, (long long)(int)serve_config()->nodes.heartbeat_interval_s));
}

static void respond_answer_text(hc_req_t *r, const char *node_id, node_json_buf_t *b)
{
    char num[24];
    node_json_put(b, ",\"exec_pending\":", 16);
    node_json_put(b, num, str_from_int(num, registry_exec_pending(node_id)));
    node_json_put(b, "}\n", 2);
    if (b->oom)
        json_error(r, 500, "internal", "out of memory");
    else
        json_respond_text(r, 200, b->p, b->len);
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

/* ---- flags: acknowledged (flags_ack) or delivered once; both durable ---- */

/* One commit for what a heartbeat changes durably: the agent acknowledged a
 * generation (clears it), the agent acks for the first time (remembered), an
 * agent that never acks gets its flags once (cleared by this commit, and the
 * answer that carries them is sent only after it), or a streaming session
 * starts or ends. */
typedef struct {
    char node_id[NODE_ID_MAX];
    int64_t generation; /* the generation to clear; -1: none */
    int mark_acked;
    json_t *answer;       /* deliver-once: the answer built before the clear */
    ss_change_t *session; /* a streaming session starts or ends (fleet/stream_sessions.h) */
} flags_op_t;

static int flags_apply(sqlite3 *db, void *arg)
{
    flags_op_t *a = arg;
    if (a->session != NULL && stream_sessions_change_apply(db, a->session) != 0)
        return -1;
    if (a->mark_acked) {
        sqlite3_stmt *st = store_prepare(db, "UPDATE nodes SET flags_acked = 1 WHERE id = ?1");
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, a->node_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return -1;
    }
    if (a->generation < 0)
        return 0;
    /* which flags the agent acted on, for the node's history */
    sqlite3_stmt *sel = store_prepare(db, "SELECT flag_update_node, flag_update_services, flag_reprovision FROM nodes "
                                          "WHERE id = ?1 AND flags_generation = ?2");
    if (sel == NULL)
        return -1;
    sqlite3_bind_text(sel, 1, a->node_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sel, 2, a->generation);
    json_t *delivered = NULL;
    if (sqlite3_step(sel) == SQLITE_ROW)
        delivered = json_pack("{s:b, s:b, s:b, s:I}", "update_node", sqlite3_column_int(sel, 0), "update_services",
                              sqlite3_column_int(sel, 1), "reprovision", sqlite3_column_int(sel, 2),
                              "flags_generation", (json_int_t)a->generation);
    sqlite3_finalize(sel);
    if (delivered != NULL) {
        int erc = store_node_event_append(db, a->node_id, clock_now(), "flags_delivered", delivered);
        json_decref(delivered);
        if (erc != 0)
            return -1;
    }
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

static void flags_publish(void *arg)
{
    flags_op_t *a = arg;
    if (a->session != NULL)
        stream_sessions_change_publish(a->session);
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(a->node_id);
    if (n != NULL && a->mark_acked)
        n->flags_acked = 1;
    if (n != NULL && a->generation >= 0 && n->flags_generation == a->generation)
        n->flag_update_node = n->flag_update_services = n->flag_reprovision = 0;
    lock_give(&registry_nodes_lock);
}

static void flags_respond(hc_req_t *r, int status, void *arg)
{
    flags_op_t *a = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the heartbeat's flag or session change could not be stored; send it again");
        return;
    }
    json_t *answer = NULL;
    if (a->answer != NULL) {
        answer = a->answer;
        a->answer = NULL;
    } else {
        lock_take_shared(&registry_nodes_lock);
        node_t *n = registry_node_find(a->node_id);
        answer = n ? heartbeat_answer(n) : NULL;
        lock_give(&registry_nodes_lock);
        if (n == NULL) {
            respond_gone(r);
            return;
        }
    }
    respond_answer(r, a->node_id, answer);
}

static void flags_free(void *arg)
{
    flags_op_t *a = arg;
    json_decref(a->answer);
    stream_sessions_change_free(a->session);
    free(a);
}

static const commit_spec_t flags_spec = {flags_apply, flags_publish, flags_respond, flags_free};

/* ---- POST /api/v1/body/heartbeat: read tolerantly (api/agent_fields.h) ---- */

/* the members a heartbeat may carry; hb_known is in this order */
enum { HB_VERSION, HB_STREAM_STATUS, HB_PROVIDER_STATUS, HB_WIREGUARD_IP, HB_LAN_IP, HB_DIAGNOSTICS, HB_FLAGS_ACK,
       HB_SESSION_ID, HB_KNOWN };
static const char *const hb_known[HB_KNOWN + 1] = {
    "version", "stream_status", "provider_status", "wireguard_ip", "lan_ip", "diagnostics", "flags_ack", "session_id",
    NULL};

/* a short status/version/address string (v, the body's member key); NULL
 * when absent or unusable (then counted) */
static const char *get_short(hc_req_t *r, json_t *v, const char *key, int ip)
{
    if (v == NULL || json_is_null(v))
        return NULL;
    const char *why = NULL, *s = json_string_value(v);
    if (s == NULL)
        why = "not a string";
    else if (json_string_length(v) >= NODE_SHORT_MAX || strlen(s) != json_string_length(v))
        why = "longer than 63 bytes";
    else if (!nodes_text_ok(s))
        why = "control characters";
    else if (ip && s[0] != '\0' && !nodes_ip_ok(s))
        why = "not an IPv4 or IPv6 address";
    if (why == NULL)
        return s;
    agent_fields_invalid(AGENT_EP_HEARTBEAT, r->auth.node_id, key, why);
    return NULL;
}

static int diag_key_ok(const char *k)
{
    return k[0] != '\0' && strlen(k) <= DIAG_MAX_KEY && nodes_text_ok(k);
}

/* diagnostics: what can be kept of them (an object of at most DIAG_MAX_KEYS
 * strings), NULL when absent or not an object; entries that cannot be kept
 * are dropped and counted */
static json_t *get_diagnostics(hc_req_t *r, json_t *d)
{
    if (d == NULL || json_is_null(d))
        return NULL;
    if (!json_is_object(d)) {
        agent_fields_invalid(AGENT_EP_HEARTBEAT, r->auth.node_id, "diagnostics", "not an object");
        return NULL;
    }
    json_t *out = json_object();
    const char *k;
    json_t *v;
    int dropped = 0;
    json_object_foreach(d, k, v)
    {
        json_t *s = NULL;
        if (out == NULL || json_object_size(out) >= DIAG_MAX_KEYS || !diag_key_ok(k) ||
            (s = agent_fields_diag_value(v, DIAG_MAX_VALUE)) == NULL) {
            dropped++;
            continue;
        }
        json_object_set_new(out, k, s);
    }
    if (dropped)
        agent_fields_invalid(AGENT_EP_HEARTBEAT, r->auth.node_id, "diagnostics",
                             "entries dropped: at most 64 keys of 1-64 bytes, values strings/numbers/booleans of at "
                             "most 1024 bytes");
    return out;
}

/* unknown top-level scalars (hostname, gpu_temp_c, ...) are kept in the
 * diagnostics under their own name, where an admin sees them */
static void keep_unknown(json_t *body, json_t *diag)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (agent_fields_known(k, hb_known) || json_object_get(diag, k) != NULL ||
            json_object_size(diag) >= DIAG_MAX_KEYS || !diag_key_ok(k))
            continue;
        json_t *s = agent_fields_diag_value(v, DIAG_MAX_VALUE);
        if (s != NULL)
            json_object_set_new(diag, k, s);
    }
}

void api_body_heartbeat(hc_req_t *r)
{
    const char *id = r->auth.node_id;
    json_t *m[HB_KNOWN];
    size_t unknown = agent_fields_read(AGENT_EP_HEARTBEAT, id, r->body, hb_known, m);
    const char *version = get_short(r, m[HB_VERSION], "version", 0),
               *stream_status = get_short(r, m[HB_STREAM_STATUS], "stream_status", 0),
               *provider_status = get_short(r, m[HB_PROVIDER_STATUS], "provider_status", 0),
               *wireguard_ip = get_short(r, m[HB_WIREGUARD_IP], "wireguard_ip", 1),
               *lan_ip = get_short(r, m[HB_LAN_IP], "lan_ip", 1);
    int64_t ack = -1;
    json_t *ackv = m[HB_FLAGS_ACK];
    if (ackv != NULL && !json_is_null(ackv)) {
        if (json_is_integer(ackv) && json_integer_value(ackv) >= 0)
            ack = json_integer_value(ackv);
        else
            agent_fields_invalid(AGENT_EP_HEARTBEAT, id, "flags_ack", "not a non-negative integer");
    }
    json_t *diag = get_diagnostics(r, m[HB_DIAGNOSTICS]);
    /* session_id: one that cannot be an id says nothing (and is counted) */
    json_t *sid = m[HB_SESSION_ID];
    int sid_none = sid != NULL && (json_is_null(sid) || (json_is_string(sid) && json_string_length(sid) == 0));
    const char *session_id = stream_sessions_id_ok(json_string_value(sid)) ? json_string_value(sid) : NULL;
    if (sid != NULL && !sid_none && session_id == NULL)
        agent_fields_invalid(AGENT_EP_HEARTBEAT, id, "session_id", "not a session id");
    ss_report_t rep = {.node_id = id, .session_id = session_id};
    char name[NODE_TEXT_MAX] = "", district[NODE_TEXT_MAX] = "", venue[NODE_TEXT_MAX] = "";

    int64_t now = clock_now();
    json_t *old_diag = NULL;
    char mem[1024];
    node_json_buf_t answer = {.p = mem, .cap = sizeof(mem), .borrowed = 1};
    node_events_pending_t events = {0};
    char prev_stream[NODE_SHORT_MAX];
    flags_op_t op = {.generation = -1};
    int deliver_once = 0;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(id);
    if (n != NULL) {
        unsigned bits = SOFT_DIRTY_STATE;
        int64_t prev_seen = n->last_seen;
        str_copy(prev_stream, sizeof(prev_stream), n->stream_status);
        /* stream_status as reported, known or not: only "idle" is free (eligibility);
         * out of memory keeps the old values, the agent repeats them in its next heartbeat */
        if ((version != NULL && intern_set(&n->version, version) != 0) ||
            (stream_status != NULL && intern_set(&n->stream_status, stream_status) != 0) ||
            (provider_status != NULL && intern_set(&n->provider_status, provider_status) != 0))
            log_error("msg=\"out of memory applying a heartbeat\" node=%s", id);
        if (wireguard_ip != NULL) {
            str_copy(n->wireguard_ip, sizeof(n->wireguard_ip), wireguard_ip);
            bits |= SOFT_DIRTY_WIREGUARD_IP;
        }
        if (lan_ip != NULL) {
            str_copy(n->lan_ip, sizeof(n->lan_ip), lan_ip);
            bits |= SOFT_DIRTY_LAN_IP;
        }
        if (unknown > 0 && diag == NULL)
            diag = json_deep_copy(n->diagnostics);
        if (unknown > 0 && diag != NULL)
            keep_unknown(r->body, diag);
        if (diag != NULL) {
            old_diag = n->diagnostics;
            n->diagnostics = diag;
            diag = NULL;
        }
        str_copy(n->ip, sizeof(n->ip), r->client_ip);
        n->last_seen = now;
        softstate_mark(n, bits);
        node_events_heartbeat(n, prev_seen, prev_stream, now, serve_config()->nodes.offline_after_ms, &events);
        int flags_set = n->flag_update_node || n->flag_update_services || n->flag_reprovision;
        if (ack >= 0) {
            op.mark_acked = !n->flags_acked;
            if (ack == n->flags_generation && flags_set)
                op.generation = ack;
        } else if (!n->flags_acked && flags_set && strcmp(n->approval, "approved") == 0) {
            /* an agent that never acks: these flags go out once, cleared before the answer leaves */
            deliver_once = 1;
            op.generation = n->flags_generation;
            op.answer = heartbeat_answer(n);
        }
        /* a head: its session_id alone counts; a body: while it streams. A
         * node not approved streams for nobody: its reports are not sessions */
        rep.is_head = n->head != NULL;
        int streaming = strcmp(n->stream_status, "streaming") == 0;
        if (strcmp(n->approval, "approved") != 0)
            rep.kind = SS_REPORT_UNKNOWN;
        else if (sid_none || (!rep.is_head && stream_status != NULL && strcmp(stream_status, "idle") == 0))
            rep.kind = SS_REPORT_NONE; /* a status this server does not know (a newer agent's) ends nothing */
        else if (session_id != NULL && (rep.is_head || streaming))
            rep.kind = SS_REPORT_SESSION;
        str_copy(name, sizeof(name), n->name);
        str_copy(district, sizeof(district), n->district);
        str_copy(venue, sizeof(venue), n->venue);
        if (!op.mark_acked && op.generation < 0)
            heartbeat_answer_text(&answer, n);
    }
    lock_give(&registry_nodes_lock);
    node_events_submit(&events);
    json_decref(old_diag);
    json_decref(diag);
    if (n == NULL) {
        json_decref(op.answer);
        node_json_buf_free(&answer);
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
    if (!op.mark_acked && op.generation < 0 && session == NULL) {
        respond_answer_text(r, id, &answer);
        node_json_buf_free(&answer);
        return;
    }
    node_json_buf_free(&answer); /* (the commit's answer is built after it) */
    flags_op_t *a = malloc(sizeof(*a));
    if (a == NULL || (deliver_once && op.answer == NULL)) {
        free(a);
        json_decref(op.answer);
        stream_sessions_change_free(session);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    *a = op;
    a->session = session;
    snprintf(a->node_id, sizeof(a->node_id), "%s", id);
    commit_submit(r, &flags_spec, a);
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
