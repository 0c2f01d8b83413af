/* The audit trail: every admin mutation is appended inside the same
 * transaction as the change itself (writer thread, inside an apply). */
#ifndef HC_AUDIT_H
#define HC_AUDIT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

/* detail may be NULL; it is not consumed. Returns 0 or -1. */
int store_audit_append(sqlite3 *db, const char *actor, const char *action, const char *target, json_t *detail);

/* Reads audit rows, newest first: [{id, at, actor, action, target, detail}].
 * target NULL = any; before > 0 = only ids below it (paging); limit rows at
 * most. On the connection's own thread (the writer, inside an op). A new
 * array, or NULL on error (logged). */
json_t *store_audit_read(sqlite3 *db, const char *target, int64_t before, int limit);

#endif
