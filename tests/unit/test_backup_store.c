/*
 * store/backup.c and the writer's WAL checkpoint, without a server:
 *  - a checkpoint truncates the -wal file; one that a reader's old snapshot
 *    blocks reports busy (counted in metrics) and does not block the writer;
 *  - store_backup copies what was committed when it began, while the writer
 *    keeps committing, into a single verified file; refuses an existing
 *    DEST unless forced, the live file itself, and a data dir with no
 *    database (without creating one).
 */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "registry.h"
#include "store.h"

static char g_tmp[128], g_data[256], g_wal[300];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int create_table(sqlite3 *db, void *arg)
{
    (void)arg;
    return sqlite3_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int insert_row(sqlite3 *db, void *arg)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO t (id, v) VALUES (?1, hex(randomblob(200)))", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (int64_t)(intptr_t)arg);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/hc-test-backup-XXXXXX");
    if (mkdtemp(g_tmp) == NULL)
        return -1;
    snprintf(g_data, sizeof(g_data), "%s/data", g_tmp);
    snprintf(g_wal, sizeof(g_wal), "%s/hydracluster.db-wal", g_data);
    char err[512];
    if (store_open(g_data, err, sizeof(err)) != 0)
        return -1;
    if (store_submit_wait(create_table, NULL) != 0)
        return -1;
    return store_writer_start();
}

static int teardown(void **state)
{
    (void)state;
    store_close();
    return nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static uint64_t checkpoints_seen(int busy)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    metrics_render(f);
    fclose(f);
    /* the sample line, not the # HELP line that names it too */
    const char *name = busy ? "\nhydracluster_store_wal_checkpoints_busy_total "
                            : "\nhydracluster_store_wal_checkpoints_total ";
    const char *p = strstr(buf, name);
    uint64_t v = p ? strtoull(p + strlen(name), NULL, 10) : 0;
    free(buf);
    return v;
}

static void wait_checkpoints(uint64_t want)
{
    for (int i = 0; i < 200 && checkpoints_seen(0) < want; i++)
        usleep(10 * 1000);
    assert_true(checkpoints_seen(0) >= want);
}

static void test_checkpoint_truncates_wal(void **state)
{
    (void)state;
    for (intptr_t i = 1; i <= 200; i++)
        assert_int_equal(store_submit_wait(insert_row, (void *)i), 0);
    assert_true(file_size(g_wal) > 0);
    uint64_t before = checkpoints_seen(0);
    store_writer_checkpoint();
    wait_checkpoints(before + 1);
    assert_int_equal(file_size(g_wal), 0);

    /* a reader with an open snapshot: the checkpoint cannot truncate and
     * says so, without making the writer wait */
    char db_path[300];
    snprintf(db_path, sizeof(db_path), "%s/hydracluster.db", g_data);
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open_v2(db_path, &reader, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM t;", NULL, NULL, NULL), SQLITE_OK);
    for (intptr_t i = 201; i <= 260; i++)
        assert_int_equal(store_submit_wait(insert_row, (void *)i), 0);
    uint64_t busy = checkpoints_seen(1);
    before = checkpoints_seen(0);
    store_writer_checkpoint();
    wait_checkpoints(before + 1);
    assert_int_equal(checkpoints_seen(1), busy + 1);
    assert_true(file_size(g_wal) > 0);
    /* the writer is not held up by it */
    assert_int_equal(store_submit_wait(insert_row, (void *)(intptr_t)261), 0);
    sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(reader);
    before = checkpoints_seen(0);
    store_writer_checkpoint();
    wait_checkpoints(before + 1);
    assert_int_equal(file_size(g_wal), 0);
}

static atomic_int load_stop;
static atomic_long load_next;

static void *writer_load(void *arg)
{
    (void)arg;
    while (!atomic_load(&load_stop)) {
        long id = atomic_fetch_add(&load_next, 1);
        if (store_submit_wait(insert_row, (void *)(intptr_t)id) != 0)
            return (void *)1;
    }
    return NULL;
}

static int64_t count_in(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_backup_under_writes(void **state)
{
    (void)state;
    /* enough data for many backup steps (512 pages each) */
    atomic_store(&load_next, 1000);
    for (int i = 0; i < 6000; i++)
        assert_int_equal(store_submit(insert_row, NULL, (void *)(intptr_t)atomic_fetch_add(&load_next, 1)), 0);
    assert_int_equal(store_submit_wait(insert_row, (void *)(intptr_t)atomic_fetch_add(&load_next, 1)), 0);

    atomic_store(&load_stop, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer_load, NULL), 0);
    usleep(50 * 1000);
    /* everything below this id was acknowledged before the backup began */
    long acked_before = atomic_load(&load_next) - 1;
    char dest[300], err[512];
    snprintf(dest, sizeof(dest), "%s/copy.db", g_tmp);
    store_backup_info_t info;
    if (store_backup(g_data, dest, 0, &info, err, sizeof(err)) != 0)
        fail_msg("backup: %s", err);
    long started_after = atomic_load(&load_next);
    usleep(50 * 1000);
    atomic_store(&load_stop, 1);
    void *rc;
    pthread_join(t, &rc);
    assert_null(rc);
    assert_true(atomic_load(&load_next) > started_after); /* the writer kept going */
    assert_true(info.pages > 600); /* several backup steps */
    assert_true(info.bytes == info.pages * 4096);

    /* every row acknowledged before the start is there; the copy is whole */
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE id >= 1000 AND id < %ld", acked_before);
    assert_int_equal(count_in(dest, sql), acked_before - 1000);
    assert_int_equal(count_in(dest, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
    char side[320];
    snprintf(side, sizeof(side), "%s-wal", dest);
    assert_int_equal(file_size(side), -1); /* a single file, rollback journal */
    snprintf(side, sizeof(side), "%s.tmp", dest);
    assert_int_equal(file_size(side), -1);

    /* refusals */
    assert_int_not_equal(store_backup(g_data, dest, 0, &info, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "--force"));
    assert_int_equal(store_backup(g_data, dest, 1, &info, err, sizeof(err)), 0);
    char live[300];
    snprintf(live, sizeof(live), "%s/hydracluster.db", g_data);
    assert_int_not_equal(store_backup(g_data, live, 1, &info, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "live database"));
    char nodb[300];
    snprintf(nodb, sizeof(nodb), "%s/empty", g_tmp);
    mkdir(nodb, 0700);
    snprintf(side, sizeof(side), "%s/other.db", g_tmp);
    assert_int_not_equal(store_backup(nodb, side, 0, &info, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "no database"));
    snprintf(side, sizeof(side), "%s/empty/hydracluster.db", g_tmp);
    assert_int_equal(file_size(side), -1);
}

int main(void)
{
    if (metrics_init() != 0 || registry_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_checkpoint_truncates_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_under_writes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
