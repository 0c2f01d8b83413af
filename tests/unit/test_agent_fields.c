/* api/agent_fields.c without a server: unknown and invalid fields are
 * counted every time, logged once per agent and field, and the log-once
 * memory is bounded (past it, fields are counted and not logged; said once);
 * the exposition passes the strict checker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_fields.h"
#include "metrics.h"
#include "tests/common/promcheck.h"

static char logpath[] = "/tmp/hc-test-agent-fields-XXXXXX";
static int saved_stderr = -1;

/* the module logs to stderr: send it to a file the test reads */
static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(logpath);
    if (fd < 0 || metrics_init() != 0 || agent_fields_init() != 0)
        return -1;
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    unlink(logpath);
    return 0;
}

static int log_lines(const char *needle)
{
    fflush(stderr);
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void test_counted_always_logged_once(void **state)
{
    (void)state;
    static const char *const known[] = {"version", NULL};
    json_t *hb = json_pack("{s:s, s:s, s:i}", "version", "v1", "hostname", "box", "gpu_temp_c", 71);
    unsigned long before = agent_fields_unknown_total(AGENT_EP_HEARTBEAT);
    for (int i = 0; i < 3; i++)
        assert_int_equal(agent_fields_unknown(AGENT_EP_HEARTBEAT, "node-a", hb, known), 2);
    assert_int_equal(agent_fields_unknown(AGENT_EP_HEARTBEAT, "node-b", hb, known), 2);
    assert_int_equal(agent_fields_unknown_total(AGENT_EP_HEARTBEAT) - before, 8);
    assert_int_equal(log_lines("agent=node-a field=hostname"), 1);
    assert_int_equal(log_lines("agent=node-a field=gpu_temp_c"), 1);
    assert_int_equal(log_lines("agent=node-b field=hostname"), 1);
    /* the same field on another endpoint is its own line */
    assert_int_equal(agent_fields_unknown(AGENT_EP_EXEC_RESULT, "node-a", hb, known), 2);
    assert_int_equal(log_lines("endpoint=exec_result agent=node-a field=hostname"), 1);
    json_decref(hb);

    agent_fields_invalid(AGENT_EP_HEARTBEAT, "node-a", "lan_ip", "not an address");
    agent_fields_invalid(AGENT_EP_HEARTBEAT, "node-a", "lan_ip", "not an address");
    assert_int_equal(agent_fields_invalid_total(AGENT_EP_HEARTBEAT), 2);
    assert_int_equal(log_lines("field=lan_ip reason=\"not an address\""), 1);
    assert_int_equal(agent_fields_unknown(AGENT_EP_ENROLL, "ip:127.0.0.1", NULL, known), 0);
}

static void test_log_once_memory_is_bounded(void **state)
{
    (void)state;
    static const char *const known[] = {NULL};
    unsigned long before = agent_fields_unknown_total(AGENT_EP_HEAD_STATUS);
    int logged_before = log_lines("agent sent a field");
    char field[32];
    for (int i = 0; i < AGENT_FIELDS_SEEN_MAX * 2; i++) {
        snprintf(field, sizeof(field), "f%d", i);
        json_t *o = json_pack("{s:i}", field, i);
        agent_fields_unknown(AGENT_EP_HEAD_STATUS, "node-many", o, known);
        json_decref(o);
    }
    /* every one counted ... */
    assert_int_equal(agent_fields_unknown_total(AGENT_EP_HEAD_STATUS) - before, AGENT_FIELDS_SEEN_MAX * 2);
    /* ... at most the table's worth logged, and the overflow said once */
    int logged = log_lines("agent sent a field") - logged_before;
    assert_true(logged <= AGENT_FIELDS_SEEN_MAX * 3 / 4);
    assert_true(logged > AGENT_FIELDS_SEEN_MAX / 2);
    assert_int_equal(log_lines("too many distinct agent fields"), 1);
}

static void test_exposition(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    metrics_render(f);
    fclose(f);
    char err[600];
    if (prom_check(buf, err, sizeof(err)) != 0)
        fail_msg("exposition rejected: %s", err);
    assert_true(prom_value_of(buf, "hydracluster_agent_unknown_fields_total{endpoint=\"heartbeat\"}") == 8);
    assert_non_null(strstr(buf, "hydracluster_agent_invalid_fields_total{endpoint=\"heartbeat\"} 2\n"));
    assert_non_null(strstr(buf, "hydracluster_agent_unknown_fields_total{endpoint=\"enroll\"} 0\n"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counted_always_logged_once),
        cmocka_unit_test(test_log_once_memory_is_bounded),
        cmocka_unit_test(test_exposition),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
