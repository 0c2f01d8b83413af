/*
 * The exec queue over HTTP (spec/API.md "Exec queue", agent-protocol.md
 * "Exec"); the state and its transitions are fleet/exec_queue.c.
 *
 * Admin:  POST   /api/v1/nodes/{id}/exec                      submit (202 after commit)
 *         GET    /api/v1/nodes/{id}/exec                      the node's queue
 *         DELETE /api/v1/nodes/{id}/exec                      purge the queued commands
 *         GET    /api/v1/nodes/{id}/exec/{execId}/result      200 finished / 202 not yet (?wait=N)
 *         DELETE /api/v1/nodes/{id}/exec/{execId}             cancel a queued command
 * Agent:  GET    /api/v1/body/exec                            next command (200) or 204 (?wait=N)
 *         POST   /api/v1/body/exec/result                     report a result (idempotent)
 *
 * Long polls (?wait=N, N <= 55) park the request; nothing polls and no worker
 * blocks. Park durations are whole seconds, so every wait shares one of at
 * most 55 timeout lists per worker.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent_fields.h"
#include "api.h"
#include "clock.h"
#include "commit.h"
#include "exec_queue.h"
#include "jsonio.h"
#include "log.h"
#include "park.h"
#include "registry.h"
#include "secret.h"
#include "serve.h"

#define EXEC_ERROR_MAX 4096

/* ?wait=N: 0 when absent; -1 (answered 400) when not a whole number 0..55 */
static int parse_wait(hc_req_t *r)
{
    const char *w = route_query(r, "wait");
    if (w == NULL)
        return 0;
    int v = 0;
    size_t i = 0;
    for (; w[i] >= '0' && w[i] <= '9' && i < 3; i++)
        v = v * 10 + (w[i] - '0');
    if (i == 0 || w[i] != '\0' || v > EXEC_WAIT_MAX_S) {
        json_error(r, 400, "bad_request", "\"wait\" must be a whole number of seconds from 0 to %d", EXEC_WAIT_MAX_S);
        return -1;
    }
    return v;
}

/* 1 when the node exists (*approved set), 0 when unknown */
static int node_lookup(const char *id, int *approved, char *approval, size_t alen)
{
    int found = 0;
    lock_take_shared(&registry_nodes_lock);
    node_t *n = strlen(id) < NODE_ID_MAX ? registry_node_find(id) : NULL;
    if (n != NULL) {
        found = 1;
        *approved = strcmp(n->approval, "approved") == 0;
        if (approval != NULL)
            snprintf(approval, alen, "%s", n->approval);
    }
    lock_give(&registry_nodes_lock);
    return found;
}

static void respond_204(hc_req_t *r)
{
    h2o_req_t *req = r->req;
    req->res.status = 204;
    req->res.reason = "No Content";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, "", 0);
}

/* ---- POST /api/v1/nodes/{id}/exec ---- */

typedef struct {
    exec_rec_t rec;
    char node_id[NODE_ID_MAX];
    int admitted; /* holds a place from exec_queue_admit until it is published (or failed) */
} submit_t;

static int submit_apply(sqlite3 *db, void *arg)
{
    return exec_apply_submit(db, &((submit_t *)arg)->rec, NULL);
}

static void submit_publish(void *arg)
{
    submit_t *s = arg;
    exec_publish_submit(&s->rec, NULL);
    /* queued now, so it counts as pending: give the admission back before
     * the submitter hears 202, or its next submission could be refused */
    exec_queue_admit_done(s->node_id);
    s->admitted = 0;
}

static void submit_respond(hc_req_t *r, int status, void *arg)
{
    submit_t *s = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == EXEC_ENOENT) {
        json_error(r, 404, "not_found", "no node %s", s->rec.node_id);
        return;
    }
    if (status == EXEC_ENOTAPPROVED) {
        json_error(r, 409, "conflict", "node %s is not approved: a pending or rejected node gets no commands",
                   s->rec.node_id);
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the command could not be stored");
        return;
    }
    json_respond(r, 202, json_pack("{s:s, s:s}", "id", s->rec.id, "status", "pending"));
}

static void submit_free(void *arg)
{
    submit_t *s = arg;
    if (s->admitted)
        exec_queue_admit_done(s->node_id); /* the submission failed */
    exec_rec_clear(&s->rec);
    free(s);
}

static const commit_spec_t submit_spec = {submit_apply, submit_publish, submit_respond, submit_free};

/* "timeout":"60s" or "timeout_s":60 (not both); default exec.default_timeout */
static int parse_timeout(hc_req_t *r, int64_t *out)
{
    char err[256];
    const char *ts = NULL;
    int64_t secs = 0;
    int has_str = json_get_str(r->body, "timeout", 32, &ts, err, sizeof(err));
    int has_int = json_get_int(r->body, "timeout_s", EXEC_TIMEOUT_MIN_S, EXEC_TIMEOUT_MAX_S, &secs, err, sizeof(err));
    if (has_str < 0 || has_int < 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return -1;
    }
    if (has_str && has_int) {
        json_error(r, 400, "bad_request", "give \"timeout\" or \"timeout_s\", not both");
        return -1;
    }
    if (has_str) {
        uint64_t ms;
        if (config_parse_duration(ts, &ms) != 0 || ms < EXEC_TIMEOUT_MIN_S * 1000ULL ||
            ms > EXEC_TIMEOUT_MAX_S * 1000ULL) {
            json_error(r, 400, "bad_request", "\"timeout\" must be a duration from 1s to 24h, such as \"60s\" or \"5m\"");
            return -1;
        }
        secs = (int64_t)((ms + 999) / 1000);
    } else if (!has_int) {
        secs = (int64_t)((serve_config()->exec.default_timeout_ms + 999) / 1000);
    }
    *out = secs;
    return 0;
}

void api_exec_submit(hc_req_t *r)
{
    static const char *const allowed[] = {"command", "timeout", "timeout_s", NULL};
    char err[256];
    const char *id = route_param(r, "id");
    const char *command = NULL;
    int64_t timeout_s;
    if (json_check_keys(r->body, allowed, err, sizeof(err)) != 0 ||
        json_get_str(r->body, "command", EXEC_COMMAND_MAX, &command, err, sizeof(err)) < 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    if (command == NULL || command[0] == '\0') {
        json_error(r, 400, "bad_request", "\"command\" is required and must not be empty");
        return;
    }
    if (parse_timeout(r, &timeout_s) != 0)
        return;
    int approved = 0;
    char approval[16] = "";
    if (!node_lookup(id, &approved, approval, sizeof(approval))) {
        json_error(r, 404, "not_found", "no node %s", id);
        return;
    }
    if (!approved) {
        json_error(r, 409, "conflict", "node %s is %s: a pending or rejected node gets no commands (approve it first)",
                   id, approval);
        return;
    }
    size_t max_pending = (size_t)serve_config()->exec.max_pending;
    int admit = exec_queue_admit(id, max_pending);
    if (admit == 1) {
        json_error(r, 429, "too_many_pending",
                   "node %s has %zu pending commands (exec.max_pending): wait for its agent, or cancel them with "
                   "DELETE /api/v1/nodes/%s/exec",
                   id, max_pending, id);
        return;
    }
    submit_t *s = admit == 0 ? calloc(1, sizeof(*s)) : NULL;
    if (s == NULL || (s->rec.command = strdup(command)) == NULL) {
        if (admit == 0)
            exec_queue_admit_done(id);
        free(s);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    secret_id_new("exec-", s->rec.id, sizeof(s->rec.id));
    snprintf(s->rec.node_id, sizeof(s->rec.node_id), "%s", id);
    snprintf(s->node_id, sizeof(s->node_id), "%s", id);
    s->admitted = 1;
    s->rec.timeout_s = timeout_s;
    s->rec.submitted_at = clock_now();
    snprintf(s->rec.submitted_by, sizeof(s->rec.submitted_by), "%s", r->auth.actor);
    commit_submit(r, &submit_spec, s);
}

/* ---- GET /api/v1/nodes/{id}/exec ---- */

void api_exec_list(hc_req_t *r)
{
    static const char *const allowed[] = {"limit", "after", "before", "full", NULL};
    char err[256];
    const char *id = route_param(r, "id");
    if (route_query_check(r, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    size_t limit = EXEC_LIST_DEFAULT;
    const char *l = route_query(r, "limit");
    if (l != NULL) {
        char *end;
        long v = strtol(l, &end, 10);
        if (*l == '\0' || *end != '\0' || v < 1 || v > EXEC_LIST_MAX) {
            json_error(r, 400, "bad_request", "\"limit\" must be a whole number from 1 to %d", EXEC_LIST_MAX);
            return;
        }
        limit = (size_t)v;
    }
    const char *after = route_query(r, "after"), *before = route_query(r, "before"), *full = route_query(r, "full");
    if (after != NULL && before != NULL) {
        json_error(r, 400, "bad_request", "give \"after\" or \"before\", not both");
        return;
    }
    if (full != NULL && strcmp(full, "true") != 0 && strcmp(full, "false") != 0) {
        json_error(r, 400, "bad_request", "\"full\" must be true or false");
        return;
    }
    int approved;
    if (!node_lookup(id, &approved, NULL, 0)) {
        json_error(r, 404, "not_found", "no node %s", id);
        return;
    }
    int bad_cursor = 0;
    json_t *o = exec_queue_list_json(id, limit, after, before, full != NULL && strcmp(full, "true") == 0, &bad_cursor);
    if (o == NULL && bad_cursor) {
        json_error(r, 400, "bad_request", "\"%s\" names no command of node %s (finished and pruned, or never there)",
                   after ? "after" : "before", id);
        return;
    }
    if (o == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, 200, o);
}

/* ---- DELETE /api/v1/nodes/{id}/exec and /api/v1/nodes/{id}/exec/{execId} ---- */

typedef struct {
    exec_transition_t *t;
    int purge;
    char node_id[NODE_ID_MAX];
    char exec_id[EXEC_ID_MAX];
} cancel_t;

static int cancel_apply(sqlite3 *db, void *arg)
{
    return exec_apply_transition(db, ((cancel_t *)arg)->t);
}

static void cancel_publish(void *arg)
{
    exec_publish_transition(((cancel_t *)arg)->t);
}

static void cancel_respond(hc_req_t *r, int status, void *arg)
{
    cancel_t *c = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == EXEC_ENOENT) {
        json_error(r, 404, "not_found", "no command %s on node %s", c->exec_id, c->node_id);
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the cancellation could not be stored");
        return;
    }
    if (c->purge) {
        json_t *ids = json_array();
        exec_transition_ids(c->t, ids);
        json_respond(r, 200, json_pack("{s:s, s:I, s:o}", "node_id", c->node_id, "purged",
                                       (json_int_t)exec_transition_count(c->t), "ids", ids));
    } else {
        json_respond(r, 200, json_pack("{s:s, s:s}", "id", c->exec_id, "status", "canceled"));
    }
}

static void cancel_free(void *arg)
{
    cancel_t *c = arg;
    if (c->t != NULL)
        exec_transition_free(c->t);
    free(c);
}

static const commit_spec_t cancel_spec = {cancel_apply, cancel_publish, cancel_respond, cancel_free};

static void cancel_or_purge(hc_req_t *r, const char *exec_id)
{
    const char *id = route_param(r, "id");
    int approved;
    if (!node_lookup(id, &approved, NULL, 0)) {
        json_error(r, 404, "not_found", "no node %s", id);
        return;
    }
    cancel_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    c->purge = exec_id == NULL;
    snprintf(c->node_id, sizeof(c->node_id), "%s", id);
    snprintf(c->exec_id, sizeof(c->exec_id), "%s", exec_id ? exec_id : "");
    exec_status_t status = EXEC_QUEUED;
    int rc = exec_id != NULL && strlen(exec_id) >= EXEC_ID_MAX
                 ? EXEC_ENOENT
                 : exec_queue_cancel_prepare(id, exec_id, r->auth.actor, &c->t, &status);
    if (rc != 0) {
        free(c);
        if (rc == EXEC_ENOENT)
            json_error(r, 404, "not_found", "no command %s on node %s", exec_id, id);
        else if (rc == EXEC_ECONFLICT && status == EXEC_QUEUED)
            json_error(r, 409, "conflict", "command %s is being handed to the agent right now; it can no longer be "
                                           "canceled",
                       exec_id);
        else if (rc == EXEC_ECONFLICT)
            json_error(r, 409, "conflict", "command %s is %s: only a pending command can be canceled", exec_id,
                       exec_status_api(status));
        else
            json_error(r, 500, "internal", "out of memory");
        return;
    }
    if (c->purge && exec_transition_count(c->t) == 0) {
        /* nothing queued: nothing to change or audit */
        cancel_respond(r, 0, c);
        cancel_free(c);
        return;
    }
    commit_submit(r, &cancel_spec, c);
}

void api_exec_cancel(hc_req_t *r)
{
    cancel_or_purge(r, route_param(r, "execId"));
}

void api_exec_purge(hc_req_t *r)
{
    cancel_or_purge(r, NULL);
}

/* ---- GET /api/v1/nodes/{id}/exec/{execId}/result ---- */

typedef struct {
    char node_id[NODE_ID_MAX];
    char exec_id[EXEC_ID_MAX];
} result_wait_t;

static void respond_result(hc_req_t *r, const char *node_id, const char *exec_id)
{
    int finished = 0;
    json_t *o = exec_queue_result_json(node_id, exec_id, &finished);
    if (o == NULL) {
        json_error(r, 404, "not_found", "no command %s on node %s (unknown, or its result was pruned)", exec_id,
                   node_id);
        return;
    }
    json_respond(r, finished ? 200 : 202, o);
}

static void on_result_wake(park_t *p, hc_req_t *r, int reason, intptr_t value)
{
    (void)value;
    result_wait_t *w = park_data(p);
    if (reason != PARK_WOKEN)
        exec_queue_result_forget(w->exec_id, p);
    if (r != NULL)
        respond_result(r, w->node_id, w->exec_id);
    free(w);
}

void api_exec_result(hc_req_t *r)
{
    const char *id = route_param(r, "id"), *exec_id = route_param(r, "execId");
    int wait = parse_wait(r);
    if (wait < 0)
        return;
    if (strlen(id) >= NODE_ID_MAX || strlen(exec_id) >= EXEC_ID_MAX) {
        json_error(r, 404, "not_found", "no command %s on node %s", exec_id, id);
        return;
    }
    int finished = 0;
    json_t *o = exec_queue_result_json(id, exec_id, &finished);
    if (o == NULL || finished || wait == 0) {
        json_decref(o);
        respond_result(r, id, exec_id);
        return;
    }
    json_decref(o);
    result_wait_t *w = calloc(1, sizeof(*w));
    park_t *p = w ? park_start(r, (uint64_t)wait * 1000, on_result_wake, w) : NULL;
    if (p == NULL) {
        free(w);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(w->node_id, sizeof(w->node_id), "%s", id);
    snprintf(w->exec_id, sizeof(w->exec_id), "%s", exec_id);
    /* check again and register in one step: a result that landed since the
     * first look wakes us at once instead of being missed */
    o = exec_queue_result_json_wait(id, exec_id, &finished, p);
    if (o == NULL || finished)
        park_wake(p, 0);
    json_decref(o);
    park_unref(p);
}

/* ---- GET /api/v1/body/exec ---- */

typedef struct {
    char node_id[NODE_ID_MAX];
} fetch_t;

static void dispatch_respond(hc_req_t *r, int status, void *arg)
{
    exec_dispatch_t *d = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == EXEC_ENOENT) {
        respond_204(r); /* it went away (node deleted) while being handed out */
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the command could not be marked running; it stays queued");
        return;
    }
    json_respond(r, 200, json_pack("{s:s, s:s, s:I}", "id", d->id, "command", d->command, "timeout_s",
                                   (json_int_t)d->timeout_s));
}

static const commit_spec_t dispatch_spec = {exec_apply_dispatch, exec_publish_dispatch, dispatch_respond,
                                            exec_dispatch_free};

/*
 * A woken long poll. h2o 2.2 stops reading an HTTP/1 connection while its
 * request is being handled, so it does not notice a long-polling agent that went away (agent
 * restarted, connection dropped with a FIN or RST): the request stays parked.
 * Handing it a command would mark the command running for nobody until it
 * times out. So before a woken poll takes a command, peek at the socket: an
 * end of stream means the agent is gone and the command goes back in front
 * of the queue (park_client_gone). (A peer that vanished without FIN/RST
 * cannot be seen; that command ends as timeout: delivery is at most once.)
 */
static void on_fetch_wake(park_t *p, hc_req_t *r, int reason, intptr_t value)
{
    fetch_t *f = park_data(p);
    if (reason == PARK_WOKEN && value != 0) {
        exec_dispatch_t *d = (exec_dispatch_t *)value;
        if (r == NULL || park_client_gone(r)) {
            exec_dispatch_free(d); /* the agent left: back in the queue, or to another parked poll */
            if (r != NULL)
                respond_204(r);
        } else {
            commit_submit(r, &dispatch_spec, d);
        }
    } else {
        if (reason != PARK_WOKEN)
            exec_queue_agent_forget(f->node_id, p);
        if (r != NULL)
            respond_204(r);
    }
    free(f);
}

void api_body_exec_fetch(hc_req_t *r)
{
    const char *node_id = r->auth.node_id;
    if (r->req->method.len == 4 && memcmp(r->req->method.base, "HEAD", 4) == 0) {
        /* HEAD would take a command and drop its body: a command is only handed out to GET */
        h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
        json_error(r, 405, "method_not_allowed", "fetch commands with GET");
        return;
    }
    int wait = parse_wait(r);
    if (wait < 0)
        return;
    int approved = 0;
    if (!node_lookup(node_id, &approved, NULL, 0)) {
        respond_204(r); /* deleted between auth and here */
        return;
    }
    park_t *p = NULL;
    if (wait > 0) {
        fetch_t *f = calloc(1, sizeof(*f));
        p = f ? park_start(r, (uint64_t)wait * 1000, on_fetch_wake, f) : NULL;
        if (p == NULL) {
            free(f);
            json_error(r, 500, "internal", "out of memory");
            return;
        }
        snprintf(f->node_id, sizeof(f->node_id), "%s", node_id);
    }
    /* a pending node is never handed a command, but its long poll is held
     * like any other so that it does not spin */
    exec_dispatch_t *d = NULL;
    int rc = exec_queue_take(node_id, approved, p, &d);
    if (p != NULL) {
        if (rc == 1)
            park_wake(p, (intptr_t)d); /* answered from the park callback */
        else if (rc < 0)
            park_wake(p, 0); /* could not register: answer 204 now */
        if (rc != 0)
            park_unref(p);
        /* rc == 0: the node's waiter list holds our reference */
        return;
    }
    if (rc == 1)
        commit_submit(r, &dispatch_spec, d);
    else if (rc < 0)
        json_error(r, 500, "internal", "out of memory");
    else
        respond_204(r);
}

/* ---- POST /api/v1/body/exec/result ---- */

static void report_respond(hc_req_t *r, int status, void *arg)
{
    exec_report_t *rep = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == EXEC_EALREADY) {
        exec_status_t now = rep->status;
        exec_queue_report_check(rep->node_id, rep->id, &now);
        json_respond(r, 200, json_pack("{s:s, s:s}", "id", rep->id, "status", exec_status_api(now)));
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the result could not be stored; report it again");
        return;
    }
    json_respond(r, 200, json_pack("{s:s, s:s, s:b}", "id", rep->id, "status", exec_status_api(rep->status),
                                   "truncated", rep->truncated));
}

static const commit_spec_t report_spec = {exec_apply_report, exec_publish_report, report_respond, exec_report_free};

/* a copy of s cut to max bytes on a UTF-8 boundary; sets *truncated when cut */
static char *cut_copy(const char *s, size_t len, size_t max, int *truncated)
{
    size_t n = exec_utf8_cut(s, len, max);
    if (n < len)
        *truncated = 1;
    char *c = malloc(n + 1);
    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

/* a string member of an exec result: the value, def when absent or unusable (counted) */
static const char *result_str(hc_req_t *r, const char *key, const char *def)
{
    json_t *v = json_object_get(r->body, key);
    if (v == NULL || json_is_null(v))
        return def;
    if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
        return json_string_value(v);
    agent_fields_invalid(AGENT_EP_EXEC_RESULT, r->auth.node_id, key, "not a string");
    return def;
}

/* an integer member: 1 found, 0 absent or unusable (counted) */
static int result_int(hc_req_t *r, const char *key, int64_t min, int64_t max, int64_t *out)
{
    char err[256];
    int rc = json_get_int(r->body, key, min, max, out, err, sizeof(err));
    if (rc < 0)
        agent_fields_invalid(AGENT_EP_EXEC_RESULT, r->auth.node_id, key, err);
    return rc > 0;
}

/* Read tolerantly (api/agent_fields.h): only a missing id is refused (there
 * is nothing to attach the result to); unknown members and unusable values
 * are ignored and counted, and a result without a usable exit_code or error
 * is recorded as failed, saying so. */
void api_body_exec_result(hc_req_t *r)
{
    static const char *const known[] = {"id", "exit_code", "stdout", "stderr", "duration_ms", "error", "truncated",
                                        NULL};
    agent_fields_unknown(AGENT_EP_EXEC_RESULT, r->auth.node_id, r->body, known);
    const char *id = result_str(r, "id", NULL), *out = result_str(r, "stdout", ""),
               *errout = result_str(r, "stderr", ""), *failure = result_str(r, "error", NULL);
    int64_t exit_code = 0, duration = 0;
    int has_exit = result_int(r, "exit_code", -2147483648LL, 4294967295LL, &exit_code);
    int has_duration = result_int(r, "duration_ms", 0, 1LL << 53, &duration);
    int agent_truncated = 0;
    char err[256];
    if (json_get_bool(r->body, "truncated", &agent_truncated, err, sizeof(err)) < 0) {
        agent_fields_invalid(AGENT_EP_EXEC_RESULT, r->auth.node_id, "truncated", "not a boolean");
        agent_truncated = 0;
    }
    if (id == NULL || id[0] == '\0' || strlen(id) >= EXEC_ID_MAX) {
        json_error(r, 400, "bad_request", "\"id\" is required: the id of the command this is the result of");
        return;
    }
    if (failure != NULL && failure[0] == '\0')
        failure = NULL;
    if (failure != NULL && strlen(failure) > EXEC_ERROR_MAX)
        failure = "the agent reported an error longer than this server keeps";
    if (!has_exit && failure == NULL)
        failure = "the agent's result carried no usable exit_code";
    exec_status_t status = EXEC_QUEUED;
    switch (exec_queue_report_check(r->auth.node_id, id, &status)) {
    case 0:
        break;
    case EXEC_ENOENT:
        json_error(r, 404, "not_found", "no command %s (unknown, or its result was pruned)", id);
        return;
    case EXEC_EFORBIDDEN:
        json_error(r, 403, "forbidden", "command %s belongs to another node", id);
        return;
    case EXEC_EALREADY:
        /* a repeat (or a late report after the timeout): accepted, nothing changes */
        json_respond(r, 200, json_pack("{s:s, s:s}", "id", id, "status", exec_status_api(status)));
        return;
    default:
        json_error(r, 409, "conflict", "command %s was never handed to this agent", id);
        return;
    }
    size_t max = (size_t)serve_config()->exec.max_output_bytes;
    exec_report_t *rep = calloc(1, sizeof(*rep));
    if (rep == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(rep->id, sizeof(rep->id), "%s", id);
    snprintf(rep->node_id, sizeof(rep->node_id), "%s", r->auth.node_id);
    rep->status = failure ? EXEC_FAILED : EXEC_DONE;
    rep->has_exit_code = has_exit == 1;
    rep->exit_code = exit_code;
    rep->has_duration = has_duration == 1;
    rep->duration_ms = duration;
    rep->truncated = agent_truncated;
    rep->finished_at = clock_now();
    rep->out = cut_copy(out, strlen(out), max, &rep->truncated);
    if (failure != NULL) {
        /* the reason a command could not run is kept in stderr, ahead of whatever the agent captured */
        size_t fl = strlen(failure), el = strlen(errout);
        char *joined = malloc(fl + el + 2);
        if (joined != NULL) {
            memcpy(joined, failure, fl);
            joined[fl] = el ? '\n' : '\0';
            memcpy(joined + fl + (el ? 1 : 0), errout, el);
            joined[fl + el + (el ? 1 : 0)] = '\0';
            rep->err = cut_copy(joined, strlen(joined), max, &rep->truncated);
            free(joined);
        }
    } else {
        rep->err = cut_copy(errout, strlen(errout), max, &rep->truncated);
    }
    if (rep->out == NULL || rep->err == NULL) {
        exec_report_free(rep);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    commit_submit(r, &report_spec, rep);
}
