#include "router.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "conn_guard.h"
#include "jsonio.h"
#include "lock.h"
#include "middleware.h"
#include "workers.h"

static void stage_framing(hc_req_t *r);
static void stage_route(hc_req_t *r);
static void stage_handler(hc_req_t *r);

static const struct {
    const char *name;
    middleware_fn fn;
} stages[] = {
    {"request_id", mw_request_id}, {"access_log", mw_access_log}, {"framing", stage_framing}, {"route", stage_route},
    /* credentials (from the headers) before the body is looked at: an
     * anonymous client never gets a body parsed */
    {"auth", mw_auth},             {"limits", mw_limits},         {"handler", stage_handler},
};

const char *auth_kind_name(auth_kind_t k)
{
    switch (k) {
    case AUTH_NONE:
        return "none";
    case AUTH_ADMIN:
        return "admin";
    case AUTH_NODE:
        return "node";
    case AUTH_ADMIN_OR_NODE:
        return "admin or node";
    case AUTH_FLEET:
        return "fleet enrollment";
    case AUTH_ENROLLMENT:
        return "enrollment (one-time)";
    case AUTH_METRICS:
        return "admin or metrics token (or open)";
    case AUTH_ADMIN_OR_ANY_NODE:
        return "admin or node";
    }
    return "?";
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when it is
 * not one: no overlongs, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int router_text_is_clean(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (size_t i = 0; i < len;) {
        /* plain ASCII without NUL eight bytes at a time (a path is mostly
         * that): a word with a zero byte or a byte from 0x80 up goes to the
         * byte-wise check below */
        while (len - i >= 8) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if ((((w - ones) & ~w) | w) & highs)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        if (u[i] == 0)
            return 0;
        size_t n = utf8_seq_len(u + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

const char *router_text_sanitize(h2o_mem_pool_t *pool, const char *s, size_t len, size_t max)
{
    static const char hexdig[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    if (len > max)
        len = max;
    char *out = h2o_mem_alloc_pool(pool, len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = (u[i] < 0x20 || u[i] == 0x7f) ? 0 : utf8_seq_len(u + i, len - i);
        if (n == 0) {
            out[o++] = '%';
            out[o++] = hexdig[u[i] >> 4];
            out[o++] = hexdig[u[i] & 15];
            i++;
            continue;
        }
        memcpy(out + o, u + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* percent-decodes [s, s+len) into the pool; '+' is a space (form encoding) */
static const char *query_decode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    char *out = h2o_mem_alloc_pool(pool, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* how many bytes query_decode makes of [s, s+len) */
static size_t decoded_len(const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++, o++)
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0)
            i += 2;
    return o;
}

const char *route_query(hc_req_t *r, const char *name)
{
    h2o_req_t *req = r->req;
    if (req->query_at == SIZE_MAX)
        return NULL;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nlen = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pend = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        const char *kend = eq ? eq : pend;
        if ((size_t)(kend - q) == nlen && memcmp(q, name, nlen) == 0)
            return eq ? query_decode(&req->pool, eq + 1, (size_t)(pend - eq - 1)) : "";
        q = pend + 1;
    }
    return NULL;
}

int route_query_check(hc_req_t *r, const char *const *allowed, char *err, size_t errlen)
{
    h2o_req_t *req = r->req;
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    unsigned seen = 0; /* bit i: allowed[i] was given */
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pend = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        size_t klen = (size_t)((eq ? eq : pend) - q);
        if (klen > 0) {
            size_t i;
            for (i = 0; allowed[i] != NULL; i++)
                if (strlen(allowed[i]) == klen && memcmp(allowed[i], q, klen) == 0)
                    break;
            if (allowed[i] == NULL) {
                snprintf(err, errlen, "unknown query parameter \"%.*s\"", (int)(klen > 64 ? 64 : klen), q);
                return -1;
            }
            if (i < 32 && (seen & (1u << i))) {
                snprintf(err, errlen, "query parameter \"%s\" given twice", allowed[i]);
                return -1;
            }
            if (i < 32)
                seen |= 1u << i;
        }
        q = pend + 1;
    }
    return 0;
}

/* Every query name and value decodes to clean text (no NUL, valid UTF-8),
 * so no handler ever sees one that is not. -1 with the bad
 * parameter's name (sanitised) in err. */
static int query_is_clean(hc_req_t *r, char *err, size_t errlen)
{
    h2o_req_t *req = r->req;
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pend = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        const char *kend = eq ? eq : pend;
        const char *key = query_decode(&req->pool, q, (size_t)(kend - q));
        const char *val = eq ? query_decode(&req->pool, eq + 1, (size_t)(pend - eq - 1)) : "";
        /* the decoded length tells a %00 apart from the end of the string */
        size_t klen = decoded_len(q, (size_t)(kend - q)), vlen = eq ? decoded_len(eq + 1, (size_t)(pend - eq - 1)) : 0;
        if (!router_text_is_clean(key, klen) || !router_text_is_clean(val, vlen)) {
            snprintf(err, errlen, "query parameter \"%s\" is not valid UTF-8 text (a NUL byte, or a broken "
                                  "sequence): \"%s\"",
                     router_text_sanitize(&req->pool, key, klen, 64), router_text_sanitize(&req->pool, val, vlen, 64));
            return -1;
        }
        q = pend + 1;
    }
    return 0;
}

void router_next(hc_req_t *r)
{
    size_t i = r->stage++;
    if (i >= sizeof(stages) / sizeof(stages[0]))
        return;
    lock_assert_none_held(stages[i].name);
    stages[i].fn(r);
}

static void stage_route(hc_req_t *r)
{
    h2o_req_t *req = r->req;
    char allow[128];
    /* h2o has percent-decoded the path: refuse NUL and broken UTF-8 here,
     * once, so that no id, name or file path carries them (what else a
     * name may hold is the handlers' rule) */
    if (!router_text_is_clean(req->path_normalized.base, req->path_normalized.len)) {
        json_error(r, 400, "bad_path", "the path is not valid UTF-8 text (a NUL byte, or a broken sequence): %s",
                   router_text_sanitize(&req->pool, req->path_normalized.base, req->path_normalized.len, 200));
        return;
    }
    char qerr[400];
    if (query_is_clean(r, qerr, sizeof(qerr)) != 0) {
        json_error(r, 400, "bad_query", "%s", qerr);
        return;
    }
    r->route = router_match(req->method.base, req->method.len, req->path_normalized.base, req->path_normalized.len, r,
                            allow, sizeof(allow));
    if (r->route == NULL) {
        if (allow[0] != '\0') {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, h2o_strdup(&req->pool, allow, SIZE_MAX).base,
                           strlen(allow));
            json_error(r, 405, "method_not_allowed", "%.*s is not allowed on %.*s (allowed: %s)", (int)req->method.len,
                       req->method.base, (int)req->path_normalized.len, req->path_normalized.base, allow);
        } else {
            json_error(r, 404, "not_found", "no such endpoint: %.*s", (int)req->path_normalized.len,
                       req->path_normalized.base);
        }
        return;
    }
    router_busy(r);
    router_next(r);
}

void router_busy(hc_req_t *r)
{
    worker_t *w = worker_current();
    if (w == NULL)
        return;
    if (r != NULL && r->route != NULL) {
        atomic_store_explicit(&w->current_method, r->route->method, memory_order_relaxed);
        atomic_store_explicit(&w->current_route, r->route->pattern, memory_order_release);
    } else {
        atomic_store_explicit(&w->current_method, "", memory_order_relaxed);
        atomic_store_explicit(&w->current_route, "(before routing)", memory_order_release);
    }
}

void router_idle(void)
{
    worker_t *w = worker_current();
    if (w != NULL)
        atomic_store_explicit(&w->current_route, NULL, memory_order_release);
}

#ifdef HC_TESTING
/* Test-only fault injection for the watchdog test: with HC_TEST_ALLOW_STALL
 * in the server's environment, a request carrying "X-HC-Test-Stall: N"
 * blocks its worker for N seconds inside the handler stage (as a wedged
 * handler would). Compiled only with -Dtesting=true. */
int router_testing_stalls_allowed(void)
{
    /* read once: the environment does not change, and a getenv per request
     * would show in the benchmark (which runs a testing build) */
    static atomic_int allowed = -1;
    int a = atomic_load_explicit(&allowed, memory_order_relaxed);
    if (a < 0) {
        a = getenv("HC_TEST_ALLOW_STALL") != NULL;
        atomic_store_explicit(&allowed, a, memory_order_relaxed);
    }
    return a;
}

static void testing_maybe_stall(hc_req_t *r)
{
    if (!router_testing_stalls_allowed())
        return;
    ssize_t i = h2o_find_header_by_str(&r->req->headers, H2O_STRLIT("x-hc-test-stall"), -1);
    if (i < 0)
        return;
    char v[16];
    snprintf(v, sizeof(v), "%.*s", (int)r->req->headers.entries[i].value.len, r->req->headers.entries[i].value.base);
    unsigned secs = (unsigned)strtoul(v, NULL, 10);
    if (secs > 120)
        secs = 120;
    sleep(secs);
}
#endif

static void stage_handler(hc_req_t *r)
{
    router_busy(r);
#ifdef HC_TESTING
    testing_maybe_stall(r);
#endif
    r->route->handler(r);
    lock_assert_none_held(r->route->pattern);
}

static void hc_req_dispose(void *p)
{
    hc_req_t *r = p;
    if (r->on_dispose != NULL)
        r->on_dispose(r);
    if (r->body != NULL)
        json_decref(r->body);
    if (r->worker != NULL)
        r->worker->inflight--;
}

/* Request smuggling. h2o 2.2 takes the first of several Content-Length
 * headers, lets Transfer-Encoding override Content-Length, and keeps neither
 * in req->headers. A front proxy may have framed the same bytes differently,
 * so both shapes are refused with 400 and the connection is closed, so that
 * no second request is read from those bytes. The raw header block is still
 * at the start of the connection's input buffer while the request is being
 * handled (h2o consumes it only after the response), so it is read there. */
static inline int header_is(const char *line, size_t len, const char *name, size_t n)
{
    /* the ':' first: it rules out almost every other line without a
     * case-insensitive compare (this runs for each line of each request) */
    return len > n && line[n] == ':' && h2o_lcstris(line, n, name, n);
}

static int framing_is_ambiguous(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return 0;
    const char *buf = sock->input->bytes;
    size_t len = sock->input->size;
    if (len < req->method.len || memcmp(buf, req->method.base, req->method.len) != 0)
        return 0; /* not where we expect the request: nothing to check */
    int cl = 0, te = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *eol = memchr(buf + pos, '\n', len - pos);
        if (eol == NULL)
            break;
        size_t llen = (size_t)(eol - (buf + pos));
        if (llen > 0 && buf[pos + llen - 1] == '\r')
            llen--;
        if (llen == 0)
            break; /* end of the header block */
        if (header_is(buf + pos, llen, H2O_STRLIT("content-length")))
            cl++;
        else if (header_is(buf + pos, llen, H2O_STRLIT("transfer-encoding")))
            te++;
        pos = (size_t)(eol - buf) + 1;
    }
    return cl > 1 || te > 1 || (cl && te);
}

static void stage_framing(hc_req_t *r)
{
    ssize_t refused = h2o_find_header_by_str(&r->req->headers, H2O_STRLIT(PREBODY_HEADER), -1);
    if (refused >= 0) {
        /* its body is still on the wire: this connection cannot carry another request */
        r->body_refused = atoi(h2o_strdup(&r->req->pool, r->req->headers.entries[refused].value.base,
                                          r->req->headers.entries[refused].value.len)
                                   .base);
        r->req->http1_is_persistent = 0;
        conn_guard_linger(r->req);
    }
    /* h2o gives a request an entity exactly when its head has a
     * Content-Length or Transfer-Encoding header (PREBODY_HEADER stands for
     * one it no longer sees): a request with neither has nothing to conflict,
     * and its head need not be read again */
    if ((r->req->entity.base != NULL || refused >= 0) && framing_is_ambiguous(r->req)) {
        r->req->http1_is_persistent = 0;
        json_error(r, 400, "bad_framing", "conflicting Content-Length / Transfer-Encoding headers");
        return;
    }
    router_next(r);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    hc_req_t *r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), hc_req_dispose);
    memset(r, 0, sizeof(*r));
    r->req = req;
    r->start_us = clock_mono_us();
    r->scheme = "http";
    r->worker = worker_current();
    if (r->worker != NULL)
        r->worker->inflight++;
    conn_guard_h2_request(req);
    lock_assert_none_held("request start");
    router_busy(r);
    router_next(r);
    router_idle();
    lock_assert_none_held("request end");
    return 0;
}

void router_register(h2o_pathconf_t *pathconf)
{
    router_index_build();
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_req;
}

/* Errors h2o raises itself before a request reaches the router (a broken
 * Content-Length or chunked body, a declared body over the largest limit,
 * an unknown Expect, HTTP/2 headers it refuses, a request target that is
 * not a path) are answered on the host's fallback path with a text/plain
 * body: this filter turns each into our JSON error shape. Errors h2o writes
 * straight to the socket (an unparsable request line or header block, too
 * many or too long headers: "400 Bad Request") cannot be reached. */
typedef struct {
    h2o_ostream_t super;
    const char *code;
    int sent;
} json_error_ostream_t;

/* h2o's text arrives in one final send (h2o_send_inline): it becomes the message */
static void json_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    json_error_ostream_t *o = (json_error_ostream_t *)self;
    char text[256];
    size_t t = 0;
    for (size_t i = 0; i < bufcnt && t < sizeof(text) - 1; i++) {
        size_t n = bufs[i].len < sizeof(text) - 1 - t ? bufs[i].len : sizeof(text) - 1 - t;
        memcpy(text + t, bufs[i].base, n);
        t += n;
    }
    text[t] = '\0';
    h2o_iovec_t out = {NULL, 0};
    if (!o->sent && state != H2O_SEND_STATE_IN_PROGRESS) {
        o->sent = 1;
        const char *msg = router_text_sanitize(&req->pool, text, t, sizeof(text));
        json_t *obj = json_pack("{s:s, s:s}", "error", msg[0] ? msg : (req->res.reason ? req->res.reason : "error"),
                                "code", o->code);
        if (obj != NULL) {
            size_t len = json_dumpb(obj, NULL, 0, JSON_COMPACT);
            char *buf = h2o_mem_alloc_pool(&req->pool, len + 1);
            json_dumpb(obj, buf, len, JSON_COMPACT);
            json_decref(obj);
            buf[len++] = '\n';
            out = h2o_iovec_init(buf, len);
        }
    }
    h2o_ostream_send_next(self, req, &out, out.len ? 1 : 0, state);
}

static void on_fallback_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    conn_guard_h2_request(req);
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (req->res.status < 400 || ct < 0 || req->res.headers.entries[ct].value.len < 10 ||
        !h2o_memis(req->res.headers.entries[ct].value.base, 10, H2O_STRLIT("text/plain")))
        goto next;
    json_error_ostream_t *o = (json_error_ostream_t *)h2o_add_ostream(req, sizeof(*o), slot);
    o->super.do_send = json_error_send;
    o->code = req->res.status == 413   ? "body_too_large"
              : req->res.status == 404 ? "not_found"
              : req->res.status == 417 ? "expectation_failed"
              : req->res.status == 400 ? "bad_request"
                                       : "http_error";
    o->sent = 0;
    req->res.headers.entries[ct].value = h2o_iovec_init(H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    /* the length of the JSON is known only once h2o's text arrives; these
     * answers close an HTTP/1 connection anyway */
    req->res.content_length = SIZE_MAX;
    req->http1_is_persistent = 0;
    slot = &o->super.next;
next:
    h2o_setup_next_ostream(req, slot);
}

void router_register_fallback(h2o_hostconf_t *host)
{
    h2o_filter_t *f = h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->on_setup_ostream = on_fallback_setup_ostream;
}

void router_print_table(FILE *out)
{
    fprintf(out, "| method | path | credential | body limit | summary |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < route_table_count; i++) {
        const route_t *rt = &route_table[i];
        size_t lim = rt->body_limit ? rt->body_limit : ROUTE_DEFAULT_BODY_LIMIT;
        fprintf(out, "| %s | `%s` | %s | %zu KiB | %s |\n", rt->method, rt->pattern, auth_kind_name(rt->auth), lim / 1024,
                rt->summary);
    }
}
