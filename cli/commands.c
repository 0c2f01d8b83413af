/*
 * THE command table of the binary: one entry per command with its usage
 * text. `hydracluster --help`, `hydracluster help <command>`,
 * `<command> --help`, the shell completion (cli/help.c) and the man page
 * generated at build time (`hydracluster man`) are all printed from it, so
 * they cannot disagree. Options are one per line, "--flag ARG<TAB>what it
 * does"; the completion takes the flags from there.
 */
#include <stdio.h>

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

/* the options every client command (one that talks to a running server) takes */
#define CLIENT_OPTIONS                                                                                                 \
    "--server URL\tthe server; default $HYDRACLUSTER_SERVER, else http://<the config's first listen address>\n"        \
    "--admin-token T\tdefault $HYDRACLUSTER_TOKEN, else the config's server.admin_token, else data_dir/admin_token\n" \
    "--config PATH\tthe config read for those defaults (as for serve)\n"
#define CLIENT_EXIT                                                                                                    \
    "0 done; 2 usage, or input the server refused (400); 251 unexpected server answer; 252 not possible in the "      \
    "current state (409: not pending, role in use, already spent); 253 unknown node, role or enrollment (404); 254 "  \
    "the admin token was refused; 255 the server could not be reached"
#define OUTPUT_OPTION "-o, --output FORMAT\ttable (default: columns within 100 characters) or json (exactly the API's JSON)\n"

const cli_command_t cli_commands[] = {
    {"serve", serve_main, "run the server", "serve [--config PATH]",
     "Runs the server. Without --config it reads $HYDRACLUSTER_CONFIG, then ~/.hydracluster/config.yaml, else the "
     "embedded default (127.0.0.1:8080, data in ./data, an admin token generated on first start).",
     "--config PATH\tthe config file\n", "", ""},
    {"migrate", cli_migrate_main, "apply pending schema migrations and exit", "migrate [--config PATH]",
     "Applies pending schema migrations to the configured data dir and exits (serve also does this at start).",
     "--config PATH\tthe config file\n", "", ""},
    {"backup", cli_backup_main, "consistent copy of the live database, while it serves",
     "backup DEST [--config PATH] [--force]",
     "Writes a consistent copy of the live database to DEST while the server keeps running (SQLite's online backup "
     "from a read snapshot), verified with PRAGMA integrity_check. Run it as the service user. Restore: stop, replace "
     "hydracluster.db, remove -wal/-shm, start.",
     "--config PATH\tthe config file\n--force\treplace an existing DEST\n", "", ""},
    {"import", cli_import_main, "import the previous service's nodes.yaml (server stopped)",
     "import PATH/nodes.yaml [--config PATH] [--dry-run]",
     "Imports the previous service's nodes.yaml into the store of the configured data dir: nodes (tokens are stored "
     "hashed), their head records, the role catalog. Importing the same file again changes nothing. The server must "
     "be stopped (the import holds the data dir lock).",
     "--config PATH\tthe config file\n--dry-run\tdo everything, print the counts, roll back\n", "", ""},
    {"nodes", cli_nodes_main, "list, show, approve, reject, delete nodes; set their roles",
     "nodes list [--role R] [--district D] [--status S] [-o table|json|ids]\n"
     "nodes show ID [-o table|json]\n"
     "nodes events ID [--kind K,K] [--limit N] [-o table|json]\n"
     "nodes approve|reject|delete ID...\n"
     "nodes set-roles ID ROLE... | --clear",
     "Lists the fleet (following the server's pages), shows one node with its recent history (online/offline "
     "transitions, approval, roles, flags delivered, streams), and changes nodes through the API: approve or reject "
     "pending enrollments, delete nodes (their token stops working), replace a node's roles (each from the role "
     "catalog). Several IDs may be given; each is tried, and the exit code is the first failure's. "
     "-o ids prints one node id per line, for pipes: hydracluster nodes list --status pending -o ids | xargs "
     "hydracluster nodes approve",
     "--role R\tonly nodes with this role (list)\n"
     "--district D\tonly nodes in this district (list)\n"
     "--status S\tonline, offline or pending (list)\n"
     "--kind K,K\tonly these event kinds, e.g. online,offline (events)\n"
     "--limit N\tat most N events, 1-1000 (events; default 20)\n"
     "--clear\tremove every role (set-roles)\n" OUTPUT_OPTION CLIENT_OPTIONS,
     "list show events approve reject delete set-roles", CLIENT_EXIT},
    {"enrollments", cli_enrollments_main, "mint, list and revoke one-time enrollment tokens",
     "enrollments create --name N --os windows|linux|macos [--owner O] [--ttl D]\n"
     "enrollments list [-o table|json]\n"
     "enrollments revoke ID...",
     "create mints a one-time enrollment token and prints the install command to paste on the machine (PowerShell "
     "for windows, sh for linux and macos). list shows the unspent, unexpired ones (never the token); revoke makes a "
     "leaked install command stop working at once.",
     "--name N\tthe machine's display name (create)\n"
     "--os OS\twindows, linux or macos (create)\n"
     "--owner O\twho it belongs to (create)\n"
     "--ttl D\thow long the token is valid, 1m to 720h (create; default nodes.enrollment_ttl)\n"
     "--auto-approve\tthe node is approved when it enrolls (create)\n" OUTPUT_OPTION CLIENT_OPTIONS,
     "create list revoke", CLIENT_EXIT},
    {"roles", cli_roles_main, "the role catalog: list, put, delete",
     "roles list [-o table|json]\n"
     "roles put NAME [--description D] [--recipe FILE|-]\n"
     "roles delete NAME [--force]",
     "put creates or replaces a role (the recipe is a JSON object, read from FILE or stdin); delete refuses a role "
     "that nodes still hold unless --force, which also removes it from them.",
     "--description D\tthe role's description (put)\n"
     "--recipe FILE\ta JSON object; - reads stdin (put; default {})\n"
     "--force\tdelete even when nodes hold it (delete)\n" OUTPUT_OPTION CLIENT_OPTIONS,
     "list put delete", CLIENT_EXIT},
    {"audit", cli_audit_main, "the audit trail, newest first", "audit [--target ID] [--limit N] [--before ID] [-o table|json]",
     "Prints the audit trail: who changed what, newest first (every admin mutation is recorded with its change).",
     "--target ID\tonly entries about this node, role, token or enrollment\n"
     "--limit N\tat most N entries, 1-1000 (default 50)\n"
     "--before ID\tentries older than this audit id (paging)\n" OUTPUT_OPTION CLIENT_OPTIONS,
     "", CLIENT_EXIT},
    {"heads", cli_heads_main, "kiosk heads and the bodies they stream from", "heads list [-o table|json]",
     "Lists every head (kiosk or iPad) with its status, online state and assigned body.", OUTPUT_OPTION CLIENT_OPTIONS,
     "list", CLIENT_EXIT},
    {"token", cli_token_main, "admin tokens, the fleet token and the iPad QR, over the API",
     "token rotate-fleet [--json]\n"
     "token print-qr [--svg FILE] [--json]\n"
     "token mint-admin [--label L] [--json]\n"
     "token revoke-admin ID",
     "rotate-fleet mints a new fleet enrollment token (the previous one keeps working for heads.fleet_token_overlap) "
     "and prints it; print-qr draws the iPad enrollment QR in the terminal with its payload, or writes it as SVG; "
     "mint-admin mints an admin token and prints it (shown once); revoke-admin revokes one.",
     "--svg FILE\twrite the QR as SVG (print-qr)\n"
     "--label L\ta label for the new token (mint-admin)\n"
     "--json\tprint the API's JSON\n" CLIENT_OPTIONS,
     "rotate-fleet print-qr mint-admin revoke-admin", ""},
    {"exec", cli_exec_main, "run a command on a node through the exec queue",
     "exec ID \"COMMAND\" [--timeout 60s] [--json]\n"
     "exec ID --file F|- [--timeout 60s] [--json]",
     "Queues the command, waits for the result with the server's long poll (no tight polling) for up to --timeout, "
     "prints its stdout (its stderr to stderr) and exits with its exit code.",
     "--file F\tsend the contents of F (- = stdin) as the command, no shell quoting\n"
     "--timeout D\thow long the command may run and how long to wait (default 60s)\n"
     "--json\tprint the whole result object\n"
     "--shell\tinteractive shell (not available yet: exits 2)\n" CLIENT_OPTIONS,
     "",
     "the command's own; 2 usage; 124 no result within --timeout (under --json it prints {\"id\",\"status\":"
     "\"pending\"}) or the command ran past its timeout on the node; 125 the agent could not run it, or it was "
     "canceled; 251 unexpected server answer; 252 the node is pending or rejected; 253 unknown node; 254 the admin "
     "token was refused; 255 the server could not be reached"},
    {"completion", cli_completion_main, "shell completion script", "completion bash|zsh",
     "Prints a completion script: source <(hydracluster completion bash) in ~/.bashrc, or hydracluster completion zsh "
     "> \"${fpath[1]}/_hydracluster\" for zsh. Node ids are completed from the server (nodes list -o ids).",
     "", "bash zsh", ""},
    {"help", cli_help_main, "the usage of a command", "help [COMMAND]",
     "Prints the usage of COMMAND (the same as COMMAND --help), or the list of commands.", "", "", ""},
    {"routes", routes_main, "print the API route table (docs/api.md)", "routes", "", "", "", ""},
    {"man", cli_man_main, "print the man page (roff)", "man",
     "Prints this manual in roff; the build installs it as hydracluster(1).", "", "", ""},
    {"version", version_main, "print the version", "version", "", "", "", ""},
};

const size_t cli_commands_count = sizeof(cli_commands) / sizeof(cli_commands[0]);
