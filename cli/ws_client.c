#include "ws_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <wslay/wslay.h>

#define HANDSHAKE_MAX (16 * 1024)

struct ws_client {
    CURL *curl;
    int fd;
    wslay_event_context_ptr ctx;
    ws_client_msg_fn on_msg;
    void *user;
    char *pending; /* bytes that came after the 101's headers */
    size_t pending_len, pending_off;
    int eof, failed;
    int close_pending; /* queued once the messages before it are out (wslay sends control frames first) */
    uint16_t close_send_code;
    char close_send_reason[124];
    uint16_t close_code;
    char close_reason[128];
};

static int insecure;

void ws_client_set_insecure(int on)
{
    insecure = on;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, long deadline)
{
    long left = deadline - now_ms();
    if (left <= 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, (int)left) > 0;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    ws_client_t *c = user;
    if (c->pending_off < c->pending_len) {
        size_t n = c->pending_len - c->pending_off;
        if (n > len)
            n = len;
        memcpy(buf, c->pending + c->pending_off, n);
        c->pending_off += n;
        return (ssize_t)n;
    }
    size_t got = 0;
    CURLcode rc = curl_easy_recv(c->curl, buf, len, &got);
    if (rc == CURLE_AGAIN) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (rc != CURLE_OK || got == 0) {
        c->eof = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)got;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
    (void)flags;
    ws_client_t *c = user;
    size_t sent = 0;
    CURLcode rc = curl_easy_send(c->curl, data, len, &sent);
    if (rc == CURLE_AGAIN) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (rc != CURLE_OK) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)sent;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx, (void)user;
    randombytes_buf(buf, len);
    return 0;
}

static void on_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    (void)ctx;
    ws_client_t *c = user;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        c->close_code = arg->status_code ? arg->status_code : 1005;
        size_t n = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
        if (n >= sizeof(c->close_reason))
            n = sizeof(c->close_reason) - 1;
        if (n > 0)
            memcpy(c->close_reason, arg->msg + 2, n);
        c->close_reason[n] = '\0';
        return;
    }
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
        c->on_msg(c->user, arg->opcode, arg->msg, arg->msg_length);
}

/* a header's value in a raw header block (case-insensitive name) */
static int header_value(const char *hdrs, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(hdrs, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t len = end ? (size_t)(end - v) : strlen(v);
            while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            if (len >= outlen)
                len = outlen - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return 1;
        }
    }
    return 0;
}

static int send_all(CURL *curl, int fd, const char *data, size_t len, long deadline)
{
    size_t off = 0;
    while (off < len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(curl, data + off, len - off, &n);
        if (rc == CURLE_AGAIN) {
            if (!wait_fd(fd, POLLOUT, deadline))
                return -1;
            continue;
        }
        if (rc != CURLE_OK)
            return -1;
        off += n;
    }
    return 0;
}

static void fail_text(char *err, size_t errlen, const char *body)
{
    const char *e = strstr(body, "\"error\":\"");
    if (e != NULL) {
        e += 9;
        size_t n = 0;
        while (e[n] != '\0' && e[n] != '"' && n + 1 < errlen)
            n++;
        snprintf(err, errlen, "%.*s", (int)n, e);
    } else {
        snprintf(err, errlen, "%.200s", body);
    }
}

ws_client_t *ws_client_connect(const char *base_url, const char *path, const char *bearer, long timeout_ms,
                               ws_client_msg_fn on_msg, void *user, long *http_status, char *err, size_t errlen)
{
    static const struct wslay_event_callbacks cbs = {.recv_callback = recv_cb, .send_callback = send_cb,
                                                      .genmask_callback = genmask_cb,
                                                      .on_msg_recv_callback = on_msg_cb};
    *http_status = 0;
    err[0] = '\0';
    long deadline = now_ms() + timeout_ms;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "cannot initialise libsodium");
        return NULL;
    }
    ws_client_t *c = calloc(1, sizeof(*c));
    char *buf = malloc(HANDSHAKE_MAX + 1), *req = NULL, *host = NULL, *port = NULL;
    CURLU *u = curl_url();
    if (c == NULL || buf == NULL || u == NULL || (c->curl = curl_easy_init()) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    c->on_msg = on_msg;
    c->user = user;
    if (curl_url_set(u, CURLUPART_URL, base_url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, errlen, "bad server URL %s", base_url);
        goto fail;
    }
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c->curl, CURLOPT_URL, base_url);
    curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    if (insecure) {
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        goto fail;
    }
    curl_socket_t sock = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK || sock == CURL_SOCKET_BAD) {
        snprintf(err, errlen, "no socket after connecting");
        goto fail;
    }
    c->fd = (int)sock;
    unsigned char raw[16];
    char key[32];
    randombytes_buf(raw, sizeof(raw));
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    size_t reqcap = strlen(path) + strlen(host) + (bearer ? strlen(bearer) : 0) + 512;
    if ((req = malloc(reqcap)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    int reqlen = snprintf(req, reqcap,
                          "GET %s HTTP/1.1\r\nHost: %s%s%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: hydracluster\r\n"
                          "%s%s%s\r\n",
                          path, host, port ? ":" : "", port ? port : "", key, bearer ? "Authorization: Bearer " : "",
                          bearer ? bearer : "", bearer ? "\r\n" : "");
    if (send_all(c->curl, c->fd, req, (size_t)reqlen, deadline) != 0) {
        snprintf(err, errlen, "could not send the WebSocket handshake");
        goto fail;
    }
    /* the answer's header block */
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        size_t got = 0;
        if (len == HANDSHAKE_MAX) {
            snprintf(err, errlen, "the server's answer to the handshake is too large");
            goto fail;
        }
        rc = curl_easy_recv(c->curl, buf + len, HANDSHAKE_MAX - len, &got);
        if (rc == CURLE_AGAIN) {
            if (!wait_fd(c->fd, POLLIN, deadline)) {
                snprintf(err, errlen, "no answer to the WebSocket handshake");
                goto fail;
            }
            continue;
        }
        if (rc != CURLE_OK || got == 0) {
            snprintf(err, errlen, "the server closed the connection during the handshake");
            goto fail;
        }
        len += got;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t hlen = (size_t)(end - buf) + 4;
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        snprintf(err, errlen, "not an HTTP answer");
        goto fail;
    }
    *http_status = status;
    char val[128];
    if (status != 101) {
        /* the JSON error body, as far as Content-Length says and time allows */
        size_t want = header_value(buf, "content-length", val, sizeof(val)) ? (size_t)strtoul(val, NULL, 10) : 0;
        while (len - hlen < want && len < HANDSHAKE_MAX) {
            size_t got = 0;
            rc = curl_easy_recv(c->curl, buf + len, HANDSHAKE_MAX - len, &got);
            if (rc == CURLE_AGAIN) {
                if (!wait_fd(c->fd, POLLIN, deadline))
                    break;
                continue;
            }
            if (rc != CURLE_OK || got == 0)
                break;
            len += got;
        }
        buf[len] = '\0';
        fail_text(err, errlen, buf + hlen);
        goto fail;
    }
    char expect[32];
    unsigned char in[24 + 36], md[SHA_DIGEST_LENGTH];
    memcpy(in, key, 24);
    memcpy(in + 24, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    SHA1(in, sizeof(in), md);
    EVP_EncodeBlock((unsigned char *)expect, md, SHA_DIGEST_LENGTH);
    if (!header_value(buf, "sec-websocket-accept", val, sizeof(val)) || strcmp(val, expect) != 0) {
        snprintf(err, errlen, "the server's Sec-WebSocket-Accept is wrong");
        goto fail;
    }
    if (len > hlen) {
        memmove(buf, buf + hlen, len - hlen);
        c->pending = buf;
        c->pending_len = len - hlen;
        buf = NULL;
    }
    if (wslay_event_context_client_init(&c->ctx, &cbs, c) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    free(buf);
    free(req);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return c;
fail:
    free(buf);
    free(req);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    ws_client_free(c);
    return NULL;
}

int ws_client_fd(ws_client_t *c)
{
    return c->fd;
}

int ws_client_want_write(ws_client_t *c)
{
    return wslay_event_want_write(c->ctx) || c->close_pending;
}

size_t ws_client_unsent(ws_client_t *c)
{
    return wslay_event_get_queued_msg_length(c->ctx);
}

int ws_client_io(ws_client_t *c)
{
    if (c->failed)
        return -1;
    if (wslay_event_want_read(c->ctx) && wslay_event_recv(c->ctx) != 0) {
        if (c->eof) {
            if (c->close_code == 0) {
                c->close_code = 1006;
                snprintf(c->close_reason, sizeof(c->close_reason), "the connection was lost");
            }
            return 1;
        }
        c->failed = 1;
        return -1;
    }
    if (c->close_pending && wslay_event_get_queued_msg_count(c->ctx) == 0) {
        c->close_pending = 0;
        wslay_event_queue_close(c->ctx, c->close_send_code, (const uint8_t *)c->close_send_reason,
                                strlen(c->close_send_reason));
    }
    if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0) {
        if (c->close_code != 0)
            return 1; /* the peer closed and went: our answer to its close has nowhere to go */
        c->failed = 1;
        return -1;
    }
    if (c->close_pending)
        return 0;
    if (c->close_code != 0 && !wslay_event_want_write(c->ctx))
        return 1;
    if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx))
        return 1;
    return 0;
}

int ws_client_send(ws_client_t *c, int opcode, const void *data, size_t len)
{
    struct wslay_event_msg m = {(uint8_t)opcode, data, len};
    return wslay_event_queue_msg(c->ctx, &m) == 0 ? 0 : -1;
}

void ws_client_close(ws_client_t *c, uint16_t code, const char *reason)
{
    c->close_pending = 1;
    c->close_send_code = code;
    snprintf(c->close_send_reason, sizeof(c->close_send_reason), "%s", reason ? reason : "");
}

uint16_t ws_client_close_info(ws_client_t *c, char *reason, size_t len)
{
    if (reason != NULL && len > 0)
        snprintf(reason, len, "%s", c->close_reason);
    return c->close_code;
}

void ws_client_free(ws_client_t *c)
{
    if (c == NULL)
        return;
    if (c->ctx != NULL)
        wslay_event_context_free(c->ctx);
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    free(c->pending);
    free(c);
}
