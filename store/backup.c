/*
 * Online backup (`hydracluster backup DEST`): a consistent copy of the live
 * database, taken from a separate connection while the server keeps
 * committing.
 *
 * How it stays consistent without stopping the writer: the copy runs inside
 * one read transaction on our own connection. In WAL mode a reader sees the
 * snapshot of its first read until it ends, and writers go on appending to
 * the WAL meanwhile; SQLite's backup API then copies that snapshot page by
 * page (in steps, so the copy can be large without one long call). Without
 * the explicit transaction every step would take a fresh snapshot and a
 * single commit in between would restart the copy from page one, which
 * under a steady write load never finishes.
 *
 * So the copy holds exactly what was committed when the read transaction
 * began: everything acknowledged before `backup` started, nothing half-done.
 *
 * The copy is written to DEST.tmp, switched to a rollback journal (a
 * self-contained single file), checked with PRAGMA integrity_check, fsynced,
 * then renamed to DEST and the directory fsynced: DEST is either absent, the
 * previous file, or a complete, verified backup.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "store.h"
#include "store_internal.h"

#define STEP_PAGES 512        /* 2 MiB at SQLite's default 4 KiB pages */
#define BUSY_RETRY_MS 10
#define BUSY_RETRY_MAX 1000   /* 10 s of a locked source: give up */

static int fsync_path(const char *path, int directory)
{
    int fd = open(path, (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static void remove_tmp(const char *tmp)
{
    char side[PATH_MAX + 8];
    unlink(tmp);
    snprintf(side, sizeof(side), "%s-journal", tmp);
    unlink(side);
    snprintf(side, sizeof(side), "%s-wal", tmp);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", tmp);
    unlink(side);
}

/* first column of a one-row statement as text */
static int query_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(out, outlen, "%s", t ? (const char *)t : "");
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int store_backup(const char *data_dir, const char *dest, int force, store_backup_info_t *info, char *err,
                 size_t errlen)
{
    char src_path[PATH_MAX], tmp[PATH_MAX], real_src[PATH_MAX], real_dest[PATH_MAX];
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b = NULL;
    int rc, ret = -1, in_txn = 0, tmp_made = 0;
    uint64_t t0 = clock_mono_us();
    memset(info, 0, sizeof(*info));

    size_t dlen = strlen(data_dir);
    while (dlen > 1 && data_dir[dlen - 1] == '/')
        dlen--;
    if (snprintf(src_path, sizeof(src_path), "%.*s/hydracluster.db", (int)dlen, data_dir) >= (int)sizeof(src_path) ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    struct stat st;
    if (stat(src_path, &st) != 0) {
        snprintf(err, errlen, "no database at %s (%s): is server.data_dir right, or pass --config?", src_path,
                 strerror(errno));
        return -1;
    }
    if (lstat(dest, &st) == 0) {
        if (realpath(src_path, real_src) != NULL && realpath(dest, real_dest) != NULL &&
            strcmp(real_src, real_dest) == 0) {
            snprintf(err, errlen, "%s is the live database itself; back up to another file", dest);
            return -1;
        }
        if (!force) {
            snprintf(err, errlen, "%s already exists; choose a new name, or add --force to replace it", dest);
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a regular file; not replacing it", dest);
            return -1;
        }
    }

    /* the source: our own connection; it only reads (no CREATE: a wrong
     * data dir must not leave an empty database behind) */
    rc = sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", src_path, src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
        goto done;
    }
    sqlite3_busy_timeout(src, STORE_BUSY_TIMEOUT_MS);
    /* pin one snapshot for the whole copy (see the top of this file) */
    char ignored[32];
    if ((rc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK ||
        (in_txn = 1, rc = query_text(src, "SELECT count(*) FROM sqlite_master", ignored, sizeof(ignored))) !=
            SQLITE_OK) {
        snprintf(err, errlen, "cannot read %s: %s", src_path, sqlite3_errmsg(src));
        goto done;
    }

    remove_tmp(tmp); /* a leftover of an interrupted backup */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    close(fd);
    tmp_made = 1;
    rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", tmp, dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        goto done;
    }
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        snprintf(err, errlen, "cannot start the backup: %s", sqlite3_errmsg(dst));
        goto done;
    }
    int busy = 0;
    for (;;) {
        rc = sqlite3_backup_step(b, STEP_PAGES);
        if (rc == SQLITE_DONE)
            break;
        if (rc == SQLITE_OK)
            continue;
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++busy < BUSY_RETRY_MAX) {
            usleep(BUSY_RETRY_MS * 1000);
            continue;
        }
        snprintf(err, errlen, "copying failed: %s", sqlite3_errstr(rc));
        goto done;
    }
    info->pages = (uint64_t)sqlite3_backup_pagecount(b);
    rc = sqlite3_backup_finish(b);
    b = NULL;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "finishing the copy failed: %s", sqlite3_errmsg(dst));
        goto done;
    }
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    in_txn = 0;
    sqlite3_close(src);
    src = NULL;

    /* the copy carries the source's WAL flag: make it one self-contained file */
    char mode[32], check[256];
    if (query_text(dst, "PRAGMA journal_mode=DELETE", mode, sizeof(mode)) != SQLITE_OK || strcmp(mode, "delete") != 0) {
        snprintf(err, errlen, "cannot switch the copy to a rollback journal: %s", sqlite3_errmsg(dst));
        goto done;
    }
    if (query_text(dst, "PRAGMA integrity_check", check, sizeof(check)) != SQLITE_OK || strcmp(check, "ok") != 0) {
        snprintf(err, errlen, "the copy failed PRAGMA integrity_check: %s", check);
        goto done;
    }
    int64_t v = 0;
    if (store_read_version(dst, &v) == SQLITE_OK)
        info->schema_version = (int)v;
    rc = sqlite3_close(dst);
    dst = NULL;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "closing the copy failed: %s", sqlite3_errstr(rc));
        goto done;
    }
    if (fsync_path(tmp, 0) != 0) {
        snprintf(err, errlen, "fsync %s: %s", tmp, strerror(errno));
        goto done;
    }
    if (stat(tmp, &st) == 0)
        info->bytes = (uint64_t)st.st_size;
    if (rename(tmp, dest) != 0) {
        snprintf(err, errlen, "rename %s to %s: %s", tmp, dest, strerror(errno));
        goto done;
    }
    tmp_made = 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", dest);
    if (fsync_path(dirname(dir), 1) != 0) {
        snprintf(err, errlen, "fsync of the directory of %s: %s (the backup is written but may not survive a power "
                 "loss yet)",
                 dest, strerror(errno));
        goto done;
    }
    info->duration_us = clock_mono_us() - t0;
    ret = 0;
done:
    if (b != NULL)
        sqlite3_backup_finish(b);
    if (in_txn)
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
    if (src != NULL)
        sqlite3_close(src);
    if (dst != NULL)
        sqlite3_close(dst);
    if (tmp_made)
        remove_tmp(tmp);
    return ret;
}
