/*
 * What the client commands (nodes, enrollments, roles, audit, heads, exec)
 * share: the --server / --admin-token / --config / -o options and their
 * defaults, one request with its answer mapped to an exit code, the pages
 * of a list, and columns that fit 100 characters. Main thread.
 *
 * Defaults: --server from $HYDRACLUSTER_SERVER, else http(s)://<the
 * config's first listen address>; --admin-token from $HYDRACLUSTER_TOKEN,
 * else the config's server.admin_token, else data_dir/admin_token. The
 * config is read (as serve reads it) only when one of them is missing.
 */
#ifndef HC_CLI_CLIENT_H
#define HC_CLI_CLIENT_H

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "http.h"

/* exit codes (README, `hydracluster help exec`) */
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_SERVER 251      /* unexpected answer (5xx, not JSON) */
#define CLI_EXIT_CONFLICT 252    /* 409: not possible in the node's (or role's…) current state */
#define CLI_EXIT_NOT_FOUND 253   /* 404 */
#define CLI_EXIT_AUTH 254        /* 401/403 */
#define CLI_EXIT_UNREACHABLE 255 /* no answer */

enum { CLI_OUT_TABLE, CLI_OUT_JSON, CLI_OUT_IDS };

/* long options every client command takes; handled by cli_ctx_getopt */
enum { CLI_OPT_SERVER = 0x1000, CLI_OPT_TOKEN, CLI_OPT_CONFIG };
#define CLI_CLIENT_LONG_OPTIONS                                                                                         \
    {"server", required_argument, NULL, CLI_OPT_SERVER}, {"admin-token", required_argument, NULL, CLI_OPT_TOKEN},       \
        {"config", required_argument, NULL, CLI_OPT_CONFIG}, {"output", required_argument, NULL, 'o'},                 \
        {"help", no_argument, NULL, 'h'}

typedef struct cli_ctx {
    const char *prog; /* "hydracluster nodes", for messages */
    const char *command; /* the table entry, for usage */
    const char *server, *token, *config_path;
    int output; /* CLI_OUT_* */
    char server_buf[2048], token_buf[512];
    cli_client_t http;
    int connected;
    int exit_code; /* set when cli_ctx_getopt returns -1 */
} cli_ctx_t;

/* Sets defaults from the environment; table output; restarts getopt. */
void cli_ctx_init(cli_ctx_t *c, const char *prog, const char *command);

/* ---- the command line (cli/args.c) ---- */

/* The next option of argv (getopt_long over opts, which end with
 * CLI_CLIENT_LONG_OPTIONS): the common ones are taken into c and skipped.
 * Returns a command's own option (its val; optarg set), 0 when the options
 * are over (the operands start at argv[optind]), or -1 when the command is
 * to exit now with c->exit_code: 0 after --help (the usage on stdout), 2
 * after a bad -o (said) or an unknown option (the usage on stderr). */
int cli_ctx_getopt(cli_ctx_t *c, int argc, char **argv, const struct option *opts);
/* The subcommand at argv[optind], as its index in names (NULL-terminated);
 * -1 after the usage on stderr (none given) or "<prog> <word>: unknown
 * subcommand (<names>)". */
int cli_ctx_subcommand(cli_ctx_t *c, int argc, char **argv, const char *const *names);
/* "<prog> <sub>: <why>" on stderr; CLI_EXIT_USAGE */
int cli_ctx_refuse(cli_ctx_t *c, const char *sub, const char *why);
/* s as a whole decimal number from min to max into *out: 0, or -1 */
int cli_parse_long(const char *s, long min, long max, long *out);
/* Fills a missing *server / *token from the config (see above), into the
 * buffers; 0, or an exit code (said on stderr). For exec and token too. */
int cli_target_defaults(const char *prog, const char *config_path, const char **server, const char **token,
                        char *server_buf, size_t server_len, char *token_buf, size_t token_len);
/* Resolves the defaults and readies the HTTP client: 0, or an exit code
 * (said on stderr). */
int cli_ctx_connect(cli_ctx_t *c);
void cli_ctx_free(cli_ctx_t *c);

/* One request. want: the success status (0: any 2xx). On success returns 0 and sets
 * *raw (the body as received, malloc'ed; may be NULL) and *json (parsed;
 * NULL when the body is not JSON), both the caller's. On failure prints
 * "<prog>: <what>: <server's error>" and returns the exit code. what names
 * the object (e.g. "node node-7f3a"). */
int cli_call(cli_ctx_t *c, const char *method, const char *path, const char *body, long want, const char *what,
             char **raw, json_t **json);
/* GET path and every page its Link rel="next" headers lead to, as one
 * array (a new reference in *out); 0 or an exit code. */
int cli_get_all(cli_ctx_t *c, const char *path, const char *what, json_t **out);
/* path escaped for a URL segment into out; 0, or -1 too long */
int cli_escape(cli_ctx_t *c, const char *s, char *out, size_t outlen);
/* One object of the API, named by its id. */
typedef struct cli_object {
    char esc[300];   /* the id escaped for a URL segment */
    char path[1100]; /* prefix esc suffix */
    char what[400];  /* "<noun> <id>", for cli_call */
} cli_object_t;
/* Fills o for id (e.g. "/api/v1/nodes/", id, "/roles", "node"); 0, or -1
 * when the escaped id is too long (no message). */
int cli_object(cli_ctx_t *c, cli_object_t *o, const char *prefix, const char *id, const char *suffix, const char *noun);

/* prints a JSON value compact on one line (-o json) */
void cli_print_json(json_t *v);
/* "3m ago" / "in 2h" / "never" for an RFC 3339 time (NULL or null: never) */
const char *cli_ago(const char *rfc3339, char *buf, size_t len);
/* a string member, "" when absent or not a string */
const char *cli_str(json_t *o, const char *key);
/* an array of strings joined with "," into buf */
const char *cli_join(json_t *a, char *buf, size_t len);

/* A table printed in columns that fit width (cells cut with "…"). */
typedef struct cli_table cli_table_t;
cli_table_t *cli_table_new(size_t ncols, const char *const *headers);
/* ncols cells, copied */
void cli_table_add(cli_table_t *t, const char *const *cells);
void cli_table_print(cli_table_t *t, FILE *f, size_t width);
void cli_table_free(cli_table_t *t);

/* adds the row of one element of a list to t (cli_table_add) */
typedef void (*cli_row_fn)(cli_table_t *t, json_t *item);
/* The array a on stdout as a table within 100 columns: the headers head
 * (NULL-terminated), a row per element from add_row. */
void cli_print_rows(json_t *a, const char *const *head, cli_row_fn add_row);
/* GET path (one page; what as for cli_call) printed: under -o json the
 * answer as received ("[]" for none), else cli_print_rows. 0 or an exit
 * code. list (may be NULL) receives the parsed answer, the caller's. */
int cli_print_list(cli_ctx_t *c, const char *path, const char *what, const char *const *head, cli_row_fn add_row,
                   json_t **list);
/* s in at most width columns, cut with "…" */
void cli_put_cut(FILE *f, const char *s, size_t width);

#endif
