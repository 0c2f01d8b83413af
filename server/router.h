/*
 * Routing: the route table (server/routes.c) maps method + path pattern to a
 * handler, a credential kind and limits. One h2o handler receives every
 * request on a worker thread, matches it, and runs the middleware stages
 * (request id, access log, limits, auth) in front of the route's handler.
 *
 * Threading: everything here runs on the worker thread that accepted the
 * request. An hc_req_t lives in the request's h2o pool; nothing to free.
 */
#ifndef HC_ROUTER_H
#define HC_ROUTER_H

#include <h2o.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct worker;

typedef enum {
    AUTH_NONE = 0,      /* open */
    AUTH_ADMIN,         /* admin token (config or minted) or admin browser session */
    AUTH_NODE,          /* a node's own token */
    AUTH_ADMIN_OR_NODE, /* admin, or the node token of the node named by {id} */
    AUTH_FLEET,         /* the fleet enrollment token (iPad self-registration only) */
    AUTH_ENROLLMENT,    /* a one-time enrollment token inside the body; the handler checks it */
    AUTH_METRICS,       /* admin, or open when server.metrics_public */
    AUTH_ADMIN_OR_ANY_NODE, /* admin, or any node token (the handler decides what that node may see) */
} auth_kind_t;

/* what the auth stage established */
typedef enum { CRED_NONE = 0, CRED_ADMIN, CRED_NODE, CRED_FLEET, CRED_METRICS } cred_t;

#define ROUTE_JSON_BODY 0x1     /* body must be a JSON object (400/415 otherwise) */
#define ROUTE_JSON_OPTIONAL 0x2 /* like JSON_BODY, but an empty body is allowed */
#define ROUTE_NO_ACCESS_LOG 0x4 /* e.g. /metrics scrapes: counted, not logged */
#define ROUTE_AGENT_SEEN 0x8    /* an agent's report: its node token refreshes last_seen even when the body is refused */

#define ROUTE_DEFAULT_BODY_LIMIT (1024 * 1024)
#define ROUTE_MAX_PARAMS 4
#define JSON_MAX_DEPTH 32

typedef struct hc_req hc_req_t;
typedef void (*route_handler_fn)(hc_req_t *r);

typedef struct route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/v1/nodes/{id}/exec/{execId}/result"; a trailing "{*path}" matches the rest.
                            A capture is a whole segment (server/route_match.c refuses the table otherwise) */
    route_handler_fn handler;
    auth_kind_t auth;
    size_t body_limit; /* 0 = ROUTE_DEFAULT_BODY_LIMIT */
    unsigned flags;
    const char *summary;
} route_t;

struct hc_req {
    h2o_req_t *req;
    const route_t *route;
    struct worker *worker;
    h2o_iovec_t params[ROUTE_MAX_PARAMS];
    const char *param_names[ROUTE_MAX_PARAMS];
    size_t nparams;
    size_t stage; /* next middleware stage */
    char request_id[48];
    uint64_t start_us;
    json_t *body; /* parsed body (ROUTE_JSON_*), released with the request */
    int body_refused; /* HTTP/1 body refused from the headers, not read: 401, 413 or 404 (middleware/prebody.c) */
    struct {
        cred_t cred;
        char node_id[64]; /* CRED_NODE: which node */
        char actor[80];   /* for the audit log: "admin:config", "admin:<id>", "session:<id>", "node:<id>", "fleet" */
    } auth;
    char client_ip[64]; /* peer address, or X-Forwarded-For from a trusted proxy */
    const char *scheme; /* "https" on a TLS connection, or X-Forwarded-Proto (http/https) from a
                           trusted proxy, else "http" (static string) */
    /* called first when h2o disposes of the request (the access line: set by
     * mw_access_log); the request's own dispose hook, so that no second
     * shared allocation (a malloc and a free) is made per request */
    void (*on_dispose)(hc_req_t *r);
};

/* The table: routes.c. */
extern const route_t route_table[];
extern const size_t route_table_count;

/* Registers the dispatching handler on pathconf. */
void router_register(h2o_pathconf_t *pathconf);
/* Registers the filter that answers h2o's own errors (on host's fallback
 * path: before a request is routed) as JSON. Main thread, at start. */
void router_register_fallback(h2o_hostconf_t *host);

/* Builds the route index from the table (main thread, at start: a pattern
 * the index cannot hold stops the program there); router_match builds it on
 * first use otherwise. */
void router_index_build(void);
/* Matching (server/route_match.c; exposed for tests): returns the route for method+path, or NULL
 * with *allow filled ("GET, POST") when the path exists under other methods
 * (405), or NULL with allow[0] == 0 (404). Captures go to r (may be NULL). */
const route_t *router_match(const char *method, size_t mlen, const char *path, size_t plen, hc_req_t *r, char *allow,
                            size_t allowlen);

/* A path capture by name, NUL-terminated in the request pool; NULL when absent. */
const char *route_param(hc_req_t *r, const char *name);
/* A query parameter by name (percent-decoded, in the pool); NULL when absent. */
const char *route_query(hc_req_t *r, const char *name);
/* Rejects query parameters whose name is not in the NULL-terminated list, or
 * that appear twice: 0 ok, -1 with err naming the parameter. */
int route_query_check(hc_req_t *r, const char *const *allowed, char *err, size_t errlen);

/* 1 when [s, s+len) is valid UTF-8 without a NUL byte (what the router
 * demands of a decoded path and of query names and values). */
int router_text_is_clean(const char *s, size_t len);
/* A printable copy of at most max bytes of [s, s+len) in pool: valid UTF-8
 * is kept, any other byte (and control bytes) become %XX. NUL-terminated. */
const char *router_text_sanitize(h2o_mem_pool_t *pool, const char *s, size_t len, size_t max);

/* Middleware: each stage calls router_next(r) to run the next one (and,
 * after the last, the handler), or answers itself and returns. */
typedef void (*middleware_fn)(hc_req_t *r);
void router_next(hc_req_t *r);

/* The watchdog's view of what a worker is doing: router_busy marks the
 * calling worker as running code for r (its route once matched, else
 * "(before routing)"), router_idle clears it. The router does this around
 * every stage and park.c around park callbacks; a worker stuck in between
 * is reported with that route. Worker thread; no-ops elsewhere. */
void router_busy(hc_req_t *r);
void router_idle(void);
#ifdef HC_TESTING
/* 1 when HC_TEST_ALLOW_STALL is set: the watchdog test's stall switches */
int router_testing_stalls_allowed(void);
#endif

/* Prints the table (`hydracluster routes`). */
void router_print_table(FILE *out);

const char *auth_kind_name(auth_kind_t k);

#endif
