/*
 * Enrollment of machines (spec/API.md "Enrollment of machines"):
 *   POST /api/v1/enrollments  admin mints a one-time enrollment token
 *   POST /api/v1/enroll       the agent spends it and becomes a (pending) node
 *   POST /api/v1/nodes/{id}/approve | /reject
 *
 * The one-time token is consumed atomically on the writer thread: the UPDATE
 * that marks it used only matches an unused, unexpired row, and the node is
 * created in the same transaction only when exactly one row changed. Two
 * concurrent enrollments with one token therefore cannot both succeed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent_fields.h"
#include "api.h"
#include "audit.h"
#include "clock.h"
#include "commit.h"
#include "events.h"
#include "jsonio.h"
#include "shell_session.h"
#include "log.h"
#include "nodes.h"
#include "registry.h"
#include "secret.h"
#include "serve.h"

/* ---- POST /api/v1/enrollments ---- */

typedef struct {
    char id[NODE_ID_MAX];
    char token[SECRET_TOKEN_HEX + 1];
    uint8_t hash[SECRET_HASH_LEN];
    char name[NODE_TEXT_MAX], owner[NODE_TEXT_MAX], os[NODE_SHORT_MAX];
    int auto_approve;
    char created_at[32], expires_at[32];
    char actor[80];
} mint_t;

static int mint_apply(sqlite3 *db, void *arg)
{
    mint_t *m = arg;
    sqlite3_stmt *st = store_prepare(db, "INSERT INTO enrollments (token_hash, name, owner, os, auto_approve, "
                                         "created_at, expires_at, id, created_by) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (st == NULL)
        return -1;
    sqlite3_bind_blob(st, 1, m->hash, SECRET_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, m->os, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, m->auto_approve);
    sqlite3_bind_text(st, 6, m->created_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, m->expires_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, m->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, m->actor, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", m->id, "name", m->name, "owner", m->owner, "os", m->os,
                          "expires_at", m->expires_at);
    rc = store_audit_append(db, m->actor, "enrollment.create", m->name, d);
    json_decref(d);
    return rc;
}

/* ---- what would make an install command useless ---- */

/* the host of an http(s) URL into out ("" when none) */
static void url_host(const char *url, char *out, size_t outlen)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strpbrk(p, "@/");
    if (at != NULL && *at == '@')
        p = at + 1;
    size_t n = p[0] == '[' ? strcspn(p, "]") + 1 : strcspn(p, ":/?#");
    snprintf(out, outlen, "%.*s", (int)n, p);
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcasecmp(s + a - b, tail) == 0;
}

json_t *enroll_warnings(void)
{
    json_t *w = json_array();
    if (w == NULL)
        return NULL;
    char host[256];
    const char *pub = serve_public_url();
    url_host(pub, host, sizeof(host));
    if (strcasecmp(host, "localhost") == 0 || ends_with(host, ".localhost") || strncmp(host, "127.", 4) == 0 ||
        strcmp(host, "[::1]") == 0 || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0 || host[0] == '\0') {
        char m[600];
        snprintf(m, sizeof(m), "server.public_url is %s, a loopback or unspecified address: install commands and the "
                               "iPad QR code would point agents at themselves. Set server.public_url to the address "
                               "agents reach this server at.", pub);
        json_array_append_new(w, json_string(m));
    }
    const char *rel = serve_config()->releases.base_url;
    url_host(rel, host, sizeof(host));
    if (strcasecmp(host, "example.com") == 0 || ends_with(host, ".example.com") || ends_with(host, ".example") ||
        ends_with(host, ".invalid")) {
        char m[600];
        snprintf(m, sizeof(m), "releases.base_url is still the example placeholder (%s): install commands cannot "
                               "download the agent. Set releases.base_url to your release server.", rel);
        json_array_append_new(w, json_string(m));
    }
    return w;
}

void enroll_warnings_log(void)
{
    json_t *w = enroll_warnings();
    size_t i;
    json_t *v;
    char q[700];
    json_array_foreach(w, i, v)
    {
        log_warn("msg=%s", log_quote(q, sizeof(q), json_string_value(v)));
    }
    json_decref(w);
}

void api_enroll_warnings(hc_req_t *r)
{
    json_t *w = enroll_warnings();
    if (w == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, 200, json_pack("{s:o}", "warnings", w));
}

/* the ready-to-paste install commands for this server and token */
json_t *enroll_install_commands(const char *token)
{
    const char *url = serve_public_url();
    char win[1024], unix_[1024];
    snprintf(win, sizeof(win),
             "powershell -NoProfile -ExecutionPolicy Bypass -Command \"& ([scriptblock]::Create((irm '%s/install.ps1'))) "
             "-Server '%s' -EnrollmentToken '%s'\"",
             url, url, token);
    snprintf(unix_, sizeof(unix_), "curl -fsSL '%s/install.sh' | sudo sh -s -- --server '%s' --enrollment-token '%s'",
             url, url, token);
    return json_pack("{s:s, s:s}", "windows", win, "unix", unix_);
}

static void mint_respond(hc_req_t *r, int status, void *arg)
{
    mint_t *m = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the enrollment could not be stored");
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:o, s:o}", "enrollment_token", m->token, "name",
                          m->name, "owner", m->owner, "os", m->os, "expires_at", m->expires_at, "auto_approve",
                          m->auto_approve, "server_url", serve_public_url(), "install",
                          enroll_install_commands(m->token), "warnings", enroll_warnings());
    if (o != NULL)
        json_object_set_new(o, "id", json_string(m->id)); /* for GET/DELETE /api/v1/enrollments */
    json_respond(r, 201, o);
}

static void mint_free(void *arg)
{
    mint_t *m = arg;
    memset(m->token, 0, sizeof(m->token));
    free(m);
}

static const commit_spec_t mint_spec = {mint_apply, NULL, mint_respond, mint_free};

static int os_ok(const char *os)
{
    static const char *const known[] = {"windows", "linux", "darwin", "macos", NULL};
    for (size_t i = 0; known[i]; i++)
        if (strcmp(os, known[i]) == 0)
            return 1;
    return 0;
}

void api_enrollments_create(hc_req_t *r)
{
    static const char *const allowed[] = {"name", "owner", "os", "auto_approve", "ttl_s", NULL};
    char err[256];
    const char *name = NULL, *owner = "", *os = "windows";
    int auto_approve = serve_config()->nodes.auto_approve;
    int64_t ttl_s = (int64_t)(serve_config()->nodes.enrollment_ttl_ms / 1000);
    if (json_check_keys(r->body, allowed, err, sizeof(err)) != 0 ||
        json_get_name(r->body, "name", NODE_TEXT_MAX - 1, &name, err, sizeof(err)) < 0 ||
        json_get_name(r->body, "owner", NODE_TEXT_MAX - 1, &owner, err, sizeof(err)) < 0 ||
        json_get_name(r->body, "os", NODE_SHORT_MAX - 1, &os, err, sizeof(err)) < 0 ||
        json_get_bool(r->body, "auto_approve", &auto_approve, err, sizeof(err)) < 0 ||
        json_get_int(r->body, "ttl_s", 60, 30 * 86400, &ttl_s, err, sizeof(err)) < 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    if (name == NULL || name[0] == '\0') {
        json_error(r, 400, "bad_request", "\"name\" is required: the machine's display name");
        return;
    }
    if (!os_ok(os)) {
        json_error(r, 400, "bad_request", "\"os\" must be one of windows, linux, darwin, macos");
        return;
    }
    mint_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    secret_id_new("enr-", m->id, sizeof(m->id));
    secret_token_new(m->token);
    secret_token_hash(m->token, strlen(m->token), m->hash);
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->owner, sizeof(m->owner), "%s", owner);
    snprintf(m->os, sizeof(m->os), "%s", os);
    m->auto_approve = auto_approve;
    int64_t now = clock_now();
    clock_rfc3339(now, m->created_at, sizeof(m->created_at));
    clock_rfc3339(now + ttl_s, m->expires_at, sizeof(m->expires_at));
    snprintf(m->actor, sizeof(m->actor), "%s", r->auth.actor);
    commit_submit(r, &mint_spec, m);
}

/* ---- POST /api/v1/enroll ---- */

#define ENROLL_EBADTOKEN (-10)

typedef struct {
    uint8_t enroll_hash[SECRET_HASH_LEN];
    char node_token[SECRET_TOKEN_HEX + 1];
    char node_id[NODE_ID_MAX];
    node_t *node; /* built on the worker, filled from the enrollment on the writer, published into the registry */
    char now[32];
} enroll_t;

static int enroll_apply(sqlite3 *db, void *arg)
{
    enroll_t *e = arg;
    node_t *n = e->node;
    /* spend the token: only an unused, unexpired one matches */
    sqlite3_stmt *st = store_prepare(db, "UPDATE enrollments SET used_at = ?2, node_id = ?3 "
                                         "WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2 "
                                         "RETURNING name, owner, os, auto_approve");
    if (st == NULL)
        return -1;
    sqlite3_bind_blob(st, 1, e->enroll_hash, SECRET_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, n->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? ENROLL_EBADTOKEN : -1;
    }
    const char *name = (const char *)sqlite3_column_text(st, 0);
    if (intern_set(&n->name, name && *name ? name : n->hostname) != 0 ||
        intern_set(&n->owner, (const char *)sqlite3_column_text(st, 1)) != 0 ||
        (n->os[0] == '\0' && intern_set(&n->os, (const char *)sqlite3_column_text(st, 2)) != 0)) {
        sqlite3_finalize(st);
        return -1;
    }
    snprintf(n->approval, sizeof(n->approval), "%s", sqlite3_column_int(st, 3) ? "approved" : "pending");
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;

    if (store_node_insert(db, n) != 0)
        return -1;
    json_t *d = json_pack("{s:s, s:s, s:s}", "hostname", n->hostname, "os", n->os, "approval", n->approval);
    char actor[NODE_ID_MAX + 8];
    snprintf(actor, sizeof(actor), "node:%s", n->id);
    rc = store_audit_append(db, actor, "node.enroll", n->id, d);
    if (rc == 0)
        rc = store_node_event_append(db, n->id, n->enrolled_at, "enroll", d);
    json_decref(d);
    return rc;
}

static void enroll_publish(void *arg)
{
    enroll_t *e = arg;
    lock_take(&registry_nodes_lock);
    int rc = registry_node_insert(e->node);
    lock_give(&registry_nodes_lock);
    if (rc == 0)
        e->node = NULL; /* the registry owns it now */
    else /* stored but not in memory until the next start */
        log_error("msg=\"out of memory adding node %s to the registry\"", e->node->id);
}

static void enroll_respond(hc_req_t *r, int status, void *arg)
{
    enroll_t *e = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == ENROLL_EBADTOKEN) {
        json_error(r, 401, "unauthorized", "the enrollment token is unknown, already used, or expired: mint a new one");
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the enrollment could not be stored");
        return;
    }
    json_respond(r, 201, json_pack("{s:s, s:s, s:s}", "node_id", e->node_id, "token", e->node_token,
                                   "server_url", serve_public_url()));
}

static void enroll_free(void *arg)
{
    enroll_t *e = arg;
    registry_node_free(e->node);
    memset(e->node_token, 0, sizeof(e->node_token));
    free(e);
}

static const commit_spec_t enroll_spec = {enroll_apply, enroll_publish, enroll_respond, enroll_free};

/* a fact the agent sends at enrollment: the value, "" when absent or unusable (counted) */
static const char *enroll_fact(hc_req_t *r, const char *who, const char *key, size_t max)
{
    json_t *v = json_object_get(r->body, key);
    if (v == NULL || json_is_null(v))
        return "";
    const char *s = json_string_value(v);
    if (s != NULL && json_string_length(v) <= max && strlen(s) == json_string_length(v) && nodes_text_ok(s))
        return s;
    agent_fields_invalid(AGENT_EP_ENROLL, who, key, "not a string of at most 63 (hostname 255) bytes without "
                                                    "control characters");
    return "";
}

/* Read tolerantly (api/agent_fields.h): an agent newer than this server may
 * send more facts; they are ignored and counted. Only the token decides. */
void api_enroll(hc_req_t *r)
{
    static const char *const known[] = {"enrollment_token", "hostname", "os", "arch", "version", NULL};
    char who[80];
    snprintf(who, sizeof(who), "ip:%s", r->client_ip);
    agent_fields_unknown(AGENT_EP_ENROLL, who, r->body, known);
    const char *token = json_string_value(json_object_get(r->body, "enrollment_token"));
    if (token != NULL && strlen(token) > 256)
        token = NULL;
    const char *hostname = enroll_fact(r, who, "hostname", NODE_TEXT_MAX - 1),
               *os = enroll_fact(r, who, "os", NODE_SHORT_MAX - 1), *arch = enroll_fact(r, who, "arch", NODE_SHORT_MAX - 1),
               *version = enroll_fact(r, who, "version", NODE_SHORT_MAX - 1);
    if (token == NULL || token[0] == '\0') {
        json_error(r, 401, "unauthorized", "\"enrollment_token\" is required");
        return;
    }
    enroll_t *e = calloc(1, sizeof(*e));
    node_t *n = registry_node_new();
    if (e == NULL || n == NULL) {
        free(e);
        registry_node_free(n);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    e->node = n;
    secret_token_hash(token, strlen(token), e->enroll_hash);
    secret_id_new("node-", n->id, sizeof(n->id));
    secret_token_new(e->node_token);
    uint8_t h[SECRET_HASH_LEN];
    secret_token_hash(e->node_token, strlen(e->node_token), h);
    memcpy(n->token_hash, h, SECRET_HASH_LEN);
    n->has_token = 1;
    if (intern_set(&n->hostname, hostname) != 0 || intern_set(&n->os, os) != 0 || intern_set(&n->arch, arch) != 0 ||
        intern_set(&n->version, version) != 0) {
        enroll_free(e);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(n->ip, sizeof(n->ip), "%s", r->client_ip);
    n->enrolled_at = clock_now();
    clock_rfc3339(n->enrolled_at, e->now, sizeof(e->now));
    /* kept apart: after publish the node belongs to the registry */
    snprintf(e->node_id, sizeof(e->node_id), "%s", n->id);
    commit_submit(r, &enroll_spec, e);
}

/* ---- POST /api/v1/nodes/{id}/approve | reject ---- */

#define APPROVAL_ENOENT (-10)
#define APPROVAL_ECONFLICT (-11)

typedef struct {
    char id[NODE_ID_MAX];
    char approval[16];
    char actor[80];
} approval_t;

static int approval_apply(sqlite3 *db, void *arg)
{
    approval_t *a = arg;
    int reject = strcmp(a->approval, "rejected") == 0;
    /* approve works from pending or rejected; reject only from pending */
    sqlite3_stmt *st = store_prepare(db, reject ? "UPDATE nodes SET approval = 'rejected' WHERE id = ?1 AND approval = 'pending'"
                                                : "UPDATE nodes SET approval = 'approved' WHERE id = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(db) != 1) {
        int known = store_row_exists(db, "SELECT 1 FROM nodes WHERE id = ?1", a->id);
        return known < 0 ? -1 : known ? APPROVAL_ECONFLICT : APPROVAL_ENOENT;
    }
    json_t *d = json_pack("{s:s}", "actor", a->actor);
    rc = store_audit_append(db, a->actor, reject ? "node.reject" : "node.approve", a->id, NULL);
    if (rc == 0)
        rc = store_node_event_append(db, a->id, clock_now(), reject ? "reject" : "approve", d);
    json_decref(d);
    return rc;
}

static void approval_publish(void *arg)
{
    approval_t *a = arg;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(a->id);
    if (n != NULL)
        snprintf(n->approval, sizeof(n->approval), "%s", a->approval);
    lock_give(&registry_nodes_lock);
    if (strcmp(a->approval, "rejected") == 0)
        shell_node_gone(a->id); /* with no lock held */
}

static void approval_respond(hc_req_t *r, int status, void *arg)
{
    approval_t *a = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == APPROVAL_ENOENT) {
        json_error(r, 404, "not_found", "no node %s", a->id);
        return;
    }
    if (status == APPROVAL_ECONFLICT) {
        json_error(r, 409, "conflict", "node %s is not pending: only a pending enrollment can be rejected (delete an "
                                       "approved node instead)", a->id);
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the change could not be stored");
        return;
    }
    json_respond(r, 200, json_pack("{s:s, s:s}", "id", a->id, "approval", a->approval));
}

static const commit_spec_t approval_spec = {approval_apply, approval_publish, approval_respond, free};

static void set_approval(hc_req_t *r, const char *approval)
{
    const char *id = route_param(r, "id");
    approval_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    if (strlen(id) >= sizeof(a->id)) {
        free(a);
        json_error(r, 404, "not_found", "no such node");
        return;
    }
    snprintf(a->id, sizeof(a->id), "%s", id);
    snprintf(a->approval, sizeof(a->approval), "%s", approval);
    snprintf(a->actor, sizeof(a->actor), "%s", r->auth.actor);
    commit_submit(r, &approval_spec, a);
}

void api_nodes_approve(hc_req_t *r)
{
    set_approval(r, "approved");
}

void api_nodes_reject(hc_req_t *r)
{
    set_approval(r, "rejected");
}
