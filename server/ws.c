#include "ws.h"

#include <h2o/http1.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "log.h"
#include "workers.h"

#define WS_WBUF_MAX (64 * 1024)    /* framed bytes gathered before one socket write */
#define WS_CLOSE_LINGER_MS 5000     /* a peer that does not read our close frame is cut off after this */

struct ws_conn {
    h2o_socket_t *sock; /* NULL until the 101 was written */
    wslay_event_context_ptr ctx;
    const ws_handlers_t *h;
    void *data;
    worker_t *worker;
    h2o_linklist_t link; /* in the worker's list (thread-local `conns`) */
    h2o_timeout_entry_t close_timer; /* ws_close's linger */
    h2o_timeout_entry_t finish_timer; /* on_close runs from the loop, never inside one of our calls */
    char *wbuf;
    size_t wlen;
    char *writing; /* handed to h2o_socket_write until it completes */
    size_t writing_len;
    int paused, busy, finished, closing, failed, counted;
    int close_code; /* for on_close */
    int close_pending; /* ws_close waits for the queued messages: wslay would send a close ahead of them */
    char close_reason[124];
};

static __thread h2o_linklist_t conns;
static __thread int conns_ready;

static void proceed(ws_conn_t *c);

static void on_finish_timer(h2o_timeout_entry_t *e)
{
    ws_conn_t *c = H2O_STRUCT_FROM_MEMBER(ws_conn_t, finish_timer, e);
    if (h2o_linklist_is_linked(&c->link))
        h2o_linklist_unlink(&c->link);
    c->h->on_close(c, c->close_code);
    wslay_event_context_free(c->ctx);
    free(c->wbuf);
    free(c->writing);
    if (c->counted)
        c->worker->inflight--;
    free(c);
}

/* Closes the socket now and reports on_close at the loop's next turn: a
 * caller in the middle of ws_send or a callback never sees c freed. */
static void finish(ws_conn_t *c, int code)
{
    if (c->finished)
        return;
    c->finished = 1;
    c->close_code = code;
    if (h2o_timeout_is_linked(&c->close_timer))
        h2o_timeout_unlink(&c->close_timer);
    if (c->sock != NULL) {
        h2o_socket_close(c->sock);
        c->sock = NULL;
    }
    h2o_timeout_t *t = worker_timeout(c->worker, 0);
    if (t == NULL) {
        /* cannot happen for 0 ms in practice (it is the first duration the
         * stop path uses); report now rather than leak */
        on_finish_timer(&c->finish_timer);
        return;
    }
    h2o_timeout_link(c->worker->ctx.loop, t, &c->finish_timer);
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    ws_conn_t *c = user;
    if (c->paused || c->sock == NULL || c->sock->input->size == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > c->sock->input->size)
        len = c->sock->input->size;
    memcpy(buf, c->sock->input->bytes, len);
    h2o_buffer_consume(&c->sock->input, len);
    return (ssize_t)len;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
    (void)flags;
    ws_conn_t *c = user;
    if (c->wlen >= WS_WBUF_MAX) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (c->wbuf == NULL && (c->wbuf = malloc(WS_WBUF_MAX)) == NULL) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    if (len > WS_WBUF_MAX - c->wlen)
        len = WS_WBUF_MAX - c->wlen;
    memcpy(c->wbuf + c->wlen, data, len);
    c->wlen += len;
    return (ssize_t)len;
}

static void on_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    (void)ctx;
    ws_conn_t *c = user;
    if (c->finished)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
        c->h->on_message(c, arg->opcode, arg->msg, arg->msg_length);
}

static void on_write_done(h2o_socket_t *sock, const char *err)
{
    ws_conn_t *c = sock->data;
    free(c->writing);
    c->writing = NULL;
    c->writing_len = 0;
    if (err != NULL) {
        finish(c, 1006);
        return;
    }
    proceed(c);
    if (!c->finished && c->h->on_drain != NULL)
        c->h->on_drain(c);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    ws_conn_t *c = sock->data;
    if (err != NULL) {
        finish(c, 1006);
        return;
    }
    proceed(c);
}

static void proceed(ws_conn_t *c)
{
    if (c->sock == NULL || c->finished || c->busy)
        return;
    c->busy = 1;
    for (;;) {
        int progress = 0;
        if (c->close_pending && wslay_event_get_queued_msg_count(c->ctx) == 0) {
            c->close_pending = 0;
            wslay_event_queue_close(c->ctx, (uint16_t)c->close_code, (const uint8_t *)c->close_reason,
                                    strlen(c->close_reason));
            progress = 1;
        }
        if (!c->paused && c->sock->input->size > 0 && wslay_event_want_read(c->ctx)) {
            size_t before = c->sock->input->size;
            if (wslay_event_recv(c->ctx) != 0) {
                c->failed = 1;
                break;
            }
            progress |= c->sock->input->size != before;
        }
        if (c->writing == NULL && wslay_event_want_write(c->ctx)) {
            size_t before = c->wlen;
            if (wslay_event_send(c->ctx) != 0) {
                c->failed = 1;
                break;
            }
            progress |= c->wlen != before;
        }
        if (c->writing == NULL && c->wlen > 0) {
            c->writing = c->wbuf;
            c->writing_len = c->wlen;
            c->wbuf = NULL;
            c->wlen = 0;
            h2o_iovec_t iov = h2o_iovec_init(c->writing, c->writing_len);
            h2o_socket_write(c->sock, &iov, 1, on_write_done);
            progress = 1;
        }
        if (!progress || c->finished)
            break;
    }
    c->busy = 0;
    if (c->finished)
        return;
    if (c->failed) {
        finish(c, 1006);
        return;
    }
    int pending = c->writing != NULL || c->wlen > 0 || wslay_event_want_write(c->ctx) || c->close_pending;
    int close_sent = wslay_event_get_close_sent(c->ctx);
    if (!pending && (close_sent || !wslay_event_want_read(c->ctx))) {
        /* our close frame is out (we do not wait for the peer's echo), or the
         * peer closed and our answer is out */
        int code = close_sent ? wslay_event_get_status_code_sent(c->ctx) : wslay_event_get_status_code_received(c->ctx);
        if (!close_sent || wslay_event_get_close_received(c->ctx))
            code = wslay_event_get_status_code_received(c->ctx);
        finish(c, code == WSLAY_CODE_NO_STATUS_RCVD || code == 0 ? 1005 : code);
        return;
    }
    int want_read = wslay_event_want_read(c->ctx) && !c->paused;
    if (want_read && !h2o_socket_is_reading(c->sock))
        h2o_socket_read_start(c->sock, on_read);
    else if (!want_read && h2o_socket_is_reading(c->sock))
        h2o_socket_read_stop(c->sock);
}

static void on_close_timer(h2o_timeout_entry_t *e)
{
    ws_conn_t *c = H2O_STRUCT_FROM_MEMBER(ws_conn_t, close_timer, e);
    finish(c, c->close_code);
}

static void on_upgraded(void *user, h2o_socket_t *sock, size_t reqsize)
{
    ws_conn_t *c = user;
    if (sock == NULL) {
        finish(c, 1006);
        return;
    }
    c->sock = sock;
    sock->data = c;
    h2o_buffer_consume(&sock->input, reqsize);
    c->worker->inflight++; /* an open WebSocket keeps a stopping worker waiting, like a request */
    c->counted = 1;
    if (!conns_ready) {
        h2o_linklist_init_anchor(&conns);
        conns_ready = 1;
    }
    h2o_linklist_insert(&conns, &c->link);
    if (c->worker->stopping) /* the 101 went out while the worker was stopping */
        ws_close(c, 1001, "{\"code\":\"server_stopping\",\"error\":\"the server is stopping\"}");
    if (c->closing && !h2o_timeout_is_linked(&c->close_timer)) {
        h2o_timeout_t *t = worker_timeout(c->worker, WS_CLOSE_LINGER_MS);
        if (t != NULL)
            h2o_timeout_link(c->worker->ctx.loop, t, &c->close_timer);
    }
    proceed(c);
}

/* RFC 6455 4.2.2: base64(SHA-1(key + GUID)); h2o's own helper is not
 * exported by the Debian library */
static void accept_key(char dst[29], const char *key)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char in[24 + sizeof(guid) - 1], md[SHA_DIGEST_LENGTH];
    memcpy(in, key, 24);
    memcpy(in + 24, guid, sizeof(guid) - 1);
    SHA1(in, sizeof(in), md);
    EVP_EncodeBlock((unsigned char *)dst, md, SHA_DIGEST_LENGTH);
}

int ws_is_handshake(hc_req_t *r, const char **key)
{
    h2o_req_t *req = r->req;
    *key = NULL;
    if (req->upgrade.base == NULL || !h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("websocket")))
        return 0;
    if (req->version != 0x101 || !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return -1;
    ssize_t v = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-version"), -1);
    if (v < 0 || !h2o_memis(req->headers.entries[v].value.base, req->headers.entries[v].value.len, H2O_STRLIT("13")))
        return -1;
    ssize_t k = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-key"), -1);
    if (k < 0 || req->headers.entries[k].value.len != 24)
        return -1;
    *key = req->headers.entries[k].value.base;
    return 1;
}

ws_conn_t *ws_upgrade(hc_req_t *r, const char *key, const ws_handlers_t *h, void *data, size_t max_msg)
{
    static const struct wslay_event_callbacks cbs = {.recv_callback = recv_cb, .send_callback = send_cb,
                                                      .on_msg_recv_callback = on_msg_cb};
    if (r->worker == NULL)
        return NULL;
    ws_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (wslay_event_context_server_init(&c->ctx, &cbs, c) != 0) {
        free(c);
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(c->ctx, max_msg);
    c->h = h;
    c->data = data;
    c->worker = r->worker;
    c->close_timer.cb = on_close_timer;
    c->finish_timer.cb = on_finish_timer;
    h2o_req_t *req = r->req;
    char *accept = h2o_mem_alloc_pool(&req->pool, 29);
    accept_key(accept, key);
    req->res.status = 101;
    req->res.reason = "Switching Protocols";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-accept"), 0, NULL, accept,
                          strlen(accept));
    h2o_http1_upgrade(req, NULL, 0, on_upgraded, c);
    return c;
}

void *ws_data(ws_conn_t *c)
{
    return c->data;
}

int ws_send(ws_conn_t *c, int opcode, const void *data, size_t len)
{
    if (c->finished || c->closing)
        return -1;
    struct wslay_event_msg m = {(uint8_t)opcode, data, len};
    if (wslay_event_queue_msg(c->ctx, &m) != 0)
        return -1;
    proceed(c);
    return 0;
}

void ws_ping(ws_conn_t *c)
{
    if (c->finished || c->closing)
        return;
    struct wslay_event_msg m = {WSLAY_PING, (const uint8_t *)"hc", 2};
    if (wslay_event_queue_msg(c->ctx, &m) == 0)
        proceed(c);
}

void ws_close(ws_conn_t *c, uint16_t code, const char *reason)
{
    if (c->finished || c->closing)
        return;
    c->closing = 1;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason != NULL ? reason : "");
    c->close_pending = 1;
    c->paused = 0; /* a close must be able to finish even if the relay paused us */
    if (c->sock != NULL) {
        h2o_timeout_t *t = worker_timeout(c->worker, WS_CLOSE_LINGER_MS);
        if (t != NULL)
            h2o_timeout_link(c->worker->ctx.loop, t, &c->close_timer);
    }
    proceed(c);
}

void ws_read_pause(ws_conn_t *c, int paused)
{
    if (c->finished || c->closing || c->paused == paused)
        return;
    c->paused = paused;
    proceed(c);
}

size_t ws_unsent(ws_conn_t *c)
{
    return wslay_event_get_queued_msg_length(c->ctx) + c->wlen + c->writing_len;
}

void ws_worker_shutdown(worker_t *w)
{
    (void)w;
    if (!conns_ready)
        return;
    for (h2o_linklist_t *n = conns.next; n != &conns;) {
        h2o_linklist_t *next = n->next;
        ws_conn_t *c = H2O_STRUCT_FROM_MEMBER(ws_conn_t, link, n);
        ws_close(c, 1001, "{\"code\":\"server_stopping\",\"error\":\"the server is stopping\"}");
        n = next;
    }
}
