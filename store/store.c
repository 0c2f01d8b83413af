/*
 * Opening the database: data dir, file permissions, pragmas, and the small
 * helpers the rest of store/ shares. See store.h for threading.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "migrations.h"
#include "store_internal.h"

#define DB_FILE "hydracluster.db"

static sqlite3 *g_db;
static char g_path[PATH_MAX];
/* Cached so that any thread (metrics, health) may read it while the writer
 * owns the connection; -1 while no database is open. */
static int g_schema_version = -1;

/* mkdir -p: each missing component is created 0700, since the data dir holds
 * token hashes and nobody but the service user has business in it. An
 * existing directory keeps its mode: that is the operator's choice. */
static int mkdir_p(const char *dir, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(buf)) {
        snprintf(err, errlen, "data dir path is empty or too long (%zu bytes): set server.data_dir to a shorter path",
                 len);
        return -1;
    }
    memcpy(buf, dir, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory %s: %s (create the data dir or fix its parent's permissions)",
                     buf, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data dir %s: %s (create it or fix its parent's permissions)", buf,
                 strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(buf, &st) != 0) {
        snprintf(err, errlen, "cannot stat data dir %s: %s", buf, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "data dir %s exists but is not a directory: move it away or set server.data_dir", buf);
        return -1;
    }
    return 0;
}

/* Creates the file 0600 before SQLite sees it, so it is never readable by
 * others, not even between SQLite's creat() and a later chmod; an existing
 * file is tightened to 0600 too. SQLite creates -wal and -shm with the mode
 * of the database file, so they inherit it. */
static int create_private_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open database %s: %s (check the data dir's owner and permissions)", path,
                 strerror(errno));
        return -1;
    }
    if (fchmod(fd, 0600) != 0) {
        snprintf(err, errlen, "cannot chmod 0600 database %s: %s (the service user must own it)", path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "cannot close database %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Runs a one-row pragma and returns its first column as text in out. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        /* a pragma this SQLite does not know returns no row */
        snprintf(out, outlen, "%s", "");
        rc = SQLITE_OK;
    }
    int frc = sqlite3_finalize(st);
    return rc != SQLITE_OK ? rc : frc;
}

/* Sets one pragma and reads it back: SQLite ignores unknown or disabled
 * pragmas silently, and we rely on every one of these. */
static int set_pragma(sqlite3 *db, const char *set_sql, const char *get_sql, const char *want, const char *hint,
                      char *err, size_t errlen)
{
    char got[64];
    int rc = pragma_text(db, set_sql, got, sizeof(got));
    if (rc == SQLITE_OK)
        rc = pragma_text(db, get_sql, got, sizeof(got));
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s on %s failed: %s (is the data dir on a local, writable filesystem?)", set_sql,
                 g_path, sqlite3_errmsg(db));
        return -1;
    }
    if (strcasecmp(got, want) != 0) {
        snprintf(err, errlen,
                 "%s on %s did not take effect (got \"%s\", want \"%s\"): %s", set_sql, g_path, got, want, hint);
        return -1;
    }
    return 0;
}

static void close_db_quietly(sqlite3 *db)
{
    int rc = sqlite3_close(db);
    if (rc != SQLITE_OK)
        log_error("msg=\"sqlite close failed\" code=%d", rc);
}

int store_db_damaged(sqlite3 *db)
{
    int rc = db ? sqlite3_errcode(db) & 0xff : SQLITE_OK;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

int store_quick_check(char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    char first[256] = "";
    int rc = sqlite3_prepare_v2(g_db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        snprintf(first, sizeof(first), "%s", r ? r : "");
        rc = strcmp(first, "ok") == 0 ? SQLITE_OK : SQLITE_CORRUPT;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    } else {
        snprintf(first, sizeof(first), "%s", sqlite3_errmsg(g_db));
    }
    int damaged = (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        return 0;
    if (damaged)
        snprintf(err, errlen, "%s: %s (quick_check: %s); %s", g_path, sqlite3_errstr(SQLITE_CORRUPT), first,
                 STORE_RESTORE_ADVICE);
    else
        snprintf(err, errlen, "cannot check %s: %s", g_path, first);
    return -1;
}

/* store_open's errors on a damaged file say so and what to do */
static void add_damage_advice(sqlite3 *db, char *err, size_t errlen)
{
    size_t n = strlen(err);
    if (store_db_damaged(db) && n < errlen)
        snprintf(err + n, errlen - n, "; %s", STORE_RESTORE_ADVICE);
}

int store_open(const char *data_dir, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc;

    if (g_db != NULL) {
        snprintf(err, errlen, "store already open (%s)", g_path);
        return -1;
    }
    /* One connection is used by main, then handed to the writer thread: that
     * needs SQLite's multi-thread mode at least (NOMUTEX is enough, since
     * only one thread uses it at a time). */
    if (!sqlite3_threadsafe()) {
        snprintf(err, errlen, "this SQLite library was built without thread support; install one built with it");
        return -1;
    }
    if (mkdir_p(data_dir, err, errlen) != 0)
        return -1;
    size_t dlen = strlen(data_dir);
    while (dlen > 1 && data_dir[dlen - 1] == '/')
        dlen--;
    int n = snprintf(g_path, sizeof(g_path), "%.*s/%s", (int)dlen, data_dir, DB_FILE);
    if (n < 0 || (size_t)n >= sizeof(g_path)) {
        snprintf(err, errlen, "database path under %s is too long: set server.data_dir to a shorter path", data_dir);
        g_path[0] = '\0';
        return -1;
    }
    if (create_private_file(g_path, err, errlen) != 0)
        goto fail_path;

    rc = sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", g_path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        if (db)
            close_db_quietly(db);
        goto fail_path;
    }
    /* extended codes tell an operator SQLITE_IOERR_FSYNC rather than IOERR */
    rc = sqlite3_extended_result_codes(db, 1);
    if (rc == SQLITE_OK)
        /* set before the pragmas: switching to WAL needs the file lock */
        rc = sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure database %s: %s", g_path, sqlite3_errmsg(db));
        goto fail_db;
    }
    /* WAL: the writer's commits do not block readers (backup, CLI), and a
     * commit is one fsync of the log. FULL: that fsync happens on every
     * commit, so what we acknowledged survives power loss (NORMAL would only
     * survive a process crash). 2 is how SQLite reports FULL. */
    if (set_pragma(db, "PRAGMA journal_mode=WAL", "PRAGMA journal_mode", "wal",
                   "WAL needs a local filesystem with shared memory (not NFS); move server.data_dir", err,
                   errlen) != 0 ||
        set_pragma(db, "PRAGMA synchronous=FULL", "PRAGMA synchronous", "2", "install a standard SQLite build", err,
                   errlen) != 0 ||
        set_pragma(db, "PRAGMA foreign_keys=ON", "PRAGMA foreign_keys", "1",
                   "this SQLite was built without foreign keys; install a standard build", err, errlen) != 0)
        goto fail_db;

    int64_t version = 0;
    rc = store_read_version(db, &version);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot read the schema version of %s: %s (is it a hydracluster database?)", g_path,
                 sqlite3_errmsg(db));
        goto fail_db;
    }
    g_db = db;
    store_set_schema_version(version > INT_MAX ? INT_MAX : (int)version);
    return 0;

fail_db:
    add_damage_advice(db, err, errlen);
    close_db_quietly(db);
fail_path:
    g_path[0] = '\0';
    return -1;
}

sqlite3 *store_db(void)
{
    return g_db;
}

const char *store_path(void)
{
    return g_path;
}

void store_close(void)
{
    if (g_db == NULL)
        return;
    /* closing under a running writer would pull the connection from under it */
    store_writer_stop();
    store_writer_reset();
    /* sqlite3_close refuses while statements are open; an owner that forgot
     * one is a bug, but the data must still be closed cleanly. */
    sqlite3_stmt *st;
    while ((st = sqlite3_next_stmt(g_db, NULL)) != NULL) {
        char q[256];
        log_warn("msg=\"finalizing a statement its owner left open (a leak in that module)\" sql=%s",
                 log_quote(q, sizeof(q), sqlite3_sql(st)));
        sqlite3_finalize(st);
    }
    int rc = sqlite3_close(g_db);
    if (rc != SQLITE_OK) {
        char m[256];
        log_error("msg=\"closing the database failed; it will be recovered from the WAL at next start\" "
                  "path=%s error=%s",
                  log_quote(m, sizeof(m), g_path), sqlite3_errstr(rc));
    }
    g_db = NULL;
    g_path[0] = '\0';
    store_set_schema_version(-1);
}

sqlite3_stmt *store_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    /* short-lived: every caller finalizes right after use */
    int rc = sqlite3_prepare_v3(db, sql, -1, 0, &st, NULL);
    if (rc != SQLITE_OK) {
        char q[512], m[256];
        log_error("msg=\"sqlite prepare failed (a bug in the statement, or a schema older than the code)\" "
                  "error=%s sql=%s",
                  log_quote(m, sizeof(m), sqlite3_errmsg(db)), log_quote(q, sizeof(q), sql));
        sqlite3_finalize(st); /* NULL-safe; st is NULL on error anyway */
        return NULL;
    }
    return st;
}

int store_schema_version(void)
{
    return __atomic_load_n(&g_schema_version, __ATOMIC_ACQUIRE);
}

int store_schema_latest(void)
{
    return hc_migrations_count ? hc_migrations[hc_migrations_count - 1].version : 0;
}

/* ---- internal helpers (store_internal.h) ---- */

void store_set_schema_version(int version)
{
    __atomic_store_n(&g_schema_version, version, __ATOMIC_RELEASE);
}

int store_exec_logged(sqlite3 *db, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        char m[256], w[128];
        log_error("msg=\"sqlite statement failed\" what=%s sql=%s error=%s code=%d", log_quote(w, sizeof(w), what),
                  sql, log_quote(m, sizeof(m), msg ? msg : sqlite3_errstr(rc)), rc);
    }
    sqlite3_free(msg);
    return rc;
}

/* Runs a one-column, at most one-row query returning an integer; *out keeps
 * its value when there is no row. */
static int query_int64(sqlite3 *db, const char *sql, int64_t *out, int *found)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    *found = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        *found = 1;
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    int frc = sqlite3_finalize(st);
    return rc != SQLITE_OK ? rc : frc;
}

int store_read_version(sqlite3 *db, int64_t *version)
{
    int64_t one = 0;
    int found = 0;
    int rc = query_int64(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", &one,
                         &found);
    if (rc != SQLITE_OK)
        return rc;
    *version = 0;
    if (!found)
        return SQLITE_OK;
    return query_int64(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", version, &found);
}

int store_row_exists(sqlite3 *db, const char *sql, const char *id)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
