/*
 * `hydracluster serve`: the start-up order is the dependency order
 * (config -> store -> migrations -> secrets -> registry -> writer -> workers ->
 * housekeeping), and shutdown runs it backwards so that nothing
 * acknowledged is lost: workers stop first (in-flight requests finish), then
 * the housekeeping stop hooks flush heartbeat state, then the writer commits
 * what is queued.
 */
#include "serve.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_fields.h"
#include "api.h"
#include "cli.h"
#include "clock.h"
#include "conn_guard.h"
#include "exec_queue.h"
#include "fleet_token.h"
#include "head_roles.h"
#include "housekeeping.h"
#include "import.h"
#include "lock.h"
#include "log.h"
#include "metrics.h"
#include "middleware.h"
#include "notify.h"
#include "registry.h"
#include "router.h"
#include "secret.h"
#include "login_sessions.h"
#include "softstate.h"
#include "node_events.h"
#include "middleware.h"
#include "stream_sessions.h"
#include "store.h"
#include "tls.h"
#include "watchdog.h"
#include "workers.h"

/* how often the writer folds the WAL back and truncates it */
#define CHECKPOINT_EVERY_MS 60000

extern const char *hc_version;

static hc_config_t config;
static int config_loaded;
static char public_url[512];
static uint64_t started_ms;

const hc_config_t *serve_config(void)
{
    return config_loaded ? &config : NULL;
}

const char *serve_public_url(void)
{
    return public_url;
}

int64_t serve_uptime_s(void)
{
    return (int64_t)((clock_mono_ms() - started_ms) / 1000);
}

static void usage(FILE *f)
{
    cli_usage(f, "serve"); /* the text is in the command table, cli/commands.c */
}

/* Loads config for any subcommand: --config, env, home, or the embedded default. */
int serve_load_config(const char *explicit_path, hc_config_t *cfg)
{
    char err[1024];
    if (config_defaults(cfg) != 0) {
        fprintf(stderr, "hydracluster: out of memory\n");
        return -1;
    }
    char *path = config_find_path(explicit_path);
    if (path != NULL) {
        if (config_load(cfg, path, err, sizeof(err)) != 0) {
            fprintf(stderr, "hydracluster: %s\n", err);
            free(path);
            return -1;
        }
        free(path);
    }
    return 0;
}

/* The admin and fleet tokens: from config, else generated once into the data dir. */
static int load_credentials(void)
{
    char tok[SECRET_TOKEN_HEX + 1], err[512];
    uint8_t h[SECRET_HASH_LEN];
    int created;
    if (config.server.admin_token != NULL) {
        secret_token_hash(config.server.admin_token, strlen(config.server.admin_token), h);
    } else {
        if (secret_file_token(config.server.data_dir, "admin_token", tok, &created, err, sizeof(err)) != 0) {
            log_error("msg=\"%s\"", err);
            return -1;
        }
        /* Under systemd stdout goes to the journal, which more people can
         * read than the data dir: there, point at the file instead. */
        if (created && getenv("INVOCATION_ID") != NULL)
            printf("hydracluster: generated an admin token; it is in %s/admin_token (readable by the service "
                   "user only)\n",
                   config.server.data_dir);
        else if (created)
            printf("hydracluster: generated an admin token (shown once; kept in %s/admin_token):\n%s\n",
                   config.server.data_dir, tok);
        fflush(stdout);
        secret_token_hash(tok, strlen(tok), h);
    }
    registry_set_config_admin(h);
    if (config.server.metrics_token != NULL) {
        secret_token_hash(config.server.metrics_token, strlen(config.server.metrics_token), h);
        auth_set_metrics_token(h);
    }
    if (fleet_token_load(&config, store_db(), err, sizeof(err)) != 0) {
        log_error("msg=\"%s\"", err);
        return -1;
    }
    return 0;
}

static size_t max_body_limit(void)
{
    size_t m = ROUTE_DEFAULT_BODY_LIMIT;
    for (size_t i = 0; i < route_table_count; i++)
        if (route_table[i].body_limit > m)
            m = route_table[i].body_limit;
    return m;
}

static void checkpoint_task(void *arg)
{
    (void)arg;
    store_writer_checkpoint();
}

static int is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 || strncmp(listen, "localhost:", 10) == 0;
}

/* Advice an operator wants at start rather than after the first incident. */
static void warn_about_setup(void)
{
    int exposed = 0;
    for (size_t i = 0; i < config.server.listen_count; i++)
        exposed |= !is_loopback(config.server.listen[i]);
    if (!tls_enabled() && exposed)
        log_warn("msg=\"serving plain HTTP on a non-loopback address: tokens cross the network in clear text; set "
                 "server.tls or listen on 127.0.0.1 behind a TLS proxy\"");
    if (config.server.public_url == NULL && config.server.trusted_proxies_count > 0)
        log_warn("msg=\"behind a proxy but server.public_url is not set: install commands will point at %s\"",
                 public_url);
}

/* The import at first start (docs/operations.md): an empty database, no
 * import recorded, and a nodes.yaml in the data dir. A refused file stops the
 * start: the operator must fix it, and serving without those nodes would
 * lock every agent out. */
static int first_start_import(void)
{
    import_report_t rep;
    char err[1024], q[1100];
    int done = 0;
    if (import_first_start(store_db(), config.server.data_dir, &rep, &done, err, sizeof(err)) != 0) {
        log_error("msg=\"the nodes.yaml in the data dir was refused; fix it (or move it away) and start again\" "
                  "reason=%s",
                  log_quote(q, sizeof(q), err));
        import_report_free(&rep);
        return -1;
    }
    if (done == 1) {
        log_info("msg=\"imported nodes.yaml from the data dir (first start)\" nodes_imported=%u nodes_updated=%u "
                 "nodes_unchanged=%u nodes_skipped=%u heads_imported=%u heads_skipped=%u roles_imported=%u "
                 "roles_updated=%u",
                 rep.nodes.imported, rep.nodes.updated, rep.nodes.unchanged, rep.nodes.skipped, rep.heads.imported,
                 rep.heads.skipped, rep.roles.imported, rep.roles.updated);
        for (size_t i = 0; i < rep.nnotes; i++)
            log_warn("msg=\"nodes.yaml import\" note=%s", log_quote(q, sizeof(q), rep.notes[i]));
    } else if (done == 2) {
        log_info("msg=\"nodes.yaml in the data dir not imported: the database already has nodes or imported one "
                 "before (use hydracluster import to import again)\"");
    }
    import_report_free(&rep);
    return 0;
}

/* A start-up error reading the database; a damaged file also gets what to do. */
static int db_start_failed(const char *err)
{
    char q[1200], a[400];
    if (store_db_damaged(store_db()))
        log_error("msg=%s advice=%s", log_quote(q, sizeof(q), err), log_quote(a, sizeof(a), STORE_RESTORE_ADVICE));
    else
        log_error("msg=%s", log_quote(q, sizeof(q), err));
    return 1;
}

int serve_main(int argc, char **argv)
{
    const char *config_path = NULL;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hydracluster serve: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    started_ms = clock_mono_ms();
    signal(SIGPIPE, SIG_IGN);
    log_journal_detect(); /* before the config: its errors go to the journal too */
    if (serve_load_config(config_path, &config) != 0)
        return 1;
    log_level_t level = LOG_INFO;
    log_level_parse(config.log.level, &level); /* config.c accepted only valid names */
    log_set_min_level(level);
    log_set_format(strcmp(config.log.format, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_LOGFMT);
    log_journal_detect();
    config_loaded = 1;
    if (config.server.public_url != NULL)
        snprintf(public_url, sizeof(public_url), "%s", config.server.public_url);
    else
        snprintf(public_url, sizeof(public_url), "%s://%s", config.server.tls.cert_file ? "https" : "http",
                 config.server.listen[0]);
    size_t n = strlen(public_url);
    while (n > 0 && public_url[n - 1] == '/')
        public_url[--n] = '\0';

    char err[1024], eq[1200];
    int applied = 0;
    notify_init();
    if (secret_init() != 0) {
        log_error("msg=\"libsodium failed to initialise\"");
        return 1;
    }
    /* a second server on the same address stops here, before it touches its data dir */
    if (workers_listen_probe(&config, err, sizeof(err)) != 0) {
        log_error("msg=\"%s\"", err);
        return 1;
    }
    if (store_open(config.server.data_dir, err, sizeof(err)) != 0) {
        log_error("msg=\"%s\"", err);
        return 1;
    }
    /* held for the process lifetime (closed by exit): `import` refuses while
     * it is held, so the database never changes under the registry */
    int lock_fd = import_lock_data_dir(config.server.data_dir, err, sizeof(err));
    if (lock_fd < 0) {
        char q[1100];
        log_error("msg=\"%s\" reason=%s",
                  lock_fd == IMPORT_LOCK_BUSY ? "the data dir is in use: a server or an import is running on it; stop "
                                                "it or use another server.data_dir"
                                              : "cannot lock the data dir",
                  log_quote(q, sizeof(q), err));
        store_close();
        return 1;
    }
    int quick_check = 1;
#ifdef HC_TESTING
    /* the corrupt-database test reaches the loaders' error paths this way */
    quick_check = getenv("HC_TEST_SKIP_QUICK_CHECK") == NULL;
#endif
    if (quick_check && store_quick_check(err, sizeof(err)) != 0) {
        log_error("msg=%s", log_quote(eq, sizeof(eq), err));
        return 1;
    }
    if (store_migrate(&applied, err, sizeof(err)) != 0 || secret_load_key(store_db(), err, sizeof(err)) != 0)
        return db_start_failed(err);
    if (applied > 0)
        log_info("msg=\"applied schema migrations\" count=%d version=%d", applied, store_schema_version());
    if (first_start_import() != 0) {
        store_close();
        return 1;
    }
    if (registry_init() != 0 || metrics_init() != 0 || exec_queue_init() != 0 ||
        metrics_register_collector(exec_queue_metrics_render) != 0 || agent_fields_init() != 0) {
        log_error("msg=\"out of memory at start\"");
        return 1;
    }
    if (load_credentials() != 0)
        return 1;
    err[0] = '\0';
    if (login_session_init() != 0 || web_init(err, sizeof(err)) != 0) {
        log_error("msg=\"%s\"", err[0] ? err : "cannot set up web sessions");
        return 1;
    }
    if (head_roles_reconcile(&config, err, sizeof(err)) != 0 || registry_load(store_db(), err, sizeof(err)) != 0 ||
        roles_seed(&config, err, sizeof(err)) != 0 || exec_queue_load(store_db(), err, sizeof(err)) != 0 ||
        node_events_load(store_db(), err, sizeof(err)) != 0)
        return db_start_failed(err);
    if (stream_sessions_init() != 0 || stream_sessions_load(store_db(), err, sizeof(err)) != 0)
        return db_start_failed(err);
    registry_set_exec_pending_fn(exec_queue_pending_count); /* the heartbeat's exec_pending */
    enroll_warnings_log();
    if (store_writer_start() != 0) {
        log_error("msg=\"cannot start the store writer thread\"");
        return 1;
    }
#ifdef HC_TESTING
    /* the benchmark's baseline: one commit per write (test builds only) */
    if (getenv("HC_TEST_NO_GROUP_COMMIT") != NULL) {
        store_writer_set_batching(0);
        log_warn("msg=\"group commit disabled (HC_TEST_NO_GROUP_COMMIT): every write commits alone\"");
    }
#endif
    if (exec_queue_register_tasks() != 0) {
        log_error("msg=\"cannot register the exec housekeeping task\"");
        store_writer_stop();
        return 1;
    }

    static h2o_globalconf_t globalconf;
    h2o_config_init(&globalconf);
    globalconf.max_request_entity_size = max_body_limit();
    globalconf.server_name = h2o_iovec_init(H2O_STRLIT("hydracluster"));
    /* HTTP/2 only through TLS ALPN "h2", and only with server.tls.http2:
     * this one switch is h2o 2.2's gate for both `Upgrade: h2c` and the
     * prior-knowledge preface ("PRI * HTTP/2.0") on plain and ALPN-less TLS
     * connections (lib/http1.c) */
    globalconf.http1.upgrade_to_http2 = 0;
    globalconf.http2.max_concurrent_requests_per_connection = HTTP2_MAX_CONCURRENT_REQUESTS;
    h2o_hostconf_t *host = h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    router_register(h2o_config_register_path(host, "/", 0));
    router_register_fallback(host);
    prebody_enable();
    if (tls_init(&config, err, sizeof(err)) != 0) {
        log_error("msg=\"%s\"", err);
        store_writer_stop();
        return 1;
    }
    if (housekeeping_on_reload(tls_reload, NULL) != 0 ||
        housekeeping_every("wal checkpoint", CHECKPOINT_EVERY_MS, checkpoint_task, NULL) != 0 ||
        watchdog_register_housekeeping() != 0) {
        log_error("msg=\"too many housekeeping tasks (raise MAX_TASKS in server/housekeeping.c)\"");
        store_writer_stop();
        return 1;
    }
    err[0] = '\0';
    if (conn_guard_init(&config, err, sizeof(err)) != 0 || metrics_register_collector(conn_guard_metrics) != 0) {
        log_error("msg=\"%s\"", err[0] ? err : "too many metrics collectors");
        store_writer_stop();
        tls_free();
        return 1;
    }
    if (workers_start(&config, &globalconf, err, sizeof(err)) != 0) {
        log_error("msg=\"%s\"", err);
        store_writer_stop();
        tls_free();
        return 1;
    }
    if (softstate_register() != 0 || housekeeping_every("sessions", 60 * 1000, login_session_prune, NULL) != 0 ||
        node_events_register() != 0 || stream_sessions_register() != 0 || housekeeping_start() != 0) {
        workers_stop(0);
        store_writer_stop();
        tls_free();
        return 1;
    }
    if (watchdog_start(&config) != 0) {
        workers_stop(0);
        housekeeping_stop();
        store_writer_stop();
        tls_free();
        return 1;
    }
    char listen[512] = "", q[600], dd[600];
    for (size_t i = 0; i < config.server.listen_count; i++)
        snprintf(listen + strlen(listen), sizeof(listen) - strlen(listen), "%s%s", i ? "," : "", config.server.listen[i]);
    lock_take_shared(&registry_nodes_lock);
    size_t nodes = registry_node_count();
    lock_give(&registry_nodes_lock);
    char cp[600];
    log_info("msg=\"hydracluster started\" version=%s listen=%s scheme=%s http2=%s data_dir=%s config=%s workers=%zu "
             "nodes=%zu schema=%d tls=%s public_url=%s watchdog_stall_ms=%llu systemd_watchdog_ms=%llu",
             hc_version, log_quote(q, sizeof(q), listen), tls_enabled() ? "https" : "http",
             tls_enabled() && config.server.tls.http2 ? "on" : "off", log_quote(dd, sizeof(dd), config.server.data_dir),
             log_quote(cp, sizeof(cp), config.source_path ? config.source_path : "embedded-default"), workers_count(),
             nodes, store_schema_version(), tls_enabled() ? "on" : "off", public_url,
             (unsigned long long)config.server.watchdog_stall_ms, (unsigned long long)(notify_watchdog_usec() / 1000));
    warn_about_setup();
    notify_send("READY=1\nSTATUS=serving");

    int sig = housekeeping_wait_for_stop();
    notify_send("STOPPING=1\nSTATUS=stopping");
    log_info("msg=\"stopping\" signal=%s grace_ms=%llu", sig == SIGTERM ? "SIGTERM" : "SIGINT",
             (unsigned long long)config.server.shutdown_grace_ms);
    /* the watchdog goes first: stopping workers look like stalled ones */
    watchdog_stop();
    workers_stop(config.server.shutdown_grace_ms);
    housekeeping_stop();
    store_writer_stop();
    store_close();
    login_session_free();
    stream_sessions_free();
    web_free();
    close(lock_fd);
    tls_free();
    log_info("msg=\"stopped\"");
    notify_close();
    return 0;
}
