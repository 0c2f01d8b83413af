/* GET /api/v1/heads/{id}/screenshot and …/logs through the exec channel,
 * with a fake agent that runs each command it is given with bash, as
 * hydranode does on macOS and Linux: exact bytes, stale / absent / failing /
 * malformed, no agent (504 after the configured wait), the log tail, paths
 * from diagnostics (and hostile ones that must not run anything), Windows
 * heads get PowerShell, iPads have no shell, credentials. */
#include <setjmp.h>
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

/* heads.screenshot_timeout and heads.logs_timeout here; the defaults (20 s
 * and 15 s, the spec's) are checked in tests/unit/test_config.c */
#define WAIT_S 2

static hc_server_t *srv;
static char dir[128];
static char shot_path[256]; /* heads.screenshot_path */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/hc-headproxy-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(shot_path, sizeof(shot_path), "%s/live.jpg", dir);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "heads:\n"
             "  screenshot_path: \"%s\"\n"
             "  screenshot_max_age: 30s\n"
             "  screenshot_timeout: %ds\n"
             "  logs_timeout: %ds\n",
             shot_path, WAIT_S, WAIT_S);
    srv = hc_server_start(NULL, yaml);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the fake agent ---- */

enum { AGENT_BASH = 0, AGENT_FAIL, AGENT_GARBAGE, AGENT_CANNED };

typedef struct {
    int mode;
    const char *canned; /* AGENT_CANNED: stdout */
    char *last_command; /* malloc'ed copy of the last command */
} agent_ctl_t;

/* bash -c command in dir: stdout and stderr (each from its own pipe, read
 * one after the other: the commands write little to stderr) */
static void run_bash(const char *command, int *exit_code, char **out, char **err)
{
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0) {
        *exit_code = 126;
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        if (chdir(dir) != 0)
            _exit(126);
        execlp("bash", "bash", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    int fds[2] = {po[0], pe[0]};
    char **dst[2] = {out, err};
    for (int k = 0; k < 2; k++) {
        size_t len = 0, cap = 65536;
        char *b = malloc(cap);
        ssize_t n;
        while (b != NULL && (n = read(fds[k], b + len, cap - len - 1)) > 0) {
            len += (size_t)n;
            if (len + 1 == cap)
                b = realloc(b, cap *= 2);
        }
        if (b != NULL)
            b[len] = '\0';
        *dst[k] = b;
        close(fds[k]);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void on_command(const char *id, const char *command, long timeout_s, int *exit_code, char **out, char **err,
                       int *skip, void *arg)
{
    (void)id, (void)timeout_s, (void)skip;
    agent_ctl_t *c = arg;
    free(c->last_command);
    c->last_command = strdup(command);
    switch (c->mode) {
    case AGENT_FAIL:
        *exit_code = 3;
        *err = strdup("base64: cannot read the file\n");
        break;
    case AGENT_GARBAGE:
        *out = strdup("Welcome to the kiosk!\n");
        break;
    case AGENT_CANNED:
        *out = strdup(c->canned);
        break;
    default:
        run_bash(command, exit_code, out, err);
    }
}

/* ---- helpers ---- */

static void make_head(const char *name, const char *os, int approve, char *id, char *tok)
{
    hc_enroll_node(srv, name, os, approve, id, tok);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/allowed-experiences", id);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"allowed_experiences\":[]}");
    if (r.status != 200)
        fail_msg("making %s a head: %ld %s", name, r.status, r.body);
    hc_resp_free(&r);
}

/* the kiosk reports diagnostics (PUT /api/v1/heads/{id} with its own token) */
static void report_diag(const char *id, const char *tok, const char *key, const char *value)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/heads/%s", id);
    json_t *b = json_pack("{s:s, s:{s:s}}", "status", "idle", "diagnostics", key, value);
    char *body = json_dumps(b, JSON_COMPACT);
    hc_resp_t r = hc_json(srv, "PUT", path, tok, body);
    if (r.status != 200)
        fail_msg("reporting diagnostics: %ld %s", r.status, r.body);
    hc_resp_free(&r);
    free(body);
    json_decref(b);
}

static hc_resp_t get_proxy(const char *id, const char *what, const char *token)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/heads/%s/%s", id, what);
    return hc_get(srv, path, token);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* SOI, every byte value twice over, EOI */
static size_t jpeg_like(unsigned char *b, unsigned char salt)
{
    size_t n = 0;
    b[n++] = 0xFF, b[n++] = 0xD8, b[n++] = 0xFF, b[n++] = 0xE0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 256; i++)
            b[n++] = (unsigned char)(i ^ (k ? salt : 0));
    b[n++] = 0xFF, b[n++] = 0xD9;
    return n;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- screenshot ---- */

static void test_screenshot_bytes_stale_absent(void **state)
{
    (void)state;
    char id[64], tok[65];
    make_head("kiosk-shot", "darwin", 1, id, tok);
    unsigned char want[600];
    size_t n = jpeg_like(want, 0x5a);
    write_file(shot_path, want, n);
    agent_ctl_t ctl = {0};
    hc_agent_t *agent = hc_agent_start(srv, tok, 20, on_command, &ctl);

    hc_resp_t r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    if (r.status != 200)
        fail_msg("screenshot: %ld %s", r.status, r.body);
    assert_string_equal(hc_resp_header(&r, "content-type"), "image/jpeg");
    assert_string_equal(hc_resp_header(&r, "cache-control"), "no-store");
    assert_int_equal(r.len, n);
    assert_memory_equal(r.body, want, n);
    hc_resp_free(&r);
    /* the command quoted the configured path */
    char quoted[300];
    snprintf(quoted, sizeof(quoted), "f='%s'\n", shot_path);
    assert_non_null(strstr(ctl.last_command, quoted));

    /* the relayed base64 is not kept in the exec record; the submission is audited */
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    json_t *cmds = json_object_get(r.json, "commands");
    assert_int_equal(json_array_size(cmds), 1);
    char ex[64];
    snprintf(ex, sizeof(ex), "%s", json_string_value(json_object_get(json_array_get(cmds, 0), "id")));
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec/%s/result", id, ex);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    const char *so = json_string_value(json_object_get(r.json, "stdout"));
    assert_non_null(so);
    assert_true(strncmp(so, "[hydracluster: ", 15) == 0);
    assert_null(strstr(so, "hydra-screenshot: ok"));
    hc_resp_free(&r);
    /* audited on the head, naming the command and where it came from */
    snprintf(path, sizeof(path), "/api/v1/audit?target=%s", id);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, ex));
    assert_non_null(strstr(r.body, "heads.screenshot"));
    hc_resp_free(&r);

    /* stale: written long ago */
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "touch -t 202001020304.05 '%s'", shot_path);
    assert_int_equal(system(cmd), 0);
    r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 502, "screenshot_stale");
    hc_resp_free(&r);

    /* absent */
    unlink(shot_path);
    r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 502, "screenshot_missing");
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "error")), shot_path));
    hc_resp_free(&r);

    /* the command fails on the head; the head answers nonsense */
    write_file(shot_path, want, n);
    ctl.mode = AGENT_FAIL;
    r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 502, "exec_failed");
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "error")), "cannot read"));
    hc_resp_free(&r);
    ctl.mode = AGENT_GARBAGE;
    r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 502, "bad_output");
    hc_resp_free(&r);
    ctl.mode = AGENT_CANNED;
    ctl.canned = "hydra-screenshot: ok 600\nAAAA\n"; /* announced 600 bytes, sent 3 */
    r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 502, "bad_output");
    hc_resp_free(&r);

    assert_int_equal(hc_agent_stop(agent), 6);
    free(ctl.last_command);
}

/* nobody runs the command: 504 after heads.screenshot_timeout, and the
 * command does not stay queued for a head that comes back later */
static void test_no_agent_times_out(void **state)
{
    (void)state;
    char id[64], tok[65];
    make_head("kiosk-silent", "linux", 1, id, tok);
    unsigned char b[600];
    write_file(shot_path, b, jpeg_like(b, 1));
    const char *what[] = {"screenshot", "logs"};
    for (int i = 0; i < 2; i++) {
        double t0 = hc_now_ms();
        hc_resp_t r = get_proxy(id, what[i], TEST_ADMIN_TOKEN);
        double dt = hc_now_ms() - t0;
        hc_assert_error(&r, 504, "head_timeout");
        assert_non_null(strstr(json_string_value(json_object_get(r.json, "error")), "canceled"));
        hc_resp_free(&r);
        if (dt < WAIT_S * 1000 - 100 || dt > WAIT_S * 1000 + 3000)
            fail_msg("%s answered 504 after %.0f ms, the wait is %d s", what[i], dt, WAIT_S);
    }
    usleep(300 * 1000);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "pending")), 0);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/exec", tok);
    assert_int_equal(r.status, 204);
    hc_resp_free(&r);
}

/* a head reports its own screenshot path; hostile ones are quoted or refused */
static void test_screenshot_path_from_diagnostics(void **state)
{
    (void)state;
    char id[64], tok[65];
    make_head("kiosk-diag", "macos", 1, id, tok);
    agent_ctl_t ctl = {0};
    hc_agent_t *agent = hc_agent_start(srv, tok, 20, on_command, &ctl);
    unsigned char cfg_bytes[600], own[600];
    size_t cfg_n = jpeg_like(cfg_bytes, 7), own_n = jpeg_like(own, 9);
    write_file(shot_path, cfg_bytes, cfg_n);
    char own_path[300];
    snprintf(own_path, sizeof(own_path), "%s/kiosk's own shot.jpg", dir);
    write_file(own_path, own, own_n);

    report_diag(id, tok, "screenshot_path", own_path);
    hc_resp_t r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, own_n);
    assert_memory_equal(r.body, own, own_n);
    hc_resp_free(&r);

    /* shell syntax in the path is a file name, never run */
    const char *hostile[] = {
        "%s/x'; touch %s/PWNED1; echo '",
        "%s/$(touch %s/PWNED2).jpg",
        "%s/`touch %s/PWNED3`.jpg",
        "%s/a\"; touch %s/PWNED4; \".jpg",
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        char p[400];
        snprintf(p, sizeof(p), hostile[i], dir, dir);
        report_diag(id, tok, "screenshot_path", p);
        r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
        hc_assert_error(&r, 502, "screenshot_missing");
        hc_resp_free(&r);
    }
    for (int i = 1; i <= 4; i++) {
        char p[300];
        snprintf(p, sizeof(p), "%s/PWNED%d", dir, i);
        if (exists(p))
            fail_msg("a hostile diagnostics path ran a command: %s exists", p);
    }

    /* a path with a newline (or relative) is refused: the configured one is used */
    char p[400];
    snprintf(p, sizeof(p), "%s/x\ntouch %s/PWNED5", dir, dir);
    report_diag(id, tok, "screenshot_path", p);
    r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, cfg_bytes, cfg_n);
    hc_resp_free(&r);
    snprintf(p, sizeof(p), "%s/PWNED5", dir);
    assert_false(exists(p));
    assert_true(hc_server_log_contains(srv, "a head reported a path that is not used"));
    report_diag(id, tok, "screenshot_path", "shots/live.jpg");
    r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, cfg_bytes, cfg_n);
    hc_resp_free(&r);
    hc_agent_stop(agent);
    free(ctl.last_command);
}

/* ---- logs ---- */

static void test_logs_tail(void **state)
{
    (void)state;
    char id[64], tok[65];
    make_head("kiosk-logs", "linux", 1, id, tok);
    agent_ctl_t ctl = {0};
    hc_agent_t *agent = hc_agent_start(srv, tok, 20, on_command, &ctl);

    /* no log_path diagnostic: the Linux default */
    hc_resp_t r;
    if (!exists("/var/log/hydrahead/agent.log")) {
        r = get_proxy(id, "logs", TEST_ADMIN_TOKEN);
        hc_assert_error(&r, 502, "log_missing");
        assert_non_null(strstr(json_string_value(json_object_get(r.json, "error")), "/var/log/hydrahead/agent.log"));
        hc_resp_free(&r);
    }

    char log[300];
    snprintf(log, sizeof(log), "%s/hydra head's agent.log", dir);
    FILE *f = fopen(log, "w");
    assert_non_null(f);
    for (int i = 1; i <= 500; i++)
        fprintf(f, "2026-11-23T06:31:%02dZ line %d \"quoted\" 'single' $HOME é\n", i % 60, i);
    fclose(f);
    report_diag(id, tok, "log_path", log);
    r = get_proxy(id, "logs", TEST_ADMIN_TOKEN);
    if (r.status != 200)
        fail_msg("logs: %ld %s", r.status, r.body);
    assert_string_equal(json_string_value(json_object_get(r.json, "log_path")), log);
    assert_true(json_is_false(json_object_get(r.json, "truncated")));
    json_t *lines = json_object_get(r.json, "lines");
    assert_int_equal(json_array_size(lines), 200);
    for (int i = 0; i < 200; i++) {
        char want[200];
        snprintf(want, sizeof(want), "2026-11-23T06:31:%02dZ line %d \"quoted\" 'single' $HOME é", (301 + i) % 60,
                 301 + i);
        assert_string_equal(json_string_value(json_array_get(lines, (size_t)i)), want);
    }
    hc_resp_free(&r);

    /* a short log: every line, in order */
    write_file(log, "one\r\ntwo\nthree", 14);
    r = get_proxy(id, "logs", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    lines = json_object_get(r.json, "lines");
    assert_int_equal(json_array_size(lines), 3);
    assert_string_equal(json_string_value(json_array_get(lines, 0)), "one");
    assert_string_equal(json_string_value(json_array_get(lines, 2)), "three");
    hc_resp_free(&r);

    unlink(log);
    r = get_proxy(id, "logs", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 502, "log_missing");
    hc_resp_free(&r);

    /* a log path with shell syntax is read, not run */
    char p[400];
    snprintf(p, sizeof(p), "%s/l'; touch %s/PWNED6; '", dir, dir);
    report_diag(id, tok, "log_path", p);
    r = get_proxy(id, "logs", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 502, "log_missing");
    hc_resp_free(&r);
    snprintf(p, sizeof(p), "%s/PWNED6", dir);
    assert_false(exists(p));

    ctl.mode = AGENT_FAIL;
    r = get_proxy(id, "logs", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 502, "exec_failed");
    hc_resp_free(&r);
    hc_agent_stop(agent);
    free(ctl.last_command);
}

/* ---- other kinds of heads, credentials ---- */

static void test_windows_head_gets_powershell(void **state)
{
    (void)state;
    char id[64], tok[65];
    make_head("kiosk-win", "windows", 1, id, tok);
    report_diag(id, tok, "screenshot_path", "C:\\Users\\kiosk\\shot's.jpg");
    agent_ctl_t ctl = {.mode = AGENT_CANNED, .canned = "hydra-screenshot: ok 4\r\n/9j/2Q==\r\n"};
    hc_agent_t *agent = hc_agent_start(srv, tok, 20, on_command, &ctl);
    hc_resp_t r = get_proxy(id, "screenshot", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 4);
    assert_memory_equal(r.body, "\xff\xd8\xff\xd9", 4);
    hc_resp_free(&r);
    assert_non_null(strstr(ctl.last_command, "$f = 'C:\\Users\\kiosk\\shot''s.jpg';"));
    assert_non_null(strstr(ctl.last_command, "[Convert]::ToBase64String"));
    ctl.canned = "hydra-logs: ok C:\\ProgramData\\hydrahead\\agent.log\r\nfirst\r\nsecond\r\n";
    r = get_proxy(id, "logs", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "log_path")),
                        "C:\\ProgramData\\hydrahead\\agent.log");
    assert_int_equal(json_array_size(json_object_get(r.json, "lines")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "lines"), 1)), "second");
    hc_resp_free(&r);
    assert_non_null(strstr(ctl.last_command, "Join-Path $env:ProgramData 'hydrahead\\agent.log'"));
    assert_non_null(strstr(ctl.last_command, "Get-Content -LiteralPath $f -Tail 200"));
    hc_agent_stop(agent);
    free(ctl.last_command);
}

static void test_ipad_body_unknown_credentials(void **state)
{
    (void)state;
    hc_resp_t r = hc_post_json(srv, "/api/v1/heads", TEST_FLEET_TOKEN,
                               "{\"name\":\"ipad-proxy\",\"district\":\"bxl1\",\"venue\":\"lobby\"}");
    assert_int_equal(r.status, 201);
    char ipad[64], ipad_tok[65];
    snprintf(ipad, sizeof(ipad), "%s", json_string_value(json_object_get(r.json, "head_id")));
    snprintf(ipad_tok, sizeof(ipad_tok), "%s", json_string_value(json_object_get(r.json, "token")));
    hc_resp_free(&r);
    r = get_proxy(ipad, "screenshot", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 409, "no_shell");
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "error")), "no shell"));
    hc_resp_free(&r);
    r = get_proxy(ipad, "logs", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 409, "no_shell");
    hc_resp_free(&r);

    char body[64], body_tok[65];
    hc_enroll_node(srv, "render-proxy", "linux", 1, body, body_tok);
    r = get_proxy(body, "screenshot", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    r = get_proxy(body, "logs", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    r = get_proxy("node-nope", "screenshot", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);

    /* a head not approved takes no commands */
    char pend[64], pend_tok[65];
    make_head("kiosk-pending", "darwin", 0, pend, pend_tok);
    r = get_proxy(pend, "screenshot", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 409, "not_approved");
    hc_resp_free(&r);

    /* admin only: a head's own token, another node's, none */
    char head[64], head_tok[65];
    make_head("kiosk-cred", "darwin", 1, head, head_tok);
    r = get_proxy(head, "screenshot", head_tok);
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = get_proxy(head, "logs", body_tok);
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = get_proxy(ipad, "logs", ipad_tok);
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = get_proxy(head, "screenshot", NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = get_proxy(head, "logs", "not-a-token");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    /* HEAD would run a command for nothing */
    char hp[160];
    snprintf(hp, sizeof(hp), "/api/v1/heads/%s/screenshot", head);
    r = hc_request(srv, "HEAD", hp, TEST_ADMIN_TOKEN, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 405);
    assert_string_equal(hc_resp_header(&r, "allow"), "GET");
    hc_resp_free(&r);
    /* nothing was queued for any of them */
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", head);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(json_object_get(r.json, "commands")), 0);
    hc_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_screenshot_bytes_stale_absent),
        cmocka_unit_test(test_no_agent_times_out),
        cmocka_unit_test(test_screenshot_path_from_diagnostics),
        cmocka_unit_test(test_logs_tail),
        cmocka_unit_test(test_windows_head_gets_powershell),
        cmocka_unit_test(test_ipad_body_unknown_credentials),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
