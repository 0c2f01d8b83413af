/*
 * GET /api/v1/health. The database check goes through the store writer (a
 * read of schema_migrations on the writer's connection), so it proves both
 * that SQLite answers and that the writer thread is not stuck; it is parked,
 * never blocking the worker, and gives up after 2 s. While the watchdog sees
 * a stalled worker, writer or housekeeping loop, the answer is 503
 * "degraded" with the watchdog's reason too, and so is it after
 * STORE_DEGRADED_AFTER write batches in a row failed to commit (disk full):
 * the read above still works then. The first write that commits makes it ok.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api.h"
#include "jsonio.h"
#include "park.h"
#include "serve.h"
#include "store.h"
#include "watchdog.h"

extern const char *hc_version;

#define HEALTH_DB_TIMEOUT_MS 2000

static int db_ping(sqlite3 *db, void *arg)
{
    (void)arg;
#ifdef HC_TESTING
    if (getenv("HC_TEST_FAIL_DB_CHECK") != NULL)
        return -1;
    /* the watchdog test's stuck writer: X-HC-Test-Stall-Writer: N (see router.c) */
    intptr_t stall = (intptr_t)park_data(arg);
    if (stall > 0)
        sleep((unsigned)stall);
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
    char reason[300], writes[300] = "";
    int stalled = watchdog_check(reason, sizeof(reason));
    /* a read answers while every write fails (disk full): the writer's
     * failed commits in a row tell that apart */
    store_stats_t st;
    store_stats_get(&st);
    if (st.failures_in_row >= STORE_DEGRADED_AFTER)
        snprintf(writes, sizeof(writes),
                 "the last %llu database commits failed (%s): writes are refused; check the data dir's disk space "
                 "and health",
                 (unsigned long long)st.failures_in_row, st.last_error);
    int ok = db_ok && !stalled && writes[0] == '\0';
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "status", ok ? "ok" : "degraded",
                          "db", db_ok && writes[0] == '\0' ? "ok" : "error", "version", hc_version, "uptime_s",
                          (json_int_t)serve_uptime_s());
    if (o != NULL && !ok)
        json_object_set_new(o, "reason", json_string(stalled ? reason
                                                     : writes[0] ? writes
                                                                 : "the database check failed or timed out"));
    json_respond(r, ok ? 200 : 503, o);
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
    void *data = NULL;
#ifdef HC_TESTING
    if (router_testing_stalls_allowed()) {
        /* the health test's failing disk: X-HC-Test-Fail-Commits: N */
        ssize_t f = h2o_find_header_by_str(&r->req->headers, H2O_STRLIT("x-hc-test-fail-commits"), -1);
        if (f >= 0)
            store_testing_fail_commits(atoi(h2o_strdup(&r->req->pool, r->req->headers.entries[f].value.base,
                                                       r->req->headers.entries[f].value.len)
                                                .base));
        ssize_t i = h2o_find_header_by_str(&r->req->headers, H2O_STRLIT("x-hc-test-stall-writer"), -1);
        if (i >= 0)
            data = (void *)(intptr_t)atoi(h2o_strdup(&r->req->pool, r->req->headers.entries[i].value.base,
                                                     r->req->headers.entries[i].value.len)
                                              .base);
    }
#endif
    park_t *p = park_start(r, HEALTH_DB_TIMEOUT_MS, on_ping, data);
    if (p == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    if (store_submit(db_ping, db_ping_done, p) != 0) {
        park_wake(p, 2);
        park_unref(p);
    }
}

