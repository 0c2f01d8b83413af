/*
 * The YAML tree reader (yaml_tree.h): libyaml events in, one tree out.
 *
 * Nodes, pair arrays, item arrays and text live in one arena of large
 * mmap'ed chunks, so a 100,000-node nodes.yaml (millions of YAML nodes) costs
 * a few dozen allocations, not millions, and freeing the tree is a handful of
 * munmap calls. The open collections are a stack of frames whose child
 * vectors are reused from one collection to the next; a collection's
 * children are copied into the arena, at their final size, when it ends.
 */
#include "yaml_tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <yaml.h>

#define ARENA_CHUNK (4u * 1024 * 1024)
#define OPEN 0x80u /* internal flag: a collection whose end event has not come yet */
#define SIZE_CAP (UINT64_MAX / 4)

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
} chunk_t;

typedef struct frame {
    yaml_tree_node_t *node;
    yaml_tree_node_t **kids; /* seq: items; map: key, value, key, value... (reused) */
    size_t n, cap;
} frame_t;

typedef struct anchor {
    const char *name; /* in the arena */
    size_t len;
    yaml_tree_node_t *node;
} anchor_t;

typedef struct dup {
    const yaml_tree_node_t *map;
    uint32_t index, first;
} dup_t;

struct yaml_tree {
    chunk_t *chunks;
    const char *name; /* in the arena, for messages */
    const yaml_tree_node_t *root;
    uint64_t written, expanded;
    int docs;
    unsigned doc2_line, doc2_col, doc2_node_line, doc2_node_col;
    int over;                     /* the alias bound was crossed (deferred) */
    unsigned over_line, over_col; /* where */
    dup_t *dups;
    size_t ndups, capdups;
};

typedef struct reader {
    yaml_tree_t *t;
    const yaml_tree_opts_t *o;
    const char *name;
    char *err;
    size_t errlen;
    frame_t *stack;
    size_t depth;
    anchor_t *anchors; /* open addressing, cap a power of two */
    size_t nanchors, capanchors;
    /* scratch for resolving one mapping */
    yaml_tree_pair_t *tmp;
    size_t ntmp, captmp;
    uint32_t *set; /* index + 1 into tmp; 0 = empty */
    size_t setcap, setalloc; /* in use (a power of two), allocated */
} reader_t;

/* ---- arena ---- */

static void *arena_alloc(yaml_tree_t *t, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    chunk_t *c = t->chunks;
    if (c == NULL || c->size - c->used < size) {
        size_t want = sizeof(chunk_t) + size > ARENA_CHUNK ? sizeof(chunk_t) + size : ARENA_CHUNK;
        void *m = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        c = m;
        c->size = want;
        c->used = (sizeof(chunk_t) + 7) & ~(size_t)7;
        c->next = t->chunks;
        t->chunks = c;
    }
    void *p = (char *)c + c->used;
    c->used += size;
    return p;
}

void yaml_tree_free(yaml_tree_t *t)
{
    if (t == NULL)
        return;
    free(t->dups);
    for (chunk_t *c = t->chunks, *next; c != NULL; c = next) {
        next = c->next;
        munmap(c, c->size);
    }
    free(t);
}

/* ---- messages ---- */

static int fail_at(reader_t *r, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void yaml_tree_vmessage(char *err, size_t errlen, const char *name, unsigned line, unsigned col, const char *fmt,
                        va_list ap)
{
    char msg[768];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (line > 0)
        snprintf(err, errlen, "%s:%u:%u: %s", name, line, col, msg);
    else
        snprintf(err, errlen, "%s: %s", name, msg);
}

static int fail_at(reader_t *r, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    yaml_tree_vmessage(r->err, r->errlen, r->name, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

#define FAIL_N(r, n, ...) fail_at((r), (n)->line, (n)->col, __VA_ARGS__)
#define FAIL_M(r, m, ...) fail_at((r), (unsigned)(m)->line + 1, (unsigned)(m)->column + 1, __VA_ARGS__)

static int oom(reader_t *r)
{
    return fail_at(r, 0, 0, "out of memory reading the YAML");
}

/* an anchor name for a message: clipped, control bytes as '?' */
static const char *shown(char *buf, size_t buflen, const char *s)
{
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 4 < buflen; i++) {
        if (i >= 60) {
            memcpy(buf + j, "...", 3);
            j += 3;
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        buf[j++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    buf[j] = '\0';
    return buf;
}

static const char *kind_name(const yaml_tree_node_t *n)
{
    switch (n->kind) {
    case YAML_TREE_SEQ:
        return "a list";
    case YAML_TREE_MAP:
        return "a mapping";
    default:
        return "text";
    }
}

/* ---- small helpers ---- */

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > SIZE_CAP - b ? SIZE_CAP : a + b;
}

uint64_t yaml_tree_size(const yaml_tree_node_t *n)
{
    if (n->kind == YAML_TREE_ALIAS)
        return (n->flags & YAML_TREE_RECURSIVE) ? 1 : yaml_tree_size(n->u.alias.target);
    if (n->kind == YAML_TREE_SEQ)
        return n->u.seq.size;
    if (n->kind == YAML_TREE_MAP)
        return n->u.map.size;
    return 1;
}

static uint32_t height_of(const yaml_tree_node_t *n)
{
    if (n->kind == YAML_TREE_ALIAS && (n->flags & YAML_TREE_RECURSIVE))
        return 1;
    return yaml_tree_deref(n)->height;
}

int yaml_tree_is_merge_key(const yaml_tree_node_t *key)
{
    const yaml_tree_node_t *k = yaml_tree_deref(key);
    return k->kind == YAML_TREE_SCALAR && (k->flags & (YAML_TREE_PLAIN | YAML_TREE_TAGGED)) == YAML_TREE_PLAIN &&
           k->u.s.len == 2 && k->u.s.text[0] == '<' && k->u.s.text[1] == '<';
}

static yaml_tree_node_t *node_new(reader_t *r, yaml_tree_kind_t kind, const yaml_mark_t *mark)
{
    yaml_tree_node_t *n = arena_alloc(r->t, sizeof(*n));
    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->line = (uint32_t)mark->line + 1;
    n->col = (uint32_t)mark->column + 1;
    n->height = 1;
    return n;
}

static int attach(reader_t *r, yaml_tree_node_t *n)
{
    if (r->depth == 0) {
        if (r->t->root == NULL)
            r->t->root = n;
        return 0;
    }
    frame_t *f = &r->stack[r->depth - 1];
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 32;
        yaml_tree_node_t **nk = realloc(f->kids, ncap * sizeof(*nk));
        if (nk == NULL)
            return -1;
        f->kids = nk;
        f->cap = ncap;
    }
    f->kids[f->n++] = n;
    return 0;
}

/* ---- anchors ---- */

static anchor_t *anchor_slot(anchor_t *tab, size_t cap, const char *name, size_t len)
{
    size_t i = fnv1a(name, len) & (cap - 1);
    while (tab[i].name != NULL && (tab[i].len != len || memcmp(tab[i].name, name, len) != 0))
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

/* a later anchor of the same name replaces the earlier one, as YAML says */
static int anchor_set(reader_t *r, const yaml_char_t *anchor, yaml_tree_node_t *n)
{
    if (anchor == NULL)
        return 0;
    const char *name = (const char *)anchor;
    size_t len = strlen(name);
    if ((r->nanchors + 1) * 2 > r->capanchors) {
        size_t ncap = r->capanchors ? r->capanchors * 2 : 64;
        anchor_t *nt = calloc(ncap, sizeof(*nt));
        if (nt == NULL)
            return -1;
        for (size_t i = 0; i < r->capanchors; i++)
            if (r->anchors[i].name != NULL)
                *anchor_slot(nt, ncap, r->anchors[i].name, r->anchors[i].len) = r->anchors[i];
        free(r->anchors);
        r->anchors = nt;
        r->capanchors = ncap;
    }
    anchor_t *a = anchor_slot(r->anchors, r->capanchors, name, len);
    if (a->name == NULL) {
        char *copy = arena_alloc(r->t, len + 1);
        if (copy == NULL)
            return -1;
        memcpy(copy, name, len + 1);
        a->name = copy;
        a->len = len;
        r->nanchors++;
    }
    a->node = n;
    return 0;
}

static yaml_tree_node_t *anchor_get(reader_t *r, const char *name)
{
    if (r->capanchors == 0)
        return NULL;
    anchor_t *a = anchor_slot(r->anchors, r->capanchors, name, strlen(name));
    return a->name ? a->node : NULL;
}

/* ---- bounds ---- */

int yaml_tree_check_expansion(const yaml_tree_t *t, char *err, size_t errlen)
{
    if (!t->over)
        return 0;
    snprintf(err, errlen,
             "%s:%u:%u: aliases expand to more than %llu YAML nodes where %llu are written: refusing what looks like "
             "an alias bomb (\"billion laughs\"); aliases may add at most %u nodes plus the document's own size",
             t->name, t->over_line, t->over_col, (unsigned long long)t->expanded, (unsigned long long)t->written,
             YAML_TREE_ALIAS_FLOOR);
    return -1;
}

/* The alias bound (yaml_tree.h): what aliases add may not pass the floor
 * plus what is written. Checked as the document is read, so a bomb stops at
 * the alias that crosses it. */
static int check_expansion(reader_t *r, const yaml_mark_t *mark)
{
    yaml_tree_t *t = r->t;
    uint64_t added = t->expanded > t->written ? t->expanded - t->written : 0;
    if (t->over || added <= YAML_TREE_ALIAS_FLOOR + t->written)
        return 0;
    t->over = 1;
    t->over_line = (unsigned)mark->line + 1;
    t->over_col = (unsigned)mark->column + 1;
    return r->o->defer_expansion_check ? 0 : yaml_tree_check_expansion(t, r->err, r->errlen);
}

/* a node at the current depth whose expansion is `height` levels deep */
static int check_depth(reader_t *r, const yaml_mark_t *mark, uint32_t height, int alias)
{
    if (r->depth + height <= r->o->max_depth)
        return 0;
    return FAIL_M(r, mark, "nested more than %u levels deep%s", r->o->max_depth,
                  alias ? " (after expanding aliases)" : "");
}

/* ---- mappings: keys, duplicates, merges ---- */

static int set_reset(reader_t *r, size_t want)
{
    size_t cap = 16;
    while (cap < want * 2)
        cap *= 2;
    if (cap > r->setalloc) {
        uint32_t *ns = realloc(r->set, cap * sizeof(*ns));
        if (ns == NULL)
            return -1;
        r->set = ns;
        r->setalloc = cap;
    }
    r->setcap = cap;
    memset(r->set, 0, cap * sizeof(*r->set));
    return 0;
}

/* the index in tmp of a pair with this key, or -1 after adding idx for it */
static long set_find_or_add(reader_t *r, const yaml_tree_node_t *key, size_t idx)
{
    const yaml_tree_node_t *k = yaml_tree_deref(key);
    size_t cap = r->setcap;
    size_t i = fnv1a(k->u.s.text, k->u.s.len) & (cap - 1);
    while (r->set[i] != 0) {
        const yaml_tree_node_t *o = yaml_tree_deref(r->tmp[r->set[i] - 1].key);
        if (o->u.s.len == k->u.s.len && memcmp(o->u.s.text, k->u.s.text, k->u.s.len) == 0)
            return (long)r->set[i] - 1;
        i = (i + 1) & (cap - 1);
    }
    r->set[i] = (uint32_t)idx + 1;
    return -1;
}

static int tmp_push(reader_t *r, yaml_tree_node_t *k, yaml_tree_node_t *v)
{
    if (r->ntmp == r->captmp) {
        size_t ncap = r->captmp ? r->captmp * 2 : 64;
        yaml_tree_pair_t *np = realloc(r->tmp, ncap * sizeof(*np));
        if (np == NULL)
            return -1;
        r->tmp = np;
        r->captmp = ncap;
    }
    r->tmp[r->ntmp++] = (yaml_tree_pair_t){k, v};
    /* keep the set at most half full */
    if (r->ntmp * 2 > r->setcap) {
        if (set_reset(r, r->ntmp * 2) != 0)
            return -1;
        for (size_t i = 0; i < r->ntmp; i++)
            if (!yaml_tree_is_merge_key(r->tmp[i].key))
                (void)set_find_or_add(r, r->tmp[i].key, i);
    }
    return 0;
}

/* adds the pairs of src (a mapping, or an alias of one) whose key is not there yet */
static int merge_from(reader_t *r, yaml_tree_node_t *src)
{
    if (src->kind == YAML_TREE_ALIAS && (src->flags & YAML_TREE_RECURSIVE))
        return FAIL_N(r, src, "\"<<\" cannot merge a mapping that contains it: it would be nested deeper without end");
    const yaml_tree_node_t *m = yaml_tree_deref(src);
    if (m->kind != YAML_TREE_MAP)
        return FAIL_N(r, src, "\"<<\" must merge a mapping: a merge key needs a mapping or a list of mappings, not %s",
                      kind_name(m));
    for (uint32_t i = 0; i < m->u.map.n; i++) {
        yaml_tree_pair_t *p = &m->u.map.pairs[i];
        if (i < m->u.map.n_explicit && yaml_tree_is_merge_key(p->key))
            continue;
        if (set_find_or_add(r, p->key, r->ntmp) >= 0)
            continue;
        if (tmp_push(r, p->key, p->value) != 0)
            return oom(r);
    }
    return 0;
}

static int dup_note(reader_t *r, const yaml_tree_node_t *map, size_t index, size_t first)
{
    yaml_tree_t *t = r->t;
    if (t->ndups == t->capdups) {
        size_t ncap = t->capdups ? t->capdups * 2 : 8;
        dup_t *nd = realloc(t->dups, ncap * sizeof(*nd));
        if (nd == NULL)
            return -1;
        t->dups = nd;
        t->capdups = ncap;
    }
    t->dups[t->ndups++] = (dup_t){map, (uint32_t)index, (uint32_t)first};
    return 0;
}

static int map_end(reader_t *r, frame_t *f)
{
    yaml_tree_node_t *map = f->node;
    size_t npairs = f->n / 2;
    r->ntmp = 0;
    if (set_reset(r, npairs + 1) != 0)
        return oom(r);
    int merges = 0, dup = 0;
    for (size_t i = 0; i < npairs; i++) {
        yaml_tree_node_t *k = f->kids[2 * i], *v = f->kids[2 * i + 1];
        const yaml_tree_node_t *kd = yaml_tree_deref(k);
        if (kd->kind != YAML_TREE_SCALAR)
            return FAIL_N(r, k, "mapping keys must be strings, not %s", kind_name(kd));
        if (yaml_tree_is_merge_key(k)) {
            merges = 1;
        } else {
            long first = set_find_or_add(r, k, r->ntmp);
            if (first >= 0 && !dup) {
                dup = 1;
                map->flags |= YAML_TREE_HAS_DUP;
                if (dup_note(r, map, r->ntmp, (size_t)first) != 0)
                    return oom(r);
            }
        }
        if (tmp_push(r, k, v) != 0)
            return oom(r);
    }
    size_t explicit_n = r->ntmp;
    /* past a deferred alias bound, merges are not resolved: the file is refused anyway */
    for (size_t i = 0; merges && !r->t->over && i < explicit_n; i++) {
        if (!yaml_tree_is_merge_key(r->tmp[i].key))
            continue;
        yaml_tree_node_t *v = r->tmp[i].value;
        const yaml_tree_node_t *d = yaml_tree_deref(v);
        if (d->kind == YAML_TREE_SEQ && !(v->flags & YAML_TREE_RECURSIVE)) {
            for (uint32_t j = 0; j < d->u.seq.n; j++)
                if (merge_from(r, d->u.seq.items[j]) != 0)
                    return -1;
        } else if (merge_from(r, v) != 0) {
            return -1;
        }
    }
    map->u.map.pairs = arena_alloc(r->t, (r->ntmp ? r->ntmp : 1) * sizeof(yaml_tree_pair_t));
    if (map->u.map.pairs == NULL)
        return oom(r);
    if (r->ntmp > 0)
        memcpy(map->u.map.pairs, r->tmp, r->ntmp * sizeof(yaml_tree_pair_t));
    map->u.map.n = (uint32_t)r->ntmp;
    map->u.map.n_explicit = (uint32_t)explicit_n;
    uint64_t size = 1;
    uint32_t height = 1;
    for (size_t i = 0; i < r->ntmp; i++) {
        yaml_tree_pair_t *p = &r->tmp[i];
        if (i < explicit_n && yaml_tree_is_merge_key(p->key))
            continue;
        size = add_sat(size, add_sat(yaml_tree_size(p->key), yaml_tree_size(p->value)));
        uint32_t h = height_of(p->value);
        if (h > height)
            height = h;
    }
    map->u.map.size = size;
    map->height = height + 1;
    return 0;
}

static int seq_end(reader_t *r, frame_t *f)
{
    yaml_tree_node_t *seq = f->node;
    seq->u.seq.items = arena_alloc(r->t, (f->n ? f->n : 1) * sizeof(yaml_tree_node_t *));
    if (seq->u.seq.items == NULL)
        return oom(r);
    if (f->n > 0)
        memcpy(seq->u.seq.items, f->kids, f->n * sizeof(yaml_tree_node_t *));
    seq->u.seq.n = (uint32_t)f->n;
    uint64_t size = 1;
    uint32_t height = 0;
    for (size_t i = 0; i < f->n; i++) {
        size = add_sat(size, yaml_tree_size(f->kids[i]));
        uint32_t h = height_of(f->kids[i]);
        if (h > height)
            height = h;
    }
    seq->u.seq.size = size;
    seq->height = height + 1;
    return 0;
}

/* ---- events ---- */

static int on_alias(reader_t *r, const yaml_event_t *ev)
{
    const yaml_mark_t *mk = &ev->start_mark;
    const char *a = (const char *)ev->data.alias.anchor;
    yaml_tree_node_t *target = anchor_get(r, a), *n;
    char s[80];
    if (target == NULL)
        return FAIL_M(r, mk, "%s: unknown anchor *%s", r->o->syntax_label, shown(s, sizeof(s), a));
    int recursive = (target->flags & OPEN) != 0;
    if (recursive && !r->o->allow_recursion)
        return FAIL_M(r, mk, "alias *%s refers to a node that contains it (recursive structures are not allowed)",
                      shown(s, sizeof(s), a));
    if ((n = node_new(r, YAML_TREE_ALIAS, mk)) == NULL)
        return oom(r);
    n->u.alias.target = target;
    r->t->written++;
    if (recursive) {
        n->flags |= YAML_TREE_RECURSIVE;
        r->t->expanded = add_sat(r->t->expanded, 1);
    } else {
        n->height = target->height;
        r->t->expanded = add_sat(r->t->expanded, yaml_tree_size(target));
        if (check_depth(r, mk, target->height, 1) != 0 || check_expansion(r, mk) != 0)
            return -1;
    }
    return attach(r, n) == 0 ? 0 : oom(r);
}

static int on_scalar(reader_t *r, const yaml_event_t *ev)
{
    const yaml_mark_t *mk = &ev->start_mark;
    size_t len = ev->data.scalar.length;
    if (check_depth(r, mk, 1, 0) != 0)
        return -1;
    if (memchr(ev->data.scalar.value, '\0', len) != NULL)
        return FAIL_M(r, mk, "a NUL character is not allowed in text");
    if (len > UINT32_MAX - 1)
        return FAIL_M(r, mk, "a text value longer than 4 GiB");
    yaml_tree_node_t *n = node_new(r, YAML_TREE_SCALAR, mk);
    char *text = n ? arena_alloc(r->t, len + 1) : NULL;
    if (text == NULL)
        return oom(r);
    memcpy(text, ev->data.scalar.value, len);
    text[len] = '\0';
    n->u.s.text = text;
    n->u.s.len = (uint32_t)len;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        n->flags |= YAML_TREE_PLAIN;
    if (ev->data.scalar.tag != NULL)
        n->flags |= YAML_TREE_TAGGED;
    r->t->written++;
    r->t->expanded = add_sat(r->t->expanded, 1);
    if (attach(r, n) != 0 || anchor_set(r, ev->data.scalar.anchor, n) != 0)
        return oom(r);
    return 0;
}

static int on_start(reader_t *r, const yaml_event_t *ev, int seq)
{
    const yaml_mark_t *mk = &ev->start_mark;
    if (check_depth(r, mk, 1, 0) != 0)
        return -1;
    yaml_tree_node_t *n = node_new(r, seq ? YAML_TREE_SEQ : YAML_TREE_MAP, mk);
    if (n == NULL)
        return oom(r);
    n->flags |= OPEN;
    const yaml_char_t *anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
    if (attach(r, n) != 0 || anchor_set(r, anchor, n) != 0)
        return oom(r);
    r->t->written++;
    r->t->expanded = add_sat(r->t->expanded, 1);
    frame_t *f = &r->stack[r->depth++]; /* check_depth bounded the depth */
    f->node = n;
    f->n = 0;
    return 0;
}

static int on_end(reader_t *r)
{
    frame_t *f = &r->stack[--r->depth];
    int rc = f->node->kind == YAML_TREE_MAP ? map_end(r, f) : seq_end(r, f);
    f->node->flags &= (uint8_t)~OPEN;
    return rc;
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

static int syntax_error(reader_t *r, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *label = r->o->syntax_label;
    const char *problem = p->problem ? p->problem : "parse error";
    if (p->error == YAML_MEMORY_ERROR)
        return oom(r);
    if (p->error == YAML_READER_ERROR) {
        unsigned line, col;
        offset_position(text, len, p->problem_offset, &line, &col);
        return fail_at(r, line, col, "%s: not readable as YAML text: %s", label, problem);
    }
    if (p->context != NULL)
        return FAIL_M(r, &p->problem_mark, "%s: %s (%s that started at line %zu)", label, problem, p->context,
                      p->context_mark.line + 1);
    return FAIL_M(r, &p->problem_mark, "%s: %s", label, problem);
}

/* 1: stop reading (the second document was seen), 0 go on, -1 error */
static int on_event(reader_t *r, const yaml_event_t *ev)
{
    yaml_tree_t *t = r->t;
    if (t->docs > 1) {
        /* the second document: only where it starts is wanted */
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_ALIAS_EVENT:
            t->doc2_node_line = (unsigned)ev->start_mark.line + 1;
            t->doc2_node_col = (unsigned)ev->start_mark.column + 1;
            return 1;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
            return 1;
        default:
            return 0;
        }
    }
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++t->docs > 1) {
            t->doc2_line = (unsigned)ev->start_mark.line + 1;
            t->doc2_col = (unsigned)ev->start_mark.column + 1;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        return on_alias(r, ev);
    case YAML_SCALAR_EVENT:
        return on_scalar(r, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(r, ev, 1);
    case YAML_MAPPING_START_EVENT:
        return on_start(r, ev, 0);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(r);
    case YAML_STREAM_END_EVENT:
        return 1;
    default:
        return 0;
    }
}

int yaml_tree_parse(const char *name, const char *text, size_t len, const yaml_tree_opts_t *opts, yaml_tree_t **out,
                    char *err, size_t errlen)
{
    char dummy[1];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    *out = NULL;
    reader_t r = {.o = opts, .name = name, .err = err, .errlen = errlen};
    r.t = calloc(1, sizeof(*r.t));
    r.stack = calloc(opts->max_depth + 1, sizeof(*r.stack));
    size_t nlen = strlen(name);
    char *tname = r.t ? arena_alloc(r.t, nlen + 1) : NULL;
    if (r.stack == NULL || tname == NULL) {
        free(r.stack);
        yaml_tree_free(r.t);
        return oom(&r);
    }
    memcpy(tname, name, nlen + 1);
    r.t->name = tname;
    yaml_parser_t p;
    int rc = 0;
    if (!yaml_parser_initialize(&p)) {
        rc = oom(&r);
    } else {
        yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
        for (;;) {
            yaml_event_t ev;
            if (!yaml_parser_parse(&p, &ev)) {
                rc = syntax_error(&r, &p, text, len);
                break;
            }
            rc = on_event(&r, &ev);
            yaml_event_delete(&ev);
            if (rc != 0)
                break;
        }
        yaml_parser_delete(&p);
        if (rc > 0)
            rc = 0;
    }
    for (size_t i = 0; i <= opts->max_depth; i++)
        free(r.stack[i].kids);
    free(r.stack);
    free(r.anchors);
    free(r.tmp);
    free(r.set);
    if (rc != 0) {
        yaml_tree_free(r.t);
        return -1;
    }
    *out = r.t;
    return 0;
}

/* ---- reading the tree ---- */

const yaml_tree_node_t *yaml_tree_root(const yaml_tree_t *t)
{
    return t->root;
}

int yaml_tree_second_document(const yaml_tree_t *t, unsigned *line, unsigned *col, unsigned *node_line,
                              unsigned *node_col)
{
    if (t->docs < 2)
        return 0;
    *line = t->doc2_line;
    *col = t->doc2_col;
    *node_line = t->doc2_node_line;
    *node_col = t->doc2_node_col;
    return 1;
}

uint64_t yaml_tree_written(const yaml_tree_t *t)
{
    return t->written;
}

uint64_t yaml_tree_expanded(const yaml_tree_t *t)
{
    return t->expanded;
}

int yaml_tree_map_dup(const yaml_tree_t *t, const yaml_tree_node_t *map, size_t *index, size_t *first)
{
    if (map->kind != YAML_TREE_MAP || !(map->flags & YAML_TREE_HAS_DUP))
        return 0;
    for (size_t i = 0; i < t->ndups; i++)
        if (t->dups[i].map == map) {
            *index = t->dups[i].index;
            *first = t->dups[i].first;
            return 1;
        }
    return 0;
}

const yaml_tree_node_t *yaml_tree_map_get(const yaml_tree_node_t *map, const char *key)
{
    size_t len = strlen(key);
    for (uint32_t i = 0; i < map->u.map.n; i++) {
        const yaml_tree_pair_t *p = &map->u.map.pairs[i];
        const yaml_tree_node_t *k = yaml_tree_deref(p->key);
        if (k->u.s.len == len && memcmp(k->u.s.text, key, len) == 0 &&
            !(i < map->u.map.n_explicit && yaml_tree_is_merge_key(p->key)))
            return p->value;
    }
    return NULL;
}
