#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

int hc_fleet_token_in_config = 1;

int hc_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static void spawn(hc_server_t *s)
{
    const char *bin = getenv("HC_BINARY");
    if (bin == NULL)
        fail_msg("HC_BINARY is not set (run the tests through meson test)");
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (chdir(s->dir) != 0)
            _exit(126);
        execl(bin, bin, "serve", "--config", s->config_path, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    /* wait for health (any answer means the listener is up) */
    for (int i = 0; i < 300; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            fail_msg("the server exited at start (status %d); see %s", st, s->log_path);
        }
        hc_resp_t r = hc_request(s, "GET", "/api/v1/health", NULL, NULL, NULL, 0, NULL);
        long status = r.status;
        hc_resp_free(&r);
        if (status == 200)
            return;
        usleep(50 * 1000);
    }
    fail_msg("the server did not answer /api/v1/health within 15 s; see %s", s->log_path);
}

static void curl_ready_once(void)
{
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
}

hc_server_t *hc_server_prepare(int https)
{
    curl_ready_once();
    hc_server_t *s = calloc(1, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/hc-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    s->port = hc_free_port();
    snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%d", https ? "https" : "http", s->port);
    snprintf(s->config_path, sizeof(s->config_path), "%s/config.yaml", s->dir);
    snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);
    return s;
}

void hc_server_spawn(hc_server_t *s)
{
    spawn(s);
}

hc_server_t *hc_server_start_raw(const char *config_text, int https)
{
    hc_server_t *s = hc_server_prepare(https);
    FILE *f = fopen(s->config_path, "w");
    if (f == NULL)
        fail_msg("cannot write %s", s->config_path);
    for (const char *p = config_text; *p;) {
        if (strncmp(p, "@PORT@", 6) == 0) {
            fprintf(f, "%d", s->port);
            p += 6;
        } else if (strncmp(p, "@DIR@", 5) == 0) {
            fputs(s->dir, f);
            p += 5;
        } else {
            fputc(*p++, f);
        }
    }
    fclose(f);
    spawn(s);
    return s;
}

hc_server_t *hc_server_start(const char *extra_server_yaml, const char *extra_yaml)
{
    char *cfg = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&cfg, &len);
    if (f == NULL)
        fail_msg("out of memory");
    fprintf(f,
            "server:\n"
            "  listen: \"127.0.0.1:@PORT@\"\n"
            "  data_dir: \"@DIR@/data\"\n"
            "  admin_token: \"%s\"\n"
            "%s%s%s"
            "  workers: 2\n"
            "  shutdown_grace: 5s\n"
            "%s"
            "%s",
            TEST_ADMIN_TOKEN, hc_fleet_token_in_config ? "  fleet_enrollment_token: \"" : "",
            hc_fleet_token_in_config ? TEST_FLEET_TOKEN : "", hc_fleet_token_in_config ? "\"\n" : "",
            extra_server_yaml ? extra_server_yaml : "", extra_yaml ? extra_yaml : "");
    fclose(f);
    /* the config has TLS when its server section has a tls block */
    int https = extra_server_yaml != NULL && strstr(extra_server_yaml, "tls:") != NULL;
    hc_server_t *s = hc_server_start_raw(cfg, https);
    free(cfg);
    return s;
}

void hc_server_restart(hc_server_t *s)
{
    spawn(s);
}

int hc_server_stop(hc_server_t *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 400; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(25 * 1000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    fail_msg("the server did not stop within 10 s of SIGTERM");
    return -1;
}

void hc_server_kill9(hc_server_t *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

void hc_server_free(hc_server_t *s)
{
    if (s == NULL)
        return;
    if (s->pid > 0)
        hc_server_stop(s);
    if (getenv("HC_KEEP_TEST_DIRS") == NULL) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s->dir);
    }
    free(s);
}

int hc_server_log_contains(hc_server_t *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL)
        return 0;
    char line[8192];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

typedef struct {
    char *data;
    size_t len;
} buf_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    buf_t *b = ud;
    size_t n = size * nmemb;
    char *p = realloc(b->data, b->len + n + 1);
    if (p == NULL)
        return 0;
    b->data = p;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

hc_resp_t hc_request(hc_server_t *s, const char *method, const char *path, const char *token,
                     const char *content_type, const char *body, size_t body_len, const char *extra_header)
{
    hc_resp_t r = {0};
    CURL *c = curl_easy_init();
    char url[2048], auth[512], ct[256];
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    struct curl_slist *h = NULL;
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (content_type != NULL) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
    } else if (body != NULL) {
        h = curl_slist_append(h, "Content-Type:"); /* curl would add a form type otherwise */
    }
    h = curl_slist_append(h, "Expect:");
    /* several extra headers are separated by "\n" */
    for (const char *p = extra_header; p != NULL && *p != '\0';) {
        size_t l = strcspn(p, "\r\n");
        char one[1024];
        if (l > 0 && l < sizeof(one)) {
            memcpy(one, p, l);
            one[l] = '\0';
            h = curl_slist_append(h, one);
        }
        p += l;
        p += strspn(p, "\r\n");
    }
    buf_t bb = {0}, hb = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 90L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strncmp(s->url, "https:", 6) == 0) {
        /* the tests' certificates are self-signed */
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    r.body = bb.data ? bb.data : strdup("");
    r.len = bb.len;
    r.headers = hb.data ? hb.data : strdup("");
    for (char *p = r.headers; *p; p++) {
        /* lower-case header names only */
        char *line_end = strchr(p, '\n');
        char *colon = strchr(p, ':');
        if (colon && (!line_end || colon < line_end))
            for (char *q = p; q < colon; q++)
                *q = (char)tolower((unsigned char)*q);
        if (!line_end)
            break;
        p = line_end;
    }
    if (r.len > 0 && (r.body[0] == '{' || r.body[0] == '['))
        r.json = json_loadb(r.body, r.len, 0, NULL);
    return r;
}

hc_resp_t hc_get(hc_server_t *s, const char *path, const char *token)
{
    return hc_request(s, "GET", path, token, NULL, NULL, 0, NULL);
}

hc_resp_t hc_json(hc_server_t *s, const char *method, const char *path, const char *token, const char *json)
{
    return hc_request(s, method, path, token, json ? "application/json" : NULL, json, json ? strlen(json) : 0, NULL);
}

hc_resp_t hc_post_json(hc_server_t *s, const char *path, const char *token, const char *json)
{
    return hc_json(s, "POST", path, token, json);
}

void hc_resp_free(hc_resp_t *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

const char *hc_resp_header(hc_resp_t *r, const char *name)
{
    static char value[1024];
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t l = strcspn(v, "\r\n");
            snprintf(value, sizeof(value), "%.*s", (int)l, v);
            return value;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

void hc_assert_error(hc_resp_t *r, long status, const char *code)
{
    if (r->status != status)
        fail_msg("expected status %ld, got %ld: %s", status, r->status, r->body);
    assert_non_null(r->json);
    json_t *c = json_object_get(r->json, "code");
    json_t *e = json_object_get(r->json, "error");
    assert_true(json_is_string(e) && json_string_length(e) > 0);
    if (!json_is_string(c) || strcmp(json_string_value(c), code) != 0)
        fail_msg("expected code %s: %s", code, r->body);
    const char *ct = hc_resp_header(r, "content-type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "application/json"));
}

char *hc_raw(hc_server_t *s, const char *data, size_t len, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        fail_msg("connect: %s", strerror(errno));
    if (write(fd, data, len) != (ssize_t)len)
        fail_msg("write: %s", strerror(errno));
    size_t cap = 65536, got = 0;
    char *out = malloc(cap + 1);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= timeout_ms)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(timeout_ms - elapsed)) <= 0)
            break;
        ssize_t n = read(fd, out + got, cap - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == cap)
            break;
    }
    close(fd);
    out[got] = '\0';
    return out;
}

void hc_enroll_node(hc_server_t *s, const char *name, const char *os, int approve, char *node_id, char *token)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"owner\":\"tests\",\"os\":\"%s\"}", name, os);
    hc_resp_t r = hc_post_json(s, "/api/v1/enrollments", TEST_ADMIN_TOKEN, body);
    if (r.status != 201)
        fail_msg("minting an enrollment failed: %ld %s", r.status, r.body);
    char etok[128];
    snprintf(etok, sizeof(etok), "%s", json_string_value(json_object_get(r.json, "enrollment_token")));
    hc_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"enrollment_token\":\"%s\",\"hostname\":\"%s-host\",\"os\":\"%s\",\"arch\":\"amd64\","
             "\"version\":\"v0.23.10\"}",
             etok, name, os);
    r = hc_post_json(s, "/api/v1/enroll", NULL, body);
    if (r.status != 201)
        fail_msg("enrolling failed: %ld %s", r.status, r.body);
    snprintf(node_id, 64, "%s", json_string_value(json_object_get(r.json, "node_id")));
    snprintf(token, 65, "%s", json_string_value(json_object_get(r.json, "token")));
    hc_resp_free(&r);
    if (approve) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/nodes/%s/approve", node_id);
        r = hc_post_json(s, path, TEST_ADMIN_TOKEN, NULL);
        if (r.status != 200)
            fail_msg("approving failed: %ld %s", r.status, r.body);
        hc_resp_free(&r);
    }
}

hc_resp_t hc_heartbeat(hc_server_t *s, const char *token, const char *json)
{
    return hc_post_json(s, "/api/v1/body/heartbeat", token, json);
}

json_t *hc_node_get(hc_server_t *s, const char *id)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", id);
    hc_resp_t r = hc_get(s, path, TEST_ADMIN_TOKEN);
    if (r.status == 404) {
        hc_resp_free(&r);
        return NULL;
    }
    if (r.status != 200 || !json_is_object(r.json))
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    json_t *o = json_incref(r.json);
    hc_resp_free(&r);
    return o;
}

void hc_make_cert(const char *dir, const char *name, const char *cn)
{
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=%s "
             "-keyout %s/%s.key -out %s/%s.pem 2>&1 && chmod 600 %s/%s.key && echo made",
             cn, dir, name, dir, name, dir, name);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        fail_msg("popen %s: %s", cmd, strerror(errno));
    size_t len = 0, n;
    while (len < sizeof(out) - 1 && (n = fread(out + len, 1, sizeof(out) - 1 - len, p)) > 0)
        len += n;
    out[len] = '\0';
    pclose(p);
    if (strstr(out, "made") == NULL)
        fail_msg("openssl could not make a certificate: %s", out);
}

double hc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

struct hc_agent {
    hc_server_t *srv;
    char token[128];
    int wait_s;
    hc_agent_fn fn;
    void *arg;
    pthread_t tid;
    atomic_int stop;
    int handled;
};

static int agent_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    return atomic_load(&((hc_agent_t *)p)->stop) ? 1 : 0;
}

/* one request of the agent; status 0 on transport failure or abort */
static long agent_request(hc_agent_t *a, const char *method, const char *path, const char *body, buf_t *out)
{
    CURL *c = curl_easy_init();
    char url[512], auth[256];
    snprintf(url, sizeof(url), "%s%s", a->srv->url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Expect:");
    if (body != NULL)
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, agent_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)a->wait_s + 30);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

static void *agent_main(void *p)
{
    hc_agent_t *a = p;
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/body/exec?wait=%d", a->wait_s);
    while (!atomic_load(&a->stop)) {
        buf_t b = {0};
        long status = agent_request(a, "GET", path, NULL, &b);
        json_t *cmd = status == 200 && b.data ? json_loads(b.data, 0, NULL) : NULL;
        free(b.data);
        if (status != 200 && status != 204) {
            if (!atomic_load(&a->stop))
                usleep(100 * 1000); /* server restarting: do not spin */
            continue;
        }
        if (cmd == NULL)
            continue;
        const char *id = json_string_value(json_object_get(cmd, "id"));
        const char *command = json_string_value(json_object_get(cmd, "command"));
        int exit_code = 0, skip = 0;
        char *out = NULL, *err = NULL;
        a->fn(id ? id : "", command ? command : "", (long)json_integer_value(json_object_get(cmd, "timeout_s")),
              &exit_code, &out, &err, &skip, a->arg);
        a->handled++;
        if (!skip) {
            json_t *res = json_pack("{s:s, s:i, s:s, s:s, s:i}", "id", id ? id : "", "exit_code", exit_code, "stdout",
                                    out ? out : "", "stderr", err ? err : "", "duration_ms", 1);
            char *body = json_dumps(res, JSON_COMPACT);
            buf_t rb = {0};
            agent_request(a, "POST", "/api/v1/body/exec/result", body, &rb);
            free(rb.data);
            free(body);
            json_decref(res);
        }
        free(out);
        free(err);
        json_decref(cmd);
    }
    return NULL;
}

hc_agent_t *hc_agent_start(hc_server_t *s, const char *token, int wait_s, hc_agent_fn fn, void *arg)
{
    hc_agent_t *a = calloc(1, sizeof(*a));
    a->srv = s;
    snprintf(a->token, sizeof(a->token), "%s", token);
    a->wait_s = wait_s;
    a->fn = fn;
    a->arg = arg;
    atomic_init(&a->stop, 0);
    if (pthread_create(&a->tid, NULL, agent_main, a) != 0)
        fail_msg("cannot start the fake agent thread");
    return a;
}

int hc_agent_stop(hc_agent_t *a)
{
    atomic_store(&a->stop, 1);
    pthread_join(a->tid, NULL);
    int n = a->handled;
    free(a);
    return n;
}
