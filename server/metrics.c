#include "metrics.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const int tracked_status[] = {200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405,
                                     409, 413, 415, 429, 500, 502, 503, 504};
#define NSTATUS (sizeof(tracked_status) / sizeof(tracked_status[0]) + 1) /* + "other" */
static const double bucket_ms[] = {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
#define NBUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))

typedef struct {
    _Atomic uint64_t by_status[NSTATUS];
    _Atomic uint64_t buckets[NBUCKETS]; /* non-cumulative; summed when rendered */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} route_metrics_t;

static route_metrics_t *per_route; /* route_table_count + 1 (unmatched) */

int metrics_init(void)
{
    per_route = calloc(route_table_count + 1, sizeof(*per_route));
    return per_route ? 0 : -1;
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (tracked_status[i] == status)
            return i;
    return NSTATUS - 1;
}

void metrics_request_observe(const route_t *route, int status, uint64_t dur_us)
{
    if (per_route == NULL)
        return;
    size_t ri = route ? (size_t)(route - route_table) : route_table_count;
    route_metrics_t *m = &per_route[ri];
    atomic_fetch_add_explicit(&m->by_status[status_index(status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us, dur_us, memory_order_relaxed);
    double ms = dur_us / 1000.0;
    for (size_t b = 0; b < NBUCKETS; b++) {
        if (ms <= bucket_ms[b]) {
            atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
            break;
        }
    }
}

static void route_label(size_t ri, char *out, size_t outlen)
{
    if (ri == route_table_count)
        snprintf(out, outlen, "method=\"\",route=\"unmatched\"");
    else
        snprintf(out, outlen, "method=\"%s\",route=\"%s\"", route_table[ri].method, route_table[ri].pattern);
}

void metrics_render(FILE *f)
{
    char label[256];
    fprintf(f, "# HELP hydracluster_http_requests_total HTTP requests by route and status.\n"
               "# TYPE hydracluster_http_requests_total counter\n");
    for (size_t ri = 0; ri <= route_table_count && per_route; ri++) {
        route_label(ri, label, sizeof(label));
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&per_route[ri].by_status[s], memory_order_relaxed);
            if (v == 0)
                continue;
            if (s < NSTATUS - 1)
                fprintf(f, "hydracluster_http_requests_total{%s,status=\"%d\"} %llu\n", label, tracked_status[s],
                        (unsigned long long)v);
            else
                fprintf(f, "hydracluster_http_requests_total{%s,status=\"other\"} %llu\n", label,
                        (unsigned long long)v);
        }
    }
    fprintf(f, "# HELP hydracluster_http_request_duration_seconds Time from request start to response end.\n"
               "# TYPE hydracluster_http_request_duration_seconds histogram\n");
    for (size_t ri = 0; ri <= route_table_count && per_route; ri++) {
        uint64_t count = atomic_load_explicit(&per_route[ri].count, memory_order_relaxed);
        if (count == 0)
            continue;
        route_label(ri, label, sizeof(label));
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += atomic_load_explicit(&per_route[ri].buckets[b], memory_order_relaxed);
            fprintf(f, "hydracluster_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", label,
                    bucket_ms[b] / 1000.0, (unsigned long long)cum);
        }
        fprintf(f, "hydracluster_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", label,
                (unsigned long long)count);
        fprintf(f, "hydracluster_http_request_duration_seconds_sum{%s} %.6f\n", label,
                atomic_load_explicit(&per_route[ri].sum_us, memory_order_relaxed) / 1e6);
        fprintf(f, "hydracluster_http_request_duration_seconds_count{%s} %llu\n", label, (unsigned long long)count);
    }
}
