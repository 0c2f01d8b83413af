/*
 * nodes.yaml field mapping: the tree that server/yaml_tree.c reads is walked
 * field by field into a plan of nodes, heads and roles (import_internal.h).
 * Everything that can be checked without the database is checked here; a
 * refusal names file:line:column and the reason.
 */
#include "import_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "yaml_tree.h"

typedef const yaml_tree_node_t ynode_t;

typedef struct pctx {
    const char *name; /* the file, for messages */
    char *err;
    size_t errlen;
    const yaml_tree_t *tree;
    ynode_t *root;
    import_plan_t *plan; /* its text holds the strings the walk keeps */
} pctx_t;

const import_str_field_t import_str_fields[NSTR] = {
    [S_NAME] = {"name", NODE_TEXT_MAX - 1, 0},
    [S_HOSTNAME] = {"hostname", NODE_TEXT_MAX - 1, 0},
    [S_OS] = {"os", NODE_SHORT_MAX - 1, 0},
    [S_ARCH] = {"arch", NODE_SHORT_MAX - 1, 0},
    [S_VERSION] = {"version", NODE_SHORT_MAX - 1, 1},
    [S_OWNER] = {"owner", NODE_TEXT_MAX - 1, 0},
    [S_DISTRICT] = {"district", NODE_TEXT_MAX - 1, 0},
    [S_VENUE] = {"venue", NODE_TEXT_MAX - 1, 0},
    [S_IP] = {"ip", NODE_SHORT_MAX - 1, 1},
    [S_WIREGUARD_IP] = {"wireguard_ip", NODE_SHORT_MAX - 1, 1},
    [S_LAN_IP] = {"lan_ip", NODE_SHORT_MAX - 1, 1},
    [S_PROVIDER_STATUS] = {"provider_status", NODE_SHORT_MAX - 1, 1},
    [S_STREAM_STATUS] = {"stream_status", NODE_SHORT_MAX - 1, 1},
};

const char *const import_flag_keys[NFLAGS] = {"update_node", "update_services", "reprovision"};

static int fail_at(pctx_t *c, unsigned line, unsigned col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail_at(pctx_t *c, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    yaml_tree_vmessage(c->err, c->errlen, c->name, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

#define FAIL_N(c, n, ...) fail_at((c), (n)->line, (n)->col, __VA_ARGS__)

/* A value from the file for a message: clipped, control bytes shown as '?',
 * quotes escaped. Never used on a token. */
static const char *shown(char *buf, size_t buflen, const char *s)
{
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 5 < buflen; i++) {
        if (i >= 60) {
            memcpy(buf + j, "...", 3);
            j += 3;
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            buf[j++] = '\\';
        buf[j++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    buf[j] = '\0';
    return buf;
}

static const char *kind_name(ynode_t *n)
{
    switch (yaml_tree_deref(n)->kind) {
    case YAML_TREE_SEQ:
        return "a list";
    case YAML_TREE_MAP:
        return "a mapping";
    default:
        return "text";
    }
}

/* a plain ~, null, Null, NULL or nothing: YAML's null */
static int is_null(ynode_t *n)
{
    n = yaml_tree_deref(n);
    if (n->kind != YAML_TREE_SCALAR || (n->flags & (YAML_TREE_PLAIN | YAML_TREE_TAGGED)) != YAML_TREE_PLAIN)
        return 0;
    const char *t = n->u.s.text;
    return n->u.s.len == 0 || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 || strcmp(t, "Null") == 0 ||
           strcmp(t, "NULL") == 0;
}

static char *append(char *p, char *end, const char *s)
{
    while (*s && p < end)
        *p++ = *s++;
    return p;
}

/* `node "ID": "PREFIXKEY"`, how messages name a field: built for every field
 * of every node, so without printf */
static void field_name(char *f, size_t cap, const char *id, const char *prefix, const char *key)
{
    char *p = f, *end = f + cap - 1;
    p = append(p, end, "node \"");
    p = append(p, end, id);
    p = append(p, end, "\": \"");
    p = append(p, end, prefix);
    p = append(p, end, key);
    p = append(p, end, "\"");
    *p = '\0';
}

/* ---- mappings: the pairs as YAML means them ---- */

typedef struct ypair {
    ynode_t *k; /* a scalar (alias resolved) */
    ynode_t *v; /* as written (may be an alias) */
} ypair_t;

typedef struct ymap {
    ypair_t *p;
    size_t n;
    ypair_t small[32]; /* most mappings fit: no allocation */
} ymap_t;

static void ymap_free(ymap_t *m)
{
    if (m->p != m->small)
        free(m->p);
    m->p = NULL;
    m->n = 0;
}

/* The pairs of map, explicit keys first and then what `<<` merged (the
 * reader resolved both); a duplicate explicit key is refused. */
static int ymap_resolve(pctx_t *c, ynode_t *map, ymap_t *out)
{
    size_t dup, first;
    char s[80];
    out->n = 0;
    out->p = out->small;
    if (yaml_tree_map_dup(c->tree, map, &dup, &first)) {
        ynode_t *k = map->u.map.pairs[dup].key;
        return FAIL_N(c, k, "duplicate key \"%s\" (first at line %u)", shown(s, sizeof(s), yaml_tree_deref(k)->u.s.text),
                      map->u.map.pairs[first].key->line);
    }
    if (map->u.map.n > sizeof(out->small) / sizeof(out->small[0]) &&
        (out->p = malloc(map->u.map.n * sizeof(*out->p))) == NULL)
        return fail_at(c, 0, 0, "out of memory");
    for (uint32_t i = 0; i < map->u.map.n; i++) {
        const yaml_tree_pair_t *p = &map->u.map.pairs[i];
        if (i < map->u.map.n_explicit && yaml_tree_is_merge_key(p->key))
            continue;
        out->p[out->n++] = (ypair_t){yaml_tree_deref(p->key), p->value};
    }
    return 0;
}

/* ids and role names: letters, digits, '.', '_', '-'; starting with a letter or digit */
static int name_ok(const char *s, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '-' && ch != '_' && ch != '.')))
            return 0;
    }
    return 1;
}

/* A text value: *out is the scalar's text, or NULL for YAML null. `what`
 * names the field in messages. */
static int get_text(pctx_t *c, ynode_t *v, const char *what, size_t max, const char **out)
{
    ynode_t *d = yaml_tree_deref(v);
    if (d->kind != YAML_TREE_SCALAR)
        return FAIL_N(c, v, "%s must be text, not %s", what, kind_name(d));
    if (is_null(d)) {
        *out = NULL;
        return 0;
    }
    if (d->u.s.len > max)
        return FAIL_N(c, v, "%s is %zu bytes long; at most %zu are kept", what, (size_t)d->u.s.len, max);
    *out = d->u.s.text;
    return 0;
}

static int dup_text(pctx_t *c, ynode_t *v, const char *what, size_t max, char **dst)
{
    const char *t;
    if (get_text(c, v, what, max, &t) != 0)
        return -1;
    if (t == NULL)
        return 0; /* null: as if absent, so an existing value is kept */
    if ((*dst = import_plan_strndup(c->plan, t, yaml_tree_deref(v)->u.s.len)) == NULL)
        return fail_at(c, 0, 0, "out of memory");
    return 0;
}

/* YAML 1.1 booleans, in any case; quoted ones too (hand-edited files) */
static int bool_word(const char *s)
{
    static const char *const t[] = {"true", "yes", "on"}, *const f[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return 1;
        if (strcasecmp(s, f[i]) == 0)
            return 0;
    }
    return -1;
}

static int get_bool(pctx_t *c, ynode_t *v, const char *what, int *out)
{
    ynode_t *d = yaml_tree_deref(v);
    if (d->kind != YAML_TREE_SCALAR)
        return FAIL_N(c, v, "%s must be true or false, not %s", what, kind_name(d));
    if (is_null(d))
        return 0; /* leaves -1: not given */
    int b = bool_word(d->u.s.text);
    char s[80];
    if (b < 0)
        return FAIL_N(c, v, "%s must be true or false (yes/no and on/off work too), not \"%s\"", what,
                      shown(s, sizeof(s), d->u.s.text));
    *out = b;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

/* RFC 3339, checked strictly (clock_parse_rfc3339 alone lets "2026-02-31"
 * roll over into March), stored as UTC "YYYY-MM-DDTHH:MM:SSZ". */
static int get_time(pctx_t *c, ynode_t *v, const char *what, char out[32])
{
    const char *t;
    if (get_text(c, v, what, 64, &t) != 0)
        return -1;
    if (t == NULL)
        return 0;
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    int ok = strlen(t) >= sizeof(shape) - 1;
    for (size_t i = 0; ok && i < sizeof(shape) - 1; i++)
        ok = shape[i] == 'd' ? (t[i] >= '0' && t[i] <= '9') : shape[i] == 'T' ? (t[i] == 'T' || t[i] == 't') : t[i] == shape[i];
    int64_t epoch = 0;
    if (ok) {
        int y = atoi(t), mo = atoi(t + 5), d = atoi(t + 8);
        ok = mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) && y >= 1970;
    }
    /* the usual form is its own normalisation: no parse and format round trip */
    if (ok && strlen(t) == 20 && t[10] == 'T' && t[19] == 'Z' && atoi(t + 11) < 24 && atoi(t + 14) < 60 &&
        atoi(t + 17) < 60) {
        memcpy(out, t, 21);
        return 0;
    }
    char s[80];
    if (!ok || clock_parse_rfc3339(t, &epoch) != 0 || epoch < 0)
        return FAIL_N(c, v, "%s \"%s\" is not an RFC 3339 time like 2026-03-02T10:14:55Z (with Z or an offset)", what,
                      shown(s, sizeof(s), t));
    clock_rfc3339(epoch, out, 32);
    return 0;
}

/* YAML -> JSON for fields without a column. typed: plain scalars that are
 * YAML 1.1 null / booleans / decimal integers become JSON null / true /
 * false / numbers; everything else (quoted, floats, octal, dates...) stays
 * the text it was, so nothing is lost. Depth is bounded by the parser. */
static json_t *to_json(pctx_t *c, ynode_t *v, int typed)
{
    ynode_t *d = yaml_tree_deref(v);
    if (d->kind == YAML_TREE_SCALAR) {
        if (typed && (d->flags & (YAML_TREE_PLAIN | YAML_TREE_TAGGED)) == YAML_TREE_PLAIN) {
            if (is_null(d))
                return json_null();
            int b = bool_word(d->u.s.text);
            if (b >= 0)
                return json_boolean(b);
            const char *s = d->u.s.text + (d->u.s.text[0] == '-' || d->u.s.text[0] == '+');
            int digits = s[0] >= '0' && s[0] <= '9' && (s[0] != '0' || s[1] == '\0');
            for (const char *p = s; digits && *p; p++)
                digits = *p >= '0' && *p <= '9';
            if (digits && strlen(s) <= 18)
                return json_integer(strtoll(d->u.s.text, NULL, 10));
        }
        json_t *j = json_stringn(d->u.s.text, d->u.s.len);
        if (j == NULL)
            FAIL_N(c, v, "text that is not valid UTF-8");
        return j;
    }
    if (d->kind == YAML_TREE_SEQ) {
        json_t *a = json_array();
        for (size_t i = 0; a != NULL && i < d->u.seq.n; i++) {
            json_t *e = to_json(c, d->u.seq.items[i], typed);
            if (e == NULL || json_array_append_new(a, e) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        if (a == NULL)
            fail_at(c, 0, 0, "out of memory");
        return a;
    }
    ymap_t m = {0};
    json_t *o = NULL;
    if (ymap_resolve(c, d, &m) == 0 && (o = json_object()) == NULL)
        fail_at(c, 0, 0, "out of memory");
    for (size_t i = 0; o != NULL && i < m.n; i++) {
        json_t *e = to_json(c, m.p[i].v, typed);
        if (e == NULL || json_object_set_new(o, m.p[i].k->u.s.text, e) != 0) {
            if (e != NULL)
                FAIL_N(c, m.p[i].k, "a key that is not valid UTF-8");
            json_decref(o);
            o = NULL;
        }
    }
    ymap_free(&m);
    return o;
}

/* an object of strings (diagnostics), bounded like heartbeat diagnostics */
static int get_string_map(pctx_t *c, ynode_t *v, const char *what, json_t **out)
{
    ynode_t *d = yaml_tree_deref(v);
    if (is_null(d))
        return 0;
    if (d->kind != YAML_TREE_MAP)
        return FAIL_N(c, v, "%s must be a mapping of text values, not %s", what, kind_name(d));
    ymap_t m = {0};
    json_t *o = NULL;
    int rc = ymap_resolve(c, d, &m);
    if (rc == 0 && m.n > DIAG_MAX_KEYS)
        rc = FAIL_N(c, v, "%s has %zu keys; at most %d are kept", what, m.n, DIAG_MAX_KEYS);
    if (rc == 0 && (o = json_object()) == NULL)
        rc = fail_at(c, 0, 0, "out of memory");
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        const char *t;
        char s[80], w[160];
        snprintf(w, sizeof(w), "%s.%s", what, shown(s, sizeof(s), m.p[i].k->u.s.text));
        if (m.p[i].k->u.s.len > DIAG_MAX_BYTES)
            rc = FAIL_N(c, m.p[i].k, "a key of %s is longer than %d bytes", what, DIAG_MAX_BYTES);
        else if ((rc = get_text(c, m.p[i].v, w, DIAG_MAX_BYTES, &t)) == 0) {
            json_t *j = json_string(t ? t : "");
            if (j == NULL || json_object_set_new(o, m.p[i].k->u.s.text, j) != 0)
                rc = FAIL_N(c, m.p[i].v, "%s is not valid UTF-8 text", w);
        }
    }
    ymap_free(&m);
    if (rc != 0) {
        json_decref(o);
        return -1;
    }
    json_decref(*out);
    *out = o;
    return 0;
}

/* a list of text items (roles, allowed experiences) */
static int get_text_list(pctx_t *c, ynode_t *v, const char *what, int names, size_t max_len, json_t **out)
{
    ynode_t *d = yaml_tree_deref(v);
    if (is_null(d))
        return 0;
    if (d->kind != YAML_TREE_SEQ)
        return FAIL_N(c, v, "%s must be a list, not %s", what, kind_name(d));
    if (d->u.seq.n > LIST_MAX_ITEMS)
        return FAIL_N(c, v, "%s has %zu items; at most %d are kept", what, (size_t)d->u.seq.n, LIST_MAX_ITEMS);
    json_t *a = json_array();
    if (a == NULL)
        return fail_at(c, 0, 0, "out of memory");
    for (size_t i = 0; i < d->u.seq.n; i++) {
        const char *t;
        char s[80];
        if (get_text(c, d->u.seq.items[i], what, max_len, &t) != 0)
            goto fail;
        if (t == NULL || t[0] == '\0') {
            FAIL_N(c, d->u.seq.items[i], "%s has an empty item", what);
            goto fail;
        }
        if (names && !name_ok(t, strlen(t))) {
            FAIL_N(c, d->u.seq.items[i], "%s: \"%s\" is not a valid name (letters, digits, '.', '_', '-'; at most %d)", what,
                   shown(s, sizeof(s), t), NAME_MAX_LEN);
            goto fail;
        }
        for (size_t j = 0; j < json_array_size(a); j++)
            if (strcmp(json_string_value(json_array_get(a, j)), t) == 0) {
                FAIL_N(c, d->u.seq.items[i], "%s lists \"%s\" twice", what, shown(s, sizeof(s), t));
                goto fail;
            }
        json_t *j = json_string(t);
        if (j == NULL || json_array_append_new(a, j) != 0) {
            FAIL_N(c, d->u.seq.items[i], "%s: an item that is not valid UTF-8 text", what);
            goto fail;
        }
    }
    json_decref(*out);
    *out = a;
    return 0;
fail:
    json_decref(a);
    return -1;
}

static int plan_head_parse(pctx_t *c, plan_node_t *pn, ynode_t *v)
{
    ynode_t *d = yaml_tree_deref(v);
    if (is_null(d))
        return 0;
    char w[NODE_ID_MAX + 64];
    snprintf(w, sizeof(w), "node \"%s\": \"head\"", pn->id);
    if (d->kind != YAML_TREE_MAP)
        return FAIL_N(c, v, "%s must be a mapping, not %s", w, kind_name(d));
    plan_head_t *h = &pn->head;
    h->present = 1;
    h->line = v->line;
    ymap_t m = {0};
    json_t *unknown = json_object();
    int rc = ymap_resolve(c, d, &m);
    if (unknown == NULL && rc == 0)
        rc = fail_at(c, 0, 0, "out of memory");
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        const char *k = m.p[i].k->u.s.text;
        ynode_t *val = m.p[i].v;
        char f[NODE_ID_MAX + 96], s[80];
        field_name(f, sizeof(f), pn->id, "head.", shown(s, sizeof(s), k));
        if (strcmp(k, "status") == 0) {
            if ((rc = dup_text(c, val, f, 15, &h->status)) == 0 && h->status != NULL &&
                strcmp(h->status, "idle") != 0 && strcmp(h->status, "streaming") != 0 &&
                strcmp(h->status, "error") != 0)
                rc = FAIL_N(c, val, "%s must be idle, streaming or error, not \"%s\"", f,
                            shown(s, sizeof(s), h->status));
        } else if (strcmp(k, "assigned_body_id") == 0) {
            const char *t;
            if ((rc = get_text(c, val, f, NODE_ID_MAX - 1, &t)) == 0) {
                h->has_body = 1;
                h->assigned_body_id = NULL;
                if (t != NULL && t[0] != '\0') {
                    if (!name_ok(t, strlen(t)))
                        rc = FAIL_N(c, val, "%s: \"%s\" is not a valid node id", f, shown(s, sizeof(s), t));
                    else if ((h->assigned_body_id = import_plan_strndup(c->plan, t, strlen(t))) == NULL)
                        rc = fail_at(c, 0, 0, "out of memory");
                }
            }
        } else if (strcmp(k, "app_id") == 0) {
            rc = dup_text(c, val, f, NODE_TEXT_MAX - 1, &h->app_id);
        } else if (strcmp(k, "allowed_experiences") == 0) {
            rc = get_text_list(c, val, f, 0, NODE_TEXT_MAX - 1, &h->allowed_experiences);
            if (rc == 0 && h->allowed_experiences == NULL && (h->allowed_experiences = json_array()) == NULL)
                rc = fail_at(c, 0, 0, "out of memory");
        } else if (strcmp(k, "diagnostics") == 0) {
            rc = get_string_map(c, val, f, &h->diagnostics);
        } else {
            json_t *j = to_json(c, val, 1);
            if (j == NULL || json_object_set_new(unknown, k, j) != 0)
                rc = -1;
        }
    }
    ymap_free(&m);
    /* the heads table has no room for unknown fields: they stay with the node */
    if (rc == 0 && json_object_size(unknown) > 0 && json_object_set(pn->extra, "head", unknown) != 0)
        rc = fail_at(c, 0, 0, "out of memory");
    json_decref(unknown);
    return rc;
}

static int plan_node_parse(pctx_t *c, plan_node_t *pn, ynode_t *item, size_t index)
{
    ynode_t *d = yaml_tree_deref(item);
    pn->line = item->line;
    pn->col = item->col;
    pn->approved = pn->drain = -1;
    for (int f = 0; f < NFLAGS; f++)
        pn->flags[f] = -1;
    if ((pn->extra = json_object()) == NULL)
        return fail_at(c, 0, 0, "out of memory");
    if (d->kind != YAML_TREE_MAP)
        return FAIL_N(c, item, "entry %zu of \"nodes\" must be a mapping (one node), not %s", index + 1,
                      kind_name(d));
    ymap_t m = {0};
    if (ymap_resolve(c, d, &m) != 0) {
        ymap_free(&m);
        return -1;
    }
    int rc = 0;
    char s[80], f[NODE_ID_MAX + 96];
    size_t idpos = 0;
    for (size_t i = 0; i < m.n && idpos == 0; i++)
        if (m.p[i].k->u.s.len == 2 && memcmp(m.p[i].k->u.s.text, "id", 2) == 0)
            idpos = i + 1;
    if (idpos == 0) {
        rc = FAIL_N(c, item, "entry %zu of \"nodes\" has no \"id\"", index + 1);
    } else {
        const char *id;
        ynode_t *v = m.p[idpos - 1].v;
        if ((rc = get_text(c, v, "\"id\"", 1024, &id)) == 0) {
            if (id == NULL || id[0] == '\0')
                rc = FAIL_N(c, v, "entry %zu of \"nodes\" has an empty \"id\"", index + 1);
            else if (!name_ok(id, strlen(id)))
                rc = FAIL_N(c, v,
                            "node id \"%s\" is not valid: letters, digits, '.', '_' and '-' only, starting with a "
                            "letter or digit, at most %d characters",
                            shown(s, sizeof(s), id), NAME_MAX_LEN);
            else
                snprintf(pn->id, sizeof(pn->id), "%s", id);
        }
    }
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        const char *k = m.p[i].k->u.s.text;
        ynode_t *v = m.p[i].v;
        field_name(f, sizeof(f), pn->id, "", shown(s, sizeof(s), k));
        int known = 0;
        for (int sf = 0; sf < NSTR && !known; sf++)
            if (strcmp(k, import_str_fields[sf].key) == 0) {
                known = 1;
                rc = dup_text(c, v, f, import_str_fields[sf].max, &pn->str[sf]);
            }
        for (int fl = 0; fl < NFLAGS && !known; fl++)
            if (strcmp(k, import_flag_keys[fl]) == 0) {
                known = 1;
                rc = get_bool(c, v, f, &pn->flags[fl]);
            }
        if (known || strcmp(k, "id") == 0)
            continue;
        if (strcmp(k, "token") == 0) {
            const char *t;
            /* the message never shows the token itself */
            if ((rc = get_text(c, v, f, IMPORT_MAX_TOKEN, &t)) != 0 || t == NULL)
                continue;
            const char *bad = import_token_problem(t, strlen(t));
            if (bad != NULL)
                rc = FAIL_N(c, v, "%s %s", f, bad);
            else if ((pn->token = import_plan_strndup(c->plan, t, strlen(t))) == NULL)
                rc = fail_at(c, 0, 0, "out of memory");
        } else if (strcmp(k, "roles") == 0) {
            rc = get_text_list(c, v, f, 1, NAME_MAX_LEN, &pn->roles);
            if (rc == 0 && pn->roles == NULL && (pn->roles = json_array()) == NULL)
                rc = fail_at(c, 0, 0, "out of memory");
        } else if (strcmp(k, "approved") == 0) {
            rc = get_bool(c, v, f, &pn->approved);
        } else if (strcmp(k, "drain") == 0) {
            rc = get_bool(c, v, f, &pn->drain);
        } else if (strcmp(k, "enrolled_at") == 0) {
            rc = get_time(c, v, f, pn->enrolled_at);
        } else if (strcmp(k, "last_seen") == 0) {
            rc = get_time(c, v, f, pn->last_seen);
        } else if (strcmp(k, "diagnostics") == 0) {
            rc = get_string_map(c, v, f, &pn->diagnostics);
        } else if (strcmp(k, "head") == 0) {
            rc = plan_head_parse(c, pn, v);
        } else {
            json_t *j = to_json(c, v, 1);
            if (j == NULL || json_object_set_new(pn->extra, k, j) != 0)
                rc = j == NULL ? -1 : fail_at(c, 0, 0, "out of memory");
        }
    }
    ymap_free(&m);
    if (rc == 0 && json_object_size(pn->extra) > 0) {
        size_t len = json_dumpb(pn->extra, NULL, 0, JSON_COMPACT);
        if (len > IMPORT_MAX_EXTRA_BYTES)
            rc = FAIL_N(c, item, "node \"%s\": its unknown fields (kept as \"extra\") take %zu bytes as JSON; at most "
                                 "%u are kept",
                        pn->id, len, IMPORT_MAX_EXTRA_BYTES);
    }
    return rc;
}

static int plan_role_parse(pctx_t *c, plan_role_t *pr, ynode_t *item, size_t index)
{
    ynode_t *d = yaml_tree_deref(item);
    pr->line = item->line;
    if (d->kind != YAML_TREE_MAP)
        return FAIL_N(c, item, "entry %zu of \"role_catalog\" must be a mapping (name, description, recipe), not %s",
                      index + 1, kind_name(d));
    ymap_t m = {0};
    int rc = ymap_resolve(c, d, &m);
    char s[80];
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        const char *k = m.p[i].k->u.s.text;
        ynode_t *v = m.p[i].v;
        if (strcmp(k, "name") == 0) {
            const char *t;
            if ((rc = get_text(c, v, "\"role_catalog.name\"", 1024, &t)) == 0) {
                if (t == NULL || !name_ok(t, strlen(t)))
                    rc = FAIL_N(c, v, "role name \"%s\" is not valid: letters, digits, '.', '_' and '-' only, at most %d",
                                shown(s, sizeof(s), t ? t : ""), NAME_MAX_LEN);
                else if ((pr->name = import_plan_strndup(c->plan, t, strlen(t))) == NULL)
                    rc = fail_at(c, 0, 0, "out of memory");
            }
        } else if (strcmp(k, "description") == 0) {
            rc = dup_text(c, v, "\"role_catalog.description\"", 4096, &pr->description);
        } else if (strcmp(k, "recipe") == 0) {
            ynode_t *r = yaml_tree_deref(v);
            if (is_null(r))
                continue;
            if (r->kind != YAML_TREE_MAP)
                rc = FAIL_N(c, v, "\"role_catalog.recipe\" must be a mapping, not %s", kind_name(r));
            /* as config.yaml's role_catalog does: recipe values stay text */
            else if ((pr->recipe = to_json(c, v, 0)) == NULL)
                rc = -1;
        } else {
            rc = FAIL_N(c, m.p[i].k, "unknown key \"%s\" in a role_catalog entry (known: name, description, recipe)",
                        shown(s, sizeof(s), k));
        }
    }
    ymap_free(&m);
    if (rc == 0 && pr->name == NULL)
        rc = FAIL_N(c, item, "entry %zu of \"role_catalog\" has no \"name\"", index + 1);
    return rc;
}

static int plan_build(pctx_t *c, import_plan_t *plan)
{
    ynode_t *root = yaml_tree_deref(c->root);
    if (root->kind != YAML_TREE_MAP)
        return FAIL_N(c, c->root, "the top level must be a mapping with \"nodes:\" (and \"role_catalog:\"), not %s",
                      kind_name(root));
    ymap_t m = {0};
    import_map_t ids = {0}, tokens = {0}, roles = {0};
    int rc = ymap_resolve(c, root, &m), found = 0;
    char s[80];
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        const char *k = m.p[i].k->u.s.text;
        ynode_t *v = m.p[i].v, *d = yaml_tree_deref(v);
        int is_nodes = strcmp(k, "nodes") == 0, is_roles = strcmp(k, "role_catalog") == 0;
        if (!is_nodes && !is_roles) {
            if (import_notes_add(&plan->notes, &plan->nnotes,
                          "note: top-level key \"%s\" (line %u) is not imported: only nodes and role_catalog are "
                          "(anchors defined under it still work)",
                          shown(s, sizeof(s), k), m.p[i].k->line) != 0)
                rc = fail_at(c, 0, 0, "out of memory");
            continue;
        }
        found = 1;
        if (is_null(d))
            continue;
        if (d->kind != YAML_TREE_SEQ) {
            rc = FAIL_N(c, v, "\"%s\" must be a list, not %s", k, kind_name(d));
            break;
        }
        if (d->u.seq.n == 0)
            continue;
        if (is_nodes) {
            if ((plan->nodes = calloc(d->u.seq.n, sizeof(*plan->nodes))) == NULL ||
                import_map_reserve(&ids, d->u.seq.n) != 0 || import_map_reserve(&tokens, d->u.seq.n) != 0) {
                rc = fail_at(c, 0, 0, "out of memory");
                break;
            }
            for (size_t j = 0; rc == 0 && j < d->u.seq.n; j++) {
                plan_node_t *pn = &plan->nodes[plan->nnodes++];
                if ((rc = plan_node_parse(c, pn, d->u.seq.items[j], j)) != 0)
                    break;
                plan_node_t *first = import_map_get(&ids, pn->id, strlen(pn->id));
                if (first != NULL) {
                    rc = FAIL_N(c, d->u.seq.items[j], "duplicate node id \"%s\" (first at line %u)", pn->id, first->line);
                    break;
                }
                if (import_map_put(&ids, pn->id, strlen(pn->id), pn) < 0) {
                    rc = fail_at(c, 0, 0, "out of memory");
                    break;
                }
                if (pn->token == NULL)
                    continue;
                first = import_map_get(&tokens, pn->token, strlen(pn->token));
                if (first != NULL) {
                    rc = FAIL_N(c, d->u.seq.items[j], "node \"%s\" has the same token as node \"%s\" (line %u): each agent "
                                               "needs its own",
                                pn->id, first->id, first->line);
                    break;
                }
                if (import_map_put(&tokens, pn->token, strlen(pn->token), pn) < 0)
                    rc = fail_at(c, 0, 0, "out of memory");
            }
        } else {
            if ((plan->roles = calloc(d->u.seq.n, sizeof(*plan->roles))) == NULL) {
                rc = fail_at(c, 0, 0, "out of memory");
                break;
            }
            for (size_t j = 0; rc == 0 && j < d->u.seq.n; j++) {
                plan_role_t *pr = &plan->roles[plan->nroles++];
                if ((rc = plan_role_parse(c, pr, d->u.seq.items[j], j)) != 0)
                    break;
                plan_role_t *first = import_map_get(&roles, pr->name, strlen(pr->name));
                if (first != NULL)
                    rc = FAIL_N(c, d->u.seq.items[j], "role \"%s\" is listed twice in role_catalog (first at line %u)",
                                pr->name, first->line);
                else if (import_map_put(&roles, pr->name, strlen(pr->name), pr) < 0)
                    rc = fail_at(c, 0, 0, "out of memory");
            }
        }
    }
    if (rc == 0 && !found)
        rc = FAIL_N(c, c->root, "neither \"nodes:\" nor \"role_catalog:\" at the top level: is this a nodes.yaml?");
    ymap_free(&m);
    import_map_free(&ids);
    import_map_free(&tokens);
    import_map_free(&roles);
    return rc;
}


int import_plan_build(import_plan_t *plan, char *text_owned, const char *text, size_t len, char *err, size_t errlen)
{
    pctx_t c = {.name = plan->name, .err = err, .errlen = errlen, .plan = plan};
    static const yaml_tree_opts_t opts = {.syntax_label = "malformed YAML", .max_depth = IMPORT_MAX_DEPTH};
    yaml_tree_t *tree;
    int parsed = yaml_tree_parse(plan->name, text, len, &opts, &tree, err, errlen);
    free(text_owned); /* the tree holds its own copy of every text */
    if (parsed != 0)
        return -1;
    c.tree = tree;
    c.root = yaml_tree_root(tree);
    unsigned line, col, node_line, node_col;
    int rc;
    if (yaml_tree_second_document(tree, &line, &col, &node_line, &node_col))
        rc = fail_at(&c, line, col, "a second YAML document (after ---): a nodes.yaml holds exactly one");
    else if (c.root == NULL)
        rc = fail_at(&c, 0, 0, "the file is empty: expected a mapping with \"nodes:\" (and \"role_catalog:\")");
    else
        rc = plan_build(&c, plan);
    yaml_tree_free(tree);
    return rc;
}
