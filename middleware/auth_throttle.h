/*
 * Bearer token failures per client address (issue: token guessing). A wrong
 * token counts; a right one neither counts nor is ever refused, so an
 * operator behind the same address (a NAT, the proxy) keeps working while a
 * guesser there is slowed down. Past max_failures in one window the failing
 * requests get 429 with Retry-After until the window has passed.
 *
 * Any thread (HTTP workers); the table is guarded by its own lock (rank
 * LOCK_RANK_AUTH_THROTTLE), taken and given inside each call.
 */
#ifndef HC_AUTH_THROTTLE_H
#define HC_AUTH_THROTTLE_H

#include <stdint.h>

#define AUTH_THROTTLE_SLOTS 1024 /* addresses tracked at once; the stalest is forgotten first */

/* Records one failure of client_ip at mono_ms. Returns the seconds it must
 * wait (> 0: answer 429) or 0 (answer 401 as usual). *newly (may be NULL) is
 * set to 1 on the failure that crossed the limit, for one log line. */
int64_t auth_throttle_failed(const char *client_ip, uint64_t mono_ms, uint64_t max_failures, uint64_t window_ms,
                             int *newly);

/* Addresses currently throttled (metrics, tests). */
uint64_t auth_throttle_active(uint64_t mono_ms, uint64_t max_failures, uint64_t window_ms);

#endif
