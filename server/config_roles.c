/*
 * config.yaml's role_catalog: each role's name, description and recipe. A
 * recipe is the one place where aliases are expanded (into its JSON), so its
 * walk carries the bounds: RECIPE_MAX_DEPTH levels and RECIPE_MAX_NODES values
 * over the whole file, which also bound a walk through a recursive alias.
 */
#include "config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROLE_NAME_MAX 64
#define RECIPE_MAX_DEPTH 32
/* Aliases let a few lines name an exponentially large tree; the recipe
 * conversion is the only place that expands them, so it carries the budget. */
#define RECIPE_MAX_NODES 100000

static json_t *recipe_node(ctx_t *c, ynode_t *n, int depth);

/* Plain scalars resolve like YAML 1.2's core schema; yes/no/on/off stay
 * strings here (a recipe may well hold the country code "no"). */
static json_t *recipe_scalar(ynode_t *n)
{
    const char *s = config_text(n);
    size_t len = yaml_tree_deref(n)->u.s.len;
    if (!config_is_plain(n))
        return json_stringn(s, len);
    if (config_is_null(n))
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    const char *digits = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    size_t nd = strspn(digits, "0123456789");
    if (nd > 0 && digits[nd] == '\0') {
        /* a leading zero ("007") or an out-of-range number stays text: nothing is lost */
        if (nd > 1 && digits[0] == '0')
            return json_stringn(s, len);
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        return errno == 0 ? json_integer(v) : json_stringn(s, len);
    }
    const char *p = digits;
    size_t whole = strspn(p, "0123456789"), frac = 0;
    p += whole;
    bool dot = *p == '.';
    if (dot) {
        frac = strspn(p + 1, "0123456789");
        p += 1 + frac;
    }
    if ((whole > 0 || frac > 0) && (*p == 'e' || *p == 'E')) {
        const char *e = p + 1 + (p[1] == '-' || p[1] == '+');
        size_t ed = strspn(e, "0123456789");
        p = ed > 0 ? e + ed : s; /* s: not a number */
    }
    if ((whole > 0 || frac > 0) && p != s && *p == '\0') {
        double d = strtod(s, NULL);
        if (isfinite(d))
            return json_real(d);
    }
    return json_stringn(s, len);
}

/* The pairs as the reader resolved them: the explicit ones (the `<<` keys
 * skipped), then what the merge keys brought whose key was not there yet. */
static json_t *recipe_mapping(ctx_t *c, ynode_t *n, int depth)
{
    ynode_t *m = yaml_tree_deref(n);
    json_t *obj = json_object();
    if (obj == NULL) {
        config_fail(c, n, "out of memory");
        return NULL;
    }
    size_t dup = SIZE_MAX, first;
    if (!yaml_tree_map_dup(c->tree, m, &dup, &first))
        dup = SIZE_MAX;
    for (uint32_t i = 0; i < m->u.map.n; i++) {
        ynode_t *kn = m->u.map.pairs[i].key, *vn = m->u.map.pairs[i].value;
        const char *k = config_text(kn);
        if (i < m->u.map.n_explicit && yaml_tree_is_merge_key(kn))
            continue;
        if (i == dup) {
            config_fail(c, kn, "duplicate key \"%s\" in \"%s\"", k, c->recipe_key);
            goto bad;
        }
        json_t *val = recipe_node(c, vn, depth + 1);
        if (val == NULL)
            goto bad;
        if (json_object_set_new(obj, k, val) != 0) {
            config_fail(c, kn, "out of memory");
            goto bad;
        }
    }
    return obj;
bad:
    json_decref(obj);
    return NULL;
}

static json_t *recipe_node(ctx_t *c, ynode_t *n, int depth)
{
    if (depth > RECIPE_MAX_DEPTH) {
        config_fail(c, n, "\"%s\" is nested deeper than %d levels (or an alias contains itself)", c->recipe_key,
             RECIPE_MAX_DEPTH);
        return NULL;
    }
    if (++c->expanded > RECIPE_MAX_NODES) {
        config_fail(c, n, "\"%s\": recipes expand to more than %d values (aliases?)", c->recipe_key, RECIPE_MAX_NODES);
        return NULL;
    }
    json_t *j = NULL;
    ynode_t *d = yaml_tree_deref(n);
    if (d->kind == YAML_TREE_MAP)
        return recipe_mapping(c, n, depth);
    if (d->kind == YAML_TREE_SCALAR) {
        j = recipe_scalar(n);
    } else if (d->kind == YAML_TREE_SEQ) {
        j = json_array();
        for (uint32_t i = 0; j != NULL && i < d->u.seq.n; i++) {
            json_t *v = recipe_node(c, d->u.seq.items[i], depth + 1);
            if (v == NULL) {
                json_decref(j);
                return NULL;
            }
            if (json_array_append_new(j, v) != 0) {
                json_decref(j);
                j = NULL;
            }
        }
    }
    if (j == NULL)
        config_fail(c, n, "out of memory");
    return j;
}

static bool valid_role_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > ROLE_NAME_MAX)
        return false;
    /* the same charset as PUT /api/v1/roles/{name} (registry_role_name_ok) */
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !isdigit((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return false;
    return true;
}

void config_free_roles(config_role_t *roles, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(roles[i].name);
        free(roles[i].description);
        free(roles[i].recipe_json);
    }
    free(roles);
}

static int load_role(ctx_t *c, ynode_t *n, size_t idx, config_role_t *role)
{
    char where[64], key[96];
    snprintf(where, sizeof(where), "role_catalog[%zu]", idx);
    ynode_t *m = yaml_tree_deref(n);
    if (m->kind != YAML_TREE_MAP)
        return config_fail(c, n, "\"%s\" must be a mapping with name, description and recipe, not %s", where, config_type_name(n));
    static const char *const known[] = {"name", "description", "recipe"};
    size_t dup = SIZE_MAX, first;
    if (!yaml_tree_map_dup(c->tree, m, &dup, &first))
        dup = SIZE_MAX;
    /* as written: a "<<" here is an unknown key, as in the sections */
    for (uint32_t i = 0; i < m->u.map.n_explicit; i++) {
        ynode_t *kn = m->u.map.pairs[i].key, *vn = m->u.map.pairs[i].value;
        const char *k = config_text(kn);
        if (k == NULL)
            return config_fail(c, kn, "keys under \"%s\" must be names, not %s", where, config_type_name(kn));
        size_t which = 0;
        while (which < 3 && strcmp(k, known[which]) != 0)
            which++;
        snprintf(key, sizeof(key), "%s.%s", where, k);
        if (which == 3)
            return config_fail(c, kn, "unknown key \"%s\"", key);
        if (i == dup)
            return config_fail(c, kn, "duplicate key \"%s\"", key);
        if (which == 2) {
            if (config_is_null(vn))
                continue;
            if (yaml_tree_deref(vn)->kind != YAML_TREE_MAP)
                return config_fail(c, vn, "\"%s\" must be a mapping, not %s", key, config_type_name(vn));
            c->recipe_key = key;
            json_t *j = recipe_node(c, vn, 0);
            if (j == NULL)
                return -1;
            char *dump = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            if (dump == NULL)
                return config_fail(c, vn, "out of memory");
            free(role->recipe_json);
            role->recipe_json = dump;
            continue;
        }
        const char *s = config_text(vn);
        if (s == NULL)
            return config_fail(c, vn, "\"%s\" must be a string, not %s", key, config_type_name(vn));
        if (which == 0 && config_is_null(vn))
            return config_fail(c, vn, "\"%s\" needs a value", key);
        if (which == 0 && !valid_role_name(s))
            return config_fail(c, vn, "\"%s\": \"%s\" is not a role name (1-%d lowercase letters, digits, '-', '_', '.')", key, s,
                        ROLE_NAME_MAX);
        if (config_replace_str(c, vn, which == 0 ? &role->name : &role->description, config_is_null(vn) ? "" : s) != 0)
            return -1;
    }
    if (role->name == NULL)
        return config_fail(c, n, "\"%s\" needs a \"name\"", where);
    if ((role->description == NULL && config_replace_str(c, n, &role->description, "") != 0) ||
        (role->recipe_json == NULL && config_replace_str(c, n, &role->recipe_json, "{}") != 0))
        return -1;
    return 0;
}

int config_set_roles(ctx_t *c, const key_def_t *d, ynode_t *v, hc_config_t *cfg)
{
    ynode_t *seq = yaml_tree_deref(v);
    if (seq->kind != YAML_TREE_SEQ)
        return config_fail(c, v, "\"%s\" must be a list of roles, not %s", d->key, config_type_name(v));
    size_t n = seq->u.seq.n;
    config_role_t *roles = calloc(n ? n : 1, sizeof(*roles));
    json_t *seen = json_object(); /* a hash set: a long catalog must not cost n^2 compares */
    if (roles == NULL || seen == NULL) {
        free(roles);
        json_decref(seen);
        return config_fail(c, v, "out of memory");
    }
    size_t i = 0;
    for (; i < n; i++) {
        ynode_t *item = seq->u.seq.items[i];
        if (load_role(c, item, i, &roles[i]) != 0)
            break;
        if (json_object_get(seen, roles[i].name) != NULL) {
            config_fail(c, item, "role \"%s\" is listed twice in \"%s\"", roles[i].name, d->key);
            break;
        }
        if (json_object_set_new(seen, roles[i].name, json_true()) != 0) {
            config_fail(c, item, "out of memory");
            break;
        }
    }
    json_decref(seen);
    if (i < n) {
        config_free_roles(roles, n);
        return -1;
    }
    config_free_roles(cfg->role_catalog, cfg->role_catalog_count);
    cfg->role_catalog = roles;
    cfg->role_catalog_count = n;
    return 0;
}

