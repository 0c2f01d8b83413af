#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "lock.h"
#include "serve.h"
#include "store.h"
#include "watchdog.h"
#include "workers.h"

/* every HTTP status its own label value: one counter per code 100..599 */
#define STATUS_MIN 100
#define NSTATUS 500
/* requests no route matched, by method (a fixed set keeps the label bounded) */
static const char *const unmatched_methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};
#define NUNMATCHED (sizeof(unmatched_methods) / sizeof(unmatched_methods[0]))

const uint64_t metrics_latency_bounds_us[] = {1000,    2500,    5000,    10000,   25000,    50000,   100000, 250000,
                                              500000,  1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
const size_t metrics_latency_bounds_count = sizeof(metrics_latency_bounds_us) / sizeof(metrics_latency_bounds_us[0]);

/* a commit is one fsync: tens of µs on NVMe, ms on spinning or network disks */
static const uint64_t commit_bounds_us[] = {50,    100,   250,    500,    1000,   2500,    5000,
                                            10000, 25000, 50000, 100000, 250000, 1000000, 5000000};
static const uint64_t batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

typedef struct {
    _Atomic uint64_t by_status[NSTATUS];
    metrics_histogram_t duration;
} route_metrics_t;

static route_metrics_t *per_route; /* route_table_count + NUNMATCHED (unmatched, by method) */
static metrics_histogram_t commit_latency, batch_size;
static _Atomic uint64_t heartbeats, checkpoints, checkpoints_busy;

/* heartbeat rate: totals sampled once a second, rate over the last window */
#define RATE_WINDOW 10
static uint64_t hb_samples[RATE_WINDOW + 1]; /* watchdog thread only */
static size_t hb_next, hb_filled;
static _Atomic uint64_t hb_rate_milli; /* heartbeats per second × 1000 */

#define MAX_COLLECTORS 16
static _Atomic(metrics_collector_fn) collectors[MAX_COLLECTORS];
static _Atomic size_t ncollectors;

int metrics_init(void)
{
    per_route = calloc(route_table_count + NUNMATCHED, sizeof(*per_route));
    if (per_route == NULL)
        return -1;
    for (size_t i = 0; i < route_table_count + NUNMATCHED; i++)
        metrics_histogram_init(&per_route[i].duration, metrics_latency_bounds_us, metrics_latency_bounds_count, 1e6);
    metrics_histogram_init(&commit_latency, commit_bounds_us, sizeof(commit_bounds_us) / sizeof(commit_bounds_us[0]),
                           1e6);
    metrics_histogram_init(&batch_size, batch_bounds, sizeof(batch_bounds) / sizeof(batch_bounds[0]), 1);
    return 0;
}

int metrics_register_collector(metrics_collector_fn fn)
{
    size_t i = atomic_fetch_add(&ncollectors, 1);
    if (i >= MAX_COLLECTORS) {
        atomic_fetch_sub(&ncollectors, 1);
        return -1;
    }
    atomic_store(&collectors[i], fn);
    return 0;
}

/* ---- histograms ---- */

void metrics_histogram_init(metrics_histogram_t *h, const uint64_t *bounds, size_t n, double scale)
{
    memset(h, 0, sizeof(*h));
    if (n > METRICS_HISTOGRAM_MAX_BOUNDS)
        n = METRICS_HISTOGRAM_MAX_BOUNDS;
    memcpy(h->bounds, bounds, n * sizeof(bounds[0]));
    h->nbounds = n;
    h->scale = scale > 0 ? scale : 1;
}

void metrics_histogram_observe(metrics_histogram_t *h, uint64_t value)
{
    size_t b = 0;
    while (b < h->nbounds && value > h->bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, value, memory_order_relaxed);
}

void metrics_histogram_family(FILE *f, const char *name, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
}

void metrics_histogram_render(FILE *f, const char *name, const char *labels, const metrics_histogram_t *h)
{
    const char *sep = labels != NULL && labels[0] != '\0' ? "," : "";
    if (labels == NULL)
        labels = "";
    uint64_t cum = 0;
    for (size_t b = 0; b < h->nbounds; b++) {
        cum += atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
        fprintf(f, "%s_bucket{%s%sle=\"%.9g\"} %llu\n", name, labels, sep, (double)h->bounds[b] / h->scale,
                (unsigned long long)cum);
    }
    cum += atomic_load_explicit(&h->buckets[h->nbounds], memory_order_relaxed);
    fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    fprintf(f, "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
            (double)atomic_load_explicit(&h->sum, memory_order_relaxed) / h->scale);
    fprintf(f, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
            (unsigned long long)cum);
}

const char *metrics_label_escape(char *buf, size_t buflen, const char *value)
{
    size_t o = 0;
    for (const char *p = value; *p && o + 2 < buflen; p++) {
        if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = *p;
        } else if (*p == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *p;
        }
    }
    if (buflen > 0)
        buf[o < buflen ? o : buflen - 1] = '\0';
    return buf;
}

/* ---- feeds ---- */

static size_t status_index(int status)
{
    /* h2o only sends 100..599; anything else would be a bug, counted as 599 */
    if (status < STATUS_MIN || status >= STATUS_MIN + NSTATUS)
        status = STATUS_MIN + NSTATUS - 1;
    return (size_t)(status - STATUS_MIN);
}

void metrics_request_observe(const route_t *route, const char *method, size_t method_len, int status, uint64_t dur_us)
{
    if (per_route == NULL)
        return;
    size_t ri = route_table_count + NUNMATCHED - 1;
    if (route != NULL) {
        ri = (size_t)(route - route_table);
    } else {
        for (size_t i = 0; i < NUNMATCHED - 1; i++)
            if (method != NULL && strlen(unmatched_methods[i]) == method_len &&
                memcmp(unmatched_methods[i], method, method_len) == 0)
                ri = route_table_count + i;
    }
    route_metrics_t *m = &per_route[ri];
    atomic_fetch_add_explicit(&m->by_status[status_index(status)], 1, memory_order_relaxed);
    metrics_histogram_observe(&m->duration, dur_us);
}

void metrics_heartbeat_inc(void)
{
    atomic_fetch_add_explicit(&heartbeats, 1, memory_order_relaxed);
}

void metrics_store_commit_observe(uint64_t commit_us, size_t batch_ops)
{
    if (per_route == NULL)
        return; /* not initialised: a CLI command using the store */
    metrics_histogram_observe(&commit_latency, commit_us);
    metrics_histogram_observe(&batch_size, batch_ops);
}

void metrics_store_checkpoint_observe(int busy)
{
    atomic_fetch_add_explicit(&checkpoints, 1, memory_order_relaxed);
    if (busy)
        atomic_fetch_add_explicit(&checkpoints_busy, 1, memory_order_relaxed);
}

void metrics_tick(void)
{
    uint64_t now = atomic_load_explicit(&heartbeats, memory_order_relaxed);
    hb_samples[hb_next] = now;
    hb_next = (hb_next + 1) % (RATE_WINDOW + 1);
    if (hb_filled < RATE_WINDOW + 1)
        hb_filled++;
    /* the oldest sample is the slot written next; before the ring fills, slot 0 */
    size_t oldest = hb_filled == RATE_WINDOW + 1 ? hb_next : 0;
    size_t span = hb_filled - 1;
    uint64_t rate = span ? (now - hb_samples[oldest]) * 1000 / span : 0;
    atomic_store_explicit(&hb_rate_milli, rate, memory_order_relaxed);
}

/* ---- rendering ---- */

static void route_label(size_t ri, char *out, size_t outlen)
{
    if (ri >= route_table_count)
        snprintf(out, outlen, "method=\"%s\",route=\"unmatched\"", unmatched_methods[ri - route_table_count]);
    else
        snprintf(out, outlen, "method=\"%s\",route=\"%s\"", route_table[ri].method, route_table[ri].pattern);
}

static void render_requests(FILE *f)
{
    char label[256];
    fprintf(f, "# HELP hydracluster_http_requests_total HTTP requests by route and status.\n"
               "# TYPE hydracluster_http_requests_total counter\n");
    for (size_t ri = 0; ri < route_table_count + NUNMATCHED; ri++) {
        route_label(ri, label, sizeof(label));
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&per_route[ri].by_status[s], memory_order_relaxed);
            if (v != 0)
                fprintf(f, "hydracluster_http_requests_total{%s,status=\"%zu\"} %llu\n", label, s + STATUS_MIN,
                        (unsigned long long)v);
        }
    }
    metrics_histogram_family(f, "hydracluster_http_request_duration_seconds",
                             "Time from request start to response end, by route.");
    for (size_t ri = 0; ri < route_table_count + NUNMATCHED; ri++) {
        const metrics_histogram_t *h = &per_route[ri].duration;
        uint64_t any = 0;
        for (size_t b = 0; b <= h->nbounds; b++)
            any += atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
        if (any == 0)
            continue;
        route_label(ri, label, sizeof(label));
        metrics_histogram_render(f, "hydracluster_http_request_duration_seconds", label, h);
    }
}

/* The nodes-by-status gauge is the fleet's (fleet/fleet_metrics.c, a
 * collector); the heartbeat counters are counted here by the handler. */
static void render_heartbeats(FILE *f)
{
    fprintf(f,
            "# HELP hydracluster_heartbeats_total Heartbeats received from agents.\n"
            "# TYPE hydracluster_heartbeats_total counter\n"
            "hydracluster_heartbeats_total %llu\n"
            "# HELP hydracluster_heartbeats_per_second Heartbeat rate over the last 10 seconds.\n"
            "# TYPE hydracluster_heartbeats_per_second gauge\n"
            "hydracluster_heartbeats_per_second %.3f\n",
            (unsigned long long)atomic_load_explicit(&heartbeats, memory_order_relaxed),
            atomic_load_explicit(&hb_rate_milli, memory_order_relaxed) / 1000.0);
}

static void render_store(FILE *f)
{
    store_stats_t st;
    store_stats_get(&st);
    uint64_t since = store_writer_busy_since_ms(), now = clock_mono_ms();
    fprintf(f,
            "# HELP hydracluster_store_commits_total Store transactions committed (group commits).\n"
            "# TYPE hydracluster_store_commits_total counter\n"
            "hydracluster_store_commits_total %llu\n"
            "# HELP hydracluster_store_ops_total Store operations in committed transactions.\n"
            "# TYPE hydracluster_store_ops_total counter\n"
            "hydracluster_store_ops_total %llu\n"
            "# HELP hydracluster_store_commit_failures_total Store transactions that failed to commit.\n"
            "# TYPE hydracluster_store_commit_failures_total counter\n"
            "hydracluster_store_commit_failures_total %llu\n"
            "# HELP hydracluster_store_wal_checkpoints_total WAL checkpoints run by the writer.\n"
            "# TYPE hydracluster_store_wal_checkpoints_total counter\n"
            "hydracluster_store_wal_checkpoints_total %llu\n"
            "# HELP hydracluster_store_wal_checkpoints_busy_total Checkpoints that could not finish because a "
            "reader (a backup) held an old snapshot.\n"
            "# TYPE hydracluster_store_wal_checkpoints_busy_total counter\n"
            "hydracluster_store_wal_checkpoints_busy_total %llu\n"
            "# HELP hydracluster_store_writer_busy_seconds How long the writer has been in its current batch "
            "(0 when idle).\n"
            "# TYPE hydracluster_store_writer_busy_seconds gauge\n"
            "hydracluster_store_writer_busy_seconds %.3f\n",
            (unsigned long long)st.commits, (unsigned long long)st.ops, (unsigned long long)st.failures,
            (unsigned long long)atomic_load_explicit(&checkpoints, memory_order_relaxed),
            (unsigned long long)atomic_load_explicit(&checkpoints_busy, memory_order_relaxed),
            since != 0 && now > since ? (now - since) / 1000.0 : 0.0);
    metrics_histogram_family(f, "hydracluster_store_commit_duration_seconds", "Time one COMMIT (an fsync) took.");
    metrics_histogram_render(f, "hydracluster_store_commit_duration_seconds", NULL, &commit_latency);
    metrics_histogram_family(f, "hydracluster_store_batch_ops", "Operations per committed transaction.");
    metrics_histogram_render(f, "hydracluster_store_batch_ops", NULL, &batch_size);
}

static void render_locks(FILE *f)
{
    lock_stat_t st[32];
    size_t n = lock_stats_get(st, sizeof(st) / sizeof(st[0]));
    char esc[128];
    fprintf(f, "# HELP hydracluster_lock_contended_total Lock acquisitions that had to wait, by lock.\n"
               "# TYPE hydracluster_lock_contended_total counter\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "hydracluster_lock_contended_total{lock=\"%s\"} %llu\n",
                metrics_label_escape(esc, sizeof(esc), st[i].name), (unsigned long long)st[i].contended);
    fprintf(f, "# HELP hydracluster_lock_wait_seconds_total Time spent waiting for locks, by lock.\n"
               "# TYPE hydracluster_lock_wait_seconds_total counter\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "hydracluster_lock_wait_seconds_total{lock=\"%s\"} %.6f\n",
                metrics_label_escape(esc, sizeof(esc), st[i].name), st[i].wait_us / 1e6);
}

static void render_workers(FILE *f)
{
    fprintf(f, "# HELP hydracluster_worker_loop_lag_seconds How long the last probe waited for the worker's event "
               "loop.\n"
               "# TYPE hydracluster_worker_loop_lag_seconds gauge\n");
    for (size_t i = 0; i < workers_count(); i++) {
        worker_t *w = workers_get(i);
        fprintf(f, "hydracluster_worker_loop_lag_seconds{worker=\"%zu\"} %.6f\n", i,
                atomic_load_explicit(&w->loop_lag_us, memory_order_relaxed) / 1e6);
    }
    char reason[256];
    fprintf(f,
            "# HELP hydracluster_watchdog_stalled 1 while a worker, the store writer or housekeeping is stalled.\n"
            "# TYPE hydracluster_watchdog_stalled gauge\n"
            "hydracluster_watchdog_stalled %d\n"
            "# HELP hydracluster_watchdog_stalls_total Stalls the watchdog has detected.\n"
            "# TYPE hydracluster_watchdog_stalls_total counter\n"
            "hydracluster_watchdog_stalls_total %llu\n"
            "# HELP hydracluster_uptime_seconds Seconds since the server started.\n"
            "# TYPE hydracluster_uptime_seconds gauge\n"
            "hydracluster_uptime_seconds %lld\n",
            watchdog_check(reason, sizeof(reason)), (unsigned long long)watchdog_stalls_total(),
            (long long)serve_uptime_s());
}

void metrics_render(FILE *f)
{
    if (per_route != NULL) {
        render_requests(f);
        render_heartbeats(f);
        render_store(f);
    }
    render_locks(f);
    render_workers(f);
    metrics_process_collect(f);
    size_t n = atomic_load(&ncollectors);
    for (size_t i = 0; i < n && i < MAX_COLLECTORS; i++) {
        metrics_collector_fn fn = atomic_load(&collectors[i]);
        if (fn != NULL) {
            fn(f);
            lock_assert_none_held("after a metrics collector");
        }
    }
}
