/* Body size, content type and JSON shape, per the route's declaration. */
#include <string.h>
#include <strings.h>

#include "jsonio.h"
#include "middleware.h"

static int is_json_content_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;
    if (v.len < n || strncasecmp(v.base, want, n) != 0)
        return 0;
    /* parameters (charset=utf-8) may follow */
    return v.len == n || v.base[n] == ';' || v.base[n] == ' ';
}

void mw_limits(hc_req_t *r)
{
    h2o_req_t *req = r->req;
    const route_t *rt = r->route;
    size_t limit = rt->body_limit ? rt->body_limit : ROUTE_DEFAULT_BODY_LIMIT;
    if (r->body_refused == 413) {
        json_error(r, 413, "body_too_large", "the declared request body is over this endpoint's limit of %zu bytes",
                   limit);
        return;
    }
    if (r->body_refused != 0) {
        /* refused before its body was read, and the body is not here: never run the handler without it */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
        json_error(r, 401, "unauthorized", "missing or invalid credentials");
        return;
    }
    if (req->entity.base != NULL && req->entity.len > limit) {
        json_error(r, 413, "body_too_large", "the request body is %zu bytes; this endpoint takes at most %zu",
                   req->entity.len, limit);
        return;
    }
    if (rt->flags & (ROUTE_JSON_BODY | ROUTE_JSON_OPTIONAL)) {
        size_t len = req->entity.base ? req->entity.len : 0;
        if (len == 0) {
            if (!(rt->flags & ROUTE_JSON_OPTIONAL)) {
                json_error(r, 400, "body_required", "this endpoint needs a JSON object body");
                return;
            }
        } else {
            if (!is_json_content_type(req)) {
                json_error(r, 415, "unsupported_media_type", "send the body as Content-Type: application/json");
                return;
            }
            char err[256];
            r->body = json_parse_body(req->entity.base, len, err, sizeof(err));
            if (r->body == NULL) {
                json_error(r, 400, "bad_json", "%s", err);
                return;
            }
        }
    }
    router_next(r);
}
