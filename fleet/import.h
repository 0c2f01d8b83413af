/*
 * Import of the previous service's nodes.yaml (spec/nodes.sample.yaml) into
 * the store: `hydracluster import` and the automatic import at first start.
 *
 * Two steps. import_parse_* reads the file with the shared YAML reader
 * (server/yaml_tree.h) into an in-memory plan, checking everything that can
 * be checked without the database; a refusal names file:line:column and the
 * reason, and nothing is imported. import_apply then writes the plan in ONE
 * transaction.
 *
 * Bounds (an alias bomb fails fast in bounded memory): the file is at most
 * IMPORT_MAX_FILE_BYTES and nested at most IMPORT_MAX_DEPTH deep (after
 * expanding aliases); aliases are never copied, and what they add when
 * expanded is bounded by its ratio to the document's own size
 * (YAML_TREE_ALIAS_FLOOR plus the nodes written), checked at each alias.
 * A real 100,000-node file passes; a "billion laughs" stops at its first
 * aliases. Recursive aliases are refused.
 *
 * Threads: main thread (CLI, serve before the store writer starts); the
 * connection must be the caller's and must have no transaction open. Token
 * hashes need secret_load_key on the same database first.
 */
#ifndef HC_IMPORT_H
#define HC_IMPORT_H

#include <sqlite3.h>
#include <stddef.h>

/* about 230,000 nodes of the sample's shape (100,000 take 54 MB); reading
 * one takes about 4 KB of memory per node of the file at its peak */
#define IMPORT_MAX_FILE_BYTES (128u * 1024 * 1024)
#define IMPORT_MAX_DEPTH 64u
#define IMPORT_MIN_TOKEN 16u
#define IMPORT_MAX_TOKEN 256u       /* longer ones never authenticate (middleware/auth.c) */
#define IMPORT_MAX_EXTRA_BYTES (64u * 1024) /* a node's unknown fields, as JSON */
#define IMPORT_FILE_NAME "nodes.yaml"        /* in the data dir, for the import at first start */
#define IMPORT_META_KEY "nodes_yaml_imported"

typedef struct import_plan import_plan_t;

typedef struct import_counts {
    unsigned imported;  /* new rows */
    unsigned updated;   /* existing rows the file changed */
    unsigned unchanged; /* existing rows already as the file says */
    unsigned skipped;   /* not written; the reason is in notes */
} import_counts_t;

typedef struct import_report {
    import_counts_t nodes, heads, roles;
    /* one line each: "skipped node ..." reasons and warnings, in file order.
     * Never contains a token. */
    char **notes;
    size_t nnotes;
} import_report_t;

/* Parses path. Returns the plan, or NULL with err = "path:line:col: reason"
 * (or "path: reason" when there is no position). */
import_plan_t *import_parse_file(const char *path, char *err, size_t errlen);
/* The same from memory; name is what errors call the file. */
import_plan_t *import_parse_buffer(const char *name, const char *text, size_t len, char *err, size_t errlen);
void import_plan_free(import_plan_t *plan);
/* how many nodes / roles the plan holds */
size_t import_plan_node_count(const import_plan_t *plan);
size_t import_plan_role_count(const import_plan_t *plan);

#define IMPORT_DRY_RUN 1u

/*
 * Writes the plan in one BEGIN IMMEDIATE transaction: roles, nodes, heads,
 * and meta.nodes_yaml_imported. With IMPORT_DRY_RUN everything runs and is
 * counted, then rolled back. Existing rows (same id / role name) are merged:
 * fields the file has win, fields it lacks are kept (see docs/operations.md
 * for the exact rules); nothing is ever deleted. On error returns -1 with err
 * and nothing changed. *rep is filled on success; release with
 * import_report_free (also after an error).
 */
int import_apply(sqlite3 *db, const import_plan_t *plan, unsigned flags, import_report_t *rep, char *err,
                 size_t errlen);
void import_report_free(import_report_t *rep);

/* Parse and apply in one call. */
int import_file(sqlite3 *db, const char *path, unsigned flags, import_report_t *rep, char *err, size_t errlen);

/*
 * The import at first start: when the nodes table is empty, meta has no
 * nodes_yaml_imported, and data_dir/nodes.yaml exists, imports it. *done is
 * 1 when it imported, 0 when there was nothing to do. -1 with err on a
 * refusal or a database error (serve stops: the operator fixes the file).
 */
int import_first_start(sqlite3 *db, const char *data_dir, import_report_t *rep, int *done, char *err, size_t errlen);

/*
 * data_dir/hydracluster.lock: `serve` holds it exclusively for its lifetime
 * and `import` for its run, so an import never changes the database under a
 * running server's in-memory registry. Returns the lock's fd (keep it open;
 * closing it releases the lock), IMPORT_LOCK_BUSY when another process holds
 * it, or -1 with err.
 */
#define IMPORT_LOCK_BUSY (-2)
#define IMPORT_LOCK_FILE "hydracluster.lock"
int import_lock_data_dir(const char *data_dir, char *err, size_t errlen);

#endif
