/*
 * The YAML reader shared by config.yaml (server/config.c) and nodes.yaml
 * (fleet/import*.c): libyaml's event API builds one bounded tree, and the
 * callers walk it against their schema.
 *
 * What the tree gives its walkers:
 *  - every node with its 1-based line and column (an alias node has the
 *    position where the alias is written; yaml_tree_deref gives its target);
 *  - anchors and aliases resolved once: an alias points at its anchored node,
 *    nothing is copied;
 *  - `<<` merge keys resolved once (YAML 1.1): a mapping's pairs are the
 *    pairs as written (the `<<` ones included, see yaml_tree_is_merge_key),
 *    then the merged pairs whose key was not there yet (explicit keys win, an
 *    earlier merged mapping wins over a later one);
 *  - duplicate keys noted, not refused (the walkers say which key in their
 *    own words): yaml_tree_map_dup.
 *
 * Bounds, enforced while reading so that a hostile file fails fast in memory
 * proportional to its own size:
 *  - nesting depth, as written and after expanding aliases (opts.max_depth);
 *  - alias expansion by its ratio to the document's own size: the nodes that
 *    aliases add when expanded may be at most YAML_TREE_ALIAS_FLOOR plus the
 *    number of nodes written in the document. A small document may expand a
 *    lot (1,000 written nodes: about 400-fold), a large one only a little (4
 *    million written nodes: at most 2.1-fold), so the work of any walk is
 *    linear in the file's size while every real file passes. The check runs
 *    at each alias, so a "billion laughs" file stops at the alias that crosses
 *    it, after reading only what precedes it;
 *  - NUL characters in text are refused; recursive aliases (an alias inside
 *    the node it names) are refused unless opts.allow_recursion, and then
 *    count as one node: the walker bounds its own walk through them.
 *
 * Threads: any thread; a tree is not shared. Memory: a tree owns its nodes
 * and text (one arena); the input text may be freed after yaml_tree_parse.
 */
#ifndef HC_YAML_TREE_H
#define HC_YAML_TREE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define YAML_TREE_ALIAS_FLOOR 400000u

typedef enum {
    YAML_TREE_SCALAR = 1,
    YAML_TREE_SEQ,
    YAML_TREE_MAP,
    YAML_TREE_ALIAS,
} yaml_tree_kind_t;

#define YAML_TREE_PLAIN 1u     /* scalar written plain (no quotes, not a block scalar) */
#define YAML_TREE_TAGGED 2u    /* scalar with an explicit tag (!!str ...) */
#define YAML_TREE_RECURSIVE 4u /* alias inside the node it names */
#define YAML_TREE_HAS_DUP 8u   /* mapping with a duplicate key (yaml_tree_map_dup) */

typedef struct yaml_tree yaml_tree_t;
typedef struct yaml_tree_node yaml_tree_node_t;

typedef struct yaml_tree_pair {
    yaml_tree_node_t *key; /* as written: a scalar, or an alias of one */
    yaml_tree_node_t *value;
} yaml_tree_pair_t;

struct yaml_tree_node {
    uint8_t kind;  /* yaml_tree_kind_t */
    uint8_t flags; /* YAML_TREE_PLAIN ... */
    uint32_t line, col;
    uint32_t height; /* levels after expanding aliases; 1 for a scalar */
    union {
        struct {
            const char *text; /* NUL-terminated, no NUL inside */
            uint32_t len;
        } s;
        struct {
            yaml_tree_node_t **items;
            uint32_t n;
            uint64_t size; /* nodes after expanding aliases, this one included */
        } seq;
        struct {
            yaml_tree_pair_t *pairs;
            uint32_t n;          /* all pairs */
            uint32_t n_explicit; /* the first n_explicit are as written; the rest merged */
            uint64_t size;
        } map;
        struct {
            yaml_tree_node_t *target; /* never an alias itself */
        } alias;
    } u;
};

typedef struct yaml_tree_opts {
    /* how syntax errors start: "invalid YAML", "malformed YAML" */
    const char *syntax_label;
    unsigned max_depth;
    int allow_recursion;
    /* keep reading when the alias bound is crossed and report it only from
     * yaml_tree_check_expansion (for a walker whose own bounds should speak
     * first); merges are no longer resolved past that point */
    int defer_expansion_check;
} yaml_tree_opts_t;

/*
 * Reads text (len bytes; UTF-8, UTF-16 with BOM). Returns 0 and *out, or -1
 * with err = "name:line:col: reason" (or "name: reason") and *out NULL. A
 * file without any document gives a tree whose root is NULL.
 */
int yaml_tree_parse(const char *name, const char *text, size_t len, const yaml_tree_opts_t *opts, yaml_tree_t **out,
                    char *err, size_t errlen);
void yaml_tree_free(yaml_tree_t *t);

/* the first document's root node, NULL when the file holds none */
const yaml_tree_node_t *yaml_tree_root(const yaml_tree_t *t);
/* A second document was started (---): 1 with the positions of its start and
 * of its first node (0 when it has none yet), which is as far as the reader
 * went; 0 when the file holds at most one. */
int yaml_tree_second_document(const yaml_tree_t *t, unsigned *line, unsigned *col, unsigned *node_line,
                              unsigned *node_col);
/* With opts.defer_expansion_check: 0, or -1 with err as above. */
int yaml_tree_check_expansion(const yaml_tree_t *t, char *err, size_t errlen);
/* nodes written, and nodes after expanding every alias once where it stands */
uint64_t yaml_tree_written(const yaml_tree_t *t);
uint64_t yaml_tree_expanded(const yaml_tree_t *t);

static inline const yaml_tree_node_t *yaml_tree_deref(const yaml_tree_node_t *n)
{
    return n->kind == YAML_TREE_ALIAS ? n->u.alias.target : n;
}
/* nodes a full walk of n visits (a recursive alias counts as one) */
uint64_t yaml_tree_size(const yaml_tree_node_t *n);
/* a plain, untagged "<<" key */
int yaml_tree_is_merge_key(const yaml_tree_node_t *key);
/* 1 when map (a mapping) has a duplicate explicit key: pairs[*index] repeats
 * pairs[*first]'s key (the earliest such repeat). */
int yaml_tree_map_dup(const yaml_tree_t *t, const yaml_tree_node_t *map, size_t *index, size_t *first);
/* find the value of an explicit or merged key; NULL when absent */
const yaml_tree_node_t *yaml_tree_map_get(const yaml_tree_node_t *map, const char *key);

/* Writes "name:line:col: message" into err (or "name: message" when line is
 * 0): the one way the YAML reader and its walkers (config, import) say where
 * a file is wrong. Any thread. */
void yaml_tree_vmessage(char *err, size_t errlen, const char *name, unsigned line, unsigned col, const char *fmt,
                        va_list ap) __attribute__((format(printf, 6, 0)));

#endif
