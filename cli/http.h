/*
 * The HTTP client of the CLI subcommands that talk to a running server
 * (exec, token): libcurl, the admin bearer token, JSON bodies. Main thread.
 */
#ifndef HC_CLI_HTTP_H
#define HC_CLI_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

typedef struct cli_buf {
    char *data; /* malloc'ed, NUL-terminated; NULL when empty */
    size_t len;
    char next[1024]; /* the target of a Link: <…>; rel="next" header, "" when none */
} cli_buf_t;

typedef struct cli_client {
    CURL *curl; /* one handle: its connection is kept alive between requests */
    const char *server;
    const char *token;
} cli_client_t;

/* 0, or -1 when libcurl cannot be initialised. */
int cli_client_init(cli_client_t *c, const char *server, const char *token);
void cli_client_free(cli_client_t *c);

/* One request to server + path (json_body NULL = none). Returns the HTTP
 * status, or 0 when no answer came (the reason in err). out is replaced. */
long cli_http_request(cli_client_t *c, const char *method, const char *path, const char *json_body, long timeout_s,
                      cli_buf_t *out, char *err, size_t errlen);

#endif
