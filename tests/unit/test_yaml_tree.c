/*
 * Unit tests of server/yaml_tree.c, the YAML reader of config.yaml and
 * nodes.yaml: positions, aliases, `<<` merges, duplicate keys, the bounds
 * (depth; alias expansion by its ratio to the document's size, immediate and
 * deferred), recursive aliases, second documents, syntax errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "yaml_tree.h"

static const yaml_tree_opts_t strict = {.syntax_label = "malformed YAML", .max_depth = 64};
static const yaml_tree_opts_t lenient = {
    .syntax_label = "invalid YAML", .max_depth = 64, .allow_recursion = 1, .defer_expansion_check = 1};

static yaml_tree_t *parse_ok(const char *text, const yaml_tree_opts_t *o)
{
    char err[512] = "";
    yaml_tree_t *t = NULL;
    if (yaml_tree_parse("t.yaml", text, strlen(text), o, &t, err, sizeof(err)) != 0)
        fail_msg("refused: %s\n%s", err, text);
    return t;
}

static void expect_refused(const char *text, const yaml_tree_opts_t *o, const char *where, const char *reason)
{
    char err[512] = "";
    yaml_tree_t *t = NULL;
    if (yaml_tree_parse("t.yaml", text, strlen(text), o, &t, err, sizeof(err)) == 0) {
        yaml_tree_free(t);
        fail_msg("accepted, wanted \"%s\":\n%s", reason, text);
    }
    assert_null(t);
    if (strncmp(err, where, strlen(where)) != 0 || strstr(err, reason) == NULL)
        fail_msg("got \"%s\"\nwant \"%s ... %s\"", err, where, reason);
}

static const char *text_of(const yaml_tree_node_t *n)
{
    n = yaml_tree_deref(n);
    assert_int_equal(n->kind, YAML_TREE_SCALAR);
    return n->u.s.text;
}

static void test_positions_and_kinds(void **state)
{
    (void)state;
    yaml_tree_t *t = parse_ok("a: 1\nb:\n  - x\n  - 'y'\nc: {d: e}\n", &strict);
    const yaml_tree_node_t *root = yaml_tree_root(t);
    assert_int_equal(root->kind, YAML_TREE_MAP);
    assert_int_equal(root->u.map.n, 3);
    const yaml_tree_node_t *b = yaml_tree_map_get(root, "b");
    assert_int_equal(b->kind, YAML_TREE_SEQ);
    assert_int_equal(b->line, 3);
    assert_int_equal(b->col, 3);
    assert_int_equal(b->u.seq.n, 2);
    assert_true(b->u.seq.items[0]->flags & YAML_TREE_PLAIN);
    assert_false(b->u.seq.items[1]->flags & YAML_TREE_PLAIN);
    assert_string_equal(text_of(b->u.seq.items[1]), "y");
    const yaml_tree_node_t *c = yaml_tree_map_get(root, "c");
    assert_int_equal(c->line, 5);
    assert_int_equal(c->col, 4);
    assert_string_equal(text_of(yaml_tree_map_get(c, "d")), "e");
    assert_null(yaml_tree_map_get(root, "z"));
    assert_int_equal(yaml_tree_written(t), 11);
    assert_int_equal(yaml_tree_expanded(t), 11);
    yaml_tree_free(t);
    /* nothing at all: no root */
    t = parse_ok("# only a comment\n", &strict);
    assert_null(yaml_tree_root(t));
    yaml_tree_free(t);
}

static void test_aliases_point_at_their_anchor(void **state)
{
    (void)state;
    yaml_tree_t *t = parse_ok("base: &b [1, 2, 3]\nuse: *b\n", &strict);
    const yaml_tree_node_t *use = yaml_tree_map_get(yaml_tree_root(t), "use");
    assert_int_equal(use->kind, YAML_TREE_ALIAS);
    /* the alias has its own position; deref gives the anchored node, not a copy */
    assert_int_equal(use->line, 2);
    assert_int_equal(use->col, 6);
    assert_ptr_equal(yaml_tree_deref(use), yaml_tree_map_get(yaml_tree_root(t), "base"));
    assert_int_equal(yaml_tree_size(use), 4);
    assert_int_equal(yaml_tree_expanded(t), yaml_tree_written(t) + 3);
    yaml_tree_free(t);
    expect_refused("a: *nowhere\n", &strict, "t.yaml:1:4:", "malformed YAML: unknown anchor *nowhere");
}

static void test_merge_keys(void **state)
{
    (void)state;
    yaml_tree_t *t = parse_ok("d: &d {a: 1, b: 2, c: 3}\n"
                              "e: &e {c: 30, x: 40}\n"
                              "m:\n"
                              "  <<: [*d, *e]\n"
                              "  b: 20\n",
                              &strict);
    const yaml_tree_node_t *m = yaml_tree_map_get(yaml_tree_root(t), "m");
    /* as written: <<, b; then merged: a, c (from d, which wins over e), x */
    assert_int_equal(m->u.map.n_explicit, 2);
    assert_int_equal(m->u.map.n, 5);
    assert_true(yaml_tree_is_merge_key(m->u.map.pairs[0].key));
    assert_string_equal(text_of(yaml_tree_map_get(m, "b")), "20");
    assert_string_equal(text_of(yaml_tree_map_get(m, "a")), "1");
    assert_string_equal(text_of(yaml_tree_map_get(m, "c")), "3");
    assert_string_equal(text_of(yaml_tree_map_get(m, "x")), "40");
    assert_null(yaml_tree_map_get(m, "<<"));
    yaml_tree_free(t);
    /* a merged mapping's own merges come along */
    t = parse_ok("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b}\n", &strict);
    const yaml_tree_node_t *c = yaml_tree_map_get(yaml_tree_root(t), "c");
    assert_string_equal(text_of(yaml_tree_map_get(c, "x")), "1");
    assert_string_equal(text_of(yaml_tree_map_get(c, "y")), "2");
    yaml_tree_free(t);
    /* a quoted "<<" is an ordinary key */
    t = parse_ok("a: {\"<<\": {x: 1}}\n", &strict);
    assert_non_null(yaml_tree_map_get(yaml_tree_map_get(yaml_tree_root(t), "a"), "<<"));
    yaml_tree_free(t);
    expect_refused("a: {<<: 5}\n", &strict, "t.yaml:1:9:", "\"<<\" must merge a mapping");
    expect_refused("a: {<<: [{x: 1}, [y]]}\n", &strict, "t.yaml:1:18:", "needs a mapping or a list of mappings");
    expect_refused("a: &a {<<: *a}\n", &lenient, "t.yaml:1:12:", "nested deeper without end");
}

static void test_duplicates_are_noted(void **state)
{
    (void)state;
    /* a big mapping after a bigger one: the key set is cleared per mapping */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text), "big:\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "  k%d: %d\n", i, i);
    n += (size_t)snprintf(text + n, sizeof(text) - n, "small:\n");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "  j%d: %d\n", i, i);
    snprintf(text + n, sizeof(text) - n, "  j7: again\n");
    yaml_tree_t *t = parse_ok(text, &strict);
    size_t index, first;
    assert_false(yaml_tree_map_dup(t, yaml_tree_map_get(yaml_tree_root(t), "big"), &index, &first));
    const yaml_tree_node_t *small = yaml_tree_map_get(yaml_tree_root(t), "small");
    assert_true(yaml_tree_map_dup(t, small, &index, &first));
    assert_int_equal(index, 40);
    assert_int_equal(first, 7);
    assert_int_equal(small->u.map.pairs[index].key->line, 243);
    yaml_tree_free(t);
    /* keys must be text */
    expect_refused("? [a]\n: b\n", &strict, "t.yaml:1:3:", "mapping keys must be strings, not a list");
}

static void test_depth(void **state)
{
    (void)state;
    char text[512] = "a: ";
    for (int i = 0; i < 70; i++)
        strcat(text, "[");
    for (int i = 0; i < 70; i++)
        strcat(text, "]");
    expect_refused(text, &strict, "t.yaml:1:", "nested more than 64 levels deep");
    /* shallow as written, too deep once expanded */
    strcpy(text, "a: &a [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
                 "b: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n");
    expect_refused(text, &strict, "t.yaml:2:", "(after expanding aliases)");
}

/* `filler` plain nodes, then a list of `width` items anchored and aliased `uses` times */
static char *aliased(size_t width, size_t uses, size_t filler)
{
    size_t cap = 64 + width * 4 + uses * 6 + filler * 4, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    len += (size_t)snprintf(s + len, cap - len, "z: [");
    for (size_t i = 0; i < filler; i++)
        len += (size_t)snprintf(s + len, cap - len, "%sf", i ? "," : "");
    len += (size_t)snprintf(s + len, cap - len, "]\nx: &x [");
    for (size_t i = 0; i < width; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s1", i ? "," : "");
    len += (size_t)snprintf(s + len, cap - len, "]\ny: [");
    for (size_t i = 0; i < uses; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s*x", i ? "," : "");
    snprintf(s + len, cap - len, "]\n");
    return s;
}

static void test_expansion_ratio(void **state)
{
    (void)state;
    /* a small document may expand a lot: ~2,300 written nodes, 300,000 added by aliases */
    char *s = aliased(1000, 300, 0);
    yaml_tree_t *t = parse_ok(s, &strict);
    assert_true(yaml_tree_expanded(t) > 300000);
    assert_true(yaml_tree_expanded(t) / yaml_tree_written(t) > 100);
    yaml_tree_free(t);
    free(s);
    /* ... but not without end: 500,000 added to 2,500 written */
    s = aliased(1000, 500, 0);
    expect_refused(s, &strict, "t.yaml:3:", "alias bomb");
    free(s);
    /* a large document may add as much as it has: 600,000 added to ~600,000 written before */
    s = aliased(1000, 600, 600000);
    yaml_tree_t *big = parse_ok(s, &strict);
    yaml_tree_free(big);
    free(s);
    /* deferred: read to the end, reported when asked */
    s = aliased(1000, 500, 0);
    t = parse_ok(s, &lenient);
    char err[512];
    assert_int_equal(yaml_tree_check_expansion(t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "alias bomb"));
    assert_int_equal(strncmp(err, "t.yaml:3:", 9), 0);
    yaml_tree_free(t);
    free(s);
}

static void test_billion_laughs_fails_fast(void **state)
{
    (void)state;
    char s[4096];
    size_t len = (size_t)snprintf(s, sizeof(s), "a0: &a0 \"lol\"\n");
    for (int lvl = 1; lvl <= 12; lvl++) {
        len += (size_t)snprintf(s + len, sizeof(s) - len, "a%d: &a%d [", lvl, lvl);
        for (int i = 0; i < 9; i++)
            len += (size_t)snprintf(s + len, sizeof(s) - len, "%s*a%d", i ? ", " : "", lvl - 1);
        len += (size_t)snprintf(s + len, sizeof(s) - len, "]\n");
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_refused(s, &strict, "t.yaml:", "alias bomb");
    /* deferred, it still reads to the end without expanding anything */
    yaml_tree_t *t = parse_ok(s, &lenient);
    assert_int_equal(yaml_tree_check_expansion(t, NULL, 0) == 0 ? 0 : -1, -1);
    yaml_tree_free(t);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 2);
}

static void test_recursion(void **state)
{
    (void)state;
    expect_refused("a: &x [1, *x]\n", &strict, "t.yaml:1:11:", "recursive");
    yaml_tree_t *t = parse_ok("a: &x [1, *x]\n", &lenient);
    const yaml_tree_node_t *a = yaml_tree_map_get(yaml_tree_root(t), "a");
    const yaml_tree_node_t *self = a->u.seq.items[1];
    assert_true(self->flags & YAML_TREE_RECURSIVE);
    assert_ptr_equal(yaml_tree_deref(self), a);
    assert_int_equal(yaml_tree_size(self), 1);
    yaml_tree_free(t);
}

static void test_documents_and_syntax(void **state)
{
    (void)state;
    yaml_tree_t *t = parse_ok("a: 1\n---\nb: 2\n", &strict);
    unsigned line, col, nline, ncol;
    assert_true(yaml_tree_second_document(t, &line, &col, &nline, &ncol));
    assert_int_equal(line, 2);
    assert_int_equal(col, 1);
    assert_int_equal(nline, 3);
    assert_int_equal(ncol, 1);
    assert_null(yaml_tree_map_get(yaml_tree_root(t), "b"));
    yaml_tree_free(t);
    t = parse_ok("---\na: 1\n...\n", &strict);
    assert_false(yaml_tree_second_document(t, &line, &col, &nline, &ncol));
    yaml_tree_free(t);
    expect_refused("a: [x\n", &strict, "t.yaml:2:1:", "malformed YAML: did not find expected");
    expect_refused("a:\n\tb: x\n", &lenient, "t.yaml:2:1:", "invalid YAML");
    expect_refused("a: \"x\\0y\"\n", &strict, "t.yaml:1:4:", "NUL");
    expect_refused("a: \xff\n", &strict, "t.yaml:1:4:", "not readable as YAML text");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_and_kinds),
        cmocka_unit_test(test_aliases_point_at_their_anchor),
        cmocka_unit_test(test_merge_keys),
        cmocka_unit_test(test_duplicates_are_noted),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_expansion_ratio),
        cmocka_unit_test(test_billion_laughs_fails_fast),
        cmocka_unit_test(test_recursion),
        cmocka_unit_test(test_documents_and_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
