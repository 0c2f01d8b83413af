/*
 * Browser sessions of the web UI. An admin logs in with an admin token
 * (POST /api/v1/session, api/login_session.c); the server keeps the session in
 * memory and gives the browser a random session id in an HttpOnly cookie.
 * Only the id's keyed hash is kept. A restart forgets every session (all
 * browsers log in again); the admin token a session was opened with is
 * re-checked on every request, so revoking that token ends its sessions.
 *
 * The auth stage calls login_session_authenticate for admin routes when no bearer
 * token was sent. State-changing requests (anything but GET/HEAD/OPTIONS)
 * carried by a session cookie must come from this server's own origin.
 *
 * Threading: any worker thread; the table is guarded by the "sessions" lock
 * (LOCK_RANK_LOGIN_SESSIONS), which is never held while calling out (the admin
 * token re-check takes the nodes lock after the sessions lock is released).
 * login_session_init/login_session_free: main thread, before the workers start / after
 * they stopped.
 */
#ifndef HC_SESSION_H
#define HC_SESSION_H

#include <stdint.h>

#include "router.h"
#include "secret.h"

#define SESSION_COOKIE "hc_session"
#define SESSION_TTL_S (12 * 3600) /* absolute lifetime of a login */
#define SESSION_MAX 4096          /* more: the one closest to expiry is dropped */
#define LOGIN_MAX_FAILURES 5      /* per client address and window ... */
#define LOGIN_WINDOW_S 60         /* ... then 429 until the window has passed */

int login_session_init(void);
void login_session_free(void);

/* 1: a valid admin session (r->auth.actor set to "session:<admin actor>");
 * 0: none; -1: answered (403 for a cross-site state change). */
int login_session_authenticate(hc_req_t *r);

/* Opens a session for the admin whose token hashes to admin_hash. Writes the
 * cookie value (the only copy of the session id) and its expiry. 0, or -1 on
 * allocation failure. */
int login_session_create(const uint8_t admin_hash[SECRET_HASH_LEN], char cookie[SECRET_TOKEN_HEX + 1], int64_t *expires_at);
/* Ends the session named by the request's cookie; 1 when there was one. */
int login_session_destroy(hc_req_t *r);
/* The expiry of the request's (valid) session, or 0. */
int64_t login_session_expiry(hc_req_t *r);
/* Number of live sessions (tests, metrics). */
size_t login_session_count(void);
/* Drops expired sessions and stale login-failure records (housekeeping). */
void login_session_prune(void *arg);

/* Login throttling per client address: seconds the client must wait before
 * it may try again (0: go ahead). */
int64_t login_throttle_retry_after(const char *client_ip);
void login_throttle_failed(const char *client_ip);
void login_throttle_succeeded(const char *client_ip);

/* The request's Origin against this server's own origin (scheme and Host of
 * the request, or server.public_url): 1 same origin, 0 no Origin header,
 * -1 another origin (or "null"). */
int login_session_origin_check(hc_req_t *r);
/* 1 when the request came over TLS, or through a trusted proxy that says
 * X-Forwarded-Proto: https (the cookie then gets Secure). */
int login_session_request_is_https(hc_req_t *r);
/* Adds Set-Cookie for value (NULL: clear the cookie). */
void login_session_set_cookie(hc_req_t *r, const char *value, int64_t max_age_s);

#endif
