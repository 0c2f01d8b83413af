/*
 * Heads by role: a node whose roles include one of config heads.roles
 * (default hydraheadflatscreen, hydraheadwindows, hydraheadipad) is a head.
 * It gets its head record (the heads table, node->head) when it gains a head
 * role, through POST /api/v1/nodes/{id}/roles or at start for nodes that
 * hold one without a record (an import, a changed heads.roles); it keeps the
 * record while it holds a head role, and loses it (status, pin, allowed
 * experiences) when its last head role is removed. A head is never a body
 * (fleet/eligibility.h). Nodes made heads by an admin's head-assignment or
 * allowed-experiences, without a head role, stay heads as before.
 *
 * The config is read-only while serving, so every function here may run on
 * any thread; none takes a lock unless it says so.
 */
#ifndef HC_HEAD_ROLES_H
#define HC_HEAD_ROLES_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

#include "config.h"
#include "registry.h"

/* head_roles_sync's answer when the node to become a head is the assigned body of a head */
#define HEAD_ROLES_EPINNED (-20)

/* 1 when name is one of cfg's heads.roles */
int head_roles_is(const hc_config_t *cfg, const char *name);
/* 1 when the JSON array of role names holds a head role */
int head_roles_any(const hc_config_t *cfg, const json_t *roles);

/*
 * Inside a store apply (writer thread), after the roles of node_id changed
 * from old_roles to new_roles: inserts its head record when it gained a head
 * role and has none, deletes it when it lost its last one; each audited as
 * actor. A node that stops being a head is in no streaming session as a head
 * any more: those sessions end (reason head_idle) and their ids are appended
 * to ended, for the caller's publish step to hand to
 * stream_sessions_end_node_publish (ended may be NULL only where old_roles
 * holds no head role: the node cannot stop being a head). *change gets +1 (created), -1 (deleted)
 * or 0. Returns 0, -1 on a SQL error or out of memory, or HEAD_ROLES_EPINNED
 * (nothing written) when it would become a head while a head streams from it.
 */
int head_roles_sync(sqlite3 *db, const hc_config_t *cfg, const char *node_id, const json_t *old_roles,
                    const json_t *new_roles, const char *actor, int *change, json_t *ended);

/* Publish step of head_roles_sync's change on n (caller holds the nodes lock
 * exclusively): creates or frees n->head. 0, or -1 out of memory (the record
 * shows after a restart). */
int head_roles_publish(node_t *n, int change);

/*
 * At start (main thread, before registry_load): every node that holds a head
 * role without a head record gets one (audited, actor "config"). 0, or -1
 * with err.
 */
int head_roles_reconcile(const hc_config_t *cfg, char *err, size_t errlen);

#endif
