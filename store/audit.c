#include "audit.h"

#include <stdint.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "store.h"

int store_audit_append(sqlite3 *db, const char *actor, const char *action, const char *target, json_t *detail)
{
    char now[32];
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    sqlite3_stmt *st = store_prepare(db, "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (st == NULL) {
        free(d);
        return -1;
    }
    sqlite3_bind_text(st, 1, clock_rfc3339(clock_now(), now, sizeof(now)), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, target ? target : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, d ? d : "{}", -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(d);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot append to the audit log\" err=\"%s\"", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

json_t *store_audit_read(sqlite3 *db, const char *target, int64_t before, int limit)
{
    /* two statements so that each walks an index backwards (the primary key,
     * or audit_by_target) and stops after limit rows; id order is append order */
    sqlite3_stmt *st = store_prepare(db, target != NULL ? "SELECT id, at, actor, action, target, detail FROM audit "
                                                          "WHERE target = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
                                                        : "SELECT id, at, actor, action, target, detail FROM audit "
                                                          "WHERE id < ?2 ORDER BY id DESC LIMIT ?3");
    json_t *rows = json_array();
    if (st == NULL || rows == NULL) {
        sqlite3_finalize(st);
        json_decref(rows);
        return NULL;
    }
    if (target != NULL)
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, before > 0 ? before : INT64_MAX);
    sqlite3_bind_int(st, 3, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 5);
        json_t *detail = d ? json_loads(d, 0, NULL) : NULL;
        if (detail == NULL)
            detail = json_object();
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0), "at",
                              (const char *)sqlite3_column_text(st, 1), "actor", (const char *)sqlite3_column_text(st, 2),
                              "action", (const char *)sqlite3_column_text(st, 3), "target",
                              (const char *)sqlite3_column_text(st, 4), "detail", detail);
        if (o == NULL || json_array_append_new(rows, o) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot read the audit log\" err=\"%s\"", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        json_decref(rows);
        return NULL;
    }
    sqlite3_finalize(st);
    return rows;
}
