/* `hydracluster exec` against a real server and a fake agent: stdout/stderr
 * and the command's exit code, --json (also piped into a JSON parser, as the
 * monitoring runbook does with jq), --file, --timeout, the env defaults, and
 * the distinct exit codes for unknown node, bad token, pending node, server
 * down, failed command, usage, and --shell with --json. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static hc_server_t *srv;
static char node_id[64], node_tok[65];
static hc_agent_t *agent;

/* what the fake agent saw and how it answers */
static struct {
    pthread_mutex_t m;
    char last_command[70000];
    int exit_code;
    const char *out, *err;
} agent_cfg = {.m = PTHREAD_MUTEX_INITIALIZER};

static void on_command(const char *id, const char *command, long timeout_s, int *exit_code, char **out, char **err,
                       int *skip, void *arg)
{
    (void)id, (void)timeout_s, (void)skip, (void)arg;
    pthread_mutex_lock(&agent_cfg.m);
    snprintf(agent_cfg.last_command, sizeof(agent_cfg.last_command), "%s", command);
    *exit_code = agent_cfg.exit_code;
    *out = strdup(agent_cfg.out ? agent_cfg.out : "");
    *err = strdup(agent_cfg.err ? agent_cfg.err : "");
    pthread_mutex_unlock(&agent_cfg.m);
}

static void agent_answers(int exit_code, const char *out, const char *err)
{
    pthread_mutex_lock(&agent_cfg.m);
    agent_cfg.exit_code = exit_code;
    agent_cfg.out = out;
    agent_cfg.err = err;
    agent_cfg.last_command[0] = '\0';
    pthread_mutex_unlock(&agent_cfg.m);
}

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, NULL);
    hc_enroll_node(srv, "cli-node", "linux", 1, node_id, node_tok);
    agent = hc_agent_start(srv, node_tok, 25, on_command, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_agent_stop(agent);
    hc_server_free(srv);
    return 0;
}

typedef struct {
    int code;
    char *out, *err;
} run_t;

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

/* reads both pipes to the end */
static void drain(int ofd, int efd, char **out, char **err)
{
    size_t ol = 0, el = 0;
    *out = calloc(1, 1);
    *err = calloc(1, 1);
    struct pollfd p[2] = {{.fd = ofd, .events = POLLIN}, {.fd = efd, .events = POLLIN}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(p, 2, 60000) <= 0)
            fail_msg("the CLI produced no output for 60 s");
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            char buf[8192];
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open_fds--;
                continue;
            }
            char **dst = i == 0 ? out : err;
            size_t *len = i == 0 ? &ol : &el;
            *dst = realloc(*dst, *len + (size_t)n + 1);
            memcpy(*dst + *len, buf, (size_t)n);
            *len += (size_t)n;
            (*dst)[*len] = '\0';
        }
    }
}

/* runs HC_BINARY exec with the arguments (NULL-terminated), env overrides as "K=V" in env (may be NULL) */
static run_t cli(const char *const *env, ...)
{
    const char *argv[32];
    int argc = 0;
    argv[argc++] = getenv("HC_BINARY");
    argv[argc++] = "exec";
    va_list ap;
    va_start(ap, env);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    int o[2], e[2];
    assert_int_equal(pipe(o), 0);
    assert_int_equal(pipe(e), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        unsetenv("HYDRACLUSTER_SERVER");
        unsetenv("HYDRACLUSTER_TOKEN");
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    run_t r = {0};
    drain(o[0], e[0], &r.out, &r.err);
    int st;
    waitpid(pid, &st, 0);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

/* lines of the server log containing needle */
static int log_count(const char *needle)
{
    FILE *f = fopen(srv->log_path, "r");
    assert_non_null(f);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

#define SRV_ARGS "--server", srv->url, "--admin-token", TEST_ADMIN_TOKEN

static void test_prints_stdout_and_exits_with_code(void **state)
{
    (void)state;
    agent_answers(0, "Linux render-01\n", "");
    run_t r = cli(NULL, node_id, "uname -a", SRV_ARGS, NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "Linux render-01\n");
    assert_string_equal(r.err, "");
    assert_string_equal(agent_cfg.last_command, "uname -a");
    run_free(&r);

    agent_answers(3, "partial\n", "disk full\n");
    r = cli(NULL, node_id, "backup", SRV_ARGS, "--timeout", "10s", NULL);
    assert_int_equal(r.code, 3);
    assert_string_equal(r.out, "partial\n");
    assert_string_equal(r.err, "disk full\n");
    run_free(&r);

    /* an exit code beyond 0..255 (Windows) keeps failing */
    agent_answers(256, "", "");
    r = cli(NULL, node_id, "x", SRV_ARGS, NULL);
    assert_int_equal(r.code, 1);
    run_free(&r);
}

static void test_json_for_scripts(void **state)
{
    (void)state;
    agent_answers(0, "{\"gpu\":\"ok\"}\n", "");
    run_t r = cli(NULL, node_id, "nvidia-smi", SRV_ARGS, "--json", NULL);
    assert_int_equal(r.code, 0);
    json_t *o = json_loads(r.out, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "done");
    assert_string_equal(json_string_value(json_object_get(o, "stdout")), "{\"gpu\":\"ok\"}\n");
    assert_int_equal(json_integer_value(json_object_get(o, "exit_code")), 0);
    assert_true(strncmp(json_string_value(json_object_get(o, "id")), "exec-", 5) == 0);
    json_decref(o);
    run_free(&r);

    /* the runbook's pipe: hydracluster exec … --json | jq -r .stdout (python stands in when jq is absent) */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "'%s' exec '%s' 'echo ok' --server %s --admin-token %s --timeout 10s --json | "
             "(command -v jq >/dev/null && jq -r .stdout || python3 -c 'import json,sys; "
             "sys.stdout.write(json.load(sys.stdin)[\"stdout\"]+\"\\n\")')",
             getenv("HC_BINARY"), node_id, srv->url, TEST_ADMIN_TOKEN);
    agent_answers(0, "ok", "");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[256] = "";
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    assert_string_equal(line, "ok\n");
}

static void test_file_sends_contents_verbatim(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof(path), "%s/script.ps1", srv->dir);
    const char *script = "$x = \"it's \\\"quoted\\\"\"\nWrite-Output $x; exit 0\n";
    FILE *f = fopen(path, "w");
    fputs(script, f);
    fclose(f);
    agent_answers(0, "done\n", "");
    run_t r = cli(NULL, node_id, "--file", path, SRV_ARGS, NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(agent_cfg.last_command, script);
    run_free(&r);
    /* a command and --file together is a usage error */
    r = cli(NULL, node_id, "ls", "--file", path, SRV_ARGS, NULL);
    assert_int_equal(r.code, 2);
    run_free(&r);
    r = cli(NULL, node_id, "--file", "/nonexistent/file", SRV_ARGS, NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "/nonexistent/file"));
    run_free(&r);
}

static void test_env_defaults(void **state)
{
    (void)state;
    char s[128], t[128];
    snprintf(s, sizeof(s), "HYDRACLUSTER_SERVER=%s", srv->url);
    snprintf(t, sizeof(t), "HYDRACLUSTER_TOKEN=%s", TEST_ADMIN_TOKEN);
    const char *env[] = {s, t, NULL};
    agent_answers(0, "from env\n", "");
    run_t r = cli(env, node_id, "hostname", NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "from env\n");
    run_free(&r);
    /* no token at all */
    r = cli(NULL, node_id, "hostname", "--server", srv->url, NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "HYDRACLUSTER_TOKEN"));
    run_free(&r);
}

static void test_timeout_exits_124_with_pending(void **state)
{
    (void)state;
    /* a node whose agent is not polling */
    char id[64], tok[65];
    hc_enroll_node(srv, "cli-silent", "linux", 1, id, tok);
    double t0 = hc_now_ms();
    run_t r = cli(NULL, id, "sleep 1", SRV_ARGS, "--timeout", "2s", "--json", NULL);
    double dt = hc_now_ms() - t0;
    assert_int_equal(r.code, 124);
    json_t *o = json_loads(r.out, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "pending");
    assert_non_null(json_string_value(json_object_get(o, "id")));
    assert_true(dt >= 1900 && dt < 6000);
    /* it waited with the long poll, not a tight loop: one or two result requests */
    char needle[200];
    snprintf(needle, sizeof(needle), "path=/api/v1/nodes/%s/exec/%s/result ", id,
             json_string_value(json_object_get(o, "id")));
    json_decref(o);
    assert_true(log_count(needle) >= 1 && log_count(needle) <= 2);
    run_free(&r);
    r = cli(NULL, id, "sleep 1", SRV_ARGS, "--timeout", "1s", NULL);
    assert_int_equal(r.code, 124);
    assert_non_null(strstr(r.err, "no result"));
    run_free(&r);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    hc_resp_t resp = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(resp.status, 200);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "purged")), 2);
    hc_resp_free(&resp);
}

static void test_error_exit_codes(void **state)
{
    (void)state;
    run_t r = cli(NULL, "node-does-not-exist", "ls", SRV_ARGS, NULL);
    assert_int_equal(r.code, 253);
    assert_non_null(strstr(r.err, "unknown node"));
    assert_null(strchr(strchr(r.err, '\n') + 1, '\n')); /* one line */
    run_free(&r);

    r = cli(NULL, node_id, "ls", "--server", srv->url, "--admin-token", "wrong-token", NULL);
    assert_int_equal(r.code, 254);
    run_free(&r);

    char pid[64], ptok[65];
    hc_enroll_node(srv, "cli-pending", "linux", 0, pid, ptok);
    r = cli(NULL, pid, "ls", SRV_ARGS, NULL);
    assert_int_equal(r.code, 252);
    run_free(&r);

    char down[64];
    snprintf(down, sizeof(down), "http://127.0.0.1:%d", hc_free_port());
    r = cli(NULL, node_id, "ls", "--server", down, "--admin-token", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.code, 255);
    assert_non_null(strstr(r.err, "cannot reach the server"));
    run_free(&r);

    /* --shell has no JSON result to print (tests/api/test_shell.c runs it for real) */
    r = cli(NULL, node_id, "ls", SRV_ARGS, "--shell", "--json", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--shell"));
    run_free(&r);

    r = cli(NULL, NULL);
    assert_int_equal(r.code, 2);
    run_free(&r);
    r = cli(NULL, node_id, "ls", SRV_ARGS, "--timeout", "soon", NULL);
    assert_int_equal(r.code, 2);
    run_free(&r);
}

typedef struct {
    char tok[65];
    long status;
} broken_agent_t;

/* an agent that cannot run anything: reports "error" */
static void *broken_agent(void *p)
{
    broken_agent_t *a = p;
    hc_resp_t c = hc_get(srv, "/api/v1/body/exec?wait=20", a->tok);
    char body[256];
    const char *id = json_string_value(json_object_get(c.json, "id"));
    snprintf(body, sizeof(body), "{\"id\":\"%s\",\"error\":\"powershell.exe not found\"}", id ? id : "");
    hc_resp_t rr = hc_post_json(srv, "/api/v1/body/exec/result", a->tok, body);
    a->status = rr.status;
    hc_resp_free(&rr);
    hc_resp_free(&c);
    return NULL;
}

static void test_failed_command_exits_125(void **state)
{
    (void)state;
    char id[64];
    broken_agent_t a = {0};
    hc_enroll_node(srv, "cli-broken", "windows", 1, id, a.tok);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, broken_agent, &a), 0);
    run_t r = cli(NULL, id, "Get-Process", SRV_ARGS, NULL);
    pthread_join(t, NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(r.code, 125);
    assert_non_null(strstr(r.err, "powershell.exe not found"));
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prints_stdout_and_exits_with_code),
        cmocka_unit_test(test_json_for_scripts),
        cmocka_unit_test(test_file_sends_contents_verbatim),
        cmocka_unit_test(test_env_defaults),
        cmocka_unit_test(test_timeout_exits_124_with_pending),
        cmocka_unit_test(test_error_exit_codes),
        cmocka_unit_test(test_failed_command_exits_125),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
