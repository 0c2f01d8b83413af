/* config.yaml parsing: defaults, every key, and each kind of error with its position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char path[64];

static const char *write_cfg(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/hc-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* loads text over the defaults; returns the result, err filled */
static int load(const char *text, hc_config_t *cfg, char *err, size_t errlen)
{
    assert_int_equal(config_defaults(cfg), 0);
    int rc = config_load(cfg, write_cfg(text), err, errlen);
    unlink(path);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    hc_config_t c;
    assert_int_equal(config_defaults(&c), 0);
    assert_int_equal(c.server.listen_count, 1);
    assert_string_equal(c.server.listen[0], "127.0.0.1:8080");
    assert_string_equal(c.server.data_dir, "./data");
    assert_int_equal(c.nodes.offline_after_ms, 90000);
    assert_int_equal(c.exec.max_output_bytes, 1048576);
    assert_int_equal(c.exec.result_retention_ms, 168ULL * 3600 * 1000);
    assert_int_equal(c.server.tls.http2, 0);
    assert_string_equal(c.streams.stop_command, "hydrabody stream-stop");
    assert_null(c.server.admin_token);
    config_free(&c);
}

static void test_full_config(void **state)
{
    (void)state;
    hc_config_t c;
    char err[512];
    const char *y = "server:\n"
                    "  listen: [\"0.0.0.0:443\", \"127.0.0.1:8080\"]\n"
                    "  public_url: \"https://cluster.example.com\"\n"
                    "  data_dir: \"/var/lib/hc\"\n"
                    "  admin_token: \"abcdefghijklmnopqrstuvwxyz\"\n"
                    "  fleet_enrollment_token: \"fleet-token-0123456789\"\n"
                    "  workers: 4\n"
                    "  tls:\n"
                    "    http2: yes\n"
                    "  trusted_proxies: [\"127.0.0.1\", \"::1\"]\n"
                    "  metrics_public: On\n"
                    "  shutdown_grace: 1500ms\n"
                    "nodes:\n  offline_after: 2m\n  auto_approve: true\n  enrollment_ttl: 1h30m\n  heartbeat_interval: 15s\n"
                    "exec:\n  default_timeout: 30s\n  max_output_bytes: 4096\n  result_retention: 24h\n"
                    "heads:\n  experience_library_url: \"https://exp.example.com\"\n  screenshot_path: /tmp/s.jpg\n"
                    "  screenshot_max_age: 10s\n  sunshine_port: 47989\n"
                    "streams:\n  stop_command: \"x stop\"\n  stop_timeout: 5s\n"
                    "releases:\n  base_url: \"https://rel.example.com\"\n"
                    "role_catalog:\n"
                    "  - name: render-node\n    description: LarkXR\n    recipe: {install: [a, b], service: larkxr}\n"
                    "  - name: hydraguard-air\n";
    assert_int_equal(load(y, &c, err, sizeof(err)), 0);
    assert_int_equal(c.server.listen_count, 2);
    assert_string_equal(c.server.listen[1], "127.0.0.1:8080");
    assert_string_equal(c.server.public_url, "https://cluster.example.com");
    assert_int_equal(c.server.workers, 4);
    assert_int_equal(c.server.tls.http2, 1);
    assert_int_equal(c.server.trusted_proxies_count, 2);
    assert_int_equal(c.server.metrics_public, 1);
    assert_int_equal(c.server.shutdown_grace_ms, 1500);
    assert_int_equal(c.nodes.offline_after_ms, 120000);
    assert_int_equal(c.nodes.auto_approve, 1);
    assert_int_equal(c.nodes.enrollment_ttl_ms, 5400000);
    assert_int_equal(c.nodes.heartbeat_interval_s, 15);
    assert_int_equal(c.exec.max_output_bytes, 4096);
    assert_int_equal(c.heads.sunshine_port, 47989);
    assert_string_equal(c.releases.base_url, "https://rel.example.com");
    assert_int_equal(c.role_catalog_count, 2);
    assert_string_equal(c.role_catalog[0].recipe_json, "{\"install\":[\"a\",\"b\"],\"service\":\"larkxr\"}");
    assert_string_equal(c.role_catalog[1].recipe_json, "{}");
    assert_string_equal(c.role_catalog[1].description, "");
    config_free(&c);
}

static void test_listen_as_string(void **state)
{
    (void)state;
    hc_config_t c;
    char err[512];
    assert_int_equal(load("server:\n  listen: \"[::1]:9000\"\n", &c, err, sizeof(err)), 0);
    assert_int_equal(c.server.listen_count, 1);
    assert_string_equal(c.server.listen[0], "[::1]:9000");
    config_free(&c);
}

static void expect_error(const char *yaml, const char *needle1, const char *needle2)
{
    hc_config_t c;
    char err[512] = "";
    assert_int_equal(load(yaml, &c, err, sizeof(err)), -1);
    if (strstr(err, needle1) == NULL || (needle2 && strstr(err, needle2) == NULL))
        fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err, needle1, needle2 ? needle2 : "");
    assert_non_null(strstr(err, path)); /* names the file */
    config_free(&c);
}

static void test_unknown_key_with_position(void **state)
{
    (void)state;
    expect_error("server:\n  listen: \"127.0.0.1:1\"\n  lisen: x\n", ":3:3:", "unknown key \"server.lisen\"");
    expect_error("nodez:\n  a: 1\n", ":1:1:", "unknown key \"nodez\"");
    expect_error("server:\n  tls:\n    http3: true\n", ":3:5:", "server.tls.http3");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("server:\n  data_dir: [a, b]\n", ":2:13:", "server.data_dir");
    expect_error("server:\n  metrics_public: \"yes please\"\n", ":2:", "true or false");
    expect_error("server:\n  workers: -1\n", ":2:", "whole number");
    expect_error("server:\n  workers: 3.5\n", ":2:", "whole number");
    expect_error("server: 5\n", ":1:9:", "mapping");
    expect_error("role_catalog:\n  name: x\n", ":2:", "list");
    expect_error("role_catalog:\n  - description: no name\n", ":2:", "name");
}

static void test_bad_durations(void **state)
{
    (void)state;
    const char *bad[] = {"10", "5x", "-1s", "\"\"", "99999999999999999999h", "1.5s", "s", "10 s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char y[128];
        snprintf(y, sizeof(y), "nodes:\n  offline_after: %s\n", bad[i]);
        expect_error(y, ":2:", "duration");
    }
}

static void test_good_durations(void **state)
{
    (void)state;
    uint64_t ms;
    assert_int_equal(config_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(config_parse_duration("90s", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(config_parse_duration("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(config_parse_duration("168h", &ms), 0);
    assert_int_equal(ms, 604800000);
    assert_int_equal(config_parse_duration("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(config_parse_duration("1m1s1ms", &ms), 0);
    assert_int_equal(ms, 61001);
    assert_int_equal(config_parse_duration(NULL, &ms), -1);
}

static void test_duplicate_key(void **state)
{
    (void)state;
    expect_error("server:\n  workers: 1\n  workers: 2\n", ":3:3:", "duplicate key \"server.workers\"");
    expect_error("exec: {}\nexec: {}\n", ":2:1:", "duplicate");
}

static void test_tls_files(void **state)
{
    (void)state;
    expect_error("server:\n  tls:\n    cert_file: /nonexistent/cert.pem\n    key_file: /nonexistent/key.pem\n", ":3:",
                 "/nonexistent/cert.pem");
    expect_error("server:\n  tls:\n    cert_file: /etc/hostname\n", "needs both", NULL);
}

static void test_admin_token_file(void **state)
{
    (void)state;
    char tok[] = "/tmp/hc-tok-XXXXXX";
    int fd = mkstemp(tok);
    const char *content = "\n  secret-admin-token-0123456789  \n";
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    char y[256];
    snprintf(y, sizeof(y), "server:\n  admin_token_file: %s\n", tok);
    hc_config_t c;
    char err[512];
    assert_int_equal(load(y, &c, err, sizeof(err)), 0);
    assert_string_equal(c.server.admin_token, "secret-admin-token-0123456789");
    config_free(&c);
    unlink(tok);
    expect_error(y, "admin_token_file", tok); /* now missing */
}

static void test_invalid_yaml(void **state)
{
    (void)state;
    expect_error("server:\n  listen: [\"a\"\n", "invalid YAML", NULL);
}

static void test_empty_file_is_defaults(void **state)
{
    (void)state;
    hc_config_t c;
    char err[512];
    assert_int_equal(load("", &c, err, sizeof(err)), 0);
    assert_string_equal(c.server.listen[0], "127.0.0.1:8080");
    config_free(&c);
}

static void test_find_path(void **state)
{
    (void)state;
    char *p = config_find_path("/x/explicit.yaml");
    assert_string_equal(p, "/x/explicit.yaml");
    free(p);
    setenv("HYDRACLUSTER_CONFIG", "/x/from-env.yaml", 1);
    p = config_find_path(NULL);
    assert_string_equal(p, "/x/from-env.yaml");
    free(p);
    unsetenv("HYDRACLUSTER_CONFIG");
    setenv("HOME", "/nonexistent-home", 1);
    assert_null(config_find_path(NULL));
}

static void test_watchdog_stall(void **state)
{
    (void)state;
    hc_config_t c;
    char err[512];
    assert_int_equal(config_defaults(&c), 0);
    assert_int_equal(c.server.watchdog_stall_ms, 5000);
    config_free(&c);
    assert_int_equal(load("server:\n  watchdog_stall: 12s\n", &c, err, sizeof(err)), 0);
    assert_int_equal(c.server.watchdog_stall_ms, 12000);
    config_free(&c);
    /* shorter than twice the idle loop's wake-up would report idle workers */
    assert_int_equal(load("server:\n  watchdog_stall: 1s\n", &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":2:19: \"server.watchdog_stall\" must be between 2s and 10m"));
    config_free(&c);
    assert_int_equal(load("server:\n  watchdog_stall: 11m\n", &c, err, sizeof(err)), -1);
    config_free(&c);
    assert_int_equal(load("server:\n  watchdog_stall: soon\n", &c, err, sizeof(err)), -1);
    config_free(&c);
}

static void test_missing_file(void **state)
{
    (void)state;
    hc_config_t c;
    char err[512];
    assert_int_equal(config_defaults(&c), 0);
    assert_int_equal(config_load(&c, "/nonexistent/config.yaml", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/config.yaml"));
    assert_non_null(strstr(err, "cannot open"));
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_listen_as_string), cmocka_unit_test(test_unknown_key_with_position),
        cmocka_unit_test(test_wrong_types),      cmocka_unit_test(test_bad_durations),
        cmocka_unit_test(test_good_durations),   cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_tls_files),        cmocka_unit_test(test_admin_token_file),
        cmocka_unit_test(test_invalid_yaml),     cmocka_unit_test(test_empty_file_is_defaults),
        cmocka_unit_test(test_find_path),        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_watchdog_stall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
