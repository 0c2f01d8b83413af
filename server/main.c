/* hydracluster: one binary, subcommands (spec/cli-and-config.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "router.h"
#include "serve.h"

extern const char *hc_version;

static int routes_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    router_print_table(stdout);
    return 0;
}

static int version_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("hydracluster %s\n", hc_version);
    return 0;
}

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", serve_main, "run the server"},
    {"migrate", cli_migrate_main, "apply pending schema migrations and exit"},
    {"import", cli_import_main, "import the previous service's nodes.yaml (--dry-run to preview)"},
    {"token", cli_token_main, "mint/revoke admin tokens, rotate the fleet token, print the iPad QR"},
    {"exec", cli_exec_main, "run a command on a node through the exec queue"},
    {"shell", cli_shell_main, "an interactive shell on a node (WebSocket relay to a fresh PTY)"},
    {"backup", cli_backup_main, "write a consistent copy of the live database (backup DEST [--force])"},
    {"routes", routes_main, "print the API route table"},
    {"version", version_main, "print the version"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hydracluster <command> [options]   (hydracluster <command> --help)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return version_main(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "hydracluster: unknown command \"%s\" (see hydracluster --help)\n", argv[1]);
    return 2;
}
