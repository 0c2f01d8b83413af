#include "jsonio.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const h2o_iovec_t json_ct = {H2O_STRLIT("application/json")};

const char *json_http_reason(int status)
{
    /* the statuses this server answers with; clients log the phrase */
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    }
    return "";
}

void json_respond_raw(h2o_req_t *req, int status, json_t *obj)
{
    size_t len = json_dumpb(obj, NULL, 0, JSON_COMPACT);
    char *buf = h2o_mem_alloc_pool(&req->pool, len + 1);
    json_dumpb(obj, buf, len, JSON_COMPACT);
    buf[len++] = '\n';
    json_decref(obj);
    req->res.status = status;
    req->res.reason = json_http_reason(req->res.status);
    /* A known length keeps the connection alive: without it h2o 2.2 falls
     * back to chunked encoding for 200 and closes the connection after any
     * other status (lib/handler/chunked.c), so every 201 or 4xx would cost
     * the client a new connection (and a TLS handshake). */
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, json_ct.base, json_ct.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, buf, len);
}

void json_respond_text(hc_req_t *r, int status, const char *json, size_t len)
{
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = json_http_reason(req->res.status);
    req->res.content_length = len; /* keeps the connection alive: see json_respond_raw */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, json_ct.base, json_ct.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, json, len);
}

void json_respond(hc_req_t *r, int status, json_t *obj)
{
    json_respond_raw(r->req, status, obj);
}

void json_error_raw(h2o_req_t *req, int status, const char *code, const char *msg)
{
    json_t *o = json_pack("{s:s, s:s}", "error", msg, "code", code);
    if (o == NULL) /* not UTF-8 (an echoed input, or a sequence cut by the message buffer): say it in %XX */
        o = json_pack("{s:s, s:s}", "error", router_text_sanitize(&req->pool, msg, strlen(msg), 1024), "code", code);
    if (o == NULL) {
        /* only on allocation failure: answer without JSON machinery */
        static const char oom[] = "{\"error\":\"out of memory\",\"code\":\"internal\"}\n";
        req->res.status = 500;
        req->res.reason = json_http_reason(req->res.status);
        req->res.content_length = sizeof(oom) - 1;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
        h2o_send_inline(req, oom, sizeof(oom) - 1);
        return;
    }
    json_respond_raw(req, status, o);
}

void json_error(hc_req_t *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_error_raw(r->req, status, code, msg);
}

static int depth_ok(json_t *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c) if (!depth_ok(c, depth + 1)) return 0;
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) if (!depth_ok(c, depth + 1)) return 0;
    }
    return 1;
}

json_t *json_parse_body(const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (v == NULL) {
        snprintf(err, errlen, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    if (!depth_ok(v, 1)) {
        json_decref(v);
        snprintf(err, errlen, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
        return NULL;
    }
    return v;
}

int json_get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v)) {
        snprintf(err, errlen, "\"%s\" must be an integer", key);
        return -1;
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        snprintf(err, errlen, "\"%s\" must be between %lld and %lld", key, (long long)min, (long long)max);
        return -1;
    }
    *out = i;
    return 1;
}

int json_get_str(json_t *obj, const char *key, size_t maxlen, const char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "\"%s\" must be a string", key);
        return -1;
    }
    if (json_string_length(v) > maxlen) {
        snprintf(err, errlen, "\"%s\" is longer than %zu bytes", key, maxlen);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int json_text_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

int json_get_name(json_t *obj, const char *key, size_t maxlen, const char **out, char *err, size_t errlen)
{
    int rc = json_get_str(obj, key, maxlen, out, err, errlen);
    if (rc > 0 && !json_text_ok(*out)) {
        snprintf(err, errlen, "\"%s\" must not contain control characters", key);
        return -1;
    }
    return rc;
}

int json_get_bool(json_t *obj, const char *key, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "\"%s\" must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

int json_check_keys(json_t *obj, const char *const *allowed, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i;
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], k) == 0)
                break;
        if (allowed[i] == NULL) {
            snprintf(err, errlen, "unknown field \"%s\"", k);
            return -1;
        }
    }
    return 0;
}
