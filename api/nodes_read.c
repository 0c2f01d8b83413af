/*
 * Node reads (docs/api.md "GET /api/v1/nodes"):
 *   GET /api/v1/nodes        the list, filtered, streamed or in keyset pages
 *   GET /api/v1/nodes/{id}   one node
 *   GET /api/v1/nodes/summary  counts by state and the values to filter by (the dashboard)
 *
 * The list is written node by node into h2o's output, never as one tree:
 * under the nodes lock (shared) a batch of nodes is serialised into this
 * request's buffer (the bytes are the copy), the lock is released, the
 * batch is sent, and h2o's proceed callback (the client took it) continues
 * after the last id of the batch. So a 100k-node list costs one 64 KiB
 * buffer per request, and writers wait at most one batch.
 *
 * With ?limit=N the page (and whether more remain, for the Link header) is
 * complete before the answer starts, so it carries a Content-Length.
 *
 * ETags: the whole list's is the process's boot id, the nodes lock's
 * generation (it moves with every change of any node) and the number of
 * nodes online now. With the generation fixed, time alone only takes nodes
 * offline (or, with a clock stepped back, only online), so that number pins
 * which nodes are online and the tag pins the body. A page and a single node
 * are complete before they are sent: their tag is a hash of the body, which
 * spares a page the pass over every node.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "jsonio.h"
#include "node_json.h"
#include "registry.h"
#include "serve.h"
#include "str.h"

#define LIST_BATCH_BYTES (64 * 1024) /* one send */
#define LIST_BATCH_SCAN 4096         /* nodes looked at per lock hold */
#define LIST_LIMIT_MAX 1000
#define NODE_READ_POOL_BYTES 1000 /* h2o's pool mallocs blocks from ~1 KiB apart */

#define SEARCH_WORDS_MAX 8

typedef struct {
    const char *role, *district, *venue, *status, *stream_status, *q;
    const char *words[SEARCH_WORDS_MAX]; /* q split at spaces (in the request pool) */
    int orphaned;                        /* -1 any, 0 not orphaned, 1 orphaned */
    size_t nwords;
    int64_t now;
    uint64_t offline_after_ms;
} filter_t;

typedef struct {
    h2o_generator_t super; /* first: h2o hands it back to proceed */
    hc_req_t *r;
    filter_t f;
    char after[NODE_ID_MAX]; /* the last id looked at */
    size_t items;            /* matches written so far */
    int done;                /* the last node was looked at */
    node_json_buf_t buf;
} list_t;

static const h2o_iovec_t json_ct = {H2O_STRLIT("application/json")};

/* every word of q appears (ASCII case ignored) in one of the node's texts */
static int search_match(const filter_t *f, const node_t *n)
{
    const char *texts[] = {n->id,      n->name,     n->hostname, n->owner,        n->district, n->venue,
                           n->ip,      n->wireguard_ip, n->lan_ip, n->os,          n->version};
    for (size_t w = 0; w < f->nwords; w++) {
        int found = 0;
        for (size_t i = 0; !found && i < sizeof(texts) / sizeof(texts[0]); i++)
            found = strcasestr(texts[i], f->words[w]) != NULL;
        size_t i;
        json_t *v;
        json_array_foreach(n->roles, i, v) if (!found && json_is_string(v)) found =
            strcasestr(json_string_value(v), f->words[w]) != NULL;
        if (!found)
            return 0;
    }
    return 1;
}

static int filter_match(const filter_t *f, const node_t *n)
{
    if (f->role && !registry_node_has_role(n, f->role))
        return 0;
    if (f->district && strcmp(n->district, f->district) != 0)
        return 0;
    if (f->venue && strcmp(n->venue, f->venue) != 0)
        return 0;
    if (f->stream_status && strcmp(n->stream_status, f->stream_status) != 0)
        return 0;
    if (f->orphaned >= 0 && (n->orphaned_since != 0) != f->orphaned)
        return 0;
    if (f->nwords > 0 && !search_match(f, n))
        return 0;
    if (f->status != NULL) {
        if (strcmp(f->status, "pending") == 0 || strcmp(f->status, "rejected") == 0)
            return strcmp(n->approval, f->status) == 0;
        if (strcmp(f->status, "draining") == 0)
            return n->drain != 0;
        int online = registry_node_online(n, f->now, f->offline_after_ms);
        return online == (strcmp(f->status, "online") == 0);
    }
    return 1;
}

/* Looks at up to LIST_BATCH_SCAN nodes after l->after under the lock and
 * writes the matches (up to `want`, 0 = until the buffer holds a batch);
 * with dry set, only counts them. Returns how many matched. */
static size_t list_fill(list_t *l, size_t want, int dry)
{
    size_t matched = 0, scanned = 0;
    lock_take_shared(&registry_nodes_lock);
    size_t i = registry_node_seek(l->after);
    node_t *n, *last = NULL;
    while ((n = registry_node_at(i)) != NULL && scanned < LIST_BATCH_SCAN) {
        if (want ? matched == want : l->buf.len >= LIST_BATCH_BYTES)
            break;
        /* the walk is memory-bound: each node and its own strings (name,
         * hostname) sit apart in the heap; ask for the next ones early */
        node_t *ahead = registry_node_at(i + 4), *next = registry_node_at(i + 1);
        if (ahead != NULL)
            __builtin_prefetch(ahead);
        if (next != NULL) {
            __builtin_prefetch(next->name);
            __builtin_prefetch(next->hostname);
        }
        i++;
        scanned++;
        last = n;
        if (!filter_match(&l->f, n))
            continue;
        matched++;
        if (dry)
            continue;
        if (l->items++ > 0)
            node_json_put(&l->buf, ",", 1);
        node_json_append(&l->buf, n, l->f.now, l->f.offline_after_ms);
    }
    if (n == NULL)
        l->done = 1;
    if (last != NULL)
        memcpy(l->after, last->id, sizeof(l->after));
    lock_give(&registry_nodes_lock);
    return matched;
}

static void list_dispose(void *p)
{
    node_json_buf_free(&((list_t *)p)->buf);
}

/* HEAD: the headers a GET would get, no body (h2o_send_inline does this
 * itself; the list sends with h2o_send, so it asks) */
static int is_head(h2o_req_t *req)
{
    return h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"));
}

static void list_send_batch(list_t *l)
{
    if (l->done)
        node_json_put(&l->buf, "]\n", 2);
    if (l->buf.oom) {
        /* the status line went out already: end the body short (chunked,
         * so the client sees an incomplete answer, not a wrong one) */
        h2o_send(l->r->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    h2o_iovec_t v = h2o_iovec_init(l->buf.p, l->buf.len);
    h2o_send(l->r->req, &v, 1, l->done ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void list_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    list_t *l = (list_t *)self;
    router_busy(l->r);
    l->buf.len = 0; /* h2o is done with the previous batch */
    while (!l->done && l->buf.len < LIST_BATCH_BYTES && !l->buf.oom)
        list_fill(l, 0, 0);
    list_send_batch(l);
    router_idle();
}

static void list_stop(h2o_generator_t *self, h2o_req_t *req)
{
    /* the client went away: nothing held between batches; the buffer goes with the pool */
    (void)self;
    (void)req;
}

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static uint32_t boot_id;
static uint64_t etag_seed;

static void boot_init(void)
{
    boot_id = randombytes_random();
    randombytes_buf(&etag_seed, sizeof(etag_seed));
}

/* 1 when the request's If-None-Match names etag (or is "*") */
static int etag_matches(hc_req_t *r, const char *etag)
{
    h2o_req_t *req = r->req;
    size_t elen = strlen(etag);
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, i)) != -1;) {
        const char *p = req->headers.entries[i].value.base, *end = p + req->headers.entries[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
                p++;
            const char *s = p;
            while (p < end && *p != ',')
                p++;
            const char *e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (e - s == 1 && *s == '*')
                return 1;
            if (e - s > 2 && s[0] == 'W' && s[1] == '/')
                s += 2; /* If-None-Match compares weakly */
            if ((size_t)(e - s) == elen && memcmp(s, etag, elen) == 0)
                return 1;
        }
    }
    return 0;
}

/* "<kind><boot id><hash of the body and flag>": exact, whatever made the
 * body. The hash is str_hash_bytes, seeded per process: an ETag is a
 * validator, not a secret (the body it stands for is the client's to read
 * anyway), and 64 bits make a false 304 a 2^-64 event; a keyed SipHash cost
 * ~2,800 instructions per node read, this ~500. */
static void body_etag(char out[64], char kind, const char *body, size_t len, unsigned char flag)
{
    pthread_once(&boot_once, boot_init);
    uint64_t h = str_hash_bytes(body, len, etag_seed);
    /* "\"%c%08x%016llx%u\"" by hand: snprintf cost more than the hash */
    static const char hexdig[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    out[o++] = kind;
    for (int shift = 28; shift >= 0; shift -= 4)
        out[o++] = hexdig[(boot_id >> shift) & 15];
    for (int shift = 60; shift >= 0; shift -= 4)
        out[o++] = hexdig[(h >> shift) & 15];
    o += str_from_int(out + o, flag);
    out[o++] = '"';
    out[o] = '\0';
}

static void add_header(h2o_req_t *req, const h2o_token_t *token, const char *value)
{
    size_t len = strlen(value);
    char *v = h2o_mem_alloc_pool(&req->pool, len);
    memcpy(v, value, len);
    h2o_add_header(&req->pool, &req->res.headers, token, NULL, v, len);
}

/* the headers every node read carries; a cache may keep it but must ask again */
static void read_headers(h2o_req_t *req, const char *etag)
{
    add_header(req, H2O_TOKEN_ETAG, etag);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("private, no-cache"));
}

static void respond_304(hc_req_t *r, const char *etag)
{
    h2o_req_t *req = r->req;
    req->res.status = 304;
    req->res.reason = "Not Modified";
    read_headers(req, etag);
    req->res.content_length = 0;
    h2o_send_inline(req, "", 0);
}

/* appends s percent-encoded (everything but unreserved characters) */
static size_t url_encode(char *out, size_t outlen, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < outlen; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '.' || *p == '_' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return o;
}

/* Link: </api/v1/nodes?limit=N&after=ID&filters…>; rel="next" */
static void link_next(hc_req_t *r, const list_t *l, long limit)
{
    const struct {
        const char *name, *value;
    } q[] = {{"role", l->f.role},     {"district", l->f.district},           {"venue", l->f.venue},
             {"status", l->f.status}, {"stream_status", l->f.stream_status}, {"q", l->f.q},
             {"orphaned", l->f.orphaned < 0 ? NULL : l->f.orphaned ? "true" : "false"}};
    size_t cap = 256 + 3 * sizeof(l->after);
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
        if (q[i].value != NULL)
            cap += strlen(q[i].name) + 2 + 3 * strlen(q[i].value);
    char *link = h2o_mem_alloc_pool(&r->req->pool, cap);
    size_t o = (size_t)snprintf(link, cap, "</api/v1/nodes?limit=%ld&after=", limit);
    o += url_encode(link + o, cap - o, l->after);
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        if (q[i].value == NULL)
            continue;
        o += (size_t)snprintf(link + o, cap - o, "&%s=", q[i].name);
        o += url_encode(link + o, cap - o, q[i].value);
    }
    o += (size_t)snprintf(link + o, cap - o, ">; rel=\"next\"");
    h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_LINK, NULL, link, o);
}

static void list_headers(h2o_req_t *req, const char *etag)
{
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, json_ct.base, json_ct.len);
    read_headers(req, etag);
}

/* limit: 1..LIST_LIMIT_MAX, 0 when absent, -1 invalid */
static long parse_limit(const char *s)
{
    if (s == NULL)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || v < 1 || v > LIST_LIMIT_MAX)
        return -1;
    return v;
}

static int role_known(const char *role)
{
    if (strlen(role) > ROLE_NAME_MAX)
        return 0;
    lock_take_shared(&registry_catalog_lock);
    int known = registry_role_find(role) != NULL;
    lock_give(&registry_catalog_lock);
    return known;
}

/* a node holds the role (a node may hold one the catalog lost: imported) */
static int role_held(const char *role)
{
    int held = 0;
    lock_take_shared(&registry_nodes_lock);
    node_t *n;
    for (size_t i = 0; !held && (n = registry_node_at(i)) != NULL; i++)
        held = registry_node_has_role(n, role);
    lock_give(&registry_nodes_lock);
    return held;
}

/* The filters both the list and the summary take: 0, or -1 after a 400. */
static int filter_parse(hc_req_t *r, filter_t *f)
{
    *f = (filter_t){.role = route_query(r, "role"),
                    .district = route_query(r, "district"),
                    .venue = route_query(r, "venue"),
                    .status = route_query(r, "status"),
                    .stream_status = route_query(r, "stream_status"),
                    .q = route_query(r, "q"),
                    .orphaned = -1,
                    .now = clock_now(),
                    .offline_after_ms = serve_config()->nodes.offline_after_ms};
    const char *orphaned = route_query(r, "orphaned");
    if (orphaned != NULL && strcmp(orphaned, "true") != 0 && strcmp(orphaned, "false") != 0) {
        json_error(r, 400, "bad_request", "\"orphaned\" must be true or false");
        return -1;
    }
    if (orphaned != NULL)
        f->orphaned = strcmp(orphaned, "true") == 0;
    static const char *const statuses[] = {"online", "offline", "pending", "rejected", "draining", NULL};
    int status_ok = f->status == NULL;
    for (size_t i = 0; !status_ok && statuses[i]; i++)
        status_ok = strcmp(f->status, statuses[i]) == 0;
    if (!status_ok) {
        json_error(r, 400, "bad_request", "\"status\" must be online, offline, pending, rejected or draining");
        return -1;
    }
    if (f->stream_status && !nodes_stream_status_ok(f->stream_status)) {
        json_error(r, 400, "bad_request", "\"stream_status\" must be idle, streaming or error");
        return -1;
    }
    if (f->q != NULL) {
        if (strlen(f->q) > 256) {
            json_error(r, 400, "bad_request", "\"q\" is at most 256 bytes");
            return -1;
        }
        char *copy = h2o_mem_alloc_pool(&r->req->pool, strlen(f->q) + 1), *save = NULL;
        strcpy(copy, f->q);
        for (char *w = strtok_r(copy, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
            if (f->nwords == SEARCH_WORDS_MAX) {
                json_error(r, 400, "bad_request", "\"q\" takes at most %d words", SEARCH_WORDS_MAX);
                return -1;
            }
            f->words[f->nwords++] = w;
        }
    }
    /* a role that no node holds and the catalog lacks is a typo, not an empty answer */
    if (f->role != NULL && !role_known(f->role) && !role_held(f->role)) {
        json_error(r, 400, "bad_request", "unknown role \"%.64s\": not in the role catalog (GET /api/v1/roles)",
                   f->role);
        return -1;
    }
    return 0;
}

void api_nodes_list(hc_req_t *r)
{
    static const char *const allowed[] = {"role", "district", "venue", "status", "stream_status", "orphaned", "q",
                                          "limit", "after", NULL};
    char err[256];
    if (route_query_check(r, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request",
                   "%s (parameters: role, district, venue, status, stream_status, orphaned, q, limit, after)", err);
        return;
    }
    filter_t f;
    if (filter_parse(r, &f) != 0)
        return;
    long limit = parse_limit(route_query(r, "limit"));
    if (limit < 0) {
        json_error(r, 400, "bad_request", "\"limit\" must be a whole number from 1 to %d", LIST_LIMIT_MAX);
        return;
    }
    const char *after = route_query(r, "after");
    if (after != NULL && strlen(after) >= NODE_ID_MAX) {
        json_error(r, 400, "bad_request", "\"after\" must be a node id (at most %d bytes)", NODE_ID_MAX - 1);
        return;
    }

    list_t *l = h2o_mem_alloc_shared(&r->req->pool, sizeof(*l), list_dispose);
    memset(l, 0, sizeof(*l));
    l->super.proceed = list_proceed;
    l->super.stop = list_stop;
    l->r = r;
    l->f = f;
    if (after != NULL)
        snprintf(l->after, sizeof(l->after), "%s", after);
    node_json_put(&l->buf, "[", 1);

    h2o_req_t *req = r->req;
    char etag[64];
    if (limit > 0) {
        while (!l->done && l->items < (size_t)limit && !l->buf.oom)
            list_fill(l, (size_t)limit - l->items, 0);
        /* is there a next page? look for one more match from here */
        list_t probe = {.f = l->f};
        memcpy(probe.after, l->after, sizeof(probe.after));
        size_t more = 0;
        while (!probe.done && more == 0)
            more = list_fill(&probe, 1, 1);
        l->done = 1;
        node_json_put(&l->buf, "]\n", 2);
        if (l->buf.oom) {
            json_error(r, 500, "internal", "out of memory");
            return;
        }
        /* the page is complete: its tag is its hash (and whether a next page follows) */
        body_etag(etag, 'p', l->buf.p, l->buf.len, more != 0);
        if (etag_matches(r, etag)) {
            respond_304(r, etag);
            return;
        }
        list_headers(req, etag);
        if (more)
            link_next(r, l, limit);
        req->res.content_length = l->buf.len;
        h2o_start_response(req, &l->super);
        h2o_iovec_t v = h2o_iovec_init(l->buf.p, l->buf.len);
        h2o_send(req, &v, is_head(req) ? 0 : 1, H2O_SEND_STATE_FINAL);
        return;
    }
    /* the whole list: tagged before its first byte goes out (see the top) */
    size_t online = 0;
    lock_take_shared(&registry_nodes_lock);
    uint64_t gen = registry_nodes_generation();
    node_t *n;
    for (size_t i = 0; (n = registry_node_at(i)) != NULL; i++)
        online += (size_t)registry_node_online(n, f.now, f.offline_after_ms);
    lock_give(&registry_nodes_lock);
    pthread_once(&boot_once, boot_init);
    snprintf(etag, sizeof(etag), "\"l%08x-%llu-%zu\"", boot_id, (unsigned long long)gen, online);
    if (etag_matches(r, etag)) {
        respond_304(r, etag);
        return;
    }
    while (!l->done && l->buf.len < LIST_BATCH_BYTES && !l->buf.oom)
        list_fill(l, 0, 0);
    if (l->buf.oom) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    list_headers(req, etag);
    if (l->done) /* all of it in one batch: a known length keeps it simple for the client */
        req->res.content_length = l->buf.len + 2;
    h2o_start_response(req, &l->super);
    if (is_head(req)) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    list_send_batch(l);
}

void api_nodes_get(hc_req_t *r)
{
    const char *id = route_param(r, "id");
    if (id == NULL || strlen(id) >= NODE_ID_MAX) {
        json_error(r, 404, "not_found", "no such node");
        return;
    }
    /* a node is about 600 bytes: serialised straight into the request's
     * pool, which h2o sends from (under h2o's threshold for a malloc of its
     * own); a larger node moves to the heap and is copied when sent */
    node_json_buf_t b = {.p = h2o_mem_alloc_pool(&r->req->pool, NODE_READ_POOL_BYTES),
                         .cap = NODE_READ_POOL_BYTES,
                         .borrowed = 1};
    lock_take_shared(&registry_nodes_lock);
    node_t *n = registry_node_find(id);
    if (n != NULL)
        node_json_append(&b, n, clock_now(), serve_config()->nodes.offline_after_ms);
    lock_give(&registry_nodes_lock);
    if (n == NULL) {
        json_error(r, 404, "not_found", "no node %s", id);
        goto out;
    }
    node_json_put(&b, "\n", 1);
    if (b.oom) {
        json_error(r, 500, "internal", "out of memory");
        goto out;
    }
    char etag[64];
    body_etag(etag, 'n', b.p, b.len, 0);
    if (etag_matches(r, etag)) {
        respond_304(r, etag);
        goto out;
    }
    h2o_req_t *req = r->req;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = b.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, json_ct.base, json_ct.len);
    read_headers(req, etag);
    if (!b.borrowed) {
        h2o_send_inline(req, b.p, b.len); /* copies into the pool */
        goto out;
    }
    /* what h2o_send_inline does, without its copy */
    static h2o_generator_t generator = {NULL, NULL};
    h2o_start_response(req, &generator);
    h2o_iovec_t body = h2o_iovec_init(b.p, b.len);
    if (is_head(req))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
out:
    node_json_buf_free(&b);
}

/* ---- GET /api/v1/nodes/summary ---- */

static int by_strptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* adds s to the set (an object used as a set of its keys); "" is left out */
static int set_add(json_t *set, const char *s)
{
    return s[0] == '\0' || json_object_get(set, s) != NULL ? 0 : json_object_set_new(set, s, json_null());
}

/* the keys of a set as a sorted array (jansson keeps insertion order) */
static json_t *set_sorted(json_t *set)
{
    size_t n = json_object_size(set), i = 0;
    const char **keys = malloc((n ? n : 1) * sizeof(*keys));
    json_t *a = json_array();
    if (keys == NULL || a == NULL) {
        free(keys);
        json_decref(a);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v) keys[i++] = k;
    qsort(keys, n, sizeof(*keys), by_strptr);
    for (i = 0; i < n; i++)
        if (json_array_append_new(a, json_string(keys[i])) != 0) {
            json_decref(a);
            a = NULL;
            break;
        }
    free(keys);
    return a;
}

void api_nodes_summary(hc_req_t *r)
{
    static const char *const allowed[] = {"role", "district", "venue", "status", "stream_status", "orphaned", "q",
                                          NULL};
    char err[256];
    if (route_query_check(r, allowed, err, sizeof(err)) != 0) {
        json_error(r, 400, "bad_request", "%s (filters: role, district, venue, status, stream_status, orphaned, q)",
                   err);
        return;
    }
    filter_t f;
    if (filter_parse(r, &f) != 0)
        return;
    json_int_t total = 0, matched = 0, online = 0, offline = 0, pending = 0, rejected = 0, draining = 0,
               streaming = 0, heads = 0;
    json_t *districts = json_object(), *venues = json_object(), *roles = json_object();
    int oom = districts == NULL || venues == NULL || roles == NULL;
    lock_take_shared(&registry_nodes_lock);
    node_t *n;
    for (size_t i = 0; !oom && (n = registry_node_at(i)) != NULL; i++) {
        total++;
        matched += filter_match(&f, n);
        if (strcmp(n->approval, "pending") == 0)
            pending++;
        else if (strcmp(n->approval, "rejected") == 0)
            rejected++;
        else if (registry_node_online(n, f.now, f.offline_after_ms))
            online++;
        else
            offline++;
        draining += n->drain != 0;
        streaming += strcmp(n->stream_status, "streaming") == 0;
        heads += n->head != NULL;
        oom |= set_add(districts, n->district) != 0 || set_add(venues, n->venue) != 0;
        size_t k;
        json_t *v;
        json_array_foreach(n->roles, k, v) if (json_is_string(v)) oom |= set_add(roles, json_string_value(v)) != 0;
    }
    lock_give(&registry_nodes_lock);
    json_t *o = oom ? NULL
                    : json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o*, s:o*, s:o*}", "total", total,
                                "matched", matched, "online", online, "offline", offline, "pending", pending,
                                "rejected", rejected, "draining", draining, "streaming", streaming, "heads", heads,
                                "districts", set_sorted(districts), "venues", set_sorted(venues), "roles",
                                set_sorted(roles));
    json_decref(districts);
    json_decref(venues);
    json_decref(roles);
    if (o == NULL || json_object_size(o) != 12) {
        json_decref(o);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, 200, o);
}
