/* Health while every durable write fails (a full disk): after
 * STORE_DEGRADED_AFTER (3) write batches in a row failed to commit, health
 * answers 503 "degraded" with the reason; reads (the health check itself)
 * do not hide it, and the first write that commits makes it ok again. The
 * failing commits come from the test build's fault switch
 * (X-HC-Test-Fail-Commits on a health request, with HC_TEST_ALLOW_STALL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static hc_resp_t health(hc_server_t *s, const char *extra)
{
    return hc_request(s, "GET", "/api/v1/health", NULL, NULL, NULL, 0, extra);
}

static long put_role(hc_server_t *s, const char *name)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/roles/%s", name);
    hc_resp_t r = hc_json(s, "PUT", path, TEST_ADMIN_TOKEN, "{\"description\":\"x\"}");
    long st = r.status;
    if (st == 500)
        hc_assert_error(&r, 500, "store_error");
    hc_resp_free(&r);
    return st;
}

static void test_degraded_while_commits_fail(void **state)
{
    (void)state;
    setenv("HC_TEST_ALLOW_STALL", "1", 1);
    hc_server_t *s = hc_server_start(NULL, NULL);
    unsetenv("HC_TEST_ALLOW_STALL");
    hc_resp_t r = health(s, "X-HC-Test-Fail-Commits: 1000");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);

    /* one and two failures: still ok (a single failed commit is no outage) */
    assert_int_equal(put_role(s, "a1"), 500);
    assert_int_equal(put_role(s, "a2"), 500);
    r = health(s, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_int_equal(put_role(s, "a3"), 500);
    /* health's own read commits fine, and must not make it look ok */
    for (int i = 0; i < 2; i++) {
        r = health(s, NULL);
        assert_int_equal(r.status, 503);
        assert_string_equal(json_string_value(json_object_get(r.json, "status")), "degraded");
        assert_string_equal(json_string_value(json_object_get(r.json, "db")), "error");
        const char *reason = json_string_value(json_object_get(r.json, "reason"));
        assert_non_null(reason);
        assert_non_null(strstr(reason, "the last 3 database commits failed"));
        assert_non_null(strstr(reason, "database or disk is full"));
        hc_resp_free(&r);
    }
    assert_true(hc_server_log_contains(s, "store transaction failed"));

    /* the disk has room again: the next write commits and health is ok */
    r = health(s, "X-HC-Test-Fail-Commits: 0");
    hc_resp_free(&r);
    assert_int_equal(put_role(s, "b1"), 201);
    r = health(s, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    hc_resp_free(&r);
    /* nothing of the failed writes was kept */
    r = hc_get(s, "/api/v1/roles", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "\"a1\""));
    assert_non_null(strstr(r.body, "\"b1\""));
    hc_resp_free(&r);
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_degraded_while_commits_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
