/*
 * Credentials per route (spec/API.md "Credentials"). Tokens are hashed with
 * the server's key and looked up by hash; hash comparisons are constant time.
 * A wrong and a missing token look the same to the client (401). The lookups
 * take and release the registry lock themselves: no lock is held here when
 * router_next runs the handler.
 */
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "auth_throttle.h"
#include "clock.h"
#include "jsonio.h"
#include "log.h"
#include "middleware.h"
#include "registry.h"
#include "secret.h"
#include "serve.h"
#include "str.h"
#include "login_sessions.h"

/* server.metrics_token: read-only, /metrics only (set once before the
 * workers start, read-only afterwards) */
static uint8_t metrics_hash[SECRET_HASH_LEN];
static int metrics_set;

void auth_set_metrics_token(const uint8_t *hash)
{
    metrics_set = hash != NULL;
    if (hash != NULL)
        memcpy(metrics_hash, hash, SECRET_HASH_LEN);
}

h2o_iovec_t auth_bearer_token(const char *v, size_t len)
{
    if (len <= 7 || strncasecmp(v, "Bearer ", 7) != 0)
        return h2o_iovec_init(NULL, 0);
    size_t a = 7;
    while (a < len && v[a] == ' ')
        a++;
    size_t b = len;
    while (b > a && v[b - 1] == ' ')
        b--;
    return h2o_iovec_init(v + a, b - a);
}

/* the request's bearer token, or an empty iovec */
static h2o_iovec_t bearer(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return h2o_iovec_init(NULL, 0);
    return auth_bearer_token(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
}

static void unauthorized(hc_req_t *r, const char *what)
{
    h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
    json_error(r, 401, "unauthorized", "missing or invalid %s credentials", what);
}

static void forbidden(hc_req_t *r, const char *why)
{
    json_error(r, 403, "forbidden", "%s", why);
}

#define AUTH_TOKEN_MAX 256

/*
 * The keyed hash of an admin token, remembered per worker thread. Admin
 * tokens are few and come back with every dashboard refresh, CLI call and
 * script; the keyed BLAKE2b is ~1,900 instructions, most of what auth costs
 * a request. Only the hash function's result is remembered (the server's
 * key does not change while it runs): registry_auth_admin still looks the
 * hash up on every request, so a revoked token is refused at once. Node
 * tokens are not remembered: 100,000 of them, each used once per
 * heartbeat interval, would never hit a small table. Entries are compared
 * in constant time and wiped when replaced.
 */
#define AUTH_MEMO_SLOTS 4

typedef struct {
    size_t len; /* 0: empty */
    char token[AUTH_TOKEN_MAX];
    uint8_t hash[SECRET_HASH_LEN];
} auth_memo_t;

static __thread auth_memo_t auth_memo[AUTH_MEMO_SLOTS];
static __thread unsigned auth_memo_next;

/* the slot holding tok (its hash copied to h), or -1 */
static int auth_memo_find(h2o_iovec_t tok, uint8_t h[SECRET_HASH_LEN])
{
    for (int i = 0; i < AUTH_MEMO_SLOTS; i++) {
        auth_memo_t *m = &auth_memo[i];
        if (m->len == tok.len && sodium_memcmp(m->token, tok.base, tok.len) == 0) {
            memcpy(h, m->hash, SECRET_HASH_LEN);
            return i;
        }
    }
    return -1;
}

static void auth_memo_put(h2o_iovec_t tok, const uint8_t h[SECRET_HASH_LEN])
{
    auth_memo_t *m = &auth_memo[auth_memo_next++ % AUTH_MEMO_SLOTS];
    sodium_memzero(m, sizeof(*m));
    memcpy(m->token, tok.base, tok.len);
    memcpy(m->hash, h, SECRET_HASH_LEN);
    m->len = tok.len;
}

/* identifies the bearer token: sets r->auth; CRED_NONE when unknown */
static void identify(hc_req_t *r, h2o_iovec_t tok, int want_fleet)
{
    if (tok.len == 0 || tok.len > AUTH_TOKEN_MAX)
        return;
    uint8_t h[SECRET_HASH_LEN];
    int slot = auth_memo_find(tok, h);
    if (slot < 0)
        secret_token_hash(tok.base, tok.len, h);
    if (registry_auth_admin(h, r->auth.actor, sizeof(r->auth.actor))) {
        r->auth.cred = CRED_ADMIN;
        if (slot < 0)
            auth_memo_put(tok, h);
        return;
    }
    if (slot >= 0) /* an admin token no longer: forget it */
        sodium_memzero(&auth_memo[slot], sizeof(auth_memo[slot]));
    if (registry_auth_node(h, r->auth.node_id, sizeof(r->auth.node_id))) {
        r->auth.cred = CRED_NODE;
        /* "node:<id>" (no snprintf: every agent request passes here) */
        memcpy(r->auth.actor, "node:", 5);
        str_copy(r->auth.actor + 5, sizeof(r->auth.actor) - 5, r->auth.node_id);
    } else if (want_fleet && registry_auth_fleet(h)) {
        r->auth.cred = CRED_FLEET;
        snprintf(r->auth.actor, sizeof(r->auth.actor), "fleet");
    } else if (metrics_set && sodium_memcmp(h, metrics_hash, SECRET_HASH_LEN) == 0) {
        r->auth.cred = CRED_METRICS;
        snprintf(r->auth.actor, sizeof(r->auth.actor), "metrics");
    }
}

/* A bearer token that matched nothing: counted per client address; past
 * the limit the failure is answered 429 (1 answered, 0 go on to the 401).
 * Only failures get here, after the token was checked: a right token from a
 * throttled address is never refused. */
static int throttled(hc_req_t *r)
{
    const hc_config_t *cfg = serve_config();
    if (cfg == NULL)
        return 0;
    int newly = 0;
    int64_t wait_s = auth_throttle_failed(r->client_ip, clock_mono_ms(), cfg->server.auth_max_failures,
                                          cfg->server.auth_failure_window_ms, &newly);
    if (newly) {
        char q[80];
        log_warn("msg=\"wrong bearer tokens from one address: its failures get 429 until the window passes\" "
                 "client=%s failures=%llu window_s=%llu",
                 log_quote(q, sizeof(q), r->client_ip), (unsigned long long)cfg->server.auth_max_failures,
                 (unsigned long long)(cfg->server.auth_failure_window_ms / 1000));
    }
    if (wait_s <= 0)
        return 0;
    char v[24];
    int n = snprintf(v, sizeof(v), "%lld", (long long)wait_s);
    h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&r->req->pool, v, (size_t)n).base, (size_t)n);
    json_error(r, 429, "rate_limited", "too many wrong tokens from this address: try again in %lld s",
               (long long)wait_s);
    return 1;
}

void mw_auth(hc_req_t *r)
{
    auth_kind_t kind = r->route->auth;
    if (kind == AUTH_NONE || kind == AUTH_ENROLLMENT) {
        router_next(r);
        return;
    }
    if (kind == AUTH_METRICS && serve_config() != NULL && serve_config()->server.metrics_public) {
        router_next(r);
        return;
    }
    h2o_iovec_t tok = bearer(r->req);
    identify(r, tok, kind == AUTH_FLEET);
    if (tok.len > 0 && r->auth.cred == CRED_NONE && throttled(r))
        return;
    if (r->auth.cred == CRED_NONE && tok.len == 0 && kind != AUTH_NODE && kind != AUTH_FLEET) {
        /* a logged-in browser acts as admin (web/ pages); the session check
         * rejects cross-site state changes itself */
        int s = login_session_authenticate(r);
        if (s < 0)
            return; /* answered */
        if (s > 0)
            r->auth.cred = CRED_ADMIN;
    }
    switch (kind) {
    case AUTH_ADMIN:
    case AUTH_METRICS:
        if (r->auth.cred == CRED_ADMIN || (kind == AUTH_METRICS && r->auth.cred == CRED_METRICS))
            break;
        if (r->auth.cred == CRED_NONE)
            unauthorized(r, "admin");
        else if (r->auth.cred == CRED_METRICS)
            forbidden(r, "the metrics token only reads /metrics");
        else
            forbidden(r, "this endpoint needs an admin token");
        return;
    case AUTH_NODE:
        if (r->auth.cred == CRED_NODE)
            break;
        if (r->auth.cred == CRED_NONE)
            unauthorized(r, "node");
        else
            forbidden(r, "this endpoint is for node agents and needs a node token");
        return;
    case AUTH_ADMIN_OR_NODE: {
        if (r->auth.cred == CRED_ADMIN)
            break;
        if (r->auth.cred == CRED_NODE) {
            const char *id = route_param(r, "id");
            if (id != NULL && strcmp(id, r->auth.node_id) == 0)
                break;
            forbidden(r, "a node token may only access its own node");
            return;
        }
        if (r->auth.cred == CRED_NONE)
            unauthorized(r, "admin or node");
        else
            forbidden(r, "this endpoint needs an admin or node token");
        return;
    }
    case AUTH_ADMIN_OR_ANY_NODE:
        if (r->auth.cred == CRED_ADMIN || r->auth.cred == CRED_NODE)
            break;
        if (r->auth.cred == CRED_NONE)
            unauthorized(r, "admin or node");
        else
            forbidden(r, "this endpoint needs an admin or node token");
        return;
    case AUTH_FLEET:
        if (r->auth.cred == CRED_FLEET)
            break;
        if (r->auth.cred == CRED_NONE)
            unauthorized(r, "fleet enrollment");
        else
            forbidden(r, "this endpoint needs the fleet enrollment token");
        return;
    case AUTH_NONE:
    case AUTH_ENROLLMENT:
        break;
    }
    router_next(r);
}
