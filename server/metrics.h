/*
 * Prometheus metrics (GET /metrics, text exposition format 0.0.4).
 *
 * Counters and histograms are atomics updated from any thread without a
 * lock; metrics_render (worker thread, the /metrics handler) reads them and
 * writes the exposition. Names start with "hydracluster_"; time is in
 * seconds, sizes in bytes, as Prometheus expects.
 *
 * Built in: requests by route and status and their latency histogram;
 * heartbeats; store commits, commit latency and batch size; WAL checkpoints;
 * lock contention by lock; worker loop lag; watchdog state. The runtime knows
 * nothing of nodes: nodes by status (fleet/fleet_metrics.c) and the exec
 * queue (fleet/exec_queue.c) are collectors.
 *
 * Other modules add their own numbers with a collector:
 *
 *     static metrics_histogram_t dispatch_latency;   // e.g. in api/exec.c
 *
 *     static void exec_collect(FILE *f)
 *     {
 *         size_t depth; uint64_t oldest_ms;
 *         ...copy the numbers out under the exec lock, release it...
 *         fprintf(f, "# HELP hydracluster_exec_queue_depth Commands queued, not yet handed to an agent.\n"
 *                    "# TYPE hydracluster_exec_queue_depth gauge\n"
 *                    "hydracluster_exec_queue_depth %zu\n", depth);
 *         metrics_histogram_family(f, "hydracluster_exec_dispatch_latency_seconds",
 *                                  "Time from submit to hand-over to the agent.");
 *         metrics_histogram_render(f, "hydracluster_exec_dispatch_latency_seconds", NULL, &dispatch_latency);
 *     }
 *
 *     // main thread, at start (serve.c), before the workers start:
 *     metrics_histogram_init(&dispatch_latency, metrics_latency_bounds_us, metrics_latency_bounds_count, 1e6);
 *     metrics_register_collector(exec_collect);
 *     // anywhere, any thread:
 *     metrics_histogram_observe(&dispatch_latency, latency_us);
 *
 * Rules for a collector: it runs on a worker thread inside GET /metrics, so
 * it must be quick and must not block; it may take its module's lock to copy
 * numbers out but must release it before writing to f (rule 2 of lock.h; the
 * router checks no lock is held afterwards). It writes complete families:
 * "# HELP" and "# TYPE" once, then samples "name{label="value"} number".
 * Label values must not contain '"', '\' or newlines (use metrics_label_escape).
 */
#ifndef HC_METRICS_H
#define HC_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "router.h"

int metrics_init(void);

/* ---- collectors ---- */

typedef void (*metrics_collector_fn)(FILE *f);
/* Registers fn to run at every render, after the built-in families. Call at
 * start-up from the main thread (before the workers serve); up to 16.
 * Returns 0, or -1 when the table is full. */
int metrics_register_collector(metrics_collector_fn fn);

/* ---- histograms (for collectors and the built-ins) ---- */

#define METRICS_HISTOGRAM_MAX_BOUNDS 24
typedef struct metrics_histogram {
    double scale;  /* rendered value = observed / scale (1e6: observe µs, render seconds) */
    size_t nbounds;
    uint64_t bounds[METRICS_HISTOGRAM_MAX_BOUNDS];                /* upper bounds, ascending, in observed units */
    _Atomic uint64_t buckets[METRICS_HISTOGRAM_MAX_BOUNDS + 1];   /* per bucket, not cumulative; last: above all */
    _Atomic uint64_t sum;                                         /* in observed units */
} metrics_histogram_t;

/* Latency bounds in µs (1 ms .. 60 s), for scale 1e6. */
extern const uint64_t metrics_latency_bounds_us[];
extern const size_t metrics_latency_bounds_count;

/* Before first use, one thread (main at start). n <= METRICS_HISTOGRAM_MAX_BOUNDS. */
void metrics_histogram_init(metrics_histogram_t *h, const uint64_t *bounds, size_t n, double scale);
/* Any thread, lock-free. */
void metrics_histogram_observe(metrics_histogram_t *h, uint64_t value);
/* "# HELP name help\n# TYPE name histogram\n" */
void metrics_histogram_family(FILE *f, const char *name, const char *help);
/* The _bucket (cumulative, +Inf last), _sum and _count samples of one
 * histogram; labels is "a=\"x\",b=\"y\"" or NULL. _count is the +Inf bucket,
 * so the two always agree even while other threads observe. */
void metrics_histogram_render(FILE *f, const char *name, const char *labels, const metrics_histogram_t *h);

/* Escapes a label value (\\, \", \n) into buf; returns buf. */
const char *metrics_label_escape(char *buf, size_t buflen, const char *value);

/* ---- numbers other modules feed ---- */

/* route may be NULL (no route matched: counted by method, GET … OPTIONS or
 * "other"); access log stage */
void metrics_request_observe(const route_t *route, const char *method, size_t method_len, int status, uint64_t dur_us);
/* one heartbeat received from an agent (the heartbeat handler) */
void metrics_heartbeat_inc(void);
/* the store writer, after each COMMIT: its duration and how many ops it held */
void metrics_store_commit_observe(uint64_t commit_us, size_t batch_ops);
/* the store writer, after each WAL checkpoint */
void metrics_store_checkpoint_observe(int busy);

/* Once a second (watchdog thread): turns the heartbeat counter into a rate. */
void metrics_tick(void);

/* server/metrics_process.c: hydracluster_build_info and the standard
 * process_* families (CPU, memory, fds, start time) from /proc; rendered
 * after the built-in families. Worker thread. */
void metrics_process_collect(FILE *f);

/* Appends the exposition text to f. */
void metrics_render(FILE *f);

#endif
