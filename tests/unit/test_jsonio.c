/* server/jsonio.c's body parser: the flat fast path (json_parse_flat) must
 * accept nothing jansson refuses and build exactly what jansson builds, and
 * json_parse_body must answer as jansson alone does (same object, or a
 * refusal). Checked on hand-picked bodies (the shapes an agent sends and the
 * malformed ones the API tests send) and on a few hundred thousand random
 * mutations of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonio.h"

/* what the body parser did before the fast path: jansson with duplicate
 * keys refused, an object required (these bodies are never deep) */
static json_t *reference(const char *data, size_t len)
{
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* same members in the same order, same types and values */
static int same(json_t *a, json_t *b)
{
    if (!json_equal(a, b) || json_object_size(a) != json_object_size(b))
        return 0;
    void *ia = json_object_iter(a), *ib = json_object_iter(b);
    while (ia != NULL && ib != NULL) {
        json_t *va = json_object_iter_value(ia), *vb = json_object_iter_value(ib);
        if (strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) != 0 || json_typeof(va) != json_typeof(vb))
            return 0;
        ia = json_object_iter_next(a, ia);
        ib = json_object_iter_next(b, ib);
    }
    return ia == NULL && ib == NULL;
}

/* 1 when the fast path took it */
static int check(const char *data, size_t len)
{
    json_t *want = reference(data, len);
    json_t *flat = json_parse_flat(data, len);
    if (flat != NULL && (want == NULL || !same(flat, want)))
        fail_msg("the fast path took %.*s, which jansson %s", (int)len, data,
                 want == NULL ? "refuses" : "reads differently");
    char err[256];
    json_t *got = json_parse_body(data, len, err, sizeof(err));
    if ((got == NULL) != (want == NULL) || (got != NULL && !same(got, want)))
        fail_msg("json_parse_body and jansson differ on %.*s", (int)len, data);
    int took = flat != NULL;
    json_decref(want);
    json_decref(flat);
    json_decref(got);
    return took;
}

static const char *const bodies[] = {
    "{\"version\":\"v0.23.10\",\"stream_status\":\"idle\",\"provider_status\":\"running\"}",
    "{\"version\":\"v1\",\"flags_ack\":3,\"session_id\":null,\"drain\":true,\"x\":false}",
    "{}",
    " { } ",
    "\t{\r\n\"a\" : \"b\" ,\n\"c\":0}\n",
    "{\"a\":\"\"}",
    "{\"\":\"x\"}",
    "{\"n\":123456789012345}",
    "{\"n\":1234567890123456}",
    "{\"n\":9223372036854775807}",
    "{\"n\":9223372036854775808}",
    "{\"n\":-1}",
    "{\"n\":-0}",
    "{\"n\":0}",
    "{\"n\":01}",
    "{\"n\":1.5}",
    "{\"n\":1e3}",
    "{\"n\":1E3}",
    "{\"n\":0.0}",
    "{\"a\":\"\\u0041\"}",
    "{\"a\":\"\\\"\"}",
    "{\"a\":\"caf\xc3\xa9\"}",
    "{\"a\":\"\xff\"}",
    "{\"a\":\"x\x01\"}",
    "{\"a\":\"x\x7f\"}",
    "{\"a\":1,\"a\":2}",
    "{\"a\":1,\"b\":2,\"a\":\"x\"}",
    "{\"a\":{}}",
    "{\"a\":[]}",
    "{\"a\":[1,2]}",
    "{\"d\":{\"gpu\":\"ok\"}}",
    "{",
    "{\"a\":",
    "{\"a\" 1}",
    "{'a':1}",
    "{\"a\":1,}",
    "[1,2]",
    "\"str\"",
    "42",
    "null",
    "{\"a\":1}}",
    "{\"a\":tru}",
    "{\"a\":truex}",
    "{\"a\":true1}",
    "{\"a\":nul}",
    "{\"a\":falsey}",
    "\xef\xbb\xbf{}",
    "{\"a\":1 \"b\":2}",
    "{\"a\":1}x",
    "{\"a\":1} {}",
    "{\"a\"\x00:1}",
    "",
    " ",
    "{\"a\":\"b\"",
    "{\"a\":\"b",
    "{\"a\":1,\"b\"}",
    "{,}",
    "{\"a\":1,,\"b\":2}",
    "{\f}",
    "{\"a\":\v1}",
};

static void test_known_bodies(void **state)
{
    (void)state;
    int fast = 0;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        fast += check(bodies[i], strlen(bodies[i]));
    check("{\"a\"\x00:1}", 9); /* a NUL inside the body */
    check("{\"a\":\"x\x00y\"}", 11);
    /* the heartbeat's shape, the reason for the fast path, takes it */
    assert_int_equal(check(bodies[0], strlen(bodies[0])), 1);
    assert_true(fast >= 8);
}

/* random edits of the bodies above: a byte replaced by one of the bytes
 * JSON's grammar turns on, inserted, or removed */
static void test_random_mutations(void **state)
{
    (void)state;
    static const char pick[] = "{}[]\":,\\ \t\n\r0123456789-+.eEtrufalsn\x01\x7f\xc3\xa9\x00";
    unsigned seed = 12345;
    int fast = 0, total = 0;
    for (int round = 0; round < 300000; round++) {
        seed = seed * 1103515245u + 12345u;
        const char *src = bodies[(seed >> 8) % (sizeof(bodies) / sizeof(bodies[0]))];
        char b[256];
        size_t len = strlen(src);
        memcpy(b, src, len);
        int edits = 1 + (int)((seed >> 20) % 3);
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = len ? (seed >> 8) % (len + 1) : 0;
            char c = pick[(seed >> 16) % (sizeof(pick) - 1)];
            switch ((seed >> 28) % 3) {
            case 0:
                if (at < len)
                    b[at] = c;
                break;
            case 1:
                if (len + 1 < sizeof(b)) {
                    memmove(b + at + 1, b + at, len - at);
                    b[at] = c;
                    len++;
                }
                break;
            default:
                if (at < len) {
                    memmove(b + at, b + at + 1, len - at - 1);
                    len--;
                }
            }
        }
        fast += check(b, len);
        total++;
    }
    printf("%d of %d mutated bodies took the fast path\n", fast, total);
    /* the mutations must reach the fast path often enough (~4 %: 13,000 bodies), or this proves little */
    assert_true(fast > total / 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_bodies),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
