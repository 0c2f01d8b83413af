/* `hydracluster backup` against a running server under a write load (a child
 * process minting admin tokens as fast as it can): the copy opens, passes
 * integrity_check, and holds every write acknowledged before the backup
 * began; restore with deploy/restore.sh (stop, replace, start) serves them
 * again. deploy/backup.sh rotates its copies. deploy/config.example.yaml,
 * with its paths filled in, starts a server. */
#include <errno.h>
#include <fcntl.h>
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

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        fail_msg("popen %s", cmd);
    size_t cap = 1 << 20, len = 0, n;
    char *out = malloc(cap);
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0)
        len += n;
    out[len] = '\0';
    pclose(p);
    return out;
}

static const char *source_root(void)
{
    const char *r = getenv("HC_SOURCE_ROOT");
    if (r == NULL)
        fail_msg("HC_SOURCE_ROOT is not set (run the tests through meson test)");
    return r;
}

/* The load: mints tokens until SIGTERM and appends "<id> <ack ms>" for each
 * 201 to ack_path (one write per line), "FAIL <status>" otherwise. */
static volatile sig_atomic_t load_stop;
static void on_term(int sig)
{
    (void)sig;
    load_stop = 1;
}

static pid_t start_load(hc_server_t *s, const char *ack_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    signal(SIGTERM, on_term);
    int fd = open(ack_path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
    for (unsigned i = 0; !load_stop; i++) {
        char body[64], line[160];
        snprintf(body, sizeof(body), "{\"label\":\"load-%u\"}", i);
        hc_resp_t r = hc_post_json(s, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, body);
        uint64_t t = now_ms();
        int n;
        if (r.status == 201)
            n = snprintf(line, sizeof(line), "%s %llu\n", json_string_value(json_object_get(r.json, "id")),
                         (unsigned long long)t);
        else
            n = snprintf(line, sizeof(line), "FAIL %ld\n", r.status);
        hc_resp_free(&r);
        if (write(fd, line, (size_t)n) != n)
            _exit(3);
    }
    close(fd);
    _exit(0);
}

typedef struct {
    char id[64];
    uint64_t at;
} ack_t;

static size_t read_acks(const char *path, ack_t **out, int *failures)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = 0, cap = 1024;
    ack_t *a = malloc(cap * sizeof(*a));
    char line[200];
    *failures = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "FAIL", 4) == 0) {
            (*failures)++;
            continue;
        }
        if (n == cap)
            a = realloc(a, (cap *= 2) * sizeof(*a));
        unsigned long long t;
        if (sscanf(line, "%63s %llu", a[n].id, &t) == 2) {
            a[n].at = t;
            n++;
        }
    }
    fclose(f);
    *out = a;
    return n;
}

static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static int id_in_db(sqlite3 *db, const char *id)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM admin_tokens WHERE id = ?1", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static void test_backup_under_load_and_restore(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    char ack_path[300], dest[300];
    snprintf(ack_path, sizeof(ack_path), "%s/acks.txt", s->dir);
    snprintf(dest, sizeof(dest), "%s/backup.db", s->dir);
    pid_t load = start_load(s, ack_path);
    for (int i = 0; i < 200 && count_lines(ack_path) < 50; i++)
        usleep(20 * 1000);
    assert_true(count_lines(ack_path) >= 50);

    uint64_t t0 = now_ms();
    char *o = run("%s backup %s --config %s 2>&1; echo rc=$?", getenv("HC_BINARY"), dest, s->config_path);
    uint64_t t1 = now_ms();
    if (strstr(o, "rc=0") == NULL || strstr(o, "integrity ok") == NULL)
        fail_msg("backup failed: %s", o);
    free(o);
    usleep(300 * 1000); /* the load goes on after the backup */
    kill(load, SIGTERM);
    int st;
    waitpid(load, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    ack_t *acks;
    int failures;
    size_t n = read_acks(ack_path, &acks, &failures);
    assert_int_equal(failures, 0); /* the server kept serving writes throughout */
    size_t before = 0, after = 0;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(dest, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (size_t i = 0; i < n; i++) {
        if (acks[i].at < t0) {
            before++;
            if (!id_in_db(db, acks[i].id))
                fail_msg("token %s was acknowledged before the backup began but is not in it", acks[i].id);
        } else if (acks[i].at > t1) {
            after++;
        }
    }
    if (before < 50 || after == 0) /* say what the load saw, should this ever fail */
        fail_msg("%zu acks (%zu lines): %zu before the backup began at %llu, %zu after it ended at %llu; first at %llu",
                 n, count_lines(ack_path), before, (unsigned long long)t0, after, (unsigned long long)t1,
                 n ? (unsigned long long)acks[0].at : 0ULL);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);

    /* an existing DEST is not replaced without --force */
    o = run("%s backup %s --config %s 2>&1; echo rc=$?", getenv("HC_BINARY"), dest, s->config_path);
    assert_non_null(strstr(o, "already exists"));
    assert_non_null(strstr(o, "rc=1"));
    free(o);

    /* restore: stop, replace (the -wal/-shm go aside with the old file), start */
    assert_int_equal(hc_server_stop(s), 0);
    o = run("DATA_DIR=%s/data SERVICE= OWNER= sh %s/deploy/restore.sh %s 2>&1; echo rc=$?", s->dir, source_root(),
            dest);
    if (strstr(o, "rc=0") == NULL)
        fail_msg("restore.sh failed: %s", o);
    free(o);
    char side[400];
    snprintf(side, sizeof(side), "%s/data/hydracluster.db-wal", s->dir);
    assert_int_not_equal(access(side, F_OK), 0);
    hc_server_restart(s);
    hc_resp_t r = hc_get(s, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    json_t *list = json_is_array(r.json) ? r.json : json_object_get(r.json, "tokens");
    assert_true(json_is_array(list));
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < json_array_size(list) && !found; j++)
            found = strcmp(json_string_value(json_object_get(json_array_get(list, j), "id")), acks[i].id) == 0;
        if (acks[i].at < t0 && !found)
            fail_msg("after restore, token %s (acknowledged before the backup) is missing", acks[i].id);
        if (acks[i].at > t1 && found)
            fail_msg("after restore, token %s (written after the backup) is still there: not restored?", acks[i].id);
    }
    hc_resp_free(&r);
    free(acks);
    hc_server_free(s);
}

static void test_backup_sh_rotates(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    for (int i = 0; i < 3; i++) {
        char *o = run("KEEP=2 RUN_AS= HYDRACLUSTER_BIN=%s HYDRACLUSTER_CONFIG=%s sh %s/deploy/backup.sh %s/backups "
                      "2>&1; echo rc=$?",
                      getenv("HC_BINARY"), s->config_path, source_root(), s->dir);
        if (strstr(o, "rc=0") == NULL)
            fail_msg("backup.sh failed: %s", o);
        free(o);
    }
    char *o = run("ls %s/backups | grep -c '^hydracluster-.*Z\\.db$'", s->dir);
    assert_int_equal(atoi(o), 2);
    free(o);
    struct stat st;
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/backups", s->dir);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    hc_server_free(s);
}

/* replaces every occurrence of from by to in *text (realloc'ed) */
static void replace_all(char **text, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    char *out = malloc(strlen(*text) * 2 + 4096);
    size_t o = 0;
    int hit = 0;
    for (const char *p = *text; *p;) {
        if (strncmp(p, from, fl) == 0) {
            memcpy(out + o, to, tl);
            o += tl;
            p += fl;
            hit = 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    if (!hit)
        fail_msg("deploy/config.example.yaml no longer contains \"%s\": update this test", from);
    free(*text);
    *text = out;
}

static void test_example_config_starts(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/deploy/config.example.yaml", source_root());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    size_t len = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    text[len] = '\0';

    /* fill in the paths the example points at: port, data dir, TLS files, token file */
    replace_all(&text, "0.0.0.0:443", "127.0.0.1:@PORT@");
    replace_all(&text, "/var/lib/hydracluster", "@DIR@/data");
    replace_all(&text, "/etc/hydracluster/tls/fullchain.pem", "@DIR@/fullchain.pem");
    replace_all(&text, "/etc/hydracluster/tls/privkey.pem", "@DIR@/privkey.pem");
    replace_all(&text, "/etc/hydracluster/admin_token", "@DIR@/admin_token");

    hc_server_t *s = hc_server_prepare(1);
    char *o = run("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                  "-subj /CN=example -keyout privkey.pem -out fullchain.pem >/dev/null 2>&1 && chmod 600 privkey.pem && "
                  "echo '%s' > admin_token && echo ok",
                  s->dir, TEST_ADMIN_TOKEN);
    assert_non_null(strstr(o, "ok"));
    free(o);
    /* the harness substitutes @PORT@ and @DIR@ */
    f = fopen(s->config_path, "w");
    for (const char *p = text; *p;) {
        if (strncmp(p, "@PORT@", 6) == 0) {
            fprintf(f, "%d", s->port);
            p += 6;
        } else if (strncmp(p, "@DIR@", 5) == 0) {
            fputs(s->dir, f);
            p += 5;
        } else {
            fputc(*p++, f);
        }
    }
    fclose(f);
    free(text);
    hc_server_spawn(s);
    hc_resp_t r = hc_get(s, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_true(hc_server_log_contains(s, "tls=on"));
    assert_false(hc_server_log_contains(s, "level=error"));
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_under_load_and_restore),
        cmocka_unit_test(test_backup_sh_rotates),
        cmocka_unit_test(test_example_config_starts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
