/*
 * The watchdog: a small thread that looks, once a second, at the stamps the
 * busy threads leave behind and decides whether the server is alive.
 *
 *  - each HTTP worker stamps worker_t.loop_stamp_ms on every loop turn (at
 *    least once a second when idle) and names the route it is running in
 *    current_route (router_busy/router_idle);
 *  - the store writer records when its current batch or checkpoint began
 *    (store_writer_busy_since_ms);
 *  - the housekeeping loop stamps a 1 s task of this module.
 *
 * A worker whose loop has not turned for server.watchdog_stall (default 5 s),
 * or a writer or housekeeping loop stuck for that plus the SQLite busy
 * timeout (5 s: a batch may legitimately wait that long for a lock another
 * process holds), is stalled: the watchdog logs level=error naming it (and
 * the route in flight), GET /api/v1/health answers 503 "degraded" with the
 * reason, and WATCHDOG=1 is no longer sent to systemd, which restarts the
 * service once WatchdogSec passes. When the stall ends, a level=warn line
 * says so and the pings resume.
 *
 * Why a thread of its own rather than a housekeeping task: a housekeeping
 * task waiting on a stuck writer (store_submit_wait) would stop the very
 * check that should report it. Each second the thread also drives the
 * metrics rate sampling and the worker loop lag probes.
 *
 * Threads: watchdog_start/watchdog_stop on the main thread (after every
 * watched thread started / before they stop); watchdog_check from any thread.
 */
#ifndef HC_WATCHDOG_H
#define HC_WATCHDOG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Registers the housekeeping stamp task: main thread, before housekeeping_start. */
int watchdog_register_housekeeping(void);

int watchdog_start(const hc_config_t *cfg);
void watchdog_stop(void);

/* 0 when everything turns; 1 with a one-line reason when something is
 * stalled right now. Any thread. */
int watchdog_check(char *reason, size_t reasonlen);

/* for /metrics */
uint64_t watchdog_stalls_total(void);

#endif
