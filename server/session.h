/*
 * Browser sessions of the web UI (issue: web pages). The auth stage calls
 * session_authenticate for admin routes when no bearer token was sent.
 * Worker thread.
 */
#ifndef HC_SESSION_H
#define HC_SESSION_H

#include "router.h"

/* 1: a valid admin session (r->auth.actor set); 0: none; -1: answered
 * (e.g. 403 for a cross-site state change). */
int session_authenticate(hc_req_t *r);

#endif
