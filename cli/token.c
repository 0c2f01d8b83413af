/*
 * `hydracluster token …`: credentials of a running server, through its API
 * (libcurl, the admin token), so every change goes through the same checks,
 * commit and audit log as the web UI's:
 *   rotate-fleet             POST /api/v1/fleet-token/rotate
 *   print-qr                 GET  /api/v1/enroll-qr (drawn in the terminal, or --svg FILE)
 *   mint-admin [--label L]   POST /api/v1/admin-tokens
 *   revoke-admin ID          DELETE /api/v1/admin-tokens/ID
 * --server defaults to $HYDRACLUSTER_SERVER, else the config's first listen
 * address; --admin-token to $HYDRACLUSTER_TOKEN, else the config's admin
 * token, else data_dir/admin_token.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "http.h"
#include "fleet_token.h"
#include "qr.h"

typedef struct {
    const char *server;
    const char *token;
} target_t;

/* One request; returns the HTTP status (0 when no answer, with the reason on
 * stderr) and the body in *out (malloc'ed, NUL-terminated). */
static long request(const target_t *t, const char *method, const char *path, const char *json, cli_buf_t *out)
{
    cli_client_t k;
    char err[CURL_ERROR_SIZE + 64] = "";
    if (cli_client_init(&k, t->server, t->token) != 0) {
        fprintf(stderr, "hydracluster token: cannot initialise libcurl\n");
        return 0;
    }
    long status = cli_http_request(&k, method, path, json, 60, out, err, sizeof(err));
    if (status == 0)
        fprintf(stderr, "hydracluster token: %s%s: %s\n", t->server, path, err);
    cli_client_free(&k);
    return status;
}

/* the answer as JSON when it is the expected status; else prints the
 * server's error and returns NULL */
static json_t *expect(long status, long want, const cli_buf_t *b)
{
    if (status == 0)
        return NULL;
    json_t *j = b->data ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    if (status == want && j != NULL)
        return j;
    const char *msg = json_string_value(json_object_get(j, "error"));
    fprintf(stderr, "hydracluster token: the server answered %ld: %s\n", status,
            msg ? msg : (b->data ? b->data : ""));
    json_decref(j);
    return NULL;
}

static void usage(FILE *f)
{
    cli_usage(f, "token"); /* the text is in the command table, cli/commands.c */
}

static int rotate_fleet(const target_t *t, int as_json)
{
    cli_buf_t b = {0};
    json_t *j = expect(request(t, "POST", "/api/v1/fleet-token/rotate", NULL, &b), 200, &b);
    free(b.data);
    if (j == NULL)
        return 1;
    if (as_json) {
        char *s = json_dumps(j, JSON_COMPACT);
        printf("%s\n", s ? s : "");
        free(s);
    } else {
        printf("%s\n", json_string_value(json_object_get(j, "enrollment_token")));
        fprintf(stderr, "the previous fleet token keeps registering iPads until %s\n",
                json_string_value(json_object_get(j, "previous_valid_until")));
    }
    json_decref(j);
    return 0;
}

static int print_qr(const target_t *t, const char *svg_path, int as_json)
{
    cli_buf_t b = {0};
    if (svg_path != NULL) {
        long status = request(t, "GET", "/api/v1/enroll-qr?format=svg", NULL, &b);
        if (status != 200) {
            json_decref(expect(status, 200, &b));
            free(b.data);
            return 1;
        }
        FILE *f = fopen(svg_path, "w");
        int ok = f != NULL && fwrite(b.data, 1, b.len, f) == b.len;
        if (f != NULL && fclose(f) != 0)
            ok = 0;
        free(b.data);
        if (!ok) {
            fprintf(stderr, "hydracluster token: cannot write %s\n", svg_path);
            return 1;
        }
        return 0;
    }
    json_t *j = expect(request(t, "GET", "/api/v1/enroll-qr", NULL, &b), 200, &b);
    free(b.data);
    if (j == NULL)
        return 1;
    char *payload = fleet_qr_payload(json_string_value(json_object_get(j, "server_url")),
                                     json_string_value(json_object_get(j, "enrollment_token")));
    json_decref(j);
    if (payload == NULL) {
        fprintf(stderr, "hydracluster token: the server's answer has no QR payload\n");
        return 1;
    }
    if (!as_json) {
        char *art = qr_text(payload);
        if (art == NULL) {
            fprintf(stderr, "hydracluster token: the QR code could not be drawn\n");
            free(payload);
            return 1;
        }
        fputs(art, stdout);
        free(art);
    }
    printf("%s\n", payload);
    free(payload);
    return 0;
}

static int mint_admin(const target_t *t, const char *label, int as_json)
{
    json_t *req = json_pack("{s:s}", "label", label ? label : "");
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL)
        return 1;
    cli_buf_t b = {0};
    json_t *j = expect(request(t, "POST", "/api/v1/admin-tokens", body, &b), 201, &b);
    free(body);
    free(b.data);
    if (j == NULL)
        return 1;
    if (as_json) {
        char *s = json_dumps(j, JSON_COMPACT);
        printf("%s\n", s ? s : "");
        free(s);
    } else {
        const char *id = json_string_value(json_object_get(j, "id"));
        printf("%s\n", json_string_value(json_object_get(j, "token")));
        fprintf(stderr, "minted admin token %s (shown once); revoke with: hydracluster token revoke-admin %s\n", id,
                id);
    }
    json_decref(j);
    return 0;
}

static int revoke_admin(const target_t *t, const char *id)
{
    char path[256];
    CURL *c = curl_easy_init();
    char *esc = c ? curl_easy_escape(c, id, 0) : NULL;
    if (esc == NULL) {
        if (c != NULL)
            curl_easy_cleanup(c);
        return 1;
    }
    snprintf(path, sizeof(path), "/api/v1/admin-tokens/%s", esc);
    curl_free(esc);
    curl_easy_cleanup(c);
    cli_buf_t b = {0};
    json_t *j = expect(request(t, "DELETE", path, NULL, &b), 200, &b);
    free(b.data);
    if (j == NULL)
        return 1;
    printf("revoked %s\n", id);
    json_decref(j);
    return 0;
}

int cli_token_main(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"admin-token", required_argument, NULL, 't'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"label", required_argument, NULL, 'l'},
                                         {"svg", required_argument, NULL, 'v'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *server = getenv("HYDRACLUSTER_SERVER"), *token = getenv("HYDRACLUSTER_TOKEN");
    const char *config_path = NULL, *label = NULL, *svg = NULL;
    int as_json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 'l':
            label = optarg;
            break;
        case 'v':
            svg = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    const char *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
    int nargs = argc - optind - 1;
    int want_arg = strcmp(cmd, "revoke-admin") == 0;
    if (strcmp(cmd, "rotate-fleet") != 0 && strcmp(cmd, "print-qr") != 0 && strcmp(cmd, "mint-admin") != 0 &&
        !want_arg) {
        fprintf(stderr, "hydracluster token: unknown command \"%s\" (see hydracluster token --help)\n", cmd);
        return 2;
    }
    if (nargs != (want_arg ? 1 : 0)) {
        fprintf(stderr, "hydracluster token %s: %s\n", cmd,
                want_arg ? "takes the admin token id (adm-…)" : "takes no argument");
        return 2;
    }
    if ((label != NULL && strcmp(cmd, "mint-admin") != 0) || (svg != NULL && strcmp(cmd, "print-qr") != 0)) {
        fprintf(stderr, "hydracluster token %s: --label goes with mint-admin, --svg with print-qr\n", cmd);
        return 2;
    }

    /* the same defaults as every client command (cli/client.h): env, then the config */
    char server_buf[600], token_buf[512];
    if (cli_target_defaults("hydracluster token", config_path, &server, &token, server_buf, sizeof(server_buf),
                            token_buf, sizeof(token_buf)) != 0)
        return 1;
    char server_trim[600];
    snprintf(server_trim, sizeof(server_trim), "%s", server);
    size_t n = strlen(server_trim);
    while (n > 0 && server_trim[n - 1] == '/')
        server_trim[--n] = '\0';
    target_t t = {server_trim, token};

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (strcmp(cmd, "rotate-fleet") == 0)
        rc = rotate_fleet(&t, as_json);
    else if (strcmp(cmd, "print-qr") == 0)
        rc = print_qr(&t, svg, as_json);
    else if (strcmp(cmd, "mint-admin") == 0)
        rc = mint_admin(&t, label, as_json);
    else
        rc = revoke_admin(&t, arg);
    curl_global_cleanup();
    explicit_bzero(token_buf, sizeof(token_buf));
    return rc;
}
