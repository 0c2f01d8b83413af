/*
 * The shell client (docs/api.md "Shell"):
 *   hydracluster exec --shell <node> "<command>" [--timeout 10s]   one command in a fresh PTY
 *   hydracluster shell <node>                                      interactive
 *
 * Both open GET /api/v1/nodes/{id}/shell as a WebSocket (cli/ws_client.c),
 * print the binary frames as they come, and exit with the code of the
 * agent's {"type":"exit","code":N}. Exit codes: the command's; 124 when
 * --timeout passed first; 255 when no session could be established (server
 * unreachable, refused, or no agent attached within shell.connect_timeout)
 * or it broke off without an exit status; 2 usage.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "ws_client.h"

#define EXIT_USAGE 2
#define EXIT_TIMEOUT 124
#define EXIT_NO_SESSION 255
#define CONNECT_TIMEOUT_MS 10000
#define OUT_PAUSE_BYTES (256 * 1024) /* stop reading the terminal while this much input is unsent */
#define DEFAULT_SERVER "http://127.0.0.1:8080"
#define EOF_QUIET_MS 500

typedef struct {
    int exit_code; /* -1 until the agent reports one */
    int out_fd;
    long last_output_ms;
} session_t;

static long now_ms(void);

static void on_msg(void *user, int opcode, const uint8_t *data, size_t len)
{
    session_t *s = user;
    if (opcode == WSC_OP_BINARY) {
        s->last_output_ms = now_ms();
        size_t off = 0;
        while (off < len) {
            ssize_t n = write(s->out_fd, data + off, len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN) {
                struct pollfd p = {.fd = s->out_fd, .events = POLLOUT};
                poll(&p, 1, 1000);
                continue;
            }
            if (n <= 0)
                return; /* output closed (e.g. | head): drop the rest */
            off += (size_t)n;
        }
        return;
    }
    json_t *o = json_loadb((const char *)data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(o, "type"));
    json_t *code = json_object_get(o, "code");
    if (type != NULL && strcmp(type, "exit") == 0 && json_is_integer(code))
        s->exit_code = (int)(json_integer_value(code) & 0xff);
    json_decref(o);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void server_trim(char *dst, size_t len, const char *server)
{
    snprintf(dst, len, "%s", server != NULL && server[0] ? server : DEFAULT_SERVER);
    size_t sl = strlen(dst);
    while (sl > 0 && dst[sl - 1] == '/')
        dst[--sl] = '\0';
}

/* the close reason's "error" text, or the raw reason */
static void print_close(const char *prog, uint16_t code, const char *reason)
{
    json_t *o = json_loads(reason, 0, NULL);
    const char *e = json_string_value(json_object_get(o, "error"));
    fprintf(stderr, "%s: the session ended without an exit status (%u): %s\n", prog, code,
            e ? e : (reason[0] ? reason : "no reason given"));
    json_decref(o);
}

static ws_client_t *open_session(const char *prog, const char *server, const char *token, const char *node_id,
                                 const char *command, unsigned cols, unsigned rows, session_t *s)
{
    CURL *esc = curl_easy_init();
    char *enode = esc ? curl_easy_escape(esc, node_id, 0) : NULL;
    char *ecmd = esc && command ? curl_easy_escape(esc, command, 0) : NULL;
    size_t plen = (enode ? strlen(enode) : 0) + (ecmd ? strlen(ecmd) : 0) + 128;
    char *path = malloc(plen);
    ws_client_t *c = NULL;
    if (enode == NULL || path == NULL || (command != NULL && ecmd == NULL)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    snprintf(path, plen, "/api/v1/nodes/%s/shell?cols=%u&rows=%u%s%s", enode, cols, rows, ecmd ? "&command=" : "",
             ecmd ? ecmd : "");
    long status = 0;
    char err[512];
    c = ws_client_connect(server, path, token, CONNECT_TIMEOUT_MS, on_msg, s, &status, err, sizeof(err));
    if (c == NULL) {
        if (status == 0)
            fprintf(stderr, "%s: cannot open a shell on %s through %s: %s\n", prog, node_id, server, err);
        else
            fprintf(stderr, "%s: the server refused the shell on %s (%ld): %s\n", prog, node_id, status, err);
    }
done:
    free(path);
    curl_free(ecmd);
    curl_free(enode);
    if (esc)
        curl_easy_cleanup(esc);
    return c;
}

/* after the close: the exit code, or 255 with the reason printed */
static int session_result(const char *prog, ws_client_t *c, session_t *s)
{
    char reason[128];
    uint16_t code = ws_client_close_info(c, reason, sizeof(reason));
    if (s->exit_code >= 0)
        return s->exit_code;
    print_close(prog, code, reason);
    return EXIT_NO_SESSION;
}

int cli_shell_exec(const char *server, const char *token, const char *node_id, const char *command,
                   uint64_t timeout_ms)
{
    const char *prog = "hydracluster exec --shell";
    char srv[2048];
    server_trim(srv, sizeof(srv), server);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return EXIT_NO_SESSION;
    session_t s = {.exit_code = -1, .out_fd = STDOUT_FILENO};
    long deadline = now_ms() + (long)timeout_ms;
    unsigned cols = 80, rows = 24;
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
        cols = ws.ws_col, rows = ws.ws_row;
    int rc = EXIT_NO_SESSION;
    ws_client_t *c = open_session(prog, srv, token, node_id, command, cols, rows, &s);
    if (c == NULL)
        goto done;
    for (;;) {
        int r = ws_client_io(c);
        if (r != 0) {
            rc = r < 0 ? EXIT_NO_SESSION : session_result(prog, c, &s);
            if (r < 0)
                fprintf(stderr, "%s: the connection to the server failed\n", prog);
            break;
        }
        long left = deadline - now_ms();
        if (left <= 0) {
            fprintf(stderr, "%s: no exit status within the timeout (%llus)\n", prog,
                    (unsigned long long)(timeout_ms / 1000));
            ws_client_close(c, 1000, "{\"code\":\"timeout\"}");
            ws_client_io(c);
            rc = EXIT_TIMEOUT;
            break;
        }
        struct pollfd p = {.fd = ws_client_fd(c), .events = POLLIN | (ws_client_want_write(c) ? POLLOUT : 0)};
        poll(&p, 1, (int)(left < 1000 ? left : 1000));
    }
    ws_client_free(c);
done:
    curl_global_cleanup();
    return rc;
}

/* ---- interactive ---- */

static struct termios saved_tio;
static int tio_saved;
static volatile sig_atomic_t winch = 0, stop_sig = 0;

static void tty_restore(void)
{
    if (tio_saved) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
        tio_saved = 0;
    }
}

static void on_winch(int sig)
{
    (void)sig;
    winch = 1;
}

static void on_stop(int sig)
{
    stop_sig = sig;
}

static void send_size(ws_client_t *c)
{
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
        return;
    char msg[80];
    int n = snprintf(msg, sizeof(msg), "{\"type\":\"resize\",\"cols\":%u,\"rows\":%u}", ws.ws_col, ws.ws_row);
    ws_client_send(c, WSC_OP_TEXT, msg, (size_t)n);
}

static void usage(FILE *f)
{
    cli_usage(f, "shell"); /* the text is in the command table, cli/commands.c */
}

int cli_shell_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 'S'},
        {"admin-token", required_argument, NULL, 'T'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *prog = "hydracluster shell";
    const char *server = getenv("HYDRACLUSTER_SERVER"), *token = getenv("HYDRACLUSTER_TOKEN");
    const char *config_path = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'S')
            server = optarg;
        else if (ch == 'T')
            token = optarg;
        else if (ch == 'c')
            config_path = optarg;
        else if (ch == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "%s: give one node id (see --help)\n", prog);
        return EXIT_USAGE;
    }
    /* the same defaults as every client command: the environment, then the config */
    char server_buf[600], token_buf[512];
    int trc = cli_target_defaults(prog, config_path, &server, &token, server_buf, sizeof(server_buf), token_buf,
                                  sizeof(token_buf));
    if (trc != 0)
        return trc;
    char srv[2048];
    server_trim(srv, sizeof(srv), server);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return EXIT_NO_SESSION;
    session_t s = {.exit_code = -1, .out_fd = STDOUT_FILENO};
    unsigned cols = 80, rows = 24;
    struct winsize wsz;
    int tty = isatty(STDIN_FILENO);
    if (tty && ioctl(STDIN_FILENO, TIOCGWINSZ, &wsz) == 0 && wsz.ws_col > 0 && wsz.ws_row > 0)
        cols = wsz.ws_col, rows = wsz.ws_row;
    int rc = EXIT_NO_SESSION;
    ws_client_t *c = open_session(prog, srv, token, argv[optind], NULL, cols, rows, &s);
    if (c == NULL) {
        curl_global_cleanup();
        return rc;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (tty && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
        struct termios raw = saved_tio;
        cfmakeraw(&raw);
        tio_saved = 1;
        atexit(tty_restore); /* every exit path, also exit() from a library */
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
    }
    int stdin_open = 1;
    long eof_sent_ms = 0;
    for (;;) {
        if (stop_sig) {
            ws_client_close(c, 1000, "{\"code\":\"client_closed\"}");
            ws_client_io(c);
            rc = 128 + stop_sig;
            break;
        }
        if (winch) {
            winch = 0;
            send_size(c);
        }
        int r = ws_client_io(c);
        if (r != 0) {
            tty_restore();
            rc = r < 0 ? EXIT_NO_SESSION : session_result(prog, c, &s);
            break;
        }
        /* input from a pipe ended: an end-of-file character (^D) whenever the
         * remote side has been quiet for a moment, as a user would press it
         * until the shell exits (one typed ahead while a command runs can be
         * swallowed by the remote terminal, so it is repeated) */
        long now = now_ms();
        if (!stdin_open && now - s.last_output_ms >= EOF_QUIET_MS && now - eof_sent_ms >= EOF_QUIET_MS) {
            ws_client_send(c, WSC_OP_BINARY, "\x04", 1);
            eof_sent_ms = now;
            continue;
        }
        struct pollfd p[2] = {
            {.fd = ws_client_fd(c), .events = POLLIN | (ws_client_want_write(c) ? POLLOUT : 0)},
            {.fd = stdin_open && ws_client_unsent(c) < OUT_PAUSE_BYTES ? STDIN_FILENO : -1, .events = POLLIN},
        };
        if (poll(p, 2, stdin_open ? 1000 : 100) < 0 && errno != EINTR)
            break;
        if (p[1].revents & (POLLIN | POLLHUP)) {
            char buf[4096];
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n > 0) {
                ws_client_send(c, WSC_OP_BINARY, buf, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                stdin_open = 0;
            }
        }
    }
    tty_restore();
    ws_client_free(c);
    curl_global_cleanup();
    return rc;
}
