/* The node serialiser's pieces (fleet/node_json.c) and the validator hash
 * (server/str.h): the string escape against a byte-by-byte reference and
 * jansson, the time formatter against gmtime_r/strftime (clock_rfc3339) for
 * every day of years 0000..9999, the hashes' sensitivity and spread, and whole nodes
 * byte for byte against json_dumps(node_to_json(...), JSON_COMPACT).
 * Inputs and outputs sit in heap blocks of exactly the size allowed, so
 * ASan catches a read or write one byte outside. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "clock.h"
#include "intern.h"
#include "node_json.h"
#include "registry.h"
#include "str.h"

static int setup(void **state)
{
    (void)state;
    return registry_init();
}

/* a small deterministic generator (xorshift64*): the runs repeat */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* the escape, one byte at a time, as jansson writes it */
static size_t ref_escape(char *o, const unsigned char *s, size_t n)
{
    size_t k = 0;
    o[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        const char *e = NULL;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default: break;
        }
        if (e != NULL) {
            memcpy(o + k, e, 2);
            k += 2;
        } else if (c < 0x20) {
            k += (size_t)sprintf(o + k, "\\u%04X", c);
        } else {
            o[k++] = (char)c;
        }
    }
    o[k++] = '"';
    return k;
}

static void check_escape(const unsigned char *src, size_t n)
{
    /* exact-size blocks: ASan sees any byte read past s[n) or written past the room */
    char *s = malloc(n ? n : 1), *out = malloc(NODE_JSON_STR_ROOM(n)), *want = malloc(6 * n + 2);
    assert_non_null(s);
    assert_non_null(out);
    assert_non_null(want);
    memcpy(s, src, n);
    size_t got = (size_t)(node_json_str_write(out, s, n) - out);
    size_t wl = ref_escape(want, src, n);
    if (got != wl || memcmp(out, want, wl) != 0)
        fail_msg("escape of %zu bytes: got %.*s want %.*s", n, (int)got, out, (int)wl, want);
    free(s);
    free(out);
    free(want);
}

static void test_escape(void **state)
{
    (void)state;
    unsigned char buf[96];
    /* every byte value alone, and at each position of strings up to 40 bytes */
    for (int c = 0; c < 256; c++) {
        for (size_t n = 1; n <= 40; n++) {
            for (size_t at = 0; at < n; at++) {
                memset(buf, 'a', n);
                buf[at] = (unsigned char)c;
                check_escape(buf, n);
            }
        }
    }
    /* random bytes, biased towards the ones that need escaping */
    static const unsigned char odd[] = {0, 1, '\b', '\t', '\n', 0x0b, '\f', '\r', 0x1a, 0x1f, '"', '\\', '/', 0x7f, 0x80, 0xff};
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rnd() % sizeof(buf));
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rnd();
            buf[i] = (r & 3) == 0 ? odd[(r >> 8) % sizeof(odd)] : (unsigned char)(0x20 + (r >> 16) % 95);
        }
        check_escape(buf, n);
    }
    check_escape((const unsigned char *)"", 0);
}

static void test_escape_matches_jansson(void **state)
{
    (void)state;
    /* UTF-8 as it is, controls with capital hex digits, '/' not escaped */
    static const char *const samples[] = {
        "",  "a", "render-node", "q\"uote\\ back\tslash \x01 \xc3\xa9t\xc3\xa9", "\x0b\x0e\x1a\x1f/\x7f",
        "\xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac", "line\nbreak\r\n\f\b", "exactly8",
        "sixteen-bytes!!!", "\"\"\"\"\"\"\"\"\\\\\\\\\\\\\\\\",
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        size_t n = strlen(samples[i]);
        json_t *js = json_stringn(samples[i], n);
        assert_non_null(js);
        char *want = json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT);
        char out[512];
        size_t got = (size_t)(node_json_str_write(out, samples[i], n) - out);
        assert_int_equal(got, strlen(want));
        assert_memory_equal(out, want, got);
        free(want);
        json_decref(js);
    }
    /* node_json_put_str: the same through a growing buffer */
    char mem[4];
    node_json_buf_t b = {.p = mem, .cap = sizeof(mem), .borrowed = 1};
    node_json_put_str(&b, "x\x1fy");
    assert_false(b.oom);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.p, "\"x\\u001Fy\"", 10);
    node_json_buf_free(&b);
}

/* What a node's time reads: null for 0; years 0000..9999 as
 * "YYYY-MM-DDTHH:MM:SSZ" (gmtime_r's fields, four digits), which is also
 * clock_rfc3339's answer; beyond that clock_rfc3339's answer. */
static void check_time(int64_t t)
{
    char *out = malloc(NODE_JSON_TIME_ROOM);
    assert_non_null(out);
    size_t got = (size_t)(node_json_time_write(out, t) - out);
    char want[80], rfc[64];
    time_t tt = (time_t)t;
    struct tm tm;
    if (t == 0) {
        strcpy(want, "null");
    } else if (gmtime_r(&tt, &tm) != NULL && tm.tm_year + 1900 >= 0 && tm.tm_year + 1900 <= 9999) {
        snprintf(want, sizeof(want), "\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        clock_rfc3339(t, rfc, sizeof(rfc));
        if (strlen(rfc) != strlen(want) - 2 || memcmp(want + 1, rfc, strlen(rfc)) != 0)
            fail_msg("clock_rfc3339 %lld: %s, want %s", (long long)t, rfc, want);
    } else {
        snprintf(want, sizeof(want), "\"%s\"", clock_rfc3339(t, rfc, sizeof(rfc)));
    }
    if (got != strlen(want) || memcmp(out, want, got) != 0)
        fail_msg("time %lld: got %.*s want %s", (long long)t, (int)got, out, want);
    free(out);
}

static void test_time(void **state)
{
    (void)state;
    /* every day of years 0000..9999, each at another time of day */
    const int64_t first = -62167219200LL, last = 253402300799LL;
    uint64_t sod = 0;
    for (int64_t day = first; day <= last; day += 86400) {
        check_time(day + (int64_t)sod);
        sod = (sod + 7919) % 86400;
    }
    /* the edges of each day and of the range, 0, and around the epoch */
    static const int64_t edges[] = {0,          1,         -1,         59,          60,           86399,
                                    86400,      -86400,    -86401,     951782400,   951868799,    951868800,
                                    4107542399, 4107542400, 13574563200, 1800000000, -62167219200, -62167219199,
                                    253402300799, 253402300800, -62167219201, 253402387199, -62198755201, 1LL << 40};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        check_time(edges[i]);
    /* random seconds across the range, and somewhat beyond it (clock_rfc3339 writes those) */
    for (int i = 0; i < 200000; i++)
        check_time((int64_t)(rnd() % (uint64_t)(last - first + 1)) + first);
    for (int i = 0; i < 2000; i++)
        check_time((int64_t)(rnd() % 2000000000000ULL) - 1000000000000LL);
}

static void test_hash(void **state)
{
    (void)state;
    unsigned char buf[130];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)rnd();
    /* a change of any one bit, at every length, changes the value; so does the length */
    for (size_t n = 0; n <= sizeof(buf); n++) {
        unsigned char *p = malloc(n ? n : 1); /* exact size: no read outside */
        assert_non_null(p);
        memcpy(p, buf, n);
        uint64_t h = str_hash_bytes(p, n, 42);
        assert_true(str_hash_bytes(p, n, 42) == h); /* deterministic */
        assert_true(str_hash_bytes(p, n, 43) != h); /* the seed counts */
        if (n < sizeof(buf))
            assert_true(str_hash_bytes(buf, n + 1, 42) != h);
        for (size_t i = 0; i < n; i++) {
            for (int bit = 0; bit < 8; bit++) {
                p[i] ^= (unsigned char)(1u << bit);
                if (str_hash_bytes(p, n, 42) == h)
                    fail_msg("bit %d of byte %zu of %zu did not change the hash", bit, i, n);
                p[i] ^= (unsigned char)(1u << bit);
            }
        }
        free(p);
    }
    /* bodies that differ in a few digits, as node reads do: no two alike, and
     * the low and high 16 bits spread over all values */
    enum { N = 100000 };
    uint64_t *hs = malloc(N * sizeof(*hs));
    assert_non_null(hs);
    static unsigned lo[65536], hi[65536];
    for (int i = 0; i < N; i++) {
        char body[160];
        int len = snprintf(body, sizeof(body),
                           "{\"id\":\"node-%08d\",\"last_seen\":\"2026-11-%02dT%02d:%02d:%02dZ\",\"flags_generation\":%d}\n", i % 977,
                           1 + i % 28, i % 24, i % 60, (i / 60) % 60, i / 977);
        hs[i] = str_hash_bytes(body, (size_t)len, 7);
        lo[hs[i] & 0xffff]++;
        hi[hs[i] >> 48]++;
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N && j < i + 64; j++)
            assert_true(hs[i] != hs[j]);
    /* a fair spread puts ~1.5 in each of 65536 buckets; a poor hash piles them up */
    unsigned maxlo = 0, maxhi = 0;
    for (int i = 0; i < 65536; i++) {
        maxlo = lo[i] > maxlo ? lo[i] : maxlo;
        maxhi = hi[i] > maxhi ? hi[i] : maxhi;
    }
    assert_true(maxlo < 16);
    assert_true(maxhi < 16);
    free(hs);
    /* str_hash (the registry's id index, the interned strings): ids that
     * differ in their last digits spread over the low bits too */
    static unsigned chain[131072];
    unsigned longest = 0;
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof(id), i % 2 ? "render-%05d" : "node-%016x", i);
        unsigned c = ++chain[str_hash(id) % 131072];
        longest = c > longest ? c : longest;
    }
    assert_true(longest < 12);
    assert_true(str_hash("render-00017") == str_hash_bytes("render-00017", 12, 0));
}

/* a valid UTF-8 string (jansson takes nothing else) with the odd bytes a node may carry */
static void rand_text(char *out, size_t cap)
{
    static const char *const pieces[] = {"a",  "Z",  "0", "-", " ", "\"", "\\", "/", "\t", "\n", "\x01",
                                         "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                         "render", "bxl", "ok", "idle"};
    size_t n = 0, want = (size_t)(rnd() % 40);
    if (rnd() % 8 == 0)
        want = 0;
    while (n < want) {
        const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t l = strlen(p);
        if (n + l + 1 > cap)
            break;
        memcpy(out + n, p, l);
        n += l;
    }
    out[n] = '\0';
}

static json_t *rand_scalar(int allow_odd)
{
    char t[64];
    switch (rnd() % (allow_odd ? 8 : 5)) {
    case 0: return json_integer((json_int_t)(rnd() % 3 == 0 ? (int64_t)rnd() : (int64_t)(rnd() % 1000) - 500));
    case 1: return json_true();
    case 2: return json_false();
    case 3: return json_null();
    case 5: return json_real((double)(rnd() % 100000) / 7.0); /* jansson's own number format: fallback */
    case 6: return json_pack("[s,i]", "nested", 1);           /* nested: fallback */
    case 7: return json_pack("{s:s}", "k", "v");
    default: rand_text(t, sizeof(t)); return json_string(t);
    }
}

static json_t *rand_object(void)
{
    json_t *o = json_object();
    size_t n = (size_t)(rnd() % 5);
    int odd = rnd() % 4 == 0;
    for (size_t i = 0; i < n; i++) {
        char k[64];
        rand_text(k, sizeof(k));
        json_object_set_new(o, k, rnd() % 2 ? rand_scalar(odd) : json_string("up"));
    }
    return o;
}

static void rand_node(node_t *n, int i)
{
    char t[64];
    snprintf(n->id, sizeof(n->id), "node-%04d", i);
    if (rnd() % 4 == 0)
        rand_text(n->id, sizeof(n->id));
    const char **texts[] = {&n->name,  &n->hostname, &n->os,    &n->arch,           &n->version,
                            &n->owner, &n->district, &n->venue, &n->provider_status, &n->stream_status};
    for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
        rand_text(t, sizeof(t));
        assert_int_equal(intern_set(texts[k], t), 0);
    }
    char *shorts[] = {n->approval, n->ip, n->wireguard_ip, n->lan_ip};
    size_t caps[] = {sizeof(n->approval), sizeof(n->ip), sizeof(n->wireguard_ip), sizeof(n->lan_ip)};
    for (size_t k = 0; k < 4; k++)
        rand_text(shorts[k], caps[k]);
    json_decref(n->roles);
    n->roles = json_array();
    for (size_t k = (size_t)(rnd() % 4); k > 0; k--) {
        rand_text(t, sizeof(t));
        json_array_append_new(n->roles, json_string(t));
    }
    json_decref(n->diagnostics);
    n->diagnostics = rand_object();
    json_decref(n->extra);
    n->extra = rand_object();
    /* (years 0..999 included: -62009366400 is 0005-01-01, -32503680000 is 0940-01-01) */
    static const int64_t times[] = {0,            1,            -1,           1800000000,   1700000000,  951782400,
                                    -30610224000, 253402300799, 253402300800, -62167219201, -62009366400, -32503680000};
    const size_t ntimes = sizeof(times) / sizeof(times[0]);
    n->last_seen = rnd() % 3 ? 1800000000 - (int64_t)(rnd() % 200000) : times[rnd() % ntimes];
    n->enrolled_at = rnd() % 3 ? 1700000000 + (int64_t)(rnd() % 100000000) : times[rnd() % ntimes];
    n->orphaned_since = rnd() % 2 ? 0 : times[rnd() % ntimes];
    n->drain = (int)(rnd() % 2);
    n->flag_update_node = (int)(rnd() % 2);
    n->flag_update_services = (int)(rnd() % 2);
    n->flag_reprovision = (int)(rnd() % 2);
    n->flags_generation = rnd() % 5 == 0 ? (int64_t)rnd() : (int64_t)(rnd() % 100);
    if (rnd() % 5 == 0 && n->head == NULL)
        n->head = registry_head_new();
}

static void test_node_bytes_match_jansson(void **state)
{
    (void)state;
    size_t fallback = 0, walked = 0;
    for (int i = 0; i < 3000; i++) {
        node_t *n = registry_node_new();
        assert_non_null(n);
        rand_node(n, i);
        int64_t now = 1800000000 + (int64_t)(rnd() % 200);
        json_t *theirs = node_to_json(n, now, 90000);
        assert_non_null(theirs);
        char *want = json_dumps(theirs, JSON_COMPACT);
        assert_non_null(want);
        /* borrowed buffers of many sizes: the growth happens at every point of the object */
        size_t caps[] = {1, 9, 64, 200 + (size_t)(rnd() % 400), 4096};
        for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
            char *mem = malloc(caps[c]);
            assert_non_null(mem);
            node_json_buf_t b = {.p = mem, .cap = caps[c], .borrowed = 1};
            node_json_append(&b, n, now, 90000);
            assert_false(b.oom);
            if (b.len != strlen(want) || memcmp(b.p, want, b.len) != 0)
                fail_msg("node %d (cap %zu):\n got  %.*s\n want %s", i, caps[c], (int)b.len, b.p, want);
            node_json_buf_free(&b);
            free(mem);
        }
        json_t *v;
        const char *k;
        int odd = 0;
        json_object_foreach(n->diagnostics, k, v) odd |= json_is_real(v) || json_is_array(v) || json_is_object(v);
        json_object_foreach(n->extra, k, v) odd |= json_is_real(v) || json_is_array(v) || json_is_object(v);
        if (odd)
            fallback++;
        else if (json_object_size(n->diagnostics) + json_object_size(n->extra) > 0)
            walked++;
        free(want);
        json_decref(theirs);
        registry_node_free(n);
    }
    /* both ways of writing diagnostics and extra were taken, many times */
    assert_true(fallback > 100);
    assert_true(walked > 1000);
}

/* a list writes nodes one after another into one buffer */
static void test_nodes_in_a_row(void **state)
{
    (void)state;
    node_json_buf_t b = {0};
    char *want = NULL;
    size_t wlen = 0;
    node_json_put(&b, "[", 1);
    want = malloc(1);
    assert_non_null(want);
    want[wlen++] = '[';
    for (int i = 0; i < 200; i++) {
        node_t *n = registry_node_new();
        assert_non_null(n);
        rand_node(n, i);
        json_t *theirs = node_to_json(n, 1800000000, 90000);
        char *one = json_dumps(theirs, JSON_COMPACT);
        size_t l = strlen(one);
        want = realloc(want, wlen + l + 2);
        assert_non_null(want);
        if (i > 0) {
            want[wlen++] = ',';
            node_json_put(&b, ",", 1);
        }
        memcpy(want + wlen, one, l);
        wlen += l;
        node_json_append(&b, n, 1800000000, 90000);
        free(one);
        json_decref(theirs);
        registry_node_free(n);
    }
    node_json_put(&b, "]", 1);
    want[wlen++] = ']';
    assert_false(b.oom);
    size_t d = 0;
    while (d < b.len && d < wlen && b.p[d] == want[d])
        d++;
    if (d != b.len || d != wlen)
        fail_msg("the list differs at byte %zu:\n got  %.200s\n want %.200s", d, b.p + (d > 100 ? d - 100 : 0),
                 want + (d > 100 ? d - 100 : 0));
    free(want);
    node_json_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_escape_matches_jansson),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_node_bytes_match_jansson),
        cmocka_unit_test(test_nodes_in_a_row),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
