#include "watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "housekeeping.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "store.h"
#include "store_internal.h"
#include "workers.h"

#define TICK_MS 1000

static uint64_t worker_bound_ms = 5000; /* server.watchdog_stall */
static uint64_t slow_bound_ms = 10000;  /* writer and housekeeping: + the SQLite busy timeout */
static _Atomic uint64_t housekeeping_stamp_ms;
static _Atomic uint64_t stalls_total;

/* The thread's stop signal: a leaf mutex taken only here, never with a
 * ranked lock held, so it is outside the rank table (as store's waiter). */
static pthread_mutex_t stop_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_c;
static int stop_flag;
static pthread_t tid;
static atomic_int started;

static void on_housekeeping_tick(void *arg)
{
    (void)arg;
    atomic_store(&housekeeping_stamp_ms, clock_mono_ms());
}

int watchdog_register_housekeeping(void)
{
    atomic_store(&housekeeping_stamp_ms, clock_mono_ms());
    return housekeeping_every("watchdog stamp", TICK_MS, on_housekeeping_tick, NULL);
}

/* What is stalled right now: one entry per watched thread. */
enum { WHO_WORKER, WHO_WRITER, WHO_HOUSEKEEPING };
typedef struct {
    int who;
    size_t index; /* worker */
    uint64_t stalled_ms;
    const char *method, *route; /* worker: what it was running */
} stall_t;

/* Fills out[] (up to max) and returns how many are stalled. */
static size_t find_stalls(stall_t *out, size_t max)
{
    size_t n = 0;
    uint64_t now = clock_mono_ms();
    for (size_t i = 0; i < workers_count() && n < max; i++) {
        worker_t *w = workers_get(i);
        uint64_t stamp = atomic_load(&w->loop_stamp_ms);
        if (stamp != 0 && now > stamp && now - stamp > worker_bound_ms) {
            const char *route = atomic_load_explicit(&w->current_route, memory_order_acquire);
            const char *method = atomic_load_explicit(&w->current_method, memory_order_relaxed);
            out[n++] = (stall_t){WHO_WORKER, i, now - stamp, route ? method : "", route ? route : "(none)"};
        }
    }
    uint64_t since = store_writer_busy_since_ms();
    if (n < max && since != 0 && now > since && now - since > slow_bound_ms)
        out[n++] = (stall_t){WHO_WRITER, 0, now - since, "", ""};
    uint64_t hk = atomic_load(&housekeeping_stamp_ms);
    if (n < max && started && hk != 0 && now > hk && now - hk > slow_bound_ms + TICK_MS)
        out[n++] = (stall_t){WHO_HOUSEKEEPING, 0, now - hk, "", ""};
    return n;
}

static void describe(const stall_t *s, char *out, size_t outlen)
{
    switch (s->who) {
    case WHO_WORKER:
        snprintf(out, outlen, "worker %zu has not turned its event loop for %.1f s (route in flight: %s%s%s)",
                 s->index, s->stalled_ms / 1000.0, s->method, s->method[0] ? " " : "", s->route);
        break;
    case WHO_WRITER:
        snprintf(out, outlen, "the store writer has been in one batch for %.1f s", s->stalled_ms / 1000.0);
        break;
    default:
        snprintf(out, outlen, "the housekeeping loop has not run for %.1f s", s->stalled_ms / 1000.0);
        break;
    }
}

int watchdog_check(char *reason, size_t reasonlen)
{
    stall_t s[1];
    if (find_stalls(s, 1) == 0) {
        if (reasonlen > 0)
            reason[0] = '\0';
        return 0;
    }
    describe(&s[0], reason, reasonlen);
    return 1;
}

uint64_t watchdog_stalls_total(void)
{
    return atomic_load(&stalls_total);
}

/* Watchdog thread: one line per stall when it starts and when it ends. */
#define MAX_WATCHED 260 /* workers (≤ 256) + writer + housekeeping */
static uint8_t reported[MAX_WATCHED];

static size_t slot_of(const stall_t *s)
{
    return s->who == WHO_WORKER ? (s->index < 256 ? s->index : 255) : 256 + (size_t)s->who;
}

static int tick(void)
{
    stall_t s[MAX_WATCHED];
    size_t n = find_stalls(s, MAX_WATCHED);
    uint8_t now_stalled[MAX_WATCHED] = {0};
    for (size_t i = 0; i < n; i++) {
        size_t slot = slot_of(&s[i]);
        now_stalled[slot] = 1;
        if (reported[slot])
            continue;
        reported[slot] = 1;
        atomic_fetch_add(&stalls_total, 1);
        char why[300], q[320], rq[200];
        describe(&s[i], why, sizeof(why));
        if (s[i].who == WHO_WORKER)
            log_error("msg=\"watchdog: stall detected; systemd will restart the service unless it recovers\" "
                      "thread=worker worker=%zu route=%s method=%s stalled_ms=%llu reason=%s",
                      s[i].index, log_quote(rq, sizeof(rq), s[i].route), s[i].method[0] ? s[i].method : "-",
                      (unsigned long long)s[i].stalled_ms, log_quote(q, sizeof(q), why));
        else
            log_error("msg=\"watchdog: stall detected; systemd will restart the service unless it recovers\" "
                      "thread=%s stalled_ms=%llu reason=%s",
                      s[i].who == WHO_WRITER ? "store_writer" : "housekeeping", (unsigned long long)s[i].stalled_ms,
                      log_quote(q, sizeof(q), why));
    }
    for (size_t slot = 0; slot < MAX_WATCHED; slot++) {
        if (reported[slot] && !now_stalled[slot]) {
            reported[slot] = 0;
            if (slot < 256)
                log_warn("msg=\"watchdog: stall ended\" thread=worker worker=%zu", slot);
            else
                log_warn("msg=\"watchdog: stall ended\" thread=%s",
                         slot == 256 + WHO_WRITER ? "store_writer" : "housekeeping");
        }
    }
    return n > 0;
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&stop_m);
    while (!stop_flag) {
        pthread_mutex_unlock(&stop_m);
        int stalled = tick();
        if (!stalled)
            notify_watchdog_ping();
        metrics_tick();
        workers_probe_lag();
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += TICK_MS / 1000;
        pthread_mutex_lock(&stop_m);
        while (!stop_flag) {
            int rc = pthread_cond_timedwait(&stop_c, &stop_m, &until);
            if (rc == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&stop_m);
    return NULL;
}

int watchdog_start(const hc_config_t *cfg)
{
    if (cfg->server.watchdog_stall_ms > 0)
        worker_bound_ms = cfg->server.watchdog_stall_ms;
    slow_bound_ms = worker_bound_ms + STORE_BUSY_TIMEOUT_MS;
    uint64_t wd = notify_watchdog_usec();
    if (wd > 0 && wd / 1000 <= worker_bound_ms)
        log_warn("msg=\"systemd's WatchdogSec is not longer than server.watchdog_stall: a short stall restarts the "
                 "service before it is logged\" watchdog_sec=%.1f watchdog_stall_s=%.1f",
                 wd / 1e6, worker_bound_ms / 1000.0);
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&stop_c, &ca) != 0) {
        log_error("msg=\"cannot set up the watchdog thread\"");
        return -1;
    }
    pthread_condattr_destroy(&ca);
    stop_flag = 0;
    int err = pthread_create(&tid, NULL, watchdog_main, NULL);
    if (err != 0) {
        log_error("msg=\"cannot start the watchdog thread\" error=\"%s\"", strerror(err));
        pthread_cond_destroy(&stop_c);
        return -1;
    }
    started = 1;
    return 0;
}

void watchdog_stop(void)
{
    if (!started)
        return;
    pthread_mutex_lock(&stop_m);
    stop_flag = 1;
    pthread_cond_signal(&stop_c);
    pthread_mutex_unlock(&stop_m);
    pthread_join(tid, NULL);
    pthread_cond_destroy(&stop_c);
    started = 0;
}
