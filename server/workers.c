#include "workers.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "conn_guard.h"
#include "log.h"
#include "lock.h"
#include "park.h"
#include "ws.h"

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

/* One socket bound to addr: with SO_REUSEPORT (listening, for a worker), or
 * without it and not listening (the probe: it fails with EADDRINUSE while
 * any other socket listens there, our own reuse group included). */
static int open_listener(const char *addr, int reuseport, char *err, size_t errlen)
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
    /* SO_REUSEADDR in both: a restart must not trip over its predecessor's TIME_WAIT connections */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || (reuseport && listen(fd, 1024) != 0)) {
        if (errno == EADDRINUSE)
            snprintf(err, errlen,
                     "cannot listen on %s: address already in use (another process, perhaps another hydracluster, "
                     "listens there; stop it or change server.listen)",
                     addr);
        else
            snprintf(err, errlen, "cannot listen on %s: %s (change server.listen)", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* The kernel's hex spelling of an address in /proc/net/tcp{,6}: each 32-bit
 * word printed as a host-order integer. */
static void proc_addr_hex(const struct sockaddr_storage *ss, char *out, size_t outlen, unsigned *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        snprintf(out, outlen, "%08X", (unsigned)in->sin_addr.s_addr);
        *port = ntohs(in->sin_port);
    } else {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        uint32_t w[4];
        memcpy(w, &in6->sin6_addr, sizeof(w));
        snprintf(out, outlen, "%08X%08X%08X%08X", (unsigned)w[0], (unsigned)w[1], (unsigned)w[2], (unsigned)w[3]);
        *port = ntohs(in6->sin6_port);
    }
}

static int hex_is_zero(const char *s)
{
    return strspn(s, "0") == strlen(s);
}

/* After binding: is anything but our own sockets (inodes in ours) listening
 * on fd's port at an overlapping address? Two servers that probed at the
 * same moment both find the other here and both refuse to start, instead
 * of both serving. 0 when /proc/net is not readable (the probe still holds). */
static int foreign_listener(int fd, const ino_t *ours, size_t nours)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    char mine[40];
    unsigned myport;
    proc_addr_hex(&ss, mine, sizeof(mine), &myport);
    FILE *f = fopen(ss.ss_family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6", "r");
    if (f == NULL)
        return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char local[40];
        unsigned port, st;
        unsigned long long inode;
        /* sl local rem st tx:rx tr:when retr uid timeout inode */
        if (sscanf(line, " %*s %39[0-9A-F]:%x %*s %x %*s %*s %*s %*s %*s %llu", local, &port, &st, &inode) != 4)
            continue;
        if (st != 0x0A || port != myport)
            continue; /* not LISTEN, or another port */
        if (strcmp(local, mine) != 0 && !hex_is_zero(local) && !hex_is_zero(mine))
            continue; /* another address of this host */
        size_t i;
        for (i = 0; i < nours; i++)
            if (ours[i] == (ino_t)inode)
                break;
        found = i == nours;
    }
    fclose(f);
    return found;
}

/* how long accepting pauses at the connection cap, and when out of descriptors */
#define ACCEPT_PAUSE_CAP_MS 50
#define ACCEPT_PAUSE_FDS_MS 250

static void on_accept(h2o_socket_t *listener, const char *err);

/* Stops reading the listeners (their pending connections wait in the
 * kernel's queue) and tries again after ms: no busy loop on a listener that
 * stays readable. */
static void accept_pause(worker_t *w, uint64_t ms)
{
    if (w->accept_paused || w->stopping)
        return;
    h2o_timeout_t *t = worker_timeout(w, ms);
    if (t == NULL)
        return; /* out of timeout lists: keep accepting rather than stop for good */
    for (size_t i = 0; i < w->nlisteners; i++)
        if (w->listeners[i] != NULL)
            h2o_socket_read_stop(w->listeners[i]);
    w->accept_paused = 1;
    h2o_timeout_link(w->ctx.loop, t, &w->accept_resume);
}

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, accept_resume, entry);
    w->accept_paused = 0;
    if (w->stopping)
        return;
    if (!conn_guard_fds_ready()) {
        accept_pause(w, ACCEPT_PAUSE_FDS_MS);
        return;
    }
    for (size_t i = 0; i < w->nlisteners; i++)
        if (w->listeners[i] != NULL)
            h2o_socket_read_start(w->listeners[i], on_accept);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    worker_t *w = listener->data;
    if (err != NULL)
        return;
    int listen_fd = -1;
    for (size_t i = 0; i < w->nlisteners; i++)
        if (w->listeners[i] == listener)
            listen_fd = w->listen_fds[i];
    if (listen_fd < 0)
        return;
    /* take a few per wake-up: the listener is shared with the other workers */
    for (int i = 0; i < 16; i++) {
        if (conn_guard_fds_short()) {
            accept_pause(w, ACCEPT_PAUSE_FDS_MS);
            return;
        }
        if (!conn_guard_admit()) {
            accept_pause(w, ACCEPT_PAUSE_CAP_MS);
            return;
        }
        /* accepted here rather than by h2o_evloop_socket_accept: the
         * descriptor is needed later (conn_guard_linger) and h2o keeps it */
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            conn_guard_unadmit();
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                conn_guard_fds_exhausted(e);
                accept_pause(w, ACCEPT_PAUSE_FDS_MS);
            }
            return;
        }
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        h2o_socket_t *sock = h2o_evloop_socket_create(w->ctx.loop, fd, H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION);
        if (conn_guard_attach(sock, fd, w) == 0)
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
    if (h2o_timeout_is_linked(&w->accept_resume))
        h2o_timeout_unlink(&w->accept_resume);
    close_listeners(w);
    park_worker_shutdown(w);
    ws_worker_shutdown(w);
    h2o_context_request_shutdown(&w->ctx);
}

static void on_call(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        worker_call_t *c = H2O_STRUCT_FROM_MEMBER(worker_call_t, super.link, messages->next);
        h2o_linklist_unlink(&c->super.link);
        lock_assert_none_held("worker call");
        c->fn(c);
        lock_assert_none_held("worker call end");
    }
}

void worker_call_post(worker_t *w, worker_call_t *c)
{
    h2o_multithread_send_message(&w->call_receiver, &c->super);
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
    h2o_multithread_register_receiver(w->ctx.queue, &w->call_receiver, on_call);
    h2o_linklist_init_anchor(&w->retired_tls);
    w->accept_resume.cb = on_accept_resume;
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

int workers_listen_probe(const hc_config_t *cfg, char *err, size_t errlen)
{
    for (size_t l = 0; l < cfg->server.listen_count; l++) {
        int probe = open_listener(cfg->server.listen[l], 0, err, errlen);
        if (probe < 0)
            return -1;
        close(probe);
    }
    return 0;
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
    /* A second server on an address would share it through SO_REUSEPORT
     * (same user) and split the clients between two databases: first a
     * bind without SO_REUSEPORT must succeed (nobody listens there), then,
     * with our sockets bound, nobody else may be listening there either. */
    if (workers_listen_probe(cfg, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < nworkers; i++) {
        worker_t *w = &workers[i];
        w->index = (unsigned)i;
        for (size_t l = 0; l < cfg->server.listen_count; l++) {
            int fd = open_listener(cfg->server.listen[l], 1, err, errlen);
            if (fd < 0)
                goto fail;
            w->listen_fds[w->nlisteners++] = fd;
        }
    }
    ino_t *ours = calloc(nworkers * cfg->server.listen_count, sizeof(*ours));
    size_t nours = 0;
    if (ours == NULL) {
        snprintf(err, errlen, "out of memory opening the listeners");
        goto fail;
    }
    for (size_t i = 0; i < nworkers; i++) {
        for (size_t l = 0; l < workers[i].nlisteners; l++) {
            struct stat st;
            if (fstat(workers[i].listen_fds[l], &st) == 0)
                ours[nours++] = st.st_ino;
        }
    }
    for (size_t l = 0; l < cfg->server.listen_count; l++) {
        if (foreign_listener(workers[0].listen_fds[l], ours, nours)) {
            free(ours);
            snprintf(err, errlen,
                     "cannot listen on %s: address already in use (another process started listening there at the "
                     "same moment; stop it or change server.listen)",
                     cfg->server.listen[l]);
            goto fail;
        }
    }
    free(ours);
    h2o_barrier_init(&ready_barrier, nworkers + 1);
    for (size_t i = 0; i < nworkers; i++)
        h2o_multithread_create_thread(&workers[i].tid, NULL, worker_main, &workers[i]);
    h2o_barrier_wait(&ready_barrier);
    atomic_store(&running, 1);
    return 0;
fail:
    for (size_t i = 0; i < nworkers; i++) {
        for (size_t l = 0; l < workers[i].nlisteners; l++)
            close(workers[i].listen_fds[l]);
        workers[i].nlisteners = 0;
    }
    return -1;
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
