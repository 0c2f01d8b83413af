/*
 * Unspent enrollment tokens, for an operator who must find and revoke a
 * leaked install command:
 *   GET    /api/v1/enrollments       unspent, unexpired; never the token
 *   DELETE /api/v1/enrollments/{id}  the token stops working at once
 * (POST /api/v1/enrollments, which mints them, is in api/enroll.c.)
 *
 * Both are store ops (server/commit.h): enrollments live only in SQLite and
 * are checked there when spent, so deleting the row inside a committed
 * transaction is what makes the token fail, and a 200 means it is durable.
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

/* ---- GET /api/v1/enrollments ---- */

typedef struct {
    char now[32];
    json_t *rows; /* set by apply */
} list_t;

static int list_apply(sqlite3 *db, void *arg)
{
    list_t *q = arg;
    sqlite3_stmt *st = store_prepare(db, "SELECT id, name, os, owner, created_at, expires_at, created_by, auto_approve "
                                         "FROM enrollments WHERE used_at IS NULL AND expires_at > ?1 "
                                         "ORDER BY created_at DESC, id");
    if (st == NULL)
        return -1;
    q->rows = json_array();
    sqlite3_bind_text(st, 1, q->now, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
#define COL(i) ((const char *)sqlite3_column_text(st, (i)) ? (const char *)sqlite3_column_text(st, (i)) : "")
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", COL(0), "name", COL(1), "os", COL(2),
                              "owner", COL(3), "created_at", COL(4), "expires_at", COL(5), "created_by", COL(6),
                              "auto_approve", sqlite3_column_int(st, 7));
#undef COL
        if (o == NULL || q->rows == NULL || json_array_append_new(q->rows, o) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot list enrollments\" err=\"%s\"", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static void list_respond(hc_req_t *r, int status, void *arg)
{
    list_t *q = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the enrollments could not be read");
        return;
    }
    json_respond(r, 200, json_incref(q->rows));
}

static void list_free(void *arg)
{
    list_t *q = arg;
    json_decref(q->rows);
    free(q);
}

static const commit_spec_t list_spec = {list_apply, NULL, list_respond, list_free};

void api_enrollments_list(hc_req_t *r)
{
    static const char *const allowed[] = {NULL};
    char err[256];
    if (route_query_check(r, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s (this endpoint takes no parameters)", err);
        return;
    }
    list_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    clock_rfc3339(clock_now(), q->now, sizeof(q->now));
    commit_submit(r, &list_spec, q);
}

/* ---- DELETE /api/v1/enrollments/{id} ---- */

#define REVOKE_ENOENT (-10)
#define REVOKE_ESPENT (-11)

typedef struct {
    api_revoke_t super;
    char node_id[NODE_ID_MAX]; /* set by apply when already spent */
} revoke_t;

static int revoke_apply(sqlite3 *db, void *arg)
{
    revoke_t *v = arg;
    sqlite3_stmt *st = store_prepare(db, "DELETE FROM enrollments WHERE id = ?1 AND used_at IS NULL RETURNING name");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, v->super.id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    json_t *d = rc == SQLITE_ROW ? json_pack("{s:s}", "name", (const char *)sqlite3_column_text(st, 0)) : NULL;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    else if (rc == SQLITE_DONE)
        rc = REVOKE_ENOENT;
    sqlite3_finalize(st);
    if (rc == REVOKE_ENOENT) {
        /* spent already, or never there */
        st = store_prepare(db, "SELECT node_id FROM enrollments WHERE id = ?1");
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, v->super.id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *n = (const char *)sqlite3_column_text(st, 0);
            snprintf(v->node_id, sizeof(v->node_id), "%s", n ? n : "");
            rc = REVOKE_ESPENT;
        }
        sqlite3_finalize(st);
        return rc;
    }
    if (rc != SQLITE_DONE) {
        json_decref(d);
        return -1;
    }
    rc = store_audit_append(db, v->super.actor, "enrollment.revoke", v->super.id, d);
    json_decref(d);
    return rc;
}

static void revoke_respond(hc_req_t *r, int status, void *arg)
{
    revoke_t *v = arg;
    if (status == REVOKE_ENOENT)
        json_error(r, 404, "not_found", "no enrollment %s (GET /api/v1/enrollments lists the unspent ones)", v->super.id);
    else if (status == REVOKE_ESPENT)
        json_error(r, 409, "conflict", "enrollment %s was already spent by node %s: delete or reject that node instead",
                   v->super.id, v->node_id);
    else
        api_revoke_respond(r, status, v->super.id, "the enrollment could not be revoked");
}

static const commit_spec_t revoke_spec = {revoke_apply, NULL, revoke_respond, free};

void api_enrollments_revoke(hc_req_t *r)
{
    revoke_t *v = api_revoke_arg_new(r, sizeof(*v), "enrollment");
    if (v == NULL)
        return;
    commit_submit(r, &revoke_spec, v);
}
