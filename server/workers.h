/*
 * HTTP workers: N threads, each with its own h2o evloop, h2o context and one
 * SO_REUSEPORT listener per configured address. A request is handled entirely
 * on the worker that accepted it.
 *
 * Ownership: workers_start/workers_stop belong to the main thread. A
 * worker_t belongs to its thread; other threads reach it only through
 * cross-thread messages (park_wake, the stop message).
 */
#ifndef HC_WORKERS_H
#define HC_WORKERS_H

#include <h2o.h>
#include <h2o/multithread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"

#define WORKER_MAX_LISTENERS CONFIG_MAX_LISTEN
#define WORKER_MAX_TIMEOUTS 64

typedef struct worker {
    unsigned index;
    pthread_t tid;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listeners[WORKER_MAX_LISTENERS];
    int listen_fds[WORKER_MAX_LISTENERS];
    size_t nlisteners;
    h2o_multithread_receiver_t park_receiver; /* park.c's wake messages */
    h2o_multithread_receiver_t stop_receiver;
    h2o_multithread_receiver_t tls_receiver;   /* a new SSL_CTX after a certificate reload */
    h2o_multithread_receiver_t probe_receiver; /* loop lag probes from the watchdog */
    h2o_linklist_t retired_tls;                /* replaced SSL_CTXs kept until handshakes that use them end */
    /* h2o 2.2 timeouts have one fixed duration each: one per duration in use */
    struct {
        uint64_t ms;
        h2o_timeout_t timeout;
    } timeouts[WORKER_MAX_TIMEOUTS];
    size_t ntimeouts;
    h2o_linklist_t parked; /* park.c: requests parked on this worker */
    size_t inflight;       /* requests accepted and not yet disposed */
    int stopping;
    int accept_paused;                  /* listeners stopped: at the connection cap or out of descriptors */
    h2o_timeout_entry_t accept_resume;  /* when to try accepting again */
    _Atomic uint64_t loop_stamp_ms; /* last loop iteration (watchdog) */
    _Atomic(const char *) current_route;  /* route pattern being handled, NULL between requests (watchdog report) */
    _Atomic(const char *) current_method; /* its method */
    _Atomic uint64_t loop_lag_us;   /* how long the last lag probe waited for the loop (metrics) */
} worker_t;

/* The calling thread's worker, or NULL off the workers. */
worker_t *worker_current(void);

/* A timeout list of this duration on w's loop (worker thread only). Returns
 * NULL when more than WORKER_MAX_TIMEOUTS distinct durations are in use. */
h2o_timeout_t *worker_timeout(worker_t *w, uint64_t ms);

/* Opens every listener for every worker (so bind errors surface before any
 * thread starts), then starts the threads. An address another process
 * listens on is refused ("address already in use"), although this
 * process's own workers share each address (SO_REUSEPORT). -1 with err on
 * failure. */
/* Main thread: 0 when every listen address is free (nobody listens there),
 * else -1 with err ("cannot listen on ADDR: address already in use ...").
 * serve checks this before touching the data dir; workers_start again. */
int workers_listen_probe(const hc_config_t *cfg, char *err, size_t errlen);

int workers_start(const hc_config_t *cfg, h2o_globalconf_t *globalconf, char *err, size_t errlen);

/* Graceful stop: stop accepting, wake parked requests, let in-flight requests
 * finish for up to grace_ms, then return with the threads joined. */
void workers_stop(uint64_t grace_ms);

size_t workers_count(void);
worker_t *workers_get(size_t i);

/* TLS for every listener (server/tls.c). Before workers_start: the context
 * the workers start with (each takes its own reference). */
void workers_set_ssl_ctx(SSL_CTX *ssl_ctx);
/* While running, any thread: each worker takes a reference to ctx and uses
 * it for connections accepted from then on; connections already made keep
 * theirs. The context a worker replaces is released a while later (after
 * handshakes that started with it had time to finish: h2o keeps a bare
 * pointer to it until the handshake creates the SSL object). */
void workers_swap_ssl_ctx(SSL_CTX *ssl_ctx);

/* Any thread: sends each worker a probe whose delivery time becomes its
 * loop_lag_us (the watchdog calls it every second). */
void workers_probe_lag(void);

#endif
