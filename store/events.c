#include "events.h"

#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "store.h"

int store_node_event_append(sqlite3 *db, const char *node_id, int64_t at, const char *kind, json_t *detail)
{
    char when[32];
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    sqlite3_stmt *st = store_prepare(db, "INSERT INTO node_events (node_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)");
    if (st == NULL) {
        free(d);
        return -1;
    }
    sqlite3_bind_text(st, 1, node_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, clock_rfc3339(at, when, sizeof(when)), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, d ? d : "{}", -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(d);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot append a node event\" node=%s kind=%s err=\"%s\"", node_id, kind, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

json_t *store_node_events_read(sqlite3 *db, const char *node_id, int64_t before, int limit, const char *since,
                               json_t *kinds)
{
    /* walks node_events_by_node backwards from before and stops after limit
     * matching rows; the optional filters are bound, never spliced in */
    sqlite3_stmt *st = store_prepare(db, "SELECT id, at, kind, detail FROM node_events WHERE node_id = ?1 AND id < ?2 "
                                         "AND (?3 IS NULL OR at >= ?3) "
                                         "AND (?4 IS NULL OR kind IN (SELECT value FROM json_each(?4))) "
                                         "ORDER BY id DESC LIMIT ?5");
    json_t *rows = json_array();
    char *k = kinds ? json_dumps(kinds, JSON_COMPACT) : NULL;
    if (st == NULL || rows == NULL || (kinds != NULL && k == NULL)) {
        sqlite3_finalize(st);
        json_decref(rows);
        free(k);
        return NULL;
    }
    sqlite3_bind_text(st, 1, node_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, before > 0 ? before : INT64_MAX);
    if (since != NULL)
        sqlite3_bind_text(st, 3, since, -1, SQLITE_STATIC);
    if (k != NULL)
        sqlite3_bind_text(st, 4, k, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        json_t *detail = d ? json_loads(d, 0, NULL) : NULL;
        if (detail == NULL)
            detail = json_object();
        json_t *o = json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0), "at",
                              (const char *)sqlite3_column_text(st, 1), "kind",
                              (const char *)sqlite3_column_text(st, 2), "detail", detail);
        if (o == NULL || json_array_append_new(rows, o) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(st);
    free(k);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot read node events\" node=%s err=\"%s\"", node_id, sqlite3_errmsg(db));
        json_decref(rows);
        return NULL;
    }
    return rows;
}

int store_node_events_prune(sqlite3 *db, const char *cutoff)
{
    sqlite3_stmt *st = store_prepare(db, "DELETE FROM node_events WHERE at < ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, cutoff, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot prune node events\" err=\"%s\"", sqlite3_errmsg(db));
        return -1;
    }
    return sqlite3_changes(db);
}

int store_node_events_presence(sqlite3 *db, void (*fn)(const char *node_id, int online, void *arg), void *arg)
{
    /* SQLite takes the bare column (kind) from the row holding max(id) */
    sqlite3_stmt *st = store_prepare(db, "SELECT node_id, kind, max(id) FROM node_events "
                                         "WHERE kind IN ('online', 'offline') GROUP BY node_id");
    if (st == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        fn((const char *)sqlite3_column_text(st, 0), kind != NULL && kind[0] == 'o' && kind[1] == 'n', arg);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot read node presence\" err=\"%s\"", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}
