/* The interactive shell end to end: the real server, the reference agent
 * (tests/agent/refagent.c: a real PTY) and the CLI (`exec --shell`) or a
 * WebSocket client (cli/ws_client.c) in the test. Command output and exit
 * code, a PTY, initial size and resize, the audit row and metrics, no agent
 * (fails within connect_timeout + 2 s), responsiveness with 30 commands in
 * the exec queue, a flood to a client that does not read (server memory
 * stays bounded), node deletion closing the session, handshake errors. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "ws_client.h"

static hc_server_t *srv;
static char node_id[64], node_tok[65], lonely_id[64], lonely_tok[65];
static pid_t agent_pid;

/* the reference agent; extra: more arguments (NULL-terminated list, may be NULL) */
static pid_t agent_start_with(const char *token, const char *const *extra)
{
    const char *argv[16];
    int argc = 0;
    argv[argc++] = "refagent";
    argv[argc++] = "--server";
    argv[argc++] = srv->url;
    argv[argc++] = "--token";
    argv[argc++] = token;
    argv[argc++] = "--wait";
    argv[argc++] = "20";
    if (strncmp(srv->url, "https:", 6) == 0)
        argv[argc++] = "--insecure";
    for (size_t i = 0; extra != NULL && extra[i] != NULL && argc < 15; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        execv(getenv("HC_REFAGENT"), (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static pid_t agent_start(const char *token)
{
    return agent_start_with(token, NULL);
}

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, "shell:\n  connect_timeout: 1s\n  max_sessions_per_node: 3\n");
    hc_enroll_node(srv, "shell-node", "linux", 1, node_id, node_tok);
    hc_enroll_node(srv, "no-agent-node", "linux", 1, lonely_id, lonely_tok);
    agent_pid = agent_start(node_tok);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kill(agent_pid, SIGTERM);
    waitpid(agent_pid, NULL, 0);
    int rc = hc_server_stop(srv);
    hc_server_free(srv);
    assert_int_equal(rc, 0);
    return 0;
}

typedef struct {
    int code;
    char *out, *err;
    double ms;
} run_t;

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

static void slurp(int fd, char **dst)
{
    size_t len = 0;
    *dst = calloc(1, 1);
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        *dst = realloc(*dst, len + (size_t)n + 1);
        memcpy(*dst + len, buf, (size_t)n);
        len += (size_t)n;
        (*dst)[len] = '\0';
    }
}

/* `hydracluster exec --shell` with the arguments (NULL-terminated) */
static run_t cli(const char *first, ...)
{
    const char *argv[32];
    int argc = 0;
    argv[argc++] = getenv("HC_BINARY");
    argv[argc++] = "exec";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char outp[] = "/tmp/hc-shell-out-XXXXXX", errp[] = "/tmp/hc-shell-err-XXXXXX";
    int o = mkstemp(outp), e = mkstemp(errp);
    assert_true(o >= 0 && e >= 0);
    double t0 = hc_now_ms();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(o, 1);
        dup2(e, 2);
        unsetenv("HYDRACLUSTER_SERVER");
        unsetenv("HYDRACLUSTER_TOKEN");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    run_t r = {.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), .ms = hc_now_ms() - t0};
    lseek(o, 0, SEEK_SET);
    lseek(e, 0, SEEK_SET);
    slurp(o, &r.out);
    slurp(e, &r.err);
    close(o);
    close(e);
    unlink(outp);
    unlink(errp);
    return r;
}

#define SRV_ARGS "--server", srv->url, "--admin-token", TEST_ADMIN_TOKEN

static void test_command_output_and_exit_code(void **state)
{
    (void)state;
    run_t r = cli("--shell", node_id, "echo hello-from-pty; exit 3", SRV_ARGS, "--timeout", "20s", NULL);
    if (r.code != 3)
        fail_msg("exit %d, out %s, err %s", r.code, r.out, r.err);
    assert_non_null(strstr(r.out, "hello-from-pty"));
    run_free(&r);
    /* the flag after the node id, as the runbook also writes it */
    r = cli(node_id, "tty", "--shell", SRV_ARGS, NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "/dev/pts/"));
    run_free(&r);

    /* audited on the node: who, the command, the exit code, bytes */
    hc_resp_t a = {0};
    json_t *row = NULL, *start = NULL;
    for (int i = 0; i < 50 && (row == NULL || start == NULL); i++) {
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/audit?target=%s", node_id);
        hc_resp_free(&a);
        a = hc_get(srv, path, TEST_ADMIN_TOKEN);
        assert_int_equal(a.status, 200);
        json_t *rows = json_is_array(a.json) ? a.json : json_object_get(a.json, "entries");
        size_t k;
        json_t *v;
        json_array_foreach(rows, k, v)
        {
            const char *cmd = json_string_value(json_object_get(json_object_get(v, "detail"), "command"));
            const char *action = json_string_value(json_object_get(v, "action"));
            if (cmd != NULL && strstr(cmd, "hello-from-pty") != NULL && strcmp(action, "shell.session") == 0)
                row = v;
            if (cmd != NULL && strstr(cmd, "hello-from-pty") != NULL && strcmp(action, "shell.start") == 0)
                start = v;
        }
        if (row == NULL || start == NULL)
            usleep(100 * 1000);
    }
    if (row == NULL || start == NULL)
        fail_msg("no shell.start and shell.session audit rows: %s", a.body);
    assert_false(json_is_true(json_object_get(json_object_get(start, "detail"), "interactive")));
    json_t *d = json_object_get(row, "detail");
    assert_string_equal(json_string_value(json_object_get(row, "actor")), "admin:config");
    assert_int_equal(json_integer_value(json_object_get(d, "exit_code")), 3);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "exit");
    assert_true(json_integer_value(json_object_get(d, "bytes_from_node")) > 10);
    assert_non_null(json_object_get(d, "started_at"));
    assert_non_null(json_object_get(d, "ended_at"));
    hc_resp_free(&a);

    hc_resp_t m = hc_get(srv, "/metrics", TEST_ADMIN_TOKEN);
    assert_non_null(strstr(m.body, "hydracluster_shell_sessions_started_total"));
    assert_non_null(strstr(m.body, "hydracluster_shell_sessions_ended_total{reason=\"exit\"}"));
    assert_non_null(strstr(m.body, "hydracluster_shell_bytes_relayed_total{direction=\"from_node\"}"));
    hc_resp_free(&m);
}

/* ---- a WebSocket client in the test ---- */

typedef struct {
    char out[1 << 16];
    size_t len;
    uint64_t total;
    int exit_code;
} sink_t;

static void on_msg(void *user, int opcode, const uint8_t *data, size_t len)
{
    sink_t *s = user;
    s->total += len;
    if (opcode == WSC_OP_TEXT) {
        json_t *o = json_loadb((const char *)data, len, 0, NULL);
        if (o && strcmp(json_string_value(json_object_get(o, "type")) ?: "", "exit") == 0)
            s->exit_code = (int)json_integer_value(json_object_get(o, "code"));
        json_decref(o);
        return;
    }
    size_t n = len < sizeof(s->out) - 1 - s->len ? len : sizeof(s->out) - 1 - s->len;
    memcpy(s->out + s->len, data, n);
    s->len += n;
    s->out[s->len] = '\0';
}

static ws_client_t *ws_open(const char *node, const char *query, sink_t *s)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/shell%s", node, query);
    long status = 0;
    char err[256];
    ws_client_t *c = ws_client_connect(srv->url, path, TEST_ADMIN_TOKEN, 5000, on_msg, s, &status, err, sizeof(err));
    if (c == NULL)
        fail_msg("no WebSocket (%ld): %s", status, err);
    return c;
}

/* pumps until needle shows up in the output or the session ends; returns 1 when seen */
static int pump_until(ws_client_t *c, sink_t *s, const char *needle, int ms)
{
    double end = hc_now_ms() + ms;
    while (hc_now_ms() < end) {
        if (needle != NULL && strstr(s->out, needle) != NULL)
            return 1;
        if (ws_client_io(c) != 0)
            return needle == NULL || strstr(s->out, needle) != NULL;
        struct pollfd p = {.fd = ws_client_fd(c), .events = POLLIN | (ws_client_want_write(c) ? POLLOUT : 0)};
        poll(&p, 1, 50);
    }
    return 0;
}

static void test_size_and_resize_reach_the_pty(void **state)
{
    (void)state;
    sink_t *s = calloc(1, sizeof(*s));
    s->exit_code = -1;
    ws_client_t *c = ws_open(node_id, "?cols=101&rows=31", s);
    assert_true(pump_until(c, s, "$ ", 10000) || pump_until(c, s, "# ", 2000));
    const char *cmd = "stty size\n";
    ws_client_send(c, WSC_OP_BINARY, cmd, strlen(cmd));
    assert_true(pump_until(c, s, "31 101", 10000));
    const char *rs = "{\"type\":\"resize\",\"cols\":123,\"rows\":45}";
    ws_client_send(c, WSC_OP_TEXT, rs, strlen(rs));
    cmd = "stty size; exit 7\n";
    ws_client_send(c, WSC_OP_BINARY, cmd, strlen(cmd));
    assert_true(pump_until(c, s, "45 123", 10000));
    pump_until(c, s, NULL, 10000);
    assert_int_equal(s->exit_code, 7);
    char reason[128];
    assert_int_equal(ws_client_close_info(c, reason, sizeof(reason)), 1000);
    ws_client_free(c);
    free(s);
}

static void test_no_agent_fails_fast(void **state)
{
    (void)state;
    run_t r = cli("--shell", lonely_id, "true", SRV_ARGS, NULL);
    assert_int_equal(r.code, 255);
    assert_non_null(strstr(r.err, "did not connect"));
    assert_true(r.ms < 1000 + 2000);
    run_free(&r);
    /* unknown node: refused before any WebSocket, fast */
    r = cli("--shell", "no-such-node", "true", SRV_ARGS, NULL);
    assert_int_equal(r.code, 255);
    assert_non_null(strstr(r.err, "404"));
    run_free(&r);
    /* server not there */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", hc_free_port());
    r = cli("--shell", node_id, "true", "--server", url, "--admin-token", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.code, 255);
    assert_true(r.ms < 3000);
    run_free(&r);
}

static void test_timeout_exits_124(void **state)
{
    (void)state;
    run_t r = cli("--shell", node_id, "sleep 30", SRV_ARGS, "--timeout", "1s", NULL);
    assert_int_equal(r.code, 124);
    assert_true(r.ms < 4000);
    run_free(&r);
}

static void test_responsive_with_a_full_exec_queue(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", node_id);
    for (int i = 0; i < 30; i++) {
        hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"command\":\"sleep 100\",\"timeout_s\":600}");
        assert_int_equal(r.status, 202);
        hc_resp_free(&r);
    }
    run_t r = cli("--shell", node_id, "echo still-answering", SRV_ARGS, "--timeout", "10s", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "still-answering"));
    assert_true(r.ms < 5000);
    run_free(&r);
    hc_resp_t d = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    hc_resp_free(&d);
}

static long server_rss_kb(void)
{
    char p[64], line[256];
    snprintf(p, sizeof(p), "/proc/%d/status", (int)srv->pid);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void test_flood_to_a_slow_client_stays_bounded(void **state)
{
    (void)state;
    sink_t *s = calloc(1, sizeof(*s));
    s->exit_code = -1;
    ws_client_t *c = ws_open(node_id, "?command=yes%200123456789abcdef0123456789abcdef0123456789abcdef", s);
    assert_true(pump_until(c, s, "0123456789abcdef", 10000));
    long before = server_rss_kb();
    sleep(4); /* the client reads nothing: the agent's PTY would produce gigabytes meanwhile */
    long after = server_rss_kb();
    /* relayed bytes stay near the buffers (ours, the sockets'): not what `yes` could write in 4 s */
    hc_resp_t m = hc_get(srv, "/metrics", TEST_ADMIN_TOKEN);
    const char *b = strstr(m.body, "hydracluster_shell_bytes_relayed_total{direction=\"from_node\"} ");
    assert_non_null(b);
    double relayed1 = strtod(b + strlen("hydracluster_shell_bytes_relayed_total{direction=\"from_node\"} "), NULL);
    hc_resp_free(&m);
    sleep(1);
    m = hc_get(srv, "/metrics", TEST_ADMIN_TOKEN);
    b = strstr(m.body, "hydracluster_shell_bytes_relayed_total{direction=\"from_node\"} ");
    double relayed2 = strtod(b + strlen("hydracluster_shell_bytes_relayed_total{direction=\"from_node\"} "), NULL);
    hc_resp_free(&m);
    print_message("server RSS %ld kB -> %ld kB while the client did not read; relayed %.0f then %.0f bytes\n", before,
                  after, relayed1, relayed2);
    assert_true(after - before < 32 * 1024);
    assert_true(relayed2 - relayed1 < 1024 * 1024); /* stalled: backpressure reached the agent */
    /* reading again, the stream flows again */
    uint64_t seen = s->total;
    double end = hc_now_ms() + 3000;
    while (hc_now_ms() < end && s->total < seen + 4 * 1024 * 1024) {
        if (ws_client_io(c) != 0)
            break;
        struct pollfd p = {.fd = ws_client_fd(c), .events = POLLIN};
        poll(&p, 1, 50);
    }
    assert_true(s->total >= seen + 4 * 1024 * 1024);
    ws_client_close(c, 1000, "");
    pump_until(c, s, NULL, 5000);
    ws_client_free(c);
    free(s);
}

static void test_node_deletion_closes_the_session(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "doomed", "linux", 1, id, tok);
    pid_t a = agent_start(tok);
    sink_t *s = calloc(1, sizeof(*s));
    s->exit_code = -1;
    ws_client_t *c = ws_open(id, "?command=echo%20up%3B%20sleep%2060", s);
    assert_true(pump_until(c, s, "up", 10000));
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", id);
    hc_resp_t d = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(d.status, 200);
    hc_resp_free(&d);
    double t0 = hc_now_ms();
    pump_until(c, s, NULL, 5000);
    char reason[128];
    assert_int_equal(ws_client_close_info(c, reason, sizeof(reason)), 4004);
    assert_non_null(strstr(reason, "node_deleted"));
    assert_true(hc_now_ms() - t0 < 2000);
    ws_client_free(c);
    free(s);
    kill(a, SIGTERM);
    waitpid(a, NULL, 0);
}

static void test_handshake_errors(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/shell", node_id);
    hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN); /* not a WebSocket */
    hc_assert_error(&r, 426, "websocket_required");
    hc_resp_free(&r);
    r = hc_get(srv, path, NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/shell?cols=0", node_id);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/shell?command=ls%%00rm", node_id);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN); /* the router's decoder refuses it */
    hc_assert_error(&r, 400, "bad_query");
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/shell?colour=red", node_id);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/shell/check", node_tok);
    assert_int_equal(r.status, 200);
    assert_true(json_is_null(json_object_get(r.json, "session")));
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/shell/check?since=yesterday", node_tok); /* agents: read tolerantly */
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/shell/check?wait=99", node_tok);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    /* a WebSocket with a bad node token is refused before the upgrade */
    long status = 0;
    char err[256];
    sink_t s = {0};
    ws_client_t *c = ws_client_connect(srv->url, "/api/v1/body/shell/sh-nope", "not-a-token", 3000, on_msg, &s,
                                       &status, err, sizeof(err));
    assert_null(c);
    assert_int_equal(status, 401);
    c = ws_client_connect(srv->url, "/api/v1/body/shell/sh-nope", node_tok, 3000, on_msg, &s, &status, err,
                          sizeof(err));
    assert_null(c);
    assert_int_equal(status, 404);
}

/* `hydracluster shell` on a terminal (a PTY the test holds): raw mode, the
 * size at start and after SIGWINCH reach the remote PTY, the exit code, and
 * the local terminal restored afterwards */
static void test_interactive_cli_on_a_terminal(void **state)
{
    (void)state;
    int master;
    struct winsize ws = {.ws_row = 30, .ws_col = 100};
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(getenv("HC_BINARY"), "hydracluster", "shell", node_id, "--server", srv->url, "--admin-token",
              TEST_ADMIN_TOKEN, (char *)NULL);
        _exit(127);
    }
    char out[65536];
    size_t len = 0;
    out[0] = '\0';
#define READ_UNTIL(needle)                                                                                             \
    do {                                                                                                               \
        double end_ = hc_now_ms() + 15000;                                                                             \
        while (strstr(out, needle) == NULL && hc_now_ms() < end_) {                                                    \
            struct pollfd p_ = {.fd = master, .events = POLLIN};                                                       \
            if (poll(&p_, 1, 100) > 0) {                                                                               \
                ssize_t n_ = read(master, out + len, sizeof(out) - 1 - len);                                           \
                if (n_ <= 0)                                                                                           \
                    break;                                                                                             \
                len += (size_t)n_;                                                                                     \
                out[len] = '\0';                                                                                       \
            }                                                                                                          \
        }                                                                                                              \
        if (strstr(out, needle) == NULL)                                                                               \
            fail_msg("\"%s\" never came; the terminal shows:\n%s", needle, out);                                      \
    } while (0)
    usleep(300 * 1000);
    struct termios raw;
    assert_int_equal(tcgetattr(master, &raw), 0);
    assert_false(raw.c_lflag & (ICANON | ECHO)); /* the CLI put its terminal in raw mode */
    const char *c1 = "stty size\n";
    assert_int_equal(write(master, c1, strlen(c1)), (ssize_t)strlen(c1));
    READ_UNTIL("30 100");
    struct winsize ws2 = {.ws_row = 41, .ws_col = 121};
    ioctl(master, TIOCSWINSZ, &ws2); /* the CLI gets SIGWINCH */
    usleep(300 * 1000);
    const char *c2 = "stty size; exit 4\n";
    assert_int_equal(write(master, c2, strlen(c2)), (ssize_t)strlen(c2));
    READ_UNTIL("41 121");
    int st;
    double end = hc_now_ms() + 15000;
    while (waitpid(pid, &st, WNOHANG) == 0 && hc_now_ms() < end) {
        char buf[4096];
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, 100) > 0 && read(master, buf, sizeof(buf)) < 0)
            usleep(100 * 1000);
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 4);
    struct termios after;
    assert_int_equal(tcgetattr(master, &after), 0);
    assert_true((after.c_lflag & (ICANON | ECHO)) == (ICANON | ECHO)); /* restored */
    close(master);
#undef READ_UNTIL
}

/* `hydracluster shell` with input from a pipe: the lines run, then the end
 * of input ends the remote shell */
static void test_interactive_cli_from_a_pipe(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "printf 'echo piped-$((40+2))\\n' | '%s' shell %s --server %s --admin-token %s",
             getenv("HC_BINARY"), node_id, srv->url, TEST_ADMIN_TOKEN);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    int st = pclose(f);
    assert_non_null(strstr(buf, "piped-42"));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_sessions_per_node_limit(void **state)
{
    (void)state;
    sink_t s[3];
    ws_client_t *c[3];
    memset(s, 0, sizeof(s));
    for (int i = 0; i < 3; i++)
        c[i] = ws_open(lonely_id, "", &s[i]); /* no agent: they wait */
    char path[256], err[256];
    long status = 0;
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/shell", lonely_id);
    sink_t x = {0};
    ws_client_t *over = ws_client_connect(srv->url, path, TEST_ADMIN_TOKEN, 3000, on_msg, &x, &status, err,
                                          sizeof(err));
    assert_null(over);
    assert_int_equal(status, 429);
    assert_non_null(strstr(err, "max_sessions_per_node"));
    /* the waiting ones end after shell.connect_timeout (1 s) with 4001 */
    for (int i = 0; i < 3; i++) {
        pump_until(c[i], &s[i], NULL, 5000);
        char reason[128];
        assert_int_equal(ws_client_close_info(c[i], reason, sizeof(reason)), 4001);
        assert_non_null(strstr(reason, "agent_timeout"));
        ws_client_free(c[i]);
    }
}

/* the session cookie opens a shell only from this server's own origin */
static void test_cookie_needs_own_origin(void **state)
{
    (void)state;
    hc_resp_t l = hc_post_json(srv, "/api/v1/session", NULL, "{\"token\":\"" TEST_ADMIN_TOKEN "\"}");
    assert_int_equal(l.status, 200);
    const char *sc = hc_resp_header(&l, "set-cookie");
    assert_non_null(sc);
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(sc, ";"), sc);
    hc_resp_free(&l);
    char req[1024];
    const char *origins[] = {"http://evil.example", srv->url};
    for (int i = 0; i < 2; i++) {
        int n = snprintf(req, sizeof(req),
                         "GET /api/v1/nodes/%s/shell?command=true HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\nOrigin: %s\r\nCookie: %s\r\n\r\n",
                         node_id, srv->url + 7, origins[i], cookie);
        char *resp = hc_raw(srv, req, (size_t)n, 1500);
        if (i == 0) {
            assert_non_null(strstr(resp, " 403 "));
            assert_non_null(strstr(resp, "own origin"));
        } else {
            assert_non_null(strstr(resp, " 101 "));
            assert_non_null(strstr(resp, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")); /* RFC 6455's example key */
        }
        free(resp);
    }
}

/* idle and total limits, on a server of their own; it is stopped with a
 * session still open and must exit cleanly */
static void test_idle_and_max_duration(void **state)
{
    (void)state;
    hc_server_t *s2 = hc_server_start(NULL, "shell:\n  idle_timeout: 2s\n  max_duration: 3s\n");
    char id[64], tok[65];
    hc_enroll_node(s2, "limits", "linux", 1, id, tok);
    hc_server_t *keep = srv;
    srv = s2;
    pid_t a = agent_start(tok);
    sink_t *s = calloc(1, sizeof(*s));
    ws_client_t *c = ws_open(id, "?command=echo%20idle-start%3B%20sleep%2030", s);
    assert_true(pump_until(c, s, "idle-start", 10000));
    double t0 = hc_now_ms();
    pump_until(c, s, NULL, 6000);
    char reason[128];
    assert_int_equal(ws_client_close_info(c, reason, sizeof(reason)), 4002);
    assert_true(hc_now_ms() - t0 > 1000 && hc_now_ms() - t0 < 4500);
    ws_client_free(c);
    memset(s, 0, sizeof(*s));
    c = ws_open(id, "?command=while%20true%3B%20do%20echo%20tick%3B%20sleep%200.2%3B%20done", s);
    assert_true(pump_until(c, s, "tick", 10000));
    pump_until(c, s, NULL, 8000);
    assert_int_equal(ws_client_close_info(c, reason, sizeof(reason)), 4003);
    assert_non_null(strstr(reason, "max_duration"));
    ws_client_free(c);
    /* a session open while the server stops: closed with 1001, clean exit */
    memset(s, 0, sizeof(*s));
    c = ws_open(id, "?command=echo%20last%3B%20sleep%2030", s);
    assert_true(pump_until(c, s, "last", 10000));
    int rc = hc_server_stop(s2);
    pump_until(c, s, NULL, 3000);
    assert_int_equal(ws_client_close_info(c, reason, sizeof(reason)), 1001);
    assert_int_equal(rc, 0);
    ws_client_free(c);
    free(s);
    kill(a, SIGTERM);
    waitpid(a, NULL, 0);
    srv = keep;
    hc_server_free(s2);
}

/* An upgraded connection still holds its slot under server.max_connections
 * while open (h2o keeps the accepted socket, and its close callback, across
 * the 101) and gives it back when the session ends: on a server capped at 8
 * connections, 10 sessions one after another (2 connections each) all open,
 * and afterwards only the agent's poll and the metrics request are open. */
static void test_upgraded_connections_give_back_their_slots(void **state)
{
    (void)state;
    hc_server_t *s2 = hc_server_start("  max_connections: 8\n", NULL);
    char id[64], tok[65];
    hc_enroll_node(s2, "slots", "linux", 1, id, tok);
    hc_server_t *keep = srv;
    srv = s2;
    pid_t a = agent_start(tok);
    for (int i = 0; i < 10; i++) {
        char cmd[64], want[32];
        snprintf(cmd, sizeof(cmd), "echo slot-$((%d+100))", i);
        snprintf(want, sizeof(want), "slot-%d", i + 100);
        run_t r = cli("--shell", id, cmd, SRV_ARGS, "--timeout", "10s", NULL);
        if (r.code != 0 || strstr(r.out, want) == NULL)
            fprintf(stderr, "session %d: exit %d, out %s, err %s\n", i, r.code, r.out, r.err);
        assert_int_equal(r.code, 0);
        assert_non_null(strstr(r.out, want));
        run_free(&r);
    }
    long open_conns = -1;
    for (int i = 0; i < 30; i++) {
        hc_resp_t m = hc_get(s2, "/metrics", TEST_ADMIN_TOKEN);
        assert_int_equal(m.status, 200);
        const char *g = strstr(m.body, "\nhydracluster_http_connections ");
        assert_non_null(g);
        open_conns = strtol(g + strlen("\nhydracluster_http_connections "), NULL, 10);
        hc_resp_free(&m);
        if (open_conns <= 3)
            break;
        usleep(100 * 1000);
    }
    assert_true(open_conns >= 1 && open_conns <= 3);
    kill(a, SIGTERM);
    waitpid(a, NULL, 0);
    srv = keep;
    assert_int_equal(hc_server_stop(s2), 0);
    hc_server_free(s2);
}

/* the relay over the server's own TLS listener (h2o's TLS socket after the
 * upgrade; libcurl's TLS under the client and the agent) */
static void test_over_tls(void **state)
{
    (void)state;
    char dir[] = "/tmp/hc-shell-tls-XXXXXX", yaml[1024];
    assert_non_null(mkdtemp(dir));
    hc_make_cert(dir, "srv", "localhost");
    snprintf(yaml, sizeof(yaml), "  tls:\n    cert_file: %s/srv.pem\n    key_file: %s/srv.key\n", dir, dir);
    hc_server_t *s2 = hc_server_start(yaml, NULL);
    assert_int_equal(strncmp(s2->url, "https://", 8), 0);
    char id[64], tok[65];
    hc_enroll_node(s2, "tls-node", "linux", 1, id, tok);
    hc_server_t *keep = srv;
    srv = s2;
    pid_t a = agent_start(tok);
    /* without verification off, the self-signed certificate is refused */
    long status = 0;
    char err[256], path[256];
    sink_t *s = calloc(1, sizeof(*s));
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/shell", id);
    assert_null(ws_client_connect(s2->url, path, TEST_ADMIN_TOKEN, 3000, on_msg, s, &status, err, sizeof(err)));
    ws_client_set_insecure(1);
    s->exit_code = -1;
    ws_client_t *c = ws_open(id, "?command=echo%20over-tls%3B%20exit%206", s);
    assert_true(pump_until(c, s, "over-tls", 10000));
    pump_until(c, s, NULL, 10000);
    assert_int_equal(s->exit_code, 6);
    ws_client_free(c);
    ws_client_set_insecure(0);
    free(s);
    kill(a, SIGTERM);
    waitpid(a, NULL, 0);
    srv = keep;
    assert_int_equal(hc_server_stop(s2), 0);
    hc_server_free(s2);
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

/* sessions side by side (ends on different workers): every byte arrives, in order */
static void test_concurrent_sessions_lose_nothing(void **state)
{
    (void)state;
    enum { N = 3, BYTES = 2000000 };
    pid_t pids[N];
    char files[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(files[i], sizeof(files[i]), "/tmp/hc-shell-par-%d-%d", (int)getpid(), i);
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            int fd = open(files[i], O_WRONLY | O_CREAT | O_TRUNC, 0600);
            dup2(fd, 1);
            char cmd[128];
            /* a line of BYTES characters, then its length as the PTY saw it */
            snprintf(cmd, sizeof(cmd), "head -c %d /dev/zero | tr '\\0' '%c'; echo; echo end-%d", BYTES, 'a' + i, i);
            execl(getenv("HC_BINARY"), "hydracluster", "exec", "--shell", node_id, cmd, "--server", srv->url,
                  "--admin-token", TEST_ADMIN_TOKEN, "--timeout", "60s", (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < N; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        FILE *f = fopen(files[i], "r");
        assert_non_null(f);
        size_t count = 0, other = 0;
        int c;
        while ((c = fgetc(f)) != EOF) {
            if (c == 'a' + i)
                count++;
            else if (c != '\r' && c != '\n' && !(c >= '0' && c <= '9') && c != 'e' && c != 'n' && c != 'd' &&
                     c != '-')
                other++;
        }
        fclose(f);
        unlink(files[i]);
        assert_int_equal(count, BYTES);
        assert_int_equal(other, 0);
    }
}

/* the reference agent's optional heartbeat and exec (for the fleet simulator) */
static void test_refagent_heartbeat_and_exec(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "full-agent", "linux", 1, id, tok);
    static const char *const extra[] = {"--heartbeat", "1", "--exec", NULL};
    pid_t a = agent_start_with(tok, extra);
    json_t *n = NULL;
    for (int i = 0; i < 50; i++) {
        json_decref(n);
        n = hc_node_get(srv, id);
        if (strcmp(json_string_value(json_object_get(n, "node_status")) ?: "", "online") == 0)
            break;
        usleep(100 * 1000);
    }
    assert_string_equal(json_string_value(json_object_get(n, "node_status")), "online");
    assert_string_equal(json_string_value(json_object_get(n, "version")), "refagent");
    json_decref(n);
    run_t r = cli(id, "echo via-queue; echo to-stderr >&2; exit 2", SRV_ARGS, "--timeout", "20s", NULL);
    assert_int_equal(r.code, 2);
    assert_string_equal(r.out, "via-queue\n");
    assert_string_equal(r.err, "to-stderr\n");
    run_free(&r);
    /* and the shell still works beside them */
    r = cli("--shell", id, "echo both", SRV_ARGS, NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "both"));
    run_free(&r);
    kill(a, SIGTERM);
    waitpid(a, NULL, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* the server inherits this: a small ASan quarantine, so that its RSS in
     * the flood test shows live memory, not up to 256 MiB of freed blocks
     * ASan holds back */
    char asan[512];
    const char *cur = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof(asan), "%s%squarantine_size_mb=4", cur ? cur : "", cur && cur[0] ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_errors),
        cmocka_unit_test(test_command_output_and_exit_code),
        cmocka_unit_test(test_size_and_resize_reach_the_pty),
        cmocka_unit_test(test_no_agent_fails_fast),
        cmocka_unit_test(test_timeout_exits_124),
        cmocka_unit_test(test_responsive_with_a_full_exec_queue),
        cmocka_unit_test(test_flood_to_a_slow_client_stays_bounded),
        cmocka_unit_test(test_node_deletion_closes_the_session),
        cmocka_unit_test(test_interactive_cli_on_a_terminal),
        cmocka_unit_test(test_interactive_cli_from_a_pipe),
        cmocka_unit_test(test_sessions_per_node_limit),
        cmocka_unit_test(test_cookie_needs_own_origin),
        cmocka_unit_test(test_idle_and_max_duration),
        cmocka_unit_test(test_over_tls),
        cmocka_unit_test(test_upgraded_connections_give_back_their_slots),
        cmocka_unit_test(test_refagent_heartbeat_and_exec),
        cmocka_unit_test(test_concurrent_sessions_lose_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
