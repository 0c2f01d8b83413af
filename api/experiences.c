/*
 * GET /api/v1/heads/{id}/experiences: the kiosk's experience grid.
 *
 * Fetched from the experience library (heads.experience_library_url) at
 * GET <library>/api/v1/experiences/live?district=…&venue=… with h2o's HTTP/1
 * client on the worker's own event loop, while the request is parked: the
 * worker keeps serving others meanwhile. Bounds: heads.experience_timeout for
 * the whole exchange (504), EXPERIENCES_MAX_BYTES of answer (502). The answer
 * must be 200 with a JSON array (502 otherwise). With a non-empty allowed
 * list on the head, only the items it names are kept: a string item by its
 * value, an object item by its "id" or its "slug" (a string); other items are
 * dropped. Bodies play no part: a venue with no body online still gets its
 * catalog.
 *
 * Ownership (all on the request's worker thread): the fetch_t belongs to the
 * park; the park's callback runs exactly once, cancels the client if it is
 * still running (timeout, client gone, shutdown), answers, and frees it. The
 * client's callbacks only record the outcome and wake the park.
 */
#include <h2o.h>
#include <h2o/http1client.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "jsonio.h"
#include "log.h"
#include "park.h"
#include "registry.h"
#include "serve.h"
#include "workers.h"

#define EXPERIENCES_MAX_BYTES (4 * 1024 * 1024)
#define LIVE_PATH "/api/v1/experiences/live"

enum { FETCH_OK = 0, FETCH_EBAD, FETCH_ETIMEOUT };

typedef struct {
    park_t *park;
    h2o_http1client_t *client; /* NULL once it finished or was cancelled */
    h2o_http1client_ctx_t ctx;
    char *host;
    h2o_iovec_t request; /* the request text, malloc'ed */
    char *body;
    size_t len, cap;
    int outcome;
    char detail[200]; /* why it failed, for the answer and the log */
    char head_id[NODE_ID_MAX];
    json_t *allowed; /* the head's filter, a copy */
} fetch_t;

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static SSL_CTX *tls_ctx; /* for https libraries: verifies the chain and the name against the system store */

static void tls_init(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (c == NULL)
        return;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    if (SSL_CTX_set_default_verify_paths(c) != 1) {
        SSL_CTX_free(c);
        return;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    tls_ctx = c;
}

static void fetch_free(fetch_t *f)
{
    if (f->park != NULL)
        park_unref(f->park);
    free(f->host);
    free(f->request.base);
    free(f->body);
    json_decref(f->allowed);
    free(f);
}

static int is_timeout(const char *errstr)
{
    return strcmp(errstr, "I/O timeout") == 0 || strcmp(errstr, "connection timeout") == 0;
}

/* the client is done (it closes itself after the callback returns): record and wake */
static void fetch_finish(fetch_t *f, int outcome, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fetch_finish(fetch_t *f, int outcome, const char *fmt, ...)
{
    f->client = NULL;
    f->outcome = outcome;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
        va_end(ap);
    }
    park_wake(f->park, 1);
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    fetch_t *f = client->data;
    h2o_buffer_t *in = client->sock->input;
    if (in->size > 0) {
        if (f->len + in->size > EXPERIENCES_MAX_BYTES) {
            fetch_finish(f, FETCH_EBAD, "the answer is larger than %d bytes", EXPERIENCES_MAX_BYTES);
            return -1;
        }
        if (f->len + in->size > f->cap) {
            size_t cap = (f->len + in->size) * 2;
            if (cap > EXPERIENCES_MAX_BYTES)
                cap = EXPERIENCES_MAX_BYTES;
            char *p = realloc(f->body, cap);
            if (p == NULL) {
                fetch_finish(f, FETCH_EBAD, "out of memory reading the answer");
                return -1;
            }
            f->body = p;
            f->cap = cap;
        }
        memcpy(f->body + f->len, in->bytes, in->size);
        f->len += in->size;
        h2o_buffer_consume(&client->sock->input, in->size);
    }
    if (errstr == NULL)
        return 0;
    if (errstr == h2o_http1client_error_is_eos)
        fetch_finish(f, FETCH_OK, NULL);
    else
        fetch_finish(f, is_timeout(errstr) ? FETCH_ETIMEOUT : FETCH_EBAD, "reading the answer: %s", errstr);
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t num_headers, int rlen)
{
    (void)minor_version;
    (void)msg;
    (void)rlen;
    fetch_t *f = client->data;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        fetch_finish(f, is_timeout(errstr) ? FETCH_ETIMEOUT : FETCH_EBAD, "no answer: %s", errstr);
        return NULL;
    }
    if (status != 200) {
        fetch_finish(f, FETCH_EBAD, "it answered HTTP %d", status);
        return NULL;
    }
    if (errstr == h2o_http1client_error_is_eos) {
        fetch_finish(f, FETCH_EBAD, "it answered without a body");
        return NULL;
    }
    for (size_t i = 0; i < num_headers; i++) {
        if (headers[i].name == &H2O_TOKEN_CONTENT_LENGTH->buf) {
            size_t n = h2o_strtosize(headers[i].value.base, headers[i].value.len);
            if (n != SIZE_MAX && n > EXPERIENCES_MAX_BYTES) {
                fetch_finish(f, FETCH_EBAD, "the answer is larger than %d bytes", EXPERIENCES_MAX_BYTES);
                return NULL;
            }
        }
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs,
                                          size_t *reqbufcnt, int *method_is_head)
{
    fetch_t *f = client->data;
    if (errstr != NULL) {
        fetch_finish(f, is_timeout(errstr) ? FETCH_ETIMEOUT : FETCH_EBAD, "cannot connect: %s", errstr);
        return NULL;
    }
    *reqbufs = &f->request;
    *reqbufcnt = 1;
    *method_is_head = 0;
    return on_head;
}

/* keeps the items the allowed list names (see the top of the file) */
static int allowed_has(json_t *allowed, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(allowed, i, v) if (strcmp(json_string_value(v), s) == 0) return 1;
    return 0;
}

static json_t *filter(json_t *items, json_t *allowed)
{
    if (json_array_size(allowed) == 0)
        return json_incref(items);
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v)
    {
        if (out == NULL)
            break;
        int keep = 0;
        if (json_is_string(v)) {
            keep = allowed_has(allowed, json_string_value(v));
        } else if (json_is_object(v)) {
            json_t *id = json_object_get(v, "id"), *slug = json_object_get(v, "slug");
            keep = (json_is_string(id) && allowed_has(allowed, json_string_value(id))) ||
                   (json_is_string(slug) && allowed_has(allowed, json_string_value(slug)));
        }
        if (keep && json_array_append(out, v) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static void on_park(park_t *p, hc_req_t *r, int reason, intptr_t value)
{
    (void)value;
    fetch_t *f = park_data(p);
    if (f->client != NULL) {
        h2o_http1client_cancel(f->client);
        f->client = NULL;
    }
    if (r == NULL) {
        fetch_free(f);
        return;
    }
    if (reason == PARK_SHUTDOWN) {
        json_error(r, 503, "shutting_down", "the server is stopping; retry in a moment");
    } else if (reason == PARK_TIMEOUT || (reason == PARK_WOKEN && f->outcome == FETCH_ETIMEOUT)) {
        log_warn("msg=\"the experience library did not answer in time\" head=%s", f->head_id);
        json_error(r, 504, "upstream_timeout", "the experience library did not answer within %llu ms",
                   (unsigned long long)serve_config()->heads.experience_timeout_ms);
    } else if (f->outcome != FETCH_OK) {
        char q[260];
        log_warn("msg=\"the experience library answered badly\" head=%s detail=%s", f->head_id,
                 log_quote(q, sizeof(q), f->detail));
        json_error(r, 502, "upstream_error", "the experience library answered badly: %s", f->detail);
    } else {
        json_error_t je;
        json_t *items = json_loadb(f->body ? f->body : "", f->len, 0, &je);
        if (!json_is_array(items)) {
            json_decref(items);
            log_warn("msg=\"the experience library did not answer a JSON array\" head=%s", f->head_id);
            json_error(r, 502, "upstream_error", "the experience library did not answer a JSON array");
        } else {
            json_t *out = filter(items, f->allowed);
            json_decref(items);
            if (out == NULL)
                json_error(r, 500, "internal", "out of memory");
            else
                json_respond(r, 200, out);
        }
    }
    fetch_free(f);
}

/* percent-encodes s (RFC 3986 unreserved characters stay) onto out */
static size_t url_encode(char *out, size_t outlen, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return o;
}

extern const char *hc_version;

void api_heads_experiences(hc_req_t *r)
{
    const hc_config_t *cfg = serve_config();
    const char *id = route_param(r, "id");
    char district[NODE_TEXT_MAX], venue[NODE_TEXT_MAX];
    json_t *allowed = NULL;
    int found = 0;
    if (id != NULL && strlen(id) < NODE_ID_MAX) {
        lock_take_shared(&registry_nodes_lock);
        const node_t *n = registry_node_find(id);
        if (n != NULL && n->head != NULL) {
            found = 1;
            snprintf(district, sizeof(district), "%s", n->district);
            snprintf(venue, sizeof(venue), "%s", n->venue);
            allowed = json_deep_copy(n->head->allowed_experiences);
        }
        lock_give(&registry_nodes_lock);
    }
    if (!found) {
        json_error(r, 404, "not_found", "no head %s", id ? id : "");
        return;
    }
    if (allowed == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    const char *lib = cfg->heads.experience_library_url;
    if (lib == NULL || lib[0] == '\0') {
        json_decref(allowed);
        json_error(r, 503, "not_configured", "no experience library is configured (heads.experience_library_url)");
        return;
    }
    h2o_url_t url;
    if (h2o_url_parse(lib, strlen(lib), &url) != 0 || url.host.len == 0) {
        json_decref(allowed);
        json_error(r, 503, "not_configured", "heads.experience_library_url is not an http(s) URL");
        return;
    }
    int tls = url.scheme == &H2O_URL_SCHEME_HTTPS;
    if (tls) {
        pthread_once(&tls_once, tls_init);
        if (tls_ctx == NULL) {
            json_decref(allowed);
            json_error(r, 500, "internal", "TLS client set-up failed");
            return;
        }
    }
    worker_t *w = r->worker;
    h2o_timeout_t *io_timeout = w ? worker_timeout(w, cfg->heads.experience_timeout_ms) : NULL;
    fetch_t *f = calloc(1, sizeof(*f));
    /* the path: the library's own base path, then ours (no doubled slash) */
    size_t base_len = url.path.len;
    const char *q = memchr(url.path.base, '?', url.path.len);
    if (q != NULL)
        base_len = (size_t)(q - url.path.base);
    while (base_len > 0 && url.path.base[base_len - 1] == '/')
        base_len--;
    char qd[3 * NODE_TEXT_MAX + 1], qv[3 * NODE_TEXT_MAX + 1];
    url_encode(qd, sizeof(qd), district);
    url_encode(qv, sizeof(qv), venue);
    size_t cap = base_len + url.authority.len + strlen(qd) + strlen(qv) + 512;
    char *req = malloc(cap);
    char *host = h2o_strdup(NULL, url.host.base, url.host.len).base;
    if (io_timeout == NULL || f == NULL || req == NULL || host == NULL) {
        free(f);
        free(req);
        free(host);
        json_decref(allowed);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    int n = snprintf(req, cap,
                     "GET %.*s" LIVE_PATH "?district=%s&venue=%s HTTP/1.1\r\nHost: %.*s\r\n"
                     "Accept: application/json\r\nUser-Agent: hydracluster/%s\r\nConnection: close\r\n\r\n",
                     (int)base_len, url.path.base, qd, qv, (int)url.authority.len, url.authority.base, hc_version);
    f->request = h2o_iovec_init(req, (size_t)n);
    f->host = host;
    f->allowed = allowed;
    snprintf(f->head_id, sizeof(f->head_id), "%s", id);
    f->ctx.loop = w->ctx.loop;
    f->ctx.getaddr_receiver = &w->ctx.receivers.hostinfo_getaddr;
    f->ctx.io_timeout = io_timeout;
    f->ctx.websocket_timeout = NULL;
    f->ctx.ssl_ctx = tls ? tls_ctx : NULL;
    f->park = park_start(r, cfg->heads.experience_timeout_ms, on_park, f);
    if (f->park == NULL) {
        fetch_free(f);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    /* may finish at once (e.g. a bad address): then it already woke the park */
    h2o_http1client_connect(&f->client, f, &f->ctx, h2o_iovec_init(host, strlen(host)), h2o_url_get_port(&url), tls,
                            on_connect);
}
