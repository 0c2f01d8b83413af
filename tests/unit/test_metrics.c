/* metrics.c without a server: the exposition passes the strict checker, the
 * checker itself rejects what it should, collectors and histograms render,
 * lock contention is measured per lock. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lock.h"
#include "metrics.h"
#include "registry.h"
#include "tests/common/promcheck.h"

static char *render(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    metrics_render(f);
    fclose(f);
    return buf;
}

static void assert_valid(const char *text)
{
    char err[600];
    if (prom_check(text, err, sizeof(err)) != 0)
        fail_msg("exposition rejected: %s\n%s", err, text);
}

static void assert_rejected(const char *text, const char *why)
{
    char err[600];
    if (prom_check(text, err, sizeof(err)) == 0)
        fail_msg("the checker accepted %s:\n%s", why, text);
}

static void test_checker_rejects(void **state)
{
    (void)state;
    assert_valid("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n");
    assert_rejected("a_total 3\n", "a sample without # TYPE");
    assert_rejected("# TYPE a counter\na 3", "no final newline");
    assert_rejected("# TYPE a counter\n\na 3\n", "a blank line");
    assert_rejected("# TYPE a counter\n# just a comment\na 3\n", "a free comment");
    assert_rejected("# TYPE a counter\na -1\n", "a negative counter");
    assert_rejected("# TYPE a gauge\na abc\n", "a non-number");
    assert_rejected("# TYPE a gauge\na 1 1700000000\n", "a timestamp");
    assert_rejected("# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n", "a duplicate series");
    assert_rejected("# TYPE a gauge\na{x=\"a\\tb\"} 1\n", "a bad escape");
    assert_rejected("# TYPE a gauge\na{1x=\"a\"} 1\n", "a bad label name");
    assert_rejected("# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n", "interleaved families");
    assert_rejected("# TYPE a gauge\n# TYPE a counter\na 1\n", "two TYPE lines");
    const char *hist_ok = "# TYPE h histogram\n"
                          "h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n";
    assert_valid(hist_ok);
    assert_rejected("# TYPE h histogram\n"
                    "h_bucket{le=\"0.1\"} 3\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n",
                    "non-cumulative buckets");
    assert_rejected("# TYPE h histogram\n"
                    "h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 5\n",
                    "+Inf != _count");
    assert_rejected("# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 3\nh_sum 2.5\nh_count 3\n",
                    "no +Inf bucket");
    assert_rejected("# TYPE h histogram\n"
                    "h_bucket{le=\"1\"} 1\nh_bucket{le=\"0.1\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n",
                    "descending le");
    assert_rejected("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 4\nh_count 4\n", "no _sum");
}

static int collector_calls;
static void test_collector(FILE *f)
{
    collector_calls++;
    fprintf(f, "# HELP hydracluster_test_queue_depth A test collector.\n"
               "# TYPE hydracluster_test_queue_depth gauge\n"
               "hydracluster_test_queue_depth 7\n");
}

static void test_render_is_valid_with_collector(void **state)
{
    (void)state;
    assert_int_equal(metrics_register_collector(test_collector), 0);
    metrics_request_observe(&route_table[0], "GET", 3, 200, 1500);
    metrics_request_observe(&route_table[0], "GET", 3, 200, 70 * 1000 * 1000); /* above every bound: only in +Inf */
    metrics_request_observe(NULL, "BREW", 4, 404, 300);
    metrics_request_observe(NULL, "POST", 4, 418, 300);
    metrics_heartbeat_inc();
    metrics_heartbeat_inc();
    metrics_store_commit_observe(400, 3);
    metrics_store_checkpoint_observe(0);
    char *text = render();
    assert_valid(text);
    assert_int_equal(collector_calls, 1);
    assert_true(prom_value_of(text, "hydracluster_test_queue_depth ") == 7);
    assert_true(prom_value_of(text, "hydracluster_heartbeats_total ") == 2);
    /* any status is its own label value; unmatched requests by method, never an empty one */
    assert_true(prom_value_of(text, "hydracluster_http_requests_total{method=\"POST\",route=\"unmatched\",status=\"418\"}") == 1);
    assert_true(prom_value_of(text, "hydracluster_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"}") == 1);
    assert_null(strstr(text, "method=\"\""));
    assert_non_null(strstr(text, "hydracluster_build_info{version=\""));
    assert_non_null(strstr(text, "# TYPE process_open_fds gauge\n"));
    assert_true(prom_value_of(text, "hydracluster_store_wal_checkpoints_total ") == 1);
    char name[256];
    snprintf(name, sizeof(name), "hydracluster_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"}",
             route_table[0].method, route_table[0].pattern);
    assert_true(prom_value_of(text, name) == 2);
    snprintf(name, sizeof(name), "hydracluster_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"60\"}",
             route_table[0].method, route_table[0].pattern);
    assert_true(prom_value_of(text, name) == 1);
    assert_true(prom_value_of(text, "hydracluster_store_batch_ops_bucket{le=\"4\"}") == 1);
    assert_true(prom_value_of(text, "hydracluster_store_batch_ops_bucket{le=\"2\"}") == 0);
    assert_true(fabs(prom_value_of(text, "hydracluster_store_commit_duration_seconds_sum ") - 0.0004) < 1e-9);
    assert_true(prom_value_of(text, "hydracluster_nodes{status=\"online\"}") == 0);
    free(text);
}

static void test_histogram_render(void **state)
{
    (void)state;
    static const uint64_t b[] = {10, 100};
    metrics_histogram_t h;
    metrics_histogram_init(&h, b, 2, 1000);
    metrics_histogram_observe(&h, 5);
    metrics_histogram_observe(&h, 10); /* le is inclusive */
    metrics_histogram_observe(&h, 50);
    metrics_histogram_observe(&h, 5000);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    metrics_histogram_family(f, "x_seconds", "X.");
    metrics_histogram_render(f, "x_seconds", "k=\"v\"", &h);
    fclose(f);
    assert_valid(buf);
    assert_true(prom_value_of(buf, "x_seconds_bucket{k=\"v\",le=\"0.01\"}") == 2);
    assert_true(prom_value_of(buf, "x_seconds_bucket{k=\"v\",le=\"0.1\"}") == 3);
    assert_true(prom_value_of(buf, "x_seconds_bucket{k=\"v\",le=\"+Inf\"}") == 4);
    assert_true(prom_value_of(buf, "x_seconds_count{k=\"v\"}") == 4);
    assert_true(fabs(prom_value_of(buf, "x_seconds_sum{k=\"v\"}") - 5.065) < 1e-9);
    free(buf);
    char esc[64];
    assert_string_equal(metrics_label_escape(esc, sizeof(esc), "a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

static hc_lock_t contended;
static void *hold_briefly(void *arg)
{
    (void)arg;
    lock_take(&contended);
    usleep(100 * 1000);
    lock_give(&contended);
    return NULL;
}

static void test_lock_wait_is_measured(void **state)
{
    (void)state;
    lock_init(&contended, "unit_test_lock", LOCK_RANK_EXEC);
    /* uncontended: not counted */
    lock_take(&contended);
    lock_give(&contended);
    lock_stat_t st[32];
    size_t n = lock_stats_get(st, 32);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(st[i].name, "unit_test_lock");

    pthread_t t;
    lock_take(&contended);
    assert_int_equal(pthread_create(&t, NULL, hold_briefly, NULL), 0);
    usleep(20 * 1000);
    lock_give(&contended); /* the thread takes it and holds it 100 ms */
    usleep(20 * 1000);
    lock_take_shared(&contended); /* waits for the thread */
    lock_give(&contended);
    pthread_join(t, NULL);

    n = lock_stats_get(st, 32);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(st[i].name, "unit_test_lock") == 0) {
            found = 1;
            assert_true(st[i].contended >= 1);
            assert_true(st[i].wait_us >= 50 * 1000);
        }
    }
    assert_true(found);
    char *text = render();
    assert_valid(text);
    double w = prom_value_of(text, "hydracluster_lock_wait_seconds_total{lock=\"unit_test_lock\"}");
    assert_true(w >= 0.05);
    free(text);
    lock_destroy(&contended);
}

static int setup(void **state)
{
    (void)state;
    return metrics_init() == 0 && registry_init() == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_rejects),
        cmocka_unit_test(test_render_is_valid_with_collector),
        cmocka_unit_test(test_histogram_render),
        cmocka_unit_test(test_lock_wait_is_measured),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
