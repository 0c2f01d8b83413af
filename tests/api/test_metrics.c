/* GET /metrics through a real server, checked line by line by the strict
 * text-format checker; node counts follow enrollment and approval; the log
 * is logfmt with a level on every line, has the startup line, and never
 * carries a token. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
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
    assert_true(prom_value_of(m, "hydracluster_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}") >=
                1);
    assert_true(prom_value_of(m, "hydracluster_http_requests_total{method=\"DELETE\",route=\"unmatched\",status=\"405\"}") >=
                1);
    assert_null(strstr(m, "method=\"\""));
    assert_null(strstr(m, "status=\"other\""));
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

static void test_build_info_and_process(void **state)
{
    (void)state;
    hc_resp_t r = hc_get(srv, "/api/v1/health", NULL);
    char want[200];
    snprintf(want, sizeof(want), "hydracluster_build_info{version=\"%s\",",
             json_string_value(json_object_get(r.json, "version")));
    hc_resp_free(&r);
    char *m = scrape(srv, TEST_ADMIN_TOKEN);
    const char *bi = strstr(m, want);
    if (bi == NULL)
        fail_msg("no %s in\n%s", want, m);
    assert_non_null(strstr(bi, "} 1\n"));
    assert_true(prom_value_of(m, "process_cpu_seconds_total ") > 0);
    assert_true(prom_value_of(m, "process_resident_memory_bytes ") > 1024 * 1024);
    assert_true(prom_value_of(m, "process_virtual_memory_bytes ") > prom_value_of(m, "process_resident_memory_bytes "));
    double fds = prom_value_of(m, "process_open_fds ");
    assert_true(fds >= 5); /* stdio, the database, the listeners */
    assert_true(prom_value_of(m, "process_max_fds ") >= fds);
    double start = prom_value_of(m, "process_start_time_seconds ");
    double now = (double)time(NULL);
    assert_true(start > now - 600 && start <= now + 1);
    free(m);
}

/* head, a pause, then body on one HTTP/1 connection: the body does not
 * arrive with the head, so the check before the body (middleware/prebody.c)
 * sees the request first; returns the answer (malloc'ed) */
static char *send_body_late(int port, const char *head, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_true(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    assert_int_equal(write(fd, head, strlen(head)), (ssize_t)strlen(head));
    usleep(300 * 1000);
    (void)!write(fd, body, strlen(body)); /* a refused request may have closed the connection */
    char *out = calloc(1, 65536);
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got < 65535 && strstr(out, "}\n") == NULL && poll(&p, 1, 5000) > 0) {
        ssize_t n = read(fd, out + got, 65535 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return out;
}

/* server.metrics_token reads /metrics and nothing else */
static void test_metrics_token(void **state)
{
    (void)state;
    const char *mt = "metrics-only-token-0123456789abcdef0123";
    hc_server_t *s = hc_server_start("  metrics_token: \"metrics-only-token-0123456789abcdef0123\"\n", NULL);
    char *m = scrape(s, mt);
    free(m);
    m = scrape(s, TEST_ADMIN_TOKEN); /* the admin token still works */
    free(m);
    static const char *const paths[] = {"/api/v1/nodes", "/api/v1/admin-tokens", "/api/v1/audit", "/api/v1/enrollments"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        hc_resp_t r = hc_get(s, paths[i], mt);
        hc_assert_error(&r, 403, "forbidden");
        hc_resp_free(&r);
    }
    hc_resp_t r = hc_post_json(s, "/api/v1/admin-tokens", mt, "{\"label\":\"x\"}");
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = hc_heartbeat(s, mt, NULL);
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    /* the same 403 when the body comes after the head: the check before the
     * body (middleware/prebody.c) refuses it unread, and the auth stage
     * still names the wrong kind of credential */
    char head[512];
    snprintf(head, sizeof(head),
             "POST /api/v1/admin-tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: "
             "application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n",
             mt);
    char *o = send_body_late(s->port, head, "{\"label\":\"x\"}");
    if (strncmp(o, "HTTP/1.1 403", 12) != 0 || strstr(o, "\"forbidden\"") == NULL)
        fail_msg("metrics token, body after the head: %s", o);
    free(o);
    r = hc_get(s, "/metrics", "metrics-only-token-0123456789abcdef0124");
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    r = hc_get(srv, "/metrics", mt); /* unknown to a server without it */
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    hc_server_free(s);
}

/* log.format json, log.level and the journald priority prefix */
static hc_server_t *start_with_log(const char *log_yaml, const char *journal_stream)
{
    hc_server_t *s = hc_server_prepare(0);
    FILE *f = fopen(s->config_path, "w");
    assert_non_null(f);
    fprintf(f, "server:\n  listen: \"127.0.0.1:%d\"\n  data_dir: \"%s/data\"\n  admin_token: \"%s\"\n%s", s->port,
            s->dir, TEST_ADMIN_TOKEN, log_yaml);
    fclose(f);
    f = fopen(s->log_path, "a"); /* the server appends to this very file: its dev:ino is stderr's */
    assert_non_null(f);
    fclose(f);
    char js[64];
    if (journal_stream == NULL) {
        struct stat st;
        assert_int_equal(stat(s->log_path, &st), 0);
        snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        journal_stream = js;
    }
    setenv("JOURNAL_STREAM", journal_stream, 1);
    hc_server_spawn(s);
    unsetenv("JOURNAL_STREAM");
    return s;
}

static char *read_log(hc_server_t *s)
{
    FILE *f = fopen(s->log_path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_log_json_level_journal(void **state)
{
    (void)state;
    hc_server_t *s = start_with_log("log:\n  format: json\n  level: debug\n", NULL);
    hc_resp_t r = hc_get(s, "/api/v1/nope", NULL);
    hc_resp_free(&r);
    usleep(300 * 1000); /* the access line is written when h2o disposes of the request */
    char *log = read_log(s);
    int lines = 0, info = 0;
    for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "hydracluster:", 13) == 0)
            continue; /* the generated-token notice on stdout */
        if (!(line[0] == '<' && line[1] >= '2' && line[1] <= '7' && line[2] == '>'))
            fail_msg("no journald priority prefix: %s", line);
        json_error_t je;
        json_t *o = json_loads(line + 3, 0, &je);
        if (o == NULL)
            fail_msg("not JSON (%s): %s", je.text, line);
        const char *level = json_string_value(json_object_get(o, "level"));
        assert_non_null(level);
        assert_non_null(json_string_value(json_object_get(o, "ts")));
        if (strcmp(level, "info") == 0) {
            assert_int_equal(line[1], '6');
            info++;
        }
        if (strcmp(level, "error") == 0)
            assert_int_equal(line[1], '3');
        if (json_object_get(o, "path") != NULL &&
            strcmp(json_string_value(json_object_get(o, "path")), "/api/v1/nope") == 0)
            assert_string_equal(json_string_value(json_object_get(o, "status")), "404");
        json_decref(o);
        lines++;
    }
    assert_true(lines >= 3);
    assert_true(info >= 2);
    free(log);
    hc_server_free(s);

    /* warn: no info lines; a JOURNAL_STREAM that is not stderr: no prefix */
    s = start_with_log("log:\n  level: warn\n", "1:2");
    r = hc_get(s, "/api/v1/nope", NULL);
    hc_resp_free(&r);
    usleep(300 * 1000);
    log = read_log(s);
    assert_null(strstr(log, "level=info"));
    assert_null(strstr(log, "<6>"));
    assert_null(strstr(log, "\n<"));
    assert_int_not_equal(log[0], '<');
    free(log);
    hc_server_free(s);
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
        cmocka_unit_test(test_build_info_and_process),
        cmocka_unit_test(test_metrics_token),
        cmocka_unit_test(test_log_json_level_journal),
        cmocka_unit_test(test_log_lines_and_no_tokens),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
