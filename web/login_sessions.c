#include "login_sessions.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "jsonio.h"
#include "lock.h"
#include "middleware.h"
#include "registry.h"
#include "serve.h"

typedef struct session {
    uint8_t id_hash[SECRET_HASH_LEN];    /* keyed hash of the cookie value */
    uint8_t admin_hash[SECRET_HASH_LEN]; /* the admin token it was opened with */
    int64_t expires_at;
    struct session *next;
} login_session_t;

#define SESSION_BUCKETS 1024
#define LOGIN_SLOTS 256

typedef struct {
    char ip[64];
    uint64_t first_ms; /* start of the current window */
    unsigned failures;
} login_slot_t;

static hc_lock_t sessions_lock;
static login_session_t *buckets[SESSION_BUCKETS];
static size_t nsessions;
static login_slot_t login_slots[LOGIN_SLOTS];
static int ready;

int login_session_init(void)
{
    lock_init(&sessions_lock, "sessions", LOCK_RANK_LOGIN_SESSIONS);
    ready = 1;
    return 0;
}

void login_session_free(void)
{
    if (!ready)
        return;
    for (size_t b = 0; b < SESSION_BUCKETS; b++) {
        for (login_session_t *s = buckets[b], *next; s != NULL; s = next) {
            next = s->next;
            free(s);
        }
        buckets[b] = NULL;
    }
    nsessions = 0;
    lock_destroy(&sessions_lock);
    ready = 0;
}

/* the hash is keyed, so its first bytes are uniform */
static size_t bucket_of(const uint8_t h[SECRET_HASH_LEN])
{
    uint32_t v;
    memcpy(&v, h, sizeof(v));
    return v % SESSION_BUCKETS;
}

/* caller holds sessions_lock */
static login_session_t **find_slot(const uint8_t h[SECRET_HASH_LEN])
{
    login_session_t **pp = &buckets[bucket_of(h)];
    for (; *pp != NULL; pp = &(*pp)->next)
        if (secret_hash_equal((*pp)->id_hash, h))
            return pp;
    return NULL;
}

/* caller holds sessions_lock */
static void unlink_free(login_session_t **pp)
{
    login_session_t *s = *pp;
    *pp = s->next;
    free(s);
    nsessions--;
}

/* caller holds sessions_lock: drops the session closest to expiry */
static void evict_one(void)
{
    login_session_t **victim = NULL;
    for (size_t b = 0; b < SESSION_BUCKETS; b++)
        for (login_session_t **pp = &buckets[b]; *pp != NULL; pp = &(*pp)->next)
            if (victim == NULL || (*pp)->expires_at < (*victim)->expires_at)
                victim = pp;
    if (victim != NULL)
        unlink_free(victim);
}

int login_session_create(const uint8_t admin_hash[SECRET_HASH_LEN], char cookie[SECRET_TOKEN_HEX + 1], int64_t *expires_at)
{
    login_session_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    secret_token_new(cookie);
    secret_token_hash(cookie, SECRET_TOKEN_HEX, s->id_hash);
    memcpy(s->admin_hash, admin_hash, SECRET_HASH_LEN);
    s->expires_at = clock_now() + SESSION_TTL_S;
    *expires_at = s->expires_at;
    lock_take(&sessions_lock);
    if (nsessions >= SESSION_MAX)
        evict_one();
    size_t b = bucket_of(s->id_hash);
    s->next = buckets[b];
    buckets[b] = s;
    nsessions++;
    lock_give(&sessions_lock);
    return 0;
}

/* The session cookie's value when it is well formed (64 lowercase hex). A
 * request may carry several Cookie headers (HTTP/2) and several cookies in
 * each; the first hc_session wins. */
static int cookie_value(h2o_req_t *req, char out[SECRET_TOKEN_HEX + 1])
{
    static const char name[] = SESSION_COOKIE "=";
    const size_t nlen = sizeof(name) - 1;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) >= 0;) {
        h2o_iovec_t v = req->headers.entries[i].value;
        size_t pos = 0;
        while (pos < v.len) {
            while (pos < v.len && (v.base[pos] == ' ' || v.base[pos] == ';'))
                pos++;
            size_t end = pos;
            while (end < v.len && v.base[end] != ';')
                end++;
            if (end - pos == nlen + SECRET_TOKEN_HEX && memcmp(v.base + pos, name, nlen) == 0) {
                const char *val = v.base + pos + nlen;
                size_t k = 0;
                for (; k < SECRET_TOKEN_HEX; k++)
                    if (!((val[k] >= '0' && val[k] <= '9') || (val[k] >= 'a' && val[k] <= 'f')))
                        break;
                if (k == SECRET_TOKEN_HEX) {
                    memcpy(out, val, SECRET_TOKEN_HEX);
                    out[SECRET_TOKEN_HEX] = '\0';
                    return 1;
                }
            }
            pos = end;
        }
    }
    return 0;
}

/* Looks the request's session up: 1 and its admin hash and expiry copied
 * out, 0 when there is none (an expired one is removed). */
static int lookup(hc_req_t *r, uint8_t admin_hash[SECRET_HASH_LEN], int64_t *expires_at)
{
    char cookie[SECRET_TOKEN_HEX + 1];
    if (!ready || !cookie_value(r->req, cookie))
        return 0;
    uint8_t h[SECRET_HASH_LEN];
    secret_token_hash(cookie, SECRET_TOKEN_HEX, h);
    int64_t now = clock_now();
    int found = 0;
    lock_take(&sessions_lock);
    login_session_t **pp = find_slot(h);
    if (pp != NULL) {
        if ((*pp)->expires_at <= now) {
            unlink_free(pp);
        } else {
            memcpy(admin_hash, (*pp)->admin_hash, SECRET_HASH_LEN);
            *expires_at = (*pp)->expires_at;
            found = 1;
        }
    }
    lock_give(&sessions_lock);
    return found;
}

static int remove_by_cookie(hc_req_t *r)
{
    char cookie[SECRET_TOKEN_HEX + 1];
    if (!ready || !cookie_value(r->req, cookie))
        return 0;
    uint8_t h[SECRET_HASH_LEN];
    secret_token_hash(cookie, SECRET_TOKEN_HEX, h);
    lock_take(&sessions_lock);
    login_session_t **pp = find_slot(h);
    if (pp != NULL)
        unlink_free(pp);
    lock_give(&sessions_lock);
    return pp != NULL;
}

int login_session_destroy(hc_req_t *r)
{
    return remove_by_cookie(r);
}

int64_t login_session_expiry(hc_req_t *r)
{
    uint8_t ah[SECRET_HASH_LEN];
    int64_t exp = 0;
    return lookup(r, ah, &exp) ? exp : 0;
}

size_t login_session_count(void)
{
    lock_take(&sessions_lock);
    size_t n = nsessions;
    lock_give(&sessions_lock);
    return n;
}

void login_session_prune(void *arg)
{
    (void)arg;
    int64_t now = clock_now();
    uint64_t mono = clock_mono_ms();
    lock_take(&sessions_lock);
    for (size_t b = 0; b < SESSION_BUCKETS; b++) {
        login_session_t **pp = &buckets[b];
        while (*pp != NULL) {
            if ((*pp)->expires_at <= now)
                unlink_free(pp);
            else
                pp = &(*pp)->next;
        }
    }
    for (size_t i = 0; i < LOGIN_SLOTS; i++)
        if (login_slots[i].ip[0] != '\0' && mono - login_slots[i].first_ms >= LOGIN_WINDOW_S * 1000ULL)
            memset(&login_slots[i], 0, sizeof(login_slots[i]));
    lock_give(&sessions_lock);
}

static int is_state_changing(h2o_req_t *req)
{
    return !(h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
             h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")) ||
             h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")));
}

int login_session_authenticate(hc_req_t *r)
{
    uint8_t admin_hash[SECRET_HASH_LEN];
    int64_t exp;
    if (!lookup(r, admin_hash, &exp))
        return 0;
    char actor[sizeof(r->auth.actor) - 8]; /* room for the "session:" prefix */
    /* the admin token may have been revoked since the login */
    if (!registry_auth_admin(admin_hash, actor, sizeof(actor))) {
        remove_by_cookie(r);
        return 0;
    }
    if (is_state_changing(r->req)) {
        int o = login_session_origin_check(r);
        if (o <= 0) {
            json_error(r, 403, "forbidden",
                       o == 0 ? "a state-changing request with a session cookie needs an Origin header (use a browser, "
                                "or send an Authorization: Bearer token instead of the cookie)"
                              : "cross-site request refused: the Origin header does not name this server");
            return -1;
        }
    }
    snprintf(r->auth.actor, sizeof(r->auth.actor), "session:%s", actor);
    return 1;
}

/* ---- login throttling ---- */

/* caller holds sessions_lock: the slot of ip (create: take the stalest) */
static login_slot_t *login_slot(const char *ip, int create)
{
    login_slot_t *oldest = &login_slots[0];
    for (size_t i = 0; i < LOGIN_SLOTS; i++) {
        if (login_slots[i].ip[0] != '\0' && strcmp(login_slots[i].ip, ip) == 0)
            return &login_slots[i];
        if (login_slots[i].ip[0] == '\0' || login_slots[i].first_ms < oldest->first_ms)
            oldest = &login_slots[i];
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof(*oldest));
    snprintf(oldest->ip, sizeof(oldest->ip), "%s", ip);
    return oldest;
}

int64_t login_throttle_retry_after(const char *client_ip)
{
    uint64_t now = clock_mono_ms(), wait_ms = 0;
    lock_take(&sessions_lock);
    login_slot_t *s = login_slot(client_ip, 0);
    if (s != NULL && s->failures >= LOGIN_MAX_FAILURES && now - s->first_ms < LOGIN_WINDOW_S * 1000ULL)
        wait_ms = LOGIN_WINDOW_S * 1000ULL - (now - s->first_ms);
    lock_give(&sessions_lock);
    return (int64_t)((wait_ms + 999) / 1000);
}

void login_throttle_failed(const char *client_ip)
{
    uint64_t now = clock_mono_ms();
    lock_take(&sessions_lock);
    login_slot_t *s = login_slot(client_ip, 1);
    if (s->failures == 0 || now - s->first_ms >= LOGIN_WINDOW_S * 1000ULL) {
        s->first_ms = now;
        s->failures = 0;
    }
    s->failures++;
    lock_give(&sessions_lock);
}

void login_throttle_succeeded(const char *client_ip)
{
    lock_take(&sessions_lock);
    login_slot_t *s = login_slot(client_ip, 0);
    if (s != NULL)
        memset(s, 0, sizeof(*s));
    lock_give(&sessions_lock);
}

/* ---- origin ---- */

int login_session_request_is_https(hc_req_t *r)
{
    /* the request id stage resolved it: TLS, or X-Forwarded-Proto from a trusted proxy */
    return r->scheme != NULL && strcmp(r->scheme, "https") == 0;
}

/* Normalises "scheme://host[:port][/path]" to "scheme://host[:port]" in
 * lower case, without the scheme's default port. 0, or -1 when malformed. */
static int origin_normalise(const char *s, size_t len, char *out, size_t outlen)
{
    const char *sep = memmem(s, len, "://", 3);
    if (sep == NULL)
        return -1;
    size_t slen = (size_t)(sep - s);
    const char *host = sep + 3;
    size_t hlen = len - slen - 3;
    const char *slash = memchr(host, '/', hlen);
    if (slash != NULL)
        hlen = (size_t)(slash - host);
    if (hlen == 0 || slen + 3 + hlen >= outlen)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < slen; i++)
        out[o++] = (char)tolower((unsigned char)s[i]);
    memcpy(out + o, "://", 3);
    o += 3;
    for (size_t i = 0; i < hlen; i++)
        out[o++] = (char)tolower((unsigned char)host[i]);
    out[o] = '\0';
    size_t n = strlen(out);
    if (slen == 5 && strncmp(out, "https", 5) == 0 && n > 4 && strcmp(out + n - 4, ":443") == 0)
        out[n - 4] = '\0';
    else if (slen == 4 && strncmp(out, "http", 4) == 0 && n > 3 && strcmp(out + n - 3, ":80") == 0)
        out[n - 3] = '\0';
    return 0;
}

int login_session_origin_check(hc_req_t *r)
{
    h2o_req_t *req = r->req;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    char origin[300], own[300], pub[300];
    if (origin_normalise(v.base, v.len, origin, sizeof(origin)) != 0)
        return -1; /* "null" and anything else that is not an origin */
    const char *scheme = login_session_request_is_https(r) ? "https" : "http";
    if (req->authority.len > 0 && req->authority.len < 256) {
        char raw[300];
        int n = snprintf(raw, sizeof(raw), "%s://%.*s", scheme, (int)req->authority.len, req->authority.base);
        if (n > 0 && origin_normalise(raw, (size_t)n, own, sizeof(own)) == 0 && strcmp(own, origin) == 0)
            return 1;
    }
    const char *pu = serve_public_url();
    if (pu != NULL && pu[0] != '\0' && origin_normalise(pu, strlen(pu), pub, sizeof(pub)) == 0 &&
        strcmp(pub, origin) == 0)
        return 1;
    return -1;
}

void login_session_set_cookie(hc_req_t *r, const char *value, int64_t max_age_s)
{
    h2o_req_t *req = r->req;
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", SESSION_COOKIE,
                     value ? value : "", value ? (long long)max_age_s : 0LL, login_session_request_is_https(r) ? "; Secure" : "");
    h2o_iovec_t v = h2o_strdup(&req->pool, buf, (size_t)n);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, v.base, v.len);
}
