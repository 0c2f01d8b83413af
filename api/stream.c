/*
 * DELETE /api/v1/nodes/{id}/stream: stop a body's stream.
 *
 * 1. The node's stream_status becomes "idle" at once, durably (nodes row and
 *    registry), whatever happens next; audited as node.stream_stop.
 * 2. streams.stop_command is queued on the body through the exec queue
 *    (exec_queue_submit_internal) and the request parks, without blocking
 *    the worker, for up to streams.stop_timeout.
 * 3. The answer says whether the stop reached the body: "exec succeeded"
 *    (exit code 0, with its stdout), "exec failed" (non-zero exit, could not
 *    run, node not approved...), or "exec timed out" (no result in time; a
 *    command the agent had not picked up by then is canceled).
 * A heartbeat that later reports "streaming" sets the state again, as usual.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "clock.h"
#include "commit.h"
#include "events.h"
#include "exec_queue.h"
#include "jsonio.h"
#include "log.h"
#include "registry.h"
#include "serve.h"
#include "stream_sessions.h"

typedef struct {
    char node_id[NODE_ID_MAX];
    char actor[EXEC_ACTOR_MAX];
    json_t *ended; /* set by apply: the sessions it ended (stream_stopped) */
} stream_stop_t;

static int stop_apply(sqlite3 *db, void *arg)
{
    stream_stop_t *s = arg;
    sqlite3_stmt *st = store_prepare(db, "UPDATE nodes SET stream_status = 'idle' WHERE id = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, s->node_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(db) != 1)
        return EXEC_ENOENT;
    if (stream_sessions_end_node_apply(db, s->node_id, SS_STREAM_STOPPED, s->ended) != 0)
        return -1;
    json_t *d = json_pack("{s:s}", "actor", s->actor);
    rc = store_audit_append(db, s->actor, "node.stream_stop", s->node_id, NULL);
    if (rc == 0)
        rc = store_node_event_append(db, s->node_id, clock_now(), "stream_stop", d);
    json_decref(d);
    return rc;
}

static void stop_publish(void *arg)
{
    stream_stop_t *s = arg;
    lock_take(&registry_nodes_lock);
    node_t *n = registry_node_find(s->node_id);
    if (n != NULL)
        if (intern_set(&n->stream_status, "idle") != 0)
            log_error("msg=\"out of memory clearing the stream state of %s in memory\"", s->node_id);
    lock_give(&registry_nodes_lock);
    stream_sessions_end_node_publish(s->node_id, SS_STREAM_STOPPED, s->ended, 0);
}

static void on_stop_result(hc_req_t *r, int outcome, const exec_result_t *res, void *data)
{
    (void)data;
    if (r == NULL)
        return;
    const char *verdict = "exec failed";
    if (outcome == EXEC_INTERNAL_FINISHED) {
        if (res->status == EXEC_DONE && res->has_exit_code && res->exit_code == 0)
            verdict = "exec succeeded";
        else if (res->status == EXEC_TIMEOUT)
            verdict = "exec timed out";
    } else if (outcome == EXEC_INTERNAL_WAIT_ENDED) {
        verdict = "exec timed out";
    }
    /* the agent's echo ends in one newline (CRLF on Windows); the runbooks
     * expect "output":"{\"status\":\"ok\"}", so exactly one is trimmed */
    const char *out = res->out ? res->out : "";
    size_t len = strlen(out);
    if (len >= 2 && out[len - 2] == '\r' && out[len - 1] == '\n')
        len -= 2;
    else if (len >= 1 && out[len - 1] == '\n')
        len -= 1;
    json_t *o = json_pack("{s:s, s:s, s:s%}", "status", "ok", "exec", verdict, "output", out, len);
    if (o != NULL && (outcome == EXEC_INTERNAL_FINISHED || outcome == EXEC_INTERNAL_WAIT_ENDED)) {
        json_object_set_new(o, "exec_id", json_string(res->id));
        json_object_set_new(o, "exec_status", json_string(exec_status_api(res->status)));
    }
    json_respond(r, 200, o);
}

static void stop_respond(hc_req_t *r, int status, void *arg)
{
    stream_stop_t *s = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status == EXEC_ENOENT) {
        json_error(r, 404, "not_found", "no node %s", s->node_id);
        return;
    }
    if (status != 0) {
        json_error(r, 500, "store_error", "the stream state could not be stored");
        return;
    }
    const hc_config_t *cfg = serve_config();
    uint64_t wait_ms = cfg->streams.stop_timeout_ms;
    int64_t timeout_s = (int64_t)((wait_ms + 999) / 1000);
    exec_queue_submit_internal(r, s->node_id, cfg->streams.stop_command, timeout_s, s->actor, "stream.stop", wait_ms,
                               on_stop_result, NULL);
}

static void stop_free(void *arg)
{
    stream_stop_t *s = arg;
    json_decref(s->ended);
    free(s);
}

static const commit_spec_t stop_spec = {stop_apply, stop_publish, stop_respond, stop_free};

void api_nodes_stream_stop(hc_req_t *r)
{
    const char *id = route_param(r, "id");
    if (strlen(id) >= NODE_ID_MAX) {
        json_error(r, 404, "not_found", "no such node");
        return;
    }
    stream_stop_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->ended = json_array()) == NULL) {
        free(s);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(s->node_id, sizeof(s->node_id), "%s", id);
    snprintf(s->actor, sizeof(s->actor), "%s", r->auth.actor);
    commit_submit(r, &stop_spec, s);
}
