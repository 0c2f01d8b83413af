/*
 * Reference node agent for the shell protocol (docs/api.md "Shell"), used by
 * the API and browser tests and usable by hand:
 *
 *   refagent --server http://127.0.0.1:8080 --token NODE_TOKEN [--wait 25] [--insecure]
 *
 * (--insecure: do not verify the server's TLS certificate; for tests.)
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
#include <unistd.h>

#include "ws_client.h"

#define PTY_READ_PAUSE (256 * 1024)
#define TO_PTY_MAX (1024 * 1024)

static const char *server, *token;
static pid_t children[64];
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

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"token", required_argument, NULL, 't'},
                                         {"wait", required_argument, NULL, 'w'},
                                         {"insecure", no_argument, NULL, 'k'},
                                         {0}};
    int wait = 25, ch, insecure = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 's')
            server = optarg;
        else if (ch == 't')
            token = optarg;
        else if (ch == 'w')
            wait = atoi(optarg);
        else if (ch == 'k')
            insecure = 1;
        else
            return 2;
    }
    if (server == NULL || token == NULL) {
        fprintf(stderr, "usage: refagent --server URL --token NODE_TOKEN [--wait S]\n");
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
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
