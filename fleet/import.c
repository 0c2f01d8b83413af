/*
 * nodes.yaml import (import.h): the file read with its bound, the plan's
 * life, the whole import in one call, the import at first start and the data
 * dir lock. import_internal.h says where the rest is.
 */
#include "import_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the string map ---- */

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static import_map_ent_t *map_slot(const import_map_t *m, const char *k, size_t len)
{
    size_t i = fnv1a(k, len) & (m->cap - 1);
    for (;;) {
        import_map_ent_t *e = &m->e[i];
        if (e->key == NULL || (e->len == len && memcmp(e->key, k, len) == 0))
            return e;
        i = (i + 1) & (m->cap - 1);
    }
}

void *import_map_get(const import_map_t *m, const char *k, size_t len)
{
    if (m->cap == 0)
        return NULL;
    import_map_ent_t *e = map_slot(m, k, len);
    return e->key ? e->val : NULL;
}

int import_map_reserve(import_map_t *m, size_t n)
{
    if (m->cap != 0)
        return 0;
    size_t cap = 16;
    while (cap < n * 2 + 2)
        cap *= 2;
    if ((m->e = calloc(cap, sizeof(*m->e))) == NULL)
        return -1;
    m->cap = cap;
    return 0;
}

int import_map_put(import_map_t *m, const char *k, size_t len, void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        import_map_t nm = {calloc(ncap, sizeof(import_map_ent_t)), ncap, 0};
        if (nm.e == NULL)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key != NULL) {
                *map_slot(&nm, m->e[i].key, m->e[i].len) = m->e[i];
                nm.n++;
            }
        free(m->e);
        *m = nm;
    }
    import_map_ent_t *e = map_slot(m, k, len);
    if (e->key != NULL) {
        e->val = val;
        return 0;
    }
    e->key = k;
    e->len = len;
    e->val = val;
    m->n++;
    return 1;
}

void import_map_free(import_map_t *m)
{
    free(m->e);
    m->e = NULL;
    m->cap = m->n = 0;
}

/* ---- the plan ---- */

int import_notes_add(char ***notes, size_t *n, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    char **nn = realloc(*notes, (*n + 1) * sizeof(*nn));
    if (nn == NULL)
        return -1;
    *notes = nn;
    if ((nn[*n] = strdup(line)) == NULL)
        return -1;
    (*n)++;
    return 0;
}

char *import_plan_strndup(import_plan_t *plan, const char *s, size_t len)
{
    import_text_chunk_t *c = plan->text;
    if (c == NULL || c->size - c->used < len + 1) {
        size_t size = len + 1 > 256 * 1024 ? len + 1 : 256 * 1024;
        if ((c = malloc(sizeof(*c) + size)) == NULL)
            return NULL;
        c->used = 0;
        c->size = size;
        c->next = plan->text;
        plan->text = c;
    }
    char *d = c->data + c->used;
    memcpy(d, s, len);
    d[len] = '\0';
    c->used += len + 1;
    return d;
}

static void plan_node_clear(plan_node_t *pn)
{
    /* the strings are in the plan's text; the token is wiped there */
    if (pn->token != NULL)
        sodium_memzero(pn->token, strlen(pn->token));
    json_decref(pn->roles);
    json_decref(pn->diagnostics);
    json_decref(pn->extra);
    json_decref(pn->head.allowed_experiences);
    json_decref(pn->head.diagnostics);
}

void import_plan_free(import_plan_t *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < plan->nnodes; i++)
        plan_node_clear(&plan->nodes[i]);
    free(plan->nodes);
    for (size_t i = 0; i < plan->nroles; i++)
        json_decref(plan->roles[i].recipe);
    free(plan->roles);
    for (import_text_chunk_t *c = plan->text, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    for (size_t i = 0; i < plan->nnotes; i++)
        free(plan->notes[i]);
    free(plan->notes);
    free(plan->name);
    free(plan);
}

size_t import_plan_node_count(const import_plan_t *plan)
{
    return plan->nnodes;
}

size_t import_plan_role_count(const import_plan_t *plan)
{
    return plan->nroles;
}

/* ---- parsing ---- */

/* text_owned: text was malloc'ed for this parse and is freed as soon as the
 * tree holds it (a large file is not kept twice while the plan is built) */
static import_plan_t *parse_text(const char *name, char *text_owned, const char *text, size_t len, char *err,
                                 size_t errlen)
{
    import_plan_t *plan = calloc(1, sizeof(*plan));
    if (plan == NULL || (plan->name = strdup(name)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        import_plan_free(plan);
        free(text_owned);
        return NULL;
    }
    int rc;
    if (len > IMPORT_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: the file is %zu bytes; at most %u are accepted", name, len, IMPORT_MAX_FILE_BYTES);
        free(text_owned);
        rc = -1;
    } else {
        rc = import_plan_build(plan, text_owned, text, len, err, errlen);
    }
    if (rc != 0) {
        import_plan_free(plan);
        return NULL;
    }
    return plan;
}

import_plan_t *import_parse_buffer(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    return parse_text(name, NULL, text, len, err, errlen);
}

import_plan_t *import_parse_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > IMPORT_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: the file is %lld bytes; at most %u are accepted", path, (long long)st.st_size,
                 IMPORT_MAX_FILE_BYTES);
        close(fd);
        return NULL;
    }
    /* read to EOF with the bound, in case the file grows while we read */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    ssize_t r = 0;
    while (buf != NULL) {
        if (len == cap) {
            if (cap > IMPORT_MAX_FILE_BYTES)
                break;
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    int read_errno = errno;
    close(fd);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: out of memory reading the file", path);
        return NULL;
    }
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
        free(buf);
        return NULL;
    }
    return parse_text(path, buf, buf, len, err, errlen);
}

void import_report_free(import_report_t *rep)
{
    for (size_t i = 0; i < rep->nnotes; i++)
        free(rep->notes[i]);
    free(rep->notes);
    rep->notes = NULL;
    rep->nnotes = 0;
}

int import_file(sqlite3 *db, const char *path, unsigned flags, import_report_t *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    import_plan_t *plan = import_parse_file(path, err, errlen);
    if (plan == NULL)
        return -1;
    int rc = import_apply(db, plan, flags, rep, err, errlen);
    import_plan_free(plan);
    return rc;
}


/* ---- first start, the data dir lock ---- */

static int join_path(char *out, size_t outlen, const char *dir, const char *file)
{
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    int n = snprintf(out, outlen, "%.*s/%s", (int)dlen, dir, file);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int import_first_start(sqlite3 *db, const char *data_dir, import_report_t *rep, int *done, char *err, size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    *done = 0;
    char path[PATH_MAX];
    if (join_path(path, sizeof(path), data_dir, IMPORT_FILE_NAME) != 0) {
        snprintf(err, errlen, "the data dir path is too long");
        return -1;
    }
    if (access(path, F_OK) != 0)
        return 0;
    sqlite3_stmt *st = NULL;
    int nodes = -1, found = 0;
    if (sqlite3_prepare_v2(db, "SELECT EXISTS (SELECT 1 FROM nodes)", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        nodes = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (nodes < 0 || import_meta_present(db, &found) != 0) {
        snprintf(err, errlen, "cannot check whether %s was imported: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (nodes > 0 || found) {
        *done = 2;
        return 0;
    }
    if (import_file(db, path, 0, rep, err, errlen) != 0)
        return -1;
    *done = 1;
    return 0;
}

int import_lock_data_dir(const char *data_dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (join_path(path, sizeof(path), data_dir, IMPORT_LOCK_FILE) != 0) {
        snprintf(err, errlen, "the data dir path is too long");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            /* who holds it, for the message (written below by the holder) */
            char pid[32] = "";
            ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            snprintf(err, errlen, "data dir %s is in use by another hydracluster process%s%s", data_dir,
                     pid[0] ? " (pid " : "", pid[0] ? pid : "");
            if (pid[0])
                snprintf(err + strlen(err), errlen - strlen(err), ")");
            close(fd);
            return IMPORT_LOCK_BUSY;
        }
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* only informative: the lock itself is held */
    }
    return fd;
}
