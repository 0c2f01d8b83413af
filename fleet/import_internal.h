/*
 * nodes.yaml import, private to fleet/import*.c:
 *   import.c        reading the file, the plan's life, first-start import, the data dir lock
 *   import_plan.c   field mapping: the YAML tree (server/yaml_tree.c) checked field by
 *                   field into a plan of nodes, heads and roles
 *   import_apply.c  the store write: one transaction, merged with existing rows, counts
 *   import_tokens.c token handling: the clear-text tokens of the file checked, hashed
 *                   and matched against the ones already stored
 */
#ifndef HC_IMPORT_INTERNAL_H
#define HC_IMPORT_INTERNAL_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "import.h"
#include "registry.h"
#include "secret.h"

#define DIAG_MAX_KEYS 64
#define DIAG_MAX_BYTES 1024
#define LIST_MAX_ITEMS 256
#define NAME_MAX_LEN 63 /* node ids, role names */

/* ---- a string map: open addressing, keys borrowed from the caller ---- */

typedef struct import_map_ent {
    const char *key;
    size_t len;
    void *val;
} import_map_ent_t;

typedef struct import_map {
    import_map_ent_t *e;
    size_t cap, n;
} import_map_t;

void *import_map_get(const import_map_t *m, const char *k, size_t len);
/* Inserts or replaces. 1 when inserted (the map now refers to k), 0 when
 * replaced, -1 out of memory. */
int import_map_put(import_map_t *m, const char *k, size_t len, void *val);
void import_map_free(import_map_t *m);
/* sizes an empty map for n keys, so that filling it never rehashes; 0 or -1 */
int import_map_reserve(import_map_t *m, size_t n);

/* ---- the plan ---- */

enum {
    S_NAME,
    S_HOSTNAME,
    S_OS,
    S_ARCH,
    S_VERSION,
    S_OWNER,
    S_DISTRICT,
    S_VENUE,
    S_IP,
    S_WIREGUARD_IP,
    S_LAN_IP,
    S_PROVIDER_STATUS,
    S_STREAM_STATUS,
    NSTR
};

/* Text columns of nodes, in the order of the SQL in import_apply.c. "soft"
 * ones are what heartbeats report: see merge_node for why they are apart. */
typedef struct import_str_field {
    const char *key;
    size_t max;
    int soft;
} import_str_field_t;
extern const import_str_field_t import_str_fields[NSTR];

enum { F_UPDATE_NODE, F_UPDATE_SERVICES, F_REPROVISION, NFLAGS };
extern const char *const import_flag_keys[NFLAGS];

typedef struct plan_head {
    int present;
    unsigned line;
    char *status;           /* NULL: not in the file */
    int has_body;           /* assigned_body_id given (NULL or empty = none) */
    char *assigned_body_id; /* NULL: none */
    char *app_id;
    json_t *allowed_experiences; /* NULL: not in the file */
    json_t *diagnostics;
} plan_head_t;

typedef struct plan_node {
    unsigned line, col;
    char id[NODE_ID_MAX];
    char *str[NSTR]; /* NULL: not in the file */
    char *token;     /* clear text; wiped when the plan is freed */
    json_t *roles;   /* NULL: not in the file */
    json_t *diagnostics;
    json_t *extra; /* unknown fields, always an object */
    int approved;  /* -1: not in the file */
    int drain;
    int flags[NFLAGS];
    char enrolled_at[32], last_seen[32]; /* normalised; "" = not in the file */
    plan_head_t head;
} plan_node_t;

typedef struct plan_role {
    unsigned line;
    char *name;
    char *description; /* NULL: not in the file */
    json_t *recipe;    /* NULL: not in the file */
} plan_role_t;

/* the plan's text: one chunk list, so that 100,000 nodes of a dozen fields
 * are a few hundred allocations, not a million */
typedef struct import_text_chunk {
    struct import_text_chunk *next;
    size_t used, size;
    char data[];
} import_text_chunk_t;

struct import_plan {
    char *name;
    import_text_chunk_t *text; /* every string of nodes, heads and roles below */
    plan_node_t *nodes;
    size_t nnodes;
    plan_role_t *roles;
    size_t nroles;
    char **notes;
    size_t nnotes;
};

/* a copy of s (len bytes, then a NUL) in the plan's text; NULL out of memory */
char *import_plan_strndup(import_plan_t *plan, const char *s, size_t len);

int import_notes_add(char ***notes, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* import_plan.c: fills plan from the text; 0, or -1 with err. text_owned
 * (NULL, or text itself, malloc'ed) is freed once the YAML tree is built. */
int import_plan_build(import_plan_t *plan, char *text_owned, const char *text, size_t len, char *err, size_t errlen);

/* import_apply.c: meta.nodes_yaml_imported is there; 0, or -1 on a database error */
int import_meta_present(sqlite3 *db, int *found);

/* import_tokens.c */
/* NULL when the token can be an agent's bearer token, else why not (the
 * reason never quotes the token) */
const char *import_token_problem(const char *t, size_t len);
/* The file's clear-text token over a row's stored hash (keyed: secret_load_key
 * first): sets hash and *has_hash, and *changed when it differs. */
void import_token_merge(const char *token, uint8_t hash[SECRET_HASH_LEN], int *has_hash, int *changed);
/* st: "SELECT id FROM nodes WHERE token_hash = ?1 AND id <> ?2". The id of
 * another node that already has this hash into owner ("" when none); 0, or
 * -1 on a database error. */
int import_token_owner(sqlite3_stmt *st, const char *id, const uint8_t hash[SECRET_HASH_LEN], char *owner,
                       size_t ownerlen);

#endif
