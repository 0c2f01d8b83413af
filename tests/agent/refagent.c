/*
 * Reference node agent for the shell protocol (docs/api.md "Shell"), used by
 * the API and browser tests and usable by hand:
 *
 *   refagent --server http://127.0.0.1:8080 --token NODE_TOKEN [--wait 25] [--insecure]
 *            [--heartbeat S] [--exec]
 *
 * --insecure: do not verify the server's TLS certificate (tests).
 * --heartbeat S: also POST /api/v1/body/heartbeat every S seconds (a child).
 * --exec: also run the exec queue's commands (a child long-polling
 *   GET /api/v1/body/exec, `sh -c` with stdout/stderr captured, killed after
 *   timeout_s, POST /api/v1/body/exec/result).
 *
 * Long-polls GET /api/v1/body/shell/check; for every session it forks a
 * child that opens the agent WebSocket (/api/v1/body/shell/{id}) and bridges
 * it to a fresh PTY (forkpty) running `sh -c command`, or `$SHELL -i`
 * (default /bin/sh) when the command is null. Binary frames are terminal
 * bytes both ways; {"type":"resize"} sets the PTY's size; when the program
 * ends the child sends {"type":"exit","code":N} and closes. While the
 * server's socket does not keep up, the PTY is not read (backpressure).
 * Exits on SIGTERM/SIGINT (sessions' children get SIGHUP).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ws_client.h"

#define PTY_READ_PAUSE (256 * 1024)
#define TO_PTY_MAX (1024 * 1024)

static const char *server, *token;
static int insecure;
static pid_t children[64];
static pid_t helpers[2]; /* the heartbeat and exec children */
static volatile sig_atomic_t stopping;

typedef struct {
    int master;
    char *to_pty;
    size_t to_pty_len;
} bridge_t;

static void on_msg(void *user, int opcode, const uint8_t *data, size_t len)
{
    bridge_t *b = user;
    if (opcode == WSC_OP_BINARY) {
        if (b->to_pty_len + len > TO_PTY_MAX)
            return; /* the program does not read its input: drop, as a full tty would */
        char *n = realloc(b->to_pty, b->to_pty_len + len);
        if (n == NULL)
            return;
        b->to_pty = n;
        memcpy(b->to_pty + b->to_pty_len, data, len);
        b->to_pty_len += len;
        return;
    }
    json_t *o = json_loadb((const char *)data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(o, "type"));
    json_int_t cols = json_integer_value(json_object_get(o, "cols"));
    json_int_t rows = json_integer_value(json_object_get(o, "rows"));
    if (type != NULL && strcmp(type, "resize") == 0 && cols > 0 && cols < 10000 && rows > 0 && rows < 10000) {
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        ioctl(b->master, TIOCSWINSZ, &ws);
    }
    json_decref(o);
}

/* the child of one session: never returns */
static void run_session(const char *id, unsigned cols, unsigned rows, const char *command)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/body/shell/%s", id);
    bridge_t b = {.master = -1};
    long status = 0;
    char err[256];
    ws_client_t *c = ws_client_connect(server, path, token, 10000, on_msg, &b, &status, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "refagent: session %s: cannot attach (%ld): %s\n", id, status, err);
        _exit(1);
    }
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    pid_t pid = forkpty(&b.master, NULL, NULL, &ws);
    if (pid < 0) {
        ws_client_send(c, WSC_OP_TEXT, "{\"type\":\"exit\",\"code\":255}", 26);
        ws_client_close(c, 1011, "forkpty failed");
        ws_client_io(c);
        _exit(1);
    }
    if (pid == 0) {
        const char *sh = getenv("SHELL");
        if (sh == NULL || sh[0] == '\0')
            sh = "/bin/sh";
        setenv("TERM", "xterm-256color", 1);
        if (command != NULL)
            execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        else
            execl(sh, sh, "-i", (char *)NULL);
        _exit(127);
    }
    fcntl(b.master, F_SETFL, fcntl(b.master, F_GETFL) | O_NONBLOCK);
    int pty_open = 1, exited = 0, code = 0;
    for (;;) {
        int r = ws_client_io(c);
        if (r != 0)
            break; /* the server closed (client gone, timeout) or the connection broke */
        if (!pty_open && !exited) {
            int st;
            if (waitpid(pid, &st, 0) == pid) {
                code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                exited = 1;
                char msg[64];
                int n = snprintf(msg, sizeof(msg), "{\"type\":\"exit\",\"code\":%d}", code);
                ws_client_send(c, WSC_OP_TEXT, msg, (size_t)n);
                ws_client_close(c, 1000, "");
                continue;
            }
        }
        struct pollfd p[2] = {
            {.fd = ws_client_fd(c), .events = POLLIN | (ws_client_want_write(c) ? POLLOUT : 0)},
            {.fd = pty_open ? b.master : -1,
             .events = (ws_client_unsent(c) < PTY_READ_PAUSE ? POLLIN : 0) | (b.to_pty_len ? POLLOUT : 0)},
        };
        if (poll(p, 2, 1000) < 0 && errno != EINTR)
            break;
        if (pty_open && (p[1].revents & POLLOUT) && b.to_pty_len > 0) {
            ssize_t n = write(b.master, b.to_pty, b.to_pty_len);
            if (n > 0) {
                memmove(b.to_pty, b.to_pty + n, b.to_pty_len - (size_t)n);
                b.to_pty_len -= (size_t)n;
            }
        }
        if (pty_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[16384];
            ssize_t n = read(b.master, buf, sizeof(buf));
            if (n > 0)
                ws_client_send(c, WSC_OP_BINARY, buf, (size_t)n);
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                pty_open = 0; /* EIO: the program and its children closed the terminal */
        }
    }
    if (!exited) {
        kill(pid, SIGHUP);
        waitpid(pid, NULL, 0);
    }
    ws_client_free(c);
    free(b.to_pty);
    _exit(0);
}

static size_t collect(char *data, size_t size, size_t n, void *user)
{
    json_t **out = user;
    size_t len = size * n;
    json_t *o = json_loadb(data, len, 0, NULL);
    if (o != NULL) {
        json_decref(*out);
        *out = o;
    }
    return len;
}

/* SIGTERM/SIGINT: a long poll may be in progress, so stop at once (kill
 * and _exit are async-signal-safe): the sessions' children get SIGTERM, their
 * programs SIGHUP when the PTY closes */
static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
        if (children[i] > 0)
            kill(children[i], SIGTERM);
    for (size_t i = 0; i < 2; i++)
        if (helpers[i] > 0)
            kill(helpers[i], SIGTERM);
    _exit(0);
}

/* ---- plain HTTP calls (heartbeat, exec) ---- */

typedef struct {
    char *data;
    size_t len;
} buf_t;

static size_t append(char *data, size_t size, size_t n, void *user)
{
    buf_t *b = user;
    size_t len = size * n;
    char *p = realloc(b->data, b->len + len + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->len, data, len);
    b->data = p;
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

/* One request with the node token; the HTTP status (0: no answer), the
 * answer's JSON in *out (may be NULL). */
static long http_call(CURL *h, const char *method, const char *path, const char *body, long timeout_s, json_t **out)
{
    char url[1024], auth[512];
    snprintf(url, sizeof(url), "%s%s", server, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    if (body != NULL)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    buf_t b = {0};
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    if (out != NULL)
        *out = b.data != NULL ? json_loads(b.data, 0, NULL) : NULL;
    free(b.data);
    return status;
}

static void heartbeat_loop(int every_s)
{
    CURL *h = curl_easy_init();
    for (;;) {
        json_t *o = NULL;
        http_call(h, "POST", "/api/v1/body/heartbeat", "{\"version\":\"refagent\",\"stream_status\":\"idle\"}", 30,
                  &o);
        json_decref(o);
        sleep((unsigned)every_s);
    }
}

/* runs `sh -c command` for at most timeout_s; output up to 1 MiB each */
static void run_command(const char *command, long timeout_s, int *code, buf_t *out, buf_t *err)
{
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0) {
        *code = 127;
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    struct pollfd p[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    time_t deadline = time(NULL) + timeout_s;
    int timed_out = 0;
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        long left = (long)(deadline - time(NULL));
        if (left <= 0) {
            kill(-pid, SIGKILL);
            timed_out = 1;
            break;
        }
        if (poll(p, 2, 1000) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            char chunk[8192];
            ssize_t n = read(p[i].fd, chunk, sizeof(chunk));
            buf_t *b = i == 0 ? out : err;
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
            } else if (b->len < 1024 * 1024) {
                append(chunk, 1, (size_t)n, b);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (p[i].fd >= 0)
            close(p[i].fd);
    int st = 0;
    waitpid(pid, &st, 0);
    *code = timed_out ? 124 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void exec_loop(int wait)
{
    CURL *h = curl_easy_init();
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/body/exec?wait=%d", wait);
    for (;;) {
        json_t *cmd = NULL;
        long status = http_call(h, "GET", path, NULL, wait + 30, &cmd);
        const char *id = json_string_value(json_object_get(cmd, "id"));
        const char *command = json_string_value(json_object_get(cmd, "command"));
        if (status == 200 && id != NULL && command != NULL) {
            long timeout_s = (long)json_integer_value(json_object_get(cmd, "timeout_s"));
            buf_t out = {0}, err = {0};
            int code = 0;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            run_command(command, timeout_s > 0 ? timeout_s : 60, &code, &out, &err);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
            /* invalid UTF-8 would make the JSON refused: keep it readable */
            json_t *res = json_pack("{s:s, s:i, s:s%, s:s%, s:I}", "id", id, "exit_code", code, "stdout",
                                    out.data ? out.data : "", out.len, "stderr", err.data ? err.data : "", err.len,
                                    "duration_ms", (json_int_t)ms);
            if (res == NULL)
                res = json_pack("{s:s, s:s}", "id", id, "error", "the output is not UTF-8 text");
            char *body = res ? json_dumps(res, JSON_COMPACT) : NULL;
            if (body != NULL)
                http_call(h, "POST", "/api/v1/body/exec/result", body, 30, NULL);
            free(body);
            json_decref(res);
            free(out.data);
            free(err.data);
        } else if (status != 200 && status != 204) {
            sleep(1); /* server away: do not spin */
        }
        json_decref(cmd);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"token", required_argument, NULL, 't'},
                                         {"wait", required_argument, NULL, 'w'},
                                         {"insecure", no_argument, NULL, 'k'},
                                         {"heartbeat", required_argument, NULL, 'b'},
                                         {"exec", no_argument, NULL, 'x'},
                                         {0}};
    int wait = 25, ch, heartbeat_s = 0, exec = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 's')
            server = optarg;
        else if (ch == 't')
            token = optarg;
        else if (ch == 'w')
            wait = atoi(optarg);
        else if (ch == 'k')
            insecure = 1;
        else if (ch == 'b')
            heartbeat_s = atoi(optarg);
        else if (ch == 'x')
            exec = 1;
        else
            return 2;
    }
    if (server == NULL || token == NULL) {
        fprintf(stderr, "usage: refagent --server URL --token NODE_TOKEN [--wait S] [--insecure] [--heartbeat S] "
                        "[--exec]\n");
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (heartbeat_s > 0 && (helpers[0] = fork()) == 0) {
        signal(SIGTERM, SIG_DFL);
        heartbeat_loop(heartbeat_s);
    }
    if (exec && (helpers[1] = fork()) == 0) {
        signal(SIGTERM, SIG_DFL);
        exec_loop(wait);
    }
    CURL *h = curl_easy_init();
    char url[1024], auth[512];
    snprintf(url, sizeof(url), "%s/api/v1/body/shell/check?wait=%d", server, wait);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    if (insecure) {
        ws_client_set_insecure(1);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    while (!stopping) {
        json_t *o = NULL;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &o);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)wait + 30);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        json_t *s = json_object_get(o, "session");
        if (rc == CURLE_OK && status == 200 && json_is_object(s)) {
            const char *id = json_string_value(json_object_get(s, "id"));
            const char *command = json_string_value(json_object_get(s, "command"));
            unsigned cols = (unsigned)json_integer_value(json_object_get(s, "cols"));
            unsigned rows = (unsigned)json_integer_value(json_object_get(s, "rows"));
            pid_t pid = id != NULL ? fork() : -1;
            if (pid == 0) {
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_DFL);
                curl_easy_cleanup(h);
                run_session(id, cols ? cols : 80, rows ? rows : 24, command);
            }
            for (size_t i = 0; pid > 0 && i < sizeof(children) / sizeof(children[0]); i++) {
                if (children[i] == 0 || waitpid(children[i], NULL, WNOHANG) == children[i]) {
                    children[i] = pid;
                    break;
                }
            }
        } else if (rc != CURLE_OK || status != 200) {
            if (!stopping)
                sleep(1); /* server away: do not spin */
        }
        json_decref(o);
    }
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++) {
        if (children[i] > 0 && kill(children[i], SIGTERM) == 0)
            waitpid(children[i], NULL, 0);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return 0;
}
