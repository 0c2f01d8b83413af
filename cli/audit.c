/*
 * `hydracluster audit [--target ID] [--limit N] [--before ID]` (usage:
 * cli/commands.c): GET /api/v1/audit, newest first.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static void audit_row(cli_table_t *t, json_t *e)
{
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(e, "id")));
    char *d = json_dumps(json_object_get(e, "detail"), JSON_COMPACT);
    const char *row[] = {id,
                         cli_str(e, "at"),
                         cli_str(e, "actor"),
                         cli_str(e, "action"),
                         cli_str(e, "target"),
                         d && strcmp(d, "{}") != 0 ? d : ""};
    cli_table_add(t, row);
    free(d);
}

int cli_audit_main(int argc, char **argv)
{
    static const struct option opts[] = {{"target", required_argument, NULL, 't'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"before", required_argument, NULL, 'b'},
                                         CLI_CLIENT_LONG_OPTIONS,
                                         {0}};
    cli_ctx_t c;
    cli_ctx_init(&c, "hydracluster audit", "audit");
    const char *target = NULL;
    long limit = 50, before = 0;
    int ch;
    while ((ch = cli_ctx_getopt(&c, argc, argv, opts)) > 0) {
        if (ch == 't') {
            target = optarg;
        } else if (ch == 'l' && cli_parse_long(optarg, 1, 1000, &limit) != 0) {
            fprintf(stderr, "hydracluster audit: --limit is a number from 1 to 1000\n");
            return CLI_EXIT_USAGE;
        } else if (ch == 'b' && cli_parse_long(optarg, 1, LONG_MAX, &before) != 0) {
            fprintf(stderr, "hydracluster audit: --before is an audit id (a number from 1)\n");
            return CLI_EXIT_USAGE;
        }
    }
    if (ch < 0)
        return c.exit_code;
    if (optind < argc || c.output == CLI_OUT_IDS) {
        fprintf(stderr, "hydracluster audit: %s\n",
                optind < argc ? "takes no argument (--target ID filters)" : "-o takes table or json");
        return CLI_EXIT_USAGE;
    }
    int rc = cli_ctx_connect(&c);
    char path[1200], esc[700] = "";
    if (rc == 0 && target != NULL && cli_escape(&c, target, esc, sizeof(esc)) != 0) {
        fprintf(stderr, "hydracluster audit: --target is too long\n");
        rc = CLI_EXIT_USAGE;
    }
    json_t *a = NULL;
    if (rc == 0) {
        int n = snprintf(path, sizeof(path), "/api/v1/audit?limit=%ld", limit);
        if (before > 0)
            n += snprintf(path + n, sizeof(path) - (size_t)n, "&before=%ld", before);
        if (target != NULL)
            snprintf(path + n, sizeof(path) - (size_t)n, "&target=%s", esc);
        static const char *const head[] = {"ID", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL", NULL};
        rc = cli_print_list(&c, path, "audit", head, audit_row, &a);
    }
    if (rc == 0 && c.output != CLI_OUT_JSON && json_array_size(a) == (size_t)limit)
        fprintf(stderr, "(more: --before %lld)\n",
                (long long)json_integer_value(json_object_get(json_array_get(a, json_array_size(a) - 1), "id")));
    json_decref(a);
    cli_ctx_free(&c);
    return rc;
}
