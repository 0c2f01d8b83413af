/* Enrollment: mint, spend once, expiry, approval and rejection. */
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
    srv = hc_server_start("  public_url: \"https://cluster.example.com/\"\n", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

static char *mint(const char *body)
{
    hc_resp_t r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, body);
    assert_int_equal(r.status, 201);
    char *tok = strdup(json_string_value(json_object_get(r.json, "enrollment_token")));
    hc_resp_free(&r);
    return tok;
}

static void test_mint_gives_install_commands(void **state)
{
    (void)state;
    hc_resp_t r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN,
                               "{\"name\":\"render-bxl1-09\",\"owner\":\"ops\",\"os\":\"windows\"}");
    assert_int_equal(r.status, 201);
    char tok[128];
    snprintf(tok, sizeof(tok), "%s", json_string_value(json_object_get(r.json, "enrollment_token")));
    assert_int_equal(strlen(tok), 64);
    json_t *install = json_object_get(r.json, "install");
    const char *win = json_string_value(json_object_get(install, "windows"));
    const char *unx = json_string_value(json_object_get(install, "unix"));
    assert_non_null(strstr(win, "https://cluster.example.com/install.ps1"));
    assert_non_null(strstr(win, tok));
    assert_non_null(strstr(unx, "https://cluster.example.com/install.sh"));
    assert_non_null(strstr(unx, tok));
    assert_non_null(json_string_value(json_object_get(r.json, "expires_at")));
    hc_resp_free(&r);
    /* the token never reaches the log */
    assert_false(hc_server_log_contains(srv, tok));
}

static void test_mint_bad_input(void **state)
{
    (void)state;
    hc_resp_t r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, "{\"owner\":\"ops\"}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, "{\"name\":\"x\",\"os\":\"plan9\"}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, "{\"name\":\"x\",\"ttl_s\":1}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/enrollments", NULL, "{\"name\":\"x\"}");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
}

static void test_token_spent_once(void **state)
{
    (void)state;
    char *tok = mint("{\"name\":\"once\",\"os\":\"linux\"}");
    char body[256];
    snprintf(body, sizeof(body), "{\"enrollment_token\":\"%s\",\"hostname\":\"h1\",\"os\":\"linux\",\"arch\":\"amd64\"}", tok);
    hc_resp_t r = hc_post_json(srv, "/api/v1/enroll", NULL, body);
    assert_int_equal(r.status, 201);
    assert_true(strncmp(json_string_value(json_object_get(r.json, "node_id")), "node-", 5) == 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "server_url")), "https://cluster.example.com");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/enroll", NULL, body);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    free(tok);
}

static void test_concurrent_spend_only_one_wins(void **state)
{
    (void)state;
    char *tok = mint("{\"name\":\"race\",\"os\":\"linux\"}");
    char body[256];
    snprintf(body, sizeof(body), "{\"enrollment_token\":\"%s\",\"hostname\":\"h\"}", tok);
    pid_t kids[6];
    for (int k = 0; k < 6; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            hc_resp_t r = hc_post_json(srv, "/api/v1/enroll", NULL, body);
            _exit(r.status == 201 ? 0 : r.status == 401 ? 1 : 2);
        }
    }
    int wins = 0, losses = 0;
    for (int k = 0; k < 6; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        assert_true(WIFEXITED(st));
        if (WEXITSTATUS(st) == 0)
            wins++;
        else if (WEXITSTATUS(st) == 1)
            losses++;
    }
    assert_int_equal(wins, 1);
    assert_int_equal(losses, 5);
    free(tok);
}

static void test_expired_token(void **state)
{
    (void)state;
    /* the shortest ttl is 60 s: spend a token minted "in the past" by moving the
       server's notion of now is not possible, so check the boundary through the database */
    char *tok = mint("{\"name\":\"late\",\"os\":\"linux\",\"ttl_s\":60}");
    hc_server_stop(srv);
    char cmd[600];
    snprintf(cmd, sizeof(cmd),
             "sqlite3 '%s/data/hydracluster.db' \"UPDATE enrollments SET expires_at = '2000-01-01T00:00:00Z' WHERE "
             "name = 'late'\"",
             srv->dir);
    assert_int_equal(system(cmd), 0);
    hc_server_restart(srv);
    char body[256];
    snprintf(body, sizeof(body), "{\"enrollment_token\":\"%s\"}", tok);
    hc_resp_t r = hc_post_json(srv, "/api/v1/enroll", NULL, body);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    free(tok);
}

static void test_enroll_bad_input(void **state)
{
    (void)state;
    hc_resp_t r = hc_post_json(srv, "/api/v1/enroll", NULL, "{\"hostname\":\"x\"}");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/enroll", NULL, "{\"enrollment_token\":\"nope\"}");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    /* read tolerantly: a token that is not a string is no token */
    r = hc_post_json(srv, "/api/v1/enroll", NULL, "{\"enrollment_token\":5}");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
}

static void test_approve_and_reject(void **state)
{
    (void)state;
    char id[64], tok[65], path[128];
    hc_enroll_node(srv, "pending-one", "linux", 0, id, tok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/approve", id);
    hc_resp_t r = hc_post_json(srv, path, tok, NULL); /* a node cannot approve itself */
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "approval")), "approved");
    hc_resp_free(&r);
    /* an approved node cannot be rejected */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/reject", id);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 409, "conflict");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/nodes/node-nope/approve", TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);

    char id2[64], tok2[65];
    hc_enroll_node(srv, "pending-two", "windows", 0, id2, tok2);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/reject", id2);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    /* approval survives kill -9 */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 409, "conflict");
    hc_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mint_gives_install_commands),
        cmocka_unit_test(test_mint_bad_input),
        cmocka_unit_test(test_token_spent_once),
        cmocka_unit_test(test_concurrent_spend_only_one_wins),
        cmocka_unit_test(test_expired_token),
        cmocka_unit_test(test_enroll_bad_input),
        cmocka_unit_test(test_approve_and_reject),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
