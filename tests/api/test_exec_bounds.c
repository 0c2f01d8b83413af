/* The pending exec queue per node is bounded (exec.max_pending: 429
 * too_many_pending past it, also for concurrent submissions and after a
 * restart) and GET /api/v1/nodes/{id}/exec pages without command bodies by
 * default (?limit, ?after / ?before cursors, ?full=true for the whole
 * command). */
#include <pthread.h>
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
static char node_id[64], node_tok[80];

static long submit(const char *command, char *id_out)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", node_id);
    json_t *b = json_pack("{s:s, s:i}", "command", command, "timeout_s", 60);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, body);
    free(body);
    long st = r.status;
    if (st == 429)
        hc_assert_error(&r, 429, "too_many_pending");
    if (st == 202 && id_out != NULL)
        snprintf(id_out, 64, "%s", json_string_value(json_object_get(r.json, "id")));
    hc_resp_free(&r);
    return st;
}

static hc_resp_t list(const char *query)
{
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec%s", node_id, query);
    return hc_get(srv, path, TEST_ADMIN_TOKEN);
}

static const char *id_at(hc_resp_t *r, size_t i)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(r->json, "commands"), i), "id"));
}

static void *submit_thread(void *arg)
{
    long *st = arg;
    *st = submit("echo concurrent", NULL);
    return NULL;
}

static void purge(void)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", node_id);
    hc_resp_t r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
}

static void test_pending_bounded(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(submit("echo x", NULL), 202);
    assert_int_equal(submit("echo one too many", NULL), 429);
    hc_resp_t r = list("");
    assert_int_equal(json_integer_value(json_object_get(r.json, "pending")), 5);
    hc_resp_free(&r);
    /* the bound holds across a restart (the queue is loaded from the database) */
    assert_int_equal(hc_server_stop(srv), 0);
    hc_server_restart(srv);
    assert_int_equal(submit("echo after restart", NULL), 429);
    purge();

    /* concurrent submissions cannot pass it together */
    pthread_t th[16];
    long st[16];
    for (int i = 0; i < 16; i++)
        assert_int_equal(pthread_create(&th[i], NULL, submit_thread, &st[i]), 0);
    int ok = 0, full = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        ok += st[i] == 202;
        full += st[i] == 429;
    }
    assert_int_equal(ok, 5);
    assert_int_equal(full, 11);
    /* a command handed to the agent is no longer pending: room for one more */
    r = hc_request(srv, "GET", "/api/v1/body/exec?wait=0", node_tok, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_int_equal(submit("echo one more", NULL), 202);
    assert_int_equal(submit("echo full again", NULL), 429);
    purge();
}

static void test_listing_pages_without_bodies(void **state)
{
    (void)state;
    purge();
    /* a 64 KiB command: listed by its first 256 bytes unless ?full=true */
    char *big = malloc(65536 + 1);
    memset(big, 'a', 65536);
    big[65536] = '\0';
    char ids[5][64];
    assert_int_equal(submit(big, ids[0]), 202);
    for (int i = 1; i < 5; i++)
        assert_int_equal(submit("echo small", ids[i]), 202);
    hc_resp_t r = list("?limit=5");
    assert_int_equal(r.status, 200);
    json_t *first = json_array_get(json_object_get(r.json, "commands"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), ids[0]);
    assert_int_equal(strlen(json_string_value(json_object_get(first, "command"))), 256);
    assert_int_equal(json_integer_value(json_object_get(first, "command_bytes")), 65536);
    assert_null(json_object_get(first, "stdout"));
    assert_true(r.len < 8192); /* not the 64 KiB command */
    assert_string_equal(json_string_value(json_object_get(r.json, "next_after")), ids[4]);
    hc_resp_free(&r);
    r = list("?full=true&limit=1");
    first = json_array_get(json_object_get(r.json, "commands"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "command")), big);
    hc_resp_free(&r);
    free(big);

    /* pages of 2: forward with next_after, back with prev_before */
    r = list("?limit=2");
    assert_int_equal(json_array_size(json_object_get(r.json, "commands")), 2);
    assert_string_equal(id_at(&r, 0), ids[0]);
    assert_string_equal(id_at(&r, 1), ids[1]);
    assert_true(json_is_null(json_object_get(r.json, "prev_before")));
    char q[200];
    snprintf(q, sizeof(q), "?limit=2&after=%s", json_string_value(json_object_get(r.json, "next_after")));
    hc_resp_free(&r);
    r = list(q);
    assert_string_equal(id_at(&r, 0), ids[2]);
    assert_string_equal(id_at(&r, 1), ids[3]);
    assert_int_equal(json_integer_value(json_object_get(r.json, "pending")), 5);
    char back[200], next[200];
    snprintf(back, sizeof(back), "?limit=2&before=%s", json_string_value(json_object_get(r.json, "prev_before")));
    snprintf(next, sizeof(next), "?limit=2&after=%s", json_string_value(json_object_get(r.json, "next_after")));
    hc_resp_free(&r);
    r = list(next);
    /* the last pending one, then the running command of the previous test */
    assert_string_equal(id_at(&r, 0), ids[4]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "commands"), 1),
                                                          "status")),
                        "running");
    hc_resp_free(&r);
    r = list(back);
    assert_int_equal(json_array_size(json_object_get(r.json, "commands")), 2);
    assert_string_equal(id_at(&r, 0), ids[0]);
    assert_string_equal(id_at(&r, 1), ids[1]);
    hc_resp_free(&r);

    /* bad queries: 400, JSON */
    static const char *const bad[] = {"?limit=0", "?limit=1001", "?limit=x", "?after=exec-nope", "?before=exec-nope",
                                      "?after=a&before=b", "?full=yes", "?page=2", "?limit=1&limit=2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = list(bad[i]);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    purge();
}

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, "exec:\n  max_pending: 5\n");
    hc_enroll_node(srv, "b1", "linux", 1, node_id, node_tok);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_bounded),
        cmocka_unit_test(test_listing_pages_without_bodies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
