/* GET /api/v1/heads/{id}/experiences against a small experience library that
 * this test runs itself (a forking HTTP/1.1 server on loopback): good answers
 * (content-length, chunked, read to close), the allowed-list filter, the
 * query encoding, bad answers (500, not JSON, not an array, too large: 502),
 * a slow one (504 at the bound, without blocking the workers), an absent
 * library (502) and none configured (503). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static hc_server_t *srv;
static pid_t upstream_pid;
static int upstream_port;

#define CATALOG                                                                                                        \
    "[{\"id\":\"mercator-talks\",\"title\":\"Mercator talks\"},{\"slug\":\"deep-sea\",\"title\":\"Deep sea\"},"       \
    "{\"id\":\"other\"},\"plain-string\",\"not-allowed-string\",42]"

/* ---- the fake experience library (runs in forked processes) ---- */

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void reply(int fd, int status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                                         "Connection: close\r\n\r\n",
                     status, strlen(body));
    write_all(fd, head, (size_t)n);
    write_all(fd, body, strlen(body));
}

static void serve_one(int fd)
{
    char req[8192];
    size_t len = 0;
    while (len < sizeof(req) - 1) {
        ssize_t n = read(fd, req + len, sizeof(req) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[len] = '\0';
    char line[2048];
    snprintf(line, sizeof(line), "%.*s", (int)strcspn(req, "\r\n"), req);
    const char *host = strstr(req, "\r\nHost: ");
    char hostv[256] = "";
    if (host != NULL)
        snprintf(hostv, sizeof(hostv), "%.*s", (int)strcspn(host + 8, "\r\n"), host + 8);
    const char *v = strstr(line, "venue=");
    char venue[64] = "";
    if (v != NULL)
        snprintf(venue, sizeof(venue), "%.*s", (int)strcspn(v + 6, "& %"), v + 6);

    if (strcmp(venue, "good") == 0) {
        reply(fd, 200, CATALOG);
    } else if (strcmp(venue, "empty") == 0) {
        reply(fd, 200, "[]");
    } else if (strcmp(venue, "chunked") == 0) {
        const char *r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\n[\"a\",\r\n4\r\n\"b\"]\r\n0\r\n\r\n";
        write_all(fd, r, strlen(r));
    } else if (strcmp(venue, "close") == 0) {
        const char *r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[\"until-close\"]";
        write_all(fd, r, strlen(r));
    } else if (strcmp(venue, "echo") == 0) {
        char body[3000];
        snprintf(body, sizeof(body), "[{\"id\":\"echo\",\"request_line\":\"%s\",\"host\":\"%s\"}]", line, hostv);
        reply(fd, 200, body);
    } else if (strcmp(venue, "err500") == 0) {
        reply(fd, 500, "{\"error\":\"library down\"}");
    } else if (strcmp(venue, "notjson") == 0) {
        reply(fd, 200, "<html>maintenance</html>");
    } else if (strcmp(venue, "object") == 0) {
        reply(fd, 200, "{\"experiences\":[]}");
    } else if (strcmp(venue, "slow") == 0) {
        sleep(3);
        reply(fd, 200, "[]");
    } else if (strcmp(venue, "big") == 0) {
        const char *r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5242880\r\n\r\n[";
        write_all(fd, r, strlen(r));
    } else if (strcmp(venue, "bigchunked") == 0) {
        /* 5 MiB of a valid array in chunks: the bound has to cut it while reading */
        const char *r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "1\r\n[\r\n";
        write_all(fd, r, strlen(r));
        static char chunk[65536 + 16];
        int n = snprintf(chunk, sizeof(chunk), "%x\r\n", 65536);
        for (int i = 0; i < 65536; i += 4)
            memcpy(chunk + n + i, "\"x\",", 4);
        memcpy(chunk + n + 65536, "\r\n", 2);
        for (int i = 0; i < 80; i++)
            write_all(fd, chunk, (size_t)n + 65536 + 2);
        write_all(fd, "4\r\n\"x\"]\r\n0\r\n\r\n", 15);
    } else {
        reply(fd, 404, "{\"error\":\"no such venue in this test\"}");
    }
    shutdown(fd, SHUT_WR);
    char drain[256];
    while (read(fd, drain, sizeof(drain)) > 0)
        ;
    close(fd);
}

static void upstream_start(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        fail_msg("upstream listener: %s", strerror(errno));
    upstream_port = ntohs(a.sin_port);
    upstream_pid = fork();
    if (upstream_pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (upstream_pid == 0) {
        signal(SIGCHLD, SIG_IGN); /* no zombies from the per-connection children */
        for (;;) {
            int fd = accept(lfd, NULL, NULL);
            if (fd < 0)
                continue;
            pid_t k = fork();
            if (k == 0) {
                close(lfd);
                serve_one(fd);
                _exit(0);
            }
            close(fd);
        }
    }
    close(lfd);
}

/* ---- the tests ---- */

static int setup(void **state)
{
    (void)state;
    upstream_start();
    char extra[256];
    snprintf(extra, sizeof(extra), "heads:\n  experience_library_url: \"http://127.0.0.1:%d/lib/\"\n"
                                   "  experience_timeout: 1s\n",
             upstream_port);
    srv = hc_server_start(NULL, extra);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    if (upstream_pid > 0) {
        kill(upstream_pid, SIGKILL);
        waitpid(upstream_pid, NULL, 0);
    }
    return 0;
}

static void register_ipad(hc_server_t *s, const char *district, const char *venue, char *id, char *token)
{
    json_t *b = json_pack("{s:s, s:s, s:s}", "name", "ipad-exp", "district", district, "venue", venue);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    hc_resp_t r = hc_post_json(s, "/api/v1/heads", TEST_FLEET_TOKEN, body);
    free(body);
    if (r.status != 201)
        fail_msg("registering: %ld %s", r.status, r.body);
    snprintf(id, 64, "%s", json_string_value(json_object_get(r.json, "head_id")));
    snprintf(token, 65, "%s", json_string_value(json_object_get(r.json, "token")));
    hc_resp_free(&r);
}

/* GET the experiences of a new head in venue; returns the response */
static hc_resp_t experiences_for(hc_server_t *s, const char *venue)
{
    char id[64], tok[65], path[160];
    register_ipad(s, "bxl1", venue, id, tok);
    snprintf(path, sizeof(path), "/api/v1/heads/%s/experiences", id);
    return hc_get(s, path, tok);
}

static char *dump(json_t *j)
{
    return json_dumps(j, JSON_COMPACT);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_good_answers(void **state)
{
    (void)state;
    hc_resp_t r = experiences_for(srv, "good");
    assert_int_equal(r.status, 200);
    json_t *want = json_loads(CATALOG, 0, NULL);
    assert_true(json_equal(r.json, want)); /* no filter: everything, as the library said */
    json_decref(want);
    hc_resp_free(&r);

    r = experiences_for(srv, "empty");
    assert_int_equal(r.status, 200);
    assert_true(json_is_array(r.json));
    assert_int_equal(json_array_size(r.json), 0);
    hc_resp_free(&r);

    r = experiences_for(srv, "chunked");
    assert_int_equal(r.status, 200);
    char *s = dump(r.json);
    assert_string_equal(s, "[\"a\",\"b\"]");
    free(s);
    hc_resp_free(&r);

    r = experiences_for(srv, "close");
    assert_int_equal(r.status, 200);
    s = dump(r.json);
    assert_string_equal(s, "[\"until-close\"]");
    free(s);
    hc_resp_free(&r);
}

static void test_allowed_list_filters(void **state)
{
    (void)state;
    char id[64], tok[65], path[160];
    register_ipad(srv, "bxl1", "good", id, tok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/allowed-experiences", id);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN,
                               "{\"allowed_experiences\":[\"mercator-talks\",\"deep-sea\",\"plain-string\",\"absent\"]}");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/heads/%s/experiences", id);
    r = hc_get(srv, path, tok);
    assert_int_equal(r.status, 200);
    char *s = dump(r.json);
    assert_string_equal(s, "[{\"id\":\"mercator-talks\",\"title\":\"Mercator talks\"},{\"slug\":\"deep-sea\","
                           "\"title\":\"Deep sea\"},\"plain-string\"]");
    free(s);
    hc_resp_free(&r);
    /* admin reads it too; another head may not; unknown heads are 404 */
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), 3);
    hc_resp_free(&r);
    char other[64], otok[65];
    register_ipad(srv, "bxl1", "good", other, otok);
    r = hc_get(srv, path, otok);
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = hc_get(srv, "/api/v1/heads/node-nosuch/experiences", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    r = hc_get(srv, path, NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
}

static void test_query_is_encoded(void **state)
{
    (void)state;
    char id[64], tok[65], path[160];
    register_ipad(srv, "bxl 1", "echo & co/\xc3\xa9", id, tok);
    snprintf(path, sizeof(path), "/api/v1/heads/%s/experiences", id);
    hc_resp_t r = hc_get(srv, path, tok);
    assert_int_equal(r.status, 200);
    json_t *e = json_array_get(r.json, 0);
    assert_string_equal(json_string_value(json_object_get(e, "request_line")),
                        "GET /lib/api/v1/experiences/live?district=bxl%201&venue=echo%20%26%20co%2F%C3%A9 HTTP/1.1");
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", upstream_port);
    assert_string_equal(json_string_value(json_object_get(e, "host")), host);
    hc_resp_free(&r);
}

static void test_bad_answers_are_502(void **state)
{
    (void)state;
    const char *venues[] = {"err500", "notjson", "object", "big", "bigchunked", "unknown-venue"};
    for (size_t i = 0; i < sizeof(venues) / sizeof(venues[0]); i++) {
        hc_resp_t r = experiences_for(srv, venues[i]);
        if (r.status != 502)
            fail_msg("venue %s: expected 502, got %ld: %s", venues[i], r.status, r.body);
        hc_assert_error(&r, 502, "upstream_error");
        hc_resp_free(&r);
    }
}

static void test_slow_library_is_504_and_blocks_nothing(void **state)
{
    (void)state;
    char id[64], tok[65], path[160];
    register_ipad(srv, "bxl1", "slow", id, tok);
    snprintf(path, sizeof(path), "/api/v1/heads/%s/experiences", id);
    /* more slow requests than workers, in flight together */
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            hc_resp_t r = hc_get(srv, path, tok);
            _exit(r.status == 504 ? 0 : 1);
        }
    }
    usleep(200 * 1000);
    double t0 = now_s();
    hc_resp_t h = hc_get(srv, "/api/v1/health", NULL);
    double took = now_s() - t0;
    assert_int_equal(h.status, 200);
    hc_resp_free(&h);
    if (took > 0.5)
        fail_msg("health took %.3f s while the library was slow: a worker is blocked", took);
    for (int k = 0; k < 4; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    t0 = now_s();
    hc_resp_t r = hc_get(srv, path, tok);
    took = now_s() - t0;
    hc_assert_error(&r, 504, "upstream_timeout");
    hc_resp_free(&r);
    if (took < 0.9 || took > 2.5)
        fail_msg("the 504 came after %.3f s; the bound is 1 s", took);
}

static void test_absent_and_unconfigured_library(void **state)
{
    (void)state;
    /* a name that resolves, a port where nobody listens */
    hc_server_t *s = hc_server_start(NULL, "heads:\n  experience_library_url: \"http://localhost:1\"\n");
    hc_resp_t r = experiences_for(s, "good");
    hc_assert_error(&r, 502, "upstream_error");
    hc_resp_free(&r);
    hc_server_free(s);

    s = hc_server_start(NULL, NULL);
    r = experiences_for(s, "good");
    hc_assert_error(&r, 503, "not_configured");
    hc_resp_free(&r);
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_answers),
        cmocka_unit_test(test_allowed_list_filters),
        cmocka_unit_test(test_query_is_encoded),
        cmocka_unit_test(test_bad_answers_are_502),
        cmocka_unit_test(test_slow_library_is_504_and_blocks_nothing),
        cmocka_unit_test(test_absent_and_unconfigured_library),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
