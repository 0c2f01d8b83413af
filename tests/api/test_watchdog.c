/* The watchdog and the systemd notifications, through a NOTIFY_SOCKET this
 * test binds: READY=1 at start, WATCHDOG=1 while healthy, a level=error line
 * naming the worker and route within seconds of an injected stall (the
 * test-only X-HC-Test-Stall header, compiled in with -Dtesting=true), no
 * WATCHDOG=1 while stalled, health 503 "degraded" with the reason, recovery
 * afterwards; the same for a stuck store writer; STOPPING=1 at SIGTERM; an
 * abstract (@name) notify socket. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static int notify_fd = -1;
static char notify_path[108];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* binds a datagram socket at path (abstract when it starts with '@') */
static int bind_notify(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(a.sun_path, name, len);
    if (name[0] == '@')
        a.sun_path[0] = '\0';
    else
        unlink(name);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) != 0)
        fail_msg("cannot bind the notify socket %s: %s", name, strerror(errno));
    return fd;
}

/* Collects datagrams for up to ms; counts those equal to / containing msg.
 * Returns as soon as one arrives when stop_at_first. */
static int count_notify(int fd, const char *msg, int ms, int stop_at_first)
{
    int n = 0;
    uint64_t end = now_ms() + (uint64_t)ms;
    for (;;) {
        uint64_t t = now_ms();
        if (t >= end)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(end - t)) <= 0)
            break;
        char buf[512];
        ssize_t len = recv(fd, buf, sizeof(buf) - 1, 0);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        if (strstr(buf, msg) != NULL) {
            n++;
            if (stop_at_first)
                break;
        }
    }
    return n;
}

static void drain(int fd)
{
    char buf[512];
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
}

static int setup(void **state)
{
    (void)state;
    snprintf(notify_path, sizeof(notify_path), "/tmp/hc-notify-%d.sock", (int)getpid());
    notify_fd = bind_notify(notify_path);
    setenv("NOTIFY_SOCKET", notify_path, 1);
    setenv("WATCHDOG_USEC", "30000000", 1); /* as WatchdogSec=30 */
    setenv("HC_TEST_ALLOW_STALL", "1", 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(notify_fd);
    unlink(notify_path);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("HC_TEST_ALLOW_STALL");
    return 0;
}

/* a request sent on a raw connection and left in flight; returns the fd */
static int send_in_flight(hc_server_t *s, const char *extra_header)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        fail_msg("connect: %s", strerror(errno));
    char req[256];
    int n = snprintf(req, sizeof(req), "GET /api/v1/health HTTP/1.1\r\nHost: t\r\n%s\r\n\r\n", extra_header);
    if (write(fd, req, (size_t)n) != n)
        fail_msg("write: %s", strerror(errno));
    return fd;
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    char **out = ud;
    size_t len = *out ? strlen(*out) : 0;
    char *q = realloc(*out, len + s * n + 1);
    if (q == NULL)
        return 0;
    memcpy(q + len, p, s * n);
    q[len + s * n] = '\0';
    *out = q;
    return s * n;
}

/* health on a new connection with a short timeout: a connection that lands
 * on the stalled worker times out (0), one on a live worker answers */
static long quick_health(hc_server_t *s, char **body)
{
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1/health", s->url);
    *body = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 800L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static int wait_log(hc_server_t *s, const char *needle, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    while (now_ms() < end) {
        if (hc_server_log_contains(s, needle))
            return 1;
        usleep(50 * 1000);
    }
    return 0;
}

static void test_worker_stall(void **state)
{
    (void)state;
    drain(notify_fd);
    /* four workers: a health check on a new connection reaches a live one
     * three times out of four (SO_REUSEPORT spreads connections) */
    hc_server_t *s = hc_server_start_raw("server:\n"
                                         "  listen: \"127.0.0.1:@PORT@\"\n"
                                         "  data_dir: \"@DIR@/data\"\n"
                                         "  admin_token: \"" TEST_ADMIN_TOKEN "\"\n"
                                         "  fleet_enrollment_token: \"" TEST_FLEET_TOKEN "\"\n"
                                         "  workers: 4\n"
                                         "  watchdog_stall: 2s\n",
                                         0);
    /* the harness returned after the first 200 from health: READY=1 is sent right after start */
    assert_int_equal(count_notify(notify_fd, "READY=1", 3000, 1), 1);
    assert_true(count_notify(notify_fd, "WATCHDOG=1", 2500, 0) >= 1);

    int fd = send_in_flight(s, "X-HC-Test-Stall: 10");
    uint64_t t0 = now_ms();
    assert_true(wait_log(s, "level=error msg=\"watchdog: stall detected", 5000));
    uint64_t detected = now_ms() - t0;
    assert_true(detected >= 1500 && detected <= 4500); /* stall bound 2 s, checked every second */
    assert_true(hc_server_log_contains(s, "thread=worker"));
    assert_true(hc_server_log_contains(s, "route=/api/v1/health method=GET"));

    /* no WATCHDOG=1 while stalled (systemd restarts us after WatchdogSec) */
    drain(notify_fd);
    assert_int_equal(count_notify(notify_fd, "WATCHDOG=1", 1800, 0), 0);

    /* the other worker says why */
    int saw_degraded = 0;
    for (int i = 0; i < 12 && !saw_degraded; i++) {
        char *body = NULL;
        long st = quick_health(s, &body);
        if (st == 503) {
            assert_non_null(body);
            assert_non_null(strstr(body, "\"status\":\"degraded\""));
            assert_non_null(strstr(body, "\"reason\":\"worker"));
            assert_non_null(strstr(body, "/api/v1/health"));
            saw_degraded = 1;
        }
        free(body);
    }
    assert_true(saw_degraded);

    /* the stall ends (10 s): recovery is logged, pings resume, health is ok */
    assert_true(wait_log(s, "level=warn msg=\"watchdog: stall ended\" thread=worker", 11000));
    assert_true(count_notify(notify_fd, "WATCHDOG=1", 2500, 1) == 1);
    hc_resp_t r = hc_get(s, "/api/v1/health", NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    close(fd);

    /* the metrics saw it */
    r = hc_get(s, "/metrics", TEST_ADMIN_TOKEN);
    assert_non_null(strstr(r.body, "hydracluster_watchdog_stalls_total 1\n"));
    hc_resp_free(&r);

    /* STOPPING=1 at SIGTERM */
    drain(notify_fd);
    assert_int_equal(hc_server_stop(s), 0);
    assert_int_equal(count_notify(notify_fd, "STOPPING=1", 1000, 1), 1);
    hc_server_free(s);
}

static void test_writer_stall(void **state)
{
    (void)state;
    drain(notify_fd);
    /* writer bound: watchdog_stall + 5 s (the SQLite busy timeout) = 7 s */
    hc_server_t *s = hc_server_start("  watchdog_stall: 2s\n", NULL);
    int fd = send_in_flight(s, "X-HC-Test-Stall-Writer: 15");
    uint64_t t0 = now_ms();
    assert_true(wait_log(s, "level=error msg=\"watchdog: stall detected", 10000));
    uint64_t detected = now_ms() - t0;
    assert_true(detected >= 6500);
    assert_true(hc_server_log_contains(s, "thread=store_writer"));
    drain(notify_fd);
    assert_int_equal(count_notify(notify_fd, "WATCHDOG=1", 1500, 0), 0);
    /* health (on any worker: the workers are fine) is degraded; its own
     * database check waits behind the stuck batch and gives up after 2 s */
    hc_resp_t r = hc_get(s, "/api/v1/health", NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"status\":\"degraded\""));
    hc_resp_free(&r);
    assert_true(wait_log(s, "level=warn msg=\"watchdog: stall ended\" thread=store_writer", 10000));
    assert_true(count_notify(notify_fd, "WATCHDOG=1", 2500, 1) == 1);
    close(fd);
    hc_server_free(s);
}

static void test_abstract_notify_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@hc-test-notify-%d", (int)getpid());
    int afd = bind_notify(name);
    setenv("NOTIFY_SOCKET", name, 1);
    hc_server_t *s = hc_server_start(NULL, NULL);
    assert_int_equal(count_notify(afd, "READY=1", 3000, 1), 1);
    assert_true(count_notify(afd, "WATCHDOG=1", 2500, 1) == 1);
    hc_server_free(s);
    close(afd);
    setenv("NOTIFY_SOCKET", notify_path, 1);
}

static void test_no_watchdog_without_watchdog_usec(void **state)
{
    (void)state;
    unsetenv("WATCHDOG_USEC");
    drain(notify_fd);
    hc_server_t *s = hc_server_start(NULL, NULL);
    assert_int_equal(count_notify(notify_fd, "READY=1", 3000, 1), 1);
    assert_int_equal(count_notify(notify_fd, "WATCHDOG=1", 2200, 0), 0);
    hc_server_free(s);
    setenv("WATCHDOG_USEC", "30000000", 1);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_stall),
        cmocka_unit_test(test_writer_stall),
        cmocka_unit_test(test_abstract_notify_socket),
        cmocka_unit_test(test_no_watchdog_without_watchdog_usec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
