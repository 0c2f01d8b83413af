/*
 * A durable request: the pattern every acknowledged write follows.
 *
 *   handler (worker) -- validate against the registry, copy what is needed
 *                       into an arg, commit_submit(), return (request parked)
 *   apply   (writer) -- SQL inside the group-commit transaction; returns 0 or
 *                       a negative, handler-defined error (its savepoint is
 *                       rolled back)
 *   publish (writer) -- only after the batch committed and apply returned 0:
 *                       update the in-memory registry (takes its own locks).
 *                       Runs in commit order, so memory follows the database.
 *   respond (worker) -- answers the client: status is apply's result,
 *                       STORE_ECOMMIT, STORE_ESTOPPED or COMMIT_ETIMEDOUT.
 *                       Not called when the client went away.
 *   free    (any)    -- releases arg once both sides are done with it.
 *
 * So a 2xx is sent only after the transaction holding the write committed.
 */
#ifndef HC_COMMIT_H
#define HC_COMMIT_H

#include "router.h"
#include "store.h"

#define COMMIT_ETIMEDOUT (-1002)
#define COMMIT_TIMEOUT_MS 30000

typedef struct commit_spec {
    store_apply_fn apply;
    void (*publish)(void *arg);
    void (*respond)(hc_req_t *r, int status, void *arg);
    void (*free)(void *arg);
} commit_spec_t;

/* Worker thread. Takes ownership of arg (freed through spec->free on every
 * path, including when this returns -1 after answering 500/503 itself). */
int commit_submit(hc_req_t *r, const commit_spec_t *spec, void *arg);

/* Answers the standard errors for a non-application status (ECOMMIT,
 * ESTOPPED, ETIMEDOUT); returns 1 when it answered. */
int commit_respond_store_error(hc_req_t *r, int status);

#endif
