/* The nodes API: list and its filters (and the operators' jq runbook), get,
 * PATCH, DELETE, flags, who may call what, online/offline by offline_after,
 * durability across kill -9, and the audit trail of all of it. */
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
                                "  offline_after: 2s\n"
                                "role_catalog:\n"
                                "  - name: render-node\n"
                                "  - name: hydraguard-air\n"
                                "  - name: hydraheadflatscreen\n");
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

static hc_resp_t admin(const char *method, const char *path, const char *json)
{
    return hc_json(srv, method, path, TEST_ADMIN_TOKEN, json);
}

static void ok(const char *method, const char *path, const char *json)
{
    hc_resp_t r = admin(method, path, json);
    if (r.status != 200)
        fail_msg("%s %s: %ld %s", method, path, r.status, r.body);
    hc_resp_free(&r);
}

static void node_path(char *buf, size_t len, const char *id, const char *suffix)
{
    snprintf(buf, len, "/api/v1/nodes/%s%s", id, suffix);
}

/* ids of a list answer, in order, as "a,b,c" */
static void ids_of(json_t *a, char *out, size_t len)
{
    out[0] = '\0';
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%s", i ? "," : "", str(v, "id"));
    }
}

/* the list for a query; asserts 200 and an array */
static json_t *list(const char *query)
{
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/nodes%s", query);
    hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    if (r.status != 200 || !json_is_array(r.json))
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    json_t *a = json_incref(r.json);
    hc_resp_free(&r);
    return a;
}

static int list_has(json_t *a, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (strcmp(str(v, "id"), id) == 0) return 1;
    return 0;
}

/* ids joined in id order (the list's order) */
static void sorted_ids(char *out, size_t len, const char *x, const char *y, const char *z)
{
    const char *v[3] = {x, y, z};
    size_t n = z ? 3 : 2;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(v[j], v[i]) < 0) {
                const char *t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
    snprintf(out, len, "%s,%s%s%s", v[0], v[1], n == 3 ? "," : "", n == 3 ? v[2] : "");
}

static char body_a[64], tok_a[65], body_b[64], tok_b[65], pend_c[64], tok_c[65];

static void test_list_get_and_filters(void **state)
{
    (void)state;
    char path[200];
    hc_enroll_node(srv, "render-bxl1-02", "windows", 1, body_a, tok_a);
    hc_enroll_node(srv, "render-bxl1-01", "windows", 1, body_b, tok_b);
    hc_enroll_node(srv, "kiosk-lobby", "darwin", 0, pend_c, tok_c);
    node_path(path, sizeof(path), body_a, "");
    ok("PATCH", path, "{\"district\":\"bxl1\",\"venue\":\"cloud-seven\"}");
    node_path(path, sizeof(path), body_b, "");
    ok("PATCH", path, "{\"district\":\"bxl1\",\"venue\":\"atelier\"}");
    node_path(path, sizeof(path), body_a, "/roles");
    ok("POST", path, "{\"roles\":[\"render-node\",\"hydraguard-air\"]}");
    hc_resp_t r = hc_heartbeat(srv, tok_a, "{\"stream_status\":\"streaming\",\"provider_status\":\"running\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_heartbeat(srv, tok_b, "{\"stream_status\":\"idle\"}");
    hc_resp_free(&r);

    /* every node, in id order (keyset paging), with every field of the spec */
    json_t *all = list("");
    char ids[400], want[400];
    ids_of(all, ids, sizeof(ids));
    sorted_ids(want, sizeof(want), pend_c, body_b, body_a);
    assert_string_equal(ids, want);
    json_t *a = NULL;
    for (size_t i = 0; i < json_array_size(all); i++)
        if (strcmp(str(json_array_get(all, i), "id"), body_a) == 0)
            a = json_array_get(all, i);
    assert_non_null(a);
    static const char *const fields[] = {"id", "name", "hostname", "os", "arch", "version", "roles", "owner",
                                         "district", "venue", "approval", "node_status", "last_seen", "enrolled_at",
                                         "ip", "wireguard_ip", "lan_ip", "provider_status", "stream_status", "drain",
                                         "pending_flags", NULL};
    for (size_t i = 0; fields[i]; i++)
        if (json_object_get(a, fields[i]) == NULL)
            fail_msg("the node object lacks \"%s\"", fields[i]);
    assert_string_equal(str(a, "name"), "render-bxl1-02");
    assert_string_equal(str(a, "approval"), "approved");
    assert_string_equal(str(a, "node_status"), "online");
    assert_true(json_is_array(json_object_get(a, "roles")));
    assert_true(json_is_boolean(json_object_get(a, "drain")));
    assert_null(json_object_get(a, "diagnostics")); /* omitted when empty */
    json_decref(all);

    /* one node equals its list entry */
    json_t *one = hc_node_get(srv, body_a);
    json_t *l = list("?stream_status=streaming");
    assert_int_equal(json_array_size(l), 1);
    /* node_status is computed at each read: the offline_after boundary could fall between the two */
    json_object_del(one, "node_status");
    json_object_del(json_array_get(l, 0), "node_status");
    assert_true(json_equal(one, json_array_get(l, 0)));
    json_decref(one);
    json_decref(l);

    struct {
        const char *query;
        const char *expect; /* ids joined, in id order (NULL: body_a and body_b) */
    } cases[] = {
        {"?role=render-node", body_a},
        {"?role=hydraheadflatscreen", ""},
        {"?district=bxl1", NULL},
        {"?district=bxl1&venue=atelier", body_b},
        {"?venue=cloud-seven&role=hydraguard-air", body_a},
        {"?status=pending", pend_c},
        {"?stream_status=idle", body_b},
        {"?district=nowhere", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        l = list(cases[i].query);
        ids_of(l, ids, sizeof(ids));
        if (cases[i].expect == NULL)
            sorted_ids(want, sizeof(want), body_b, body_a, NULL);
        else
            snprintf(want, sizeof(want), "%s", cases[i].expect);
        if (strcmp(ids, want) != 0)
            fail_msg("%s gave [%s], expected [%s]", cases[i].query, ids, want);
        json_decref(l);
    }
    l = list("?status=online");
    assert_true(list_has(l, body_a) && list_has(l, body_b) && !list_has(l, pend_c));
    json_decref(l);
    l = list("?status=offline");
    assert_true(list_has(l, pend_c) && !list_has(l, body_a));
    json_decref(l);

    /* unknown filters and values are errors, not silently ignored */
    static const char *const bad[] = {"?colour=blue",          "?status=asleep",        "?status=",
                                      "?stream_status=dancing", "?role=no-such-role",   "?role=Bad%20Name",
                                      "?district=a&district=b", NULL};
    for (size_t i = 0; bad[i]; i++) {
        snprintf(path, sizeof(path), "/api/v1/nodes%s", bad[i]);
        r = hc_get(srv, path, TEST_ADMIN_TOKEN);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }

    r = hc_get(srv, "/api/v1/nodes/node-does-not-exist", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
}

static void test_runbook_jq_filter(void **state)
{
    (void)state;
    /* exactly the runbook line, through curl and jq */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "curl -fsS -H 'Authorization: Bearer %s' '%s/api/v1/nodes' | "
             "jq -c '[.[] | select(.stream_status==\"streaming\") | {name, id, district}]'",
             TEST_ADMIN_TOKEN, srv->url);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[1024] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    char want[256];
    snprintf(want, sizeof(want), "[{\"name\":\"render-bxl1-02\",\"id\":\"%s\",\"district\":\"bxl1\"}]\n", body_a);
    assert_string_equal(out, want);
}

static void test_credentials(void **state)
{
    (void)state;
    char path[200];
    /* admin endpoints: a node token is 403, no token 401 */
    node_path(path, sizeof(path), body_b, "");
    struct {
        const char *method, *path, *body;
    } admin_only[] = {
        {"GET", "/api/v1/nodes", NULL},
        {"PATCH", path, "{\"name\":\"x\"}"},
        {"DELETE", path, NULL},
        {"GET", "/api/v1/roles", NULL},
        {"PUT", "/api/v1/roles/x", "{}"},
        {"DELETE", "/api/v1/roles/render-node", NULL},
        {"GET", "/api/v1/audit", NULL},
    };
    for (size_t i = 0; i < sizeof(admin_only) / sizeof(admin_only[0]); i++) {
        hc_resp_t r = hc_json(srv, admin_only[i].method, admin_only[i].path, tok_b, admin_only[i].body);
        if (r.status != 403)
            fail_msg("%s %s with a node token: %ld %s", admin_only[i].method, admin_only[i].path, r.status, r.body);
        hc_assert_error(&r, 403, "forbidden");
        hc_resp_free(&r);
        r = hc_json(srv, admin_only[i].method, admin_only[i].path, NULL, admin_only[i].body);
        hc_assert_error(&r, 401, "unauthorized");
        hc_resp_free(&r);
    }
    static const char *const node_posts[] = {"/roles", "/update-node", "/update-services", "/reprovision", NULL};
    for (size_t i = 0; node_posts[i]; i++) {
        node_path(path, sizeof(path), body_b, node_posts[i]);
        hc_resp_t r = hc_post_json(srv, path, tok_b, "{\"roles\":[]}");
        hc_assert_error(&r, 403, "forbidden");
        hc_resp_free(&r);
    }

    /* GET /nodes/{id}: admin, or that very node; another node's token is 403 */
    node_path(path, sizeof(path), body_b, "");
    hc_resp_t r = hc_get(srv, path, tok_b);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "id"), body_b);
    hc_resp_free(&r);
    r = hc_get(srv, path, tok_a);
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = hc_get(srv, path, NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
}

static void test_patch(void **state)
{
    (void)state;
    char path[200];
    node_path(path, sizeof(path), body_b, "");
    hc_resp_t r = admin("PATCH", path,
                        "{\"name\":\"render-bxl1-01b\",\"owner\":\"ops-team\",\"district\":\"bxl2\",\"venue\":\"v2\","
                        "\"drain\":true,\"wireguard_ip\":\"10.66.0.22\",\"lan_ip\":\"192.168.10.22\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "name"), "render-bxl1-01b");
    assert_string_equal(str(r.json, "owner"), "ops-team");
    assert_string_equal(str(r.json, "district"), "bxl2");
    assert_string_equal(str(r.json, "venue"), "v2");
    assert_true(json_is_true(json_object_get(r.json, "drain")));
    assert_string_equal(str(r.json, "wireguard_ip"), "10.66.0.22");
    assert_string_equal(str(r.json, "lan_ip"), "192.168.10.22");
    hc_resp_free(&r);

    json_t *before = hc_node_get(srv, body_b);
    static const char *const bad[] = {
        "{\"name\":\"x\",\"hostname\":\"not-admin-metadata\"}",
        "{\"name\":\"\"}",
        "{\"name\":5}",
        "{\"drain\":\"yes\"}",
        "{\"drain\":null}",
        "{\"wireguard_ip\":\"10.66.0\"}",
        "{\"lan_ip\":\"192.168.1.1/24\"}",
        "{\"owner\":\"a\\nb\"}",
        "{}",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        r = admin("PATCH", path, bad[i]);
        if (r.status != 400)
            fail_msg("PATCH %s: %ld %s", bad[i], r.status, r.body);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    char longname[400];
    snprintf(longname, sizeof(longname), "{\"name\":\"%0300d\"}", 1);
    r = admin("PATCH", path, longname);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    json_t *after = hc_node_get(srv, body_b);
    json_object_del(before, "last_seen");
    json_object_del(after, "last_seen");
    json_object_del(before, "node_status");
    json_object_del(after, "node_status");
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);

    /* clearing with "" and a partial change keep the rest */
    r = admin("PATCH", path, "{\"venue\":\"\",\"drain\":false}");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "venue"), "");
    assert_string_equal(str(r.json, "district"), "bxl2");
    assert_true(json_is_false(json_object_get(r.json, "drain")));
    hc_resp_free(&r);

    r = admin("PATCH", "/api/v1/nodes/node-nope", "{\"name\":\"x\"}");
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);

    /* acknowledged means stored */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    json_t *n = hc_node_get(srv, body_b);
    assert_string_equal(str(n, "name"), "render-bxl1-01b");
    assert_string_equal(str(n, "owner"), "ops-team");
    assert_string_equal(str(n, "district"), "bxl2");
    assert_string_equal(str(n, "venue"), "");
    assert_true(json_is_false(json_object_get(n, "drain")));
    assert_string_equal(str(n, "wireguard_ip"), "10.66.0.22");
    assert_string_equal(str(n, "lan_ip"), "192.168.10.22");
    json_decref(n);
}

static void test_flags_endpoints(void **state)
{
    (void)state;
    char path[200];
    node_path(path, sizeof(path), body_b, "/update-node");
    hc_resp_t r = admin("POST", path, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "pending_flags")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "pending_flags"), 0)), "update_node");
    long g1 = (long)json_integer_value(json_object_get(r.json, "flags_generation"));
    hc_resp_free(&r);
    node_path(path, sizeof(path), body_b, "/update-services");
    ok("POST", path, NULL);
    node_path(path, sizeof(path), body_b, "/reprovision");
    r = admin("POST", path, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "pending_flags")), 3);
    assert_int_equal(json_integer_value(json_object_get(r.json, "flags_generation")), g1 + 2);
    hc_resp_free(&r);
    r = admin("POST", "/api/v1/nodes/node-nope/reprovision", NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    hc_server_kill9(srv);
    hc_server_restart(srv);
    json_t *n = hc_node_get(srv, body_b);
    assert_int_equal(json_array_size(json_object_get(n, "pending_flags")), 3);
    assert_int_equal(json_integer_value(json_object_get(n, "flags_generation")), g1 + 2);
    json_decref(n);
}

static void test_online_then_offline(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "blinker", "linux", 1, id, tok);
    json_t *n = hc_node_get(srv, id);
    assert_string_equal(str(n, "node_status"), "offline"); /* never seen */
    json_decref(n);
    hc_resp_t r = hc_heartbeat(srv, tok, NULL);
    hc_resp_free(&r);
    n = hc_node_get(srv, id);
    assert_string_equal(str(n, "node_status"), "online");
    json_decref(n);
    json_t *l = list("?status=online");
    assert_true(list_has(l, id));
    json_decref(l);
    /* offline_after is 2 s; last_seen has one-second resolution */
    usleep(3500 * 1000);
    n = hc_node_get(srv, id);
    assert_string_equal(str(n, "node_status"), "offline");
    json_decref(n);
    l = list("?status=offline");
    assert_true(list_has(l, id));
    json_decref(l);
    r = hc_heartbeat(srv, tok, NULL);
    hc_resp_free(&r);
    n = hc_node_get(srv, id);
    assert_string_equal(str(n, "node_status"), "online");
    json_decref(n);
}

static void test_delete(void **state)
{
    (void)state;
    char id[64], tok[65], path[200];
    hc_enroll_node(srv, "doomed", "linux", 1, id, tok);
    hc_resp_t r = hc_heartbeat(srv, tok, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    node_path(path, sizeof(path), id, "");
    r = admin("DELETE", path, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "status"), "deleted");
    hc_resp_free(&r);
    /* its token stops working at once */
    r = hc_heartbeat(srv, tok, NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    assert_null(hc_node_get(srv, id));
    r = admin("DELETE", path, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    json_t *l = list("");
    assert_false(list_has(l, id));
    json_decref(l);
    /* and it stays deleted after a crash */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    assert_null(hc_node_get(srv, id));
    r = hc_heartbeat(srv, tok, NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
}

static void test_audit(void **state)
{
    (void)state;
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/audit?target=%s", body_b);
    hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_true(json_is_array(r.json));
    /* newest first: reprovision, update_services, update_node, PATCH x2, PATCH (setup), approve, enroll */
    static const char *const want[] = {"node.reprovision", "node.update_services", "node.update_node", "node.update",
                                       "node.update", "node.update", "node.approve", "node.enroll", NULL};
    size_t i;
    for (i = 0; want[i]; i++) {
        json_t *row = json_array_get(r.json, i);
        if (row == NULL)
            fail_msg("only %zu audit rows for %s: %s", i, body_b, r.body);
        assert_string_equal(str(row, "action"), want[i]);
        assert_string_equal(str(row, "target"), body_b);
        assert_true(json_is_string(json_object_get(row, "at")));
        assert_true(json_is_object(json_object_get(row, "detail")));
        if (i < 6)
            assert_string_equal(str(row, "actor"), "admin:config");
    }
    assert_int_equal(json_array_size(r.json), i);
    json_int_t newest = json_integer_value(json_object_get(json_array_get(r.json, 0), "id"));
    json_int_t second = json_integer_value(json_object_get(json_array_get(r.json, 1), "id"));
    assert_true(newest > second);
    /* the PATCH detail says what changed */
    json_t *detail = json_object_get(json_array_get(r.json, 3), "detail");
    assert_true(json_is_false(json_object_get(detail, "drain")));
    hc_resp_free(&r);

    /* limit and paging */
    snprintf(path, sizeof(path), "/api/v1/audit?target=%s&limit=2", body_b);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(r.json), 2);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/audit?target=%s&limit=1&before=%lld", body_b, (long long)newest);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(r.json), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.json, 0), "id")), second);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/audit", TEST_ADMIN_TOKEN);
    assert_true(json_array_size(r.json) > 8);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/audit?target=nothing-here", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), 0);
    hc_resp_free(&r);

    static const char *const bad[] = {"?limit=0", "?limit=1001", "?limit=ten", "?limit=-5", "?before=0",
                                      "?who=me",  "?limit=5&limit=6", NULL};
    for (size_t k = 0; bad[k]; k++) {
        snprintf(path, sizeof(path), "/api/v1/audit%s", bad[k]);
        r = hc_get(srv, path, TEST_ADMIN_TOKEN);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    r = hc_get(srv, "/api/v1/audit?limit=1000", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
}

static int sql_count(const char *query)
{
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s/data/hydracluster.db' \"%s\"", srv->dir, query);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int n = -1;
    if (fscanf(p, "%d", &n) != 1)
        n = -1;
    assert_int_equal(pclose(p), 0);
    return n;
}

static void test_delete_removes_head_record(void **state)
{
    (void)state;
    char id[64], tok[65], q[300], path[200];
    hc_enroll_node(srv, "kiosk-doomed", "darwin", 1, id, tok);
    assert_int_equal(hc_server_stop(srv), 0);
    snprintf(q, sizeof(q), "INSERT INTO heads (node_id) VALUES ('%s'); SELECT count(*) FROM heads WHERE node_id = '%s'",
             id, id);
    assert_int_equal(sql_count(q), 1);
    hc_server_restart(srv);
    json_t *n = hc_node_get(srv, id);
    assert_true(json_is_true(json_object_get(n, "is_head")));
    json_decref(n);
    node_path(path, sizeof(path), id, "");
    ok("DELETE", path, NULL);
    assert_int_equal(hc_server_stop(srv), 0);
    snprintf(q, sizeof(q), "SELECT count(*) FROM heads WHERE node_id = '%s'", id);
    assert_int_equal(sql_count(q), 0);
    snprintf(q, sizeof(q), "SELECT count(*) FROM nodes WHERE id = '%s'", id);
    assert_int_equal(sql_count(q), 0);
    hc_server_restart(srv);
}

/* the assigned_body_id of head id in GET /api/v1/heads: the string, "" for null */
static void head_pin(const char *id, char *out, size_t len)
{
    hc_resp_t r = hc_get(srv, "/api/v1/heads", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    size_t i;
    json_t *v;
    int found = 0;
    json_array_foreach(r.json, i, v)
    {
        if (strcmp(str(v, "id"), id) == 0) {
            const char *b = json_string_value(json_object_get(v, "assigned_body_id"));
            snprintf(out, len, "%s", b ? b : "");
            found = 1;
        }
    }
    hc_resp_free(&r);
    assert_true(found);
}

static void test_delete_body_unpins_heads(void **state)
{
    (void)state;
    char body[64], btok[65], head[64], htok[65], path[200], req[200], pin[64];
    hc_enroll_node(srv, "body-doomed", "windows", 1, body, btok);
    hc_enroll_node(srv, "kiosk-pinned", "darwin", 1, head, htok);
    node_path(path, sizeof(path), head, "/head-assignment");
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\",\"app_id\":\"Desktop\"}", body);
    ok("POST", path, req);
    head_pin(head, pin, sizeof(pin));
    assert_string_equal(pin, body);
    node_path(path, sizeof(path), body, "");
    hc_resp_t r = admin("DELETE", path, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "unpinned_heads")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "unpinned_heads"), 0)), head);
    hc_resp_free(&r);
    head_pin(head, pin, sizeof(pin));
    assert_string_equal(pin, "");
    hc_server_kill9(srv);
    hc_server_restart(srv);
    head_pin(head, pin, sizeof(pin));
    assert_string_equal(pin, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_get_and_filters),
        cmocka_unit_test(test_runbook_jq_filter),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_patch),
        cmocka_unit_test(test_flags_endpoints),
        cmocka_unit_test(test_online_then_offline),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_delete_removes_head_record),
        cmocka_unit_test(test_delete_body_unpins_heads),
        cmocka_unit_test(test_audit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
