/* X-Request-Id in and out, and the client address the rest of the stages use. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "middleware.h"
#include "serve.h"
#include "str.h"

/* Request ids are 8 random bytes each, drawn from a per-thread pool that is
 * refilled 4 KiB at a time: a getrandom(2) per request was ~5% of the CPU
 * of a small request (docs/performance.md). Still unpredictable bytes. */
#define ID_POOL_BYTES 4096
static __thread uint8_t id_pool[ID_POOL_BYTES];
static __thread size_t id_pool_left;

static void request_id_new(char *out, size_t outlen)
{
    static const char hexdig[] = "0123456789abcdef";
    if (id_pool_left < 8) {
        randombytes_buf(id_pool, sizeof(id_pool));
        id_pool_left = sizeof(id_pool);
    }
    id_pool_left -= 8;
    const uint8_t *b = id_pool + id_pool_left;
    /* "req-" and 16 hex digits, without snprintf (every request) */
    char id[21] = "req-";
    for (int i = 0; i < 8; i++) {
        id[4 + 2 * i] = hexdig[b[i] >> 4];
        id[4 + 2 * i + 1] = hexdig[b[i] & 15];
    }
    id[20] = '\0';
    str_copy(out, outlen, id);
}

static int id_ok(const char *s, size_t len)
{
    if (len == 0 || len > 40)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return 0;
    }
    return 1;
}

static void peer_ip(h2o_req_t *req, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    out[0] = '\0';
    if (len == 0)
        return;
    if (ss.ss_family == AF_INET && outlen >= INET_ADDRSTRLEN) {
        /* dotted quad by hand: glibc's inet_ntop formats with sprintf */
        const uint8_t *a = (const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr;
        size_t o = 0;
        for (int i = 0; i < 4; i++) {
            unsigned v = a[i];
            if (i > 0)
                out[o++] = '.';
            /* at most three digits: no general number formatting per request */
            if (v >= 100)
                out[o++] = (char)('0' + v / 100);
            if (v >= 10)
                out[o++] = (char)('0' + v / 10 % 10);
            out[o++] = (char)('0' + v % 10);
        }
        out[o] = '\0';
    } else if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)outlen);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)outlen);
}

static int is_trusted(const char *ip)
{
    const hc_config_t *cfg = serve_config();
    if (cfg == NULL)
        return 0;
    for (size_t i = 0; i < cfg->server.trusted_proxies_count; i++)
        if (strcmp(cfg->server.trusted_proxies[i], ip) == 0)
            return 1;
    return 0;
}

/* X-Forwarded-Proto from a trusted proxy: only the two values we know */
static void forwarded_proto(hc_req_t *r)
{
    ssize_t i = h2o_find_header_by_str(&r->req->headers, H2O_STRLIT("x-forwarded-proto"), -1);
    if (i < 0)
        return;
    h2o_iovec_t v = r->req->headers.entries[i].value;
    if (h2o_lcstris(v.base, v.len, H2O_STRLIT("https")))
        r->scheme = "https";
    else if (h2o_lcstris(v.base, v.len, H2O_STRLIT("http")))
        r->scheme = "http";
}

void mw_client_ip_resolve(hc_req_t *r)
{
    h2o_req_t *req = r->req;
    r->scheme = req->scheme == &H2O_URL_SCHEME_HTTPS ? "https" : "http";
    peer_ip(req, r->client_ip, sizeof(r->client_ip));
    if (!is_trusted(r->client_ip))
        return;
    forwarded_proto(r);
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-for"), -1);
    if (i < 0)
        return;
    /* walk from the right: the first address not of a trusted proxy is the client */
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t end = v.len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && v.base[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (v.base[a] == ' ' || v.base[a] == '\t'))
            a++;
        while (b > a && (v.base[b - 1] == ' ' || v.base[b - 1] == '\t'))
            b--;
        char ip[64];
        if (b - a == 0 || b - a >= sizeof(ip))
            return;
        memcpy(ip, v.base + a, b - a);
        ip[b - a] = '\0';
        snprintf(r->client_ip, sizeof(r->client_ip), "%s", ip);
        if (!is_trusted(ip))
            return;
        end = start > 0 ? start - 1 : 0;
    }
}

void mw_request_id(hc_req_t *r)
{
    h2o_req_t *req = r->req;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0 && id_ok(req->headers.entries[i].value.base, req->headers.entries[i].value.len)) {
        memcpy(r->request_id, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
        r->request_id[req->headers.entries[i].value.len] = '\0';
    } else {
        request_id_new(r->request_id, sizeof(r->request_id));
    }
    /* h2o has no token for it: the name is one static iovec (what
     * h2o_add_header_by_str would allocate per request), and the value is
     * r->request_id itself, which lives in the request's pool as long as
     * the response does */
    static h2o_iovec_t request_id_name = {H2O_STRLIT("x-request-id")};
    h2o_vector_reserve(&req->pool, &req->res.headers, req->res.headers.size + 1);
    h2o_header_t *h = req->res.headers.entries + req->res.headers.size++;
    h->name = &request_id_name;
    h->orig_name = NULL;
    h->value = h2o_iovec_init(r->request_id, strlen(r->request_id));
    mw_client_ip_resolve(r);
    router_next(r);
}
