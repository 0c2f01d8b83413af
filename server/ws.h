/*
 * Server-side WebSocket connections on the evloop workers: wslay does the
 * framing, h2o's HTTP/1 upgrade hands us the socket after the 101.
 *
 * Why not h2o_websocket_proceed (h2o/websocket.h): it starts reading again
 * whenever wslay wants to read, so a relay could never stop reading a fast
 * peer whose counterpart is slow; and its write buffer is a fixed array. This
 * driver owns the read switch (ws_read_pause) and counts what it has not
 * written yet (ws_unsent), which is what backpressure needs.
 *
 * Threading: a ws_conn_t belongs to the worker that accepted the request;
 * every function here and every callback runs on that worker, with no lock
 * held. Callbacks must not free the connection: it is freed after on_close
 * returns, and on_close is the last callback.
 */
#ifndef HC_WS_H
#define HC_WS_H

#include <stddef.h>
#include <stdint.h>

#include "router.h"

struct worker;
typedef struct ws_conn ws_conn_t;

#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2

typedef struct ws_handlers {
    /* a whole text or binary message from the peer */
    void (*on_message)(ws_conn_t *c, int opcode, const uint8_t *data, size_t len);
    /* bytes queued by ws_send reached the socket (ws_unsent went down) */
    void (*on_drain)(ws_conn_t *c);
    /* the connection is gone: the peer closed (code it sent, 1005 none),
     * our ws_close finished (the code we sent), or an error (1006) */
    void (*on_close)(ws_conn_t *c, int code);
} ws_handlers_t;

/* 1 when r asks for a WebSocket (GET, Upgrade: websocket, a well-formed
 * Sec-WebSocket-Key, version 13, HTTP/1.1), 0 when it does not ask at all,
 * -1 when it asks wrongly (answer 400). *key points into the request. */
int ws_is_handshake(hc_req_t *r, const char **key);

/* Answers 101 and takes the connection over; r must not be used afterwards
 * (its pool is released once the 101 was written). max_msg bounds a received
 * message (larger: closed with 1009). NULL on allocation failure (nothing
 * sent: answer 500). Messages may be queued with ws_send at once. */
ws_conn_t *ws_upgrade(hc_req_t *r, const char *key, const ws_handlers_t *h, void *data, size_t max_msg);

void *ws_data(ws_conn_t *c);

/* Queues one message. 0, or -1 when the connection is closing. */
int ws_send(ws_conn_t *c, int opcode, const void *data, size_t len);
/* Queues a ping (the peer answers with a pong, which is dropped): keeps
 * proxies in between from closing a quiet connection. */
void ws_ping(ws_conn_t *c);
/* Queues a close frame (reason cut to 123 bytes); the socket is closed once
 * it was written, or after 5 s when the peer does not read. Idempotent. */
void ws_close(ws_conn_t *c, uint16_t code, const char *reason);
/* 1: stop reading from the peer (backpressure); 0: read again. */
void ws_read_pause(ws_conn_t *c, int paused);
/* Bytes of queued messages not yet written to the socket. */
size_t ws_unsent(ws_conn_t *c);

/* workers.c, on stop: closes every WebSocket of the calling worker (1001). */
void ws_worker_shutdown(struct worker *w);

#endif
