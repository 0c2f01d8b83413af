/*
 * Exec queue benchmark (not a test: it prints numbers, it asserts nothing
 * about them). Run it with tests/bench/run, which builds an optimised binary
 * with the test switches compiled in (-Dtesting=true, no sanitizers).
 *
 * Two servers are started in the same run on this machine: one with group
 * commit (the default) and one with HC_TEST_NO_GROUP_COMMIT=1, where the
 * store writer commits every write in its own transaction (the naive
 * baseline). Against each:
 *
 *  1. dispatch latency: an agent long-polls GET /api/v1/body/exec?wait=30 on
 *     a keep-alive connection; the admin submits one command at a time; the
 *     latency is from just before the submit is sent until the agent holds
 *     the command (p50, p99 over --latency-n commands);
 *  2. submit throughput: --clients admin connections submit as fast as the
 *     server acknowledges (202 = committed) for --seconds.
 * Absolute numbers drift between runs and machines; the ratios of one run
 * are what to read.
 *
 * usage: exec_bench [--latency-n N] [--clients C] [--seconds S]
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

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

/* a keep-alive client: one CURL handle reused for every request */
typedef struct {
    CURL *c;
    struct curl_slist *h_get, *h_post;
    buf_t body;
} client_t;

static void client_init(client_t *cl, const char *token)
{
    char auth[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    cl->c = curl_easy_init();
    cl->h_get = curl_slist_append(NULL, auth);
    cl->h_post = curl_slist_append(curl_slist_append(curl_slist_append(NULL, auth), "Expect:"),
                                   "Content-Type: application/json");
    cl->body.data = NULL;
    cl->body.len = 0;
    curl_easy_setopt(cl->c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(cl->c, CURLOPT_WRITEDATA, &cl->body);
    curl_easy_setopt(cl->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cl->c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(cl->c, CURLOPT_TIMEOUT, 60L);
}

static void client_free(client_t *cl)
{
    curl_easy_cleanup(cl->c);
    curl_slist_free_all(cl->h_get);
    curl_slist_free_all(cl->h_post);
    free(cl->body.data);
}

static long client_do(client_t *cl, const char *url, const char *post)
{
    cl->body.len = 0;
    if (cl->body.data)
        cl->body.data[0] = '\0';
    curl_easy_setopt(cl->c, CURLOPT_URL, url);
    if (post != NULL) {
        curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, cl->h_post);
    } else {
        curl_easy_setopt(cl->c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, cl->h_get);
    }
    long status = 0;
    if (curl_easy_perform(cl->c) == CURLE_OK)
        curl_easy_getinfo(cl->c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* ---- latency ---- */

typedef struct {
    hc_server_t *srv;
    char token[128];
    pthread_mutex_t m;
    pthread_cond_t cv;
    int received;     /* commands received so far */
    double recv_ms;   /* when the last one arrived */
    atomic_int stop;
} agent_t;

static void *agent_main(void *p)
{
    agent_t *a = p;
    client_t cl;
    client_init(&cl, a->token);
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/body/exec?wait=30", a->srv->url);
    while (!atomic_load(&a->stop)) {
        long st = client_do(&cl, url, NULL);
        double now = hc_now_ms();
        if (st == 200) {
            pthread_mutex_lock(&a->m);
            a->received++;
            a->recv_ms = now;
            pthread_cond_signal(&a->cv);
            pthread_mutex_unlock(&a->m);
        } else if (st != 204) {
            usleep(1000);
        }
    }
    client_free(&cl);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void latency(hc_server_t *srv, const char *node_id, const char *node_tok, int n, double *p50, double *p99)
{
    agent_t a = {.srv = srv, .received = 0};
    snprintf(a.token, sizeof(a.token), "%s", node_tok);
    pthread_mutex_init(&a.m, NULL);
    pthread_cond_init(&a.cv, NULL);
    atomic_init(&a.stop, 0);
    pthread_t t;
    pthread_create(&t, NULL, agent_main, &a);
    usleep(200 * 1000);

    client_t admin;
    client_init(&admin, TEST_ADMIN_TOKEN);
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/nodes/%s/exec", srv->url, node_id);
    double *lat = calloc((size_t)n, sizeof(*lat));
    for (int i = 0; i < n; i++) {
        usleep(2000); /* let the agent park again */
        double t0 = hc_now_ms();
        long st = client_do(&admin, url, "{\"command\":\"hostname\",\"timeout_s\":3600}");
        if (st != 202) {
            fprintf(stderr, "exec_bench: submit answered %ld\n", st);
            exit(1);
        }
        pthread_mutex_lock(&a.m);
        while (a.received < i + 1)
            pthread_cond_wait(&a.cv, &a.m);
        lat[i] = a.recv_ms - t0;
        pthread_mutex_unlock(&a.m);
    }
    atomic_store(&a.stop, 1);
    /* one more command ends the agent's last long poll */
    client_do(&admin, url, "{\"command\":\"stop\",\"timeout_s\":1}");
    pthread_join(t, NULL);
    client_free(&admin);
    qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
    *p50 = lat[n / 2];
    *p99 = lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
    free(lat);
}

/* ---- throughput ---- */

typedef struct {
    hc_server_t *srv;
    const char *node_id;
    double until_ms;
    long ok, bad;
} submitter_t;

static void *submitter_main(void *p)
{
    submitter_t *s = p;
    client_t cl;
    client_init(&cl, TEST_ADMIN_TOKEN);
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/nodes/%s/exec", s->srv->url, s->node_id);
    while (hc_now_ms() < s->until_ms) {
        if (client_do(&cl, url, "{\"command\":\"true\",\"timeout_s\":3600}") == 202)
            s->ok++;
        else
            s->bad++;
    }
    client_free(&cl);
    return NULL;
}

static double throughput(hc_server_t *srv, const char *node_id, int clients, int seconds)
{
    submitter_t *s = calloc((size_t)clients, sizeof(*s));
    pthread_t *t = calloc((size_t)clients, sizeof(*t));
    double start = hc_now_ms();
    for (int i = 0; i < clients; i++) {
        s[i] = (submitter_t){.srv = srv, .node_id = node_id, .until_ms = start + seconds * 1000.0};
        pthread_create(&t[i], NULL, submitter_main, &s[i]);
    }
    long ok = 0, bad = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(t[i], NULL);
        ok += s[i].ok;
        bad += s[i].bad;
    }
    double elapsed = (hc_now_ms() - start) / 1000.0;
    if (bad > 0)
        fprintf(stderr, "exec_bench: %ld submissions were not acknowledged\n", bad);
    free(s);
    free(t);
    return ok / elapsed;
}

typedef struct {
    double p50, p99, rate;
} result_t;

static result_t run_mode(int naive, int latency_n, int clients, int seconds)
{
    if (naive)
        setenv("HC_TEST_NO_GROUP_COMMIT", "1", 1);
    else
        unsetenv("HC_TEST_NO_GROUP_COMMIT");
    hc_server_t *srv = hc_server_start(NULL, NULL);
    unsetenv("HC_TEST_NO_GROUP_COMMIT");
    if (naive && !hc_server_log_contains(srv, "group commit disabled")) {
        fprintf(stderr, "exec_bench: the server ignored HC_TEST_NO_GROUP_COMMIT: build it with -Dtesting=true "
                        "(tests/bench/run does)\n");
        hc_server_free(srv);
        exit(2);
    }
    char lat_node[64], lat_tok[65], tp_node[64], tp_tok[65];
    hc_enroll_node(srv, "bench-latency", "linux", 1, lat_node, lat_tok);
    hc_enroll_node(srv, "bench-throughput", "linux", 1, tp_node, tp_tok);
    result_t r;
    latency(srv, lat_node, lat_tok, latency_n, &r.p50, &r.p99);
    r.rate = throughput(srv, tp_node, clients, seconds);
    hc_server_free(srv);
    return r;
}

int main(int argc, char **argv)
{
    int latency_n = 300, clients = 32, seconds = 5;
    static const struct option opts[] = {{"latency-n", required_argument, NULL, 'n'},
                                         {"clients", required_argument, NULL, 'c'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'n')
            latency_n = atoi(optarg);
        else if (ch == 'c')
            clients = atoi(optarg);
        else if (ch == 's')
            seconds = atoi(optarg);
        else {
            fprintf(stderr, "usage: exec_bench [--latency-n N] [--clients C] [--seconds S]\n");
            return 2;
        }
    }
    if (latency_n < 10 || clients < 1 || seconds < 1) {
        fprintf(stderr, "exec_bench: --latency-n >= 10, --clients >= 1, --seconds >= 1\n");
        return 2;
    }
    if (getenv("HC_BINARY") == NULL) {
        fprintf(stderr, "exec_bench: set HC_BINARY to the hydracluster binary (tests/bench/run does)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    printf("exec bench: %s, 2 workers; latency over %d commands; throughput with %d admin connections for %d s\n",
           getenv("HC_BINARY"), latency_n, clients, seconds);
    fflush(stdout);
    result_t g = run_mode(0, latency_n, clients, seconds);
    result_t n = run_mode(1, latency_n, clients, seconds);
    printf("\n| measure | group commit | one commit per write | ratio |\n|---|---|---|---|\n");
    printf("| submit -> long-polling agent, p50 | %.2f ms | %.2f ms | %.2fx |\n", g.p50, n.p50, n.p50 / g.p50);
    printf("| submit -> long-polling agent, p99 | %.2f ms | %.2f ms | %.2fx |\n", g.p99, n.p99, n.p99 / g.p99);
    printf("| submits acknowledged (202) per second | %.0f /s | %.0f /s | %.2fx |\n", g.rate, n.rate, g.rate / n.rate);
    curl_global_cleanup();
    return 0;
}
