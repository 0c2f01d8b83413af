/*
 * The exec queue's state: the id and node tables, the moves between a node's
 * lists (queued, reserved, running, finished), the reads (result, list,
 * pending count, metrics), node deletion and start-up. See exec_internal.h
 * for how the exec_*.c files divide the queue, exec_queue.h for the API.
 */
#include "exec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

hc_lock_t exec_lock;
exec_node_t **exec_node_tab;
size_t exec_node_buckets;
h2o_linklist_t exec_finished_all;
metrics_histogram_t exec_dispatch_latency;
/* guarded by exec_lock: */
static exec_entry_t **by_id;
static size_t id_buckets, n_entries;
static size_t n_nodes;

static const char *const status_db[] = {"queued", "running", "done", "failed", "timeout", "canceled"};

const char *exec_status_db(exec_status_t s)
{
    return (unsigned)s < sizeof(status_db) / sizeof(status_db[0]) ? status_db[s] : "unknown";
}

const char *exec_status_api(exec_status_t s)
{
    return s == EXEC_QUEUED ? "pending" : exec_status_db(s);
}

int exec_status_from_db(const char *s, exec_status_t *out)
{
    for (size_t i = 0; i < sizeof(status_db) / sizeof(status_db[0]); i++)
        if (s != NULL && strcmp(s, status_db[i]) == 0) {
            *out = (exec_status_t)i;
            return 0;
        }
    return -1;
}

int exec_is_finished(exec_status_t s)
{
    return s >= EXEC_DONE;
}

void exec_rec_clear(exec_rec_t *rec)
{
    free(rec->command);
    free(rec->out);
    free(rec->err);
    rec->command = rec->out = rec->err = NULL;
}

int64_t exec_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}
/* ---- tables (caller holds exec_lock) ---- */

exec_entry_t *exec_entry_find(const char *id)
{
    if (by_id == NULL)
        return NULL;
    for (exec_entry_t *e = by_id[hash_str(id) % id_buckets]; e != NULL; e = e->next_by_id)
        if (strcmp(e->rec.id, id) == 0)
            return e;
    return NULL;
}

static void id_rehash(void)
{
    size_t nb = id_buckets * 2;
    exec_entry_t **t = calloc(nb, sizeof(*t));
    if (t == NULL)
        return; /* longer chains, still correct */
    for (size_t b = 0; b < id_buckets; b++)
        for (exec_entry_t *e = by_id[b], *next; e != NULL; e = next) {
            next = e->next_by_id;
            size_t i = hash_str(e->rec.id) % nb;
            e->next_by_id = t[i];
            t[i] = e;
        }
    free(by_id);
    by_id = t;
    id_buckets = nb;
}

void exec_entry_index(exec_entry_t *e)
{
    if (n_entries + 1 > id_buckets)
        id_rehash();
    size_t i = hash_str(e->rec.id) % id_buckets;
    e->next_by_id = by_id[i];
    by_id[i] = e;
    n_entries++;
}

static void entry_unindex(exec_entry_t *e)
{
    for (exec_entry_t **pp = &by_id[hash_str(e->rec.id) % id_buckets]; *pp != NULL; pp = &(*pp)->next_by_id)
        if (*pp == e) {
            *pp = e->next_by_id;
            n_entries--;
            return;
        }
}

exec_node_t *exec_node_find(const char *id)
{
    if (exec_node_tab == NULL)
        return NULL;
    for (exec_node_t *n = exec_node_tab[hash_str(id) % exec_node_buckets]; n != NULL; n = n->next)
        if (strcmp(n->id, id) == 0)
            return n;
    return NULL;
}

static void node_rehash(void)
{
    size_t nb = exec_node_buckets * 2;
    exec_node_t **t = calloc(nb, sizeof(*t));
    if (t == NULL)
        return;
    for (size_t b = 0; b < exec_node_buckets; b++)
        for (exec_node_t *n = exec_node_tab[b], *next; n != NULL; n = next) {
            next = n->next;
            size_t i = hash_str(n->id) % nb;
            n->next = t[i];
            t[i] = n;
        }
    free(exec_node_tab);
    exec_node_tab = t;
    exec_node_buckets = nb;
}

/* finds or creates; NULL on allocation failure */
exec_node_t *exec_node_get(const char *id)
{
    exec_node_t *n = exec_node_find(id);
    if (n != NULL)
        return n;
    n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    snprintf(n->id, sizeof(n->id), "%s", id);
    h2o_linklist_init_anchor(&n->queued);
    h2o_linklist_init_anchor(&n->reserved);
    h2o_linklist_init_anchor(&n->running);
    h2o_linklist_init_anchor(&n->finished);
    n->agents_tail = &n->agents;
    if (n_nodes + 1 > exec_node_buckets)
        node_rehash();
    size_t i = hash_str(id) % exec_node_buckets;
    n->next = exec_node_tab[i];
    exec_node_tab[i] = n;
    n_nodes++;
    return n;
}

exec_entry_t *exec_entry_of(h2o_linklist_t *link)
{
    return H2O_STRUCT_FROM_MEMBER(exec_entry_t, node_link, link);
}

/* ---- list moves (caller holds exec_lock) ---- */

void exec_queue_insert_sorted(exec_node_t *n, exec_entry_t *e)
{
    h2o_linklist_t *pos = n->queued.prev;
    while (pos != &n->queued && exec_entry_of(pos)->rec.seq > e->rec.seq)
        pos = pos->prev;
    h2o_linklist_insert(pos->next, &e->node_link);
    n->nqueued++;
}

/* takes a queued entry out of the FIFO so nobody else can take it */
void exec_reserve_locked(exec_entry_t *e)
{
    h2o_linklist_unlink(&e->node_link);
    e->node->nqueued--;
    h2o_linklist_insert(&e->node->reserved, &e->node_link);
    e->node->nreserved++;
    e->reserved = 1;
}

void exec_unreserve_locked(exec_entry_t *e)
{
    if (!e->reserved || e->rec.status != EXEC_QUEUED)
        return;
    h2o_linklist_unlink(&e->node_link);
    e->node->nreserved--;
    e->reserved = 0;
    exec_queue_insert_sorted(e->node, e);
}

void exec_unlink_from_node(exec_entry_t *e)
{
    exec_node_t *n = e->node;
    if (!h2o_linklist_is_linked(&e->node_link))
        return;
    h2o_linklist_unlink(&e->node_link);
    switch (e->rec.status) {
    case EXEC_QUEUED:
        if (e->reserved)
            n->nreserved--;
        else
            n->nqueued--;
        break;
    case EXEC_RUNNING:
        n->nrunning--;
        break;
    default:
        n->nfinished--;
        break;
    }
}

/* moves e to the finished lists; returns its result waiters (detached) */
waiter_t *exec_finish_locked(exec_entry_t *e, exec_status_t st, int64_t finished_at)
{
    exec_unlink_from_node(e);
    e->reserved = 0;
    e->expiring = 0;
    e->rec.status = st;
    e->rec.finished_at = finished_at;
    h2o_linklist_insert(&e->node->finished, &e->node_link);
    e->node->nfinished++;
    h2o_linklist_insert(&exec_finished_all, &e->fin_link);
    waiter_t *w = e->waiters;
    e->waiters = NULL;
    return w;
}

/* unlinks and frees e; appends its waiters to *waiters */
void exec_entry_drop_locked(exec_entry_t *e, waiter_t **waiters)
{
    exec_unlink_from_node(e);
    if (h2o_linklist_is_linked(&e->fin_link))
        h2o_linklist_unlink(&e->fin_link);
    entry_unindex(e);
    if (e->waiters != NULL) {
        waiter_t *last = e->waiters;
        while (last->next != NULL)
            last = last->next;
        last->next = *waiters;
        *waiters = e->waiters;
    }
    exec_rec_clear(&e->rec);
    free(e);
}

/* ---- reads ---- */

static json_t *time_json(int64_t t)
{
    char buf[32];
    return t ? json_string(clock_rfc3339(t, buf, sizeof(buf))) : json_null();
}

json_t *exec_entry_json_locked(const exec_entry_t *e, int with_output)
{
    const exec_rec_t *c = &e->rec;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:b}", "id", c->id, "node_id",
                          c->node_id, "status", exec_status_api(c->status), "command", c->command, "timeout_s",
                          (json_int_t)c->timeout_s, "submitted_at", time_json(c->submitted_at), "submitted_by",
                          c->submitted_by, "started_at", time_json(c->started_at), "finished_at",
                          time_json(c->finished_at), "exit_code",
                          c->has_exit_code ? json_integer(c->exit_code) : json_null(), "duration_ms",
                          c->has_duration ? json_integer(c->duration_ms) : json_null(), "truncated", c->truncated);
    if (o != NULL && with_output) {
        json_object_set_new(o, "stdout", json_string(c->out ? c->out : ""));
        json_object_set_new(o, "stderr", json_string(c->err ? c->err : ""));
    }
    return o;
}

json_t *exec_result_json_locked(const exec_entry_t *e)
{
    if (exec_is_finished(e->rec.status))
        return exec_entry_json_locked(e, 1);
    return json_pack("{s:s, s:s}", "id", e->rec.id, "status", exec_status_api(e->rec.status));
}
/* the listing's order: reserved (being handed out: first in line), queued,
 * running, finished newest first */
static h2o_linklist_t *list_next(exec_node_t *n, h2o_linklist_t *l, int *part)
{
    h2o_linklist_t *anchors[] = {&n->reserved, &n->queued, &n->running, &n->finished};
    l = *part == 3 ? l->prev : l->next;
    while (l == anchors[*part]) {
        if (++*part == 4)
            return NULL;
        l = *part == 3 ? anchors[3]->prev : anchors[*part]->next;
    }
    return l;
}

static h2o_linklist_t *list_first(exec_node_t *n, int *part)
{
    *part = 0;
    h2o_linklist_t *l = n->reserved.next;
    if (l != &n->reserved)
        return l;
    return list_next(n, &n->reserved, part);
}

static json_t *list_entry_json(const exec_entry_t *e, int full)
{
    json_t *o = exec_entry_json_locked(e, 0);
    size_t len = strlen(e->rec.command);
    if (o != NULL && !full && len > EXEC_LIST_PREVIEW) {
        size_t cut = exec_utf8_cut(e->rec.command, len, EXEC_LIST_PREVIEW);
        json_object_set_new(o, "command", json_stringn(e->rec.command, cut));
    }
    if (o != NULL)
        json_object_set_new(o, "command_bytes", json_integer((json_int_t)len));
    return o;
}

json_t *exec_queue_list_json(const char *node_id, size_t limit, const char *after, const char *before, int full,
                             int *bad_cursor)
{
    *bad_cursor = 0;
    json_t *cmds = json_array();
    if (cmds == NULL)
        return NULL;
    size_t pending = 0, running = 0;
    const char *next_after = NULL, *prev_before = NULL;
    char next_buf[EXEC_ID_MAX] = "";
    int has_prev = 0;
    lock_take_shared(&exec_lock);
    exec_node_t *n = exec_node_find(node_id);
    const char *cursor = after ? after : before;
    if (n == NULL) {
        *bad_cursor = cursor != NULL;
    } else {
        pending = n->nqueued + n->nreserved;
        running = n->nrunning;
        int part;
        h2o_linklist_t *l = list_first(n, &part);
        size_t index = 0, start = 0, found = cursor == NULL;
        /* the cursor's position in the sequence */
        for (h2o_linklist_t *c = l; cursor != NULL && c != NULL; c = list_next(n, c, &part), index++)
            if (strcmp(exec_entry_of(c)->rec.id, cursor) == 0) {
                found = 1;
                break;
            }
        if (!found) {
            *bad_cursor = 1;
        } else {
            if (after != NULL)
                start = index + 1;
            else if (before != NULL)
                start = index > limit ? index - limit : 0;
            size_t stop = before != NULL ? index : SIZE_MAX;
            size_t i = 0;
            l = list_first(n, &part);
            for (; l != NULL && i < start; l = list_next(n, l, &part), i++)
                ;
            has_prev = start > 0;
            size_t k = 0;
            for (; l != NULL && k < limit && i < stop; l = list_next(n, l, &part), i++, k++) {
                const exec_entry_t *e = exec_entry_of(l);
                json_array_append_new(cmds, list_entry_json(e, full));
                snprintf(next_buf, sizeof(next_buf), "%s", e->rec.id);
            }
            if (l != NULL && k > 0)
                next_after = next_buf;
        }
    }
    lock_give(&exec_lock);
    if (*bad_cursor) {
        json_decref(cmds);
        return NULL;
    }
    /* prev_before names the first entry of this page when entries precede it */
    if (has_prev && json_array_size(cmds) > 0)
        prev_before = json_string_value(json_object_get(json_array_get(cmds, 0), "id"));
    return json_pack("{s:s, s:I, s:I, s:o, s:s?, s:s?}", "node_id", node_id, "pending", (json_int_t)pending,
                     "running", (json_int_t)running, "commands", cmds, "next_after", next_after, "prev_before",
                     prev_before);
}

int exec_queue_admit(const char *node_id, size_t max_pending)
{
    int rc = 0;
    lock_take(&exec_lock);
    exec_node_t *n = exec_node_get(node_id);
    if (n == NULL)
        rc = EXEC_ENOMEM;
    else if (max_pending > 0 && n->nqueued + n->nreserved + n->nadmitted >= max_pending)
        rc = 1;
    else
        n->nadmitted++;
    lock_give(&exec_lock);
    return rc;
}

void exec_queue_admit_done(const char *node_id)
{
    lock_take(&exec_lock);
    exec_node_t *n = exec_node_find(node_id);
    if (n != NULL && n->nadmitted > 0)
        n->nadmitted--;
    lock_give(&exec_lock);
}

int exec_queue_pending_count(const char *node_id)
{
    lock_take_shared(&exec_lock);
    exec_node_t *n = exec_node_find(node_id);
    size_t c = n ? n->nqueued + n->nreserved : 0;
    lock_give(&exec_lock);
    return c > 0x7fffffff ? 0x7fffffff : (int)c;
}

void exec_queue_metrics_render(FILE *f)
{
    size_t queued = 0, running = 0, finished = 0;
    int64_t oldest = 0;
    lock_take_shared(&exec_lock);
    for (size_t b = 0; b < exec_node_buckets; b++)
        for (exec_node_t *n = exec_node_tab[b]; n != NULL; n = n->next) {
            queued += n->nqueued + n->nreserved;
            running += n->nrunning;
            finished += n->nfinished;
            if (!h2o_linklist_is_empty(&n->queued)) {
                int64_t t = exec_entry_of(n->queued.next)->rec.submitted_at;
                if (oldest == 0 || t < oldest)
                    oldest = t;
            }
        }
    lock_give(&exec_lock);
    int64_t age = oldest ? clock_now() - oldest : 0;
    fprintf(f,
            "# HELP hydracluster_exec_queued Exec commands waiting for their agent.\n"
            "# TYPE hydracluster_exec_queued gauge\nhydracluster_exec_queued %zu\n"
            "# HELP hydracluster_exec_running Exec commands handed to an agent and not finished.\n"
            "# TYPE hydracluster_exec_running gauge\nhydracluster_exec_running %zu\n"
            "# HELP hydracluster_exec_results_kept Finished exec results kept for exec.result_retention.\n"
            "# TYPE hydracluster_exec_results_kept gauge\nhydracluster_exec_results_kept %zu\n"
            "# HELP hydracluster_exec_oldest_queued_age_seconds Age of the oldest command waiting for its agent.\n"
            "# TYPE hydracluster_exec_oldest_queued_age_seconds gauge\n"
            "hydracluster_exec_oldest_queued_age_seconds %lld\n",
            queued, running, finished, (long long)(age > 0 ? age : 0));
    metrics_histogram_family(f, "hydracluster_exec_dispatch_latency_seconds",
                             "Time from an acknowledged submit to its hand-over to the agent (commands submitted "
                             "since this start).");
    metrics_histogram_render(f, "hydracluster_exec_dispatch_latency_seconds", NULL, &exec_dispatch_latency);
}

/* ---- node deletion ---- */

void exec_queue_node_deleted(const char *node_id)
{
    waiter_t *results = NULL, *agents = NULL;
    lock_take(&exec_lock);
    exec_node_t *n = exec_node_find(node_id);
    if (n == NULL) {
        lock_give(&exec_lock);
        return;
    }
    h2o_linklist_t *lists[] = {&n->queued, &n->reserved, &n->running, &n->finished};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        while (!h2o_linklist_is_empty(lists[i]))
            exec_entry_drop_locked(exec_entry_of(lists[i]->next), &results);
    agents = n->agents;
    for (exec_node_t **pp = &exec_node_tab[hash_str(node_id) % exec_node_buckets]; *pp != NULL; pp = &(*pp)->next)
        if (*pp == n) {
            *pp = n->next;
            n_nodes--;
            break;
        }
    free(n);
    lock_give(&exec_lock);
    exec_wake_all(agents, 0); /* 0: no command, answer 204 */
    exec_wake_all(results, WAKE_CHANGED);
}
/* ---- start-up ---- */

int exec_queue_init(void)
{
    lock_init(&exec_lock, "exec", LOCK_RANK_EXEC);
    id_buckets = 1024;
    exec_node_buckets = 256;
    by_id = calloc(id_buckets, sizeof(*by_id));
    exec_node_tab = calloc(exec_node_buckets, sizeof(*exec_node_tab));
    h2o_linklist_init_anchor(&exec_finished_all);
    metrics_histogram_init(&exec_dispatch_latency, metrics_latency_bounds_us, metrics_latency_bounds_count, 1e6);
    return by_id && exec_node_tab ? 0 : -1;
}
