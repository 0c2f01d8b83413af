#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "config.h"

void cli_ctx_init(cli_ctx_t *c, const char *prog, const char *command)
{
    memset(c, 0, sizeof(*c));
    c->prog = prog;
    c->command = command;
    c->server = getenv("HYDRACLUSTER_SERVER");
    c->token = getenv("HYDRACLUSTER_TOKEN");
    c->output = CLI_OUT_TABLE;
    optind = 1; /* the command's options are read next (cli_ctx_getopt) */
}

/* http(s)://<first listen>, a wildcard address replaced by loopback */
static void server_from_config(const hc_config_t *cfg, char *out, size_t outlen)
{
    const char *l = cfg->server.listen[0];
    const char *scheme = cfg->server.tls.cert_file ? "https" : "http";
    if (strncmp(l, "0.0.0.0:", 8) == 0)
        snprintf(out, outlen, "%s://127.0.0.1:%s", scheme, l + 8);
    else if (strncmp(l, "[::]:", 5) == 0)
        snprintf(out, outlen, "%s://[::1]:%s", scheme, l + 5);
    else if (l[0] == ':')
        snprintf(out, outlen, "%s://127.0.0.1%s", scheme, l);
    else
        snprintf(out, outlen, "%s://%s", scheme, l);
}

/* data_dir/admin_token, trimmed; 0 or -1 */
static int token_from_file(const hc_config_t *cfg, char *out, size_t outlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/admin_token", cfg->server.data_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(out, 1, outlen - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = '\0';
    return n > 0 ? 0 : -1;
}

int cli_target_defaults(const char *prog, const char *config_path, const char **server, const char **token,
                        char *server_buf, size_t server_len, char *token_buf, size_t token_len)
{
    int need_server = *server == NULL || (*server)[0] == '\0';
    int need_token = *token == NULL || (*token)[0] == '\0';
    if (!need_server && !need_token)
        return 0;
    hc_config_t cfg;
    if (serve_load_config(config_path, &cfg) != 0)
        return CLI_EXIT_USAGE;
    if (need_server) {
        server_from_config(&cfg, server_buf, server_len);
        *server = server_buf;
    }
    if (need_token) {
        token_buf[0] = '\0';
        if (cfg.server.admin_token != NULL)
            snprintf(token_buf, token_len, "%s", cfg.server.admin_token);
        else
            token_from_file(&cfg, token_buf, token_len);
        *token = token_buf;
    }
    config_free(&cfg);
    if ((*token)[0] == '\0') {
        fprintf(stderr, "%s: no admin token: pass --admin-token or set HYDRACLUSTER_TOKEN\n", prog);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int cli_ctx_connect(cli_ctx_t *c)
{
    int rc = cli_target_defaults(c->prog, c->config_path, &c->server, &c->token, c->server_buf,
                                 sizeof(c->server_buf), c->token_buf, sizeof(c->token_buf));
    if (rc != 0)
        return rc;
    if (c->server != c->server_buf) {
        snprintf(c->server_buf, sizeof(c->server_buf), "%s", c->server);
        c->server = c->server_buf;
    }
    size_t n = strlen(c->server_buf);
    while (n > 0 && c->server_buf[n - 1] == '/')
        c->server_buf[--n] = '\0';
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || cli_client_init(&c->http, c->server, c->token) != 0) {
        fprintf(stderr, "%s: cannot initialise libcurl\n", c->prog);
        return CLI_EXIT_SERVER;
    }
    c->connected = 1;
    return 0;
}

void cli_ctx_free(cli_ctx_t *c)
{
    if (c->connected) {
        cli_client_free(&c->http);
        curl_global_cleanup();
    }
    memset(c->token_buf, 0, sizeof(c->token_buf));
    c->connected = 0;
}

int cli_escape(cli_ctx_t *c, const char *s, char *out, size_t outlen)
{
    char *e = curl_easy_escape(c->http.curl, s, 0);
    if (e == NULL)
        return -1;
    int n = snprintf(out, outlen, "%s", e);
    curl_free(e);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int cli_object(cli_ctx_t *c, cli_object_t *o, const char *prefix, const char *id, const char *suffix, const char *noun)
{
    if (cli_escape(c, id, o->esc, sizeof(o->esc)) != 0)
        return -1;
    int n = snprintf(o->path, sizeof(o->path), "%s%s%s", prefix, o->esc, suffix);
    snprintf(o->what, sizeof(o->what), "%s %s", noun, id);
    return n < 0 || (size_t)n >= sizeof(o->path) ? -1 : 0;
}

/* one line on stderr for a failed answer; the exit code */
static int report(cli_ctx_t *c, long status, json_t *j, const char *what)
{
    const char *msg = json_string_value(json_object_get(j, "error"));
    int rc;
    if (status == 401 || status == 403) {
        fprintf(stderr, "%s: the server refused the admin token (%ld): %s\n", c->prog, status,
                msg ? msg : "check --admin-token / $HYDRACLUSTER_TOKEN");
        rc = CLI_EXIT_AUTH;
    } else if (status == 404) {
        fprintf(stderr, "%s: %s: not found%s%s\n", c->prog, what, msg ? ": " : "", msg ? msg : "");
        rc = CLI_EXIT_NOT_FOUND;
    } else if (status == 409) {
        fprintf(stderr, "%s: %s: %s\n", c->prog, what, msg ? msg : "conflict");
        rc = CLI_EXIT_CONFLICT;
    } else if (status == 400 || status == 413 || status == 415) {
        fprintf(stderr, "%s: %s: the server refused the request: %s\n", c->prog, what, msg ? msg : "bad request");
        rc = CLI_EXIT_USAGE;
    } else {
        fprintf(stderr, "%s: %s: unexpected answer from the server (%ld): %s\n", c->prog, what, status,
                msg ? msg : "no details");
        rc = CLI_EXIT_SERVER;
    }
    return rc;
}

int cli_call(cli_ctx_t *c, const char *method, const char *path, const char *body, long want, const char *what,
             char **raw, json_t **json)
{
    char err[CURL_ERROR_SIZE + 64] = "";
    cli_buf_t b = {0};
    if (raw)
        *raw = NULL;
    if (json)
        *json = NULL;
    long status = cli_http_request(&c->http, method, path, body, 60, &b, err, sizeof(err));
    if (status == 0) {
        fprintf(stderr, "%s: cannot reach the server at %s: %s\n", c->prog, c->server, err);
        free(b.data);
        return CLI_EXIT_UNREACHABLE;
    }
    json_t *j = b.data ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    if (status == want || (want == 0 && status >= 200 && status < 300)) {
        if (raw)
            *raw = b.data;
        else
            free(b.data);
        if (json)
            *json = j;
        else
            json_decref(j);
        return 0;
    }
    int rc = report(c, status, j, what);
    json_decref(j);
    free(b.data);
    return rc;
}

int cli_get_all(cli_ctx_t *c, const char *path, const char *what, json_t **out)
{
    char err[CURL_ERROR_SIZE + 64] = "", next[2048];
    json_t *all = json_array();
    snprintf(next, sizeof(next), "%s", path);
    for (int pages = 0; all != NULL && pages < 100000; pages++) {
        cli_buf_t b = {0};
        long status = cli_http_request(&c->http, "GET", next, NULL, 60, &b, err, sizeof(err));
        if (status != 200) {
            int rc = CLI_EXIT_UNREACHABLE;
            if (status == 0) {
                fprintf(stderr, "%s: cannot reach the server at %s: %s\n", c->prog, c->server, err);
            } else {
                json_t *j = b.data ? json_loadb(b.data, b.len, 0, NULL) : NULL;
                rc = report(c, status, j, what);
                json_decref(j);
            }
            free(b.data);
            json_decref(all);
            return rc;
        }
        json_t *page = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
        /* a page is an array, or an object holding one (e.g. {"nodes":[…]}) */
        json_t *items = json_is_array(page) ? page : NULL;
        const char *k;
        json_t *v;
        if (items == NULL && json_is_object(page))
            json_object_foreach(page, k, v) if (json_is_array(v) && items == NULL) items = v;
        if (items == NULL) {
            fprintf(stderr, "%s: %s: the server's answer is not a list\n", c->prog, what);
            json_decref(page);
            free(b.data);
            json_decref(all);
            return CLI_EXIT_SERVER;
        }
        json_array_extend(all, items);
        json_decref(page);
        free(b.data);
        if (b.next[0] == '\0')
            break;
        /* an absolute link: keep its path, the server is ours */
        const char *p = b.next;
        if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
            p = strchr(p + 8, '/');
            if (p == NULL)
                break;
        }
        if (strcmp(next, p) == 0)
            break; /* a page linking to itself would never end */
        snprintf(next, sizeof(next), "%s", p);
    }
    *out = all;
    return all ? 0 : CLI_EXIT_SERVER;
}

void cli_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s != NULL)
        printf("%s\n", s);
    free(s);
}

const char *cli_ago(const char *t, char *buf, size_t len)
{
    int64_t when;
    if (t == NULL || t[0] == '\0' || clock_parse_rfc3339(t, &when) != 0) {
        snprintf(buf, len, "never");
        return buf;
    }
    int64_t d = (int64_t)time(NULL) - when;
    const char *fmt = d >= 0 ? "%lld%s ago" : "in %lld%s";
    if (d < 0)
        d = -d;
    if (d < 60)
        snprintf(buf, len, fmt, (long long)d, "s");
    else if (d < 3600)
        snprintf(buf, len, fmt, (long long)(d / 60), "m");
    else if (d < 2 * 86400)
        snprintf(buf, len, fmt, (long long)(d / 3600), "h");
    else
        snprintf(buf, len, fmt, (long long)(d / 86400), "d");
    return buf;
}

const char *cli_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

const char *cli_join(json_t *a, char *buf, size_t len)
{
    size_t o = 0, i;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        if (s != NULL && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", s);
    }
    return buf;
}

/* ---- tables ---- */

struct cli_table {
    size_t ncols, nrows, cap;
    char **cells; /* row-major, header row first */
};

cli_table_t *cli_table_new(size_t ncols, const char *const *headers)
{
    cli_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    cli_table_add(t, headers);
    return t;
}

void cli_table_add(cli_table_t *t, const char *const *cells)
{
    if (t == NULL)
        return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
        if (c == NULL)
            return;
        t->cells = c;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char *s = strdup(cells[i] ? cells[i] : "");
        /* one line per row: control characters become spaces */
        for (char *p = s; p && *p; p++)
            if ((unsigned char)*p < ' ')
                *p = ' ';
        t->cells[t->nrows * t->ncols + i] = s;
    }
    t->nrows++;
}

/* display width: UTF-8 continuation bytes take no column */
static size_t width_of(const char *s)
{
    size_t w = 0;
    for (; s && *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* prints s in exactly w columns, cut with "…" when longer */
static void put_cell(FILE *f, const char *s, size_t w, int last)
{
    size_t sw = width_of(s);
    if (sw <= w) {
        fputs(s, f);
        if (!last)
            fprintf(f, "%*s", (int)(w - sw), "");
        return;
    }
    size_t col = 0;
    const char *p = s;
    while (*p && col < w - 1) {
        fputc(*p++, f);
        while (((unsigned char)*p & 0xC0) == 0x80)
            fputc(*p++, f);
        col++;
    }
    fputs("…", f);
}

void cli_put_cut(FILE *f, const char *s, size_t width)
{
    put_cell(f, s, width, 1);
}

void cli_table_print(cli_table_t *t, FILE *f, size_t width)
{
    if (t == NULL)
        return;
    size_t *w = calloc(t->ncols, sizeof(*w));
    if (w == NULL)
        return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t cw = width_of(t->cells[r * t->ncols + i]);
            if (cw > w[i])
                w[i] = cw;
        }
    size_t total = 2 * (t->ncols - 1);
    for (size_t i = 0; i < t->ncols; i++)
        total += w[i];
    /* too wide: take a column from the widest until it fits (none below 6) */
    while (total > width) {
        size_t widest = 0;
        for (size_t i = 1; i < t->ncols; i++)
            if (w[i] > w[widest])
                widest = i;
        if (w[widest] <= 6)
            break;
        w[widest]--;
        total--;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            if (i)
                fputs("  ", f);
            put_cell(f, t->cells[r * t->ncols + i], w[i], i + 1 == t->ncols);
        }
        fputc('\n', f);
    }
    free(w);
}

void cli_table_free(cli_table_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void cli_print_rows(json_t *a, const char *const *head, cli_row_fn add_row)
{
    size_t ncols = 0, i;
    while (head[ncols] != NULL)
        ncols++;
    cli_table_t *t = cli_table_new(ncols, head);
    json_t *item;
    json_array_foreach(a, i, item) add_row(t, item);
    cli_table_print(t, stdout, 100);
    cli_table_free(t);
}

int cli_print_list(cli_ctx_t *c, const char *path, const char *what, const char *const *head, cli_row_fn add_row,
                   json_t **list)
{
    char *raw = NULL;
    json_t *a = NULL;
    if (list)
        *list = NULL;
    int rc = cli_call(c, "GET", path, NULL, 200, what, &raw, &a);
    if (rc != 0)
        return rc;
    if (c->output == CLI_OUT_JSON)
        printf("%s\n", raw ? raw : "[]");
    else
        cli_print_rows(a, head, add_row);
    free(raw);
    if (list)
        *list = a;
    else
        json_decref(a);
    return 0;
}
