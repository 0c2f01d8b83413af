/*
 * The migrations runner: applies each embedded migration newer than the
 * database, in order, each in its own BEGIN IMMEDIATE transaction together
 * with its schema_migrations row, so a migration is either fully applied and
 * recorded or not at all. Main thread, before the writer starts.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "migrations.h"
#include "store.h"
#include "store_internal.h"

static const char SCHEMA_MIGRATIONS_DDL[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                            "version INTEGER PRIMARY KEY, "
                                            "name TEXT NOT NULL, "
                                            "applied_at TEXT NOT NULL)";

/* Ends a failed transaction. Some errors (SQLITE_FULL, IOERR, NOMEM) already
 * rolled it back, and ROLLBACK outside a transaction is itself an error. */
static void rollback_if_open(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        store_exec_logged(db, "ROLLBACK", "migration rollback");
}

/* sqlite3_exec, with SQLite's message into err on failure. */
static int exec_err(sqlite3 *db, const char *sql, const char *ctx, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "%s: %s", ctx, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return rc;
}

static int record_migration(sqlite3 *db, const hc_migration_t *m)
{
    char now[32];
    clock_rfc3339(clock_now(), now, sizeof(now));
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 1, m->version);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    int frc = sqlite3_finalize(st);
    return rc != SQLITE_OK ? rc : frc;
}

/* A migration that rebuilds a table can leave rows pointing nowhere without
 * any statement failing (SQLite's documented procedure for schema changes
 * ends with this check). Returns SQLITE_OK and *bad = table name, or NULL. */
static int foreign_key_check(sqlite3 *db, char *bad, size_t badlen)
{
    sqlite3_stmt *st = NULL;
    bad[0] = '\0';
    int rc = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(bad, badlen, "%s", t ? (const char *)t : "?");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    int frc = sqlite3_finalize(st);
    return rc != SQLITE_OK ? rc : frc;
}

/* Applies one migration in its own transaction. Returns 1 applied, 0 skipped
 * (the database already has it), -1 failed (err set, nothing of it kept). */
static int apply_one(sqlite3 *db, const hc_migration_t *m, char *err, size_t errlen)
{
    char ctx[160];
    snprintf(ctx, sizeof(ctx), "migration %s", m->name);
    /* IMMEDIATE takes the write lock now: a deferred transaction that
     * upgrades later fails with SQLITE_BUSY at once, ignoring busy_timeout. */
    if (exec_err(db, "BEGIN IMMEDIATE", ctx, err, errlen) != SQLITE_OK)
        return -1;
    /* Re-read inside the transaction: another process (a second instance, the
     * CLI) may have migrated since we looked. */
    int64_t cur = 0;
    int rc = store_read_version(db, &cur);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "migration %s: cannot read schema_migrations: %s", m->name, sqlite3_errmsg(db));
        goto fail;
    }
    if (cur >= m->version) {
        rollback_if_open(db);
        return 0;
    }
    char *msg = NULL;
    rc = sqlite3_exec(db, m->sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "migration %s failed: %s", m->name, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        goto fail;
    }
    sqlite3_free(msg);
    if (sqlite3_get_autocommit(db)) {
        /* it ran COMMIT or ROLLBACK itself: its changes escaped our control */
        snprintf(err, errlen,
                 "migration %s ends the transaction itself (BEGIN/COMMIT/ROLLBACK inside the file): the runner wraps "
                 "each migration in a transaction, remove them; check the schema and restore a backup if needed",
                 m->name);
        return -1;
    }
    char bad[128];
    rc = foreign_key_check(db, bad, sizeof(bad));
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "migration %s: foreign key check failed: %s", m->name, sqlite3_errmsg(db));
        goto fail;
    }
    if (bad[0]) {
        snprintf(err, errlen, "migration %s leaves rows in table %s violating a foreign key; fix the migration",
                 m->name, bad);
        goto fail;
    }
    rc = record_migration(db, m);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "migration %s: cannot record it in schema_migrations: %s", m->name, sqlite3_errmsg(db));
        goto fail;
    }
    if (exec_err(db, "COMMIT", ctx, err, errlen) != SQLITE_OK)
        goto fail;
    return 1;

fail:
    rollback_if_open(db);
    return -1;
}

int store_migrate_list(const hc_migration_t *list, size_t n, int *applied, char *err, size_t errlen)
{
    sqlite3 *db = store_db();
    int count = 0;
    if (applied)
        *applied = 0;
    if (db == NULL) {
        snprintf(err, errlen, "store_migrate: the store is not open");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].version <= 0 || (i > 0 && list[i].version <= list[i - 1].version)) {
            snprintf(err, errlen, "embedded migrations are not sorted by increasing version at %s (a build bug)",
                     list[i].name);
            return -1;
        }
    }
    int latest = n ? list[n - 1].version : 0;

    /* Check the version before creating anything, so a database from a newer
     * binary is left exactly as it was. */
    if (exec_err(db, "BEGIN IMMEDIATE", "migrations", err, errlen) != SQLITE_OK)
        return -1;
    int64_t version = 0;
    int rc = store_read_version(db, &version);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot read schema_migrations of %s: %s (is it a hydracluster database?)", store_path(),
                 sqlite3_errmsg(db));
        rollback_if_open(db);
        return -1;
    }
    if (version > latest) {
        store_set_schema_version(version > INT_MAX ? INT_MAX : (int)version);
        snprintf(err, errlen,
                 "database schema version %" PRId64 " is newer than this binary supports (%d): upgrade hydracluster "
                 "or restore a matching backup",
                 version, latest);
        rollback_if_open(db);
        return -1;
    }
    if (exec_err(db, SCHEMA_MIGRATIONS_DDL, "creating schema_migrations", err, errlen) != SQLITE_OK ||
        exec_err(db, "COMMIT", "creating schema_migrations", err, errlen) != SQLITE_OK) {
        rollback_if_open(db);
        return -1;
    }

    int result = 0;
    for (size_t i = 0; i < n && result == 0; i++) {
        if (list[i].version <= version)
            continue;
        int r = apply_one(db, &list[i], err, errlen);
        if (r < 0) {
            result = -1;
        } else if (r > 0) {
            count++;
            log_info("msg=\"migration applied\" version=%d name=%s", list[i].version, list[i].name);
        }
    }
    if (applied)
        *applied = count;
    /* what the database now says, whatever happened above */
    int64_t now_at = 0;
    rc = store_read_version(db, &now_at);
    if (rc != SQLITE_OK) {
        if (result == 0)
            snprintf(err, errlen, "cannot read schema_migrations of %s after migrating: %s", store_path(),
                     sqlite3_errmsg(db));
        return -1;
    }
    store_set_schema_version(now_at > INT_MAX ? INT_MAX : (int)now_at);
    if (result != 0) {
        size_t len = strlen(err);
        if (len < errlen)
            snprintf(err + len, errlen - len,
                     " (nothing of that migration was kept; the database is at schema version %" PRId64
                     ": fix the cause and restart, or restore a backup)",
                     now_at);
    }
    return result;
}

int store_migrate(int *applied, char *err, size_t errlen)
{
    return store_migrate_list(hc_migrations, hc_migrations_count, applied, err, errlen);
}
