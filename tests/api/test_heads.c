/* Heads: iPad self-registration, the fleet token's limits, head config and
 * its credentials, status reports, head-assignment, allowed experiences, and
 * GET /api/v1/bodies/eligible. Body state (heartbeat fields) is set in the
 * database while the server is stopped, the way test_enroll sets expiry. */
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
    srv = hc_server_start("  public_url: \"https://cluster.example.com\"\n", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

/* runs SQL on the stopped server's database, then starts it again */
static void db_exec(const char *fmt, ...)
{
    char q[2048], cmd[2600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    assert_int_equal(hc_server_stop(srv), 0);
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s/data/hydracluster.db' \"%s\"", srv->dir, q);
    assert_int_equal(system(cmd), 0);
    hc_server_restart(srv);
}

/* one value from the database (the server keeps running: WAL readers are fine) */
static char *db_value(const char *fmt, ...)
{
    char q[1024], cmd[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s/data/hydracluster.db' \"%s\"", srv->dir, q);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    pclose(p);
    out[n] = '\0';
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    return out;
}

static void register_ipad(const char *name, const char *district, const char *venue, char *id, char *token)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"district\":\"%s\",\"venue\":\"%s\"}", name, district, venue);
    hc_resp_t r = hc_post_json(srv, "/api/v1/heads", TEST_FLEET_TOKEN, body);
    if (r.status != 201)
        fail_msg("registering %s: %ld %s", name, r.status, r.body);
    snprintf(id, 64, "%s", json_string_value(json_object_get(r.json, "head_id")));
    snprintf(token, 65, "%s", json_string_value(json_object_get(r.json, "token")));
    hc_resp_free(&r);
}

static void expect_status(const char *method, const char *path, const char *token, const char *json, long status,
                          const char *code)
{
    hc_resp_t r = hc_json(srv, method, path, token, json);
    if (code != NULL)
        hc_assert_error(&r, status, code);
    else if (r.status != status)
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path, status, r.status, r.body);
    hc_resp_free(&r);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", k);
    return json_string_value(v);
}

static json_t *find_by_id(json_t *array, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0) return v;
    return NULL;
}

/* ---- registration ---- */

static void test_ipad_registers_and_its_token_works_at_once(void **state)
{
    (void)state;
    hc_resp_t r = hc_post_json(srv, "/api/v1/heads", TEST_FLEET_TOKEN,
                               "{\"name\":\"ipad-lobby\",\"district\":\"bxl1\",\"venue\":\"cloud-seven\"}");
    assert_int_equal(r.status, 201);
    char id[64], tok[65];
    snprintf(id, sizeof(id), "%s", jstr(r.json, "head_id"));
    snprintf(tok, sizeof(tok), "%s", jstr(r.json, "token"));
    assert_true(strncmp(id, "node-", 5) == 0);
    assert_int_equal(strlen(tok), 64);
    assert_string_equal(jstr(r.json, "server_url"), "https://cluster.example.com");
    hc_resp_free(&r);

    char path[128];
    snprintf(path, sizeof(path), "/api/v1/heads/%s", id);
    r = hc_get(srv, path, tok);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "id"), id);
    assert_string_equal(jstr(r.json, "stream_url"), "");
    assert_string_equal(jstr(r.json, "body_id"), "");
    assert_true(json_is_array(json_object_get(r.json, "allowed_experiences")));
    hc_resp_free(&r);

    r = hc_get(srv, "/api/v1/heads", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    json_t *h = find_by_id(r.json, id);
    assert_non_null(h);
    assert_string_equal(jstr(h, "name"), "ipad-lobby");
    assert_string_equal(jstr(h, "district"), "bxl1");
    assert_string_equal(jstr(h, "venue"), "cloud-seven");
    assert_string_equal(jstr(h, "os"), "ipados");
    assert_string_equal(jstr(h, "status"), "idle");
    assert_string_equal(jstr(h, "node_status"), "offline");
    assert_true(json_is_null(json_object_get(h, "last_seen")));
    assert_true(json_is_null(json_object_get(h, "assigned_body_id")));
    assert_null(json_object_get(h, "diagnostics")); /* omitted when empty */
    hc_resp_free(&r);

    /* approved at once, durable, with the audit entry; the token is not logged */
    assert_string_equal(db_value("SELECT approval || ' ' || os || ' ' || roles FROM nodes WHERE id = '%s'", id),
                        "approved ipados [\"hydraheadipad\"]");
    assert_string_equal(db_value("SELECT actor FROM audit WHERE action = 'head.register' AND target = '%s'", id),
                        "fleet");
    assert_false(hc_server_log_contains(srv, tok));
}

static void test_registration_input(void **state)
{
    (void)state;
    expect_status("POST", "/api/v1/heads", TEST_FLEET_TOKEN, "{\"district\":\"bxl1\"}", 400, "bad_request");
    expect_status("POST", "/api/v1/heads", TEST_FLEET_TOKEN, "{\"name\":\"\"}", 400, "bad_request");
    expect_status("POST", "/api/v1/heads", TEST_FLEET_TOKEN, "{\"name\":\"x\",\"owner\":\"me\"}", 400, "bad_request");
    expect_status("POST", "/api/v1/heads", TEST_FLEET_TOKEN, "{\"name\":42}", 400, "bad_request");
    char body[512], longs[200];
    memset(longs, 'a', 129);
    longs[129] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", longs);
    expect_status("POST", "/api/v1/heads", TEST_FLEET_TOKEN, body, 400, "bad_request");
    snprintf(body, sizeof(body), "{\"name\":\"x\",\"venue\":\"%s\"}", longs);
    expect_status("POST", "/api/v1/heads", TEST_FLEET_TOKEN, body, 400, "bad_request");
    longs[128] = '\0'; /* 128 bytes is the bound, allowed */
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"district\":\"%s\"}", longs, longs);
    expect_status("POST", "/api/v1/heads", TEST_FLEET_TOKEN, body, 201, NULL);
    expect_status("POST", "/api/v1/heads", TEST_FLEET_TOKEN, NULL, 400, "body_required");
}

static void test_fleet_token_only_registers(void **state)
{
    (void)state;
    char id[64], tok[65];
    register_ipad("ipad-fleet-check", "bxl1", "", id, tok);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/heads/%s", id);
    expect_status("POST", "/api/v1/heads", "wrong-fleet-token-0123456789abcdef", "{\"name\":\"x\"}", 401,
                  "unauthorized");
    expect_status("POST", "/api/v1/heads", NULL, "{\"name\":\"x\"}", 401, "unauthorized");
    /* valid credentials of another kind are not the fleet token */
    expect_status("POST", "/api/v1/heads", TEST_ADMIN_TOKEN, "{\"name\":\"x\"}", 403, "forbidden");
    expect_status("POST", "/api/v1/heads", tok, "{\"name\":\"x\"}", 403, "forbidden");
    /* and the fleet token is nothing anywhere else */
    expect_status("GET", "/api/v1/heads", TEST_FLEET_TOKEN, NULL, 401, "unauthorized");
    expect_status("GET", path, TEST_FLEET_TOKEN, NULL, 401, "unauthorized");
    expect_status("PUT", path, TEST_FLEET_TOKEN, "{\"status\":\"idle\"}", 401, "unauthorized");
    expect_status("GET", "/api/v1/bodies/eligible", TEST_FLEET_TOKEN, NULL, 401, "unauthorized");
    expect_status("GET", "/api/v1/enroll-qr", TEST_FLEET_TOKEN, NULL, 401, "unauthorized");
    expect_status("POST", "/api/v1/fleet-token/rotate", TEST_FLEET_TOKEN, NULL, 401, "unauthorized");
    expect_status("POST", "/api/v1/enrollments", TEST_FLEET_TOKEN, "{\"name\":\"x\"}", 401, "unauthorized");
    expect_status("GET", "/api/v1/admin-tokens", TEST_FLEET_TOKEN, NULL, 401, "unauthorized");
    char p2[160];
    snprintf(p2, sizeof(p2), "/api/v1/nodes/%s/head-assignment", id);
    expect_status("POST", p2, TEST_FLEET_TOKEN, "{\"body_id\":\"node-x\"}", 401, "unauthorized");
}

static void test_ipad_role_when_the_catalog_has_it(void **state)
{
    (void)state;
    /* the default catalog has the iPad head role; an iPad carries it even after an admin deleted it */
    char id[64], tok[65];
    register_ipad("ipad-with-role", "bxl1", "", id, tok);
    assert_string_equal(db_value("SELECT roles FROM nodes WHERE id = '%s'", id), "[\"hydraheadipad\"]");
    hc_resp_t r = hc_json(srv, "DELETE", "/api/v1/roles/hydraheadipad?force=true", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    register_ipad("ipad-without-role", "bxl1", "", id, tok);
    assert_string_equal(db_value("SELECT roles FROM nodes WHERE id = '%s'", id), "[\"hydraheadipad\"]");
    r = hc_json(srv, "PUT", "/api/v1/roles/hydraheadipad", TEST_ADMIN_TOKEN, "{\"description\":\"iPad head\"}");
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);
}

/* ---- config and credentials ---- */

static void test_head_config_credentials(void **state)
{
    (void)state;
    char a[64], atok[65], b[64], btok[65], body[64], bodytok[65];
    register_ipad("ipad-a", "bxl1", "", a, atok);
    register_ipad("ipad-b", "bxl1", "", b, btok);
    hc_enroll_node(srv, "render-cred", "windows", 1, body, bodytok);
    char pa[128], pbody[128];
    snprintf(pa, sizeof(pa), "/api/v1/heads/%s", a);
    snprintf(pbody, sizeof(pbody), "/api/v1/heads/%s", body);
    expect_status("GET", pa, atok, NULL, 200, NULL);
    expect_status("GET", pa, TEST_ADMIN_TOKEN, NULL, 200, NULL);
    expect_status("GET", pa, btok, NULL, 403, "forbidden");    /* another head */
    expect_status("GET", pa, bodytok, NULL, 403, "forbidden"); /* a body on a head */
    expect_status("GET", pa, NULL, NULL, 401, "unauthorized");
    expect_status("PUT", pa, btok, "{\"status\":\"error\"}", 403, "forbidden");
    expect_status("PUT", pa, bodytok, "{\"status\":\"error\"}", 403, "forbidden");
    /* a body asking for itself as a head: it is not one */
    expect_status("GET", pbody, bodytok, NULL, 404, "not_found");
    expect_status("PUT", pbody, bodytok, "{\"status\":\"idle\"}", 404, "not_found");
    expect_status("GET", pbody, TEST_ADMIN_TOKEN, NULL, 404, "not_found");
    expect_status("GET", "/api/v1/heads/node-doesnotexist", TEST_ADMIN_TOKEN, NULL, 404, "not_found");
    expect_status("GET", "/api/v1/heads", atok, NULL, 403, "forbidden");
}

static void test_status_reports(void **state)
{
    (void)state;
    char id[64], tok[65];
    register_ipad("ipad-report", "bxl1", "lobby", id, tok);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/heads/%s", id);
    hc_resp_t r = hc_json(srv, "PUT", path, tok,
                          "{\"status\":\"streaming\",\"diagnostics\":{\"version\":\"v1.4.2\",\"wireguard\":\"up\","
                          "\"latency_ms\":23,\"hdr\":false}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "status"), "streaming");
    json_t *d = json_object_get(r.json, "diagnostics");
    assert_string_equal(jstr(d, "latency_ms"), "23"); /* numbers kept as their text */
    assert_string_equal(jstr(d, "hdr"), "false");
    hc_resp_free(&r);
    /* status alone keeps the diagnostics; the same report again changes nothing */
    expect_status("PUT", path, tok, "{\"status\":\"error\"}", 200, NULL);
    expect_status("PUT", path, tok, "{\"status\":\"error\"}", 200, NULL);
    /* an admin's bad reports are 400 and change nothing */
    const char *tokens[] = {TEST_ADMIN_TOKEN, tok};
    expect_status("PUT", path, TEST_ADMIN_TOKEN, "{\"status\":\"sleeping\"}", 400, "bad_request");
    expect_status("PUT", path, TEST_ADMIN_TOKEN, "{}", 400, "bad_request");
    expect_status("PUT", path, TEST_ADMIN_TOKEN, "{\"status\":\"idle\",\"battery\":1}", 400, "bad_request");
    static char big[4096];
    memset(big, 'x', 1025);
    big[1025] = '\0';
    char body[4200];
    snprintf(body, sizeof(body), "{\"diagnostics\":{\"log\":\"%s\"}}", big);
    size_t o = 0;
    char many[4200];
    o = (size_t)snprintf(many, sizeof(many), "{\"diagnostics\":{");
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(many + o, sizeof(many) - o, "}}");
    for (int t = 0; t < 2; t++) {
        /* the kiosk's own are read tolerantly: accepted, what cannot be used is ignored */
        long want = t == 0 ? 400 : 200;
        const char *code = t == 0 ? "bad_request" : NULL;
        expect_status("PUT", path, tokens[t], "{\"diagnostics\":{\"nested\":{\"a\":\"b\"},\"version\":\"v1.4.2\"}}",
                      want, code);
        expect_status("PUT", path, tokens[t], "{\"diagnostics\":[\"x\"]}", want, code);
        expect_status("PUT", path, tokens[t], body, want, code);
        expect_status("PUT", path, tokens[t], many, want, code);
    }
    r = hc_get(srv, "/api/v1/heads", TEST_ADMIN_TOKEN);
    d = json_object_get(find_by_id(r.json, id), "diagnostics");
    assert_int_equal(json_object_size(d), 64); /* the last one: 64 of the 65 kept */
    hc_resp_free(&r);
    /* an unknown status from the kiosk is stored as reported; unknown fields are ignored */
    expect_status("PUT", path, tok, "{\"status\":\"sleeping\",\"battery\":1}", 200, NULL);
    r = hc_get(srv, "/api/v1/heads", TEST_ADMIN_TOKEN);
    assert_string_equal(jstr(find_by_id(r.json, id), "status"), "sleeping");
    hc_resp_free(&r);
    expect_status("PUT", path, tok, "{}", 200, NULL);
    /* back to the report the rest of this test checks */
    expect_status("PUT", path, tok,
                  "{\"status\":\"error\",\"diagnostics\":{\"version\":\"v1.4.2\",\"wireguard\":\"up\","
                  "\"latency_ms\":23,\"hdr\":false}}",
                  200, NULL);

    /* acknowledged means durable: kill -9 and look */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = hc_get(srv, "/api/v1/heads", TEST_ADMIN_TOKEN);
    json_t *h = find_by_id(r.json, id);
    assert_non_null(h);
    assert_string_equal(jstr(h, "status"), "error");
    d = json_object_get(h, "diagnostics");
    assert_string_equal(jstr(d, "version"), "v1.4.2");
    assert_string_equal(jstr(d, "wireguard"), "up");
    assert_int_equal(json_object_size(d), 4);
    hc_resp_free(&r);
    /* an admin may report too, and that is audited */
    expect_status("PUT", path, TEST_ADMIN_TOKEN, "{\"status\":\"idle\"}", 200, NULL);
    assert_string_equal(db_value("SELECT actor FROM audit WHERE action = 'head.report' AND target = '%s'", id),
                        "admin:config");
}

/* ---- head-assignment ---- */

static void test_head_assignment(void **state)
{
    (void)state;
    char head[64], htok[65], head2[64], h2tok[65], body[64], btok[65];
    register_ipad("ipad-assign", "bxl1", "cloud-seven", head, htok);
    register_ipad("ipad-assign-2", "bxl1", "cloud-seven", head2, h2tok);
    hc_enroll_node(srv, "render-assign", "windows", 1, body, btok);
    char pa[160], pb[160], req[256];
    snprintf(pa, sizeof(pa), "/api/v1/nodes/%s/head-assignment", head);

    /* errors change nothing */
    expect_status("POST", "/api/v1/nodes/node-nosuchhead/head-assignment", TEST_ADMIN_TOKEN,
                  "{\"body_id\":\"node-x\"}", 404, "not_found");
    expect_status("POST", pa, TEST_ADMIN_TOKEN, "{\"body_id\":\"node-nosuchbody\"}", 404, "not_found");
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\"}", head2);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, req, 400, "bad_request"); /* a head is not a body */
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\"}", head);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, req, 400, "bad_request"); /* itself */
    expect_status("POST", pa, TEST_ADMIN_TOKEN, "{\"app_id\":\"Desktop\"}", 400, "bad_request");
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\",\"pin\":true}", body);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, req, 400, "bad_request");
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\"}", body);
    expect_status("POST", pa, htok, req, 403, "forbidden");
    snprintf(pb, sizeof(pb), "/api/v1/heads/%s", head);
    hc_resp_t r = hc_get(srv, pb, htok);
    assert_string_equal(jstr(r.json, "body_id"), "");
    hc_resp_free(&r);

    snprintf(req, sizeof(req), "{\"body_id\":\"%s\",\"app_id\":\"Steam Big Picture\"}", body);
    r = hc_post_json(srv, pa, TEST_ADMIN_TOKEN, req);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "assigned_body_id"), body);
    hc_resp_free(&r);
    r = hc_get(srv, pb, htok);
    assert_string_equal(jstr(r.json, "body_id"), body);
    assert_string_equal(jstr(r.json, "app_id"), "Steam Big Picture");
    assert_string_equal(jstr(r.json, "stream_url"), ""); /* the body reported no address yet */
    hc_resp_free(&r);
    assert_string_equal(db_value("SELECT json_extract(detail, '$.body_id') FROM audit WHERE action = 'head.assign' "
                                 "AND target = '%s'",
                                 head),
                        body);

    /* the body's addresses (from its heartbeats) make the stream URLs */
    db_exec("UPDATE nodes SET wireguard_ip = '10.66.0.21', lan_ip = '192.168.10.21' WHERE id = '%s'", body);
    r = hc_get(srv, pb, htok);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "stream_url"), "https://10.66.0.21:47990");
    assert_string_equal(jstr(r.json, "stream_url_lan"), "https://192.168.10.21:47990");
    assert_string_equal(jstr(r.json, "experience_library_url"), "");
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/heads", TEST_ADMIN_TOKEN);
    json_t *h = find_by_id(r.json, head);
    assert_string_equal(jstr(h, "assigned_body_id"), body);
    assert_string_equal(jstr(h, "assigned_body_name"), "render-assign");
    assert_string_equal(jstr(h, "app_id"), "Steam Big Picture");
    hc_resp_free(&r);

    /* app_id defaults to Desktop */
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\"}", body);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, req, 200, NULL);
    r = hc_get(srv, pb, htok);
    assert_string_equal(jstr(r.json, "app_id"), "Desktop");
    hc_resp_free(&r);

    /* unpin */
    expect_status("DELETE", pa, TEST_ADMIN_TOKEN, NULL, 200, NULL);
    r = hc_get(srv, pb, htok);
    assert_string_equal(jstr(r.json, "body_id"), "");
    assert_string_equal(jstr(r.json, "stream_url"), "");
    hc_resp_free(&r);
    char pbody[160];
    snprintf(pbody, sizeof(pbody), "/api/v1/nodes/%s/head-assignment", body);
    expect_status("DELETE", pbody, TEST_ADMIN_TOKEN, NULL, 404, "not_found"); /* not a head */
}

static void test_enrolled_node_configured_as_head(void **state)
{
    (void)state;
    char kiosk[64], ktok[65], body[64], btok[65], other[64], otok[65];
    hc_enroll_node(srv, "kiosk-flatscreen", "darwin", 1, kiosk, ktok);
    hc_enroll_node(srv, "render-for-kiosk", "windows", 1, body, btok);
    register_ipad("ipad-pinner", "bxl1", "", other, otok);
    char path[160], req[256];
    snprintf(path, sizeof(path), "/api/v1/heads/%s", kiosk);
    expect_status("GET", path, ktok, NULL, 404, "not_found");
    /* pinning a body to it makes it a head */
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\"}", body);
    char pa[160];
    snprintf(pa, sizeof(pa), "/api/v1/nodes/%s/head-assignment", kiosk);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, req, 200, NULL);
    hc_resp_t r = hc_get(srv, path, ktok);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "body_id"), body);
    hc_resp_free(&r);
    /* a node that some head streams from cannot become a head */
    snprintf(pa, sizeof(pa), "/api/v1/nodes/%s/head-assignment", other);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, req, 200, NULL);
    snprintf(pa, sizeof(pa), "/api/v1/nodes/%s/allowed-experiences", body);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, "{\"allowed_experiences\":[]}", 409, "conflict");
    snprintf(path, sizeof(path), "/api/v1/heads/%s", body);
    expect_status("GET", path, TEST_ADMIN_TOKEN, NULL, 404, "not_found");
}

/* ---- allowed experiences ---- */

static void test_allowed_experiences(void **state)
{
    (void)state;
    char id[64], tok[65];
    register_ipad("ipad-allowed", "bxl1", "", id, tok);
    char pa[160], pc[160];
    snprintf(pa, sizeof(pa), "/api/v1/nodes/%s/allowed-experiences", id);
    snprintf(pc, sizeof(pc), "/api/v1/heads/%s", id);
    hc_resp_t r = hc_post_json(srv, pa, TEST_ADMIN_TOKEN,
                               "{\"allowed_experiences\":[\"mercator-talks\",\"deep-sea\",\"mercator-talks\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_get(srv, pc, tok);
    char *s = json_dumps(json_object_get(r.json, "allowed_experiences"), JSON_COMPACT);
    assert_string_equal(s, "[\"mercator-talks\",\"deep-sea\"]"); /* duplicates dropped, order kept */
    free(s);
    hc_resp_free(&r);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, "{}", 400, "bad_request");
    expect_status("POST", pa, TEST_ADMIN_TOKEN, "{\"allowed_experiences\":\"x\"}", 400, "bad_request");
    expect_status("POST", pa, TEST_ADMIN_TOKEN, "{\"allowed_experiences\":[1]}", 400, "bad_request");
    expect_status("POST", pa, TEST_ADMIN_TOKEN, "{\"allowed_experiences\":[\"\"]}", 400, "bad_request");
    expect_status("POST", pa, TEST_ADMIN_TOKEN, "{\"allowed_experiences\":[],\"x\":1}", 400, "bad_request");
    static char body[40000];
    size_t o = (size_t)snprintf(body, sizeof(body), "{\"allowed_experiences\":[");
    for (int i = 0; i < 257; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "%s\"e%d\"", i ? "," : "", i);
    snprintf(body + o, sizeof(body) - o, "]}");
    expect_status("POST", pa, TEST_ADMIN_TOKEN, body, 400, "bad_request");
    char longs[200];
    memset(longs, 'e', 129);
    longs[129] = '\0';
    snprintf(body, sizeof(body), "{\"allowed_experiences\":[\"%s\"]}", longs);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, body, 400, "bad_request");
    expect_status("POST", pa, tok, "{\"allowed_experiences\":[]}", 403, "forbidden");
    expect_status("POST", "/api/v1/nodes/node-nosuch/allowed-experiences", TEST_ADMIN_TOKEN,
                  "{\"allowed_experiences\":[]}", 404, "not_found");
    /* the failures changed nothing; then an empty list clears the filter */
    r = hc_get(srv, pc, tok);
    assert_int_equal(json_array_size(json_object_get(r.json, "allowed_experiences")), 2);
    hc_resp_free(&r);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, "{\"allowed_experiences\":[]}", 200, NULL);
    r = hc_get(srv, pc, tok);
    assert_int_equal(json_array_size(json_object_get(r.json, "allowed_experiences")), 0);
    hc_resp_free(&r);
}

/* ---- eligibility ---- */

static void test_eligible_auth_rules(void **state)
{
    (void)state;
    char a[64], atok[65], b[64], btok[65], body[64], bodytok[65];
    register_ipad("ipad-elig-a", "nowhere", "empty-venue", a, atok);
    register_ipad("ipad-elig-b", "nowhere", "", b, btok);
    hc_enroll_node(srv, "render-elig-auth", "windows", 1, body, bodytok);
    char path[200];
    /* a head asks for itself: nothing in its district, so [] */
    hc_resp_t r = hc_get(srv, "/api/v1/bodies/eligible", atok);
    assert_int_equal(r.status, 200);
    assert_true(json_is_array(r.json));
    assert_int_equal(json_array_size(r.json), 0);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/bodies/eligible?head_id=%s", a);
    expect_status("GET", path, atok, NULL, 200, NULL);
    snprintf(path, sizeof(path), "/api/v1/bodies/eligible?head_id=%s", b);
    expect_status("GET", path, atok, NULL, 403, "forbidden"); /* another head's */
    expect_status("GET", "/api/v1/bodies/eligible", bodytok, NULL, 403, "forbidden");
    expect_status("GET", "/api/v1/bodies/eligible", NULL, NULL, 401, "unauthorized");
    expect_status("GET", "/api/v1/bodies/eligible", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_status("GET", path, TEST_ADMIN_TOKEN, NULL, 200, NULL);
    expect_status("GET", "/api/v1/bodies/eligible?head_id=node-nosuch", TEST_ADMIN_TOKEN, NULL, 404, "not_found");
    snprintf(path, sizeof(path), "/api/v1/bodies/eligible?head_id=%s", body);
    expect_status("GET", path, TEST_ADMIN_TOKEN, NULL, 404, "not_found");
    expect_status("GET", "/api/v1/bodies/eligible?explain=maybe", atok, NULL, 400, "bad_request");
    r = hc_get(srv, "/api/v1/bodies/eligible?explain=true", atok);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "head_id"), a);
    assert_int_equal(json_array_size(json_object_get(r.json, "bodies")), 0);
    /* every body of the fleet is considered, each with why not */
    json_t *c = find_by_id(json_object_get(r.json, "considered"), body);
    assert_non_null(c);
    assert_false(json_is_true(json_object_get(c, "eligible")));
    char *s = json_dumps(json_object_get(c, "reasons"), JSON_COMPACT);
    assert_string_equal(s, "[\"other_district\",\"other_venue\",\"offline\",\"provider_not_running\"]");
    free(s);
    /* heads are no bodies */
    assert_null(find_by_id(json_object_get(r.json, "considered"), b));
    hc_resp_free(&r);
}

/* the heartbeat fields of a live body in ghent/dock-4, plus extra SQL assignments */
#define LIVE_BODY_SQL                                                                                                  \
    "UPDATE nodes SET district = 'ghent', venue = 'dock-4', provider_status = 'running', stream_status = 'idle', "    \
    "drain = 0, last_seen = strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'), name = '%s' %s WHERE id = '%s';"

static void test_eligible_bodies_best_first(void **state)
{
    (void)state;
    char head[64], htok[65], other[64], otok[65], b1[64], t1[65], b2[64], t2[65], b3[64], t3[65];
    register_ipad("ipad-ghent", "ghent", "dock-4", head, htok);
    register_ipad("ipad-ghent-2", "ghent", "dock-4", other, otok);
    hc_enroll_node(srv, "x1", "windows", 1, b1, t1);
    hc_enroll_node(srv, "x2", "windows", 1, b2, t2);
    hc_enroll_node(srv, "x3", "windows", 1, b3, t3);
    db_exec(LIVE_BODY_SQL LIVE_BODY_SQL LIVE_BODY_SQL, "ghent-render-a", ", wireguard_ip = '10.66.0.31'", b1,
            "ghent-render-b", "", b2, "ghent-render-c", ", drain = 1", b3);

    hc_resp_t r = hc_get(srv, "/api/v1/bodies/eligible", htok);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), 2);
    json_t *first = json_array_get(r.json, 0);
    assert_string_equal(jstr(first, "id"), b1); /* never assigned: by name */
    assert_string_equal(jstr(first, "stream_url"), "https://10.66.0.31:47990");
    assert_string_equal(jstr(json_array_get(r.json, 1), "id"), b2);
    hc_resp_free(&r);

    /* b1 is assigned to the other head and released again: now least recently
     * assigned is b2, never assigned */
    char pa[160], req[200];
    snprintf(pa, sizeof(pa), "/api/v1/nodes/%s/head-assignment", other);
    snprintf(req, sizeof(req), "{\"body_id\":\"%s\"}", b1);
    expect_status("POST", pa, TEST_ADMIN_TOKEN, req, 200, NULL);
    /* while pinned there, it is not offered to this head */
    r = hc_get(srv, "/api/v1/bodies/eligible?explain=true", htok);
    json_t *c = find_by_id(json_object_get(r.json, "considered"), b1);
    char *s = json_dumps(json_object_get(c, "reasons"), JSON_COMPACT);
    assert_string_equal(s, "[\"pinned_to_other_head\"]");
    free(s);
    c = find_by_id(json_object_get(r.json, "considered"), b3);
    s = json_dumps(json_object_get(c, "reasons"), JSON_COMPACT);
    assert_string_equal(s, "[\"draining\"]");
    free(s);
    assert_int_equal(json_array_size(json_object_get(r.json, "bodies")), 1);
    hc_resp_free(&r);
    expect_status("DELETE", pa, TEST_ADMIN_TOKEN, NULL, 200, NULL);
    r = hc_get(srv, "/api/v1/bodies/eligible", htok);
    assert_int_equal(json_array_size(r.json), 2);
    assert_string_equal(jstr(json_array_get(r.json, 0), "id"), b2);
    assert_string_equal(jstr(json_array_get(r.json, 1), "id"), b1);
    assert_true(json_is_string(json_object_get(json_array_get(r.json, 1), "last_assigned_at")));
    hc_resp_free(&r);
    /* the order survives a restart (kept from the audit log of assignments) */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = hc_get(srv, "/api/v1/bodies/eligible", htok);
    assert_string_equal(jstr(json_array_get(r.json, 0), "id"), b2);
    assert_string_equal(jstr(json_array_get(r.json, 1), "id"), b1);
    hc_resp_free(&r);
    /* an admin asking for the head sees the same */
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/bodies/eligible?head_id=%s", head);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(json_array_size(r.json), 2);
    hc_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipad_registers_and_its_token_works_at_once),
        cmocka_unit_test(test_registration_input),
        cmocka_unit_test(test_fleet_token_only_registers),
        cmocka_unit_test(test_ipad_role_when_the_catalog_has_it),
        cmocka_unit_test(test_head_config_credentials),
        cmocka_unit_test(test_status_reports),
        cmocka_unit_test(test_head_assignment),
        cmocka_unit_test(test_enrolled_node_configured_as_head),
        cmocka_unit_test(test_allowed_experiences),
        cmocka_unit_test(test_eligible_auth_rules),
        cmocka_unit_test(test_eligible_bodies_best_first),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
