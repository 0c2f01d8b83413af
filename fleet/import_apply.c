/*
 * nodes.yaml import, the store write: the plan (import_plan.c) is written in
 * ONE BEGIN IMMEDIATE transaction with statements prepared once and reused
 * for every row, merged with the rows already there (merge_node says how),
 * counted, and recorded in meta.
 */
#include "import_internal.h"

#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "store.h"

/* a nodes row as stored, and what the import makes of it */
typedef struct node_row {
    int exists;
    int has_token;
    uint8_t token_hash[SECRET_HASH_LEN];
    /* Text columns: read from the row (owned: bit i of `owned`, NSTR and
     * NSTR + 1 for the times) or borrowed from the plan, which outlives the
     * apply, so that a new row costs no copies. */
    const char *str[NSTR];
    json_t *roles;
    char approval[16];
    const char *enrolled_at, *last_seen; /* NULL = SQL NULL */
    uint32_t owned;
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
    /* no node and no head row when the transaction began: every row is new
     * (the plan has no duplicate ids or tokens), so none is looked up */
    int fresh;
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

#define OWN_ENROLLED (1u << NSTR)
#define OWN_SEEN (1u << (NSTR + 1))

static void node_row_clear(node_row_t *r)
{
    for (int i = 0; i < NSTR; i++)
        if (r->owned & (1u << i))
            free((char *)r->str[i]);
    json_decref(r->roles);
    if (r->owned & OWN_ENROLLED)
        free((char *)r->enrolled_at);
    if (r->owned & OWN_SEEN)
        free((char *)r->last_seen);
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
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = a->fresh ? SQLITE_DONE : sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r->exists = 1;
        if (sqlite3_column_bytes(st, 0) == SECRET_HASH_LEN) {
            memcpy(r->token_hash, sqlite3_column_blob(st, 0), SECRET_HASH_LEN);
            r->has_token = 1;
        }
        for (int i = 0; i < NSTR; i++) {
            if ((r->str[i] = col_dup(st, 1 + i)) == NULL)
                return oom(a);
            r->owned |= 1u << i;
        }
        r->roles = col_json(st, 14, 1);
        const unsigned char *ap = sqlite3_column_text(st, 15);
        snprintf(r->approval, sizeof(r->approval), "%s", ap ? (const char *)ap : "pending");
        if ((r->enrolled_at = col_dup_null(st, 16)) != NULL)
            r->owned |= OWN_ENROLLED;
        if ((r->last_seen = col_dup_null(st, 17)) != NULL)
            r->owned |= OWN_SEEN;
        r->drain = sqlite3_column_int(st, 18);
        for (int f = 0; f < NFLAGS; f++)
            r->flags[f] = sqlite3_column_int(st, 19 + f);
        r->generation = sqlite3_column_int64(st, 22);
        r->diagnostics = col_json(st, 23, 0);
        r->extra = col_json(st, 24, 0);
    } else if (rc == SQLITE_DONE) {
        for (int i = 0; i < NSTR; i++)
            r->str[i] = "";
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

/* a node row's text column takes the plan's text (borrowed) */
static void set_ref(node_row_t *r, const char **dst, uint32_t bit, const char *v, int *changed)
{
    if (*dst != NULL && strcmp(*dst, v) == 0)
        return;
    if (r->owned & bit)
        free((char *)*dst);
    r->owned &= ~bit;
    *dst = v;
    *changed = 1;
}

/* shares v: the plan's values are not changed while it is applied */
static int set_json(json_t **dst, json_t *v, int *changed)
{
    if (json_equal(*dst, v))
        return 0;
    json_decref(*dst);
    *dst = json_incref(v);
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
    *soft_ok = !r->exists || r->last_seen == NULL;
    if (!*soft_ok && pn->last_seen[0]) {
        int64_t file_seen = 0, db_seen = 0;
        clock_parse_rfc3339(pn->last_seen, &file_seen);
        if (clock_parse_rfc3339(r->last_seen, &db_seen) != 0)
            db_seen = 0;
        *soft_ok = file_seen >= db_seen;
    }
    for (int i = 0; i < NSTR; i++)
        if (pn->str[i] != NULL && (!import_str_fields[i].soft || *soft_ok))
            set_ref(r, &r->str[i], 1u << i, pn->str[i], changed);
    if (pn->token != NULL)
        import_token_merge(pn->token, r->token_hash, &r->has_token, changed);
    if (pn->roles != NULL && set_json(&r->roles, pn->roles, changed) != 0)
        return -1;
    if (pn->approved == 1 && strcmp(r->approval, "approved") != 0) {
        strcpy(r->approval, "approved");
        *changed = 1;
    } else if (pn->approved == 0 && strcmp(r->approval, "approved") == 0) {
        strcpy(r->approval, "pending");
        *changed = 1;
    }
    if (pn->enrolled_at[0])
        set_ref(r, &r->enrolled_at, OWN_ENROLLED, pn->enrolled_at, changed);
    if (pn->last_seen[0] && *soft_ok)
        set_ref(r, &r->last_seen, OWN_SEEN, pn->last_seen, changed);
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
        if (json_object_set(r->extra, k, v) != 0)
            return -1;
        *changed = 1;
    }
    return 0;
}

static int bind_json(sqlite3_stmt *st, int i, const json_t *j)
{
    /* most rows have no diagnostics, no unknown fields */
    if (json_is_object(j) && json_object_size(j) == 0) {
        sqlite3_bind_text(st, i, "{}", 2, SQLITE_STATIC);
        return 0;
    }
    if (json_is_array(j) && json_array_size(j) == 0) {
        sqlite3_bind_text(st, i, "[]", 2, SQLITE_STATIC);
        return 0;
    }
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
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (r->has_token)
        sqlite3_bind_blob(st, 2, r->token_hash, SECRET_HASH_LEN, SQLITE_STATIC);
    for (int i = 0; i < NSTR; i++)
        sqlite3_bind_text(st, 3 + i, r->str[i], -1, SQLITE_STATIC);
    if (bind_json(st, 16, r->roles) != 0 || bind_json(st, 25, r->diagnostics) != 0 || bind_json(st, 26, r->extra) != 0)
        return oom(a);
    sqlite3_bind_text(st, 17, r->approval, -1, SQLITE_STATIC);
    if (r->enrolled_at != NULL)
        sqlite3_bind_text(st, 18, r->enrolled_at, -1, SQLITE_STATIC);
    if (r->last_seen != NULL)
        sqlite3_bind_text(st, 19, r->last_seen, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 20, r->drain);
    for (int f = 0; f < NFLAGS; f++)
        sqlite3_bind_int(st, 21 + f, r->flags[f]);
    sqlite3_bind_int64(st, 24, r->generation);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : db_fail(a, r->exists ? "updating a node" : "inserting a node");
}

static int note(actx_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int note(actx_t *a, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    return import_notes_add(&a->rep->notes, &a->rep->nnotes, "%s", line) == 0 ? 0 : oom(a);
}

static int apply_head(actx_t *a, const plan_node_t *pn, int soft_ok)
{
    const plan_head_t *ph = &pn->head;
    head_row_t h = {0};
    int changed = 0, rc = -1;
    sqlite3_stmt *st = a->sel_head;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, pn->id, -1, SQLITE_TRANSIENT);
    int s = a->fresh ? SQLITE_DONE : sqlite3_step(st);
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
    if (pn->token != NULL && !a->fresh) {
        char other[NODE_ID_MAX];
        if (import_token_owner(a->tok_owner, pn->id, r.token_hash, other, sizeof(other)) != 0) {
            rc = db_fail(a, "checking a token");
            goto out;
        }
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
    import_map_t unknown = {0}, known = {0};
    const char **order = NULL; /* unknown roles in file order */
    size_t norder = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->plan->nnodes; i++) {
        const plan_node_t *pn = &a->plan->nodes[i];
        int found;
        for (size_t j = 0; rc == 0 && j < json_array_size(pn->roles); j++) {
            const char *role = json_string_value(json_array_get(pn->roles, j));
            size_t rlen = strlen(role);
            unknown_role_t *u = import_map_get(&unknown, role, rlen);
            if (u != NULL) {
                u->count++;
                continue;
            }
            /* each role is looked up once, however many nodes hold it */
            if (import_map_get(&known, role, rlen) != NULL)
                continue;
            if ((rc = exists_by_key(a, a->role_known, role, &found)) != 0)
                continue;
            if (found) {
                if (import_map_put(&known, role, rlen, (void *)role) < 0)
                    rc = oom(a);
                continue;
            }
            const char **no = realloc(order, (norder + 1) * sizeof(*no));
            u = calloc(1, sizeof(*u));
            if (no != NULL)
                order = no;
            if (no == NULL || u == NULL || import_map_put(&unknown, role, strlen(role), u) < 0) {
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
        unknown_role_t *u = import_map_get(&unknown, order[i], strlen(order[i]));
        if (rc == 0)
            rc = note(a,
                      "warning: role \"%s\" is not in the role catalog; %u node%s hold%s it (first \"%s\", %s:%u): "
                      "kept, add the role to the catalog",
                      order[i], u->count, u->count == 1 ? "" : "s", u->count == 1 ? "s" : "", u->first->id,
                      a->plan->name, u->first->line);
        free(u);
    }
    free(order);
    import_map_free(&unknown);
    import_map_free(&known);
    return rc;
}

int import_meta_present(sqlite3 *db, int *found)
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
    if (import_meta_present(a->db, &found) != 0)
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

static int store_empty(actx_t *a)
{
    sqlite3_stmt *st = store_prepare(a->db, "SELECT EXISTS (SELECT 1 FROM nodes) OR EXISTS (SELECT 1 FROM heads)");
    if (st == NULL)
        return db_fail(a, "reading the nodes");
    int s = sqlite3_step(st);
    a->fresh = s == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
    sqlite3_finalize(st);
    return s == SQLITE_ROW ? 0 : db_fail(a, "reading the nodes");
}

static void finalize_all(actx_t *a)
{
    sqlite3_stmt *all[] = {a->sel_node, a->ins_node, a->upd_node, a->tok_owner, a->sel_head, a->ins_head,
                           a->upd_head, a->sel_role, a->ins_role, a->upd_role, a->role_known, a->node_known};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
}

/* PRAGMA cache_size (0 when it cannot be read: then it is left alone) */
static int64_t cache_size_get(sqlite3 *db)
{
    sqlite3_stmt *st = store_prepare(db, "PRAGMA cache_size");
    int64_t v = st != NULL && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return v;
}

static void cache_size_set(sqlite3 *db, int64_t v)
{
    /* a pragma takes no bound parameter; v is a number this process read */
    char sql[64];
    if (v == 0)
        return;
    snprintf(sql, sizeof(sql), "PRAGMA cache_size = %lld", (long long)v);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        log_warn("msg=\"could not restore the page cache size after an import\" error=\"%s\"", sqlite3_errmsg(db));
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
    /* A large import would spill SQLite's default 2 MB page cache into the
     * WAL many times before its commit; pages are only allocated as used. */
    int64_t cache = cache_size_get(db);
    /* best effort: only the import's speed depends on it */
    if (cache != 0 && sqlite3_exec(db, "PRAGMA cache_size = -131072", NULL, NULL, NULL) != SQLITE_OK)
        cache = 0;
    char *msg = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
        cache_size_set(db, cache);
        snprintf(err, errlen, "%s: cannot start a transaction: %s", plan->name, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    int rc = prepare_all(&a);
    if (rc == 0)
        rc = store_empty(&a);
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
    cache_size_set(db, cache);
    return rc;
}
