/*
 * Streaming sessions (fleet/stream_sessions.h) and their logs:
 *   GET  /api/v1/sessions                 admin: newest first; ?state=active|ended&node=&limit=&before=
 *   GET  /api/v1/sessions/{id}            admin: one session
 *   GET  /api/v1/sessions/{id}/logs       admin: the body's and the head's lines, each in time order
 *   POST /api/v1/body/sessions/{id}/logs  the session's body or head uploads lines (node token)
 *
 * Sessions and their lines live in SQLite only (thousands of lines per
 * session are not memory's business), so reads are store ops like the audit
 * trail's: they run on the writer between writes while the request stays
 * parked (server/commit.h with nothing to publish), a bounded amount each.
 * An upload is a durable write answered after its commit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "commit.h"
#include "jsonio.h"
#include "registry.h"
#include "serve.h"
#include "sessions.h"
#include "stream_sessions.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
#define LOG_LINES_PER_REQUEST 500
#define LOG_LINE_MAX 4096 /* bytes; longer lines are cut */

/* ---- reads ---- */

enum { READ_LIST, READ_ONE, READ_LOGS };

typedef struct {
    int kind;
    char id[SS_ID_MAX + 1];
    char node[NODE_ID_MAX];
    char before[SS_ID_MAX + 1];
    const char *state; /* static string or NULL */
    int limit;
    int64_t tail; /* READ_LOGS: last lines per side, -1 all */
    int found, unknown_before;
    json_t *out;
} read_t;

static int read_apply(sqlite3 *db, void *arg)
{
    read_t *q = arg;
    switch (q->kind) {
    case READ_LIST:
        q->out = store_session_list(db, q->state, q->node[0] ? q->node : NULL, q->before[0] ? q->before : NULL,
                                    q->limit, &q->unknown_before);
        return q->out != NULL || q->unknown_before ? 0 : -1;
    case READ_ONE:
        q->out = store_session_get(db, q->id, &q->found);
        break;
    default:
        q->out = store_session_logs(db, q->id, q->tail, &q->found);
        break;
    }
    return q->out != NULL || !q->found ? 0 : -1;
}

static void read_respond(hc_req_t *r, int status, void *arg)
{
    read_t *q = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the sessions could not be read");
        return;
    }
    if (q->unknown_before) {
        json_error(r, 400, "bad_request", "\"before\" names no session (it takes the id of the last one of a page)");
        return;
    }
    if (q->kind != READ_LIST && !q->found) {
        json_error(r, 404, "not_found", "no session %s", q->id);
        return;
    }
    json_respond(r, 200, json_incref(q->out));
}

static void read_free(void *arg)
{
    read_t *q = arg;
    json_decref(q->out);
    free(q);
}

static const commit_spec_t read_spec = {read_apply, NULL, read_respond, read_free};

/* the {id} of the path when it can be a session id (else answered 404) */
static const char *session_param(hc_req_t *r)
{
    const char *id = route_param(r, "id");
    if (!stream_sessions_id_ok(id)) {
        json_error(r, 404, "not_found", "no session %.130s", id ? id : "");
        return NULL;
    }
    return id;
}

/* a whole decimal number in [min, max], or -1 */
static long parse_count(const char *s, long min, long max)
{
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return *end != '\0' || errno != 0 || v < min || v > max ? -1 : v;
}

static void read_one(hc_req_t *r, int kind)
{
    static const char *const none[] = {NULL}, *const logs[] = {"tail", NULL};
    char err[256];
    if (route_query_check(r, kind == READ_LOGS ? logs : none, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s%s", err, kind == READ_LOGS ? " (parameter: tail)" : "");
        return;
    }
    const char *id = session_param(r);
    if (id == NULL)
        return;
    long tail = -1;
    const char *tail_s = kind == READ_LOGS ? route_query(r, "tail") : NULL;
    long tail_max = (long)serve_config()->sessions.log_max_lines;
    if (tail_s != NULL && (tail = parse_count(tail_s, 1, tail_max)) < 0) {
        json_error(r, 400, "bad_request", "\"tail\" must be a whole number from 1 to %ld (sessions.log_max_lines)",
                   tail_max);
        return;
    }
    read_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    q->kind = kind;
    q->tail = tail;
    snprintf(q->id, sizeof(q->id), "%s", id);
    commit_submit(r, &read_spec, q);
}

void api_sessions_get(hc_req_t *r)
{
    read_one(r, READ_ONE);
}

void api_sessions_logs_get(hc_req_t *r)
{
    read_one(r, READ_LOGS);
}

void api_sessions_list(hc_req_t *r)
{
    static const char *const allowed[] = {"state", "node", "limit", "before", NULL};
    char err[256];
    if (route_query_check(r, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s (parameters: state, node, limit, before)", err);
        return;
    }
    const char *state = route_query(r, "state"), *node = route_query(r, "node"), *limit = route_query(r, "limit"),
               *before = route_query(r, "before");
    if (state != NULL && strcmp(state, "active") != 0 && strcmp(state, "ended") != 0) {
        json_error(r, 400, "bad_request", "\"state\" must be active or ended");
        return;
    }
    if (node != NULL && (node[0] == '\0' || strlen(node) >= NODE_ID_MAX)) {
        json_error(r, 400, "bad_request", "\"node\" must be a node id");
        return;
    }
    long lim = limit != NULL ? parse_count(limit, 1, LIST_LIMIT_MAX) : LIST_LIMIT_DEFAULT;
    if (lim < 0) {
        json_error(r, 400, "bad_request", "\"limit\" must be a whole number from 1 to %d", LIST_LIMIT_MAX);
        return;
    }
    if (before != NULL && !stream_sessions_id_ok(before)) {
        json_error(r, 400, "bad_request", "\"before\" must be a session id");
        return;
    }
    read_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    q->kind = READ_LIST;
    q->state = state == NULL ? NULL : strcmp(state, "active") == 0 ? "active" : "ended";
    if (node != NULL)
        snprintf(q->node, sizeof(q->node), "%s", node);
    if (before != NULL)
        snprintf(q->before, sizeof(q->before), "%s", before);
    q->limit = (int)lim;
    commit_submit(r, &read_spec, q);
}

/* ---- POST /api/v1/body/sessions/{id}/logs ---- */

typedef struct {
    char id[SS_ID_MAX + 1];
    char node_id[NODE_ID_MAX];
    json_t *lines; /* [{ts_ms, line}] */
    int64_t cap, dropped, kept;
    int skipped, truncated, untimed;
} upload_t;

static int upload_apply(sqlite3 *db, void *arg)
{
    upload_t *u = arg;
    return store_session_logs_append(db, u->id, u->node_id, u->lines, u->cap, &u->dropped, &u->kept);
}

static void upload_respond(hc_req_t *r, int status, void *arg)
{
    upload_t *u = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == STORE_SESSION_ENOENT) {
        json_error(r, 404, "not_found", "no session %s", u->id);
        return;
    }
    if (status == STORE_SESSION_EFORBIDDEN) {
        json_error(r, 403, "forbidden", "this node is neither the body nor the head of session %s", u->id);
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the lines could not be stored; send them again");
        return;
    }
    json_respond(r, 200,
                 json_pack("{s:s, s:I, s:i, s:i, s:i, s:I, s:I}", "session_id", u->id, "accepted",
                           (json_int_t)json_array_size(u->lines), "skipped", u->skipped, "truncated", u->truncated,
                           "untimed", u->untimed, "dropped", (json_int_t)u->dropped, "kept", (json_int_t)u->kept));
}

static void upload_free(void *arg)
{
    upload_t *u = arg;
    json_decref(u->lines);
    free(u);
}

static const commit_spec_t upload_spec = {upload_apply, NULL, upload_respond, upload_free};

/* RFC 3339 with an optional fraction, to milliseconds; -1 when malformed */
static int parse_ts_ms(const char *s, int64_t *out)
{
    int64_t sec;
    if (s == NULL || clock_parse_rfc3339(s, &sec) != 0)
        return -1;
    int ms = 0, digits = 0;
    if (strlen(s) > 20 && s[19] == '.')
        for (const char *p = s + 20; digits < 3 && *p >= '0' && *p <= '9'; p++, digits++)
            ms = ms * 10 + (*p - '0');
    for (; digits < 3; digits++)
        ms *= 10;
    *out = sec * 1000 + ms;
    return 0;
}

/* the length of s cut to at most max bytes without splitting a UTF-8 character */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

void api_body_sessions_logs_post(hc_req_t *r)
{
    const char *id = session_param(r);
    if (id == NULL)
        return;
    json_t *in = json_object_get(r->body, "lines");
    if (!json_is_array(in)) {
        json_error(r, 400, "bad_request", "\"lines\" must be an array of {\"ts\":\"RFC 3339\",\"line\":\"…\"}");
        return;
    }
    if (json_array_size(in) > LOG_LINES_PER_REQUEST) {
        json_error(r, 413, "too_many_lines", "%zu lines in one request; send at most %d per request",
                   json_array_size(in), LOG_LINES_PER_REQUEST);
        return;
    }
    upload_t *u = calloc(1, sizeof(*u));
    if (u == NULL || (u->lines = json_array()) == NULL) {
        free(u);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(u->id, sizeof(u->id), "%s", id);
    snprintf(u->node_id, sizeof(u->node_id), "%s", r->auth.node_id);
    u->cap = serve_config()->sessions.log_max_lines;
    int64_t now_ms = clock_now() * 1000;
    size_t i;
    json_t *l;
    /* read tolerantly: a line without text is skipped, one without a usable
     * time gets the server's, a long one is cut; unknown fields are ignored */
    json_array_foreach(in, i, l)
    {
        json_t *text = json_object_get(l, "line");
        if (!json_is_string(text)) {
            u->skipped++;
            continue;
        }
        int64_t ts;
        if (parse_ts_ms(json_string_value(json_object_get(l, "ts")), &ts) != 0) {
            ts = now_ms;
            u->untimed++;
        }
        size_t len = json_string_length(text), cut = utf8_cut(json_string_value(text), len, LOG_LINE_MAX);
        if (cut < len)
            u->truncated++;
        if (json_array_append_new(u->lines, json_pack("{s:I, s:s%}", "ts_ms", (json_int_t)ts, "line",
                                                      json_string_value(text), cut)) != 0) {
            upload_free(u);
            json_error(r, 500, "internal", "out of memory");
            return;
        }
    }
    commit_submit(r, &upload_spec, u);
}
