/*
 * `hydracluster heads list` (usage: cli/commands.c): GET /api/v1/heads.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

int cli_heads_main(int argc, char **argv)
{
    static const struct option opts[] = {CLI_CLIENT_LONG_OPTIONS, {0}};
    cli_ctx_t c;
    cli_ctx_init(&c, "hydracluster heads", "heads");
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        int h = cli_ctx_option(&c, ch, optarg);
        if (h < 0)
            return CLI_EXIT_USAGE;
        if (h > 0)
            continue;
        if (ch == 'h') {
            cli_usage(stdout, "heads");
            return 0;
        }
        cli_usage(stderr, "heads");
        return CLI_EXIT_USAGE;
    }
    if (argc - optind != 1 || strcmp(argv[optind], "list") != 0 || c.output == CLI_OUT_IDS) {
        fprintf(stderr, "hydracluster heads: %s\n",
                c.output == CLI_OUT_IDS ? "-o takes table or json" : "the subcommand is list (see --help)");
        return CLI_EXIT_USAGE;
    }
    int rc = cli_ctx_connect(&c);
    char *raw = NULL;
    json_t *a = NULL;
    if (rc == 0)
        rc = cli_call(&c, "GET", "/api/v1/heads", NULL, 200, "heads", &raw, &a);
    if (rc == 0 && c.output == CLI_OUT_JSON) {
        printf("%s\n", raw ? raw : "[]");
    } else if (rc == 0) {
        static const char *const head[] = {"ID", "NAME", "STATUS", "ONLINE", "DISTRICT", "VENUE", "BODY", "LAST SEEN"};
        cli_table_t *t = cli_table_new(8, head);
        size_t i;
        json_t *h;
        json_array_foreach(a, i, h)
        {
            char ago[32];
            const char *body = cli_str(h, "assigned_body_name")[0] ? cli_str(h, "assigned_body_name")
                                                                    : cli_str(h, "assigned_body_id");
            const char *row[] = {cli_str(h, "id"),       cli_str(h, "name"),  cli_str(h, "status"),
                                 cli_str(h, "node_status"), cli_str(h, "district"), cli_str(h, "venue"),
                                 body[0] ? body : "-",   cli_ago(json_string_value(json_object_get(h, "last_seen")), ago, sizeof(ago))};
            cli_table_add(t, row);
        }
        cli_table_print(t, stdout, 100);
        cli_table_free(t);
    }
    free(raw);
    json_decref(a);
    cli_ctx_free(&c);
    return rc;
}
