/*
 * Long-poll delivery of exec commands: an agent's poll takes the first queued
 * command of its node or parks; a submission (or a command put back) is
 * handed to a parked agent by exec_kick. The command is reserved under the
 * lock, the agent is woken without it, and exec_publish_dispatch moves it to
 * running once the transition committed (exec_store.c writes it).
 */
#include "exec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

static exec_dispatch_t *dispatch_new_locked(exec_entry_t *e)
{
    exec_dispatch_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->command = strdup(e->rec.command);
    if (d->command == NULL) {
        free(d);
        return NULL;
    }
    snprintf(d->id, sizeof(d->id), "%s", e->rec.id);
    snprintf(d->node_id, sizeof(d->node_id), "%s", e->rec.node_id);
    d->timeout_s = e->rec.timeout_s;
    return d;
}

static void dispatch_destroy(exec_dispatch_t *d)
{
    free(d->command);
    free(d);
}

/*
 * Hands queued commands of the node to its parked agents, one each: pairs
 * them under the lock, then wakes without it. A park that already ended
 * (timeout, disconnect) refuses the wake; its command goes back in front.
 */
void exec_kick(const char *node_id)
{
    for (;;) {
        lock_take(&exec_lock);
        exec_node_t *n = exec_node_find(node_id);
        if (n == NULL || n->agents == NULL || h2o_linklist_is_empty(&n->queued)) {
            lock_give(&exec_lock);
            return;
        }
        exec_entry_t *e = exec_entry_of(n->queued.next);
        exec_dispatch_t *d = dispatch_new_locked(e);
        if (d == NULL) {
            lock_give(&exec_lock);
            log_error("msg=\"out of memory handing a command to a parked agent; it gets it on its next poll\" "
                      "node_id=%s",
                      node_id);
            return;
        }
        waiter_t *w = n->agents;
        n->agents = w->next;
        if (n->agents == NULL)
            n->agents_tail = &n->agents;
        exec_reserve_locked(e);
        lock_give(&exec_lock);

        int woke = park_wake(w->park, (intptr_t)d);
        park_unref(w->park);
        free(w);
        if (!woke) {
            lock_take(&exec_lock);
            exec_entry_t *again = exec_entry_find(d->id);
            if (again != NULL)
                exec_unreserve_locked(again);
            lock_give(&exec_lock);
            dispatch_destroy(d);
        }
    }
}

int exec_queue_take(const char *node_id, int approved, park_t *wait_park, exec_dispatch_t **out)
{
    *out = NULL;
    lock_take(&exec_lock);
    exec_node_t *n = exec_node_get(node_id);
    if (n == NULL) {
        lock_give(&exec_lock);
        return EXEC_ENOMEM;
    }
    if (approved && !h2o_linklist_is_empty(&n->queued)) {
        exec_entry_t *e = exec_entry_of(n->queued.next);
        exec_dispatch_t *d = dispatch_new_locked(e);
        if (d == NULL) {
            lock_give(&exec_lock);
            return EXEC_ENOMEM;
        }
        exec_reserve_locked(e);
        lock_give(&exec_lock);
        *out = d;
        return 1;
    }
    if (wait_park != NULL) {
        waiter_t *w = calloc(1, sizeof(*w));
        if (w == NULL) {
            lock_give(&exec_lock);
            return EXEC_ENOMEM;
        }
        w->park = wait_park;
        *n->agents_tail = w;
        n->agents_tail = &w->next;
    }
    lock_give(&exec_lock);
    return 0;
}

void exec_queue_agent_forget(const char *node_id, park_t *p)
{
    lock_take(&exec_lock);
    exec_node_t *n = exec_node_find(node_id);
    int removed = n != NULL && exec_waiter_remove(&n->agents, &n->agents_tail, p);
    lock_give(&exec_lock);
    if (removed)
        park_unref(p);
}

void exec_publish_dispatch(void *arg)
{
    exec_dispatch_t *d = arg;
    uint64_t submitted_us = 0;
    lock_take(&exec_lock);
    exec_entry_t *e = exec_entry_find(d->id);
    if (e != NULL && e->rec.status == EXEC_QUEUED) {
        submitted_us = e->submit_mono_us;
        exec_unlink_from_node(e);
        e->reserved = 0;
        e->rec.status = EXEC_RUNNING;
        e->rec.started_at = d->started_at;
        e->started_ms = exec_wall_ms();
        h2o_linklist_insert(&e->node->running, &e->node_link);
        e->node->nrunning++;
    }
    d->published = 1;
    lock_give(&exec_lock);
    /* the agent's 200 goes out right after this publish */
    if (submitted_us != 0) {
        uint64_t now = clock_mono_us();
        metrics_histogram_observe(&exec_dispatch_latency, now > submitted_us ? now - submitted_us : 0);
    }
}

void exec_dispatch_free(void *arg)
{
    exec_dispatch_t *d = arg;
    if (!d->published) {
        lock_take(&exec_lock);
        exec_entry_t *e = exec_entry_find(d->id);
        if (e != NULL)
            exec_unreserve_locked(e);
        lock_give(&exec_lock);
        exec_kick(d->node_id);
    }
    dispatch_destroy(d);
}

