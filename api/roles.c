/*
 * The role catalog (spec/API.md "Roles (admin)"):
 *   GET    /api/v1/roles           every role with its description and recipe
 *   PUT    /api/v1/roles/{name}    create or replace one
 *   DELETE /api/v1/roles/{name}    remove it (409 while nodes hold it, unless ?force=true)
 * and its seed: roles of config role_catalog missing from the table are
 * inserted at start (the table, managed through the API, wins after that).
 *
 * The catalog lives in memory under registry_catalog_lock (rank 10) and is
 * changed only in publish, after the commit. Apply re-checks what the worker
 * saw in memory against the table, inside the transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "commit.h"
#include "head_roles.h"
#include "jsonio.h"
#include "log.h"
#include "registry.h"
#include "serve.h"
#include "store.h"
#include "stream_sessions.h"

#define ROLES_ENOENT (-10)
#define ROLES_EINUSE (-11)
#define ROLES_INUSE_LIST 20 /* node ids named in a 409 */

/* ---- GET /api/v1/roles ---- */

void api_roles_list(hc_req_t *r)
{
    json_t *a = json_array();
    if (a == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    lock_take_shared(&registry_catalog_lock);
    int rc = registry_roles_to_json(a);
    lock_give(&registry_catalog_lock);
    if (rc != 0) {
        json_decref(a);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, 200, a);
}

/* ---- PUT /api/v1/roles/{name} ---- */

typedef struct {
    char name[ROLE_NAME_MAX + 1];
    char *description;
    json_t *recipe;
    char *recipe_json;
    int created; /* set by apply */
    char actor[80];
} put_t;

static int put_apply(sqlite3 *db, void *arg)
{
    put_t *p = arg;
    sqlite3_stmt *st = store_prepare(db, "SELECT 1 FROM roles WHERE name = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    p->created = rc == SQLITE_DONE;
    st = store_prepare(db, "INSERT INTO roles (name, description, recipe) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO "
                           "UPDATE SET description = excluded.description, recipe = excluded.recipe");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->recipe_json, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    json_t *detail = json_pack("{s:b, s:s}", "created", p->created, "description", p->description);
    rc = store_audit_append(db, p->actor, "role.put", p->name, detail);
    json_decref(detail);
    return rc;
}

static void put_publish(void *arg)
{
    put_t *p = arg;
    lock_take(&registry_catalog_lock);
    int rc = registry_role_put(p->name, p->description, p->recipe);
    lock_give(&registry_catalog_lock);
    if (rc != 0)
        log_error("msg=\"out of memory publishing a role; it is stored and loads after a restart\" role=%s", p->name);
}

static void put_respond(hc_req_t *r, int status, void *arg)
{
    put_t *p = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the role could not be stored");
        return;
    }
    json_respond(r, p->created ? 201 : 200,
                 json_pack("{s:s, s:s, s:O}", "name", p->name, "description", p->description, "recipe", p->recipe));
}

static void put_free(void *arg)
{
    put_t *p = arg;
    free(p->description);
    json_decref(p->recipe);
    free(p->recipe_json);
    free(p);
}

static const commit_spec_t put_spec = {put_apply, put_publish, put_respond, put_free};

/* the {name} capture, else NULL after answering: for a new name (PUT) it
 * must be valid (400), for an existing one (DELETE) it must fit (404) */
static const char *role_param(hc_req_t *r, int for_new)
{
    const char *name = route_param(r, "name");
    if (for_new && (name == NULL || !registry_role_name_ok(name))) {
        json_error(r, 400, "bad_request", "a role name is 1 to %d characters of a-z, 0-9, '.', '_' and '-'",
                   ROLE_NAME_MAX);
        return NULL;
    }
    if (name == NULL || strlen(name) > ROLE_NAME_MAX) {
        json_error(r, 404, "not_found", "no such role");
        return NULL;
    }
    return name;
}

void api_roles_put(hc_req_t *r)
{
    static const char *const allowed[] = {"description", "recipe", NULL};
    char err[256];
    const char *description = "";
    const char *name = role_param(r, 1);
    if (name == NULL)
        return;
    if (json_check_keys(r->body, allowed, err, sizeof(err)) != 0 ||
        json_get_str(r->body, "description", ROLE_DESC_MAX, &description, err, sizeof(err)) < 0) {
        json_error(r, 400, "bad_request", "%s (the body is {\"description\":\"…\",\"recipe\":{…}})", err);
        return;
    }
    json_t *recipe = json_object_get(r->body, "recipe");
    if (recipe != NULL && !json_is_object(recipe) && !json_is_null(recipe)) {
        json_error(r, 400, "bad_request", "\"recipe\" must be an object");
        return;
    }
    put_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->description = strdup(description);
    p->recipe = json_is_object(recipe) ? json_deep_copy(recipe) : json_object();
    p->recipe_json = p->recipe ? json_dumps(p->recipe, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (p->description == NULL || p->recipe_json == NULL) {
        put_free(p);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(p->actor, sizeof(p->actor), "%s", r->auth.actor);
    commit_submit(r, &put_spec, p);
}

/* ---- DELETE /api/v1/roles/{name}[?force=true] ---- */

typedef struct {
    char name[ROLE_NAME_MAX + 1];
    int force;
    json_t *nodes; /* set by apply: holders (force: those it was removed from) */
    json_t *ended; /* set by apply: node id -> the streaming sessions ended with its head role */
    char actor[80];
} del_t;

/* A forced delete of a head role: a node that loses its last head role with
 * it stops being a head and its sessions as a head end (head_roles_sync), as
 * when an admin sets its roles. */
static int drop_heads(sqlite3 *db, del_t *d)
{
    size_t i;
    json_t *id;
    json_array_foreach(d->nodes, i, id)
    {
        sqlite3_stmt *st = store_prepare(db, "SELECT roles FROM nodes WHERE id = ?1");
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, json_string_value(id), -1, SQLITE_STATIC);
        json_t *now = sqlite3_step(st) == SQLITE_ROW ? json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL)
                                                      : NULL;
        sqlite3_finalize(st);
        json_t *before = json_is_array(now) ? json_copy(now) : NULL, *ended = json_array();
        int change = 0, rc = before && ended ? json_array_append_new(before, json_string(d->name)) : -1;
        if (rc == 0)
            rc = json_object_set(d->ended, json_string_value(id), ended);
        if (rc == 0)
            rc = head_roles_sync(db, serve_config(), json_string_value(id), before, now, d->actor, &change, ended);
        json_decref(now);
        json_decref(before);
        json_decref(ended);
        if (rc != 0)
            return rc < 0 ? -1 : rc;
    }
    return 0;
}

static int del_apply(sqlite3 *db, void *arg)
{
    del_t *d = arg;
    sqlite3_stmt *st = store_prepare(db, "DELETE FROM roles WHERE name = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(db) != 1)
        return ROLES_ENOENT;
    st = store_prepare(db, d->force ? "UPDATE nodes SET roles = (SELECT json_group_array(value) FROM json_each(nodes.roles) "
                                      "WHERE value IS NOT ?1) WHERE EXISTS (SELECT 1 FROM json_each(nodes.roles) WHERE "
                                      "value = ?1) RETURNING id"
                                    : "SELECT id FROM nodes WHERE EXISTS (SELECT 1 FROM json_each(nodes.roles) WHERE "
                                      "value = ?1) ORDER BY id");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(d->nodes, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (!d->force && json_array_size(d->nodes) > 0)
        return ROLES_EINUSE; /* rolls the DELETE back */
    if (head_roles_is(serve_config(), d->name) && (rc = drop_heads(db, d)) != 0)
        return rc;
    json_t *detail = json_pack("{s:b, s:O}", "force", d->force, "removed_from", d->nodes);
    rc = store_audit_append(db, d->actor, "role.delete", d->name, detail);
    json_decref(detail);
    return rc;
}

static int strip_role(node_t *n, void *arg)
{
    const char *name = arg;
    for (size_t i = json_array_size(n->roles); i-- > 0;) {
        json_t *v = json_array_get(n->roles, i);
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            json_array_remove(n->roles, i);
    }
    return 0;
}

static int strip_head(node_t *n, void *arg)
{
    (void)arg;
    if (n->head != NULL && !head_roles_any(serve_config(), n->roles))
        head_roles_publish(n, -1);
    return 0;
}

static void del_publish(void *arg)
{
    del_t *d = arg;
    lock_take(&registry_catalog_lock);
    registry_role_remove(d->name);
    lock_give(&registry_catalog_lock);
    if (json_array_size(d->nodes) > 0) {
        lock_take(&registry_nodes_lock);
        registry_node_foreach(strip_role, d->name);
        /* the apply dropped the head records of the holders left without a head role */
        if (head_roles_is(serve_config(), d->name))
            for (size_t i = 0; i < json_array_size(d->nodes); i++) {
                node_t *n = registry_node_find(json_string_value(json_array_get(d->nodes, i)));
                if (n != NULL)
                    strip_head(n, NULL);
            }
        lock_give(&registry_nodes_lock);
    }
    const char *id;
    json_t *ended;
    json_object_foreach(d->ended, id, ended)
    {
        if (json_array_size(ended) > 0)
            stream_sessions_end_node_publish(id, SS_HEAD_IDLE, ended, 0);
    }
}

/* 409 naming (some of) the holders */
static void respond_in_use(hc_req_t *r, const char *name, json_t *nodes)
{
    char msg[512];
    snprintf(msg, sizeof(msg),
             "role \"%s\" is held by %zu node(s); assign them other roles first, or delete with ?force=true to remove "
             "it from them too",
             name, json_array_size(nodes));
    json_t *some = json_array();
    for (size_t i = 0; some && i < json_array_size(nodes) && i < ROLES_INUSE_LIST; i++)
        json_array_append(some, json_array_get(nodes, i));
    json_t *o = some ? json_pack("{s:s, s:s, s:o}", "error", msg, "code", "conflict", "nodes", some) : NULL;
    if (o == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, 409, o);
}

static void del_respond(hc_req_t *r, int status, void *arg)
{
    del_t *d = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == ROLES_ENOENT) {
        json_error(r, 404, "not_found", "no role %s", d->name);
        return;
    }
    if (status == ROLES_EINUSE) {
        respond_in_use(r, d->name, d->nodes);
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the role could not be deleted");
        return;
    }
    json_respond(r, 200, json_pack("{s:s, s:s, s:O}", "name", d->name, "status", "deleted", "removed_from", d->nodes));
}

static void del_free(void *arg)
{
    del_t *d = arg;
    json_decref(d->nodes);
    json_decref(d->ended);
    free(d);
}

static const commit_spec_t del_spec = {del_apply, del_publish, del_respond, del_free};

typedef struct {
    const char *name;
    json_t *holders;
} holders_t;

static int collect_holder(node_t *n, void *arg)
{
    holders_t *h = arg;
    if (registry_node_has_role(n, h->name))
        json_array_append_new(h->holders, json_string(n->id));
    return 0;
}

void api_roles_delete(hc_req_t *r)
{
    static const char *const allowed[] = {"force", NULL};
    char err[256];
    if (route_query_check(r, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s (DELETE takes ?force=true)", err);
        return;
    }
    const char *force = route_query(r, "force");
    if (force != NULL && strcmp(force, "true") != 0 && strcmp(force, "false") != 0) {
        json_error(r, 400, "bad_request", "\"force\" must be true or false");
        return;
    }
    const char *name = role_param(r, 0);
    if (name == NULL)
        return;
    lock_take_shared(&registry_catalog_lock);
    int known = registry_role_find(name) != NULL;
    lock_give(&registry_catalog_lock);
    if (!known) {
        json_error(r, 404, "not_found", "no role %s", name);
        return;
    }
    del_t *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->nodes = json_array()) == NULL || (d->ended = json_object()) == NULL) {
        if (d != NULL)
            json_decref(d->nodes);
        free(d);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->force = force != NULL && strcmp(force, "true") == 0;
    if (!d->force) {
        /* the common refusal answered from memory; apply checks again */
        holders_t h = {d->name, d->nodes};
        lock_take_shared(&registry_nodes_lock);
        registry_node_foreach(collect_holder, &h);
        lock_give(&registry_nodes_lock);
        if (json_array_size(d->nodes) > 0) {
            respond_in_use(r, d->name, d->nodes);
            del_free(d);
            return;
        }
    }
    snprintf(d->actor, sizeof(d->actor), "%s", r->auth.actor);
    commit_submit(r, &del_spec, d);
}

/* ---- the seed from config role_catalog ---- */

/* The default catalog of migrations/0002_default_roles.sql, word for word: a
 * role still exactly as that migration made it (this description, an empty
 * recipe) is replaced by the config's entry of the same name, so a config
 * written for an empty catalog keeps working on a fresh server. */
static const char *const default_roles[][2] = {
    {"render-node", "Body: LarkXR standalone render node (Sunshine) that heads stream from"},
    {"hydraguard-air", "Network guard: WireGuard tunnel to the control plane"},
    {"hydraheadflatscreen", "Head: macOS kiosk (flat screen) that streams from a body"},
    {"hydraheadwindows", "Head: Windows kiosk that streams from a body"},
    {"hydraheadipad", "Head: iPad app that streams from a body"},
};

/* caller holds the catalog lock */
static int role_untouched_default(const role_t *role)
{
    for (size_t i = 0; i < sizeof(default_roles) / sizeof(default_roles[0]); i++)
        if (strcmp(role->name, default_roles[i][0]) == 0)
            return strcmp(role->description, default_roles[i][1]) == 0 && json_object_size(role->recipe) == 0;
    return 0;
}

typedef struct {
    const hc_config_t *cfg;
    const char **missing; /* names to insert */
    size_t n;
} seed_t;

static int seed_apply(sqlite3 *db, void *arg)
{
    seed_t *s = arg;
    for (size_t i = 0; i < s->cfg->role_catalog_count; i++) {
        const config_role_t *cr = &s->cfg->role_catalog[i];
        int want = 0;
        for (size_t j = 0; j < s->n; j++)
            want |= strcmp(s->missing[j], cr->name) == 0;
        if (!want)
            continue;
        sqlite3_stmt *st = store_prepare(db, "INSERT INTO roles (name, description, recipe) VALUES (?1, ?2, ?3) "
                                             "ON CONFLICT (name) DO UPDATE SET description = excluded.description, "
                                             "recipe = excluded.recipe");
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, cr->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, cr->description, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, cr->recipe_json, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return -1;
        json_t *detail = json_pack("{s:s}", "description", cr->description);
        rc = store_audit_append(db, "config", "role.seed", cr->name, detail);
        json_decref(detail);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int roles_seed(const hc_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->role_catalog_count == 0)
        return 0;
    seed_t s = {cfg, calloc(cfg->role_catalog_count, sizeof(char *)), 0};
    json_t **recipes = calloc(cfg->role_catalog_count, sizeof(json_t *));
    int rc = -1;
    if (s.missing == NULL || recipes == NULL) {
        snprintf(err, errlen, "out of memory seeding the role catalog");
        goto done;
    }
    for (size_t i = 0; i < cfg->role_catalog_count; i++) {
        const config_role_t *cr = &cfg->role_catalog[i];
        if (!registry_role_name_ok(cr->name)) {
            snprintf(err, errlen,
                     "role_catalog: \"%s\" is not a valid role name (1 to %d characters of a-z, 0-9, '.', '_', '-')",
                     cr->name, ROLE_NAME_MAX);
            goto done;
        }
        if (strlen(cr->description) > ROLE_DESC_MAX) {
            snprintf(err, errlen, "role_catalog: the description of \"%s\" is longer than %d bytes", cr->name,
                     ROLE_DESC_MAX);
            goto done;
        }
        recipes[i] = json_loads(cr->recipe_json, 0, NULL);
        if (!json_is_object(recipes[i])) {
            snprintf(err, errlen, "role_catalog: the recipe of \"%s\" is not a mapping", cr->name);
            goto done;
        }
        lock_take_shared(&registry_catalog_lock);
        const role_t *role = registry_role_find(cr->name);
        int have = role != NULL && !role_untouched_default(role);
        lock_give(&registry_catalog_lock);
        if (!have)
            s.missing[s.n++] = cr->name;
    }
    if (s.n == 0) {
        rc = 0;
        goto done;
    }
    int st = store_submit_wait(seed_apply, &s);
    if (st != 0) {
        snprintf(err, errlen, "cannot store the role_catalog seed in the database (status %d)", st);
        goto done;
    }
    lock_take(&registry_catalog_lock);
    for (size_t i = 0; i < cfg->role_catalog_count; i++) {
        for (size_t j = 0; j < s.n; j++) {
            if (strcmp(s.missing[j], cfg->role_catalog[i].name) == 0 &&
                registry_role_put(cfg->role_catalog[i].name, cfg->role_catalog[i].description, recipes[i]) != 0) {
                lock_give(&registry_catalog_lock);
                snprintf(err, errlen, "out of memory seeding the role catalog");
                goto done;
            }
        }
    }
    lock_give(&registry_catalog_lock);
    log_info("msg=\"seeded the role catalog from config\" roles=%zu", s.n);
    rc = 0;
done:
    for (size_t i = 0; recipes && i < cfg->role_catalog_count; i++)
        json_decref(recipes[i]);
    free(recipes);
    free(s.missing);
    return rc;
}
