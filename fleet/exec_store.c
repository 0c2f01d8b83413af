/*
 * The exec queue's persistence: every statement on the exec table. The
 * exec_apply_* functions run on the store writer inside an apply callback
 * (one transaction, made durable before anyone is told); exec_queue_load
 * reads the table into memory at start.
 */
#include "exec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "log.h"
#include "serve.h"
#include "store.h"

/* the store writer's (after exec_queue_load on main): the last seq handed out */
static int64_t writer_seq;

int exec_apply_dispatch(sqlite3 *db, void *arg)
{
    exec_dispatch_t *d = arg;
    int64_t ms = exec_wall_ms();
    char now[32];
    d->started_at = ms / 1000;
    sqlite3_stmt *st =
        store_prepare(db, "UPDATE exec SET status = 'running', started_at = ?2 WHERE id = ?1 AND status = 'queued'");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, clock_rfc3339(d->started_at, now, sizeof(now)), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(db) == 1 ? 0 : EXEC_ENOENT;
}

int exec_apply_submit(sqlite3 *db, exec_rec_t *rec, const char *via)
{
    int64_t seq = writer_seq + 1;
    char submitted[32];
    clock_rfc3339(rec->submitted_at, submitted, sizeof(submitted));
    /* the node must still exist and be approved when the row is written */
    sqlite3_stmt *st = store_prepare(
        db, "INSERT INTO exec (id, seq, node_id, command, timeout_s, status, submitted_at, submitted_by) "
            "SELECT ?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7 WHERE EXISTS "
            "(SELECT 1 FROM nodes WHERE id = ?3 AND approval = 'approved')");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_text(st, 3, rec->node_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rec->command, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, rec->timeout_s);
    sqlite3_bind_text(st, 6, submitted, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, rec->submitted_by, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(db) != 1) {
        int known = store_row_exists(db, "SELECT 1 FROM nodes WHERE id = ?1", rec->node_id);
        return known < 0 ? -1 : known ? EXEC_ENOTAPPROVED : EXEC_ENOENT;
    }
    /* audited on the node, so the node's audit trail shows what ran on it */
    size_t cl = exec_utf8_cut(rec->command, strlen(rec->command), EXEC_AUDIT_COMMAND_MAX);
    json_t *d = json_pack("{s:s, s:I, s:s%}", "exec_id", rec->id, "timeout_s", (json_int_t)rec->timeout_s,
                          "command", rec->command, cl);
    if (d != NULL && via != NULL && via[0] != '\0')
        json_object_set_new(d, "via", json_string(via));
    rc = store_audit_append(db, rec->submitted_by, "exec.submit", rec->node_id, d);
    json_decref(d);
    if (rc != 0)
        return -1;
    writer_seq = seq;
    rec->seq = seq;
    return 0;
}

int exec_apply_report(sqlite3 *db, void *arg)
{
    exec_report_t *rep = arg;
    char at[32];
    sqlite3_stmt *st = store_prepare(db, "UPDATE exec SET status = ?2, finished_at = ?3, exit_code = ?4, stdout = ?5, "
                                         "stderr = ?6, duration_ms = ?7, truncated = ?8 "
                                         "WHERE id = ?1 AND status = 'running'");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, rep->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, exec_status_db(rep->status), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, clock_rfc3339(rep->finished_at, at, sizeof(at)), -1, SQLITE_TRANSIENT);
    if (rep->has_exit_code)
        sqlite3_bind_int64(st, 4, rep->exit_code);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, rep->out ? rep->out : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, rep->err ? rep->err : "", -1, SQLITE_STATIC);
    if (rep->has_duration)
        sqlite3_bind_int64(st, 7, rep->duration_ms);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_int(st, 8, rep->truncated);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(db) == 1 ? 0 : EXEC_EALREADY;
}

int exec_apply_transition(sqlite3 *db, void *arg)
{
    exec_transition_t *t = arg;
    char at[32];
    clock_rfc3339(t->at, at, sizeof(at));
    size_t changed = 0;
    for (size_t i = 0; i < t->n; i++) {
        sqlite3_stmt *st =
            store_prepare(db, "UPDATE exec SET status = ?2, finished_at = ?3 WHERE id = ?1 AND status = ?4");
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, t->items[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, exec_status_db(t->to), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, exec_status_db(t->from), -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return -1;
        t->items[i].changed = sqlite3_changes(db) == 1;
        changed += (size_t)t->items[i].changed;
    }
    if (t->actor[0] == '\0' || t->action == NULL)
        return 0;
    /* audited on the node (like exec.submit); the commands' ids are in the detail */
    if (strcmp(t->action, "exec.purge") == 0) {
        json_t *ids = json_array(), *commands = json_array();
        exec_transition_ids(t, ids);
        for (size_t i = 0; commands != NULL && i < t->n; i++)
            json_array_append_new(commands, json_string(t->items[i].command ? t->items[i].command : ""));
        json_t *d = json_pack("{s:I, s:o, s:o}", "count", (json_int_t)changed, "ids", ids, "commands", commands);
        int rc = d != NULL ? store_audit_append(db, t->actor, t->action, t->target, d) : -1;
        json_decref(d);
        return rc == 0 ? 0 : -1;
    }
    if (t->n == 1 && !t->items[0].changed)
        return EXEC_ENOENT;
    json_t *d = json_pack("{s:s}", "exec_id", t->n ? t->items[0].id : "");
    if (d != NULL && t->n && t->items[0].command != NULL)
        json_object_set_new(d, "command", json_string(t->items[0].command));
    if (d != NULL && t->via[0] != '\0')
        json_object_set_new(d, "via", json_string(t->via));
    int rc = d != NULL ? store_audit_append(db, t->actor, t->action, t->n ? t->items[0].node_id : "", d) : -1;
    json_decref(d);
    return rc == 0 ? 0 : -1;
}

int exec_store_delete_node(sqlite3 *db, const char *node_id)
{
    sqlite3_stmt *st = store_prepare(db, "DELETE FROM exec WHERE node_id = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, node_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- writes without a waiting request ---- */

static int prune_apply(sqlite3 *db, void *arg)
{
    sqlite3_stmt *st =
        store_prepare(db, "DELETE FROM exec WHERE id IN (SELECT id FROM exec WHERE finished_at < ?1 LIMIT ?2)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, (const char *)arg, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, EXEC_PRUNE_BATCH);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void prune_done(void *arg, int status)
{
    (void)status;
    free(arg);
}

int exec_store_prune_submit(int64_t cutoff)
{
    char *at = malloc(32);
    if (at == NULL)
        return -1;
    clock_rfc3339(cutoff, at, 32);
    if (store_submit(prune_apply, prune_done, at) != 0) {
        free(at);
        return -1;
    }
    return 0;
}

typedef struct {
    char id[EXEC_ID_MAX];
    char *text;
} output_replace_t;

static int output_replace_apply(sqlite3 *db, void *arg)
{
    output_replace_t *o = arg;
    sqlite3_stmt *st = store_prepare(db, "UPDATE exec SET stdout = ?2 WHERE id = ?1 AND finished_at IS NOT NULL");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, o->text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void output_replace_done(void *arg, int status)
{
    output_replace_t *o = arg;
    if (status != 0)
        log_warn("msg=\"a relayed command output could not be dropped from the database\" id=%s", o->id);
    free(o->text);
    free(o);
}

int exec_store_output_replace_submit(const char *exec_id, char *text)
{
    output_replace_t *o = calloc(1, sizeof(*o));
    if (o == NULL || strlen(exec_id) >= sizeof(o->id)) {
        free(o);
        return -1;
    }
    snprintf(o->id, sizeof(o->id), "%s", exec_id);
    o->text = text;
    if (store_submit(output_replace_apply, output_replace_done, o) != 0) {
        free(o);
        return -1;
    }
    return 0;
}

/* ---- start-up ---- */

static int64_t time_col(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    int64_t t = 0;
    if (s != NULL && clock_parse_rfc3339((const char *)s, &t) != 0)
        t = 0;
    return t;
}

static char *text_col(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    const unsigned char *s = sqlite3_column_text(st, col);
    return strdup(s ? (const char *)s : "");
}

#define LOAD_COLUMNS                                                                                                   \
    "id, seq, node_id, command, timeout_s, status, submitted_at, submitted_by, started_at, finished_at, exit_code, "   \
    "stdout, stderr, duration_ms, truncated"

/* one row into memory; caller holds exec_lock */
static int load_row(sqlite3_stmt *st)
{
    exec_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return -1;
    exec_rec_t *c = &e->rec;
    snprintf(c->id, sizeof(c->id), "%s", (const char *)sqlite3_column_text(st, 0));
    c->seq = sqlite3_column_int64(st, 1);
    snprintf(c->node_id, sizeof(c->node_id), "%s", (const char *)sqlite3_column_text(st, 2));
    c->command = text_col(st, 3);
    c->timeout_s = sqlite3_column_int64(st, 4);
    exec_status_t status;
    if (exec_status_from_db((const char *)sqlite3_column_text(st, 5), &status) != 0)
        status = EXEC_FAILED;
    c->submitted_at = time_col(st, 6);
    snprintf(c->submitted_by, sizeof(c->submitted_by), "%s", (const char *)sqlite3_column_text(st, 7));
    c->started_at = time_col(st, 8);
    c->finished_at = time_col(st, 9);
    if ((c->has_exit_code = sqlite3_column_type(st, 10) != SQLITE_NULL))
        c->exit_code = sqlite3_column_int64(st, 10);
    c->out = text_col(st, 11);
    c->err = text_col(st, 12);
    if ((c->has_duration = sqlite3_column_type(st, 13) != SQLITE_NULL))
        c->duration_ms = sqlite3_column_int64(st, 13);
    c->truncated = sqlite3_column_int(st, 14);
    exec_node_t *n = c->command ? exec_node_get(c->node_id) : NULL;
    if (n == NULL) {
        exec_rec_clear(c);
        free(e);
        return -1;
    }
    e->node = n;
    exec_entry_index(e);
    if (status == EXEC_QUEUED) {
        c->status = EXEC_QUEUED;
        exec_queue_insert_sorted(n, e);
    } else if (status == EXEC_RUNNING) {
        /* it stays running: the agent may still report; else it times out */
        c->status = EXEC_RUNNING;
        e->started_ms = (c->started_at ? c->started_at : c->submitted_at) * 1000;
        h2o_linklist_insert(&n->running, &e->node_link);
        n->nrunning++;
    } else {
        c->status = EXEC_QUEUED; /* finish_locked starts from a listed state */
        exec_queue_insert_sorted(n, e);
        waiter_t *w = exec_finish_locked(e, status, c->finished_at ? c->finished_at : clock_now());
        (void)w; /* nobody waits at start */
    }
    return 0;
}

int exec_queue_load(sqlite3 *db, char *err, size_t errlen)
{
    const hc_config_t *cfg = serve_config();
    uint64_t retention_ms = cfg ? cfg->exec.result_retention_ms : 168ULL * 3600 * 1000;
    char cutoff[32];
    clock_rfc3339(clock_now() - (int64_t)(retention_ms / 1000), cutoff, sizeof(cutoff));
    static const char *const queries[] = {
        "SELECT " LOAD_COLUMNS " FROM exec WHERE finished_at IS NULL ORDER BY seq",
        "SELECT " LOAD_COLUMNS " FROM exec WHERE finished_at >= ?1 ORDER BY finished_at, seq",
    };
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(seq), 0) FROM exec", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto fail;
    writer_seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    size_t loaded = 0, pending = 0;
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        if (sqlite3_prepare_v2(db, queries[q], -1, &st, NULL) != SQLITE_OK)
            goto fail;
        if (q == 1)
            sqlite3_bind_text(st, 1, cutoff, -1, SQLITE_STATIC);
        int rc;
        lock_take(&exec_lock);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (load_row(st) != 0) {
                lock_give(&exec_lock);
                sqlite3_finalize(st);
                snprintf(err, errlen, "out of memory loading the exec queue");
                return -1;
            }
            loaded++;
            pending += q == 0;
        }
        lock_give(&exec_lock);
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_DONE)
            goto fail;
    }
    if (loaded > 0)
        log_info("msg=\"exec queue loaded\" queued_or_running=%zu results=%zu", pending, loaded - pending);
    return 0;
fail:
    snprintf(err, errlen, "cannot load the exec queue from the database: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
}
