/* Subcommands other than serve (cli/<command>.c). Main thread; each returns the process exit code. */
#ifndef HC_CLI_H
#define HC_CLI_H

#include "config.h"

int cli_migrate_main(int argc, char **argv);
int cli_import_main(int argc, char **argv);
/* cli/token.c: `hydracluster token rotate-fleet|print-qr|mint-admin|revoke-admin` against a running server */
int cli_token_main(int argc, char **argv);
/* cli/exec.c: `hydracluster exec` (an HTTP client of a running server) */
int cli_exec_main(int argc, char **argv);
int cli_backup_main(int argc, char **argv);
/* cli/shell.c: `hydracluster shell <node>` (interactive), and `exec --shell`'s one command in a fresh PTY */
int cli_shell_main(int argc, char **argv);
int cli_shell_exec(const char *server, const char *token, const char *node_id, const char *command,
                   uint64_t timeout_ms);

/* serve.c: config for any subcommand (--config, env, home, embedded default); prints errors */
int serve_load_config(const char *explicit_path, hc_config_t *cfg);

#endif
