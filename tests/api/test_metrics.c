/* GET /metrics through a real server, checked line by line by the strict
 * text-format checker; node counts follow enrollment and approval; the log
 * is logfmt with a level on every line, has the startup line, and never
 * carries a token. */
#include <math.h>
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
#include "tests/common/promcheck.h"

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

static char *scrape(hc_server_t *s, const char *token)
{
    hc_resp_t r = hc_get(s, "/metrics", token);
    if (r.status != 200)
        fail_msg("/metrics answered %ld: %s", r.status, r.body);
    const char *ct = hc_resp_header(&r, "content-type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "text/plain"));
    assert_non_null(strstr(ct, "version=0.0.4"));
    char err[600];
    if (prom_check(r.body, err, sizeof(err)) != 0)
        fail_msg("/metrics is not valid exposition text: %s\n%s", err, r.body);
    char *body = strdup(r.body);
    hc_resp_free(&r);
    return body;
}

static void test_metrics_strict_and_complete(void **state)
{
    (void)state;
    /* some traffic: ok, 404, 405, a durable write, an enrollment */
    hc_resp_t r = hc_get(srv, "/api/v1/health", NULL);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/nope", NULL);
    hc_resp_free(&r);
    r = hc_json(srv, "DELETE", "/api/v1/health", NULL, NULL);
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":\"metrics\"}");
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);
    char id[64], tok[80];
    hc_enroll_node(srv, "metrics-pending", "linux", 0, id, tok);

    char *m = scrape(srv, TEST_ADMIN_TOKEN);
    static const char *const families[] = {
        "# TYPE hydracluster_http_requests_total counter",
        "# TYPE hydracluster_http_request_duration_seconds histogram",
        "# TYPE hydracluster_nodes gauge",
        "# TYPE hydracluster_heartbeats_total counter",
        "# TYPE hydracluster_heartbeats_per_second gauge",
        "# TYPE hydracluster_store_commits_total counter",
        "# TYPE hydracluster_store_commit_duration_seconds histogram",
        "# TYPE hydracluster_store_batch_ops histogram",
        "# TYPE hydracluster_store_wal_checkpoints_total counter",
        "# TYPE hydracluster_lock_wait_seconds_total counter",
        "# TYPE hydracluster_lock_contended_total counter",
        "# TYPE hydracluster_worker_loop_lag_seconds gauge",
        "# TYPE hydracluster_watchdog_stalled gauge",
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if (strstr(m, families[i]) == NULL)
            fail_msg("missing family: %s\n%s", families[i], m);
    assert_true(prom_value_of(m, "hydracluster_http_requests_total{method=\"\",route=\"unmatched\",status=\"404\"}") >=
                1);
    assert_true(prom_value_of(m, "hydracluster_http_requests_total{method=\"\",route=\"unmatched\",status=\"405\"}") >=
                1);
    assert_true(prom_value_of(m, "hydracluster_http_requests_total{method=\"POST\",route=\"/api/v1/admin-tokens\","
                                 "status=\"201\"}") == 1);
    assert_true(prom_value_of(m, "hydracluster_nodes{status=\"pending\"}") == 1);
    assert_true(prom_value_of(m, "hydracluster_nodes{status=\"offline\"}") == 0);
    /* the mint, the enrollment token and the enroll each committed */
    assert_true(prom_value_of(m, "hydracluster_store_commits_total ") >= 3);
    assert_true(prom_value_of(m, "hydracluster_store_commit_duration_seconds_count ") >= 3);
    assert_true(prom_value_of(m, "hydracluster_store_batch_ops_count ") >= 3);
    assert_true(prom_value_of(m, "hydracluster_worker_loop_lag_seconds{worker=\"0\"}") >= 0);
    assert_true(prom_value_of(m, "hydracluster_worker_loop_lag_seconds{worker=\"1\"}") >= 0);
    assert_true(prom_value_of(m, "hydracluster_watchdog_stalled ") == 0);
    free(m);

    /* approval moves the node from pending to offline (no heartbeat yet) */
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/approve", id);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    m = scrape(srv, TEST_ADMIN_TOKEN);
    assert_true(prom_value_of(m, "hydracluster_nodes{status=\"pending\"}") == 0);
    assert_true(prom_value_of(m, "hydracluster_nodes{status=\"offline\"}") == 1);
    assert_true(prom_value_of(m, "hydracluster_heartbeats_total ") == 0);
    free(m);

    /* heartbeats: counted, and the node is online */
    for (int i = 0; i < 3; i++) {
        r = hc_heartbeat(srv, tok, "{\"version\":\"v1\"}");
        assert_int_equal(r.status, 200);
        hc_resp_free(&r);
    }
    m = scrape(srv, TEST_ADMIN_TOKEN);
    assert_true(prom_value_of(m, "hydracluster_heartbeats_total ") == 3);
    assert_true(prom_value_of(m, "hydracluster_nodes{status=\"online\"}") == 1);
    assert_true(prom_value_of(m, "hydracluster_nodes{status=\"offline\"}") == 0);
    /* the exec queue's families arrive through its collector */
    assert_non_null(strstr(m, "# TYPE hydracluster_exec_queued gauge\n"));
    assert_non_null(strstr(m, "# TYPE hydracluster_exec_dispatch_latency_seconds histogram\n"));
    assert_true(prom_value_of(m, "hydracluster_exec_dispatch_latency_seconds_count ") == 0);
    free(m);

    /* a submit and the agent's fetch: one dispatch latency observed */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"command\":\"true\",\"timeout_s\":10}");
    assert_int_equal(r.status, 202);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/body/exec", tok);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    m = scrape(srv, TEST_ADMIN_TOKEN);
    assert_true(prom_value_of(m, "hydracluster_exec_dispatch_latency_seconds_count ") >= 1);
    assert_true(prom_value_of(m, "hydracluster_exec_dispatch_latency_seconds_bucket{le=\"+Inf\"}") >= 1);
    assert_true(prom_value_of(m, "hydracluster_exec_dispatch_latency_seconds_sum ") >= 0);
    free(m);
}

static void test_metrics_auth(void **state)
{
    (void)state;
    hc_resp_t r = hc_get(srv, "/metrics", NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    hc_server_t *pub = hc_server_start("  metrics_public: true\n", NULL);
    char *m = scrape(pub, NULL);
    free(m);
    hc_server_free(pub);
}

/* every line: ts=... level=<known> ...; level=error lines found by grep */
static void test_log_lines_and_no_tokens(void **state)
{
    (void)state;
    /* a minted token, used; a token in a query string; an enrollment token in a body */
    hc_resp_t r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":\"log-test\"}");
    assert_int_equal(r.status, 201);
    char minted[128];
    snprintf(minted, sizeof(minted), "%s", json_string_value(json_object_get(r.json, "token")));
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/admin-tokens", minted);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/health?token=query-secret-0123456789abcdef", NULL);
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/enroll", NULL,
                     "{\"enrollment_token\":\"enroll-secret-0123456789abcdef\",\"hostname\":\"h\",\"os\":\"linux\","
                     "\"arch\":\"amd64\",\"version\":\"v1\"}");
    assert_true(r.status >= 400);
    hc_resp_free(&r);
    r = hc_get(srv, "/metrics", "wrong-bearer-secret-0123456789");
    hc_resp_free(&r);
    usleep(200 * 1000);

    FILE *f = fopen(srv->log_path, "r");
    assert_non_null(f);
    char line[8192];
    int started = 0, n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        n++;
        if (strstr(line, minted) || strstr(line, TEST_ADMIN_TOKEN) || strstr(line, TEST_FLEET_TOKEN) ||
            strstr(line, "query-secret") || strstr(line, "enroll-secret") || strstr(line, "wrong-bearer-secret"))
            fail_msg("a token reached the log: %s", line);
        if (strncmp(line, "hydracluster: ", 14) == 0)
            continue; /* stdout of the first start (the generated-token notice) */
        if (strncmp(line, "ts=", 3) != 0)
            fail_msg("not a logfmt line: %s", line);
        const char *lv = strstr(line, " level=");
        if (lv == NULL || strchr(line, ' ') != lv)
            fail_msg("level= is not the second field: %s", line);
        lv += 7;
        if (strncmp(lv, "debug ", 6) && strncmp(lv, "info ", 5) && strncmp(lv, "warn ", 5) && strncmp(lv, "error ", 6) &&
            strncmp(lv, "fatal ", 6))
            fail_msg("unknown level: %s", line);
        if (strstr(line, "msg=\"hydracluster started\"")) {
            started = 1;
            assert_non_null(strstr(line, " version="));
            assert_non_null(strstr(line, " listen="));
            assert_non_null(strstr(line, " data_dir="));
            assert_non_null(strstr(line, " nodes="));
            assert_non_null(strstr(line, " tls=off"));
        }
    }
    fclose(f);
    assert_true(n > 5);
    assert_true(started);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_strict_and_complete),
        cmocka_unit_test(test_metrics_auth),
        cmocka_unit_test(test_log_lines_and_no_tokens),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
