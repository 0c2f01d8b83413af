/*
 * Fleet simulator: one process, one thread, epoll, plain sockets speaking
 * HTTP/1.1 keep-alive, driving thousands of simulated node agents against a
 * running hydracluster (docs/performance.md, "Fleet simulator").
 *
 * - Agents (--agents, default 10000), one connection each, like a
 *   single-threaded hydranode: long-poll GET /api/v1/body/exec?wait=W (W is
 *   --poll-wait, cut short so the next heartbeat is on time), answer a command
 *   with POST /api/v1/body/exec/result at once, and POST
 *   /api/v1/body/heartbeat every --interval seconds with +-10% jitter.
 * - Heartbeat-only nodes (--heartbeat-nodes, total nodes heartbeating, the
 *   agents included): the nodes beyond the agents heartbeat over a pool of
 *   --hb-conns connections, each node once per --interval.
 * - Admin load (--admin-rps, over 2 connections): a page of the node list
 *   (?limit=100&after=<random id>), a node read, and an exec submit to a
 *   random agent, in turn.
 *
 * Prints per endpoint: count, errors, p50/p99/max; the exec dispatch time
 * (submit sent -> the agent holds the command); server CPU and RSS (from
 * /proc/--server-pid), and RSS per parked poll (RSS once every agent is
 * parked, minus RSS before any connected, over the agents). Exits 1 when any
 * request failed (a status other than the expected ones, a reset, a
 * timeout), so a short run is a CI test.
 *
 * usage: sim --port P --tokens FILE --admin-token T [--agents N] [--heartbeat-nodes N]
 *            [--interval S] [--poll-wait S] [--duration S] [--admin-rps R] [--hb-conns N]
 *            [--ramp S] [--server-pid PID]
 * FILE: "node_id token" per line (tests/bench/gen_fleet.py writes it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { EP_HB_AGENT, EP_HB_POOL, EP_POLL, EP_RESULT, EP_LIST, EP_GET, EP_SUBMIT, EP_DISPATCH, EP_COUNT };
static const char *const ep_names[EP_COUNT] = {
    "POST /api/v1/body/heartbeat (agents)", "POST /api/v1/body/heartbeat (heartbeat-only nodes)",
    "GET /api/v1/body/exec?wait= (long poll)", "POST /api/v1/body/exec/result", "GET /api/v1/nodes?limit=100&after=",
    "GET /api/v1/nodes/{id}", "POST /api/v1/nodes/{id}/exec", "exec dispatch: submit sent -> agent holds it"};

typedef struct {
    uint32_t *v; /* microseconds */
    size_t n, cap;
    unsigned long errors;
} stat_t;
static stat_t stats[EP_COUNT];

enum { K_AGENT, K_POOL, K_ADMIN };

typedef struct conn {
    int fd;
    int kind;
    int idx;        /* agent number, pool or admin connection number */
    int busy;       /* a request is out */
    int ep;         /* what it measures */
    uint64_t sent_us;
    char out[1024];
    size_t olen, ooff;
    char *in;
    size_t ilen, icap;
    uint64_t next_us; /* agents: next heartbeat due; others: next send */
    size_t heap_pos;
    uint64_t timer_us;
    char exec_id[80]; /* agent: the command being answered */
} conn_t;

static struct {
    int port;
    const char *tokens_path, *admin_token;
    long agents, hb_nodes, hb_conns, server_pid;
    double interval, poll_wait, duration, admin_rps, ramp;
} opt = {.agents = 10000, .hb_nodes = 0, .hb_conns = 64, .interval = 30, .poll_wait = 25, .duration = 60,
         .admin_rps = 20, .ramp = -1};

static char (*ids)[64];
static char (*tokens)[80];
static long ntokens;
static conn_t *conns;
static long nconns;
static int epfd;
static uint64_t *submit_us; /* per agent: when an exec submit for it was sent (0: none) */
static long pool_next_node;
static unsigned long commands_done, reconnects;
static uint64_t t_start;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void stat_add(int ep, uint64_t us)
{
    stat_t *s = &stats[ep];
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (s->v == NULL) {
            perror("realloc");
            exit(2);
        }
    }
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static double frand(void)
{
    return (double)random() / ((double)RAND_MAX + 1.0);
}

/* ---- timers: a binary heap of connections by timer_us ---- */

static conn_t **heap;
static size_t heap_n;

static void heap_swap(size_t a, size_t b)
{
    conn_t *t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
    heap[a]->heap_pos = a;
    heap[b]->heap_pos = b;
}

static void heap_up(size_t i)
{
    while (i > 0 && heap[(i - 1) / 2]->timer_us > heap[i]->timer_us) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_n && heap[l]->timer_us < heap[m]->timer_us)
            m = l;
        if (r < heap_n && heap[r]->timer_us < heap[m]->timer_us)
            m = r;
        if (m == i)
            return;
        heap_swap(i, m);
        i = m;
    }
}

static void timer_set(conn_t *c, uint64_t at)
{
    if (c->heap_pos == SIZE_MAX) {
        c->timer_us = at;
        c->heap_pos = heap_n;
        heap[heap_n++] = c;
        heap_up(c->heap_pos);
        return;
    }
    uint64_t old = c->timer_us;
    c->timer_us = at;
    if (at < old)
        heap_up(c->heap_pos);
    else
        heap_down(c->heap_pos);
}

static void timer_clear(conn_t *c)
{
    if (c->heap_pos == SIZE_MAX)
        return;
    size_t i = c->heap_pos;
    heap_swap(i, --heap_n);
    c->heap_pos = SIZE_MAX;
    if (i < heap_n) {
        heap_down(i);
        heap_up(i);
    }
}

/* ---- connections ---- */

static int conn_open(conn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    /* edge-triggered: reads drain to EAGAIN, a write waits for the next EPOLLOUT edge */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->ilen = 0;
    c->olen = c->ooff = 0;
}

static void conn_flush(conn_t *c)
{
    while (c->ooff < c->olen) {
        ssize_t w = write(c->fd, c->out + c->ooff, c->olen - c->ooff);
        if (w < 0) {
            if (errno == EAGAIN || errno == ENOTCONN)
                return; /* EPOLLOUT brings us back */
            return;     /* the read side sees the reset */
        }
        c->ooff += (size_t)w;
    }
}

static void conn_send(conn_t *c, int ep, const char *method, const char *path, const char *token, const char *body)
{
    if (c->fd < 0 && conn_open(c) != 0) {
        stats[ep].errors++;
        timer_set(c, now_us() + 1000000);
        return;
    }
    int n = body ? snprintf(c->out, sizeof(c->out),
                            "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: "
                            "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            method, path, token, strlen(body), body)
                 : snprintf(c->out, sizeof(c->out), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
                            method, path, token);
    if (n < 0 || (size_t)n >= sizeof(c->out)) {
        fprintf(stderr, "sim: request too long\n");
        exit(2);
    }
    c->olen = (size_t)n;
    c->ooff = 0;
    c->busy = 1;
    c->ep = ep;
    c->sent_us = now_us();
    conn_flush(c);
}

/* ---- what each kind does next ---- */

static void agent_next(conn_t *c)
{
    uint64_t now = now_us();
    const char *tok = tokens[c->idx];
    if (now >= c->next_us) {
        conn_send(c, EP_HB_AGENT, "POST", "/api/v1/body/heartbeat", tok,
                  "{\"version\":\"v0.23.10\",\"stream_status\":\"idle\",\"provider_status\":\"running\"}");
        return;
    }
    /* park until a command comes or the next heartbeat is due */
    double left = (double)(c->next_us - now) / 1e6;
    long wait = (long)(left < opt.poll_wait ? left : opt.poll_wait);
    if (wait < 1) {
        timer_set(c, c->next_us);
        return;
    }
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/body/exec?wait=%ld", wait);
    conn_send(c, EP_POLL, "GET", path, tok, NULL);
}

static void pool_next(conn_t *c)
{
    long extra = opt.hb_nodes - opt.agents;
    long node = opt.agents + pool_next_node++ % extra;
    conn_send(c, EP_HB_POOL, "POST", "/api/v1/body/heartbeat", tokens[node],
              "{\"version\":\"v0.23.10\",\"stream_status\":\"idle\",\"provider_status\":\"running\"}");
    /* each pool connection carries hb_conns-th of the rate */
    double every = opt.interval / (double)extra * (double)opt.hb_conns;
    c->next_us += (uint64_t)(every * 1e6);
}

static unsigned long admin_turn;

static void admin_next(conn_t *c)
{
    char path[200];
    long k = random() % (opt.agents > 0 ? opt.agents : ntokens);
    switch (admin_turn++ % 3) {
    case 0:
        snprintf(path, sizeof(path), "/api/v1/nodes?limit=100&after=%s", ids[random() % ntokens]);
        conn_send(c, EP_LIST, "GET", path, opt.admin_token, NULL);
        break;
    case 1:
        snprintf(path, sizeof(path), "/api/v1/nodes/%s", ids[random() % ntokens]);
        conn_send(c, EP_GET, "GET", path, opt.admin_token, NULL);
        break;
    default:
        if (opt.agents == 0) {
            snprintf(path, sizeof(path), "/api/v1/nodes/%s", ids[k]);
            conn_send(c, EP_GET, "GET", path, opt.admin_token, NULL);
            break;
        }
        snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", ids[k]);
        c->idx = (int)k; /* the agent it goes to, for the dispatch time */
        conn_send(c, EP_SUBMIT, "POST", path, opt.admin_token, "{\"command\":\"echo sim\",\"timeout_s\":60}");
        if (submit_us[k] == 0)
            submit_us[k] = c->sent_us;
        break;
    }
    c->next_us += (uint64_t)(2e6 / opt.admin_rps); /* two admin connections share the rate */
}

static void conn_next(conn_t *c)
{
    if (c->kind == K_AGENT)
        agent_next(c);
    else if (now_us() >= c->next_us)
        c->kind == K_POOL ? pool_next(c) : admin_next(c);
    else
        timer_set(c, c->next_us);
}

/* ---- responses ---- */

/* length of a complete response in c->in, 0 when incomplete; *status set */
static size_t response_len(conn_t *c, int *status)
{
    char *end = memmem(c->in, c->ilen, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    size_t hlen = (size_t)(end - c->in) + 4;
    *status = atoi(c->in + 9);
    long clen = -1;
    int chunked = 0;
    for (char *p = c->in; p < end;) {
        char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (eol == NULL)
            break;
        if (strncasecmp(p, "content-length:", 15) == 0)
            clen = atol(p + 15);
        else if (strncasecmp(p, "transfer-encoding:", 18) == 0 && memmem(p, (size_t)(eol - p), "chunked", 7))
            chunked = 1;
        p = eol + 2;
    }
    if (!chunked)
        return clen < 0 ? hlen : (c->ilen >= hlen + (size_t)clen ? hlen + (size_t)clen : 0);
    size_t off = hlen;
    for (;;) {
        char *eol = memmem(c->in + off, c->ilen - off, "\r\n", 2);
        if (eol == NULL)
            return 0;
        unsigned long sz = strtoul(c->in + off, NULL, 16);
        size_t next = (size_t)(eol - c->in) + 2 + sz + 2;
        if (next > c->ilen)
            return 0;
        off = next;
        if (sz == 0)
            return off;
    }
}

static void on_response(conn_t *c, int status, const char *body, size_t blen)
{
    uint64_t now = now_us();
    int ep = c->ep;
    c->busy = 0;
    int ok = (ep == EP_POLL) ? (status == 200 || status == 204)
             : (ep == EP_SUBMIT) ? status == 202
                                 : status == 200;
    if (!ok) {
        stats[ep].errors++;
        if (stats[ep].errors <= 5)
            fprintf(stderr, "sim: %s answered %d: %.*s\n", ep_names[ep], status, (int)(blen > 200 ? 200 : blen),
                    body);
    } else if (ep != EP_POLL) {
        stat_add(ep, now - c->sent_us);
    }
    switch (c->kind) {
    case K_AGENT:
        if (ep == EP_HB_AGENT) {
            c->next_us += (uint64_t)(opt.interval * (0.9 + 0.2 * frand()) * 1e6);
            if (c->next_us < now)
                c->next_us = now + (uint64_t)(opt.interval * 1e6 * frand());
        } else if (ep == EP_POLL && status == 200) {
            stats[EP_POLL].n++; /* commands received (latency is the wait: not measured) */
            const char *p = memmem(body, blen, "\"id\":\"", 6);
            if (p != NULL) {
                p += 6;
                const char *q = memchr(p, '"', (size_t)(body + blen - p));
                if (q != NULL && (size_t)(q - p) < sizeof(c->exec_id)) {
                    memcpy(c->exec_id, p, (size_t)(q - p));
                    c->exec_id[q - p] = '\0';
                    if (submit_us[c->idx] != 0) {
                        stat_add(EP_DISPATCH, now - submit_us[c->idx]);
                        submit_us[c->idx] = 0;
                    }
                    char res[256];
                    snprintf(res, sizeof(res),
                             "{\"id\":\"%s\",\"exit_code\":0,\"stdout\":\"sim\\n\",\"stderr\":\"\",\"duration_ms\":1}",
                             c->exec_id);
                    conn_send(c, EP_RESULT, "POST", "/api/v1/body/exec/result", tokens[c->idx], res);
                    return;
                }
            }
            stats[EP_POLL].errors++;
        } else if (ep == EP_RESULT && ok) {
            commands_done++;
        }
        agent_next(c);
        break;
    default:
        conn_next(c);
    }
}

static void on_readable(conn_t *c)
{
    int closed = 0;
    for (;;) {
        if (c->icap - c->ilen < 65536) {
            c->icap = c->icap ? c->icap * 2 : 131072;
            c->in = realloc(c->in, c->icap);
            if (c->in == NULL) {
                perror("realloc");
                exit(2);
            }
        }
        ssize_t r = read(c->fd, c->in + c->ilen, c->icap - c->ilen);
        if (r > 0) {
            c->ilen += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EAGAIN)
            break;
        closed = r == 0 ? -1 : errno;
        break;
    }
    int status;
    size_t len;
    while (c->busy && (len = response_len(c, &status)) > 0) {
        char *hend = memmem(c->in, len, "\r\n\r\n", 4);
        size_t hlen = (size_t)(hend - c->in) + 4;
        /* the body (for the exec id) is only read from content-length answers */
        on_response(c, status, c->in + hlen, len - hlen);
        memmove(c->in, c->in + len, c->ilen - len);
        c->ilen -= len;
    }
    if (closed && c->fd >= 0) {
        /* an error when an answer was due; else the server closed an idle keep-alive connection */
        if (c->busy) {
            stats[c->ep].errors++;
            if (stats[c->ep].errors <= 5)
                fprintf(stderr, "sim: %s: connection %s\n", ep_names[c->ep], closed < 0 ? "closed" : strerror(closed));
        }
        conn_close(c);
        reconnects++;
        c->busy = 0;
        timer_set(c, now_us() + 100000);
    }
}

/* ---- server resources ---- */

static int proc_cpu(long pid, double *cpu_s)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

static double proc_kb(long pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    double v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0)
            v = atof(line + kl);
    fclose(f);
    return v;
}

static int by_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: sim --port P --tokens FILE --admin-token T [--agents N] [--heartbeat-nodes N] "
                    "[--interval S] [--poll-wait S] [--duration S] [--admin-rps R] [--hb-conns N] [--ramp S] "
                    "[--server-pid PID]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--port") == 0)
            opt.port = atoi(v);
        else if (strcmp(a, "--tokens") == 0)
            opt.tokens_path = v;
        else if (strcmp(a, "--admin-token") == 0)
            opt.admin_token = v;
        else if (strcmp(a, "--agents") == 0)
            opt.agents = atol(v);
        else if (strcmp(a, "--heartbeat-nodes") == 0)
            opt.hb_nodes = atol(v);
        else if (strcmp(a, "--hb-conns") == 0)
            opt.hb_conns = atol(v);
        else if (strcmp(a, "--interval") == 0)
            opt.interval = atof(v);
        else if (strcmp(a, "--poll-wait") == 0)
            opt.poll_wait = atof(v);
        else if (strcmp(a, "--duration") == 0)
            opt.duration = atof(v);
        else if (strcmp(a, "--admin-rps") == 0)
            opt.admin_rps = atof(v);
        else if (strcmp(a, "--ramp") == 0)
            opt.ramp = atof(v);
        else if (strcmp(a, "--server-pid") == 0)
            opt.server_pid = atol(v);
        else
            usage();
    }
    if (opt.port <= 0 || opt.tokens_path == NULL || opt.admin_token == NULL || opt.interval <= 0 ||
        opt.admin_rps <= 0 || opt.hb_conns <= 0)
        usage();
    if (opt.hb_nodes < opt.agents)
        opt.hb_nodes = opt.agents;
    if (opt.ramp < 0)
        opt.ramp = opt.agents > 1000 ? 10 : 2;

    FILE *tf = fopen(opt.tokens_path, "r");
    if (tf == NULL) {
        perror(opt.tokens_path);
        return 2;
    }
    long cap = 1024;
    ids = malloc((size_t)cap * sizeof(*ids));
    tokens = malloc((size_t)cap * sizeof(*tokens));
    char line[256];
    while (ids && tokens && fgets(line, sizeof(line), tf)) {
        if (ntokens == cap) {
            cap *= 2;
            ids = realloc(ids, (size_t)cap * sizeof(*ids));
            tokens = realloc(tokens, (size_t)cap * sizeof(*tokens));
            if (!ids || !tokens)
                break;
        }
        if (sscanf(line, "%63s %79s", ids[ntokens], tokens[ntokens]) == 2)
            ntokens++;
    }
    fclose(tf);
    if (!ids || !tokens || ntokens < opt.hb_nodes || ntokens == 0) {
        fprintf(stderr, "sim: %s has %ld nodes, fewer than the %ld asked for\n", opt.tokens_path, ntokens,
                opt.hb_nodes);
        return 2;
    }
    long pool = opt.hb_nodes > opt.agents ? opt.hb_conns : 0;
    nconns = opt.agents + pool + 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)nconns + 16 > rl.rlim_cur) {
        fprintf(stderr, "sim: %ld connections need more file descriptors than the limit (%lu)\n", nconns,
                (unsigned long)rl.rlim_cur);
        return 2;
    }
    conns = calloc((size_t)nconns, sizeof(*conns));
    heap = calloc((size_t)nconns, sizeof(*heap));
    submit_us = calloc((size_t)(opt.agents > 0 ? opt.agents : 1), sizeof(*submit_us));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !heap || !submit_us || epfd < 0) {
        perror("sim");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a write to a closed connection is seen as a close on read */
    srandom(1);
    double cpu0 = 0, cpu1 = 0, rss_before = 0, rss_parked = 0;
    if (opt.server_pid > 0) {
        proc_cpu(opt.server_pid, &cpu0);
        rss_before = proc_kb(opt.server_pid, "VmRSS:");
    }
    t_start = now_us();
    for (long i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        c->fd = -1;
        c->heap_pos = SIZE_MAX;
        if (i < opt.agents) {
            c->kind = K_AGENT;
            c->idx = (int)i;
            /* connect during the ramp; first heartbeat anywhere in the first interval */
            c->next_us = t_start + (uint64_t)(opt.interval * frand() * 1e6);
            timer_set(c, t_start + (uint64_t)(opt.ramp * frand() * 1e6));
        } else if (i < opt.agents + pool) {
            c->kind = K_POOL;
            c->next_us = t_start + (uint64_t)(opt.interval / (double)(opt.hb_nodes - opt.agents) *
                                              (double)(i - opt.agents) * 1e6);
            timer_set(c, c->next_us);
        } else {
            c->kind = K_ADMIN;
            c->next_us = t_start + (uint64_t)(opt.ramp * 1e6) + (uint64_t)((i & 1) * 1e6 / opt.admin_rps);
            timer_set(c, c->next_us);
        }
    }
    uint64_t end = t_start + (uint64_t)(opt.duration * 1e6);
    uint64_t parked_at = t_start + (uint64_t)((opt.ramp + 2) * 1e6);
    int parked_measured = 0;
    struct epoll_event evs[512];
    for (;;) {
        uint64_t now = now_us();
        if (now >= end)
            break;
        if (!parked_measured && now >= parked_at && opt.server_pid > 0) {
            rss_parked = proc_kb(opt.server_pid, "VmRSS:");
            parked_measured = 1;
        }
        while (heap_n > 0 && heap[0]->timer_us <= now) {
            conn_t *c = heap[0];
            timer_clear(c);
            if (!c->busy)
                conn_next(c);
        }
        int timeout = 1000;
        if (heap_n > 0) {
            uint64_t t = heap[0]->timer_us;
            timeout = t <= now ? 0 : (int)((t - now) / 1000) + 1;
            if (timeout > 1000)
                timeout = 1000;
        }
        int n = epoll_wait(epfd, evs, 512, timeout);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (evs[i].events & EPOLLOUT)
                conn_flush(c);
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
    }
    double wall = (double)(now_us() - t_start) / 1e6;
    double rss_end = 0, hwm = 0;
    if (opt.server_pid > 0) {
        proc_cpu(opt.server_pid, &cpu1);
        rss_end = proc_kb(opt.server_pid, "VmRSS:");
        hwm = proc_kb(opt.server_pid, "VmHWM:");
    }

    unsigned long errors = 0;
    printf("agents %ld (long poll + heartbeat), heartbeat-only nodes %ld over %ld connections, interval %.0f s, "
           "%.0f s run\n\n",
           opt.agents, opt.hb_nodes - opt.agents, pool, opt.interval, wall);
    printf("| endpoint | count | errors | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n");
    for (int e = 0; e < EP_COUNT; e++) {
        stat_t *s = &stats[e];
        errors += s->errors;
        if (e == EP_POLL) {
            printf("| %s | %zu commands | %lu | - | - | - |\n", ep_names[e], s->n, s->errors);
            continue;
        }
        if (s->n == 0 && s->errors == 0)
            continue;
        qsort(s->v, s->n, sizeof(*s->v), by_u32);
        double p50 = s->n ? s->v[s->n / 2] / 1000.0 : 0, p99 = s->n ? s->v[s->n * 99 / 100] / 1000.0 : 0,
               mx = s->n ? s->v[s->n - 1] / 1000.0 : 0;
        printf("| %s | %zu | %lu | %.2f | %.2f | %.2f |\n", ep_names[e], s->n, s->errors, p50, p99, mx);
    }
    printf("\ncommands run and reported: %lu; reconnects: %lu\n", commands_done, reconnects);
    if (opt.server_pid > 0) {
        printf("server CPU: %.1f%% of one core (%.1f s over %.0f s)\n", (cpu1 - cpu0) / wall * 100, cpu1 - cpu0,
               wall);
        printf("server RSS: %.1f MB before, %.1f MB with every agent parked, %.1f MB at the end, peak %.1f MB\n",
               rss_before / 1024, rss_parked / 1024, rss_end / 1024, hwm / 1024);
        if (opt.agents > 0 && rss_parked > 0)
            printf("RSS per parked poll (connection, request, park): %.1f KB\n",
                   (rss_parked - rss_before) / (double)opt.agents);
    }
    printf("errors: %lu\n", errors);
    return errors == 0 && (opt.agents == 0 || commands_done > 0 || stats[EP_SUBMIT].n == 0) ? 0 : 1;
}
