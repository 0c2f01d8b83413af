/*
 * Shared between store.c, migrate.c and writer.c; not for other modules.
 */
#ifndef HC_STORE_INTERNAL_H
#define HC_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

/* how long a connection waits for a lock another connection holds */
#define STORE_BUSY_TIMEOUT_MS 5000

/* sqlite3_exec of trusted, compiled-in SQL (BEGIN, COMMIT, SAVEPOINT, ...);
 * logs SQLite's message with `what` on failure. Returns the SQLite code. */
int store_exec_logged(sqlite3 *db, const char *sql, const char *what);

/* Reads MAX(version) of schema_migrations into *version (0 when the table
 * does not exist yet). Returns SQLITE_OK or the failing SQLite code. */
int store_read_version(sqlite3 *db, int64_t *version);

/* Updates the cached schema version that store_schema_version returns. */
void store_set_schema_version(int version);

/* store_close: the writer has been stopped; forget that it ever ran so the
 * next store_open starts from "not started" (submit_wait applies directly). */
void store_writer_reset(void);

#endif
