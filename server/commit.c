#include "commit.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "jsonio.h"
#include "log.h"
#include "park.h"

typedef struct {
    const commit_spec_t *spec;
    void *arg;
    park_t *park;
    _Atomic int refs; /* the writer's side and the worker's side */
} commit_t;

static void commit_unref(commit_t *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        if (c->spec->free != NULL)
            c->spec->free(c->arg);
        free(c);
    }
}

static int on_apply(sqlite3 *db, void *p)
{
    commit_t *c = p;
    return c->spec->apply(db, c->arg);
}

static void on_done(void *p, int status)
{
    commit_t *c = p;
    if (status == 0 && c->spec->publish != NULL)
        c->spec->publish(c->arg);
    park_wake(c->park, status);
    park_unref(c->park);
    commit_unref(c);
}

static void on_wake(park_t *p, hc_req_t *r, int reason, intptr_t value)
{
    commit_t *c = park_data(p);
    if (r != NULL) {
        int status = reason == PARK_WOKEN ? (int)value : reason == PARK_SHUTDOWN ? STORE_ESTOPPED : COMMIT_ETIMEDOUT;
        c->spec->respond(r, status, c->arg);
    }
    commit_unref(c);
}

int commit_respond_store_error(hc_req_t *r, int status)
{
    switch (status) {
    case STORE_ECOMMIT:
        json_error(r, 500, "store_error", "the change could not be committed to the database; nothing was changed");
        return 1;
    case STORE_ESTOPPED:
        json_error(r, 503, "shutting_down", "the server is stopping; retry in a moment");
        return 1;
    case COMMIT_ETIMEDOUT:
        json_error(r, 503, "store_timeout", "the database did not commit within %d s; the change may or may not "
                                            "have been applied: check before retrying",
                   COMMIT_TIMEOUT_MS / 1000);
        return 1;
    }
    return 0;
}

int commit_submit(hc_req_t *r, const commit_spec_t *spec, void *arg)
{
    commit_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (spec->free)
            spec->free(arg);
        json_error(r, 500, "internal", "out of memory");
        return -1;
    }
    c->spec = spec;
    c->arg = arg;
    atomic_init(&c->refs, 2);
    c->park = park_start(r, COMMIT_TIMEOUT_MS, on_wake, c);
    if (c->park == NULL) {
        c->refs = 1;
        commit_unref(c);
        json_error(r, 500, "internal", "out of memory");
        return -1;
    }
    if (store_submit(on_apply, on_done, c) != 0) {
        /* the writer is stopping: answer through the park, drop the writer's side */
        park_wake(c->park, STORE_ESTOPPED);
        park_unref(c->park);
        commit_unref(c);
    }
    return 0;
}
