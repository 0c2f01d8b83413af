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
        cmocka_unit_test(test_text_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
