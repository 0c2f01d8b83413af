/*
 * The fleet enrollment token's durable side (iPad self-registration).
 *
 * Where the token lives: server.fleet_enrollment_token in config.yaml when
 * set (then the config file is the operator's and the API does not rotate
 * it); else data_dir/fleet_enrollment_token (0600), generated on first start
 * like the admin token. It is a shared secret that must be displayable (the
 * iPad QR encodes it), so unlike every other token it is kept in clear: in
 * that file, and in memory by the registry (registry_fleet_*), its one owner
 * while serving.
 *
 * A rotation mints a new token, rewrites the file atomically (temp file,
 * fsync, rename, fsync of the directory) and keeps the hash of the previous
 * token with the end of its overlap window (heads.fleet_token_overlap) in the
 * meta table, so iPads scanning an old QR keep registering during the window,
 * also across a restart.
 */
#ifndef HC_FLEET_H
#define HC_FLEET_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "secret.h"

/* Main thread at start, after store_open/migrate and secret_load_key, before
 * the writer starts: loads the token and the previous one into the registry.
 * 0, or -1 with err. */
int fleet_token_load(const hc_config_t *cfg, sqlite3 *db, char *err, size_t errlen);

/* 1 when the API may rotate the token (it is not set in the config file). */
int fleet_token_rotatable(const hc_config_t *cfg);

/*
 * Writer thread, inside an apply: makes new_token the current token. Reads
 * the current one from the file, records its hash (copied to prev_hash) and
 * prev_until in meta, then replaces the file. The file is replaced last, so
 * a failure before it rolls back with the savepoint and changes nothing.
 * 0, or -1 (logged).
 */
int fleet_token_rotate_apply(sqlite3 *db, const char *data_dir, const char *new_token, int64_t prev_until,
                             uint8_t prev_hash[SECRET_HASH_LEN]);

/* The text the iPad QR encodes: {"server_url":"…","enrollment_token":"…"}
 * as compact JSON in that key order. malloc'ed, or NULL. Any thread. */
char *fleet_qr_payload(const char *server_url, const char *token);

#endif
