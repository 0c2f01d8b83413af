#include "sessions.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "store.h"

#define SESSION_COLUMNS "id, body_id, body_name, head_id, head_name, district, venue, started_at, ended_at, end_reason"

static const char *col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

static json_t *text_or_null(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? json_string(s) : json_null();
}

/* the API's session object from a row of SESSION_COLUMNS */
static json_t *session_json(sqlite3_stmt *st)
{
    int has_body = sqlite3_column_type(st, 1) != SQLITE_NULL, has_head = sqlite3_column_type(st, 3) != SQLITE_NULL;
    int ended = sqlite3_column_type(st, 8) != SQLITE_NULL;
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:o, s:o}", "id", col(st, 0), "state",
                     ended ? "ended" : "active", "body_id", text_or_null(st, 1), "body_name",
                     has_body ? json_string(col(st, 2)) : json_null(), "head_id", text_or_null(st, 3), "head_name",
                     has_head ? json_string(col(st, 4)) : json_null(), "district", col(st, 5), "venue", col(st, 6),
                     "started_at", col(st, 7), "ended_at", text_or_null(st, 8), "end_reason", text_or_null(st, 9));
}

/* sql prepared with its parameters ?1..?n bound to texts[0..n-1], which
 * outlive the statement; NULL when it cannot be prepared (logged) */
static sqlite3_stmt *prepare_texts(sqlite3 *db, const char *sql, int n, const char *const *texts)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    for (int i = 0; st != NULL && i < n; i++)
        sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    return st;
}

static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot %s\" err=\"%s\"", what, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

int store_session_report(sqlite3 *db, const char *id, int head, const char *node_id, const char *name,
                         const char *district, const char *venue, const char *now, store_session_row_t *out)
{
    memset(out, 0, sizeof(*out));
    /* the insert binds all six, the join the first five */
    const char *const values[] = {id, node_id, name, district, venue, now};
    sqlite3_stmt *st = prepare_texts(
        db, head ? "INSERT INTO stream_sessions (id, head_id, head_name, district, venue, started_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING"
                 : "INSERT INTO stream_sessions (id, body_id, body_name, district, venue, started_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
        6, values);
    if (st == NULL)
        return -1;
    if (step_done(db, st, "start a session") != 0)
        return -1;
    if (sqlite3_changes(db) == 0) {
        /* it exists: join it when active and this side is free; the body's
         * placement wins over the head's */
        st = prepare_texts(db,
                           head ? "UPDATE stream_sessions SET head_id = ?2, head_name = ?3, "
                                  "district = CASE WHEN body_id IS NULL AND district = '' THEN ?4 ELSE district END, "
                                  "venue = CASE WHEN body_id IS NULL AND venue = '' THEN ?5 ELSE venue END "
                                  "WHERE id = ?1 AND ended_at IS NULL AND head_id IS NULL"
                                : "UPDATE stream_sessions SET body_id = ?2, body_name = ?3, district = ?4, venue = ?5 "
                                  "WHERE id = ?1 AND ended_at IS NULL AND body_id IS NULL",
                           5, values);
        if (st == NULL)
            return -1;
        if (step_done(db, st, "join a session") != 0)
            return -1;
    }
    st = prepare_texts(db, "SELECT ended_at IS NULL, body_id, head_id, started_at FROM stream_sessions WHERE id = ?1", 1,
                       values);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->active = sqlite3_column_int(st, 0);
        snprintf(out->body_id, sizeof(out->body_id), "%s", col(st, 1));
        snprintf(out->head_id, sizeof(out->head_id), "%s", col(st, 2));
        snprintf(out->started_at, sizeof(out->started_at), "%s", col(st, 3));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_session_end(sqlite3 *db, const char *id, const char *reason, const char *now)
{
    sqlite3_stmt *st =
        prepare_texts(db, "UPDATE stream_sessions SET ended_at = ?2, end_reason = ?3 WHERE id = ?1 AND ended_at IS NULL",
                      3, (const char *const[]){id, now, reason});
    if (st == NULL)
        return -1;
    return step_done(db, st, "end a session");
}

int store_session_end_node(sqlite3 *db, const char *node_id, const char *reason, const char *now, json_t *ended)
{
    sqlite3_stmt *st = prepare_texts(db,
                                     "UPDATE stream_sessions SET ended_at = ?2, end_reason = ?3 "
                                     "WHERE (body_id = ?1 OR head_id = ?1) AND ended_at IS NULL RETURNING id",
                                     3, (const char *const[]){node_id, now, reason});
    if (st == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(ended, json_string(col(st, 0))) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot end a node's sessions\" err=\"%s\"", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

int store_session_prune(sqlite3 *db, const char *cutoff, int max, int *pruned)
{
    *pruned = 0;
    /* the lines go by ON DELETE CASCADE */
    sqlite3_stmt *st = store_prepare(db, "DELETE FROM stream_sessions WHERE seq IN (SELECT seq FROM stream_sessions "
                                         "WHERE ended_at IS NOT NULL AND ended_at < ?1 LIMIT ?2)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, cutoff, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, max);
    if (step_done(db, st, "prune sessions") != 0)
        return -1;
    *pruned = sqlite3_changes(db);
    return 0;
}

int store_session_load_active(sqlite3 *db, store_session_visit_fn fn, void *arg)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT id, body_id, head_id, started_at FROM stream_sessions WHERE ended_at IS NULL");
    if (st == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(col(st, 0), col(st, 1), col(st, 2), col(st, 3), arg);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

json_t *store_session_list(sqlite3 *db, const char *state, const char *node, const char *before, int limit,
                           int *unknown_before)
{
    *unknown_before = 0;
    int64_t below = INT64_MAX;
    sqlite3_stmt *st;
    if (before != NULL) {
        st = prepare_texts(db, "SELECT seq FROM stream_sessions WHERE id = ?1", 1, &before);
        if (st == NULL)
            return NULL;
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            below = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW) {
            *unknown_before = rc == SQLITE_DONE;
            return NULL;
        }
    }
    /* fixed fragments (the values are bound): each shape walks seq or a node index backwards */
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT " SESSION_COLUMNS " FROM stream_sessions WHERE seq < ?1%s%s ORDER BY seq DESC LIMIT ?3",
             node ? " AND (body_id = ?2 OR head_id = ?2)" : "",
             state == NULL ? "" : strcmp(state, "active") == 0 ? " AND ended_at IS NULL" : " AND ended_at IS NOT NULL");
    st = store_prepare(db, sql);
    json_t *a = json_array();
    if (st == NULL || a == NULL) {
        sqlite3_finalize(st);
        json_decref(a);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, below);
    if (node)
        sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(a, session_json(st)) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot list sessions\" err=\"%s\"", sqlite3_errmsg(db));
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *store_session_get(sqlite3 *db, const char *id, int *found)
{
    *found = 0;
    sqlite3_stmt *st = prepare_texts(db, "SELECT " SESSION_COLUMNS " FROM stream_sessions WHERE id = ?1", 1, &id);
    if (st == NULL)
        return NULL;
    json_t *o = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = 1;
        o = session_json(st);
    }
    sqlite3_finalize(st);
    return o;
}

int store_session_logs_append(sqlite3 *db, const char *id, const char *node_id, json_t *lines, int64_t cap,
                              int64_t *dropped, int64_t *kept)
{
    *dropped = *kept = 0;
    sqlite3_stmt *st = prepare_texts(db, "SELECT body_id, head_id FROM stream_sessions WHERE id = ?1", 1, &id);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    const char *side = NULL;
    if (rc == SQLITE_ROW)
        side = strcmp(col(st, 0), node_id) == 0 ? "body" : strcmp(col(st, 1), node_id) == 0 ? "head" : NULL;
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return STORE_SESSION_ENOENT;
    if (rc != SQLITE_ROW)
        return -1;
    if (side == NULL)
        return STORE_SESSION_EFORBIDDEN;
    const char *const keys[] = {id, side}; /* ?1 and ?2 of each statement below */

    st = prepare_texts(db, "INSERT INTO stream_session_logs (session_id, side, ts_ms, line) VALUES (?1, ?2, ?3, ?4)", 2,
                       keys);
    if (st == NULL)
        return -1;
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        json_t *text = json_object_get(l, "line");
        sqlite3_bind_int64(st, 3, json_integer_value(json_object_get(l, "ts_ms")));
        sqlite3_bind_text(st, 4, json_string_value(text), (int)json_string_length(text), SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            log_error("msg=\"cannot store session log lines\" err=\"%s\"", sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);

    /* past the cap the oldest go, by the agents' times */
    st = prepare_texts(db,
                       "DELETE FROM stream_session_logs WHERE seq IN (SELECT seq FROM stream_session_logs "
                       "WHERE session_id = ?1 AND side = ?2 ORDER BY ts_ms DESC, seq DESC LIMIT -1 OFFSET ?3)",
                       2, keys);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 3, cap);
    if (step_done(db, st, "drop old session log lines") != 0)
        return -1;
    *dropped = sqlite3_changes(db);
    st = prepare_texts(db, "SELECT count(*) FROM stream_session_logs WHERE session_id = ?1 AND side = ?2", 2, keys);
    if (st == NULL)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *kept = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* "2026-11-23T06:31:27.123Z" */
static json_t *ts_json(int64_t ms)
{
    char buf[40], out[48];
    int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    clock_rfc3339(s, buf, sizeof(buf));
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == 'Z')
        buf[n - 1] = '\0';
    snprintf(out, sizeof(out), "%s.%03dZ", buf, (int)(ms - s * 1000));
    return json_string(out);
}

static json_t *side_json(sqlite3 *db, const char *id, const char *side, json_t *node_id, json_t *name, int64_t tail)
{
    /* the last tail lines (all: -1), in time order */
    sqlite3_stmt *st = prepare_texts(db,
                                     "SELECT ts_ms, line FROM (SELECT ts_ms, line, seq FROM stream_session_logs "
                                     "WHERE session_id = ?1 AND side = ?2 ORDER BY ts_ms DESC, seq DESC LIMIT ?3) "
                                     "ORDER BY ts_ms, seq",
                                     2, (const char *const[]){id, side});
    json_t *lines = json_array();
    if (st == NULL || lines == NULL) {
        sqlite3_finalize(st);
        json_decref(lines);
        return NULL;
    }
    sqlite3_bind_int64(st, 3, tail);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(lines, json_pack("{s:o, s:s%}", "ts", ts_json(sqlite3_column_int64(st, 0)), "line",
                                                   col(st, 1), (size_t)sqlite3_column_bytes(st, 1))) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(lines);
        return NULL;
    }
    return json_pack("{s:O, s:O, s:o}", "node_id", node_id, "name", name, "lines", lines);
}

json_t *store_session_logs(sqlite3 *db, const char *id, int64_t tail, int *found)
{
    json_t *s = store_session_get(db, id, found);
    if (s == NULL)
        return NULL;
    json_t *body = side_json(db, id, "body", json_object_get(s, "body_id"), json_object_get(s, "body_name"), tail);
    json_t *head = side_json(db, id, "head", json_object_get(s, "head_id"), json_object_get(s, "head_name"), tail);
    if (body == NULL || head == NULL) {
        json_decref(s);
        json_decref(body);
        json_decref(head);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o}", "session", s, "body", body, "head", head);
}
