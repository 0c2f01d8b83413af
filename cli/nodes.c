/*
 * `hydracluster nodes list|show|events|approve|reject|delete|set-roles`
 * (usage: cli/commands.c). A client of the running server's API:
 *   list        GET /api/v1/nodes?role=&district=&status= (every page)
 *   show        GET /api/v1/nodes/{id}, then its last events
 *   events      GET /api/v1/nodes/{id}/events?kind=&limit=
 *   approve     POST /api/v1/nodes/{id}/approve   (reject likewise)
 *   delete      DELETE /api/v1/nodes/{id}
 *   set-roles   POST /api/v1/nodes/{id}/roles {"roles":[…]}
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

#define SHOW_EVENTS 10

typedef struct {
    const char *role, *district, *status, *kind;
    long limit;
    int clear;
} nodes_opts_t;

/* what a node is, in one word: pending/rejected, else online/offline */
static const char *status_of(json_t *n)
{
    const char *a = cli_str(n, "approval");
    return strcmp(a, "approved") == 0 ? cli_str(n, "node_status") : a;
}

/* appends "&key=value" (escaped) to q */
static int add_query(cli_ctx_t *c, char *q, size_t qlen, const char *key, const char *value)
{
    char esc[600];
    if (value == NULL)
        return 0;
    if (cli_escape(c, value, esc, sizeof(esc)) != 0)
        return -1;
    size_t n = strlen(q);
    int w = snprintf(q + n, qlen - n, "%s%s=%s", n ? "&" : "?", key, esc);
    return w < 0 || (size_t)w >= qlen - n ? -1 : 0;
}

static void node_row(cli_table_t *t, json_t *n)
{
    char roles[512], ago[32];
    const char *row[] = {cli_str(n, "id"),
                         cli_str(n, "name"),
                         status_of(n),
                         cli_join(json_object_get(n, "roles"), roles, sizeof(roles)),
                         cli_str(n, "district"),
                         cli_str(n, "version"),
                         cli_ago(json_string_value(json_object_get(n, "last_seen")), ago, sizeof(ago))};
    cli_table_add(t, row);
}

static int nodes_list(cli_ctx_t *c, const nodes_opts_t *o)
{
    char q[2048] = "", path[2100];
    if (add_query(c, q, sizeof(q), "role", o->role) != 0 || add_query(c, q, sizeof(q), "district", o->district) != 0 ||
        add_query(c, q, sizeof(q), "status", o->status) != 0) {
        fprintf(stderr, "%s: a filter is too long\n", c->prog);
        return CLI_EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "/api/v1/nodes%s", q);
    json_t *all = NULL;
    int rc = cli_get_all(c, path, "nodes", &all);
    if (rc != 0)
        return rc;
    size_t i;
    json_t *n;
    if (c->output == CLI_OUT_JSON) {
        cli_print_json(all);
    } else if (c->output == CLI_OUT_IDS) {
        json_array_foreach(all, i, n) printf("%s\n", cli_str(n, "id"));
    } else {
        static const char *const head[] = {"ID", "NAME", "STATUS", "ROLES", "DISTRICT", "VERSION", "LAST SEEN", NULL};
        cli_print_rows(all, head, node_row);
        fprintf(stderr, "%zu node%s\n", json_array_size(all), json_array_size(all) == 1 ? "" : "s");
    }
    json_decref(all);
    return 0;
}

/* one event as a sentence */
static void describe_event(json_t *e, char *buf, size_t len)
{
    const char *kind = cli_str(e, "kind");
    json_t *d = json_object_get(e, "detail");
    char roles[512];
    if (strcmp(kind, "offline") == 0) {
        snprintf(buf, len, "last heartbeat %s", cli_str(d, "last_seen"));
    } else if (strcmp(kind, "online") == 0) {
        json_t *off = json_object_get(d, "offline_s");
        if (json_is_integer(off))
            snprintf(buf, len, "back after %llds (last heartbeat before: %s)", (long long)json_integer_value(off),
                     cli_str(d, "last_seen_before"));
        else
            snprintf(buf, len, "first heartbeat");
    } else if (strcmp(kind, "roles") == 0) {
        snprintf(buf, len, "[%s] by %s", cli_join(json_object_get(d, "roles"), roles, sizeof(roles)),
                 cli_str(d, "actor"));
    } else if (strcmp(kind, "approve") == 0 || strcmp(kind, "reject") == 0 || strcmp(kind, "stream_stop") == 0) {
        snprintf(buf, len, "%s%s", d && cli_str(d, "actor")[0] ? "by " : "",
                 d && cli_str(d, "actor")[0] ? cli_str(d, "actor") : cli_str(d, "from"));
    } else {
        char *s = json_dumps(d, JSON_COMPACT);
        snprintf(buf, len, "%s", s && strcmp(s, "{}") != 0 ? s : "");
        free(s);
    }
}

static void event_row(cli_table_t *t, json_t *e)
{
    char what[700], at[64], ago[32];
    describe_event(e, what, sizeof(what));
    snprintf(at, sizeof(at), "%s (%s)", cli_str(e, "at"), cli_ago(cli_str(e, "at"), ago, sizeof(ago)));
    const char *row[] = {at, cli_str(e, "kind"), what};
    cli_table_add(t, row);
}

static const char *const event_head[] = {"AT", "KIND", "WHAT", NULL};

/* "key             value", cut to 100 columns */
static void kv(const char *key, const char *value)
{
    printf("%-16s ", key);
    cli_put_cut(stdout, value, 100 - 17);
    putchar('\n');
}

static int nodes_show(cli_ctx_t *c, const char *id)
{
    cli_object_t o;
    if (cli_object(c, &o, "/api/v1/nodes/", id, "", "node") != 0)
        return CLI_EXIT_USAGE;
    char *raw = NULL;
    json_t *n = NULL;
    int rc = cli_call(c, "GET", o.path, NULL, 200, o.what, &raw, &n);
    if (rc != 0)
        return rc;
    if (c->output == CLI_OUT_JSON) {
        printf("%s\n", raw ? raw : "");
        free(raw);
        json_decref(n);
        return 0;
    }
    free(raw);
    char roles[512], flags[256], ago[32], buf[600];
    static const char *const keys[] = {"id",       "name",  "hostname", "os",           "arch",          "version",
                                       "owner",    "district", "venue", "ip",           "wireguard_ip",  "lan_ip",
                                       "provider_status", "stream_status", NULL};
    kv("status", status_of(n));
    for (size_t i = 0; keys[i]; i++)
        if (cli_str(n, keys[i])[0])
            kv(keys[i], cli_str(n, keys[i]));
    kv("roles", cli_join(json_object_get(n, "roles"), roles, sizeof(roles)));
    if (json_array_size(json_object_get(n, "pending_flags")) > 0)
        kv("pending flags", cli_join(json_object_get(n, "pending_flags"), flags, sizeof(flags)));
    if (json_is_true(json_object_get(n, "drain")))
        kv("drain", "yes");
    const char *ls = json_string_value(json_object_get(n, "last_seen"));
    snprintf(buf, sizeof(buf), "%s (%s)", ls ? ls : "never", cli_ago(ls, ago, sizeof(ago)));
    kv("last seen", ls ? buf : "never");
    const char *en = json_string_value(json_object_get(n, "enrolled_at"));
    if (en != NULL) {
        snprintf(buf, sizeof(buf), "%s (%s)", en, cli_ago(en, ago, sizeof(ago)));
        kv("enrolled", buf);
    }
    json_decref(n);

    /* the recent history; a server without events is no error here */
    char path[400];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/events?limit=%d", o.esc, SHOW_EVENTS);
    json_t *events = NULL;
    cli_buf_t b = {0};
    char err[CURL_ERROR_SIZE + 64];
    if (cli_http_request(&c->http, "GET", path, NULL, 30, &b, err, sizeof(err)) == 200 &&
        (events = json_loadb(b.data ? b.data : "", b.len, 0, NULL)) != NULL && json_array_size(events) > 0) {
        printf("\nrecent events (hydracluster nodes events %s):\n", id);
        cli_print_rows(events, event_head, event_row);
    }
    json_decref(events);
    free(b.data);
    return 0;
}

static int nodes_events(cli_ctx_t *c, const char *id, const nodes_opts_t *o)
{
    char q[600] = "", suffix[620], lim[16];
    snprintf(lim, sizeof(lim), "%ld", o->limit);
    if (add_query(c, q, sizeof(q), "limit", lim) != 0 || add_query(c, q, sizeof(q), "kind", o->kind) != 0)
        return CLI_EXIT_USAGE;
    snprintf(suffix, sizeof(suffix), "/events%s", q);
    cli_object_t node;
    if (cli_object(c, &node, "/api/v1/nodes/", id, suffix, "node") != 0)
        return CLI_EXIT_USAGE;
    return cli_print_list(c, node.path, node.what, event_head, event_row, NULL);
}

/* approve, reject, delete: each id in turn; the first failure's code */
static int nodes_each(cli_ctx_t *c, const char *sub, char **ids, int n)
{
    char suffix[16];
    snprintf(suffix, sizeof(suffix), "/%s", sub);
    int first = 0;
    for (int i = 0; i < n; i++) {
        int del = strcmp(sub, "delete") == 0;
        cli_object_t o;
        if (cli_object(c, &o, "/api/v1/nodes/", ids[i], del ? "" : suffix, "node") != 0) {
            first = first ? first : CLI_EXIT_USAGE;
            continue;
        }
        char *raw = NULL;
        int rc = cli_call(c, del ? "DELETE" : "POST", o.path, NULL, 200, o.what, &raw, NULL);
        if (rc == 0) {
            if (c->output == CLI_OUT_JSON)
                printf("%s\n", raw ? raw : "{}");
            else
                printf("%s %s\n", ids[i], del ? "deleted" : strcmp(sub, "approve") == 0 ? "approved" : "rejected");
        } else if (first == 0) {
            first = rc;
        }
        free(raw);
    }
    return first;
}

static int nodes_set_roles(cli_ctx_t *c, const char *id, char **roles, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(roles[i]));
    json_t *body = json_pack("{s:o}", "roles", a);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    cli_object_t o;
    if (s == NULL || cli_object(c, &o, "/api/v1/nodes/", id, "/roles", "node") != 0) {
        free(s);
        return CLI_EXIT_USAGE;
    }
    char *raw = NULL;
    json_t *node = NULL;
    int rc = cli_call(c, "POST", o.path, s, 200, o.what, &raw, &node);
    free(s);
    if (rc == 0) {
        char list[512];
        if (c->output == CLI_OUT_JSON)
            printf("%s\n", raw ? raw : "{}");
        else
            printf("%s roles: %s\n", id, cli_join(json_object_get(node, "roles"), list, sizeof(list))[0] ? list : "(none)");
    }
    free(raw);
    json_decref(node);
    return rc;
}

int cli_nodes_main(int argc, char **argv)
{
    static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
                                         {"district", required_argument, NULL, 'd'},
                                         {"status", required_argument, NULL, 's'},
                                         {"kind", required_argument, NULL, 'k'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"clear", no_argument, NULL, 'C'},
                                         CLI_CLIENT_LONG_OPTIONS,
                                         {0}};
    cli_ctx_t c;
    cli_ctx_init(&c, "hydracluster nodes", "nodes");
    nodes_opts_t o = {.limit = 20};
    int ch;
    while ((ch = cli_ctx_getopt(&c, argc, argv, opts)) > 0) {
        switch (ch) {
        case 'r':
            o.role = optarg;
            break;
        case 'd':
            o.district = optarg;
            break;
        case 's':
            if (strcmp(optarg, "online") != 0 && strcmp(optarg, "offline") != 0 && strcmp(optarg, "pending") != 0) {
                fprintf(stderr, "hydracluster nodes: --status is online, offline or pending\n");
                return CLI_EXIT_USAGE;
            }
            o.status = optarg;
            break;
        case 'k':
            o.kind = optarg;
            break;
        case 'l':
            if (cli_parse_long(optarg, 1, 1000, &o.limit) != 0) {
                fprintf(stderr, "hydracluster nodes: --limit is a number from 1 to 1000\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'C':
            o.clear = 1;
            break;
        }
    }
    if (ch < 0)
        return c.exit_code;
    enum { LIST, SHOW, EVENTS, APPROVE, REJECT, DELETE, SET_ROLES };
    static const char *const subs[] = {"list", "show", "events", "approve", "reject", "delete", "set-roles", NULL};
    int sub = cli_ctx_subcommand(&c, argc, argv, subs);
    if (sub < 0)
        return CLI_EXIT_USAGE;
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;
    int each = sub == APPROVE || sub == REJECT || sub == DELETE;
    const char *bad = NULL;
    if (sub == LIST && nargs != 0)
        bad = "list takes no argument (filters are --role, --district, --status)";
    else if ((sub == SHOW || sub == EVENTS) && nargs != 1)
        bad = "give one node id";
    else if (each && nargs < 1)
        bad = "give one or more node ids";
    else if (sub == SET_ROLES && (nargs < 1 || (nargs == 1) != o.clear))
        bad = "give a node id and its roles, or a node id and --clear";
    else if (c.output == CLI_OUT_IDS && sub != LIST)
        bad = "-o ids goes with list";
    else if (sub != LIST && (o.role || o.district || o.status))
        bad = "--role, --district and --status go with list";
    else if (sub != EVENTS && o.kind)
        bad = "--kind goes with events";
    if (bad != NULL)
        return cli_ctx_refuse(&c, subs[sub], bad);
    int rc = cli_ctx_connect(&c);
    if (rc == 0) {
        if (sub == LIST)
            rc = nodes_list(&c, &o);
        else if (sub == SHOW)
            rc = nodes_show(&c, args[0]);
        else if (sub == EVENTS)
            rc = nodes_events(&c, args[0], &o);
        else if (each)
            rc = nodes_each(&c, subs[sub], args, nargs);
        else
            rc = nodes_set_roles(&c, args[0], args + 1, nargs - 1);
    }
    cli_ctx_free(&c);
    return rc;
}
