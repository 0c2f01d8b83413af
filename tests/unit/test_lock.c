/* The lock checker: out-of-order, recursive and held-across-boundary
 * acquisitions abort naming the locks (each case runs in a forked child). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lock.h"

/* runs fn in a child with stderr captured; returns the child's stderr and whether it aborted */
static int run_child(void (*fn)(void), char *out, size_t outlen)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    size_t got = 0;
    ssize_t n;
    while ((n = read(pipefd[0], out + got, outlen - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(pipefd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static hc_lock_t nodes, exec_lock, catalog;
static hc_mutex_t store;

static void setup_locks(void)
{
    lock_init(&catalog, "catalog", LOCK_RANK_CATALOG);
    lock_init(&nodes, "nodes", LOCK_RANK_NODES);
    lock_init(&exec_lock, "exec", LOCK_RANK_EXEC);
    mutex_init(&store, "store", LOCK_RANK_STORE);
}

static void in_order(void)
{
    lock_take(&catalog);
    lock_take_shared(&nodes);
    lock_take(&exec_lock);
    mutex_take(&store);
    mutex_give(&store);
    lock_give(&exec_lock);
    lock_give(&nodes);
    lock_give(&catalog);
    lock_assert_none_held("end");
}

static void out_of_order(void)
{
    lock_take(&exec_lock);
    lock_take(&nodes);
}

static void recursive(void)
{
    lock_take_shared(&nodes);
    lock_take_shared(&nodes);
}

static void held_across(void)
{
    lock_take(&nodes);
    lock_assert_none_held("before handler GET /api/v1/nodes");
}

static void release_unheld(void)
{
    lock_give(&nodes);
}

static void test_in_order_passes(void **state)
{
    (void)state;
    char out[1024];
    assert_false(run_child(in_order, out, sizeof(out)));
    assert_int_equal(out[0], '\0');
}

static void test_out_of_order_aborts_naming_both(void **state)
{
    (void)state;
    char out[1024];
    assert_true(run_child(out_of_order, out, sizeof(out)));
    assert_non_null(strstr(out, "lock order violation"));
    assert_non_null(strstr(out, "nodes"));
    assert_non_null(strstr(out, "exec"));
}

static void test_recursive_aborts(void **state)
{
    (void)state;
    char out[1024];
    assert_true(run_child(recursive, out, sizeof(out)));
    assert_non_null(strstr(out, "recursive"));
    assert_non_null(strstr(out, "nodes"));
}

static void test_held_across_boundary_aborts(void **state)
{
    (void)state;
    char out[1024];
    assert_true(run_child(held_across, out, sizeof(out)));
    assert_non_null(strstr(out, "lock held across a boundary"));
    assert_non_null(strstr(out, "before handler GET /api/v1/nodes"));
}

static void test_release_unheld_aborts(void **state)
{
    (void)state;
    char out[1024];
    assert_true(run_child(release_unheld, out, sizeof(out)));
    assert_non_null(strstr(out, "does not hold"));
}

static void test_held_count(void **state)
{
    (void)state;
    assert_int_equal(lock_held_count(), 0);
    lock_take_shared(&nodes);
    assert_int_equal(lock_held_count(), 1);
    mutex_take(&store);
    assert_int_equal(lock_held_count(), 2);
    mutex_give(&store);
    lock_give(&nodes);
    assert_int_equal(lock_held_count(), 0);
}

int main(void)
{
#ifndef HC_LOCK_CHECK
    printf("the lock checker is compiled out (-Dlock_check=false): nothing to test\n");
    return 77; /* meson: skipped */
#endif
    setup_locks();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_passes),
        cmocka_unit_test(test_out_of_order_aborts_naming_both),
        cmocka_unit_test(test_recursive_aborts),
        cmocka_unit_test(test_held_across_boundary_aborts),
        cmocka_unit_test(test_release_unheld_aborts),
        cmocka_unit_test(test_held_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
