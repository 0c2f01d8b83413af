/*
 * GET /install.sh, GET /install.ps1: the agent install scripts
 * (deploy/install/), compiled into the binary, served with this server's
 * public URL, releases.base_url and releases.channel filled in. No credentials: the scripts
 * hold no secret; the one-time enrollment token is an argument of the
 * command the admin pastes.
 */
#include <string.h>

#include "api.h"
#include "jsonio.h"
#include "serve.h"

/* the table build-aux/embed.py --kind assets --symbol hc_install_scripts writes */
typedef struct {
    const char *path;
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const char *etag;
} hc_asset_t;
extern const hc_asset_t hc_install_scripts[];
extern const size_t hc_install_scripts_count;

typedef enum { QUOTE_SH, QUOTE_PS } quote_t;

static const hc_asset_t *script_find(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < hc_install_scripts_count; i++) {
        const char *p = hc_install_scripts[i].path;
        size_t l = strlen(p);
        if (l > n && p[l - n - 1] == '/' && strcmp(p + l - n, name) == 0)
            return &hc_install_scripts[i];
    }
    return NULL;
}

/* v as the inside of a single-quoted string of the script's language */
static size_t quoted_len(const char *v, quote_t q)
{
    size_t n = 0;
    for (; *v; v++)
        n += *v == '\'' ? (q == QUOTE_SH ? 4 : 2) : 1;
    return n;
}

static char *quote_into(char *out, const char *v, quote_t q)
{
    for (; *v; v++) {
        if (*v == '\'') {
            const char *esc = q == QUOTE_SH ? "'\\''" : "''";
            size_t l = strlen(esc);
            memcpy(out, esc, l);
            out += l;
        } else {
            *out++ = *v;
        }
    }
    return out;
}

static void serve_script(hc_req_t *r, const char *name, quote_t q)
{
    static const char *const ph[] = {"@RELEASES_BASE_URL@", "@SERVER_URL@", "@RELEASES_CHANNEL@"};
    const char *values[] = {serve_config()->releases.base_url, serve_public_url(), serve_config()->releases.channel};
    enum { NPH = sizeof(ph) / sizeof(ph[0]) };
    const hc_asset_t *a = script_find(name);
    if (a == NULL) {
        json_error(r, 500, "internal", "%s is missing from this build", name);
        return;
    }
    const char *src = (const char *)a->data, *end = src + a->len;
    /* worst case: every placeholder replaced by the longer value */
    size_t cap = a->len + 1;
    for (size_t i = 0; i < NPH; i++) {
        size_t count = 0;
        for (const char *p = src; (p = memmem(p, (size_t)(end - p), ph[i], strlen(ph[i])));
             p++)
            count++;
        cap += count * quoted_len(values[i], q);
    }
    char *out = h2o_mem_alloc_pool(&r->req->pool, cap), *o = out;
    for (const char *p = src; p < end;) {
        size_t i;
        for (i = 0; i < NPH; i++) {
            size_t l = strlen(ph[i]);
            if ((size_t)(end - p) >= l && memcmp(p, ph[i], l) == 0) {
                o = quote_into(o, values[i], q);
                p += l;
                break;
            }
        }
        if (i == NPH)
            *o++ = *p++;
    }
    h2o_req_t *req = r->req;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain; charset=utf-8"));
    /* it carries this server's configuration, which may change on restart */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, out, (size_t)(o - out));
}

void api_install_sh(hc_req_t *r)
{
    serve_script(r, "install.sh", QUOTE_SH);
}

void api_install_ps1(hc_req_t *r)
{
    serve_script(r, "install.ps1", QUOTE_PS);
}
