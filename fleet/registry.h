/*
 * The registry: the in-memory state that serves every read (no request reads
 * SQLite). Loaded once from the store at start (main thread); afterwards
 * changed by handlers and housekeeping under its locks, and made durable
 * through store ops (store/writer.c) built from copies of what changed.
 *
 * Locks (server/lock.h): registry_catalog_lock (rank 10) guards the role
 * catalog; registry_nodes_lock (rank 20) guards nodes, heads, their indexes,
 * enrollment and admin token hashes. Functions marked "caller holds" expect
 * the caller to hold the named lock (shared is enough for reads); the others
 * take what they need themselves. Never send, block or call out while
 * holding one: copy out (e.g. node_to_json), release, then act.
 */
#ifndef HC_REGISTRY_H
#define HC_REGISTRY_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "intern.h"
#include "lock.h"
#include "secret.h"

#define NODE_ID_MAX 64
#define NODE_SHORT_MAX 64   /* os, arch, version, statuses, ips */
#define NODE_TEXT_MAX 256   /* name, hostname, owner, district, venue */
#define ROLE_NAME_MAX 64    /* bytes, [a-z0-9._-] */
#define ROLE_DESC_MAX 1024  /* bytes of a role's description */

typedef struct head_rec {
    char status[16]; /* idle / streaming / error */
    json_t *diagnostics; /* object of strings */
    char assigned_body_id[NODE_ID_MAX]; /* an admin's pin; wins over reported_body_id */
    char reported_body_id[NODE_ID_MAX]; /* the body the head chose itself and reported; "" = none */
    char app_id[NODE_TEXT_MAX];
    json_t *allowed_experiences; /* array of strings */
    int64_t updated_at;
    int64_t last_assigned_at; /* eligibility ordering */
} head_rec_t;

/* node_t.soft_dirty bits: which heartbeat-written columns wait for the flush */
#define SOFT_DIRTY_STATE 0x1        /* last_seen, ip, version, stream/provider status, diagnostics */
#define SOFT_DIRTY_WIREGUARD_IP 0x2 /* wireguard_ip (also set by admins: kept apart) */
#define SOFT_DIRTY_LAN_IP 0x4       /* lan_ip (likewise) */

typedef struct node {
    char id[NODE_ID_MAX];
    uint8_t token_hash[SECRET_HASH_LEN];
    int has_token;
    /* Text fields are interned strings (fleet/intern.h), never NULL ("" at
     * least): read them as strings; change one only with intern_set(&n->x,
     * value), which keeps the reference counts right. */
    const char *name;
    const char *hostname;
    const char *os;
    const char *arch;
    const char *version;
    const char *owner;
    const char *district;
    const char *venue;
    /* roles, diagnostics, extra (and a head's diagnostics and allowed list)
     * may be shared with other nodes (registry_load shares equal values):
     * never change one in place, replace it with a new value */
    json_t *roles; /* array of strings */
    char approval[16]; /* pending / approved / rejected */
    int64_t enrolled_at; /* 0 = unknown */
    int64_t last_seen;   /* 0 = never */
    char ip[NODE_SHORT_MAX];
    char wireguard_ip[NODE_SHORT_MAX];
    char lan_ip[NODE_SHORT_MAX];
    const char *provider_status; /* interned */
    const char *stream_status;   /* interned */
    int drain;
    int flag_update_node, flag_update_services, flag_reprovision;
    int64_t flags_generation;
    int flags_acked; /* its agent has sent flags_ack at least once; else flags are delivered once */
    json_t *diagnostics; /* object of strings */
    json_t *extra;       /* imported fields without a column */
    head_rec_t *head;    /* non-NULL for heads */
    int64_t last_assigned_at; /* as a body: when an admin last assigned it to a head (eligibility order); 0 = never */
    unsigned soft_dirty; /* SOFT_DIRTY_*: heartbeat state not yet flushed to the store (fleet/softstate.h) */
    int64_t orphaned_since; /* streaming with no head since then (fleet/stream_sessions.c sets it); 0 = not orphaned */
    int presence_online; /* last recorded presence event was online (fleet/node_events.h) */
    struct node *next_by_id, *next_by_token; /* hash chains */
} node_t;

/* One entry of the role catalog (guarded by registry_catalog_lock). */
typedef struct role {
    char name[ROLE_NAME_MAX + 1];
    char *description;
    json_t *recipe; /* object: what the agent installs/runs for the role */
    struct role *next; /* the catalog is a list sorted by name */
} role_t;

extern hc_lock_t registry_catalog_lock;
extern hc_lock_t registry_nodes_lock;

/* Main thread, once. */
int registry_init(void);
/* Loads nodes (and heads) from db; main thread, before the writer starts. */
int registry_load(sqlite3 *db, char *err, size_t errlen);
void registry_free(void);

/* node_t lifetime: registry_node_new allocates a zeroed node (json fields set
 * to empty containers); registry_node_insert puts it in the table (caller
 * holds nodes lock exclusively; the table owns it then); registry_node_remove
 * takes it out and frees it. */
node_t *registry_node_new(void);
void registry_node_free(node_t *n);
/* A new head record to hang on node->head (status "idle", no diagnostics,
 * no assignment, empty allowed list), or NULL; registry_node_free frees it. */
head_rec_t *registry_head_new(void);
/* 0, or -1 out of memory (the node is then not in the table; the caller still owns it) */
int registry_node_insert(node_t *n);
void registry_node_remove(node_t *n);
/* caller holds nodes lock */
node_t *registry_node_find(const char *id);
node_t *registry_node_find_by_token(const uint8_t hash[SECRET_HASH_LEN]);
/* re-index after changing n->token_hash/has_token (caller holds nodes lock exclusively) */
void registry_node_set_token(node_t *n, const uint8_t *hash /* NULL = revoke */);
/* iteration: caller holds nodes lock; order is arbitrary */
typedef int (*registry_node_visit_fn)(node_t *n, void *arg); /* nonzero stops */
void registry_node_foreach(registry_node_visit_fn fn, void *arg);
size_t registry_node_count(void);
/* In id order (strcmp), for keyset paging (caller holds nodes lock, shared
 * is enough; positions move when nodes come and go, so keep an id, not a
 * position, across a release): registry_node_seek gives the position of the
 * first node whose id sorts after `after` (NULL or "" = 0), registry_node_at
 * the node at a position or NULL past the end. */
size_t registry_node_seek(const char *after);
node_t *registry_node_at(size_t i);
/* Changes whenever any node, head or their indexes may have changed
 * (lock_generation of the nodes lock; caller holds it, shared is enough). */
uint64_t registry_nodes_generation(void);

/* Authentication lookups (take the nodes lock themselves, shared). */
/* 1 and node id copied out when hash is a live node token, else 0 */
int registry_auth_node(const uint8_t hash[SECRET_HASH_LEN], char *node_id, size_t idlen);
/* 1 and actor ("admin:config" or "admin:<id>") when hash is an admin token */
int registry_auth_admin(const uint8_t hash[SECRET_HASH_LEN], char *actor, size_t actorlen);
/* 1 when hash is the (current, or within its overlap window, previous) fleet enrollment token */
int registry_auth_fleet(const uint8_t hash[SECRET_HASH_LEN]);

/* Credentials (fleet/registry_tokens.c) from config/data dir at start (main thread). */
void registry_set_config_admin(const uint8_t hash[SECRET_HASH_LEN]);

/* The fleet enrollment token. The registry is its one owner in memory: the
 * clear current token (GET /api/v1/enroll-qr must show it: it is what the
 * iPad QR encodes), its hash, and the hash of the previous token with the end
 * of its overlap window (0: none). Set at start (main thread) and after a
 * rotation committed (writer thread, publish); takes the nodes lock itself. */
#define REGISTRY_FLEET_TOKEN_MAX 256
void registry_fleet_set(const char *token, const uint8_t *prev_hash /* NULL: none */, int64_t prev_until);
/* Copies the clear current token into out (> REGISTRY_FLEET_TOKEN_MAX bytes);
 * 0, or -1 when none is set. Takes the nodes lock itself. */
int registry_fleet_token(char *out, size_t outlen);

/* Minted admin tokens (caller holds nodes lock exclusively for add/revoke). */
int registry_admin_token_add(const char *id, const uint8_t hash[SECRET_HASH_LEN], const char *label,
                             const char *created_at);
/* appends {id, label, created_at} of each active minted token (caller holds nodes lock) */
void registry_admin_token_list(json_t *array);
int registry_admin_token_revoke(const char *id); /* 1 revoked, 0 unknown */
/* forgets every credential (registry_free; caller holds nodes lock exclusively) */
void registry_tokens_clear(void);

/* The role catalog. Loaded by registry_load; changed only in commit publish
 * callbacks (and at start), so memory follows the roles table. */
/* 1 when name is valid for a new role: 1..ROLE_NAME_MAX bytes of [a-z0-9._-]
 * (PUT, config seed). Roles already in the table (e.g. imported from a
 * nodes.yaml, which allows capitals) are found by registry_role_find as
 * they are. */
int registry_role_name_ok(const char *name);
/* caller holds the catalog lock */
const role_t *registry_role_find(const char *name);
size_t registry_role_count(void);
/* appends {name, description, recipe} of every role, sorted by name (caller
 * holds the catalog lock); 0 or -1 out of memory */
int registry_roles_to_json(json_t *array);
/* creates or replaces (caller holds the catalog lock exclusively); recipe is
 * copied. 0, or -1 out of memory (the catalog is then unchanged) */
int registry_role_put(const char *name, const char *description, json_t *recipe);
/* 1 removed, 0 unknown (caller holds the catalog lock exclusively) */
int registry_role_remove(const char *name);
/* 1 when the node's roles contain name (caller holds the nodes lock) */
int registry_node_has_role(const node_t *n, const char *name);

/* Pending exec commands of a node, for the heartbeat answer. The exec module
 * owns the queues: it registers its counter once at start (main thread,
 * before the workers start); until then (no exec module) the count is 0,
 * which is the truth then: nothing can be queued. The counter is called with
 * no lock held and may take the exec lock itself. Any thread. */
typedef int (*registry_exec_pending_fn)(const char *node_id);
void registry_set_exec_pending_fn(registry_exec_pending_fn fn);
int registry_exec_pending(const char *node_id);

/* 1 when the node counts as online at now: its last heartbeat is at most
 * offline_after_ms old (a last_seen ahead of the clock counts as just seen).
 * The one rule behind node_status, filters and body eligibility. */
int registry_node_online(const node_t *n, int64_t now, uint64_t offline_after_ms);

/* Serialises a node as the API's node object (fleet/node_json.c; caller holds nodes lock). now
 * is the wall clock for node_status; offline_after_ms from config. The result
 * is a deep copy: use it after releasing the lock. */
json_t *node_to_json(const node_t *n, int64_t now, uint64_t offline_after_ms);

#endif
