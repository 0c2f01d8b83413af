/* Subcommands other than serve (cli/<command>.c). Main thread; each returns the process exit code. */
#ifndef HC_CLI_H
#define HC_CLI_H

#include <stdio.h>

#include "config.h"

int cli_migrate_main(int argc, char **argv);
int cli_import_main(int argc, char **argv);
/* cli/token.c: `hydracluster token rotate-fleet|print-qr|mint-admin|revoke-admin` against a running server */
int cli_token_main(int argc, char **argv);
/* cli/exec.c: `hydracluster exec` (an HTTP client of a running server) */
int cli_exec_main(int argc, char **argv);
int cli_backup_main(int argc, char **argv);
/* The options of backup and import, which work on the data dir itself:
 * --config PATH (-c) into *config_path, the flag --<flag> (-<flag_ch>)
 * setting *flag_set, --help (-h). -1 to go on (the operands start at
 * argv[optind]), else the exit code: 0 after --help, 2 after a bad option
 * (the usage on stderr). cli/args.c */
int cli_local_options(int argc, char **argv, const char *command, const char *flag, int flag_ch,
                      const char **config_path, int *flag_set);
/* cli/shell.c: `hydracluster shell <node>` (interactive), and `exec --shell`'s one command in a fresh PTY */
int cli_shell_main(int argc, char **argv);
int cli_shell_exec(const char *server, const char *token, const char *node_id, const char *command,
                   uint64_t timeout_ms);

/* ---- the command table (cli/commands.c) and what is printed from it (cli/help.c) ---- */
typedef struct cli_command {
    const char *name;
    int (*main)(int argc, char **argv); /* argv[0] is the command's name */
    const char *summary;     /* one line for the command list */
    const char *synopsis;    /* usage lines without "hydracluster ", '\n'-separated */
    const char *description; /* one paragraph ("" none) */
    const char *options;     /* "--flag ARG\twhat it does\n" per option ("" none) */
    const char *subcommands; /* space-separated words the completion offers after the command */
    const char *exit_codes;  /* "" for the plain 0 / non-zero */
} cli_command_t;
extern const cli_command_t cli_commands[];
extern const size_t cli_commands_count;
/* NULL when unknown */
const cli_command_t *cli_command_find(const char *name);
/* the command's usage (synopsis, description, options) */
void cli_usage(FILE *f, const char *name);
/* the global usage: every command with its summary */
void cli_usage_all(FILE *f);
int cli_help_main(int argc, char **argv);
int cli_completion_main(int argc, char **argv);
int cli_man_main(int argc, char **argv);

/* client commands of a running server, one file per family */
int cli_nodes_main(int argc, char **argv);       /* cli/nodes.c */
int cli_enrollments_main(int argc, char **argv); /* cli/enrollments.c */
int cli_roles_main(int argc, char **argv);       /* cli/roles.c */
int cli_audit_main(int argc, char **argv);       /* cli/audit.c */
int cli_heads_main(int argc, char **argv);       /* cli/heads.c */

/* serve.c: config for any subcommand (--config, env, home, embedded default); prints errors */
int serve_load_config(const char *explicit_path, hc_config_t *cfg);

#endif
