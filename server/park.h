/*
 * Parked requests: a handler that must wait (for a commit, a command for a
 * long-polling agent, an exec result) parks its request on its worker and
 * returns. Any thread may later wake it with park_wake; the wake travels as a
 * cross-thread message to the owning worker, which then runs the park's
 * callback there. Nothing polls.
 *
 * The callback runs exactly once, on the owning worker, with no lock held:
 *  - reason PARK_WOKEN:   park_wake(p, value) was called (first wake wins)
 *  - reason PARK_TIMEOUT: timeout_ms passed first
 *  - reason PARK_SHUTDOWN: the server is stopping; answer at once
 *  - reason PARK_GONE:    the client went away first (r is NULL)
 * r is NULL whenever the client went away (also after a wake that raced with
 * the disconnect): then only clean up, and free whatever `value` owns.
 *
 * Lifetime: reference counted, so a waiter list on another thread may keep a
 * park_t after the request is gone. park_start returns a park holding one
 * reference for the caller to hand to a waiter list (or drop with
 * park_unref); the worker and in-flight messages hold their own.
 */
#ifndef HC_PARK_H
#define HC_PARK_H

#include <stdint.h>

#include "router.h"

typedef struct park park_t;

enum { PARK_WOKEN = 1, PARK_TIMEOUT = 2, PARK_SHUTDOWN = 3, PARK_GONE = 4 };

typedef void (*park_cb)(park_t *p, hc_req_t *r, int reason, intptr_t value);

/* Worker thread, inside a handler. NULL on allocation failure (the caller
 * answers 500). */
park_t *park_start(hc_req_t *r, uint64_t timeout_ms, park_cb cb, void *data);

/* Any thread. Returns 1 when this call woke the park, 0 when it was already
 * finished (woken, timed out, shut down) — then value was not delivered and
 * stays the caller's. */
int park_wake(park_t *p, intptr_t value);

void park_ref(park_t *p);
void park_unref(park_t *p);
void *park_data(park_t *p);
/* 1 once the park finished (any reason); any thread. */
int park_done(park_t *p);

/* worker.c: registers the receiver on a new worker; wakes everything parked
 * on the calling worker with PARK_SHUTDOWN. */
void park_worker_init(struct worker *w);
void park_worker_shutdown(struct worker *w);

/* 1 when the client of a request woken from its park has closed its end (a
 * peek at the socket). h2o does not read a connection whose request is being
 * handled, so a client that left while parked is not seen (PARK_GONE) until
 * something peeks; call it before handing the request something that must not
 * be lost, such as a command. A peer that vanished without FIN/RST cannot be
 * seen. Worker thread of the request. */
int park_client_gone(hc_req_t *r);

#endif
