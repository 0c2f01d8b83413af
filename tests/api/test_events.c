/* GET /api/v1/nodes/{id}/events: a node's history through a real server.
 * Enrollment, approval, the first heartbeat (online), the drop noticed by
 * housekeeping past nodes.offline_after (offline, with the last heartbeat
 * before it), the return (online, with last_seen_before), role changes,
 * flags delivered, stream start/stop; newest first, paged with before= and a
 * Link header, filtered by kind and since; presence survives kill -9 without
 * inventing transitions; events are pruned after nodes.events_retention;
 * bad parameters are 400, unknown nodes 404. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static hc_server_t *srv;

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, "nodes:\n"
                                "  offline_after: 1s\n"
                                "role_catalog:\n"
                                "  - name: render-node\n"
                                "  - name: gpu\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

/* the node's events (newest first; caller json_decref) */
static json_t *events(const char *id, const char *query)
{
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/events%s", id, query ? query : "");
    hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    if (r.status != 200)
        fail_msg("%s answered %ld: %s", path, r.status, r.body);
    json_t *a = json_incref(r.json);
    hc_resp_free(&r);
    assert_true(json_is_array(a));
    return a;
}

static const char *kind_at(json_t *a, size_t i)
{
    return json_string_value(json_object_get(json_array_get(a, i), "kind"));
}

static json_t *detail_at(json_t *a, size_t i)
{
    return json_object_get(json_array_get(a, i), "detail");
}

/* waits up to ms for the newest event to be kind; returns the events */
static json_t *wait_newest(const char *id, const char *kind, int ms)
{
    for (int waited = 0;; waited += 100) {
        json_t *a = events(id, NULL);
        if (json_array_size(a) > 0 && strcmp(kind_at(a, 0), kind) == 0)
            return a;
        if (waited >= ms)
            fail_msg("no %s event within %d ms (newest: %s)", kind, ms, json_array_size(a) ? kind_at(a, 0) : "none");
        json_decref(a);
        usleep(100 * 1000);
    }
}

static void heartbeat(const char *tok, const char *json)
{
    hc_resp_t r = hc_heartbeat(srv, tok, json);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
}

static void test_online_offline_online(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "ev-1", "linux", 1, id, tok);
    json_t *a = events(id, NULL);
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(kind_at(a, 0), "approve");
    assert_string_equal(kind_at(a, 1), "enroll");
    json_decref(a);

    heartbeat(tok, NULL);
    a = wait_newest(id, "online", 2000);
    assert_true(json_is_null(json_object_get(detail_at(a, 0), "last_seen_before")));
    json_decref(a);
    heartbeat(tok, NULL); /* still online: nothing new */

    /* silent past offline_after: housekeeping records the drop */
    a = wait_newest(id, "offline", 5000);
    char last_seen[40];
    assert_non_null(json_string_value(json_object_get(detail_at(a, 0), "last_seen")));
    snprintf(last_seen, sizeof(last_seen), "%s", json_string_value(json_object_get(detail_at(a, 0), "last_seen")));
    json_t *node = hc_node_get(srv, id);
    assert_string_equal(json_string_value(json_object_get(node, "last_seen")), last_seen);
    json_decref(node);
    size_t n = json_array_size(a);
    json_decref(a);
    /* recorded once, not at every sweep */
    usleep(800 * 1000);
    a = events(id, NULL);
    assert_int_equal(json_array_size(a), n);
    json_decref(a);

    heartbeat(tok, NULL);
    a = wait_newest(id, "online", 2000);
    assert_string_equal(json_string_value(json_object_get(detail_at(a, 0), "last_seen_before")), last_seen);
    assert_true(json_integer_value(json_object_get(detail_at(a, 0), "offline_s")) >= 2);
    assert_int_equal(json_array_size(a), n + 1);
    json_decref(a);
}

static void test_roles_flags_streams(void **state)
{
    (void)state;
    char id[64], tok[65], path[200];
    hc_enroll_node(srv, "ev-2", "windows", 1, id, tok);
    heartbeat(tok, NULL);

    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", id);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"roles\":[\"gpu\",\"render-node\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    json_t *a = events(id, NULL);
    assert_string_equal(kind_at(a, 0), "roles");
    assert_string_equal(json_string_value(json_array_get(json_object_get(detail_at(a, 0), "roles"), 0)), "gpu");
    assert_string_equal(json_string_value(json_object_get(detail_at(a, 0), "actor")), "admin:config");
    json_decref(a);

    snprintf(path, sizeof(path), "/api/v1/nodes/%s/update-services", id);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_heartbeat(srv, tok, NULL);
    json_int_t gen = json_integer_value(json_object_get(r.json, "flags_generation"));
    hc_resp_free(&r);
    char body[100];
    snprintf(body, sizeof(body), "{\"flags_ack\":%lld}", (long long)gen);
    heartbeat(tok, body);
    a = events(id, NULL);
    assert_string_equal(kind_at(a, 0), "flags_delivered");
    assert_true(json_is_true(json_object_get(detail_at(a, 0), "update_services")));
    assert_true(json_is_false(json_object_get(detail_at(a, 0), "update_node")));
    json_decref(a);

    heartbeat(tok, "{\"stream_status\":\"streaming\"}");
    heartbeat(tok, "{\"stream_status\":\"streaming\"}");
    a = wait_newest(id, "stream_start", 2000);
    assert_string_not_equal(kind_at(a, 1), "stream_start");
    json_decref(a);
    heartbeat(tok, "{\"stream_status\":\"idle\"}");
    a = wait_newest(id, "stream_stop", 2000);
    assert_string_equal(json_string_value(json_object_get(detail_at(a, 0), "from")), "streaming");
    json_decref(a);
}

static void test_paging_and_filters(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "ev-3", "linux", 1, id, tok);
    heartbeat(tok, NULL);
    json_decref(wait_newest(id, "online", 2000));
    json_t *all = events(id, NULL);
    size_t n = json_array_size(all);
    assert_true(n >= 3);
    /* newest first: ids decrease */
    for (size_t i = 1; i < n; i++)
        assert_true(json_integer_value(json_object_get(json_array_get(all, i - 1), "id")) >
                    json_integer_value(json_object_get(json_array_get(all, i), "id")));

    char path[300];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/events?limit=2", id);
    hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), 2);
    const char *link = hc_resp_header(&r, "link");
    assert_non_null(link);
    assert_non_null(strstr(link, "rel=\"next\""));
    char next[300];
    const char *lt = strchr(link, '<'), *gt = strchr(link, '>');
    assert_true(lt && gt && gt > lt);
    snprintf(next, sizeof(next), "%.*s", (int)(gt - lt - 1), lt + 1);
    hc_resp_free(&r);
    r = hc_get(srv, next, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.json, 0), "id")),
                     json_integer_value(json_object_get(json_array_get(all, 2), "id")));
    hc_resp_free(&r);

    /* (the node may have dropped meanwhile: offline_after is 1 s) */
    json_t *a = events(id, "?kind=online,offline");
    assert_true(json_array_size(a) >= 1);
    for (size_t i = 0; i < json_array_size(a); i++)
        assert_true(strcmp(kind_at(a, i), "online") == 0 || strcmp(kind_at(a, i), "offline") == 0);
    assert_string_equal(kind_at(a, json_array_size(a) - 1), "online");
    json_decref(a);
    a = events(id, "?since=2099-01-01T00:00:00Z");
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
    a = events(id, "?since=2000-01-01T00:00:00%2B02:00&limit=1000");
    assert_int_equal(json_array_size(a), n);
    json_decref(a);
    json_decref(all);

    static const char *const bad[] = {"?limit=0", "?limit=1001", "?limit=x", "?before=-1", "?kind=boot",
                                      "?kind=online,", "?since=yesterday", "?page=2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/nodes/%s/events%s", id, bad[i]);
        r = hc_get(srv, path, TEST_ADMIN_TOKEN);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    r = hc_get(srv, "/api/v1/nodes/node-nope/events", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/events", id);
    r = hc_get(srv, path, tok); /* a node token may not read it */
    assert_int_equal(r.status, 403);
    hc_resp_free(&r);
}

static void test_presence_survives_restart(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "ev-4", "linux", 1, id, tok);
    heartbeat(tok, NULL);
    json_t *a = wait_newest(id, "online", 2000);
    json_decref(a);
    a = wait_newest(id, "offline", 5000);
    size_t n = json_array_size(a);
    json_decref(a);
    hc_server_kill9(srv);
    hc_server_restart(srv);
    usleep(1000 * 1000); /* several sweeps: the node is known offline, no second offline */
    a = events(id, NULL);
    assert_int_equal(json_array_size(a), n);
    json_decref(a);
    heartbeat(tok, NULL);
    a = wait_newest(id, "online", 2000);
    assert_int_equal(json_array_size(a), n + 1);
    json_decref(a);
}

static void test_retention(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, "nodes:\n  events_retention: 2s\n");
    hc_server_t *keep = srv;
    srv = s;
    char id[64], tok[65];
    hc_enroll_node(srv, "ev-5", "linux", 1, id, tok);
    json_t *a = events(id, NULL);
    assert_int_equal(json_array_size(a), 2);
    json_decref(a);
    for (int i = 0;; i++) {
        a = events(id, NULL);
        size_t n = json_array_size(a);
        json_decref(a);
        if (n == 0)
            break;
        if (i > 60)
            fail_msg("events older than nodes.events_retention were not pruned");
        usleep(100 * 1000);
    }
    assert_true(hc_server_log_contains(srv, "pruned node events"));
    srv = keep;
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_online_offline_online),
        cmocka_unit_test(test_roles_flags_streams),
        cmocka_unit_test(test_paging_and_filters),
        cmocka_unit_test(test_presence_survives_restart),
        cmocka_unit_test(test_retention),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
