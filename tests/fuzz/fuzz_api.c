/* libFuzzer target: every route that takes a JSON body, through the whole
 * server. The server runs in this process (serve_main on its own thread,
 * data dir on /dev/shm so commits are cheap) with one approved node, one
 * head, an unspent enrollment token and a role; each input is one request
 * on a kept-alive loopback connection:
 *
 *   byte 0        which route (index into routes[] below, modulo)
 *   bytes 1..     the body, sent as application/json with the route's
 *                 credential
 *
 * so the JSON parser, the limits stage, auth and each handler's schema and
 * validation all see fuzzed bodies. Any 5xx answer is a finding (bad input
 * must be 4xx; a valid body 2xx) and aborts with the route and the answer;
 * so does a sanitizer report or a lock-order violation anywhere in the
 * server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "serve.h"

#define ADMIN "fuzz-admin-token-0123456789abcdef0123456789abcdef"
#define FLEET "fuzz-fleet-token-0123456789abcdef0123456789abcdef"

enum cred { C_ADMIN, C_NODE, C_HEAD, C_FLEET, C_NONE };

static const struct {
    const char *method, *path;
    enum cred cred;
} routes[] = {
    {"POST", "/api/v1/admin-tokens", C_ADMIN},
    {"POST", "/api/v1/enrollments", C_ADMIN},
    {"POST", "/api/v1/enroll", C_NONE},
    {"PATCH", "/api/v1/nodes/@BODY@", C_ADMIN},
    {"POST", "/api/v1/nodes/@BODY@/roles", C_ADMIN},
    {"PUT", "/api/v1/roles/fuzzrole", C_ADMIN},
    {"POST", "/api/v1/body/heartbeat", C_NODE},
    {"POST", "/api/v1/heads", C_FLEET},
    {"PUT", "/api/v1/heads/@HEAD@", C_HEAD},
    {"POST", "/api/v1/nodes/@HEAD@/head-assignment", C_ADMIN},
    {"POST", "/api/v1/nodes/@HEAD@/allowed-experiences", C_ADMIN},
    {"POST", "/api/v1/nodes/@BODY@/exec", C_ADMIN},
    {"POST", "/api/v1/body/exec/result", C_NODE},
    {"POST", "/api/v1/session", C_NONE},
    {"PUT", "/api/v1/heads/@HEAD@", C_ADMIN},
    {"POST", "/api/v1/body/sessions/sess-none/logs", C_NODE},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static int port, sock = -1;
static char cfg_path[256], body_id[64], body_tok[80], head_id[64], head_tok[80];

static char data_root[64];

/* the data dir goes with the process (the server thread is still running;
 * its open files do not mind) */
static void remove_data_root(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_root);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_api: could not remove %s\n", data_root);
}

static void *server_main(void *arg)
{
    (void)arg;
    char *argv[] = {"serve", "--config", cfg_path, NULL};
    int rc = serve_main(3, argv);
    fprintf(stderr, "fuzz_api: the server stopped (exit %d)\n", rc);
    abort();
    return NULL;
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* one request on the kept-alive connection; the answer's body (NUL-terminated,
 * cut to resplen) and status. -1 when the connection broke. */
static int http_once(const char *method, const char *path, const char *token, const void *body, size_t blen,
                     char *resp, size_t resplen, long *status)
{
    if (sock < 0 && (sock = connect_server()) < 0)
        return -1;
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s%s\r\n",
                     method, path, blen, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "");
    if (send_all(sock, head, (size_t)n) != 0 || (blen > 0 && send_all(sock, body, blen) != 0))
        goto broken;
    static char buf[1 << 20];
    size_t len = 0;
    char *end = NULL;
    while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
        if (len == sizeof(buf))
            goto broken;
        ssize_t r = recv(sock, buf + len, sizeof(buf) - len, 0);
        if (r <= 0)
            goto broken;
        len += (size_t)r;
    }
    size_t hlen = (size_t)(end - buf) + 4;
    if (sscanf(buf, "HTTP/1.%*d %ld", status) != 1)
        goto broken;
    size_t clen = 0;
    int have_len = 0;
    for (char *l = buf; l < end; l = strstr(l, "\r\n") + 2) {
        if (strncasecmp(l, "content-length:", 15) == 0) {
            clen = strtoul(l + 15, NULL, 10);
            have_len = 1;
        }
        if (strstr(l, "\r\n") == NULL)
            break;
    }
    if (!have_len || hlen + clen > sizeof(buf) - 1) {
        fprintf(stderr, "fuzz_api: an answer without Content-Length or too big: %.*s\n", (int)hlen, buf);
        abort();
    }
    while (len < hlen + clen) {
        ssize_t r = recv(sock, buf + len, hlen + clen - len, 0);
        if (r <= 0)
            goto broken;
        len += (size_t)r;
    }
    size_t bl = clen < resplen - 1 ? clen : resplen - 1;
    memcpy(resp, buf + hlen, bl);
    resp[bl] = '\0';
    if (memmem(buf, hlen, "onnection: close", 16) != NULL) {
        close(sock);
        sock = -1;
    }
    return 0;
broken:
    if (sock >= 0)
        close(sock);
    sock = -1;
    return -1;
}

static int http(const char *method, const char *path, const char *token, const void *body, size_t blen, char *resp,
                size_t resplen, long *status)
{
    if (http_once(method, path, token, body, blen, resp, resplen, status) == 0)
        return 0;
    return http_once(method, path, token, body, blen, resp, resplen, status);
}

/* the string value of "key" in a small JSON answer */
static void json_field(const char *json, const char *key, char *out, size_t outlen)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (p == NULL) {
        fprintf(stderr, "fuzz_api: no %s in %s\n", key, json);
        abort();
    }
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), p);
}

static void must(const char *method, const char *path, const char *token, const char *body, long want, char *resp,
                 size_t resplen)
{
    long st = 0;
    if (http(method, path, token, body, strlen(body), resp, resplen, &st) != 0 || st != want) {
        fprintf(stderr, "fuzz_api setup: %s %s -> %ld %s\n", method, path, st, resp);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_min_level(LOG_FATAL); /* one access-log line per input would drown the fuzzer's output */
    char dir[] = "/dev/shm/hc-fuzz-api-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        char tmp[] = "/tmp/hc-fuzz-api-XXXXXX";
        if (mkdtemp(tmp) == NULL)
            abort();
        memcpy(dir, tmp, sizeof(tmp));
    }
    snprintf(data_root, sizeof(data_root), "%s", dir);
    atexit(remove_data_root);
    /* a free port: bind 0, read it back, close (the server binds it next) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        abort();
    port = ntohs(a.sin_port);
    close(fd);
    snprintf(cfg_path, sizeof(cfg_path), "%s/config.yaml", dir);
    FILE *f = fopen(cfg_path, "w");
    if (f == NULL)
        abort();
    fprintf(f,
            "server:\n  listen: \"127.0.0.1:%d\"\n  data_dir: \"%s/data\"\n  admin_token: \"%s\"\n"
            "  fleet_enrollment_token: \"%s\"\n  workers: 1\n  auth_max_failures: 0\n",
            port, dir, ADMIN, FLEET);
    fclose(f);
    pthread_t t;
    if (pthread_create(&t, NULL, server_main, NULL) != 0)
        abort();
    pthread_detach(t);
    char resp[4096];
    long st = 0;
    int up = 0;
    for (int i = 0; i < 600 && !up; i++) {
        up = http_once("GET", "/api/v1/health", NULL, "", 0, resp, sizeof(resp), &st) == 0 && st == 200;
        if (!up)
            usleep(50 * 1000);
    }
    if (!up) {
        fprintf(stderr, "fuzz_api: the server did not come up\n");
        abort();
    }
    char tok[128];
    must("POST", "/api/v1/enrollments", ADMIN, "{\"name\":\"fz\",\"os\":\"linux\",\"auto_approve\":true}", 201, resp,
         sizeof(resp));
    json_field(resp, "enrollment_token", tok, sizeof(tok));
    char body[512];
    snprintf(body, sizeof(body),
             "{\"enrollment_token\":\"%s\",\"hostname\":\"fz\",\"os\":\"linux\",\"arch\":\"amd64\",\"version\":\"v1\"}",
             tok);
    must("POST", "/api/v1/enroll", NULL, body, 201, resp, sizeof(resp));
    json_field(resp, "node_id", body_id, sizeof(body_id));
    json_field(resp, "token", body_tok, sizeof(body_tok));
    must("POST", "/api/v1/heads", FLEET, "{\"name\":\"fzhead\"}", 201, resp, sizeof(resp));
    json_field(resp, "head_id", head_id, sizeof(head_id));
    json_field(resp, "token", head_tok, sizeof(head_tok));
    must("PUT", "/api/v1/roles/r1", ADMIN, "{\"description\":\"one\"}", 201, resp, sizeof(resp));
    /* an unspent enrollment token for the fuzzed POST /api/v1/enroll (the corpus carries it) */
    must("POST", "/api/v1/enrollments", ADMIN, "{\"name\":\"fz2\",\"os\":\"linux\"}", 201, resp, sizeof(resp));
    fprintf(stderr, "fuzz_api: server on 127.0.0.1:%d, data in %s; body %s, head %s\n", port, dir, body_id, head_id);
    return 0;
}

static void fill_path(const char *tmpl, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < outlen;) {
        const char *v = NULL;
        if (strncmp(p, "@BODY@", 6) == 0)
            v = body_id;
        else if (strncmp(p, "@HEAD@", 6) == 0)
            v = head_id;
        if (v != NULL) {
            o += (size_t)snprintf(out + o, outlen - o, "%s", v);
            p += 6;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    size_t i = data[0] % NROUTES;
    char path[256];
    fill_path(routes[i].path, path, sizeof(path));
    const char *tok = routes[i].cred == C_ADMIN  ? ADMIN
                      : routes[i].cred == C_NODE ? body_tok
                      : routes[i].cred == C_HEAD ? head_tok
                      : routes[i].cred == C_FLEET ? FLEET
                                                  : NULL;
    char resp[2048];
    long st = 0;
    if (http(routes[i].method, path, tok, data + 1, size - 1, resp, sizeof(resp), &st) != 0) {
        fprintf(stderr, "fuzz_api: %s %s: the connection broke twice (server crashed or hung?)\n", routes[i].method,
                path);
        abort();
    }
    if (st >= 500) {
        fprintf(stderr, "fuzz_api: %s %s answered %ld: %s\n", routes[i].method, path, st, resp);
        abort();
    }
    if (st >= 400 && (strstr(resp, "\"error\"") == NULL || strstr(resp, "\"code\"") == NULL)) {
        fprintf(stderr, "fuzz_api: %s %s answered %ld without a JSON error: %s\n", routes[i].method, path, st, resp);
        abort();
    }
    return 0;
}
