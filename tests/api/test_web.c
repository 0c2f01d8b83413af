/* Web UI over HTTP: pages and their headers, hashed static files and
 * caching, login sessions (cookie attributes, Origin check, logout, revoked
 * tokens, throttling). The browser side is tests/web. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "harness.h"

static hc_server_t *srv;

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start("  public_url: \"https://cluster.example.com/\"\n  trusted_proxies: [\"127.0.0.1\"]\n", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

/* A raw HTTP/1.1 exchange with any headers ("Name: value\r\n..."); the
 * answer's status, and its text in *out (malloc'ed). */
static int raw(hc_server_t *s, const char *method, const char *path, const char *headers, const char *body, char **out)
{
    char req[8192];
    int n;
    if (body != NULL)
        n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%sContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, s->port, headers ? headers : "", strlen(body), body);
    else
        n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n", method,
                     path, s->port, headers ? headers : "");
    assert_true(n > 0 && (size_t)n < sizeof(req));
    char *resp = hc_raw(s, req, (size_t)n, 5000);
    int status = 0;
    if (sscanf(resp, "HTTP/1.1 %d", &status) != 1)
        fail_msg("no HTTP answer: %s", resp);
    *out = resp;
    return status;
}

/* the value of a header in a raw answer (case-insensitive name), static buffer */
static const char *raw_header(const char *resp, const char *name)
{
    static char value[1024];
    size_t n = strlen(name);
    for (const char *p = strstr(resp, "\r\n"); p != NULL && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t l = strcspn(v, "\r\n");
            snprintf(value, sizeof(value), "%.*s", (int)l, v);
            return value;
        }
    }
    return NULL;
}

/* logs in (from client address xff when set) and returns "hc_session=<hex>" */
static void login(hc_server_t *s, const char *token, const char *extra_headers, char cookie[128])
{
    char body[256], *resp;
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
    int st = raw(s, "POST", "/api/v1/session", extra_headers, body, &resp);
    if (st != 200)
        fail_msg("login failed: %s", resp);
    const char *sc = raw_header(resp, "set-cookie");
    assert_non_null(sc);
    assert_int_equal(strncmp(sc, "hc_session=", 11), 0);
    snprintf(cookie, 128, "%.*s", (int)strcspn(sc, ";"), sc);
    assert_int_equal(strlen(cookie), 11 + 64);
    free(resp);
}

static void assert_page_headers(const char *resp)
{
    const char *csp = raw_header(resp, "content-security-policy");
    assert_non_null(csp);
    assert_string_equal(csp, "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                             "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    assert_string_equal(raw_header(resp, "x-content-type-options"), "nosniff");
    assert_string_equal(raw_header(resp, "referrer-policy"), "no-referrer");
    assert_string_equal(raw_header(resp, "x-frame-options"), "DENY");
}

static void test_pages_and_headers(void **state)
{
    (void)state;
    char *resp;
    /* admin pages: to the login page, remembering where the browser was going */
    const char *admin_pages[] = {"/", "/nodes/node-abc", "/heads", "/heads/node-abc", "/roles"};
    for (size_t i = 0; i < sizeof(admin_pages) / sizeof(admin_pages[0]); i++) {
        assert_int_equal(raw(srv, "GET", admin_pages[i], NULL, NULL, &resp), 303);
        assert_page_headers(resp);
        const char *loc = raw_header(resp, "location");
        assert_non_null(loc);
        assert_int_equal(strncmp(loc, "/login?next=%2F", 15), 0);
        free(resp);
    }
    /* the open pages */
    const char *open_pages[] = {"/login", "/enroll"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(raw(srv, "GET", open_pages[i], NULL, NULL, &resp), 200);
        assert_page_headers(resp);
        assert_string_equal(raw_header(resp, "content-type"), "text/html; charset=utf-8");
        assert_string_equal(raw_header(resp, "cache-control"), "no-cache");
        char etag[64], inm[128];
        snprintf(etag, sizeof(etag), "%s", raw_header(resp, "etag"));
        assert_int_equal(strlen(etag), 18); /* "16 hex" */
        assert_null(strstr(resp, "<script>"));
        assert_null(strstr(resp, " style="));
        free(resp);
        snprintf(inm, sizeof(inm), "If-None-Match: %s\r\n", etag);
        assert_int_equal(raw(srv, "GET", open_pages[i], inm, NULL, &resp), 304);
        assert_string_equal(raw_header(resp, "etag"), etag);
        assert_page_headers(resp);
        free(resp);
    }
    /* the recovery text is in the open page itself */
    assert_int_equal(raw(srv, "GET", "/enroll", NULL, NULL, &resp), 200);
    assert_non_null(strstr(resp, "schtasks /Run /TN HydraNode"));
    assert_non_null(strstr(resp, "systemctl restart hydranode"));
    free(resp);
    /* HEAD: headers only */
    assert_int_equal(raw(srv, "HEAD", "/login", NULL, NULL, &resp), 200);
    assert_null(strstr(resp, "<html"));
    free(resp);
}

static void test_static_files_hashed_and_cached(void **state)
{
    (void)state;
    char *page;
    assert_int_equal(raw(srv, "GET", "/login", NULL, NULL, &page), 200);
    const char *src = strstr(page, "\"/static/");
    assert_non_null(src);
    /* every reference is rewritten to /static/<16 hex>/<name> */
    char url[128], hash[17];
    assert_int_equal(sscanf(src + 1, "%127[^\"]", url), 1);
    assert_int_equal(sscanf(url, "/static/%16[0-9a-f]/", hash), 1);
    assert_int_equal(strlen(hash), 16);
    const char *js = strstr(page, "/common.js\"");
    assert_non_null(js);
    char jsurl[128];
    memcpy(jsurl, js - 24, 24 + 10); /* "/static/" + 16 hex + "/common.js" */
    jsurl[34] = '\0';
    assert_int_equal(strncmp(jsurl, "/static/", 8), 0);
    free(page);

    char *resp;
    assert_int_equal(raw(srv, "GET", jsurl, NULL, NULL, &resp), 200);
    assert_string_equal(raw_header(resp, "cache-control"), "public, max-age=31536000, immutable");
    assert_string_equal(raw_header(resp, "content-type"), "text/javascript; charset=utf-8");
    assert_page_headers(resp);
    char etag[64], inm[128];
    snprintf(etag, sizeof(etag), "%s", raw_header(resp, "etag"));
    /* the hash in the URL is the content's */
    assert_memory_equal(etag + 1, jsurl + 8, 16);
    free(resp);

    /* unhashed or stale hash: served, but revalidated every time */
    assert_int_equal(raw(srv, "GET", "/static/common.js", NULL, NULL, &resp), 200);
    assert_string_equal(raw_header(resp, "cache-control"), "no-cache");
    free(resp);
    assert_int_equal(raw(srv, "GET", "/static/0000000000000000/common.js", NULL, NULL, &resp), 200);
    assert_string_equal(raw_header(resp, "cache-control"), "no-cache");
    free(resp);
    snprintf(inm, sizeof(inm), "If-None-Match: W/\"x\", %s\r\n", etag);
    assert_int_equal(raw(srv, "GET", "/static/common.js", inm, NULL, &resp), 304);
    free(resp);

    /* what is not there: JSON 404 */
    hc_resp_t r = hc_get(srv, "/static/nope.js", NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    r = hc_get(srv, "/static/../login.html", NULL);
    assert_int_equal(r.status, 404);
    hc_resp_free(&r);
    r = hc_get(srv, "/static/login.html", NULL);
    assert_int_equal(r.status, 404);
    hc_resp_free(&r);
}

static void test_login_cookie_and_session(void **state)
{
    (void)state;
    hc_resp_t r = hc_post_json(srv, "/api/v1/session", NULL, "{\"token\":\"wrong\"}");
    hc_assert_error(&r, 401, "unauthorized");
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "error")), "not a valid admin token"));
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/session", NULL, "{}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/session", NULL, "{\"token\":\"x\",\"remember\":true}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/session", NULL, "{\"token\":5}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);

    char body[256], *resp;
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", TEST_ADMIN_TOKEN);
    assert_int_equal(raw(srv, "POST", "/api/v1/session", NULL, body, &resp), 200);
    const char *sc = raw_header(resp, "set-cookie");
    assert_non_null(sc);
    assert_non_null(strstr(sc, "; Path=/"));
    assert_non_null(strstr(sc, "; Max-Age=43200"));
    assert_non_null(strstr(sc, "; HttpOnly"));
    assert_non_null(strstr(sc, "; SameSite=Strict"));
    assert_null(strstr(sc, "Secure")); /* plain http, no proxy saying otherwise */
    assert_null(strstr(resp, "\"hc_session")); /* the id is only in the cookie */
    free(resp);

    char cookie[128], hdr[256];
    login(srv, TEST_ADMIN_TOKEN, NULL, cookie);
    snprintf(hdr, sizeof(hdr), "Cookie: theme=dark; %s; other=1\r\n", cookie);
    /* the cookie is an admin credential for reads */
    assert_int_equal(raw(srv, "GET", "/api/v1/admin-tokens", hdr, NULL, &resp), 200);
    free(resp);
    assert_int_equal(raw(srv, "GET", "/api/v1/session", hdr, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"authenticated\":true"));
    assert_non_null(strstr(resp, "\"actor\":\"admin:config\""));
    assert_non_null(strstr(resp, "\"expires_at\":"));
    free(resp);
    /* and opens the admin pages */
    assert_int_equal(raw(srv, "GET", "/", hdr, NULL, &resp), 200);
    free(resp);
    assert_int_equal(raw(srv, "GET", "/api/v1/session", NULL, NULL, &resp), 200);
    assert_non_null(strstr(resp, "{\"authenticated\":false}"));
    free(resp);

    /* a made-up session id is nothing */
    assert_int_equal(raw(srv, "GET", "/api/v1/admin-tokens",
                         "Cookie: hc_session=0000000000000000000000000000000000000000000000000000000000000000\r\n", NULL,
                         &resp),
                     401);
    free(resp);
    assert_int_equal(raw(srv, "GET", "/api/v1/admin-tokens", "Cookie: hc_session=short\r\n", NULL, &resp), 401);
    free(resp);
}

static void test_origin_check_for_cookie_writes(void **state)
{
    (void)state;
    char cookie[128], hdr[512], *resp;
    login(srv, TEST_ADMIN_TOKEN, NULL, cookie);
    const char *mint = "{\"label\":\"web\"}";

    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\n", cookie);
    assert_int_equal(raw(srv, "POST", "/api/v1/admin-tokens", hdr, mint, &resp), 403);
    assert_non_null(strstr(resp, "needs an Origin header"));
    free(resp);
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\nOrigin: https://evil.example\r\n", cookie);
    assert_int_equal(raw(srv, "POST", "/api/v1/admin-tokens", hdr, mint, &resp), 403);
    assert_non_null(strstr(resp, "cross-site request refused"));
    free(resp);
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\nOrigin: null\r\n", cookie);
    assert_int_equal(raw(srv, "POST", "/api/v1/admin-tokens", hdr, mint, &resp), 403);
    free(resp);
    /* a look-alike: same host, other port */
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\nOrigin: http://127.0.0.1:%d\r\n", cookie, srv->port + 1);
    assert_int_equal(raw(srv, "POST", "/api/v1/admin-tokens", hdr, mint, &resp), 403);
    free(resp);

    /* the server's own origin: from the Host header, or public_url */
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\nOrigin: http://127.0.0.1:%d\r\n", cookie, srv->port);
    assert_int_equal(raw(srv, "POST", "/api/v1/admin-tokens", hdr, mint, &resp), 201);
    free(resp);
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\nOrigin: https://CLUSTER.example.com:443\r\n", cookie);
    assert_int_equal(raw(srv, "POST", "/api/v1/admin-tokens", hdr, mint, &resp), 201);
    free(resp);
    /* reads need no Origin */
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\nOrigin: https://evil.example\r\n", cookie);
    assert_int_equal(raw(srv, "GET", "/api/v1/admin-tokens", hdr, NULL, &resp), 200);
    free(resp);
    /* a bearer token is not a browser credential: no Origin rule */
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\nOrigin: https://evil.example\r\n", TEST_ADMIN_TOKEN);
    assert_int_equal(raw(srv, "POST", "/api/v1/admin-tokens", hdr, mint, &resp), 201);
    free(resp);
    /* nor may another site log a browser in or out */
    char body[256];
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", TEST_ADMIN_TOKEN);
    assert_int_equal(raw(srv, "POST", "/api/v1/session", "Origin: https://evil.example\r\n", body, &resp), 403);
    assert_null(raw_header(resp, "set-cookie"));
    free(resp);
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\nOrigin: https://evil.example\r\n", cookie);
    assert_int_equal(raw(srv, "DELETE", "/api/v1/session", hdr, NULL, &resp), 403);
    free(resp);
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\n", cookie);
    assert_int_equal(raw(srv, "GET", "/api/v1/admin-tokens", hdr, NULL, &resp), 200);
    free(resp);
}

static void test_secure_cookie_behind_trusted_proxy(void **state)
{
    (void)state;
    char body[256], *resp;
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", TEST_ADMIN_TOKEN);
    assert_int_equal(raw(srv, "POST", "/api/v1/session", "X-Forwarded-Proto: https\r\n", body, &resp), 200);
    assert_non_null(strstr(raw_header(resp, "set-cookie"), "; Secure"));
    free(resp);
    /* behind the proxy the browser's origin is https://<host> */
    char cookie[128], hdr[512];
    login(srv, TEST_ADMIN_TOKEN, "X-Forwarded-Proto: https\r\n", cookie);
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\nX-Forwarded-Proto: https\r\nOrigin: https://127.0.0.1:%d\r\n", cookie,
             srv->port);
    assert_int_equal(raw(srv, "POST", "/api/v1/admin-tokens", hdr, "{}", &resp), 201);
    free(resp);

    /* from a peer that is not a trusted proxy, X-Forwarded-Proto means nothing */
    hc_server_t *plain = hc_server_start(NULL, NULL);
    assert_int_equal(raw(plain, "POST", "/api/v1/session", "X-Forwarded-Proto: https\r\n", body, &resp), 200);
    assert_null(strstr(raw_header(resp, "set-cookie"), "Secure"));
    free(resp);
    hc_server_free(plain);
}

/* TLS on the server itself (no proxy): the cookie is Secure; the browser's
 * origin is https://<host>, and the http:// one of the same host is foreign */
static void test_secure_cookie_over_direct_tls(void **state)
{
    (void)state;
    char certdir[64], yaml[512], body[256], origin[96];
    snprintf(certdir, sizeof(certdir), "/tmp/hc-web-tls-XXXXXX");
    assert_non_null(mkdtemp(certdir));
    hc_make_cert(certdir, "web", "hc-web-tls");
    snprintf(yaml, sizeof(yaml), "  tls:\n    cert_file: %s/web.pem\n    key_file: %s/web.key\n", certdir, certdir);
    hc_server_t *tls = hc_server_start(yaml, NULL);
    assert_int_equal(strncmp(tls->url, "https://", 8), 0);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", TEST_ADMIN_TOKEN);

    snprintf(origin, sizeof(origin), "Origin: https://127.0.0.1:%d", tls->port);
    hc_resp_t r = hc_request(tls, "POST", "/api/v1/session", NULL, "application/json", body, strlen(body), origin);
    if (r.status != 200)
        fail_msg("login over TLS: %ld %s", r.status, r.body);
    const char *sc = hc_resp_header(&r, "set-cookie");
    assert_non_null(sc);
    assert_int_equal(strncmp(sc, "hc_session=", 11), 0);
    assert_non_null(strstr(sc, "; HttpOnly"));
    assert_non_null(strstr(sc, "; SameSite=Strict"));
    assert_non_null(strstr(sc, "; Secure"));
    char cookie[128];
    snprintf(cookie, sizeof(cookie), "Cookie: %.*s", (int)strcspn(sc, ";"), sc);
    hc_resp_free(&r);

    /* the session works over TLS for a write from this server's https origin... */
    char hdr[300];
    snprintf(hdr, sizeof(hdr), "%s\n%s", cookie, origin);
    r = hc_request(tls, "POST", "/api/v1/admin-tokens", NULL, "application/json", "{}", 2, hdr);
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);
    /* ...but not from its http:// origin */
    snprintf(origin, sizeof(origin), "Origin: http://127.0.0.1:%d", tls->port);
    r = hc_request(tls, "POST", "/api/v1/session", NULL, "application/json", body, strlen(body), origin);
    hc_assert_error(&r, 403, "forbidden");
    assert_null(hc_resp_header(&r, "set-cookie"));
    hc_resp_free(&r);
    hc_server_free(tls);

    /* plain http without a proxy: no Secure */
    hc_server_t *plain = hc_server_start(NULL, NULL);
    snprintf(origin, sizeof(origin), "Origin: http://127.0.0.1:%d", plain->port);
    r = hc_request(plain, "POST", "/api/v1/session", NULL, "application/json", body, strlen(body), origin);
    assert_int_equal(r.status, 200);
    sc = hc_resp_header(&r, "set-cookie");
    assert_non_null(sc);
    assert_non_null(strstr(sc, "; HttpOnly"));
    assert_non_null(strstr(sc, "; SameSite=Strict"));
    assert_null(strstr(sc, "Secure"));
    hc_resp_free(&r);
    hc_server_free(plain);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certdir);
    assert_int_equal(system(cmd), 0);
}

static void test_logout_and_revoked_token(void **state)
{
    (void)state;
    char cookie[128], hdr[512], *resp;
    login(srv, TEST_ADMIN_TOKEN, NULL, cookie);
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\nOrigin: http://127.0.0.1:%d\r\n", cookie, srv->port);
    assert_int_equal(raw(srv, "DELETE", "/api/v1/session", hdr, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"logged_out\""));
    const char *sc = raw_header(resp, "set-cookie");
    assert_non_null(sc);
    assert_non_null(strstr(sc, "hc_session=;"));
    assert_non_null(strstr(sc, "Max-Age=0"));
    free(resp);
    assert_int_equal(raw(srv, "GET", "/api/v1/admin-tokens", hdr, NULL, &resp), 401);
    free(resp);
    assert_int_equal(raw(srv, "DELETE", "/api/v1/session", hdr, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"no_session\""));
    free(resp);

    /* a session opened with a minted admin token ends when the token is revoked */
    hc_resp_t r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":\"browser\"}");
    assert_int_equal(r.status, 201);
    char tok[128], id[128], path[200];
    snprintf(tok, sizeof(tok), "%s", json_string_value(json_object_get(r.json, "token")));
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.json, "id")));
    hc_resp_free(&r);
    login(srv, tok, NULL, cookie);
    snprintf(hdr, sizeof(hdr), "Cookie: %s\r\n", cookie);
    assert_int_equal(raw(srv, "GET", "/api/v1/session", hdr, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"actor\":\"admin:"));
    free(resp);
    snprintf(path, sizeof(path), "/api/v1/admin-tokens/%s", id);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_int_equal(raw(srv, "GET", "/api/v1/admin-tokens", hdr, NULL, &resp), 401);
    free(resp);
}

static void test_failed_logins_are_throttled(void **state)
{
    (void)state;
    char wrong[] = "{\"token\":\"guess\"}", right[256], *resp;
    snprintf(right, sizeof(right), "{\"token\":\"%s\"}", TEST_ADMIN_TOKEN);
    /* the client address comes from the trusted proxy's X-Forwarded-For */
    const char *a = "X-Forwarded-For: 203.0.113.7\r\n", *b = "X-Forwarded-For: 203.0.113.8\r\n";
    for (int i = 0; i < 5; i++) {
        assert_int_equal(raw(srv, "POST", "/api/v1/session", a, wrong, &resp), 401);
        free(resp);
    }
    assert_int_equal(raw(srv, "POST", "/api/v1/session", a, wrong, &resp), 429);
    const char *ra = raw_header(resp, "retry-after");
    assert_non_null(ra);
    int secs = atoi(ra);
    assert_true(secs >= 1 && secs <= 60);
    assert_non_null(strstr(resp, "\"rate_limited\""));
    free(resp);
    /* even the right token waits: guessing must not go on */
    assert_int_equal(raw(srv, "POST", "/api/v1/session", a, right, &resp), 429);
    free(resp);
    /* other addresses are not affected */
    assert_int_equal(raw(srv, "POST", "/api/v1/session", b, right, &resp), 200);
    free(resp);
    /* and bearer tokens still work from the throttled address */
    char hdr[256];
    snprintf(hdr, sizeof(hdr), "%sAuthorization: Bearer %s\r\n", a, TEST_ADMIN_TOKEN);
    assert_int_equal(raw(srv, "GET", "/api/v1/admin-tokens", hdr, NULL, &resp), 200);
    free(resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_and_headers),
        cmocka_unit_test(test_static_files_hashed_and_cached),
        cmocka_unit_test(test_login_cookie_and_session),
        cmocka_unit_test(test_origin_check_for_cookie_writes),
        cmocka_unit_test(test_secure_cookie_behind_trusted_proxy),
        cmocka_unit_test(test_secure_cookie_over_direct_tls),
        cmocka_unit_test(test_logout_and_revoked_token),
        cmocka_unit_test(test_failed_logins_are_throttled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
