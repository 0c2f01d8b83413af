/* The registry's id-ordered index (keyset paging walks it) and the interned
 * node strings: order after inserts and removals, seek semantics, sharing
 * and reference counts, and a node's JSON from the streaming serialiser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "intern.h"
#include "node_json.h"
#include "registry.h"

static int setup(void **state)
{
    (void)state;
    return registry_init();
}

static void check_sorted(size_t want)
{
    size_t n = 0;
    node_t *prev = NULL, *cur;
    for (size_t i = 0; (cur = registry_node_at(i)) != NULL; i++, n++) {
        if (prev != NULL && strcmp(prev->id, cur->id) >= 0)
            fail_msg("index out of order at %zu: %s then %s", i, prev->id, cur->id);
        assert_ptr_equal(registry_node_find(cur->id), cur);
        prev = cur;
    }
    assert_int_equal(n, want);
    assert_int_equal(registry_node_count(), want);
}

static void test_order_seek_remove(void **state)
{
    (void)state;
    lock_take(&registry_nodes_lock);
    srand(7);
    enum { N = 3000 };
    for (int i = 0; i < N; i++) {
        node_t *n = registry_node_new();
        assert_non_null(n);
        snprintf(n->id, sizeof(n->id), "node-%08x%04d", (unsigned)rand(), i);
        assert_int_equal(registry_node_insert(n), 0);
    }
    check_sorted(N);
    /* seek: the first id after the one given, whether it exists or not */
    node_t *k = registry_node_at(100);
    assert_int_equal(registry_node_seek(k->id), 101);
    char before[NODE_ID_MAX];
    snprintf(before, sizeof(before), "%s", k->id);
    before[strlen(before) - 1]--; /* sorts just before k */
    assert_int_equal(registry_node_seek(before), 100);
    assert_int_equal(registry_node_seek(NULL), 0);
    assert_int_equal(registry_node_seek(""), 0);
    assert_int_equal(registry_node_seek("~"), N);
    assert_null(registry_node_at(N));
    /* removals keep it exact, from the ends and the middle */
    registry_node_remove(registry_node_at(0));
    registry_node_remove(registry_node_at(N - 2));
    for (int i = 0; i < 500; i++)
        registry_node_remove(registry_node_at((size_t)rand() % registry_node_count()));
    check_sorted(N - 502);
    lock_give(&registry_nodes_lock);
}

static void test_interned_strings(void **state)
{
    (void)state;
    char a[32], b[32];
    snprintf(a, sizeof(a), "bxl%d", 1);
    snprintf(b, sizeof(b), "bxl%d", 1);
    const char *x = intern_get(a), *y = intern_get(b);
    assert_ptr_equal(x, y); /* equal text: one copy */
    assert_ptr_not_equal(x, a);
    assert_string_equal(x, "bxl1");
    assert_ptr_equal(intern_get(""), intern_get(NULL)); /* the static empty string */
    const char *f = NULL;
    assert_int_equal(intern_set(&f, "bxl1"), 0);
    assert_ptr_equal(f, x);
    assert_int_equal(intern_set(&f, "bxl1"), 0); /* unchanged: same reference */
    assert_ptr_equal(f, x);
    assert_int_equal(intern_set(&f, "ams2"), 0);
    assert_string_equal(f, "ams2");
    intern_put(f);
    intern_put(x);
    intern_put(y); /* the last reference: freed (ASan would see a use after this) */
    intern_put(NULL);
    intern_put("");
    const char *z = intern_get("bxl1");
    assert_string_equal(z, "bxl1");
    intern_put(z);
}

static void test_node_json_matches_jansson(void **state)
{
    (void)state;
    node_t *n = registry_node_new();
    assert_non_null(n);
    snprintf(n->id, sizeof(n->id), "node-json");
    assert_int_equal(intern_set(&n->name, "q\"uote\\ back\tslash \x01 \xc3\xa9t\xc3\xa9"), 0);
    assert_int_equal(intern_set(&n->district, "d/1"), 0);
    json_decref(n->roles);
    n->roles = json_pack("[s,s]", "render-node", "hydraguard-air");
    json_decref(n->diagnostics);
    n->diagnostics = json_pack("{s:s}", "wireguard", "up");
    n->last_seen = 1800000000;
    n->enrolled_at = 1700000000;
    n->flag_update_services = n->flag_reprovision = 1;
    n->flags_generation = 12;
    n->drain = 1;
    for (int online = 0; online < 2; online++) {
        int64_t now = online ? 1800000010 : 1800009999;
        char mem[64]; /* small on purpose: the buffer moves to the heap */
        node_json_buf_t b = {.p = mem, .cap = sizeof(mem), .borrowed = 1};
        node_json_append(&b, n, now, 90000);
        assert_false(b.oom);
        json_error_t je;
        json_t *mine = json_loadb(b.p, b.len, 0, &je);
        if (mine == NULL)
            fail_msg("not JSON: %s: %.*s", je.text, (int)b.len, b.p);
        json_t *theirs = node_to_json(n, now, 90000);
        assert_true(json_equal(mine, theirs));
        char *x = json_dumps(mine, JSON_COMPACT), *y = json_dumps(theirs, JSON_COMPACT);
        assert_string_equal(x, y); /* the same members in the same order */
        free(x);
        free(y);
        json_decref(mine);
        json_decref(theirs);
        node_json_buf_free(&b);
    }
    registry_node_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_seek_remove),
        cmocka_unit_test(test_interned_strings),
        cmocka_unit_test(test_node_json_matches_jansson),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
