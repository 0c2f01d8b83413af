/*
 * A WebSocket client for the command line (hydracluster exec --shell,
 * hydracluster shell) and the reference agent: libcurl makes the connection
 * (CURLOPT_CONNECT_ONLY: it keeps doing TLS, proxies and name resolution),
 * wslay does the framing over curl_easy_send / curl_easy_recv.
 *
 * Single-threaded: one caller drives a client with ws_client_io whenever its
 * socket (ws_client_fd) is readable, or writable while ws_client_want_write.
 */
#ifndef HC_WS_CLIENT_H
#define HC_WS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ws_client ws_client_t;

#define WSC_OP_TEXT 0x1
#define WSC_OP_BINARY 0x2

typedef void (*ws_client_msg_fn)(void *user, int opcode, const uint8_t *data, size_t len);

/*
 * Connects to base_url (http[s]://host[:port], no path) and opens the
 * WebSocket at path (with its query). bearer may be NULL. Gives up after
 * timeout_ms. On failure returns NULL with *http_status (0 when no HTTP
 * answer came) and err: the server's {"error"} text when it answered with
 * one, else what went wrong. Messages go to on_msg.
 */
ws_client_t *ws_client_connect(const char *base_url, const char *path, const char *bearer, long timeout_ms,
                               ws_client_msg_fn on_msg, void *user, long *http_status, char *err, size_t errlen);

/* Process-wide: do not verify the server's TLS certificate from now on.
 * For test tooling only (the reference agent's --insecure, the API test
 * against a self-signed certificate); the CLI never sets it. */
void ws_client_set_insecure(int on);

int ws_client_fd(ws_client_t *c);
/* 1 while queued frames wait for the socket to be writable */
int ws_client_want_write(ws_client_t *c);
/* bytes queued, not yet sent */
size_t ws_client_unsent(ws_client_t *c);
/* Reads what arrived (delivering messages) and writes what is queued.
 * 0 while open; 1 once the connection ended (the close frame's code and
 * reason are in ws_client_close_info); -1 on a network or protocol error. */
int ws_client_io(ws_client_t *c);
int ws_client_send(ws_client_t *c, int opcode, const void *data, size_t len);
/* Queues a close frame (the connection ends once the peer answers). */
void ws_client_close(ws_client_t *c, uint16_t code, const char *reason);
/* The peer's close: code (0 none yet, 1005 without a code) and reason (NUL-terminated). */
uint16_t ws_client_close_info(ws_client_t *c, char *reason, size_t len);
void ws_client_free(ws_client_t *c);

#endif
