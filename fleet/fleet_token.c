/* fleet/: the fleet enrollment token's durable side, for iPad self-registration (fleet_token.h). */
#include "fleet_token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "log.h"
#include "registry.h"
#include "store.h"

#define FLEET_FILE "fleet_enrollment_token"
#define META_PREV_HASH "fleet_token_previous_hash"
#define META_PREV_UNTIL "fleet_token_previous_until"

int fleet_token_rotatable(const hc_config_t *cfg)
{
    return cfg->server.fleet_enrollment_token == NULL;
}

/* the previous token's hash and the end of its window from meta; *until = 0 when none */
static int load_previous(sqlite3 *db, uint8_t hash[SECRET_HASH_LEN], int64_t *until, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    *until = 0;
    int have_hash = 0;
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key IN ('" META_PREV_HASH "', '" META_PREV_UNTIL "')",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (strcmp(k, META_PREV_HASH) == 0 && sqlite3_column_bytes(st, 1) == SECRET_HASH_LEN) {
            memcpy(hash, sqlite3_column_blob(st, 1), SECRET_HASH_LEN);
            have_hash = 1;
        } else if (strcmp(k, META_PREV_UNTIL) == 0) {
            const unsigned char *t = sqlite3_column_text(st, 1);
            if (t == NULL || clock_parse_rfc3339((const char *)t, until) != 0)
                *until = 0;
        }
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    if (!have_hash)
        *until = 0;
    return 0;
fail:
    snprintf(err, errlen, "cannot read the previous fleet token from meta: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
}

int fleet_token_load(const hc_config_t *cfg, sqlite3 *db, char *err, size_t errlen)
{
    char tok[SECRET_TOKEN_HEX + 1];
    const char *token = cfg->server.fleet_enrollment_token;
    if (token != NULL) {
        /* longer ones could never authenticate (bearer tokens are cut at 256) */
        if (token[0] == '\0' || strlen(token) > REGISTRY_FLEET_TOKEN_MAX) {
            snprintf(err, errlen, "server.fleet_enrollment_token must be 1 to %d characters long",
                     REGISTRY_FLEET_TOKEN_MAX);
            return -1;
        }
        /* a short one may be what the iPads in the field were given: warn, do not refuse */
        if (strlen(token) < 16)
            log_warn("msg=\"server.fleet_enrollment_token is shorter than 16 characters: anyone who guesses it can "
                     "create heads; rotate it\"");
    } else {
        int created;
        if (secret_file_token(cfg->server.data_dir, FLEET_FILE, tok, &created, err, errlen) != 0)
            return -1;
        token = tok;
    }
    uint8_t prev[SECRET_HASH_LEN];
    int64_t until;
    if (load_previous(db, prev, &until, err, errlen) != 0)
        return -1;
    registry_fleet_set(token, until > clock_now() ? prev : NULL, until > clock_now() ? until : 0);
    memset(tok, 0, sizeof(tok));
    return 0;
}

static int meta_put(sqlite3 *db, const char *key, const void *value, int len, int is_text)
{
    sqlite3_stmt *st = store_prepare(db, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (is_text)
        sqlite3_bind_text(st, 2, value, len, SQLITE_STATIC);
    else
        sqlite3_bind_blob(st, 2, value, len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* write to a temp file, fsync, rename over, fsync the directory: the file
 * holds the old or the new token after a crash, never a torn one */
static int write_file_atomic(const char *dir, const char *name, const char *content)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("msg=\"cannot create the new fleet token file\" path=%s errno=%d", tmp, errno);
        return -1;
    }
    size_t len = strlen(content);
    if (write(fd, content, len) != (ssize_t)len || fsync(fd) != 0) {
        log_error("msg=\"cannot write the new fleet token file\" path=%s errno=%d", tmp, errno);
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        log_error("msg=\"cannot replace the fleet token file\" path=%s errno=%d", path, errno);
        unlink(tmp);
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            log_warn("msg=\"fsync of the data dir failed after rotating the fleet token\" errno=%d", errno);
        close(dfd);
    }
    return 0;
}

int fleet_token_rotate_apply(sqlite3 *db, const char *data_dir, const char *new_token, int64_t prev_until,
                             uint8_t prev_hash[SECRET_HASH_LEN])
{
    char old[SECRET_TOKEN_HEX + 1], err[512], until[32], line[SECRET_TOKEN_HEX + 2];
    int created;
    if (secret_file_token(data_dir, FLEET_FILE, old, &created, err, sizeof(err)) != 0) {
        char q[600];
        log_error("msg=%s", log_quote(q, sizeof(q), err));
        return -1;
    }
    secret_token_hash(old, strlen(old), prev_hash);
    memset(old, 0, sizeof(old));
    clock_rfc3339(prev_until, until, sizeof(until));
    if (meta_put(db, META_PREV_HASH, prev_hash, SECRET_HASH_LEN, 0) != 0 ||
        meta_put(db, META_PREV_UNTIL, until, -1, 1) != 0)
        return -1;
    snprintf(line, sizeof(line), "%s\n", new_token);
    int rc = write_file_atomic(data_dir, FLEET_FILE, line);
    memset(line, 0, sizeof(line));
    return rc;
}

char *fleet_qr_payload(const char *server_url, const char *token)
{
    json_t *o = json_pack("{s:s, s:s}", "server_url", server_url, "enrollment_token", token);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}
