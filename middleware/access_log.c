/* One logfmt line per request when h2o disposes of it (after the response,
 * however it was produced: at once, after a park, or never because the client
 * left). Paths are logged without the query string; never a header. The line
 * ends with the request line as req="GET /api/v1/body/shell/check", the form
 * the runbooks grep the journal for. */
#include <stdio.h>

#include "clock.h"
#include "conn_guard.h"
#include "log.h"
#include "metrics.h"
#include "middleware.h"

static void on_done(void *p)
{
    hc_req_t *r = *(hc_req_t **)p;
    h2o_req_t *req = r->req;
    uint64_t dur_us = clock_mono_us() - r->start_us;
    int status = req->res.status;
    metrics_request_observe(r->route, req->method.base, req->method.len, status, dur_us);
    if (r->route != NULL && (r->route->flags & ROUTE_NO_ACCESS_LOG))
        return;
    /* a stream reset flood would otherwise write a line per stream: counted
     * in /metrics (hydracluster_http2_client_resets_total) instead */
    if (conn_guard_h2_was_reset(req))
        return;
    char path[512], ip[80], line[560];
    char tmp[256], tmpline[300];
    snprintf(tmp, sizeof(tmp), "%.*s", (int)req->path_normalized.len, req->path_normalized.base);
    log_quote(path, sizeof(path), tmp);
    log_quote(ip, sizeof(ip), r->client_ip);
    snprintf(tmpline, sizeof(tmpline), "%.*s %s", (int)(req->method.len < 32 ? req->method.len : 32), req->method.base,
             tmp);
    log_quote(line, sizeof(line), tmpline);
    log_write(status >= 500 ? LOG_ERROR : LOG_INFO,
              "method=%.*s path=%s status=%d dur_ms=%.1f rid=%s ip=%s scheme=%s cred=%s req=%s", (int)req->method.len,
              req->method.base, path, status, dur_us / 1000.0, r->request_id, ip, r->scheme,
              r->auth.cred == CRED_ADMIN ? "admin" : r->auth.cred == CRED_NODE ? "node"
                                                  : r->auth.cred == CRED_FLEET ? "fleet" : "none",
              line);
}

void mw_access_log(hc_req_t *r)
{
    hc_req_t **slot = h2o_mem_alloc_shared(&r->req->pool, sizeof(*slot), on_done);
    *slot = r;
    router_next(r);
}
