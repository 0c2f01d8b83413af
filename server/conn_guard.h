/*
 * Client connections as a resource: the cap on open connections
 * (server.max_connections), what to do when the process runs out of file
 * descriptors, and HTTP/2's per-connection limits (concurrent requests and a
 * budget of client stream resets, h2o 2.2 having no Rapid Reset defence of its
 * own).
 *
 * Every accepted socket gets a conn_guard_t (malloc'ed by conn_guard_attach,
 * freed by the socket's on_close callback on its worker). The counters are
 * atomics shared by all workers; nothing here takes a lock.
 *
 * Threading: conn_guard_init on the main thread before the workers start;
 * everything else on the worker thread that owns the connection; the metrics
 * collector on any worker.
 */
#ifndef HC_CONN_GUARD_H
#define HC_CONN_GUARD_H

#include <h2o.h>
#include <stdio.h>

#include "config.h"

/* h2o runs at most this many requests of one HTTP/2 connection at a time
 * (more wait inside h2o; h2o 2.2 advertises 100 concurrent streams and
 * refuses streams beyond that itself) */
#define HTTP2_MAX_CONCURRENT_REQUESTS 32
/* client RST_STREAM frames one HTTP/2 connection may send per second; the
 * next one closes it with GOAWAY ENHANCE_YOUR_CALM */
#define HTTP2_MAX_RESETS_PER_S 100
/* descriptors held back for the server's own files while clients take the rest */
#define CONN_GUARD_RESERVE_FDS 8

struct worker;

/* Main thread, at start: takes the reserve descriptors, raises the soft
 * RLIMIT_NOFILE to the hard one and warns when max_connections cannot fit
 * in it. -1 with err when even the reserve cannot be opened. */
int conn_guard_init(const hc_config_t *cfg, char *err, size_t errlen);

/* Takes a connection slot before an accept: 0 when the cap is reached (the
 * caller pauses accepting; logged once per episode, at most every 10 s). */
int conn_guard_admit(void);
/* Gives back a slot taken by conn_guard_admit that found no connection. */
void conn_guard_unadmit(void);
/* The accepted socket (descriptor fd) now holds the slot: attaches its
 * state (freed, and the slot given back, when h2o closes the socket).
 * -1 when out of memory: the socket is closed and the slot given back. */
int conn_guard_attach(h2o_socket_t *sock, int fd, struct worker *w);
/* This HTTP/1 request is answered without its body having been read: when
 * h2o closes the connection, send a FIN after the answer and drain what the
 * client still sends for a moment instead of resetting it. */
void conn_guard_linger(h2o_req_t *req);

/* An accept failed for want of descriptors (EMFILE/ENFILE/ENOBUFS/ENOMEM):
 * releases the reserve so that the server's own files can still be opened,
 * and logs once per episode (at most every 10 s). The caller pauses
 * accepting. */
void conn_guard_fds_exhausted(int err);
/* Before accepting again: 1 when the reserve is whole again (re-taken if
 * need be) and a descriptor beyond it is free, 0 when descriptors are still
 * short (stay paused). */
int conn_guard_fds_ready(void);
/* 1 while descriptors are short (any worker saw EMFILE and the reserve is
 * not back): every worker stops accepting, so that none takes the released
 * reserve for a client. */
int conn_guard_fds_short(void);

/* Every HTTP/2 request the router sees: puts the connection under the
 * reset budget (once per connection). */
void conn_guard_h2_request(h2o_req_t *req);
/* 1 when this HTTP/2 request ended because its client reset the stream
 * (the access log counts those instead of writing a line each). */
int conn_guard_h2_was_reset(h2o_req_t *req);

/* open client connections (all workers) */
size_t conn_guard_open_count(void);
/* metrics collector: connections, the cap, pauses, resets */
void conn_guard_metrics(FILE *f);

#endif
