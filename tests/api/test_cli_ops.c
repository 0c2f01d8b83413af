/* The day-to-day CLI against a real server: nodes list/show/events/approve/
 * reject/delete/set-roles, enrollments create/list/revoke, roles, audit,
 * heads; -o json is exactly the API's JSON; tables fit 100 columns; exit
 * codes (253 unknown, 252 conflict, 254 token refused, 255 unreachable, 2
 * usage); the token and server fallback from the config; nodes list follows
 * Link rel="next" pages (against a fake paging server); help, --help,
 * completion (run in bash) and the man page built from the same table. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static hc_server_t *srv;
static char home[300];

typedef struct {
    int code;
    char *out, *err;
} run_t;

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, "role_catalog:\n"
                                "  - name: gpu\n"
                                "    description: a machine with a GPU and a description long enough to be cut in a "
                                "table of one hundred columns\n"
                                "  - name: render-node\n");
    snprintf(home, sizeof(home), "%s/home", srv->dir);
    mkdir(home, 0700);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

static void drain(int ofd, int efd, char **out, char **err)
{
    size_t ol = 0, el = 0;
    *out = calloc(1, 1);
    *err = calloc(1, 1);
    struct pollfd p[2] = {{.fd = ofd, .events = POLLIN}, {.fd = efd, .events = POLLIN}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(p, 2, 60000) <= 0)
            fail_msg("the CLI produced no output for 60 s");
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            char buf[8192];
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open_fds--;
                continue;
            }
            char **dst = i == 0 ? out : err;
            size_t *len = i == 0 ? &ol : &el;
            *dst = realloc(*dst, *len + (size_t)n + 1);
            memcpy(*dst + *len, buf, (size_t)n);
            *len += (size_t)n;
            (*dst)[*len] = '\0';
        }
    }
}

/* runs argv (argv[0] is the program) with a clean client environment: HOME
 * is an empty dir, no HYDRACLUSTER_CONFIG; env adds "K=V" entries */
static run_t spawn(const char *const *env, const char *const *argv)
{
    int o[2], e[2];
    assert_int_equal(pipe(o), 0);
    assert_int_equal(pipe(e), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        unsetenv("HYDRACLUSTER_SERVER");
        unsetenv("HYDRACLUSTER_TOKEN");
        unsetenv("HYDRACLUSTER_CONFIG");
        setenv("HOME", home, 1);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    run_t r = {0};
    drain(o[0], e[0], &r.out, &r.err);
    int st;
    waitpid(pid, &st, 0);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

/* hydracluster with the arguments (NULL-terminated); env as in spawn */
static run_t hc_env(const char *const *env, ...)
{
    const char *argv[40];
    int argc = 0;
    argv[argc++] = getenv("HC_BINARY");
    va_list ap;
    va_start(ap, env);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 39)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return spawn(env, argv);
}

static char env_server[128], env_token[128];

/* hydracluster against srv with the admin token in the environment */
#define HC(...) hc_env(srv_env(), __VA_ARGS__, NULL)
static const char *const *srv_env(void)
{
    static const char *env[3];
    snprintf(env_server, sizeof(env_server), "HYDRACLUSTER_SERVER=%s", srv->url);
    snprintf(env_token, sizeof(env_token), "HYDRACLUSTER_TOKEN=%s", TEST_ADMIN_TOKEN);
    env[0] = env_server;
    env[1] = env_token;
    env[2] = NULL;
    return env;
}

static void expect_code(run_t *r, int code)
{
    if (r->code != code)
        fail_msg("exit %d, wanted %d\nstdout: %s\nstderr: %s", r->code, code, r->out, r->err);
}

/* every line at most 100 columns (UTF-8 continuation bytes take none) */
static void assert_fits_100(const char *text)
{
    size_t col = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            col = 0;
            continue;
        }
        if (((unsigned char)*p & 0xC0) != 0x80 && ++col > 100)
            fail_msg("a line is wider than 100 columns:\n%s", text);
    }
}

/* the API's JSON for path equals the CLI's stdout */
static void assert_same_json(const char *path, const char *out)
{
    hc_resp_t r = hc_get(srv, path, TEST_ADMIN_TOKEN);
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *cli = json_loads(out, 0, &je);
    if (cli == NULL)
        fail_msg("the CLI's output is not JSON (%s): %s", je.text, out);
    if (!json_equal(cli, r.json)) {
        char *a = json_dumps(r.json, JSON_COMPACT);
        fail_msg("-o json differs from GET %s\nAPI: %s\nCLI: %s", path, a, out);
    }
    json_decref(cli);
    hc_resp_free(&r);
}

static void test_help_usage_and_man(void **state)
{
    (void)state;
    run_t a = hc_env(NULL, "help", "nodes", NULL), b = hc_env(NULL, "nodes", "--help", NULL),
          c = hc_env(NULL, "nodes", "list", "-h", NULL);
    expect_code(&a, 0);
    expect_code(&b, 0);
    expect_code(&c, 0);
    assert_string_equal(a.out, b.out);
    assert_string_equal(a.out, c.out);
    assert_non_null(strstr(a.out, "usage: hydracluster nodes list"));
    assert_non_null(strstr(a.out, "--status S"));
    assert_non_null(strstr(a.out, "253 unknown"));
    run_free(&a);
    run_free(&b);
    run_free(&c);
    /* every command has its usage; no line over 100 columns */
    run_t all = hc_env(NULL, "help", NULL);
    expect_code(&all, 0);
    static const char *const cmds[] = {"serve", "migrate", "backup", "import", "nodes", "enrollments", "roles",
                                       "audit", "heads",   "token",   "exec",   "completion", "help", "routes",
                                       "man",   "version"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char want[64];
        snprintf(want, sizeof(want), "\n  %s ", cmds[i]);
        if (strstr(all.out, want) == NULL)
            fail_msg("help does not list %s:\n%s", cmds[i], all.out);
        run_t h = hc_env(NULL, "help", cmds[i], NULL);
        expect_code(&h, 0);
        char syn[64];
        snprintf(syn, sizeof(syn), "usage: hydracluster %s", cmds[i]);
        assert_non_null(strstr(h.out, syn));
        assert_fits_100(h.out);
        run_free(&h);
    }
    run_free(&all);
    run_t bad = hc_env(NULL, "help", "frobnicate", NULL);
    expect_code(&bad, 2);
    run_free(&bad);
    bad = hc_env(NULL, "nodes", NULL);
    expect_code(&bad, 2);
    run_free(&bad);
    bad = hc_env(NULL, "nodes", "frob", NULL);
    expect_code(&bad, 2);
    run_free(&bad);
    bad = hc_env(NULL, "enrollments", "create", "--name", "x", "--os", "beos", NULL);
    expect_code(&bad, 2);
    run_free(&bad);

    /* the man page built with the binary is what `man` prints; roff without warnings */
    run_t m = hc_env(NULL, "man", NULL);
    expect_code(&m, 0);
    assert_non_null(strstr(m.out, ".TH HYDRACLUSTER 1"));
    assert_non_null(strstr(m.out, ".SS enrollments"));
    char bin[512], page[600];
    snprintf(bin, sizeof(bin), "%s", getenv("HC_BINARY"));
    snprintf(page, sizeof(page), "%s/hydracluster.1", dirname(bin));
    FILE *f = fopen(page, "r");
    if (f == NULL)
        fail_msg("the build did not make %s", page);
    char *built = calloc(1, 1 << 20);
    size_t n = fread(built, 1, (1 << 20) - 1, f);
    fclose(f);
    built[n] = '\0';
    assert_string_equal(built, m.out);
    free(built);
    if (access("/usr/bin/groff", X_OK) == 0) {
        const char *argv[] = {"groff", "-man", "-Tutf8", "-ww", "-z", page, NULL};
        run_t g = spawn(NULL, argv);
        expect_code(&g, 0);
        if (g.err[0] != '\0')
            fail_msg("groff warns about the man page: %s", g.err);
        run_free(&g);
    }
    run_free(&m);
}

static void test_enrollments(void **state)
{
    (void)state;
    run_t r = HC("enrollments", "create", "--name", "render-bxl1-09", "--os", "windows", "--owner", "ops");
    expect_code(&r, 0);
    assert_true(strncmp(r.out, "powershell -NoProfile", 21) == 0);
    assert_non_null(strstr(r.out, srv->url));
    assert_non_null(strstr(r.err, "enr-"));
    run_free(&r);
    r = HC("enrollments", "create", "--name", "lin-1", "--os", "linux", "--ttl", "2h", "-o", "json");
    expect_code(&r, 0);
    json_t *o = json_loads(r.out, 0, NULL);
    assert_non_null(o);
    char id[64], tok[100];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "id")));
    snprintf(tok, sizeof(tok), "%s", json_string_value(json_object_get(o, "enrollment_token")));
    assert_true(strncmp(json_string_value(json_object_get(json_object_get(o, "install"), "unix")), "curl -fsSL", 10) ==
                0);
    json_decref(o);
    run_free(&r);

    r = HC("enrollments", "list");
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, id));
    assert_non_null(strstr(r.out, "render-bxl1-09"));
    assert_null(strstr(r.out, tok));
    assert_fits_100(r.out);
    run_free(&r);
    r = HC("enrollments", "list", "-o", "json");
    expect_code(&r, 0);
    assert_same_json("/api/v1/enrollments", r.out);
    run_free(&r);

    r = HC("enrollments", "revoke", id);
    expect_code(&r, 0);
    run_free(&r);
    char body[300];
    snprintf(body, sizeof(body), "{\"enrollment_token\":\"%s\",\"hostname\":\"h\",\"os\":\"linux\"}", tok);
    hc_resp_t e = hc_post_json(srv, "/api/v1/enroll", NULL, body);
    assert_int_equal(e.status, 401); /* the revoked install command no longer works */
    hc_resp_free(&e);
    r = HC("enrollments", "revoke", id);
    expect_code(&r, 253);
    run_free(&r);
    r = HC("enrollments", "create", "--os", "linux");
    expect_code(&r, 2);
    run_free(&r);
}

static void test_nodes(void **state)
{
    (void)state;
    char a[64], ta[65], b[64], tb[65];
    hc_enroll_node(srv, "a-node-with-a-name-long-enough-to-push-the-table-past-one-hundred-columns-0123456789", "linux",
                   0, a, ta);
    hc_enroll_node(srv, "cli-b", "windows", 0, b, tb);

    run_t r = HC("nodes", "list");
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, "ID"));
    assert_non_null(strstr(r.out, "pending"));
    assert_non_null(strstr(r.out, a));
    assert_non_null(strstr(r.out, "…")); /* the long name was cut */
    assert_fits_100(r.out);
    run_free(&r);
    r = HC("nodes", "list", "-o", "json");
    expect_code(&r, 0);
    assert_same_json("/api/v1/nodes", r.out);
    run_free(&r);
    r = HC("nodes", "list", "--status", "pending", "-o", "ids");
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, a));
    assert_non_null(strstr(r.out, b));
    run_free(&r);

    /* approve both and an unknown one: 253, the others are approved all the same */
    r = HC("nodes", "approve", a, "node-nope", b);
    expect_code(&r, 253);
    assert_non_null(strstr(r.err, "node-nope"));
    run_free(&r);
    json_t *n = hc_node_get(srv, b);
    assert_string_equal(json_string_value(json_object_get(n, "approval")), "approved");
    json_decref(n);
    r = HC("nodes", "reject", a);
    expect_code(&r, 252); /* not pending any more */
    run_free(&r);

    r = HC("nodes", "set-roles", a, "gpu", "render-node");
    expect_code(&r, 0);
    run_free(&r);
    n = hc_node_get(srv, a);
    assert_int_equal(json_array_size(json_object_get(n, "roles")), 2);
    json_decref(n);
    r = HC("nodes", "set-roles", a, "no-such-role");
    expect_code(&r, 2);
    assert_non_null(strstr(r.err, "no-such-role"));
    run_free(&r);
    r = HC("nodes", "set-roles", b, "--clear");
    expect_code(&r, 0);
    run_free(&r);

    r = HC("nodes", "show", a);
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, "recent events"));
    assert_non_null(strstr(r.out, "approve"));
    assert_non_null(strstr(r.out, "gpu,render-node"));
    assert_fits_100(r.out);
    run_free(&r);
    char path[200];
    r = HC("nodes", "show", a, "-o", "json");
    expect_code(&r, 0);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", a);
    assert_same_json(path, r.out);
    run_free(&r);
    r = HC("nodes", "events", a, "-o", "json", "--limit", "3");
    expect_code(&r, 0);
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/events?limit=3", a);
    assert_same_json(path, r.out);
    run_free(&r);
    r = HC("nodes", "events", a, "--kind", "roles");
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, "roles"));
    assert_null(strstr(r.out, "enroll "));
    run_free(&r);

    r = HC("nodes", "delete", b);
    expect_code(&r, 0);
    run_free(&r);
    r = HC("nodes", "show", b);
    expect_code(&r, 253);
    run_free(&r);
    r = HC("nodes", "show", a, b);
    expect_code(&r, 2);
    run_free(&r);
}

static void test_roles_audit_heads(void **state)
{
    (void)state;
    char recipe[400];
    snprintf(recipe, sizeof(recipe), "%s/recipe.json", srv->dir);
    FILE *f = fopen(recipe, "w");
    fputs("{\"install\": [\"apt-get install -y foo\"]}", f);
    fclose(f);
    run_t r = HC("roles", "put", "foo-role", "--description", "runs foo", "--recipe", recipe);
    expect_code(&r, 0);
    run_free(&r);
    r = HC("roles", "list", "-o", "json");
    expect_code(&r, 0);
    assert_same_json("/api/v1/roles", r.out);
    assert_non_null(strstr(r.out, "apt-get install -y foo"));
    run_free(&r);
    r = HC("roles", "list");
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, "foo-role"));
    assert_fits_100(r.out);
    run_free(&r);
    snprintf(recipe + strlen(recipe) - 5, 6, ".bad");
    f = fopen(recipe, "w");
    fputs("[1,2]", f);
    fclose(f);
    r = HC("roles", "put", "foo-role", "--recipe", recipe);
    expect_code(&r, 2);
    run_free(&r);

    char id[64], tok[65];
    hc_enroll_node(srv, "role-holder", "linux", 1, id, tok);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/roles", id);
    hc_resp_t h = hc_post_json(srv, path, TEST_ADMIN_TOKEN, "{\"roles\":[\"foo-role\"]}");
    assert_int_equal(h.status, 200);
    hc_resp_free(&h);
    r = HC("roles", "delete", "foo-role");
    expect_code(&r, 252);
    run_free(&r);
    r = HC("roles", "delete", "foo-role", "--force");
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, id));
    run_free(&r);
    r = HC("roles", "delete", "foo-role");
    expect_code(&r, 253);
    run_free(&r);

    r = HC("audit", "--target", id, "-o", "json");
    expect_code(&r, 0);
    snprintf(path, sizeof(path), "/api/v1/audit?limit=50&target=%s", id);
    assert_same_json(path, r.out);
    run_free(&r);
    r = HC("audit", "--limit", "5");
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, "role.delete"));
    assert_fits_100(r.out);
    run_free(&r);
    r = HC("audit", "--limit", "0");
    expect_code(&r, 2);
    run_free(&r);

    h = hc_post_json(srv, "/api/v1/heads", TEST_FLEET_TOKEN, "{\"name\":\"ipad-lobby\",\"district\":\"bxl\",\"venue\":\"v\"}");
    assert_int_equal(h.status, 201);
    hc_resp_free(&h);
    r = HC("heads", "list");
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, "ipad-lobby"));
    assert_fits_100(r.out);
    run_free(&r);
    r = HC("heads", "list", "-o", "json");
    expect_code(&r, 0);
    assert_same_json("/api/v1/heads", r.out);
    run_free(&r);
}

static void test_credentials_and_exit_codes(void **state)
{
    (void)state;
    char s[128];
    snprintf(s, sizeof(s), "HYDRACLUSTER_SERVER=%s", srv->url);
    const char *wrong[] = {s, "HYDRACLUSTER_TOKEN=not-the-admin-token-0123456789", NULL};
    run_t r = hc_env(wrong, "nodes", "list", NULL);
    expect_code(&r, 254);
    run_free(&r);
    /* no token anywhere: a usage error naming the way out */
    const char *none[] = {s, NULL};
    r = hc_env(none, "audit", NULL);
    expect_code(&r, 2);
    assert_non_null(strstr(r.err, "HYDRACLUSTER_TOKEN"));
    run_free(&r);
    /* nobody listening */
    char down[64], tok[128];
    snprintf(down, sizeof(down), "HYDRACLUSTER_SERVER=http://127.0.0.1:%d", hc_free_port());
    snprintf(tok, sizeof(tok), "HYDRACLUSTER_TOKEN=%s", TEST_ADMIN_TOKEN);
    const char *gone[] = {down, tok, NULL};
    r = hc_env(gone, "heads", "list", NULL);
    expect_code(&r, 255);
    run_free(&r);
    /* server and token from the server's own config, as `token` does */
    r = hc_env(NULL, "roles", "list", "--config", srv->config_path, NULL);
    expect_code(&r, 0);
    assert_non_null(strstr(r.out, "render-node"));
    run_free(&r);
    /* flags beat the environment */
    r = hc_env(wrong, "roles", "list", "--admin-token", TEST_ADMIN_TOKEN, NULL);
    expect_code(&r, 0);
    run_free(&r);
}

/* ---- a fake server whose GET /api/v1/nodes comes in pages ---- */

typedef struct {
    int fd;
    int requests;
} pager_t;

static void *pager_main(void *arg)
{
    pager_t *p = arg;
    for (;;) {
        int c = accept(p->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[4096];
        size_t n = 0;
        ssize_t got;
        while (n < sizeof(req) - 1 && (got = read(c, req + n, sizeof(req) - 1 - n)) > 0) {
            n += (size_t)got;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[n] = '\0';
        p->requests++;
        const char *body, *link = "";
        if (strstr(req, "GET /api/v1/nodes?limit=2&after=node-b ") != NULL) {
            body = "[{\"id\":\"node-c\",\"name\":\"c\",\"approval\":\"approved\",\"node_status\":\"offline\",\"roles\":[]}]";
        } else if (strstr(req, "GET /api/v1/nodes ") != NULL || strstr(req, "GET /api/v1/nodes?status=online ") != NULL) {
            body = "[{\"id\":\"node-a\",\"name\":\"a\",\"approval\":\"approved\",\"node_status\":\"online\",\"roles\":[]},"
                   "{\"id\":\"node-b\",\"name\":\"b\",\"approval\":\"pending\",\"node_status\":\"offline\",\"roles\":[]}]";
            link = "Link: </api/v1/nodes?limit=2&after=node-b>; rel=\"next\"\r\n";
        } else {
            body = "{\"error\":\"no such endpoint\",\"code\":\"not_found\"}";
        }
        char resp[4096];
        int len = snprintf(resp, sizeof(resp),
                           "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%sConnection: "
                           "close\r\n\r\n%s",
                           strstr(body, "not_found") ? "404 Not Found" : "200 OK", strlen(body), link, body);
        ssize_t w = write(c, resp, (size_t)len);
        (void)w;
        close(c);
    }
}

static void test_nodes_list_follows_pages(void **state)
{
    (void)state;
    pager_t p = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(p.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p.fd, 8), 0);
    assert_int_equal(getsockname(p.fd, (struct sockaddr *)&a, &al), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, pager_main, &p), 0);
    char s[64];
    snprintf(s, sizeof(s), "HYDRACLUSTER_SERVER=http://127.0.0.1:%d", ntohs(a.sin_port));
    const char *env[] = {s, "HYDRACLUSTER_TOKEN=some-token-0123456789abcdef", NULL};
    run_t r = hc_env(env, "nodes", "list", "-o", "json", NULL);
    expect_code(&r, 0);
    json_t *all = json_loads(r.out, 0, NULL);
    assert_int_equal(json_array_size(all), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 2), "id")), "node-c");
    json_decref(all);
    run_free(&r);
    r = hc_env(env, "nodes", "list", "-o", "ids", NULL);
    expect_code(&r, 0);
    assert_string_equal(r.out, "node-a\nnode-b\nnode-c\n");
    run_free(&r);
    shutdown(p.fd, SHUT_RDWR);
    close(p.fd);
    pthread_join(t, NULL);
    assert_int_equal(p.requests, 4);
}

static void test_completion(void **state)
{
    (void)state;
    char id[64], tok[65];
    hc_enroll_node(srv, "completion-node", "linux", 1, id, tok);
    run_t r = hc_env(NULL, "completion", "bash", NULL);
    expect_code(&r, 0);
    char script[400];
    snprintf(script, sizeof(script), "%s/completion.bash", srv->dir);
    FILE *f = fopen(script, "w");
    fputs(r.out, f);
    fclose(f);
    run_free(&r);
    r = hc_env(NULL, "completion", "fish", NULL);
    expect_code(&r, 2);
    run_free(&r);
    if (access("/bin/bash", X_OK) != 0)
        return;
    /* the script, sourced in bash, completes commands, subcommands, flags and node ids from the server */
    char bindir[512], bin[512], prog[2000], pathenv[1200];
    snprintf(bin, sizeof(bin), "%s", getenv("HC_BINARY"));
    snprintf(bindir, sizeof(bindir), "%s", dirname(bin));
    snprintf(pathenv, sizeof(pathenv), "PATH=%s:/usr/bin:/bin", bindir);
    snprintf(prog, sizeof(prog),
             "source %s\n"
             "c() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 )); _hydracluster; echo \"${COMPREPLY[*]}\"; }\n"
             "c hydracluster en\n"
             "c hydracluster nodes se\n"
             "c hydracluster nodes list --sta\n"
             "c hydracluster nodes show ''\n"
             "c hydracluster help rol\n",
             script);
    const char *argv[] = {"/bin/bash", "-c", prog, NULL};
    const char *env[] = {pathenv, srv_env()[0], srv_env()[1], NULL};
    r = spawn(env, argv);
    expect_code(&r, 0);
    char want[300];
    snprintf(want, sizeof(want), "enrollments\nset-roles\n--status\n");
    if (strncmp(r.out, want, strlen(want)) != 0)
        fail_msg("bash completion gave:\n%s\nstderr: %s", r.out, r.err);
    assert_non_null(strstr(r.out, id));
    assert_non_null(strstr(r.out, "\nroles\n"));
    run_free(&r);
    r = hc_env(NULL, "completion", "zsh", NULL);
    expect_code(&r, 0);
    assert_true(strncmp(r.out, "#compdef hydracluster\n", 22) == 0);
    /* zsh is in ./dev's test packages: the script must at least parse there */
    {
        snprintf(script, sizeof(script), "%s/_hydracluster", srv->dir);
        f = fopen(script, "w");
        fputs(r.out, f);
        fclose(f);
        const char *zargv[] = {"zsh", "-n", script, NULL};
        run_t z = spawn(NULL, zargv);
        expect_code(&z, 0);
        run_free(&z);
    }
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_usage_and_man),
        cmocka_unit_test(test_enrollments),
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_roles_audit_heads),
        cmocka_unit_test(test_credentials_and_exit_codes),
        cmocka_unit_test(test_nodes_list_follows_pages),
        cmocka_unit_test(test_completion),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
