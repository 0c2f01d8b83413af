/*
 * Route lookup (router_match, route_param): an index over the route table's
 * path segments, built once, so that a request walks only the routes whose
 * literal segments it shares instead of matching every pattern in turn (that
 * walk, with a strchr per capture name, showed in a small request's profile).
 *
 * The index is a trie: each node stands for a sequence of literal and
 * capture segments; its children are the distinct literal segments that
 * follow, plus at most one capture child; it lists the routes whose pattern
 * ends there, and those whose "{*rest}" starts after it. A lookup collects
 * every route whose pattern matches the path (a set, in table order) and
 * then picks exactly as the plain walk over the table did: the first with the
 * method (HEAD takes a GET route), else the methods for 405's Allow.
 *
 * Built on first use (pthread_once) from the constant table; read-only after,
 * so any thread may look up without a lock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

#define RI_MAX_ROUTES 512 /* routes the index holds (indices are int16_t) */
#define RI_MAX_NODES 1024
#define RI_MAX_SEGS 24
#define RI_NAMES_BYTES 2048
#define RI_MAX_SLOTS 8192 /* the nodes' child tables, together */

enum { SEG_LIT, SEG_CAP, SEG_REST };

typedef struct {
    const char *lit; /* SEG_LIT: the segment's text (in the pattern, not NUL-terminated) */
    uint16_t len;
    uint8_t kind;
} ri_seg_t;

/* one route's pattern, split at '/' */
typedef struct {
    ri_seg_t segs[RI_MAX_SEGS];
    uint8_t nsegs;
    uint8_t ncaps;
    uint8_t mlen; /* strlen of the method */
    const char *names[ROUTE_MAX_PARAMS]; /* capture names, NUL-terminated, for the process's lifetime */
} ri_route_t;

typedef struct {
    const char *lit; /* the literal segment that leads here from the parent */
    uint16_t len;
    int16_t first_child, next_sibling; /* literal children (while building) */
    uint16_t slot0, nslots;            /* its literal children by hash: ri_slots[slot0 .. +nslots) */
    int16_t capture;                   /* the "{name}" child, or -1 */
    int16_t end_first;                 /* routes whose pattern ends here (linked by ri_next) */
    int16_t rest_first;                /* routes whose "{*rest}" follows here */
} ri_node_t;

static ri_route_t ri_routes[RI_MAX_ROUTES];
static int16_t ri_next[RI_MAX_ROUTES]; /* next route in the same node's list, in table order */
static ri_node_t ri_nodes[RI_MAX_NODES];
static size_t ri_nnodes;
static char ri_names[RI_NAMES_BYTES];
static size_t ri_names_used;
static int16_t ri_slots[RI_MAX_SLOTS];
static size_t ri_nslots;
static pthread_once_t ri_once = PTHREAD_ONCE_INIT;
static atomic_int ri_ready; /* the index is built: no pthread_once call per lookup */

/* The table is a constant of the program: a pattern the index cannot hold is
 * a programming error, reported when the server starts (router_register
 * builds the index) or at the first lookup of a test. */
static void ri_fail(const char *pattern, const char *why)
{
    fprintf(stderr, "route table: pattern \"%s\": %s\n", pattern, why);
    abort();
}

static int16_t ri_node_new(const char *lit, size_t len)
{
    if (ri_nnodes >= RI_MAX_NODES)
        return -1;
    ri_node_t *n = &ri_nodes[ri_nnodes];
    n->lit = lit;
    n->len = (uint16_t)len;
    n->first_child = n->next_sibling = n->capture = n->end_first = n->rest_first = -1;
    n->slot0 = n->nslots = 0;
    return (int16_t)ri_nnodes++;
}

static const char *ri_name_keep(const char *name, size_t len)
{
    if (ri_names_used + len + 1 > sizeof(ri_names))
        return NULL;
    char *p = ri_names + ri_names_used;
    memcpy(p, name, len);
    p[len] = '\0';
    ri_names_used += len + 1;
    return p;
}

/* Splits pattern into segments; a capture must be a whole segment and
 * "{*rest}" the last one (what the matcher has always assumed of the table). */
static void ri_compile(const route_t *rt, ri_route_t *c)
{
    const char *pat = rt->pattern;
    if (pat[0] != '/')
        ri_fail(pat, "does not start with '/'");
    c->nsegs = c->ncaps = 0;
    size_t ml = strlen(rt->method);
    if (ml > 255)
        ri_fail(pat, "method name too long");
    c->mlen = (uint8_t)ml;
    const char *p = pat;
    while (*p == '/') {
        const char *s = p + 1, *e = strchr(s, '/');
        if (e == NULL)
            e = s + strlen(s);
        if (c->nsegs == RI_MAX_SEGS)
            ri_fail(pat, "too many segments");
        ri_seg_t *seg = &c->segs[c->nsegs++];
        size_t len = (size_t)(e - s);
        if (len > 0 && s[0] == '{') {
            int rest = len > 1 && s[1] == '*';
            if (s[len - 1] != '}' || memchr(s + 1, '{', len - 1) != NULL || memchr(s, '}', len - 1) != NULL)
                ri_fail(pat, "a capture must be a whole segment");
            if (c->ncaps == ROUTE_MAX_PARAMS)
                ri_fail(pat, "too many captures");
            const char *name = ri_name_keep(s + 1 + rest, len - 2 - (size_t)rest);
            if (name == NULL)
                ri_fail(pat, "capture names exceed the index's room");
            c->names[c->ncaps++] = name;
            seg->kind = rest ? SEG_REST : SEG_CAP;
            if (rest && *e != '\0')
                ri_fail(pat, "{*rest} must be the last segment");
        } else {
            if (memchr(s, '{', len) != NULL)
                ri_fail(pat, "a capture must be a whole segment");
            seg->kind = SEG_LIT;
        }
        seg->lit = s;
        seg->len = (uint16_t)len;
        p = e;
    }
}

/* appends route i to the list whose head is *head (table order is kept: i grows) */
static void ri_list_append(int16_t *head, size_t i)
{
    while (*head >= 0)
        head = &ri_next[*head];
    *head = (int16_t)i;
    ri_next[i] = -1;
}

/* a literal segment's hash: cheap, and it tells the few siblings apart */
static inline size_t ri_hash(const char *s, size_t len)
{
    return len == 0 ? 0 : len * 7 + (unsigned char)s[0] * 31 + (unsigned char)s[len - 1];
}

/* Each node's literal children in an open-addressed table at least twice
 * their number (so a probe always meets an empty slot), instead of a walk
 * along the siblings (a node under /api/v1 has twenty). */
static void ri_tables(void)
{
    for (size_t n = 0; n < ri_nnodes; n++) {
        size_t count = 0, size = 2;
        for (int16_t c = ri_nodes[n].first_child; c >= 0; c = ri_nodes[c].next_sibling)
            count++;
        if (count == 0)
            continue;
        while (size < 2 * count)
            size *= 2;
        if (ri_nslots + size > RI_MAX_SLOTS)
            ri_fail(route_table[0].pattern, "the index ran out of child slots");
        ri_nodes[n].slot0 = (uint16_t)ri_nslots;
        ri_nodes[n].nslots = (uint16_t)size;
        for (size_t k = 0; k < size; k++)
            ri_slots[ri_nslots + k] = -1;
        for (int16_t c = ri_nodes[n].first_child; c >= 0; c = ri_nodes[c].next_sibling) {
            size_t h = ri_hash(ri_nodes[c].lit, ri_nodes[c].len) & (size - 1);
            while (ri_slots[ri_nslots + h] >= 0)
                h = (h + 1) & (size - 1);
            ri_slots[ri_nslots + h] = c;
        }
        ri_nslots += size;
    }
}

static void ri_build(void)
{
    if (route_table_count > RI_MAX_ROUTES)
        ri_fail(route_table[RI_MAX_ROUTES].pattern, "the table has more routes than the index holds");
    int16_t root = ri_node_new("", 0);
    for (size_t i = 0; i < route_table_count; i++) {
        ri_route_t *c = &ri_routes[i];
        ri_compile(&route_table[i], c);
        int16_t n = root;
        for (size_t k = 0; k < c->nsegs; k++) {
            const ri_seg_t *seg = &c->segs[k];
            if (seg->kind == SEG_REST) {
                ri_list_append(&ri_nodes[n].rest_first, i);
                n = -1;
                break;
            }
            int16_t next;
            if (seg->kind == SEG_CAP) {
                next = ri_nodes[n].capture;
                if (next < 0 && (next = ri_node_new("", 0)) >= 0)
                    ri_nodes[n].capture = next;
            } else {
                int16_t *link = &ri_nodes[n].first_child;
                while (*link >= 0 &&
                       !(ri_nodes[*link].len == seg->len && memcmp(ri_nodes[*link].lit, seg->lit, seg->len) == 0))
                    link = &ri_nodes[*link].next_sibling;
                next = *link;
                if (next < 0 && (next = ri_node_new(seg->lit, seg->len)) >= 0)
                    *link = next;
            }
            if (next < 0)
                ri_fail(route_table[i].pattern, "the index ran out of nodes");
            n = next;
        }
        if (n >= 0)
            ri_list_append(&ri_nodes[n].end_first, i);
    }
    ri_tables();
    atomic_store_explicit(&ri_ready, 1, memory_order_release);
}

/* the routes that match a path, in table order */
typedef struct {
    size_t n;
    int16_t idx[RI_MAX_ROUTES];
} ri_set_t;

/* adds the routes of one list; a route is in one list only, so never twice */
static void ri_mark(ri_set_t *set, int16_t first)
{
    for (int16_t i = first; i >= 0; i = ri_next[i]) {
        size_t k = set->n++;
        while (k > 0 && set->idx[k - 1] > i) { /* the set stays tiny: insertion keeps it sorted */
            set->idx[k] = set->idx[k - 1];
            k--;
        }
        set->idx[k] = i;
    }
}

/* Marks every route under node n that matches path from pos on (pos is at
 * the '/' before the next segment, or at the end). Follows the literal or
 * the capture child in a loop; only where both match does it recurse. */
static void ri_walk(int16_t n, const char *path, size_t plen, size_t pos, ri_set_t *set)
{
    for (;;) {
        const ri_node_t *nd = &ri_nodes[n];
        if (pos == plen) {
            ri_mark(set, nd->end_first);
            return;
        }
        if (path[pos] != '/')
            return;
        if (nd->rest_first >= 0)
            ri_mark(set, nd->rest_first); /* "{*rest}" takes whatever follows the '/', even nothing */
        size_t s = pos + 1;
        const char *slash = memchr(path + s, '/', plen - s);
        size_t e = slash != NULL ? (size_t)(slash - path) : plen, len = e - s;
        int16_t lit = -1;
        if (nd->nslots > 0) {
            size_t mask = nd->nslots - 1u;
            const int16_t *slots = ri_slots + nd->slot0;
            for (size_t h = ri_hash(path + s, len) & mask;; h = (h + 1) & mask) {
                int16_t c = slots[h];
                if (c < 0)
                    break;
                if (ri_nodes[c].len == len && memcmp(ri_nodes[c].lit, path + s, len) == 0) {
                    lit = c;
                    break;
                }
            }
        }
        /* an empty segment never matches a capture */
        int16_t cap = len > 0 ? nd->capture : -1;
        if (lit >= 0 && cap >= 0)
            ri_walk(cap, path, plen, e, set);
        n = lit >= 0 ? lit : cap;
        if (n < 0)
            return;
        pos = e;
    }
}

/* the captures of route i, which matches path */
static void ri_capture(size_t i, const char *path, size_t plen, hc_req_t *r)
{
    const ri_route_t *c = &ri_routes[i];
    size_t pos = 0, n = 0;
    /* the route matches: a literal segment is as long as in the pattern, the
     * last segment ends with the path, only a capture inside needs a scan */
    for (size_t k = 0; k < c->nsegs; k++) {
        size_t s = pos + 1, e;
        if (c->segs[k].kind == SEG_LIT) {
            pos = s + c->segs[k].len;
            continue;
        }
        if (c->segs[k].kind == SEG_REST || k + 1 == c->nsegs) {
            e = plen;
        } else {
            const char *slash = memchr(path + s, '/', plen - s);
            e = slash != NULL ? (size_t)(slash - path) : plen;
        }
        r->params[n++] = h2o_iovec_init(path + s, e - s);
        pos = e;
    }
    r->nparams = n;
    for (size_t k = 0; k < n; k++)
        r->param_names[k] = c->names[k];
}

void router_index_build(void)
{
    pthread_once(&ri_once, ri_build);
}

const route_t *router_match(const char *method, size_t mlen, const char *path, size_t plen, hc_req_t *r, char *allow,
                            size_t allowlen)
{
    size_t alen = 0;
    if (allowlen > 0)
        allow[0] = '\0';
    if (!atomic_load_explicit(&ri_ready, memory_order_acquire))
        pthread_once(&ri_once, ri_build);
    ri_set_t set;
    set.n = 0;
    ri_walk(0, path, plen, 0, &set);
    int head = mlen == 4 && memcmp(method, "HEAD", 4) == 0;
    for (size_t k = 0; k < set.n; k++) {
        size_t i = (size_t)set.idx[k];
        const route_t *rt = &route_table[i];
        size_t ml = ri_routes[i].mlen;
        if ((ml == mlen && memcmp(rt->method, method, mlen) == 0) || (head && strcmp(rt->method, "GET") == 0)) {
            if (r != NULL)
                ri_capture(i, path, plen, r);
            return rt;
        }
        if (allowlen > 0 && strstr(allow, rt->method) == NULL) {
            int n = snprintf(allow + alen, allowlen - alen, "%s%s", alen ? ", " : "", rt->method);
            if (n > 0 && (size_t)n < allowlen - alen)
                alen += (size_t)n;
        }
    }
    return NULL;
}

const char *route_param(hc_req_t *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++) {
        if (strcmp(r->param_names[i], name) == 0) {
            char *s = h2o_mem_alloc_pool(&r->req->pool, r->params[i].len + 1);
            memcpy(s, r->params[i].base, r->params[i].len);
            s[r->params[i].len] = '\0';
            return s;
        }
    }
    return NULL;
}
