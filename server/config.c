/*
 * config.yaml loader. yaml_tree.c reads the file into a tree; one table of
 * known keys drives the walk over it, so the list of accepted keys and the
 * check for unknown ones cannot drift apart. The values are checked in
 * config_values.c, role_catalog in config_roles.c.
 */
#include "config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_DEPTH 64
#define KEY_MAX 256

#define AT(m) .off = offsetof(hc_config_t, m), .size = sizeof(((hc_config_t *)0)->m)

static const key_def_t key_defs[] = {
    {.key = "server", .kind = K_SECTION},
    {.key = "server.listen", .kind = K_LISTEN},
    {.key = "server.public_url", .kind = K_URL, AT(server.public_url), .nullable = true},
    {.key = "server.data_dir", .kind = K_PATH, AT(server.data_dir)},
    {.key = "server.admin_token", .kind = K_TOKEN, AT(server.admin_token), .nullable = true},
    {.key = "server.admin_token_file", .kind = K_TOKEN_FILE, AT(server.admin_token_file), .nullable = true},
    {.key = "server.fleet_enrollment_token", .kind = K_TOKEN, AT(server.fleet_enrollment_token), .nullable = true},
    {.key = "server.workers", .kind = K_UINT, AT(server.workers), .max = 1024},
    {.key = "server.max_connections", .kind = K_UINT, AT(server.max_connections), .min = 1, .max = 1000000},
    {.key = "server.tls", .kind = K_SECTION},
    {.key = "server.tls.cert_file", .kind = K_FILE, AT(server.tls.cert_file), .nullable = true},
    {.key = "server.tls.key_file", .kind = K_FILE, AT(server.tls.key_file), .nullable = true},
    {.key = "server.tls.http2", .kind = K_BOOL, AT(server.tls.http2)},
    {.key = "server.trusted_proxies", .kind = K_PROXIES},
    {.key = "server.metrics_public", .kind = K_BOOL, AT(server.metrics_public)},
    {.key = "server.metrics_token", .kind = K_TOKEN, AT(server.metrics_token), .nullable = true},
    {.key = "server.shutdown_grace", .kind = K_DURATION, AT(server.shutdown_grace_ms), .max = FOREVER},
    /* at least 2 s: an idle worker loop turns every 0.5 s (server/workers.c) */
    {.key = "server.watchdog_stall",
     .kind = K_DURATION,
     AT(server.watchdog_stall_ms),
     .min = 2 * MS_PER_S,
     .max = 10 * MS_PER_M},
    {.key = "server.auth_max_failures", .kind = K_UINT, AT(server.auth_max_failures), .max = 1000000},
    {.key = "server.auth_failure_window",
     .kind = K_DURATION,
     AT(server.auth_failure_window_ms),
     .min = MS_PER_S,
     .max = 24 * MS_PER_H},
    {.key = "nodes", .kind = K_SECTION},
    {.key = "nodes.offline_after", .kind = K_DURATION, AT(nodes.offline_after_ms), .min = MS_PER_S, .max = FOREVER},
    {.key = "nodes.auto_approve", .kind = K_BOOL, AT(nodes.auto_approve)},
    {.key = "nodes.enrollment_ttl", .kind = K_DURATION, AT(nodes.enrollment_ttl_ms), .min = MS_PER_S, .max = FOREVER},
    {.key = "nodes.heartbeat_interval",
     .kind = K_SECONDS,
     AT(nodes.heartbeat_interval_s),
     .min = MS_PER_S,
     .max = MS_PER_H},
    {.key = "nodes.events_retention", .kind = K_DURATION, AT(nodes.events_retention_ms), .min = MS_PER_S, .max = FOREVER},
    {.key = "exec", .kind = K_SECTION},
    {.key = "exec.default_timeout", .kind = K_DURATION, AT(exec.default_timeout_ms), .min = MS_PER_S, .max = 24 * MS_PER_H},
    /* an agent's result (stdout + stderr, JSON-escaped) must fit the 8 MiB body limit of POST /api/v1/body/exec/result */
    {.key = "exec.max_output_bytes", .kind = K_UINT, AT(exec.max_output_bytes), .max = 4ULL * 1024 * 1024},
    {.key = "exec.result_retention", .kind = K_DURATION, AT(exec.result_retention_ms), .max = FOREVER},
    {.key = "exec.max_pending", .kind = K_UINT, AT(exec.max_pending), .min = 1, .max = 1000000},
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
    {.key = "heads.roles", .kind = K_HEAD_ROLES},
    {.key = "streams", .kind = K_SECTION},
    {.key = "streams.stop_command", .kind = K_TEXT, AT(streams.stop_command)},
    {.key = "streams.stop_timeout", .kind = K_DURATION, AT(streams.stop_timeout_ms), .min = MS_PER_S, .max = FOREVER},
    {.key = "sessions", .kind = K_SECTION},
    {.key = "sessions.retention", .kind = K_DURATION, AT(sessions.retention_ms), .min = MS_PER_S, .max = FOREVER},
    {.key = "sessions.silence_timeout",
     .kind = K_DURATION,
     AT(sessions.silence_timeout_ms),
     .min = MS_PER_S,
     .max = 24 * MS_PER_H},
    {.key = "sessions.orphan_after", .kind = K_DURATION, AT(sessions.orphan_after_ms), .min = MS_PER_S, .max = 24 * MS_PER_H},
    {.key = "sessions.log_max_lines", .kind = K_UINT, AT(sessions.log_max_lines), .min = 10, .max = 1000000},
    {.key = "releases", .kind = K_SECTION},
    {.key = "releases.base_url", .kind = K_URL, AT(releases.base_url)},
    {.key = "releases.channel", .kind = K_NAME, AT(releases.channel)},
    {.key = "role_catalog", .kind = K_ROLES},
    {.key = "log", .kind = K_SECTION},
    {.key = "log.level", .kind = K_CHOICE, AT(log.level), .choices = "debug|info|warn|error"},
    {.key = "log.format", .kind = K_CHOICE, AT(log.format), .choices = "logfmt|json"},
};

/* ---- the walk ---- */

static const key_def_t *find_key(const char *full)
{
    for (size_t i = 0; i < sizeof(key_defs) / sizeof(key_defs[0]); i++)
        if (strcmp(key_defs[i].key, full) == 0)
            return &key_defs[i];
    return NULL;
}

static int load_map(ctx_t *c, hc_config_t *cfg, ynode_t *map, const char *prefix);

static int set_value(ctx_t *c, hc_config_t *cfg, const key_def_t *d, ynode_t *v)
{
    void *field = (char *)cfg + d->off;
    if (config_is_null(v)) {
        switch (d->kind) {
        case K_SECTION: /* a section with every key commented out */
            return 0;
        case K_PROXIES:
            config_free_strs(cfg->server.trusted_proxies, cfg->server.trusted_proxies_count);
            cfg->server.trusted_proxies_count = 0;
            return 0;
        case K_HEAD_ROLES:
            cfg->heads.roles_count = 0;
            return 0;
        case K_ROLES:
            config_free_roles(cfg->role_catalog, cfg->role_catalog_count);
            cfg->role_catalog = NULL;
            cfg->role_catalog_count = 0;
            return 0;
        default:
            if (!d->nullable)
                return config_fail(c, v, "\"%s\" needs a value", d->key);
            free(*(char **)field);
            *(char **)field = NULL;
            return 0;
        }
    }
    switch (d->kind) {
    case K_SECTION:
        return load_map(c, cfg, v, d->key);
    case K_BOOL:
        return config_set_bool(c, d, v, (int *)field);
    case K_UINT:
        return config_set_uint(c, d, v, field);
    case K_DURATION:
    case K_SECONDS:
        return config_set_duration(c, d, v, field);
    case K_LISTEN:
    case K_PROXIES:
        return config_set_list(c, d, v, cfg);
    case K_ROLES:
        return config_set_roles(c, d, v, cfg);
    case K_HEAD_ROLES:
        return config_set_head_roles(c, d, v, cfg);
    default:
        return config_set_string(c, d, v, cfg);
    }
}

static int load_map(ctx_t *c, hc_config_t *cfg, ynode_t *map, const char *prefix)
{
    ynode_t *m = yaml_tree_deref(map);
    if (m->kind != YAML_TREE_MAP) {
        if (prefix[0] == '\0')
            return config_fail(c, map, "the file must be a mapping of keys (server:, nodes:, ...), not %s", config_type_name(map));
        return config_fail(c, map, "\"%s\" must be a mapping of keys, not %s", prefix, config_type_name(map));
    }
    size_t dup = SIZE_MAX, first;
    if (!yaml_tree_map_dup(c->tree, m, &dup, &first))
        dup = SIZE_MAX;
    /* the pairs as written: "<<" is not a key of any section */
    for (uint32_t i = 0; i < m->u.map.n_explicit; i++) {
        ynode_t *kn = m->u.map.pairs[i].key, *vn = m->u.map.pairs[i].value;
        const char *k = config_text(kn); /* the reader refused keys that are not text */
        char full[KEY_MAX];
        snprintf(full, sizeof(full), "%s%s%s", prefix, prefix[0] ? "." : "", k);
        const key_def_t *d = find_key(full);
        if (d == NULL)
            return config_fail(c, kn, "unknown key \"%s\"", full);
        if (i == dup)
            return config_fail(c, kn, "duplicate key \"%s\"", full);
        if (set_value(c, cfg, d, vn) != 0)
            return -1;
        /* kept for the checks that span keys, which run after the walk */
        if (strcmp(full, "server.tls.cert_file") == 0)
            c->cert_node = kn;
        else if (strcmp(full, "server.tls.key_file") == 0)
            c->key_node = kn;
        else if (strcmp(full, "server.admin_token") == 0)
            c->token_node = config_is_null(vn) ? NULL : kn;
        else if (strcmp(full, "server.admin_token_file") == 0)
            c->token_file_node = config_is_null(vn) ? NULL : kn;
    }
    return 0;
}

static int check_document(ctx_t *c, hc_config_t *cfg)
{
    ynode_t *root = yaml_tree_root(c->tree);
    if (root == NULL || config_is_null(root))
        return 0;
    if (load_map(c, cfg, root, "") != 0)
        return -1;
    if (c->token_node != NULL && c->token_file_node != NULL)
        return config_fail(c, c->token_file_node, "set \"server.admin_token\" or \"server.admin_token_file\", not both");
    if ((cfg->server.tls.cert_file == NULL) != (cfg->server.tls.key_file == NULL)) {
        if (cfg->server.tls.cert_file != NULL)
            return config_fail(c, c->cert_node, "\"server.tls.cert_file\" is set without \"server.tls.key_file\": TLS needs both");
        return config_fail(c, c->key_node, "\"server.tls.key_file\" is set without \"server.tls.cert_file\": TLS needs both");
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
    /* Aliases may stand anywhere (a recursive one too: the walk bounds it),
     * and the expansion bound is reported after the walk, so that a recipe
     * that expands too far is named by its role. */
    static const yaml_tree_opts_t opts = {
        .syntax_label = "invalid YAML", .max_depth = CONFIG_MAX_DEPTH, .allow_recursion = 1, .defer_expansion_check = 1};
    yaml_tree_t *tree = NULL;
    int rc = yaml_tree_parse(path, (const char *)buf, len, &opts, &tree, err, errlen);
    free(buf);
    if (rc != 0) {
        for (char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        return -1;
    }
    c.tree = tree;
    unsigned line, col, node_line, node_col;
    rc = -1;
    if (yaml_tree_second_document(tree, &line, &col, &node_line, &node_col)) {
        yaml_tree_node_t at = {.line = node_line ? node_line : line, .col = node_line ? node_col : col};
        config_fail(&c, &at, "more than one YAML document (---); put everything in one");
        goto out;
    }
    if (check_document(&c, cfg) != 0 || yaml_tree_check_expansion(tree, err, errlen) != 0)
        goto out;
    char *src = strdup(path);
    if (src == NULL) {
        config_fail(&c, NULL, "out of memory");
        goto out;
    }
    free(cfg->source_path);
    cfg->source_path = src;
    rc = 0;
out:
    yaml_tree_free(tree);
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
    cfg->server.auth_max_failures = 30;
    cfg->server.auth_failure_window_ms = 60 * MS_PER_S;
    cfg->server.max_connections = 4096;
    cfg->nodes.offline_after_ms = 90 * MS_PER_S;
    cfg->nodes.enrollment_ttl_ms = 24 * MS_PER_H;
    cfg->nodes.heartbeat_interval_s = 30;
    cfg->nodes.events_retention_ms = 30 * 24 * MS_PER_H;
    cfg->exec.default_timeout_ms = 60 * MS_PER_S;
    cfg->exec.max_output_bytes = 1048576;
    cfg->exec.result_retention_ms = 168 * MS_PER_H;
    cfg->exec.timeout_grace_ms = 30 * MS_PER_S;
    cfg->exec.max_pending = 1000;
    cfg->heads.screenshot_path = strdup("/tmp/hydra-live-screenshot.jpg");
    cfg->heads.screenshot_max_age_ms = 30 * MS_PER_S;
    cfg->heads.sunshine_port = 47990;
    cfg->heads.fleet_token_overlap_ms = 24 * MS_PER_H;
    cfg->heads.experience_timeout_ms = 5 * MS_PER_S;
    cfg->heads.screenshot_timeout_ms = 20 * MS_PER_S; /* spec: 504 after 20 s */
    cfg->heads.logs_timeout_ms = 15 * MS_PER_S;       /* spec: 504 after 15 s */
    cfg->streams.stop_command = strdup("hydrabody stream-stop");
    cfg->streams.stop_timeout_ms = 20 * MS_PER_S;
    cfg->sessions.retention_ms = 30 * 24 * MS_PER_H;
    cfg->sessions.silence_timeout_ms = 60 * MS_PER_S;
    cfg->sessions.orphan_after_ms = 60 * MS_PER_S;
    cfg->sessions.log_max_lines = 10000;
    cfg->releases.base_url = strdup("https://releases.example.com");
    cfg->releases.channel = strdup("production");
    static const char *const head_roles[] = {"hydraheadflatscreen", "hydraheadwindows", "hydraheadipad"};
    for (size_t i = 0; i < sizeof(head_roles) / sizeof(head_roles[0]); i++)
        snprintf(cfg->heads.roles[i], sizeof(cfg->heads.roles[i]), "%s", head_roles[i]);
    cfg->heads.roles_count = sizeof(head_roles) / sizeof(head_roles[0]);
    cfg->log.level = strdup("info");
    cfg->log.format = strdup("logfmt");
    if (cfg->server.listen[0] == NULL || cfg->server.data_dir == NULL || cfg->heads.screenshot_path == NULL ||
        cfg->streams.stop_command == NULL || cfg->releases.base_url == NULL || cfg->releases.channel == NULL ||
        cfg->log.level == NULL || cfg->log.format == NULL) {
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
    config_free_strs(cfg->server.listen, CONFIG_MAX_LISTEN);
    free(cfg->server.public_url);
    free(cfg->server.data_dir);
    if (cfg->server.admin_token != NULL)
        explicit_bzero(cfg->server.admin_token, strlen(cfg->server.admin_token));
    free(cfg->server.admin_token);
    free(cfg->server.admin_token_file);
    if (cfg->server.fleet_enrollment_token != NULL)
        explicit_bzero(cfg->server.fleet_enrollment_token, strlen(cfg->server.fleet_enrollment_token));
    free(cfg->server.fleet_enrollment_token);
    if (cfg->server.metrics_token != NULL)
        explicit_bzero(cfg->server.metrics_token, strlen(cfg->server.metrics_token));
    free(cfg->server.metrics_token);
    free(cfg->log.level);
    free(cfg->log.format);
    free(cfg->server.tls.cert_file);
    free(cfg->server.tls.key_file);
    config_free_strs(cfg->server.trusted_proxies, CONFIG_MAX_PROXIES);
    free(cfg->heads.experience_library_url);
    free(cfg->heads.screenshot_path);
    free(cfg->streams.stop_command);
    free(cfg->releases.base_url);
    free(cfg->releases.channel);
    config_free_roles(cfg->role_catalog, cfg->role_catalog_count);
    memset(cfg, 0, sizeof(*cfg));
}
