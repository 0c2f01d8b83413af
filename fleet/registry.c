/* fleet/: the registry of nodes, heads and the role catalog, in memory (registry.h). */
#include "registry.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fleet_metrics.h"
#include "log.h"
#include "str.h"

hc_lock_t registry_catalog_lock;
hc_lock_t registry_nodes_lock;

/* chained hash tables; buckets double when the load passes 1 */
static node_t **by_id, **by_token;
static size_t nbuckets, nnodes;
/* every node sorted by id (strcmp): keyset paging and streamed lists walk
 * it; registry_load appends and sorts once at the end */
static node_t **ordered;
static size_t ordered_cap;
static int loading;

/* guarded by registry_catalog_lock */
static role_t *roles;
static size_t nroles;

static _Atomic(registry_exec_pending_fn) exec_pending_fn;

static uint64_t hash_token(const uint8_t *t)
{
    uint64_t h;
    memcpy(&h, t, sizeof(h)); /* already a keyed hash: uniform */
    return h;
}

int registry_init(void)
{
    static int strings_ready;
    if (!strings_ready && intern_init() != 0)
        return -1;
    strings_ready = 1;
    lock_init(&registry_catalog_lock, "catalog", LOCK_RANK_CATALOG);
    lock_init(&registry_nodes_lock, "nodes", LOCK_RANK_NODES);
    nbuckets = 256;
    by_id = calloc(nbuckets, sizeof(*by_id));
    by_token = calloc(nbuckets, sizeof(*by_token));
    /* the nodes-by-status gauge: the runtime's /metrics does not know nodes */
    return by_id && by_token && fleet_metrics_register() == 0 ? 0 : -1;
}

#define NODE_TEXT_FIELDS 10
/* the interned text fields, by number (for new and free) */
static const char **node_text_field(node_t *n, size_t i)
{
    const char **f[NODE_TEXT_FIELDS] = {&n->name,  &n->hostname, &n->os,    &n->arch,           &n->version,
                                        &n->owner, &n->district, &n->venue, &n->provider_status, &n->stream_status};
    return f[i];
}

node_t *registry_node_new(void)
{
    node_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->roles = json_array();
    n->diagnostics = json_object();
    n->extra = json_object();
    strcpy(n->approval, "pending");
    for (size_t i = 0; i < NODE_TEXT_FIELDS; i++)
        *node_text_field(n, i) = intern_get("");
    if (!n->roles || !n->diagnostics || !n->extra) {
        registry_node_free(n);
        return NULL;
    }
    return n;
}

head_rec_t *registry_head_new(void)
{
    head_rec_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    strcpy(h->status, "idle");
    h->diagnostics = json_object();
    h->allowed_experiences = json_array();
    if (h->diagnostics == NULL || h->allowed_experiences == NULL) {
        json_decref(h->diagnostics);
        json_decref(h->allowed_experiences);
        free(h);
        return NULL;
    }
    return h;
}

void registry_node_free(node_t *n)
{
    if (n == NULL)
        return;
    json_decref(n->roles);
    json_decref(n->diagnostics);
    json_decref(n->extra);
    for (size_t i = 0; i < NODE_TEXT_FIELDS; i++)
        intern_put(*node_text_field(n, i));
    if (n->head != NULL) {
        json_decref(n->head->diagnostics);
        json_decref(n->head->allowed_experiences);
        free(n->head);
    }
    free(n);
}

static void rehash(void)
{
    size_t nb = nbuckets * 2;
    node_t **ni = calloc(nb, sizeof(*ni)), **nt = calloc(nb, sizeof(*nt));
    if (ni == NULL || nt == NULL) {
        free(ni);
        free(nt);
        return; /* keep the smaller table: slower chains, still correct */
    }
    for (size_t b = 0; b < nbuckets; b++) {
        for (node_t *n = by_id[b], *next; n != NULL; n = next) {
            next = n->next_by_id;
            size_t i = str_hash(n->id) % nb;
            n->next_by_id = ni[i];
            ni[i] = n;
        }
        for (node_t *n = by_token[b], *next; n != NULL; n = next) {
            next = n->next_by_token;
            size_t i = hash_token(n->token_hash) % nb;
            n->next_by_token = nt[i];
            nt[i] = n;
        }
    }
    free(by_id);
    free(by_token);
    by_id = ni;
    by_token = nt;
    nbuckets = nb;
}

static void token_unlink(node_t *n)
{
    node_t **pp = &by_token[hash_token(n->token_hash) % nbuckets];
    for (; *pp != NULL; pp = &(*pp)->next_by_token) {
        if (*pp == n) {
            *pp = n->next_by_token;
            n->next_by_token = NULL;
            return;
        }
    }
}

static void token_link(node_t *n)
{
    size_t i = hash_token(n->token_hash) % nbuckets;
    n->next_by_token = by_token[i];
    by_token[i] = n;
}

static int by_id_cmp(const void *a, const void *b)
{
    return strcmp((*(node_t *const *)a)->id, (*(node_t *const *)b)->id);
}

size_t registry_node_seek(const char *after)
{
    if (after == NULL || after[0] == '\0')
        return 0;
    size_t lo = 0, hi = nnodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ordered[mid]->id, after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

node_t *registry_node_at(size_t i)
{
    return i < nnodes ? ordered[i] : NULL;
}

uint64_t registry_nodes_generation(void)
{
    return lock_generation(&registry_nodes_lock);
}

/* 0, or -1 when the ordered index cannot grow (the node is then not inserted) */
static int ordered_add(node_t *n)
{
    if (nnodes == ordered_cap) {
        size_t cap = ordered_cap ? ordered_cap * 2 : 1024;
        node_t **o = realloc(ordered, cap * sizeof(*o));
        if (o == NULL)
            return -1;
        ordered = o;
        ordered_cap = cap;
    }
    size_t i = loading ? nnodes : registry_node_seek(n->id);
    memmove(&ordered[i + 1], &ordered[i], (nnodes - i) * sizeof(*ordered));
    ordered[i] = n;
    return 0;
}

static void ordered_remove(node_t *n)
{
    size_t i = registry_node_seek(n->id);
    if (i > 0 && ordered[i - 1] == n) {
        memmove(&ordered[i - 1], &ordered[i], (nnodes - i) * sizeof(*ordered));
        return;
    }
    for (i = 0; i < nnodes; i++) /* not found by id (cannot happen): keep the index exact anyway */
        if (ordered[i] == n) {
            memmove(&ordered[i], &ordered[i + 1], (nnodes - i - 1) * sizeof(*ordered));
            return;
        }
}

int registry_node_insert(node_t *n)
{
    if (ordered_add(n) != 0)
        return -1;
    if (nnodes + 1 > nbuckets)
        rehash();
    size_t i = str_hash(n->id) % nbuckets;
    n->next_by_id = by_id[i];
    by_id[i] = n;
    if (n->has_token)
        token_link(n);
    nnodes++;
    return 0;
}

void registry_node_remove(node_t *n)
{
    ordered_remove(n);
    node_t **pp = &by_id[str_hash(n->id) % nbuckets];
    for (; *pp != NULL; pp = &(*pp)->next_by_id) {
        if (*pp == n) {
            *pp = n->next_by_id;
            break;
        }
    }
    if (n->has_token)
        token_unlink(n);
    nnodes--;
    registry_node_free(n);
}

node_t *registry_node_find(const char *id)
{
    for (node_t *n = by_id[str_hash(id) % nbuckets]; n != NULL; n = n->next_by_id)
        if (strcmp(n->id, id) == 0)
            return n;
    return NULL;
}

node_t *registry_node_find_by_token(const uint8_t hash[SECRET_HASH_LEN])
{
    for (node_t *n = by_token[hash_token(hash) % nbuckets]; n != NULL; n = n->next_by_token)
        if (n->has_token && secret_hash_equal(n->token_hash, hash))
            return n;
    return NULL;
}

void registry_node_set_token(node_t *n, const uint8_t *hash)
{
    if (n->has_token)
        token_unlink(n);
    if (hash != NULL) {
        memcpy(n->token_hash, hash, SECRET_HASH_LEN);
        n->has_token = 1;
        token_link(n);
    } else {
        memset(n->token_hash, 0, SECRET_HASH_LEN);
        n->has_token = 0;
    }
}

void registry_node_foreach(registry_node_visit_fn fn, void *arg)
{
    for (size_t b = 0; b < nbuckets; b++)
        for (node_t *n = by_id[b], *next; n != NULL; n = next) {
            next = n->next_by_id;
            if (fn(n, arg))
                return;
        }
}

size_t registry_node_count(void)
{
    return nnodes;
}

int registry_auth_node(const uint8_t hash[SECRET_HASH_LEN], char *node_id, size_t idlen)
{
    int found = 0;
    lock_take_shared(&registry_nodes_lock);
    node_t *n = registry_node_find_by_token(hash);
    if (n != NULL && strcmp(n->approval, "rejected") != 0) {
        str_copy(node_id, idlen, n->id);
        found = 1;
    }
    lock_give(&registry_nodes_lock);
    return found;
}

int registry_role_name_ok(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return n > 0 && n <= ROLE_NAME_MAX;
}

const role_t *registry_role_find(const char *name)
{
    for (role_t *r = roles; r != NULL; r = r->next) {
        int c = strcmp(r->name, name);
        if (c == 0)
            return r;
        if (c > 0)
            break; /* sorted */
    }
    return NULL;
}

size_t registry_role_count(void)
{
    return nroles;
}

int registry_roles_to_json(json_t *array)
{
    for (role_t *r = roles; r != NULL; r = r->next) {
        json_t *o = json_pack("{s:s, s:s, s:O}", "name", r->name, "description", r->description, "recipe", r->recipe);
        if (o == NULL || json_array_append_new(array, o) != 0)
            return -1;
    }
    return 0;
}

static void role_free(role_t *r)
{
    if (r == NULL)
        return;
    free(r->description);
    json_decref(r->recipe);
    free(r);
}

int registry_role_put(const char *name, const char *description, json_t *recipe)
{
    if (strlen(name) > ROLE_NAME_MAX)
        return -1;
    char *d = strdup(description ? description : "");
    json_t *rc = recipe ? json_deep_copy(recipe) : json_object();
    if (d == NULL || rc == NULL) {
        free(d);
        json_decref(rc);
        return -1;
    }
    role_t **pp = &roles;
    while (*pp != NULL && strcmp((*pp)->name, name) < 0)
        pp = &(*pp)->next;
    if (*pp != NULL && strcmp((*pp)->name, name) == 0) {
        free((*pp)->description);
        json_decref((*pp)->recipe);
        (*pp)->description = d;
        (*pp)->recipe = rc;
        return 0;
    }
    role_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        free(d);
        json_decref(rc);
        return -1;
    }
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->description = d;
    r->recipe = rc;
    r->next = *pp;
    *pp = r;
    nroles++;
    return 0;
}

int registry_role_remove(const char *name)
{
    for (role_t **pp = &roles; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            role_t *r = *pp;
            *pp = r->next;
            role_free(r);
            nroles--;
            return 1;
        }
    }
    return 0;
}

int registry_node_has_role(const node_t *n, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(n->roles, i, v) if (json_is_string(v) && strcmp(json_string_value(v), name) == 0) return 1;
    return 0;
}

void registry_set_exec_pending_fn(registry_exec_pending_fn fn)
{
    atomic_store(&exec_pending_fn, fn);
}

int registry_exec_pending(const char *node_id)
{
    registry_exec_pending_fn fn = atomic_load(&exec_pending_fn);
    return fn != NULL ? fn(node_id) : 0;
}

static void copy_col(sqlite3_stmt *st, int col, char *dst, size_t dstlen)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    snprintf(dst, dstlen, "%s", s ? (const char *)s : "");
}

/* 1, or 0 out of memory */
static int text_col(sqlite3_stmt *st, int col, const char **field)
{
    return intern_set(field, (const char *)sqlite3_column_text(st, col)) == 0;
}

/* Loading shares equal JSON values between nodes (most nodes hold one of a
 * few role sets, and no diagnostics or extra): a value read is kept by its
 * text in a small table, and a node whose column has the same text takes a
 * reference to it. Safe because node JSON is never changed in place once the
 * node is in the registry: changes replace the whole value. */
#define JSON_SHARE_SLOTS 256
static struct {
    char *text;
    json_t *v;
} json_share[JSON_SHARE_SLOTS];

static void json_share_clear(void)
{
    for (size_t i = 0; i < JSON_SHARE_SLOTS; i++) {
        free(json_share[i].text);
        json_decref(json_share[i].v);
        json_share[i].text = NULL;
        json_share[i].v = NULL;
    }
}

static json_t *json_col_parse(sqlite3_stmt *st, int col, int want_array);

static json_t *json_col(sqlite3_stmt *st, int col, int want_array)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    if (!loading || s == NULL)
        return json_col_parse(st, col, want_array);
    uint64_t h = str_hash(s) ^ (uint64_t)want_array;
    size_t slot = h % JSON_SHARE_SLOTS;
    if (json_share[slot].text != NULL && strcmp(json_share[slot].text, s) == 0 &&
        json_is_array(json_share[slot].v) == want_array)
        return json_incref(json_share[slot].v);
    json_t *v = json_col_parse(st, col, want_array);
    char *text = v ? strdup(s) : NULL;
    if (text != NULL) { /* the newest value of a slot wins it */
        free(json_share[slot].text);
        json_decref(json_share[slot].v);
        json_share[slot].text = text;
        json_share[slot].v = json_incref(v);
    }
    return v;
}

static json_t *json_col_parse(sqlite3_stmt *st, int col, int want_array)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    json_t *v = s ? json_loads((const char *)s, 0, NULL) : NULL;
    if (v == NULL || (want_array ? !json_is_array(v) : !json_is_object(v))) {
        json_decref(v);
        v = want_array ? json_array() : json_object();
    }
    return v;
}

static int64_t time_col(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    int64_t t = 0;
    if (s != NULL && clock_parse_rfc3339((const char *)s, &t) != 0)
        t = 0;
    return t;
}

/* the ordered index was appended to while loading: sort it once */
static void loading_end(void)
{
    loading = 0;
    json_share_clear();
    if (nnodes > 1)
        qsort(ordered, nnodes, sizeof(*ordered), by_id_cmp);
}

int registry_load(sqlite3 *db, char *err, size_t errlen)
{
    static const char *sql =
        "SELECT n.id, n.token_hash, n.name, n.hostname, n.os, n.arch, n.version, n.owner, n.district, n.venue, "
        "n.roles, n.approval, n.enrolled_at, n.last_seen, n.ip, n.wireguard_ip, n.lan_ip, n.provider_status, "
        "n.stream_status, n.drain, n.flag_update_node, n.flag_update_services, n.flag_reprovision, "
        "n.flags_generation, n.diagnostics, n.extra, "
        "h.node_id, h.status, h.diagnostics, h.assigned_body_id, h.app_id, h.allowed_experiences, h.updated_at, "
        "n.flags_acked, h.reported_body_id "
        "FROM nodes n LEFT JOIN heads h ON h.node_id = n.id";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    int rc;
    lock_take(&registry_nodes_lock);
    loading = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        node_t *n = registry_node_new();
        if (n == NULL) {
            loading_end();
            lock_give(&registry_nodes_lock);
            snprintf(err, errlen, "out of memory loading nodes");
            sqlite3_finalize(st);
            return -1;
        }
        int text_ok = 1;
        copy_col(st, 0, n->id, sizeof(n->id));
        if (sqlite3_column_bytes(st, 1) == SECRET_HASH_LEN) {
            memcpy(n->token_hash, sqlite3_column_blob(st, 1), SECRET_HASH_LEN);
            n->has_token = 1;
        }
        text_ok &= text_col(st, 2, &n->name);
        text_ok &= text_col(st, 3, &n->hostname);
        text_ok &= text_col(st, 4, &n->os);
        text_ok &= text_col(st, 5, &n->arch);
        text_ok &= text_col(st, 6, &n->version);
        text_ok &= text_col(st, 7, &n->owner);
        text_ok &= text_col(st, 8, &n->district);
        text_ok &= text_col(st, 9, &n->venue);
        json_decref(n->roles);
        n->roles = json_col(st, 10, 1);
        copy_col(st, 11, n->approval, sizeof(n->approval));
        n->enrolled_at = time_col(st, 12);
        n->last_seen = time_col(st, 13);
        copy_col(st, 14, n->ip, sizeof(n->ip));
        copy_col(st, 15, n->wireguard_ip, sizeof(n->wireguard_ip));
        copy_col(st, 16, n->lan_ip, sizeof(n->lan_ip));
        text_ok &= text_col(st, 17, &n->provider_status);
        text_ok &= text_col(st, 18, &n->stream_status);
        n->drain = sqlite3_column_int(st, 19);
        n->flag_update_node = sqlite3_column_int(st, 20);
        n->flag_update_services = sqlite3_column_int(st, 21);
        n->flag_reprovision = sqlite3_column_int(st, 22);
        n->flags_generation = sqlite3_column_int64(st, 23);
        json_decref(n->diagnostics);
        n->diagnostics = json_col(st, 24, 0);
        json_decref(n->extra);
        n->extra = json_col(st, 25, 0);
        if (!text_ok) {
            registry_node_free(n);
            loading_end();
            lock_give(&registry_nodes_lock);
            snprintf(err, errlen, "out of memory loading nodes");
            sqlite3_finalize(st);
            return -1;
        }
        n->flags_acked = sqlite3_column_int(st, 33);
        if (sqlite3_column_type(st, 26) != SQLITE_NULL) {
            n->head = calloc(1, sizeof(*n->head));
            if (n->head == NULL) {
                registry_node_free(n);
                loading_end();
                lock_give(&registry_nodes_lock);
                snprintf(err, errlen, "out of memory loading heads");
                sqlite3_finalize(st);
                return -1;
            }
            copy_col(st, 27, n->head->status, sizeof(n->head->status));
            n->head->diagnostics = json_col(st, 28, 0);
            copy_col(st, 29, n->head->assigned_body_id, sizeof(n->head->assigned_body_id));
            copy_col(st, 30, n->head->app_id, sizeof(n->head->app_id));
            n->head->allowed_experiences = json_col(st, 31, 1);
            n->head->updated_at = time_col(st, 32);
            copy_col(st, 34, n->head->reported_body_id, sizeof(n->head->reported_body_id));
        }
        if (registry_node_insert(n) != 0) {
            registry_node_free(n);
            loading_end();
            lock_give(&registry_nodes_lock);
            snprintf(err, errlen, "out of memory loading nodes");
            sqlite3_finalize(st);
            return -1;
        }
    }
    loading_end();
    lock_give(&registry_nodes_lock);
    if (rc != SQLITE_DONE)
        goto fail; /* fail finalizes st after reading the error */
    sqlite3_finalize(st);

    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, token_hash, label, created_at FROM admin_tokens WHERE revoked_at IS NULL ORDER BY created_at", -1, &st, NULL) !=
        SQLITE_OK)
        goto fail;
    lock_take(&registry_nodes_lock);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != SECRET_HASH_LEN)
            continue;
        if (registry_admin_token_add((const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
                                     (const char *)sqlite3_column_text(st, 2),
                                     (const char *)sqlite3_column_text(st, 3)) != 0) {
            lock_give(&registry_nodes_lock);
            snprintf(err, errlen, "out of memory loading admin tokens");
            sqlite3_finalize(st);
            return -1;
        }
    }
    lock_give(&registry_nodes_lock);
    if (rc != SQLITE_DONE)
        goto fail; /* fail finalizes st after reading the error */
    sqlite3_finalize(st);

    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name, description, recipe FROM roles", -1, &st, NULL) != SQLITE_OK)
        goto fail;
    lock_take(&registry_catalog_lock);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        /* names already stored are taken as they are (nodes.yaml imports
         * allow capitals); registry_role_name_ok is the rule for new ones */
        if (name == NULL || name[0] == '\0' || strlen(name) > ROLE_NAME_MAX) {
            log_warn("msg=\"skipping a role with an empty or over-long name in the roles table\"");
            continue;
        }
        json_t *recipe = json_col(st, 2, 0);
        int failed = recipe == NULL || registry_role_put(name, (const char *)sqlite3_column_text(st, 1), recipe) != 0;
        json_decref(recipe);
        if (failed) {
            lock_give(&registry_catalog_lock);
            snprintf(err, errlen, "out of memory loading the role catalog");
            sqlite3_finalize(st);
            return -1;
        }
    }
    lock_give(&registry_catalog_lock);
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);

    /* When each head and each body was last assigned (eligibility order: least
     * recently assigned body first). The audit log already records every
     * assignment durably with its time, so it is the source; the times are
     * RFC 3339 UTC text, which sorts like time. */
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT target, json_extract(detail, '$.body_id'), at FROM audit "
                               "WHERE action = 'head.assign' ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        goto fail;
    lock_take(&registry_nodes_lock);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *head_id = (const char *)sqlite3_column_text(st, 0);
        const char *body_id = (const char *)sqlite3_column_text(st, 1);
        int64_t at = time_col(st, 2);
        node_t *h = head_id ? registry_node_find(head_id) : NULL;
        node_t *b = body_id ? registry_node_find(body_id) : NULL;
        if (h != NULL && h->head != NULL && at > h->head->last_assigned_at)
            h->head->last_assigned_at = at;
        if (b != NULL && at > b->last_assigned_at)
            b->last_assigned_at = at;
    }
    lock_give(&registry_nodes_lock);
    if (rc != SQLITE_DONE)
        goto fail; /* fail finalizes st after reading the error */
    sqlite3_finalize(st);
    return 0;
fail:
    snprintf(err, errlen, "cannot load the registry from the database: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
}

void registry_free(void)
{
    lock_take(&registry_nodes_lock);
    for (size_t b = 0; b < nbuckets; b++)
        for (node_t *n = by_id[b], *next; n != NULL; n = next) {
            next = n->next_by_id;
            registry_node_free(n);
        }
    free(by_id);
    free(by_token);
    free(ordered);
    by_id = by_token = NULL;
    ordered = NULL;
    nbuckets = nnodes = ordered_cap = 0;
    registry_tokens_clear();
    lock_give(&registry_nodes_lock);
    lock_take(&registry_catalog_lock);
    while (roles != NULL) {
        role_t *r = roles;
        roles = r->next;
        role_free(r);
    }
    nroles = 0;
    lock_give(&registry_catalog_lock);
}

int registry_node_online(const node_t *n, int64_t now, uint64_t offline_after_ms)
{
    /* a last_seen ahead of our clock (the clock stepped back) counts as just seen */
    return n->last_seen != 0 && (n->last_seen >= now || (uint64_t)(now - n->last_seen) * 1000 <= offline_after_ms);
}
