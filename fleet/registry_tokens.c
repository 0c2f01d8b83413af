/*
 * The registry's credentials: the config admin token's hash, minted admin
 * tokens, and the fleet enrollment token (registry.h). Guarded by the nodes
 * lock, like the node table whose free (registry_free) clears them too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "registry.h"
#include "str.h"

typedef struct admin_token {
    char id[NODE_ID_MAX];
    uint8_t hash[SECRET_HASH_LEN];
    char label[NODE_TEXT_MAX];
    char created_at[32];
    struct admin_token *next;
} admin_token_t;
static admin_token_t *admin_tokens;
static uint8_t config_admin_hash[SECRET_HASH_LEN];
static int have_config_admin;
/* the fleet enrollment token: see registry_fleet_set */
static char fleet_token[REGISTRY_FLEET_TOKEN_MAX + 1];
static uint8_t fleet_hash[SECRET_HASH_LEN];
static int have_fleet;
static uint8_t fleet_prev_hash[SECRET_HASH_LEN];
static int64_t fleet_prev_until;

void registry_tokens_clear(void)
{
    while (admin_tokens != NULL) {
        admin_token_t *t = admin_tokens;
        admin_tokens = t->next;
        free(t);
    }
    memset(fleet_token, 0, sizeof(fleet_token));
    have_fleet = 0;
    fleet_prev_until = 0;
}

int registry_auth_admin(const uint8_t hash[SECRET_HASH_LEN], char *actor, size_t actorlen)
{
    int found = 0;
    lock_take_shared(&registry_nodes_lock);
    if (have_config_admin && secret_hash_equal(config_admin_hash, hash)) {
        str_copy(actor, actorlen, "admin:config");
        found = 1;
    }
    for (admin_token_t *t = admin_tokens; t != NULL && !found; t = t->next) {
        if (secret_hash_equal(t->hash, hash)) {
            snprintf(actor, actorlen, "admin:%s", t->id);
            found = 1;
        }
    }
    lock_give(&registry_nodes_lock);
    return found;
}

int registry_auth_fleet(const uint8_t hash[SECRET_HASH_LEN])
{
    int64_t now = clock_now();
    lock_take_shared(&registry_nodes_lock);
    /* both compared every time: no timing hint of which one matched */
    int cur = secret_hash_equal(fleet_hash, hash) & have_fleet;
    int prev = secret_hash_equal(fleet_prev_hash, hash) & (fleet_prev_until > now);
    lock_give(&registry_nodes_lock);
    return cur || prev;
}

void registry_set_config_admin(const uint8_t hash[SECRET_HASH_LEN])
{
    memcpy(config_admin_hash, hash, SECRET_HASH_LEN);
    have_config_admin = 1;
}

void registry_fleet_set(const char *token, const uint8_t *prev_hash, int64_t prev_until)
{
    uint8_t h[SECRET_HASH_LEN];
    secret_token_hash(token, strlen(token), h);
    lock_take(&registry_nodes_lock);
    snprintf(fleet_token, sizeof(fleet_token), "%s", token);
    memcpy(fleet_hash, h, SECRET_HASH_LEN);
    have_fleet = 1;
    if (prev_hash != NULL && prev_until > 0) {
        memcpy(fleet_prev_hash, prev_hash, SECRET_HASH_LEN);
        fleet_prev_until = prev_until;
    } else {
        memset(fleet_prev_hash, 0, SECRET_HASH_LEN);
        fleet_prev_until = 0;
    }
    lock_give(&registry_nodes_lock);
}

int registry_fleet_token(char *out, size_t outlen)
{
    lock_take_shared(&registry_nodes_lock);
    int ok = have_fleet;
    if (ok)
        snprintf(out, outlen, "%s", fleet_token);
    lock_give(&registry_nodes_lock);
    return ok ? 0 : -1;
}

int registry_admin_token_add(const char *id, const uint8_t hash[SECRET_HASH_LEN], const char *label,
                             const char *created_at)
{
    admin_token_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    snprintf(t->id, sizeof(t->id), "%s", id);
    snprintf(t->label, sizeof(t->label), "%s", label ? label : "");
    snprintf(t->created_at, sizeof(t->created_at), "%s", created_at ? created_at : "");
    memcpy(t->hash, hash, SECRET_HASH_LEN);
    t->next = admin_tokens;
    admin_tokens = t;
    return 0;
}

void registry_admin_token_list(json_t *array)
{
    for (admin_token_t *t = admin_tokens; t != NULL; t = t->next)
        json_array_append_new(array, json_pack("{s:s, s:s, s:s}", "id", t->id, "label", t->label, "created_at",
                                               t->created_at));
}

int registry_admin_token_revoke(const char *id)
{
    for (admin_token_t **pp = &admin_tokens; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            admin_token_t *t = *pp;
            *pp = t->next;
            free(t);
            return 1;
        }
    }
    return 0;
}
