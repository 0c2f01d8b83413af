/* The exec queue's in-memory rules without HTTP or a database: reservation
 * (a command taken by one poll is invisible to the next), put-back in FIFO
 * order when a dispatch is not published, cancel conflicts, publish order,
 * and the UTF-8 cut. The store side is covered by tests/api/test_exec.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec_queue.h"

static void submit(const char *node, const char *id, int64_t seq)
{
    exec_rec_t rec = {0};
    snprintf(rec.id, sizeof(rec.id), "%s", id);
    snprintf(rec.node_id, sizeof(rec.node_id), "%s", node);
    rec.command = strdup(id);
    rec.timeout_s = 10;
    rec.seq = seq;
    rec.submitted_at = 1700000000;
    exec_publish_submit(&rec, NULL);
    exec_rec_clear(&rec);
}

static exec_dispatch_t *take(const char *node)
{
    exec_dispatch_t *d = NULL;
    int rc = exec_queue_take(node, 1, NULL, &d);
    assert_true(rc == 0 || rc == 1);
    return rc == 1 ? d : NULL;
}

static void test_reserve_and_put_back(void **state)
{
    (void)state;
    submit("node-a", "exec-1", 1);
    submit("node-a", "exec-2", 2);
    submit("node-a", "exec-3", 3);
    assert_int_equal(exec_queue_pending_count("node-a"), 3);

    exec_dispatch_t *d1 = take("node-a");
    assert_non_null(d1);
    assert_string_equal(d1->id, "exec-1");
    /* reserved: the next poll gets the next one, never the same */
    exec_dispatch_t *d2 = take("node-a");
    assert_string_equal(d2->id, "exec-2");
    /* still pending while not committed */
    assert_int_equal(exec_queue_pending_count("node-a"), 3);
    /* a pending (unapproved) node is never handed a command */
    exec_dispatch_t *none = NULL;
    assert_int_equal(exec_queue_take("node-a", 0, NULL, &none), 0);
    assert_null(none);

    /* a reserved command cannot be canceled */
    exec_transition_t *t = NULL;
    exec_status_t st;
    assert_int_equal(exec_queue_cancel_prepare("node-a", "exec-1", "admin:test", &t, &st), EXEC_ECONFLICT);
    assert_int_equal(st, EXEC_QUEUED);

    /* exec-1's dispatch failed (not published): back in front of exec-3 */
    exec_dispatch_free(d1);
    exec_dispatch_t *again = take("node-a");
    assert_string_equal(again->id, "exec-1");

    /* exec-2's dispatch committed: running, not pending */
    exec_publish_dispatch(d2);
    exec_dispatch_free(d2);
    assert_int_equal(exec_queue_pending_count("node-a"), 2);
    int finished = 1;
    json_t *o = exec_queue_result_json("node-a", "exec-2", &finished);
    assert_false(finished);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "running");
    json_decref(o);
    assert_int_equal(exec_queue_cancel_prepare("node-a", "exec-2", "admin:test", &t, &st), EXEC_ECONFLICT);
    assert_int_equal(st, EXEC_RUNNING);
    /* scoped to the node */
    assert_null(exec_queue_result_json("node-b", "exec-2", &finished));

    exec_publish_dispatch(again);
    exec_dispatch_free(again);

    /* purge takes what is still pending (exec-3) and reserves it */
    assert_int_equal(exec_queue_cancel_prepare("node-a", NULL, "admin:test", &t, &st), 0);
    assert_int_equal(exec_transition_count(t), 1);
    assert_null(take("node-a"));
    /* not committed: exec_transition_free puts it back */
    exec_transition_free(t);
    exec_dispatch_t *d3 = take("node-a");
    assert_string_equal(d3->id, "exec-3");
    exec_dispatch_free(d3);

    /* the listing: pending first, then running */
    int bad = 0;
    o = exec_queue_list_json("node-a", 10, NULL, NULL, 0, &bad);
    assert_int_equal(json_integer_value(json_object_get(o, "pending")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "running")), 2);
    json_t *cmds = json_object_get(o, "commands");
    assert_int_equal(json_array_size(cmds), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 0), "id")), "exec-3");
    json_decref(o);

    exec_queue_node_deleted("node-a");
    assert_int_equal(exec_queue_pending_count("node-a"), 0);
    assert_null(exec_queue_result_json("node-a", "exec-1", &finished));
}

static void test_report_finishes_once(void **state)
{
    (void)state;
    submit("node-r", "exec-r1", 10);
    exec_dispatch_t *d = take("node-r");
    exec_publish_dispatch(d);
    exec_dispatch_free(d);
    exec_status_t st;
    assert_int_equal(exec_queue_report_check("node-r", "exec-r1", &st), 0);
    assert_int_equal(exec_queue_report_check("node-x", "exec-r1", &st), EXEC_EFORBIDDEN);
    assert_int_equal(exec_queue_report_check("node-r", "exec-none", &st), EXEC_ENOENT);
    exec_report_t *rep = calloc(1, sizeof(*rep));
    snprintf(rep->id, sizeof(rep->id), "exec-r1");
    snprintf(rep->node_id, sizeof(rep->node_id), "node-r");
    rep->status = EXEC_DONE;
    rep->has_exit_code = 1;
    rep->exit_code = 4;
    rep->out = strdup("out");
    rep->err = strdup("");
    rep->finished_at = 1700000001;
    exec_publish_report(rep);
    exec_report_free(rep);
    assert_int_equal(exec_queue_report_check("node-r", "exec-r1", &st), EXEC_EALREADY);
    assert_int_equal(st, EXEC_DONE);
    int finished = 0;
    json_t *o = exec_queue_result_json("node-r", "exec-r1", &finished);
    assert_true(finished);
    assert_int_equal(json_integer_value(json_object_get(o, "exit_code")), 4);
    assert_string_equal(json_string_value(json_object_get(o, "stdout")), "out");
    json_decref(o);
    exec_queue_node_deleted("node-r");
}

static void test_utf8_cut(void **state)
{
    (void)state;
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"; /* a é € 😀 z: 1+2+3+4+1 bytes */
    size_t len = strlen(s);
    assert_int_equal(exec_utf8_cut(s, len, 100), len);
    assert_int_equal(exec_utf8_cut(s, len, len), len);
    assert_int_equal(exec_utf8_cut(s, len, 0), 0);
    assert_int_equal(exec_utf8_cut(s, len, 1), 1);
    assert_int_equal(exec_utf8_cut(s, len, 2), 1);  /* inside é */
    assert_int_equal(exec_utf8_cut(s, len, 3), 3);
    assert_int_equal(exec_utf8_cut(s, len, 5), 3);  /* inside € */
    assert_int_equal(exec_utf8_cut(s, len, 6), 6);
    assert_int_equal(exec_utf8_cut(s, len, 9), 6);  /* inside 😀 */
    assert_int_equal(exec_utf8_cut(s, len, 10), 10);
}

static int setup(void **state)
{
    (void)state;
    return exec_queue_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_and_put_back),
        cmocka_unit_test(test_report_finishes_once),
        cmocka_unit_test(test_utf8_cut),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
