/*
 * TLS for the listeners (server.tls): one OpenSSL SSL_CTX shared by every
 * worker. TLS 1.2 and 1.3 only, AEAD ciphers with forward secrecy, the
 * server's cipher order, session resumption (tickets, and a server-side
 * cache for TLS 1.2 clients without tickets), ALPN "http/1.1" always and
 * "h2" only when server.tls.http2 is true.
 *
 * Reload (SIGHUP): the certificate and key are read again into a new
 * SSL_CTX, which the workers adopt for connections accepted from then on
 * (workers_swap_ssl_ctx); established connections keep the context they
 * were made with (OpenSSL reference counts it). A certificate that does not
 * load, or a key that does not match it, is logged with level=error and the
 * old context stays in service.
 *
 * Threads: tls_init and tls_free on the main thread (before workers_start /
 * after workers_stop); tls_reload on the housekeeping thread.
 */
#ifndef HC_TLS_H
#define HC_TLS_H

#include <stddef.h>

#include "config.h"

/* Without server.tls configured: does nothing and returns 0 (plain HTTP).
 * Else builds the context and hands it to the workers (call before
 * workers_start). -1 with err (naming the file and OpenSSL's reason). */
int tls_init(const hc_config_t *cfg, char *err, size_t errlen);

/* 1 when the listeners speak TLS */
int tls_enabled(void);

/* housekeeping_on_reload hook (arg unused) */
void tls_reload(void *arg);

/* Drops this module's reference; the workers hold their own. */
void tls_free(void);

#endif
