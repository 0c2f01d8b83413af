/* Streaming sessions: started and ended by the agents' reports (body
 * heartbeat, head PUT and heartbeat), the list and its filters and paging,
 * log uploads with their bounds and cap and who may upload, DELETE …/stream
 * and node deletion ending sessions, kill -9 durability, and on a second
 * server with short timeouts the watchdog (silence), orphans (node object,
 * filter, metric, eligibility) and retention. */
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
    srv = hc_server_start(NULL, "sessions:\n"
                                "  log_max_lines: 20\n"
                                "streams:\n"
                                "  stop_timeout: 1s\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

static char *db_value(hc_server_t *s, const char *fmt, ...)
{
    char q[1024], cmd[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s/data/hydracluster.db' \"%s\"", s->dir, q);
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

static const char *str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        fail_msg("no string \"%s\"", k);
    return json_string_value(v);
}

static void register_ipad(hc_server_t *s, const char *name, const char *district, char *id, char *token)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"district\":\"%s\",\"venue\":\"\"}", name, district);
    hc_resp_t r = hc_post_json(s, "/api/v1/heads", TEST_FLEET_TOKEN, body);
    if (r.status != 201)
        fail_msg("registering %s: %ld %s", name, r.status, r.body);
    snprintf(id, 64, "%s", json_string_value(json_object_get(r.json, "head_id")));
    snprintf(token, 65, "%s", json_string_value(json_object_get(r.json, "token")));
    hc_resp_free(&r);
}

/* an approved body placed in district */
static void make_body(hc_server_t *s, const char *name, const char *district, char *id, char *token)
{
    hc_enroll_node(s, name, "linux", 1, id, token);
    char path[128], body[256];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", id);
    snprintf(body, sizeof(body), "{\"district\":\"%s\"}", district);
    hc_resp_t r = hc_json(s, "PATCH", path, TEST_ADMIN_TOKEN, body);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
}

static void beat(hc_server_t *s, const char *token, const char *json)
{
    hc_resp_t r = hc_heartbeat(s, token, json);
    if (r.status != 200)
        fail_msg("heartbeat %s: %ld %s", json, r.status, r.body);
    hc_resp_free(&r);
}

static void head_put(hc_server_t *s, const char *id, const char *token, const char *json, long status)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/heads/%s", id);
    hc_resp_t r = hc_json(s, "PUT", path, token, json);
    if (r.status != status)
        fail_msg("PUT %s %s: expected %ld, got %ld %s", path, json, status, r.status, r.body);
    hc_resp_free(&r);
}

/* GET /api/v1/sessions/{id}: the object, or NULL on 404 */
static json_t *session_get(hc_server_t *s, const char *id)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/sessions/%s", id);
    hc_resp_t r = hc_get(s, path, TEST_ADMIN_TOKEN);
    json_t *o = NULL;
    if (r.status == 200)
        o = json_incref(r.json);
    else if (r.status != 404)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    else
        hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    return o;
}

static void expect_session(hc_server_t *s, const char *id, const char *state, const char *body_id,
                           const char *head_id, const char *reason)
{
    json_t *o = session_get(s, id);
    if (o == NULL)
        fail_msg("no session %s", id);
    assert_string_equal(str(o, "id"), id);
    assert_string_equal(str(o, "state"), state);
    if (body_id)
        assert_string_equal(str(o, "body_id"), body_id);
    else
        assert_true(json_is_null(json_object_get(o, "body_id")));
    if (head_id)
        assert_string_equal(str(o, "head_id"), head_id);
    else
        assert_true(json_is_null(json_object_get(o, "head_id")));
    if (reason) {
        assert_string_equal(str(o, "end_reason"), reason);
        assert_true(json_is_string(json_object_get(o, "ended_at")));
    } else {
        assert_true(json_is_null(json_object_get(o, "end_reason")));
        assert_true(json_is_null(json_object_get(o, "ended_at")));
    }
    assert_true(json_is_string(json_object_get(o, "started_at")));
    json_decref(o);
}

/* the ids of GET path, in order, joined by spaces */
static char *list_ids(hc_server_t *s, const char *path)
{
    static char out[2048];
    hc_resp_t r = hc_get(s, path, TEST_ADMIN_TOKEN);
    if (r.status != 200 || !json_is_array(r.json))
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    out[0] = '\0';
    size_t i;
    json_t *v;
    json_array_foreach(r.json, i, v)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "", str(v, "id"));
    hc_resp_free(&r);
    return out;
}

static void expect_error(hc_server_t *s, const char *method, const char *path, const char *token, const char *json,
                         long status, const char *code)
{
    hc_resp_t r = hc_json(s, method, path, token, json);
    hc_assert_error(&r, status, code);
    hc_resp_free(&r);
}

/* ---- lifecycle ---- */

static void test_lifecycle_from_reports(void **state)
{
    (void)state;
    char body[64], btok[65], head[64], htok[65], path[256];
    make_body(srv, "body-life", "bxl1", body, btok);
    register_ipad(srv, "ipad-life", "bxl1", head, htok);

    /* the body streams first: the session starts with its body */
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"life-1\"}");
    expect_session(srv, "life-1", "active", body, NULL, NULL);
    json_t *o = session_get(srv, "life-1");
    assert_string_equal(str(o, "body_name"), "body-life");
    assert_string_equal(str(o, "district"), "bxl1");
    assert_true(json_is_null(json_object_get(o, "head_name")));
    json_decref(o);
    /* the head joins it */
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"life-1\"}", 200);
    expect_session(srv, "life-1", "active", body, head, NULL);
    o = session_get(srv, "life-1");
    assert_string_equal(str(o, "head_name"), "ipad-life");
    json_decref(o);
    /* repeating reports changes nothing */
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"life-1\"}");
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"life-1\"}", 200);
    snprintf(path, sizeof(path), "/api/v1/sessions?node=%s", body);
    assert_string_equal(list_ids(srv, path), "life-1");
    assert_string_equal(db_value(srv, "SELECT count(*) FROM stream_sessions WHERE id = 'life-1'"), "1");
    /* the body goes idle: the session ends body_idle */
    beat(srv, btok, "{\"stream_status\":\"idle\"}");
    expect_session(srv, "life-1", "ended", body, head, "body_idle");
    /* a late report never reopens it */
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"life-1\"}");
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"life-1\"}", 200);
    expect_session(srv, "life-1", "ended", body, head, "body_idle");

    /* the head first this time; switching sessions ends the previous one */
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"life-2\"}", 200);
    expect_session(srv, "life-2", "active", NULL, head, NULL);
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"life-2\"}");
    expect_session(srv, "life-2", "active", body, head, NULL);
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"life-3\"}", 200);
    expect_session(srv, "life-2", "ended", body, head, "head_idle");
    expect_session(srv, "life-3", "active", NULL, head, NULL);
    /* a head reporting idle leaves its session */
    head_put(srv, head, htok, "{\"status\":\"idle\"}", 200);
    expect_session(srv, "life-3", "ended", NULL, head, "head_idle");
    /* the head's heartbeat reports sessions too */
    beat(srv, htok, "{\"session_id\":\"life-4\"}");
    expect_session(srv, "life-4", "active", NULL, head, NULL);
    beat(srv, htok, "{\"session_id\":\"\"}");
    expect_session(srv, "life-4", "ended", NULL, head, "head_idle");

    /* a body that reports no session, or a session id that cannot be one, starts nothing */
    beat(srv, btok, "{\"stream_status\":\"streaming\"}");
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"no spaces!\"}");
    snprintf(path, sizeof(path), "/api/v1/sessions?node=%s", body);
    assert_string_equal(list_ids(srv, path), "life-2 life-1");
    beat(srv, btok, "{\"stream_status\":\"idle\"}");
    /* an admin's head PUT is strict: a bad id is refused; the kiosk's own
     * report is read tolerantly (api/agent_fields.h): the id is ignored */
    head_put(srv, head, TEST_ADMIN_TOKEN, "{\"status\":\"streaming\",\"session_id\":\"no spaces!\"}", 400);
    head_put(srv, head, TEST_ADMIN_TOKEN, "{\"status\":\"streaming\",\"session_id\":7}", 400);
    snprintf(path, sizeof(path), "/api/v1/sessions?node=%s", head);
    char before[2048];
    snprintf(before, sizeof(before), "%s", list_ids(srv, path));
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"no spaces!\"}", 200);
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":7}", 200);
    assert_string_equal(list_ids(srv, path), before);
    expect_session(srv, "life-4", "ended", NULL, head, "head_idle");
    /* a second body reporting a session that has its body keeps out */
    char other[64], otok[65];
    make_body(srv, "body-life-2", "bxl1", other, otok);
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"life-5\"}", 200);
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"life-5\"}");
    beat(srv, otok, "{\"stream_status\":\"streaming\",\"session_id\":\"life-5\"}");
    expect_session(srv, "life-5", "active", body, head, NULL);
    beat(srv, otok, "{\"stream_status\":\"idle\"}");
    expect_session(srv, "life-5", "active", body, head, NULL);
    beat(srv, btok, "{\"stream_status\":\"idle\"}");
    expect_session(srv, "life-5", "ended", body, head, "body_idle");
    /* a node not approved streams for nobody */
    char pending[64], ptok[65];
    hc_enroll_node(srv, "body-pending", "linux", 0, pending, ptok);
    beat(srv, ptok, "{\"stream_status\":\"streaming\",\"session_id\":\"life-pending\"}");
    assert_null(session_get(srv, "life-pending"));
}

static void test_list_filters_paging_and_errors(void **state)
{
    (void)state;
    char body[64], btok[65], head[64], htok[65], path[256];
    make_body(srv, "body-list", "ghe1", body, btok);
    register_ipad(srv, "ipad-list", "ghe1", head, htok);
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"list-a\"}");
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"list-b\"}");
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"list-c\"}", 200);

    snprintf(path, sizeof(path), "/api/v1/sessions?node=%s", body);
    assert_string_equal(list_ids(srv, path), "list-b list-a");
    snprintf(path, sizeof(path), "/api/v1/sessions?node=%s&state=active", body);
    assert_string_equal(list_ids(srv, path), "list-b");
    snprintf(path, sizeof(path), "/api/v1/sessions?node=%s&state=ended", body);
    assert_string_equal(list_ids(srv, path), "list-a");
    snprintf(path, sizeof(path), "/api/v1/sessions?node=%s", head);
    assert_string_equal(list_ids(srv, path), "list-c");
    assert_string_equal(list_ids(srv, "/api/v1/sessions?node=node-nobody"), "");
    /* newest first, paged by the last id */
    assert_string_equal(list_ids(srv, "/api/v1/sessions?limit=2"), "list-c list-b");
    assert_string_equal(list_ids(srv, "/api/v1/sessions?limit=1&before=list-b"), "list-a");
    char *active = list_ids(srv, "/api/v1/sessions?state=active");
    assert_non_null(strstr(active, "list-c"));
    assert_null(strstr(active, "list-a"));

    expect_error(srv, "GET", "/api/v1/sessions?state=open", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions?limit=0", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions?limit=1001", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions?limit=x", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions?before=list-zzz", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions?before=a%20b", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions?sort=asc", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions", NULL, NULL, 401, "unauthorized");
    expect_error(srv, "GET", "/api/v1/sessions", btok, NULL, 403, "forbidden");
    expect_error(srv, "GET", "/api/v1/sessions/list-zzz", TEST_ADMIN_TOKEN, NULL, 404, "not_found");
    expect_error(srv, "GET", "/api/v1/sessions/list-zzz/logs", TEST_ADMIN_TOKEN, NULL, 404, "not_found");
    expect_error(srv, "GET", "/api/v1/sessions/list-a", htok, NULL, 403, "forbidden");
    beat(srv, btok, "{\"stream_status\":\"idle\"}");
    head_put(srv, head, htok, "{\"status\":\"idle\"}", 200);
}

/* ---- logs ---- */

static void post_logs(const char *sid, const char *token, const char *json, long status, json_t **answer)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/body/sessions/%s/logs", sid);
    hc_resp_t r = hc_post_json(srv, path, token, json);
    if (r.status != status)
        fail_msg("POST %s: expected %ld, got %ld %s", path, status, r.status, r.body);
    if (answer != NULL)
        *answer = json_incref(r.json);
    hc_resp_free(&r);
}

static json_int_t num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("no integer \"%s\"", k);
    return json_integer_value(v);
}

static void test_logs_side_by_side_and_bounds(void **state)
{
    (void)state;
    char body[64], btok[65], head[64], htok[65], stranger[64], stok[65];
    make_body(srv, "body-logs", "ams1", body, btok);
    make_body(srv, "body-stranger", "ams1", stranger, stok);
    register_ipad(srv, "ipad-logs", "ams1", head, htok);
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"logs-1\"}");
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"logs-1\"}", 200);

    json_t *a = NULL;
    /* out of order, with an offset and fractions; an unknown field is ignored */
    post_logs("logs-1", btok,
              "{\"lines\":[{\"ts\":\"2026-11-23T06:31:29Z\",\"line\":\"third\"},"
              "{\"ts\":\"2026-11-23T07:31:27.5+01:00\",\"line\":\"first\"},"
              "{\"ts\":\"2026-11-23T06:31:28.250Z\",\"line\":\"second\",\"level\":\"info\"}],\"agent\":\"x\"}",
              200, &a);
    assert_int_equal(num(a, "accepted"), 3);
    assert_int_equal(num(a, "dropped"), 0);
    assert_int_equal(num(a, "kept"), 3);
    json_decref(a);
    post_logs("logs-1", htok, "{\"lines\":[{\"ts\":\"2026-11-23T06:31:28Z\",\"line\":\"head says hi\"}]}", 200, NULL);

    hc_resp_t r = hc_get(srv, "/api/v1/sessions/logs-1/logs", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    json_t *s = json_object_get(r.json, "session"), *b = json_object_get(r.json, "body"),
           *h = json_object_get(r.json, "head");
    assert_string_equal(str(s, "id"), "logs-1");
    assert_string_equal(str(b, "node_id"), body);
    assert_string_equal(str(b, "name"), "body-logs");
    assert_string_equal(str(h, "node_id"), head);
    json_t *bl = json_object_get(b, "lines");
    assert_int_equal(json_array_size(bl), 3);
    assert_string_equal(str(json_array_get(bl, 0), "line"), "first");
    assert_string_equal(str(json_array_get(bl, 0), "ts"), "2026-11-23T06:31:27.500Z");
    assert_string_equal(str(json_array_get(bl, 1), "line"), "second");
    assert_string_equal(str(json_array_get(bl, 1), "ts"), "2026-11-23T06:31:28.250Z");
    assert_string_equal(str(json_array_get(bl, 2), "line"), "third");
    assert_int_equal(json_array_size(json_object_get(h, "lines")), 1);
    assert_string_equal(str(json_array_get(json_object_get(h, "lines"), 0), "line"), "head says hi");
    hc_resp_free(&r);

    /* who may upload: the session's two nodes only */
    post_logs("logs-1", stok, "{\"lines\":[{\"ts\":\"2026-11-23T06:31:28Z\",\"line\":\"x\"}]}", 403, NULL);
    post_logs("logs-nope", btok, "{\"lines\":[]}", 404, NULL);
    post_logs("bad%20id", btok, "{\"lines\":[]}", 404, NULL);
    post_logs("logs-1", TEST_ADMIN_TOKEN, "{\"lines\":[]}", 403, NULL);
    post_logs("logs-1", btok, "{\"line\":\"x\"}", 400, NULL);
    post_logs("logs-1", btok, "[1]", 400, NULL);

    /* tolerant: no text skipped, no usable time gets the server's, a long line is cut */
    size_t big = 5000;
    char *req = malloc(big + 512);
    assert_non_null(req);
    int n = snprintf(req, 512, "{\"lines\":[{\"ts\":\"2026-11-23T06:31:30Z\",\"line\":\"");
    memset(req + n, 'x', big);
    snprintf(req + n + big, 512, "\"},{\"ts\":\"yesterday\",\"line\":\"untimed\"},{\"ts\":\"2026-11-23T06:31:30Z\"},7]}");
    post_logs("logs-1", btok, req, 200, &a);
    free(req);
    assert_int_equal(num(a, "accepted"), 2);
    assert_int_equal(num(a, "skipped"), 2);
    assert_int_equal(num(a, "truncated"), 1);
    assert_int_equal(num(a, "untimed"), 1);
    json_decref(a);
    assert_string_equal(db_value(srv, "SELECT max(length(line)) FROM stream_session_logs WHERE session_id = 'logs-1'"),
                        "4096");

    /* too many lines in one request */
    size_t cap = 501 * 40 + 64;
    req = malloc(cap);
    assert_non_null(req);
    size_t len = (size_t)snprintf(req, cap, "{\"lines\":[");
    for (int i = 0; i < 501; i++)
        len += (size_t)snprintf(req + len, cap - len, "%s{\"line\":\"l%d\"}", i ? "," : "", i);
    snprintf(req + len, cap - len, "]}");
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/body/sessions/logs-1/logs");
    r = hc_post_json(srv, path, btok, req);
    hc_assert_error(&r, 413, "too_many_lines");
    hc_resp_free(&r);
    free(req);

    /* the cap (sessions.log_max_lines: 20) per side: the oldest go, and the answer says how many */
    req = malloc(4096);
    assert_non_null(req);
    len = (size_t)snprintf(req, 4096, "{\"lines\":[");
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(req + len, 4096 - len, "%s{\"ts\":\"2026-11-23T08:00:%02dZ\",\"line\":\"late %d\"}",
                                i ? "," : "", i, i);
    snprintf(req + len, 4096 - len, "]}");
    post_logs("logs-1", btok, req, 200, &a);
    free(req);
    assert_int_equal(num(a, "accepted"), 20);
    assert_int_equal(num(a, "dropped"), 5); /* 5 kept before, 20 new */
    assert_int_equal(num(a, "kept"), 20);
    json_decref(a);
    r = hc_get(srv, "/api/v1/sessions/logs-1/logs", TEST_ADMIN_TOKEN);
    bl = json_object_get(json_object_get(r.json, "body"), "lines");
    assert_int_equal(json_array_size(bl), 20);
    /* by the agents' times: the untimed line got today's, so it stays and "late 0" went */
    assert_string_equal(str(json_array_get(bl, 0), "line"), "late 1");
    assert_string_equal(str(json_array_get(bl, 19), "line"), "untimed");
    assert_int_equal(json_array_size(json_object_get(json_object_get(r.json, "head"), "lines")), 1);
    hc_resp_free(&r);
    /* ?tail=N: each side's last N lines, still in time order */
    r = hc_get(srv, "/api/v1/sessions/logs-1/logs?tail=2", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    bl = json_object_get(json_object_get(r.json, "body"), "lines");
    assert_int_equal(json_array_size(bl), 2);
    assert_string_equal(str(json_array_get(bl, 0), "line"), "late 19");
    assert_string_equal(str(json_array_get(bl, 1), "line"), "untimed");
    assert_int_equal(json_array_size(json_object_get(json_object_get(r.json, "head"), "lines")), 1);
    hc_resp_free(&r);
    expect_error(srv, "GET", "/api/v1/sessions/logs-1/logs?tail=0", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions/logs-1/logs?tail=21", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions/logs-1/logs?lines=2", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    expect_error(srv, "GET", "/api/v1/sessions/logs-1?tail=2", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");

    /* an ended session still takes its agents' last lines */
    beat(srv, btok, "{\"stream_status\":\"idle\"}");
    post_logs("logs-1", htok, "{\"lines\":[{\"ts\":\"2026-11-23T06:31:31Z\",\"line\":\"bye\"}]}", 200, NULL);
    head_put(srv, head, htok, "{\"status\":\"idle\"}", 200);
}

/* ---- DELETE …/stream, node deletion ---- */

static void test_stream_stop_and_node_deletion_end_sessions(void **state)
{
    (void)state;
    char body[64], btok[65], head[64], htok[65], path[256];
    make_body(srv, "body-stop", "lux1", body, btok);
    register_ipad(srv, "ipad-stop", "lux1", head, htok);
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"stop-1\"}");
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"stop-1\"}", 200);
    /* nobody runs the stop command (no agent): it times out, the session ends all the same */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/stream", body);
    hc_resp_t r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    expect_session(srv, "stop-1", "ended", body, head, "stream_stopped");

    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"del-1\"}");
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"del-1\"}", 200);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", head);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    /* the session outlives the node and names it */
    expect_session(srv, "del-1", "ended", body, head, "node_deleted");
    json_t *o = session_get(srv, "del-1");
    assert_string_equal(str(o, "head_name"), "ipad-stop");
    json_decref(o);
    beat(srv, btok, "{\"stream_status\":\"idle\"}");
}

/* ---- durability ---- */

static void test_sessions_survive_kill9(void **state)
{
    (void)state;
    char body[64], btok[65], head[64], htok[65];
    make_body(srv, "body-dur", "rot1", body, btok);
    register_ipad(srv, "ipad-dur", "rot1", head, htok);
    /* acknowledged, then killed at once */
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"dur-1\"}");
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"dur-1\"}", 200);
    post_logs("dur-1", btok, "{\"lines\":[{\"ts\":\"2026-11-23T06:31:28Z\",\"line\":\"kept\"}]}", 200, NULL);
    hc_server_kill9(srv);
    hc_server_restart(srv);
    expect_session(srv, "dur-1", "active", body, head, NULL);
    hc_resp_t r = hc_get(srv, "/api/v1/sessions/dur-1/logs", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(json_object_get(r.json, "body"), "lines")), 1);
    hc_resp_free(&r);
    /* memory was loaded: the same report changes nothing, idle ends it */
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"dur-1\"}");
    beat(srv, btok, "{\"stream_status\":\"idle\"}");
    hc_server_kill9(srv);
    hc_server_restart(srv);
    expect_session(srv, "dur-1", "ended", body, head, "body_idle");
    head_put(srv, head, htok, "{\"status\":\"idle\"}", 200);
}

/* ---- watchdog, orphans, retention (short timeouts) ---- */

static hc_server_t *fast_server(void)
{
    return hc_server_start(NULL, "sessions:\n"
                                 "  silence_timeout: 3s\n"
                                 "  orphan_after: 1s\n"
                                 "  retention: 2s\n");
}

static json_t *node_get(hc_server_t *s, const char *id)
{
    json_t *n = hc_node_get(s, id);
    assert_non_null(n);
    return n;
}

static int orphaned(hc_server_t *s, const char *id)
{
    json_t *n = node_get(s, id);
    int v = json_is_true(json_object_get(n, "orphaned"));
    if (v)
        assert_true(json_is_string(json_object_get(n, "orphaned_since")));
    else
        assert_true(json_is_null(json_object_get(n, "orphaned_since")));
    json_decref(n);
    return v;
}

static void test_watchdog_silence_and_retention(void **state)
{
    (void)state;
    hc_server_t *s = fast_server();
    char body[64], btok[65], head[64], htok[65];
    make_body(s, "body-quiet", "bxl2", body, btok);
    register_ipad(s, "ipad-quiet", "bxl2", head, htok);
    beat(s, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"quiet-1\"}");
    head_put(s, head, htok, "{\"status\":\"streaming\",\"session_id\":\"quiet-1\"}", 200);
    /* the body falls silent: within silence_timeout (3 s) plus a pass, the session ends */
    double t0 = hc_now_ms();
    json_t *o = NULL;
    while (hc_now_ms() - t0 < 10000) {
        o = session_get(s, "quiet-1");
        if (o != NULL && strcmp(str(o, "state"), "ended") == 0)
            break;
        json_decref(o);
        o = NULL;
        usleep(200 * 1000);
    }
    if (o == NULL)
        fail_msg("the silent body's session did not end");
    assert_string_equal(str(o, "end_reason"), "silence");
    json_decref(o);
    assert_true(hc_now_ms() - t0 >= 2000);
    json_t *n = node_get(s, body);
    assert_string_equal(str(n, "stream_status"), "idle");
    json_decref(n);
    assert_string_equal(db_value(s, "SELECT stream_status FROM nodes WHERE id = '%s'", body), "idle");
    hc_resp_t m = hc_get(s, "/metrics", TEST_ADMIN_TOKEN);
    assert_int_equal(m.status, 200);
    assert_non_null(strstr(m.body, "\nhydracluster_stream_sessions_ended_total{reason=\"silence\"} 1\n"));
    assert_non_null(strstr(m.body, "\nhydracluster_stream_sessions_active 0\n"));
    hc_resp_free(&m);
    /* its next heartbeat sets the state again; the ended session stays ended */
    beat(s, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"quiet-1\"}");
    n = node_get(s, body);
    assert_string_equal(str(n, "stream_status"), "streaming");
    json_decref(n);
    beat(s, btok, "{\"stream_status\":\"idle\"}");
    /* retention (2 s): the ended session and its lines are pruned */
    t0 = hc_now_ms();
    while ((o = session_get(s, "quiet-1")) != NULL && hc_now_ms() - t0 < 10000) {
        json_decref(o);
        usleep(250 * 1000);
    }
    if (o != NULL)
        fail_msg("the ended session was not pruned after sessions.retention");
    assert_string_equal(db_value(s, "SELECT count(*) FROM stream_session_logs WHERE session_id = 'quiet-1'"), "0");
    hc_server_free(s);
}

static void test_orphans(void **state)
{
    (void)state;
    hc_server_t *s = fast_server();
    char body[64], btok[65], head[64], htok[65], path[256];
    make_body(s, "body-orphan", "bxl3", body, btok);
    register_ipad(s, "ipad-orphan", "bxl3", head, htok);
    /* streaming with no head: orphaned after orphan_after (1 s); it keeps heartbeating (no silence) */
    beat(s, btok, "{\"stream_status\":\"streaming\",\"provider_status\":\"running\",\"session_id\":\"orph-1\"}");
    assert_false(orphaned(s, body));
    double t0 = hc_now_ms();
    int yes = 0;
    while (!yes && hc_now_ms() - t0 < 8000) {
        usleep(300 * 1000);
        beat(s, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"orph-1\"}");
        yes = orphaned(s, body);
    }
    assert_true(yes);
    assert_true(hc_now_ms() - t0 >= 900);
    assert_string_equal(list_ids(s, "/api/v1/nodes?orphaned=true"), body);
    assert_null(strstr(list_ids(s, "/api/v1/nodes?orphaned=false"), body));
    expect_error(s, "GET", "/api/v1/nodes?orphaned=maybe", TEST_ADMIN_TOKEN, NULL, 400, "bad_request");
    hc_resp_t r = hc_get(s, "/metrics", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\nhydracluster_nodes_orphaned 1\n"));
    assert_non_null(strstr(r.body, "\nhydracluster_stream_sessions_active 1\n"));
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/bodies/eligible?head_id=%s&explain=true", head);
    r = hc_get(s, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    json_t *c = json_array_get(json_object_get(r.json, "considered"), 0);
    assert_string_equal(str(c, "id"), body);
    char *reasons = json_dumps(json_object_get(c, "reasons"), 0);
    assert_non_null(strstr(reasons, "\"orphaned\""));
    free(reasons);
    hc_resp_free(&r);

    /* a head reporting the same session clears it at the next pass */
    head_put(s, head, htok, "{\"status\":\"streaming\",\"session_id\":\"orph-1\"}", 200);
    t0 = hc_now_ms();
    while (orphaned(s, body) && hc_now_ms() - t0 < 5000) {
        usleep(200 * 1000);
        beat(s, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"orph-1\"}");
        head_put(s, head, htok, "{\"status\":\"streaming\",\"session_id\":\"orph-1\"}", 200);
    }
    assert_false(orphaned(s, body));
    assert_string_equal(list_ids(s, "/api/v1/nodes?orphaned=true"), "");
    /* the body stops streaming: never orphaned while idle */
    beat(s, btok, "{\"stream_status\":\"idle\"}");
    usleep(1500 * 1000);
    assert_false(orphaned(s, body));
    hc_server_free(s);
}

/* a kiosk that is a head by its role (heads.roles) reports sessions like any
 * head, and its own report stays tolerant (an unknown field beside session_id) */
static void test_head_by_role_reports_sessions(void **state)
{
    (void)state;
    char kiosk[64], ktok[65], body[64], btok[65], path[128];
    make_body(srv, "kiosk-role-1", "bxl1", kiosk, ktok);
    make_body(srv, "body-role-1", "bxl1", body, btok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", kiosk);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"roles\":[\"hydraguard-air\",\"hydraheadflatscreen\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    head_put(srv, kiosk, ktok, "{\"status\":\"streaming\",\"session_id\":\"role-1\",\"app_build\":\"2026.11\"}", 200);
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"role-1\"}");
    expect_session(srv, "role-1", "active", body, kiosk, NULL);
    head_put(srv, kiosk, ktok, "{\"status\":\"idle\"}", 200);
    expect_session(srv, "role-1", "ended", body, kiosk, "head_idle");
    /* its heartbeat's session_id alone counts, as for any head */
    beat(srv, ktok, "{\"session_id\":\"role-2\"}");
    expect_session(srv, "role-2", "active", NULL, kiosk, NULL);
    beat(srv, ktok, "{\"session_id\":null}");
    expect_session(srv, "role-2", "ended", NULL, kiosk, "head_idle");
    beat(srv, btok, "{\"stream_status\":\"idle\"}");
    /* losing its last head role mid-session ends its session as a head */
    beat(srv, ktok, "{\"session_id\":\"role-3\"}");
    expect_session(srv, "role-3", "active", NULL, kiosk, NULL);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"roles\":[\"hydraguard-air\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    expect_session(srv, "role-3", "ended", NULL, kiosk, "head_idle");
}

/* A forced catalog delete of a head role ends the sessions of the heads it
 * leaves without one, durably, as setting their roles does */
static void test_forced_role_delete_ends_head_sessions(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, "heads:\n"
                                           "  roles: [kiosk-test]\n");
    hc_resp_t r = hc_json(s, "PUT", "/api/v1/roles/kiosk-test", TEST_ADMIN_TOKEN,
                          "{\"description\":\"a test kiosk\",\"recipe\":{}}");
    assert_true(r.status == 200 || r.status == 201);
    hc_resp_free(&r);
    char kiosk[64], ktok[65], path[128];
    make_body(s, "kiosk-del-1", "bxl1", kiosk, ktok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", kiosk);
    r = hc_post_json(s, path, TEST_ADMIN_TOKEN, "{\"roles\":[\"kiosk-test\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    beat(s, ktok, "{\"session_id\":\"del-1\"}");
    expect_session(s, "del-1", "active", NULL, kiosk, NULL);
    r = hc_json(s, "DELETE", "/api/v1/roles/kiosk-test?force=true", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    expect_session(s, "del-1", "ended", NULL, kiosk, "head_idle");
    json_t *n = node_get(s, kiosk);
    assert_false(json_is_true(json_object_get(n, "is_head")));
    json_decref(n);
    hc_server_kill9(s);
    hc_server_restart(s);
    expect_session(s, "del-1", "ended", NULL, kiosk, "head_idle");
    hc_server_free(s);
}

/* Newer agents report statuses this server does not know; they are stored
 * as reported and end no session (only idle does, or error for a head). */
static void test_unknown_status_keeps_the_session(void **state)
{
    (void)state;
    char body[64], btok[65], head[64], htok[65];
    make_body(srv, "body-newer", "bxl1", body, btok);
    register_ipad(srv, "ipad-newer", "bxl1", head, htok);
    beat(srv, btok, "{\"stream_status\":\"streaming\",\"session_id\":\"newer-1\"}");
    head_put(srv, head, htok, "{\"status\":\"streaming\",\"session_id\":\"newer-1\"}", 200);
    expect_session(srv, "newer-1", "active", body, head, NULL);
    beat(srv, btok, "{\"stream_status\":\"reconnecting\",\"session_id\":\"newer-1\"}");
    head_put(srv, head, htok, "{\"status\":\"buffering\",\"session_id\":\"newer-1\"}", 200);
    expect_session(srv, "newer-1", "active", body, head, NULL);
    json_t *n = node_get(srv, body);
    assert_string_equal(str(n, "stream_status"), "reconnecting");
    json_decref(n);
    head_put(srv, head, htok, "{\"status\":\"error\"}", 200);
    expect_session(srv, "newer-1", "ended", body, head, "head_idle");
    beat(srv, btok, "{\"stream_status\":\"idle\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_from_reports),
        cmocka_unit_test(test_list_filters_paging_and_errors),
        cmocka_unit_test(test_logs_side_by_side_and_bounds),
        cmocka_unit_test(test_stream_stop_and_node_deletion_end_sessions),
        cmocka_unit_test(test_sessions_survive_kill9),
        cmocka_unit_test(test_watchdog_silence_and_retention),
        cmocka_unit_test(test_orphans),
        cmocka_unit_test(test_head_by_role_reports_sessions),
        cmocka_unit_test(test_unknown_status_keeps_the_session),
        cmocka_unit_test(test_forced_role_delete_ends_head_sessions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
