/*
 * Unit tests of store/: open and pragmas, the migrations runner, the writer
 * with group commit, and durability of acknowledged writes.
 *
 * Each test gets a fresh temporary data dir under /tmp (removed afterwards).
 * While the writer runs, the connection is its own: tests read through
 * store_submit_wait or after store_writer_stop, never behind its back.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrations.h"
#include "store.h"

static char g_tmp[128];
static char g_data[256];

/* ---- fixtures and helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/hc-test-store-XXXXXX");
    if (mkdtemp(g_tmp) == NULL)
        return -1;
    /* two missing levels: store_open must mkdir -p */
    snprintf(g_data, sizeof(g_data), "%s/data/sub", g_tmp);
    store_writer_set_batching(1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close();
    store_writer_set_batching(1);
    return nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void open_store(void)
{
    char err[512] = "";
    if (store_open(g_data, err, sizeof(err)) != 0)
        fail_msg("store_open: %s", err);
}

static int64_t query_int(const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    return v;
}

static void query_text(const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out, outlen, "%s", t ? (const char *)t : "(null)");
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
}

static int table_exists(const char *name)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(), "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    return n;
}

static void exec_ok(const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(store_db(), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
}

static int file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (int)(st.st_mode & 07777);
}

/* apply: creates the tiny test table */
static int apply_create_t(sqlite3 *db, void *arg)
{
    (void)arg;
    return sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)", NULL, NULL, NULL) ==
                   SQLITE_OK
               ? 0
               : -1;
}

static void create_t(void)
{
    assert_int_equal(store_submit_wait(apply_create_t, NULL), 0);
}

static int insert_id(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO t (id, v) VALUES (?1, 'x')", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* An insert op whose apply returns `ret` after inserting (a negative ret must
 * undo the insert). */
typedef struct ins {
    int64_t id;
    int ret;
} ins_t;

static int apply_insert(sqlite3 *db, void *arg)
{
    ins_t *a = arg;
    if (insert_id(db, a->id) != 0)
        return -2;
    return a->ret;
}

static int row_exists(int64_t id)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(), "SELECT count(*) FROM t WHERE id = ?1", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_int64(st, 1, id), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    return n;
}

/* Completion tracking for asynchronous ops: done callbacks run on the writer
 * thread, so they report here under a mutex. */
typedef struct tracker {
    pthread_mutex_t m;
    pthread_cond_t c;
    int count;
    int nonzero; /* done callbacks that got a status other than 0 */
} tracker_t;

static void tracker_init(tracker_t *t)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(pthread_mutex_init(&t->m, NULL), 0);
    assert_int_equal(pthread_cond_init(&t->c, NULL), 0);
}

static void tracker_destroy(tracker_t *t)
{
    pthread_cond_destroy(&t->c);
    pthread_mutex_destroy(&t->m);
}

/* Waits until count reaches n; fails the test after 30 s rather than hang. */
static void tracker_wait(tracker_t *t, int n)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    pthread_mutex_lock(&t->m);
    int rc = 0;
    while (t->count < n && rc == 0)
        rc = pthread_cond_timedwait(&t->c, &t->m, &dl);
    int got = t->count;
    pthread_mutex_unlock(&t->m);
    if (got < n)
        fail_msg("only %d of %d done callbacks arrived", got, n);
}

typedef struct tracked_ins {
    ins_t ins;
    tracker_t *t;
} tracked_ins_t;

static void done_tracked(void *arg, int status)
{
    tracked_ins_t *a = arg;
    tracker_t *t = a->t;
    pthread_mutex_lock(&t->m);
    t->count++;
    if (status != 0)
        t->nonzero++;
    pthread_cond_broadcast(&t->c);
    pthread_mutex_unlock(&t->m);
    free(a);
}

static int submit_tracked(tracker_t *t, int64_t id)
{
    tracked_ins_t *a = malloc(sizeof(*a));
    if (a == NULL)
        return -1;
    a->ins.id = id;
    a->ins.ret = 0;
    a->t = t;
    int rc = store_submit(apply_insert, done_tracked, a);
    if (rc != 0)
        free(a);
    return rc;
}

/* A "blocker" op holds the writer inside its batch until the test opens the
 * gate, so the ops submitted meanwhile are sure to share the next batch.
 * (Blocking in apply is forbidden in the server; here it is the point.) */
static sem_t blocker_entered, blocker_gate;

static int apply_blocker(sqlite3 *db, void *arg)
{
    (void)db;
    (void)arg;
    sem_post(&blocker_entered);
    while (sem_wait(&blocker_gate) != 0 && errno == EINTR)
        ;
    return 0;
}

static void start_blocked_writer(void)
{
    assert_int_equal(sem_init(&blocker_entered, 0, 0), 0);
    assert_int_equal(sem_init(&blocker_gate, 0, 0), 0);
    assert_int_equal(store_writer_start(), 0);
    assert_int_equal(store_submit(apply_blocker, NULL, NULL), 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    assert_int_equal(sem_timedwait(&blocker_entered, &dl), 0);
}

static void release_blocker(void)
{
    assert_int_equal(sem_post(&blocker_gate), 0);
}

static void destroy_blocker(void)
{
    sem_destroy(&blocker_entered);
    sem_destroy(&blocker_gate);
}

/* Records each done status in a slot. */
typedef struct slot {
    ins_t ins;
    int status;
    int called;
} slot_t;

static void done_slot(void *arg, int status)
{
    slot_t *s = arg;
    s->status = status;
    s->called++;
}

static void done_must_not_run(void *arg, int status)
{
    (void)arg;
    (void)status;
    fail_msg("done called for a refused op");
}

/* ---- open ---- */

static void test_open_creates_dir_and_sets_pragmas(void **state)
{
    (void)state;
    struct stat st;
    assert_int_not_equal(stat(g_data, &st), 0);
    open_store();

    assert_int_equal(file_mode(g_data), 0700);
    char want[512];
    snprintf(want, sizeof(want), "%s/hydracluster.db", g_data);
    assert_string_equal(store_path(), want);
    assert_int_equal(file_mode(want), 0600);

    char mode[32];
    query_text("PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(query_int("PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(query_int("PRAGMA foreign_keys"), 1);
    assert_int_equal(query_int("PRAGMA busy_timeout"), 5000);
    assert_int_equal(store_schema_version(), 0);

    /* SQLite gives the WAL the database file's mode */
    create_t();
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", want);
    assert_int_equal(file_mode(wal), 0600);

    /* a second open while open is refused */
    char err[512] = "";
    assert_int_equal(store_open(g_data, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "already open"));
}

static void test_open_tightens_existing_db_mode(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/data", g_tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(g_data, 0755), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/hydracluster.db", g_data);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0644), 0);
    close(fd);

    open_store();
    assert_int_equal(file_mode(path), 0600);
    assert_int_equal(file_mode(g_data), 0755); /* an existing dir is the operator's */
}

static void test_open_errors(void **state)
{
    (void)state;
    char file[256], under[320], err[512] = "";
    snprintf(file, sizeof(file), "%s/file", g_tmp);
    int fd = open(file, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);

    assert_int_equal(store_open(file, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a directory"));
    assert_null(store_db());
    assert_int_equal(store_schema_version(), -1);

    err[0] = '\0';
    snprintf(under, sizeof(under), "%s/sub", file);
    assert_int_equal(store_open(under, err, sizeof(err)), -1);
    assert_true(err[0] != '\0');
    assert_null(store_db());
}

static void test_prepare(void **state)
{
    (void)state;
    open_store();
    assert_null(store_prepare(store_db(), "SELEC nonsense"));
    sqlite3_stmt *st = store_prepare(store_db(), "SELECT 1");
    assert_non_null(st);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    /* left open on purpose: store_close finalizes it (ASan sees no leak) */
}

/* ---- migrations ---- */

static void test_migrate_applies_init_once(void **state)
{
    (void)state;
    open_store();
    char err[512] = "";
    int applied = -1;
    assert_int_equal(store_migrate(&applied, err, sizeof(err)), 0);
    assert_int_equal(applied, (int)hc_migrations_count);
    assert_true(applied >= 3);
    assert_int_equal(store_schema_version(), store_schema_latest());
    /* numbered without gaps (build-aux/embed.py refuses a gap) */
    assert_int_equal(store_schema_latest(), hc_migrations[hc_migrations_count - 1].version);
    assert_int_equal(store_schema_latest(), (int)hc_migrations_count);

    const char *tables[] = {"meta", "roles", "nodes", "heads", "enrollments", "admin_tokens", "exec", "audit",
                            "schema_migrations", "stream_sessions", "stream_session_logs", "node_events"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (!table_exists(tables[i]))
            fail_msg("table %s missing after migrate", tables[i]);

    char name[64], at[64];
    query_text("SELECT name FROM schema_migrations WHERE version = 1", name, sizeof(name));
    assert_string_equal(name, "0001_init.sql");
    query_text("SELECT applied_at FROM schema_migrations WHERE version = 1", at, sizeof(at));
    assert_int_equal(strlen(at), 20); /* 2026-11-23T06:31:27Z */
    assert_int_equal(at[19], 'Z');

    assert_int_equal(store_migrate(&applied, err, sizeof(err)), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(query_int("SELECT count(*) FROM schema_migrations"), (int)hc_migrations_count);

    /* the version survives a reopen */
    store_close();
    open_store();
    assert_int_equal(store_schema_version(), store_schema_latest());
}

/* 0002 seeds the runbooks' roles once, on a database made by 0001 too: a
 * role deleted afterwards stays deleted, a role the database already had
 * keeps its own description, and nodes get flags_acked = 0 */
static void test_migrate_0002_default_roles_once(void **state)
{
    (void)state;
    open_store();
    char err[512] = "";
    int applied = -1;
    assert_int_equal(store_migrate_list(hc_migrations, 1, &applied, err, sizeof(err)), 0);
    assert_int_equal(applied, 1);
    exec_ok("INSERT INTO roles (name, description) VALUES ('render-node', 'our own words');"
            "INSERT INTO nodes (id, name) VALUES ('node-old', 'old')");
    assert_int_equal(store_migrate_list(hc_migrations, 2, &applied, err, sizeof(err)), 0);
    assert_int_equal(applied, 1);
    assert_int_equal(query_int("SELECT count(*) FROM roles WHERE name IN ('render-node', 'hydraguard-air', "
                               "'hydraheadflatscreen', 'hydraheadwindows', 'hydraheadipad') AND description <> ''"),
                     5);
    char desc[128];
    query_text("SELECT description FROM roles WHERE name = 'render-node'", desc, sizeof(desc));
    assert_string_equal(desc, "our own words");
    assert_int_equal(query_int("SELECT flags_acked FROM nodes WHERE id = 'node-old'"), 0);

    exec_ok("DELETE FROM roles WHERE name = 'hydraguard-air'");
    assert_int_equal(store_migrate(&applied, err, sizeof(err)), 0);
    assert_int_equal(query_int("SELECT count(*) FROM roles WHERE name = 'hydraguard-air'"), 0);
    store_close();
    open_store();
    assert_int_equal(store_migrate(&applied, err, sizeof(err)), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(query_int("SELECT count(*) FROM roles WHERE name = 'hydraguard-air'"), 0);
}

/* 0004 on a database made by 0001 with an enrollment in it: the row gets an
 * id, stays spendable, and node_events exists */
static void test_migrate_0004_on_0001_database(void **state)
{
    (void)state;
    open_store();
    char err[512] = "";
    int applied = -1;
    assert_int_equal(store_migrate_list(hc_migrations, 1, &applied, err, sizeof(err)), 0);
    exec_ok("INSERT INTO enrollments (token_hash, name, created_at, expires_at) "
            "VALUES (x'0102', 'old', '2026-01-01T00:00:00Z', '2099-01-01T00:00:00Z')");
    assert_int_equal(store_migrate(&applied, err, sizeof(err)), 0);
    assert_int_equal(applied, (int)hc_migrations_count - 1);
    char id[64];
    query_text("SELECT id FROM enrollments WHERE name = 'old'", id, sizeof(id));
    assert_int_equal(strlen(id), 20); /* enr- and 16 hex digits */
    assert_true(strncmp(id, "enr-", 4) == 0);
    assert_int_equal(query_int("SELECT count(*) FROM enrollments WHERE created_by = ''"), 1);
    assert_true(table_exists("node_events"));
}

static void snapshot(char *out, size_t outlen)
{
    query_text("SELECT group_concat(type || ':' || name || ':' || coalesce(sql, ''), '|') FROM "
               "(SELECT * FROM sqlite_master ORDER BY name)",
               out, outlen);
    size_t len = strlen(out);
    query_text("SELECT group_concat(version || ':' || name || ':' || applied_at, '|') FROM schema_migrations",
               out + len, outlen - len);
}

static void test_migrate_refuses_newer_database(void **state)
{
    (void)state;
    open_store();
    exec_ok("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT "
            "NULL); INSERT INTO schema_migrations VALUES (999, '0999_future.sql', '2030-01-01T00:00:00Z')");
    char before[4096], after[4096];
    snapshot(before, sizeof(before));
    int64_t changes = sqlite3_total_changes64(store_db());

    char err[512] = "";
    int applied = -1;
    assert_int_equal(store_migrate(&applied, err, sizeof(err)), -1);
    assert_int_equal(applied, 0);
    char want[512];
    snprintf(want, sizeof(want),
             "database schema version 999 is newer than this binary supports (%d): upgrade hydracluster or restore a "
             "matching backup",
             store_schema_latest());
    assert_string_equal(err, want);

    snapshot(after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(sqlite3_total_changes64(store_db()), changes);
    assert_false(table_exists("nodes"));
    assert_int_equal(store_schema_version(), 999);
}

static void test_migrate_failure_rolls_back_that_migration(void **state)
{
    (void)state;
    open_store();
    const hc_migration_t bad[] = {
        {1, "0001_a.sql", "CREATE TABLE a (x); INSERT INTO a VALUES (1);"},
        {2, "0002_b.sql", "CREATE TABLE b (x); INSERT INTO b VALUES (2); INSERT INTO nosuch VALUES (1);"},
        {3, "0003_c.sql", "CREATE TABLE c (x);"},
    };
    char err[512] = "";
    int applied = -1;
    assert_int_equal(store_migrate_list(bad, 3, &applied, err, sizeof(err)), -1);
    assert_int_equal(applied, 1);
    assert_non_null(strstr(err, "0002_b.sql"));
    assert_non_null(strstr(err, "no such table: nosuch"));
    assert_true(table_exists("a"));
    assert_false(table_exists("b"));
    assert_false(table_exists("c"));
    assert_int_equal(query_int("SELECT max(version) FROM schema_migrations"), 1);
    assert_int_equal(store_schema_version(), 1);
    assert_int_equal(sqlite3_get_autocommit(store_db()), 1); /* no transaction left open */

    /* fixed: the rest applies */
    const hc_migration_t good[] = {
        bad[0],
        {2, "0002_b.sql", "CREATE TABLE b (x); INSERT INTO b VALUES (2);"},
        bad[2],
    };
    assert_int_equal(store_migrate_list(good, 3, &applied, err, sizeof(err)), 0);
    assert_int_equal(applied, 2);
    assert_true(table_exists("b"));
    assert_true(table_exists("c"));
    assert_int_equal(query_int("SELECT count(*) FROM a"), 1);
    assert_int_equal(store_schema_version(), 3);
}

static void test_migrate_rejects_bad_migrations(void **state)
{
    (void)state;
    open_store();
    char err[512] = "";
    int applied = -1;

    const hc_migration_t unsorted[] = {{2, "0002_x.sql", "SELECT 1;"}, {1, "0001_y.sql", "SELECT 1;"}};
    assert_int_equal(store_migrate_list(unsorted, 2, &applied, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "0001_y.sql"));

    /* a deferred foreign key violation is caught before COMMIT, by name */
    const hc_migration_t fk[] = {{1, "0001_fk.sql",
                                  "CREATE TABLE p (id INTEGER PRIMARY KEY);"
                                  "CREATE TABLE c (pid INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);"
                                  "INSERT INTO c VALUES (7);"}};
    assert_int_equal(store_migrate_list(fk, 1, &applied, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "0001_fk.sql"));
    assert_non_null(strstr(err, "foreign key"));
    assert_false(table_exists("c"));

    /* a migration must not end the runner's transaction */
    const hc_migration_t commit[] = {{1, "0001_commit.sql", "CREATE TABLE z (x); COMMIT;"}};
    assert_int_equal(store_migrate_list(commit, 1, &applied, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "0001_commit.sql"));
    assert_non_null(strstr(err, "ends the transaction itself"));
    assert_int_equal(store_schema_version(), 0);
}

/* ---- writer ---- */

#define GC_THREADS 4
#define GC_PER_THREAD 500

typedef struct submitter {
    tracker_t *t;
    pthread_barrier_t *go;
    int base;
    int failed; /* submits that did not return 0 */
} submitter_t;

static void *submit_thread(void *arg)
{
    submitter_t *s = arg;
    pthread_barrier_wait(s->go);
    for (int i = 0; i < GC_PER_THREAD; i++)
        if (submit_tracked(s->t, s->base + i) != 0)
            s->failed++;
    return NULL;
}

/* Submits GC_THREADS * GC_PER_THREAD inserts concurrently and waits for all
 * their done callbacks; returns the stats delta. */
static void concurrent_inserts(store_stats_t *delta)
{
    store_stats_t s0, s1;
    tracker_t t;
    tracker_init(&t);
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, GC_THREADS), 0);
    store_stats_get(&s0);

    pthread_t th[GC_THREADS];
    submitter_t sub[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        sub[i] = (submitter_t){.t = &t, .go = &go, .base = 1 + i * GC_PER_THREAD, .failed = 0};
        assert_int_equal(pthread_create(&th[i], NULL, submit_thread, &sub[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(sub[i].failed, 0);
    }
    tracker_wait(&t, GC_THREADS * GC_PER_THREAD);
    assert_int_equal(t.nonzero, 0);
    store_stats_get(&s1);
    pthread_barrier_destroy(&go);
    tracker_destroy(&t);

    delta->commits = s1.commits - s0.commits;
    delta->ops = s1.ops - s0.ops;
    delta->failures = s1.failures - s0.failures;
    delta->batch_max = s1.batch_max;
}

static void test_group_commit_concurrent(void **state)
{
    (void)state;
    open_store();
    create_t();
    assert_int_equal(store_writer_start(), 0);

    store_stats_t d;
    concurrent_inserts(&d);
    assert_int_equal(d.ops, GC_THREADS * GC_PER_THREAD);
    assert_int_equal(d.failures, 0);
    /* batching happened: far fewer fsyncs than writes */
    assert_true(d.commits < d.ops);
    assert_true(d.batch_max > 1);
    assert_true(d.batch_max <= 1024);

    store_writer_stop();
    assert_int_equal(query_int("SELECT count(*) FROM t"), GC_THREADS * GC_PER_THREAD);
    assert_int_equal(query_int("SELECT min(id) FROM t"), 1);
    assert_int_equal(query_int("SELECT max(id) FROM t"), GC_THREADS * GC_PER_THREAD);
}

static void test_naive_mode_commits_each_op(void **state)
{
    (void)state;
    open_store();
    create_t();
    store_writer_set_batching(0);
    assert_int_equal(store_writer_start(), 0);

    store_stats_t d;
    concurrent_inserts(&d);
    assert_int_equal(d.ops, GC_THREADS * GC_PER_THREAD);
    assert_int_equal(d.commits, d.ops);

    store_writer_stop();
    assert_int_equal(query_int("SELECT count(*) FROM t"), GC_THREADS * GC_PER_THREAD);
}

static void test_failing_op_rolls_back_alone(void **state)
{
    (void)state;
    open_store();
    create_t();
    start_blocked_writer();

    slot_t s[3] = {{.ins = {1, 0}}, {.ins = {2, -1}}, {.ins = {3, 0}}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_submit(apply_insert, done_slot, &s[i]), 0);
    store_stats_t s0, s1;
    store_stats_get(&s0);
    release_blocker();
    store_writer_stop(); /* drains: all three done callbacks have run */
    store_stats_get(&s1);
    destroy_blocker();

    for (int i = 0; i < 3; i++)
        assert_int_equal(s[i].called, 1);
    assert_int_equal(s[0].status, 0);
    assert_int_equal(s[1].status, -1);
    assert_int_equal(s[2].status, 0);
    /* the blocker's batch, then one batch holding all three */
    assert_int_equal(s1.commits - s0.commits, 2);
    assert_int_equal(s1.ops - s0.ops, 4);
    assert_true(s1.batch_max >= 3);

    assert_int_equal(row_exists(1), 1);
    assert_int_equal(row_exists(2), 0);
    assert_int_equal(row_exists(3), 1);
}

/* p/c with a deferred foreign key: the violation surfaces only at COMMIT,
 * which is how a batch's COMMIT can fail deterministically in a test. */
static int apply_create_fk(sqlite3 *db, void *arg)
{
    (void)arg;
    return sqlite3_exec(db,
                        "CREATE TABLE p (id INTEGER PRIMARY KEY);"
                        "CREATE TABLE c (pid INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);",
                        NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -1;
}

static int apply_orphan(sqlite3 *db, void *arg)
{
    (void)arg;
    return sqlite3_exec(db, "INSERT INTO c VALUES (42)", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static void test_commit_failure_fails_whole_batch(void **state)
{
    (void)state;
    open_store();
    create_t();
    assert_int_equal(store_submit_wait(apply_create_fk, NULL), 0);
    start_blocked_writer();

    slot_t a = {.ins = {1, 0}}, b = {.ins = {0, 0}};
    assert_int_equal(store_submit(apply_insert, done_slot, &a), 0);
    assert_int_equal(store_submit(apply_orphan, done_slot, &b), 0);
    store_stats_t s0, s1;
    store_stats_get(&s0);
    release_blocker();
    store_writer_stop();
    store_stats_get(&s1);
    destroy_blocker();

    assert_int_equal(a.called, 1);
    assert_int_equal(b.called, 1);
    assert_int_equal(a.status, STORE_ECOMMIT);
    assert_int_equal(b.status, STORE_ECOMMIT);
    assert_int_equal(s1.failures - s0.failures, 1);
    assert_int_equal(s1.commits - s0.commits, 1); /* the blocker's */
    assert_int_equal(row_exists(1), 0);
    assert_int_equal(query_int("SELECT count(*) FROM c"), 0);
    assert_int_equal(sqlite3_get_autocommit(store_db()), 1);

    /* the writer can be started again and works */
    assert_int_equal(store_writer_start(), 0);
    ins_t ok = {5, 0};
    assert_int_equal(store_submit_wait(apply_insert, &ok), 0);
    store_writer_stop();
    assert_int_equal(row_exists(5), 1);
}

static int apply_return_7(sqlite3 *db, void *arg)
{
    (void)db;
    (void)arg;
    return 7;
}

static void test_submit_wait_returns_apply_result(void **state)
{
    (void)state;
    open_store();
    create_t();

    /* writer not started: applied on this thread */
    ins_t keep = {1, 7}, drop = {2, -3};
    assert_int_equal(store_submit_wait(apply_insert, &keep), 7);
    assert_int_equal(store_submit_wait(apply_insert, &drop), -3);
    assert_int_equal(row_exists(1), 1);
    assert_int_equal(row_exists(2), 0);

    /* through the writer */
    assert_int_equal(store_writer_start(), 0);
    assert_int_equal(store_submit_wait(apply_return_7, NULL), 7);
    ins_t keep2 = {3, 0}, drop2 = {4, -5}, dup = {3, 0};
    assert_int_equal(store_submit_wait(apply_insert, &keep2), 0);
    assert_int_equal(store_submit_wait(apply_insert, &drop2), -5);
    assert_int_equal(store_submit_wait(apply_insert, &dup), -2); /* constraint: apply reports it */

    /* done may be NULL; FIFO order means the wait below comes after it */
    ins_t fire = {6, 0};
    assert_int_equal(store_submit(apply_insert, NULL, &fire), 0);
    assert_int_equal(store_submit_wait(apply_return_7, NULL), 7);
    store_writer_stop();

    assert_int_equal(row_exists(3), 1);
    assert_int_equal(row_exists(4), 0);
    assert_int_equal(row_exists(6), 1);
}

static void test_submit_refused_when_not_running(void **state)
{
    (void)state;
    open_store();
    create_t();
    ins_t x = {1, 0};

    /* not started yet: nothing can take async ops */
    assert_int_equal(store_submit(apply_insert, done_must_not_run, &x), STORE_ESTOPPED);

    assert_int_equal(store_writer_start(), 0);
    assert_int_equal(store_writer_start(), -1); /* already running */
    store_writer_stop();
    store_writer_stop(); /* idempotent */

    assert_int_equal(store_submit(apply_insert, done_must_not_run, &x), STORE_ESTOPPED);
    assert_int_equal(store_submit_wait(apply_insert, &x), STORE_ESTOPPED);
    assert_int_equal(row_exists(1), 0);

    /* after close and reopen the writer counts as never started again */
    store_close();
    open_store();
    assert_int_equal(store_submit_wait(apply_insert, &x), 0);
    assert_int_equal(row_exists(1), 1);
}

static void test_stop_drains_queue(void **state)
{
    (void)state;
    open_store();
    create_t();
    assert_int_equal(store_writer_start(), 0);
    tracker_t t;
    tracker_init(&t);
    for (int i = 1; i <= 500; i++)
        assert_int_equal(submit_tracked(&t, i), 0);
    store_writer_stop();
    /* every accepted op was applied and told before stop returned */
    assert_int_equal(t.count, 500);
    assert_int_equal(t.nonzero, 0);
    tracker_destroy(&t);
    assert_int_equal(query_int("SELECT count(*) FROM t"), 500);
}

/* ---- durability ---- */

static void test_acknowledged_rows_survive_reopen(void **state)
{
    (void)state;
    open_store();
    create_t();
    assert_int_equal(store_writer_start(), 0);
    tracker_t t;
    tracker_init(&t);
    for (int i = 1; i <= 300; i++)
        assert_int_equal(submit_tracked(&t, i), 0);
    tracker_wait(&t, 300);
    assert_int_equal(t.nonzero, 0);
    tracker_destroy(&t);

    store_close(); /* stops the writer too */
    open_store();
    assert_int_equal(query_int("SELECT count(*) FROM t"), 300);
}

/* Child side of the crash test: acknowledges each committed id on a pipe
 * from its done callback, i.e. exactly when a client would get its 2xx. */
static int ack_fd = -1;

static void done_ack(void *arg, int status)
{
    ins_t *a = arg;
    if (status == 0) {
        int64_t id = a->id;
        if (write(ack_fd, &id, sizeof(id)) != (ssize_t)sizeof(id))
            _exit(3);
    }
    free(a);
}

static void crash_child(void)
{
    char err[512];
    if (store_open(g_data, err, sizeof(err)) != 0 || store_submit_wait(apply_create_t, NULL) != 0 ||
        store_writer_start() != 0)
        _exit(2);
    for (int64_t id = 1; id <= 1000000; id++) {
        ins_t *a = malloc(sizeof(*a));
        if (a == NULL)
            _exit(2);
        a->id = id;
        a->ret = 0;
        if (store_submit(apply_insert, done_ack, a) != 0)
            _exit(2);
        if (id % 64 == 0)
            usleep(200); /* spread writes over many commits */
    }
    pause();
    _exit(0);
}

static void test_acknowledged_rows_survive_kill(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        ack_fd = fds[1];
        crash_child();
    }
    close(fds[1]);

    size_t cap = 1 << 16, n = 0;
    int64_t *acked = malloc(cap * sizeof(*acked));
    assert_non_null(acked);
    int killed = 0;
    for (;;) {
        if (n == cap) {
            cap *= 2;
            acked = realloc(acked, cap * sizeof(*acked));
            assert_non_null(acked);
        }
        ssize_t r = read(fds[0], &acked[n], sizeof(acked[n]));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            break; /* EOF: the child is dead and everything it acked is read */
        assert_int_equal(r, (ssize_t)sizeof(acked[n]));
        n++;
        if (!killed && n >= 2000) {
            /* mid-stream: ops are queued and a commit is likely in flight */
            assert_int_equal(kill(pid, SIGKILL), 0);
            killed = 1;
        }
    }
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!killed)
        fail_msg("child exited (status %d) after only %zu acks", st, n);
    assert_true(WIFSIGNALED(st));

    open_store();
    for (size_t i = 0; i < n; i++)
        if (!row_exists(acked[i]))
            fail_msg("acknowledged id %lld lost after kill -9", (long long)acked[i]);
    /* and nothing beyond what was submitted appears */
    assert_true(query_int("SELECT count(*) FROM t") >= (int64_t)n);
    free(acked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_dir_and_sets_pragmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_tightens_existing_db_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_applies_init_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_0002_default_roles_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_refuses_newer_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_0004_on_0001_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_failure_rolls_back_that_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_rejects_bad_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_naive_mode_commits_each_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_op_rolls_back_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_fails_whole_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_wait_returns_apply_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_refused_when_not_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_drains_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acknowledged_rows_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acknowledged_rows_survive_kill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
