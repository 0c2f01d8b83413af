/* Log value quoting: fixed cases, and log_quote_n held to the plain
 * byte-by-byte version it replaced on every short string over the bytes
 * that matter and on random text, under every buffer size that cuts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

/* the specification: log_quote_n as it was before the class table */
static size_t ref_quote_n(char *buf, size_t buflen, const char *s, size_t slen)
{
    if (buflen == 0)
        return 0;
    const char *nul = slen > 0 ? memchr(s, '\0', slen) : NULL;
    size_t n = nul != NULL ? (size_t)(nul - s) : slen;
    int copy = 1, bare = slen > 0 && nul == NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > ' ' && c < 0x7f && c != '"' && c != '\\' && c != '=')
            continue;
        bare = 0;
        if (c < ' ' || c == 0x7f || c == '"' || c == '\\') {
            copy = 0;
            break;
        }
    }
    if (bare && n + 3 <= buflen) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        return n;
    }
    if (copy && !bare && n + 4 <= buflen) {
        buf[0] = '"';
        memcpy(buf + 1, s, n);
        buf[n + 1] = '"';
        buf[n + 2] = '\0';
        return n + 2;
    }
    size_t o = 0;
    if (!bare && o + 1 < buflen)
        buf[o++] = '"';
    for (size_t i = 0; i < n && o + 3 < buflen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c >= ' ' && c != 0x7f) {
            buf[o++] = (char)c;
        }
    }
    if (!bare && o + 1 < buflen)
        buf[o++] = '"';
    buf[o] = '\0';
    return o;
}

static const char *q(const char *s)
{
    static char buf[256];
    log_quote_n(buf, sizeof(buf), s, strlen(s));
    return buf;
}

static void test_quote_cases(void **state)
{
    (void)state;
    assert_string_equal(q("node-1"), "node-1");
    assert_string_equal(q(""), "\"\"");
    assert_string_equal(q("a b"), "\"a b\"");
    assert_string_equal(q("k=v"), "\"k=v\"");
    assert_string_equal(q("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
    assert_string_equal(q("say \"hi\""), "\"say \\\"hi\\\"\"");
    assert_string_equal(q("a\\b"), "\"a\\\\b\"");
    assert_string_equal(q("two\nlines"), "\"two\\nlines\"");
    assert_string_equal(q("bell\x07 del\x7f"), "\"bell del\"");
    char buf[64];
    /* up to a NUL among the bytes */
    assert_int_equal(log_quote_n(buf, sizeof(buf), "ab\0cd", 5), 4);
    assert_string_equal(buf, "\"ab\"");
    /* cut to the buffer, still quoted and terminated */
    assert_int_equal(log_quote_n(buf, 6, "a b c d e", 9), 4);
    assert_string_equal(buf, "\"a \"");
    assert_int_equal(log_quote_n(buf, 0, "x", 1), 0);
    int v = -1;
    log_quote_nv(buf, sizeof(buf), "/api/v1/nodes/n1", 16, &v);
    assert_int_equal(v, 1);
    log_quote_nv(buf, sizeof(buf), "a b=c\xc3\xa9", 7, &v);
    assert_int_equal(v, 1);
    log_quote_nv(buf, sizeof(buf), "", 0, &v);
    assert_int_equal(v, 1);
    log_quote_nv(buf, sizeof(buf), "a\"b", 3, &v);
    assert_int_equal(v, 0);
    log_quote_nv(buf, sizeof(buf), "ab\0", 3, &v);
    assert_int_equal(v, 0);
    log_quote_nv(buf, sizeof(buf), "a\tb", 3, &v);
    assert_int_equal(v, 0);
}

static void check_same(const char *s, size_t slen, size_t buflen)
{
    char got[300], want[300];
    memset(got, 'Z', sizeof(got));
    memset(want, 'Z', sizeof(want));
    size_t g = log_quote_n(got, buflen, s, slen), w = ref_quote_n(want, buflen, s, slen);
    assert_int_equal(g, w);
    assert_memory_equal(got, want, sizeof(got)); /* the same bytes, and nothing written past them */
    /* the verbatim flag never claims more than is true */
    int verbatim = -1;
    char again[300];
    memset(again, 'Z', sizeof(again));
    assert_int_equal(log_quote_nv(again, buflen, s, slen, &verbatim), g);
    assert_memory_equal(again, got, sizeof(got));
    assert_true(verbatim == 0 || verbatim == 1);
    if (verbatim) {
        assert_null(memchr(s, '\0', slen));
        if (g == slen)
            assert_memory_equal(got, s, slen);
        else {
            assert_int_equal(g, slen + 2);
            assert_true(got[0] == '"' && got[slen + 1] == '"');
            assert_memory_equal(got + 1, s, slen);
        }
    }
}

static void test_quote_agrees_with_reference(void **state)
{
    (void)state;
    static const char alphabet[] = {'a', ' ', '=', '"', '\\', '\n', '\0', '\x7f', '\x80', '\xc3', '\x01', '~', '!'};
    const size_t na = sizeof(alphabet), sizes[] = {1, 2, 3, 4, 5, 6, 8, 64};
    char s[4];
    size_t checked = 0;
    /* every string of up to four bytes over the alphabet */
    for (size_t len = 0; len <= 4; len++) {
        size_t total = 1;
        for (size_t k = 0; k < len; k++)
            total *= na;
        for (size_t v = 0; v < total; v++) {
            size_t x = v;
            for (size_t k = 0; k < len; k++, x /= na)
                s[k] = alphabet[x % na];
            for (size_t b = 0; b < sizeof(sizes) / sizeof(sizes[0]); b++, checked++)
                check_same(s, len, sizes[b]);
        }
    }
    /* random text: mostly plain, some of every kind, lengths past the buffer */
    srand(15);
    char t[280];
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)rand() % sizeof(t);
        int mix = rand() % 4;
        for (size_t k = 0; k < len; k++)
            t[k] = mix == 0 ? (char)('a' + rand() % 26)
                   : mix == 1 ? alphabet[rand() % (int)na]
                              : (char)(rand() % 256);
        check_same(t, len, 1 + (size_t)rand() % 299);
        checked++;
    }
    assert_true(checked > 200000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_cases),
        cmocka_unit_test(test_quote_agrees_with_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
