/* Meeting the clients in the field (issue 11), end to end with the real
 * binary: the runbooks' roles exist on a fresh server; a kiosk is a head
 * because of its head role (and stops being one without it, and is never a
 * body); agents are read tolerantly (unknown fields counted and logged once,
 * last_seen refreshed); flags reach agents that never acknowledge, once,
 * durably; heads report the body they chose; the access log carries the
 * request line; the enrollment warnings. */
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
    srv = hc_server_start(NULL, NULL);
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

static long post_status(const char *path, const char *token, const char *json)
{
    hc_resp_t r = hc_post_json(srv, path, token, json);
    long st = r.status;
    hc_resp_free(&r);
    return st;
}

static long set_roles(const char *id, const char *roles_json)
{
    char path[160], body[400];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", id);
    snprintf(body, sizeof(body), "{\"roles\":%s}", roles_json);
    return post_status(path, TEST_ADMIN_TOKEN, body);
}

/* the head with this id in GET /api/v1/heads (a copy), or NULL */
static json_t *head_listed(const char *id)
{
    hc_resp_t r = hc_get(srv, "/api/v1/heads", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    json_t *found = NULL;
    size_t i;
    json_t *h;
    json_array_foreach(r.json, i, h)
    {
        if (strcmp(str(h, "id"), id) == 0)
            found = json_deep_copy(h);
    }
    hc_resp_free(&r);
    return found;
}

/* a sample value from /metrics, -1 when absent */
static double metric(const char *sample)
{
    hc_resp_t r = hc_get(srv, "/metrics", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    double v = -1;
    const char *p = strstr(r.body, sample);
    if (p != NULL)
        v = strtod(p + strlen(sample), NULL);
    hc_resp_free(&r);
    return v;
}

static int log_count(const char *needle)
{
    FILE *f = fopen(srv->log_path, "r");
    assert_non_null(f);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* ---- item 4: the runbooks' roles on a fresh server ---- */

static void test_default_catalog_on_a_fresh_server(void **state)
{
    (void)state;
    hc_resp_t r = hc_get(srv, "/api/v1/roles", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    static const char *const want[] = {"hydraguard-air", "hydraheadflatscreen", "hydraheadipad", "hydraheadwindows",
                                       "render-node"};
    assert_int_equal(json_array_size(r.json), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *role = json_array_get(r.json, i);
        assert_string_equal(str(role, "name"), want[i]);
        assert_true(strlen(str(role, "description")) > 0);
    }
    hc_resp_free(&r);

    /* the runbook's own example answers 200, not 400 unknown_role */
    char id[64], tok[65];
    hc_enroll_node(srv, "kiosk-runbook", "darwin", 1, id, tok);
    assert_int_equal(set_roles(id, "[\"hydraguard-air\", \"hydraheadflatscreen\"]"), 200);

    /* a default role an admin deletes stays deleted across restarts */
    r = hc_json(srv, "DELETE", "/api/v1/roles/render-node", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = hc_get(srv, "/api/v1/roles", TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(r.json), 4);
    hc_resp_free(&r);
    r = hc_json(srv, "PUT", "/api/v1/roles/render-node", TEST_ADMIN_TOKEN,
                "{\"description\":\"Body: render node\"}");
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);
}

/* ---- item 3: a kiosk is a head because of its role ---- */

static void test_kiosk_is_a_head_by_its_role(void **state)
{
    (void)state;
    char kiosk[64], ktok[65], body[64], btok[65], path[200];
    hc_enroll_node(srv, "kiosk-lobby-mac", "darwin", 1, kiosk, ktok);
    hc_enroll_node(srv, "render-compat-01", "windows", 1, body, btok);
    hc_resp_t r = hc_heartbeat(srv, btok, "{\"stream_status\":\"idle\",\"provider_status\":\"running\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_null(head_listed(kiosk));

    /* not a head yet: its head endpoints are 404 */
    snprintf(path, sizeof(path), "/api/v1/heads/%s", kiosk);
    r = hc_get(srv, path, ktok);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);

    assert_int_equal(set_roles(kiosk, "[\"hydraguard-air\", \"hydraheadflatscreen\"]"), 200);
    json_t *h = head_listed(kiosk);
    assert_non_null(h);
    assert_string_equal(str(h, "status"), "idle");
    json_decref(h);
    r = hc_get(srv, path, ktok);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_json(srv, "PUT", path, ktok, "{\"status\":\"streaming\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/heads/%s/experiences", kiosk);
    r = hc_get(srv, path, ktok);
    assert_true(r.status != 404); /* no library configured here: not "no such head" */
    hc_resp_free(&r);

    /* it asks for bodies as a head and is never offered as one */
    r = hc_get(srv, "/api/v1/bodies/eligible?explain=true", ktok);
    assert_int_equal(r.status, 200);
    size_t i;
    json_t *c;
    int saw_body = 0;
    json_array_foreach(json_object_get(r.json, "considered"), i, c)
    {
        assert_string_not_equal(str(c, "id"), kiosk);
        saw_body |= strcmp(str(c, "id"), body) == 0;
    }
    assert_true(saw_body);
    hc_resp_free(&r);

    /* it survives kill -9: the head record was committed with the roles */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    h = head_listed(kiosk);
    assert_non_null(h);
    assert_string_equal(str(h, "status"), "streaming");
    json_decref(h);

    /* keeping a head role (another one) keeps the record */
    assert_int_equal(set_roles(kiosk, "[\"hydraheadwindows\"]"), 200);
    h = head_listed(kiosk);
    assert_non_null(h);
    assert_string_equal(str(h, "status"), "streaming");
    json_decref(h);

    /* without a head role it is a body again: the record goes */
    assert_int_equal(set_roles(kiosk, "[\"hydraguard-air\"]"), 200);
    assert_null(head_listed(kiosk));
    snprintf(path, sizeof(path), "/api/v1/heads/%s", kiosk);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
}

static void test_head_role_on_a_pinned_body_is_refused(void **state)
{
    (void)state;
    char head[64], htok[65], body[64], btok[65], path[200], req[200];
    hc_enroll_node(srv, "kiosk-pinning", "windows", 1, head, htok);
    hc_enroll_node(srv, "render-pinned", "windows", 1, body, btok);
    assert_int_equal(set_roles(head, "[\"hydraheadwindows\"]"), 200);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/head-assignment", head);
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\"}", body);
    assert_int_equal(post_status(path, TEST_ADMIN_TOKEN, req), 200);

    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", body);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"roles\":[\"hydraheadflatscreen\"]}");
    hc_assert_error(&r, 409, "conflict");
    hc_resp_free(&r);
    json_t *n = hc_node_get(srv, body);
    assert_int_equal(json_array_size(json_object_get(n, "roles")), 0);
    json_decref(n);
    assert_null(head_listed(body));
}

/* a node that holds a head role without a head record (an import, an older
 * database, a changed heads.roles) gets one at start */
static void test_head_record_made_at_start(void **state)
{
    (void)state;
    char id[64], tok[65], cmd[800];
    hc_enroll_node(srv, "kiosk-from-db", "windows", 1, id, tok);
    assert_int_equal(hc_server_stop(srv), 0);
    snprintf(cmd, sizeof(cmd),
             "sqlite3 '%s/data/hydracluster.db' \"UPDATE nodes SET roles = '[\\\"hydraheadwindows\\\"]' WHERE id = "
             "'%s'\"",
             srv->dir, id);
    assert_int_equal(system(cmd), 0);
    hc_server_restart(srv);
    json_t *h = head_listed(id);
    assert_non_null(h);
    json_decref(h);
    assert_true(hc_server_log_contains(srv, "node holds a head role: made it a head"));
}

static void test_configured_head_roles(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, "heads:\n  roles: [kiosk-x]\n");
    hc_resp_t r = hc_json(s, "PUT", "/api/v1/roles/kiosk-x", TEST_ADMIN_TOKEN, "{\"description\":\"our kiosks\"}");
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);
    char id[64], tok[65], path[200];
    hc_enroll_node(s, "kiosk-custom", "linux", 1, id, tok);
    /* a default head role is no head role here */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", id);
    r = hc_post_json(s, path, TEST_ADMIN_TOKEN, "{\"roles\":[\"hydraheadflatscreen\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/heads/%s", id);
    r = hc_get(s, path, TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", id);
    r = hc_post_json(s, path, TEST_ADMIN_TOKEN, "{\"roles\":[\"kiosk-x\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/heads/%s", id);
    r = hc_get(s, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    hc_server_free(s);
}

/* ---- item 5: agents are read tolerantly ---- */

static void test_heartbeat_from_a_newer_agent(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "render-newer-agent", "windows", 1, id, tok);
    double unknown0 = metric("hydracluster_agent_unknown_fields_total{endpoint=\"heartbeat\"} ");
    double invalid0 = metric("hydracluster_agent_invalid_fields_total{endpoint=\"heartbeat\"} ");
    assert_true(unknown0 >= 0 && invalid0 >= 0);
    hc_resp_t r = hc_heartbeat(srv, tok, "{\"version\":\"v0.24.0\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    json_t *before = hc_node_get(srv, id);
    usleep(1100 * 1000); /* last_seen has whole seconds */

    const char *hb = "{\"version\":\"v0.24.1\",\"hostname\":\"DESKTOP-4KQ1R7B\",\"gpu_temp_c\":71,"
                     "\"stream_status\":\"starting\",\"provider_status\":[\"running\"],\"gpus\":[{\"n\":1}]}";
    r = hc_heartbeat(srv, tok, hb);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "node_id"), id);
    hc_resp_free(&r);
    json_t *after = hc_node_get(srv, id);
    assert_string_equal(str(after, "version"), "v0.24.1");
    assert_string_equal(str(after, "stream_status"), "starting"); /* as reported */
    if (json_equal(json_object_get(before, "last_seen"), json_object_get(after, "last_seen")))
        fail_msg("last_seen was not refreshed");
    json_t *d = json_object_get(after, "diagnostics");
    assert_string_equal(str(d, "hostname"), "DESKTOP-4KQ1R7B");
    assert_string_equal(str(d, "gpu_temp_c"), "71");
    assert_null(json_object_get(d, "gpus")); /* not a scalar: ignored */
    json_decref(before);
    json_decref(after);
    assert_true(metric("hydracluster_agent_unknown_fields_total{endpoint=\"heartbeat\"} ") == unknown0 + 3);
    assert_true(metric("hydracluster_agent_invalid_fields_total{endpoint=\"heartbeat\"} ") == invalid0 + 1);

    /* counted every time, logged once per node and field */
    r = hc_heartbeat(srv, tok, hb);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_true(metric("hydracluster_agent_unknown_fields_total{endpoint=\"heartbeat\"} ") == unknown0 + 6);
    char needle[200];
    snprintf(needle, sizeof(needle), "agent=%s field=gpu_temp_c", id);
    assert_int_equal(log_count(needle), 1);

    /* an unknown stream status is not idle: the body is not offered */
    char head[64], htok[65];
    hc_enroll_node(srv, "kiosk-tolerant", "darwin", 1, head, htok);
    assert_int_equal(set_roles(head, "[\"hydraheadflatscreen\"]"), 200);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/bodies/eligible?explain=true&head_id=%s", head);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    size_t i;
    json_t *c;
    int seen = 0;
    json_array_foreach(json_object_get(r.json, "considered"), i, c)
    {
        if (strcmp(str(c, "id"), id) != 0)
            continue;
        seen = 1;
        char *reasons = json_dumps(json_object_get(c, "reasons"), JSON_COMPACT);
        assert_non_null(strstr(reasons, "\"streaming\""));
        free(reasons);
    }
    assert_true(seen);
    hc_resp_free(&r);

    /* admin endpoints stay strict */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", id);
    r = hc_json(srv, "PATCH", path, TEST_ADMIN_TOKEN, "{\"nmae\":\"typo\"}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
}

static void test_exec_result_and_enroll_from_a_newer_agent(void **state)
{
    (void)state;
    char id[64], tok[65], path[200];
    hc_enroll_node(srv, "render-exec-tolerant", "linux", 1, id, tok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"command\":\"hostname\"}");
    assert_int_equal(r.status, 202);
    char exec_id[80];
    snprintf(exec_id, sizeof(exec_id), "%s", str(r.json, "id"));
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/exec", tok);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    double unknown0 = metric("hydracluster_agent_unknown_fields_total{endpoint=\"exec_result\"} ");
    char body[300];
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"exit_code\":\"0\",\"stdout\":\"box\\n\",\"started_at\":\"now\",\"cpu_ms\":3}", exec_id);
    r = hc_post_json(srv, "/api/v1/body/exec/result", tok, body);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_true(metric("hydracluster_agent_unknown_fields_total{endpoint=\"exec_result\"} ") == unknown0 + 2);
    /* recorded, as failed: the exit code was unusable, and it says so */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec/%s/result", id, exec_id);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "status"), "failed");
    assert_string_equal(str(r.json, "stdout"), "box\n");
    assert_non_null(strstr(str(r.json, "stderr"), "no usable exit_code"));
    hc_resp_free(&r);

    /* enrollment: unknown facts do not stop it */
    r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, "{\"name\":\"render-enroll-tolerant\"}");
    assert_int_equal(r.status, 201);
    snprintf(body, sizeof(body),
             "{\"enrollment_token\":\"%s\",\"hostname\":\"WIN-X\",\"os\":\"windows\",\"gpu\":\"RTX 4080\","
             "\"arch\":64}",
             str(r.json, "enrollment_token"));
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/enroll", NULL, body);
    assert_int_equal(r.status, 201);
    json_t *n = hc_node_get(srv, str(r.json, "node_id"));
    assert_string_equal(str(n, "hostname"), "WIN-X");
    assert_string_equal(str(n, "arch"), ""); /* the unusable fact is ignored */
    json_decref(n);
    hc_resp_free(&r);
}

/* ---- item 6: flags reach agents that never acknowledge ---- */

static int flag(json_t *answer, const char *name)
{
    return json_is_true(json_object_get(json_object_get(answer, "flags"), name));
}

static void test_flags_delivered_once_to_agents_that_never_ack(void **state)
{
    (void)state;
    char id[64], tok[65], path[200];
    hc_enroll_node(srv, "render-old-agent", "windows", 1, id, tok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/update-services", id);
    assert_int_equal(post_status(path, TEST_ADMIN_TOKEN, NULL), 200);

    hc_resp_t r = hc_heartbeat(srv, tok, "{\"version\":\"v0.23.10\"}");
    assert_int_equal(r.status, 200);
    assert_true(flag(r.json, "update_services"));
    hc_resp_free(&r);
    /* cleared durably before that answer left: a crash does not bring it back */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = hc_heartbeat(srv, tok, "{\"version\":\"v0.23.10\"}");
    assert_int_equal(r.status, 200);
    assert_false(flag(r.json, "update_services"));
    hc_resp_free(&r);
    json_t *n = hc_node_get(srv, id);
    assert_int_equal(json_array_size(json_object_get(n, "pending_flags")), 0);
    json_decref(n);

    /* a flag set again goes out once again */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/reprovision", id);
    assert_int_equal(post_status(path, TEST_ADMIN_TOKEN, NULL), 200);
    r = hc_heartbeat(srv, tok, NULL);
    assert_true(flag(r.json, "reprovision"));
    hc_resp_free(&r);
    r = hc_heartbeat(srv, tok, NULL);
    assert_false(flag(r.json, "reprovision"));
    hc_resp_free(&r);

    /* once an agent acknowledges, it is an acking agent for good (across restarts) */
    r = hc_heartbeat(srv, tok, "{\"flags_ack\":0}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    hc_server_kill9(srv);
    hc_server_restart(srv);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/update-node", id);
    assert_int_equal(post_status(path, TEST_ADMIN_TOKEN, NULL), 200);
    for (int i = 0; i < 2; i++) {
        r = hc_heartbeat(srv, tok, NULL);
        assert_true(flag(r.json, "update_node"));
        hc_resp_free(&r);
    }
}

/* ---- item 8 ---- */

static void test_head_reports_its_body(void **state)
{
    (void)state;
    char head[64], htok[65], body[64], btok[65], other[64], otok[65], path[200], req[300];
    hc_enroll_node(srv, "kiosk-chooser", "darwin", 1, head, htok);
    hc_enroll_node(srv, "render-chosen", "windows", 1, body, btok);
    hc_enroll_node(srv, "render-pin", "windows", 1, other, otok);
    assert_int_equal(set_roles(head, "[\"hydraheadflatscreen\"]"), 200);
    snprintf(path, sizeof(path), "/api/v1/heads/%s", head);
    snprintf(req, sizeof(req), "{\"status\":\"streaming\",\"body_id\":\"%s\"}", body);
    hc_resp_t r = hc_json(srv, "PUT", path, htok, req);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "body_id"), body);
    hc_resp_free(&r);
    json_t *h = head_listed(head);
    assert_string_equal(str(h, "assigned_body_id"), body);
    assert_string_equal(str(h, "assigned_body_name"), "render-chosen");
    assert_string_equal(str(h, "assigned_by"), "head");
    json_decref(h);

    /* a body that does not exist is ignored (the report is still accepted) */
    r = hc_json(srv, "PUT", path, htok, "{\"body_id\":\"node-nosuchbody\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "body_id"), body);
    hc_resp_free(&r);

    /* an admin's pin wins */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/head-assignment", head);
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\"}", other);
    assert_int_equal(post_status(path, TEST_ADMIN_TOKEN, req), 200);
    h = head_listed(head);
    assert_string_equal(str(h, "assigned_body_name"), "render-pin");
    assert_string_equal(str(h, "assigned_by"), "admin");
    json_decref(h);

    /* durable */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    h = head_listed(head);
    assert_string_equal(str(h, "assigned_body_name"), "render-chosen");
    json_decref(h);
}

static void test_eligibility_owner_input(void **state)
{
    (void)state;
    char head[64], htok[65], a[64], atok[65], b[64], btok[65], path[300];
    hc_enroll_node(srv, "kiosk-owner", "darwin", 1, head, htok);
    assert_int_equal(set_roles(head, "[\"hydraheadflatscreen\"]"), 200);
    hc_enroll_node(srv, "render-owner-ops", "windows", 1, a, atok);
    hc_enroll_node(srv, "render-owner-venue", "windows", 1, b, btok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", a);
    hc_resp_t r = hc_json(srv, "PATCH", path, TEST_ADMIN_TOKEN, "{\"owner\":\"ops\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", b);
    r = hc_json(srv, "PATCH", path, TEST_ADMIN_TOKEN, "{\"owner\":\"venue-cloud-seven\"}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    const char *hb = "{\"stream_status\":\"idle\",\"provider_status\":\"running\"}";
    r = hc_heartbeat(srv, atok, hb);
    hc_resp_free(&r);
    r = hc_heartbeat(srv, btok, hb);
    hc_resp_free(&r);

    r = hc_get(srv, "/api/v1/bodies/eligible?owner=ops", htok);
    assert_int_equal(r.status, 200);
    int has_a = 0, has_b = 0;
    size_t i;
    json_t *e;
    json_array_foreach(r.json, i, e)
    {
        has_a |= strcmp(str(e, "id"), a) == 0;
        has_b |= strcmp(str(e, "id"), b) == 0;
        if (strcmp(str(e, "id"), a) == 0)
            assert_string_equal(str(e, "owner"), "ops");
    }
    assert_true(has_a && !has_b);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/bodies/eligible?explain=true&owner=ops&head_id=%s", head);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    char *dump = json_dumps(r.json, JSON_COMPACT);
    assert_non_null(strstr(dump, "other_owner"));
    free(dump);
    hc_resp_free(&r);
}

static void test_access_log_has_the_request_line(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "render-journal", "linux", 1, id, tok);
    hc_resp_t r = hc_get(srv, "/api/v1/body/shell/check", tok);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    usleep(200 * 1000);
    /* the runbook's fingerprint: journalctl -u hydracluster | grep 'GET /api/v1/body/shell/check' */
    assert_true(hc_server_log_contains(srv, "req=\"GET /api/v1/body/shell/check\""));
}

static void test_enrollment_warnings(void **state)
{
    (void)state;
    /* this server: 127.0.0.1 and the example release server */
    hc_resp_t r = hc_get(srv, "/api/v1/enroll-warnings", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    char *dump = json_dumps(r.json, JSON_COMPACT);
    assert_non_null(strstr(dump, "server.public_url is http://127.0.0.1:"));
    assert_non_null(strstr(dump, "releases.base_url is still the example placeholder"));
    free(dump);
    hc_resp_free(&r);
    assert_true(hc_server_log_contains(srv, "a loopback or unspecified address"));
    r = hc_get(srv, "/api/v1/enroll-warnings", NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, "{\"name\":\"render-warned\"}");
    assert_int_equal(json_array_size(json_object_get(r.json, "warnings")), 2);
    hc_resp_free(&r);

    hc_server_t *s = hc_server_start("  public_url: \"http://0.0.0.0:8080\"\n", NULL);
    r = hc_get(s, "/api/v1/enroll-warnings", TEST_ADMIN_TOKEN);
    dump = json_dumps(r.json, JSON_COMPACT);
    assert_non_null(strstr(dump, "http://0.0.0.0:8080"));
    free(dump);
    hc_resp_free(&r);
    hc_server_free(s);

    s = hc_server_start("  public_url: \"https://cluster.hydra.test\"\n",
                        "releases:\n  base_url: \"https://releases.hydra.test\"\n");
    r = hc_get(s, "/api/v1/enroll-warnings", TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(json_object_get(r.json, "warnings")), 0);
    hc_resp_free(&r);
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_catalog_on_a_fresh_server),
        cmocka_unit_test(test_kiosk_is_a_head_by_its_role),
        cmocka_unit_test(test_head_role_on_a_pinned_body_is_refused),
        cmocka_unit_test(test_head_record_made_at_start),
        cmocka_unit_test(test_configured_head_roles),
        cmocka_unit_test(test_heartbeat_from_a_newer_agent),
        cmocka_unit_test(test_exec_result_and_enroll_from_a_newer_agent),
        cmocka_unit_test(test_flags_delivered_once_to_agents_that_never_ack),
        cmocka_unit_test(test_head_reports_its_body),
        cmocka_unit_test(test_eligibility_owner_input),
        cmocka_unit_test(test_access_log_has_the_request_line),
        cmocka_unit_test(test_enrollment_warnings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
