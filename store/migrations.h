/*
 * The embedded migrations and their runner.
 *
 * build-aux/embed.py compiles migrations/NNNN_name.sql into a generated C file
 * that defines hc_migrations[] (sorted by version, numbered 1..N without gaps)
 * and hc_migrations_count. The generated file carries its own copy of the
 * typedef below (it includes nothing of ours), so keep the two identical.
 *
 * Threading: main thread only, while the writer is not running.
 */
#ifndef HC_MIGRATIONS_H
#define HC_MIGRATIONS_H

#include <stddef.h>

typedef struct {
    int version;      /* 1, 2, ... from the file name */
    const char *name; /* the file name, e.g. "0001_init.sql" (for messages) */
    const char *sql;  /* the file's text, NUL-terminated */
} hc_migration_t;

extern const hc_migration_t hc_migrations[];
extern const size_t hc_migrations_count;

/*
 * The runner behind store_migrate, over any list (tests use it to exercise
 * the failure paths with migrations that are meant to fail). list must be
 * sorted by strictly increasing positive version; n may be 0. Same contract
 * as store_migrate: 0, or -1 with err naming the migration and SQLite's
 * message.
 */
int store_migrate_list(const hc_migration_t *list, size_t n, int *applied, char *err, size_t errlen);

#endif
