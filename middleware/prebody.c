/*
 * Credentials and the body limit before h2o reads an HTTP/1 body.
 *
 * h2o 2.2 calls a handler only once the whole request body is in memory
 * (up to globalconf.max_request_entity_size, the largest route limit), and
 * offers no hook between the header block and the body. The one place every
 * HTTP/1 request passes with its headers parsed and its body not yet read is
 * h2o's call of picohttpparser's phr_parse_request (through the PLT of
 * libh2o-evloop, so a definition in our executable takes its place; the real
 * one is reached with dlsym(RTLD_NEXT)). There, for a request that declares
 * a body, we look up its route and check, from the headers alone:
 *   - an unknown route: 404/405 follows anyway;
 *   - a declared Content-Length over the route's limit: 413;
 *   - a route that needs credentials and a request that has none that could
 *     pass (no bearer token, or one that matches no admin, node or fleet
 *     token; a session cookie is left to the auth stage, on routes that take
 *     one): 401.
 * A body that arrived whole with its head is left alone (nothing to save,
 * and the connection stays open). A refused request has its Content-Length /
 * Transfer-Encoding header
 * renamed to PREBODY_HEADER (value: the status), so h2o sees a request
 * without a body and hands it to the router at once; the router answers
 * with the JSON error and closes the connection (the unread body must not
 * be taken for a next request), after a short drain so that the client
 * reads the answer instead of a reset (conn_guard_linger).
 *
 * HTTP/2 bodies are not covered: h2o buffers them per stream before the
 * handler too, up to the same global maximum (docs/operations.md).
 *
 * Threading: runs on the worker thread inside h2o's read callback; takes
 * the registry lock only inside registry_auth_* (and releases it).
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>

#include "middleware.h"
#include "registry.h"
#include "secret.h"
#include "serve.h"

/* picohttpparser's header record (its ABI: four words) */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

typedef int (*phr_parse_request_fn)(const char *buf, size_t len, const char **method, size_t *method_len,
                                    const char **path, size_t *path_len, int *minor_version,
                                    struct phr_header *headers, size_t *num_headers, size_t last_len);

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, struct phr_header *headers, size_t *num_headers,
                      size_t last_len);

static atomic_int enabled;
static _Atomic(phr_parse_request_fn) real_parse;

/* h2o lower-cases header names in place and keeps pointers to them for the
 * request's lifetime: the replacement name lives in writable memory that
 * outlives every request of the worker */
static __thread char refused_name[] = PREBODY_HEADER;

void prebody_enable(void)
{
    atomic_store(&enabled, 1);
}

static inline int name_is(const struct phr_header *h, const char *lc)
{
    /* h2o's inline compare: strncasecmp's call showed in each request's profile */
    return h2o_lcstris(h->name, h->name_len, lc, strlen(lc));
}

/* the status to refuse with, or NULL to let the body be read */
static const char *verdict(const char *method, size_t mlen, const char *path, size_t plen, struct phr_header *headers,
                           size_t nheaders, size_t declared)
{
    if (plen == 0 || path[0] != '/')
        return NULL; /* an absolute or asterisk target: h2o's own business */
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    size_t query_at, *norm;
    h2o_iovec_t np = h2o_url_normalize_path(&pool, path, plen, &query_at, &norm);
    char allow[8];
    const route_t *rt = router_match(method, mlen, np.base, np.len, NULL, allow, sizeof(allow));
    h2o_mem_clear_pool(&pool);
    if (rt == NULL)
        return "404";
    size_t limit = rt->body_limit ? rt->body_limit : ROUTE_DEFAULT_BODY_LIMIT;
    if (declared != SIZE_MAX && declared > limit)
        return "413";
    int cookie_ok = 0;
    switch (rt->auth) {
    case AUTH_NONE:
    case AUTH_ENROLLMENT:
        return NULL;
    case AUTH_METRICS:
        if (serve_config() != NULL && serve_config()->server.metrics_public)
            return NULL;
        cookie_ok = 1;
        break;
    case AUTH_ADMIN:
    case AUTH_ADMIN_OR_NODE:
    case AUTH_ADMIN_OR_ANY_NODE:
        cookie_ok = 1;
        break;
    case AUTH_NODE:
    case AUTH_FLEET:
        break;
    }
    for (size_t i = 0; i < nheaders; i++) {
        if (name_is(&headers[i], "authorization")) {
            h2o_iovec_t tok = auth_bearer_token(headers[i].value, headers[i].value_len);
            if (tok.base == NULL)
                continue; /* another scheme */
            if (tok.len == 0 || tok.len > 256)
                return "401";
            uint8_t h[SECRET_HASH_LEN];
            char who[80];
            secret_token_hash(tok.base, tok.len, h);
            /* whether it is the right kind of credential is the auth
             * stage's question (403 needs no body either way) */
            if (registry_auth_admin(h, who, sizeof(who)) || registry_auth_node(h, who, sizeof(who)) ||
                registry_auth_fleet(h))
                return NULL;
            return "401";
        }
        if (cookie_ok && name_is(&headers[i], "cookie"))
            return NULL; /* a browser session: the auth stage checks it (the route's limit still applies) */
    }
    return "401";
}

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, struct phr_header *headers, size_t *num_headers,
                      size_t last_len)
{
    phr_parse_request_fn real = atomic_load_explicit(&real_parse, memory_order_acquire);
    if (real == NULL) {
        real = (phr_parse_request_fn)dlsym(RTLD_NEXT, "phr_parse_request");
        if (real == NULL)
            abort(); /* libh2o without picohttpparser: cannot serve HTTP/1 at all */
        atomic_store_explicit(&real_parse, real, memory_order_release);
    }
    int ret = real(buf, len, method, method_len, path, path_len, minor_version, headers, num_headers, last_len);
    if (ret <= 0 || !atomic_load_explicit(&enabled, memory_order_relaxed))
        return ret;
    size_t declared = SIZE_MAX;
    int body = 0;
    for (size_t i = 0; i < *num_headers; i++) {
        if (name_is(&headers[i], "content-length")) {
            body = 1;
            declared = h2o_strtosize(headers[i].value, headers[i].value_len);
            if (declared == SIZE_MAX)
                return ret; /* h2o answers a broken length itself */
        } else if (name_is(&headers[i], "transfer-encoding")) {
            body = 1;
        }
    }
    if (!body || declared == 0)
        return ret;
    /* a body that came in whole with its head (h2o shows us at most 8 KiB)
     * costs nothing to read: the usual stages answer it and the connection
     * stays open (libcurl, for one, sends an empty chunked body) */
    size_t have = len - (size_t)ret;
    if (declared != SIZE_MAX ? have >= declared : have >= 5 && memcmp(buf + ret, "0\r\n\r\n", 5) == 0)
        return ret;
    const char *status = verdict(*method, *method_len, *path, *path_len, headers, *num_headers, declared);
    if (status == NULL)
        return ret;
    for (size_t i = 0; i < *num_headers; i++) {
        if (name_is(&headers[i], "content-length") || name_is(&headers[i], "transfer-encoding")) {
            headers[i].name = refused_name;
            headers[i].name_len = sizeof(refused_name) - 1;
            headers[i].value = status;
            headers[i].value_len = strlen(status);
        }
    }
    return ret;
}
