/* hydracluster: one binary, subcommands. The commands and their usage text
 * are one table (cli/commands.c); this only dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* "-h" or "--help" among the arguments (before a "--") */
static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_usage_all(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cli_usage_all(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        argv[1] = "version";
    const cli_command_t *c = cli_command_find(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "hydracluster: unknown command \"%s\" (see hydracluster --help)\n", argv[1]);
        return 2;
    }
    if (wants_help(argc - 1, argv + 1)) {
        cli_usage(stdout, c->name);
        return 0;
    }
    return c->main(argc - 1, argv + 1);
}
