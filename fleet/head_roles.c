#include "head_roles.h"

#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "store.h"
#include "stream_sessions.h"

int head_roles_is(const hc_config_t *cfg, const char *name)
{
    for (size_t i = 0; name != NULL && i < cfg->heads.roles_count; i++)
        if (strcmp(cfg->heads.roles[i], name) == 0)
            return 1;
    return 0;
}

int head_roles_any(const hc_config_t *cfg, const json_t *roles)
{
    size_t i;
    json_t *v;
    json_array_foreach(roles, i, v)
    {
        if (head_roles_is(cfg, json_string_value(v)))
            return 1;
    }
    return 0;
}

static int exec_one(sqlite3 *db, const char *sql, const char *id)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int head_roles_sync(sqlite3 *db, const hc_config_t *cfg, const char *node_id, const json_t *old_roles,
                    const json_t *new_roles, const char *actor, int *change, json_t *ended)
{
    *change = 0;
    int was = head_roles_any(cfg, old_roles), is = head_roles_any(cfg, new_roles);
    int has = store_row_exists(db, "SELECT 1 FROM heads WHERE node_id = ?1", node_id);
    if (has < 0)
        return -1;
    if (is && !has) {
        int pinned = store_row_exists(db, "SELECT 1 FROM heads WHERE assigned_body_id = ?1", node_id);
        if (pinned != 0)
            return pinned < 0 ? -1 : HEAD_ROLES_EPINNED;
        if (exec_one(db, "INSERT INTO heads (node_id, status) VALUES (?1, 'idle')", node_id) != 0)
            return -1;
        *change = 1;
    } else if (was && !is && has) {
        /* the record's pin and settings go with the role: a former kiosk is a body again */
        if (exec_one(db, "DELETE FROM heads WHERE node_id = ?1", node_id) != 0)
            return -1;
        *change = -1;
        if (ended == NULL || stream_sessions_end_node_apply(db, node_id, SS_HEAD_IDLE, ended) != 0)
            return -1;
    }
    if (*change == 0)
        return 0;
    json_t *d = json_pack("{s:O}", "roles", new_roles);
    int rc = store_audit_append(db, actor, *change > 0 ? "head.from_role" : "head.role_removed", node_id, d);
    json_decref(d);
    return rc;
}

int head_roles_publish(node_t *n, int change)
{
    if (change > 0 && n->head == NULL && (n->head = registry_head_new()) == NULL)
        return -1;
    if (change < 0 && n->head != NULL) {
        json_decref(n->head->diagnostics);
        json_decref(n->head->allowed_experiences);
        free(n->head);
        n->head = NULL;
    }
    return 0;
}

static int reconcile_apply(sqlite3 *db, void *arg)
{
    const hc_config_t *cfg = arg;
    json_t *names = json_array();
    if (names == NULL)
        return -1;
    for (size_t i = 0; i < cfg->heads.roles_count; i++)
        json_array_append_new(names, json_string(cfg->heads.roles[i]));
    char *text = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    sqlite3_stmt *st = text ? store_prepare(db, "SELECT n.id, n.roles FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM "
                                                "heads h WHERE h.node_id = n.id) AND EXISTS (SELECT 1 FROM "
                                                "json_each(n.roles) r WHERE r.value IN (SELECT value FROM "
                                                "json_each(?1)))")
                            : NULL;
    if (st == NULL) {
        free(text);
        return -1;
    }
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    json_t *found = json_object();
    int rc;
    while (found != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(found, (const char *)sqlite3_column_text(st, 0),
                            json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL));
    sqlite3_finalize(st);
    free(text);
    if (found == NULL || rc != SQLITE_DONE) {
        json_decref(found);
        return -1;
    }
    const char *id;
    json_t *roles;
    rc = 0;
    json_object_foreach(found, id, roles)
    {
        json_t *none = json_array();
        int change = 0;
        rc = none ? head_roles_sync(db, cfg, id, none, roles, "config", &change, NULL) : -1;
        json_decref(none);
        if (rc == HEAD_ROLES_EPINNED) {
            /* a head is never a body: the role wins over an older pin to it */
            log_warn("msg=\"node holds a head role but was the assigned body of a head: unpinned it there\" node=%s",
                     id);
            rc = exec_one(db, "UPDATE heads SET assigned_body_id = NULL WHERE assigned_body_id = ?1", id);
            if (rc == 0)
                rc = store_audit_append(db, "config", "head.unassign", id, NULL);
            json_t *none2 = json_array();
            if (rc == 0)
                rc = none2 ? head_roles_sync(db, cfg, id, none2, roles, "config", &change, NULL) : -1;
            json_decref(none2);
        }
        if (rc == 0 && change > 0)
            log_info("msg=\"node holds a head role: made it a head\" node=%s", id);
        if (rc != 0)
            break;
    }
    json_decref(found);
    return rc;
}

int head_roles_reconcile(const hc_config_t *cfg, char *err, size_t errlen)
{
    int rc = store_submit_wait(reconcile_apply, (void *)cfg);
    if (rc != 0)
        snprintf(err, errlen, "cannot give the nodes that hold a head role their head record (status %d)", rc);
    return rc == 0 ? 0 : -1;
}
