#include "workers.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "park.h"

#define WORKER_IDLE_WAKE_MS 500

static worker_t *workers;
static size_t nworkers;
static h2o_globalconf_t *globalconf;
static SSL_CTX *ssl_ctx;
static atomic_int running; /* between workers_start and workers_stop: messages may be sent */
static uint64_t stop_grace_ms;
static h2o_barrier_t ready_barrier;
static __thread worker_t *current;

worker_t *worker_current(void)
{
    return current;
}

size_t workers_count(void)
{
    return nworkers;
}

worker_t *workers_get(size_t i)
{
    return i < nworkers ? &workers[i] : NULL;
}

void workers_set_ssl_ctx(SSL_CTX *ctx)
{
    ssl_ctx = ctx;
}

/* A new context for a worker; once adopted, the same message carries the
 * replaced context on the worker's retired list. */
typedef struct {
    h2o_multithread_message_t super;
    SSL_CTX *ctx;
    uint64_t retired_ms;
} tls_msg_t;

void workers_swap_ssl_ctx(SSL_CTX *ctx)
{
    if (!atomic_load(&running))
        return;
    for (size_t i = 0; i < nworkers; i++) {
        tls_msg_t *m = calloc(1, sizeof(*m));
        if (m == NULL) {
            log_error("msg=\"out of memory handing the reloaded TLS context to a worker; it keeps the old one\" "
                      "worker=%zu",
                      i);
            continue;
        }
        SSL_CTX_up_ref(ctx);
        m->ctx = ctx;
        h2o_multithread_send_message(&workers[i].tls_receiver, &m->super);
    }
}

static void on_tls(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, tls_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        tls_msg_t *m = H2O_STRUCT_FROM_MEMBER(tls_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        SSL_CTX *old = w->accept_ctx.ssl_ctx;
        w->accept_ctx.ssl_ctx = m->ctx;
        m->ctx = old;
        m->retired_ms = clock_mono_ms();
        h2o_linklist_insert(&w->retired_tls, &m->super.link);
    }
}

/* h2o keeps a bare pointer to the context from accept until the handshake
 * made its SSL object (which holds a reference), bounded by the handshake
 * timeout; so a replaced context is released only after that. */
static void release_retired_tls(worker_t *w, int all)
{
    uint64_t keep_ms = globalconf->handshake_timeout + 5000, now = clock_mono_ms();
    while (!h2o_linklist_is_empty(&w->retired_tls)) {
        tls_msg_t *m = H2O_STRUCT_FROM_MEMBER(tls_msg_t, super.link, w->retired_tls.next);
        if (!all && now - m->retired_ms < keep_ms)
            break; /* oldest first: the rest are younger */
        h2o_linklist_unlink(&m->super.link);
        SSL_CTX_free(m->ctx);
        free(m);
    }
}

typedef struct {
    h2o_multithread_message_t super;
    uint64_t sent_us;
} probe_msg_t;

void workers_probe_lag(void)
{
    if (!atomic_load(&running))
        return;
    for (size_t i = 0; i < nworkers; i++) {
        probe_msg_t *m = malloc(sizeof(*m));
        if (m == NULL)
            return;
        memset(&m->super, 0, sizeof(m->super));
        m->sent_us = clock_mono_us();
        h2o_multithread_send_message(&workers[i].probe_receiver, &m->super);
    }
}

static void on_probe(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, probe_receiver, receiver);
    uint64_t now = clock_mono_us();
    while (!h2o_linklist_is_empty(messages)) {
        probe_msg_t *m = H2O_STRUCT_FROM_MEMBER(probe_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        atomic_store(&w->loop_lag_us, now > m->sent_us ? now - m->sent_us : 0);
        free(m);
    }
}

h2o_timeout_t *worker_timeout(worker_t *w, uint64_t ms)
{
    for (size_t i = 0; i < w->ntimeouts; i++)
        if (w->timeouts[i].ms == ms)
            return &w->timeouts[i].timeout;
    if (w->ntimeouts == WORKER_MAX_TIMEOUTS)
        return NULL;
    w->timeouts[w->ntimeouts].ms = ms;
    h2o_timeout_init(w->ctx.loop, &w->timeouts[w->ntimeouts].timeout, ms);
    return &w->timeouts[w->ntimeouts++].timeout;
}

/* "host:port", "[v6]:port" or ":port" */
static int split_hostport(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(close - s - 1), s + 1);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(colon - s), s);
    }
    snprintf(port, portlen, "%s", colon + 1);
    return port[0] == '\0' ? -1 : 0;
}

static int open_listener(const char *addr, char *err, size_t errlen)
{
    char host[256], port[16];
    if (split_hostport(addr, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, errlen, "server.listen \"%s\": expected host:port", addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "server.listen \"%s\": %s", addr, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s (is another server on that port? change server.listen)", addr,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    worker_t *w = listener->data;
    if (err != NULL)
        return;
    /* take a few per wake-up: the listener is shared with the other workers */
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        h2o_accept(&w->accept_ctx, sock);
    }
}

static void close_listeners(worker_t *w)
{
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i] != NULL) {
            h2o_socket_read_stop(w->listeners[i]);
            h2o_socket_close(w->listeners[i]);
            w->listeners[i] = NULL;
        }
    }
}

typedef struct {
    h2o_multithread_message_t super;
} stop_msg_t;

static void on_stop(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, stop_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        stop_msg_t *m = H2O_STRUCT_FROM_MEMBER(stop_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        free(m);
    }
    if (w->stopping)
        return;
    w->stopping = 1;
    close_listeners(w);
    park_worker_shutdown(w);
    h2o_context_request_shutdown(&w->ctx);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    current = w;
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, loop, globalconf);
    park_worker_init(w);
    h2o_multithread_register_receiver(w->ctx.queue, &w->stop_receiver, on_stop);
    h2o_multithread_register_receiver(w->ctx.queue, &w->tls_receiver, on_tls);
    h2o_multithread_register_receiver(w->ctx.queue, &w->probe_receiver, on_probe);
    h2o_linklist_init_anchor(&w->retired_tls);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = globalconf->hosts;
    w->accept_ctx.ssl_ctx = ssl_ctx;
    if (ssl_ctx != NULL)
        SSL_CTX_up_ref(ssl_ctx); /* the worker's own: reloads replace it */
    for (size_t i = 0; i < w->nlisteners; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_create(loop, w->listen_fds[i], H2O_SOCKET_FLAG_DONT_READ);
        sock->data = w;
        h2o_socket_read_start(sock, on_accept);
        w->listeners[i] = sock;
    }
    atomic_store(&w->loop_stamp_ms, clock_mono_ms());
    log_batch_begin(); /* access log lines go out once per loop turn */
    h2o_barrier_wait(&ready_barrier);

    uint64_t deadline = 0;
    for (;;) {
        /* wake at least every WORKER_IDLE_WAKE_MS so that an idle loop's
         * stamp stays well inside the watchdog's bound (2 s at least) */
        if (h2o_evloop_run(loop, WORKER_IDLE_WAKE_MS) != 0 && errno != EINTR) {
            log_error("msg=\"worker event loop failed\" worker=%u errno=%d", w->index, errno);
            break;
        }
        log_flush();
        uint64_t now = clock_mono_ms();
        atomic_store(&w->loop_stamp_ms, now);
        if (!h2o_linklist_is_empty(&w->retired_tls))
            release_retired_tls(w, 0);
        if (w->stopping) {
            if (deadline == 0)
                deadline = now + stop_grace_ms;
            if (w->inflight == 0)
                break;
            if (now >= deadline) {
                log_warn("msg=\"stopping with requests still in flight\" worker=%u inflight=%zu", w->index, w->inflight);
                break;
            }
        }
    }
    log_batch_end();
    release_retired_tls(w, 1);
    /* connections still open hold their own references (SSL objects) */
    SSL_CTX_free(w->accept_ctx.ssl_ctx);
    w->accept_ctx.ssl_ctx = NULL;
    current = NULL;
    return NULL;
}

int workers_start(const hc_config_t *cfg, h2o_globalconf_t *gconf, char *err, size_t errlen)
{
    globalconf = gconf;
    nworkers = cfg->server.workers;
    if (nworkers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nworkers = n > 0 ? (size_t)n : 1;
    }
    workers = calloc(nworkers, sizeof(*workers));
    if (workers == NULL) {
        snprintf(err, errlen, "out of memory allocating %zu workers", nworkers);
        return -1;
    }
    for (size_t i = 0; i < nworkers; i++) {
        worker_t *w = &workers[i];
        w->index = (unsigned)i;
        for (size_t l = 0; l < cfg->server.listen_count; l++) {
            int fd = open_listener(cfg->server.listen[l], err, errlen);
            if (fd < 0)
                return -1;
            w->listen_fds[w->nlisteners++] = fd;
        }
    }
    h2o_barrier_init(&ready_barrier, nworkers + 1);
    for (size_t i = 0; i < nworkers; i++)
        h2o_multithread_create_thread(&workers[i].tid, NULL, worker_main, &workers[i]);
    h2o_barrier_wait(&ready_barrier);
    atomic_store(&running, 1);
    return 0;
}

void workers_stop(uint64_t grace_ms)
{
    stop_grace_ms = grace_ms;
    atomic_store(&running, 0);
    for (size_t i = 0; i < nworkers; i++) {
        stop_msg_t *m = calloc(1, sizeof(*m));
        if (m == NULL) {
            log_error("msg=\"out of memory stopping workers\"");
            abort();
        }
        h2o_multithread_send_message(&workers[i].stop_receiver, &m->super);
    }
    for (size_t i = 0; i < nworkers; i++)
        pthread_join(workers[i].tid, NULL);
}
