#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    cli_buf_t *b = ud;
    size_t n = size * nmemb;
    char *p = realloc(b->data, b->len + n + 1);
    if (p == NULL)
        return 0; /* libcurl reports a write error */
    b->data = p;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* keeps the target of Link: <target>; rel="next" (RFC 8288) */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    cli_buf_t *b = ud;
    size_t n = size * nmemb;
    if (n > 5 && strncasecmp(ptr, "link:", 5) == 0) {
        char line[2048];
        snprintf(line, sizeof(line), "%.*s", (int)(n - 5), ptr + 5);
        /* one header may list several links, comma-separated */
        for (char *lt = strchr(line, '<'); lt != NULL; lt = strchr(lt + 1, '<')) {
            char *gt = strchr(lt, '>');
            if (gt == NULL)
                break;
            char *next_lt = strchr(gt, '<');
            char *rel = strstr(gt, "rel=\"next\"");
            if (rel == NULL)
                rel = strstr(gt, "rel=next");
            if (rel != NULL && (next_lt == NULL || rel < next_lt)) {
                snprintf(b->next, sizeof(b->next), "%.*s", (int)(gt - lt - 1), lt + 1);
                break;
            }
        }
    }
    return n;
}

int cli_client_init(cli_client_t *c, const char *server, const char *token)
{
    c->curl = curl_easy_init();
    c->server = server;
    c->token = token;
    return c->curl != NULL ? 0 : -1;
}

void cli_client_free(cli_client_t *c)
{
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

long cli_http_request(cli_client_t *c, const char *method, const char *path, const char *json_body, long timeout_s,
                      cli_buf_t *out, char *err, size_t errlen)
{
    char url[4096], auth[1024];
    snprintf(url, sizeof(url), "%s%s", c->server, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token ? c->token : "");
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Expect:");
    if (json_body != NULL)
        h = curl_slist_append(h, "Content-Type: application/json");
    free(out->data);
    out->data = NULL;
    out->len = 0;
    out->next[0] = '\0';
    char ebuf[CURL_ERROR_SIZE] = "";
    CURL *k = c->curl;
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_HTTPGET, json_body == NULL ? 1L : 0L);
    if (json_body != NULL) {
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, json_body);
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json_body));
    }
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(k, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(k, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(k);
    curl_slist_free_all(h);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
    return status;
}
