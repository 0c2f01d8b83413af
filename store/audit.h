/* The audit trail: every admin mutation is appended inside the same
 * transaction as the change itself (writer thread, inside an apply). */
#ifndef HC_AUDIT_H
#define HC_AUDIT_H

#include <jansson.h>
#include <sqlite3.h>

/* detail may be NULL; it is not consumed. Returns 0 or -1. */
int store_audit_append(sqlite3 *db, const char *actor, const char *action, const char *target, json_t *detail);

#endif
