/*
 * Interactive shell (docs/api.md "Shell"):
 *   Client: GET /api/v1/nodes/{id}/shell?cols=&rows=&command=   WebSocket (admin token or web session)
 *   Agent:  GET /api/v1/body/shell/check?wait=N                  {"session": null | {id, cols, rows, command}}
 *   Agent:  GET /api/v1/body/shell/{session_id}                  WebSocket (node token)
 *
 * Every check happens before the 101: the router's auth stage has run, and
 * a bad request gets the usual JSON error and no WebSocket. After the 101
 * the connection belongs to the relay (fleet/shell_relay.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "jsonio.h"
#include "login_sessions.h"
#include "park.h"
#include "registry.h"
#include "shell_session.h"
#include "ws.h"

#define SHELL_WAIT_MAX_S 55
#define SHELL_DIM_MAX 1000

/* 1 handshake ok (*key), 0 answered (not a WebSocket, or a bad one) */
static int handshake(hc_req_t *r, const char **key)
{
    int hs = ws_is_handshake(r, key);
    if (hs == 0) {
        h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
        json_error(r, 426, "websocket_required",
                   "this endpoint is a WebSocket: send an HTTP/1.1 GET with Upgrade: websocket");
        return 0;
    }
    if (hs < 0) {
        json_error(r, 400, "bad_handshake",
                   "bad WebSocket handshake: HTTP/1.1 GET with Sec-WebSocket-Version: 13 and a 24-character "
                   "Sec-WebSocket-Key");
        return 0;
    }
    return 1;
}

/* ?cols= / ?rows=: def when absent; -1 (answered 400) when not 1..SHELL_DIM_MAX */
static int parse_dim(hc_req_t *r, const char *name, int def)
{
    const char *v = route_query(r, name);
    if (v == NULL)
        return def;
    int n = 0;
    size_t i = 0;
    for (; v[i] >= '0' && v[i] <= '9' && i < 5; i++)
        n = n * 10 + (v[i] - '0');
    if (i == 0 || v[i] != '\0' || n < 1 || n > SHELL_DIM_MAX) {
        json_error(r, 400, "bad_request", "\"%s\" must be a whole number from 1 to %d", name, SHELL_DIM_MAX);
        return -1;
    }
    return n;
}

/* ---- GET /api/v1/nodes/{id}/shell (client) ---- */

void api_nodes_shell(hc_req_t *r)
{
    static const char *const allowed[] = {"cols", "rows", "command", NULL};
    char err[160];
    if (route_query_check(r, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    const char *id = route_param(r, "id");
    int cols = parse_dim(r, "cols", 80);
    if (cols < 0)
        return;
    int rows = parse_dim(r, "rows", 24);
    if (rows < 0)
        return;
    const char *command = route_query(r, "command");
    /* a NUL byte (%00) or broken UTF-8 in the query never gets here: the
     * router refuses it (bad_query) before any handler */
    if (command != NULL && (command[0] == '\0' || strlen(command) > SHELL_COMMAND_MAX)) {
        json_error(r, 400, "bad_request", "\"command\" must be 1 to %d bytes (leave it out for an interactive shell)",
                   SHELL_COMMAND_MAX);
        return;
    }
    /* a browser sends its cookie with a WebSocket from any page: the session
     * cookie counts only from this server's own pages */
    if (strncmp(r->auth.actor, "session:", 8) == 0 && login_session_origin_check(r) != 1) {
        json_error(r, 403, "forbidden", "a WebSocket with the session cookie must come from this server's own origin");
        return;
    }
    const char *key;
    if (!handshake(r, &key))
        return;
    int found = 0, approved = 0;
    lock_take_shared(&registry_nodes_lock);
    node_t *n = strlen(id) < NODE_ID_MAX ? registry_node_find(id) : NULL;
    if (n != NULL) {
        found = 1;
        approved = strcmp(n->approval, "approved") == 0;
    }
    lock_give(&registry_nodes_lock);
    if (!found) {
        json_error(r, 404, "not_found", "no node %s", id);
        return;
    }
    if (!approved) {
        json_error(r, 409, "not_approved", "node %s is not approved: it gets no shell", id);
        return;
    }
    int rc = 0;
    shell_session_t *s = shell_session_open(id, r->auth.actor, (unsigned)cols, (unsigned)rows, command, &rc);
    if (s == NULL) {
        if (rc == SHELL_ELIMIT)
            json_error(r, 429, "too_many_sessions",
                       "node %s has as many shell sessions as shell.max_sessions_per_node allows", id);
        else
            json_error(r, 500, "internal", "out of memory");
        return;
    }
    if (shell_client_attach(s, r, key) != 0) {
        shell_session_abandon(s);
        json_error(r, 500, "internal", "out of memory");
    }
}

/* ---- GET /api/v1/body/shell/{session_id} (agent) ---- */

void api_body_shell_connect(hc_req_t *r)
{
    const char *id = route_param(r, "session_id");
    const char *key;
    if (!handshake(r, &key))
        return;
    int rc = 0;
    shell_session_t *s = shell_session_find(r->auth.node_id, id, &rc);
    if (s == NULL) {
        if (rc == SHELL_EBUSY)
            json_error(r, 409, "conflict", "an agent is attached to shell session %s already", id);
        else
            json_error(r, 404, "not_found", "no shell session %s waits for this node (it ended or timed out)", id);
        return;
    }
    if (shell_agent_attach(s, r, key) != 0) {
        shell_session_unref(s);
        json_error(r, 409, "conflict", "shell session %s ended or has an agent already", id);
    }
}

/* ---- GET /api/v1/body/shell/check ---- */

static void respond_offer(hc_req_t *r, shell_offer_t *o)
{
    json_t *sess = o == NULL ? json_null()
                             : json_pack("{s:s, s:i, s:i, s:s?}", "id", o->id, "cols", (int)o->cols, "rows",
                                         (int)o->rows, "command", o->command);
    if (o != NULL && sess != NULL && o->command == NULL)
        json_object_set_new(sess, "command", json_null());
    json_respond(r, 200, json_pack("{s:o}", "session", sess));
}

typedef struct {
    char node_id[NODE_ID_MAX];
} check_t;

static void on_check_wake(park_t *p, hc_req_t *r, int reason, intptr_t value)
{
    check_t *c = park_data(p);
    shell_offer_t *o = (shell_offer_t *)value;
    if (reason == PARK_WOKEN && o != NULL) {
        if (r == NULL || park_client_gone(r)) { /* the agent left while parked */
            shell_offer_return(c->node_id, o); /* to the next check */
            o = NULL;
        }
    } else if (reason != PARK_WOKEN) {
        shell_check_forget(c->node_id, p);
    }
    if (r != NULL)
        respond_offer(r, o);
    shell_offer_free(o);
    free(c);
}

/* Agents are read tolerantly: other query parameters are ignored; only a
 * bad ?wait is refused, as on GET /api/v1/body/exec. */
void api_body_shell_check(hc_req_t *r)
{
    int wait = 0;
    const char *w = route_query(r, "wait");
    if (w != NULL) {
        size_t i = 0;
        for (; w[i] >= '0' && w[i] <= '9' && i < 3; i++)
            wait = wait * 10 + (w[i] - '0');
        if (i == 0 || w[i] != '\0' || wait > SHELL_WAIT_MAX_S) {
            json_error(r, 400, "bad_request", "\"wait\" must be a whole number of seconds from 0 to %d",
                       SHELL_WAIT_MAX_S);
            return;
        }
    }
    park_t *p = NULL;
    check_t *c = NULL;
    if (wait > 0) {
        c = calloc(1, sizeof(*c));
        p = c ? park_start(r, (uint64_t)wait * 1000, on_check_wake, c) : NULL;
        if (p == NULL) {
            free(c);
            json_error(r, 500, "internal", "out of memory");
            return;
        }
        snprintf(c->node_id, sizeof(c->node_id), "%s", r->auth.node_id);
    }
    shell_offer_t *o = NULL;
    int rc = shell_check_take(r->auth.node_id, p, &o);
    if (p != NULL) {
        if (rc == 1)
            park_wake(p, (intptr_t)o); /* answered from the park callback */
        else if (rc < 0)
            park_wake(p, 0);
        if (rc != 0)
            park_unref(p);
        return; /* rc == 0: the node's check list holds our reference */
    }
    if (rc < 0) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    respond_offer(r, o);
    shell_offer_free(o);
}
