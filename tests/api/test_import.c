/*
 * nodes.yaml import end to end, with the real binary: `hydracluster import`
 * (dry run, import, re-import, refusal), the imported tokens recognised by
 * the server, the import at first start (once), and the data dir lock that
 * keeps an import away from a running server.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define SAMPLE HC_TEST_DATA_DIR "/nodes.sample.yaml"

static const char *const sample_tokens[][2] = {
    {"node-7f3a9c21", "3b1f0c9e6a8d4e2f9c7b5a3d1e0f2a4c6b8d0e2f4a6c8e0b2d4f6a8c0e2b4d6f"},
    {"node-0b44e1d7", "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"},
    {"node-c5d2a8f0", "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"},
    {"node-91e0f6b3", "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"},
    {"node-5a6b7c8d", "5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"},
    {"node-e2e2e2e2", "e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2"},
};
#define NSAMPLE (sizeof(sample_tokens) / sizeof(sample_tokens[0]))

typedef struct {
    int status; /* exit code, or 128 + signal */
    char out[8192];
    char err[8192];
} cli_result_t;

static void slurp(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs $HC_BINARY with the NULL-terminated arguments; kills it after 20 s
 * (a command that should exit but serves instead fails the test, not hangs it). */
static cli_result_t run_cli(const char *arg, ...)
{
    const char *bin = getenv("HC_BINARY");
    if (bin == NULL)
        fail_msg("HC_BINARY is not set (run the tests through meson test)");
    const char *argv[16] = {bin};
    size_t n = 1;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && n < 15; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char outp[] = "/tmp/hc-cli-out-XXXXXX", errp[] = "/tmp/hc-cli-err-XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    assert_true(ofd >= 0 && efd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(ofd);
    close(efd);
    cli_result_t r = {0};
    int st = 0, waited = 0;
    for (int i = 0; i < 800 && !waited; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            waited = 1;
        else
            usleep(25 * 1000);
    }
    if (!waited) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    slurp(outp, r.out, sizeof(r.out));
    slurp(errp, r.err, sizeof(r.err));
    unlink(outp);
    unlink(errp);
    if (!waited)
        fail_msg("%s %s did not exit within 20 s", bin, arg);
    return r;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static long approve_status(hc_server_t *s, const char *id, const char *token)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/approve", id);
    hc_resp_t r = hc_post_json(s, path, token, NULL);
    long st = r.status;
    hc_resp_free(&r);
    return st;
}

/* every imported token is recognised as its node's: a node credential on an
 * admin endpoint is 403, where an unknown token is 401 */
static void assert_sample_tokens_work(hc_server_t *s)
{
    for (size_t i = 0; i < NSAMPLE; i++)
        if (approve_status(s, sample_tokens[i][0], sample_tokens[i][1]) != 403)
            fail_msg("the imported token of %s is not recognised", sample_tokens[i][0]);
    assert_int_equal(approve_status(s, "node-7f3a9c21", "0000000000000000000000000000000000000000000000000000000000000000"),
                     401);
    /* and the nodes are in the server's registry: an admin can approve the pending one */
    assert_int_equal(approve_status(s, "node-5a6b7c8d", TEST_ADMIN_TOKEN), 200);
    assert_int_equal(approve_status(s, "node-unknown", TEST_ADMIN_TOKEN), 404);
}

static void assert_no_token_in_log(hc_server_t *s)
{
    for (size_t i = 0; i < NSAMPLE; i++)
        assert_false(hc_server_log_contains(s, sample_tokens[i][1]));
}

static void test_cli_import_then_serve(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    assert_int_equal(hc_server_stop(s), 0);

    cli_result_t r = run_cli("import", SAMPLE, "--config", s->config_path, "--dry-run", NULL);
    if (r.status != 0)
        fail_msg("dry run: exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.out, "nodes  6 imported, 0 updated, 0 unchanged, 0 skipped"));
    assert_non_null(strstr(r.out, "dry run: nothing was changed"));

    r = run_cli("import", SAMPLE, "--config", s->config_path, NULL);
    if (r.status != 0)
        fail_msg("import: exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.out, "nodes  6 imported, 0 updated, 0 unchanged, 0 skipped"));
    assert_non_null(strstr(r.out, "heads  2 imported, 0 updated, 0 unchanged, 0 skipped"));
    /* the sample's catalog names the five default roles (migration 0002): its descriptions win */
    assert_non_null(strstr(r.out, "roles  0 imported, 5 updated, 0 unchanged, 0 skipped"));
    assert_null(strstr(r.out, "dry run"));

    r = run_cli("import", SAMPLE, "--config", s->config_path, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "nodes  0 imported, 0 updated, 6 unchanged, 0 skipped"));
    assert_non_null(strstr(r.out, "heads  0 imported, 0 updated, 2 unchanged, 0 skipped"));

    /* a refusal: exit 1, one line naming file:line:column */
    char bad[400];
    snprintf(bad, sizeof(bad), "%s/dup.yaml", s->dir);
    write_text(bad, "nodes:\n  - id: node-a\n  - id: node-a\n");
    r = run_cli("import", bad, "--config", s->config_path, NULL);
    assert_int_equal(r.status, 1);
    char want[512];
    snprintf(want, sizeof(want), "hydracluster import: %s:3:5: duplicate node id \"node-a\" (first at line 2)\n", bad);
    assert_string_equal(r.err, want);
    assert_string_equal(r.out, "");
    /* usage errors */
    assert_int_equal(run_cli("import", "--config", s->config_path, NULL).status, 2);

    hc_server_restart(s);
    assert_sample_tokens_work(s);
    assert_no_token_in_log(s);
    hc_server_free(s);
}

static void test_import_refused_while_serving(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    cli_result_t r = run_cli("import", SAMPLE, "--config", s->config_path, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "stop the server first (or restart it after importing)"));
    assert_non_null(strstr(r.err, "in use by another hydracluster process (pid "));
    /* one line */
    assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
    /* nothing reached the database behind the server's back */
    assert_int_equal(approve_status(s, "node-5a6b7c8d", TEST_ADMIN_TOKEN), 404);
    /* a second server on the same data dir is refused (with the same config
     * its address is taken too, which is checked first) */
    r = run_cli("serve", "--config", s->config_path, NULL);
    assert_int_equal(r.status, 1);
    assert_true(strstr(r.err, "the data dir is in use") != NULL || strstr(r.err, "address already in use") != NULL);
    /* and once the server is stopped the import goes through */
    assert_int_equal(hc_server_stop(s), 0);
    r = run_cli("import", SAMPLE, "--config", s->config_path, NULL);
    if (r.status != 0)
        fail_msg("import after stop: exit %d: %s", r.status, r.err);
    hc_server_restart(s);
    assert_sample_tokens_work(s);
    hc_server_free(s);
}

static void test_first_start_import_once(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    assert_int_equal(hc_server_stop(s), 0);
    char path[400];
    snprintf(path, sizeof(path), "%s/data/nodes.yaml", s->dir);
    copy_file(SAMPLE, path);
    hc_server_restart(s);
    assert_true(hc_server_log_contains(s, "imported nodes.yaml from the data dir (first start)"));
    assert_true(hc_server_log_contains(s, "nodes_imported=6"));
    assert_true(hc_server_log_contains(s, "heads_imported=2"));
    assert_true(hc_server_log_contains(s, "roles_imported=0 roles_updated=5"));
    assert_sample_tokens_work(s);
    assert_int_equal(hc_server_stop(s), 0);

    /* a changed nodes.yaml is not imported again at the next start */
    write_text(path, "nodes:\n  - id: node-later\n    token: later-token-0123456789abcdef\n");
    hc_server_restart(s);
    assert_true(hc_server_log_contains(s, "nodes.yaml in the data dir not imported"));
    assert_int_equal(approve_status(s, "node-later", "later-token-0123456789abcdef"), 401);
    assert_int_equal(approve_status(s, "node-7f3a9c21", sample_tokens[0][1]), 403);
    assert_no_token_in_log(s);
    hc_server_free(s);
}

static void test_first_start_refusal_stops_server(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    assert_int_equal(hc_server_stop(s), 0);
    char path[400];
    snprintf(path, sizeof(path), "%s/data/nodes.yaml", s->dir);
    write_text(path, "nodes:\n  - id: node-a\n    token: 0123456789abcdef01\n    last_seen: soon\n");
    cli_result_t r = run_cli("serve", "--config", s->config_path, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "nodes.yaml in the data dir was refused"));
    assert_non_null(strstr(r.err, "nodes.yaml:4:16:"));
    assert_null(strstr(r.err, "0123456789abcdef01"));
    /* fixed, it starts and imports */
    write_text(path, "nodes:\n  - id: node-a\n    token: 0123456789abcdef01\n");
    hc_server_restart(s);
    assert_int_equal(approve_status(s, "node-a", "0123456789abcdef01"), 403);
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_import_then_serve),
        cmocka_unit_test(test_import_refused_while_serving),
        cmocka_unit_test(test_first_start_import_once),
        cmocka_unit_test(test_first_start_refusal_stops_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
