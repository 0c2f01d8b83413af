/*
 * Interactive shell sessions (docs/api.md "Shell"): an admin's WebSocket
 * (the client end) relayed to the node agent's WebSocket (the agent end),
 * each end on whichever worker accepted it.
 *
 * A session is created when a client connects (state waiting), handed to the
 * node's agent by GET /api/v1/body/shell/check (offered), and becomes active
 * when the agent's WebSocket attaches. It ends when both ends are gone; then
 * it is audited on the node and dropped.
 *
 * Relay (fleet/shell_relay.c): a frame read on one end is queued for the
 * other end under the shell lock, and the other end's worker is told by a
 * worker_call (cross-thread message); it sends the frame from its own loop.
 * Each direction holds at most SHELL_BUF_HIGH queued bytes: past that, the
 * sending end stops reading its socket until the receiving end's queue is
 * back under SHELL_BUF_LOW (backpressure down to the TCP window).
 *
 * Threading and ownership: sessions are reference counted (the table holds
 * one, each attached end one, each in-flight worker call one). Everything
 * below may be called from any thread with no lock held unless it says
 * otherwise; the shell lock (rank 35) is taken inside, and nothing sends or
 * calls back while holding it.
 */
#ifndef HC_SHELL_SESSION_H
#define HC_SHELL_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "park.h"
#include "router.h"

#define SHELL_ID_MAX 40
#define SHELL_COMMAND_MAX 8192
#define SHELL_MSG_MAX (256 * 1024)     /* largest message either end may send */
#define SHELL_BUF_HIGH (256 * 1024)    /* per direction: the sender stops reading past this */
#define SHELL_BUF_LOW (64 * 1024)      /* ... and reads again below this */

typedef struct shell_session shell_session_t;

/* errors */
#define SHELL_ELIMIT (-1)  /* shell.max_sessions_per_node reached */
#define SHELL_ENOENT (-2)  /* no such session on this node (or it ended) */
#define SHELL_EBUSY (-3)   /* an agent is attached already */
#define SHELL_ENOMEM (-4)

/* What GET /api/v1/body/shell/check hands to the agent. */
typedef struct shell_offer {
    char id[SHELL_ID_MAX];
    unsigned cols, rows;
    char *command; /* NULL: interactive shell */
} shell_offer_t;
void shell_offer_free(shell_offer_t *o);

/* serve.c at start (main thread): reads the limits, registers the metrics
 * collector and the once-a-second sweep (timeouts). 0 or -1. */
int shell_init(const hc_config_t *cfg);

/* A new waiting session for the client; NULL with *err (SHELL_ELIMIT,
 * SHELL_ENOMEM). The caller owns one reference. Wakes a parked check of the
 * node's agent. */
shell_session_t *shell_session_open(const char *node_id, const char *actor, unsigned cols, unsigned rows,
                                    const char *command, int *err);
/* The session `id` of node_id for the agent to attach to; a reference, or
 * NULL with *err (SHELL_ENOENT, SHELL_EBUSY). */
shell_session_t *shell_session_find(const char *node_id, const char *id, int *err);
void shell_session_unref(shell_session_t *s);
const char *shell_session_id(const shell_session_t *s);

/* Worker thread, inside the handler: answers 101 and makes the request's
 * connection the session's client (agent) end; takes over the caller's
 * reference. -1 (nothing sent, reference still the caller's) on allocation
 * failure, or for the agent when another agent attached meanwhile. */
int shell_client_attach(shell_session_t *s, hc_req_t *r, const char *ws_key);
int shell_agent_attach(shell_session_t *s, hc_req_t *r, const char *ws_key);
/* The client end never attached (its handshake failed): ends the session. */
void shell_session_abandon(shell_session_t *s);

/* GET /api/v1/body/shell/check: 1 with *out (a waiting session, now
 * offered), 0 when none waits (p, when given, is registered as the node's
 * parked check and later woken with a shell_offer_t* or 0; the list holds
 * its own reference), SHELL_ENOMEM. */
int shell_check_take(const char *node_id, park_t *p, shell_offer_t **out);
/* p's wait ended without an offer (timeout, gone, shutdown). */
void shell_check_forget(const char *node_id, park_t *p);
/* An offer could not be delivered (the agent left): the session waits again
 * and goes to the next parked check. Consumes o. */
void shell_offer_return(const char *node_id, shell_offer_t *o);

/* The node was deleted or rejected: closes its sessions (4004) and answers
 * its parked checks. */
void shell_node_gone(const char *node_id);

/* Sessions not yet ended (all nodes); for tests and metrics. */
size_t shell_sessions_open(void);

#endif
