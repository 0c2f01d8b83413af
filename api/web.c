/*
 * The web UI's pages and static files (web/, compiled in by build-aux/embed.py
 * --kind assets). The pages only call the JSON API; nothing here reads state.
 *
 * Caching: at start every page's references to "/static/<name>" are rewritten
 * to "/static/<content hash>/<name>", and those URLs are cached for a year
 * (immutable): a new build changes the hash, so browsers never run stale
 * scripts. Pages themselves are "no-cache" with an ETag (If-None-Match ->
 * 304). A static file asked for without (or with an old) hash is served with
 * "no-cache" so that a page still being loaded across an upgrade works.
 *
 * Every response here carries a strict Content-Security-Policy (no inline
 * script or style; everything from this origin) and the other usual headers.
 * Admin pages answer 303 to /login when the browser has no session; /login
 * and /enroll are open (/enroll's recovery tab must reach anyone; its other
 * tabs ask the API, which needs the login).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "jsonio.h"
#include "login_sessions.h"

/* the generated file carries its own identical copy of this typedef */
typedef struct {
    const char *path;
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const char *etag;
} hc_asset_t;
extern const hc_asset_t hc_assets[];
extern const size_t hc_assets_count;

#define WEB_CSP                                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "              \
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

typedef struct {
    const char *pattern; /* the route's pattern */
    const char *asset;   /* the HTML file under web/ */
    int open;            /* served without a login */
    char *body;          /* rendered at start */
    size_t len;
    char etag[20];
} web_page_t;

static web_page_t pages[] = {
    {"/", "/index.html", 0, NULL, 0, ""},         {"/login", "/login.html", 1, NULL, 0, ""},
    {"/enroll", "/enroll.html", 1, NULL, 0, ""},  {"/nodes/{id}", "/node.html", 0, NULL, 0, ""},
    {"/heads", "/heads.html", 0, NULL, 0, ""},    {"/heads/{id}", "/head.html", 0, NULL, 0, ""},
    {"/roles", "/roles.html", 0, NULL, 0, ""},
    {"/sessions", "/sessions.html", 0, NULL, 0, ""},    {"/sessions/{id}/logs", "/session_logs.html", 0, NULL, 0, ""},
    {"/activity", "/activity.html", 0, NULL, 0, ""},
    {"/admin", "/admin.html", 0, NULL, 0, ""},
};
#define NPAGES (sizeof(pages) / sizeof(pages[0]))

static const hc_asset_t *asset_find(const char *path, size_t len)
{
    for (size_t i = 0; i < hc_assets_count; i++)
        if (strlen(hc_assets[i].path) == len && memcmp(hc_assets[i].path, path, len) == 0)
            return &hc_assets[i];
    return NULL;
}

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static int buf_add(buf_t *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Rewrites "/static/<name>" (up to the closing quote) to the hashed URL when
 * <name> is an embedded file; everything else is copied as it is. */
static int page_render(web_page_t *pg, const hc_asset_t *a)
{
    static const char marker[] = "\"/static/";
    const char *s = (const char *)a->data, *end = s + a->len;
    buf_t b = {0};
    while (s < end) {
        const char *m = memmem(s, (size_t)(end - s), marker, sizeof(marker) - 1);
        if (m == NULL) {
            if (buf_add(&b, s, (size_t)(end - s)) != 0)
                goto fail;
            break;
        }
        const char *path = m + 1, *q = memchr(path, '"', (size_t)(end - path));
        if (q == NULL) {
            if (buf_add(&b, s, (size_t)(end - s)) != 0)
                goto fail;
            break;
        }
        const hc_asset_t *ref = asset_find(path, (size_t)(q - path));
        if (buf_add(&b, s, (size_t)(path - s)) != 0)
            goto fail;
        if (ref != NULL) {
            /* "/static/" + hash + "/" + name */
            if (buf_add(&b, "/static/", 8) != 0 || buf_add(&b, ref->etag, strlen(ref->etag)) != 0 ||
                buf_add(&b, "/", 1) != 0 || buf_add(&b, path + 8, (size_t)(q - path) - 8) != 0)
                goto fail;
        } else if (buf_add(&b, path, (size_t)(q - path)) != 0) {
            goto fail;
        }
        s = q;
    }
    if (b.p == NULL && buf_add(&b, "", 0) != 0)
        goto fail;
    uint8_t h[8];
    crypto_generichash(h, sizeof(h), (const unsigned char *)b.p, b.len, NULL, 0);
    sodium_bin2hex(pg->etag, sizeof(pg->etag), h, sizeof(h));
    pg->body = b.p;
    pg->len = b.len;
    return 0;
fail:
    free(b.p);
    return -1;
}

int web_init(char *err, size_t errlen)
{
    for (size_t i = 0; i < NPAGES; i++) {
        const hc_asset_t *a = asset_find(pages[i].asset, strlen(pages[i].asset));
        if (a == NULL) {
            snprintf(err, errlen, "web page %s is not embedded in the binary (build problem)", pages[i].asset);
            return -1;
        }
        if (pages[i].body == NULL && page_render(&pages[i], a) != 0) {
            snprintf(err, errlen, "out of memory rendering web page %s", pages[i].asset);
            return -1;
        }
    }
    return 0;
}

void web_free(void)
{
    for (size_t i = 0; i < NPAGES; i++) {
        free(pages[i].body);
        pages[i].body = NULL;
        pages[i].len = 0;
    }
}

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, value, strlen(value));
}

static void security_headers(h2o_req_t *req)
{
    add_header(req, "content-security-policy", WEB_CSP);
    add_header(req, "x-content-type-options", "nosniff");
    add_header(req, "referrer-policy", "no-referrer");
    add_header(req, "x-frame-options", "DENY");
}

/* 1 when If-None-Match names etag (or is "*") */
static int not_modified(h2o_req_t *req, const char *etag)
{
    char quoted[40];
    int n = snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, i)) >= 0;) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (memmem(v.base, v.len, quoted, (size_t)n) != NULL)
            return 1;
        size_t a = 0, b = v.len;
        while (a < b && v.base[a] == ' ')
            a++;
        while (b > a && v.base[b - 1] == ' ')
            b--;
        if (b - a == 1 && v.base[a] == '*')
            return 1;
    }
    return 0;
}

static void send_body(hc_req_t *r, const char *content_type, const char *cache_control, const char *etag,
                      const void *data, size_t len)
{
    h2o_req_t *req = r->req;
    char quoted[40];
    snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    security_headers(req);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cache_control, strlen(cache_control));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, h2o_strdup(&req->pool, quoted, SIZE_MAX).base,
                   strlen(quoted));
    if (not_modified(req, etag)) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        req->res.content_length = 0;
        h2o_send_inline(req, "", 0);
        return;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_send_inline(req, data, len);
}

/* "/nodes/x y" -> "%2Fnodes%2Fx%20y": the login page's ?next= */
static const char *url_encode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = h2o_mem_alloc_pool(pool, len * 3 + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

static void redirect_to_login(hc_req_t *r)
{
    h2o_req_t *req = r->req;
    const char *next = url_encode(&req->pool, req->path.base, req->path.len);
    size_t n = strlen(next) + 32;
    char *loc = h2o_mem_alloc_pool(&req->pool, n);
    snprintf(loc, n, "/login?next=%s", next);
    security_headers(req);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, loc, strlen(loc));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    req->res.status = 303;
    req->res.reason = "See Other";
    req->res.content_length = 0;
    h2o_send_inline(req, "", 0);
}

void api_web_page(hc_req_t *r)
{
    web_page_t *pg = NULL;
    for (size_t i = 0; i < NPAGES; i++)
        if (strcmp(pages[i].pattern, r->route->pattern) == 0)
            pg = &pages[i];
    if (pg == NULL || pg->body == NULL) {
        json_error(r, 500, "internal", "the page for %s is not available", r->route->pattern);
        return;
    }
    if (!pg->open && login_session_authenticate(r) <= 0) {
        redirect_to_login(r);
        return;
    }
    send_body(r, "text/html; charset=utf-8", "no-cache", pg->etag, pg->body, pg->len);
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

void api_web_static(hc_req_t *r)
{
    const char *path = route_param(r, "path");
    size_t hlen = 0;
    const char *hash = NULL, *name = path;
    const char *slash = strchr(path, '/');
    if (slash != NULL && slash - path == 16 && is_hex(path, 16)) {
        hash = path;
        hlen = 16;
        name = slash + 1;
    }
    char full[256];
    int n = snprintf(full, sizeof(full), "/static/%s", name);
    const hc_asset_t *a = n > 0 && (size_t)n < sizeof(full) ? asset_find(full, (size_t)n) : NULL;
    if (a == NULL) {
        json_error(r, 404, "not_found", "no such file: /static/%s", path);
        return;
    }
    int current = hash != NULL && strlen(a->etag) == hlen && memcmp(hash, a->etag, hlen) == 0;
    send_body(r, a->content_type, current ? "public, max-age=31536000, immutable" : "no-cache", a->etag, a->data,
              a->len);
}
