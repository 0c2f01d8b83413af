/* Route matching against the real table plus pattern edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"

static const route_t *match(const char *method, const char *path, char *allow, size_t allowlen)
{
    return router_match(method, strlen(method), path, strlen(path), NULL, allow, allowlen);
}

static void test_exact_match(void **state)
{
    (void)state;
    char allow[128];
    const route_t *r = match("GET", "/api/v1/health", allow, sizeof(allow));
    assert_non_null(r);
    assert_string_equal(r->pattern, "/api/v1/health");
}

static void test_head_matches_get(void **state)
{
    (void)state;
    char allow[128];
    const route_t *r = match("HEAD", "/api/v1/health", allow, sizeof(allow));
    assert_non_null(r);
    assert_string_equal(r->method, "GET");
}

static void test_unknown_path_is_404(void **state)
{
    (void)state;
    char allow[128];
    assert_null(match("GET", "/api/v1/nope", allow, sizeof(allow)));
    assert_string_equal(allow, "");
    assert_null(match("GET", "/api/v1/health/", allow, sizeof(allow)));
    assert_null(match("GET", "/api/v1/healthz", allow, sizeof(allow)));
    assert_null(match("GET", "/api/v1", allow, sizeof(allow)));
    assert_null(match("GET", "", allow, sizeof(allow)));
}

static void test_wrong_method_lists_allow(void **state)
{
    (void)state;
    char allow[128];
    assert_null(match("POST", "/api/v1/health", allow, sizeof(allow)));
    assert_string_equal(allow, "GET");
    assert_null(match("PUT", "/api/v1/admin-tokens", allow, sizeof(allow)));
    assert_non_null(strstr(allow, "GET"));
    assert_non_null(strstr(allow, "POST"));
}

static void test_captures(void **state)
{
    (void)state;
    char allow[128];
    const route_t *r = match("DELETE", "/api/v1/admin-tokens/adm-1234", allow, sizeof(allow));
    assert_non_null(r);
    assert_string_equal(r->pattern, "/api/v1/admin-tokens/{id}");
    /* an empty capture never matches */
    assert_null(match("DELETE", "/api/v1/admin-tokens/", allow, sizeof(allow)));
    /* a capture never spans a slash */
    assert_null(match("DELETE", "/api/v1/admin-tokens/a/b", allow, sizeof(allow)));
}

static void test_every_route_matches_itself(void **state)
{
    (void)state;
    /* each pattern, with captures filled in, resolves to a route with the same pattern and method */
    for (size_t i = 0; i < route_table_count; i++) {
        char path[512];
        size_t o = 0;
        for (const char *p = route_table[i].pattern; *p && o < sizeof(path) - 16;) {
            if (*p == '{') {
                o += (size_t)snprintf(path + o, sizeof(path) - o, "x1");
                p = strchr(p, '}') + 1;
            } else {
                path[o++] = *p++;
            }
        }
        path[o] = '\0';
        char allow[128];
        const route_t *r = match(route_table[i].method, path, allow, sizeof(allow));
        assert_non_null(r);
        assert_string_equal(r->method, route_table[i].method);
    }
}

static void test_table_is_sane(void **state)
{
    (void)state;
    for (size_t i = 0; i < route_table_count; i++) {
        const route_t *r = &route_table[i];
        assert_non_null(r->handler);
        assert_true(r->pattern[0] == '/');
        assert_true(strlen(r->summary) > 0);
        /* no two routes with the same method and pattern */
        for (size_t j = i + 1; j < route_table_count; j++)
            assert_false(strcmp(r->method, route_table[j].method) == 0 &&
                         strcmp(r->pattern, route_table[j].pattern) == 0);
        /* routes naming a node with a node credential must capture {id} */
        if (r->auth == AUTH_ADMIN_OR_NODE)
            assert_non_null(strstr(r->pattern, "{id}"));
    }
}

/* The plain walk the index replaced, kept here as the specification: every
 * pattern in table order, the first match with the method wins, the methods
 * of the others make the Allow list. */
static int ref_pattern_match(const char *pat, const char *path, size_t plen, h2o_iovec_t *caps, const char **names,
                             size_t *namelens, size_t *ncaps)
{
    size_t pi = 0, xi = 0, n = 0;
    while (pat[pi] != '\0') {
        if (pat[pi] == '{') {
            const char *close = strchr(pat + pi, '}');
            if (close == NULL || n == ROUTE_MAX_PARAMS)
                return 0;
            int rest = pat[pi + 1] == '*';
            names[n] = pat + pi + 1 + rest;
            namelens[n] = (size_t)(close - names[n]);
            size_t start = xi;
            if (rest)
                xi = plen;
            else
                while (xi < plen && path[xi] != '/')
                    xi++;
            if (xi == start && !rest)
                return 0;
            caps[n++] = h2o_iovec_init(path + start, xi - start);
            pi = (size_t)(close - pat) + 1;
            continue;
        }
        if (xi >= plen || path[xi] != pat[pi])
            return 0;
        pi++;
        xi++;
    }
    *ncaps = n;
    return xi == plen;
}

static const route_t *ref_match(const char *method, const char *path, size_t plen, char *allow, size_t allowlen,
                                h2o_iovec_t *caps, const char **names, size_t *namelens, size_t *ncaps)
{
    size_t alen = 0, mlen = strlen(method);
    allow[0] = '\0';
    int head = strcmp(method, "HEAD") == 0;
    for (size_t i = 0; i < route_table_count; i++) {
        const route_t *rt = &route_table[i];
        if (!ref_pattern_match(rt->pattern, path, plen, caps, names, namelens, ncaps))
            continue;
        if ((strlen(rt->method) == mlen && memcmp(rt->method, method, mlen) == 0) || (head && strcmp(rt->method, "GET") == 0))
            return rt;
        if (strstr(allow, rt->method) == NULL) {
            int w = snprintf(allow + alen, allowlen - alen, "%s%s", alen ? ", " : "", rt->method);
            if (w > 0 && (size_t)w < allowlen - alen)
                alen += (size_t)w;
        }
    }
    return NULL;
}

static size_t diff_checked;

/* router_match and the reference agree on route, Allow and captures */
static void check_same(const char *method, const char *path, size_t plen)
{
    static h2o_req_t req;
    hc_req_t r;
    memset(&r, 0, sizeof(r));
    h2o_mem_init_pool(&req.pool);
    r.req = &req;
    char allow[128], ref_allow[128];
    h2o_iovec_t caps[ROUTE_MAX_PARAMS];
    const char *names[ROUTE_MAX_PARAMS];
    size_t namelens[ROUTE_MAX_PARAMS], ncaps = 0;
    const route_t *got = router_match(method, strlen(method), path, plen, &r, allow, sizeof(allow));
    const route_t *want = ref_match(method, path, plen, ref_allow, sizeof(ref_allow), caps, names, namelens, &ncaps);
    if (got != want || strcmp(allow, ref_allow) != 0)
        fail_msg("%s %.*s: got %s (allow \"%s\"), want %s (allow \"%s\")", method, (int)plen, path,
                 got ? got->pattern : "none", allow, want ? want->pattern : "none", ref_allow);
    if (want != NULL) {
        assert_int_equal(r.nparams, ncaps);
        for (size_t i = 0; i < ncaps; i++) {
            assert_int_equal(strlen(r.param_names[i]), namelens[i]);
            assert_memory_equal(r.param_names[i], names[i], namelens[i]);
            assert_ptr_equal(r.params[i].base, caps[i].base);
            assert_int_equal(r.params[i].len, caps[i].len);
        }
    }
    /* the small Allow buffer the pre-body check passes is cut the same way */
    char small[8], ref_small[8];
    got = router_match(method, strlen(method), path, plen, NULL, small, sizeof(small));
    want = ref_match(method, path, plen, ref_small, sizeof(ref_small), caps, names, namelens, &ncaps);
    assert_ptr_equal(got, want);
    assert_string_equal(small, ref_small);
    h2o_mem_clear_pool(&req.pool);
    diff_checked++;
}

/* Every route's pattern with its captures filled in several ways, cut,
 * extended and with trailing slashes, under every method: the index answers
 * as the plain walk does. */
static void test_index_agrees_with_walk(void **state)
{
    (void)state;
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "GE", "GETX"};
    static const char *const fills[] = {"x1", "summary", "check", "exec", "a%2Fb", "caf\xc3\xa9", "", "a/b", "{id}", "x1/"};
    diff_checked = 0;
    for (size_t i = 0; i < route_table_count; i++) {
        for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
            char path[512];
            size_t o = 0;
            for (const char *p = route_table[i].pattern; *p && o < sizeof(path) - 32;) {
                if (*p == '{') {
                    o += (size_t)snprintf(path + o, sizeof(path) - o, "%s", fills[f]);
                    p = strchr(p, '}') + 1;
                } else {
                    path[o++] = *p++;
                }
            }
            path[o] = '\0';
            char variant[600];
            const char *const tails[] = {"", "/", "//", "/x", "/x/y", "x", "?"};
            for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
                int n = snprintf(variant, sizeof(variant), "%s%s", path, tails[t]);
                for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
                    check_same(methods[m], variant, (size_t)n);
                    /* every prefix: the path cut anywhere */
                    if (m == 0)
                        for (int k = 0; k < n; k++)
                            check_same(methods[m], variant, (size_t)k);
                }
            }
        }
    }
    /* odd shapes */
    static const char *const odd[] = {"", "/", "//", "api", "/api", "/api/", "/api//v1/nodes", "//api/v1/nodes",
                                      "/api/v1/nodes//x", "/static", "/static/", "/static//", "/static/a/b/c.css",
                                      "/STATIC/x", "/api/v1/nodes/\xff", "nodes/x", "/api/v1/nodes/x/exec/y/result/"};
    for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++)
        for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
            check_same(methods[m], odd[k], strlen(odd[k]));
    /* a NUL inside the path is just a byte that matches no literal */
    check_same("GET", "/api/v1/nodes/a\0b", 16);
    check_same("GET", "/api/v1/health\0", 15);
    assert_true(diff_checked > 10000);
}

static void test_allow_lists_methods_in_table_order(void **state)
{
    (void)state;
    char allow[128];
    assert_null(match("PUT", "/api/v1/nodes/n1", allow, sizeof(allow)));
    assert_string_equal(allow, "GET, PATCH, DELETE");
    assert_null(match("POST", "/api/v1/nodes/summary", allow, sizeof(allow)));
    /* "summary" is also an {id}: both routes' methods, each once */
    assert_string_equal(allow, "GET, PATCH, DELETE");
    assert_null(match("DELETE", "/api/v1/health", allow, sizeof(allow)));
    assert_string_equal(allow, "GET");
    /* a literal route listed before a capture route wins for its path */
    const route_t *r = match("GET", "/api/v1/nodes/summary", allow, sizeof(allow));
    assert_non_null(r);
    assert_string_equal(r->pattern, "/api/v1/nodes/summary");
}

static void test_trailing_slashes_and_encoded_bytes(void **state)
{
    (void)state;
    char allow[128];
    assert_null(match("GET", "/api/v1/nodes/", allow, sizeof(allow)));
    assert_string_equal(allow, "");
    assert_null(match("GET", "/api/v1/nodes/n1/", allow, sizeof(allow)));
    assert_null(match("GET", "/api/v1/nodes//events", allow, sizeof(allow)));
    assert_null(match("GET", "/api/v1/health//", allow, sizeof(allow)));
    /* the router sees the decoded path: an encoded slash stays bytes of one capture */
    static h2o_req_t req;
    h2o_mem_init_pool(&req.pool);
    hc_req_t r;
    memset(&r, 0, sizeof(r));
    r.req = &req;
    const char *p = "/api/v1/nodes/a%2Fb/events";
    const route_t *rt = router_match("GET", 3, p, strlen(p), &r, allow, sizeof(allow));
    assert_non_null(rt);
    assert_string_equal(rt->pattern, "/api/v1/nodes/{id}/events");
    assert_string_equal(route_param(&r, "id"), "a%2Fb");
    p = "/api/v1/nodes/caf\xc3\xa9";
    rt = router_match("GET", 3, p, strlen(p), &r, allow, sizeof(allow));
    assert_non_null(rt);
    assert_string_equal(route_param(&r, "id"), "caf\xc3\xa9");
    assert_null(route_param(&r, "execId"));
    p = "/api/v1/nodes/n1/exec/e-7/result";
    rt = router_match("GET", 3, p, strlen(p), &r, allow, sizeof(allow));
    assert_non_null(rt);
    assert_string_equal(rt->pattern, "/api/v1/nodes/{id}/exec/{execId}/result");
    assert_string_equal(route_param(&r, "id"), "n1");
    assert_string_equal(route_param(&r, "execId"), "e-7");
    h2o_mem_clear_pool(&req.pool);
}

static void test_rest_capture(void **state)
{
    (void)state;
    static h2o_req_t req;
    h2o_mem_init_pool(&req.pool);
    hc_req_t r;
    memset(&r, 0, sizeof(r));
    r.req = &req;
    char allow[128];
    const char *p = "/static/js/app.js";
    const route_t *rt = router_match("GET", 3, p, strlen(p), &r, allow, sizeof(allow));
    assert_non_null(rt);
    assert_string_equal(rt->pattern, "/static/{*path}");
    assert_string_equal(route_param(&r, "path"), "js/app.js");
    /* the rest may be empty, or hold empty segments */
    p = "/static/";
    assert_non_null(router_match("GET", 3, p, strlen(p), &r, allow, sizeof(allow)));
    assert_string_equal(route_param(&r, "path"), "");
    p = "/static//a//";
    assert_non_null(router_match("GET", 3, p, strlen(p), &r, allow, sizeof(allow)));
    assert_string_equal(route_param(&r, "path"), "/a//");
    /* but the slash before it is needed */
    assert_null(match("GET", "/static", allow, sizeof(allow)));
    assert_null(match("POST", "/static/x", allow, sizeof(allow)));
    assert_string_equal(allow, "GET");
    h2o_mem_clear_pool(&req.pool);
}

static int clean(const char *s)
{
    return router_text_is_clean(s, strlen(s));
}

static void test_text_is_clean(void **state)
{
    (void)state;
    assert_true(clean("node-1"));
    assert_true(clean("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")); /* 2, 3 and 4 byte sequences */
    assert_true(clean(""));
    assert_false(router_text_is_clean("a\0b", 3));                   /* NUL */
    assert_true(clean("a\tb\x01"));                                  /* other control bytes are the handlers' business */
    assert_false(clean("\xff"));                                      /* never in UTF-8 */
    assert_false(clean("\xc3"));                                      /* cut short */
    assert_false(clean("\xe2\x82"));
    assert_false(clean("\xc0\xaf"));                                 /* overlong '/' */
    assert_false(clean("\xe0\x80\xaf"));
    assert_false(clean("\xed\xa0\x80"));                            /* a surrogate */
    assert_false(clean("\xf4\x90\x80\x80"));                       /* above U+10FFFF */
    assert_false(clean("\x80"));                                      /* a lone continuation byte */
}

static void test_text_sanitize(void **state)
{
    (void)state;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    assert_string_equal(router_text_sanitize(&pool, "abc\0junk", 8, 100), "abc%00junk");
    assert_string_equal(router_text_sanitize(&pool, "/\xff\xc3\xa9\n", 5, 100), "/%FF\xc3\xa9%0A");
    assert_string_equal(router_text_sanitize(&pool, "abcdef", 6, 3), "abc");
    /* a sequence cut by the length limit is escaped, never left broken */
    assert_string_equal(router_text_sanitize(&pool, "a\xc3\xa9", 3, 2), "a%C3");
    h2o_mem_clear_pool(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_match),       cmocka_unit_test(test_head_matches_get),
        cmocka_unit_test(test_unknown_path_is_404), cmocka_unit_test(test_wrong_method_lists_allow),
        cmocka_unit_test(test_captures),          cmocka_unit_test(test_every_route_matches_itself),
        cmocka_unit_test(test_table_is_sane),     cmocka_unit_test(test_text_is_clean),
        cmocka_unit_test(test_text_sanitize),     cmocka_unit_test(test_index_agrees_with_walk),
        cmocka_unit_test(test_allow_lists_methods_in_table_order),
        cmocka_unit_test(test_trailing_slashes_and_encoded_bytes),
        cmocka_unit_test(test_rest_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
