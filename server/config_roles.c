/*
 * config.yaml's role_catalog: the seed of the role catalog, each role with a
 * recipe converted from YAML to JSON (anchors, aliases and << merge keys
 * work; an alias bomb is refused by the RECIPE_MAX_NODES budget).
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>

#include "config_yaml.h"

static json_t *recipe_node(ctx_t *c, yaml_node_t *n, int depth);

/* Plain scalars resolve like YAML 1.2's core schema; yes/no/on/off stay
 * strings here (a recipe may well hold the country code "no"). */
static json_t *recipe_scalar(yaml_node_t *n)
{
    const char *s = text(n);
    size_t len = n->data.scalar.length;
    if (!is_plain(n))
        return json_stringn(s, len);
    if (is_null(n))
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

static bool is_merge_key(const yaml_node_t *k)
{
    return is_plain(k) && strcmp(text(k), "<<") == 0;
}

/* YAML merge: keys already present (explicit ones, earlier merges) win. */
static int recipe_merge(ctx_t *c, json_t *obj, yaml_node_t *src, int depth)
{
    if (src->type != YAML_MAPPING_NODE)
        return fail(c, src, "\"%s\": \"<<\" must merge a mapping or a list of mappings", c->recipe_key);
    json_t *m = recipe_node(c, src, depth);
    if (m == NULL)
        return -1;
    const char *k;
    json_t *val;
    int rc = 0;
    json_object_foreach(m, k, val)
    {
        if (json_object_get(obj, k) == NULL && json_object_set(obj, k, val) != 0) {
            rc = fail(c, src, "out of memory");
            break;
        }
    }
    json_decref(m);
    return rc;
}

static json_t *recipe_mapping(ctx_t *c, yaml_node_t *n, int depth)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        fail(c, n, "out of memory");
        return NULL;
    }
    yaml_node_t *merge = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(c, p->key), *vn = node_at(c, p->value);
        const char *k = text(kn);
        if (k == NULL) {
            fail(c, kn, "\"%s\": keys must be strings, not %s", c->recipe_key, type_name(kn));
            goto bad;
        }
        if (is_merge_key(kn) && merge == NULL) {
            merge = vn;
            continue;
        }
        if (is_merge_key(kn) || json_object_get(obj, k) != NULL) {
            fail(c, kn, "duplicate key \"%s\" in \"%s\"", k, c->recipe_key);
            goto bad;
        }
        json_t *val = recipe_node(c, vn, depth + 1);
        if (val == NULL)
            goto bad;
        if (json_object_set_new(obj, k, val) != 0) {
            fail(c, kn, "out of memory");
            goto bad;
        }
    }
    if (merge != NULL && merge->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = merge->data.sequence.items.start; it < merge->data.sequence.items.top; it++)
            if (recipe_merge(c, obj, node_at(c, *it), depth + 1) != 0)
                goto bad;
    } else if (merge != NULL && recipe_merge(c, obj, merge, depth + 1) != 0) {
        goto bad;
    }
    return obj;
bad:
    json_decref(obj);
    return NULL;
}

static json_t *recipe_node(ctx_t *c, yaml_node_t *n, int depth)
{
    if (depth > RECIPE_MAX_DEPTH) {
        fail(c, n, "\"%s\" is nested deeper than %d levels (or an alias contains itself)", c->recipe_key,
             RECIPE_MAX_DEPTH);
        return NULL;
    }
    if (++c->expanded > RECIPE_MAX_NODES) {
        fail(c, n, "\"%s\": recipes expand to more than %d values (aliases?)", c->recipe_key, RECIPE_MAX_NODES);
        return NULL;
    }
    json_t *j = NULL;
    if (n->type == YAML_MAPPING_NODE)
        return recipe_mapping(c, n, depth);
    if (n->type == YAML_SCALAR_NODE) {
        j = recipe_scalar(n);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        j = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; j != NULL && it < n->data.sequence.items.top;
             it++) {
            json_t *v = recipe_node(c, node_at(c, *it), depth + 1);
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
        fail(c, n, "out of memory");
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

void config_roles_free(config_role_t *roles, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(roles[i].name);
        free(roles[i].description);
        free(roles[i].recipe_json);
    }
    free(roles);
}

static int load_role(ctx_t *c, yaml_node_t *n, size_t idx, config_role_t *role)
{
    char where[64], key[96];
    snprintf(where, sizeof(where), "role_catalog[%zu]", idx);
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "\"%s\" must be a mapping with name, description and recipe, not %s", where, type_name(n));
    static const char *const known[] = {"name", "description", "recipe"};
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(c, p->key), *vn = node_at(c, p->value);
        const char *k = text(kn);
        if (k == NULL)
            return fail(c, kn, "keys under \"%s\" must be names, not %s", where, type_name(kn));
        size_t which = 0;
        while (which < 3 && strcmp(k, known[which]) != 0)
            which++;
        snprintf(key, sizeof(key), "%s.%s", where, k);
        if (which == 3)
            return fail(c, kn, "unknown key \"%s\"", key);
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
            if (strcmp(text(node_at(c, q->key)), k) == 0)
                return fail(c, kn, "duplicate key \"%s\"", key);
        if (which == 2) {
            if (is_null(vn))
                continue;
            if (vn->type != YAML_MAPPING_NODE)
                return fail(c, vn, "\"%s\" must be a mapping, not %s", key, type_name(vn));
            c->recipe_key = key;
            json_t *j = recipe_node(c, vn, 0);
            if (j == NULL)
                return -1;
            char *dump = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            if (dump == NULL)
                return fail(c, vn, "out of memory");
            free(role->recipe_json);
            role->recipe_json = dump;
            continue;
        }
        const char *s = text(vn);
        if (s == NULL)
            return fail(c, vn, "\"%s\" must be a string, not %s", key, type_name(vn));
        if (which == 0 && is_null(vn))
            return fail(c, vn, "\"%s\" needs a value", key);
        if (which == 0 && !valid_role_name(s))
            return fail(c, vn, "\"%s\": \"%s\" is not a role name (1-%d lowercase letters, digits, '-', '_', '.')", key, s,
                        ROLE_NAME_MAX);
        if (replace_str(c, vn, which == 0 ? &role->name : &role->description, is_null(vn) ? "" : s) != 0)
            return -1;
    }
    if (role->name == NULL)
        return fail(c, n, "\"%s\" needs a \"name\"", where);
    if ((role->description == NULL && replace_str(c, n, &role->description, "") != 0) ||
        (role->recipe_json == NULL && replace_str(c, n, &role->recipe_json, "{}") != 0))
        return -1;
    return 0;
}

int config_roles_set(ctx_t *c, const char *key, yaml_node_t *v, hc_config_t *cfg)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(c, v, "\"%s\" must be a list of roles, not %s", key, type_name(v));
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    config_role_t *roles = calloc(n ? n : 1, sizeof(*roles));
    json_t *seen = json_object(); /* a hash set: a long catalog must not cost n^2 compares */
    if (roles == NULL || seen == NULL) {
        free(roles);
        json_decref(seen);
        return fail(c, v, "out of memory");
    }
    size_t i = 0;
    for (; i < n; i++) {
        yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
        if (load_role(c, item, i, &roles[i]) != 0)
            break;
        if (json_object_get(seen, roles[i].name) != NULL) {
            fail(c, item, "role \"%s\" is listed twice in \"%s\"", roles[i].name, key);
            break;
        }
        if (json_object_set_new(seen, roles[i].name, json_true()) != 0) {
            fail(c, item, "out of memory");
            break;
        }
    }
    json_decref(seen);
    if (i < n) {
        config_roles_free(roles, n);
        return -1;
    }
    config_roles_free(cfg->role_catalog, cfg->role_catalog_count);
    cfg->role_catalog = roles;
    cfg->role_catalog_count = n;
    return 0;
}

