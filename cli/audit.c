/*
 * `hydracluster audit [--target ID] [--limit N] [--before ID]` (usage:
 * cli/commands.c): GET /api/v1/audit, newest first.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

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
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        int h = cli_ctx_option(&c, ch, optarg);
        if (h < 0)
            return CLI_EXIT_USAGE;
        if (h > 0)
            continue;
        char *end;
        switch (ch) {
        case 't':
            target = optarg;
            break;
        case 'l':
            limit = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || limit < 1 || limit > 1000) {
                fprintf(stderr, "hydracluster audit: --limit is a number from 1 to 1000\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'b':
            before = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || before < 1) {
                fprintf(stderr, "hydracluster audit: --before is an audit id (a number from 1)\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
            cli_usage(stdout, "audit");
            return 0;
        default:
            cli_usage(stderr, "audit");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc || c.output == CLI_OUT_IDS) {
        fprintf(stderr, "hydracluster audit: %s\n",
                optind < argc ? "takes no argument (--target ID filters)" : "-o takes table or json");
        return CLI_EXIT_USAGE;
    }
    int rc = cli_ctx_connect(&c);
    if (rc != 0) {
        cli_ctx_free(&c);
        return rc;
    }
    char path[1200], esc[700] = "";
    if (target != NULL && cli_escape(&c, target, esc, sizeof(esc)) != 0) {
        fprintf(stderr, "hydracluster audit: --target is too long\n");
        cli_ctx_free(&c);
        return CLI_EXIT_USAGE;
    }
    int n = snprintf(path, sizeof(path), "/api/v1/audit?limit=%ld", limit);
    if (before > 0)
        n += snprintf(path + n, sizeof(path) - (size_t)n, "&before=%ld", before);
    if (target != NULL)
        snprintf(path + n, sizeof(path) - (size_t)n, "&target=%s", esc);
    char *raw = NULL;
    json_t *a = NULL;
    rc = cli_call(&c, "GET", path, NULL, 200, "audit", &raw, &a);
    if (rc == 0 && c.output == CLI_OUT_JSON) {
        printf("%s\n", raw ? raw : "[]");
    } else if (rc == 0) {
        static const char *const head[] = {"ID", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL"};
        cli_table_t *t = cli_table_new(6, head);
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e)
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
        cli_table_print(t, stdout, 100);
        cli_table_free(t);
        if (json_array_size(a) == (size_t)limit)
            fprintf(stderr, "(more: --before %lld)\n",
                    (long long)json_integer_value(json_object_get(json_array_get(a, json_array_size(a) - 1), "id")));
    }
    free(raw);
    json_decref(a);
    cli_ctx_free(&c);
    return rc;
}
