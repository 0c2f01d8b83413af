/*
 * The nodes row as the fleet writes it, for the resources that create nodes
 * (enrollment, iPad registration): writer thread, inside an apply. It lives
 * in fleet/ because it takes the domain's node_t (store/ does not reach up
 * into the domain); the function keeps its store_ name for its callers.
 */
#ifndef HC_STORE_NODES_H
#define HC_STORE_NODES_H

#include <sqlite3.h>

#include "registry.h"

/* Inserts a new node: id, token hash, identity, placement, roles, approval,
 * enrolled_at and ip from n (the heartbeat fields start empty). 0 or -1. */
int store_node_insert(sqlite3 *db, const node_t *n);

#endif
