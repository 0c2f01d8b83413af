/*
 * The housekeeping thread: a libuv loop that owns signals (SIGTERM/SIGINT:
 * graceful stop; SIGHUP: reload) and the periodic tasks (marking nodes
 * offline, flushing heartbeat state, expiring and pruning exec commands,
 * WAL checkpoints, the watchdog).
 *
 * housekeeping_every and housekeeping_on_* are called by the main thread
 * before housekeeping_start. Tasks run on the housekeeping thread; they may
 * block briefly on store_submit_wait but never hold a lock while doing so.
 */
#ifndef HC_HOUSEKEEPING_H
#define HC_HOUSEKEEPING_H

#include <stdint.h>

typedef void (*housekeeping_fn)(void *arg);

/* runs fn every ms (first run after ms) */
int housekeeping_every(const char *name, uint64_t ms, housekeeping_fn fn, void *arg);
/* runs fn on SIGHUP */
int housekeeping_on_reload(housekeeping_fn fn, void *arg);
/* runs fn once, on the housekeeping thread, when the server stops (after the
 * workers stopped, before the store writer stops): final flushes */
int housekeeping_on_stop(housekeeping_fn fn, void *arg);

int housekeeping_start(void);
/* Blocks the calling (main) thread until SIGTERM or SIGINT; returns the signal. */
int housekeeping_wait_for_stop(void);
/* Runs the on_stop tasks, then stops and joins the thread. */
void housekeeping_stop(void);

#endif
