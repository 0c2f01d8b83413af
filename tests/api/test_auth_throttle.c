/* Bearer token failures are throttled per client address: past
 * server.auth_max_failures wrong tokens in server.auth_failure_window the
 * failures get 429 with Retry-After; a right token from the same address is
 * still accepted, a missing token is still 401, another address is not
 * affected, and the window passing lifts it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define WRONG "0000000000000000000000000000000000000000000000000000000000000000"

static long get_status(hc_server_t *s, const char *token, const char *xff, char *retry_after, size_t ralen)
{
    char hdr[128] = "";
    if (xff != NULL)
        snprintf(hdr, sizeof(hdr), "X-Forwarded-For: %s", xff);
    hc_resp_t r = hc_request(s, "GET", "/api/v1/nodes", token, NULL, NULL, 0, hdr[0] ? hdr : NULL);
    long st = r.status;
    if (st == 429) {
        hc_assert_error(&r, 429, "rate_limited");
        const char *ra = hc_resp_header(&r, "retry-after");
        assert_non_null(ra);
        if (retry_after != NULL)
            snprintf(retry_after, ralen, "%s", ra);
    } else if (st == 401) {
        hc_assert_error(&r, 401, "unauthorized");
    }
    hc_resp_free(&r);
    return st;
}

static void test_wrong_tokens_throttled_right_token_not(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start("  auth_max_failures: 5\n  auth_failure_window: 3s\n"
                                     "  trusted_proxies: [\"127.0.0.1\"]\n",
                                     NULL);
    for (int i = 0; i < 5; i++)
        assert_int_equal(get_status(s, WRONG, NULL, NULL, 0), 401);
    char ra[32] = "";
    assert_int_equal(get_status(s, WRONG, NULL, ra, sizeof(ra)), 429);
    long secs = strtol(ra, NULL, 10);
    assert_true(secs >= 1 && secs <= 3);
    /* a token that is not even hex, and an over-long one, count the same */
    assert_int_equal(get_status(s, "guess", NULL, NULL, 0), 429);
    /* the right token from the same address still works */
    assert_int_equal(get_status(s, TEST_ADMIN_TOKEN, NULL, NULL, 0), 200);
    /* no token is no guess: 401 as ever */
    assert_int_equal(get_status(s, NULL, NULL, NULL, 0), 401);
    /* another address (through the trusted proxy) is not affected */
    assert_int_equal(get_status(s, WRONG, "10.9.9.9", NULL, 0), 401);
    assert_int_equal(get_status(s, WRONG, NULL, NULL, 0), 429);
    assert_true(hc_server_log_contains(s, "wrong bearer tokens from one address"));
    /* the window passes */
    sleep(3);
    usleep(300 * 1000);
    assert_int_equal(get_status(s, WRONG, NULL, NULL, 0), 401);
    hc_server_free(s);
}

static void test_guessing_burst_mostly_429(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start(NULL, NULL); /* defaults: 30 per 60 s */
    int n401 = 0, n429 = 0;
    for (int i = 0; i < 300; i++) {
        char tok[80];
        snprintf(tok, sizeof(tok), "%064d", i);
        long st = get_status(s, tok, NULL, NULL, 0);
        n401 += st == 401;
        n429 += st == 429;
    }
    assert_int_equal(n401, 30);
    assert_int_equal(n429, 270);
    assert_int_equal(get_status(s, TEST_ADMIN_TOKEN, NULL, NULL, 0), 200);
    hc_server_free(s);
}

static void test_throttle_off(void **state)
{
    (void)state;
    hc_server_t *s = hc_server_start("  auth_max_failures: 0\n", NULL);
    for (int i = 0; i < 50; i++)
        assert_int_equal(get_status(s, WRONG, NULL, NULL, 0), 401);
    hc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_tokens_throttled_right_token_not),
        cmocka_unit_test(test_guessing_burst_mostly_429),
        cmocka_unit_test(test_throttle_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
