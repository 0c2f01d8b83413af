/*
 * nodes.yaml import (import.h). Layout of this file:
 *   1. a small string map (anchors, duplicate keys, duplicate ids)
 *   2. the YAML tree, built from libyaml events with our own anchor table so
 *      that every alias is counted at the size it expands to
 *   3. mapping resolution: duplicate keys, `<<` merge keys
 *   4. the plan: nodes, heads, roles, checked field by field
 *   5. apply: one transaction, merge with existing rows, counts
 *   6. first-start import and the data dir lock
 */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "clock.h"
#include "registry.h"
#include "secret.h"
#include "store.h"

#define DIAG_MAX_KEYS 64
#define DIAG_MAX_BYTES 1024
#define LIST_MAX_ITEMS 256
#define NAME_MAX_LEN 63 /* node ids, role names */

/* ------------------------------------------------------------------ */
/* 1. string map: open addressing, keys borrowed from the caller        */

typedef struct smap_ent {
    const char *key;
    size_t len;
    void *val;
} smap_ent_t;

typedef struct smap {
    smap_ent_t *e;
    size_t cap, n;
} smap_t;

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static smap_ent_t *smap_slot(const smap_t *m, const char *k, size_t len)
{
    size_t i = fnv1a(k, len) & (m->cap - 1);
    for (;;) {
        smap_ent_t *e = &m->e[i];
        if (e->key == NULL || (e->len == len && memcmp(e->key, k, len) == 0))
            return e;
        i = (i + 1) & (m->cap - 1);
    }
}

static void *smap_get(const smap_t *m, const char *k, size_t len)
{
    if (m->cap == 0)
        return NULL;
    smap_ent_t *e = smap_slot(m, k, len);
    return e->key ? e->val : NULL;
}

/* Inserts or replaces. Returns 1 when inserted (the map now refers to k), 0
 * when replaced (the old key stays), -1 out of memory. */
static int smap_put(smap_t *m, const char *k, size_t len, void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        smap_t nm = {calloc(ncap, sizeof(smap_ent_t)), ncap, 0};
        if (nm.e == NULL)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key != NULL) {
                *smap_slot(&nm, m->e[i].key, m->e[i].len) = m->e[i];
                nm.n++;
            }
        free(m->e);
        *m = nm;
    }
    smap_ent_t *e = smap_slot(m, k, len);
    if (e->key != NULL) {
        e->val = val;
        return 0;
    }
    e->key = k;
    e->len = len;
    e->val = val;
    m->n++;
    return 1;
}

static void smap_free(smap_t *m)
{
    free(m->e);
    m->e = NULL;
    m->cap = m->n = 0;
}

/* ------------------------------------------------------------------ */
/* 2. the YAML tree                                                     */

typedef enum { YN_SCALAR, YN_SEQ, YN_MAP, YN_ALIAS } yn_kind_t;

typedef struct ynode {
    yn_kind_t kind;
    unsigned line, col; /* 1-based */
    char *text;         /* scalar: NUL-terminated (a NUL inside is refused) */
    size_t len;
    int plain;          /* scalar written plain and untagged: YAML 1.1 typing applies */
    struct ynode **kids; /* seq: items; map: key, value, key, value... */
    size_t nkids, capkids;
    struct ynode *target; /* alias: the anchored node */
    uint64_t size;        /* nodes after expansion, this one included */
    unsigned height;      /* nesting after expansion, 1 for a scalar */
    int complete;
} ynode_t;

typedef struct yctx {
    const char *name; /* the file, for messages */
    char *err;
    size_t errlen;
    ynode_t **all; /* every node allocated, to free */
    size_t nall, capall;
    ynode_t *stack[IMPORT_MAX_DEPTH + 1];
    size_t depth;
    ynode_t *root;
    smap_t anchors; /* name (malloc'ed, owned) -> ynode_t */
    uint64_t expanded;
    int docs;
} yctx_t;

static int fail_at(yctx_t *c, unsigned line, unsigned col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail_at(yctx_t *c, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(c->err, c->errlen, "%s:%u:%u: %s", c->name, line, col, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s", c->name, msg);
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

static ynode_t *yn_new(yctx_t *c, yn_kind_t kind, const yaml_mark_t *mark)
{
    if (c->nall == c->capall) {
        size_t ncap = c->capall ? c->capall * 2 : 256;
        ynode_t **na = realloc(c->all, ncap * sizeof(*na));
        if (na == NULL)
            return NULL;
        c->all = na;
        c->capall = ncap;
    }
    ynode_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->kind = kind;
    n->line = (unsigned)mark->line + 1;
    n->col = (unsigned)mark->column + 1;
    c->all[c->nall++] = n;
    return n;
}

static void yctx_free(yctx_t *c)
{
    for (size_t i = 0; i < c->nall; i++) {
        free(c->all[i]->text);
        free(c->all[i]->kids);
        free(c->all[i]);
    }
    free(c->all);
    for (size_t i = 0; i < c->anchors.cap; i++)
        free((char *)c->anchors.e[i].key);
    smap_free(&c->anchors);
}

static int yn_attach(yctx_t *c, ynode_t *n)
{
    if (c->depth == 0) {
        c->root = n;
        return 0;
    }
    ynode_t *p = c->stack[c->depth - 1];
    if (p->nkids == p->capkids) {
        size_t ncap = p->capkids ? p->capkids * 2 : 8;
        ynode_t **nk = realloc(p->kids, ncap * sizeof(*nk));
        if (nk == NULL)
            return -1;
        p->kids = nk;
        p->capkids = ncap;
    }
    p->kids[p->nkids++] = n;
    return 0;
}

static int yn_anchor(yctx_t *c, const yaml_char_t *anchor, ynode_t *n)
{
    if (anchor == NULL)
        return 0;
    char *name = strdup((const char *)anchor);
    if (name == NULL)
        return -1;
    int rc = smap_put(&c->anchors, name, strlen(name), n);
    if (rc != 1)
        free(name); /* replaced (a later anchor of the same name wins, as YAML says) or out of memory */
    return rc < 0 ? -1 : 0;
}

/* counts a node (or what an alias expands to) against the bounds */
static int yn_count(yctx_t *c, const yaml_mark_t *mark, uint64_t size, unsigned height)
{
    c->expanded += size;
    if (c->expanded > IMPORT_MAX_EXPANDED)
        return fail_at(c, (unsigned)mark->line + 1, (unsigned)mark->column + 1,
                       "more than %u YAML nodes after expanding aliases: refusing what looks like an alias bomb "
                       "(\"billion laughs\"); a real nodes.yaml is far smaller",
                       IMPORT_MAX_EXPANDED);
    if (c->depth + height > IMPORT_MAX_DEPTH)
        return fail_at(c, (unsigned)mark->line + 1, (unsigned)mark->column + 1,
                       "nested more than %u levels deep (after expanding aliases)", IMPORT_MAX_DEPTH);
    return 0;
}

static int yn_event(yctx_t *c, const yaml_event_t *ev)
{
    const yaml_mark_t *mk = &ev->start_mark;
    ynode_t *n;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++c->docs > 1)
            return fail_at(c, (unsigned)mk->line + 1, (unsigned)mk->column + 1,
                           "a second YAML document (after ---): a nodes.yaml holds exactly one");
        return 0;
    case YAML_ALIAS_EVENT: {
        const char *a = (const char *)ev->data.alias.anchor;
        ynode_t *t = smap_get(&c->anchors, a, strlen(a));
        char s[80];
        if (t == NULL)
            return fail_at(c, (unsigned)mk->line + 1, (unsigned)mk->column + 1, "unknown anchor *%s",
                           shown(s, sizeof(s), a));
        if (!t->complete)
            return fail_at(c, (unsigned)mk->line + 1, (unsigned)mk->column + 1,
                           "alias *%s refers to a node that contains it (recursive structures are not allowed)",
                           shown(s, sizeof(s), a));
        if (yn_count(c, mk, t->size, t->height) != 0)
            return -1;
        if ((n = yn_new(c, YN_ALIAS, mk)) == NULL)
            break;
        n->target = t;
        n->size = t->size;
        n->height = t->height;
        n->complete = 1;
        return yn_attach(c, n) == 0 ? 0 : fail_at(c, 0, 0, "out of memory");
    }
    case YAML_SCALAR_EVENT: {
        if (yn_count(c, mk, 1, 1) != 0)
            return -1;
        if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL)
            return fail_at(c, (unsigned)mk->line + 1, (unsigned)mk->column + 1,
                           "a text value contains a NUL character");
        if ((n = yn_new(c, YN_SCALAR, mk)) == NULL)
            break;
        n->text = malloc(ev->data.scalar.length + 1);
        if (n->text == NULL)
            break;
        memcpy(n->text, ev->data.scalar.value, ev->data.scalar.length);
        n->text[ev->data.scalar.length] = '\0';
        n->len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.tag == NULL;
        n->size = 1;
        n->height = 1;
        n->complete = 1;
        if (yn_attach(c, n) != 0 || yn_anchor(c, ev->data.scalar.anchor, n) != 0)
            break;
        return 0;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (yn_count(c, mk, 1, 1) != 0)
            return -1;
        int seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if ((n = yn_new(c, seq ? YN_SEQ : YN_MAP, mk)) == NULL)
            break;
        const yaml_char_t *anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        if (yn_attach(c, n) != 0 || yn_anchor(c, anchor, n) != 0)
            break;
        c->stack[c->depth++] = n; /* yn_count bounded depth */
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        n = c->stack[--c->depth];
        uint64_t size = 1;
        unsigned height = 0;
        for (size_t i = 0; i < n->nkids; i++) {
            size += n->kids[i]->size;
            if (n->kids[i]->height > height)
                height = n->kids[i]->height;
        }
        n->size = size;
        n->height = height + 1;
        n->complete = 1;
        return 0;
    }
    default:
        return 0;
    }
    return fail_at(c, 0, 0, "out of memory reading the file");
}

/* line and column of a byte offset, for reader errors that only give one */
static void offset_position(const char *text, size_t len, size_t off, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int yaml_read_tree(yctx_t *c, const char *text, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return fail_at(c, 0, 0, "out of memory starting the YAML parser");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0, done = 0;
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            const char *problem = p.problem ? p.problem : "malformed YAML";
            if (p.error == YAML_READER_ERROR) {
                unsigned line, col;
                offset_position(text, len, p.problem_offset, &line, &col);
                rc = fail_at(c, line, col, "not readable as YAML text: %s", problem);
            } else if (p.context != NULL) {
                rc = fail_at(c, (unsigned)p.problem_mark.line + 1, (unsigned)p.problem_mark.column + 1,
                             "malformed YAML: %s (%s that started at line %zu)", problem, p.context,
                             p.context_mark.line + 1);
            } else {
                rc = fail_at(c, (unsigned)p.problem_mark.line + 1, (unsigned)p.problem_mark.column + 1,
                             "malformed YAML: %s", problem);
            }
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = yn_event(c, &ev);
        yaml_event_delete(&ev);
        if (rc != 0)
            break;
    }
    yaml_parser_delete(&p);
    if (rc == 0 && c->root == NULL)
        rc = fail_at(c, 0, 0, "the file is empty: expected a mapping with \"nodes:\" (and \"role_catalog:\")");
    return rc;
}

static ynode_t *deref(ynode_t *n)
{
    return n->kind == YN_ALIAS ? n->target : n;
}

static const char *kind_name(const ynode_t *n)
{
    switch (n->kind) {
    case YN_SEQ:
        return "a list";
    case YN_MAP:
        return "a mapping";
    default:
        return "text";
    }
}

/* a plain ~, null, Null, NULL or nothing: YAML's null */
static int is_null(const ynode_t *n)
{
    return n->kind == YN_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
            strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
}

/* ------------------------------------------------------------------ */
/* 3. mappings: scalar keys, no duplicates, `<<` merge keys            */

typedef struct ypair {
    ynode_t *k; /* a scalar (alias resolved) */
    ynode_t *v; /* as written (may be an alias) */
} ypair_t;

typedef struct ymap {
    ypair_t *p;
    size_t n, cap;
    smap_t seen; /* key -> ypair index + 1 */
} ymap_t;

static void ymap_free(ymap_t *m)
{
    free(m->p);
    smap_free(&m->seen);
    memset(m, 0, sizeof(*m));
}

static int ymap_add(yctx_t *c, ymap_t *m, ynode_t *k, ynode_t *v)
{
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        ypair_t *np = realloc(m->p, ncap * sizeof(*np));
        if (np == NULL)
            return fail_at(c, 0, 0, "out of memory");
        m->p = np;
        m->cap = ncap;
    }
    m->p[m->n++] = (ypair_t){k, v};
    if (smap_put(&m->seen, k->text, k->len, (void *)(uintptr_t)m->n) < 0)
        return fail_at(c, 0, 0, "out of memory");
    return 0;
}

static int is_merge_key(const ynode_t *k)
{
    return k->kind == YN_SCALAR && k->plain && strcmp(k->text, "<<") == 0;
}

static int ymap_resolve(yctx_t *c, ynode_t *map, ymap_t *out);

/* adds the pairs of a merged mapping whose keys are not there yet */
static int ymap_merge_from(yctx_t *c, ymap_t *out, ynode_t *src, const ynode_t *at)
{
    src = deref(src);
    if (src->kind != YN_MAP)
        return FAIL_N(c, at, "\"<<\" (a merge key) needs a mapping or a list of mappings, not %s", kind_name(src));
    ymap_t sub = {0};
    if (ymap_resolve(c, src, &sub) != 0) {
        ymap_free(&sub);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < sub.n && rc == 0; i++)
        if (smap_get(&out->seen, sub.p[i].k->text, sub.p[i].k->len) == NULL)
            rc = ymap_add(c, out, sub.p[i].k, sub.p[i].v);
    ymap_free(&sub);
    return rc;
}

/*
 * The pairs of a mapping as YAML 1.1 means them: explicit keys first (a
 * duplicate is refused), then `<<` merges, where a key already present wins
 * and, in a list of merged mappings, an earlier one wins over a later one.
 */
static int ymap_resolve(yctx_t *c, ynode_t *map, ymap_t *out)
{
    ynode_t *merges[8];
    size_t nmerges = 0;
    char s[80];
    for (size_t i = 0; i + 1 < map->nkids; i += 2) {
        ynode_t *k = deref(map->kids[i]), *v = map->kids[i + 1];
        if (k->kind != YN_SCALAR)
            return FAIL_N(c, map->kids[i], "a mapping key must be text, not %s", kind_name(k));
        if (is_merge_key(k)) {
            if (nmerges == sizeof(merges) / sizeof(merges[0]))
                return FAIL_N(c, map->kids[i], "too many \"<<\" merge keys in one mapping");
            merges[nmerges++] = v;
            continue;
        }
        uintptr_t first = (uintptr_t)smap_get(&out->seen, k->text, k->len);
        if (first != 0)
            return FAIL_N(c, map->kids[i], "duplicate key \"%s\" (first at line %u)", shown(s, sizeof(s), k->text),
                          out->p[first - 1].k->line);
        if (ymap_add(c, out, k, v) != 0)
            return -1;
    }
    for (size_t m = 0; m < nmerges; m++) {
        ynode_t *v = deref(merges[m]);
        if (v->kind == YN_SEQ) {
            for (size_t i = 0; i < v->nkids; i++)
                if (ymap_merge_from(c, out, v->kids[i], v->kids[i]) != 0)
                    return -1;
        } else if (ymap_merge_from(c, out, v, merges[m]) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* 4. the plan                                                         */

enum {
    S_NAME,
    S_HOSTNAME,
    S_OS,
    S_ARCH,
    S_VERSION,
    S_OWNER,
    S_DISTRICT,
    S_VENUE,
    S_IP,
    S_WIREGUARD_IP,
    S_LAN_IP,
    S_PROVIDER_STATUS,
    S_STREAM_STATUS,
    NSTR
};

/* Text columns of nodes, in the order of the SQL below. "soft" ones are what
 * heartbeats report: see merge_node for why they are treated apart. */
static const struct {
    const char *key;
    size_t max;
    int soft;
} str_fields[NSTR] = {
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

enum { F_UPDATE_NODE, F_UPDATE_SERVICES, F_REPROVISION, NFLAGS };
static const char *const flag_keys[NFLAGS] = {"update_node", "update_services", "reprovision"};

typedef struct plan_head {
    int present;
    unsigned line;
    char *status;           /* NULL: not in the file */
    int has_body;           /* assigned_body_id given (NULL or empty = none) */
    char *assigned_body_id; /* NULL: none */
    char *app_id;
    json_t *allowed_experiences; /* NULL: not in the file */
    json_t *diagnostics;
} plan_head_t;

typedef struct plan_node {
    unsigned line, col;
    char id[NODE_ID_MAX];
    char *str[NSTR]; /* NULL: not in the file */
    char *token;     /* clear text; wiped on free */
    json_t *roles;   /* NULL: not in the file */
    json_t *diagnostics;
    json_t *extra; /* unknown fields, always an object */
    int approved;  /* -1: not in the file */
    int drain;
    int flags[NFLAGS];
    char enrolled_at[32], last_seen[32]; /* normalised; "" = not in the file */
    plan_head_t head;
} plan_node_t;

typedef struct plan_role {
    unsigned line;
    char *name;
    char *description; /* NULL: not in the file */
    json_t *recipe;    /* NULL: not in the file */
} plan_role_t;

struct import_plan {
    char *name;
    plan_node_t *nodes;
    size_t nnodes;
    plan_role_t *roles;
    size_t nroles;
    char **notes;
    size_t nnotes;
};

static int notes_add(char ***notes, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int notes_add(char ***notes, size_t *n, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    char **nn = realloc(*notes, (*n + 1) * sizeof(*nn));
    if (nn == NULL)
        return -1;
    *notes = nn;
    if ((nn[*n] = strdup(line)) == NULL)
        return -1;
    (*n)++;
    return 0;
}

static void plan_node_clear(plan_node_t *pn)
{
    for (int i = 0; i < NSTR; i++)
        free(pn->str[i]);
    if (pn->token != NULL) {
        sodium_memzero(pn->token, strlen(pn->token));
        free(pn->token);
    }
    json_decref(pn->roles);
    json_decref(pn->diagnostics);
    json_decref(pn->extra);
    free(pn->head.status);
    free(pn->head.assigned_body_id);
    free(pn->head.app_id);
    json_decref(pn->head.allowed_experiences);
    json_decref(pn->head.diagnostics);
}

void import_plan_free(import_plan_t *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < plan->nnodes; i++)
        plan_node_clear(&plan->nodes[i]);
    free(plan->nodes);
    for (size_t i = 0; i < plan->nroles; i++) {
        free(plan->roles[i].name);
        free(plan->roles[i].description);
        json_decref(plan->roles[i].recipe);
    }
    free(plan->roles);
    for (size_t i = 0; i < plan->nnotes; i++)
        free(plan->notes[i]);
    free(plan->notes);
    free(plan->name);
    free(plan);
}

size_t import_plan_node_count(const import_plan_t *plan)
{
    return plan->nnodes;
}

size_t import_plan_role_count(const import_plan_t *plan)
{
    return plan->nroles;
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
static int get_text(yctx_t *c, ynode_t *v, const char *what, size_t max, const char **out)
{
    ynode_t *d = deref(v);
    if (d->kind != YN_SCALAR)
        return FAIL_N(c, v, "%s must be text, not %s", what, kind_name(d));
    if (is_null(d)) {
        *out = NULL;
        return 0;
    }
    if (d->len > max)
        return FAIL_N(c, v, "%s is %zu bytes long; at most %zu are kept", what, d->len, max);
    *out = d->text;
    return 0;
}

static int dup_text(yctx_t *c, ynode_t *v, const char *what, size_t max, char **dst)
{
    const char *t;
    if (get_text(c, v, what, max, &t) != 0)
        return -1;
    if (t == NULL)
        return 0; /* null: as if absent, so an existing value is kept */
    free(*dst);
    if ((*dst = strdup(t)) == NULL)
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

static int get_bool(yctx_t *c, ynode_t *v, const char *what, int *out)
{
    ynode_t *d = deref(v);
    if (d->kind != YN_SCALAR)
        return FAIL_N(c, v, "%s must be true or false, not %s", what, kind_name(d));
    if (is_null(d))
        return 0; /* leaves -1: not given */
    int b = bool_word(d->text);
    char s[80];
    if (b < 0)
        return FAIL_N(c, v, "%s must be true or false (yes/no and on/off work too), not \"%s\"", what,
                      shown(s, sizeof(s), d->text));
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
static int get_time(yctx_t *c, ynode_t *v, const char *what, char out[32])
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
static json_t *to_json(yctx_t *c, ynode_t *v, int typed)
{
    ynode_t *d = deref(v);
    if (d->kind == YN_SCALAR) {
        if (typed && d->plain) {
            if (is_null(d))
                return json_null();
            int b = bool_word(d->text);
            if (b >= 0)
                return json_boolean(b);
            const char *s = d->text + (d->text[0] == '-' || d->text[0] == '+');
            int digits = s[0] >= '0' && s[0] <= '9' && (s[0] != '0' || s[1] == '\0');
            for (const char *p = s; digits && *p; p++)
                digits = *p >= '0' && *p <= '9';
            if (digits && strlen(s) <= 18)
                return json_integer(strtoll(d->text, NULL, 10));
        }
        json_t *j = json_stringn(d->text, d->len);
        if (j == NULL)
            FAIL_N(c, v, "text that is not valid UTF-8");
        return j;
    }
    if (d->kind == YN_SEQ) {
        json_t *a = json_array();
        for (size_t i = 0; a != NULL && i < d->nkids; i++) {
            json_t *e = to_json(c, d->kids[i], typed);
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
        if (e == NULL || json_object_set_new(o, m.p[i].k->text, e) != 0) {
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
static int get_string_map(yctx_t *c, ynode_t *v, const char *what, json_t **out)
{
    ynode_t *d = deref(v);
    if (is_null(d))
        return 0;
    if (d->kind != YN_MAP)
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
        snprintf(w, sizeof(w), "%s.%s", what, shown(s, sizeof(s), m.p[i].k->text));
        if (m.p[i].k->len > DIAG_MAX_BYTES)
            rc = FAIL_N(c, m.p[i].k, "a key of %s is longer than %d bytes", what, DIAG_MAX_BYTES);
        else if ((rc = get_text(c, m.p[i].v, w, DIAG_MAX_BYTES, &t)) == 0) {
            json_t *j = json_string(t ? t : "");
            if (j == NULL || json_object_set_new(o, m.p[i].k->text, j) != 0)
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
static int get_text_list(yctx_t *c, ynode_t *v, const char *what, int names, size_t max_len, json_t **out)
{
    ynode_t *d = deref(v);
    if (is_null(d))
        return 0;
    if (d->kind != YN_SEQ)
        return FAIL_N(c, v, "%s must be a list, not %s", what, kind_name(d));
    if (d->nkids > LIST_MAX_ITEMS)
        return FAIL_N(c, v, "%s has %zu items; at most %d are kept", what, d->nkids, LIST_MAX_ITEMS);
    json_t *a = json_array();
    if (a == NULL)
        return fail_at(c, 0, 0, "out of memory");
    for (size_t i = 0; i < d->nkids; i++) {
        const char *t;
        char s[80];
        if (get_text(c, d->kids[i], what, max_len, &t) != 0)
            goto fail;
        if (t == NULL || t[0] == '\0') {
            FAIL_N(c, d->kids[i], "%s has an empty item", what);
            goto fail;
        }
        if (names && !name_ok(t, strlen(t))) {
            FAIL_N(c, d->kids[i], "%s: \"%s\" is not a valid name (letters, digits, '.', '_', '-'; at most %d)", what,
                   shown(s, sizeof(s), t), NAME_MAX_LEN);
            goto fail;
        }
        for (size_t j = 0; j < json_array_size(a); j++)
            if (strcmp(json_string_value(json_array_get(a, j)), t) == 0) {
                FAIL_N(c, d->kids[i], "%s lists \"%s\" twice", what, shown(s, sizeof(s), t));
                goto fail;
            }
        json_t *j = json_string(t);
        if (j == NULL || json_array_append_new(a, j) != 0) {
            FAIL_N(c, d->kids[i], "%s: an item that is not valid UTF-8 text", what);
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

static int plan_head_parse(yctx_t *c, plan_node_t *pn, ynode_t *v)
{
    ynode_t *d = deref(v);
    if (is_null(d))
        return 0;
    char w[NODE_ID_MAX + 64];
    snprintf(w, sizeof(w), "node \"%s\": \"head\"", pn->id);
    if (d->kind != YN_MAP)
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
        const char *k = m.p[i].k->text;
        ynode_t *val = m.p[i].v;
        char f[NODE_ID_MAX + 96], s[80];
        snprintf(f, sizeof(f), "node \"%s\": \"head.%s\"", pn->id, shown(s, sizeof(s), k));
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
                free(h->assigned_body_id);
                h->assigned_body_id = NULL;
                if (t != NULL && t[0] != '\0') {
                    if (!name_ok(t, strlen(t)))
                        rc = FAIL_N(c, val, "%s: \"%s\" is not a valid node id", f, shown(s, sizeof(s), t));
                    else if ((h->assigned_body_id = strdup(t)) == NULL)
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

static int plan_node_parse(yctx_t *c, plan_node_t *pn, ynode_t *item, size_t index)
{
    ynode_t *d = deref(item);
    pn->line = item->line;
    pn->col = item->col;
    pn->approved = pn->drain = -1;
    for (int f = 0; f < NFLAGS; f++)
        pn->flags[f] = -1;
    if ((pn->extra = json_object()) == NULL)
        return fail_at(c, 0, 0, "out of memory");
    if (d->kind != YN_MAP)
        return FAIL_N(c, item, "entry %zu of \"nodes\" must be a mapping (one node), not %s", index + 1,
                      kind_name(d));
    ymap_t m = {0};
    if (ymap_resolve(c, d, &m) != 0) {
        ymap_free(&m);
        return -1;
    }
    int rc = 0;
    char s[80], f[NODE_ID_MAX + 96];
    uintptr_t idpos = (uintptr_t)smap_get(&m.seen, "id", 2);
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
        const char *k = m.p[i].k->text;
        ynode_t *v = m.p[i].v;
        snprintf(f, sizeof(f), "node \"%s\": \"%s\"", pn->id, shown(s, sizeof(s), k));
        int known = 0;
        for (int sf = 0; sf < NSTR && !known; sf++)
            if (strcmp(k, str_fields[sf].key) == 0) {
                known = 1;
                rc = dup_text(c, v, f, str_fields[sf].max, &pn->str[sf]);
            }
        for (int fl = 0; fl < NFLAGS && !known; fl++)
            if (strcmp(k, flag_keys[fl]) == 0) {
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
            size_t len = strlen(t);
            if (len < IMPORT_MIN_TOKEN) {
                rc = FAIL_N(c, v, "%s is shorter than %u characters: too easy to guess; re-enroll that machine", f,
                            IMPORT_MIN_TOKEN);
                continue;
            }
            for (size_t j = 0; j < len && rc == 0; j++)
                if ((unsigned char)t[j] <= 0x20 || (unsigned char)t[j] >= 0x7f)
                    rc = FAIL_N(c, v, "%s contains a space, control or non-ASCII character; an agent could not send it",
                                f);
            if (rc == 0 && (pn->token = strdup(t)) == NULL)
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

static int plan_role_parse(yctx_t *c, plan_role_t *pr, ynode_t *item, size_t index)
{
    ynode_t *d = deref(item);
    pr->line = item->line;
    if (d->kind != YN_MAP)
        return FAIL_N(c, item, "entry %zu of \"role_catalog\" must be a mapping (name, description, recipe), not %s",
                      index + 1, kind_name(d));
    ymap_t m = {0};
    int rc = ymap_resolve(c, d, &m);
    char s[80];
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        const char *k = m.p[i].k->text;
        ynode_t *v = m.p[i].v;
        if (strcmp(k, "name") == 0) {
            const char *t;
            if ((rc = get_text(c, v, "\"role_catalog.name\"", 1024, &t)) == 0) {
                if (t == NULL || !name_ok(t, strlen(t)))
                    rc = FAIL_N(c, v, "role name \"%s\" is not valid: letters, digits, '.', '_' and '-' only, at most %d",
                                shown(s, sizeof(s), t ? t : ""), NAME_MAX_LEN);
                else if ((pr->name = strdup(t)) == NULL)
                    rc = fail_at(c, 0, 0, "out of memory");
            }
        } else if (strcmp(k, "description") == 0) {
            rc = dup_text(c, v, "\"role_catalog.description\"", 4096, &pr->description);
        } else if (strcmp(k, "recipe") == 0) {
            ynode_t *r = deref(v);
            if (is_null(r))
                continue;
            if (r->kind != YN_MAP)
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

static int plan_build(yctx_t *c, import_plan_t *plan)
{
    ynode_t *root = deref(c->root);
    if (root->kind != YN_MAP)
        return FAIL_N(c, c->root, "the top level must be a mapping with \"nodes:\" (and \"role_catalog:\"), not %s",
                      kind_name(root));
    ymap_t m = {0};
    smap_t ids = {0}, tokens = {0}, roles = {0};
    int rc = ymap_resolve(c, root, &m), found = 0;
    char s[80];
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        const char *k = m.p[i].k->text;
        ynode_t *v = m.p[i].v, *d = deref(v);
        int is_nodes = strcmp(k, "nodes") == 0, is_roles = strcmp(k, "role_catalog") == 0;
        if (!is_nodes && !is_roles) {
            if (notes_add(&plan->notes, &plan->nnotes,
                          "note: top-level key \"%s\" (line %u) is not imported: only nodes and role_catalog are "
                          "(anchors defined under it still work)",
                          shown(s, sizeof(s), k), m.p[i].k->line) != 0)
                rc = fail_at(c, 0, 0, "out of memory");
            continue;
        }
        found = 1;
        if (is_null(d))
            continue;
        if (d->kind != YN_SEQ) {
            rc = FAIL_N(c, v, "\"%s\" must be a list, not %s", k, kind_name(d));
            break;
        }
        if (d->nkids == 0)
            continue;
        if (is_nodes) {
            if ((plan->nodes = calloc(d->nkids, sizeof(*plan->nodes))) == NULL) {
                rc = fail_at(c, 0, 0, "out of memory");
                break;
            }
            for (size_t j = 0; rc == 0 && j < d->nkids; j++) {
                plan_node_t *pn = &plan->nodes[plan->nnodes++];
                if ((rc = plan_node_parse(c, pn, d->kids[j], j)) != 0)
                    break;
                plan_node_t *first = smap_get(&ids, pn->id, strlen(pn->id));
                if (first != NULL) {
                    rc = FAIL_N(c, d->kids[j], "duplicate node id \"%s\" (first at line %u)", pn->id, first->line);
                    break;
                }
                if (smap_put(&ids, pn->id, strlen(pn->id), pn) < 0) {
                    rc = fail_at(c, 0, 0, "out of memory");
                    break;
                }
                if (pn->token == NULL)
                    continue;
                first = smap_get(&tokens, pn->token, strlen(pn->token));
                if (first != NULL) {
                    rc = FAIL_N(c, d->kids[j], "node \"%s\" has the same token as node \"%s\" (line %u): each agent "
                                               "needs its own",
                                pn->id, first->id, first->line);
                    break;
                }
                if (smap_put(&tokens, pn->token, strlen(pn->token), pn) < 0)
                    rc = fail_at(c, 0, 0, "out of memory");
            }
        } else {
            if ((plan->roles = calloc(d->nkids, sizeof(*plan->roles))) == NULL) {
                rc = fail_at(c, 0, 0, "out of memory");
                break;
            }
            for (size_t j = 0; rc == 0 && j < d->nkids; j++) {
                plan_role_t *pr = &plan->roles[plan->nroles++];
                if ((rc = plan_role_parse(c, pr, d->kids[j], j)) != 0)
                    break;
                plan_role_t *first = smap_get(&roles, pr->name, strlen(pr->name));
                if (first != NULL)
                    rc = FAIL_N(c, d->kids[j], "role \"%s\" is listed twice in role_catalog (first at line %u)",
                                pr->name, first->line);
                else if (smap_put(&roles, pr->name, strlen(pr->name), pr) < 0)
                    rc = fail_at(c, 0, 0, "out of memory");
            }
        }
    }
    if (rc == 0 && !found)
        rc = FAIL_N(c, c->root, "neither \"nodes:\" nor \"role_catalog:\" at the top level: is this a nodes.yaml?");
    ymap_free(&m);
    smap_free(&ids);
    smap_free(&tokens);
    smap_free(&roles);
    return rc;
}

import_plan_t *import_parse_buffer(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    yctx_t c = {.name = name, .err = err, .errlen = errlen};
    import_plan_t *plan = calloc(1, sizeof(*plan));
    if (plan == NULL || (plan->name = strdup(name)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        import_plan_free(plan);
        return NULL;
    }
    int rc;
    if (len > IMPORT_MAX_FILE_BYTES)
        rc = fail_at(&c, 0, 0, "the file is %zu bytes; at most %u are accepted", len, IMPORT_MAX_FILE_BYTES);
    else if ((rc = yaml_read_tree(&c, text, len)) == 0)
        rc = plan_build(&c, plan);
    yctx_free(&c);
    if (rc != 0) {
        import_plan_free(plan);
        return NULL;
    }
    return plan;
}

import_plan_t *import_parse_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > IMPORT_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: the file is %lld bytes; at most %u are accepted", path, (long long)st.st_size,
                 IMPORT_MAX_FILE_BYTES);
        close(fd);
        return NULL;
    }
    /* read to EOF with the bound, in case the file grows while we read */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    ssize_t r = 0;
    while (buf != NULL) {
        if (len == cap) {
            if (cap > IMPORT_MAX_FILE_BYTES)
                break;
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    int read_errno = errno;
    close(fd);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: out of memory reading the file", path);
        return NULL;
    }
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
        free(buf);
        return NULL;
    }
    import_plan_t *plan = import_parse_buffer(path, buf, len, err, errlen);
    free(buf);
    return plan;
}

/* ------------------------------------------------------------------ */
/* 5. apply                                                            */

/* a nodes row as stored, and what the import makes of it */
typedef struct node_row {
    int exists;
    int has_token;
    uint8_t token_hash[SECRET_HASH_LEN];
    char *str[NSTR];
    json_t *roles;
    char approval[16];
    char *enrolled_at, *last_seen; /* NULL = SQL NULL */
    int drain;
    int flags[NFLAGS];
    int64_t generation;
    json_t *diagnostics, *extra;
} node_row_t;

typedef struct head_row {
    int exists;
    char *status;
    json_t *diagnostics;
    char *assigned_body_id; /* NULL = SQL NULL */
    char *app_id;
    json_t *allowed_experiences;
} head_row_t;

typedef struct actx {
    sqlite3 *db;
    const import_plan_t *plan;
    import_report_t *rep;
    char *err;
    size_t errlen;
    sqlite3_stmt *sel_node, *ins_node, *upd_node, *tok_owner, *sel_head, *ins_head, *upd_head, *sel_role, *ins_role,
        *upd_role, *role_known, *node_known;
} actx_t;

#define NODE_COLS                                                                                                      \
    "token_hash, name, hostname, os, arch, version, owner, district, venue, ip, wireguard_ip, lan_ip, "                \
    "provider_status, stream_status, roles, approval, enrolled_at, last_seen, drain, flag_update_node, "             \
    "flag_update_services, flag_reprovision, flags_generation, diagnostics, extra"

static const char sql_sel_node[] = "SELECT " NODE_COLS " FROM nodes WHERE id = ?1";
static const char sql_ins_node[] = "INSERT INTO nodes (id, " NODE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                                   "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)";
static const char sql_upd_node[] =
    "UPDATE nodes SET token_hash = ?2, name = ?3, hostname = ?4, os = ?5, arch = ?6, version = ?7, owner = ?8, "
    "district = ?9, venue = ?10, ip = ?11, wireguard_ip = ?12, lan_ip = ?13, provider_status = ?14, "
    "stream_status = ?15, roles = ?16, approval = ?17, enrolled_at = ?18, last_seen = ?19, drain = ?20, "
    "flag_update_node = ?21, flag_update_services = ?22, flag_reprovision = ?23, flags_generation = ?24, "
    "diagnostics = ?25, extra = ?26 WHERE id = ?1";

static int db_fail(actx_t *a, const char *what)
{
    snprintf(a->err, a->errlen, "%s: database error while %s: %s", a->plan->name, what, sqlite3_errmsg(a->db));
    return -1;
}

static int oom(actx_t *a)
{
    snprintf(a->err, a->errlen, "%s: out of memory while importing", a->plan->name);
    return -1;
}

static char *col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return strdup(s ? (const char *)s : "");
}

static char *col_dup_null(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NULL : col_dup(st, col);
}

/* a JSON column; damaged or wrong-typed text reads as empty, as registry_load does */
static json_t *col_json(sqlite3_stmt *st, int col, int array)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    json_t *j = s ? json_loads((const char *)s, 0, NULL) : NULL;
    if (j == NULL || (array ? !json_is_array(j) : !json_is_object(j))) {
        json_decref(j);
        j = array ? json_array() : json_object();
    }
    return j;
}

static void node_row_clear(node_row_t *r)
{
    for (int i = 0; i < NSTR; i++)
        free(r->str[i]);
    json_decref(r->roles);
    free(r->enrolled_at);
    free(r->last_seen);
    json_decref(r->diagnostics);
    json_decref(r->extra);
    memset(r, 0, sizeof(*r));
}

static void head_row_clear(head_row_t *h)
{
    free(h->status);
    json_decref(h->diagnostics);
    free(h->assigned_body_id);
    free(h->app_id);
    json_decref(h->allowed_experiences);
    memset(h, 0, sizeof(*h));
}

/* the stored row, or the schema's defaults when there is none */
static int node_row_load(actx_t *a, const char *id, node_row_t *r)
{
    sqlite3_stmt *st = a->sel_node;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r->exists = 1;
        if (sqlite3_column_bytes(st, 0) == SECRET_HASH_LEN) {
            memcpy(r->token_hash, sqlite3_column_blob(st, 0), SECRET_HASH_LEN);
            r->has_token = 1;
        }
        for (int i = 0; i < NSTR; i++)
            if ((r->str[i] = col_dup(st, 1 + i)) == NULL)
                return oom(a);
        r->roles = col_json(st, 14, 1);
        const unsigned char *ap = sqlite3_column_text(st, 15);
        snprintf(r->approval, sizeof(r->approval), "%s", ap ? (const char *)ap : "pending");
        r->enrolled_at = col_dup_null(st, 16);
        r->last_seen = col_dup_null(st, 17);
        r->drain = sqlite3_column_int(st, 18);
        for (int f = 0; f < NFLAGS; f++)
            r->flags[f] = sqlite3_column_int(st, 19 + f);
        r->generation = sqlite3_column_int64(st, 22);
        r->diagnostics = col_json(st, 23, 0);
        r->extra = col_json(st, 24, 0);
    } else if (rc == SQLITE_DONE) {
        for (int i = 0; i < NSTR; i++)
            if ((r->str[i] = strdup("")) == NULL)
                return oom(a);
        r->roles = json_array();
        strcpy(r->approval, "pending");
        r->diagnostics = json_object();
        r->extra = json_object();
    } else {
        return db_fail(a, "reading a node");
    }
    sqlite3_reset(st);
    if (r->roles == NULL || r->diagnostics == NULL || r->extra == NULL)
        return oom(a);
    return 0;
}

static int set_str(char **dst, const char *v, int *changed)
{
    if (*dst != NULL && strcmp(*dst, v) == 0)
        return 0;
    char *d = strdup(v);
    if (d == NULL)
        return -1;
    free(*dst);
    *dst = d;
    *changed = 1;
    return 0;
}

static int set_json(json_t **dst, json_t *v, int *changed)
{
    if (json_equal(*dst, v))
        return 0;
    json_t *d = json_deep_copy(v);
    if (d == NULL)
        return -1;
    json_decref(*dst);
    *dst = d;
    *changed = 1;
    return 0;
}

/*
 * What the file changes in a row. Fields the file has win; fields it lacks
 * keep what is stored. Three exceptions, so that re-importing an old file
 * over a fleet that has been running on this server does no harm:
 *  - heartbeat state (version, addresses, statuses, diagnostics, last_seen,
 *    and a head's status and diagnostics) is taken only when the file's
 *    last_seen is not older than the stored one: a stale snapshot does not
 *    roll back what agents reported since;
 *  - pending flags are only ever raised (false in the file does not cancel
 *    one: only the agent's acknowledgement does), and raising one moves
 *    flags_generation on so that the agent's next acknowledgement is for it;
 *  - `approved: false` makes an approved node pending but leaves a rejected
 *    one rejected.
 * Unknown fields are merged into extra key by key.
 */
static int merge_node(const plan_node_t *pn, node_row_t *r, int *soft_ok, int *changed)
{
    int64_t file_seen = 0, db_seen = 0;
    if (pn->last_seen[0])
        clock_parse_rfc3339(pn->last_seen, &file_seen);
    if (r->last_seen != NULL && clock_parse_rfc3339(r->last_seen, &db_seen) != 0)
        db_seen = 0;
    *soft_ok = !r->exists || r->last_seen == NULL || (pn->last_seen[0] && file_seen >= db_seen);
    for (int i = 0; i < NSTR; i++)
        if (pn->str[i] != NULL && (!str_fields[i].soft || *soft_ok) && set_str(&r->str[i], pn->str[i], changed) != 0)
            return -1;
    if (pn->token != NULL) {
        uint8_t h[SECRET_HASH_LEN];
        secret_token_hash(pn->token, strlen(pn->token), h);
        if (!r->has_token || !secret_hash_equal(h, r->token_hash)) {
            memcpy(r->token_hash, h, SECRET_HASH_LEN);
            r->has_token = 1;
            *changed = 1;
        }
        sodium_memzero(h, sizeof(h));
    }
    if (pn->roles != NULL && set_json(&r->roles, pn->roles, changed) != 0)
        return -1;
    if (pn->approved == 1 && strcmp(r->approval, "approved") != 0) {
        strcpy(r->approval, "approved");
        *changed = 1;
    } else if (pn->approved == 0 && strcmp(r->approval, "approved") == 0) {
        strcpy(r->approval, "pending");
        *changed = 1;
    }
    if (pn->enrolled_at[0] && set_str(&r->enrolled_at, pn->enrolled_at, changed) != 0)
        return -1;
    if (pn->last_seen[0] && *soft_ok && set_str(&r->last_seen, pn->last_seen, changed) != 0)
        return -1;
    if (pn->diagnostics != NULL && *soft_ok && set_json(&r->diagnostics, pn->diagnostics, changed) != 0)
        return -1;
    if (pn->drain >= 0 && r->drain != pn->drain) {
        r->drain = pn->drain;
        *changed = 1;
    }
    int raised = 0;
    for (int f = 0; f < NFLAGS; f++)
        if (pn->flags[f] == 1 && !r->flags[f]) {
            r->flags[f] = 1;
            raised = 1;
        }
    if (raised) {
        r->generation++;
        *changed = 1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(pn->extra, k, v)
    {
        json_t *cur = json_object_get(r->extra, k);
        if (cur != NULL && json_equal(cur, v))
            continue;
        json_t *copy = json_deep_copy(v);
        if (copy == NULL || json_object_set_new(r->extra, k, copy) != 0)
            return -1;
        *changed = 1;
    }
    return 0;
}

static int bind_json(sqlite3_stmt *st, int i, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(st, i, s, -1, free);
    return 0;
}

static int node_row_write(actx_t *a, const char *id, const node_row_t *r)
{
    sqlite3_stmt *st = r->exists ? a->upd_node : a->ins_node;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (r->has_token)
        sqlite3_bind_blob(st, 2, r->token_hash, SECRET_HASH_LEN, SQLITE_TRANSIENT);
    for (int i = 0; i < NSTR; i++)
        sqlite3_bind_text(st, 3 + i, r->str[i], -1, SQLITE_TRANSIENT);
    if (bind_json(st, 16, r->roles) != 0 || bind_json(st, 25, r->diagnostics) != 0 || bind_json(st, 26, r->extra) != 0)
        return oom(a);
    sqlite3_bind_text(st, 17, r->approval, -1, SQLITE_TRANSIENT);
    if (r->enrolled_at != NULL)
        sqlite3_bind_text(st, 18, r->enrolled_at, -1, SQLITE_TRANSIENT);
    if (r->last_seen != NULL)
        sqlite3_bind_text(st, 19, r->last_seen, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 20, r->drain);
    for (int f = 0; f < NFLAGS; f++)
        sqlite3_bind_int(st, 21 + f, r->flags[f]);
    sqlite3_bind_int64(st, 24, r->generation);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : db_fail(a, r->exists ? "updating a node" : "inserting a node");
}

/* the id of another node that already has this token hash, if any */
static int token_owner(actx_t *a, const char *id, const uint8_t *hash, char *owner, size_t ownerlen)
{
    sqlite3_stmt *st = a->tok_owner;
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, hash, SECRET_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    owner[0] = '\0';
    if (rc == SQLITE_ROW)
        snprintf(owner, ownerlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(a, "checking a token");
}

static int note(actx_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int note(actx_t *a, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    return notes_add(&a->rep->notes, &a->rep->nnotes, "%s", line) == 0 ? 0 : oom(a);
}

static int apply_head(actx_t *a, const plan_node_t *pn, int soft_ok)
{
    const plan_head_t *ph = &pn->head;
    head_row_t h = {0};
    int changed = 0, rc = -1;
    sqlite3_stmt *st = a->sel_head;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, pn->id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        h.exists = 1;
        h.status = col_dup(st, 0);
        h.diagnostics = col_json(st, 1, 0);
        h.assigned_body_id = col_dup_null(st, 2);
        h.app_id = col_dup(st, 3);
        h.allowed_experiences = col_json(st, 4, 1);
        if (sqlite3_column_type(st, 2) != SQLITE_NULL && h.assigned_body_id == NULL) {
            sqlite3_reset(st);
            goto oom;
        }
    } else if (s == SQLITE_DONE) {
        h.status = strdup("idle");
        h.diagnostics = json_object();
        h.app_id = strdup("");
        h.allowed_experiences = json_array();
        soft_ok = 1;
    } else {
        sqlite3_reset(st);
        return db_fail(a, "reading a head");
    }
    sqlite3_reset(st);
    if (h.status == NULL || h.diagnostics == NULL || h.app_id == NULL || h.allowed_experiences == NULL)
        goto oom;
    if (ph->status != NULL && soft_ok && set_str(&h.status, ph->status, &changed) != 0)
        goto oom;
    if (ph->diagnostics != NULL && soft_ok && set_json(&h.diagnostics, ph->diagnostics, &changed) != 0)
        goto oom;
    if (ph->has_body) {
        const char *cur = h.assigned_body_id, *want = ph->assigned_body_id;
        if ((cur == NULL) != (want == NULL) || (cur != NULL && strcmp(cur, want) != 0)) {
            free(h.assigned_body_id);
            h.assigned_body_id = NULL;
            if (want != NULL && (h.assigned_body_id = strdup(want)) == NULL)
                goto oom;
            changed = 1;
        }
    }
    if (ph->app_id != NULL && set_str(&h.app_id, ph->app_id, &changed) != 0)
        goto oom;
    if (ph->allowed_experiences != NULL && set_json(&h.allowed_experiences, ph->allowed_experiences, &changed) != 0)
        goto oom;

    if (h.exists && !changed) {
        a->rep->heads.unchanged++;
        rc = 0;
        goto out;
    }
    st = h.exists ? a->upd_head : a->ins_head;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, pn->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, h.status, -1, SQLITE_TRANSIENT);
    if (bind_json(st, 3, h.diagnostics) != 0 || bind_json(st, 6, h.allowed_experiences) != 0)
        goto oom;
    if (h.assigned_body_id != NULL)
        sqlite3_bind_text(st, 4, h.assigned_body_id, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, h.app_id, -1, SQLITE_TRANSIENT);
    s = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (s != SQLITE_DONE) {
        rc = db_fail(a, "writing a head");
        goto out;
    }
    if (h.exists)
        a->rep->heads.updated++;
    else
        a->rep->heads.imported++;
    rc = 0;
    goto out;
oom:
    rc = oom(a);
out:
    head_row_clear(&h);
    return rc;
}

static int apply_node(actx_t *a, const plan_node_t *pn)
{
    node_row_t r = {0};
    int changed = 0, soft_ok = 0, rc = node_row_load(a, pn->id, &r);
    if (rc != 0)
        goto out;
    if ((rc = merge_node(pn, &r, &soft_ok, &changed)) != 0) {
        rc = oom(a);
        goto out;
    }
    if (pn->token != NULL) {
        char other[NODE_ID_MAX];
        if ((rc = token_owner(a, pn->id, r.token_hash, other, sizeof(other))) != 0)
            goto out;
        if (other[0] != '\0') {
            a->rep->nodes.skipped++;
            rc = note(a, "skipped node \"%s\" (%s:%u): its token is already the token of node \"%s\" in the database",
                      pn->id, a->plan->name, pn->line, other);
            if (rc == 0 && pn->head.present) {
                a->rep->heads.skipped++;
                rc = note(a, "skipped head of node \"%s\" (%s:%u): its node was skipped", pn->id, a->plan->name,
                          pn->head.line);
            }
            goto out;
        }
    }
    if (r.exists && !changed) {
        a->rep->nodes.unchanged++;
    } else {
        if ((rc = node_row_write(a, pn->id, &r)) != 0)
            goto out;
        if (r.exists)
            a->rep->nodes.updated++;
        else
            a->rep->nodes.imported++;
    }
    if (pn->head.present)
        rc = apply_head(a, pn, soft_ok);
out:
    sodium_memzero(r.token_hash, sizeof(r.token_hash));
    node_row_clear(&r);
    return rc;
}

static int apply_role(actx_t *a, const plan_role_t *pr)
{
    sqlite3_stmt *st = a->sel_role;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, pr->name, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st), exists = s == SQLITE_ROW, changed = 0, rc = 0;
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        sqlite3_reset(st);
        return db_fail(a, "reading a role");
    }
    char *desc = exists ? col_dup(st, 0) : strdup("");
    json_t *recipe = exists ? col_json(st, 1, 0) : json_object();
    sqlite3_reset(st);
    if (desc == NULL || recipe == NULL)
        goto oom;
    if (pr->description != NULL && set_str(&desc, pr->description, &changed) != 0)
        goto oom;
    if (pr->recipe != NULL && set_json(&recipe, pr->recipe, &changed) != 0)
        goto oom;
    if (exists && !changed) {
        a->rep->roles.unchanged++;
        goto out;
    }
    st = exists ? a->upd_role : a->ins_role;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, pr->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, desc, -1, SQLITE_TRANSIENT);
    if (bind_json(st, 3, recipe) != 0)
        goto oom;
    s = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (s != SQLITE_DONE) {
        rc = db_fail(a, "writing a role");
        goto out;
    }
    if (exists)
        a->rep->roles.updated++;
    else
        a->rep->roles.imported++;
    goto out;
oom:
    rc = oom(a);
out:
    free(desc);
    json_decref(recipe);
    return rc;
}

static int exists_by_key(actx_t *a, sqlite3_stmt *st, const char *key, int *found)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    *found = s == SQLITE_ROW;
    return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : db_fail(a, "checking references");
}

/* Warnings that do not stop the import: references the server cannot
 * resolve yet. One line per unknown role, however many nodes hold it. */
typedef struct unknown_role {
    const plan_node_t *first;
    unsigned count;
} unknown_role_t;

static int check_references(actx_t *a)
{
    smap_t unknown = {0};
    const char **order = NULL; /* unknown roles in file order */
    size_t norder = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->plan->nnodes; i++) {
        const plan_node_t *pn = &a->plan->nodes[i];
        int found;
        for (size_t j = 0; rc == 0 && j < json_array_size(pn->roles); j++) {
            const char *role = json_string_value(json_array_get(pn->roles, j));
            unknown_role_t *u = smap_get(&unknown, role, strlen(role));
            if (u != NULL) {
                u->count++;
                continue;
            }
            if ((rc = exists_by_key(a, a->role_known, role, &found)) != 0 || found)
                continue;
            const char **no = realloc(order, (norder + 1) * sizeof(*no));
            u = calloc(1, sizeof(*u));
            if (no != NULL)
                order = no;
            if (no == NULL || u == NULL || smap_put(&unknown, role, strlen(role), u) < 0) {
                free(u);
                rc = oom(a);
                break;
            }
            order[norder++] = role;
            u->first = pn;
            u->count = 1;
        }
        if (rc == 0 && pn->head.present && pn->head.assigned_body_id != NULL) {
            if ((rc = exists_by_key(a, a->node_known, pn->head.assigned_body_id, &found)) == 0 && !found)
                rc = note(a, "warning: head \"%s\" (%s:%u) is assigned to body \"%s\", which is not a known node",
                          pn->id, a->plan->name, pn->head.line, pn->head.assigned_body_id);
        }
    }
    for (size_t i = 0; i < norder; i++) {
        unknown_role_t *u = smap_get(&unknown, order[i], strlen(order[i]));
        if (rc == 0)
            rc = note(a,
                      "warning: role \"%s\" is not in the role catalog; %u node%s hold%s it (first \"%s\", %s:%u): "
                      "kept, add the role to the catalog",
                      order[i], u->count, u->count == 1 ? "" : "s", u->count == 1 ? "s" : "", u->first->id,
                      a->plan->name, u->first->line);
        free(u);
    }
    free(order);
    smap_free(&unknown);
    return rc;
}

static int meta_present(sqlite3 *db, int *found)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, IMPORT_META_KEY, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    *found = s == SQLITE_ROW;
    return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : -1;
}

static json_t *counts_json(const import_counts_t *c)
{
    return json_pack("{s:i, s:i, s:i, s:i}", "imported", (int)c->imported, "updated", (int)c->updated, "unchanged",
                     (int)c->unchanged, "skipped", (int)c->skipped);
}

/* meta.nodes_yaml_imported: when, from where, what. Written when the import
 * changed something or none was recorded yet, so that importing the same
 * file again leaves the database exactly as it was. */
static int record_meta(actx_t *a)
{
    const import_report_t *r = a->rep;
    int changed = r->nodes.imported + r->nodes.updated + r->heads.imported + r->heads.updated + r->roles.imported +
                      r->roles.updated >
                  0;
    int found = 0;
    if (meta_present(a->db, &found) != 0)
        return db_fail(a, "reading meta");
    if (found && !changed)
        return 0;
    char now[32];
    clock_rfc3339(clock_now(), now, sizeof(now));
    char *abs = realpath(a->plan->name, NULL);
    json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:o}", "at", now, "file", abs ? abs : a->plan->name, "nodes",
                          counts_json(&r->nodes), "heads", counts_json(&r->heads), "roles", counts_json(&r->roles));
    free(abs);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL)
        return oom(a);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1, &st, NULL) !=
        SQLITE_OK) {
        free(s);
        return db_fail(a, "writing meta");
    }
    sqlite3_bind_text(st, 1, IMPORT_META_KEY, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s, -1, free);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(a, "writing meta");
}

static int prepare_all(actx_t *a)
{
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } q[] = {
        {&a->sel_node, sql_sel_node},
        {&a->ins_node, sql_ins_node},
        {&a->upd_node, sql_upd_node},
        {&a->tok_owner, "SELECT id FROM nodes WHERE token_hash = ?1 AND id <> ?2"},
        {&a->sel_head,
         "SELECT status, diagnostics, assigned_body_id, app_id, allowed_experiences FROM heads WHERE node_id = ?1"},
        {&a->ins_head, "INSERT INTO heads (node_id, status, diagnostics, assigned_body_id, app_id, "
                       "allowed_experiences) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
        {&a->upd_head, "UPDATE heads SET status = ?2, diagnostics = ?3, assigned_body_id = ?4, app_id = ?5, "
                       "allowed_experiences = ?6 WHERE node_id = ?1"},
        {&a->sel_role, "SELECT description, recipe FROM roles WHERE name = ?1"},
        {&a->ins_role, "INSERT INTO roles (name, description, recipe) VALUES (?1, ?2, ?3)"},
        {&a->upd_role, "UPDATE roles SET description = ?2, recipe = ?3 WHERE name = ?1"},
        {&a->role_known, "SELECT 1 FROM roles WHERE name = ?1"},
        {&a->node_known, "SELECT 1 FROM nodes WHERE id = ?1"},
    };
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
        if ((*q[i].st = store_prepare(a->db, q[i].sql)) == NULL)
            return db_fail(a, "preparing statements (is the schema migrated?)");
    return 0;
}

static void finalize_all(actx_t *a)
{
    sqlite3_stmt *all[] = {a->sel_node, a->ins_node, a->upd_node, a->tok_owner, a->sel_head, a->ins_head,
                           a->upd_head, a->sel_role, a->ins_role, a->upd_role, a->role_known, a->node_known};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
}

int import_apply(sqlite3 *db, const import_plan_t *plan, unsigned flags, import_report_t *rep, char *err,
                 size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    actx_t a = {.db = db, .plan = plan, .rep = rep, .err = err, .errlen = errlen};
    if (!sqlite3_get_autocommit(db)) {
        snprintf(err, errlen, "%s: a transaction is already open on this connection (a bug)", plan->name);
        return -1;
    }
    for (size_t i = 0; i < plan->nnotes; i++)
        if (note(&a, "%s", plan->notes[i]) != 0)
            return -1;
    char *msg = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot start a transaction: %s", plan->name, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    int rc = prepare_all(&a);
    for (size_t i = 0; rc == 0 && i < plan->nroles; i++)
        rc = apply_role(&a, &plan->roles[i]);
    for (size_t i = 0; rc == 0 && i < plan->nnodes; i++)
        rc = apply_node(&a, &plan->nodes[i]);
    if (rc == 0)
        rc = check_references(&a);
    if (rc == 0 && !(flags & IMPORT_DRY_RUN))
        rc = record_meta(&a);
    finalize_all(&a);
    if (rc == 0 && !(flags & IMPORT_DRY_RUN)) {
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "%s: the import could not be committed: %s", plan->name,
                     msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            rc = -1;
        }
    }
    /* a dry run, or a failure: nothing stays */
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

void import_report_free(import_report_t *rep)
{
    for (size_t i = 0; i < rep->nnotes; i++)
        free(rep->notes[i]);
    free(rep->notes);
    rep->notes = NULL;
    rep->nnotes = 0;
}

int import_file(sqlite3 *db, const char *path, unsigned flags, import_report_t *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    import_plan_t *plan = import_parse_file(path, err, errlen);
    if (plan == NULL)
        return -1;
    int rc = import_apply(db, plan, flags, rep, err, errlen);
    import_plan_free(plan);
    return rc;
}

/* ------------------------------------------------------------------ */
/* 6. first start, data dir lock                                       */

static int join_path(char *out, size_t outlen, const char *dir, const char *file)
{
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    int n = snprintf(out, outlen, "%.*s/%s", (int)dlen, dir, file);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int import_first_start(sqlite3 *db, const char *data_dir, import_report_t *rep, int *done, char *err, size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    *done = 0;
    char path[PATH_MAX];
    if (join_path(path, sizeof(path), data_dir, IMPORT_FILE_NAME) != 0) {
        snprintf(err, errlen, "the data dir path is too long");
        return -1;
    }
    if (access(path, F_OK) != 0)
        return 0;
    sqlite3_stmt *st = NULL;
    int nodes = -1, found = 0;
    if (sqlite3_prepare_v2(db, "SELECT EXISTS (SELECT 1 FROM nodes)", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        nodes = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (nodes < 0 || meta_present(db, &found) != 0) {
        snprintf(err, errlen, "cannot check whether %s was imported: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (nodes > 0 || found) {
        *done = 2;
        return 0;
    }
    if (import_file(db, path, 0, rep, err, errlen) != 0)
        return -1;
    *done = 1;
    return 0;
}

int import_lock_data_dir(const char *data_dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (join_path(path, sizeof(path), data_dir, IMPORT_LOCK_FILE) != 0) {
        snprintf(err, errlen, "the data dir path is too long");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            /* who holds it, for the message (written below by the holder) */
            char pid[32] = "";
            ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            snprintf(err, errlen, "data dir %s is in use by another hydracluster process%s%s", data_dir,
                     pid[0] ? " (pid " : "", pid[0] ? pid : "");
            if (pid[0])
                snprintf(err + strlen(err), errlen - strlen(err), ")");
            close(fd);
            return IMPORT_LOCK_BUSY;
        }
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* only informative: the lock itself is held */
    }
    return fd;
}
