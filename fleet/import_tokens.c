/*
 * nodes.yaml token handling. The old service kept each agent's token in
 * clear text; after the import every agent must keep working with the token
 * it has, and the store keeps only its keyed hash (secret.c). Tokens are
 * never quoted in a message and their clear text is wiped once hashed.
 */
#include "import_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

_Static_assert(IMPORT_MIN_TOKEN == 16, "the message below says 16");

const char *import_token_problem(const char *t, size_t len)
{
    if (len < IMPORT_MIN_TOKEN)
        return "is shorter than 16 characters: too easy to guess; re-enroll that machine";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return "contains a space, control or non-ASCII character; an agent could not send it";
    return NULL;
}

void import_token_merge(const char *token, uint8_t hash[SECRET_HASH_LEN], int *has_hash, int *changed)
{
    uint8_t h[SECRET_HASH_LEN];
    secret_token_hash(token, strlen(token), h);
    if (!*has_hash || !secret_hash_equal(h, hash)) {
        memcpy(hash, h, SECRET_HASH_LEN);
        *has_hash = 1;
        *changed = 1;
    }
    sodium_memzero(h, sizeof(h));
}

int import_token_owner(sqlite3_stmt *st, const char *id, const uint8_t hash[SECRET_HASH_LEN], char *owner,
                       size_t ownerlen)
{
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, hash, SECRET_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    owner[0] = '\0';
    if (rc == SQLITE_ROW)
        snprintf(owner, ownerlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}
