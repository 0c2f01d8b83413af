/* Rows of the nodes table written by more than one resource (writer thread,
 * inside an apply). */
#ifndef HC_STORE_NODES_H
#define HC_STORE_NODES_H

#include <sqlite3.h>

#include "registry.h"

/* Inserts a new node: id, token hash, identity, placement, roles, approval,
 * enrolled_at and ip from n (the heartbeat fields start empty). 0 or -1. */
int store_node_insert(sqlite3 *db, const node_t *n);

#endif
