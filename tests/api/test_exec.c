/* The exec queue through real HTTP: submit, dispatch, results, idempotent
 * reports, cross-node and unknown ids, cancel and purge, timeout expiry,
 * truncation, pending nodes, kill -9, long-poll wake-ups, result ?wait=,
 * concurrent fetches, DELETE …/stream, pruning. */
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

#include "harness.h"

static hc_server_t *srv;

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, "exec:\n"
                                "  timeout_grace: 1s\n"
                                "  max_output_bytes: 64\n"
                                "streams:\n"
                                "  stop_command: \"hydrabody stream-stop --now\"\n"
                                "  stop_timeout: 2s\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

/* ---- helpers ---- */

static void node(const char *name, int approve, char *id, char *tok)
{
    hc_enroll_node(srv, name, "linux", approve, id, tok);
}

/* submits and returns the exec id (static buffer rotation: copy it) */
static void submit(const char *node_id, const char *command, int timeout_s, char *exec_id)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", node_id);
    json_t *b = json_pack("{s:s, s:i}", "command", command, "timeout_s", timeout_s);
    char *body = json_dumps(b, JSON_COMPACT);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, body);
    if (r.status != 202)
        fail_msg("submit: %ld %s", r.status, r.body);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "pending");
    const char *id = json_string_value(json_object_get(r.json, "id"));
    assert_non_null(id);
    assert_true(strncmp(id, "exec-", 5) == 0);
    snprintf(exec_id, 64, "%s", id);
    hc_resp_free(&r);
    free(body);
    json_decref(b);
}

static hc_resp_t fetch(const char *tok, int wait)
{
    char path[64];
    snprintf(path, sizeof(path), wait ? "/api/v1/body/exec?wait=%d" : "/api/v1/body/exec", wait);
    return hc_get(srv, path, tok);
}

static hc_resp_t report(const char *tok, const char *exec_id, int exit_code, const char *out, const char *err)
{
    json_t *b = json_pack("{s:s, s:i, s:s, s:s, s:i}", "id", exec_id, "exit_code", exit_code, "stdout", out, "stderr",
                          err, "duration_ms", 12);
    char *body = json_dumps(b, JSON_COMPACT);
    hc_resp_t r = hc_post_json(srv, "/api/v1/body/exec/result", tok, body);
    free(body);
    json_decref(b);
    return r;
}

static hc_resp_t result(const char *node_id, const char *exec_id, int wait)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec/%s/result%s", node_id, exec_id, wait ? "?wait=" : "");
    if (wait)
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "%d", wait);
    return hc_get(srv, path, TEST_ADMIN_TOKEN);
}

static const char *str(hc_resp_t *r, const char *key)
{
    return json_string_value(json_object_get(r->json, key));
}

static long long num(hc_resp_t *r, const char *key)
{
    return (long long)json_integer_value(json_object_get(r->json, key));
}

static long sql_count(const char *where)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s/data/hydracluster.db' \"SELECT count(*) FROM %s\"", srv->dir, where);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    long n = -1;
    if (fscanf(p, "%ld", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

/* ---- tests ---- */

static void test_submit_fetch_result(void **state)
{
    (void)state;
    char id[64], tok[65], ex[64];
    node("exec-basic", 1, id, tok);
    submit(id, "echo hello", 30, ex);

    hc_resp_t r = result(id, ex, 0);
    assert_int_equal(r.status, 202);
    assert_string_equal(str(&r, "status"), "pending");
    hc_resp_free(&r);

    r = fetch(tok, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "id"), ex);
    assert_string_equal(str(&r, "command"), "echo hello");
    assert_int_equal(num(&r, "timeout_s"), 30);
    hc_resp_free(&r);

    /* handed out once: the next fetch gets nothing */
    r = fetch(tok, 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    hc_resp_free(&r);

    r = result(id, ex, 0);
    assert_int_equal(r.status, 202);
    assert_string_equal(str(&r, "status"), "running");
    hc_resp_free(&r);

    r = report(tok, ex, 0, "hello\n", "warn\n");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "done");
    hc_resp_free(&r);

    r = result(id, ex, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "id"), ex);
    assert_string_equal(str(&r, "status"), "done");
    assert_int_equal(num(&r, "exit_code"), 0);
    assert_string_equal(str(&r, "stdout"), "hello\n");
    assert_string_equal(str(&r, "stderr"), "warn\n");
    assert_int_equal(num(&r, "duration_ms"), 12);
    assert_true(json_is_false(json_object_get(r.json, "truncated")));
    assert_string_equal(str(&r, "command"), "echo hello");
    assert_non_null(str(&r, "submitted_at"));
    assert_non_null(str(&r, "started_at"));
    assert_non_null(str(&r, "finished_at"));
    hc_resp_free(&r);

    /* a repeated report is accepted and changes nothing */
    r = report(tok, ex, 9, "other", "");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "done");
    hc_resp_free(&r);
    r = result(id, ex, 0);
    assert_int_equal(num(&r, "exit_code"), 0);
    assert_string_equal(str(&r, "stdout"), "hello\n");
    hc_resp_free(&r);

    /* the listing shows it, without its output */
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    json_t *cmds = json_object_get(r.json, "commands");
    assert_int_equal(json_array_size(cmds), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 0), "id")), ex);
    assert_null(json_object_get(json_array_get(cmds, 0), "stdout"));
    assert_int_equal(num(&r, "pending"), 0);
    hc_resp_free(&r);

    /* submitted and audited durably, on the node, with the exec id and command */
    char where[400];
    snprintf(where, sizeof(where),
             "audit WHERE action = 'exec.submit' AND target = '%s' AND json_extract(detail, '$.exec_id') = '%s' "
             "AND json_extract(detail, '$.command') = 'echo hello'",
             id, ex);
    assert_int_equal(sql_count(where), 1);
    /* so the node's audit trail (the node page) lists it */
    snprintf(path, sizeof(path), "/api/v1/audit?target=%s", id);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    int listed = 0;
    for (size_t i = 0; i < json_array_size(r.json); i++) {
        json_t *row = json_array_get(r.json, i);
        if (strcmp(json_string_value(json_object_get(row, "action")), "exec.submit") == 0 &&
            strcmp(json_string_value(json_object_get(json_object_get(row, "detail"), "exec_id")), ex) == 0)
            listed++;
    }
    if (listed != 1)
        fail_msg("exec.submit of %s not in the audit trail of %s: %s", ex, id, r.body);
    hc_resp_free(&r);
}

static void test_fifo_and_failed(void **state)
{
    (void)state;
    char id[64], tok[65], a[64], b[64], c[64];
    node("exec-fifo", 1, id, tok);
    submit(id, "first", 10, a);
    submit(id, "second", 10, b);
    submit(id, "third", 10, c);
    const char *want[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        hc_resp_t r = fetch(tok, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(str(&r, "id"), want[i]);
        hc_resp_free(&r);
    }
    /* the agent could not run it: "failed", with its reason in stderr */
    hc_resp_t r = hc_post_json(srv, "/api/v1/body/exec/result", tok,
                               "{\"id\":\"x\",\"error\":\"bash not found\"}");
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    char body[256];
    snprintf(body, sizeof(body), "{\"id\":\"%s\",\"error\":\"bash not found\",\"stderr\":\"\"}", a);
    r = hc_post_json(srv, "/api/v1/body/exec/result", tok, body);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "failed");
    hc_resp_free(&r);
    r = result(id, a, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "failed");
    assert_true(json_is_null(json_object_get(r.json, "exit_code")));
    assert_string_equal(str(&r, "stderr"), "bash not found");
    hc_resp_free(&r);
    /* any exit code is "done": exit_code says how it went */
    r = report(tok, b, 3, "", "boom");
    assert_string_equal(str(&r, "status"), "done");
    hc_resp_free(&r);
    r = result(id, b, 0);
    assert_int_equal(num(&r, "exit_code"), 3);
    hc_resp_free(&r);
}

static void test_cross_node_unknown_and_not_dispatched(void **state)
{
    (void)state;
    char a[64], atok[65], b[64], btok[65], ex[64], ex2[64];
    node("exec-owner", 1, a, atok);
    node("exec-other", 1, b, btok);
    submit(a, "id", 10, ex);
    /* another node's agent neither sees it nor may report it */
    hc_resp_t r = fetch(btok, 0);
    assert_int_equal(r.status, 204);
    hc_resp_free(&r);
    r = fetch(atok, 0);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = report(btok, ex, 0, "spoofed", "");
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = report(atok, "exec-0000000000000000", 0, "", "");
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    /* a command never handed out cannot have a result */
    submit(a, "later", 10, ex2);
    r = report(atok, ex2, 0, "", "");
    hc_assert_error(&r, 409, "conflict");
    hc_resp_free(&r);
    /* the result path is scoped to the node */
    r = result(b, ex, 0);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    r = result(a, "exec-nope", 0);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    r = report(atok, ex, 0, "real", "");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = result(a, ex, 0);
    assert_string_equal(str(&r, "stdout"), "real");
    hc_resp_free(&r);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char id[64], tok[65], path[160];
    node("exec-bad", 1, id, tok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    static const char *const bad[] = {
        "{}",
        "{\"command\":\"\"}",
        "{\"command\":5}",
        "{\"command\":\"x\",\"timeout\":\"0s\"}",
        "{\"command\":\"x\",\"timeout\":\"25h\"}",
        "{\"command\":\"x\",\"timeout\":\"soon\"}",
        "{\"command\":\"x\",\"timeout_s\":0}",
        "{\"command\":\"x\",\"timeout_s\":\"60\"}",
        "{\"command\":\"x\",\"timeout\":\"60s\",\"timeout_s\":60}",
        "{\"command\":\"x\",\"colour\":\"red\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, bad[i]);
        if (r.status != 400)
            fail_msg("%s: expected 400, got %ld %s", bad[i], r.status, r.body);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    /* a command of more than 64 KiB */
    size_t n = 64 * 1024 + 1;
    char *big = malloc(n + 32);
    strcpy(big, "{\"command\":\"");
    memset(big + 12, 'a', n);
    strcpy(big + 12 + n, "\"}");
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, big);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    free(big);
    /* "timeout" as a duration works, as does the default */
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"command\":\"x\",\"timeout\":\"2m\"}");
    assert_int_equal(r.status, 202);
    hc_resp_free(&r);
    r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"command\":\"y\"}");
    assert_int_equal(r.status, 202);
    hc_resp_free(&r);
    r = fetch(tok, 0);
    assert_int_equal(num(&r, "timeout_s"), 120);
    hc_resp_free(&r);
    r = fetch(tok, 0);
    assert_int_equal(num(&r, "timeout_s"), 60);
    hc_resp_free(&r);

    r = hc_post_json(srv, "/api/v1/nodes/node-nope/exec", TEST_ADMIN_TOKEN, "{\"command\":\"x\"}");
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    /* credentials: a node cannot submit, an admin cannot fetch */
    r = hc_post_json(srv, path, tok, "{\"command\":\"x\"}");
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = fetch(TEST_ADMIN_TOKEN, 0);
    hc_assert_error(&r, 403, "forbidden");
    hc_resp_free(&r);
    r = fetch(NULL, 0);
    hc_assert_error(&r, 401, "unauthorized");
    hc_resp_free(&r);
    /* HEAD never takes a command */
    char ex[64];
    submit(id, "not for HEAD", 10, ex);
    r = hc_request(srv, "HEAD", "/api/v1/body/exec", tok, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 405);
    hc_resp_free(&r);
    r = fetch(tok, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "id"), ex);
    hc_resp_free(&r);
    /* wait bounds */
    static const char *const waits[] = {"/api/v1/body/exec?wait=56", "/api/v1/body/exec?wait=abc",
                                        "/api/v1/body/exec?wait=-1", "/api/v1/body/exec?wait="};
    for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
        r = hc_get(srv, waits[i], tok);
        hc_assert_error(&r, 400, "bad_request");
        hc_resp_free(&r);
    }
    /* reports are read tolerantly: only a missing id is refused (the rest is in test_compat.c) */
    r = hc_post_json(srv, "/api/v1/body/exec/result", tok, "{\"exit_code\":0}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/body/exec/result", tok, "{\"id\":7,\"exit_code\":0}");
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
    r = hc_post_json(srv, "/api/v1/body/exec/result", tok, "{\"id\":\"exec-x\",\"exit_code\":\"0\"}");
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
}

static void test_pending_node(void **state)
{
    (void)state;
    char id[64], tok[65], path[160];
    node("exec-pending", 0, id, tok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    hc_resp_t r = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"command\":\"x\"}");
    hc_assert_error(&r, 409, "conflict");
    hc_resp_free(&r);
    /* its agent gets 204, and a long poll is held (so it does not spin) */
    double t0 = hc_now_ms();
    r = fetch(tok, 1);
    double dt = hc_now_ms() - t0;
    assert_int_equal(r.status, 204);
    assert_true(dt >= 900);
    hc_resp_free(&r);
    /* nothing was written */
    char where[200];
    snprintf(where, sizeof(where), "exec WHERE node_id = '%s'", id);
    assert_int_equal(sql_count(where), 0);
}

static void test_cancel_and_purge(void **state)
{
    (void)state;
    char id[64], tok[65], a[64], b[64], c[64], d[64], path[256];
    node("exec-cancel", 1, id, tok);
    submit(id, "one", 10, a);
    submit(id, "two", 10, b);
    submit(id, "three", 10, c);
    submit(id, "four", 10, d);

    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec/%s", id, b);
    hc_resp_t r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "canceled");
    hc_resp_free(&r);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 409, "conflict");
    hc_resp_free(&r);
    r = result(id, b, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "canceled");
    hc_resp_free(&r);

    /* the first is handed out: it can no longer be canceled */
    r = fetch(tok, 0);
    assert_string_equal(str(&r, "id"), a);
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec/%s", id, a);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 409, "conflict");
    hc_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec/exec-nope", id);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);

    /* purge: the two still pending go, the running one stays */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(num(&r, "purged"), 2);
    json_t *ids = json_object_get(r.json, "ids");
    assert_string_equal(json_string_value(json_array_get(ids, 0)), c);
    assert_string_equal(json_string_value(json_array_get(ids, 1)), d);
    hc_resp_free(&r);
    r = fetch(tok, 0);
    assert_int_equal(r.status, 204);
    hc_resp_free(&r);
    r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(num(&r, "pending"), 0);
    assert_int_equal(num(&r, "running"), 1);
    hc_resp_free(&r);
    /* purging an empty queue is fine */
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(num(&r, "purged"), 0);
    hc_resp_free(&r);
    r = hc_json(srv, "DELETE", "/api/v1/nodes/node-nope/exec", TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);

    /* audited on the node, with the exec ids and commands in the detail */
    char where[400];
    snprintf(where, sizeof(where),
             "audit WHERE action = 'exec.cancel' AND target = '%s' AND json_extract(detail, '$.exec_id') = '%s' "
             "AND json_extract(detail, '$.command') = 'two'",
             id, b);
    assert_int_equal(sql_count(where), 1);
    snprintf(where, sizeof(where),
             "audit WHERE action = 'exec.purge' AND target = '%s' AND json_extract(detail, '$.ids[0]') = '%s' "
             "AND json_extract(detail, '$.commands[0]') = 'three' AND json_extract(detail, '$.commands[1]') = 'four'",
             id, c);
    assert_int_equal(sql_count(where), 1);
    snprintf(where, sizeof(where), "exec WHERE node_id = '%s' AND status = 'canceled'", id);
    assert_int_equal(sql_count(where), 3);
}

static void test_timeout_expiry(void **state)
{
    (void)state;
    char id[64], tok[65], ex[64];
    node("exec-timeout", 1, id, tok);
    submit(id, "sleep 100", 1, ex);
    hc_resp_t r = fetch(tok, 0);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    /* timeout 1 s + grace 1 s (+ the 1 s housekeeping tick): wait for it */
    double t0 = hc_now_ms();
    r = result(id, ex, 10);
    double dt = hc_now_ms() - t0;
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "timeout");
    assert_true(json_is_null(json_object_get(r.json, "exit_code")));
    assert_true(dt >= 900 && dt < 6000);
    hc_resp_free(&r);
    /* a late report changes nothing */
    r = report(tok, ex, 0, "late", "");
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "timeout");
    hc_resp_free(&r);
    char where[200];
    snprintf(where, sizeof(where), "exec WHERE id = '%s' AND status = 'timeout'", ex);
    assert_int_equal(sql_count(where), 1);
}

static void test_truncation(void **state)
{
    (void)state;
    char id[64], tok[65], ex[64];
    node("exec-trunc", 1, id, tok);
    submit(id, "cat big", 10, ex);
    hc_resp_t r = fetch(tok, 0);
    hc_resp_free(&r);
    /* 100 two-byte characters: 200 bytes; the cut at 64 must not split one */
    char out[512] = "x";
    for (int i = 0; i < 100; i++)
        strcat(out, "\xc3\xa9");
    r = report(tok, ex, 0, out, "short");
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "truncated")));
    hc_resp_free(&r);
    r = result(id, ex, 0);
    assert_non_null(r.json); /* parsed: valid UTF-8 */
    const char *s = str(&r, "stdout");
    assert_int_equal(strlen(s), 63); /* "x" + 31 characters; 64 would split the 32nd */
    assert_int_equal(strncmp(s, out, 63), 0);
    assert_string_equal(str(&r, "stderr"), "short");
    assert_true(json_is_true(json_object_get(r.json, "truncated")));
    hc_resp_free(&r);
}

typedef struct {
    char tok[65];
    int wait;
    long status;
    char id[64];
    double done_ms;
} fetcher_t;

static void *fetch_thread(void *p)
{
    fetcher_t *f = p;
    hc_resp_t r = fetch(f->tok, f->wait);
    f->done_ms = hc_now_ms();
    f->status = r.status;
    if (r.status == 200)
        snprintf(f->id, sizeof(f->id), "%s", str(&r, "id"));
    hc_resp_free(&r);
    return NULL;
}

static void test_long_poll_woken_from_another_worker(void **state)
{
    (void)state;
    char id[64], tok[65], ex[64];
    node("exec-longpoll", 1, id, tok);
    /* The server runs 2 workers; each request here is a new connection, so
     * the agent's poll and the submission land on either worker, and the
     * wake always travels as a cross-thread message (from the store writer,
     * right after the submission committed). Five rounds. */
    double worst = 0;
    for (int round = 0; round < 5; round++) {
        fetcher_t f = {.wait = 20};
        snprintf(f.tok, sizeof(f.tok), "%s", tok);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, fetch_thread, &f), 0);
        usleep(300 * 1000); /* let it park */
        double t0 = hc_now_ms();
        submit(id, "date", 10, ex);
        pthread_join(t, NULL);
        double latency = f.done_ms - t0;
        assert_int_equal(f.status, 200);
        assert_string_equal(f.id, ex);
        if (latency > worst)
            worst = latency;
        hc_resp_t r = report(tok, ex, 0, "", "");
        hc_resp_free(&r);
    }
    printf("long-poll wake: worst submit-to-agent latency %.1f ms over 5 rounds (the poll waited up to 20000 ms)\n",
           worst);
    assert_true(worst < 1000);
}

static void test_dead_long_poll_does_not_swallow_a_command(void **state)
{
    (void)state;
    char id[64], tok[65], ex[64], req[512];
    node("exec-dead-poll", 1, id, tok);
    /* an agent starts a long poll and goes away (connection closed) */
    snprintf(req, sizeof(req),
             "GET /api/v1/body/exec?wait=30 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", tok);
    char *got = hc_raw(srv, req, strlen(req), 300);
    assert_string_equal(got, "");
    free(got);
    usleep(100 * 1000);
    submit(id, "must not be lost", 30, ex);
    usleep(200 * 1000);
    /* the command was not handed to the dead poll: the agent's next poll gets it */
    hc_resp_t r = fetch(tok, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "id"), ex);
    hc_resp_free(&r);
    r = report(tok, ex, 0, "", "");
    hc_resp_free(&r);
}

static void test_concurrent_fetches_get_it_once(void **state)
{
    (void)state;
    char id[64], tok[65], ex[64];
    node("exec-race", 1, id, tok);
    for (int round = 0; round < 5; round++) {
        submit(id, "once", 10, ex);
        fetcher_t f[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            memset(&f[i], 0, sizeof(f[i]));
            snprintf(f[i].tok, sizeof(f[i].tok), "%s", tok);
            f[i].wait = i % 2; /* some plain, some long-polling (1 s) */
            assert_int_equal(pthread_create(&t[i], NULL, fetch_thread, &f[i]), 0);
        }
        int got = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            if (f[i].status == 200) {
                got++;
                assert_string_equal(f[i].id, ex);
            } else {
                assert_int_equal(f[i].status, 204);
            }
        }
        assert_int_equal(got, 1);
        hc_resp_t r = report(tok, ex, 0, "", "");
        hc_resp_free(&r);
    }
}

typedef struct {
    char node[64], ex[64];
    int wait;
    long status;
    char st[16];
    double done_ms;
} result_waiter_t;

static void *result_thread(void *p)
{
    result_waiter_t *w = p;
    hc_resp_t r = result(w->node, w->ex, w->wait);
    w->done_ms = hc_now_ms();
    w->status = r.status;
    if (str(&r, "status"))
        snprintf(w->st, sizeof(w->st), "%s", str(&r, "status"));
    hc_resp_free(&r);
    return NULL;
}

static void test_result_wait(void **state)
{
    (void)state;
    char id[64], tok[65], ex[64];
    node("exec-rwait", 1, id, tok);
    submit(id, "work", 10, ex);
    /* nothing happens: 202 after the wait */
    double t0 = hc_now_ms();
    hc_resp_t r = result(id, ex, 1);
    assert_int_equal(r.status, 202);
    assert_string_equal(str(&r, "status"), "pending");
    assert_true(hc_now_ms() - t0 >= 900);
    hc_resp_free(&r);
    /* a waiter is woken by the result */
    result_waiter_t w = {.wait = 20};
    snprintf(w.node, sizeof(w.node), "%s", id);
    snprintf(w.ex, sizeof(w.ex), "%s", ex);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, result_thread, &w), 0);
    usleep(200 * 1000);
    r = fetch(tok, 0);
    hc_resp_free(&r);
    t0 = hc_now_ms();
    r = report(tok, ex, 0, "ok", "");
    hc_resp_free(&r);
    pthread_join(t, NULL);
    assert_int_equal(w.status, 200);
    assert_string_equal(w.st, "done");
    printf("result ?wait= woken %.1f ms after the report was sent\n", w.done_ms - t0);
    assert_true(w.done_ms - t0 < 1000);
    r = result(id, "exec-none", 5);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    r = result(id, ex, 56);
    hc_assert_error(&r, 400, "bad_request");
    hc_resp_free(&r);
}

static void test_queue_survives_kill9(void **state)
{
    (void)state;
    char id[64], tok[65], queued[64], running[64];
    node("exec-kill9", 1, id, tok);
    submit(id, "handed out before the crash", 300, running);
    hc_resp_t r = fetch(tok, 0);
    assert_string_equal(str(&r, "id"), running);
    hc_resp_free(&r);
    submit(id, "echo survived", 30, queued);

    hc_server_kill9(srv);
    hc_server_restart(srv);

    /* the queued one is delivered, the running one is never handed out again */
    r = fetch(tok, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "id"), queued);
    assert_string_equal(str(&r, "command"), "echo survived");
    hc_resp_free(&r);
    r = fetch(tok, 0);
    assert_int_equal(r.status, 204);
    hc_resp_free(&r);
    r = result(id, running, 0);
    assert_int_equal(r.status, 202);
    assert_string_equal(str(&r, "status"), "running");
    hc_resp_free(&r);
    /* both can still report */
    r = report(tok, running, 0, "finished across a restart", "");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    r = report(tok, queued, 0, "survived\n", "");
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    /* and results survive too */
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = result(id, queued, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "stdout"), "survived\n");
    hc_resp_free(&r);
    r = result(id, running, 0);
    assert_string_equal(str(&r, "stdout"), "finished across a restart");
    hc_resp_free(&r);
}

static void test_running_at_start_expires(void **state)
{
    (void)state;
    char id[64], tok[65], ex[64];
    node("exec-restart-timeout", 1, id, tok);
    submit(id, "sleep 100", 1, ex);
    hc_resp_t r = fetch(tok, 0);
    hc_resp_free(&r);
    hc_server_kill9(srv);
    hc_server_restart(srv);
    r = result(id, ex, 10);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "timeout");
    hc_resp_free(&r);
}

static void stop_agent(const char *ex_id, const char *command, long timeout_s, int *exit_code, char **out, char **err,
                       int *skip, void *arg)
{
    (void)ex_id, (void)err, (void)skip;
    int *mode = arg;
    char *o = malloc(256);
    /* the agent's echo ends in a newline (CRLF on Windows): the server trims exactly one */
    snprintf(o, 256, "%s|%ld%s", command, timeout_s, *mode == 0 ? "\r\n" : "\n\n");
    *out = o;
    *exit_code = *mode;
}

static void set_stream_status(const char *node_id, const char *value)
{
    char cmd[600];
    hc_server_stop(srv);
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s/data/hydracluster.db' \"UPDATE nodes SET stream_status = '%s' WHERE id = '%s'\"",
             srv->dir, value, node_id);
    assert_int_equal(system(cmd), 0);
    hc_server_restart(srv);
}

static void test_stream_stop(void **state)
{
    (void)state;
    char id[64], tok[65], path[160], where[200];
    node("exec-body", 1, id, tok);
    set_stream_status(id, "streaming");
    snprintf(where, sizeof(where), "nodes WHERE id = '%s' AND stream_status = 'streaming'", id);
    assert_int_equal(sql_count(where), 1);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/stream", id);

    /* the body answers: exec succeeded, with its stdout */
    int mode = 0;
    hc_agent_t *agent = hc_agent_start(srv, tok, 20, stop_agent, &mode);
    hc_resp_t r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "ok");
    assert_string_equal(str(&r, "exec"), "exec succeeded");
    assert_string_equal(str(&r, "output"), "hydrabody stream-stop --now|2");
    hc_resp_free(&r);
    snprintf(where, sizeof(where), "nodes WHERE id = '%s' AND stream_status = 'idle'", id);
    assert_int_equal(sql_count(where), 1);
    snprintf(where, sizeof(where), "audit WHERE action = 'node.stream_stop' AND target = '%s'", id);
    assert_int_equal(sql_count(where), 1);

    /* a non-zero exit: exec failed */
    mode = 3;
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "exec"), "exec failed");
    assert_string_equal(str(&r, "output"), "hydrabody stream-stop --now|2\n");
    hc_resp_free(&r);
    assert_int_equal(hc_agent_stop(agent), 2);

    /* nobody answers within streams.stop_timeout: timed out, state cleared
     * anyway, and the stale stop command does not stay queued */
    set_stream_status(id, "streaming");
    double t0 = hc_now_ms();
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    double dt = hc_now_ms() - t0;
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "status"), "ok");
    assert_string_equal(str(&r, "exec"), "exec timed out");
    assert_true(dt >= 1900 && dt < 5000);
    hc_resp_free(&r);
    snprintf(where, sizeof(where), "nodes WHERE id = '%s' AND stream_status = 'idle'", id);
    assert_int_equal(sql_count(where), 1);
    usleep(300 * 1000);
    r = fetch(tok, 0);
    assert_int_equal(r.status, 204);
    hc_resp_free(&r);

    r = hc_json(srv, "DELETE", "/api/v1/nodes/node-nope/stream", TEST_ADMIN_TOKEN, NULL);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
    /* a pending node: state cleared, the stop cannot be sent */
    char pid[64], ptok[65];
    node("exec-body-pending", 0, pid, ptok);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/stream", pid);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "exec"), "exec failed");
    hc_resp_free(&r);
}

static void test_heartbeat_pending_and_node_delete(void **state)
{
    (void)state;
    char id[64], tok[65], a[64], b[64], path[160];
    node("exec-hb", 1, id, tok);
    hc_resp_t r = hc_heartbeat(srv, tok, "{\"stream_status\":\"streaming\"}");
    assert_int_equal(r.status, 200);
    assert_int_equal(num(&r, "exec_pending"), 0);
    hc_resp_free(&r);
    submit(id, "one", 10, a);
    submit(id, "two", 10, b);
    r = hc_heartbeat(srv, tok, NULL);
    assert_int_equal(num(&r, "exec_pending"), 2);
    hc_resp_free(&r);
    r = fetch(tok, 0);
    hc_resp_free(&r);
    r = hc_heartbeat(srv, tok, NULL);
    assert_int_equal(num(&r, "exec_pending"), 1); /* handed out: no longer pending */
    hc_resp_free(&r);

    /* a stop clears the state; the next heartbeat that reports streaming sets it again */
    json_t *n = hc_node_get(srv, id);
    assert_string_equal(json_string_value(json_object_get(n, "stream_status")), "streaming");
    json_decref(n);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/stream", id);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "exec"), "exec timed out"); /* nobody polls */
    hc_resp_free(&r);
    n = hc_node_get(srv, id);
    assert_string_equal(json_string_value(json_object_get(n, "stream_status")), "idle");
    json_decref(n);
    r = hc_heartbeat(srv, tok, "{\"stream_status\":\"streaming\"}");
    hc_resp_free(&r);
    n = hc_node_get(srv, id);
    assert_string_equal(json_string_value(json_object_get(n, "stream_status")), "streaming");
    json_decref(n);

    /* deleting the node drops its commands, answers its parked poll and result waiters */
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec/%s", id, b);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL); /* nothing pending: the poll parks */
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    fetcher_t f = {.wait = 20};
    snprintf(f.tok, sizeof(f.tok), "%s", tok);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fetch_thread, &f), 0);
    result_waiter_t w = {.wait = 20};
    snprintf(w.node, sizeof(w.node), "%s", id);
    snprintf(w.ex, sizeof(w.ex), "%s", a); /* running: its waiter parks */
    pthread_t t2;
    assert_int_equal(pthread_create(&t2, NULL, result_thread, &w), 0);
    usleep(300 * 1000);
    double t0 = hc_now_ms();
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", id);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    pthread_join(t2, NULL);
    assert_int_equal(w.status, 404);
    assert_true(w.done_ms - t0 < 2000);
    pthread_join(t, NULL);
    /* the poll: deleted under it (204), or its token now refused (401) */
    assert_true(f.status == 204 || f.status == 401);
    assert_true(f.done_ms - t0 < 2000);
    char where[200];
    snprintf(where, sizeof(where), "exec WHERE node_id = '%s'", id);
    assert_int_equal(sql_count(where), 0);
    r = result(id, b, 0);
    hc_assert_error(&r, 404, "not_found");
    hc_resp_free(&r);
}

static void test_metrics(void **state)
{
    (void)state;
    char id[64], tok[65], ex[64];
    node("exec-metrics", 1, id, tok);
    submit(id, "queued for metrics", 10, ex);
    hc_resp_t r = hc_get(srv, "/metrics", TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "hydracluster_exec_queued "));
    assert_non_null(strstr(r.body, "hydracluster_exec_oldest_queued_age_seconds "));
    assert_null(strstr(r.body, "hydracluster_exec_queued 0\n"));
    hc_resp_free(&r);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", id);
    r = hc_json(srv, "DELETE", path, TEST_ADMIN_TOKEN, NULL);
    hc_resp_free(&r);
}

static void test_results_pruned_after_retention(void **state)
{
    (void)state;
    hc_server_t *main_srv = srv;
    srv = hc_server_start(NULL, "exec:\n  result_retention: 2s\n");
    char id[64], tok[65], ex[64], keep[64];
    node("exec-prune", 1, id, tok);
    submit(id, "old", 10, ex);
    hc_resp_t r = fetch(tok, 0);
    hc_resp_free(&r);
    r = report(tok, ex, 0, "bye", "");
    hc_resp_free(&r);
    submit(id, "still queued", 10, keep);
    r = result(id, ex, 0);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    char where[200];
    snprintf(where, sizeof(where), "exec WHERE id = '%s'", ex);
    int gone = 0;
    for (int i = 0; i < 80 && !gone; i++) {
        usleep(100 * 1000);
        r = result(id, ex, 0);
        gone = r.status == 404 && sql_count(where) == 0;
        hc_resp_free(&r);
    }
    assert_true(gone);
    /* a queued command is never pruned */
    r = result(id, keep, 0);
    assert_int_equal(r.status, 202);
    hc_resp_free(&r);
    hc_server_free(srv);
    srv = main_srv;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_fetch_result),
        cmocka_unit_test(test_fifo_and_failed),
        cmocka_unit_test(test_cross_node_unknown_and_not_dispatched),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_pending_node),
        cmocka_unit_test(test_cancel_and_purge),
        cmocka_unit_test(test_timeout_expiry),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_long_poll_woken_from_another_worker),
        cmocka_unit_test(test_dead_long_poll_does_not_swallow_a_command),
        cmocka_unit_test(test_concurrent_fetches_get_it_once),
        cmocka_unit_test(test_result_wait),
        cmocka_unit_test(test_queue_survives_kill9),
        cmocka_unit_test(test_running_at_start_expires),
        cmocka_unit_test(test_stream_stop),
        cmocka_unit_test(test_heartbeat_pending_and_node_delete),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_results_pruned_after_retention),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
