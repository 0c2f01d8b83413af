/* GET /api/v1/enrollments and DELETE /api/v1/enrollments/{id}: the list
 * shows unspent, unexpired enrollments without their token; a revoked token
 * stops working at once, and stays revoked after kill -9; spent, unknown and
 * malformed requests answer 4xx and change nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* mints one; fills id and token */
static void mint(const char *name, const char *os, char *id, char *token)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"os\":\"%s\",\"owner\":\"ops\"}", name, os);
    hc_resp_t r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, body);
    assert_int_equal(r.status, 201);
    snprintf(id, 64, "%s", json_string_value(json_object_get(r.json, "id")));
    snprintf(token, 200, "%s", json_string_value(json_object_get(r.json, "enrollment_token")));
    assert_true(strncmp(id, "enr-", 4) == 0);
    hc_resp_free(&r);
}

/* the listed enrollment with this id, or NULL (caller json_decref) */
static json_t *listed(const char *id)
{
    hc_resp_t r = hc_get(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_true(json_is_array(r.json));
    json_t *found = NULL, *e;
    size_t i;
    json_array_foreach(r.json, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0)
            found = json_incref(e);
    }
    hc_resp_free(&r);
    return found;
}

static long enroll_with(const char *token)
{
    char body[400];
    snprintf(body, sizeof(body), "{\"enrollment_token\":\"%s\",\"hostname\":\"h1\",\"os\":\"linux\"}", token);
    hc_resp_t r = hc_post_json(srv, "/api/v1/enroll", NULL, body);
    long st = r.status;
    hc_resp_free(&r);
    return st;
}

static void test_list_never_shows_token(void **state)
{
    (void)state;
    char id[64], tok[200];
    mint("render-7", "windows", id, tok);
    hc_resp_t r = hc_get(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, tok));
    hc_resp_free(&r);
    json_t *e = listed(id);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "name")), "render-7");
    assert_string_equal(json_string_value(json_object_get(e, "os")), "windows");
    assert_string_equal(json_string_value(json_object_get(e, "owner")), "ops");
    assert_string_equal(json_string_value(json_object_get(e, "created_by")), "admin:config");
    assert_non_null(json_string_value(json_object_get(e, "created_at")));
    assert_non_null(json_string_value(json_object_get(e, "expires_at")));
    assert_null(json_object_get(e, "enrollment_token"));
    assert_null(json_object_get(e, "token_hash"));
    json_decref(e);

    /* a spent one is no longer listed */
    assert_int_equal(enroll_with(tok), 201);
    assert_null(listed(id));
}

static void test_revoke_stops_token_durably(void **state)
{
    (void)state;
    char id[64], tok[200], path[128];
    mint("leaked", "linux", id, tok);
    snprintf(path, sizeof(path), "/api/v1/enrollments/%s", id);
    hc_resp_t r = hc_request(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "revoked");
    hc_resp_free(&r);
    assert_null(listed(id));
    assert_int_equal(enroll_with(tok), 401);

    /* the revocation and its audit entry survive kill -9 */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    assert_int_equal(enroll_with(tok), 401);
    r = hc_get(srv, "/api/v1/audit?limit=20", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"enrollment.revoke\""));
    assert_non_null(strstr(r.body, id));
    hc_resp_free(&r);

    /* twice: gone */
    r = hc_request(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL, NULL, 0, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
}

static void test_revoke_spent_and_bad(void **state)
{
    (void)state;
    char id[64], tok[200], path[128];
    mint("spent", "macos", id, tok);
    assert_int_equal(enroll_with(tok), 201);
    snprintf(path, sizeof(path), "/api/v1/enrollments/%s", id);
    hc_resp_t r = hc_request(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL, NULL, 0, NULL);
    hc_assert_error(&r, 409, "conflict");
    hc_resp_free(&r);

    r = hc_request(srv, "DELETE", "/api/v1/enrollments/enr-doesnotexist", TEST_ADMIN_TOKEN, NULL, NULL, 0, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    char longp[200];
    snprintf(longp, sizeof(longp), "/api/v1/enrollments/%0100d", 7);
    r = hc_request(srv, "DELETE", longp, TEST_ADMIN_TOKEN, NULL, NULL, 0, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/enrollments?limit=3", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);

    /* admin only */
    r = hc_get(srv, "/api/v1/enrollments", NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    mint("other", "linux", id, tok);
    snprintf(path, sizeof(path), "/api/v1/enrollments/%s", id);
    r = hc_request(srv, "DELETE", path, "not-a-token-at-all-0123456789", NULL, NULL, 0, NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    json_t *e = listed(id);
    assert_non_null(e); /* unchanged */
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_never_shows_token),
        cmocka_unit_test(test_revoke_stops_token_durably),
        cmocka_unit_test(test_revoke_spent_and_bad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
