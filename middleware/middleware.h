/*
 * The stages in front of every handler, in order (router.c runs them):
 *   request_id -> access_log -> (framing, route resolution) -> auth -> limits -> handler
 * (credentials come from the headers, so an anonymous body is never parsed)
 * Each stage answers itself or calls router_next(r). A stage never holds a
 * lock when it calls router_next (the router checks: lock_assert_none_held).
 * Worker thread only.
 */
#ifndef HC_MIDDLEWARE_H
#define HC_MIDDLEWARE_H

#include "router.h"

/* X-Request-Id: a caller's (if sane: 1..40 of [A-Za-z0-9._-]) or a new one; echoed in the response */
void mw_request_id(hc_req_t *r);
/* one logfmt line per request when it is done; request metrics */
void mw_access_log(hc_req_t *r);
/* body size (413), content type (415), JSON parse (400) per the route's flags */
void mw_limits(hc_req_t *r);
/* the route's credential kind (401/403) */
void mw_auth(hc_req_t *r);
/* server.metrics_token's hash (NULL: none); main thread, before the workers start */
void auth_set_metrics_token(const uint8_t *hash);
/* The token of an Authorization header value ("Bearer <token>", the scheme
 * in any case, spaces around the token dropped), borrowed from v; its base
 * is NULL when the value is not a bearer credential at all, its length 0
 * (base set) when the token is empty. */
h2o_iovec_t auth_bearer_token(const char *v, size_t len);

/* HTTP/1 requests refused from their headers before h2o read their body
 * (middleware/prebody.c) reach the router with this header in place of
 * their Content-Length / Transfer-Encoding, its value the status: "401",
 * "413" or "404". */
#define PREBODY_HEADER "x-hc-body-refused"
/* Main thread, once at start (serve): turns the header check on. */
void prebody_enable(void);

/* Sets r->client_ip and r->scheme from the connection, believing X-Forwarded-For/-Proto only from server.trusted_proxies (run by mw_request_id). */
void mw_client_ip_resolve(hc_req_t *r);

#endif
