/*
 * The screenshot and log proxies of a head (admin), through the exec channel:
 *   GET /api/v1/heads/{id}/screenshot   the kiosk's desktop as image/jpeg
 *   GET /api/v1/heads/{id}/logs         {"log_path","lines","truncated"}
 *
 * The handler picks the command for the head's shell (fleet/head_commands.h:
 * POSIX sh on macOS/Linux, PowerShell on Windows; an iPad has none: 409),
 * queues it on the head with exec_queue_submit_internal and parks the
 * request until the result comes or heads.screenshot_timeout /
 * heads.logs_timeout (20 s / 15 s, the spec's numbers) pass: 504 then, and a
 * command the agent had not picked up is canceled. Nothing blocks a worker.
 *
 * Paths: the screenshot file is the head's `screenshot_path` diagnostic when
 * it reports one that head_path_ok accepts, else heads.screenshot_path; the
 * log is its `log_path` diagnostic, else its OS default. The kiosk's own
 * report (PUT /api/v1/heads/{id}) is looked at first, then its heartbeat's.
 * A reported path that is refused (relative, control characters, too long)
 * is logged and not used. Every path is quoted by the command builder.
 *
 * A relayed screenshot is not kept: once answered, the command's stdout (the
 * base64) is replaced in the exec record by a one-line note.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "exec_queue.h"
#include "head_commands.h"
#include "jsonio.h"
#include "log.h"
#include "registry.h"
#include "serve.h"

/* room for the status line and the log path beside the log lines */
#define LOGS_OUTPUT_RESERVE 4096
/* exec output longer than this is not kept once relayed (a failed screenshot, too) */
#define RELAYED_KEEP_MAX (64 * 1024)

typedef enum { PROXY_SCREENSHOT, PROXY_LOGS } proxy_kind_t;

typedef struct {
    proxy_kind_t kind;
    char head_id[NODE_ID_MAX];
    char path[HEAD_PATH_MAX + 1]; /* the screenshot path asked for (logs: "" = the OS default) */
    uint64_t wait_ms;
    uint64_t max_bytes; /* the command's size bound */
} proxy_t;

/* what the registry says about a head, copied out */
typedef struct {
    int found;
    char os[NODE_SHORT_MAX];
    char approval[16];
    char diag[HEAD_PATH_MAX + 2]; /* the reported path; one byte more to notice a longer one */
    int has_diag, diag_too_long;
} head_info_t;

static void diag_copy(head_info_t *h, json_t *diagnostics, const char *key)
{
    const char *v = json_string_value(json_object_get(diagnostics, key));
    if (h->has_diag || v == NULL || v[0] == '\0')
        return;
    h->has_diag = 1;
    h->diag_too_long = strlen(v) > HEAD_PATH_MAX;
    snprintf(h->diag, sizeof(h->diag), "%s", v);
}

static void head_lookup(const char *id, const char *diag_key, head_info_t *h)
{
    memset(h, 0, sizeof(*h));
    if (id == NULL || id[0] == '\0' || strlen(id) >= NODE_ID_MAX)
        return;
    lock_take_shared(&registry_nodes_lock);
    const node_t *n = registry_node_find(id);
    if (n != NULL && n->head != NULL) {
        h->found = 1;
        snprintf(h->os, sizeof(h->os), "%s", n->os);
        snprintf(h->approval, sizeof(h->approval), "%s", n->approval);
        diag_copy(h, n->head->diagnostics, diag_key);
        diag_copy(h, n->diagnostics, diag_key);
    }
    lock_give(&registry_nodes_lock);
}

/* the reported path when usable, else NULL (a refused one is logged) */
static const char *reported_path(const head_info_t *h, head_shell_t shell, const char *id, const char *key)
{
    if (!h->has_diag)
        return NULL;
    if (!h->diag_too_long && head_path_ok(shell, h->diag))
        return h->diag;
    char q[160];
    log_warn("msg=\"a head reported a path that is not used (not absolute, control characters or too long)\" "
             "head=%s key=%s value=%s",
             id, key, log_quote(q, sizeof(q), h->diag));
    return NULL;
}

static const char *what(const proxy_t *p)
{
    return p->kind == PROXY_SCREENSHOT ? "screenshot" : "log";
}

/* a short, printable excerpt of a command's stderr/stdout for an error text */
static const char *excerpt(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; *s && o + 1 < len; s++)
        buf[o++] = (unsigned char)*s < 0x20 ? ' ' : *s;
    buf[o] = '\0';
    while (o > 0 && buf[o - 1] == ' ')
        buf[--o] = '\0';
    return buf;
}

/* answers for every outcome but a command that ran and exited 0; 1 when it answered */
static int answer_exec_outcome(hc_req_t *r, const proxy_t *p, int outcome, const exec_result_t *res)
{
    char ex[240];
    switch (outcome) {
    case EXEC_INTERNAL_ENOENT:
        json_error(r, 404, "not_found", "no head %s (it was deleted)", p->head_id);
        return 1;
    case EXEC_INTERNAL_NOT_APPROVED:
        json_error(r, 409, "not_approved", "head %s is not approved: it is given no commands", p->head_id);
        return 1;
    case EXEC_INTERNAL_ESTORE:
        json_error(r, 500, "store_error", "the %s command could not be queued (database)", what(p));
        return 1;
    case EXEC_INTERNAL_WAIT_ENDED:
        json_error(r, 504, "head_timeout",
                   "head %s did not answer within %llu s through the exec channel (command %s %s)", p->head_id,
                   (unsigned long long)(p->wait_ms / 1000), res->id,
                   res->status == EXEC_RUNNING    ? "picked up by its agent, not finished"
                   : res->status == EXEC_CANCELED ? "canceled: its agent never picked it up"
                                                  : "not picked up by its agent");
        return 1;
    }
    switch (res->status) {
    case EXEC_DONE:
        if (res->has_exit_code && res->exit_code == 0)
            return 0;
        json_error(r, 502, "exec_failed", "the %s command failed on head %s (exit %lld, command %s): %s", what(p),
                   p->head_id, (long long)res->exit_code, res->id,
                   excerpt(res->err[0] ? res->err : res->out, ex, sizeof(ex)));
        return 1;
    case EXEC_FAILED:
        json_error(r, 502, "exec_failed", "the agent of head %s could not run the %s command (command %s): %s",
                   p->head_id, what(p), res->id, excerpt(res->err[0] ? res->err : res->out, ex, sizeof(ex)));
        return 1;
    case EXEC_TIMEOUT:
        json_error(r, 504, "head_timeout", "the %s command ran past its timeout on head %s (command %s)", what(p),
                   p->head_id, res->id);
        return 1;
    default:
        json_error(r, 502, "exec_canceled", "the %s command was canceled before head %s ran it (command %s)", what(p),
                   p->head_id, res->id);
        return 1;
    }
}

static void drop_relayed_output(const exec_result_t *res, const char *note)
{
    char buf[160];
    snprintf(buf, sizeof(buf), "[hydracluster: %zu bytes of output relayed to the requester and not kept; %s]",
             strlen(res->out), note);
    exec_queue_output_replace(res->id, buf);
}

/* ---- GET /api/v1/heads/{id}/screenshot ---- */

static void answer_screenshot(hc_req_t *r, const proxy_t *p, const exec_result_t *res)
{
    unsigned char *jpeg = NULL;
    uint64_t size = 0;
    char err[200] = "";
    head_shot_t st = head_screenshot_parse(res->out, strlen(res->out), &jpeg, &size, err, sizeof(err));
    if (st == HEAD_SHOT_OK)
        drop_relayed_output(res, "the screenshot was sent");
    else if (strlen(res->out) > RELAYED_KEEP_MAX)
        drop_relayed_output(res, "it was not a usable screenshot");
    const hc_config_t *cfg = serve_config();
    switch (st) {
    case HEAD_SHOT_OK: {
        h2o_req_t *req = r->req;
        char *body = h2o_mem_alloc_pool(&req->pool, (size_t)size);
        memcpy(body, jpeg, (size_t)size);
        free(jpeg);
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("image/jpeg"));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                              H2O_STRLIT("nosniff"));
        h2o_send_inline(req, body, (size_t)size);
        return;
    }
    case HEAD_SHOT_MISSING:
        json_error(r, 502, "screenshot_missing", "head %s has no screenshot file at %s (is its screenshot loop running?)",
                   p->head_id, p->path);
        return;
    case HEAD_SHOT_STALE:
        json_error(r, 502, "screenshot_stale",
                   "the screenshot at %s on head %s is older than %llu s (heads.screenshot_max_age): its screenshot "
                   "loop has stopped",
                   p->path, p->head_id, (unsigned long long)((cfg->heads.screenshot_max_age_ms + 999) / 1000));
        return;
    case HEAD_SHOT_TOO_LARGE:
        json_error(r, 502, "screenshot_too_large",
                   "the screenshot on head %s is %llu bytes; at most %llu fit exec.max_output_bytes as base64",
                   p->head_id, (unsigned long long)size, (unsigned long long)p->max_bytes);
        return;
    case HEAD_SHOT_NOT_JPEG:
        json_error(r, 502, "screenshot_not_jpeg", "the screenshot file %s on head %s is not a JPEG image", p->path,
                   p->head_id);
        return;
    case HEAD_SHOT_ENOMEM:
        json_error(r, 500, "internal", "out of memory");
        return;
    case HEAD_SHOT_MALFORMED:
        break;
    }
    json_error(r, 502, "bad_output", "head %s answered the screenshot command with unusable output%s: %s", p->head_id,
               res->truncated ? " (cut at exec.max_output_bytes)" : "", err);
}

/* ---- GET /api/v1/heads/{id}/logs ---- */

static void answer_logs(hc_req_t *r, const proxy_t *p, const exec_result_t *res)
{
    const char *path, *text;
    size_t path_len, text_len;
    int cut;
    head_logs_t st = head_logs_parse(res->out, strlen(res->out), &path, &path_len, &text, &text_len, &cut);
    if (st == HEAD_LOGS_MISSING || st == HEAD_LOGS_UNREADABLE) {
        int missing = st == HEAD_LOGS_MISSING;
        json_error(r, 502, missing ? "log_missing" : "log_unreadable",
                   "head %s has %s log file at %.*s (a head may report its log path as the log_path diagnostic)",
                   p->head_id, missing ? "no" : "an unreadable", (int)path_len, path);
        return;
    }
    if (st != HEAD_LOGS_OK) {
        char ex[240];
        json_error(r, 502, "bad_output", "head %s answered the log command with unusable output: %s", p->head_id,
                   excerpt(res->out, ex, sizeof(ex)));
        return;
    }
    if (res->truncated) {
        /* cut by the server at exec.max_output_bytes: the last line is partial */
        while (text_len > 0 && text[text_len - 1] != '\n')
            text_len--;
        cut = 1;
    }
    json_t *lines = json_array();
    json_t *o = json_pack("{s:s%, s:o, s:b}", "log_path", path, path_len, "lines", lines, "truncated", cut);
    for (size_t i = 0; o != NULL && i < text_len;) {
        const char *nl = memchr(text + i, '\n', text_len - i);
        size_t end = nl ? (size_t)(nl - text) : text_len;
        size_t e = end;
        if (e > i && text[e - 1] == '\r')
            e--;
        json_t *line = json_stringn(text + i, e - i);
        if (line == NULL || json_array_append_new(lines, line) != 0) {
            json_decref(o);
            o = NULL;
        }
        i = end + 1;
    }
    if (o == NULL) {
        json_error(r, 500, "internal", "the log lines could not be encoded");
        return;
    }
    json_respond(r, 200, o);
}

static void on_result(hc_req_t *r, int outcome, const exec_result_t *res, void *data)
{
    proxy_t *p = data;
    if (r == NULL) {
        if (outcome == EXEC_INTERNAL_FINISHED && p->kind == PROXY_SCREENSHOT && strlen(res->out) > RELAYED_KEEP_MAX)
            drop_relayed_output(res, "the requester had gone");
        free(p);
        return;
    }
    if (!answer_exec_outcome(r, p, outcome, res)) {
        if (p->kind == PROXY_SCREENSHOT)
            answer_screenshot(r, p, res);
        else
            answer_logs(r, p, res);
    }
    free(p);
}

static void proxy_start(hc_req_t *r, proxy_kind_t kind)
{
    const hc_config_t *cfg = serve_config();
    if (r->req->method.len == 4 && memcmp(r->req->method.base, "HEAD", 4) == 0) {
        /* the router lets HEAD into GET routes; this one would run a command on the head for nothing */
        h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
        json_error(r, 405, "method_not_allowed", "use GET: each request runs a command on the head");
        return;
    }
    const char *id = route_param(r, "id");
    const char *key = kind == PROXY_SCREENSHOT ? "screenshot_path" : "log_path";
    head_info_t h;
    head_lookup(id, key, &h);
    if (!h.found) {
        json_error(r, 404, "not_found", "no head %s", id ? id : "");
        return;
    }
    head_shell_t shell = head_shell_for_os(h.os);
    if (shell == HEAD_SHELL_NONE) {
        json_error(r, 409, "no_shell",
                   "head %s runs %s: its app has no shell to run commands, so its %s cannot be read through the exec "
                   "channel",
                   id, h.os, kind == PROXY_SCREENSHOT ? "screenshot" : "log");
        return;
    }
    if (strcmp(h.approval, "approved") != 0) {
        json_error(r, 409, "not_approved", "head %s is not approved: it is given no commands", id);
        return;
    }
    proxy_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    p->kind = kind;
    snprintf(p->head_id, sizeof(p->head_id), "%s", id);
    const char *path = reported_path(&h, shell, id, key);
    uint64_t out_max = cfg->exec.max_output_bytes;
    char *cmd;
    if (kind == PROXY_SCREENSHOT) {
        if (path == NULL)
            path = cfg->heads.screenshot_path;
        if (!head_path_ok(shell, path)) {
            free(p);
            json_error(r, 500, "bad_config", "heads.screenshot_path (%s) is not an absolute path for head %s's shell",
                       path, id);
            return;
        }
        /* base64 is 4 bytes per 3, plus a newline per 76 from GNU base64 */
        p->max_bytes = out_max > 128 ? (out_max - 128) / 77 * 76 / 4 * 3 : 0;
        p->wait_ms = cfg->heads.screenshot_timeout_ms;
        cmd = head_screenshot_command(shell, path, (cfg->heads.screenshot_max_age_ms + 999) / 1000, p->max_bytes);
    } else {
        p->max_bytes = out_max > 2 * LOGS_OUTPUT_RESERVE ? out_max - LOGS_OUTPUT_RESERVE : out_max / 2;
        p->wait_ms = cfg->heads.logs_timeout_ms;
        cmd = head_logs_command(shell, h.os, path, p->max_bytes);
    }
    /* every path reaching here passed head_path_ok (<= HEAD_PATH_MAX bytes) */
    size_t path_len = path ? strnlen(path, sizeof(p->path) - 1) : 0;
    memcpy(p->path, path ? path : "", path_len);
    p->path[path_len] = '\0';
    if (cmd == NULL) {
        free(p);
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    int64_t timeout_s = (int64_t)((p->wait_ms + 999) / 1000);
    if (exec_queue_submit_internal(r, id, cmd, timeout_s, r->auth.actor,
                                   kind == PROXY_SCREENSHOT ? "heads.screenshot" : "heads.logs", p->wait_ms, on_result,
                                   p) != 0)
        free(p); /* it answered 500 itself */
    free(cmd);
}

void api_heads_screenshot(hc_req_t *r)
{
    proxy_start(r, PROXY_SCREENSHOT);
}

void api_heads_logs(hc_req_t *r)
{
    proxy_start(r, PROXY_LOGS);
}
