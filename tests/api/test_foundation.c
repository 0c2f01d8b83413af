/* The server skeleton through real HTTP: health, routing errors, request
 * ids, body limits and JSON checks, auth, smuggling, durability of an
 * acknowledged write across kill -9, graceful stop, bad config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static hc_server_t *srv;

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

static void test_health(void **state)
{
    (void)state;
    hc_resp_t r = hc_get(srv, "/api/v1/health", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(r.json);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    assert_string_equal(json_string_value(json_object_get(r.json, "db")), "ok");
    assert_true(json_string_length(json_object_get(r.json, "version")) > 0);
    assert_true(json_is_integer(json_object_get(r.json, "uptime_s")));
    assert_non_null(strstr(hc_resp_header(&r, "content-type"), "application/json"));
    hc_resp_free(&r);
}

static void test_unknown_path_404(void **state)
{
    (void)state;
    hc_resp_t r = hc_get(srv, "/api/v1/no-such-thing", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    r = hc_get(srv, "/no-such-page", NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
}

/* JSON answers carry the standard reason phrase on the status line (some
 * clients log or show it) */
static void test_status_line_reason(void **state)
{
    (void)state;
    static const struct {
        const char *req, *line;
    } cases[] = {
        {"GET /api/v1/no-such-thing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"},
        {"GET /api/v1/nodes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 401 Unauthorized\r\n"},
        {"DELETE /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "HTTP/1.1 405 Method Not Allowed\r\n"},
        {"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = hc_raw(srv, cases[i].req, strlen(cases[i].req), 3000);
        assert_non_null(out);
        if (strncmp(out, cases[i].line, strlen(cases[i].line)) != 0)
            fail_msg("%s answered %.40s", cases[i].req, out);
        free(out);
    }
}

static void test_wrong_method_405_with_allow(void **state)
{
    (void)state;
    hc_resp_t r = hc_json(srv, "DELETE", "/api/v1/health", NULL, NULL);
    hc_assert_error(&r, 405, "method_not_allowed");
    assert_string_equal(hc_resp_header(&r, "allow"), "GET");
    hc_resp_free(&r);
}

static void test_request_id(void **state)
{
    (void)state;
    hc_resp_t r = hc_request(srv, "GET", "/api/v1/health", NULL, NULL, NULL, 0, "X-Request-Id: abc-123_x.y");
    assert_string_equal(hc_resp_header(&r, "x-request-id"), "abc-123_x.y");
    hc_resp_free(&r);
    /* an unsafe one is replaced */
    r = hc_request(srv, "GET", "/api/v1/health", NULL, NULL, NULL, 0, "X-Request-Id: a b\"c");
    const char *rid = hc_resp_header(&r, "x-request-id");
    assert_non_null(rid);
    assert_true(strncmp(rid, "req-", 4) == 0);
    hc_resp_free(&r);
    /* the access log line names it, in logfmt */
    r = hc_request(srv, "GET", "/api/v1/health", NULL, NULL, NULL, 0, "X-Request-Id: logged-rid-42");
    hc_resp_free(&r);
    usleep(100 * 1000);
    assert_true(hc_server_log_contains(srv, "rid=logged-rid-42"));
    assert_true(hc_server_log_contains(srv, "method=GET path=/api/v1/health status=200"));
}

/* the access line quotes path= and req= by the logfmt rules: bare when
 * safe, else quoted with \" \\ \n escaped and other control bytes dropped */
static void test_access_line_quoting(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path, *want;
    } cases[] = {
        {"GET", "/api/v1/health", "method=GET path=/api/v1/health status=200"},
        {"GET", "/api/v1/health", "req=\"GET /api/v1/health\""},
        {"GET", "/api/v1/a%20b", "path=\"/api/v1/a b\" status=404"},
        {"GET", "/api/v1/a%20b", "req=\"GET /api/v1/a b\""},
        {"GET", "/api/v1/k%3Dv", "path=\"/api/v1/k=v\" status=404"},
        {"GET", "/api/v1/q%22t", "path=\"/api/v1/q\\\"t\" status=404"},
        {"GET", "/api/v1/q%22t", "req=\"GET /api/v1/q\\\"t\""},
        {"GET", "/api/v1/b%5Cs", "req=\"GET /api/v1/b\\\\s\""},
        {"GET", "/api/v1/n%0Al", "path=\"/api/v1/n\\nl\" status=404"},
        {"GET", "/api/v1/n%0Al", "req=\"GET /api/v1/n\\nl\""},
        {"GET", "/api/v1/t%09ab", "req=\"GET /api/v1/tab\""},
        {"GET", "/api/v1/caf%C3%A9", "path=\"/api/v1/caf\xc3\xa9\" status=404"},
        {"GET", "/api/v1/caf%C3%A9", "req=\"GET /api/v1/caf\xc3\xa9\""},
        {"BREW", "/api/v1/health", "method=BREW path=/api/v1/health status=405"},
        {"BREW", "/api/v1/health", "req=\"BREW /api/v1/health\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_resp_t r = hc_request(srv, cases[i].method, cases[i].path, NULL, NULL, NULL, 0, NULL);
        hc_resp_free(&r);
    }
    usleep(100 * 1000);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (!hc_server_log_contains(srv, cases[i].want))
            fail_msg("no access line with %s", cases[i].want);
}

static void test_auth_missing_and_wrong(void **state)
{
    (void)state;
    hc_resp_t r = hc_get(srv, "/api/v1/admin-tokens", NULL);
    hc_assert_error(&r, 401, "unauthorized");
    assert_non_null(hc_resp_header(&r, "www-authenticate"));
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/admin-tokens", "wrong-token");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_request(srv, "GET", "/api/v1/admin-tokens", NULL, NULL, NULL, 0, "Authorization: Basic Zm9vOmJhcg==");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    /* the fleet token is valid but not an admin credential */
    r = hc_get(srv, "/api/v1/admin-tokens", TEST_FLEET_TOKEN);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    /* tokens never reach the log */
    assert_false(hc_server_log_contains(srv, TEST_ADMIN_TOKEN));
    assert_false(hc_server_log_contains(srv, "wrong-token"));
}

static void test_metrics_needs_admin(void **state)
{
    (void)state;
    hc_resp_t r = hc_get(srv, "/metrics", NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_get(srv, "/metrics", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "hydracluster_http_requests_total{method=\"GET\",route=\"/api/v1/health\",status=\"200\"}"));
    hc_resp_free(&r);
}

static void test_bad_json_inputs(void **state)
{
    (void)state;
    hc_resp_t r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\": ");
    hc_assert_error(&r, 400, "bad_json");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "[1,2]");
    hc_assert_error(&r, 400, "bad_json");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":\"a\",\"label\":\"b\"}");
    hc_assert_error(&r, 400, "bad_json");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":\"a\\u0000b\"}");
    hc_assert_error(&r, 400, "bad_json");
    hc_resp_free(&r);
    char deep[200];
    memset(deep, '[', 100);
    snprintf(deep, sizeof(deep), "{\"label\":%.*s", 60, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    strcat(deep, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}");
    r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, deep);
    hc_assert_error(&r, 400, "bad_json");
    assert_non_null(strstr(r.body, "deeper"));
    hc_resp_free(&r);
    r = hc_request(srv, "POST", "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "text/plain", "{\"label\":\"x\"}", 13, NULL);
    hc_assert_error(&r, 415, "unsupported_media_type");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":5}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"lable\":\"typo\"}");
    hc_assert_error(&r, 400, "bad_request");
    assert_non_null(strstr(r.body, "lable"));
    hc_resp_free(&r);
    /* nothing was created by any of that */
    r = hc_get(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(r.json), 0);
    hc_resp_free(&r);
}

static void test_oversized_body_413(void **state)
{
    (void)state;
    size_t n = 20 * 1024;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    hc_resp_t r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, big);
    hc_assert_error(&r, 413, "body_too_large");
    hc_resp_free(&r);
    free(big);
    /* still answering */
    r = hc_get(srv, "/api/v1/health", NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
}

static void test_smuggling_rejected(void **state)
{
    (void)state;
    /* Content-Length together with Transfer-Encoding: one request at most, never two */
    const char *cl_te = "POST /api/v1/admin-tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    char *out = hc_raw(srv, cl_te, strlen(cl_te), 1500);
    int responses = 0;
    for (char *p = out; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
        responses++;
    assert_true(responses <= 1);
    assert_null(strstr(out, "\"status\":\"ok\"")); /* the smuggled GET was not served */
    free(out);
    /* conflicting Content-Length headers */
    const char *dup = "POST /api/v1/admin-tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 30\r\n"
                      "Content-Type: application/json\r\nAuthorization: Bearer " TEST_ADMIN_TOKEN "\r\n\r\n{}";
    out = hc_raw(srv, dup, strlen(dup), 1500);
    assert_non_null(strstr(out, "HTTP/1.1 400"));
    free(out);
    hc_resp_t r = hc_get(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(r.json), 0);
    hc_resp_free(&r);
}

/* the framing check reads header names in any case, and a lone header of
 * either kind is fine */
static void test_framing_names_any_case(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "POST /api/v1/admin-tokens HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\nCONTENT-LENGTH: 2\r\n"
        "Authorization: Bearer " TEST_ADMIN_TOKEN "\r\n\r\n{}",
        "POST /api/v1/admin-tokens HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\ntransfer-ENCODING: chunked\r\n"
        "Authorization: Bearer " TEST_ADMIN_TOKEN "\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "POST /api/v1/admin-tokens HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\nContent-length: 7\r\n"
        "Authorization: Bearer " TEST_ADMIN_TOKEN "\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        /* an empty body by the first header, a second request by the other */
        "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 41\r\n\r\n"
        "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n",
        "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = hc_raw(srv, bad[i], strlen(bad[i]), 1500);
        if (strstr(out, "bad_framing") == NULL)
            fail_msg("framing case %zu not refused: %s", i, out);
        assert_null(strstr(out, "HTTP/1.1 201"));
        assert_null(strstr(out, "HTTP/1.1 200"));
        free(out);
    }
    /* one Content-Length, its name in capitals, next to a header whose name
     * merely starts like one: read and answered by the handler (which wants
     * a name in the body) */
    const char *ok = "POST /api/v1/enrollments HTTP/1.1\r\nHost: x\r\nCONTENT-LENGTH: 2\r\nContent-Lengthy: 1\r\n"
                     "Content-Type: application/json\r\nAuthorization: Bearer " TEST_ADMIN_TOKEN "\r\n"
                     "Connection: close\r\n\r\n{}";
    char *out = hc_raw(srv, ok, strlen(ok), 1500);
    assert_non_null(strstr(out, "HTTP/1.1 400"));
    assert_non_null(strstr(out, "\\\"name\\\" is required"));
    free(out);
}

static void test_minted_token_survives_kill9(void **state)
{
    (void)state;
    hc_resp_t r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":\"ci\"}");
    assert_int_equal(r.status, 201);
    char token[128], id[64];
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r.json, "token")));
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.json, "id")));
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/admin-tokens", token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), 1);
    assert_null(strstr(r.body, token)); /* the list never shows a token */
    hc_resp_free(&r);

    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = hc_get(srv, "/api/v1/admin-tokens", token);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);

    char path[128];
    snprintf(path, sizeof(path), "/api/v1/admin-tokens/%s", id);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/admin-tokens", token);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = hc_get(srv, "/api/v1/admin-tokens", token);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
}

/* Workers remember admin tokens' hashes (middleware/auth.c): a token used
 * many times, on every worker, and then revoked is refused at once; a token
 * of the same length differing in one byte never rides on the memory. */
static void test_revoked_token_refused_after_many_uses(void **state)
{
    (void)state;
    hc_resp_t r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":\"memo\"}");
    assert_int_equal(r.status, 201);
    char token[128], id[64];
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r.json, "token")));
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.json, "id")));
    hc_resp_free(&r);
    for (int i = 0; i < 16; i++) { /* a new connection each: spread over the workers */
        r = hc_get(srv, "/api/v1/admin-tokens", token);
        assert_int_equal(r.status, 200);
        hc_resp_free(&r);
    }
    char near[128];
    snprintf(near, sizeof(near), "%s", token);
    near[strlen(near) - 1] = near[strlen(near) - 1] == 'a' ? 'b' : 'a';
    r = hc_get(srv, "/api/v1/admin-tokens", near);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/admin-tokens/%s", id);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    for (int i = 0; i < 16; i++) {
        r = hc_get(srv, "/api/v1/admin-tokens", token);
        hc_assert_error(&r, 401, "unauthorized");
        hc_resp_free(&r);
    }
    r = hc_get(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
}

static void test_concurrent_writes_share_commits(void **state)
{
    (void)state;
    /* 40 mints from 8 processes at once: all acknowledged, all present */
    pid_t kids[8];
    for (int k = 0; k < 8; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            for (int i = 0; i < 5; i++) {
                hc_resp_t r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":\"burst\"}");
                if (r.status != 201)
                    _exit(1);
                hc_resp_free(&r);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 8; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    hc_resp_t r = hc_get(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN);
    size_t burst = 0, i;
    json_t *v;
    json_array_foreach(r.json, i, v) if (strcmp(json_string_value(json_object_get(v, "label")), "burst") == 0) burst++;
    assert_int_equal(burst, 40);
    hc_resp_free(&r);
}

static void test_graceful_stop_exits_zero(void **state)
{
    (void)state;
    assert_int_equal(hc_server_stop(srv), 0);
    assert_true(hc_server_log_contains(srv, "msg=\"stopped\""));
    hc_server_restart(srv);
}

static void test_bad_config_refused(void **state)
{
    (void)state;
    char dir[] = "/tmp/hc-badcfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[300], cmd[1200];
    snprintf(cfg, sizeof(cfg), "%s/config.yaml", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "server:\n  listen: \"127.0.0.1:1\"\n  lisen: oops\n");
    fclose(f);
    snprintf(cmd, sizeof(cmd), "'%s' serve --config '%s' 2>&1; echo \"exit=$?\"", getenv("HC_BINARY"), cfg);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    assert_non_null(strstr(out, "config.yaml:3:"));
    assert_non_null(strstr(out, "lisen"));
    assert_null(strstr(out, "exit=0"));
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_health_degraded_when_db_fails(void **state)
{
    (void)state;
#ifndef HC_TESTING
    skip(); /* the fault switch is compiled only into -Dtesting=true builds */
#endif
    hc_server_stop(srv);
    setenv("HC_TEST_FAIL_DB_CHECK", "1", 1);
    pid_t pid = fork();
    if (pid == 0) {
        execl(getenv("HC_BINARY"), getenv("HC_BINARY"), "serve", "--config", srv->config_path, (char *)NULL);
        _exit(127);
    }
    unsetenv("HC_TEST_FAIL_DB_CHECK");
    srv->pid = pid;
    hc_resp_t r = {0};
    for (int i = 0; i < 200 && r.status == 0; i++) {
        usleep(50 * 1000);
        hc_resp_free(&r);
        r = hc_get(srv, "/api/v1/health", NULL);
    }
    assert_int_equal(r.status, 503);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "degraded");
    assert_string_equal(json_string_value(json_object_get(r.json, "db")), "error");
    hc_resp_free(&r);
    hc_server_stop(srv);
    hc_server_restart(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_unknown_path_404),
        cmocka_unit_test(test_status_line_reason),
        cmocka_unit_test(test_wrong_method_405_with_allow),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_access_line_quoting),
        cmocka_unit_test(test_auth_missing_and_wrong),
        cmocka_unit_test(test_metrics_needs_admin),
        cmocka_unit_test(test_bad_json_inputs),
        cmocka_unit_test(test_oversized_body_413),
        cmocka_unit_test(test_smuggling_rejected),
        cmocka_unit_test(test_framing_names_any_case),
        cmocka_unit_test(test_minted_token_survives_kill9),
        cmocka_unit_test(test_revoked_token_refused_after_many_uses),
        cmocka_unit_test(test_concurrent_writes_share_commits),
        cmocka_unit_test(test_graceful_stop_exits_zero),
        cmocka_unit_test(test_bad_config_refused),
        cmocka_unit_test(test_health_degraded_when_db_fails),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
