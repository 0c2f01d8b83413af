/*
 * GET /api/v1/nodes at more than one batch: the streamed list (chunked),
 * keyset pages (?limit=&after=, Link rel="next"), filters with paging, and
 * ETags with If-None-Match on lists and single nodes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NODES 160 /* at ~600 bytes each, past one 64 KiB batch of the stream */

static hc_server_t *srv;
static char ids[NODES][64];
static int pending[NODES];

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, NULL);
    char tok[65], name[64];
    for (int i = 0; i < NODES; i++) {
        snprintf(name, sizeof(name), "render-%03d", i);
        pending[i] = i % 5 == 0;
        hc_enroll_node(srv, name, "windows", !pending[i], ids[i], tok);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

static int by_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* the expected ids in id order; only pending ones when only_pending */
static size_t expected(char (*out)[64], int only_pending)
{
    size_t n = 0;
    for (int i = 0; i < NODES; i++)
        if (!only_pending || pending[i])
            memcpy(out[n++], ids[i], 64);
    qsort(out, n, 64, by_str);
    return n;
}

/* the path of a Link rel="next" header, or "" */
static void next_link(hc_resp_t *r, char *out, size_t len)
{
    out[0] = '\0';
    const char *h = hc_resp_header(r, "link");
    if (h == NULL)
        return;
    const char *s = strchr(h, '<'), *e = s ? strchr(s, '>') : NULL;
    assert_non_null(e);
    assert_non_null(strstr(e, "rel=\"next\""));
    snprintf(out, len, "%.*s", (int)(e - s - 1), s + 1);
}

static void test_streamed_full_list(void **state)
{
    (void)state;
    hc_resp_t r = hc_get(srv, "/api/v1/nodes", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_true(r.len > 64 * 1024);
    /* more than one batch: streamed with chunked encoding, not built whole */
    const char *te = hc_resp_header(&r, "transfer-encoding");
    assert_non_null(te);
    assert_string_equal(te, "chunked");
    assert_true(json_is_array(r.json));
    static char want[NODES][64];
    size_t n = expected(want, 0);
    assert_int_equal(json_array_size(r.json), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(r.json, i), "id")), want[i]);
    hc_resp_free(&r);
}

/* follows Link headers from first; checks the concatenation is exactly want */
static void walk_pages(const char *first, char (*want)[64], size_t n, size_t limit)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s", first);
    size_t got = 0, pages = 0;
    while (path[0]) {
        hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN);
        assert_int_equal(r.status, 200);
        assert_true(json_is_array(r.json));
        assert_non_null(hc_resp_header(&r, "content-length")); /* a page is complete before it starts */
        size_t k = json_array_size(r.json);
        assert_true(k <= limit);
        for (size_t i = 0; i < k; i++) {
            assert_true(got < n);
            assert_string_equal(json_string_value(json_object_get(json_array_get(r.json, i), "id")), want[got]);
            got++;
        }
        next_link(&r, path, sizeof(path));
        /* a Link exactly while more remain */
        if (got < n)
            assert_true(path[0] != '\0' && k == limit);
        else
            assert_string_equal(path, "");
        hc_resp_free(&r);
        pages++;
        assert_true(pages <= n + 1);
    }
    assert_int_equal(got, n);
}

/* HEAD sends the headers a GET would and no body, whatever path the GET
 * takes (streamed, one page, one node, JSON answers): a pipelined request
 * behind it is answered on the same connection, right after those headers */
static void test_head_sends_no_body(void **state)
{
    (void)state;
    char node[128];
    snprintf(node, sizeof(node), "/api/v1/nodes/%s", ids[1]);
    const char *paths[] = {"/api/v1/nodes",         "/api/v1/nodes?limit=3", "/api/v1/nodes?limit=500",
                           "/api/v1/nodes/summary", node,                    "/api/v1/roles",
                           "/api/v1/health",        "/api/v1/audit",         "/metrics",
                           NULL};
    for (int i = 0; paths[i] != NULL; i++) {
        char req[1024];
        snprintf(req, sizeof(req),
                 "HEAD %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TEST_ADMIN_TOKEN "\r\n\r\n"
                 "GET /api/v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                 paths[i]);
        char *raw = hc_raw(srv, req, strlen(req), 5000);
        assert_non_null(raw);
        const char *end = strstr(raw, "\r\n\r\n");
        if (strncmp(raw, "HTTP/1.1 200", 12) != 0 || end == NULL || strncmp(end + 4, "HTTP/1.1 200", 12) != 0)
            fail_msg("HEAD %s, then GET on the same connection: %.300s", paths[i], end ? end + 4 : raw);
        free(raw);
    }
}

static void test_keyset_pages(void **state)
{
    (void)state;
    static char want[NODES][64];
    size_t n = expected(want, 0);
    walk_pages("/api/v1/nodes?limit=37", want, n, 37);
    walk_pages("/api/v1/nodes?limit=1000", want, n, 1000);
    /* exactly n per page: the last full page has no Link */
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/nodes?limit=%d", NODES);
    walk_pages(path, want, n, NODES);

    /* after= an id that is not a node: from the next id on */
    char after[80];
    snprintf(after, sizeof(after), "%.*s~", (int)strlen(want[9]) - 1, want[9]);
    size_t from = 0;
    while (from < n && strcmp(want[from], after) <= 0)
        from++;
    snprintf(path, sizeof(path), "/api/v1/nodes?after=%s", after);
    hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), n - from);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.json, 0), "id")), want[from]);
    hc_resp_free(&r);
    /* past the last id: an empty array, no Link */
    snprintf(path, sizeof(path), "/api/v1/nodes?limit=5&after=%s", want[n - 1]);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), 0);
    assert_null(hc_resp_header(&r, "link"));
    hc_resp_free(&r);
}

static void test_filters_with_pages(void **state)
{
    (void)state;
    static char want[NODES][64];
    size_t n = expected(want, 1);
    walk_pages("/api/v1/nodes?status=pending&limit=7", want, n, 7);
    /* the Link keeps the filter */
    hc_resp_t r = hc_get(srv, "/api/v1/nodes?limit=3&status=pending&district=", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    char link[512];
    next_link(&r, link, sizeof(link));
    assert_non_null(strstr(link, "status=pending"));
    assert_non_null(strstr(link, "district="));
    assert_non_null(strstr(link, "limit=3"));
    hc_resp_free(&r);

    static const char *const bad[] = {"?limit=0",     "?limit=1001", "?limit=abc",         "?limit=-1",
                                      "?limit=",      "?limit=2x",   "?limit=5&limit=6",   NULL};
    for (size_t i = 0; bad[i]; i++) {
        char path[200];
        snprintf(path, sizeof(path), "/api/v1/nodes%s", bad[i]);
        r = hc_get(srv, path, TEST_ADMIN_TOKEN);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/nodes?after=%070d", 7);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
}

static hc_resp_t get_if(const char *path, const char *etag)
{
    char h[400];
    snprintf(h, sizeof(h), "If-None-Match: %s", etag);
    return hc_request(srv, "GET", path, TEST_ADMIN_TOKEN, NULL, NULL, 0, h);
}

static void check_etag(const char *path, const char *patch_path, const char *patch_body)
{
    hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    char etag[100];
    assert_non_null(hc_resp_header(&r, "etag"));
    snprintf(etag, sizeof(etag), "%s", hc_resp_header(&r, "etag"));
    assert_true(etag[0] == '"');
    hc_resp_free(&r);

    r = get_if(path, etag);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.len, 0);
    assert_string_equal(hc_resp_header(&r, "etag"), etag);
    hc_resp_free(&r);
    /* a list of tags, weak form, and * */
    char list[300];
    snprintf(list, sizeof(list), "\"other\", W/%s", etag);
    r = get_if(path, list);
    assert_int_equal(r.status, 304);
    hc_resp_free(&r);
    r = get_if(path, "*");
    assert_int_equal(r.status, 304);
    hc_resp_free(&r);
    r = get_if(path, "\"not-it\"");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);

    /* a change makes the old tag stale */
    r = hc_json(srv, "PATCH", patch_path, TEST_ADMIN_TOKEN, patch_body);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = get_if(path, etag);
    assert_int_equal(r.status, 200);
    assert_true(json_is_array(r.json) || json_is_object(r.json));
    assert_string_not_equal(hc_resp_header(&r, "etag"), etag);
    hc_resp_free(&r);
}

static void test_etags(void **state)
{
    (void)state;
    /* the first node in id order: on the first page */
    static char want[NODES][64];
    expected(want, 0);
    char node[128];
    snprintf(node, sizeof(node), "/api/v1/nodes/%s", want[0]);
    check_etag("/api/v1/nodes", node, "{\"venue\":\"atelier\"}");
    check_etag("/api/v1/nodes?limit=10", node, "{\"venue\":\"cloud-seven\"}");

    /* a page whose nodes did not change keeps its tag when others change */
    char page[200];
    snprintf(page, sizeof(page), "/api/v1/nodes?limit=3&after=%s", want[NODES - 4]);
    hc_resp_t r = hc_get(srv, page, TEST_ADMIN_TOKEN);
    char etag[100];
    snprintf(etag, sizeof(etag), "%s", hc_resp_header(&r, "etag"));
    hc_resp_free(&r);
    r = hc_json(srv, "PATCH", node, TEST_ADMIN_TOKEN, "{\"owner\":\"someone\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = get_if(page, etag);
    assert_int_equal(r.status, 304);
    hc_resp_free(&r);
    check_etag(node, node, "{\"owner\":\"ops\"}");

    /* the streamed serialiser writes what the mutation answers (jansson) do,
     * escapes included */
    r = hc_json(srv, "PATCH", node, TEST_ADMIN_TOKEN,
                          "{\"name\":\"q\\\"uote\\\\ \\u00e9t\\u00e9 \\u2603\",\"district\":\"d/1\"}");
    assert_int_equal(r.status, 200);
    json_t *patched = json_incref(r.json);
    hc_resp_free(&r);
    r = hc_get(srv, node, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    json_object_del(patched, "node_status");
    json_object_del(r.json, "node_status");
    assert_true(json_equal(patched, r.json));
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "q\"uote\\ \xc3\xa9t\xc3\xa9 \xe2\x98\x83");
    json_decref(patched);

    /* HEAD: the GET's headers (length, tag), no body */
    char head[512];
    snprintf(etag, sizeof(etag), "%s", hc_resp_header(&r, "etag"));
    size_t get_len = r.len;
    hc_resp_free(&r);
    snprintf(head, sizeof(head),
             "HEAD %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TEST_ADMIN_TOKEN "\r\nConnection: close\r\n\r\n", node);
    char *raw = hc_raw(srv, head, strlen(head), 5000);
    assert_non_null(raw);
    char want_len[64];
    snprintf(want_len, sizeof(want_len), "\r\ncontent-length: %zu\r\n", get_len);
    for (char *c = raw; *c; c++) /* header names as the harness reads them */
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    if (strncmp(raw, "http/1.1 200", 12) != 0 || strstr(raw, want_len) == NULL || strstr(raw, etag) == NULL)
        fail_msg("HEAD answer: %s (want %s and %s)", raw, want_len + 2, etag);
    const char *end = strstr(raw, "\r\n\r\n");
    assert_non_null(end);
    assert_string_equal(end + 4, ""); /* nothing after the headers */
    free(raw);

    /* a node larger than the handler's first buffer (1,000 bytes): the same
     * object, and its tag still answers 304 */
    char big[1200], text[241];
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    snprintf(big, sizeof(big), "{\"name\":\"n%s\",\"owner\":\"o%s\",\"district\":\"d%s\",\"venue\":\"v%s\"}", text,
             text, text, text);
    r = hc_json(srv, "PATCH", node, TEST_ADMIN_TOKEN, big);
    assert_int_equal(r.status, 200);
    patched = json_incref(r.json);
    hc_resp_free(&r);
    r = hc_get(srv, node, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_true(r.len > 1000);
    json_object_del(patched, "node_status");
    json_object_del(r.json, "node_status");
    assert_true(json_equal(patched, r.json));
    json_decref(patched);
    snprintf(etag, sizeof(etag), "%s", hc_resp_header(&r, "etag"));
    hc_resp_free(&r);
    r = get_if(node, etag);
    assert_int_equal(r.status, 304);
    hc_resp_free(&r);
}

static long num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("summary lacks the number \"%s\"", k);
    return (long)json_integer_value(v);
}

static void test_summary_and_search(void **state)
{
    (void)state;
    int npending = 0;
    for (int i = 0; i < NODES; i++)
        npending += pending[i];
    char path[200];
    /* one node rejected, one draining, one in a district, one heartbeating (online) */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/reject", ids[5]);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", ids[7]);
    r = hc_json(srv, "PATCH", path, TEST_ADMIN_TOKEN, "{\"drain\":true,\"district\":\"Zeebrugge-North\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);

    r = hc_get(srv, "/api/v1/nodes/summary", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(num(r.json, "total"), NODES);
    assert_int_equal(num(r.json, "matched"), NODES);
    assert_int_equal(num(r.json, "pending"), npending - 1);
    assert_int_equal(num(r.json, "rejected"), 1);
    assert_int_equal(num(r.json, "draining"), 1);
    assert_int_equal(num(r.json, "online") + num(r.json, "offline"), NODES - npending);
    json_t *d = json_object_get(r.json, "districts");
    assert_true(json_is_array(d));
    int seen = 0;
    for (size_t i = 0; i < json_array_size(d); i++)
        seen |= strcmp(json_string_value(json_array_get(d, i)), "Zeebrugge-North") == 0;
    assert_true(seen);
    hc_resp_free(&r);

    /* the filters count what the list answers */
    static const char *const q[] = {"?status=rejected", "?status=draining", "?q=zeebrugge%20NORTH", "?q=render-01",
                                    "?status=pending&q=render", NULL};
    for (size_t i = 0; q[i]; i++) {
        snprintf(path, sizeof(path), "/api/v1/nodes/summary%s", q[i]);
        r = hc_get(srv, path, TEST_ADMIN_TOKEN);
        assert_int_equal(r.status, 200);
        long matched = num(r.json, "matched");
        hc_resp_free(&r);
        snprintf(path, sizeof(path), "/api/v1/nodes%s", q[i]);
        r = hc_get(srv, path, TEST_ADMIN_TOKEN);
        assert_int_equal(r.status, 200);
        if ((long)json_array_size(r.json) != matched || matched == 0)
            fail_msg("%s: the list has %zu, the summary says %ld", q[i], json_array_size(r.json), matched);
        hc_resp_free(&r);
    }
    r = hc_get(srv, "/api/v1/nodes?q=zeebrugge", TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(r.json), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.json, 0), "id")), ids[7]);
    hc_resp_free(&r);
    /* render-010 .. render-019 and render-01x: ten names hold "render-01" */
    r = hc_get(srv, "/api/v1/nodes?q=render-01", TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(r.json), 10);
    hc_resp_free(&r);

    static const char *const bad[] = {"?status=asleep", "?colour=red", "?limit=5", "?role=nope",
                                      "?q=a%20b%20c%20d%20e%20f%20g%20h%20i", NULL};
    for (size_t i = 0; bad[i]; i++) {
        snprintf(path, sizeof(path), "/api/v1/nodes/summary%s", bad[i]);
        r = hc_get(srv, path, TEST_ADMIN_TOKEN);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    r = hc_get(srv, "/api/v1/nodes/summary", NULL);
    assert_int_equal(r.status, 401);
    hc_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamed_full_list),
        cmocka_unit_test(test_head_sends_no_body),
        cmocka_unit_test(test_keyset_pages),
        cmocka_unit_test(test_filters_with_pages),
        cmocka_unit_test(test_etags),
        cmocka_unit_test(test_summary_and_search),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
