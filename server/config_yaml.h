/*
 * Internal to the config loader: the parse context and the small YAML
 * helpers shared by server/config.c (the key table and the walk) and
 * server/config_roles.c (role_catalog and its recipes). Not for other
 * modules. Main thread only, inside config_load.
 */
#ifndef HC_CONFIG_YAML_H
#define HC_CONFIG_YAML_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"

#define ROLE_NAME_MAX 64
#define RECIPE_MAX_DEPTH 32
/* Aliases let a few lines name an exponentially large tree; the recipe
 * conversion is the only place that expands them, so it carries the budget. */
#define RECIPE_MAX_NODES 100000

typedef struct {
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t errlen;
    size_t expanded; /* recipe nodes produced so far, over the whole file */
    const char *recipe_key;
    yaml_node_t *cert_node, *key_node, *token_node, *token_file_node;
} ctx_t;

static inline int fail(ctx_t *c, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int fail(ctx_t *c, const yaml_node_t *n, const char *fmt, ...)
{
    if (c->err == NULL || c->errlen == 0)
        return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n != NULL)
        snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->path, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s", c->path, msg);
    /* keys and values are quoted into the message: keep it one line */
    for (char *p = c->err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return -1;
}

static inline yaml_node_t *node_at(ctx_t *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static inline const char *text(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static inline bool is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static inline bool is_null(const yaml_node_t *n)
{
    if (!is_plain(n))
        return false;
    const char *s = text(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static inline const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a scalar";
    }
}

static inline bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static inline int replace_str(ctx_t *c, const yaml_node_t *n, char **dst, const char *v)
{
    char *d = strdup(v);
    if (d == NULL)
        return fail(c, n, "out of memory");
    free(*dst);
    *dst = d;
    return 0;
}

/* role_catalog (server/config_roles.c): replaces cfg's catalog with the list
 * in v, or -1 with the error in c; key names it in messages. */
int config_roles_set(ctx_t *c, const char *key, yaml_node_t *v, hc_config_t *cfg);
void config_roles_free(config_role_t *roles, size_t n);

#endif
