/* fleet/: the nodes row as the fleet writes it for new nodes (nodes.h). */
#include "nodes.h"

#include <stdlib.h>

#include "clock.h"
#include "store.h"

int store_node_insert(sqlite3 *db, const node_t *n)
{
    char enrolled[32];
    char *roles = json_dumps(n->roles, JSON_COMPACT);
    if (roles == NULL)
        return -1;
    sqlite3_stmt *st = store_prepare(db, "INSERT INTO nodes (id, token_hash, name, hostname, os, arch, version, owner, "
                                         "district, venue, roles, approval, enrolled_at, ip) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
    if (st == NULL) {
        free(roles);
        return -1;
    }
    sqlite3_bind_text(st, 1, n->id, -1, SQLITE_STATIC);
    if (n->has_token)
        sqlite3_bind_blob(st, 2, n->token_hash, SECRET_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, n->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, n->hostname, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, n->os, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, n->arch, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, n->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, n->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, n->district, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, n->venue, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, roles, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, n->approval, -1, SQLITE_STATIC);
    if (n->enrolled_at != 0)
        sqlite3_bind_text(st, 13, clock_rfc3339(n->enrolled_at, enrolled, sizeof(enrolled)), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, n->ip, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(roles);
    return rc == SQLITE_DONE ? 0 : -1;
}
