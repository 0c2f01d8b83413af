/* libFuzzer target: the request path as the router sees it. The input is
 * "METHOD PATH[?QUERY]" (the first space splits; no space = GET): h2o
 * normalises the path (percent-decoding, dot segments) exactly as it does
 * for a request, then router_match picks the route, and every captured
 * parameter and a few query names are read back through route_param,
 * route_query and route_query_check — the functions handlers use. Finds
 * crashes, sanitizer reports and broken invariants (a matched route whose
 * method differs, a parameter outside the path). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    const char *in = (const char *)data;
    const char *sp = memchr(in, ' ', size);
    const char *method = "GET", *path = in;
    size_t mlen = 3, plen = size;
    if (sp != NULL) {
        method = in;
        mlen = (size_t)(sp - in);
        path = sp + 1;
        plen = size - mlen - 1;
    }
    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    size_t query_at = SIZE_MAX, *norm_indexes = NULL;
    h2o_iovec_t norm = h2o_url_normalize_path(&req.pool, path, plen, &query_at, &norm_indexes);
    req.path = h2o_iovec_init(path, plen);
    req.query_at = query_at;
    req.path_normalized = norm;
    req.method = h2o_iovec_init(method, mlen);

    hc_req_t r;
    memset(&r, 0, sizeof(r));
    r.req = &req;
    char allow[128];
    const route_t *rt = router_match(method, mlen, norm.base, norm.len, &r, allow, sizeof(allow));
    if (rt != NULL) {
        int head = mlen == 4 && memcmp(method, "HEAD", 4) == 0;
        if (!head && (strlen(rt->method) != mlen || memcmp(rt->method, method, mlen) != 0))
            abort(); /* a route of another method */
        for (size_t i = 0; i < r.nparams; i++) {
            if (r.params[i].base < norm.base || r.params[i].base + r.params[i].len > norm.base + norm.len)
                abort(); /* a capture outside the path */
            const char *v = route_param(&r, r.param_names[i]);
            if (v == NULL || strlen(v) > r.params[i].len)
                abort();
        }
    } else if (strlen(allow) >= sizeof(allow)) {
        abort();
    }
    static const char *const names[] = {"wait", "limit", "before", "after", "full", "force", "role", "status",
                                        "head_id", "target", NULL};
    for (size_t i = 0; names[i] != NULL; i++)
        (void)route_query(&r, names[i]);
    char err[256];
    (void)route_query_check(&r, names, err, sizeof(err));
    h2o_mem_clear_pool(&req.pool);
    return 0;
}
