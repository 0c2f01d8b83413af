/* GET /metrics: the Prometheus text exposition of server/metrics.c. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "jsonio.h"
#include "metrics.h"

void api_metrics_get(hc_req_t *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    metrics_render(f); /* built-in families, then the registered collectors (exec) */
    fclose(f);
    h2o_req_t *req = r->req;
    h2o_iovec_t body = h2o_strdup(&req->pool, buf, len);
    free(buf);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_send_inline(req, body.base, body.len);
}
