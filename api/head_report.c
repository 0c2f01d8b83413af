/*
 * PUT /api/v1/heads/{id}: a kiosk reports its status, its diagnostics and,
 * when it chose its body itself through GET /api/v1/bodies/eligible, that
 * body (body_id). An admin may send the same report (audited).
 *
 * The kiosk's own report (its node token) is read tolerantly
 * (api/agent_fields.h): unknown members and unusable values are ignored and
 * counted, an unknown status is stored as reported, and the report refreshes
 * the node's last_seen like a heartbeat. An admin's report stays strict.
 *
 * A session_id starts or ends a streaming session (fleet/stream_sessions.h):
 * streaming with a session id is in that session, reporting another status
 * (or a null or empty session_id) is in none.
 *
 * A report is durable (server/commit.h); one that changes nothing (and starts
 * or ends no session) is answered from memory without a write.
 */
#include <stdlib.h>
#include <string.h>

#include "agent_fields.h"
#include "api.h"
#include "audit.h"
#include "clock.h"
#include "commit.h"
#include "jsonio.h"
#include "registry.h"
#include "softstate.h"
#include "stream_sessions.h"

#define DIAG_MAX_KEYS 64
#define DIAG_KEY_MAX 64
#define DIAG_VALUE_MAX 1024
#define STATUS_MAX 15 /* bytes, head_rec_t.status */

#define HEAD_ENOTHEAD (-11) /* the node has no head record */

static const char *const report_known[] = {"status", "diagnostics", "body_id", "session_id", NULL};

static json_t *time_or_null(int64_t t)
{
    char buf[32];
    return t ? json_string(clock_rfc3339(t, buf, sizeof(buf))) : json_null();
}

static const char *head_status(const head_rec_t *h)
{
    return h->status[0] ? h->status : "idle";
}

typedef struct {
    char id[NODE_ID_MAX];
    char status[16];     /* "" = unchanged */
    json_t *diagnostics; /* NULL = unchanged */
    char *diagnostics_text;
    int set_body;                     /* body_id was reported */
    char body_id[NODE_ID_MAX];        /* "" = none */
    int64_t now;
    char now_s[32];
    char actor[80];
    int audit;            /* an admin changed it */
    ss_change_t *session; /* a streaming session starts or ends (fleet/stream_sessions.h) */
} report_t;

static int report_apply(sqlite3 *db, void *arg)
{
    report_t *p = arg;
    if (p->session != NULL && stream_sessions_change_apply(db, p->session) != 0)
        return -1;
    sqlite3_stmt *st = store_prepare(db, "UPDATE heads SET status = COALESCE(?2, status), "
                                         "diagnostics = COALESCE(?3, diagnostics), updated_at = ?4, "
                                         "reported_body_id = CASE WHEN ?5 THEN NULLIF(?6, '') ELSE reported_body_id "
                                         "END WHERE node_id = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
    if (p->status[0])
        sqlite3_bind_text(st, 2, p->status, -1, SQLITE_STATIC);
    if (p->diagnostics_text)
        sqlite3_bind_text(st, 3, p->diagnostics_text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->now_s, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, p->set_body);
    sqlite3_bind_text(st, 6, p->body_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(db) != 1)
        return HEAD_ENOTHEAD;
    if (!p->audit)
        return 0;
    json_t *d = json_pack("{s:s?, s:O?, s:s?}", "status", p->status[0] ? p->status : NULL, "diagnostics",
                          p->diagnostics, "body_id", p->set_body ? p->body_id : NULL);
    rc = store_audit_append(db, p->actor, "head.report", p->id, d);
    json_decref(d);
    return rc;
}

static void report_publish(void *arg)
{
    report_t *p = arg;
    if (p->session != NULL)
        stream_sessions_change_publish(p->session);
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(p->id);
    if (n != NULL && n->head != NULL) {
        if (p->status[0])
            snprintf(n->head->status, sizeof(n->head->status), "%s", p->status);
        if (p->diagnostics != NULL) {
            json_decref(n->head->diagnostics);
            n->head->diagnostics = json_incref(p->diagnostics);
        }
        if (p->set_body)
            snprintf(n->head->reported_body_id, sizeof(n->head->reported_body_id), "%s", p->body_id);
        n->head->updated_at = p->now;
    }
    lock_give(&registry_nodes_lock);
}

/* the head's reported state now (after a commit, or when nothing changed) */
static void report_answer(hc_req_t *r, const char *id)
{
    json_t *o = NULL;
    lock_take_shared(&registry_nodes_lock);
    const node_t *n = registry_node_find(id);
    if (n != NULL && n->head != NULL)
        o = json_pack("{s:s, s:s, s:o, s:o, s:o}", "id", n->id, "status", head_status(n->head), "diagnostics",
                      json_deep_copy(n->head->diagnostics), "body_id",
                      n->head->reported_body_id[0] ? json_string(n->head->reported_body_id) : json_null(),
                      "updated_at", time_or_null(n->head->updated_at));
    lock_give(&registry_nodes_lock);
    if (o == NULL) {
        json_error(r, 404, "not_found", "no head %s", id);
        return;
    }
    json_respond(r, 200, o);
}

static void report_respond(hc_req_t *r, int status, void *arg)
{
    report_t *p = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == HEAD_ENOTHEAD) {
        json_error(r, 404, "not_found", "no head %s", p->id);
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the report could not be stored");
        return;
    }
    report_answer(r, p->id);
}

static void report_free(void *arg)
{
    report_t *p = arg;
    stream_sessions_change_free(p->session);
    json_decref(p->diagnostics);
    free(p->diagnostics_text);
    free(p);
}

static const commit_spec_t report_spec = {report_apply, report_publish, report_respond, report_free};

/* The diagnostics as an object of strings. strict (an admin): anything that
 * does not fit is an error (NULL with err). Tolerant (the kiosk): entries
 * that do not fit are dropped (*dropped counts them); NULL only when in is
 * not an object. */
static json_t *diagnostics_parse(json_t *in, int strict, int *dropped, char *err, size_t errlen)
{
    *dropped = 0;
    if (!json_is_object(in)) {
        snprintf(err, errlen, "\"diagnostics\" must be an object of strings");
        return NULL;
    }
    if (strict && json_object_size(in) > DIAG_MAX_KEYS) {
        snprintf(err, errlen, "\"diagnostics\" has more than %d keys", DIAG_MAX_KEYS);
        return NULL;
    }
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v)
    {
        if (out == NULL)
            break;
        const char *bad = NULL;
        json_t *s = NULL;
        if (k[0] == '\0' || strlen(k) > DIAG_KEY_MAX)
            bad = "keys must be 1 to 64 bytes";
        else if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
            bad = "values must be strings, numbers or booleans";
        else if ((s = agent_fields_diag_value(v, DIAG_VALUE_MAX)) == NULL)
            bad = "values must be at most 1024 bytes";
        else if (json_object_size(out) >= DIAG_MAX_KEYS)
            bad = "at most 64 keys";
        if (bad == NULL) {
            json_object_set_new(out, k, s);
            continue;
        }
        json_decref(s);
        if (strict) {
            snprintf(err, errlen, "\"diagnostics.%.64s\": %s", k, bad);
            json_decref(out);
            return NULL;
        }
        (*dropped)++;
    }
    if (out == NULL)
        snprintf(err, errlen, "out of memory");
    return out;
}

/* The strict (admin) reading: 0, or -1 after a 400. */
static int read_strict(hc_req_t *r, const char **status, const char **body_id)
{
    char err[256];
    if (json_check_keys(r->body, report_known, err, sizeof(err)) != 0 ||
        json_get_str(r->body, "status", STATUS_MAX, status, err, sizeof(err)) < 0 ||
        json_get_str(r->body, "body_id", NODE_ID_MAX - 1, body_id, err, sizeof(err)) < 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return -1;
    }
    if (*status != NULL && strcmp(*status, "idle") != 0 && strcmp(*status, "streaming") != 0 &&
        strcmp(*status, "error") != 0) {
        json_error(r, 400, "bad_request", "\"status\" must be idle, streaming or error");
        return -1;
    }
    return 0;
}

/* The tolerant (kiosk) reading: what cannot be used is dropped and counted. */
static void read_tolerant(hc_req_t *r, const char **status, const char **body_id)
{
    const char *who = r->auth.node_id;
    agent_fields_unknown(AGENT_EP_HEAD_STATUS, who, r->body, report_known);
    json_t *v = json_object_get(r->body, "status");
    if (v != NULL && !json_is_null(v)) {
        const char *s = json_string_value(v);
        if (s == NULL || s[0] == '\0' || json_string_length(v) > STATUS_MAX || strlen(s) != json_string_length(v) ||
            !nodes_text_ok(s))
            agent_fields_invalid(AGENT_EP_HEAD_STATUS, who, "status", "not a status string of 1 to 15 bytes");
        else
            *status = s; /* stored as reported, known or not */
    }
    v = json_object_get(r->body, "body_id");
    if (v != NULL && !json_is_null(v)) {
        const char *s = json_string_value(v);
        if (s == NULL || json_string_length(v) >= NODE_ID_MAX)
            agent_fields_invalid(AGENT_EP_HEAD_STATUS, who, "body_id", "not a node id");
        else
            *body_id = s;
    }
}

void api_heads_put(hc_req_t *r)
{
    const char *id = route_param(r, "id");
    int agent = r->auth.cred != CRED_ADMIN;
    char err[256];
    const char *status = NULL, *body_id = NULL;
    if (agent)
        read_tolerant(r, &status, &body_id);
    else if (read_strict(r, &status, &body_id) != 0)
        return;
    json_t *diag_in = json_object_get(r->body, "diagnostics");
    if (diag_in != NULL && json_is_null(diag_in))
        diag_in = NULL;
    json_t *sid = json_object_get(r->body, "session_id");
    int sid_none = sid != NULL && (json_is_null(sid) || (json_is_string(sid) && json_string_length(sid) == 0));
    if (sid != NULL && !sid_none && !stream_sessions_id_ok(json_string_value(sid))) {
        if (!agent) {
            json_error(r, 400, "bad_request", "\"session_id\" must be 1 to %d characters of A-Z a-z 0-9 . _ : -",
                       SS_ID_MAX);
            return;
        }
        agent_fields_invalid(AGENT_EP_HEAD_STATUS, r->auth.node_id, "session_id", "not a session id");
        sid = NULL; /* says nothing */
    }
    if (!agent && status == NULL && diag_in == NULL && body_id == NULL && sid == NULL) {
        json_error(r, 400, "bad_request",
                   "nothing to report: send \"status\", \"diagnostics\", \"body_id\" and/or \"session_id\"");
        return;
    }
    json_t *diag = NULL;
    int dropped = 0;
    if (diag_in != NULL && (diag = diagnostics_parse(diag_in, !agent, &dropped, err, sizeof(err))) == NULL) {
        if (!agent) {
            json_error(r, 400, "bad_request", "%s", err);
            return;
        }
        agent_fields_invalid(AGENT_EP_HEAD_STATUS, r->auth.node_id, "diagnostics", err);
    }
    if (dropped > 0)
        agent_fields_invalid(AGENT_EP_HEAD_STATUS, r->auth.node_id, "diagnostics",
                             "entries dropped: at most 64 keys of 1-64 bytes, values of at most 1024 bytes");

    /* unknown head, unknown body, or a report that changes nothing: answered from memory */
    int exists = 0, same = 0, body_bad = 0;
    char name[NODE_TEXT_MAX] = "", district[NODE_TEXT_MAX] = "", venue[NODE_TEXT_MAX] = "";
    ss_report_t rep = {.node_id = id, .is_head = 1, .name = name, .district = district, .venue = venue,
                       .now = clock_now()};
    lock_take(&registry_nodes_lock);
    node_t *n = id != NULL && strlen(id) < NODE_ID_MAX ? registry_node_find(id) : NULL;
    if (n != NULL && n->head != NULL) {
        exists = 1;
        if (body_id != NULL && body_id[0] != '\0') {
            const node_t *b = registry_node_find(body_id);
            body_bad = b == NULL || b->head != NULL || b == n;
        }
        same = (status == NULL || strcmp(status, head_status(n->head)) == 0) &&
               (diag == NULL || json_equal(diag, n->head->diagnostics)) &&
               (body_id == NULL || body_bad || strcmp(body_id, n->head->reported_body_id) == 0);
        /* streaming with a session id is in that session; idle or error is in none; a status this
         * server does not know (a newer kiosk's, read tolerantly) ends nothing */
        const char *now_status = status != NULL ? status : head_status(n->head);
        if (sid_none || (status != NULL && (strcmp(status, "idle") == 0 || strcmp(status, "error") == 0)))
            rep.kind = SS_REPORT_NONE;
        else if (sid != NULL && strcmp(now_status, "streaming") == 0)
            rep.kind = SS_REPORT_SESSION;
        rep.session_id = json_string_value(sid);
        snprintf(name, sizeof(name), "%s", n->name);
        snprintf(district, sizeof(district), "%s", n->district);
        snprintf(venue, sizeof(venue), "%s", n->venue);
        if (agent) {
            /* the kiosk is alive: its report counts as a heartbeat */
            snprintf(n->ip, sizeof(n->ip), "%s", r->client_ip);
            n->last_seen = clock_now();
            softstate_mark(n, SOFT_DIRTY_STATE);
        }
    }
    lock_give(&registry_nodes_lock);
    if (!exists) {
        json_decref(diag);
        json_error(r, 404, "not_found", "no head %s", id ? id : "");
        return;
    }
    if (body_bad) {
        if (!agent) {
            json_decref(diag);
            json_error(r, 400, "bad_request", "\"body_id\" %s is not a body (no such node, or a head)", body_id);
            return;
        }
        agent_fields_invalid(AGENT_EP_HEAD_STATUS, r->auth.node_id, "body_id", "no such body");
        body_id = NULL;
    }
    /* only a session's start or end is written; a repeated report stays in memory */
    ss_change_t *session = stream_sessions_report(&rep);
    if (same && session == NULL) {
        json_decref(diag);
        report_answer(r, id);
        return;
    }
    report_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        stream_sessions_change_free(session);
        json_decref(diag);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    p->session = session;
    snprintf(p->id, sizeof(p->id), "%s", id);
    if (status != NULL)
        snprintf(p->status, sizeof(p->status), "%s", status);
    p->diagnostics = diag;
    if (body_id != NULL) {
        p->set_body = 1;
        snprintf(p->body_id, sizeof(p->body_id), "%s", body_id);
    }
    if (diag != NULL && (p->diagnostics_text = json_dumps(diag, JSON_COMPACT)) == NULL) {
        report_free(p);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    p->now = clock_now();
    clock_rfc3339(p->now, p->now_s, sizeof(p->now_s));
    snprintf(p->actor, sizeof(p->actor), "%s", r->auth.actor);
    p->audit = !agent;
    commit_submit(r, &report_spec, p);
}
