/*
 * Tokens and their hashes (libsodium). Any thread after secret_init and
 * secret_load_key ran on the main thread at start.
 *
 * A token is 32 random bytes as 64 lowercase hex characters. Only its keyed
 * BLAKE2b-256 hash (key: 32 random bytes kept in the database's meta table,
 * so a backup restores working tokens) is ever stored.
 */
#ifndef HC_SECRET_H
#define HC_SECRET_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define SECRET_TOKEN_HEX 64
#define SECRET_HASH_LEN 32

int secret_init(void);
/* Loads the hash key from meta, creating it on first start. Main thread,
 * before the store writer starts. */
int secret_load_key(sqlite3 *db, char *err, size_t errlen);
/* For tests: a fixed key. */
void secret_set_key(const uint8_t key[32]);

void secret_token_new(char out[SECRET_TOKEN_HEX + 1]);
void secret_token_hash(const char *token, size_t len, uint8_t out[SECRET_HASH_LEN]);
/* constant time */
int secret_hash_equal(const uint8_t a[SECRET_HASH_LEN], const uint8_t b[SECRET_HASH_LEN]);
/* "<prefix><16 hex>", e.g. secret_id_new("node-", buf, sizeof buf) */
void secret_id_new(const char *prefix, char *out, size_t outlen);

/*
 * Reads data_dir/<name> (0600) or, when absent, creates it with a new token.
 * *created is set when it was generated now (the caller prints it once).
 */
int secret_file_token(const char *data_dir, const char *name, char out[SECRET_TOKEN_HEX + 1], int *created, char *err,
                      size_t errlen);

#endif
