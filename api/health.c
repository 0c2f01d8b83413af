/*
 * GET /api/v1/health. The database check goes through the store writer (a
 * read of schema_migrations on the writer's connection), so it proves both
 * that SQLite answers and that the writer thread is not stuck; it is parked,
 * never blocking the worker, and gives up after 2 s.
 */
#include <stdlib.h>

#include "api.h"
#include "jsonio.h"
#include "park.h"
#include "serve.h"
#include "store.h"

extern const char *hc_version;

#define HEALTH_DB_TIMEOUT_MS 2000

static int db_ping(sqlite3 *db, void *arg)
{
    (void)arg;
#ifdef HC_TESTING
    if (getenv("HC_TEST_FAIL_DB_CHECK") != NULL)
        return -1;
#endif
    sqlite3_stmt *st = store_prepare(db, "SELECT count(*) FROM schema_migrations");
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static void db_ping_done(void *arg, int status)
{
    park_t *p = arg;
    park_wake(p, status == 0 ? 1 : 2);
    park_unref(p);
}

static void respond(hc_req_t *r, int db_ok)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "status", db_ok ? "ok" : "degraded", "db", db_ok ? "ok" : "error",
                          "version", hc_version, "uptime_s", (json_int_t)serve_uptime_s());
    json_respond(r, db_ok ? 200 : 503, o);
}

static void on_ping(park_t *p, hc_req_t *r, int reason, intptr_t value)
{
    (void)p;
    if (r == NULL)
        return;
    respond(r, reason == PARK_WOKEN && value == 1);
}

void api_health_get(hc_req_t *r)
{
    park_t *p = park_start(r, HEALTH_DB_TIMEOUT_MS, on_ping, NULL);
    if (p == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    if (store_submit(db_ping, db_ping_done, p) != 0) {
        park_wake(p, 2);
        park_unref(p);
    }
}

