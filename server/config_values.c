/*
 * config.yaml's values: durations and numbers, booleans, strings of each
 * kind (paths, URLs, tokens, files), and the two address lists. Each setter
 * checks one key's value and stores it, or fails naming the key and where.
 */
#include "config_internal.h"

#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_FILE_MAX 4096
#define TOKEN_MIN_LEN 16

/* ---- helpers ---- */

int config_fail(ctx_t *c, ynode_t *n, const char *fmt, ...)
{
    if (c->err == NULL || c->errlen == 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    yaml_tree_vmessage(c->err, c->errlen, c->path, n != NULL ? (unsigned)n->line : 0, n != NULL ? (unsigned)n->col : 0,
                       fmt, ap);
    va_end(ap);
    /* keys and values are quoted into the message: keep it one line */
    for (char *p = c->err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return -1;
}

const char *config_text(ynode_t *n)
{
    n = yaml_tree_deref(n);
    return n->kind == YAML_TREE_SCALAR ? n->u.s.text : NULL;
}

bool config_is_plain(ynode_t *n)
{
    n = yaml_tree_deref(n);
    return n->kind == YAML_TREE_SCALAR && (n->flags & YAML_TREE_PLAIN);
}

bool config_is_null(ynode_t *n)
{
    if (!config_is_plain(n))
        return false;
    const char *s = config_text(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

const char *config_type_name(ynode_t *n)
{
    switch (yaml_tree_deref(n)->kind) {
    case YAML_TREE_MAP:
        return "a mapping";
    case YAML_TREE_SEQ:
        return "a list";
    default:
        return "a scalar";
    }
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

/* Bearer tokens travel in an HTTP header: visible ASCII only. */
static const char *token_problem(const char *s)
{
    size_t len = 0;
    for (; s[len]; len++)
        if ((unsigned char)s[len] <= 0x20 || (unsigned char)s[len] >= 0x7f)
            return "must be visible ASCII without spaces";
    return len < TOKEN_MIN_LEN ? "is too short (at least 16 characters)" : NULL;
}

static const char *url_problem(const char *s)
{
    size_t skip;
    if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return "must start with http:// or https://";
    if (s[skip] == '\0' || s[skip] == '/')
        return "has no host";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "must not contain spaces or control characters";
    return NULL;
}

int config_replace_str(ctx_t *c, ynode_t *n, char **dst, const char *v)
{
    char *d = strdup(v);
    if (d == NULL)
        return config_fail(c, n, "out of memory");
    free(*dst);
    *dst = d;
    return 0;
}

/* ---- durations and numbers ---- */

int config_parse_duration(const char *s, uint64_t *out_ms)
{
    if (s == NULL || out_ms == NULL || *s == '\0')
        return -1;
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    uint64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        uint64_t v = 0;
        for (; isdigit((unsigned char)*p); p++) {
            if (v > (UINT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*p - '0');
        }
        uint64_t unit;
        if (p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = MS_PER_S;
            p++;
        } else if (*p == 'm') {
            unit = MS_PER_M;
            p++;
        } else if (*p == 'h') {
            unit = MS_PER_H;
            p++;
        } else {
            return -1;
        }
        /* callers add durations to signed 64-bit clock values: keep the sum in int64 range */
        if (v > FOREVER / unit || total > FOREVER - v * unit)
            return -1;
        total += v * unit;
    }
    *out_ms = total;
    return 0;
}

static void format_duration(char *buf, size_t len, uint64_t ms)
{
    if (ms != 0 && ms % MS_PER_H == 0)
        snprintf(buf, len, "%lluh", (unsigned long long)(ms / MS_PER_H));
    else if (ms != 0 && ms % MS_PER_M == 0)
        snprintf(buf, len, "%llum", (unsigned long long)(ms / MS_PER_M));
    else if (ms != 0 && ms % MS_PER_S == 0)
        snprintf(buf, len, "%llus", (unsigned long long)(ms / MS_PER_S));
    else
        snprintf(buf, len, "%llums", (unsigned long long)ms);
}

static int parse_uint(const char *s, uint64_t *out)
{
    if (*s == '\0')
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static void store_uint(void *field, size_t size, uint64_t v)
{
    if (size == sizeof(unsigned)) {
        unsigned u = (unsigned)v;
        memcpy(field, &u, sizeof(u));
    } else {
        memcpy(field, &v, sizeof(v));
    }
}

/* ---- typed values ---- */

int config_set_bool(ctx_t *c, const key_def_t *d, ynode_t *v, int *dst)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    const char *s = config_text(v);
    for (size_t i = 0; s != NULL && i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *dst = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *dst = 0;
            return 0;
        }
    }
    return config_fail(c, v, "\"%s\" must be true or false (or yes/no, on/off)", d->key);
}

int config_set_uint(ctx_t *c, const key_def_t *d, ynode_t *v, void *field)
{
    const char *s = config_text(v);
    uint64_t u;
    if (s == NULL || parse_uint(s, &u) != 0 || u < d->min || u > d->max)
        return config_fail(c, v, "\"%s\" must be a whole number from %llu to %llu", d->key, (unsigned long long)d->min,
                    (unsigned long long)d->max);
    store_uint(field, d->size, u);
    return 0;
}

int config_set_duration(ctx_t *c, const key_def_t *d, ynode_t *v, void *field)
{
    const char *s = config_text(v);
    uint64_t ms;
    if (s == NULL || config_parse_duration(s, &ms) != 0)
        return config_fail(c, v, "\"%s\" must be a duration such as 250ms, 90s, 5m, 168h or 1h30m", d->key);
    if (ms < d->min || ms > d->max) {
        char lo[32], hi[32];
        format_duration(lo, sizeof(lo), d->min);
        if (d->max == FOREVER)
            return config_fail(c, v, "\"%s\" must be at least %s", d->key, lo);
        format_duration(hi, sizeof(hi), d->max);
        return config_fail(c, v, "\"%s\" must be between %s and %s", d->key, lo, hi);
    }
    if (d->kind == K_SECONDS) {
        if (ms % MS_PER_S != 0)
            return config_fail(c, v, "\"%s\" must be whole seconds", d->key);
        ms /= MS_PER_S;
    }
    store_uint(field, d->size, ms);
    return 0;
}

/* O_NONBLOCK: a FIFO named by mistake must not hang the start. */
static int open_regular(const char *path, int *fd_out, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *why = "not a regular file";
        return -1;
    }
    *fd_out = fd;
    return 0;
}

static int set_token_file(ctx_t *c, const key_def_t *d, ynode_t *v, hc_config_t *cfg)
{
    const char *path = config_text(v);
    const char *why;
    int fd;
    if (open_regular(path, &fd, &why) != 0)
        return config_fail(c, v, "\"%s\": cannot read %s: %s", d->key, path, why);
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
        log_warn("msg=\"admin token file is readable by others; chmod 600 it\" file=%s", path);
    char buf[TOKEN_FILE_MAX + 1];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return config_fail(c, v, "\"%s\": cannot read %s: %s", d->key, path, strerror(e));
        }
        n += (size_t)r;
    }
    close(fd);
    if (n > TOKEN_FILE_MAX)
        return config_fail(c, v, "\"%s\": %s is larger than %d bytes", d->key, path, TOKEN_FILE_MAX);
    buf[n] = '\0';
    if (strlen(buf) != n)
        return config_fail(c, v, "\"%s\": %s holds a NUL byte", d->key, path);
    char *s = buf;
    while (isspace((unsigned char)*s))
        s++;
    while (n > 0 && &buf[n - 1] >= s && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    const char *bad = token_problem(s);
    int rc = 0;
    if (bad != NULL)
        rc = config_fail(c, v, "\"%s\": the token in %s %s", d->key, path, bad);
    else if (config_replace_str(c, v, &cfg->server.admin_token, s) != 0 ||
             config_replace_str(c, v, &cfg->server.admin_token_file, path) != 0)
        rc = -1;
    explicit_bzero(buf, sizeof(buf));
    return rc;
}

/* a role name or a release channel; 64 bytes as ROLE_NAME_MAX (fleet/registry.h) */
static const char *name_problem(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
    return s[0] == '\0' || s[n] != '\0' || n > 64 ? "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'" : NULL;
}

/* 1 when s is one of the '|'-separated choices */
static bool choice_ok(const char *choices, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = choices; *p;) {
        const char *end = strchr(p, '|');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return true;
        p += len + (end != NULL);
    }
    return false;
}

int config_set_string(ctx_t *c, const key_def_t *d, ynode_t *v, hc_config_t *cfg)
{
    const char *s = config_text(v);
    if (s == NULL)
        return config_fail(c, v, "\"%s\" must be a string, not %s", d->key, config_type_name(v));
    const char *bad = NULL;
    switch (d->kind) {
    case K_TEXT:
        if (is_blank(s))
            bad = "must not be empty";
        break;
    case K_URL:
        bad = url_problem(s);
        break;
    case K_TOKEN:
        bad = token_problem(s);
        break;
    case K_CHOICE:
        if (!choice_ok(d->choices, s))
            return config_fail(c, v, "\"%s\" must be one of %s, not \"%s\"", d->key, d->choices, s);
        break;
    case K_NAME:
        bad = name_problem(s);
        break;
    default: /* paths */
        if (s[0] == '\0')
            bad = "must not be empty";
        else if (has_control(s))
            bad = "must be one line without control characters";
        break;
    }
    if (bad != NULL)
        return config_fail(c, v, "\"%s\" %s", d->key, bad);
    if (d->kind == K_TOKEN_FILE)
        return set_token_file(c, d, v, cfg);
    if (d->kind == K_FILE) {
        const char *why;
        int fd;
        if (open_regular(s, &fd, &why) != 0)
            return config_fail(c, v, "\"%s\": cannot read %s: %s", d->key, s, why);
        close(fd);
    }
    return config_replace_str(c, v, (char **)((char *)cfg + d->off), s);
}

/* ---- lists ---- */

/* A list key takes one scalar or a sequence; items[] gets the nodes. */
static int list_items(ctx_t *c, const key_def_t *d, ynode_t *v, size_t max, ynode_t **items, size_t *n)
{
    *n = 0;
    ynode_t *seq = yaml_tree_deref(v);
    if (seq->kind == YAML_TREE_SCALAR) {
        items[(*n)++] = v;
        return 0;
    }
    if (seq->kind != YAML_TREE_SEQ)
        return config_fail(c, v, "\"%s\" must be a string or a list of strings, not %s", d->key, config_type_name(v));
    for (uint32_t i = 0; i < seq->u.seq.n; i++) {
        ynode_t *item = seq->u.seq.items[i];
        if (*n == max)
            return config_fail(c, item, "\"%s\" takes at most %zu entries", d->key, max);
        if (config_text(item) == NULL)
            return config_fail(c, item, "\"%s\" entries must be strings, not %s", d->key, config_type_name(item));
        items[(*n)++] = item;
    }
    return 0;
}

static bool valid_listen(const char *s)
{
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        char host[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        size_t hl = close ? (size_t)(close - s - 1) : 0;
        if (close == NULL || close[1] != ':' || hl == 0 || hl >= sizeof(host))
            return false;
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return false;
        port = close + 2;
    } else {
        const char *colon = strchr(s, ':');
        if (colon == NULL || strchr(colon + 1, ':') != NULL) /* bare IPv6 needs brackets */
            return false;
        for (const char *p = s; p < colon; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
                return false;
        port = colon + 1;
    }
    uint64_t n;
    return strlen(port) <= 5 && parse_uint(port, &n) == 0 && n >= 1 && n <= 65535;
}

void config_free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
        v[i] = NULL;
    }
}

/* Fills out[] with canonical copies of the items; all or nothing. */
static int take_list(ctx_t *c, const key_def_t *d, ynode_t **items, size_t n, char **out)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = config_text(items[i]), *keep = s;
        char canon[INET6_ADDRSTRLEN];
        if (d->kind == K_LISTEN) {
            if (!valid_listen(s)) {
                config_free_strs(out, i);
                return config_fail(c, items[i], "\"%s\": \"%s\" is not host:port (IPv6 as [::1]:8080)", d->key, s);
            }
        } else {
            unsigned char a[sizeof(struct in6_addr)];
            int af = strchr(s, ':') ? AF_INET6 : AF_INET;
            /* stored as inet_ntop prints it, so a plain string compare with the peer address matches */
            if (inet_pton(af, s, a) != 1 || inet_ntop(af, a, canon, sizeof(canon)) == NULL) {
                config_free_strs(out, i);
                return config_fail(c, items[i], "\"%s\": \"%s\" is not an IP address", d->key, s);
            }
            keep = canon;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(out[j], keep) == 0) {
                config_free_strs(out, i);
                return config_fail(c, items[i], "\"%s\": \"%s\" is listed twice", d->key, s);
            }
        out[i] = strdup(keep);
        if (out[i] == NULL) {
            config_free_strs(out, i);
            return config_fail(c, items[i], "out of memory");
        }
    }
    return 0;
}

int config_set_list(ctx_t *c, const key_def_t *d, ynode_t *v, hc_config_t *cfg)
{
    bool listen = d->kind == K_LISTEN;
    size_t max = listen ? CONFIG_MAX_LISTEN : CONFIG_MAX_PROXIES, n;
    char **dst = listen ? cfg->server.listen : cfg->server.trusted_proxies;
    size_t *count = listen ? &cfg->server.listen_count : &cfg->server.trusted_proxies_count;
    ynode_t *items[CONFIG_MAX_PROXIES > CONFIG_MAX_LISTEN ? CONFIG_MAX_PROXIES : CONFIG_MAX_LISTEN];
    char *fresh[CONFIG_MAX_PROXIES > CONFIG_MAX_LISTEN ? CONFIG_MAX_PROXIES : CONFIG_MAX_LISTEN] = {0};
    if (list_items(c, d, v, max, items, &n) != 0)
        return -1;
    if (listen && n == 0)
        return config_fail(c, v, "\"%s\" needs at least one address", d->key);
    if (take_list(c, d, items, n, fresh) != 0)
        return -1;
    config_free_strs(dst, *count);
    memcpy(dst, fresh, n * sizeof(*dst));
    *count = n;
    return 0;
}


/* heads.roles: the roles that make a node a head; [] is allowed (none do) */
int config_set_head_roles(ctx_t *c, const key_def_t *d, ynode_t *v, hc_config_t *cfg)
{
    ynode_t *items[CONFIG_MAX_HEAD_ROLES];
    size_t n;
    if (list_items(c, d, v, CONFIG_MAX_HEAD_ROLES, items, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *t = config_text(items[i]), *bad = t ? name_problem(t) : "must be strings";
        if (bad != NULL)
            return config_fail(c, items[i], "\"%s\" entries %s", d->key, bad);
    }
    for (size_t i = 0; i < n; i++) {
        const char *t = config_text(items[i]);
        snprintf(cfg->heads.roles[i], sizeof(cfg->heads.roles[i]), "%s", t ? t : "");
    }
    cfg->heads.roles_count = n;
    return 0;
}
