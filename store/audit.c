#include "audit.h"

#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "store.h"

int store_audit_append(sqlite3 *db, const char *actor, const char *action, const char *target, json_t *detail)
{
    char now[32];
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    sqlite3_stmt *st = store_prepare(db, "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (st == NULL) {
        free(d);
        return -1;
    }
    sqlite3_bind_text(st, 1, clock_rfc3339(clock_now(), now, sizeof(now)), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, target ? target : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, d ? d : "{}", -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(d);
    if (rc != SQLITE_DONE) {
        log_error("msg=\"cannot append to the audit log\" err=\"%s\"", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}
