/* The role catalog: the seed from config, PUT/DELETE (with ?force), node
 * roles validated against the catalog (every unknown one named, nothing
 * changed), durability across kill -9, and the audit rows. */
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
static char node_id[64], node_tok[65];

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, "role_catalog:\n"
                                "  - name: render-node\n"
                                "    description: LarkXR standalone render node\n"
                                "    recipe:\n"
                                "      packages: [larkxr]\n"
                                "  - name: hydraguard-air\n"
                                "    description: WireGuard mesh\n");
    hc_enroll_node(srv, "role-holder", "windows", 1, node_id, node_tok);
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

static json_t *roles(void)
{
    hc_resp_t r = hc_get(srv, "/api/v1/roles", TEST_ADMIN_TOKEN);
    if (r.status != 200 || !json_is_array(r.json))
        fail_msg("GET /api/v1/roles: %ld %s", r.status, r.body);
    json_t *a = json_incref(r.json);
    hc_resp_free(&r);
    return a;
}

static json_t *role(json_t *catalog, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(catalog, i, v) if (strcmp(str(v, "name"), name) == 0) return v;
    return NULL;
}

static hc_resp_t put_role(const char *name, const char *body)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/roles/%s", name);
    return hc_json(srv, "PUT", path, TEST_ADMIN_TOKEN, body);
}

static hc_resp_t set_roles(const char *id, const char *body)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", id);
    return hc_post_json(srv, path, TEST_ADMIN_TOKEN, body);
}

static void test_seeded_from_config(void **state)
{
    (void)state;
    json_t *c = roles();
    /* the config's two, and the default catalog's three others (migrations/0002) */
    assert_int_equal(json_array_size(c), 5);
    assert_string_equal(str(json_array_get(c, 0), "name"), "hydraguard-air"); /* sorted by name */
    assert_non_null(role(c, "hydraheadipad"));
    json_t *rn = role(c, "render-node");
    assert_non_null(rn);
    assert_string_equal(str(rn, "description"), "LarkXR standalone render node");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(rn, "recipe"), "packages"), 0)),
                        "larkxr");
    assert_true(json_is_object(json_object_get(role(c, "hydraguard-air"), "recipe")));
    json_decref(c);
    hc_resp_t r = hc_get(srv, "/api/v1/audit?target=render-node", TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(r.json), 1);
    assert_string_equal(str(json_array_get(r.json, 0), "action"), "role.seed");
    assert_string_equal(str(json_array_get(r.json, 0), "actor"), "config");
    hc_resp_free(&r);
}

static void test_put(void **state)
{
    (void)state;
    hc_resp_t r = put_role("kiosk-mac", "{\"description\":\"macOS kiosk\",\"recipe\":{\"app\":\"kiosk\"}}");
    assert_int_equal(r.status, 201);
    assert_string_equal(str(r.json, "name"), "kiosk-mac");
    assert_string_equal(str(json_object_get(r.json, "recipe"), "app"), "kiosk");
    hc_resp_free(&r);
    r = put_role("kiosk-mac", "{\"description\":\"macOS kiosk v2\",\"recipe\":{\"app\":\"kiosk2\",\"n\":[1,2]}}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    /* a bare PUT replaces with an empty description and recipe */
    r = put_role("scratch.role_1-x", "{}");
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);
    char name64[65];
    memset(name64, 'a', 64);
    name64[64] = '\0';
    r = put_role(name64, "{\"description\":\"longest name\"}");
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);

    json_t *c = roles();
    json_t *h = role(c, "kiosk-mac");
    assert_string_equal(str(h, "description"), "macOS kiosk v2");
    assert_string_equal(str(json_object_get(h, "recipe"), "app"), "kiosk2");
    assert_string_equal(str(role(c, "scratch.role_1-x"), "description"), "");
    size_t count = json_array_size(c);
    json_decref(c);

    char name65[70], desc[1100], body[1200];
    memset(name65, 'a', 65);
    name65[65] = '\0';
    static const char *const bad_names[] = {"Upper", "with%20space", "caf%C3%A9", NULL};
    for (size_t i = 0; bad_names[i]; i++) {
        r = put_role(bad_names[i], "{}");
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    r = put_role(name65, "{}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    memset(desc, 'd', 1025);
    desc[1025] = '\0';
    snprintf(body, sizeof(body), "{\"description\":\"%s\"}", desc);
    static const char *bad_bodies[] = {"{\"recipe\":[\"x\"]}", "{\"recipe\":\"x\"}", "{\"description\":5}",
                                       "{\"descripton\":\"typo\"}", NULL, NULL};
    bad_bodies[4] = body;
    for (size_t i = 0; bad_bodies[i]; i++) {
        r = put_role("never-made", bad_bodies[i]);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    c = roles();
    assert_int_equal(json_array_size(c), count);
    assert_null(role(c, "never-made"));
    json_decref(c);
}

static void test_node_roles_validated(void **state)
{
    (void)state;
    hc_resp_t r = set_roles(node_id, "{\"roles\":[\"render-node\",\"hydraguard-air\"]}");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "roles")), 2);
    hc_resp_free(&r);

    /* every unknown role is named, and nothing changes */
    r = set_roles(node_id, "{\"roles\":[\"render-node\",\"nope\",\"also-nope\",\"Bad Name\",\"nope\"]}");
    hc_assert_error(&r, 400, "unknown_role");
    const char *msg = str(r.json, "error");
    assert_non_null(strstr(msg, "\"nope\""));
    assert_non_null(strstr(msg, "\"also-nope\""));
    assert_non_null(strstr(msg, "\"Bad Name\""));
    assert_null(strstr(msg, "\"render-node\""));
    json_t *unknown = json_object_get(r.json, "unknown_roles");
    assert_int_equal(json_array_size(unknown), 3);
    hc_resp_free(&r);
    json_t *n = hc_node_get(srv, node_id);
    json_t *held = json_object_get(n, "roles");
    assert_int_equal(json_array_size(held), 2);
    assert_string_equal(json_string_value(json_array_get(held, 0)), "render-node");
    assert_string_equal(json_string_value(json_array_get(held, 1)), "hydraguard-air");
    json_decref(n);

    static const char *const bad[] = {"{\"roles\":\"render-node\"}", "{\"roles\":[5]}", "{}", "{\"roles\":[],\"x\":1}",
                                      NULL};
    for (size_t i = 0; bad[i]; i++) {
        r = set_roles(node_id, bad[i]);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    char many[2000] = "{\"roles\":[";
    for (int i = 0; i < 65; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s\"render-node\"", i ? "," : "");
    strcat(many, "]}");
    r = set_roles(node_id, many);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = set_roles("node-nope", "{\"roles\":[\"render-node\"]}");
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);

    /* a repeated name counts once; the order given is kept */
    r = set_roles(node_id, "{\"roles\":[\"kiosk-mac\",\"render-node\",\"kiosk-mac\"]}");
    assert_int_equal(r.status, 200);
    held = json_object_get(r.json, "roles");
    assert_int_equal(json_array_size(held), 2);
    assert_string_equal(json_string_value(json_array_get(held, 0)), "kiosk-mac");
    hc_resp_free(&r);
}

static void test_delete_role(void **state)
{
    (void)state;
    /* node_id holds kiosk-mac and render-node now */
    char other[64], other_tok[65];
    hc_enroll_node(srv, "second-holder", "linux", 1, other, other_tok);
    hc_resp_t r = set_roles(other, "{\"roles\":[\"kiosk-mac\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);

    r = hc_json(srv, "DELETE", "/api/v1/roles/kiosk-mac", TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 409, "conflict");
    json_t *holders = json_object_get(r.json, "nodes");
    assert_int_equal(json_array_size(holders), 2);
    hc_resp_free(&r);
    json_t *c = roles();
    assert_non_null(role(c, "kiosk-mac"));
    json_decref(c);

    static const char *const bad[] = {"/api/v1/roles/kiosk-mac?force=yes",
                                      "/api/v1/roles/kiosk-mac?forse=true", NULL};
    for (size_t i = 0; bad[i]; i++) {
        r = hc_json(srv, "DELETE", bad[i], TEST_ADMIN_TOKEN, NULL);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    r = hc_json(srv, "DELETE", "/api/v1/roles/no-such-role", TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);

    /* an unused role goes without force */
    r = hc_json(srv, "DELETE", "/api/v1/roles/scratch.role_1-x", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "removed_from")), 0);
    hc_resp_free(&r);

    r = hc_json(srv, "DELETE", "/api/v1/roles/kiosk-mac?force=true", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "removed_from")), 2);
    hc_resp_free(&r);
    json_t *n = hc_node_get(srv, node_id);
    assert_int_equal(json_array_size(json_object_get(n, "roles")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(n, "roles"), 0)), "render-node");
    json_decref(n);
    n = hc_node_get(srv, other);
    assert_int_equal(json_array_size(json_object_get(n, "roles")), 0);
    json_decref(n);

    /* the agent sees it on its next poll */
    r = hc_get(srv, "/api/v1/body/provision", node_tok);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "roles")), 1);
    hc_resp_free(&r);

    r = hc_get(srv, "/api/v1/audit?target=kiosk-mac&limit=1", TEST_ADMIN_TOKEN);
    json_t *row = json_array_get(r.json, 0);
    assert_string_equal(str(row, "action"), "role.delete");
    assert_true(json_is_true(json_object_get(json_object_get(row, "detail"), "force")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(row, "detail"), "removed_from")), 2);
    hc_resp_free(&r);
}

static void test_durable_across_kill9(void **state)
{
    (void)state;
    hc_resp_t r = put_role("encoder", "{\"description\":\"NVENC\",\"recipe\":{\"driver\":\"555\"}}");
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);
    r = set_roles(node_id, "{\"roles\":[\"render-node\",\"encoder\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    /* change a seeded role, and delete another one */
    r = put_role("render-node", "{\"description\":\"changed by an admin\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_json(srv, "DELETE", "/api/v1/roles/hydraguard-air", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);

    hc_server_kill9(srv);
    hc_server_restart(srv);
    json_t *c = roles();
    assert_string_equal(str(json_object_get(role(c, "encoder"), "recipe"), "driver"), "555");
    /* the table wins over the seed for a role it has ... */
    assert_string_equal(str(role(c, "render-node"), "description"), "changed by an admin");
    /* ... and the seed puts back a role of the config that is missing */
    assert_non_null(role(c, "hydraguard-air"));
    json_decref(c);
    json_t *n = hc_node_get(srv, node_id);
    assert_int_equal(json_array_size(json_object_get(n, "roles")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(n, "roles"), 1)), "encoder");
    json_decref(n);

    r = hc_json(srv, "DELETE", "/api/v1/roles/encoder?force=true", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    hc_server_kill9(srv);
    hc_server_restart(srv);
    c = roles();
    assert_null(role(c, "encoder"));
    json_decref(c);
    n = hc_node_get(srv, node_id);
    assert_int_equal(json_array_size(json_object_get(n, "roles")), 1);
    json_decref(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_from_config),
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_node_roles_validated),
        cmocka_unit_test(test_delete_role),
        cmocka_unit_test(test_durable_across_kill9),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
