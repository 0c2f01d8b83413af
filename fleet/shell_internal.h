/* Shared by fleet/shell_session.c (table, limits, checks, sweep, audit) and
 * fleet/shell_relay.c (the two WebSocket ends). Not for other modules. */
#ifndef HC_SHELL_INTERNAL_H
#define HC_SHELL_INTERNAL_H

#include <stdatomic.h>

#include "lock.h"
#include "registry.h"
#include "shell_session.h"
#include "workers.h"
#include "ws.h"

enum { SHELL_CLIENT = 0, SHELL_AGENT = 1 };
/* how often both ends of a session get a WebSocket ping: less than the read
 * timeouts of the reverse proxies in deploy/ (120 s), so a quiet shell stays
 * open through them */
#define SHELL_PING_MS 30000
enum { SH_WAITING = 0, SH_OFFERED, SH_ACTIVE, SH_CLOSED };

/* why a session ended (metrics label, audit "reason") */
typedef enum {
    SHELL_END_EXIT = 0,
    SHELL_END_AGENT_CLOSED,
    SHELL_END_CLIENT_CLOSED,
    SHELL_END_CONNECT_TIMEOUT,
    SHELL_END_IDLE_TIMEOUT,
    SHELL_END_MAX_DURATION,
    SHELL_END_NODE_GONE,
    SHELL_END_SERVER_STOPPING,
    SHELL_END_COUNT,
} shell_end_reason_t;
extern const char *const shell_end_reason_names[SHELL_END_COUNT];

typedef struct shell_frame {
    struct shell_frame *next;
    int opcode;
    size_t len;
    uint8_t data[];
} shell_frame_t;

typedef struct shell_end {
    struct shell_session *s;
    int side;
    worker_call_t call;      /* "look at your queue": posted to `worker` */
    _Atomic int call_pending; /* 1 while `call` is in flight */
    ws_conn_t *ws;           /* the owning worker only; NULL when not (or no longer) connected */
    /* under the shell lock: */
    worker_t *worker;        /* set once when attached */
    int attached, gone;      /* gone: closed, or will never attach */
    shell_frame_t *in_head, *in_tail; /* frames for this end to send */
    size_t in_bytes;
    int paused;              /* this end stopped reading: the other end's queue is full */
    int resume;              /* ... and may read again */
    int eof;                 /* send the queue, then close with close_code */
    int force;               /* close now with close_code, dropping the queue */
    int ping;                /* send a ping (the sweep asks every SHELL_PING_MS) */
    uint16_t close_code;
    char close_reason[124];
} shell_end_t;

struct shell_session {
    _Atomic int refs;
    struct shell_session *next; /* in the table */
    char id[SHELL_ID_MAX];
    char node_id[NODE_ID_MAX];
    char actor[80];
    char *command;
    unsigned cols, rows;
    int64_t started_at; /* wall clock, for the audit */
    uint64_t created_ms, active_ms;
    uint64_t pinged_ms; /* under the shell lock: the sweep's last ping */
    _Atomic uint64_t last_activity_ms;
    _Atomic uint64_t bytes[2]; /* [SHELL_CLIENT]: client -> agent, [SHELL_AGENT]: agent -> client */
    /* under the shell lock: */
    int state;
    int closing; /* a timeout or deletion asked both ends to close */
    int exit_code; /* -1: none reported */
    int end_reason; /* -1 until known */
    shell_end_t end[2];
};

extern hc_lock_t shell_lock;
/* bytes relayed since start, by the side that sent them (metrics) */
extern _Atomic uint64_t shell_bytes_total[2];

void shell_session_ref(shell_session_t *s);
/* under the shell lock: marks an end to close (force: at once, dropping its
 * queue; else after its queue) */
void shell_end_close_locked(shell_end_t *e, int force, uint16_t code, const char *reason);
/* no lock held: tells an attached end's worker to look at its queue */
void shell_end_notify(shell_end_t *e);
/* no lock held: an end's WebSocket is gone; ends the session when both are */
void shell_end_gone(shell_end_t *e, int ws_code);
/* under the shell lock: drops an end's queue */
void shell_end_drop_locked(shell_end_t *e);
/* no lock held: unlinks the session from the table, audits, counts */
void shell_session_finish(shell_session_t *s);

#endif
