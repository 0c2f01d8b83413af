/* config.yaml parsing: defaults, every key, and each kind of error with its position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char cfg_path[64];

/* a temporary file holding text; the caller unlinks it */
static void write_tmp(char *path, size_t len, const char *prefix, const char *text)
{
    snprintf(path, len, "/tmp/%s-XXXXXX", prefix);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* loads text over the defaults; returns config_load's result, err filled */
static int load(const char *text, hc_config_t *cfg, char *err, size_t errlen)
{
    assert_int_equal(config_defaults(cfg), 0);
    write_tmp(cfg_path, sizeof(cfg_path), "hc-cfg", text);
    int rc = config_load(cfg, cfg_path, err, errlen);
    unlink(cfg_path);
    return rc;
}

static void load_ok(const char *text, hc_config_t *cfg)
{
    char err[512] = "";
    if (load(text, cfg, err, sizeof(err)) != 0)
        fail_msg("unexpected error: %s", err);
}

/* The load must fail with one line that names the file and holds every needle. */
static void expect_error(const char *yaml, ...)
{
    hc_config_t c;
    char err[512] = "";
    assert_int_equal(load(yaml, &c, err, sizeof(err)), -1);
    if (strncmp(err, cfg_path, strlen(cfg_path)) != 0)
        fail_msg("error \"%s\" does not start with the file %s", err, cfg_path);
    if (strchr(err, '\n') != NULL)
        fail_msg("error \"%s\" spans lines", err);
    va_list ap;
    va_start(ap, yaml);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        if (strstr(err, needle) == NULL)
            fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    va_end(ap);
    config_free(&c);
}

static void test_defaults(void **state)
{
    (void)state;
    hc_config_t c;
    assert_int_equal(config_defaults(&c), 0);
    assert_null(c.source_path);
    assert_int_equal(c.server.listen_count, 1);
    assert_string_equal(c.server.listen[0], "127.0.0.1:8080");
    assert_null(c.server.public_url);
    assert_string_equal(c.server.data_dir, "./data");
    assert_null(c.server.admin_token);
    assert_null(c.server.admin_token_file);
    assert_null(c.server.fleet_enrollment_token);
    assert_int_equal(c.server.workers, 0);
    assert_null(c.server.tls.cert_file);
    assert_null(c.server.tls.key_file);
    assert_int_equal(c.server.tls.http2, 0);
    assert_int_equal(c.server.trusted_proxies_count, 0);
    assert_int_equal(c.server.metrics_public, 0);
    assert_int_equal(c.server.shutdown_grace_ms, 10000);
    assert_int_equal(c.nodes.offline_after_ms, 90000);
    assert_int_equal(c.nodes.auto_approve, 0);
    assert_int_equal(c.nodes.enrollment_ttl_ms, 24ULL * 3600 * 1000);
    assert_int_equal(c.nodes.heartbeat_interval_s, 30);
    assert_int_equal(c.exec.default_timeout_ms, 60000);
    assert_int_equal(c.exec.max_output_bytes, 1048576);
    assert_int_equal(c.exec.timeout_grace_ms, 30000);
    assert_int_equal(c.exec.result_retention_ms, 168ULL * 3600 * 1000);
    assert_null(c.heads.experience_library_url);
    assert_string_equal(c.heads.screenshot_path, "/tmp/hydra-live-screenshot.jpg");
    assert_int_equal(c.heads.screenshot_max_age_ms, 30000);
    assert_int_equal(c.heads.sunshine_port, 47990);
    assert_int_equal(c.heads.screenshot_timeout_ms, 20000);
    assert_int_equal(c.heads.logs_timeout_ms, 15000);
    assert_string_equal(c.streams.stop_command, "hydrabody stream-stop");
    assert_int_equal(c.streams.stop_timeout_ms, 20000);
    assert_string_equal(c.releases.base_url, "https://releases.example.com");
    assert_null(c.role_catalog);
    assert_int_equal(c.role_catalog_count, 0);
    config_free(&c);
}

static void test_full_config(void **state)
{
    (void)state;
    char cert[64], key[64], tok[64], y[4096];
    write_tmp(cert, sizeof(cert), "hc-cert", "CERT\n");
    write_tmp(key, sizeof(key), "hc-key", "KEY\n");
    write_tmp(tok, sizeof(tok), "hc-tok", "admin-token-from-file-0123456789\n");
    snprintf(y, sizeof(y),
             "# every key of spec/cli-and-config.md and config.h\n"
             "server:\n"
             "  listen: [\"0.0.0.0:443\", \"127.0.0.1:8080\"]\n"
             "  public_url: \"https://cluster.example.com\"\n"
             "  data_dir: \"/var/lib/hc\"\n"
             "  admin_token_file: %s\n"
             "  fleet_enrollment_token: \"fleet-token-0123456789\"\n"
             "  workers: 4\n"
             "  tls:\n"
             "    cert_file: %s\n"
             "    key_file: %s\n"
             "    http2: yes\n"
             "  trusted_proxies: [\"127.0.0.1\", \"::1\"]\n"
             "  metrics_public: On\n"
             "  shutdown_grace: 1500ms\n"
             "nodes:\n  offline_after: 2m\n  auto_approve: true\n  enrollment_ttl: 1h30m\n  heartbeat_interval: 15s\n"
             "exec:\n  default_timeout: 30s\n  max_output_bytes: 4096\n  result_retention: 24h\n"
             "heads:\n  experience_library_url: \"https://exp.example.com\"\n  screenshot_path: /tmp/s.jpg\n"
             "  screenshot_max_age: 10s\n  sunshine_port: 47989\n  screenshot_timeout: 3s\n  logs_timeout: 2500ms\n"
             "streams:\n  stop_command: \"x stop\"\n  stop_timeout: 5s\n"
             "releases:\n  base_url: \"https://rel.example.com\"\n"
             "role_catalog:\n"
             "  - name: render-node\n    description: LarkXR standalone render node\n"
             "    recipe: {install: [a, b], service: larkxr}\n"
             "  - name: hydraguard-air\n",
             tok, cert, key);
    hc_config_t c;
    load_ok(y, &c);
    assert_string_equal(c.source_path, cfg_path);
    assert_int_equal(c.server.listen_count, 2);
    assert_string_equal(c.server.listen[0], "0.0.0.0:443");
    assert_string_equal(c.server.listen[1], "127.0.0.1:8080");
    assert_string_equal(c.server.public_url, "https://cluster.example.com");
    assert_string_equal(c.server.data_dir, "/var/lib/hc");
    assert_string_equal(c.server.admin_token, "admin-token-from-file-0123456789");
    assert_string_equal(c.server.admin_token_file, tok);
    assert_string_equal(c.server.fleet_enrollment_token, "fleet-token-0123456789");
    assert_int_equal(c.server.workers, 4);
    assert_string_equal(c.server.tls.cert_file, cert);
    assert_string_equal(c.server.tls.key_file, key);
    assert_int_equal(c.server.tls.http2, 1);
    assert_int_equal(c.server.trusted_proxies_count, 2);
    assert_string_equal(c.server.trusted_proxies[1], "::1");
    assert_int_equal(c.server.metrics_public, 1);
    assert_int_equal(c.server.shutdown_grace_ms, 1500);
    assert_int_equal(c.nodes.offline_after_ms, 120000);
    assert_int_equal(c.nodes.auto_approve, 1);
    assert_int_equal(c.nodes.enrollment_ttl_ms, 5400000);
    assert_int_equal(c.nodes.heartbeat_interval_s, 15);
    assert_int_equal(c.exec.default_timeout_ms, 30000);
    assert_int_equal(c.exec.max_output_bytes, 4096);
    assert_int_equal(c.exec.result_retention_ms, 24ULL * 3600 * 1000);
    assert_string_equal(c.heads.experience_library_url, "https://exp.example.com");
    assert_string_equal(c.heads.screenshot_path, "/tmp/s.jpg");
    assert_int_equal(c.heads.screenshot_max_age_ms, 10000);
    assert_int_equal(c.heads.sunshine_port, 47989);
    assert_int_equal(c.heads.screenshot_timeout_ms, 3000);
    assert_int_equal(c.heads.logs_timeout_ms, 2500);
    assert_string_equal(c.streams.stop_command, "x stop");
    assert_int_equal(c.streams.stop_timeout_ms, 5000);
    assert_string_equal(c.releases.base_url, "https://rel.example.com");
    assert_int_equal(c.role_catalog_count, 2);
    assert_string_equal(c.role_catalog[0].name, "render-node");
    assert_string_equal(c.role_catalog[0].description, "LarkXR standalone render node");
    assert_string_equal(c.role_catalog[0].recipe_json, "{\"install\":[\"a\",\"b\"],\"service\":\"larkxr\"}");
    assert_string_equal(c.role_catalog[1].name, "hydraguard-air");
    assert_string_equal(c.role_catalog[1].description, "");
    assert_string_equal(c.role_catalog[1].recipe_json, "{}");
    config_free(&c);
    unlink(cert);
    unlink(key);
    unlink(tok);
}

static void test_listen_as_string(void **state)
{
    (void)state;
    hc_config_t c;
    load_ok("server:\n  listen: \"[::1]:9000\"\n", &c);
    assert_int_equal(c.server.listen_count, 1);
    assert_string_equal(c.server.listen[0], "[::1]:9000");
    config_free(&c);
    load_ok("server:\n  listen: :8080\n", &c); /* every interface */
    assert_string_equal(c.server.listen[0], ":8080");
    config_free(&c);
}

/* the keys of issue 16: log.level/format, server.metrics_token, nodes.events_retention */
static void test_ops_keys(void **state)
{
    (void)state;
    hc_config_t c;
    assert_int_equal(config_defaults(&c), 0);
    assert_string_equal(c.log.level, "info");
    assert_string_equal(c.log.format, "logfmt");
    assert_null(c.server.metrics_token);
    assert_int_equal(c.nodes.events_retention_ms, 30ULL * 24 * 3600 * 1000);
    config_free(&c);
    load_ok("server:\n  metrics_token: prometheus-scrape-token-0123456789\nnodes:\n  events_retention: 168h\n"
            "log:\n  level: debug\n  format: json\n",
            &c);
    assert_string_equal(c.log.level, "debug");
    assert_string_equal(c.log.format, "json");
    assert_string_equal(c.server.metrics_token, "prometheus-scrape-token-0123456789");
    assert_int_equal(c.nodes.events_retention_ms, 7ULL * 24 * 3600 * 1000);
    config_free(&c);
    expect_error("log:\n  level: verbose\n", ":2:10:", "\"log.level\" must be one of debug|info|warn|error", NULL);
    expect_error("log:\n  format: text\n", ":2:", "logfmt|json", NULL);
    expect_error("log:\n  format: [json]\n", ":2:", "log.format", NULL);
    expect_error("log:\n  level:\n", ":2:", "needs a value", NULL);
    expect_error("server:\n  metrics_token: short\n", ":2:", "metrics_token", NULL);
    expect_error("nodes:\n  events_retention: 10ms\n", ":2:", "events_retention", NULL);
}

static void test_listen_as_list(void **state)
{
    (void)state;
    hc_config_t c;
    load_ok("server:\n  listen:\n    - 127.0.0.1:1\n    - \"[::]:2\"\n    - localhost:3\n", &c);
    assert_int_equal(c.server.listen_count, 3);
    assert_string_equal(c.server.listen[2], "localhost:3");
    config_free(&c);
    /* CONFIG_MAX_LISTEN is 8: the ninth entry is refused where it stands */
    expect_error("server:\n  listen: [a:1, a:2, a:3, a:4, a:5, a:6, a:7, a:8, a:9]\n", ":2:", "at most 8",
                 "server.listen", NULL);
    expect_error("server:\n  listen: []\n", ":2:11:", "at least one", NULL);
    expect_error("server:\n  listen: [\"127.0.0.1\"]\n", ":2:12:", "host:port", NULL);
    expect_error("server:\n  listen: \"::1:8080\"\n", ":2:", "[::1]:8080", NULL);
    expect_error("server:\n  listen: \"127.0.0.1:0\"\n", ":2:", "host:port", NULL);
    expect_error("server:\n  listen: \"127.0.0.1:65536\"\n", ":2:", "host:port", NULL);
    expect_error("server:\n  listen: [a:1, a:1]\n", ":2:17:", "twice", NULL);
    expect_error("server:\n  listen: [[a:1]]\n", ":2:12:", "must be strings", NULL);
}

static void test_trusted_proxies(void **state)
{
    (void)state;
    hc_config_t c;
    /* stored as inet_ntop writes them, so they compare equal to peer addresses */
    load_ok("server:\n  trusted_proxies: [\"::0001\", 10.0.0.1]\n", &c);
    assert_int_equal(c.server.trusted_proxies_count, 2);
    assert_string_equal(c.server.trusted_proxies[0], "::1");
    assert_string_equal(c.server.trusted_proxies[1], "10.0.0.1");
    config_free(&c);
    load_ok("server:\n  trusted_proxies: 127.0.0.1\n", &c);
    assert_int_equal(c.server.trusted_proxies_count, 1);
    config_free(&c);
    expect_error("server:\n  trusted_proxies: [10.0.0.0/8]\n", ":2:21:", "not an IP address",
                 "server.trusted_proxies", NULL);
}

static void test_unknown_key_with_position(void **state)
{
    (void)state;
    expect_error("server:\n  listen: \"127.0.0.1:1\"\n  lisen: x\n", ":3:3:", "unknown key \"server.lisen\"", NULL);
    expect_error("nodez:\n  a: 1\n", ":1:1:", "unknown key \"nodez\"", NULL);
    expect_error("server:\n  tls:\n    http3: true\n", ":3:5:", "unknown key \"server.tls.http3\"", NULL);
    expect_error("exec:\n  default_timeout: 5s\n\n  timeout: 5s\n", ":4:3:", "\"exec.timeout\"", NULL);
    expect_error("role_catalog:\n  - name: a\n    recipes: {}\n", ":3:5:", "unknown key \"role_catalog[0].recipes\"",
                 NULL);
    /* merge keys are for recipes; in a section they are just an unknown key */
    expect_error("server:\n  <<: {workers: 2}\n", ":2:3:", "\"server.<<\"", NULL);
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("server:\n  data_dir: [a, b]\n", ":2:13:", "\"server.data_dir\" must be a string", NULL);
    expect_error("server:\n  public_url: {a: b}\n", ":2:15:", "server.public_url", "mapping", NULL);
    expect_error("server:\n  metrics_public: \"yes please\"\n", ":2:19:", "server.metrics_public", "true or false",
                 NULL);
    expect_error("server:\n  metrics_public: [true]\n", ":2:", "true or false", NULL);
    expect_error("exec:\n  default_timeout: {s: 1}\n", ":2:", "duration", NULL);
    expect_error("server: 5\n", ":1:9:", "\"server\" must be a mapping", NULL);
    expect_error("server:\n  tls: [a]\n", ":2:8:", "\"server.tls\" must be a mapping", NULL);
    expect_error("- a\n- b\n", ":1:1:", "mapping", NULL);
    expect_error("role_catalog:\n  name: x\n", ":2:3:", "\"role_catalog\" must be a list", NULL);
    expect_error("role_catalog: [a]\n", ":1:16:", "role_catalog[0]", "mapping", NULL);
    expect_error("? [a]\n: b\n", ":1:3:", "keys", NULL);
}

static void test_integers(void **state)
{
    (void)state;
    const char *bad[] = {"-1", "3.5", "+1", "0x10", "1025", "\"\"", "1e3", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char y[128];
        snprintf(y, sizeof(y), "server:\n  workers: %s\n", bad[i]);
        expect_error(y, ":2:12:", "\"server.workers\" must be a whole number from 0 to 1024", NULL);
    }
    expect_error("heads:\n  sunshine_port: 0\n", ":2:", "from 1 to 65535", NULL);
    expect_error("heads:\n  sunshine_port: 65536\n", ":2:", "from 1 to 65535", NULL);
    hc_config_t c;
    load_ok("server:\n  workers: 1024\nheads:\n  sunshine_port: 1\nexec:\n  max_output_bytes: 0\n", &c);
    assert_int_equal(c.server.workers, 1024);
    assert_int_equal(c.heads.sunshine_port, 1);
    assert_int_equal(c.exec.max_output_bytes, 0);
    config_free(&c);
}

static void test_bool_forms(void **state)
{
    (void)state;
    const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "ON"};
    const char *no[] = {"false", "False", "no", "NO", "off", "Off", "\"false\""};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        char y[128];
        hc_config_t c;
        snprintf(y, sizeof(y), "nodes:\n  auto_approve: %s\nserver:\n  tls:\n    http2: %s\n", yes[i], no[i]);
        load_ok(y, &c);
        assert_int_equal(c.nodes.auto_approve, 1);
        assert_int_equal(c.server.tls.http2, 0);
        config_free(&c);
    }
    const char *bad[] = {"1", "0", "y", "n", "enabled", "\"yes please\"", "truee"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char y[128];
        snprintf(y, sizeof(y), "nodes:\n  auto_approve: %s\n", bad[i]);
        expect_error(y, ":2:17:", "\"nodes.auto_approve\" must be true or false", NULL);
    }
}

static void test_bad_durations(void **state)
{
    (void)state;
    const char *bad[] = {"10",  "5x",  "-1s", "\"\"", "99999999999999999h", "99999999999999999999h", "1.5s",
                         "s",   "10 s", "1h 30m", "5S", "ms",  "0s0",  "+5s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char y[128];
        snprintf(y, sizeof(y), "nodes:\n  offline_after: %s\n", bad[i]);
        expect_error(y, ":2:18:", "\"nodes.offline_after\" must be a duration", NULL);
    }
    uint64_t ms = 7;
    assert_int_equal(config_parse_duration("", &ms), -1);
    assert_int_equal(config_parse_duration("-1s", &ms), -1);
    assert_int_equal(config_parse_duration("99999999999999999h", &ms), -1);
    assert_int_equal(config_parse_duration("2562047788016h", &ms), -1); /* past INT64_MAX ms */
    assert_int_equal(config_parse_duration(NULL, &ms), -1);
    assert_int_equal(ms, 7); /* untouched on error */
}

static void test_good_durations(void **state)
{
    (void)state;
    const struct {
        const char *text;
        uint64_t ms;
    } good[] = {{"250ms", 250},        {"90s", 90000},  {"5m", 300000},     {"1h30m", 5400000},
                {"168h", 604800000},   {"0", 0},        {"0s", 0},          {"1m1s1ms", 61001},
                {"1h0m0s", 3600000},   {"00010s", 10000}, {"2562047788015h", 2562047788015ULL * 3600000}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t ms = 1;
        if (config_parse_duration(good[i].text, &ms) != 0)
            fail_msg("\"%s\" refused", good[i].text);
        assert_int_equal(ms, good[i].ms);
    }
}

static void test_duration_bounds(void **state)
{
    (void)state;
    hc_config_t c;
    load_ok("server:\n  shutdown_grace: 0\nexec:\n  result_retention: 0s\nnodes:\n  heartbeat_interval: 1h\n", &c);
    assert_int_equal(c.server.shutdown_grace_ms, 0);
    assert_int_equal(c.exec.result_retention_ms, 0);
    assert_int_equal(c.nodes.heartbeat_interval_s, 3600);
    config_free(&c);
    expect_error("nodes:\n  offline_after: 0\n", ":2:18:", "\"nodes.offline_after\" must be at least 1s", NULL);
    expect_error("exec:\n  default_timeout: 500ms\n", ":2:", "between 1s and 24h", NULL);
    expect_error("exec:\n  default_timeout: 25h\n", ":2:", "between 1s and 24h", NULL);
    /* the exec grace: 0 allowed, at most 1h; the output cap fits the result endpoint's body limit */
    load_ok("exec:\n  timeout_grace: 0\n  max_output_bytes: 4194304\n", &c);
    assert_int_equal(c.exec.timeout_grace_ms, 0);
    assert_int_equal(c.exec.max_output_bytes, 4194304);
    config_free(&c);
    expect_error("exec:\n  timeout_grace: 2h\n", ":2:", "exec.timeout_grace", NULL);
    expect_error("exec:\n  max_output_bytes: 4194305\n", ":2:", "exec.max_output_bytes", NULL);
    expect_error("heads:\n  screenshot_timeout: 500ms\n", ":2:", "heads.screenshot_timeout", NULL);
    expect_error("heads:\n  logs_timeout: 6m\n", ":2:", "heads.logs_timeout", NULL);
    expect_error("nodes:\n  heartbeat_interval: 2h\n", ":2:", "between 1s and 1h", NULL);
    expect_error("nodes:\n  heartbeat_interval: 1500ms\n", ":2:", "whole seconds", NULL);
    expect_error("nodes:\n  heartbeat_interval: 30\n", ":2:", "duration", NULL);
}

static void test_null_and_empty_values(void **state)
{
    (void)state;
    hc_config_t c;
    /* sections with every key commented out, optional strings left empty */
    load_ok("server:\n#  listen: x\n  public_url:\n  trusted_proxies: ~\nnodes:\nrole_catalog: null\n", &c);
    assert_null(c.server.public_url);
    assert_string_equal(c.server.listen[0], "127.0.0.1:8080");
    assert_int_equal(c.server.trusted_proxies_count, 0);
    assert_int_equal(c.role_catalog_count, 0);
    config_free(&c);
    load_ok("---\n", &c);
    config_free(&c);
    expect_error("server:\n  data_dir:\n", ":2:12:", "\"server.data_dir\" needs a value", NULL);
    expect_error("server:\n  data_dir: \"\"\n", ":2:13:", "must not be empty", NULL);
    expect_error("nodes:\n  auto_approve: ~\n", ":2:", "needs a value", NULL);
    expect_error("streams:\n  stop_command: \"  \"\n", ":2:", "\"streams.stop_command\" must not be empty", NULL);
    expect_error("server:\n  listen:\n", ":2:", "needs a value", NULL);
}

static void test_urls_and_tokens(void **state)
{
    (void)state;
    expect_error("server:\n  public_url: cluster.example.com\n", ":2:15:", "\"server.public_url\"", "http://", NULL);
    expect_error("releases:\n  base_url: \"https:///x\"\n", ":2:", "no host", NULL);
    expect_error("heads:\n  experience_library_url: \"http://a b\"\n", ":2:", "spaces", NULL);
    expect_error("server:\n  admin_token: changeme\n", ":2:16:", "\"server.admin_token\" is too short", NULL);
    expect_error("server:\n  fleet_enrollment_token: \"0123456789 abcdef\"\n", ":2:", "without spaces", NULL);
    hc_config_t c;
    load_ok("server:\n  admin_token: 0123456789abcdef\n  public_url: HTTPS://x.example/\n", &c);
    assert_string_equal(c.server.admin_token, "0123456789abcdef");
    config_free(&c);
}

static void test_head_roles_and_channel(void **state)
{
    (void)state;
    hc_config_t c;
    assert_int_equal(config_defaults(&c), 0);
    assert_int_equal(c.heads.roles_count, 3);
    assert_string_equal(c.heads.roles[0], "hydraheadflatscreen");
    assert_string_equal(c.heads.roles[2], "hydraheadipad");
    assert_string_equal(c.releases.channel, "production");
    config_free(&c);
    load_ok("heads:\n  roles: [kiosk-x, &k kiosk.y]\nreleases:\n  channel: staging_2\n", &c);
    assert_int_equal(c.heads.roles_count, 2);
    assert_string_equal(c.heads.roles[1], "kiosk.y");
    assert_string_equal(c.releases.channel, "staging_2");
    config_free(&c);
    load_ok("heads:\n  roles: one-role\n", &c);
    assert_int_equal(c.heads.roles_count, 1);
    assert_string_equal(c.heads.roles[0], "one-role");
    config_free(&c);
    /* [] and null: no role makes a head */
    load_ok("heads:\n  roles: []\n", &c);
    assert_int_equal(c.heads.roles_count, 0);
    config_free(&c);
    load_ok("heads:\n  roles:\n", &c);
    assert_int_equal(c.heads.roles_count, 0);
    config_free(&c);
    expect_error("heads:\n  roles: [ok, \"a b\"]\n", ":2:", "\"heads.roles\" entries must be 1 to 64", NULL);
    expect_error("heads:\n  roles: [[x]]\n", ":2:", "\"heads.roles\" entries must be strings", NULL);
    expect_error("heads:\n  roles: {a: b}\n", ":2:", "\"heads.roles\" must be a string or a list", NULL);
    expect_error("heads:\n  roles: [a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q]\n", ":2:", "at most 16 entries", NULL);
    expect_error("releases:\n  channel: a/b\n", ":2:", "\"releases.channel\" must be 1 to 64", NULL);
    expect_error("releases:\n  channel:\n", ":2:", "\"releases.channel\" needs a value", NULL);
}

static void test_tls_missing_file(void **state)
{
    (void)state;
    char key[64];
    write_tmp(key, sizeof(key), "hc-key", "KEY\n");
    char y[256];
    snprintf(y, sizeof(y), "server:\n  tls:\n    cert_file: /nonexistent/cert.pem\n    key_file: %s\n", key);
    expect_error(y, ":3:16:", "\"server.tls.cert_file\"", "/nonexistent/cert.pem", "No such file", NULL);
    /* a directory is not a certificate */
    expect_error("server:\n  tls:\n    key_file: /tmp\n", ":3:15:", "not a regular file", NULL);
    unlink(key);
}

static void test_tls_needs_both(void **state)
{
    (void)state;
    char cert[64], y[256];
    write_tmp(cert, sizeof(cert), "hc-cert", "CERT\n");
    snprintf(y, sizeof(y), "server:\n  tls:\n    http2: false\n    cert_file: %s\n", cert);
    expect_error(y, ":4:5:", "\"server.tls.cert_file\" is set without \"server.tls.key_file\"", NULL);
    snprintf(y, sizeof(y), "server:\n  tls:\n    key_file: %s\n", cert);
    expect_error(y, ":3:5:", "\"server.tls.key_file\" is set without \"server.tls.cert_file\"", NULL);
    snprintf(y, sizeof(y), "server:\n  tls:\n    key_file: %s\n    cert_file: ~\n", cert);
    expect_error(y, ":3:5:", "TLS needs both", NULL);
    unlink(cert);
}

static void test_admin_token_file(void **state)
{
    (void)state;
    char tok[64], y[256];
    write_tmp(tok, sizeof(tok), "hc-tok", "\n  secret-admin-token-0123456789  \n\n");
    snprintf(y, sizeof(y), "server:\n  admin_token_file: %s\n", tok);
    hc_config_t c;
    load_ok(y, &c);
    assert_string_equal(c.server.admin_token, "secret-admin-token-0123456789");
    assert_string_equal(c.server.admin_token_file, tok);
    config_free(&c);
    unlink(tok);
    expect_error(y, ":2:21:", "\"server.admin_token_file\"", tok, "No such file", NULL);
}

static void test_admin_token_file_errors(void **state)
{
    (void)state;
    char tok[64], y[256];
    write_tmp(tok, sizeof(tok), "hc-tok", "  \n\t\n");
    snprintf(y, sizeof(y), "server:\n  admin_token_file: %s\n", tok);
    expect_error(y, ":2:", "too short", NULL);
    unlink(tok);
    write_tmp(tok, sizeof(tok), "hc-tok", "first-line-of-token\nsecond-line-of-token\n");
    snprintf(y, sizeof(y), "server:\n  admin_token_file: %s\n", tok);
    expect_error(y, ":2:", "without spaces", NULL);
    unlink(tok);
    write_tmp(tok, sizeof(tok), "hc-tok", "good-token-0123456789\n");
    snprintf(y, sizeof(y), "server:\n  admin_token: abcdefghijklmnopqrstuvwxyz\n  admin_token_file: %s\n", tok);
    expect_error(y, ":3:3:", "not both", NULL);
    unlink(tok);
    /* a token file is a few bytes: a large one is the wrong file */
    char *big = malloc(8192);
    assert_non_null(big);
    memset(big, 'a', 8191);
    big[8191] = '\0';
    write_tmp(tok, sizeof(tok), "hc-tok", big);
    free(big);
    snprintf(y, sizeof(y), "server:\n  admin_token_file: %s\n", tok);
    expect_error(y, ":2:", "larger than 4096 bytes", NULL);
    unlink(tok);
}

static void test_role_catalog_recipe_json(void **state)
{
    (void)state;
    hc_config_t c;
    load_ok("role_catalog:\n"
            "  - name: render-node\n"
            "    description: |\n      two\n      lines\n"
            "    recipe:\n"
            "      packages: [larkxr, {name: sunshine, version: \"1.2\"}]\n"
            "      env: {A: 1}\n"
            "      n: 3\n      neg: -4\n      f: 1.5\n      t: true\n      no: no\n      nul: ~\n"
            "      q: \"3\"\n      zero: 007\n      big: 99999999999999999999\n      s: hello world\n"
            "      esc: \"a\\\"b\\\\c\\u00e9\"\n      empty: {}\n      list: []\n",
            &c);
    assert_int_equal(c.role_catalog_count, 1);
    assert_string_equal(c.role_catalog[0].description, "two\nlines\n");
    assert_string_equal(c.role_catalog[0].recipe_json,
                        "{\"packages\":[\"larkxr\",{\"name\":\"sunshine\",\"version\":\"1.2\"}],\"env\":{\"A\":1},"
                        "\"n\":3,\"neg\":-4,\"f\":1.5,\"t\":true,\"no\":\"no\",\"nul\":null,\"q\":\"3\","
                        "\"zero\":\"007\",\"big\":\"99999999999999999999\",\"s\":\"hello world\","
                        "\"esc\":\"a\\\"b\\\\c\xc3\xa9\",\"empty\":{},\"list\":[]}");
    config_free(&c);
    load_ok("role_catalog:\n  - name: a\n    recipe: ~\n  - {name: b, description: ~}\n", &c);
    assert_string_equal(c.role_catalog[0].recipe_json, "{}");
    assert_string_equal(c.role_catalog[1].description, "");
    config_free(&c);
}

static void test_role_catalog_errors(void **state)
{
    (void)state;
    expect_error("role_catalog:\n  - description: no name\n", ":2:5:", "\"role_catalog[0]\" needs a \"name\"", NULL);
    expect_error("role_catalog:\n  - name: a\n  - name: \"a b\"\n", ":3:11:", "\"role_catalog[1].name\"",
                 "not a role name", NULL);
    expect_error("role_catalog:\n  - name: Render-Node\n", ":2:11:", "\"role_catalog[0].name\"", "lowercase", NULL);
    expect_error("role_catalog:\n  - name:\n", ":2:", "\"role_catalog[0].name\" needs a value", NULL);
    expect_error("role_catalog:\n  - name: a\n  - name: a\n", ":3:5:", "role \"a\" is listed twice", NULL);
    expect_error("role_catalog:\n  - name: a\n    recipe: [x]\n", ":3:13:", "\"role_catalog[0].recipe\" must be a mapping",
                 NULL);
    expect_error("role_catalog:\n  - name: a\n    recipe:\n      x: 1\n      x: 2\n", ":5:7:",
                 "duplicate key \"x\" in \"role_catalog[0].recipe\"", NULL);
    expect_error("role_catalog:\n  - name: a\n    name: b\n", ":3:5:", "duplicate key \"role_catalog[0].name\"",
                 NULL);
    expect_error("role_catalog:\n  - name: a\n    recipe: {[k]: v}\n", ":3:14:", "keys must be strings", NULL);
}

static void test_recipe_anchors_and_merge(void **state)
{
    (void)state;
    hc_config_t c;
    load_ok("role_catalog:\n"
            "  - name: base\n"
            "    recipe: &base {install: [a], service: s1, port: 8080}\n"
            "  - name: derived\n"
            "    recipe:\n"
            "      <<: *base\n"
            "      service: s2\n"
            "  - name: two\n"
            "    recipe:\n"
            "      <<: [{x: 1, y: 1}, {y: 2, z: 2}]\n"
            "      reuse: *base\n",
            &c);
    assert_int_equal(c.role_catalog_count, 3);
    assert_string_equal(c.role_catalog[1].recipe_json, "{\"service\":\"s2\",\"install\":[\"a\"],\"port\":8080}");
    assert_string_equal(c.role_catalog[2].recipe_json,
                        "{\"reuse\":{\"install\":[\"a\"],\"service\":\"s1\",\"port\":8080},\"x\":1,\"y\":1,\"z\":2}");
    config_free(&c);
    expect_error("role_catalog:\n  - name: a\n    recipe:\n      <<: 5\n", ":4:11:", "\"<<\" must merge a mapping", NULL);
    /* aliases elsewhere are harmless: they name one node */
    load_ok("server:\n  listen: &l 127.0.0.1:1\n  trusted_proxies: [127.0.0.1]\n", &c);
    config_free(&c);
}

static void test_alias_bomb_fails_fast(void **state)
{
    (void)state;
    char y[2048];
    size_t n = (size_t)snprintf(y, sizeof(y), "role_catalog:\n  - name: bomb\n    recipe:\n"
                                              "      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i <= 9; i++) {
        n += (size_t)snprintf(y + n, sizeof(y) - n, "      l%d: &l%d [", i, i);
        for (int j = 0; j < 10; j++)
            n += (size_t)snprintf(y + n, sizeof(y) - n, "%s*l%d", j ? ", " : "", i - 1);
        n += (size_t)snprintf(y + n, sizeof(y) - n, "]\n");
    }
    assert_true(n < sizeof(y));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_error(y, "\"role_catalog[0].recipe\"", "more than 100000", NULL); /* 10^10 values if expanded */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
}

static void test_alias_cycle(void **state)
{
    (void)state;
    expect_error("role_catalog:\n  - name: a\n    recipe: &r {self: *r}\n", "role_catalog[0].recipe", "nested deeper",
                 NULL);
    expect_error("role_catalog:\n  - name: a\n    recipe: &r {<<: *r}\n", "nested deeper", NULL);
    expect_error("server: &s\n  tls: *s\n", ":2:3:", "unknown key \"server.tls.tls\"", NULL);
    expect_error("server:\n  listen: *nowhere\n", "invalid YAML", NULL);
}

static void test_duplicate_key(void **state)
{
    (void)state;
    expect_error("server:\n  workers: 1\n  workers: 2\n", ":3:3:", "duplicate key \"server.workers\"", NULL);
    expect_error("exec: {}\nexec: {}\n", ":2:1:", "duplicate key \"exec\"", NULL);
    expect_error("server:\n  tls:\n    http2: on\n    http2: off\n", ":4:5:", "duplicate key \"server.tls.http2\"",
                 NULL);
    expect_error("server: {listen: \"a:1\", listen: \"a:2\"}\n", ":1:25:", "duplicate key \"server.listen\"", NULL);
}

static void test_invalid_yaml(void **state)
{
    (void)state;
    expect_error("server:\n  listen: [\"a\"\n", "invalid YAML", NULL);
    expect_error("server:\n\tlisten: x\n", ":2:1:", "invalid YAML", NULL);
    expect_error("server:\n  data_dir: \"a\\0b\"\n", ":2:13:", "NUL", NULL);
    expect_error("server:\n  workers: 1\n---\nserver:\n  workers: 2\n", ":4:1:", "more than one YAML document", NULL);
}

static void test_error_is_one_line(void **state)
{
    (void)state;
    /* expect_error also checks there is no newline */
    expect_error("\"serv\\ner\": {}\n", ":1:1:", "unknown key \"serv?er\"", NULL);
    expect_error("server:\n  data_dir: \"a\\nb\"\n", ":2:13:", "one line", NULL);
    hc_config_t c;
    char tiny[8];
    assert_int_equal(load("nodez: 1\n", &c, tiny, sizeof(tiny)), -1);
    assert_int_equal(strlen(tiny), 7); /* cut, terminated */
    config_free(&c);
    assert_int_equal(load("nodez: 1\n", &c, NULL, 0), -1);
    config_free(&c);
}

static void test_empty_and_comment_files_are_defaults(void **state)
{
    (void)state;
    hc_config_t c;
    load_ok("", &c);
    assert_string_equal(c.server.listen[0], "127.0.0.1:8080");
    assert_string_equal(c.source_path, cfg_path);
    config_free(&c);
    load_ok("# nothing set yet\n\n", &c);
    assert_int_equal(c.nodes.offline_after_ms, 90000);
    config_free(&c);
}

static void test_file_too_large(void **state)
{
    (void)state;
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, '#', n);
    big[n] = '\0';
    expect_error(big, "larger than 1048576 bytes", NULL);
    free(big);
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
    assert_int_equal(config_load(&c, "/tmp", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/tmp: cannot read"));
    config_free(&c);
}

static void test_load_over_previous(void **state)
{
    (void)state;
    hc_config_t c;
    load_ok("server:\n  listen: [a:1, a:2, a:3]\n  trusted_proxies: [1.1.1.1, 2.2.2.2]\n"
            "role_catalog: [{name: a}, {name: b}]\n",
            &c);
    write_tmp(cfg_path, sizeof(cfg_path), "hc-cfg",
              "server:\n  listen: b:1\n  trusted_proxies: []\nrole_catalog: [{name: c}]\nnodes:\n  auto_approve: on\n");
    char err[512] = "";
    assert_int_equal(config_load(&c, cfg_path, err, sizeof(err)), 0);
    unlink(cfg_path);
    assert_int_equal(c.server.listen_count, 1);
    assert_string_equal(c.server.listen[0], "b:1");
    assert_null(c.server.listen[1]);
    assert_int_equal(c.server.trusted_proxies_count, 0);
    assert_int_equal(c.role_catalog_count, 1);
    assert_string_equal(c.role_catalog[0].name, "c");
    assert_int_equal(c.nodes.auto_approve, 1);
    config_free(&c);
    config_free(&c); /* cleared: a second free is harmless */
}

static void test_find_path(void **state)
{
    (void)state;
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char *saved_env = getenv("HYDRACLUSTER_CONFIG") ? strdup(getenv("HYDRACLUSTER_CONFIG")) : NULL;

    setenv("HYDRACLUSTER_CONFIG", "/x/from-env.yaml", 1);
    char *p = config_find_path("/x/explicit.yaml");
    assert_string_equal(p, "/x/explicit.yaml"); /* returned even though it does not exist */
    free(p);
    p = config_find_path(NULL);
    assert_string_equal(p, "/x/from-env.yaml");
    free(p);

    char home[] = "/tmp/hc-home-XXXXXX", dir[128], file[160];
    assert_non_null(mkdtemp(home));
    setenv("HOME", home, 1);
    setenv("HYDRACLUSTER_CONFIG", "", 1); /* empty counts as unset */
    assert_null(config_find_path(NULL));
    snprintf(dir, sizeof(dir), "%s/.hydracluster", home);
    snprintf(file, sizeof(file), "%s/config.yaml", dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    p = config_find_path(NULL);
    assert_string_equal(p, file);
    free(p);
    unsetenv("HYDRACLUSTER_CONFIG");
    p = config_find_path(NULL);
    assert_string_equal(p, file);
    free(p);
    unlink(file);
    rmdir(dir);
    rmdir(home);
    unsetenv("HOME");
    assert_null(config_find_path(NULL));

    if (saved_home != NULL)
        setenv("HOME", saved_home, 1);
    if (saved_env != NULL)
        setenv("HYDRACLUSTER_CONFIG", saved_env, 1);
    free(saved_home);
    free(saved_env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_ops_keys),
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_listen_as_string),
        cmocka_unit_test(test_listen_as_list),
        cmocka_unit_test(test_trusted_proxies),
        cmocka_unit_test(test_unknown_key_with_position),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_bool_forms),
        cmocka_unit_test(test_bad_durations),
        cmocka_unit_test(test_good_durations),
        cmocka_unit_test(test_duration_bounds),
        cmocka_unit_test(test_null_and_empty_values),
        cmocka_unit_test(test_urls_and_tokens),
        cmocka_unit_test(test_head_roles_and_channel),
        cmocka_unit_test(test_tls_missing_file),
        cmocka_unit_test(test_tls_needs_both),
        cmocka_unit_test(test_admin_token_file),
        cmocka_unit_test(test_admin_token_file_errors),
        cmocka_unit_test(test_role_catalog_recipe_json),
        cmocka_unit_test(test_role_catalog_errors),
        cmocka_unit_test(test_recipe_anchors_and_merge),
        cmocka_unit_test(test_alias_bomb_fails_fast),
        cmocka_unit_test(test_alias_cycle),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_invalid_yaml),
        cmocka_unit_test(test_error_is_one_line),
        cmocka_unit_test(test_empty_and_comment_files_are_defaults),
        cmocka_unit_test(test_file_too_large),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_load_over_previous),
        cmocka_unit_test(test_find_path),
        cmocka_unit_test(test_watchdog_stall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
