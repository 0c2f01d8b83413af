#include "conn_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

#include <h2o/http2.h>
#include <h2o/http2_internal.h>

#include "clock.h"
#include "log.h"
#include "workers.h"

/* episodes (cap reached, descriptors exhausted) are logged at most this often */
#define EPISODE_LOG_EVERY_MS 10000
/* client-reset stream ids remembered per HTTP/2 connection, for the access log */
#define RESET_RING 16

typedef ssize_t (*h2_expect_fn)(h2o_http2_conn_t *conn, const uint8_t *src, size_t len, const char **err_desc);

struct conn_guard {
    struct worker *worker;
    int fd;        /* the socket's descriptor (h2o keeps it to itself) */
    int linger_fd; /* a duplicate kept past h2o's close to drain an unread body, or -1 */
    h2_expect_fn h2_expect; /* h2o's frame reader, once this connection's is wrapped */
    uint64_t reset_window_ms;
    uint32_t resets_in_window;
    uint32_t reset_ring[RESET_RING];
    unsigned reset_next;
};

static unsigned max_conns = 4096;
static atomic_size_t open_conns;
static atomic_int reserve[CONN_GUARD_RESERVE_FDS];
static atomic_uint_fast64_t cap_pauses, fd_pauses, h2_resets, h2_goaways;
/* episode state: 1 while in it; when it was last logged */
static atomic_int cap_episode, fd_episode;
/* under steady pressure an episode ends and starts again many times a
 * second: its start and its end are each logged at most every 10 s */
static _Atomic uint64_t cap_logged_ms, fd_logged_ms, goaway_logged_ms, cap_end_logged_ms, fd_end_logged_ms;
static atomic_uint_fast64_t goaway_unlogged;

static int reserve_open(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int conn_guard_init(const hc_config_t *cfg, char *err, size_t errlen)
{
    max_conns = cfg->server.max_connections ? cfg->server.max_connections : 4096;
    for (size_t i = 0; i < CONN_GUARD_RESERVE_FDS; i++) {
        int fd = reserve_open();
        if (fd < 0) {
            snprintf(err, errlen, "cannot open /dev/null for the reserve file descriptors: %s", strerror(errno));
            return -1;
        }
        atomic_store(&reserve[i], fd);
    }
    /* systemd's LimitNOFILE sets both; a shell's soft 1024 is only a default */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            struct rlimit want = {rl.rlim_max, rl.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &want) == 0)
                rl = want;
        }
        /* the database, listeners, the workers' loops and the reserve need some */
        rlim_t need = (rlim_t)max_conns + 64 + CONN_GUARD_RESERVE_FDS;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
            log_warn("msg=\"server.max_connections does not fit in the file descriptor limit: past about %llu "
                     "connections accepts fail and the server pauses accepting; raise LimitNOFILE or lower "
                     "server.max_connections\" max_connections=%u nofile=%llu",
                     (unsigned long long)(rl.rlim_cur > 64 + CONN_GUARD_RESERVE_FDS ? rl.rlim_cur - 64 - CONN_GUARD_RESERVE_FDS
                                                                                    : 0),
                     max_conns, (unsigned long long)rl.rlim_cur);
    }
    return 0;
}

/* 1 when an episode's line may be written now (at most one per EPISODE_LOG_EVERY_MS) */
static int log_due(_Atomic uint64_t *last)
{
    uint64_t now = clock_mono_ms(), prev = atomic_load(last);
    if (prev != 0 && now - prev < EPISODE_LOG_EVERY_MS)
        return 0;
    return atomic_compare_exchange_strong(last, &prev, now);
}

int conn_guard_admit(void)
{
    size_t n = atomic_fetch_add(&open_conns, 1);
    if (n < max_conns) {
        if (atomic_load_explicit(&cap_episode, memory_order_relaxed) && n + 1 < max_conns &&
            atomic_exchange(&cap_episode, 0) && log_due(&cap_end_logged_ms))
            log_info("msg=\"below the connection limit again; accepting\" open=%zu max_connections=%u", n + 1, max_conns);
        return 1;
    }
    atomic_fetch_sub(&open_conns, 1);
    atomic_fetch_add(&cap_pauses, 1);
    if (!atomic_exchange(&cap_episode, 1) && log_due(&cap_logged_ms))
        log_warn("msg=\"connection limit reached; new connections wait in the listen queue until others close\" "
                 "max_connections=%u",
                 max_conns);
    return 0;
}

void conn_guard_unadmit(void)
{
    atomic_fetch_sub(&open_conns, 1);
}

/* ---- lingering close ---- */

/* An HTTP/1 request answered without reading its body (middleware/prebody.c)
 * is closed while the client is still sending: closing a socket with unread
 * input makes the kernel send a reset, which can destroy the answer in the
 * client's buffer before it is read. So the descriptor is kept (a dup) past
 * h2o's close: the answer is followed by a FIN, and what still arrives is
 * read and thrown away for a short while, never buffered. */
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (64u * 1024 * 1024)

typedef struct {
    h2o_socket_t *sock;
    h2o_timeout_entry_t timeout;
    size_t drained;
} linger_t;

static void linger_end(linger_t *l)
{
    if (h2o_timeout_is_linked(&l->timeout))
        h2o_timeout_unlink(&l->timeout);
    h2o_socket_close(l->sock);
    free(l);
}

static void on_linger_timeout(h2o_timeout_entry_t *entry)
{
    linger_end(H2O_STRUCT_FROM_MEMBER(linger_t, timeout, entry));
}

static void on_linger_read(h2o_socket_t *sock, const char *err)
{
    linger_t *l = sock->data;
    l->drained += sock->input->size;
    h2o_buffer_consume(&sock->input, sock->input->size);
    if (err != NULL || l->drained > LINGER_MAX_BYTES)
        linger_end(l);
}

static void linger_start(struct worker *w, int fd)
{
    shutdown(fd, SHUT_WR); /* h2o wrote the answer before it closed: the FIN follows it */
    h2o_timeout_t *t = worker_timeout(w, LINGER_MS);
    linger_t *l = t != NULL ? calloc(1, sizeof(*l)) : NULL;
    if (l == NULL) {
        close(fd);
        return;
    }
    l->sock = h2o_evloop_socket_create(w->ctx.loop, fd, 0);
    l->sock->data = l;
    l->timeout.cb = on_linger_timeout;
    h2o_timeout_link(w->ctx.loop, t, &l->timeout);
    h2o_socket_read_start(l->sock, on_linger_read);
}

static void on_conn_close(void *data)
{
    struct conn_guard *g = data;
    if (g->linger_fd >= 0 && g->worker != NULL && !g->worker->stopping)
        linger_start(g->worker, g->linger_fd);
    else if (g->linger_fd >= 0)
        close(g->linger_fd);
    free(g);
    atomic_fetch_sub(&open_conns, 1);
}

void conn_guard_linger(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->on_close.cb != on_conn_close)
        return;
    struct conn_guard *g = sock->on_close.data;
    if (g->linger_fd < 0 && g->fd >= 0)
        g->linger_fd = fcntl(g->fd, F_DUPFD_CLOEXEC, 0);
}

int conn_guard_attach(h2o_socket_t *sock, int fd, struct worker *w)
{
    struct conn_guard *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        /* without its state the connection would escape the cap and the
         * HTTP/2 budget: refuse it */
        atomic_fetch_sub(&open_conns, 1);
        h2o_socket_close(sock);
        return -1;
    }
    g->worker = w;
    g->fd = fd;
    g->linger_fd = -1;
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = g;
    return 0;
}

void conn_guard_fds_exhausted(int err)
{
    atomic_fetch_add(&fd_pauses, 1);
    int released = 0;
    for (size_t i = 0; i < CONN_GUARD_RESERVE_FDS; i++) {
        int fd = atomic_exchange(&reserve[i], -1);
        if (fd >= 0) {
            close(fd);
            released++;
        }
    }
    if (!atomic_exchange(&fd_episode, 1) && log_due(&fd_logged_ms))
        log_error("msg=\"out of file descriptors: accepting paused, the reserve released for the server's own "
                  "files; raise LimitNOFILE or lower server.max_connections\" errno=%s open_connections=%zu "
                  "reserve_released=%d",
                  strerror(err), atomic_load(&open_conns), released);
}

int conn_guard_fds_ready(void)
{
    if (!atomic_load(&fd_episode))
        return 1;
    for (size_t i = 0; i < CONN_GUARD_RESERVE_FDS; i++) {
        if (atomic_load(&reserve[i]) >= 0)
            continue;
        int fd = reserve_open();
        if (fd < 0)
            return 0;
        int expected = -1;
        if (!atomic_compare_exchange_strong(&reserve[i], &expected, fd))
            close(fd); /* another worker refilled it */
    }
    /* the reserve alone is not room for clients: one descriptor more must be free */
    int spare = reserve_open();
    if (spare < 0)
        return 0;
    close(spare);
    if (atomic_exchange(&fd_episode, 0) && log_due(&fd_end_logged_ms))
        log_info("msg=\"file descriptors available again; accepting\" open_connections=%zu", atomic_load(&open_conns));
    return 1;
}

int conn_guard_fds_short(void)
{
    return atomic_load_explicit(&fd_episode, memory_order_relaxed);
}

size_t conn_guard_open_count(void)
{
    return atomic_load(&open_conns);
}

/* ---- HTTP/2 ---- */

static struct conn_guard *guard_of(h2o_socket_t *sock)
{
    return sock != NULL && sock->on_close.cb == on_conn_close ? sock->on_close.data : NULL;
}

static uint32_t decode32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Wraps h2o's frame reader (parse_input calls conn->_read_expect once per
 * frame, so every later frame of the connection passes here first). A
 * complete RST_STREAM frame from the client is counted; past the budget the
 * error makes h2o send GOAWAY and close the connection before the frame, or
 * anything after it in the buffer, is acted upon. */
static ssize_t h2_expect_guarded(h2o_http2_conn_t *conn, const uint8_t *src, size_t len, const char **err_desc)
{
    struct conn_guard *g = guard_of(conn->sock);
    if (g == NULL)
        return H2O_HTTP2_ERROR_INTERNAL; /* cannot happen: only guarded connections are wrapped */
    /* frame header: length (24 bits), type, flags, stream id; RST_STREAM's payload is 4 bytes */
    if (len >= 13 && src[3] == H2O_HTTP2_FRAME_TYPE_RST_STREAM) {
        uint64_t now = clock_mono_ms();
        if (now - g->reset_window_ms >= 1000) {
            g->reset_window_ms = now;
            g->resets_in_window = 0;
        }
        if (++g->resets_in_window > HTTP2_MAX_RESETS_PER_S) {
            atomic_fetch_add(&h2_goaways, 1);
            if (log_due(&goaway_logged_ms)) {
                char ip[NI_MAXHOST] = "";
                struct sockaddr_storage ss;
                socklen_t sl = h2o_socket_getpeername(conn->sock, (struct sockaddr *)&ss);
                if (sl == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, ip) == SIZE_MAX)
                    ip[0] = '\0';
                log_warn("msg=\"HTTP/2 connection closed: too many stream resets (ENHANCE_YOUR_CALM)\" ip=%s "
                         "resets_per_s_max=%d closed_unlogged=%llu",
                         ip, HTTP2_MAX_RESETS_PER_S, (unsigned long long)atomic_exchange(&goaway_unlogged, 0));
            } else {
                atomic_fetch_add(&goaway_unlogged, 1);
            }
            *err_desc = "too many stream resets";
            return H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM;
        }
        /* remembered so that the access log can tell the stream's end apart
         * from a normal one (the stream table is h2o's, see khash.h) */
        g->reset_ring[g->reset_next++ % RESET_RING] = decode32(src + 5) & 0x7fffffff;
    }
    return g->h2_expect(conn, src, len, err_desc);
}

void conn_guard_h2_request(h2o_req_t *req)
{
    if (req->version < 0x200)
        return;
    h2o_http2_conn_t *conn = (h2o_http2_conn_t *)req->conn;
    struct conn_guard *g = guard_of(conn->sock);
    if (g == NULL || g->h2_expect != NULL || conn->_read_expect == NULL)
        return;
    g->h2_expect = conn->_read_expect;
    conn->_read_expect = h2_expect_guarded;
}

int conn_guard_h2_was_reset(h2o_req_t *req)
{
    if (req->version < 0x200)
        return 0;
    h2o_http2_conn_t *conn = (h2o_http2_conn_t *)req->conn;
    struct conn_guard *g = guard_of(conn->sock);
    if (g == NULL)
        return 0;
    h2o_http2_stream_t *stream = H2O_STRUCT_FROM_MEMBER(h2o_http2_stream_t, req, req);
    for (size_t i = 0; i < RESET_RING; i++) {
        if (g->reset_ring[i] == stream->stream_id) {
            atomic_fetch_add(&h2_resets, 1);
            return 1;
        }
    }
    return 0;
}

void conn_guard_metrics(FILE *f)
{
    fprintf(f,
            "# HELP hydracluster_http_connections Open client connections (all workers).\n"
            "# TYPE hydracluster_http_connections gauge\n"
            "hydracluster_http_connections %zu\n"
            "# HELP hydracluster_http_max_connections server.max_connections.\n"
            "# TYPE hydracluster_http_max_connections gauge\n"
            "hydracluster_http_max_connections %u\n"
            "# HELP hydracluster_http_accept_paused_total Times a worker paused accepting: at the connection limit, "
            "or out of file descriptors.\n"
            "# TYPE hydracluster_http_accept_paused_total counter\n"
            "hydracluster_http_accept_paused_total{reason=\"limit\"} %llu\n"
            "hydracluster_http_accept_paused_total{reason=\"fds\"} %llu\n"
            "# HELP hydracluster_http2_client_resets_total HTTP/2 requests ended by the client's RST_STREAM (not in "
            "the access log).\n"
            "# TYPE hydracluster_http2_client_resets_total counter\n"
            "hydracluster_http2_client_resets_total %llu\n"
            "# HELP hydracluster_http2_reset_flood_closed_total HTTP/2 connections closed for exceeding the stream "
            "reset budget.\n"
            "# TYPE hydracluster_http2_reset_flood_closed_total counter\n"
            "hydracluster_http2_reset_flood_closed_total %llu\n",
            atomic_load(&open_conns), max_conns, (unsigned long long)atomic_load(&cap_pauses),
            (unsigned long long)atomic_load(&fd_pauses), (unsigned long long)atomic_load(&h2_resets),
            (unsigned long long)atomic_load(&h2_goaways));
}
