/* One logfmt line per request when h2o disposes of it (after the response,
 * however it was produced: at once, after a park, or never because the client
 * left). Paths are logged without the query string; never a header. The line
 * ends with the request line as req="GET /api/v1/body/shell/check", the form
 * the runbooks grep the journal for. */
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "conn_guard.h"
#include "log.h"
#include "metrics.h"
#include "middleware.h"

/* appends what fits of [s, s+len) at *o in buf (cap bytes, one kept for the NUL) */
static void put(char *buf, size_t cap, size_t *o, const char *s, size_t len)
{
    if (len > cap - 1 - *o)
        len = cap - 1 - *o;
    if (len == 0)
        return; /* s may be NULL then */
    memcpy(buf + *o, s, len);
    *o += len;
}

static void put_uint(char *buf, size_t cap, size_t *o, uint64_t v)
{
    char d[24];
    size_t n = sizeof(d);
    do {
        d[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    put(buf, cap, o, d + n, sizeof(d) - n);
}

/* The quoted value of req= ("METHOD path", at most 32 + 1 + 255 bytes, so
 * never cut at 560): when the path went out as it is and the method needs
 * no escape either, it is the two between quotes, without a second scan of
 * the path; else log_quote_n of the joined text decides. */
static size_t req_value(char *buf, size_t buflen, const char *method, size_t mlen, const char *path, size_t plen,
                        int path_verbatim)
{
    int plain = path_verbatim;
    for (size_t i = 0; plain && i < mlen; i++) {
        unsigned char c = (unsigned char)method[i];
        plain = c >= ' ' && c != 0x7f && c != '"' && c != '\\';
    }
    char line[300];
    size_t tl = 0;
    if (plain && mlen + plen + 4 <= buflen) {
        buf[tl++] = '"';
        put(buf, buflen, &tl, method, mlen);
        buf[tl++] = ' ';
        put(buf, buflen, &tl, path, plen);
        buf[tl++] = '"';
        buf[tl] = '\0';
        return tl;
    }
    put(line, sizeof(line), &tl, method, mlen);
    put(line, sizeof(line), &tl, " ", 1);
    put(line, sizeof(line), &tl, path, plen);
    return log_quote_n(buf, buflen, line, tl);
}

static void on_done(hc_req_t *r)
{
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
    /* "method=… path=… status=… dur_ms=… rid=… ip=… scheme=… cred=… req=…",
     * built without printf (it runs for every request: vfprintf was the
     * largest user-space item of a node read's profile). The path is cut at
     * 255 bytes (and at a NUL), the method in req= at 32. */
    size_t plen = req->path_normalized.len < 255 ? req->path_normalized.len : 255;
    const char *nul = plen > 0 ? memchr(req->path_normalized.base, '\0', plen) : NULL;
    if (nul != NULL)
        plen = (size_t)(nul - req->path_normalized.base);
    size_t mlen = req->method.len;
    const char *mnul = mlen > 0 ? memchr(req->method.base, '\0', mlen) : NULL;
    if (mnul != NULL)
        mlen = (size_t)(mnul - req->method.base);
    char pairs[1600];
    size_t o = 0;
    const size_t cap = sizeof(pairs);
    put(pairs, cap, &o, "method=", 7);
    put(pairs, cap, &o, req->method.base, mlen < 256 ? mlen : 256);
    put(pairs, cap, &o, " path=", 6);
    int path_verbatim = 0;
    if (o + 512 < cap)
        o += log_quote_nv(pairs + o, 512, req->path_normalized.base, plen, &path_verbatim);
    put(pairs, cap, &o, " status=", 8);
    if (status < 0)
        put(pairs, cap, &o, "-", 1);
    put_uint(pairs, cap, &o, (uint64_t)(status < 0 ? -(int64_t)status : status));
    /* one decimal, rounded half up */
    uint64_t tenths = (dur_us + 50) / 100;
    put(pairs, cap, &o, " dur_ms=", 8);
    put_uint(pairs, cap, &o, tenths / 10);
    put(pairs, cap, &o, ".", 1);
    put_uint(pairs, cap, &o, tenths % 10);
    put(pairs, cap, &o, " rid=", 5);
    put(pairs, cap, &o, r->request_id, strlen(r->request_id));
    put(pairs, cap, &o, " ip=", 4);
    if (o + 80 < cap)
        o += log_quote_n(pairs + o, 80, r->client_ip, strlen(r->client_ip));
    put(pairs, cap, &o, " scheme=", 8);
    put(pairs, cap, &o, r->scheme, strlen(r->scheme));
    const char *cred = r->auth.cred == CRED_ADMIN ? "admin"
                       : r->auth.cred == CRED_NODE  ? "node"
                       : r->auth.cred == CRED_FLEET ? "fleet"
                                                    : "none";
    put(pairs, cap, &o, " cred=", 6);
    put(pairs, cap, &o, cred, strlen(cred));
    put(pairs, cap, &o, " req=", 5);
    if (o + 560 < cap)
        o += req_value(pairs + o, 560, req->method.base, mlen < 32 ? mlen : 32, req->path_normalized.base, plen,
                       path_verbatim);
    pairs[o] = '\0';
    log_write_pairs(status >= 500 ? LOG_ERROR : LOG_INFO, pairs, o);
}

void mw_access_log(hc_req_t *r)
{
    r->on_dispose = on_done;
    router_next(r);
}
