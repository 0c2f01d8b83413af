/*
 * The exec queue's transitions as seen in memory, after their commit:
 * submission, the agent's result, cancel and purge, the expiry of running
 * commands and the pruning of old results (housekeeping), and the relayed
 * output's replacement. Each transition is written by its exec_apply_* in
 * exec_store.c on the writer thread; the publish functions here apply it to
 * memory and wake whoever waits.
 */
#include "exec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "housekeeping.h"
#include "log.h"
#include "serve.h"
#include "store.h"

#define EXEC_TICK_MS 1000

/* housekeeping thread only */
static unsigned prune_ticks;

/* ---- submission ---- */

size_t exec_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t cut = max;
    /* back off continuation bytes (10xxxxxx) so the cut lands on a lead byte */
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

exec_transition_t *exec_transition_new(exec_status_t from, exec_status_t to, size_t n)
{
    exec_transition_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->items = calloc(n ? n : 1, sizeof(*t->items));
    if (t->items == NULL) {
        free(t);
        return NULL;
    }
    t->from = from;
    t->to = to;
    t->at = clock_now();
    return t;
}

void exec_transition_add_locked(exec_transition_t *t, exec_entry_t *e)
{
    struct transition_item *it = &t->items[t->n++];
    snprintf(it->id, sizeof(it->id), "%s", e->rec.id);
    snprintf(it->node_id, sizeof(it->node_id), "%s", e->rec.node_id);
    if (t->action != NULL && e->rec.command != NULL) {
        /* out of memory: the audit row goes without the command (the exec row keeps it) */
        size_t cl = exec_utf8_cut(e->rec.command, strlen(e->rec.command), EXEC_AUDIT_COMMAND_MAX);
        it->command = strndup(e->rec.command, cl);
    }
}

static void transition_done(void *arg, int status)
{
    if (status == 0)
        exec_publish_transition(arg);
    exec_transition_free(arg);
}

/* submits t without a request waiting on it (expiry, internal cancels) */
void exec_transition_submit(exec_transition_t *t)
{
    if (store_submit(exec_apply_transition, transition_done, t) != 0)
        exec_transition_free(t);
}

/* the requester of an internal submission is gone: cancel its command if it is still queued */
exec_transition_t *exec_cancel_abandoned_locked(exec_entry_t *e, const char *via)
{
    if (e->rec.status != EXEC_QUEUED || e->reserved)
        return NULL;
    exec_transition_t *t = exec_transition_new(EXEC_QUEUED, EXEC_CANCELED, 1);
    if (t == NULL)
        return NULL;
    snprintf(t->actor, sizeof(t->actor), "%s", e->rec.submitted_by);
    t->action = "exec.cancel";
    snprintf(t->via, sizeof(t->via), "%s", via ? via : "");
    exec_transition_add_locked(t, e);
    exec_reserve_locked(e);
    return t;
}

void exec_publish_submit(exec_rec_t *rec, park_t *result_waiter)
{
    exec_transition_t *abandoned = NULL;
    exec_entry_t *e = calloc(1, sizeof(*e));
    lock_take(&exec_lock);
    exec_node_t *n = e != NULL ? exec_node_get(rec->node_id) : NULL;
    if (n == NULL) {
        lock_give(&exec_lock);
        free(e);
        /* committed but not in memory: it is loaded at the next start */
        log_error("msg=\"out of memory publishing a submitted command; it is queued after a restart\" id=%s", rec->id);
        return;
    }
    e->rec = *rec;
    e->rec.status = EXEC_QUEUED;
    /* publish runs right after the commit, just before the submitter's 2xx */
    e->submit_mono_us = clock_mono_us();
    rec->command = rec->out = rec->err = NULL; /* moved */
    e->node = n;
    exec_entry_index(e);
    /* publish runs in commit order, so appending keeps the FIFO in seq order */
    exec_queue_insert_sorted(n, e);
    if (result_waiter != NULL) {
        if (park_done(result_waiter)) {
            abandoned = exec_cancel_abandoned_locked(e, "abandoned");
        } else {
            waiter_t *w = calloc(1, sizeof(*w));
            if (w != NULL) {
                park_ref(result_waiter);
                w->park = result_waiter;
                w->next = e->waiters;
                e->waiters = w;
            }
            /* without memory the requester just waits until its timeout */
        }
    }
    lock_give(&exec_lock);
    if (abandoned != NULL)
        exec_transition_submit(abandoned);
    exec_kick(rec->node_id);
}

/* ---- results ---- */

int exec_queue_report_check(const char *node_id, const char *id, exec_status_t *status)
{
    int rc;
    lock_take_shared(&exec_lock);
    exec_entry_t *e = exec_entry_find(id);
    if (e == NULL)
        rc = EXEC_ENOENT;
    else if (strcmp(e->rec.node_id, node_id) != 0)
        rc = EXEC_EFORBIDDEN;
    else if (exec_is_finished(e->rec.status))
        rc = EXEC_EALREADY;
    else if (e->rec.status == EXEC_QUEUED)
        rc = EXEC_ECONFLICT;
    else
        rc = 0;
    if (e != NULL)
        *status = e->rec.status;
    lock_give(&exec_lock);
    return rc;
}

void exec_publish_report(void *arg)
{
    exec_report_t *rep = arg;
    waiter_t *w = NULL;
    lock_take(&exec_lock);
    exec_entry_t *e = exec_entry_find(rep->id);
    if (e != NULL && e->rec.status == EXEC_RUNNING) {
        e->rec.has_exit_code = rep->has_exit_code;
        e->rec.exit_code = rep->exit_code;
        e->rec.has_duration = rep->has_duration;
        e->rec.duration_ms = rep->duration_ms;
        e->rec.truncated = rep->truncated;
        free(e->rec.out);
        free(e->rec.err);
        e->rec.out = rep->out ? rep->out : strdup("");
        e->rec.err = rep->err ? rep->err : strdup("");
        rep->out = rep->err = NULL;
        w = exec_finish_locked(e, rep->status, rep->finished_at);
    }
    lock_give(&exec_lock);
    exec_wake_all(w, WAKE_CHANGED);
}

void exec_report_free(void *arg)
{
    exec_report_t *rep = arg;
    free(rep->out);
    free(rep->err);
    free(rep);
}

/* ---- cancel, purge, expiry ---- */

int exec_queue_cancel_prepare(const char *node_id, const char *exec_id, const char *actor, exec_transition_t **out,
                              exec_status_t *status)
{
    *out = NULL;
    lock_take(&exec_lock);
    exec_transition_t *t = NULL;
    if (exec_id != NULL) {
        exec_entry_t *e = exec_entry_find(exec_id);
        if (e == NULL || strcmp(e->rec.node_id, node_id) != 0) {
            lock_give(&exec_lock);
            return EXEC_ENOENT;
        }
        if (e->rec.status != EXEC_QUEUED || e->reserved) {
            *status = e->rec.status;
            lock_give(&exec_lock);
            return EXEC_ECONFLICT;
        }
        t = exec_transition_new(EXEC_QUEUED, EXEC_CANCELED, 1);
        if (t == NULL) {
            lock_give(&exec_lock);
            return EXEC_ENOMEM;
        }
        t->action = "exec.cancel";
        exec_transition_add_locked(t, e);
        exec_reserve_locked(e);
    } else {
        exec_node_t *n = exec_node_find(node_id);
        t = exec_transition_new(EXEC_QUEUED, EXEC_CANCELED, n ? n->nqueued : 0);
        if (t == NULL) {
            lock_give(&exec_lock);
            return EXEC_ENOMEM;
        }
        t->action = "exec.purge";
        snprintf(t->target, sizeof(t->target), "%s", node_id);
        while (n != NULL && !h2o_linklist_is_empty(&n->queued)) {
            exec_entry_t *e = exec_entry_of(n->queued.next);
            exec_transition_add_locked(t, e);
            exec_reserve_locked(e);
        }
    }
    lock_give(&exec_lock);
    snprintf(t->actor, sizeof(t->actor), "%s", actor);
    *out = t;
    return 0;
}

size_t exec_transition_count(const exec_transition_t *t)
{
    return t->n;
}

void exec_transition_ids(const exec_transition_t *t, json_t *array)
{
    for (size_t i = 0; i < t->n; i++)
        json_array_append_new(array, json_string(t->items[i].id));
}

void exec_publish_transition(void *arg)
{
    exec_transition_t *t = arg;
    waiter_t *all = NULL;
    lock_take(&exec_lock);
    for (size_t i = 0; i < t->n; i++) {
        if (!t->items[i].changed)
            continue;
        t->items[i].published = 1;
        exec_entry_t *e = exec_entry_find(t->items[i].id);
        if (e == NULL || e->rec.status != t->from)
            continue;
        exec_waiters_append(&all, exec_finish_locked(e, t->to, t->at));
    }
    lock_give(&exec_lock);
    exec_wake_all(all, WAKE_CHANGED);
}

void exec_transition_free(void *arg)
{
    exec_transition_t *t = arg;
    int requeued = 0;
    lock_take(&exec_lock);
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i].published)
            continue;
        exec_entry_t *e = exec_entry_find(t->items[i].id);
        if (e == NULL)
            continue;
        if (t->from == EXEC_QUEUED) {
            exec_unreserve_locked(e);
            requeued = 1;
        } else {
            e->expiring = 0;
        }
    }
    lock_give(&exec_lock);
    /* put-back commands may be owed to a parked agent */
    for (size_t i = 0; requeued && i < t->n; i++)
        if (!t->items[i].published && (i == 0 || strcmp(t->items[i].node_id, t->items[i - 1].node_id) != 0))
            exec_kick(t->items[i].node_id);
    for (size_t i = 0; i < t->n; i++)
        free(t->items[i].command);
    free(t->items);
    free(t);
}

/* housekeeping: running commands past timeout + grace become "timeout" */
static void expire_running(void)
{
    const hc_config_t *cfg = serve_config();
    int64_t grace = cfg ? (int64_t)cfg->exec.timeout_grace_ms : 30000;
    int64_t now = exec_wall_ms();
    exec_transition_t *t = NULL;
    lock_take(&exec_lock);
    size_t due = 0;
    for (size_t b = 0; b < exec_node_buckets; b++)
        for (exec_node_t *n = exec_node_tab[b]; n != NULL; n = n->next)
            for (h2o_linklist_t *l = n->running.next; l != &n->running; l = l->next) {
                exec_entry_t *e = exec_entry_of(l);
                if (!e->expiring && now >= e->started_ms + e->rec.timeout_s * 1000 + grace)
                    due++;
            }
    if (due > 0 && (t = exec_transition_new(EXEC_RUNNING, EXEC_TIMEOUT, due)) != NULL) {
        for (size_t b = 0; b < exec_node_buckets; b++)
            for (exec_node_t *n = exec_node_tab[b]; n != NULL; n = n->next)
                for (h2o_linklist_t *l = n->running.next; l != &n->running; l = l->next) {
                    exec_entry_t *e = exec_entry_of(l);
                    if (t->n < due && !e->expiring && now >= e->started_ms + e->rec.timeout_s * 1000 + grace) {
                        e->expiring = 1;
                        exec_transition_add_locked(t, e);
                    }
                }
    }
    lock_give(&exec_lock);
    if (t != NULL) {
        log_info("msg=\"exec commands ran past their timeout without a result\" count=%zu", t->n);
        exec_transition_submit(t);
    }
}

/* housekeeping: finished results older than exec.result_retention go */
static void prune_finished(void)
{
    const hc_config_t *cfg = serve_config();
    uint64_t retention_ms = cfg ? cfg->exec.result_retention_ms : 168ULL * 3600 * 1000;
    int64_t cutoff = clock_now() - (int64_t)(retention_ms / 1000);
    waiter_t *w = NULL;
    size_t dropped = 0;
    lock_take(&exec_lock);
    while (!h2o_linklist_is_empty(&exec_finished_all)) {
        exec_entry_t *e = H2O_STRUCT_FROM_MEMBER(exec_entry_t, fin_link, exec_finished_all.next);
        if (e->rec.finished_at >= cutoff)
            break;
        exec_entry_drop_locked(e, &w);
        dropped++;
    }
    lock_give(&exec_lock);
    exec_wake_all(w, WAKE_CHANGED);
    if (dropped == 0 && prune_ticks++ % EXEC_PRUNE_EVERY_TICKS != 0)
        return;
    (void)exec_store_prune_submit(cutoff); /* failed: the next tick tries again */
}

static void on_tick(void *arg)
{
    (void)arg;
    expire_running();
    prune_finished();
}

int exec_queue_register_tasks(void)
{
    return housekeeping_every("exec expiry and pruning", EXEC_TICK_MS, on_tick, NULL);
}

/* ---- relayed output ---- */

void exec_queue_output_replace(const char *exec_id, const char *text)
{
    char *mem = strdup(text);
    char *row = strdup(text);
    if (mem == NULL || row == NULL || strlen(exec_id) >= EXEC_ID_MAX) {
        free(mem);
        free(row);
        return;
    }
    int finished = 0;
    lock_take(&exec_lock);
    exec_entry_t *e = exec_entry_find(exec_id);
    if (e != NULL && exec_is_finished(e->rec.status)) {
        finished = 1;
        free(e->rec.out);
        e->rec.out = mem;
        mem = NULL;
    }
    lock_give(&exec_lock);
    free(mem);
    if (!finished || exec_store_output_replace_submit(exec_id, row) != 0)
        free(row);
}
