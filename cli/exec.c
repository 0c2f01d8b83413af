/*
 * `hydracluster exec <nodeId> "<command>" [--file F] [--timeout 60s] [--json]
 *                    [--server URL] [--admin-token T]`
 *
 * Runs a command on a node through the exec queue: submits it (POST
 * /api/v1/nodes/{id}/exec), then waits for the result with the result long
 * poll (GET …/result?wait=N, N <= 55, repeated until --timeout), so it never
 * polls in a tight loop. Prints the command's stdout (its stderr to stderr)
 * and exits with its exit code; --json prints the whole result object.
 *
 * Exit codes (docs/api.md "Exec", README):
 *   0..255  the command's exit code (a code outside 0..255 is reduced to its
 *           low byte, or 1 when that is 0)
 *   2       usage error (also --shell, which is not available yet)
 *   124     no result within --timeout ({"id","status":"pending"} under
 *           --json), or the command ran past its timeout on the node
 *   125     the agent could not run the command, or it was canceled
 *   251     the server answered something unexpected (5xx, bad JSON)
 *   252     the node is pending or rejected
 *   253     unknown node
 *   254     the admin token was refused (401/403)
 *   255     the server could not be reached
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "http.h"
#include "config.h"

#define EXIT_USAGE 2
#define EXIT_TIMEOUT 124
#define EXIT_NOT_RUN 125
#define EXIT_SERVER 251
#define EXIT_NOT_APPROVED 252
#define EXIT_UNKNOWN_NODE 253
#define EXIT_AUTH 254
#define EXIT_UNREACHABLE 255

#define COMMAND_MAX (64 * 1024)
#define WAIT_MAX_S 55

typedef struct {
    cli_client_t http;
    int json;
} client_t;

static void usage(FILE *f)
{
    cli_usage(f, "exec"); /* the text is in the command table, cli/commands.c */
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = COMMAND_MAX + 2, n = 0;
    char *buf = malloc(cap);
    if (buf != NULL) {
        size_t got;
        while (n < cap - 1 && (got = fread(buf + n, 1, cap - 1 - n, f)) > 0)
            n += got;
        buf[n] = '\0';
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

/* the server's {"error"} text, or a fallback */
static const char *server_error(json_t *o, const char *fallback)
{
    const char *e = json_string_value(json_object_get(o, "error"));
    return e != NULL ? e : fallback;
}

/* Maps an error answer to one line and an exit code. */
static int fail_http(long status, json_t *o, const char *node_id)
{
    if (status == 401 || status == 403) {
        fprintf(stderr, "hydracluster exec: the server refused the admin token (%ld): %s\n", status,
                server_error(o, "check --admin-token / $HYDRACLUSTER_TOKEN"));
        return EXIT_AUTH;
    }
    if (status == 404) {
        fprintf(stderr, "hydracluster exec: unknown node %s: %s\n", node_id, server_error(o, "not found"));
        return EXIT_UNKNOWN_NODE;
    }
    if (status == 409) {
        fprintf(stderr, "hydracluster exec: node %s does not take commands: %s\n", node_id,
                server_error(o, "not approved"));
        return EXIT_NOT_APPROVED;
    }
    if (status == 400 || status == 413) {
        fprintf(stderr, "hydracluster exec: the server rejected the command (%ld): %s\n", status,
                server_error(o, "bad request"));
        return EXIT_USAGE;
    }
    fprintf(stderr, "hydracluster exec: unexpected answer from the server (%ld): %s\n", status,
            server_error(o, "no details"));
    return EXIT_SERVER;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* prints a finished result; returns the exit code */
static int print_result(client_t *c, json_t *o, const char *raw)
{
    const char *status = json_string_value(json_object_get(o, "status"));
    if (status == NULL)
        status = "";
    if (c->json) {
        fputs(raw, stdout);
        if (raw[0] && raw[strlen(raw) - 1] != '\n')
            fputc('\n', stdout);
    } else {
        const char *out = json_string_value(json_object_get(o, "stdout"));
        const char *err = json_string_value(json_object_get(o, "stderr"));
        if (out != NULL)
            fwrite(out, 1, strlen(out), stdout);
        if (err != NULL)
            fwrite(err, 1, strlen(err), stderr);
        if (json_is_true(json_object_get(o, "truncated")))
            fprintf(stderr, "hydracluster exec: (output truncated by the server: exec.max_output_bytes)\n");
    }
    fflush(stdout);
    if (strcmp(status, "done") == 0) {
        json_t *code = json_object_get(o, "exit_code");
        if (!json_is_integer(code))
            return EXIT_SERVER;
        json_int_t v = json_integer_value(code);
        if (v >= 0 && v <= 255)
            return (int)v;
        return (v & 0xff) ? (int)(v & 0xff) : 1;
    }
    if (strcmp(status, "timeout") == 0) {
        if (!c->json)
            fprintf(stderr, "hydracluster exec: the command ran past its timeout on the node\n");
        return EXIT_TIMEOUT;
    }
    if (!c->json)
        fprintf(stderr, "hydracluster exec: the command was %s\n",
                strcmp(status, "failed") == 0 ? "not run: the agent could not start it" : status);
    return EXIT_NOT_RUN;
}

static int run(client_t *c, const char *node_id, const char *command, uint64_t timeout_ms)
{
    char err[CURL_ERROR_SIZE + 64], path[1024];
    cli_buf_t b = {0};
    int rc = EXIT_SERVER;
    json_t *o = NULL;
    char *esc_node = curl_easy_escape(c->http.curl, node_id, 0);
    int64_t timeout_s = (int64_t)((timeout_ms + 999) / 1000);
    json_t *req = json_pack("{s:s, s:I}", "command", command, "timeout_s", (json_int_t)timeout_s);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (esc_node == NULL || body == NULL) {
        fprintf(stderr, "hydracluster exec: out of memory\n");
        goto done;
    }
    double deadline = mono_s() + (double)timeout_ms / 1000.0;
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec", esc_node);
    long status = cli_http_request(&c->http, "POST", path, body, 30, &b, err, sizeof(err));
    if (status == 0) {
        fprintf(stderr, "hydracluster exec: cannot reach the server at %s: %s\n", c->http.server, err);
        rc = EXIT_UNREACHABLE;
        goto done;
    }
    o = b.data ? json_loads(b.data, 0, NULL) : NULL;
    if (status != 202) {
        rc = fail_http(status, o, node_id);
        goto done;
    }
    const char *id = json_string_value(json_object_get(o, "id"));
    if (id == NULL) {
        fprintf(stderr, "hydracluster exec: the server accepted the command but sent no id\n");
        goto done;
    }
    char exec_id[128];
    snprintf(exec_id, sizeof(exec_id), "%s", id);
    char *esc_id = curl_easy_escape(c->http.curl, exec_id, 0);
    if (esc_id == NULL)
        goto done;
    for (;;) {
        double left = deadline - mono_s();
        long wait = left <= 0 ? 0 : (long)(left + 0.999);
        if (wait > WAIT_MAX_S)
            wait = WAIT_MAX_S;
        snprintf(path, sizeof(path), "/api/v1/nodes/%s/exec/%s/result?wait=%ld", esc_node, esc_id, wait);
        status = cli_http_request(&c->http, "GET", path, NULL, wait + 30, &b, err, sizeof(err));
        if (status == 0) {
            fprintf(stderr, "hydracluster exec: lost the server at %s while waiting for %s: %s\n", c->http.server, exec_id,
                    err);
            rc = EXIT_UNREACHABLE;
            break;
        }
        json_decref(o);
        o = b.data ? json_loads(b.data, 0, NULL) : NULL;
        if (status == 200 && o != NULL) {
            rc = print_result(c, o, b.data);
            break;
        }
        if (status != 202) {
            rc = fail_http(status, o, node_id);
            break;
        }
        if (mono_s() >= deadline) {
            const char *st = json_string_value(json_object_get(o, "status"));
            if (c->json)
                printf("{\"id\":\"%s\",\"status\":\"pending\"}\n", exec_id);
            fprintf(stderr, "hydracluster exec: no result within the timeout (command %s is %s on %s)\n", exec_id,
                    st ? st : "pending", node_id);
            rc = EXIT_TIMEOUT;
            break;
        }
    }
    curl_free(esc_id);
done:
    json_decref(o);
    free(b.data);
    free(body);
    curl_free(esc_node);
    return rc;
}

int cli_exec_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},   {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},         {"shell", no_argument, NULL, 's'},
        {"server", required_argument, NULL, 'S'}, {"admin-token", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},         {"config", required_argument, NULL, 'c'},
        {0},
    };
    const char *file = NULL, *server = getenv("HYDRACLUSTER_SERVER"), *token = getenv("HYDRACLUSTER_TOKEN");
    const char *timeout = "60s", *config_path = NULL;
    int json = 0, shell = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            file = optarg;
            break;
        case 't':
            timeout = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 's':
            shell = 1;
            break;
        case 'S':
            server = optarg;
            break;
        case 'T':
            token = optarg;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (shell) {
        fprintf(stderr, "hydracluster exec: --shell is not available: the server has no interactive shell "
                        "(WebSocket) yet; run commands through the queue instead (without --shell)\n");
        return EXIT_USAGE;
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2 || (file != NULL) == (npos == 2)) {
        fprintf(stderr, "hydracluster exec: give a node id and either a command or --file F (see --help)\n");
        return EXIT_USAGE;
    }
    const char *node_id = argv[optind];
    uint64_t timeout_ms;
    if (config_parse_duration(timeout, &timeout_ms) != 0 || timeout_ms < 1000 || timeout_ms > 24ULL * 3600 * 1000) {
        fprintf(stderr, "hydracluster exec: --timeout must be a duration from 1s to 24h, such as 60s or 5m\n");
        return EXIT_USAGE;
    }
    /* the same defaults as every client command: the environment, then the config */
    char server_buf[600], token_buf[512];
    int trc = cli_target_defaults("hydracluster exec", config_path, &server, &token, server_buf, sizeof(server_buf),
                                  token_buf, sizeof(token_buf));
    if (trc != 0)
        return trc;
    char *command = NULL;
    if (file != NULL) {
        size_t len = 0;
        command = read_file(file, &len);
        if (command == NULL) {
            fprintf(stderr, "hydracluster exec: cannot read %s\n", file);
            return EXIT_USAGE;
        }
        if (len > COMMAND_MAX || strlen(command) != len) {
            fprintf(stderr, "hydracluster exec: %s is %s; a command is at most %d bytes of text\n", file,
                    len > COMMAND_MAX ? "too large" : "binary (it contains NUL bytes)", COMMAND_MAX);
            free(command);
            return EXIT_USAGE;
        }
    } else {
        command = strdup(argv[optind + 1]);
    }
    if (command == NULL || command[0] == '\0') {
        fprintf(stderr, "hydracluster exec: the command is empty\n");
        free(command);
        return EXIT_USAGE;
    }
    char srv[2048];
    snprintf(srv, sizeof(srv), "%s", server);
    size_t sl = strlen(srv);
    while (sl > 0 && srv[sl - 1] == '/')
        srv[--sl] = '\0';

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(command);
        fprintf(stderr, "hydracluster exec: cannot initialise libcurl\n");
        return EXIT_SERVER;
    }
    client_t c = {.json = json};
    int rc = EXIT_SERVER;
    if (cli_client_init(&c.http, srv, token) != 0)
        fprintf(stderr, "hydracluster exec: cannot initialise libcurl\n");
    else
        rc = run(&c, node_id, command, timeout_ms);
    cli_client_free(&c.http);
    curl_global_cleanup();
    free(command);
    explicit_bzero(token_buf, sizeof(token_buf));
    return rc;
}
