/*
 * What the two token revokes share (DELETE /api/v1/admin-tokens/{id} in
 * api/admin_tokens.c, DELETE /api/v1/enrollments/{id} in api/enrollments.c):
 * the commit arg (server/commit.h) starts with an api_revoke_t, the handler
 * makes it with api_revoke_arg_new, and the respond callback, after its own
 * statuses, ends with api_revoke_respond. Worker thread.
 */
#ifndef HC_API_REVOKE_H
#define HC_API_REVOKE_H

#include <stddef.h>

#include "registry.h"
#include "router.h"

typedef struct api_revoke {
    char id[NODE_ID_MAX]; /* the route's {id} */
    char actor[80];       /* who revokes, for the audit */
} api_revoke_t;

/* A zeroed arg of size bytes, an api_revoke_t first, filled from the
 * request; the caller's (commit_submit takes it). NULL after answering:
 * 404 not_found "no such <noun>" for an id too long to exist, 500 out of
 * memory. */
void *api_revoke_arg_new(hc_req_t *r, size_t size, const char *noun);

/* Answers apply's status: the store's own errors, 500 store_error with
 * failed as the message for any other non-zero, else 200
 * {"id": id, "status": "revoked"}. */
void api_revoke_respond(hc_req_t *r, int status, const char *id, const char *failed);

#endif
