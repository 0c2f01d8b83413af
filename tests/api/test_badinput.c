/* The bad-input matrix: every route that takes a JSON body × (malformed,
 * duplicate keys, deep nesting, huge numbers, invalid UTF-8, NUL, wrong
 * types, control characters in names), each sent with a valid credential.
 * Every answer must be a 4xx JSON error {"error","code"} and nothing may
 * change (the audit log, nodes, heads, roles, admin tokens and the exec
 * queue read the same before and after). Agent endpoints read their fields
 * tolerantly, so they get the parse-level cases only (still 400). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

enum cred { C_ADMIN, C_NODE, C_HEAD, C_FLEET, C_NONE };

typedef struct json_route {
    const char *method, *path; /* @BODY@ / @HEAD@: the test's body and head ids */
    enum cred cred;
    int agent;         /* read tolerantly: parse-level cases only */
    const char *valid; /* a body the route accepts (never sent as is); @ENROLL@, @BODY@ filled in */
    const char *names; /* members under the one name rule, space separated */
} json_route_t;

static const json_route_t routes[] = {
    {"POST", "/api/v1/admin-tokens", C_ADMIN, 0, "{\"label\":\"ci\"}", "label"},
    {"POST", "/api/v1/enrollments", C_ADMIN, 0,
     "{\"name\":\"n\",\"owner\":\"o\",\"os\":\"linux\",\"auto_approve\":false,\"ttl_s\":3600}", "name owner os"},
    {"POST", "/api/v1/enroll", C_NONE, 1,
     "{\"enrollment_token\":\"@ENROLL@\",\"hostname\":\"h\",\"os\":\"linux\",\"arch\":\"amd64\",\"version\":\"v1\"}",
     ""},
    {"PATCH", "/api/v1/nodes/@BODY@", C_ADMIN, 0,
     "{\"name\":\"x\",\"owner\":\"o\",\"district\":\"d\",\"venue\":\"v\",\"drain\":true,"
     "\"wireguard_ip\":\"10.0.0.1\",\"lan_ip\":\"10.0.0.2\"}",
     "name owner district venue"},
    {"POST", "/api/v1/nodes/@BODY@/roles", C_ADMIN, 0, "{\"roles\":[\"r1\"]}", ""},
    {"PUT", "/api/v1/roles/r2", C_ADMIN, 0, "{\"description\":\"d\",\"recipe\":{}}", ""},
    {"POST", "/api/v1/body/heartbeat", C_NODE, 1, "{\"version\":\"v1\",\"stream_status\":\"idle\"}", ""},
    {"POST", "/api/v1/heads", C_FLEET, 0, "{\"name\":\"ipad\",\"district\":\"d\",\"venue\":\"v\"}",
     "name district venue"},
    {"PUT", "/api/v1/heads/@HEAD@", C_HEAD, 1, "{\"status\":\"ok\",\"diagnostics\":{}}", ""},
    {"POST", "/api/v1/nodes/@HEAD@/head-assignment", C_ADMIN, 0, "{\"body_id\":\"@BODY@\",\"app_id\":\"app\"}",
     "body_id app_id"},
    {"POST", "/api/v1/nodes/@HEAD@/allowed-experiences", C_ADMIN, 0, "{\"allowed_experiences\":[\"e1\"]}", ""},
    {"POST", "/api/v1/nodes/@BODY@/exec", C_ADMIN, 0, "{\"command\":\"echo hi\",\"timeout_s\":30}", ""},
    {"POST", "/api/v1/body/exec/result", C_NODE, 1,
     "{\"id\":\"exec-1\",\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\",\"duration_ms\":1}", ""},
    {"POST", "/api/v1/session", C_NONE, 0, "{\"token\":\"not-a-token\"}", ""},
    /* no such session: the body is parsed (and refused) before the handler looks */
    {"POST", "/api/v1/body/sessions/sess-none/logs", C_NODE, 1, "{\"lines\":[{\"ts\":\"2026-11-23T06:31:27Z\",\"line\":\"x\"}]}",
     ""},
};

static hc_server_t *srv;
static char body_id[64], body_tok[80], head_id[64], head_tok[80], enroll_tok[80];
static int cases_run;

/* s with every "@X@" placeholder filled (malloc'ed) */
static char *fill(const char *s)
{
    size_t cap = strlen(s) + 512, o = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (const char *p = s; *p;) {
        const char *v = NULL;
        size_t skip = 0;
        if (strncmp(p, "@BODY@", 6) == 0)
            v = body_id, skip = 6;
        else if (strncmp(p, "@HEAD@", 6) == 0)
            v = head_id, skip = 6;
        else if (strncmp(p, "@ENROLL@", 8) == 0)
            v = enroll_tok, skip = 8;
        if (v != NULL) {
            o += (size_t)snprintf(out + o, cap - o, "%s", v);
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return out;
}

static const char *token_for(enum cred c)
{
    switch (c) {
    case C_ADMIN:
        return TEST_ADMIN_TOKEN;
    case C_NODE:
        return body_tok;
    case C_HEAD:
        return head_tok;
    case C_FLEET:
        return TEST_FLEET_TOKEN;
    default:
        return NULL;
    }
}

/* A refused agent report still tells the server its agent is alive (a valid
 * node token always refreshes last_seen and the address it came from): those
 * soft fields are not state a refused request may not change. */
static char *without_presence(hc_resp_t *r)
{
    if (!json_is_array(r->json))
        return strndup(r->body, r->len);
    size_t i;
    json_t *o;
    json_array_foreach(r->json, i, o)
    {
        json_object_del(o, "last_seen");
        json_object_del(o, "ip");
        json_object_del(o, "node_status");
    }
    return json_dumps(r->json, JSON_COMPACT | JSON_SORT_KEYS);
}

/* everything an accepted write could change, as one string */
static char *snapshot(void)
{
    static const char *const paths[] = {"/api/v1/audit?limit=1000", "/api/v1/nodes", "/api/v1/heads",
                                        "/api/v1/roles", "/api/v1/admin-tokens", "/api/v1/nodes/@BODY@/exec"};
    size_t cap = 1 << 16, len = 0;
    char *all = malloc(cap);
    assert_non_null(all);
    all[0] = '\0';
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *p = fill(paths[i]);
        hc_resp_t r = hc_get(srv, p, TEST_ADMIN_TOKEN);
        if (r.status != 200)
            fail_msg("GET %s: %ld %s", p, r.status, r.body);
        char *text = without_presence(&r);
        assert_non_null(text);
        size_t tlen = strlen(text);
        while (len + tlen + 2 > cap) {
            cap *= 2;
            all = realloc(all, cap);
            assert_non_null(all);
        }
        memcpy(all + len, text, tlen);
        len += tlen;
        free(text);
        all[len++] = '\n';
        all[len] = '\0';
        hc_resp_free(&r);
        free(p);
    }
    return all;
}

static void describe(char *out, size_t outlen, const char *body, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < outlen && i < 80; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

/* sends one bad body; want_status 0 = any 4xx; want_code NULL = any code */
static void expect_refused(const json_route_t *rt, const char *body, size_t len, long want_status,
                           const char *want_code)
{
    char *path = fill(rt->path);
    char *before = snapshot();
    hc_resp_t r = hc_request(srv, rt->method, path, token_for(rt->cred), "application/json", body, len, NULL);
    char what[400];
    describe(what, sizeof(what), body, len);
    const char *ct = hc_resp_header(&r, "content-type");
    json_t *e = r.json ? json_object_get(r.json, "error") : NULL;
    json_t *c = r.json ? json_object_get(r.json, "code") : NULL;
    if (r.status < 400 || r.status > 499 || (want_status != 0 && r.status != want_status))
        fail_msg("%s %s with %s: status %ld (want %s%ld): %s", rt->method, rt->path, what, r.status,
                 want_status ? "" : "a 4xx, e.g. ", want_status ? want_status : 400, r.body);
    if (ct == NULL || strncmp(ct, "application/json", 16) != 0 || !json_is_string(e) || !json_is_string(c))
        fail_msg("%s %s with %s: not a JSON error: %s", rt->method, rt->path, what, r.body);
    if (want_code != NULL && strcmp(json_string_value(c), want_code) != 0)
        fail_msg("%s %s with %s: code %s, want %s", rt->method, rt->path, what, json_string_value(c), want_code);
    if (hc_resp_header(&r, "set-cookie") != NULL)
        fail_msg("%s %s with %s: set a cookie", rt->method, rt->path, what);
    hc_resp_free(&r);
    char *after = snapshot();
    if (strcmp(before, after) != 0)
        fail_msg("%s %s with %s changed the state:\nbefore %s\nafter %s", rt->method, rt->path, what, before,
                 after);
    free(before);
    free(after);
    free(path);
    cases_run++;
}

static void expect_refused_str(const json_route_t *rt, const char *body, long want_status, const char *want_code)
{
    expect_refused(rt, body, strlen(body), want_status, want_code);
}

/* the first member of the route's valid body */
static const char *first_key(const json_route_t *rt, json_t **valid)
{
    char *v = fill(rt->valid);
    *valid = json_loads(v, 0, NULL);
    free(v);
    assert_non_null(*valid);
    void *it = json_object_iter(*valid);
    assert_non_null(it);
    return json_object_iter_key(it);
}

static void parse_level_cases(const json_route_t *rt)
{
    json_t *valid;
    const char *k = first_key(rt, &valid);
    char b[4096];
    /* malformed */
    static const char *const malformed[] = {"{", "{\"a\":", "{\"a\" 1}", "{'a':1}", "{\"a\":1,}", "[1,2]", "\"str\"",
                                            "42", "null", "{\"a\":1}}", "{\"a\":01}", "{\"a\":tru}", "\xef\xbb\xbf{}"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        expect_refused_str(rt, malformed[i], 400, "bad_json");
    /* duplicate keys: the route's own member twice */
    char *one = json_dumps(json_object_get(valid, k), JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(b, sizeof(b), "{\"%s\":%s,\"%s\":%s}", k, one, k, one);
    expect_refused_str(rt, b, 400, "bad_json");
    free(one);
    /* deep nesting: 40 arrays, then 40 objects, under the first member */
    int o = snprintf(b, sizeof(b), "{\"%s\":", k);
    for (int i = 0; i < 40; i++)
        b[o++] = '[';
    for (int i = 0; i < 40; i++)
        b[o++] = ']';
    snprintf(b + o, sizeof(b) - (size_t)o, "}");
    expect_refused_str(rt, b, 400, "bad_json");
    o = snprintf(b, sizeof(b), "{\"%s\":", k);
    for (int i = 0; i < 40; i++)
        o += snprintf(b + o, sizeof(b) - (size_t)o, "{\"a\":");
    o += snprintf(b + o, sizeof(b) - (size_t)o, "1");
    for (int i = 0; i < 41; i++)
        b[o++] = '}';
    b[o] = '\0';
    expect_refused_str(rt, b, 400, "bad_json");
    /* huge numbers */
    static const char *const huge[] = {"1e999", "-1e999", "99999999999999999999999999999",
                                       "-99999999999999999999999999999", "18446744073709551616"};
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        snprintf(b, sizeof(b), "{\"%s\":%s}", k, huge[i]);
        expect_refused_str(rt, b, 400, "bad_json");
    }
    /* invalid UTF-8: a stray continuation, a cut sequence, overlong, a surrogate, beyond U+10FFFF */
    static const char *const utf8[] = {"\xff\xfe", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\x80",
                                       /* a cut \u escape followed by bad bytes: jansson's message quotes
                                        * them, and the error answer itself was 500 (found by fuzz_api) */
                                       "\\ud8\xcd\x9b\xa3\x80" "de00"};
    for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
        snprintf(b, sizeof(b), "{\"%s\":\"%s\"}", k, utf8[i]);
        expect_refused_str(rt, b, 400, "bad_json");
        snprintf(b, sizeof(b), "{\"%s%s\":\"v\"}", k, utf8[i]);
        expect_refused_str(rt, b, 400, "bad_json");
    }
    /* NUL: escaped, raw inside a string, raw after the object */
    snprintf(b, sizeof(b), "{\"%s\":\"a\\u0000b\"}", k);
    expect_refused_str(rt, b, 400, "bad_json");
    int n = snprintf(b, sizeof(b), "{\"%s\":\"a", k);
    b[n++] = '\0';
    n += snprintf(b + n, sizeof(b) - (size_t)n, "b\"}");
    expect_refused(rt, b, (size_t)n, 400, "bad_json");
    n = snprintf(b, sizeof(b), "{\"%s\":1}", k);
    b[n++] = '\0';
    expect_refused(rt, b, (size_t)n, 400, "bad_json");
    json_decref(valid);
}

/* each member of the valid body replaced by each value of another type */
static void wrong_type_cases(const json_route_t *rt)
{
    json_t *valid;
    first_key(rt, &valid);
    static const char *const values[] = {"12345", "-1", "1.5", "true", "\"text\"", "[]", "[1]", "{}", "{\"a\":1}"};
    const char *k;
    json_t *v;
    json_object_foreach(valid, k, v)
    {
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
            json_t *w = json_loads(values[i], JSON_DECODE_ANY, NULL);
            assert_non_null(w);
            int same = json_typeof(w) == json_typeof(v) ||
                       (json_is_boolean(w) && json_is_boolean(v)) || (json_is_number(w) && json_is_number(v));
            if (!same) {
                json_t *b = json_deep_copy(valid);
                json_object_set(b, k, w);
                char *s = json_dumps(b, JSON_COMPACT);
                expect_refused_str(rt, s, 400, NULL);
                free(s);
                json_decref(b);
            }
            json_decref(w);
        }
    }
    /* and a member the route does not know */
    json_t *b = json_deep_copy(valid);
    json_object_set_new(b, "no_such_field", json_true());
    char *s = json_dumps(b, JSON_COMPACT);
    expect_refused_str(rt, s, 400, "bad_request");
    free(s);
    json_decref(b);
    json_decref(valid);
}

/* the one name rule: control characters refused with 400 bad_request */
static void name_cases(const json_route_t *rt)
{
    json_t *valid;
    first_key(rt, &valid);
    char names[128];
    snprintf(names, sizeof(names), "%s", rt->names);
    static const char *const bad[] = {"a\001b", "a\nb", "tab\there", "del\177", "\033[31mred"};
    for (char *save = NULL, *k = strtok_r(names, " ", &save); k != NULL; k = strtok_r(NULL, " ", &save)) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            json_t *b = json_deep_copy(valid);
            json_object_set_new(b, k, json_string(bad[i]));
            char *s = json_dumps(b, JSON_COMPACT);
            expect_refused_str(rt, s, 400, "bad_request");
            free(s);
            json_decref(b);
        }
    }
    json_decref(valid);
}

static int setup(void **state)
{
    (void)state;
    /* nodes stay "online" for the whole test, so snapshots compare equal */
    srv = hc_server_start(NULL, "nodes:\n  offline_after: 1h\n");
    hc_enroll_node(srv, "body1", "linux", 1, body_id, body_tok);
    hc_resp_t r = hc_post_json(srv, "/api/v1/heads", TEST_FLEET_TOKEN, "{\"name\":\"ipad1\"}");
    assert_int_equal(r.status, 201);
    snprintf(head_id, sizeof(head_id), "%s", json_string_value(json_object_get(r.json, "head_id")));
    snprintf(head_tok, sizeof(head_tok), "%s", json_string_value(json_object_get(r.json, "token")));
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, "{\"name\":\"pending\",\"os\":\"linux\"}");
    assert_int_equal(r.status, 201);
    snprintf(enroll_tok, sizeof(enroll_tok), "%s", json_string_value(json_object_get(r.json, "enrollment_token")));
    hc_resp_free(&r);
    r = hc_json(srv, "PUT", "/api/v1/roles/r1", TEST_ADMIN_TOKEN, "{\"description\":\"one\"}");
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

static void test_parse_level(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        parse_level_cases(&routes[i]);
    fprintf(stderr, "parse-level: %d cases over %zu routes\n", cases_run, sizeof(routes) / sizeof(routes[0]));
}

static void test_wrong_types(void **state)
{
    (void)state;
    cases_run = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (!routes[i].agent)
            wrong_type_cases(&routes[i]);
    fprintf(stderr, "wrong types: %d cases\n", cases_run);
}

static void test_control_characters_in_names(void **state)
{
    (void)state;
    cases_run = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        name_cases(&routes[i]);
    fprintf(stderr, "names: %d cases\n", cases_run);
    assert_true(cases_run >= 5 * 12);
    /* and the rule does not refuse ordinary names (UTF-8 included) */
    hc_resp_t r = hc_post_json(srv, "/api/v1/admin-tokens", TEST_ADMIN_TOKEN, "{\"label\":\"ci – Zürich ✓\"}");
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_level),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_control_characters_in_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
