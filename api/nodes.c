/*
 * Nodes (spec/API.md "Nodes (admin)"):
 *   (GET /api/v1/nodes and GET /api/v1/nodes/{id}: api/nodes_read.c)
 *   PATCH  /api/v1/nodes/{id}            admin metadata
 *   DELETE /api/v1/nodes/{id}            remove it; its token stops working
 *   POST   /api/v1/nodes/{id}/roles      replace its roles (checked against the catalog)
 *   POST   /api/v1/nodes/{id}/update-node | update-services | reprovision   set a flag
 * (approve/reject: api/enroll.c.)
 *
 * Reads come from the registry. Every change is durable (server/commit.h):
 * the worker validates against memory for a precise answer, apply re-checks
 * what could have moved since (the node or a role deleted meanwhile) inside
 * the transaction, publish updates memory after the commit, and the answer is
 * the node object as memory holds it then.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "commit.h"
#include "events.h"
#include "exec_queue.h"
#include "clock.h"
#include "head_roles.h"
#include "jsonio.h"
#include "shell_session.h"
#include "log.h"
#include "registry.h"
#include "serve.h"
#include "softstate.h"
#include "stream_sessions.h"

#define NODE_ROLES_MAX 64 /* roles one node may hold */

/* application errors of apply (negative, distinct from STORE_* and COMMIT_*) */
#define NODES_ENOENT (-10)
#define NODES_EUNKNOWN_ROLE (-11)
#define NODES_EPINNED HEAD_ROLES_EPINNED

int nodes_text_ok(const char *s)
{
    return json_text_ok(s); /* the one rule for names (jsonio.h) */
}

int nodes_ip_ok(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return s[0] == '\0' || inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int nodes_stream_status_ok(const char *s)
{
    return strcmp(s, "idle") == 0 || strcmp(s, "streaming") == 0 || strcmp(s, "error") == 0;
}

static uint64_t offline_after_ms(void)
{
    return serve_config()->nodes.offline_after_ms;
}

/* the {id} capture, or NULL after answering 404 (an id longer than any node id) */
static const char *node_param(hc_req_t *r)
{
    const char *id = route_param(r, "id");
    if (id == NULL || strlen(id) >= NODE_ID_MAX) {
        json_error(r, 404, "not_found", "no such node");
        return NULL;
    }
    return id;
}

/* answers the node object as memory holds it now (after a publish) */
static void respond_node(hc_req_t *r, const char *id, int status)
{
    lock_take_shared(&registry_nodes_lock);
    node_t *n = registry_node_find(id);
    json_t *o = n ? node_to_json(n, clock_now(), offline_after_ms()) : NULL;
    lock_give(&registry_nodes_lock);
    if (n == NULL) {
        json_error(r, 404, "not_found", "no node %s (deleted meanwhile)", id);
        return;
    }
    if (o == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, status, o);
}

/* ---- PATCH /api/v1/nodes/{id} ---- */

typedef struct {
    char id[NODE_ID_MAX];
    const char *name, *owner, *district, *venue, *wireguard_ip, *lan_ip; /* NULL = unchanged; point into body */
    int drain;                                                           /* -1 = unchanged */
    json_t *body; /* the request's object (a reference), also the audit detail */
    char actor[80];
} patch_t;

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int patch_apply(sqlite3 *db, void *arg)
{
    patch_t *p = arg;
    /* a heartbeat value of these, copied before this commit, must not land after it */
    if (p->wireguard_ip != NULL || p->lan_ip != NULL)
        softstate_forget_addresses(p->id, p->wireguard_ip != NULL, p->lan_ip != NULL);
    sqlite3_stmt *st = store_prepare(db, "UPDATE nodes SET name = coalesce(?2, name), owner = coalesce(?3, owner), "
                                         "district = coalesce(?4, district), venue = coalesce(?5, venue), "
                                         "wireguard_ip = coalesce(?6, wireguard_ip), lan_ip = coalesce(?7, lan_ip), "
                                         "drain = coalesce(?8, drain) WHERE id = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
    bind_opt(st, 2, p->name);
    bind_opt(st, 3, p->owner);
    bind_opt(st, 4, p->district);
    bind_opt(st, 5, p->venue);
    bind_opt(st, 6, p->wireguard_ip);
    bind_opt(st, 7, p->lan_ip);
    if (p->drain >= 0)
        sqlite3_bind_int(st, 8, p->drain);
    else
        sqlite3_bind_null(st, 8);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(db) != 1)
        return NODES_ENOENT;
    return store_audit_append(db, p->actor, "node.update", p->id, p->body);
}

static void set_text(char *dst, size_t len, const char *v)
{
    if (v != NULL)
        snprintf(dst, len, "%s", v);
}

/* an interned field; out of memory keeps the old value in memory until the
 * next start (the committed row has the new one) */
static void set_interned(const char **field, const char *v, const char *id)
{
    if (v != NULL && intern_set(field, v) != 0)
        log_error("msg=\"out of memory updating node %s in memory\"", id);
}

static void patch_publish(void *arg)
{
    patch_t *p = arg;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(p->id);
    if (n != NULL) {
        set_interned(&n->name, p->name, p->id);
        set_interned(&n->owner, p->owner, p->id);
        set_interned(&n->district, p->district, p->id);
        set_interned(&n->venue, p->venue, p->id);
        set_text(n->wireguard_ip, sizeof(n->wireguard_ip), p->wireguard_ip);
        set_text(n->lan_ip, sizeof(n->lan_ip), p->lan_ip);
        if (p->drain >= 0)
            n->drain = p->drain;
    }
    lock_give(&registry_nodes_lock);
}

/* the answer for the simple mutations: the node object, or the error */
static void respond_mutation(hc_req_t *r, int status, const char *id)
{
    if (commit_respond_store_error(r, status))
        return;
    if (status == NODES_ENOENT) {
        json_error(r, 404, "not_found", "no node %s", id);
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the change could not be stored");
        return;
    }
    respond_node(r, id, 200);
}

static void patch_respond(hc_req_t *r, int status, void *arg)
{
    respond_mutation(r, status, ((patch_t *)arg)->id);
}

static void patch_free(void *arg)
{
    patch_t *p = arg;
    json_decref(p->body);
    free(p);
}

static const commit_spec_t patch_spec = {patch_apply, patch_publish, patch_respond, patch_free};

/* a text member: 1 given, 0 absent, -1 answered 400 */
static int get_text(hc_req_t *r, const char *key, size_t max, const char **out)
{
    char err[256];
    int rc = json_get_name(r->body, key, max, out, err, sizeof(err));
    if (rc < 0)
        json_error(r, 400, "bad_request", "%s", err);
    return rc;
}

static int get_ip(hc_req_t *r, const char *key, const char **out)
{
    int rc = get_text(r, key, NODE_SHORT_MAX - 1, out);
    if (rc > 0 && !nodes_ip_ok(*out)) {
        json_error(r, 400, "bad_request", "\"%s\" must be an IPv4 or IPv6 address (or \"\" to clear it)", key);
        return -1;
    }
    return rc;
}

void api_nodes_patch(hc_req_t *r)
{
    static const char *const allowed[] = {"name", "owner", "district", "venue", "drain", "wireguard_ip", "lan_ip", NULL};
    char err[256];
    const char *id = node_param(r);
    if (id == NULL)
        return;
    if (json_check_keys(r->body, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s (PATCH takes name, owner, district, venue, drain, wireguard_ip, lan_ip)",
                   err);
        return;
    }
    if (json_object_size(r->body) == 0) {
        json_error(r, 400, "bad_request",
                   "nothing to change: give at least one of name, owner, district, venue, drain, wireguard_ip, lan_ip");
        return;
    }
    patch_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    p->drain = -1;
    if (get_text(r, "name", NODE_TEXT_MAX - 1, &p->name) < 0 || get_text(r, "owner", NODE_TEXT_MAX - 1, &p->owner) < 0 ||
        get_text(r, "district", NODE_TEXT_MAX - 1, &p->district) < 0 ||
        get_text(r, "venue", NODE_TEXT_MAX - 1, &p->venue) < 0 || get_ip(r, "wireguard_ip", &p->wireguard_ip) < 0 ||
        get_ip(r, "lan_ip", &p->lan_ip) < 0)
        goto fail;
    if (p->name != NULL && p->name[0] == '\0') {
        json_error(r, 400, "bad_request", "\"name\" must not be empty");
        goto fail;
    }
    /* null means "absent" for the strings; for drain it is as wrong as any non-bool */
    json_t *d = json_object_get(r->body, "drain");
    if (d != NULL) {
        if (!json_is_boolean(d)) {
            json_error(r, 400, "bad_request", "\"drain\" must be true or false");
            goto fail;
        }
        p->drain = json_is_true(d);
    }
    snprintf(p->id, sizeof(p->id), "%s", id);
    snprintf(p->actor, sizeof(p->actor), "%s", r->auth.actor);
    p->body = json_incref(r->body); /* the strings above point into it */
    commit_submit(r, &patch_spec, p);
    return;
fail:
    free(p);
}

/* ---- DELETE /api/v1/nodes/{id} ---- */

typedef struct {
    char id[NODE_ID_MAX];
    char actor[80];
    json_t *unpinned; /* set by apply: heads that had this node as their body */
    json_t *ended;    /* set by apply: the streaming sessions it was part of */
} delete_t;

static int delete_apply(sqlite3 *db, void *arg)
{
    delete_t *d = arg;
    /* a head pinned to this body loses the pin: it cannot stream from it any more */
    sqlite3_stmt *st = store_prepare(db, "UPDATE heads SET assigned_body_id = NULL WHERE assigned_body_id = ?1 "
                                         "AND node_id != ?1 RETURNING node_id");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(d->unpinned, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    /* heads(node_id) cascades (foreign keys are on) */
    st = store_prepare(db, "DELETE FROM nodes WHERE id = ?1 RETURNING name, hostname");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? NODES_ENOENT : -1; /* the UPDATE above matched nothing either */
    }
    json_t *detail = json_pack("{s:s, s:s, s:O}", "name", (const char *)sqlite3_column_text(st, 0), "hostname",
                               (const char *)sqlite3_column_text(st, 1), "unpinned_heads", d->unpinned);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE || detail == NULL) {
        json_decref(detail);
        return -1;
    }
    /* its exec commands and results go in the same transaction, its sessions end; memory follows in delete_publish */
    if (exec_store_delete_node(db, d->id) != 0 ||
        stream_sessions_end_node_apply(db, d->id, SS_NODE_DELETED, d->ended) != 0) {
        json_decref(detail);
        return -1;
    }
    rc = store_audit_append(db, d->actor, "node.delete", d->id, detail);
    json_decref(detail);
    return rc;
}

static int unpin(node_t *n, void *arg)
{
    if (n->head != NULL && strcmp(n->head->assigned_body_id, (const char *)arg) == 0)
        n->head->assigned_body_id[0] = '\0';
    return 0;
}

static void delete_publish(void *arg)
{
    delete_t *d = arg;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(d->id);
    if (n != NULL)
        registry_node_remove(n); /* unlinks its token hash: it stops authenticating now */
    if (json_array_size(d->unpinned) > 0)
        registry_node_foreach(unpin, d->id);
    lock_give(&registry_nodes_lock);
    /* with no lock held: it answers the node's parked polls and result waiters */
    exec_queue_node_deleted(d->id);
    shell_node_gone(d->id);
    stream_sessions_end_node_publish(d->id, SS_NODE_DELETED, d->ended, 1);
}

static void delete_respond(hc_req_t *r, int status, void *arg)
{
    delete_t *d = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == NODES_ENOENT) {
        json_error(r, 404, "not_found", "no node %s", d->id);
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the node could not be deleted");
        return;
    }
    json_respond(r, 200, json_pack("{s:s, s:s, s:O}", "id", d->id, "status", "deleted", "unpinned_heads", d->unpinned));
}

static void delete_free(void *arg)
{
    delete_t *d = arg;
    json_decref(d->unpinned);
    json_decref(d->ended);
    free(d);
}

static const commit_spec_t delete_spec = {delete_apply, delete_publish, delete_respond, delete_free};

void api_nodes_delete(hc_req_t *r)
{
    const char *id = node_param(r);
    if (id == NULL)
        return;
    delete_t *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->unpinned = json_array()) == NULL || (d->ended = json_array()) == NULL) {
        if (d != NULL)
            json_decref(d->unpinned);
        free(d);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(d->id, sizeof(d->id), "%s", id);
    snprintf(d->actor, sizeof(d->actor), "%s", r->auth.actor);
    commit_submit(r, &delete_spec, d);
}

/* ---- POST /api/v1/nodes/{id}/update-node | update-services | reprovision ---- */

enum { FLAG_UPDATE_NODE, FLAG_UPDATE_SERVICES, FLAG_REPROVISION };

static const struct {
    const char *action, *sql;
} flag_ops[] = {
    [FLAG_UPDATE_NODE] = {"node.update_node", "UPDATE nodes SET flag_update_node = 1, flags_generation = "
                                              "flags_generation + 1 WHERE id = ?1 RETURNING flags_generation"},
    [FLAG_UPDATE_SERVICES] = {"node.update_services", "UPDATE nodes SET flag_update_services = 1, flags_generation = "
                                                      "flags_generation + 1 WHERE id = ?1 RETURNING flags_generation"},
    [FLAG_REPROVISION] = {"node.reprovision", "UPDATE nodes SET flag_reprovision = 1, flags_generation = "
                                              "flags_generation + 1 WHERE id = ?1 RETURNING flags_generation"},
};

typedef struct {
    char id[NODE_ID_MAX];
    int flag;
    int64_t generation; /* set by apply */
    char actor[80];
} flag_t;

static int flag_apply(sqlite3 *db, void *arg)
{
    flag_t *f = arg;
    sqlite3_stmt *st = store_prepare(db, flag_ops[f->flag].sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? NODES_ENOENT : -1;
    }
    f->generation = sqlite3_column_int64(st, 0);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    json_t *detail = json_pack("{s:I}", "flags_generation", (json_int_t)f->generation);
    rc = store_audit_append(db, f->actor, flag_ops[f->flag].action, f->id, detail);
    json_decref(detail);
    return rc;
}

static void flag_publish(void *arg)
{
    flag_t *f = arg;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(f->id);
    if (n != NULL) {
        if (f->flag == FLAG_UPDATE_NODE)
            n->flag_update_node = 1;
        else if (f->flag == FLAG_UPDATE_SERVICES)
            n->flag_update_services = 1;
        else
            n->flag_reprovision = 1;
        n->flags_generation = f->generation;
    }
    lock_give(&registry_nodes_lock);
}

static void flag_respond(hc_req_t *r, int status, void *arg)
{
    respond_mutation(r, status, ((flag_t *)arg)->id);
}

static const commit_spec_t flag_spec = {flag_apply, flag_publish, flag_respond, free};

static void set_flag(hc_req_t *r, int flag)
{
    const char *id = node_param(r);
    if (id == NULL)
        return;
    flag_t *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(f->id, sizeof(f->id), "%s", id);
    f->flag = flag;
    snprintf(f->actor, sizeof(f->actor), "%s", r->auth.actor);
    commit_submit(r, &flag_spec, f);
}

void api_nodes_update_node(hc_req_t *r)
{
    set_flag(r, FLAG_UPDATE_NODE);
}

void api_nodes_update_services(hc_req_t *r)
{
    set_flag(r, FLAG_UPDATE_SERVICES);
}

void api_nodes_reprovision(hc_req_t *r)
{
    set_flag(r, FLAG_REPROVISION);
}

/* ---- POST /api/v1/nodes/{id}/roles ---- */

typedef struct {
    char id[NODE_ID_MAX];
    json_t *roles;   /* array of valid, distinct names */
    json_t *missing; /* set by apply: roles deleted from the catalog meanwhile */
    int head_change; /* set by apply: head record created (+1) or dropped (-1) by a head role */
    json_t *ended;   /* set by apply when the head record went: the streaming sessions that ended with it */
    char actor[80];
} setroles_t;

static int setroles_apply(sqlite3 *db, void *arg)
{
    setroles_t *s = arg;
    /* the catalog may have lost a role since the worker checked it */
    sqlite3_stmt *st = store_prepare(db, "SELECT value FROM json_each(?1) WHERE value NOT IN (SELECT name FROM roles)");
    if (st == NULL)
        return -1;
    char *roles = json_dumps(s->roles, JSON_COMPACT);
    if (roles == NULL) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_bind_text(st, 1, roles, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(s->missing, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(roles);
        return -1;
    }
    if (json_array_size(s->missing) > 0) {
        free(roles);
        return NODES_EUNKNOWN_ROLE;
    }
    /* a head role makes the node a head (fleet/head_roles.h): needs the roles it had */
    json_t *old = NULL;
    if ((st = store_prepare(db, "SELECT roles FROM nodes WHERE id = ?1")) == NULL) {
        free(roles);
        return -1;
    }
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        old = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        free(roles);
        return rc == SQLITE_DONE ? NODES_ENOENT : -1;
    }
    if (s->ended != NULL)
        json_array_clear(s->ended); /* an apply that runs again starts over */
    if (s->ended == NULL && (s->ended = json_array()) == NULL)
        rc = -1;
    else
        rc = head_roles_sync(db, serve_config(), s->id, json_is_array(old) ? old : s->missing, s->roles, s->actor,
                             &s->head_change, s->ended);
    json_decref(old);
    if (rc != 0) {
        free(roles);
        return rc;
    }
    st = store_prepare(db, "UPDATE nodes SET roles = ?2 WHERE id = ?1");
    if (st == NULL) {
        free(roles);
        return -1;
    }
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, roles, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(roles);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(db) != 1)
        return NODES_ENOENT;
    json_t *detail = json_pack("{s:O}", "roles", s->roles);
    rc = store_audit_append(db, s->actor, "node.roles", s->id, detail);
    if (rc == 0 && json_object_set_new(detail, "actor", json_string(s->actor)) == 0)
        rc = store_node_event_append(db, s->id, clock_now(), "roles", detail);
    json_decref(detail);
    return rc;
}

static void setroles_publish(void *arg)
{
    setroles_t *s = arg;
    json_t *copy = json_deep_copy(s->roles);
    if (copy == NULL) {
        log_error("msg=\"out of memory publishing a node's roles; they are stored and load after a restart\" "
                  "node=%s",
                  s->id);
        return;
    }
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(s->id);
    if (n != NULL) {
        json_decref(n->roles);
        n->roles = copy;
        copy = NULL;
        if (head_roles_publish(n, s->head_change) != 0)
            log_error("msg=\"out of memory publishing a new head; it shows after a restart\" id=%s", s->id);
    }
    lock_give(&registry_nodes_lock);
    json_decref(copy);
    if (json_array_size(s->ended) > 0)
        stream_sessions_end_node_publish(s->id, SS_HEAD_IDLE, s->ended, 0);
}

/* 400 naming every unknown role, with them as an array too */
static void respond_unknown_roles(hc_req_t *r, json_t *unknown)
{
    char list[400] = "";
    size_t i;
    json_t *v;
    json_array_foreach(unknown, i, v)
    {
        size_t len = strlen(list);
        snprintf(list + len, sizeof(list) - len, "%s\"%.64s\"", i ? ", " : "", json_string_value(v));
    }
    char msg[512];
    snprintf(msg, sizeof(msg), "%s %s not in the role catalog (GET /api/v1/roles); nothing was changed",
             json_array_size(unknown) == 1 ? "role" : "roles", list);
    json_t *o = json_pack("{s:s, s:s, s:O}", "error", msg, "code", "unknown_role", "unknown_roles", unknown);
    if (o == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, 400, o);
}

static void setroles_respond(hc_req_t *r, int status, void *arg)
{
    setroles_t *s = arg;
    if (status == NODES_EUNKNOWN_ROLE) {
        respond_unknown_roles(r, s->missing);
        return;
    }
    if (status == NODES_EPINNED) {
        json_error(r, 409, "conflict", "node %s is the assigned body of a head: unassign it there before giving it "
                                       "a head role; nothing was changed", s->id);
        return;
    }
    respond_mutation(r, status, s->id);
}

static void setroles_free(void *arg)
{
    setroles_t *s = arg;
    json_decref(s->roles);
    json_decref(s->missing);
    json_decref(s->ended);
    free(s);
}

static const commit_spec_t setroles_spec = {setroles_apply, setroles_publish, setroles_respond, setroles_free};

static int array_has(json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

void api_nodes_set_roles(hc_req_t *r)
{
    static const char *const allowed[] = {"roles", NULL};
    char err[256];
    const char *id = node_param(r);
    if (id == NULL)
        return;
    if (json_check_keys(r->body, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s (the body is {\"roles\":[\"name\", ...]})", err);
        return;
    }
    json_t *in = json_object_get(r->body, "roles");
    if (!json_is_array(in)) {
        json_error(r, 400, "bad_request", "\"roles\" must be an array of role names (may be empty)");
        return;
    }
    if (json_array_size(in) > NODE_ROLES_MAX) {
        json_error(r, 400, "bad_request", "a node holds at most %d roles", NODE_ROLES_MAX);
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(in, i, v)
    {
        if (!json_is_string(v)) {
            json_error(r, 400, "bad_request", "\"roles\"[%zu] must be a string", i);
            return;
        }
    }
    lock_take_shared(&registry_nodes_lock);
    int exists = registry_node_find(id) != NULL;
    lock_give(&registry_nodes_lock);
    if (!exists) {
        json_error(r, 404, "not_found", "no node %s", id);
        return;
    }

    setroles_t *s = calloc(1, sizeof(*s));
    json_t *unknown = json_array();
    if (s == NULL || unknown == NULL || (s->roles = json_array()) == NULL || (s->missing = json_array()) == NULL) {
        if (s != NULL)
            setroles_free(s);
        json_decref(unknown);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    /* one pass under the catalog lock: every unknown name is collected */
    lock_take_shared(&registry_catalog_lock);
    json_array_foreach(in, i, v)
    {
        const char *name = json_string_value(v);
        if (array_has(s->roles, name) || array_has(unknown, name))
            continue; /* a repeated name counts once */
        if (strlen(name) <= ROLE_NAME_MAX && registry_role_find(name) != NULL)
            json_array_append(s->roles, v);
        else
            json_array_append(unknown, v);
    }
    lock_give(&registry_catalog_lock);
    if (json_array_size(unknown) > 0) {
        respond_unknown_roles(r, unknown);
        json_decref(unknown);
        setroles_free(s);
        return;
    }
    json_decref(unknown);
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->actor, sizeof(s->actor), "%s", r->auth.actor);
    commit_submit(r, &setroles_spec, s);
}
