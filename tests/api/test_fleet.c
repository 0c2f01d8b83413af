/* The fleet enrollment token: the iPad QR (JSON and SVG, decoded back with
 * zbarimg), rotation with its overlap window across a restart, and the
 * `hydracluster token` subcommands against a running server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PUBLIC_URL "https://cluster.example.com"

/* runs a shell command, returns its stdout (malloc'ed) and exit status */
static char *run(int *status, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    size_t n;
    while ((n = fread(out + len, 1, cap - len, p)) > 0)
        len += n;
    out[len] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out;
}

static char *chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* the text of the QR code in an SVG file, decoded by zbarimg (after rsvg-convert) */
static char *decode_svg(hc_server_t *s, const char *svg_path)
{
    int st;
    char *out = run(&st, "rsvg-convert -o '%s/qr.png' '%s' && zbarimg --raw -q '%s/qr.png' 2>/dev/null", s->dir,
                    svg_path, s->dir);
    if (st != 0)
        fail_msg("decoding the QR failed (rsvg-convert from librsvg2-bin and zbarimg from zbar-tools must be "
                 "installed: ./dev test installs them); status %d", st);
    return chomp(out);
}

static long register_with(hc_server_t *s, const char *fleet_token)
{
    hc_resp_t r = hc_post_json(s, "/api/v1/heads", fleet_token, "{\"name\":\"ipad-fleet\"}");
    long st = r.status;
    hc_resp_free(&r);
    return st;
}

static char *qr_token(hc_server_t *s)
{
    hc_resp_t r = hc_get(s, "/api/v1/enroll-qr", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    char *t = strdup(json_string_value(json_object_get(r.json, "enrollment_token")));
    hc_resp_free(&r);
    return t;
}

static char *file_token(hc_server_t *s)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/data/fleet_enrollment_token", s->dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[256];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(chomp(buf));
}

static void test_enroll_qr_payload_and_svg(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start("  public_url: \"" PUBLIC_URL "/\"\n", NULL);
    const char *payload = "{\"server_url\":\"" PUBLIC_URL "\",\"enrollment_token\":\"" TEST_FLEET_TOKEN "\"}";
    hc_resp_t r = hc_get(s, "/api/v1/enroll-qr", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "server_url")), PUBLIC_URL);
    assert_string_equal(json_string_value(json_object_get(r.json, "enrollment_token")), TEST_FLEET_TOKEN);
    assert_string_equal(hc_resp_header(&r, "cache-control"), "no-store");
    hc_resp_free(&r);

    r = hc_get(s, "/api/v1/enroll-qr?format=svg", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_string_equal(hc_resp_header(&r, "content-type"), "image/svg+xml");
    assert_string_equal(hc_resp_header(&r, "cache-control"), "no-store");
    assert_non_null(strstr(r.body, "<svg"));
    char svg[400];
    snprintf(svg, sizeof(svg), "%s/qr.svg", s->dir);
    FILE *f = fopen(svg, "w");
    assert_non_null(f);
    fwrite(r.body, 1, r.len, f);
    fclose(f);
    hc_resp_free(&r);
    char *text = decode_svg(s, svg);
    assert_string_equal(text, payload);
    free(text);

    r = hc_get(s, "/api/v1/enroll-qr?format=png", TEST_ADMIN_TOKEN);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_get(s, "/api/v1/enroll-qr", NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    char node[64], tok[65];
    hc_enroll_node(s, "qr-node", "linux", 1, node, tok);
    r = hc_get(s, "/api/v1/enroll-qr", tok);
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);

    /* a token set in config.yaml belongs to the operator: no rotation through the API */
    r = hc_post_json(s, "/api/v1/fleet-token/rotate", TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 409, "conflict");
    hc_resp_free(&r);
    assert_int_equal(register_with(s, TEST_FLEET_TOKEN), 201);
    /* the QR carries a secret: it is not in the log */
    assert_false(hc_server_log_contains(s, TEST_FLEET_TOKEN));
    hc_server_free(s);
}

static void test_rotation_with_overlap_survives_restart(void **state)
{
    (void)state;
    hc_fleet_token_in_config = 0;
    hc_server_t *s = hc_server_start(NULL, NULL);
    hc_fleet_token_in_config = 1;
    char *t0 = file_token(s);
    assert_int_equal(strlen(t0), 64);
    char *q = qr_token(s);
    assert_string_equal(q, t0);
    free(q);
    assert_int_equal(register_with(s, t0), 201);

    hc_resp_t r = hc_post_json(s, "/api/v1/fleet-token/rotate", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    char *t1 = strdup(json_string_value(json_object_get(r.json, "enrollment_token")));
    assert_non_null(json_string_value(json_object_get(r.json, "previous_valid_until")));
    hc_resp_free(&r);
    assert_string_not_equal(t0, t1);
    char *ft = file_token(s);
    assert_string_equal(ft, t1);
    free(ft);
    q = qr_token(s);
    assert_string_equal(q, t1);
    free(q);
    /* both register during the overlap window */
    assert_int_equal(register_with(s, t1), 201);
    assert_int_equal(register_with(s, t0), 201);
    /* and after a crash */
    hc_server_kill9(s);
    hc_server_restart(s);
    assert_int_equal(register_with(s, t0), 201);
    assert_int_equal(register_with(s, t1), 201);
    q = qr_token(s);
    assert_string_equal(q, t1);
    free(q);

    /* a second rotation through the CLI: the window now covers t1 only */
    int st;
    char *out = run(&st, "'%s' token rotate-fleet --config '%s' 2>/dev/null", getenv("HC_BINARY"), s->config_path);
    assert_int_equal(st, 0);
    char *t2 = strdup(chomp(out));
    free(out);
    assert_int_equal(strlen(t2), 64);
    assert_int_equal(register_with(s, t2), 201);
    assert_int_equal(register_with(s, t1), 201);
    assert_int_equal(register_with(s, t0), 401);
    assert_int_equal(register_with(s, "not-a-fleet-token-at-all-0123456789"), 401);
    free(t0);
    free(t1);
    free(t2);
    hc_server_free(s);
}

static void test_rotation_without_overlap(void **state)
{
    (void)state;
    hc_fleet_token_in_config = 0;
    hc_server_t *s = hc_server_start(NULL, "heads:\n  fleet_token_overlap: 0s\n");
    hc_fleet_token_in_config = 1;
    char *t0 = qr_token(s);
    hc_resp_t r = hc_post_json(s, "/api/v1/fleet-token/rotate", TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    char *t1 = strdup(json_string_value(json_object_get(r.json, "enrollment_token")));
    hc_resp_free(&r);
    assert_int_equal(register_with(s, t0), 401);
    assert_int_equal(register_with(s, t1), 201);
    /* the fleet token cannot rotate itself; a node cannot either */
    r = hc_post_json(s, "/api/v1/fleet-token/rotate", t1, NULL);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    free(t0);
    free(t1);
    hc_server_free(s);
}

static void test_token_cli(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL);
    const char *bin = getenv("HC_BINARY");
    int st;
    char payload[300];
    snprintf(payload, sizeof(payload), "{\"server_url\":\"%s\",\"enrollment_token\":\"%s\"}", s->url,
             TEST_FLEET_TOKEN);

    /* print-qr: the payload, drawn QR above it; --json: the payload alone */
    char *out = run(&st, "'%s' token print-qr --json --server '%s' --admin-token '%s'", bin, s->url, TEST_ADMIN_TOKEN);
    assert_int_equal(st, 0);
    assert_string_equal(chomp(out), payload);
    free(out);
    out = run(&st, "'%s' token print-qr --config '%s'", bin, s->config_path);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "\u2588"));
    assert_non_null(strstr(out, payload));
    free(out);
    char svg[400];
    snprintf(svg, sizeof(svg), "%s/cli-qr.svg", s->dir);
    out = run(&st, "'%s' token print-qr --svg '%s' --config '%s'", bin, svg, s->config_path);
    assert_int_equal(st, 0);
    free(out);
    char *text = decode_svg(s, svg);
    assert_string_equal(text, payload);
    free(text);

    /* mint-admin prints a working token; revoke-admin kills it */
    out = run(&st, "HYDRACLUSTER_SERVER='%s' HYDRACLUSTER_TOKEN='%s' '%s' token mint-admin --label cli-test 2>'%s/err'",
              s->url, TEST_ADMIN_TOKEN, bin, s->dir);
    assert_int_equal(st, 0);
    char *minted = strdup(chomp(out));
    free(out);
    assert_int_equal(strlen(minted), 64);
    hc_resp_t r = hc_get(s, "/api/v1/admin-tokens", minted);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), 1);
    char id[64];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(json_array_get(r.json, 0), "id")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.json, 0), "label")), "cli-test");
    hc_resp_free(&r);
    out = run(&st, "'%s' token revoke-admin '%s' --config '%s'", bin, id, s->config_path);
    assert_int_equal(st, 0);
    free(out);
    r = hc_get(s, "/api/v1/admin-tokens", minted);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    free(minted);

    /* failures exit non-zero with the server's reason */
    out = run(&st, "'%s' token revoke-admin '%s' --config '%s' 2>&1", bin, id, s->config_path);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "404"));
    free(out);
    out = run(&st, "'%s' token print-qr --server '%s' --admin-token wrong-token-0123456789 2>&1", bin, s->url);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "401"));
    free(out);
    out = run(&st, "'%s' token rotate-fleet --config '%s' 2>&1", bin, s->config_path);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "409"));
    free(out);
    out = run(&st, "'%s' token frobnicate 2>&1", bin);
    assert_int_equal(st, 2);
    free(out);
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enroll_qr_payload_and_svg),
        cmocka_unit_test(test_rotation_with_overlap_survives_restart),
        cmocka_unit_test(test_rotation_without_overlap),
        cmocka_unit_test(test_token_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
