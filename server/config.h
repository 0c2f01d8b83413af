/*
 * config.yaml (spec/cli-and-config.md). Parsed once by the main thread at
 * start; the resulting hc_config_t is read-only afterwards and may be read
 * from any thread without a lock. Owned by main; released with config_free.
 */
#ifndef HC_CONFIG_H
#define HC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN 8
#define CONFIG_MAX_PROXIES 16
#define CONFIG_MAX_HEAD_ROLES 16

typedef struct config_role {
    char *name;
    char *description;
    char *recipe_json; /* the recipe as a JSON text ("{}" when absent) */
} config_role_t;

typedef struct hc_config {
    char *source_path; /* file the config came from, NULL for the embedded default */

    struct {
        char *listen[CONFIG_MAX_LISTEN]; /* "host:port"; [::1]:8080 for IPv6 */
        size_t listen_count;
        char *public_url;      /* default: http://<first listen> */
        char *data_dir;        /* default ./data */
        char *admin_token;     /* from admin_token or admin_token_file; NULL: generated in data_dir */
        char *admin_token_file;
        char *fleet_enrollment_token; /* NULL: generated in data_dir */
        unsigned workers;      /* 0 = one per core */
        unsigned max_connections; /* server.max_connections, default 4096: open client connections, all workers */
        struct {
            char *cert_file;
            char *key_file;
            int http2; /* bool, default 0 */
        } tls;
        char *trusted_proxies[CONFIG_MAX_PROXIES];
        size_t trusted_proxies_count;
        int metrics_public; /* bool */
        char *metrics_token; /* server.metrics_token: read-only credential for /metrics only; NULL: none */
        uint64_t shutdown_grace_ms; /* server.shutdown_grace, default 10s */
        uint64_t watchdog_stall_ms; /* server.watchdog_stall, default 5s: a worker loop stuck this long is a stall */
        uint64_t auth_max_failures;       /* server.auth_max_failures, default 30: wrong bearer tokens per
                                             address and window before 429; 0 = no throttle */
        uint64_t auth_failure_window_ms;  /* server.auth_failure_window, default 60s */
    } server;

    struct {
        uint64_t offline_after_ms; /* default 90s */
        int auto_approve;          /* default false */
        uint64_t enrollment_ttl_ms; /* nodes.enrollment_ttl, default 24h */
        unsigned heartbeat_interval_s; /* nodes.heartbeat_interval, default 30s */
        uint64_t events_retention_ms; /* nodes.events_retention, default 30 days: node events older are pruned */
    } nodes;

    struct {
        uint64_t default_timeout_ms;  /* default 60s */
        uint64_t max_output_bytes;    /* default 1048576 */
        uint64_t result_retention_ms; /* default 168h */
        uint64_t timeout_grace_ms;    /* exec.timeout_grace, default 30s: a running command without a result
                                         is finished as timeout after its timeout plus this */
        uint64_t max_pending;         /* exec.max_pending, default 1000: pending commands per node before
                                         POST …/exec answers 429 */
    } exec;

    struct {
        char *experience_library_url; /* NULL: not configured */
        char *screenshot_path;        /* default /tmp/hydra-live-screenshot.jpg */
        uint64_t screenshot_max_age_ms; /* default 30s */
        unsigned sunshine_port;       /* heads.sunshine_port, default 47990 */
        uint64_t fleet_token_overlap_ms;  /* heads.fleet_token_overlap, default 24h: a rotated-out fleet token still registers iPads this long */
        uint64_t experience_timeout_ms;   /* heads.experience_timeout, default 5s: bound on the experience library's answer */
        uint64_t screenshot_timeout_ms;   /* heads.screenshot_timeout, default 20s: GET …/screenshot answers 504 after it */
        uint64_t logs_timeout_ms;         /* heads.logs_timeout, default 15s: GET …/logs answers 504 after it */
        char roles[CONFIG_MAX_HEAD_ROLES][65]; /* heads.roles: a node holding one is a head */
        size_t roles_count;               /* default 3: hydraheadflatscreen, hydraheadwindows, hydraheadipad */
    } heads;

    struct {
        char *stop_command;       /* default "hydrabody stream-stop" */
        uint64_t stop_timeout_ms; /* default 20s */
    } streams;

    struct {
        uint64_t retention_ms;       /* sessions.retention, default 30 days: ended sessions and their logs are pruned after */
        uint64_t silence_timeout_ms; /* sessions.silence_timeout, default 60s: a streaming body silent this long ends its session */
        uint64_t orphan_after_ms;    /* sessions.orphan_after, default 60s: a streaming body without a head this long is orphaned */
        unsigned log_max_lines;      /* sessions.log_max_lines, default 10000: log lines kept per session side */
    } sessions;

    struct {
        char *base_url; /* default https://releases.example.com */
        char *channel;  /* releases.channel, default "production": <base_url>/hydranode/<channel>/latest/… */
    } releases;

    struct {
        char *level;  /* log.level: debug, info (default), warn, error */
        char *format; /* log.format: logfmt (default) or json */
    } log;

    config_role_t *role_catalog;
    size_t role_catalog_count;
} hc_config_t;

/* Fills *cfg with the embedded defaults. Returns 0, or -1 on allocation failure. */
int config_defaults(hc_config_t *cfg);

/*
 * Loads the file at path over the defaults. On error returns -1 and writes a
 * one-line message into err naming the file, line and column and what is
 * wrong (unknown key, wrong type, bad duration, missing TLS file...).
 */
int config_load(hc_config_t *cfg, const char *path, char *err, size_t errlen);

/*
 * Which file `serve` reads: explicit (from --config) if given, else
 * $HYDRACLUSTER_CONFIG, else ~/.hydracluster/config.yaml when it exists;
 * NULL means the embedded default. The result is malloc'ed or NULL.
 */
char *config_find_path(const char *explicit_path);

/* Parses "90s", "250ms", "5m", "168h", "1h30m" into milliseconds; -1 when malformed. */
int config_parse_duration(const char *s, uint64_t *out_ms);

void config_free(hc_config_t *cfg);

#endif
