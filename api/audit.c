/*
 * GET /api/v1/audit?target=&limit=&before= : the audit trail, newest first.
 *
 * The rows live only in SQLite (they are never needed on a hot path), and no
 * request may read SQLite on a worker. So the query is a store op: it runs on
 * the writer thread, inside a batch, and the request stays parked meanwhile
 * (server/commit.h; publish is empty, nothing is written). A page is at most
 * AUDIT_LIMIT_MAX rows read through the audit_by_target index or the primary
 * key, so it holds up other writes for a fraction of a millisecond.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "commit.h"
#include "jsonio.h"

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000
#define AUDIT_TARGET_MAX 256

typedef struct {
    char target[AUDIT_TARGET_MAX + 1];
    int has_target;
    int64_t before;
    int limit;
    json_t *rows; /* set by apply */
} read_t;

static int read_apply(sqlite3 *db, void *arg)
{
    read_t *q = arg;
    q->rows = store_audit_read(db, q->has_target ? q->target : NULL, q->before, q->limit);
    return q->rows ? 0 : -1;
}

static void read_respond(hc_req_t *r, int status, void *arg)
{
    read_t *q = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the audit log could not be read");
        return;
    }
    json_respond(r, 200, json_incref(q->rows));
}

static void read_free(void *arg)
{
    read_t *q = arg;
    json_decref(q->rows);
    free(q);
}

static const commit_spec_t read_spec = {read_apply, NULL, read_respond, read_free};

/* a whole decimal number in [min, max]: 0, or -1 */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL || *s == '\0' || *s == '+' || *s == '-' || *s == ' ')
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void api_audit_list(hc_req_t *r)
{
    static const char *const allowed[] = {"target", "limit", "before", NULL};
    char err[256];
    if (route_query_check(r, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s (parameters: target, limit, before)", err);
        return;
    }
    const char *target = route_query(r, "target"), *limit = route_query(r, "limit"), *before = route_query(r, "before");
    int64_t lim = AUDIT_LIMIT_DEFAULT, bef = 0;
    if (limit != NULL && parse_int(limit, 1, AUDIT_LIMIT_MAX, &lim) != 0) {
        json_error(r, 400, "bad_request", "\"limit\" must be a whole number from 1 to %d", AUDIT_LIMIT_MAX);
        return;
    }
    if (before != NULL && parse_int(before, 1, INT64_MAX, &bef) != 0) {
        json_error(r, 400, "bad_request", "\"before\" must be an audit id (a whole number from 1)");
        return;
    }
    if (target != NULL && strlen(target) > AUDIT_TARGET_MAX) {
        json_error(r, 400, "bad_request", "\"target\" is longer than %d bytes", AUDIT_TARGET_MAX);
        return;
    }
    read_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    if (target != NULL) {
        snprintf(q->target, sizeof(q->target), "%s", target);
        q->has_target = 1;
    }
    q->before = bef;
    q->limit = (int)lim;
    commit_submit(r, &read_spec, q);
}
