/*
 * Heads: kiosks and iPads that stream from bodies (spec/API.md "Heads").
 *   GET  /api/v1/heads                              admin: every head with status and assigned body
 *   GET  /api/v1/heads/{id}                         the head's stream config (admin or that head)
 *   PUT  /api/v1/heads/{id}                         the kiosk reports status and diagnostics (api/head_report.c)
 *   POST /api/v1/heads                              iPad self-registration with the fleet token
 *   POST /api/v1/nodes/{id}/head-assignment         admin pins a body to a head (DELETE unpins)
 *   POST /api/v1/nodes/{id}/allowed-experiences     admin sets the head's experience filter
 *
 * A head is a node with a head record (node->head). Heads come from iPad
 * registration, from the nodes.yaml import, or from an admin configuring an
 * enrolled node as a head (head-assignment or allowed-experiences on a node
 * that has no head record yet creates it).
 *
 * Every write is durable (server/commit.h), kiosk status reports too: they
 * come every few seconds per kiosk at most, which group commit absorbs, and a
 * report that changes nothing is answered without a write.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "clock.h"
#include "commit.h"
#include "eligibility.h"
#include "jsonio.h"
#include "log.h"
#include "nodes.h"
#include "registry.h"
#include "secret.h"
#include "serve.h"

#define HEAD_FIELD_MAX 128      /* name, district, venue of a registering iPad */
#define ALLOWED_MAX_ITEMS 256
#define ALLOWED_ITEM_MAX 128
#define APP_ID_DEFAULT "Desktop" /* Sunshine's default application */

/* codes our applies return beside 0 and -1 */
#define HEAD_ENOENT (-10)     /* the node is gone */
#define HEAD_ENOTHEAD (-11)   /* the node has no head record */
#define HEAD_EBODY (-12)      /* the body is gone */
#define HEAD_EBODYHEAD (-13)  /* the body is a head */
#define HEAD_EPINNED (-14)    /* the node to make a head is some head's body */

static int node_online(const node_t *n, int64_t now, uint64_t offline_after_ms)
{
    return n->last_seen != 0 && (uint64_t)(now - n->last_seen) * 1000 <= offline_after_ms;
}

static json_t *time_or_null(int64_t t)
{
    char buf[32];
    return t ? json_string(clock_rfc3339(t, buf, sizeof(buf))) : json_null();
}

static const char *head_status(const head_rec_t *h)
{
    return h->status[0] ? h->status : "idle";
}

/* id is a node id we could hold (else no such node) */
static int id_ok(const char *id)
{
    return id != NULL && id[0] != '\0' && strlen(id) < NODE_ID_MAX;
}

/* ---- GET /api/v1/heads ---- */

typedef struct {
    const node_t **v;
    size_t n, cap;
} node_list_t;

static int collect_heads(node_t *n, void *arg)
{
    node_list_t *l = arg;
    if (n->head != NULL && l->n < l->cap)
        l->v[l->n++] = n;
    return 0;
}

static int cmp_by_name(const void *pa, const void *pb)
{
    const node_t *a = *(const node_t *const *)pa, *b = *(const node_t *const *)pb;
    int c = strcmp(a->name, b->name);
    return c != 0 ? c : strcmp(a->id, b->id);
}

/* the admin's view of a head (caller holds the nodes lock) */
static json_t *head_summary_json(const node_t *n, int64_t now, uint64_t offline_after_ms)
{
    const head_rec_t *h = n->head;
    /* an admin's pin wins; else the body the head reported it chose */
    const char *body_id = h->assigned_body_id[0] ? h->assigned_body_id : h->reported_body_id;
    const char *by = h->assigned_body_id[0] ? "admin" : h->reported_body_id[0] ? "head" : NULL;
    const node_t *body = body_id[0] ? registry_node_find(body_id) : NULL;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:o, s:s?}", "id", n->id,
                          "name", n->name, "os", n->os, "district", n->district, "venue", n->venue, "status",
                          head_status(h), "node_status", node_online(n, now, offline_after_ms) ? "online" : "offline",
                          "last_seen", time_or_null(n->last_seen), "assigned_body_id",
                          body_id[0] ? json_string(body_id) : json_null(), "assigned_body_name",
                          body ? json_string(body->name) : json_null(), "app_id", h->app_id, "allowed_experiences",
                          json_deep_copy(h->allowed_experiences), "updated_at", time_or_null(h->updated_at),
                          "assigned_by", by);
    if (o != NULL && by == NULL)
        json_object_set_new(o, "assigned_by", json_null());
    if (o != NULL && json_object_size(h->diagnostics) > 0)
        json_object_set_new(o, "diagnostics", json_deep_copy(h->diagnostics));
    return o;
}

void api_heads_list(hc_req_t *r)
{
    const hc_config_t *cfg = serve_config();
    int64_t now = clock_now();
    json_t *a = json_array();
    lock_take_shared(&registry_nodes_lock);
    node_list_t l = {.cap = registry_node_count()};
    l.v = malloc((l.cap ? l.cap : 1) * sizeof(*l.v));
    if (l.v != NULL && a != NULL) {
        registry_node_foreach(collect_heads, &l);
        qsort(l.v, l.n, sizeof(*l.v), cmp_by_name);
        for (size_t i = 0; i < l.n; i++)
            if (json_array_append_new(a, head_summary_json(l.v[i], now, cfg->nodes.offline_after_ms)) != 0)
                break;
    }
    lock_give(&registry_nodes_lock);
    int complete = l.v != NULL && a != NULL && json_array_size(a) == l.n;
    free(l.v);
    if (!complete) {
        json_decref(a);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, 200, a);
}

/* ---- GET /api/v1/heads/{id} ---- */

void api_heads_get(hc_req_t *r)
{
    const char *id = route_param(r, "id");
    const hc_config_t *cfg = serve_config();
    json_t *o = NULL;
    int found = 0;
    if (id_ok(id)) {
        lock_take_shared(&registry_nodes_lock);
        const node_t *n = registry_node_find(id);
        if (n != NULL && n->head != NULL) {
            found = 1;
            const head_rec_t *h = n->head;
            const node_t *body = h->assigned_body_id[0] ? registry_node_find(h->assigned_body_id) : NULL;
            if (body != NULL && body->head != NULL)
                body = NULL; /* a node turned head since: not a body any more */
            char wg[128], lan[128];
            eligibility_stream_url(body ? body->wireguard_ip : "", cfg->heads.sunshine_port, wg, sizeof(wg));
            eligibility_stream_url(body ? body->lan_ip : "", cfg->heads.sunshine_port, lan, sizeof(lan));
            o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "id", n->id, "stream_url", wg, "stream_url_lan", lan,
                          "body_id", body ? body->id : "", "app_id", h->app_id, "experience_library_url",
                          cfg->heads.experience_library_url ? cfg->heads.experience_library_url : "",
                          "allowed_experiences", json_deep_copy(h->allowed_experiences));
        }
        lock_give(&registry_nodes_lock);
    }
    if (!found) {
        json_error(r, 404, "not_found", "no head %s", id ? id : "");
        return;
    }
    if (o == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, 200, o);
}

/* ---- POST /api/v1/heads: iPad self-registration ---- */

#define IPAD_ROLE "hydraheadipad"

typedef struct {
    node_t *node; /* built here, published into the registry */
    char node_id[NODE_ID_MAX];
    char token[SECRET_TOKEN_HEX + 1];
    char now[32];
} ipad_reg_t;

static int register_apply(sqlite3 *db, void *arg)
{
    ipad_reg_t *g = arg;
    node_t *n = g->node;
    /* the iPad head role, always: it is what the runbooks (and heads.roles) know an iPad by, even when an
     * admin removed it from the catalog (provision then lists it under missing_roles) */
    json_array_clear(n->roles);
    if (json_array_append_new(n->roles, json_string(IPAD_ROLE)) != 0)
        return -1;
    if (store_node_insert(db, n) != 0)
        return -1;
    sqlite3_stmt *st = store_prepare(db, "INSERT INTO heads (node_id, status) VALUES (?1, 'idle')");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, n->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    json_t *d = json_pack("{s:s, s:s, s:s}", "name", n->name, "district", n->district, "venue", n->venue);
    rc = store_audit_append(db, "fleet", "head.register", n->id, d);
    json_decref(d);
    return rc;
}

static void register_publish(void *arg)
{
    ipad_reg_t *g = arg;
    lock_take(&registry_nodes_lock);
    int rc = registry_node_insert(g->node);
    lock_give(&registry_nodes_lock);
    if (rc == 0)
        g->node = NULL; /* the registry owns it now */
    else /* stored but not in memory until the next start */
        log_error("msg=\"out of memory adding node %s to the registry\"", g->node->id);
}

static void register_respond(hc_req_t *r, int status, void *arg)
{
    ipad_reg_t *g = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the head could not be stored");
        return;
    }
    json_respond(r, 201, json_pack("{s:s, s:s, s:s}", "head_id", g->node_id, "token", g->token, "server_url",
                                   serve_public_url()));
}

static void register_free(void *arg)
{
    ipad_reg_t *g = arg;
    registry_node_free(g->node);
    memset(g->token, 0, sizeof(g->token));
    free(g);
}

static const commit_spec_t register_spec = {register_apply, register_publish, register_respond, register_free};

void api_heads_register(hc_req_t *r)
{
    static const char *const allowed[] = {"name", "district", "venue", NULL};
    char err[256];
    const char *name = NULL, *district = "", *venue = "";
    if (json_check_keys(r->body, allowed, err, sizeof(err)) != 0 ||
        json_get_name(r->body, "name", HEAD_FIELD_MAX, &name, err, sizeof(err)) < 0 ||
        json_get_name(r->body, "district", HEAD_FIELD_MAX, &district, err, sizeof(err)) < 0 ||
        json_get_name(r->body, "venue", HEAD_FIELD_MAX, &venue, err, sizeof(err)) < 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    if (name == NULL || name[0] == '\0') {
        json_error(r, 400, "bad_request", "\"name\" is required: the iPad's display name");
        return;
    }
    ipad_reg_t *g = calloc(1, sizeof(*g));
    node_t *n = registry_node_new();
    head_rec_t *h = registry_head_new();
    if (g == NULL || n == NULL || h == NULL) {
        free(g);
        registry_node_free(n);
        if (h != NULL) {
            json_decref(h->diagnostics);
            json_decref(h->allowed_experiences);
            free(h);
        }
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    n->head = h;
    g->node = n;
    secret_id_new("node-", n->id, sizeof(n->id));
    snprintf(g->node_id, sizeof(g->node_id), "%s", n->id);
    secret_token_new(g->token);
    secret_token_hash(g->token, strlen(g->token), n->token_hash);
    n->has_token = 1;
    if (intern_set(&n->name, name) != 0 || intern_set(&n->hostname, name) != 0 || intern_set(&n->os, "ipados") != 0 ||
        intern_set(&n->district, district) != 0 || intern_set(&n->venue, venue) != 0) {
        register_free(g);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(n->approval, sizeof(n->approval), "approved");
    snprintf(n->ip, sizeof(n->ip), "%s", r->client_ip);
    n->enrolled_at = clock_now();
    clock_rfc3339(n->enrolled_at, g->now, sizeof(g->now));
    commit_submit(r, &register_spec, g);
}

/* ---- admin configuration of a head: head-assignment, allowed-experiences ---- */

typedef enum { HEAD_OP_ASSIGN, HEAD_OP_UNASSIGN, HEAD_OP_ALLOWED } head_op_kind_t;

typedef struct {
    head_op_kind_t kind;
    char id[NODE_ID_MAX];
    char body_id[NODE_ID_MAX];
    char app_id[NODE_TEXT_MAX];
    json_t *allowed; /* HEAD_OP_ALLOWED */
    int64_t now;
    char now_s[32];
    char actor[80];
} head_op_t;

/* the node exists, and is a head or may become one (no head has it as its body) */
static int head_op_check(sqlite3 *db, const head_op_t *o)
{
    int rc = store_row_exists(db, "SELECT 1 FROM nodes WHERE id = ?1", o->id);
    if (rc <= 0)
        return rc < 0 ? -1 : HEAD_ENOENT;
    rc = store_row_exists(db, "SELECT 1 FROM heads WHERE node_id = ?1", o->id);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (o->kind == HEAD_OP_UNASSIGN)
        return HEAD_ENOTHEAD;
    rc = store_row_exists(db, "SELECT 1 FROM heads WHERE assigned_body_id = ?1", o->id);
    return rc < 0 ? -1 : rc ? HEAD_EPINNED : 0;
}

static int head_op_apply(sqlite3 *db, void *arg)
{
    head_op_t *o = arg;
    int rc = head_op_check(db, o);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    json_t *d = NULL;
    const char *action = NULL;
    char *allowed_text = NULL;
    switch (o->kind) {
    case HEAD_OP_ASSIGN:
        if ((rc = store_row_exists(db, "SELECT 1 FROM nodes WHERE id = ?1", o->body_id)) <= 0)
            return rc < 0 ? -1 : HEAD_EBODY;
        if ((rc = store_row_exists(db, "SELECT 1 FROM heads WHERE node_id = ?1", o->body_id)) != 0)
            return rc < 0 ? -1 : HEAD_EBODYHEAD;
        st = store_prepare(db, "INSERT INTO heads (node_id, assigned_body_id, app_id) VALUES (?1, ?2, ?3) "
                               "ON CONFLICT (node_id) DO UPDATE SET assigned_body_id = excluded.assigned_body_id, "
                               "app_id = excluded.app_id");
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 2, o->body_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, o->app_id, -1, SQLITE_STATIC);
        /* the body id in the detail is what the registry's load reads back for
         * the "least recently assigned" order */
        d = json_pack("{s:s, s:s}", "body_id", o->body_id, "app_id", o->app_id);
        action = "head.assign";
        break;
    case HEAD_OP_UNASSIGN:
        st = store_prepare(db, "UPDATE heads SET assigned_body_id = NULL WHERE node_id = ?1");
        action = "head.unassign";
        break;
    case HEAD_OP_ALLOWED:
        allowed_text = json_dumps(o->allowed, JSON_COMPACT);
        if (allowed_text == NULL)
            return -1;
        st = store_prepare(db, "INSERT INTO heads (node_id, allowed_experiences) VALUES (?1, ?2) "
                               "ON CONFLICT (node_id) DO UPDATE SET allowed_experiences = excluded.allowed_experiences");
        if (st != NULL)
            sqlite3_bind_text(st, 2, allowed_text, -1, SQLITE_STATIC);
        d = json_pack("{s:O}", "allowed_experiences", o->allowed);
        action = "head.allowed_experiences";
        break;
    }
    if (st == NULL) {
        free(allowed_text);
        json_decref(d);
        return -1;
    }
    sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(allowed_text);
    if (rc != SQLITE_DONE) {
        json_decref(d);
        return -1;
    }
    rc = store_audit_append(db, o->actor, action, o->id, d);
    json_decref(d);
    return rc;
}

static void head_op_publish(void *arg)
{
    head_op_t *o = arg;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(o->id);
    if (n != NULL && n->head == NULL && (n->head = registry_head_new()) == NULL)
        log_error("msg=\"out of memory publishing a new head; it shows after a restart\" id=%s", o->id);
    if (n != NULL && n->head != NULL) {
        head_rec_t *h = n->head;
        switch (o->kind) {
        case HEAD_OP_ASSIGN: {
            snprintf(h->assigned_body_id, sizeof(h->assigned_body_id), "%s", o->body_id);
            snprintf(h->app_id, sizeof(h->app_id), "%s", o->app_id);
            h->last_assigned_at = o->now;
            node_t *b = registry_node_find(o->body_id);
            if (b != NULL)
                b->last_assigned_at = o->now;
            break;
        }
        case HEAD_OP_UNASSIGN:
            h->assigned_body_id[0] = '\0';
            break;
        case HEAD_OP_ALLOWED:
            json_decref(h->allowed_experiences);
            h->allowed_experiences = json_incref(o->allowed);
            break;
        }
    }
    lock_give(&registry_nodes_lock);
}

static void head_op_respond(hc_req_t *r, int status, void *arg)
{
    head_op_t *o = arg;
    if (commit_respond_store_error(r, status))
        return;
    switch (status) {
    case 0:
        break;
    case HEAD_ENOENT:
        json_error(r, 404, "not_found", "no node %s", o->id);
        return;
    case HEAD_ENOTHEAD:
        json_error(r, 404, "not_found", "node %s is not a head", o->id);
        return;
    case HEAD_EBODY:
        json_error(r, 404, "not_found", "no body %s", o->body_id);
        return;
    case HEAD_EBODYHEAD:
        json_error(r, 400, "bad_request", "%s is a head, not a body: a head streams from a body", o->body_id);
        return;
    case HEAD_EPINNED:
        json_error(r, 409, "conflict", "node %s is the assigned body of a head: unassign it there before making it "
                                       "a head", o->id);
        return;
    default:
        json_error(r, 500, "store_error", "the change could not be stored");
        return;
    }
    json_t *out = NULL;
    lock_take_shared(&registry_nodes_lock);
    const node_t *n = registry_node_find(o->id);
    if (n != NULL && n->head != NULL)
        out = json_pack("{s:s, s:o, s:s, s:o}", "id", n->id, "assigned_body_id",
                        n->head->assigned_body_id[0] ? json_string(n->head->assigned_body_id) : json_null(), "app_id",
                        n->head->app_id, "allowed_experiences", json_deep_copy(n->head->allowed_experiences));
    lock_give(&registry_nodes_lock);
    if (out == NULL) {
        json_error(r, 404, "not_found", "no head %s", o->id);
        return;
    }
    json_respond(r, 200, out);
}

static void head_op_free(void *arg)
{
    head_op_t *o = arg;
    json_decref(o->allowed);
    free(o);
}

static const commit_spec_t head_op_spec = {head_op_apply, head_op_publish, head_op_respond, head_op_free};

/* Checks against memory what the apply checks again in the database (the
 * authority, should the registry change in between); 0 when the op may go. */
static int head_op_precheck(hc_req_t *r, const head_op_t *o)
{
    int code = 0;
    lock_take_shared(&registry_nodes_lock);
    const node_t *n = registry_node_find(o->id);
    if (n == NULL) {
        code = HEAD_ENOENT;
    } else if (o->kind == HEAD_OP_ASSIGN) {
        const node_t *b = registry_node_find(o->body_id);
        code = b == NULL ? HEAD_EBODY : b->head != NULL ? HEAD_EBODYHEAD : 0;
    } else if (o->kind == HEAD_OP_UNASSIGN && n->head == NULL) {
        code = HEAD_ENOTHEAD;
    }
    lock_give(&registry_nodes_lock);
    if (code != 0)
        head_op_respond(r, code, (void *)o);
    return code;
}

static head_op_t *head_op_new(hc_req_t *r, head_op_kind_t kind)
{
    const char *id = route_param(r, "id");
    if (!id_ok(id)) {
        json_error(r, 404, "not_found", "no node %s", id ? id : "");
        return NULL;
    }
    head_op_t *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return NULL;
    }
    o->kind = kind;
    snprintf(o->id, sizeof(o->id), "%s", id);
    o->now = clock_now();
    clock_rfc3339(o->now, o->now_s, sizeof(o->now_s));
    snprintf(o->actor, sizeof(o->actor), "%s", r->auth.actor);
    return o;
}

static void head_op_submit(hc_req_t *r, head_op_t *o)
{
    if (head_op_precheck(r, o) != 0) {
        head_op_free(o);
        return;
    }
    commit_submit(r, &head_op_spec, o);
}

void api_nodes_head_assign(hc_req_t *r)
{
    static const char *const allowed[] = {"body_id", "app_id", NULL};
    char err[256];
    const char *body_id = NULL, *app_id = APP_ID_DEFAULT;
    if (json_check_keys(r->body, allowed, err, sizeof(err)) != 0 ||
        json_get_name(r->body, "body_id", 256, &body_id, err, sizeof(err)) < 0 ||
        json_get_name(r->body, "app_id", NODE_TEXT_MAX - 1, &app_id, err, sizeof(err)) < 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    if (body_id == NULL || body_id[0] == '\0') {
        json_error(r, 400, "bad_request", "\"body_id\" is required (DELETE the head-assignment to unpin)");
        return;
    }
    if (app_id[0] == '\0') {
        json_error(r, 400, "bad_request", "\"app_id\" must not be empty (omit it for \"%s\")", APP_ID_DEFAULT);
        return;
    }
    head_op_t *o = head_op_new(r, HEAD_OP_ASSIGN);
    if (o == NULL)
        return;
    if (strcmp(body_id, o->id) == 0) {
        head_op_free(o);
        json_error(r, 400, "bad_request", "a head cannot stream from itself");
        return;
    }
    if (strlen(body_id) >= sizeof(o->body_id)) {
        head_op_free(o);
        json_error(r, 404, "not_found", "no body with an id that long");
        return;
    }
    snprintf(o->body_id, sizeof(o->body_id), "%s", body_id);
    snprintf(o->app_id, sizeof(o->app_id), "%s", app_id);
    head_op_submit(r, o);
}

void api_nodes_head_unassign(hc_req_t *r)
{
    head_op_t *o = head_op_new(r, HEAD_OP_UNASSIGN);
    if (o != NULL)
        head_op_submit(r, o);
}

void api_nodes_allowed_experiences(hc_req_t *r)
{
    static const char *const allowed[] = {"allowed_experiences", NULL};
    char err[256];
    if (json_check_keys(r->body, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    json_t *in = json_object_get(r->body, "allowed_experiences");
    if (!json_is_array(in)) {
        json_error(r, 400, "bad_request", "\"allowed_experiences\" is required: an array of experience ids (empty: "
                                          "no filter)");
        return;
    }
    if (json_array_size(in) > ALLOWED_MAX_ITEMS) {
        json_error(r, 400, "bad_request", "\"allowed_experiences\" has more than %d entries", ALLOWED_MAX_ITEMS);
        return;
    }
    json_t *list = json_array();
    if (list == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(in, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > ALLOWED_ITEM_MAX) {
            json_decref(list);
            json_error(r, 400, "bad_request", "\"allowed_experiences\" entries must be strings of 1 to %d bytes",
                       ALLOWED_ITEM_MAX);
            return;
        }
        int dup = 0;
        for (size_t j = 0; j < json_array_size(list) && !dup; j++)
            dup = json_equal(json_array_get(list, j), v);
        if (!dup && json_array_append(list, v) != 0) {
            json_decref(list);
            json_error(r, 500, "internal", "out of memory");
            return;
        }
    }
    head_op_t *o = head_op_new(r, HEAD_OP_ALLOWED);
    if (o == NULL) {
        json_decref(list);
        return;
    }
    o->allowed = list;
    head_op_submit(r, o);
}
