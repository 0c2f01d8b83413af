/*
 * `hydracluster enrollments create|list|revoke` (usage: cli/commands.c):
 *   create   POST /api/v1/enrollments; prints the install command for --os
 *   list     GET /api/v1/enrollments (unspent; never the token)
 *   revoke   DELETE /api/v1/enrollments/{id}
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "config.h"

static int enr_create(cli_ctx_t *c, const char *name, const char *os, const char *owner, const char *ttl, int auto_approve)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "name", name, "os", os, "owner", owner ? owner : "");
    if (ttl != NULL) {
        uint64_t ms;
        if (config_parse_duration(ttl, &ms) != 0 || ms < 60000 || ms > 720ULL * 3600 * 1000) {
            fprintf(stderr, "%s: --ttl is a duration from 1m to 720h, such as 24h\n", c->prog);
            json_decref(body);
            return CLI_EXIT_USAGE;
        }
        json_object_set_new(body, "ttl_s", json_integer((json_int_t)(ms / 1000)));
    }
    if (auto_approve)
        json_object_set_new(body, "auto_approve", json_true());
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (s == NULL)
        return CLI_EXIT_SERVER;
    char *raw = NULL;
    json_t *o = NULL;
    int rc = cli_call(c, "POST", "/api/v1/enrollments", s, 201, "enrollment", &raw, &o);
    free(s);
    if (rc == 0) {
        if (c->output == CLI_OUT_JSON) {
            printf("%s\n", raw ? raw : "{}");
        } else {
            json_t *install = json_object_get(o, "install");
            const char *cmd = cli_str(install, strcmp(os, "windows") == 0 ? "windows" : "unix");
            fprintf(stderr, "enrollment %s for %s (%s), valid until %s; run on the machine%s:\n", cli_str(o, "id"),
                    name, os, cli_str(o, "expires_at"), strcmp(os, "windows") == 0 ? " in PowerShell as Administrator" : "");
            /* the command alone on stdout: hydracluster enrollments create … | ssh host sh */
            printf("%s\n", cmd);
        }
    }
    free(raw);
    json_decref(o);
    return rc;
}

static void enrollment_row(cli_table_t *t, json_t *e)
{
    char ago[32];
    const char *row[] = {cli_str(e, "id"),    cli_str(e, "name"),       cli_str(e, "os"),
                         cli_str(e, "owner"), cli_str(e, "created_by"), cli_ago(cli_str(e, "expires_at"), ago, sizeof(ago))};
    cli_table_add(t, row);
}

static int enr_revoke(cli_ctx_t *c, char **ids, int n)
{
    int first = 0;
    for (int i = 0; i < n; i++) {
        cli_object_t o;
        if (cli_object(c, &o, "/api/v1/enrollments/", ids[i], "", "enrollment") != 0)
            return CLI_EXIT_USAGE;
        char *raw = NULL;
        int rc = cli_call(c, "DELETE", o.path, NULL, 200, o.what, &raw, NULL);
        if (rc == 0) {
            if (c->output == CLI_OUT_JSON)
                printf("%s\n", raw ? raw : "{}");
            else
                printf("%s revoked: its install command no longer works\n", ids[i]);
        } else if (first == 0) {
            first = rc;
        }
        free(raw);
    }
    return first;
}

int cli_enrollments_main(int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"os", required_argument, NULL, 'O'},
                                         {"owner", required_argument, NULL, 'w'},
                                         {"ttl", required_argument, NULL, 't'},
                                         {"auto-approve", no_argument, NULL, 'a'},
                                         CLI_CLIENT_LONG_OPTIONS,
                                         {0}};
    cli_ctx_t c;
    cli_ctx_init(&c, "hydracluster enrollments", "enrollments");
    const char *name = NULL, *os = NULL, *owner = NULL, *ttl = NULL;
    int auto_approve = 0, ch;
    while ((ch = cli_ctx_getopt(&c, argc, argv, opts)) > 0) {
        switch (ch) {
        case 'n':
            name = optarg;
            break;
        case 'O':
            os = optarg;
            break;
        case 'w':
            owner = optarg;
            break;
        case 't':
            ttl = optarg;
            break;
        case 'a':
            auto_approve = 1;
            break;
        }
    }
    if (ch < 0)
        return c.exit_code;
    enum { CREATE, LIST, REVOKE };
    static const char *const subs[] = {"create", "list", "revoke", NULL};
    int sub = cli_ctx_subcommand(&c, argc, argv, subs);
    if (sub < 0)
        return CLI_EXIT_USAGE;
    int nargs = argc - optind - 1;
    const char *bad = NULL;
    if (sub == CREATE && (nargs != 0 || name == NULL || os == NULL))
        bad = "create needs --name N and --os windows|linux|macos";
    else if (sub == CREATE && strcmp(os, "windows") != 0 && strcmp(os, "linux") != 0 && strcmp(os, "macos") != 0)
        bad = "--os is windows, linux or macos";
    else if (sub != CREATE && (name || os || owner || ttl || auto_approve))
        bad = "--name, --os, --owner, --ttl and --auto-approve go with create";
    else if (sub == LIST && nargs != 0)
        bad = "list takes no argument";
    else if (sub == REVOKE && nargs < 1)
        bad = "give one or more enrollment ids (enr-…; enrollments list shows them)";
    else if (c.output == CLI_OUT_IDS)
        bad = "-o takes table or json";
    if (bad != NULL)
        return cli_ctx_refuse(&c, subs[sub], bad);
    int rc = cli_ctx_connect(&c);
    if (rc == 0) {
        static const char *const head[] = {"ID", "NAME", "OS", "OWNER", "CREATED BY", "EXPIRES", NULL};
        if (sub == CREATE)
            rc = enr_create(&c, name, os, owner, ttl, auto_approve);
        else if (sub == LIST)
            rc = cli_print_list(&c, "/api/v1/enrollments", "enrollments", head, enrollment_row, NULL);
        else
            rc = enr_revoke(&c, argv + optind + 1, nargs);
    }
    cli_ctx_free(&c);
    return rc;
}
