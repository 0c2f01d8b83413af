/*
 * Ranked locks. Every lock in hydracluster is one of the kinds below and has
 * a rank; this table is the lock order of the whole program.
 *
 * | rank | lock      | guards                                                  |
 * |------|-----------|---------------------------------------------------------|
 * |  10  | catalog   | role catalog (registry.c)                               |
 * |  20  | nodes     | node table, its id and token-hash indexes, head records, |
 * |      |           | enrollment tokens, admin tokens (registry.c)            |
 * |  30  | exec      | exec queues and results, parked exec waiters (exec)     |
 * |  33  | stream_sessions | streaming sessions: active ones, what each node   |
 * |      |           | reports (fleet/stream_sessions.c); taken under nodes    |
 * |  35  | shell     | shell sessions, their relay buffers, parked shell checks |
 * |      |           | (fleet/shell_session.c)                                 |
 * |  40  | sessions  | web login sessions (web)                                |
 * |  45  | auth_throttle | bearer token failures per address (middleware)      |
 * |  70  | agent_fields | log-once table of unknown agent fields (agent_fields) |
 * |  80  | metrics   | metric registries (metrics)                             |
 * |  85  | strings   | interned node strings (fleet/intern.c)                  |
 * |  90  | store     | the store writer's input queue (store/writer.c);        |
 * |      |           | innermost: may be taken under any other                 |
 *
 * Rules (DESIGN.md "State and the lock order"):
 *  1. a thread takes locks only in increasing rank;
 *  2. nothing runs a callback, sends a response, writes a socket or waits on
 *     I/O while holding a lock (copy out, release, then act);
 *  3. middleware and handlers are entered and left with no lock held;
 *  4. no lock is taken twice by one thread.
 *
 * Built with -Dlock_check=true (the test build), every acquisition is checked
 * against what the calling thread already holds and a violation aborts with
 * the names of both locks. In other builds the wrappers are plain pthreads.
 *
 * Threading: a hc_lock_t may be used from any thread once initialised;
 * initialisation and destruction belong to the lock's owner.
 */
#ifndef HC_LOCK_H
#define HC_LOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum {
    LOCK_RANK_CATALOG = 10,
    LOCK_RANK_NODES = 20,
    LOCK_RANK_EXEC = 30,
    LOCK_RANK_STREAM_SESSIONS = 33,
    LOCK_RANK_SHELL = 35,
    LOCK_RANK_LOGIN_SESSIONS = 40,
    LOCK_RANK_AUTH_THROTTLE = 45,
    LOCK_RANK_AGENT_FIELDS = 70,
    LOCK_RANK_METRICS = 80,
    LOCK_RANK_STRINGS = 85,
    LOCK_RANK_STORE = 90,
};

typedef struct hc_lock {
    pthread_rwlock_t rw; /* used as a mutex through lock_take / lock_give */
    const char *name;
    int rank;
    uint64_t generation; /* exclusive acquisitions so far (see lock_generation) */
} hc_lock_t;

void lock_init(hc_lock_t *l, const char *name, int rank);
void lock_destroy(hc_lock_t *l);

/* exclusive */
void lock_take(hc_lock_t *l);
/* shared (readers) */
void lock_take_shared(hc_lock_t *l);
void lock_give(hc_lock_t *l);
/* How many times l was taken exclusively. Every change to what l guards is
 * made under an exclusive hold, so an unchanged generation means unchanged
 * data (a change of the number means "maybe changed"): the basis of ETags.
 * Caller holds l (shared is enough). Restarts at 0 with the process. */
uint64_t lock_generation(const hc_lock_t *l);

/* A condition variable works with a mutex, so the store queue (the only lock
 * a thread sleeps on) is a plain mutex with the same checking. */
typedef struct hc_mutex {
    pthread_mutex_t m;
    const char *name;
    int rank;
} hc_mutex_t;

void mutex_init(hc_mutex_t *m, const char *name, int rank);
void mutex_destroy(hc_mutex_t *m);
void mutex_take(hc_mutex_t *m);
void mutex_give(hc_mutex_t *m);
/* waits on cond; the checker keeps the mutex recorded as held throughout */
void mutex_wait(hc_mutex_t *m, pthread_cond_t *cond);
/* returns 0, or ETIMEDOUT once abstime (CLOCK_REALTIME) passed */
int mutex_timedwait(hc_mutex_t *m, pthread_cond_t *cond, const struct timespec *abstime);

/* Contention, for /metrics: an acquisition that finds the lock free costs
 * one try-lock and is not counted; one that has to wait is timed and added
 * to its lock name's totals (mutex_wait's re-acquisition is not counted).
 * lock_stats_get copies up to max entries (one per lock name seen
 * contended) and returns how many; any thread. */
typedef struct lock_stat {
    const char *name;
    uint64_t contended; /* acquisitions that had to wait */
    uint64_t wait_us;   /* total time they waited */
} lock_stat_t;
size_t lock_stats_get(lock_stat_t *out, size_t max);

/* Number of ranked locks the calling thread holds (always 0 without the
 * checker). */
int lock_held_count(void);

/* Aborts naming the first held lock when the calling thread holds any; `where`
 * says which boundary was crossed (e.g. "before handler GET /api/v1/nodes").
 * A no-op without the checker. */
void lock_assert_none_held(const char *where);

#endif
