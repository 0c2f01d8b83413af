/*
 * config.yaml loader. libyaml's document API builds the tree; one table of
 * known keys drives the walk, so the list of accepted keys and the check for
 * unknown ones cannot drift apart.
 */
#include "config.h"

#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_MAX_BYTES (1024 * 1024)
#define TOKEN_FILE_MAX 4096
#define TOKEN_MIN_LEN 16
#define ROLE_NAME_MAX 64
#define RECIPE_MAX_DEPTH 32
/* Aliases let a few lines name an exponentially large tree; the recipe
 * conversion is the only place that expands them, so it carries the budget. */
#define RECIPE_MAX_NODES 100000
#define KEY_MAX 256

#define MS_PER_S 1000ULL
#define MS_PER_M (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_M)

typedef enum {
    K_SECTION,    /* a mapping of further keys */
    K_TEXT,       /* any non-blank text, may span lines (a command) */
    K_PATH,       /* non-empty, one line */
    K_URL,        /* http:// or https:// */
    K_TOKEN,      /* a bearer token: visible ASCII, at least TOKEN_MIN_LEN */
    K_FILE,       /* a readable regular file */
    K_TOKEN_FILE, /* a file holding a K_TOKEN */
    K_BOOL,
    K_UINT,
    K_DURATION, /* stored in ms */
    K_SECONDS,  /* a duration stored in whole seconds */
    K_LISTEN,
    K_PROXIES,
    K_ROLES,
} kind_t;

typedef struct {
    const char *key; /* full dotted name */
    kind_t kind;
    size_t off, size; /* the field in hc_config_t */
    uint64_t min, max;
    bool nullable; /* "key:" or "key: null" unsets it */
} key_def_t;

#define AT(m) .off = offsetof(hc_config_t, m), .size = sizeof(((hc_config_t *)0)->m)
#define FOREVER ((uint64_t)INT64_MAX)

static const key_def_t key_defs[] = {
    {.key = "server", .kind = K_SECTION},
    {.key = "server.listen", .kind = K_LISTEN},
    {.key = "server.public_url", .kind = K_URL, AT(server.public_url), .nullable = true},
    {.key = "server.data_dir", .kind = K_PATH, AT(server.data_dir)},
    {.key = "server.admin_token", .kind = K_TOKEN, AT(server.admin_token), .nullable = true},
    {.key = "server.admin_token_file", .kind = K_TOKEN_FILE, AT(server.admin_token_file), .nullable = true},
    {.key = "server.fleet_enrollment_token", .kind = K_TOKEN, AT(server.fleet_enrollment_token), .nullable = true},
    {.key = "server.workers", .kind = K_UINT, AT(server.workers), .max = 1024},
    {.key = "server.tls", .kind = K_SECTION},
    {.key = "server.tls.cert_file", .kind = K_FILE, AT(server.tls.cert_file), .nullable = true},
    {.key = "server.tls.key_file", .kind = K_FILE, AT(server.tls.key_file), .nullable = true},
    {.key = "server.tls.http2", .kind = K_BOOL, AT(server.tls.http2)},
    {.key = "server.trusted_proxies", .kind = K_PROXIES},
    {.key = "server.metrics_public", .kind = K_BOOL, AT(server.metrics_public)},
    {.key = "server.shutdown_grace", .kind = K_DURATION, AT(server.shutdown_grace_ms), .max = FOREVER},
    /* at least 2 s: an idle worker loop turns every 0.5 s (server/workers.c) */
    {.key = "server.watchdog_stall",
     .kind = K_DURATION,
     AT(server.watchdog_stall_ms),
     .min = 2 * MS_PER_S,
     .max = 10 * MS_PER_M},
    {.key = "nodes", .kind = K_SECTION},
    {.key = "nodes.offline_after", .kind = K_DURATION, AT(nodes.offline_after_ms), .min = MS_PER_S, .max = FOREVER},
    {.key = "nodes.auto_approve", .kind = K_BOOL, AT(nodes.auto_approve)},
    {.key = "nodes.enrollment_ttl", .kind = K_DURATION, AT(nodes.enrollment_ttl_ms), .min = MS_PER_S, .max = FOREVER},
    {.key = "nodes.heartbeat_interval",
     .kind = K_SECONDS,
     AT(nodes.heartbeat_interval_s),
     .min = MS_PER_S,
     .max = MS_PER_H},
    {.key = "exec", .kind = K_SECTION},
    {.key = "exec.default_timeout", .kind = K_DURATION, AT(exec.default_timeout_ms), .min = MS_PER_S, .max = 24 * MS_PER_H},
    /* an agent's result (stdout + stderr, JSON-escaped) must fit the 8 MiB body limit of POST /api/v1/body/exec/result */
    {.key = "exec.max_output_bytes", .kind = K_UINT, AT(exec.max_output_bytes), .max = 4ULL * 1024 * 1024},
    {.key = "exec.result_retention", .kind = K_DURATION, AT(exec.result_retention_ms), .max = FOREVER},
    {.key = "exec.timeout_grace", .kind = K_DURATION, AT(exec.timeout_grace_ms), .max = MS_PER_H},
    {.key = "heads", .kind = K_SECTION},
    {.key = "heads.experience_library_url", .kind = K_URL, AT(heads.experience_library_url), .nullable = true},
    {.key = "heads.screenshot_path", .kind = K_PATH, AT(heads.screenshot_path)},
    {.key = "heads.screenshot_max_age", .kind = K_DURATION, AT(heads.screenshot_max_age_ms), .max = FOREVER},
    {.key = "heads.sunshine_port", .kind = K_UINT, AT(heads.sunshine_port), .min = 1, .max = 65535},
    {.key = "heads.fleet_token_overlap", .kind = K_DURATION, AT(heads.fleet_token_overlap_ms), .max = FOREVER},
    {.key = "heads.experience_timeout",
     .kind = K_DURATION,
     AT(heads.experience_timeout_ms),
     .min = 100,
     .max = 60 * MS_PER_S},
    /* how long the screenshot and log proxies wait for the head's exec result */
    {.key = "heads.screenshot_timeout",
     .kind = K_DURATION,
     AT(heads.screenshot_timeout_ms),
     .min = MS_PER_S,
     .max = 5 * MS_PER_M},
    {.key = "heads.logs_timeout", .kind = K_DURATION, AT(heads.logs_timeout_ms), .min = MS_PER_S, .max = 5 * MS_PER_M},
    {.key = "shell", .kind = K_SECTION},
    {.key = "shell.connect_timeout", .kind = K_DURATION, AT(shell.connect_timeout_ms), .min = MS_PER_S, .max = 5 * MS_PER_M},
    {.key = "shell.idle_timeout", .kind = K_DURATION, AT(shell.idle_timeout_ms), .min = MS_PER_S, .max = 24 * MS_PER_H},
    {.key = "shell.max_duration", .kind = K_DURATION, AT(shell.max_duration_ms), .min = MS_PER_S, .max = 7 * 24 * MS_PER_H},
    {.key = "shell.max_sessions_per_node", .kind = K_UINT, AT(shell.max_sessions_per_node), .min = 1, .max = 64},
    {.key = "streams", .kind = K_SECTION},
    {.key = "streams.stop_command", .kind = K_TEXT, AT(streams.stop_command)},
    {.key = "streams.stop_timeout", .kind = K_DURATION, AT(streams.stop_timeout_ms), .min = MS_PER_S, .max = FOREVER},
    {.key = "releases", .kind = K_SECTION},
    {.key = "releases.base_url", .kind = K_URL, AT(releases.base_url)},
    {.key = "role_catalog", .kind = K_ROLES},
};

typedef struct {
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t errlen;
    size_t expanded; /* recipe nodes produced so far, over the whole file */
    const char *recipe_key;
    yaml_node_t *cert_node, *key_node, *token_node, *token_file_node;
} ctx_t;

static int fail(ctx_t *c, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx_t *c, const yaml_node_t *n, const char *fmt, ...)
{
    if (c->err == NULL || c->errlen == 0)
        return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n != NULL)
        snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->path, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s", c->path, msg);
    /* keys and values are quoted into the message: keep it one line */
    for (char *p = c->err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return -1;
}

static yaml_node_t *node_at(ctx_t *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static const char *text(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
    if (!is_plain(n))
        return false;
    const char *s = text(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
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

static int replace_str(ctx_t *c, const yaml_node_t *n, char **dst, const char *v)
{
    char *d = strdup(v);
    if (d == NULL)
        return fail(c, n, "out of memory");
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

static int set_bool(ctx_t *c, const key_def_t *d, yaml_node_t *v, int *dst)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    const char *s = text(v);
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
    return fail(c, v, "\"%s\" must be true or false (or yes/no, on/off)", d->key);
}

static int set_uint(ctx_t *c, const key_def_t *d, yaml_node_t *v, void *field)
{
    const char *s = text(v);
    uint64_t u;
    if (s == NULL || parse_uint(s, &u) != 0 || u < d->min || u > d->max)
        return fail(c, v, "\"%s\" must be a whole number from %llu to %llu", d->key, (unsigned long long)d->min,
                    (unsigned long long)d->max);
    store_uint(field, d->size, u);
    return 0;
}

static int set_duration(ctx_t *c, const key_def_t *d, yaml_node_t *v, void *field)
{
    const char *s = text(v);
    uint64_t ms;
    if (s == NULL || config_parse_duration(s, &ms) != 0)
        return fail(c, v, "\"%s\" must be a duration such as 250ms, 90s, 5m, 168h or 1h30m", d->key);
    if (ms < d->min || ms > d->max) {
        char lo[32], hi[32];
        format_duration(lo, sizeof(lo), d->min);
        if (d->max == FOREVER)
            return fail(c, v, "\"%s\" must be at least %s", d->key, lo);
        format_duration(hi, sizeof(hi), d->max);
        return fail(c, v, "\"%s\" must be between %s and %s", d->key, lo, hi);
    }
    if (d->kind == K_SECONDS) {
        if (ms % MS_PER_S != 0)
            return fail(c, v, "\"%s\" must be whole seconds", d->key);
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

static int set_token_file(ctx_t *c, const key_def_t *d, yaml_node_t *v, hc_config_t *cfg)
{
    const char *path = text(v);
    const char *why;
    int fd;
    if (open_regular(path, &fd, &why) != 0)
        return fail(c, v, "\"%s\": cannot read %s: %s", d->key, path, why);
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
            return fail(c, v, "\"%s\": cannot read %s: %s", d->key, path, strerror(e));
        }
        n += (size_t)r;
    }
    close(fd);
    if (n > TOKEN_FILE_MAX)
        return fail(c, v, "\"%s\": %s is larger than %d bytes", d->key, path, TOKEN_FILE_MAX);
    buf[n] = '\0';
    if (strlen(buf) != n)
        return fail(c, v, "\"%s\": %s holds a NUL byte", d->key, path);
    char *s = buf;
    while (isspace((unsigned char)*s))
        s++;
    while (n > 0 && &buf[n - 1] >= s && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    const char *bad = token_problem(s);
    int rc = 0;
    if (bad != NULL)
        rc = fail(c, v, "\"%s\": the token in %s %s", d->key, path, bad);
    else if (replace_str(c, v, &cfg->server.admin_token, s) != 0 ||
             replace_str(c, v, &cfg->server.admin_token_file, path) != 0)
        rc = -1;
    explicit_bzero(buf, sizeof(buf));
    return rc;
}

static int set_string(ctx_t *c, const key_def_t *d, yaml_node_t *v, hc_config_t *cfg)
{
    const char *s = text(v);
    if (s == NULL)
        return fail(c, v, "\"%s\" must be a string, not %s", d->key, type_name(v));
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
    default: /* paths */
        if (s[0] == '\0')
            bad = "must not be empty";
        else if (has_control(s))
            bad = "must be one line without control characters";
        break;
    }
    if (bad != NULL)
        return fail(c, v, "\"%s\" %s", d->key, bad);
    if (d->kind == K_TOKEN_FILE)
        return set_token_file(c, d, v, cfg);
    if (d->kind == K_FILE) {
        const char *why;
        int fd;
        if (open_regular(s, &fd, &why) != 0)
            return fail(c, v, "\"%s\": cannot read %s: %s", d->key, s, why);
        close(fd);
    }
    return replace_str(c, v, (char **)((char *)cfg + d->off), s);
}

/* ---- lists ---- */

/* A list key takes one scalar or a sequence; items[] gets the nodes. */
static int list_items(ctx_t *c, const key_def_t *d, yaml_node_t *v, size_t max, yaml_node_t **items, size_t *n)
{
    *n = 0;
    if (v->type == YAML_SCALAR_NODE) {
        items[(*n)++] = v;
        return 0;
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(c, v, "\"%s\" must be a string or a list of strings, not %s", d->key, type_name(v));
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *item = node_at(c, *it);
        if (*n == max)
            return fail(c, item, "\"%s\" takes at most %zu entries", d->key, max);
        if (text(item) == NULL)
            return fail(c, item, "\"%s\" entries must be strings, not %s", d->key, type_name(item));
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

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
        v[i] = NULL;
    }
}

/* Fills out[] with canonical copies of the items; all or nothing. */
static int take_list(ctx_t *c, const key_def_t *d, yaml_node_t **items, size_t n, char **out)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = text(items[i]), *keep = s;
        char canon[INET6_ADDRSTRLEN];
        if (d->kind == K_LISTEN) {
            if (!valid_listen(s)) {
                free_strs(out, i);
                return fail(c, items[i], "\"%s\": \"%s\" is not host:port (IPv6 as [::1]:8080)", d->key, s);
            }
        } else {
            unsigned char a[sizeof(struct in6_addr)];
            int af = strchr(s, ':') ? AF_INET6 : AF_INET;
            /* stored as inet_ntop prints it, so a plain string compare with the peer address matches */
            if (inet_pton(af, s, a) != 1 || inet_ntop(af, a, canon, sizeof(canon)) == NULL) {
                free_strs(out, i);
                return fail(c, items[i], "\"%s\": \"%s\" is not an IP address", d->key, s);
            }
            keep = canon;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(out[j], keep) == 0) {
                free_strs(out, i);
                return fail(c, items[i], "\"%s\": \"%s\" is listed twice", d->key, s);
            }
        out[i] = strdup(keep);
        if (out[i] == NULL) {
            free_strs(out, i);
            return fail(c, items[i], "out of memory");
        }
    }
    return 0;
}

static int set_list(ctx_t *c, const key_def_t *d, yaml_node_t *v, hc_config_t *cfg)
{
    bool listen = d->kind == K_LISTEN;
    size_t max = listen ? CONFIG_MAX_LISTEN : CONFIG_MAX_PROXIES, n;
    char **dst = listen ? cfg->server.listen : cfg->server.trusted_proxies;
    size_t *count = listen ? &cfg->server.listen_count : &cfg->server.trusted_proxies_count;
    yaml_node_t *items[CONFIG_MAX_PROXIES > CONFIG_MAX_LISTEN ? CONFIG_MAX_PROXIES : CONFIG_MAX_LISTEN];
    char *fresh[CONFIG_MAX_PROXIES > CONFIG_MAX_LISTEN ? CONFIG_MAX_PROXIES : CONFIG_MAX_LISTEN] = {0};
    if (list_items(c, d, v, max, items, &n) != 0)
        return -1;
    if (listen && n == 0)
        return fail(c, v, "\"%s\" needs at least one address", d->key);
    if (take_list(c, d, items, n, fresh) != 0)
        return -1;
    free_strs(dst, *count);
    memcpy(dst, fresh, n * sizeof(*dst));
    *count = n;
    return 0;
}

/* ---- role_catalog and recipes ---- */

static json_t *recipe_node(ctx_t *c, yaml_node_t *n, int depth);

/* Plain scalars resolve like YAML 1.2's core schema; yes/no/on/off stay
 * strings here (a recipe may well hold the country code "no"). */
static json_t *recipe_scalar(yaml_node_t *n)
{
    const char *s = text(n);
    size_t len = n->data.scalar.length;
    if (!is_plain(n))
        return json_stringn(s, len);
    if (is_null(n))
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    const char *digits = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    size_t nd = strspn(digits, "0123456789");
    if (nd > 0 && digits[nd] == '\0') {
        /* a leading zero ("007") or an out-of-range number stays text: nothing is lost */
        if (nd > 1 && digits[0] == '0')
            return json_stringn(s, len);
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        return errno == 0 ? json_integer(v) : json_stringn(s, len);
    }
    const char *p = digits;
    size_t whole = strspn(p, "0123456789"), frac = 0;
    p += whole;
    bool dot = *p == '.';
    if (dot) {
        frac = strspn(p + 1, "0123456789");
        p += 1 + frac;
    }
    if ((whole > 0 || frac > 0) && (*p == 'e' || *p == 'E')) {
        const char *e = p + 1 + (p[1] == '-' || p[1] == '+');
        size_t ed = strspn(e, "0123456789");
        p = ed > 0 ? e + ed : s; /* s: not a number */
    }
    if ((whole > 0 || frac > 0) && p != s && *p == '\0') {
        double d = strtod(s, NULL);
        if (isfinite(d))
            return json_real(d);
    }
    return json_stringn(s, len);
}

static bool is_merge_key(const yaml_node_t *k)
{
    return is_plain(k) && strcmp(text(k), "<<") == 0;
}

/* YAML merge: keys already present (explicit ones, earlier merges) win. */
static int recipe_merge(ctx_t *c, json_t *obj, yaml_node_t *src, int depth)
{
    if (src->type != YAML_MAPPING_NODE)
        return fail(c, src, "\"%s\": \"<<\" must merge a mapping or a list of mappings", c->recipe_key);
    json_t *m = recipe_node(c, src, depth);
    if (m == NULL)
        return -1;
    const char *k;
    json_t *val;
    int rc = 0;
    json_object_foreach(m, k, val)
    {
        if (json_object_get(obj, k) == NULL && json_object_set(obj, k, val) != 0) {
            rc = fail(c, src, "out of memory");
            break;
        }
    }
    json_decref(m);
    return rc;
}

static json_t *recipe_mapping(ctx_t *c, yaml_node_t *n, int depth)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        fail(c, n, "out of memory");
        return NULL;
    }
    yaml_node_t *merge = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(c, p->key), *vn = node_at(c, p->value);
        const char *k = text(kn);
        if (k == NULL) {
            fail(c, kn, "\"%s\": keys must be strings, not %s", c->recipe_key, type_name(kn));
            goto bad;
        }
        if (is_merge_key(kn) && merge == NULL) {
            merge = vn;
            continue;
        }
        if (is_merge_key(kn) || json_object_get(obj, k) != NULL) {
            fail(c, kn, "duplicate key \"%s\" in \"%s\"", k, c->recipe_key);
            goto bad;
        }
        json_t *val = recipe_node(c, vn, depth + 1);
        if (val == NULL)
            goto bad;
        if (json_object_set_new(obj, k, val) != 0) {
            fail(c, kn, "out of memory");
            goto bad;
        }
    }
    if (merge != NULL && merge->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = merge->data.sequence.items.start; it < merge->data.sequence.items.top; it++)
            if (recipe_merge(c, obj, node_at(c, *it), depth + 1) != 0)
                goto bad;
    } else if (merge != NULL && recipe_merge(c, obj, merge, depth + 1) != 0) {
        goto bad;
    }
    return obj;
bad:
    json_decref(obj);
    return NULL;
}

static json_t *recipe_node(ctx_t *c, yaml_node_t *n, int depth)
{
    if (depth > RECIPE_MAX_DEPTH) {
        fail(c, n, "\"%s\" is nested deeper than %d levels (or an alias contains itself)", c->recipe_key,
             RECIPE_MAX_DEPTH);
        return NULL;
    }
    if (++c->expanded > RECIPE_MAX_NODES) {
        fail(c, n, "\"%s\": recipes expand to more than %d values (aliases?)", c->recipe_key, RECIPE_MAX_NODES);
        return NULL;
    }
    json_t *j = NULL;
    if (n->type == YAML_MAPPING_NODE)
        return recipe_mapping(c, n, depth);
    if (n->type == YAML_SCALAR_NODE) {
        j = recipe_scalar(n);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        j = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; j != NULL && it < n->data.sequence.items.top;
             it++) {
            json_t *v = recipe_node(c, node_at(c, *it), depth + 1);
            if (v == NULL) {
                json_decref(j);
                return NULL;
            }
            if (json_array_append_new(j, v) != 0) {
                json_decref(j);
                j = NULL;
            }
        }
    }
    if (j == NULL)
        fail(c, n, "out of memory");
    return j;
}

static bool valid_role_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > ROLE_NAME_MAX)
        return false;
    /* the same charset as PUT /api/v1/roles/{name} (registry_role_name_ok) */
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !isdigit((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return false;
    return true;
}

static void free_roles(config_role_t *roles, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(roles[i].name);
        free(roles[i].description);
        free(roles[i].recipe_json);
    }
    free(roles);
}

static int load_role(ctx_t *c, yaml_node_t *n, size_t idx, config_role_t *role)
{
    char where[64], key[96];
    snprintf(where, sizeof(where), "role_catalog[%zu]", idx);
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "\"%s\" must be a mapping with name, description and recipe, not %s", where, type_name(n));
    static const char *const known[] = {"name", "description", "recipe"};
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(c, p->key), *vn = node_at(c, p->value);
        const char *k = text(kn);
        if (k == NULL)
            return fail(c, kn, "keys under \"%s\" must be names, not %s", where, type_name(kn));
        size_t which = 0;
        while (which < 3 && strcmp(k, known[which]) != 0)
            which++;
        snprintf(key, sizeof(key), "%s.%s", where, k);
        if (which == 3)
            return fail(c, kn, "unknown key \"%s\"", key);
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
            if (strcmp(text(node_at(c, q->key)), k) == 0)
                return fail(c, kn, "duplicate key \"%s\"", key);
        if (which == 2) {
            if (is_null(vn))
                continue;
            if (vn->type != YAML_MAPPING_NODE)
                return fail(c, vn, "\"%s\" must be a mapping, not %s", key, type_name(vn));
            c->recipe_key = key;
            json_t *j = recipe_node(c, vn, 0);
            if (j == NULL)
                return -1;
            char *dump = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            if (dump == NULL)
                return fail(c, vn, "out of memory");
            free(role->recipe_json);
            role->recipe_json = dump;
            continue;
        }
        const char *s = text(vn);
        if (s == NULL)
            return fail(c, vn, "\"%s\" must be a string, not %s", key, type_name(vn));
        if (which == 0 && is_null(vn))
            return fail(c, vn, "\"%s\" needs a value", key);
        if (which == 0 && !valid_role_name(s))
            return fail(c, vn, "\"%s\": \"%s\" is not a role name (1-%d lowercase letters, digits, '-', '_', '.')", key, s,
                        ROLE_NAME_MAX);
        if (replace_str(c, vn, which == 0 ? &role->name : &role->description, is_null(vn) ? "" : s) != 0)
            return -1;
    }
    if (role->name == NULL)
        return fail(c, n, "\"%s\" needs a \"name\"", where);
    if ((role->description == NULL && replace_str(c, n, &role->description, "") != 0) ||
        (role->recipe_json == NULL && replace_str(c, n, &role->recipe_json, "{}") != 0))
        return -1;
    return 0;
}

static int set_roles(ctx_t *c, const key_def_t *d, yaml_node_t *v, hc_config_t *cfg)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(c, v, "\"%s\" must be a list of roles, not %s", d->key, type_name(v));
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    config_role_t *roles = calloc(n ? n : 1, sizeof(*roles));
    json_t *seen = json_object(); /* a hash set: a long catalog must not cost n^2 compares */
    if (roles == NULL || seen == NULL) {
        free(roles);
        json_decref(seen);
        return fail(c, v, "out of memory");
    }
    size_t i = 0;
    for (; i < n; i++) {
        yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
        if (load_role(c, item, i, &roles[i]) != 0)
            break;
        if (json_object_get(seen, roles[i].name) != NULL) {
            fail(c, item, "role \"%s\" is listed twice in \"%s\"", roles[i].name, d->key);
            break;
        }
        if (json_object_set_new(seen, roles[i].name, json_true()) != 0) {
            fail(c, item, "out of memory");
            break;
        }
    }
    json_decref(seen);
    if (i < n) {
        free_roles(roles, n);
        return -1;
    }
    free_roles(cfg->role_catalog, cfg->role_catalog_count);
    cfg->role_catalog = roles;
    cfg->role_catalog_count = n;
    return 0;
}

/* ---- the walk ---- */

static const key_def_t *find_key(const char *full)
{
    for (size_t i = 0; i < sizeof(key_defs) / sizeof(key_defs[0]); i++)
        if (strcmp(key_defs[i].key, full) == 0)
            return &key_defs[i];
    return NULL;
}

static int load_map(ctx_t *c, hc_config_t *cfg, yaml_node_t *map, const char *prefix);

static int set_value(ctx_t *c, hc_config_t *cfg, const key_def_t *d, yaml_node_t *v)
{
    void *field = (char *)cfg + d->off;
    if (is_null(v)) {
        switch (d->kind) {
        case K_SECTION: /* a section with every key commented out */
            return 0;
        case K_PROXIES:
            free_strs(cfg->server.trusted_proxies, cfg->server.trusted_proxies_count);
            cfg->server.trusted_proxies_count = 0;
            return 0;
        case K_ROLES:
            free_roles(cfg->role_catalog, cfg->role_catalog_count);
            cfg->role_catalog = NULL;
            cfg->role_catalog_count = 0;
            return 0;
        default:
            if (!d->nullable)
                return fail(c, v, "\"%s\" needs a value", d->key);
            free(*(char **)field);
            *(char **)field = NULL;
            return 0;
        }
    }
    switch (d->kind) {
    case K_SECTION:
        return load_map(c, cfg, v, d->key);
    case K_BOOL:
        return set_bool(c, d, v, (int *)field);
    case K_UINT:
        return set_uint(c, d, v, field);
    case K_DURATION:
    case K_SECONDS:
        return set_duration(c, d, v, field);
    case K_LISTEN:
    case K_PROXIES:
        return set_list(c, d, v, cfg);
    case K_ROLES:
        return set_roles(c, d, v, cfg);
    default:
        return set_string(c, d, v, cfg);
    }
}

static int load_map(ctx_t *c, hc_config_t *cfg, yaml_node_t *map, const char *prefix)
{
    if (map->type != YAML_MAPPING_NODE) {
        if (prefix[0] == '\0')
            return fail(c, map, "the file must be a mapping of keys (server:, nodes:, ...), not %s", type_name(map));
        return fail(c, map, "\"%s\" must be a mapping of keys, not %s", prefix, type_name(map));
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(c, p->key), *vn = node_at(c, p->value);
        const char *k = text(kn);
        if (k == NULL)
            return fail(c, kn, "keys under \"%s\" must be names, not %s", prefix[0] ? prefix : "(top level)",
                        type_name(kn));
        char full[KEY_MAX];
        snprintf(full, sizeof(full), "%s%s%s", prefix, prefix[0] ? "." : "", k);
        const key_def_t *d = find_key(full);
        if (d == NULL)
            return fail(c, kn, "unknown key \"%s\"", full);
        /* every earlier key is known and distinct, so this loop is short */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (strcmp(text(node_at(c, q->key)), k) == 0)
                return fail(c, kn, "duplicate key \"%s\"", full);
        if (set_value(c, cfg, d, vn) != 0)
            return -1;
        /* kept for the checks that span keys, which run after the walk */
        if (strcmp(full, "server.tls.cert_file") == 0)
            c->cert_node = kn;
        else if (strcmp(full, "server.tls.key_file") == 0)
            c->key_node = kn;
        else if (strcmp(full, "server.admin_token") == 0)
            c->token_node = is_null(vn) ? NULL : kn;
        else if (strcmp(full, "server.admin_token_file") == 0)
            c->token_file_node = is_null(vn) ? NULL : kn;
    }
    return 0;
}

static int check_document(ctx_t *c, hc_config_t *cfg)
{
    /* libyaml passes "\0" escapes through; C strings would silently cut there */
    for (yaml_node_t *n = c->doc->nodes.start; n < c->doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
            return fail(c, n, "a NUL character is not allowed");
    yaml_node_t *root = yaml_document_get_root_node(c->doc);
    if (root == NULL || is_null(root))
        return 0;
    if (load_map(c, cfg, root, "") != 0)
        return -1;
    if (c->token_node != NULL && c->token_file_node != NULL)
        return fail(c, c->token_file_node, "set \"server.admin_token\" or \"server.admin_token_file\", not both");
    if ((cfg->server.tls.cert_file == NULL) != (cfg->server.tls.key_file == NULL)) {
        if (cfg->server.tls.cert_file != NULL)
            return fail(c, c->cert_node, "\"server.tls.cert_file\" is set without \"server.tls.key_file\": TLS needs both");
        return fail(c, c->key_node, "\"server.tls.key_file\" is set without \"server.tls.cert_file\": TLS needs both");
    }
    return 0;
}

static int read_config_file(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    /* read, not stat: the size of a pipe or /dev/zero is not known in advance */
    unsigned char *buf = malloc(CONFIG_MAX_BYTES + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (e != 0 || n > CONFIG_MAX_BYTES) {
        free(buf);
        if (e != 0)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        else
            snprintf(err, errlen, "%s: larger than %d bytes; is this the right file?", path, CONFIG_MAX_BYTES);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void yaml_failure(ctx_t *c, const yaml_parser_t *parser)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        fail(c, NULL, "out of memory");
        return;
    }
    yaml_node_t at = {.start_mark = parser->problem_mark};
    fail(c, &at, "invalid YAML: %s%s%s", parser->problem ? parser->problem : "parse error",
         parser->context ? " " : "", parser->context ? parser->context : "");
}

int config_load(hc_config_t *cfg, const char *path, char *err, size_t errlen)
{
    char dummy[1];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    ctx_t c = {.path = path, .err = err, .errlen = errlen};
    unsigned char *buf;
    size_t len;
    if (read_config_file(path, &buf, &len, err, errlen) != 0)
        return -1;
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    if (!yaml_parser_initialize(&parser)) {
        free(buf);
        return fail(&c, NULL, "out of memory");
    }
    yaml_parser_set_input_string(&parser, buf, len);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_failure(&c, &parser);
        goto out_parser;
    }
    c.doc = &doc;
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_failure(&c, &parser);
        goto out_doc;
    }
    yaml_node_t *second = yaml_document_get_root_node(&extra);
    if (second != NULL)
        fail(&c, second, "more than one YAML document (---); put everything in one");
    yaml_document_delete(&extra);
    if (second != NULL)
        goto out_doc;
    if (check_document(&c, cfg) != 0)
        goto out_doc;
    char *src = strdup(path);
    if (src == NULL) {
        fail(&c, NULL, "out of memory");
        goto out_doc;
    }
    free(cfg->source_path);
    cfg->source_path = src;
    rc = 0;
out_doc:
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&parser);
    free(buf);
    return rc;
}

/* ---- defaults, lookup, release ---- */

int config_defaults(hc_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->server.listen[0] = strdup("127.0.0.1:8080");
    cfg->server.listen_count = 1;
    cfg->server.data_dir = strdup("./data");
    cfg->server.shutdown_grace_ms = 10 * MS_PER_S;
    cfg->server.watchdog_stall_ms = 5 * MS_PER_S;
    cfg->nodes.offline_after_ms = 90 * MS_PER_S;
    cfg->nodes.enrollment_ttl_ms = 24 * MS_PER_H;
    cfg->nodes.heartbeat_interval_s = 30;
    cfg->exec.default_timeout_ms = 60 * MS_PER_S;
    cfg->exec.max_output_bytes = 1048576;
    cfg->exec.result_retention_ms = 168 * MS_PER_H;
    cfg->exec.timeout_grace_ms = 30 * MS_PER_S;
    cfg->heads.screenshot_path = strdup("/tmp/hydra-live-screenshot.jpg");
    cfg->heads.screenshot_max_age_ms = 30 * MS_PER_S;
    cfg->heads.sunshine_port = 47990;
    cfg->heads.fleet_token_overlap_ms = 24 * MS_PER_H;
    cfg->heads.experience_timeout_ms = 5 * MS_PER_S;
    cfg->heads.screenshot_timeout_ms = 20 * MS_PER_S; /* spec: 504 after 20 s */
    cfg->heads.logs_timeout_ms = 15 * MS_PER_S;       /* spec: 504 after 15 s */
    cfg->shell.connect_timeout_ms = 10 * MS_PER_S;
    cfg->shell.idle_timeout_ms = 30 * MS_PER_M;
    cfg->shell.max_duration_ms = 12 * MS_PER_H;
    cfg->shell.max_sessions_per_node = 4;
    cfg->streams.stop_command = strdup("hydrabody stream-stop");
    cfg->streams.stop_timeout_ms = 20 * MS_PER_S;
    cfg->releases.base_url = strdup("https://releases.example.com");
    if (cfg->server.listen[0] == NULL || cfg->server.data_dir == NULL || cfg->heads.screenshot_path == NULL ||
        cfg->streams.stop_command == NULL || cfg->releases.base_url == NULL) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

char *config_find_path(const char *explicit_path)
{
    if (explicit_path != NULL)
        return strdup(explicit_path);
    const char *env = getenv("HYDRACLUSTER_CONFIG");
    if (env != NULL && env[0] != '\0')
        return strdup(env);
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0')
        return NULL;
    char p[4096];
    struct stat st;
    int n = snprintf(p, sizeof(p), "%s/.hydracluster/config.yaml", home);
    if (n < 0 || (size_t)n >= sizeof(p) || stat(p, &st) != 0)
        return NULL;
    return strdup(p);
}

void config_free(hc_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->source_path);
    free_strs(cfg->server.listen, CONFIG_MAX_LISTEN);
    free(cfg->server.public_url);
    free(cfg->server.data_dir);
    if (cfg->server.admin_token != NULL)
        explicit_bzero(cfg->server.admin_token, strlen(cfg->server.admin_token));
    free(cfg->server.admin_token);
    free(cfg->server.admin_token_file);
    if (cfg->server.fleet_enrollment_token != NULL)
        explicit_bzero(cfg->server.fleet_enrollment_token, strlen(cfg->server.fleet_enrollment_token));
    free(cfg->server.fleet_enrollment_token);
    free(cfg->server.tls.cert_file);
    free(cfg->server.tls.key_file);
    free_strs(cfg->server.trusted_proxies, CONFIG_MAX_PROXIES);
    free(cfg->heads.experience_library_url);
    free(cfg->heads.screenshot_path);
    free(cfg->streams.stop_command);
    free(cfg->releases.base_url);
    free_roles(cfg->role_catalog, cfg->role_catalog_count);
    memset(cfg, 0, sizeof(*cfg));
}
