/*
 * The durable store: one SQLite database (WAL, synchronous=FULL, foreign
 * keys on, busy timeout) in the data dir.
 *
 * Threads and ownership:
 *  - store_open/store_migrate/store_close: main thread, before the writer
 *    starts / after it stopped. The connection opened by store_open is the
 *    "main connection": main uses it to load the registry at start; after
 *    store_writer_start it belongs to the writer thread and nobody else may
 *    touch it.
 *  - store_submit: any thread. The op is applied on the writer thread.
 *  - store_submit_wait: any thread that may block (main, housekeeping, CLI),
 *    never an HTTP worker.
 *
 * Group commit: the writer takes every op queued, applies them in one
 * BEGIN IMMEDIATE transaction (each inside its own SAVEPOINT, so one failing
 * op rolls back alone), commits once, then calls each op's done callback with
 * the outcome. A request that needs durability answers from that callback
 * (through park_wake), so its 2xx means "committed".
 */
#ifndef HC_STORE_H
#define HC_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Runs on the writer thread inside the batch transaction. Returns 0 to keep
 * its changes, or a negative value to roll back its savepoint (the value is
 * passed to done). Must not block, send, or take any lock but the nodes,
 * catalog or exec lock in rank order. */
typedef int (*store_apply_fn)(sqlite3 *db, void *arg);

/* Runs on the writer thread after the batch committed (status = what apply
 * returned) or failed to commit (STORE_ECOMMIT). Holds no lock; must not
 * block: hand the outcome to its owner (park_wake) and return. May free arg. */
typedef void (*store_done_fn)(void *arg, int status);

#define STORE_ECOMMIT (-1000) /* the batch could not be committed */
#define STORE_ESTOPPED (-1001) /* the writer is stopping: nothing applied */

/* Opens (creating when absent) data_dir/hydracluster.db and sets the pragmas.
 * Creates data_dir (0700) when it does not exist. */
int store_open(const char *data_dir, char *err, size_t errlen);

/* What an operator does about a damaged database file, for start-up errors. */
#define STORE_RESTORE_ADVICE                                                                                        \
    "the database file is damaged: stop here and restore the newest good backup with "                            \
    "/usr/local/lib/hydracluster/restore.sh /var/backups/hydracluster/<newest>.db (docs/operations.md, Restore)"

/* 1 when db's last error says the file itself is damaged (SQLITE_CORRUPT,
 * SQLITE_NOTADB), so that a caller can add STORE_RESTORE_ADVICE. */
int store_db_damaged(sqlite3 *db);

/* PRAGMA quick_check on the main connection (main thread, before the
 * writer starts): reads every page once, so a damaged page anywhere is found
 * at start and not by the first write that touches it. 0, or -1 with err
 * (SQLite's "database disk image is malformed", the first problem found and
 * STORE_RESTORE_ADVICE). */
int store_quick_check(char *err, size_t errlen);

/* The main connection: main thread only, and only while the writer is not
 * running (loading at start, migrate). */
sqlite3 *store_db(void);

/* Path of the database file (valid after store_open). */
const char *store_path(void);

/*
 * Applies every embedded migration newer than the database's version, each in
 * its own transaction, recording it in schema_migrations. A database whose
 * version is newer than the newest migration this binary knows is refused
 * (-1, err says which versions). *applied (may be NULL) gets how many ran.
 */
int store_migrate(int *applied, char *err, size_t errlen);

/* Schema version of the open database (cached at open and by migrate, so any
 * thread may ask; -1 when no database is open), and the newest this binary
 * has. */
int store_schema_version(void);
int store_schema_latest(void);

int store_writer_start(void);
/* Applies and commits what is queued, then stops the writer thread. Ops
 * submitted afterwards are refused: store_submit and store_submit_wait return
 * STORE_ESTOPPED and done is NOT called. Not from the writer thread (apply or
 * done callbacks): that aborts. store_close stops the writer itself. */
void store_writer_stop(void);

/* Enqueues an op; returns 0, or STORE_ESTOPPED (the writer is not running:
 * not started yet, or stopped), or STORE_ECOMMIT (out of memory, apply NULL);
 * on any non-zero return done is NOT called. Any thread, under any lock (the
 * store lock is innermost), also from apply and done callbacks. */
int store_submit(store_apply_fn apply, store_done_fn done, void *arg);

/* Enqueues an op and waits until its batch committed; returns apply's result,
 * STORE_ECOMMIT or STORE_ESTOPPED. Not from an HTTP worker, not with any lock
 * held (the lock checker aborts), not from the writer thread (aborts). When
 * the writer has not been started since store_open (migrate, import at start)
 * it applies the op in its own transaction on the calling thread, which must
 * then be the thread that owns the connection (main); after
 * store_writer_stop it returns STORE_ESTOPPED. */
int store_submit_wait(store_apply_fn apply, void *arg);

/* Writer statistics, for /metrics and the benchmark; any thread. Counters
 * only grow for the life of the process (not reset by store_close); ops
 * applied by store_submit_wait before the writer starts count too. */
typedef struct store_stats {
    uint64_t commits;       /* transactions committed */
    uint64_t ops;           /* ops in committed transactions (incl. ones whose apply failed) */
    uint64_t commit_us_sum; /* total time in COMMIT */
    uint64_t batch_max;     /* largest batch seen */
    uint64_t failures;      /* batches that failed to commit */
    /* write batches that failed to commit since the last one with changes
     * that did commit (a batch that changes nothing, such as the health
     * check's read, neither counts nor resets it): health turns degraded at
     * STORE_DEGRADED_AFTER */
    uint64_t failures_in_row;
    char last_error[160]; /* SQLite's message for the last failed batch */
} store_stats_t;
#define STORE_DEGRADED_AFTER 3
void store_stats_get(store_stats_t *out);

#ifdef HC_TESTING
/* Test-only fault switch (the health test): the next n batches that change
 * something fail as if COMMIT had (SQLITE_FULL), rolled back and reported
 * STORE_ECOMMIT; 0 ends it. Any thread. */
void store_testing_fail_commits(int n);
#endif

/* For tests and the benchmark: enabled = 1 is group commit (the default),
 * enabled = 0 commits each op in its own transaction (the naive
 * one-commit-per-write baseline). Takes effect from the next batch. */
void store_writer_set_batching(int enabled);

/* Asks the writer for a WAL checkpoint (TRUNCATE) between two batches; any
 * thread, returns at once (a housekeeping timer calls it every minute).
 * Does nothing while the writer is not running. */
void store_writer_checkpoint(void);

/* When the writer began the batch (or checkpoint) it is working on, on the
 * monotonic clock in ms; 0 while it is idle. Any thread (the watchdog). */
uint64_t store_writer_busy_since_ms(void);

void store_close(void);

/*
 * A consistent copy of data_dir's live database at dest, taken through a
 * separate connection while a server may keep writing (store/backup.c says
 * how). Refuses an existing dest unless force; writes dest.tmp, checks it
 * with PRAGMA integrity_check, fsyncs, renames. The copy is a single file in
 * rollback-journal mode. Any thread; needs no store_open. 0, or -1 with err.
 */
typedef struct store_backup_info {
    uint64_t pages, bytes, duration_us;
    int schema_version;
} store_backup_info_t;
int store_backup(const char *data_dir, const char *dest, int force, store_backup_info_t *info, char *err,
                 size_t errlen);

/* Prepares sql on db for one use; the caller finalizes it (preparing per use
 * is cheap next to the commit's fsync). Logs and returns NULL on error. */
sqlite3_stmt *store_prepare(sqlite3 *db, const char *sql);

/* Whether sql (a SELECT with one text parameter ?1 = id) returns a row:
 * 1 yes, 0 no, -1 error. Whichever thread owns db. */
int store_row_exists(sqlite3 *db, const char *sql, const char *id);

#endif
