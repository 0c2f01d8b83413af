#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_DEPTH 16

typedef struct {
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t errlen;
} ctx_t;

static int fail(ctx_t *c, yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx_t *c, yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n != NULL)
        snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->path, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s", c->path, msg);
    return -1;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int set_str(char **dst, const char *v)
{
    char *d = strdup(v);
    if (d == NULL)
        return -1;
    free(*dst);
    *dst = d;
    return 0;
}

int config_parse_duration(const char *s, uint64_t *out_ms)
{
    if (s == NULL || *s == '\0')
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
        while (isdigit((unsigned char)*p)) {
            if (v > (UINT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*p - '0');
            p++;
        }
        uint64_t mult;
        if (strncmp(p, "ms", 2) == 0) {
            mult = 1;
            p += 2;
        } else if (*p == 's') {
            mult = 1000;
            p++;
        } else if (*p == 'm') {
            mult = 60 * 1000;
            p++;
        } else if (*p == 'h') {
            mult = 3600 * 1000;
            p++;
        } else {
            return -1;
        }
        if (v != 0 && mult > UINT64_MAX / v)
            return -1;
        if (total > UINT64_MAX - v * mult)
            return -1;
        total += v * mult;
    }
    *out_ms = total;
    return 0;
}

int config_defaults(hc_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->server.listen[0] = xstrdup("127.0.0.1:8080");
    cfg->server.listen_count = 1;
    cfg->server.data_dir = xstrdup("./data");
    cfg->server.shutdown_grace_ms = 10000;
    cfg->nodes.offline_after_ms = 90000;
    cfg->nodes.enrollment_ttl_ms = 24ULL * 3600 * 1000;
    cfg->nodes.heartbeat_interval_s = 30;
    cfg->exec.default_timeout_ms = 60000;
    cfg->exec.max_output_bytes = 1048576;
    cfg->exec.result_retention_ms = 168ULL * 3600 * 1000;
    cfg->exec.timeout_grace_ms = 30000;
    cfg->heads.screenshot_path = xstrdup("/tmp/hydra-live-screenshot.jpg");
    cfg->heads.screenshot_max_age_ms = 30000;
    cfg->heads.sunshine_port = 47990;
    cfg->streams.stop_command = xstrdup("hydrabody stream-stop");
    cfg->streams.stop_timeout_ms = 20000;
    cfg->releases.base_url = xstrdup("https://releases.example.com");
    if (!cfg->server.listen[0] || !cfg->server.data_dir || !cfg->heads.screenshot_path || !cfg->streams.stop_command ||
        !cfg->releases.base_url) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

static const char *scalar(yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_string(ctx_t *c, yaml_node_t *n, const char *key, char **dst)
{
    const char *v = scalar(n);
    if (v == NULL)
        return fail(c, n, "\"%s\" must be a string", key);
    if (set_str(dst, v) != 0)
        return fail(c, n, "out of memory");
    return 0;
}

static int get_bool(ctx_t *c, yaml_node_t *n, const char *key, int *dst)
{
    const char *v = scalar(n);
    static const char *const yes[] = {"true", "yes", "on", NULL}, *const no[] = {"false", "no", "off", NULL};
    if (v != NULL) {
        for (size_t i = 0; yes[i]; i++)
            if (strcasecmp(v, yes[i]) == 0) {
                *dst = 1;
                return 0;
            }
        for (size_t i = 0; no[i]; i++)
            if (strcasecmp(v, no[i]) == 0) {
                *dst = 0;
                return 0;
            }
    }
    return fail(c, n, "\"%s\" must be true or false", key);
}

static int get_uint(ctx_t *c, yaml_node_t *n, const char *key, uint64_t max, uint64_t *dst)
{
    const char *v = scalar(n);
    if (v == NULL || *v == '\0')
        return fail(c, n, "\"%s\" must be a whole number", key);
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end != '\0' || errno != 0 || v[0] == '-' || x > max)
        return fail(c, n, "\"%s\" must be a whole number from 0 to %llu", key, (unsigned long long)max);
    *dst = x;
    return 0;
}

static int get_duration(ctx_t *c, yaml_node_t *n, const char *key, uint64_t *dst)
{
    const char *v = scalar(n);
    if (v == NULL || config_parse_duration(v, dst) != 0)
        return fail(c, n, "\"%s\" must be a duration such as 250ms, 90s, 5m, 168h or 1h30m", key);
    return 0;
}

static int get_file(ctx_t *c, yaml_node_t *n, const char *key, char **dst)
{
    if (get_string(c, n, key, dst) != 0)
        return -1;
    if (access(*dst, R_OK) != 0)
        return fail(c, n, "\"%s\": cannot read %s: %s", key, *dst, strerror(errno));
    return 0;
}

static int get_string_list(ctx_t *c, yaml_node_t *n, const char *key, char **dst, size_t max, size_t *count)
{
    for (size_t i = 0; i < *count; i++) {
        free(dst[i]);
        dst[i] = NULL;
    }
    *count = 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (get_string(c, n, key, &dst[0]) != 0)
            return -1;
        *count = 1;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(c, n, "\"%s\" must be a string or a list of strings", key);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *it);
        if (*count == max)
            return fail(c, item, "\"%s\" takes at most %zu entries", key, max);
        if (get_string(c, item, key, &dst[*count]) != 0)
            return -1;
        (*count)++;
    }
    return 0;
}

/* a YAML node as JSON (role recipes); scalars stay strings */
static json_t *to_json(ctx_t *c, yaml_node_t *n, int depth)
{
    if (depth > CONFIG_MAX_DEPTH)
        return NULL;
    if (n->type == YAML_SCALAR_NODE)
        return json_string((const char *)n->data.scalar.value);
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; a && it < n->data.sequence.items.top; it++) {
            json_t *v = to_json(c, yaml_document_get_node(c->doc, *it), depth + 1);
            if (v == NULL || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    if (n->type == YAML_MAPPING_NODE) {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top; p++) {
            const char *k = scalar(yaml_document_get_node(c->doc, p->key));
            json_t *v = k ? to_json(c, yaml_document_get_node(c->doc, p->value), depth + 1) : NULL;
            if (v == NULL || json_object_set_new(o, k, v) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    return NULL;
}

/* checks a mapping for non-scalar and duplicate keys */
static int check_mapping(ctx_t *c, yaml_node_t *map, const char *prefix)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail(c, map, "\"%s\" must be a mapping", prefix[0] ? prefix : "(top level)");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (scalar(k) == NULL)
            return fail(c, k, "keys under \"%s\" must be plain names", prefix);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (strcmp(scalar(yaml_document_get_node(c->doc, q->key)), scalar(k)) == 0)
                return fail(c, k, "duplicate key \"%s%s%s\"", prefix, prefix[0] ? "." : "", scalar(k));
    }
    return 0;
}

static int load_role(ctx_t *c, yaml_node_t *n, config_role_t *role)
{
    if (check_mapping(c, n, "role_catalog[]") != 0)
        return -1;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        const char *k = scalar(kn);
        if (strcmp(k, "name") == 0) {
            if (get_string(c, v, "role_catalog.name", &role->name) != 0)
                return -1;
        } else if (strcmp(k, "description") == 0) {
            if (get_string(c, v, "role_catalog.description", &role->description) != 0)
                return -1;
        } else if (strcmp(k, "recipe") == 0) {
            if (v->type != YAML_MAPPING_NODE)
                return fail(c, v, "\"role_catalog.recipe\" must be a mapping");
            json_t *j = to_json(c, v, 0);
            if (j == NULL)
                return fail(c, v, "\"role_catalog.recipe\" is nested too deeply or has non-string keys");
            free(role->recipe_json);
            role->recipe_json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(j);
            if (role->recipe_json == NULL)
                return fail(c, v, "out of memory");
        } else {
            return fail(c, kn, "unknown key \"role_catalog.%s\"", k);
        }
    }
    if (role->name == NULL || role->name[0] == '\0')
        return fail(c, n, "every role_catalog entry needs a \"name\"");
    if (role->description == NULL && set_str(&role->description, "") != 0)
        return fail(c, n, "out of memory");
    if (role->recipe_json == NULL && set_str(&role->recipe_json, "{}") != 0)
        return fail(c, n, "out of memory");
    return 0;
}

static int load_roles(ctx_t *c, hc_config_t *cfg, yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(c, n, "\"role_catalog\" must be a list");
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    config_role_t *roles = calloc(count ? count : 1, sizeof(*roles));
    if (roles == NULL)
        return fail(c, n, "out of memory");
    cfg->role_catalog = roles;
    cfg->role_catalog_count = count;
    size_t i = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
        if (load_role(c, yaml_document_get_node(c->doc, *it), &roles[i]) != 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(roles[j].name, roles[i].name) == 0)
                return fail(c, yaml_document_get_node(c->doc, *it), "role \"%s\" is listed twice", roles[i].name);
    }
    return 0;
}

#define KEY(name) (strcmp(k, name) == 0)

static int load_section(ctx_t *c, hc_config_t *cfg, const char *section, yaml_node_t *map)
{
    if (check_mapping(c, map, section) != 0)
        return -1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        const char *k = scalar(kn);
        char full[128];
        snprintf(full, sizeof(full), "%s.%s", section, k);
        int rc = 0;
        uint64_t u;
        if (strcmp(section, "server") == 0) {
            if (KEY("listen"))
                rc = get_string_list(c, v, full, cfg->server.listen, CONFIG_MAX_LISTEN, &cfg->server.listen_count);
            else if (KEY("public_url"))
                rc = get_string(c, v, full, &cfg->server.public_url);
            else if (KEY("data_dir"))
                rc = get_string(c, v, full, &cfg->server.data_dir);
            else if (KEY("admin_token"))
                rc = get_string(c, v, full, &cfg->server.admin_token);
            else if (KEY("admin_token_file"))
                rc = get_file(c, v, full, &cfg->server.admin_token_file);
            else if (KEY("fleet_enrollment_token"))
                rc = get_string(c, v, full, &cfg->server.fleet_enrollment_token);
            else if (KEY("workers")) {
                rc = get_uint(c, v, full, 256, &u);
                cfg->server.workers = (unsigned)u;
            } else if (KEY("tls")) {
                rc = load_section(c, cfg, "server.tls", v);
            } else if (KEY("trusted_proxies"))
                rc = get_string_list(c, v, full, cfg->server.trusted_proxies, CONFIG_MAX_PROXIES,
                                     &cfg->server.trusted_proxies_count);
            else if (KEY("metrics_public"))
                rc = get_bool(c, v, full, &cfg->server.metrics_public);
            else if (KEY("shutdown_grace"))
                rc = get_duration(c, v, full, &cfg->server.shutdown_grace_ms);
            else
                return fail(c, kn, "unknown key \"%s\"", full);
        } else if (strcmp(section, "server.tls") == 0) {
            if (KEY("cert_file"))
                rc = get_file(c, v, full, &cfg->server.tls.cert_file);
            else if (KEY("key_file"))
                rc = get_file(c, v, full, &cfg->server.tls.key_file);
            else if (KEY("http2"))
                rc = get_bool(c, v, full, &cfg->server.tls.http2);
            else
                return fail(c, kn, "unknown key \"%s\"", full);
        } else if (strcmp(section, "nodes") == 0) {
            if (KEY("offline_after"))
                rc = get_duration(c, v, full, &cfg->nodes.offline_after_ms);
            else if (KEY("auto_approve"))
                rc = get_bool(c, v, full, &cfg->nodes.auto_approve);
            else if (KEY("enrollment_ttl"))
                rc = get_duration(c, v, full, &cfg->nodes.enrollment_ttl_ms);
            else if (KEY("heartbeat_interval")) {
                rc = get_duration(c, v, full, &u);
                if (rc == 0 && (u < 1000 || u > 3600 * 1000))
                    return fail(c, v, "\"%s\" must be between 1s and 1h", full);
                cfg->nodes.heartbeat_interval_s = (unsigned)(u / 1000);
            } else
                return fail(c, kn, "unknown key \"%s\"", full);
        } else if (strcmp(section, "exec") == 0) {
            if (KEY("default_timeout")) {
                rc = get_duration(c, v, full, &cfg->exec.default_timeout_ms);
                if (rc == 0 && (cfg->exec.default_timeout_ms < 1000 || cfg->exec.default_timeout_ms > 24 * 3600 * 1000))
                    return fail(c, v, "\"%s\" must be between 1s and 24h", full);
            }
            else if (KEY("max_output_bytes")) {
                /* the agent's result (stdout + stderr, JSON-escaped) must fit the 8 MiB body limit of
                   POST /api/v1/body/exec/result */
                rc = get_uint(c, v, full, 4ULL * 1024 * 1024, &cfg->exec.max_output_bytes);
            }
            else if (KEY("result_retention"))
                rc = get_duration(c, v, full, &cfg->exec.result_retention_ms);
            else if (KEY("timeout_grace")) {
                rc = get_duration(c, v, full, &cfg->exec.timeout_grace_ms);
                if (rc == 0 && cfg->exec.timeout_grace_ms > 3600 * 1000)
                    return fail(c, v, "\"%s\" must be at most 1h", full);
            } else
                return fail(c, kn, "unknown key \"%s\"", full);
        } else if (strcmp(section, "heads") == 0) {
            if (KEY("experience_library_url"))
                rc = get_string(c, v, full, &cfg->heads.experience_library_url);
            else if (KEY("screenshot_path"))
                rc = get_string(c, v, full, &cfg->heads.screenshot_path);
            else if (KEY("screenshot_max_age"))
                rc = get_duration(c, v, full, &cfg->heads.screenshot_max_age_ms);
            else if (KEY("sunshine_port")) {
                rc = get_uint(c, v, full, 65535, &u);
                cfg->heads.sunshine_port = (unsigned)u;
            } else
                return fail(c, kn, "unknown key \"%s\"", full);
        } else if (strcmp(section, "streams") == 0) {
            if (KEY("stop_command"))
                rc = get_string(c, v, full, &cfg->streams.stop_command);
            else if (KEY("stop_timeout"))
                rc = get_duration(c, v, full, &cfg->streams.stop_timeout_ms);
            else
                return fail(c, kn, "unknown key \"%s\"", full);
        } else if (strcmp(section, "releases") == 0) {
            if (KEY("base_url"))
                rc = get_string(c, v, full, &cfg->releases.base_url);
            else
                return fail(c, kn, "unknown key \"%s\"", full);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int read_token_file(ctx_t *c, hc_config_t *cfg)
{
    FILE *f = fopen(cfg->server.admin_token_file, "r");
    if (f == NULL)
        return fail(c, NULL, "cannot read server.admin_token_file %s: %s", cfg->server.admin_token_file, strerror(errno));
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = buf;
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    if (len < 16)
        return fail(c, NULL, "server.admin_token_file %s holds no token (at least 16 characters)",
                    cfg->server.admin_token_file);
    return set_str(&cfg->server.admin_token, s) == 0 ? 0 : fail(c, NULL, "out of memory");
}

int config_load(hc_config_t *cfg, const char *path, char *err, size_t errlen)
{
    ctx_t c = {.path = path, .err = err, .errlen = errlen};
    struct stat sb;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &sb) != 0 || sb.st_size > CONFIG_MAX_BYTES) {
        fclose(f);
        snprintf(err, errlen, "%s: larger than %d bytes: is this the right file?", path, CONFIG_MAX_BYTES);
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: invalid YAML: %s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    c.doc = &doc;
    free(cfg->source_path);
    cfg->source_path = strdup(path);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        rc = 0; /* an empty file: all defaults */
        goto done;
    }
    if (check_mapping(&c, root, "") != 0)
        goto done;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        const char *k = scalar(kn);
        if (KEY("server") || KEY("nodes") || KEY("exec") || KEY("heads") || KEY("streams") || KEY("releases")) {
            if (load_section(&c, cfg, k, v) != 0)
                goto done;
        } else if (KEY("role_catalog")) {
            if (load_roles(&c, cfg, v) != 0)
                goto done;
        } else {
            fail(&c, kn, "unknown key \"%s\"", k);
            goto done;
        }
    }
    if ((cfg->server.tls.cert_file == NULL) != (cfg->server.tls.key_file == NULL)) {
        fail(&c, NULL, "server.tls needs both cert_file and key_file");
        goto done;
    }
    if (cfg->server.admin_token_file != NULL && read_token_file(&c, cfg) != 0)
        goto done;
    if (cfg->server.listen_count == 0) {
        fail(&c, NULL, "server.listen needs at least one address");
        goto done;
    }
    rc = 0;
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

char *config_find_path(const char *explicit_path)
{
    if (explicit_path != NULL)
        return strdup(explicit_path);
    const char *env = getenv("HYDRACLUSTER_CONFIG");
    if (env != NULL && env[0] != '\0')
        return strdup(env);
    const char *home = getenv("HOME");
    if (home != NULL) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/.hydracluster/config.yaml", home);
        if (access(p, F_OK) == 0)
            return strdup(p);
    }
    return NULL;
}

void config_free(hc_config_t *cfg)
{
    free(cfg->source_path);
    for (size_t i = 0; i < cfg->server.listen_count; i++)
        free(cfg->server.listen[i]);
    free(cfg->server.public_url);
    free(cfg->server.data_dir);
    free(cfg->server.admin_token);
    free(cfg->server.admin_token_file);
    free(cfg->server.fleet_enrollment_token);
    free(cfg->server.tls.cert_file);
    free(cfg->server.tls.key_file);
    for (size_t i = 0; i < cfg->server.trusted_proxies_count; i++)
        free(cfg->server.trusted_proxies[i]);
    free(cfg->heads.experience_library_url);
    free(cfg->heads.screenshot_path);
    free(cfg->streams.stop_command);
    free(cfg->releases.base_url);
    for (size_t i = 0; i < cfg->role_catalog_count; i++) {
        free(cfg->role_catalog[i].name);
        free(cfg->role_catalog[i].description);
        free(cfg->role_catalog[i].recipe_json);
    }
    free(cfg->role_catalog);
    memset(cfg, 0, sizeof(*cfg));
}
