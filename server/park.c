#include "park.h"

#include <errno.h>
#include <sys/socket.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "log.h"
#include "workers.h"

struct park {
    h2o_multithread_message_t msg; /* first: the wake message is embedded (one wake ever wins) */
    _Atomic int refs;
    _Atomic int finished; /* 0 parked; 1 once a wake, timeout, shutdown or disconnect claimed it */
    worker_t *worker;
    /* worker thread only: */
    hc_req_t *r; /* NULL once the request was disposed */
    park_cb cb;
    void *data;
    h2o_timeout_entry_t timeout_entry;
    h2o_linklist_t link; /* in worker->parked */
    int cb_ran;
    intptr_t value; /* written by the winning waker before it sends the message */
};

void park_ref(park_t *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void park_unref(park_t *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

void *park_data(park_t *p)
{
    return p->data;
}

int park_done(park_t *p)
{
    return atomic_load_explicit(&p->finished, memory_order_acquire);
}

static int claim(park_t *p)
{
    int expected = 0;
    return atomic_compare_exchange_strong_explicit(&p->finished, &expected, 1, memory_order_acq_rel,
                                                   memory_order_acquire);
}

/* worker thread: run the callback once, then drop the worker's reference */
static void finish(park_t *p, int reason, intptr_t value)
{
    if (h2o_timeout_is_linked(&p->timeout_entry))
        h2o_timeout_unlink(&p->timeout_entry);
    if (h2o_linklist_is_linked(&p->link))
        h2o_linklist_unlink(&p->link);
    p->cb_ran = 1;
    hc_req_t *r = p->r;
    if (r == NULL && reason != PARK_GONE && reason != PARK_WOKEN)
        reason = PARK_GONE;
    lock_assert_none_held("park callback");
    router_busy(r);
    p->cb(p, r, reason, value);
    router_idle();
    lock_assert_none_held("park callback end");
    park_unref(p);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    park_t *p = H2O_STRUCT_FROM_MEMBER(park_t, timeout_entry, entry);
    if (claim(p))
        finish(p, PARK_TIMEOUT, 0);
}

static void on_req_dispose(void *slot)
{
    park_t *p = *(park_t **)slot;
    p->r = NULL;
    if (!p->cb_ran && claim(p))
        finish(p, PARK_GONE, 0);
    park_unref(p); /* the request's reference */
}

static void on_wake_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        park_t *p = H2O_STRUCT_FROM_MEMBER(park_t, msg.link, messages->next);
        h2o_linklist_unlink(&p->msg.link);
        if (!p->cb_ran)
            finish(p, PARK_WOKEN, p->value);
        park_unref(p); /* the message's reference */
    }
}

park_t *park_start(hc_req_t *r, uint64_t timeout_ms, park_cb cb, void *data)
{
    worker_t *w = r->worker;
    if (w == NULL)
        return NULL;
    /* while stopping, a new park answers at the loop's next turn as a timeout */
    h2o_timeout_t *t = worker_timeout(w, w->stopping ? 0 : timeout_ms);
    if (t == NULL) {
        log_error("msg=\"too many distinct wait durations in use\" ms=%llu", (unsigned long long)timeout_ms);
        return NULL;
    }
    park_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    park_t **slot = h2o_mem_alloc_shared(&r->req->pool, sizeof(*slot), on_req_dispose);
    *slot = p;
    /* references: the caller's, the worker's (until the callback ran), the request's */
    atomic_init(&p->refs, 3);
    atomic_init(&p->finished, 0);
    p->worker = w;
    p->r = r;
    p->cb = cb;
    p->data = data;
    p->timeout_entry.cb = on_timeout;
    h2o_timeout_link(w->ctx.loop, t, &p->timeout_entry);
    h2o_linklist_insert(&w->parked, &p->link);
    return p;
}

int park_wake(park_t *p, intptr_t value)
{
    if (!claim(p))
        return 0;
    p->value = value;
    park_ref(p); /* the message's reference */
    h2o_multithread_send_message(&p->worker->park_receiver, &p->msg);
    return 1;
}

void park_worker_init(worker_t *w)
{
    h2o_linklist_init_anchor(&w->parked);
    h2o_multithread_register_receiver(w->ctx.queue, &w->park_receiver, on_wake_messages);
}

void park_worker_shutdown(worker_t *w)
{
    h2o_linklist_t *node = w->parked.next;
    while (node != &w->parked) {
        h2o_linklist_t *next = node->next;
        park_t *p = H2O_STRUCT_FROM_MEMBER(park_t, link, node);
        if (claim(p))
            finish(p, PARK_SHUTDOWN, 0);
        node = next;
    }
}

int park_client_gone(hc_req_t *r)
{
    h2o_conn_t *conn = r->req->conn;
    if (conn->callbacks->get_socket == NULL)
        return 0;
    h2o_socket_t *sock = conn->callbacks->get_socket(conn);
    int fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
    if (fd < 0)
        return 0;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && (errno == ECONNRESET || errno == ENOTCONN || errno == EPIPE));
}
