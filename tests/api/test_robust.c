/* Robustness of the durable store:
 *  - a database damaged on disk (pages in the middle overwritten) refuses to
 *    start: exit status 1, SQLite's "database disk image is malformed" and
 *    what to do (restore.sh) in the log, no crash or sanitizer report; also
 *    with the start-up quick_check skipped (HC_TEST_SKIP_QUICK_CHECK), which
 *    reaches the loaders' own error paths (registry_load finalized a
 *    statement twice there);
 *  - kill -9 during concurrent acknowledged writes, ten rounds: after each,
 *    PRAGMA integrity_check is "ok" and every write acknowledged with a 2xx
 *    is there after the restart. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
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

#include "harness.h"

static void db_path(hc_server_t *s, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/data/hydracluster.db", s->dir);
}

/* Runs `serve` on s's config (env_kv "K=V" or NULL added to the
 * environment) and waits for it to exit; returns the wait status. Fails the
 * test if it is still running after 30 s (it started on a damaged file). */
static int serve_until_exit(hc_server_t *s, const char *env_kv)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (env_kv != NULL)
            putenv((char *)env_kv);
        if (chdir(s->dir) != 0)
            _exit(126);
        const char *bin = getenv("HC_BINARY");
        execl(bin, bin, "serve", "--config", s->config_path, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    for (int i = 0; i < 600; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fail_msg("the server kept running on a damaged database; see %s", s->log_path);
    return -1;
}

static void truncate_log(hc_server_t *s)
{
    FILE *f = fopen(s->log_path, "w");
    assert_non_null(f);
    fclose(f);
}

/* ~1 MB of audit rows (written with SQLite while the server is stopped), so
 * that the middle of the file is table pages that loading reads */
static void fill_audit(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db,
                          "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) "
                          "INSERT INTO audit (at, actor, action, target, detail) "
                          "SELECT '2026-01-01T00:00:00Z', 'test', 'test.fill', 'target-' || i, "
                          "json_object('pad', hex(randomblob(150))) FROM c;"
                          "PRAGMA wal_checkpoint(TRUNCATE);",
                          NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("filling the audit table: %s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_close(db);
}

/* overwrites pages [middle, middle + count) with a byte that is no valid
 * b-tree page type */
static void damage_pages(const char *path, int count)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    const off_t page = 4096;
    off_t pages = sb.st_size / page;
    assert_true(pages > 40);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0xA5, sizeof(junk));
    for (int i = 0; i < count; i++)
        assert_int_equal(pwrite(fd, junk, sizeof(junk), (pages / 2 + i) * page), (ssize_t)sizeof(junk));
    fsync(fd);
    close(fd);
}

static void assert_refused_with_advice(hc_server_t *s, int st)
{
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 1)
        fail_msg("want exit status 1 on a damaged database, got wait status %d; see %s", st, s->log_path);
    assert_true(hc_server_log_contains(s, "database disk image is malformed"));
    assert_true(hc_server_log_contains(s, "restore.sh"));
    assert_false(hc_server_log_contains(s, "AddressSanitizer"));
    assert_false(hc_server_log_contains(s, "runtime error"));
}

static void test_corrupt_database_refused(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    char id[64], tok[80];
    hc_enroll_node(s, "n1", "linux", 1, id, tok);
    assert_int_equal(hc_server_stop(s), 0);
    char path[400];
    db_path(s, path, sizeof(path));
    fill_audit(path);
    damage_pages(path, 8);

    truncate_log(s);
    assert_refused_with_advice(s, serve_until_exit(s, NULL));
    assert_true(hc_server_log_contains(s, "quick_check"));

    /* past the quick check: the loader meets the damage itself */
    truncate_log(s);
    assert_refused_with_advice(s, serve_until_exit(s, "HC_TEST_SKIP_QUICK_CHECK=1"));
    assert_true(hc_server_log_contains(s, "cannot load the registry"));
    hc_server_free(s);
}

static void test_not_a_database_refused(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    assert_int_equal(hc_server_stop(s), 0);
    char path[400];
    db_path(s, path, sizeof(path));
    /* the header itself is garbage: SQLite says "file is not a database" */
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    char junk[100];
    memset(junk, 'x', sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
    close(fd);
    truncate_log(s);
    int st = serve_until_exit(s, NULL);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    assert_true(hc_server_log_contains(s, "file is not a database"));
    assert_true(hc_server_log_contains(s, "restore.sh"));
    assert_false(hc_server_log_contains(s, "AddressSanitizer"));
    hc_server_free(s);
}

/* ---- kill -9 under concurrent acknowledged writes ---- */

#define WRITERS 4
#define ROUNDS 10

typedef struct writer {
    hc_server_t *s;
    int id, round;
    volatile int *stop;
    char (*acked)[48]; /* names of roles acknowledged with 2xx */
    size_t nacked, cap;
    size_t other;      /* answers that were neither 2xx nor a broken connection */
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    for (int i = 0; !*w->stop; i++) {
        char path[96], name[48];
        snprintf(name, sizeof(name), "k%d-%d-%d", w->round, w->id, i);
        snprintf(path, sizeof(path), "/api/v1/roles/%s", name);
        hc_resp_t r = hc_json(w->s, "PUT", path, TEST_ADMIN_TOKEN, "{\"description\":\"kill -9 round\"}");
        long status = r.status;
        hc_resp_free(&r);
        if (status == 200 || status == 201) {
            if (w->nacked == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 256;
                w->acked = realloc(w->acked, w->cap * sizeof(*w->acked));
                if (w->acked == NULL)
                    abort();
            }
            memcpy(w->acked[w->nacked++], name, sizeof(name));
        } else if (status == 0) {
            break; /* the server is gone: this write was never acknowledged */
        } else {
            w->other++;
        }
    }
    return NULL;
}

static void integrity_ok(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *res = (const char *)sqlite3_column_text(st, 0);
    if (res == NULL || strcmp(res, "ok") != 0)
        fail_msg("integrity_check after kill -9: %s", res ? res : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_kill9_loses_no_acknowledged_write(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    char path[400];
    db_path(s, path, sizeof(path));
    size_t total_acked = 0;
    unsigned seed = (unsigned)time(NULL);
    for (int round = 0; round < ROUNDS; round++) {
        volatile int stop = 0;
        writer_t w[WRITERS];
        pthread_t th[WRITERS];
        memset(w, 0, sizeof(w));
        for (int i = 0; i < WRITERS; i++) {
            w[i] = (writer_t){.s = s, .id = i, .round = round, .stop = &stop};
            assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
        }
        /* kill at a different point of the write stream each round */
        usleep((150 + rand_r(&seed) % 450) * 1000);
        hc_server_kill9(s);
        stop = 1;
        for (int i = 0; i < WRITERS; i++)
            pthread_join(th[i], NULL);
        integrity_ok(path);
        hc_server_restart(s);

        hc_resp_t r = hc_get(s, "/api/v1/roles", TEST_ADMIN_TOKEN);
        assert_int_equal(r.status, 200);
        assert_true(json_is_array(r.json));
        size_t missing = 0, acked = 0;
        for (int i = 0; i < WRITERS; i++) {
            assert_int_equal(w[i].other, 0);
            for (size_t k = 0; k < w[i].nacked; k++) {
                int found = 0;
                size_t j;
                json_t *role;
                json_array_foreach(r.json, j, role)
                {
                    const char *n = json_string_value(json_object_get(role, "name"));
                    if (n != NULL && strcmp(n, w[i].acked[k]) == 0) {
                        found = 1;
                        break;
                    }
                }
                if (!found) {
                    fprintf(stderr, "round %d: acknowledged role %s is missing after kill -9\n", round,
                            w[i].acked[k]);
                    missing++;
                }
                acked++;
            }
            free(w[i].acked);
        }
        hc_resp_free(&r);
        fprintf(stderr, "round %d: %zu writes acknowledged, %zu missing after kill -9 and restart\n", round, acked,
                missing);
        assert_int_equal(missing, 0);
        total_acked += acked;
    }
    /* the rounds must have exercised something */
    assert_true(total_acked >= ROUNDS);
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corrupt_database_refused),
        cmocka_unit_test(test_not_a_database_refused),
        cmocka_unit_test(test_kill9_loses_no_acknowledged_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
