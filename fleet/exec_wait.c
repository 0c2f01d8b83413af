/*
 * Parking and waking around the exec queue: the lists of parked requests
 * (agents and result waiters), waiting on a command's result, and internal
 * submissions (a request parked until its own command finishes).
 */
#include "exec_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jsonio.h"
#include "secret.h"
#include "store.h"

/* ---- waiter lists ---- */

void exec_waiters_append(waiter_t **list, waiter_t *more)
{
    while (*list != NULL)
        list = &(*list)->next;
    *list = more;
}

/* No lock held: wakes (or, when already woken, just releases) each waiter. */
void exec_wake_all(waiter_t *w, intptr_t value)
{
    while (w != NULL) {
        waiter_t *next = w->next;
        park_wake(w->park, value);
        park_unref(w->park);
        free(w);
        w = next;
    }
}

int exec_waiter_remove(waiter_t **list, waiter_t ***tail, park_t *p)
{
    for (waiter_t **pp = list; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->park == p) {
            waiter_t *w = *pp;
            *pp = w->next;
            if (tail != NULL && *tail == &w->next)
                *tail = pp;
            free(w);
            return 1;
        }
    }
    return 0;
}

json_t *exec_queue_result_json_wait(const char *node_id, const char *exec_id, int *finished, park_t *p)
{
    json_t *o = NULL;
    /* a plain read shares the lock; registering a waiter changes the entry */
    if (p != NULL)
        lock_take(&exec_lock);
    else
        lock_take_shared(&exec_lock);
    exec_entry_t *e = exec_entry_find(exec_id);
    if (e != NULL && strcmp(e->rec.node_id, node_id) == 0) {
        *finished = exec_is_finished(e->rec.status);
        o = exec_result_json_locked(e);
        if (!*finished && p != NULL && o != NULL) {
            waiter_t *w = calloc(1, sizeof(*w));
            if (w == NULL) {
                json_decref(o);
                o = NULL;
            } else {
                park_ref(p);
                w->park = p;
                w->next = e->waiters;
                e->waiters = w;
            }
        }
    }
    lock_give(&exec_lock);
    return o;
}

json_t *exec_queue_result_json(const char *node_id, const char *exec_id, int *finished)
{
    return exec_queue_result_json_wait(node_id, exec_id, finished, NULL);
}

void exec_queue_result_forget(const char *exec_id, park_t *p)
{
    lock_take(&exec_lock);
    exec_entry_t *e = exec_entry_find(exec_id);
    int removed = e != NULL && exec_waiter_remove(&e->waiters, NULL, p);
    lock_give(&exec_lock);
    if (removed)
        park_unref(p);
}
/* ---- internal submissions ---- */

typedef struct internal {
    _Atomic int refs; /* the writer's side and the park callback's side */
    park_t *park;
    exec_rec_t rec;
    char via[32];
    exec_internal_cb cb;
    void *data;
} internal_t;

static void internal_unref(internal_t *in)
{
    if (atomic_fetch_sub_explicit(&in->refs, 1, memory_order_acq_rel) == 1) {
        exec_rec_clear(&in->rec);
        free(in);
    }
}

static int internal_apply(sqlite3 *db, void *arg)
{
    internal_t *in = arg;
    return exec_apply_submit(db, &in->rec, in->via);
}

static void internal_done(void *arg, int status)
{
    internal_t *in = arg;
    if (status == 0)
        exec_publish_submit(&in->rec, in->park);
    else
        park_wake(in->park, status);
    park_unref(in->park);
    internal_unref(in);
}

static void internal_on_wake(park_t *p, hc_req_t *r, int reason, intptr_t value)
{
    internal_t *in = park_data(p);
    exec_result_t res = {.id = in->rec.id, .status = EXEC_QUEUED, .out = "", .err = ""};
    char *out = NULL, *err = NULL;
    int outcome;
    if (reason == PARK_WOKEN && value < 0) {
        outcome = value == EXEC_ENOENT          ? EXEC_INTERNAL_ENOENT
                  : value == EXEC_ENOTAPPROVED ? EXEC_INTERNAL_NOT_APPROVED
                                               : EXEC_INTERNAL_ESTORE;
    } else {
        exec_transition_t *cancel = NULL;
        int removed = 0;
        lock_take(&exec_lock);
        exec_entry_t *e = exec_entry_find(in->rec.id);
        if (e != NULL && reason != PARK_WOKEN)
            removed = exec_waiter_remove(&e->waiters, NULL, p);
        if (e == NULL) {
            /* woken: the node (and its commands) went away; else the
             * submission has not been published yet: still pending */
            outcome = reason == PARK_WOKEN ? EXEC_INTERNAL_ENOENT : EXEC_INTERNAL_WAIT_ENDED;
        } else if (exec_is_finished(e->rec.status)) {
            outcome = EXEC_INTERNAL_FINISHED;
            res.status = e->rec.status;
            res.has_exit_code = e->rec.has_exit_code;
            res.exit_code = e->rec.exit_code;
            res.duration_ms = e->rec.has_duration ? e->rec.duration_ms : 0;
            res.truncated = e->rec.truncated;
            out = strdup(e->rec.out ? e->rec.out : "");
            err = strdup(e->rec.err ? e->rec.err : "");
        } else {
            outcome = EXEC_INTERNAL_WAIT_ENDED;
            res.status = e->rec.status;
            cancel = exec_cancel_abandoned_locked(e, in->via);
            if (cancel != NULL)
                res.status = EXEC_CANCELED;
        }
        lock_give(&exec_lock);
        if (removed)
            park_unref(p);
        if (cancel != NULL)
            exec_transition_submit(cancel);
        if (out != NULL)
            res.out = out;
        if (err != NULL)
            res.err = err;
    }
    in->cb(r, outcome, &res, in->data);
    free(out);
    free(err);
    internal_unref(in);
}

int exec_queue_submit_internal(hc_req_t *r, const char *node_id, const char *command, int64_t timeout_s,
                               const char *actor, const char *via, uint64_t wait_ms, exec_internal_cb cb, void *data)
{
    internal_t *in = calloc(1, sizeof(*in));
    if (in == NULL || (in->rec.command = strdup(command)) == NULL) {
        free(in);
        json_error(r, 500, "internal", "out of memory");
        return -1;
    }
    secret_id_new("exec-", in->rec.id, sizeof(in->rec.id));
    int bad_node = strlen(node_id) >= sizeof(in->rec.node_id);
    snprintf(in->rec.node_id, sizeof(in->rec.node_id), "%s", node_id);
    in->rec.timeout_s = timeout_s < EXEC_TIMEOUT_MIN_S   ? EXEC_TIMEOUT_MIN_S
                        : timeout_s > EXEC_TIMEOUT_MAX_S ? EXEC_TIMEOUT_MAX_S
                                                         : timeout_s;
    in->rec.submitted_at = clock_now();
    snprintf(in->rec.submitted_by, sizeof(in->rec.submitted_by), "%s", actor);
    snprintf(in->via, sizeof(in->via), "%s", via ? via : "");
    in->cb = cb;
    in->data = data;
    atomic_init(&in->refs, 2);
    in->park = park_start(r, wait_ms, internal_on_wake, in);
    if (in->park == NULL) {
        exec_rec_clear(&in->rec);
        free(in);
        json_error(r, 500, "internal", "out of memory");
        return -1;
    }
    int rc = bad_node ? EXEC_ENOENT : store_submit(internal_apply, internal_done, in);
    if (rc != 0) {
        park_wake(in->park, rc);
        park_unref(in->park);
        internal_unref(in);
    }
    return 0;
}
