/*
 * The store writer: one thread that owns the SQLite connection and applies
 * queued ops with group commit.
 *
 * Why group commit: with synchronous=FULL every COMMIT is an fsync (~0.3 ms
 * on our disks, ~3 300/s), while rows inside one transaction go at hundreds
 * of thousands per second. So the writer takes every op queued while the
 * previous fsync ran and commits them together: throughput grows with load,
 * and latency stays about one fsync.
 *
 * Each op runs inside its own SAVEPOINT, so an op whose apply fails (returns
 * < 0) is rolled back alone and its batch-mates still commit. If the COMMIT
 * itself fails (disk full, I/O error, a deferred constraint), the whole batch
 * is rolled back and every op in it is told STORE_ECOMMIT. Apply callbacks
 * are never re-run: they may have read in-memory state that moved on since.
 *
 * Locking: q_lock (rank LOCK_RANK_STORE, innermost) guards the queue, the
 * writer state, the batching switch and the statistics. It is never held
 * while SQL or a callback runs, so store_submit may be called under any other
 * lock, and from inside apply and done callbacks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "lock.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "store_internal.h"

/* Bounds the time one transaction holds the write lock and the latency of
 * the first op in it; 1024 rows commit in well under a millisecond. */
#define BATCH_MAX 1024

/* A name apply callbacks are unlikely to use for their own savepoints. */
#define SP_BEGIN "SAVEPOINT hc_store_op"
#define SP_ROLLBACK "ROLLBACK TO hc_store_op"
#define SP_RELEASE "RELEASE hc_store_op"

typedef struct store_op {
    store_apply_fn apply;
    store_done_fn done; /* may be NULL */
    void *arg;
    int status; /* apply's result, or STORE_ECOMMIT */
    struct store_op *next;
} store_op_t;

enum writer_state {
    W_IDLE,     /* never started since store_open: submit_wait applies directly */
    W_RUNNING,  /* accepting ops */
    W_STOPPING, /* draining what was queued; refusing new ops */
    W_STOPPED,  /* thread gone; refusing ops until store_close/store_writer_start */
};

static hc_mutex_t q_lock = {.m = PTHREAD_MUTEX_INITIALIZER, .name = "store", .rank = LOCK_RANK_STORE};
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER; /* queue became non-empty, or stop */
/* guarded by q_lock: */
static store_op_t *q_head;
static store_op_t **q_tail = &q_head;
static enum writer_state q_state = W_IDLE;
static int q_batching = 1;
static int q_checkpoint; /* a WAL checkpoint was asked for */
static store_stats_t q_stats;

/* When the writer began its current batch or checkpoint (monotonic ms), 0
 * while it waits for work: the watchdog reads it from its own thread. */
static _Atomic uint64_t busy_since_ms;

/* Main thread only (start/stop). */
static pthread_t writer_tid;
/* Set on the writer thread, to catch an op that would wait for itself. */
static __thread int on_writer_thread;

static void fatal(const char *what)
{
    log_write(LOG_FATAL, "msg=\"%s\"", what);
    abort();
}

/* Ends a transaction that failed part-way. Some errors (SQLITE_FULL, IOERR,
 * NOMEM) have already rolled it back, and ROLLBACK without a transaction is
 * itself an error. */
static void rollback_if_open(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        store_exec_logged(db, "ROLLBACK", "store batch rollback");
}

/*
 * Applies a batch (a NULL-terminated list of n ops) in one transaction and
 * sets each op's status. Runs with no lock held: on the writer thread, or on
 * the caller's thread for store_submit_wait before the writer started.
 */
#ifdef HC_TESTING
static atomic_int testing_fail_commits;

void store_testing_fail_commits(int n)
{
    atomic_store(&testing_fail_commits, n > 0 ? n : 0);
}

/* the fault switch: 1 when this batch's COMMIT is to fail */
static int testing_commit_fails(void)
{
    int n = atomic_load(&testing_fail_commits);
    while (n > 0 && !atomic_compare_exchange_weak(&testing_fail_commits, &n, n - 1))
        ;
    return n > 0;
}
#endif

static void run_batch(sqlite3 *db, store_op_t *batch, size_t n)
{
    int committed = 0;
    uint64_t commit_us = 0;
    char error[160] = "";
    /* whether the batch wrote anything: only those count for health */
    sqlite3_int64 changes0 = sqlite3_total_changes64(db);
    int wrote = 0;

    /* IMMEDIATE: take the write lock up front, waiting up to busy_timeout
     * for a backup or CLI that holds it; a deferred transaction would fail
     * with SQLITE_BUSY at its first write instead. */
    if (store_exec_logged(db, "BEGIN IMMEDIATE", "store batch begin") == SQLITE_OK) {
        int broken = 0;
        for (store_op_t *op = batch; op && !broken; op = op->next) {
            if (store_exec_logged(db, SP_BEGIN, "store op savepoint") != SQLITE_OK) {
                broken = 1;
                break;
            }
            op->status = op->apply(db, op->arg);
            lock_assert_none_held("after a store apply callback");
            if (sqlite3_get_autocommit(db)) {
                /* An error inside apply rolled back the whole transaction
                 * (or apply committed it itself): batch-mates are lost. */
                log_error("msg=\"a store op ended the batch transaction (an error that rolls back the whole "
                          "transaction, or a COMMIT/ROLLBACK inside apply); the batch is reported failed\" "
                          "status=%d",
                          op->status);
                broken = 1;
                break;
            }
            if (op->status < 0 && store_exec_logged(db, SP_ROLLBACK, "store op rollback") != SQLITE_OK)
                broken = 1;
            else if (store_exec_logged(db, SP_RELEASE, "store op release") != SQLITE_OK)
                broken = 1;
        }
        wrote = sqlite3_total_changes64(db) != changes0;
        if (!broken) {
            uint64_t t0 = clock_mono_us();
            int rc;
#ifdef HC_TESTING
            if (wrote && testing_commit_fails()) {
                log_error("msg=\"store batch commit failed (test fault switch)\" error=\"%s\"",
                          sqlite3_errstr(SQLITE_FULL));
                snprintf(error, sizeof(error), "%s (test fault switch)", sqlite3_errstr(SQLITE_FULL));
                rc = SQLITE_FULL;
            } else
#endif
                rc = store_exec_logged(db, "COMMIT", "store batch commit");
            commit_us = clock_mono_us() - t0;
            committed = rc == SQLITE_OK;
        }
        if (!committed && error[0] == '\0')
            snprintf(error, sizeof(error), "%s", sqlite3_errmsg(db));
        if (!committed)
            rollback_if_open(db);
    } else {
        snprintf(error, sizeof(error), "%s", sqlite3_errmsg(db));
    }
    if (!committed) {
        log_error("msg=\"store transaction failed; its writes were rolled back and reported failed (check disk "
                  "space, permissions and health of the data dir; the SQLite error is logged above)\" ops=%zu",
                  n);
        for (store_op_t *op = batch; op; op = op->next)
            op->status = STORE_ECOMMIT;
    }

    if (committed)
        metrics_store_commit_observe(commit_us, n);
    mutex_take(&q_lock);
    if (committed) {
        q_stats.commits++;
        q_stats.ops += n;
        q_stats.commit_us_sum += commit_us;
        if (n > q_stats.batch_max)
            q_stats.batch_max = n;
        if (wrote)
            q_stats.failures_in_row = 0;
    } else {
        q_stats.failures++;
        q_stats.failures_in_row++;
        snprintf(q_stats.last_error, sizeof(q_stats.last_error), "%s", error);
    }
    mutex_give(&q_lock);
}

/* Tells each op's owner the outcome and frees the op. No lock held. */
static void finish_batch(store_op_t *batch)
{
    while (batch) {
        store_op_t *next = batch->next;
        if (batch->done) {
            batch->done(batch->arg, batch->status);
            lock_assert_none_held("after a store done callback");
        }
        free(batch);
        batch = next;
    }
}

/*
 * Folds the WAL back into the database and truncates it, so that the -wal
 * file does not grow without bound (SQLite's own auto-checkpoint is PASSIVE
 * and never shrinks the file). Runs between batches, so no transaction of
 * ours is open. A reader holding an old snapshot (a backup in progress)
 * keeps the frames it may still read: with the busy handler off, the
 * checkpoint then does what it can without waiting and reports SQLITE_BUSY,
 * and the next one finishes the job.
 */
static void run_checkpoint(sqlite3 *db)
{
    int log_frames = -1, done_frames = -1;
    sqlite3_busy_timeout(db, 0);
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log_frames, &done_frames);
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_BUSY) {
        log_debug("msg=\"WAL checkpoint postponed: a reader holds an old snapshot\" wal_frames=%d checkpointed=%d",
                  log_frames, done_frames);
    } else if (rc != SQLITE_OK) {
        log_error("msg=\"WAL checkpoint failed (check disk space and the data dir)\" error=\"%s\" code=%d",
                  sqlite3_errmsg(db), rc);
    }
    metrics_store_checkpoint_observe(rc == SQLITE_BUSY);
}

static void *writer_main(void *arg)
{
    sqlite3 *db = arg;
    on_writer_thread = 1;

    mutex_take(&q_lock);
    for (;;) {
        while (q_head == NULL && q_state == W_RUNNING && !q_checkpoint)
            mutex_wait(&q_lock, &q_cond);
        if (q_checkpoint) {
            q_checkpoint = 0;
            mutex_give(&q_lock);
            atomic_store(&busy_since_ms, clock_mono_ms());
            run_checkpoint(db);
            atomic_store(&busy_since_ms, 0);
            mutex_take(&q_lock);
            continue;
        }
        if (q_head == NULL)
            break; /* stopping, and everything queued has been applied */

        /* Take what is queued (up to the cap) in one go: these ops all
         * arrived while the previous commit was in flight. */
        size_t cap = q_batching ? BATCH_MAX : 1;
        store_op_t *batch = q_head, *last = q_head;
        size_t n = 1;
        while (n < cap && last->next) {
            last = last->next;
            n++;
        }
        q_head = last->next;
        if (q_head == NULL)
            q_tail = &q_head;
        last->next = NULL;
        mutex_give(&q_lock);

        atomic_store(&busy_since_ms, clock_mono_ms());
        run_batch(db, batch, n);
        finish_batch(batch);
        atomic_store(&busy_since_ms, 0);

        mutex_take(&q_lock);
    }
    q_state = W_STOPPED;
    mutex_give(&q_lock);
    return NULL;
}

int store_writer_start(void)
{
    sqlite3 *db = store_db();
    if (db == NULL) {
        log_error("msg=\"store_writer_start: the store is not open (call store_open first)\"");
        return -1;
    }
    mutex_take(&q_lock);
    enum writer_state prev = q_state;
    if (prev == W_RUNNING || prev == W_STOPPING) {
        mutex_give(&q_lock);
        log_error("msg=\"store_writer_start: the writer is already running\"");
        return -1;
    }
    q_state = W_RUNNING;
    mutex_give(&q_lock);

    int err = pthread_create(&writer_tid, NULL, writer_main, db);
    if (err == 0)
        return 0;

    log_error("msg=\"cannot start the store writer thread (check the process and memory limits)\" error=\"%s\"",
              strerror(err));
    /* Ops accepted in the meantime were promised a done callback. */
    mutex_take(&q_lock);
    q_state = prev;
    store_op_t *orphans = q_head;
    q_head = NULL;
    q_tail = &q_head;
    mutex_give(&q_lock);
    for (store_op_t *op = orphans; op; op = op->next)
        op->status = STORE_ESTOPPED;
    finish_batch(orphans);
    return -1;
}

void store_writer_stop(void)
{
    if (on_writer_thread)
        fatal("store_writer_stop called from the store writer thread (an apply or done callback): it would wait "
              "for itself");
    mutex_take(&q_lock);
    if (q_state != W_RUNNING) {
        mutex_give(&q_lock);
        return;
    }
    q_state = W_STOPPING;
    int err = pthread_cond_broadcast(&q_cond);
    mutex_give(&q_lock);
    if (err)
        fatal("pthread_cond_broadcast failed on the store queue");
    err = pthread_join(writer_tid, NULL);
    if (err)
        log_error("msg=\"joining the store writer thread failed\" error=\"%s\"", strerror(err));
}

void store_writer_reset(void)
{
    mutex_take(&q_lock);
    if (q_state == W_STOPPED)
        q_state = W_IDLE;
    mutex_give(&q_lock);
}

int store_submit(store_apply_fn apply, store_done_fn done, void *arg)
{
    if (apply == NULL) {
        log_error("msg=\"store_submit: apply is NULL (a bug in the caller)\"");
        return STORE_ECOMMIT;
    }
    /* allocated before taking the lock: keep the innermost lock short */
    store_op_t *op = malloc(sizeof(*op));
    if (op == NULL) {
        log_error("msg=\"store_submit: out of memory\"");
        return STORE_ECOMMIT;
    }
    op->apply = apply;
    op->done = done;
    op->arg = arg;
    op->status = 0;
    op->next = NULL;

    mutex_take(&q_lock);
    if (q_state != W_RUNNING) {
        mutex_give(&q_lock);
        free(op);
        return STORE_ESTOPPED;
    }
    /* The writer only sleeps when the queue is empty, so only the op that
     * makes it non-empty needs to wake it. */
    int wake = q_head == NULL;
    *q_tail = op;
    q_tail = &op->next;
    int err = wake ? pthread_cond_signal(&q_cond) : 0;
    mutex_give(&q_lock);
    if (err)
        fatal("pthread_cond_signal failed on the store queue");
    return 0;
}

/* store_submit_wait's rendezvous, on the waiting thread's stack. Its mutex is
 * a leaf taken only here and in wait_done, with no other lock held, so it is
 * outside the ranked lock table. */
typedef struct waiter {
    pthread_mutex_t m;
    pthread_cond_t c;
    int finished;
    int status;
    store_apply_fn apply;
    void *arg;
} waiter_t;

static int wait_apply(sqlite3 *db, void *arg)
{
    waiter_t *w = arg;
    return w->apply(db, w->arg);
}

static void wait_done(void *arg, int status)
{
    waiter_t *w = arg;
    if (pthread_mutex_lock(&w->m) != 0)
        fatal("pthread_mutex_lock failed in store_submit_wait");
    w->status = status;
    w->finished = 1;
    /* signalled under the mutex: the waiter may return and pop w off its
     * stack as soon as it can take the mutex, and we touch w no more after
     * the unlock */
    int err = pthread_cond_signal(&w->c);
    if (pthread_mutex_unlock(&w->m) != 0 || err != 0)
        fatal("pthread_cond_signal/unlock failed in store_submit_wait");
}

int store_submit_wait(store_apply_fn apply, void *arg)
{
    /* Rule 2: never wait while holding a lock (the writer may need it). */
    lock_assert_none_held("store_submit_wait");
    if (on_writer_thread)
        fatal("store_submit_wait called from the store writer thread (an apply or done callback): it would wait "
              "for itself");
    if (apply == NULL) {
        log_error("msg=\"store_submit_wait: apply is NULL (a bug in the caller)\"");
        return STORE_ECOMMIT;
    }

    mutex_take(&q_lock);
    enum writer_state state = q_state;
    mutex_give(&q_lock);
    if (state == W_IDLE) {
        /* Before the writer starts the connection is the caller's (main:
         * migrate, import): apply here, in a transaction of its own. */
        sqlite3 *db = store_db();
        if (db == NULL) {
            log_error("msg=\"store_submit_wait: the store is not open\"");
            return STORE_ESTOPPED;
        }
        store_op_t op = {.apply = apply, .done = NULL, .arg = arg, .status = 0, .next = NULL};
        run_batch(db, &op, 1);
        return op.status;
    }

    waiter_t w = {.finished = 0, .status = 0, .apply = apply, .arg = arg};
    if (pthread_mutex_init(&w.m, NULL) != 0)
        fatal("pthread_mutex_init failed in store_submit_wait");
    if (pthread_cond_init(&w.c, NULL) != 0)
        fatal("pthread_cond_init failed in store_submit_wait");
    int rc = store_submit(wait_apply, wait_done, &w);
    if (rc == 0) {
        if (pthread_mutex_lock(&w.m) != 0)
            fatal("pthread_mutex_lock failed in store_submit_wait");
        while (!w.finished)
            if (pthread_cond_wait(&w.c, &w.m) != 0)
                fatal("pthread_cond_wait failed in store_submit_wait");
        if (pthread_mutex_unlock(&w.m) != 0)
            fatal("pthread_mutex_unlock failed in store_submit_wait");
        rc = w.status;
    }
    pthread_cond_destroy(&w.c);
    pthread_mutex_destroy(&w.m);
    return rc;
}

void store_stats_get(store_stats_t *out)
{
    mutex_take(&q_lock);
    *out = q_stats;
    mutex_give(&q_lock);
}

void store_writer_set_batching(int enabled)
{
    mutex_take(&q_lock);
    q_batching = enabled != 0;
    mutex_give(&q_lock);
}

void store_writer_checkpoint(void)
{
    mutex_take(&q_lock);
    int wake = 0;
    if (q_state == W_RUNNING && !q_checkpoint) {
        q_checkpoint = 1;
        wake = 1;
    }
    int err = wake ? pthread_cond_signal(&q_cond) : 0;
    mutex_give(&q_lock);
    if (err)
        fatal("pthread_cond_signal failed on the store queue");
}

uint64_t store_writer_busy_since_ms(void)
{
    return atomic_load(&busy_since_ms);
}
