/*
 * Web UI login (web/login_sessions.h):
 *   POST   /api/v1/session  {"token":"<admin token>"} -> session cookie
 *   GET    /api/v1/session  whether this browser is logged in (open; 200 either way)
 *   DELETE /api/v1/session  log out (clears the cookie; open, so an expired
 *                           session can still clear its cookie)
 *
 * Wrong tokens are counted per client address; after LOGIN_MAX_FAILURES in
 * LOGIN_WINDOW_S the address gets 429 with Retry-After, even for a right
 * token, until the window has passed. Nothing waits on the worker.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "jsonio.h"
#include "log.h"
#include "registry.h"
#include "secret.h"
#include "login_sessions.h"

/* login and logout are not authenticated by the cookie, so the Origin check
 * of login_session_authenticate does not run for them: refuse a foreign Origin
 * here (a missing one is a script or curl, which SameSite does not concern) */
static int refuse_cross_site(hc_req_t *r)
{
    if (login_session_origin_check(r) < 0) {
        json_error(r, 403, "forbidden", "cross-site request refused: the Origin header does not name this server");
        return 1;
    }
    return 0;
}

void api_login_session_create(hc_req_t *r)
{
    static const char *const allowed[] = {"token", NULL};
    char err[256], ip[sizeof(r->client_ip) + 8];
    if (refuse_cross_site(r))
        return;
    log_quote(ip, sizeof(ip), r->client_ip);
    int64_t wait_s = login_throttle_retry_after(r->client_ip);
    if (wait_s > 0) {
        char ra[24];
        int n = snprintf(ra, sizeof(ra), "%lld", (long long)wait_s);
        h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       h2o_strdup(&r->req->pool, ra, (size_t)n).base, (size_t)n);
        json_error(r, 429, "rate_limited", "too many failed logins from this address: try again in %lld s",
                   (long long)wait_s);
        return;
    }
    const char *token = NULL;
    if (json_check_keys(r->body, allowed, err, sizeof(err)) != 0 ||
        json_get_str(r->body, "token", 256, &token, err, sizeof(err)) < 0) {
        json_error(r, 400, "bad_request", "%s", err);
        return;
    }
    if (token == NULL || token[0] == '\0') {
        json_error(r, 400, "bad_request", "\"token\" is required: an admin token");
        return;
    }
    uint8_t h[SECRET_HASH_LEN];
    char actor[80];
    secret_token_hash(token, strlen(token), h);
    if (!registry_auth_admin(h, actor, sizeof(actor))) {
        login_throttle_failed(r->client_ip);
        log_warn("msg=\"web login failed\" client=%s rid=%s", ip, r->request_id);
        json_error(r, 401, "unauthorized",
                   "that is not a valid admin token (server.admin_token in config.yaml, the data dir's admin_token "
                   "file, or one minted with POST /api/v1/admin-tokens)");
        return;
    }
    char cookie[SECRET_TOKEN_HEX + 1], exp_s[32];
    int64_t expires_at;
    if (login_session_create(h, cookie, &expires_at) != 0) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    login_throttle_succeeded(r->client_ip);
    login_session_set_cookie(r, cookie, expires_at - clock_now());
    memset(cookie, 0, sizeof(cookie));
    log_info("msg=\"web login\" actor=%s client=%s rid=%s", actor, ip, r->request_id);
    json_respond(r, 200, json_pack("{s:s, s:s, s:s}", "status", "ok", "actor", actor, "expires_at",
                                   clock_rfc3339(expires_at, exp_s, sizeof(exp_s))));
}

void api_login_session_get(hc_req_t *r)
{
    /* open, and 200 either way: the pages ask it to decide what to show,
     * and an anonymous visitor is not an error */
    if (login_session_authenticate(r) <= 0) {
        json_respond(r, 200, json_pack("{s:b}", "authenticated", 0));
        return;
    }
    char buf[32];
    int64_t exp = login_session_expiry(r);
    json_t *o = json_pack("{s:b, s:s, s:s}", "authenticated", 1, "actor", r->auth.actor + 8, "via", "session");
    if (o == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    if (exp > 0)
        json_object_set_new(o, "expires_at", json_string(clock_rfc3339(exp, buf, sizeof(buf))));
    json_respond(r, 200, o);
}

void api_login_session_delete(hc_req_t *r)
{
    if (refuse_cross_site(r))
        return;
    int had = login_session_destroy(r);
    login_session_set_cookie(r, NULL, 0);
    if (had) {
        char ip[sizeof(r->client_ip) + 8];
        log_info("msg=\"web logout\" client=%s rid=%s", log_quote(ip, sizeof(ip), r->client_ip), r->request_id);
    }
    json_respond(r, 200, json_pack("{s:s}", "status", had ? "logged_out" : "no_session"));
}
