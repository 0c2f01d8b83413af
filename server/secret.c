#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t hash_key[crypto_generichash_KEYBYTES];

int secret_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void secret_set_key(const uint8_t key[32])
{
    memcpy(hash_key, key, sizeof(hash_key));
}

int secret_load_key(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'token_hash_key'", -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == (int)sizeof(hash_key)) {
        memcpy(hash_key, sqlite3_column_blob(st, 0), sizeof(hash_key));
        sqlite3_finalize(st);
        return 0;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto fail;
    if (rc == SQLITE_ROW) {
        snprintf(err, errlen, "meta.token_hash_key has the wrong size: the database is damaged; restore a backup");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    randombytes_buf(hash_key, sizeof(hash_key));
    rc = sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES ('token_hash_key', ?1)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_bind_blob(st, 1, hash_key, sizeof(hash_key), SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    return 0;
fail:
    snprintf(err, errlen, "cannot read or create the token hash key: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
}

static void to_hex(const uint8_t *in, size_t n, char *out)
{
    sodium_bin2hex(out, n * 2 + 1, in, n);
}

void secret_token_new(char out[SECRET_TOKEN_HEX + 1])
{
    uint8_t raw[SECRET_TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof(raw));
    to_hex(raw, sizeof(raw), out);
    sodium_memzero(raw, sizeof(raw));
}

void secret_token_hash(const char *token, size_t len, uint8_t out[SECRET_HASH_LEN])
{
    crypto_generichash(out, SECRET_HASH_LEN, (const unsigned char *)token, len, hash_key, sizeof(hash_key));
}

int secret_hash_equal(const uint8_t a[SECRET_HASH_LEN], const uint8_t b[SECRET_HASH_LEN])
{
    return crypto_verify_32(a, b) == 0;
}

void secret_id_new(const char *prefix, char *out, size_t outlen)
{
    uint8_t raw[8];
    char hex[17];
    randombytes_buf(raw, sizeof(raw));
    to_hex(raw, sizeof(raw), hex);
    snprintf(out, outlen, "%s%s", prefix, hex);
}

int secret_file_token(const char *data_dir, const char *name, char out[SECRET_TOKEN_HEX + 1], int *created, char *err,
                      size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    *created = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[256];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            return -1;
        }
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        if (n < 32 || n > SECRET_TOKEN_HEX) {
            snprintf(err, errlen, "%s does not hold a token (32 to 64 characters): fix or delete it", path);
            return -1;
        }
        memcpy(out, buf, (size_t)n + 1);
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    secret_token_new(out);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    char line[SECRET_TOKEN_HEX + 2];
    snprintf(line, sizeof(line), "%s\n", out);
    if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    *created = 1;
    return 0;
}
