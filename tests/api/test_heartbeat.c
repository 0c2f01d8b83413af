/* The agent endpoints: heartbeat (answer, soft state and its flush, input
 * bounds, flags and their acknowledgement across a lost answer and kill -9),
 * provision, shell check, and who may call them. */
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
                                "  heartbeat_interval: 20s\n"
                                "role_catalog:\n"
                                "  - name: render-node\n"
                                "    description: LarkXR render node\n"
                                "    recipe:\n"
                                "      packages: [larkxr, sunshine]\n"
                                "      service: larkxr\n"
                                "  - name: hydraguard-air\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    if (v == NULL)
        fail_msg("no string \"%s\"", k);
    return v;
}

static int flag(json_t *answer, const char *name)
{
    json_t *v = json_object_get(json_object_get(answer, "flags"), name);
    assert_true(json_is_boolean(v));
    return json_is_true(v);
}

static void set_roles(const char *id, const char *body)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", id);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, body);
    if (r.status != 200)
        fail_msg("setting roles: %ld %s", r.status, r.body);
    hc_resp_free(&r);
}

static void test_answer_and_soft_state(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "hb-basic", "windows", 1, id, tok);
    set_roles(id, "{\"roles\":[\"render-node\"]}");
    hc_resp_t r = hc_heartbeat(srv, tok,
                               "{\"version\":\"v0.23.11\",\"stream_status\":\"idle\",\"provider_status\":\"running\","
                               "\"wireguard_ip\":\"10.66.0.21\",\"lan_ip\":\"192.168.10.21\","
                               "\"diagnostics\":{\"wireguard\":\"up\"}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "node_id"), id);
    assert_string_equal(str(r.json, "approval"), "approved");
    assert_int_equal(json_array_size(json_object_get(r.json, "roles")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "roles"), 0)), "render-node");
    assert_false(flag(r.json, "update_node"));
    assert_false(flag(r.json, "update_services"));
    assert_false(flag(r.json, "reprovision"));
    assert_int_equal(json_integer_value(json_object_get(r.json, "flags_generation")), 0);
    assert_true(json_is_integer(json_object_get(r.json, "exec_pending")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "exec_pending")), 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "heartbeat_interval_s")), 20);
    hc_resp_free(&r);

    /* memory changed at once */
    json_t *n = hc_node_get(srv, id);
    assert_string_equal(str(n, "version"), "v0.23.11");
    assert_string_equal(str(n, "stream_status"), "idle");
    assert_string_equal(str(n, "provider_status"), "running");
    assert_string_equal(str(n, "wireguard_ip"), "10.66.0.21");
    assert_string_equal(str(n, "lan_ip"), "192.168.10.21");
    assert_string_equal(str(n, "ip"), "127.0.0.1");
    assert_string_equal(str(n, "node_status"), "online");
    assert_true(json_is_string(json_object_get(n, "last_seen")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(n, "diagnostics"), "wireguard")), "up");
    json_decref(n);

    /* absent fields stay as they were; diagnostics given are replaced whole */
    r = hc_heartbeat(srv, tok, "{\"stream_status\":\"streaming\",\"diagnostics\":{\"app\":\"ok\"}}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    n = hc_node_get(srv, id);
    assert_string_equal(str(n, "version"), "v0.23.11");
    assert_string_equal(str(n, "stream_status"), "streaming");
    assert_string_equal(str(n, "wireguard_ip"), "10.66.0.21");
    assert_null(json_object_get(json_object_get(n, "diagnostics"), "wireguard"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(n, "diagnostics"), "app")), "ok");
    json_decref(n);

    /* an empty body is a plain "alive" */
    r = hc_heartbeat(srv, tok, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
}

static void test_pending_node_gets_no_roles(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "hb-pending", "linux", 0, id, tok);
    set_roles(id, "{\"roles\":[\"render-node\",\"hydraguard-air\"]}");
    hc_resp_t r = hc_heartbeat(srv, tok, "{\"version\":\"v1\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "approval"), "pending");
    assert_true(json_is_array(json_object_get(r.json, "roles")));
    assert_int_equal(json_array_size(json_object_get(r.json, "roles")), 0);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/provision", tok);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "approval"), "pending");
    assert_int_equal(json_array_size(json_object_get(r.json, "roles")), 0);
    hc_resp_free(&r);

    /* once approved, the same roles come with their recipes */
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/approve", id);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/provision", tok);
    assert_int_equal(r.status, 200);
    json_t *roles = json_object_get(r.json, "roles");
    assert_int_equal(json_array_size(roles), 2);
    json_t *first = json_array_get(roles, 0);
    assert_string_equal(str(first, "name"), "render-node");
    assert_string_equal(str(first, "description"), "LarkXR render node");
    json_t *recipe = json_object_get(first, "recipe");
    assert_string_equal(json_string_value(json_object_get(recipe, "service")), "larkxr");
    assert_string_equal(json_string_value(json_array_get(json_object_get(recipe, "packages"), 1)), "sunshine");
    assert_true(json_is_object(json_object_get(json_array_get(roles, 1), "recipe")));
    hc_resp_free(&r);
    r = hc_heartbeat(srv, tok, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "roles")), 2);
    hc_resp_free(&r);
}

/* agents are read tolerantly: a heartbeat with an unusable field is accepted,
 * the field ignored, everything else applied (version "changed"); that it
 * refreshes last_seen is in test_compat.c */
static void expect_tolerated(const char *tok, const char *id, const char *body)
{
    hc_resp_t r = hc_heartbeat(srv, tok, "{\"version\":\"before\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_heartbeat(srv, tok, body);
    if (r.status != 200)
        fail_msg("a heartbeat with an unusable field was refused: %ld %s (%s)", r.status, r.body, body);
    hc_resp_free(&r);
    json_t *after = hc_node_get(srv, id);
    assert_string_equal(json_string_value(json_object_get(after, "version")), "changed");
    json_decref(after);
}

static char *diagnostics_body(int keys, int keylen, int valuelen)
{
    size_t cap = (size_t)keys * (size_t)(keylen + valuelen + 16) + 64;
    char *b = malloc(cap), *p = b;
    p += sprintf(p, "{\"version\":\"changed\",\"diagnostics\":{");
    for (int i = 0; i < keys; i++) {
        char key[128];
        snprintf(key, sizeof(key), "k%0*d", keylen - 1, i);
        p += sprintf(p, "%s\"%s\":\"", i ? "," : "", key);
        memset(p, 'v', (size_t)valuelen);
        p += valuelen;
        *p++ = '"';
    }
    strcpy(p, "}}");
    return b;
}

static void test_diagnostics_bounds(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "hb-diag", "linux", 1, id, tok);
    hc_resp_t r = hc_heartbeat(srv, tok, "{\"version\":\"v1\",\"diagnostics\":{\"a\":\"b\"}}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);

    /* at the bounds: 64 keys of 64 bytes, values of 1024 bytes */
    char *ok = diagnostics_body(64, 64, 1024);
    r = hc_heartbeat(srv, tok, ok);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    free(ok);
    json_t *n = hc_node_get(srv, id);
    assert_int_equal(json_object_size(json_object_get(n, "diagnostics")), 64);
    json_decref(n);

    /* past the bounds: what fits is kept, the rest dropped (counted), the heartbeat accepted */
    char *b = diagnostics_body(65, 8, 4);
    expect_tolerated(tok, id, b);
    free(b);
    n = hc_node_get(srv, id);
    assert_int_equal(json_object_size(json_object_get(n, "diagnostics")), 64);
    json_decref(n);
    b = diagnostics_body(1, 8, 1025);
    expect_tolerated(tok, id, b);
    free(b);
    n = hc_node_get(srv, id);
    assert_int_equal(json_object_size(json_object_get(n, "diagnostics")), 0);
    json_decref(n);
    b = diagnostics_body(1, 65, 4);
    expect_tolerated(tok, id, b);
    free(b);
    /* numbers and booleans are kept as their text; objects are dropped */
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"diagnostics\":{\"x\":5,\"ok\":true,\"y\":{\"z\":1}}}");
    n = hc_node_get(srv, id);
    json_t *d = json_object_get(n, "diagnostics");
    assert_string_equal(json_string_value(json_object_get(d, "x")), "5");
    assert_string_equal(json_string_value(json_object_get(d, "ok")), "true");
    assert_null(json_object_get(d, "y"));
    json_decref(n);
    /* not an object: ignored, the diagnostics stay as they were */
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"diagnostics\":[\"x\"]}");
    n = hc_node_get(srv, id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(n, "diagnostics"), "x")), "5");
    json_decref(n);
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"diagnostics\":{\"\":\"empty key\"}}");
}

static void test_field_validation(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "hb-fields", "linux", 1, id, tok);
    hc_resp_t r = hc_heartbeat(srv, tok, "{\"version\":\"v1\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    /* wrong types and values of known fields: that field is ignored */
    r = hc_heartbeat(srv, tok, "{\"version\":\"v1\",\"provider_status\":\"running\",\"lan_ip\":\"192.168.1.2\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"provider_status\":[]}");
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"stream_status\":true}");
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"wireguard_ip\":\"10.66.0.300\"}");
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"lan_ip\":\"not an ip\"}");
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"flags_ack\":-1}");
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"flags_ack\":\"3\"}");
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"colour\":\"blue\"}");
    json_t *n = hc_node_get(srv, id);
    assert_string_equal(json_string_value(json_object_get(n, "provider_status")), "running");
    assert_string_equal(json_string_value(json_object_get(n, "lan_ip")), "192.168.1.2");
    /* an unknown scalar is kept in the diagnostics, where an admin sees it */
    assert_string_equal(json_string_value(json_object_get(json_object_get(n, "diagnostics"), "colour")), "blue");
    json_decref(n);
    /* an unknown stream_status is stored as reported */
    expect_tolerated(tok, id, "{\"version\":\"changed\",\"stream_status\":\"starting\"}");
    n = hc_node_get(srv, id);
    assert_string_equal(json_string_value(json_object_get(n, "stream_status")), "starting");
    json_decref(n);
    /* a version with control characters or too long is not stored */
    r = hc_heartbeat(srv, tok, "{\"version\":\"changed\\u0001\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    char big[200];
    snprintf(big, sizeof(big), "{\"version\":\"%0100d\"}", 7);
    r = hc_heartbeat(srv, tok, big);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    n = hc_node_get(srv, id);
    assert_string_equal(json_string_value(json_object_get(n, "version")), "changed");
    json_decref(n);
    /* IPv6 is an address too */
    r = hc_heartbeat(srv, tok, "{\"wireguard_ip\":\"fd00::21\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
}

static void test_credentials(void **state)
{
    (void)state;
    hc_resp_t r = hc_heartbeat(srv, NULL, "{}");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_heartbeat(srv, "0000000000000000000000000000000000000000000000000000000000000000", "{}");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_heartbeat(srv, TEST_ADMIN_TOKEN, "{}");
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/provision", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/shell/check", NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);

    /* a rejected node's token authenticates nowhere */
    char id[64], tok[65], path[160];
    hc_enroll_node(srv, "hb-rejected", "linux", 0, id, tok);
    r = hc_heartbeat(srv, tok, "{}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/reject", id);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_heartbeat(srv, tok, "{}");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/provision", tok);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
}

static void test_shell_check_has_no_session(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "hb-shell", "linux", 1, id, tok);
    hc_resp_t r = hc_get(srv, "/api/v1/body/shell/check", tok);
    assert_int_equal(r.status, 200);
    assert_true(json_is_null(json_object_get(r.json, "session")));
    hc_resp_free(&r);
}

static void post_flag(const char *id, const char *which, long generation)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/%s", id, which);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    if (r.status != 200)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    assert_int_equal(json_integer_value(json_object_get(r.json, "flags_generation")), generation);
    hc_resp_free(&r);
}

static void test_flags_survive_lost_answers_and_clear_on_ack(void **state)
{
    (void)state;
    char id[64], tok[65], body[64];
    hc_enroll_node(srv, "hb-flags", "windows", 1, id, tok);
    /* an agent that acknowledges flags says so (any flags_ack; generation 0 before any flag) */
    hc_resp_t r = hc_heartbeat(srv, tok, "{\"flags_ack\":0}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    post_flag(id, "update-services", 1);

    /* the answer of this heartbeat is "lost": the agent does not ack it */
    r = hc_heartbeat(srv, tok, NULL);
    assert_true(flag(r.json, "update_services"));
    assert_int_equal(json_integer_value(json_object_get(r.json, "flags_generation")), 1);
    hc_resp_free(&r);
    r = hc_heartbeat(srv, tok, "{\"version\":\"v2\"}");
    assert_true(flag(r.json, "update_services"));
    assert_false(flag(r.json, "update_node"));
    hc_resp_free(&r);

    /* set flags are durable */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = hc_heartbeat(srv, tok, NULL);
    assert_true(flag(r.json, "update_services"));
    hc_resp_free(&r);

    /* another flag after the agent saw generation 1: acking 1 clears nothing */
    post_flag(id, "reprovision", 2);
    r = hc_heartbeat(srv, tok, "{\"flags_ack\":1}");
    assert_int_equal(r.status, 200);
    assert_true(flag(r.json, "update_services"));
    assert_true(flag(r.json, "reprovision"));
    assert_int_equal(json_integer_value(json_object_get(r.json, "flags_generation")), 2);
    hc_resp_free(&r);

    /* acking the current generation clears them */
    snprintf(body, sizeof(body), "{\"flags_ack\":2}");
    r = hc_heartbeat(srv, tok, body);
    assert_int_equal(r.status, 200);
    assert_false(flag(r.json, "update_services"));
    assert_false(flag(r.json, "reprovision"));
    hc_resp_free(&r);
    json_t *n = hc_node_get(srv, id);
    assert_int_equal(json_array_size(json_object_get(n, "pending_flags")), 0);
    json_decref(n);

    /* and they stay cleared after a crash: the clearing was committed */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    n = hc_node_get(srv, id);
    assert_int_equal(json_array_size(json_object_get(n, "pending_flags")), 0);
    assert_int_equal(json_integer_value(json_object_get(n, "flags_generation")), 2);
    json_decref(n);
    r = hc_heartbeat(srv, tok, NULL);
    assert_false(flag(r.json, "update_services"));
    assert_false(flag(r.json, "reprovision"));
    hc_resp_free(&r);
}

static void test_soft_state_flushed_before_kill9(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "hb-flush", "linux", 1, id, tok);
    json_t *n = hc_node_get(srv, id);
    assert_true(json_is_null(json_object_get(n, "last_seen")));
    json_decref(n);
    hc_resp_t r = hc_heartbeat(srv, tok,
                               "{\"version\":\"v9\",\"stream_status\":\"streaming\",\"provider_status\":\"running\","
                               "\"lan_ip\":\"192.168.1.9\",\"diagnostics\":{\"gpu\":\"ok\"}}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    json_t *before = hc_node_get(srv, id);
    usleep(1600 * 1000); /* the flush runs at least every second */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    n = hc_node_get(srv, id);
    assert_string_equal(str(n, "last_seen"), str(before, "last_seen"));
    assert_string_equal(str(n, "version"), "v9");
    assert_string_equal(str(n, "stream_status"), "streaming");
    assert_string_equal(str(n, "provider_status"), "running");
    assert_string_equal(str(n, "lan_ip"), "192.168.1.9");
    assert_string_equal(str(n, "ip"), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(n, "diagnostics"), "gpu")), "ok");
    json_decref(n);
    json_decref(before);
}

static void test_soft_state_flushed_at_graceful_stop(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "hb-stop", "linux", 1, id, tok);
    hc_resp_t r = hc_heartbeat(srv, tok, "{\"version\":\"v-stop\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_int_equal(hc_server_stop(srv), 0);
    hc_server_restart(srv);
    json_t *n = hc_node_get(srv, id);
    assert_string_equal(str(n, "version"), "v-stop");
    assert_true(json_is_string(json_object_get(n, "last_seen")));
    json_decref(n);
}

/* an admin's address wins over an older heartbeat value waiting for the flush */
static void test_admin_address_not_overwritten_by_flush(void **state)
{
    (void)state;
    char id[64], tok[65], path[160];
    hc_enroll_node(srv, "hb-addr", "linux", 1, id, tok);
    hc_resp_t r = hc_heartbeat(srv, tok, "{\"wireguard_ip\":\"10.66.0.50\"}");
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", id);
    r = hc_json(srv, "PATCH", path, TEST_ADMIN_TOKEN, "{\"wireguard_ip\":\"10.66.0.99\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    usleep(1300 * 1000);
    hc_server_kill9(srv);
    hc_server_restart(srv);
    json_t *n = hc_node_get(srv, id);
    assert_string_equal(str(n, "wireguard_ip"), "10.66.0.99");
    json_decref(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_and_soft_state),
        cmocka_unit_test(test_pending_node_gets_no_roles),
        cmocka_unit_test(test_diagnostics_bounds),
        cmocka_unit_test(test_field_validation),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_shell_check_has_no_session),
        cmocka_unit_test(test_flags_survive_lost_answers_and_clear_on_ack),
        cmocka_unit_test(test_soft_state_flushed_before_kill9),
        cmocka_unit_test(test_soft_state_flushed_at_graceful_stop),
        cmocka_unit_test(test_admin_address_not_overwritten_by_flush),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
