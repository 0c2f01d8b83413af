/*
 * The command line the commands share: the client commands' common options
 * and subcommand word, numbers in options, and the options of the commands
 * that work on the data dir itself. The usage texts are in cli/commands.c.
 * Main thread (getopt's state is global).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

/* a common option: 1 taken, 0 not a common one, -1 a bad value (said) */
static int ctx_option(cli_ctx_t *c, int ch, const char *arg)
{
    switch (ch) {
    case CLI_OPT_SERVER:
        c->server = arg;
        return 1;
    case CLI_OPT_TOKEN:
        c->token = arg;
        return 1;
    case CLI_OPT_CONFIG:
        c->config_path = arg;
        return 1;
    case 'o':
        if (strcmp(arg, "table") == 0)
            c->output = CLI_OUT_TABLE;
        else if (strcmp(arg, "json") == 0)
            c->output = CLI_OUT_JSON;
        else if (strcmp(arg, "ids") == 0)
            c->output = CLI_OUT_IDS;
        else {
            fprintf(stderr, "%s: -o takes table or json, not \"%s\"\n", c->prog, arg);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

int cli_ctx_getopt(cli_ctx_t *c, int argc, char **argv, const struct option *opts)
{
    int ch;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        int taken = ctx_option(c, ch, optarg);
        if (taken > 0)
            continue;
        if (taken < 0) {
            c->exit_code = CLI_EXIT_USAGE;
            return -1;
        }
        if (ch == 'h') {
            cli_usage(stdout, c->command);
            c->exit_code = 0;
            return -1;
        }
        if (ch == '?' || ch == ':') { /* getopt said which */
            cli_usage(stderr, c->command);
            c->exit_code = CLI_EXIT_USAGE;
            return -1;
        }
        return ch;
    }
    return 0;
}

int cli_ctx_subcommand(cli_ctx_t *c, int argc, char **argv, const char *const *names)
{
    if (optind >= argc) {
        cli_usage(stderr, c->command);
        return -1;
    }
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(argv[optind], names[i]) == 0)
            return i;
    fprintf(stderr, "%s %s: unknown subcommand (", c->prog, argv[optind]);
    for (int i = 0; names[i] != NULL; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", names[i]);
    fputs(")\n", stderr);
    return -1;
}

int cli_ctx_refuse(cli_ctx_t *c, const char *sub, const char *why)
{
    fprintf(stderr, "%s %s: %s\n", c->prog, sub, why);
    return CLI_EXIT_USAGE;
}

int cli_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_local_options(int argc, char **argv, const char *command, const char *flag, int flag_ch,
                      const char **config_path, int *flag_set)
{
    const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                  {flag, no_argument, NULL, flag_ch},
                                  {"help", no_argument, NULL, 'h'},
                                  {0}};
    char shorts[8];
    snprintf(shorts, sizeof(shorts), "c:%ch", flag_ch);
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        if (ch == 'c') {
            *config_path = optarg;
        } else if (ch == flag_ch) {
            *flag_set = 1;
        } else if (ch == 'h') {
            cli_usage(stdout, command);
            return 0;
        } else {
            cli_usage(stderr, command);
            return CLI_EXIT_USAGE;
        }
    }
    return -1;
}
