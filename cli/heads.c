/*
 * `hydracluster heads list` (usage: cli/commands.c): GET /api/v1/heads.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static void head_row(cli_table_t *t, json_t *h)
{
    char ago[32];
    const char *body = cli_str(h, "assigned_body_name")[0] ? cli_str(h, "assigned_body_name")
                                                            : cli_str(h, "assigned_body_id");
    const char *row[] = {cli_str(h, "id"),       cli_str(h, "name"),  cli_str(h, "status"),
                         cli_str(h, "node_status"), cli_str(h, "district"), cli_str(h, "venue"),
                         body[0] ? body : "-",   cli_ago(json_string_value(json_object_get(h, "last_seen")), ago, sizeof(ago))};
    cli_table_add(t, row);
}

int cli_heads_main(int argc, char **argv)
{
    static const struct option opts[] = {CLI_CLIENT_LONG_OPTIONS, {0}};
    cli_ctx_t c;
    cli_ctx_init(&c, "hydracluster heads", "heads");
    if (cli_ctx_getopt(&c, argc, argv, opts) != 0) /* no options of its own */
        return c.exit_code;
    if (argc - optind != 1 || strcmp(argv[optind], "list") != 0 || c.output == CLI_OUT_IDS) {
        fprintf(stderr, "hydracluster heads: %s\n",
                c.output == CLI_OUT_IDS ? "-o takes table or json" : "the subcommand is list (see --help)");
        return CLI_EXIT_USAGE;
    }
    int rc = cli_ctx_connect(&c);
    static const char *const head[] = {"ID", "NAME", "STATUS", "ONLINE", "DISTRICT", "VENUE", "BODY", "LAST SEEN", NULL};
    if (rc == 0)
        rc = cli_print_list(&c, "/api/v1/heads", "heads", head, head_row, NULL);
    cli_ctx_free(&c);
    return rc;
}
