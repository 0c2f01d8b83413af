/*
 * GET /api/v1/nodes/{id}/events?limit=&before=&kind=&since= : the node's
 * history, newest first (fleet/node_events.h says what is recorded when).
 * Like the audit trail, the rows live only in SQLite: the read is a store op
 * on the writer thread (server/commit.h) and the request parks meanwhile; a
 * page walks the node_events_by_node index and stops after limit rows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "commit.h"
#include "events.h"
#include "jsonio.h"
#include "registry.h"

#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000

static const char *const event_kinds[] = {"online",          "offline",      "enroll",      "approve", "reject", "roles",
                                          "flags_delivered", "stream_start", "stream_stop", NULL};

typedef struct {
    char node_id[NODE_ID_MAX];
    int64_t before;
    int limit;
    char since[32];
    int has_since;
    json_t *kinds; /* NULL: all */
    json_t *rows;  /* set by apply */
    char next[512]; /* the next page's path, when this page is full */
} read_t;

static int read_apply(sqlite3 *db, void *arg)
{
    read_t *q = arg;
    q->rows = store_node_events_read(db, q->node_id, q->before, q->limit, q->has_since ? q->since : NULL, q->kinds);
    return q->rows ? 0 : -1;
}

static void read_respond(hc_req_t *r, int status, void *arg)
{
    read_t *q = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the node's events could not be read");
        return;
    }
    size_t n = json_array_size(q->rows);
    if (n == (size_t)q->limit && strspn(q->node_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                                      strlen(q->node_id)) {
        /* a full page may have more behind it: say where (RFC 8288) */
        json_int_t last = json_integer_value(json_object_get(json_array_get(q->rows, n - 1), "id"));
        char link[700];
        int len = snprintf(link, sizeof(link), "</api/v1/nodes/%s/events?limit=%d&before=%lld%s>; rel=\"next\"",
                           q->node_id, q->limit, (long long)last, q->next);
        if (len > 0 && (size_t)len < sizeof(link))
            h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_LINK, NULL,
                           h2o_strdup(&r->req->pool, link, (size_t)len).base, (size_t)len);
    }
    json_respond(r, 200, json_incref(q->rows));
}

static void read_free(void *arg)
{
    read_t *q = arg;
    json_decref(q->rows);
    json_decref(q->kinds);
    free(q);
}

static const commit_spec_t read_spec = {read_apply, NULL, read_respond, read_free};

static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int kind_known(const char *k, size_t len)
{
    for (size_t i = 0; event_kinds[i]; i++)
        if (strlen(event_kinds[i]) == len && strncmp(event_kinds[i], k, len) == 0)
            return 1;
    return 0;
}

/* "online,offline" into a JSON array of known kinds; NULL after a 400 */
static json_t *parse_kinds(hc_req_t *r, const char *s)
{
    json_t *a = json_array();
    for (const char *p = s; a != NULL;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!kind_known(p, len)) {
            json_decref(a);
            json_error(r, 400, "bad_request",
                       "\"kind\" is a comma-separated list of online, offline, enroll, approve, reject, roles, "
                       "flags_delivered, stream_start, stream_stop");
            return NULL;
        }
        json_array_append_new(a, json_stringn(p, len));
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (a == NULL)
        json_error(r, 500, "internal", "out of memory");
    return a;
}

void api_node_events_list(hc_req_t *r)
{
    static const char *const allowed[] = {"limit", "before", "kind", "since", NULL};
    char err[256];
    const char *id = route_param(r, "id");
    if (route_query_check(r, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s (parameters: limit, before, kind, since)", err);
        return;
    }
    const char *limit = route_query(r, "limit"), *before = route_query(r, "before"), *kind = route_query(r, "kind"),
               *since = route_query(r, "since");
    int64_t lim = EVENTS_LIMIT_DEFAULT, bef = 0, since_t = 0;
    if (limit != NULL && parse_int(limit, 1, EVENTS_LIMIT_MAX, &lim) != 0) {
        json_error(r, 400, "bad_request", "\"limit\" must be a whole number from 1 to %d", EVENTS_LIMIT_MAX);
        return;
    }
    if (before != NULL && parse_int(before, 1, INT64_MAX, &bef) != 0) {
        json_error(r, 400, "bad_request", "\"before\" must be an event id (a whole number from 1)");
        return;
    }
    if (since != NULL && clock_parse_rfc3339(since, &since_t) != 0) {
        json_error(r, 400, "bad_request", "\"since\" must be an RFC 3339 time, e.g. 2026-11-23T06:00:00Z");
        return;
    }
    int known = 0;
    if (strlen(id) < NODE_ID_MAX) {
        lock_take_shared(&registry_nodes_lock);
        known = registry_node_find(id) != NULL;
        lock_give(&registry_nodes_lock);
    }
    if (!known) {
        json_error(r, 404, "not_found", "no node %s", id);
        return;
    }
    json_t *kinds = NULL;
    if (kind != NULL && (kinds = parse_kinds(r, kind)) == NULL)
        return;
    read_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        json_decref(kinds);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(q->node_id, sizeof(q->node_id), "%s", id);
    q->before = bef;
    q->limit = (int)lim;
    q->kinds = kinds;
    if (since != NULL) {
        clock_rfc3339(since_t, q->since, sizeof(q->since)); /* normalised: compared as text */
        q->has_since = 1;
    }
    /* the filters the next page keeps (already validated: plain characters) */
    snprintf(q->next, sizeof(q->next), "%s%s%s%s", kind ? "&kind=" : "", kind ? kind : "", since ? "&since=" : "",
             since ? q->since : "");
    commit_submit(r, &read_spec, q);
}
