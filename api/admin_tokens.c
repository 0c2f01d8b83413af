/*
 * Admin tokens minted through the API (beside server.admin_token from the
 * config): POST creates one and shows it once, GET lists them (never the
 * token), DELETE revokes one at once. Only keyed hashes are stored.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "clock.h"
#include "commit.h"
#include "jsonio.h"
#include "log.h"
#include "registry.h"
#include "revoke.h"
#include "secret.h"

typedef struct {
    char id[NODE_ID_MAX];
    char token[SECRET_TOKEN_HEX + 1];
    uint8_t hash[SECRET_HASH_LEN];
    char label[NODE_TEXT_MAX];
    char actor[80];
    char created_at[32];
} mint_t;

static int mint_apply(sqlite3 *db, void *arg)
{
    mint_t *m = arg;
    sqlite3_stmt *st =
        store_prepare(db, "INSERT INTO admin_tokens (id, token_hash, label, created_at) VALUES (?1, ?2, ?3, ?4)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, m->hash, SECRET_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->label, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, m->created_at, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    json_t *d = json_pack("{s:s}", "label", m->label);
    rc = store_audit_append(db, m->actor, "admin_token.create", m->id, d);
    json_decref(d);
    return rc;
}

static void mint_publish(void *arg)
{
    mint_t *m = arg;
    lock_take(&registry_nodes_lock);
    if (registry_admin_token_add(m->id, m->hash, m->label, m->created_at) != 0)
        log_error("msg=\"out of memory publishing an admin token; it works after a restart\" id=%s", m->id);
    lock_give(&registry_nodes_lock);
}

static void mint_respond(hc_req_t *r, int status, void *arg)
{
    mint_t *m = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the token could not be stored");
        return;
    }
    json_respond(r, 201, json_pack("{s:s, s:s, s:s, s:s}", "id", m->id, "token", m->token, "label", m->label,
                                   "created_at", m->created_at));
}

static void mint_free(void *arg)
{
    mint_t *m = arg;
    memset(m->token, 0, sizeof(m->token));
    free(m);
}

static const commit_spec_t mint_spec = {mint_apply, mint_publish, mint_respond, mint_free};

void api_admin_tokens_create(hc_req_t *r)
{
    static const char *const allowed[] = {"label", NULL};
    char err[256];
    const char *label = "";
    if (r->body != NULL &&
        (json_check_keys(r->body, allowed, err, sizeof(err)) != 0 ||
         json_get_name(r->body, "label", NODE_TEXT_MAX - 1, &label, err, sizeof(err)) < 0)) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    mint_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    secret_id_new("adm-", m->id, sizeof(m->id));
    secret_token_new(m->token);
    secret_token_hash(m->token, strlen(m->token), m->hash);
    snprintf(m->label, sizeof(m->label), "%s", label);
    snprintf(m->actor, sizeof(m->actor), "%s", r->auth.actor);
    clock_rfc3339(clock_now(), m->created_at, sizeof(m->created_at));
    commit_submit(r, &mint_spec, m);
}

typedef struct {
    api_revoke_t super;
    char now[32];
} revoke_t;

#define REVOKE_ENOENT (-1)

static int revoke_apply(sqlite3 *db, void *arg)
{
    revoke_t *v = arg;
    sqlite3_stmt *st =
        store_prepare(db, "UPDATE admin_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL");
    if (st == NULL)
        return -2;
    sqlite3_bind_text(st, 1, v->super.id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v->now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -2;
    if (sqlite3_changes(db) != 1)
        return REVOKE_ENOENT;
    return store_audit_append(db, v->super.actor, "admin_token.revoke", v->super.id, NULL) == 0 ? 0 : -2;
}

static void revoke_publish(void *arg)
{
    revoke_t *v = arg;
    lock_take(&registry_nodes_lock);
    registry_admin_token_revoke(v->super.id);
    lock_give(&registry_nodes_lock);
}

static void revoke_respond(hc_req_t *r, int status, void *arg)
{
    revoke_t *v = arg;
    if (status == REVOKE_ENOENT)
        json_error(r, 404, "not_found", "no active admin token %s", v->super.id);
    else
        api_revoke_respond(r, status, v->super.id, "the token could not be revoked");
}

static const commit_spec_t revoke_spec = {revoke_apply, revoke_publish, revoke_respond, free};

void api_admin_tokens_revoke(hc_req_t *r)
{
    revoke_t *v = api_revoke_arg_new(r, sizeof(*v), "admin token");
    if (v == NULL)
        return;
    clock_rfc3339(clock_now(), v->now, sizeof(v->now));
    commit_submit(r, &revoke_spec, v);
}

void api_admin_tokens_list(hc_req_t *r)
{
    json_t *a = json_array();
    lock_take_shared(&registry_nodes_lock);
    registry_admin_token_list(a);
    lock_give(&registry_nodes_lock);
    json_respond(r, 200, a);
}
