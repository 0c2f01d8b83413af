/* TLS with certificates made by the openssl CLI: HTTP/2 negotiated only when
 * server.tls.http2 is on, HTTP/1.1 always; TLS 1.2/1.3 only and no weak
 * ciphers; session resumption; SIGHUP swaps the certificate for new
 * connections while an open keep-alive connection goes on working, and a
 * bad certificate at reload keeps the old one. Plain HTTP behind a proxy:
 * X-Forwarded-Proto believed only from trusted proxies. */
#include <curl/curl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char certdir[64];

/* runs a shell command, returns its stdout (malloc'ed) */
static char *run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        fail_msg("popen %s", cmd);
    size_t cap = 65536, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0)
        len += n;
    out[len] = '\0';
    pclose(p);
    return out;
}

static void make_cert(const char *name, const char *cn)
{
    hc_make_cert(certdir, name, cn);
}

static void install_cert(const char *name)
{
    char *o = run("cp %s/%s.pem %s/live.pem && cp %s/%s.key %s/live.key && echo ok", certdir, name, certdir, certdir,
                  name, certdir);
    assert_non_null(strstr(o, "ok"));
    free(o);
}

static int setup(void **state)
{
    (void)state;
    snprintf(certdir, sizeof(certdir), "/tmp/hc-tls-XXXXXX");
    if (mkdtemp(certdir) == NULL)
        return -1;
    make_cert("one", "hc-tls-one");
    make_cert("two", "hc-tls-two");
    install_cert("one");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *o = run("rm -rf %s", certdir);
    free(o);
    return 0;
}

static hc_server_t *start_tls(int http2)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "  tls:\n"
             "    cert_file: %s/live.pem\n"
             "    key_file: %s/live.key\n"
             "    http2: %s\n",
             certdir, certdir, http2 ? "true" : "false");
    return hc_server_start(yaml, NULL);
}

static char *curl_http_version(hc_server_t *s, const char *flag)
{
    return run("curl %s -sk -o /dev/null -w '%%{http_version}' %s/api/v1/health", flag, s->url);
}

/* the subject a new connection is served (openssl s_client) */
static char *served_subject(hc_server_t *s)
{
    return run("echo | openssl s_client -connect 127.0.0.1:%d -servername localhost 2>/dev/null | openssl x509 "
               "-noout -subject 2>&1",
               s->port);
}

static void test_http2_when_enabled(void **state)
{
    (void)state;
    hc_server_t *s = start_tls(1);
    char *v = curl_http_version(s, "--http2");
    assert_string_equal(v, "2");
    free(v);
    v = curl_http_version(s, "--http1.1");
    assert_string_equal(v, "1.1");
    free(v);
    char *o = run("echo | openssl s_client -connect 127.0.0.1:%d -alpn h2,http/1.1 2>&1", s->port);
    assert_non_null(strstr(o, "ALPN protocol: h2"));
    free(o);
    /* nghttp (nghttp2-client) speaks only HTTP/2 */
    o = run("command -v nghttp >/dev/null && nghttp -v %s/api/v1/health 2>&1 || echo no-nghttp", s->url);
    if (strstr(o, "no-nghttp") == NULL) {
        assert_non_null(strstr(o, "\"status\":\"ok\""));
        assert_non_null(strstr(o, "h2"));
    }
    free(o);
    /* the API works over h2 end to end */
    o = run("curl --http2 -sk -H 'Authorization: Bearer %s' %s/api/v1/admin-tokens -w ' %%{http_code}'",
            TEST_ADMIN_TOKEN, s->url);
    assert_non_null(strstr(o, " 200"));
    free(o);
    hc_server_free(s);
}

static void test_http2_refused_by_alpn_when_disabled(void **state)
{
    (void)state;
    hc_server_t *s = start_tls(0);
    char *v = curl_http_version(s, "--http2");
    assert_string_equal(v, "1.1");
    free(v);
    v = curl_http_version(s, "--http1.1");
    assert_string_equal(v, "1.1");
    free(v);
    char *o = run("echo | openssl s_client -connect 127.0.0.1:%d -alpn h2 2>&1", s->port);
    assert_non_null(strstr(o, "No ALPN negotiated"));
    free(o);
    o = run("echo | openssl s_client -connect 127.0.0.1:%d -alpn h2,http/1.1 2>&1", s->port);
    assert_non_null(strstr(o, "ALPN protocol: http/1.1"));
    free(o);
    /* prior-knowledge h2 over TLS (no ALPN) is not spoken either */
    o = run("command -v nghttp >/dev/null && nghttp %s/api/v1/health 2>&1; echo rc=$?", s->url);
    assert_null(strstr(o, "\"status\":\"ok\""));
    free(o);
    hc_resp_t r = hc_get(s, "/api/v1/health", NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    hc_server_free(s);
}

static void test_protocols_and_ciphers(void **state)
{
    (void)state;
    hc_server_t *s = start_tls(0);
    char *o = run("echo | openssl s_client -connect 127.0.0.1:%d -tls1_2 2>&1", s->port);
    assert_non_null(strstr(o, "New, TLSv1.2, Cipher is ECDHE-"));
    free(o);
    o = run("echo | openssl s_client -connect 127.0.0.1:%d -tls1_3 2>&1", s->port);
    assert_non_null(strstr(o, "New, TLSv1.3, Cipher is TLS_"));
    free(o);
    /* TLS 1.1 and 1.0 are refused (allowed on the client side for the attempt) */
    o = run("echo | openssl s_client -connect 127.0.0.1:%d -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' 2>&1", s->port);
    assert_non_null(strstr(o, "Cipher is (NONE)"));
    free(o);
    o = run("echo | openssl s_client -connect 127.0.0.1:%d -tls1 -cipher 'DEFAULT:@SECLEVEL=0' 2>&1", s->port);
    assert_non_null(strstr(o, "Cipher is (NONE)"));
    free(o);
    /* no CBC, no static RSA key exchange */
    o = run("echo | openssl s_client -connect 127.0.0.1:%d -tls1_2 -cipher AES128-SHA:ECDHE-ECDSA-AES128-SHA 2>&1",
            s->port);
    assert_non_null(strstr(o, "Cipher is (NONE)"));
    free(o);
    hc_server_free(s);
}

static void test_session_resumption(void **state)
{
    (void)state;
    hc_server_t *s = start_tls(0);
    char *o = run("cd %s && echo | openssl s_client -connect 127.0.0.1:%d -tls1_2 -sess_out sess12 >/dev/null 2>&1; "
                  "echo | openssl s_client -connect 127.0.0.1:%d -tls1_2 -sess_in sess12 2>&1",
                  certdir, s->port, s->port);
    assert_non_null(strstr(o, "Reused, TLSv1.2"));
    free(o);
    /* TLS 1.3: the ticket arrives after the handshake, so keep the first connection open a moment */
    o = run("cd %s && (sleep 1; echo) | openssl s_client -connect 127.0.0.1:%d -tls1_3 -sess_out sess13 "
            ">/dev/null 2>&1; echo | openssl s_client -connect 127.0.0.1:%d -tls1_3 -sess_in sess13 2>&1",
            certdir, s->port, s->port);
    assert_non_null(strstr(o, "Reused, TLSv1.3"));
    free(o);
    hc_server_free(s);
}

typedef struct {
    char *data;
    size_t len;
} sink_t;

static size_t sink(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_t *b = ud;
    size_t n = size * nmemb;
    char *p = realloc(b->data, b->len + n + 1);
    if (p == NULL)
        return 0;
    b->data = p;
    memcpy(p + b->len, ptr, n);
    b->len += n;
    p[b->len] = '\0';
    return n;
}

/* one GET on a handle that is kept (keep-alive); returns the status */
static long keepalive_get(CURL *c, hc_server_t *s, long *new_connections)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1/health", s->url);
    sink_t b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, new_connections);
    free(b.data);
    return status;
}

static int wait_log(hc_server_t *s, const char *needle, int ms)
{
    for (int i = 0; i < ms / 50; i++) {
        if (hc_server_log_contains(s, needle))
            return 1;
        usleep(50 * 1000);
    }
    return 0;
}

static void test_sighup_reload(void **state)
{
    (void)state;
    install_cert("one");
    hc_server_t *s = start_tls(1);
    char *subj = served_subject(s);
    assert_non_null(strstr(subj, "hc-tls-one"));
    free(subj);

    CURL *old = curl_easy_init();
    long conns = -1;
    assert_int_equal(keepalive_get(old, s, &conns), 200);
    assert_int_equal(conns, 1);
    struct curl_certinfo *ci = NULL;
    curl_easy_getinfo(old, CURLINFO_CERTINFO, &ci);
    int saw_one = 0;
    for (int i = 0; ci && i < ci->num_of_certs; i++)
        for (struct curl_slist *l = ci->certinfo[i]; l; l = l->next)
            saw_one |= strstr(l->data, "Subject:") && strstr(l->data, "hc-tls-one");
    assert_true(saw_one);

    /* renewal: new files, SIGHUP */
    install_cert("two");
    kill(s->pid, SIGHUP);
    assert_true(wait_log(s, "msg=\"TLS certificate reloaded; new connections use it\" subject=\"/CN=hc-tls-two\"", 5000));
    subj = served_subject(s);
    assert_non_null(strstr(subj, "hc-tls-two"));
    free(subj);
    /* the connection made before the reload still works, and is the same one */
    assert_int_equal(keepalive_get(old, s, &conns), 200);
    assert_int_equal(conns, 0);
    curl_easy_cleanup(old);

    /* a broken certificate at reload: level=error, the previous one stays */
    char *o = run("echo 'not a certificate' > %s/live.pem && echo ok", certdir);
    free(o);
    kill(s->pid, SIGHUP);
    assert_true(wait_log(s, "level=error msg=\"TLS reload failed; still serving the previous certificate\"", 5000));
    subj = served_subject(s);
    assert_non_null(strstr(subj, "hc-tls-two"));
    free(subj);
    /* a key that does not match the certificate: refused the same way */
    o = run("cp %s/one.pem %s/live.pem && cp %s/two.key %s/live.key && echo ok", certdir, certdir, certdir, certdir);
    free(o);
    kill(s->pid, SIGHUP);
    assert_true(wait_log(s, "does not belong to the certificate", 5000));
    subj = served_subject(s);
    assert_non_null(strstr(subj, "hc-tls-two"));
    free(subj);
    hc_resp_t r = hc_get(s, "/api/v1/health", NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_int_equal(hc_server_stop(s), 0);
    hc_server_free(s);
    install_cert("one");
}

/* one request on a kept handle: method, path, token, body; returns the
 * status and sets *fresh when it needed a new connection */
static long kept_request(CURL *c, hc_server_t *s, const char *method, const char *path, const char *token,
                         const char *body, long *fresh)
{
    char url[256], auth[256];
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    struct curl_slist *h = NULL;
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Content-Type: application/json");
    sink_t b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    /* no body at all when there is none: POSTFIELDS NULL makes libcurl send
     * an (empty) chunked body after Expect: 100-continue, and a refused
     * request whose body was never read closes its connection */
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, fresh);
    curl_slist_free_all(h);
    free(b.data);
    return status;
}

/* Error answers and 201s keep the HTTP/1.1 connection (h2o 2.2 closes it
 * after any non-200 answer of unknown length), with and without TLS: an
 * agent that gets a 4xx must not pay a new TLS handshake. */
static void test_keepalive_across_statuses(void **state)
{
    (void)state;
    for (int tls = 0; tls <= 1; tls++) {
        hc_server_t *s = tls ? start_tls(0) : hc_server_start(NULL, NULL);
        CURL *c = curl_easy_init();
        long fresh = -1;
        assert_int_equal(kept_request(c, s, "GET", "/api/v1/health", NULL, NULL, &fresh), 200);
        assert_int_equal(fresh, 1);
        static const struct {
            const char *method, *path;
            int admin;
            const char *body;
            long status;
        } seq[] = {
            {"GET", "/api/v1/no-such", 0, NULL, 404},
            {"POST", "/api/v1/admin-tokens", 1, "{\"label\":\"ka\"}", 201},
            {"GET", "/api/v1/admin-tokens", 0, NULL, 401},
            {"DELETE", "/api/v1/health", 0, NULL, 405},
            {"POST", "/api/v1/admin-tokens", 1, "{\"label\": ", 400},
            {"GET", "/metrics", 1, NULL, 200},
            {"GET", "/api/v1/health", 0, NULL, 200},
        };
        for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
            long st = kept_request(c, s, seq[i].method, seq[i].path, seq[i].admin ? TEST_ADMIN_TOKEN : NULL,
                                   seq[i].body, &fresh);
            if (st != seq[i].status || fresh != 0)
                fail_msg("%s %s (tls=%d): status %ld (want %ld), new connections %ld (want 0)", seq[i].method,
                         seq[i].path, tls, st, seq[i].status, fresh);
        }
        curl_easy_cleanup(c);
        hc_server_free(s);
    }
}

static void test_bad_cert_at_start(void **state)
{
    (void)state;
    char *o = run("echo junk > %s/junk.pem && echo ok", certdir);
    free(o);
    hc_server_t *s = hc_server_prepare(1);
    FILE *f = fopen(s->config_path, "w");
    fprintf(f, "server:\n  listen: \"127.0.0.1:%d\"\n  data_dir: \"%s/data\"\n  admin_token: \"%s\"\n  tls:\n"
               "    cert_file: %s/junk.pem\n    key_file: %s/one.key\n",
            s->port, s->dir, TEST_ADMIN_TOKEN, certdir, certdir);
    fclose(f);
    o = run("%s serve --config %s 2>&1; echo rc=$?", getenv("HC_BINARY"), s->config_path);
    assert_non_null(strstr(o, "level=error"));
    assert_non_null(strstr(o, "server.tls.cert_file"));
    assert_non_null(strstr(o, "rc=1"));
    free(o);
    hc_server_free(s);
}

static void test_forwarded_proto_from_trusted_proxy_only(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start("  trusted_proxies: [\"127.0.0.1\"]\n", NULL);
    hc_resp_t r = hc_request(s, "GET", "/api/v1/health", NULL, NULL, NULL, 0, "X-Forwarded-Proto: https");
    hc_resp_free(&r);
    r = hc_request(s, "GET", "/api/v1/nope", NULL, NULL, NULL, 0, "X-Forwarded-For: 203.0.113.7");
    hc_resp_free(&r);
    usleep(100 * 1000);
    assert_true(hc_server_log_contains(s, "path=/api/v1/health status=200"));
    assert_true(hc_server_log_contains(s, "scheme=https"));
    assert_true(hc_server_log_contains(s, "ip=203.0.113.7 scheme=http"));
    hc_server_free(s);

    s = hc_server_start(NULL, NULL); /* no trusted proxies: the headers are ignored */
    r = hc_request(s, "GET", "/api/v1/health", NULL, NULL, NULL, 0, "X-Forwarded-Proto: https");
    hc_resp_free(&r);
    usleep(100 * 1000);
    assert_true(hc_server_log_contains(s, "ip=127.0.0.1 scheme=http"));
    assert_false(hc_server_log_contains(s, "scheme=https"));
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http2_when_enabled),
        cmocka_unit_test(test_http2_refused_by_alpn_when_disabled),
        cmocka_unit_test(test_protocols_and_ciphers),
        cmocka_unit_test(test_session_resumption),
        cmocka_unit_test(test_sighup_reload),
        cmocka_unit_test(test_keepalive_across_statuses),
        cmocka_unit_test(test_bad_cert_at_start),
        cmocka_unit_test(test_forwarded_proto_from_trusted_proxy_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
