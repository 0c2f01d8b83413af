/*
 * config.yaml's loader, private to server/config*.c: the key kinds, the walk
 * context and the typed setters. config.c holds the key table and the walk,
 * config_values.c the scalar and list values, config_roles.c role_catalog
 * and its recipes. The YAML itself is read by yaml_tree.c.
 */
#ifndef HC_CONFIG_INTERNAL_H
#define HC_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "yaml_tree.h"

#define MS_PER_S 1000ULL
#define MS_PER_M (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_M)
#define FOREVER ((uint64_t)INT64_MAX)

typedef enum {
    K_SECTION,    /* a mapping of further keys */
    K_TEXT,       /* any non-blank text, may span lines (a command) */
    K_PATH,       /* non-empty, one line */
    K_URL,        /* http:// or https:// */
    K_TOKEN,      /* a bearer token: visible ASCII, at least TOKEN_MIN_LEN */
    K_FILE,       /* a readable regular file */
    K_TOKEN_FILE, /* a file holding a K_TOKEN */
    K_BOOL,
    K_UINT,
    K_DURATION, /* stored in ms */
    K_SECONDS,  /* a duration stored in whole seconds */
    K_LISTEN,
    K_PROXIES,
    K_ROLES,
    K_NAME,       /* 1..64 of [A-Za-z0-9._-]: a role name, a release channel */
    K_HEAD_ROLES, /* a list of K_NAME: heads.roles */
    K_CHOICE, /* one of key_def_t.choices ("a|b|c"), kept as the string */
} kind_t;

typedef struct {
    const char *key; /* full dotted name */
    kind_t kind;
    size_t off, size; /* the field in hc_config_t */
    uint64_t min, max;
    bool nullable; /* "key:" or "key: null" unsets it */
    const char *choices; /* K_CHOICE: the allowed values, '|'-separated */
} key_def_t;

typedef const yaml_tree_node_t ynode_t;

typedef struct {
    const yaml_tree_t *tree;
    const char *path;
    char *err;
    size_t errlen;
    size_t expanded; /* recipe nodes produced so far, over the whole file */
    const char *recipe_key;
    ynode_t *cert_node, *key_node, *token_node, *token_file_node;
} ctx_t;

/* err = "path:line:col: message" (n NULL: no position), one line; returns -1 */
int config_fail(ctx_t *c, ynode_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* the scalar's text (through an alias), NULL for a mapping or a list */
const char *config_text(ynode_t *n);
bool config_is_plain(ynode_t *n);
bool config_is_null(ynode_t *n);
const char *config_type_name(ynode_t *n);
int config_replace_str(ctx_t *c, ynode_t *n, char **dst, const char *v);
void config_free_strs(char **v, size_t n);

/* config_values.c: the value of key d in v, stored into cfg */
int config_set_bool(ctx_t *c, const key_def_t *d, ynode_t *v, int *dst);
int config_set_uint(ctx_t *c, const key_def_t *d, ynode_t *v, void *field);
int config_set_duration(ctx_t *c, const key_def_t *d, ynode_t *v, void *field);
int config_set_string(ctx_t *c, const key_def_t *d, ynode_t *v, hc_config_t *cfg);
int config_set_list(ctx_t *c, const key_def_t *d, ynode_t *v, hc_config_t *cfg);
int config_set_head_roles(ctx_t *c, const key_def_t *d, ynode_t *v, hc_config_t *cfg);

/* config_roles.c */
int config_set_roles(ctx_t *c, const key_def_t *d, ynode_t *v, hc_config_t *cfg);
void config_free_roles(config_role_t *roles, size_t n);

#endif
