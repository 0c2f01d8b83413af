#include "tls.h"

#include <errno.h>
#include <h2o.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "workers.h"

/* TLS 1.2: ECDHE key exchange (forward secrecy) with AEAD ciphers only; the
 * order is ours (SSL_OP_CIPHER_SERVER_PREFERENCE). TLS 1.3 suites are all
 * AEAD; listed to pin the order. */
#define TLS12_CIPHERS                                                                                                  \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                                       \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                                       \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"
#define SESSION_CACHE_SIZE 20000
#define SESSION_LIFETIME_S 7200

/* h2o's ALPN callback walks these in order (server preference) and keeps a
 * pointer to the array: they must live as long as the context. */
static const h2o_iovec_t alpn_h2[] = {{H2O_STRLIT("h2")}, {H2O_STRLIT("http/1.1")}, {NULL, 0}};
static const h2o_iovec_t alpn_h1[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};

static SSL_CTX *current; /* this module's reference; main / housekeeping thread */
static char cert_path[4096], key_path[4096];
static int use_http2;

/* OpenSSL's queued errors as one line ("file:reason; ..."); clears the queue */
static void openssl_errors(char *out, size_t outlen)
{
    size_t o = 0;
    unsigned long e;
    out[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        int w = snprintf(out + o, outlen - o, "%s%s", o ? "; " : "", one);
        if (w < 0 || (size_t)w >= outlen - o)
            break;
        o += (size_t)w;
    }
    if (o == 0)
        snprintf(out, outlen, "unknown OpenSSL error");
}

/* An encrypted key would make OpenSSL prompt on the terminal: refuse instead. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static SSL_CTX *ctx_build(char *err, size_t errlen)
{
    char why[1024];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        openssl_errors(why, sizeof(why));
        snprintf(err, errlen, "cannot create a TLS context: %s", why);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 || SSL_CTX_set_ciphersuites(ctx, TLS13_CIPHERS) != 1 ||
        SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
        openssl_errors(why, sizeof(why));
        snprintf(err, errlen, "this OpenSSL refuses our TLS settings: %s", why);
        goto fail;
    }
    /* Resumption: TLS 1.3 and most TLS 1.2 clients use tickets (keys made
     * per context, so a reload also rotates them); the cache serves TLS 1.2
     * clients that resume by session id. The context is shared by all
     * workers, so either works whichever worker the client comes back to. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"hydracluster", 12);
    SSL_CTX_sess_set_cache_size(ctx, SESSION_CACHE_SIZE);
    SSL_CTX_set_timeout(ctx, SESSION_LIFETIME_S);

    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        openssl_errors(why, sizeof(why));
        snprintf(err, errlen, "server.tls.cert_file %s: cannot load the certificate chain (PEM expected): %s", cert_path,
                 why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        int mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        openssl_errors(why, sizeof(why));
        if (mismatch) {
            snprintf(err, errlen, "server.tls.key_file %s does not belong to the certificate in %s: %s", key_path,
                     cert_path, why);
            goto fail;
        }
        snprintf(err, errlen, "server.tls.key_file %s: cannot load the private key (unencrypted PEM expected): %s",
                 key_path, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        openssl_errors(why, sizeof(why));
        snprintf(err, errlen, "server.tls.key_file %s does not belong to the certificate in %s: %s", key_path,
                 cert_path, why);
        goto fail;
    }
    h2o_ssl_register_alpn_protocols(ctx, use_http2 ? alpn_h2 : alpn_h1);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* subject, serial and expiry of ctx's certificate, for the log */
static void describe(SSL_CTX *ctx, char *subject, size_t slen, char *serial, size_t serlen, char *not_after,
                     size_t nalen, int *expired)
{
    subject[0] = serial[0] = not_after[0] = '\0';
    *expired = 0;
    X509 *x = SSL_CTX_get0_certificate(ctx);
    if (x == NULL)
        return;
    X509_NAME_oneline(X509_get_subject_name(x), subject, (int)slen);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex != NULL)
        snprintf(serial, serlen, "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    const ASN1_TIME *na = X509_get0_notAfter(x);
    struct tm tm;
    if (ASN1_TIME_to_tm(na, &tm) == 1)
        strftime(not_after, nalen, "%Y-%m-%dT%H:%M:%SZ", &tm);
    *expired = X509_cmp_current_time(na) < 0;
}

static void log_cert(const char *what, SSL_CTX *ctx)
{
    char subject[512], serial[128], not_after[32], qs[600];
    int expired;
    describe(ctx, subject, sizeof(subject), serial, sizeof(serial), not_after, sizeof(not_after), &expired);
    log_write(expired ? LOG_ERROR : LOG_INFO, "msg=\"%s%s\" subject=%s serial=%s not_after=%s http2=%s", what,
              expired ? " (the certificate has EXPIRED: clients will refuse it; renew it and send SIGHUP)" : "",
              log_quote(qs, sizeof(qs), subject), serial, not_after, use_http2 ? "on" : "off");
}

static void warn_key_mode(void)
{
    struct stat st;
    /* group-readable is the usual set-up (root:hydracluster 0640) */
    if (stat(key_path, &st) == 0 && (st.st_mode & 0007) != 0)
        log_warn("msg=\"the TLS private key is readable by every user; chmod o-rwx it\" key_file=%s", key_path);
}

int tls_init(const hc_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->server.tls.cert_file == NULL)
        return 0;
    snprintf(cert_path, sizeof(cert_path), "%s", cfg->server.tls.cert_file);
    snprintf(key_path, sizeof(key_path), "%s", cfg->server.tls.key_file);
    use_http2 = cfg->server.tls.http2;
    current = ctx_build(err, errlen);
    if (current == NULL)
        return -1;
    warn_key_mode();
    log_cert("TLS certificate loaded", current);
    workers_set_ssl_ctx(current);
    return 0;
}

int tls_enabled(void)
{
    return current != NULL;
}

void tls_reload(void *arg)
{
    (void)arg;
    if (current == NULL)
        return;
    char err[2048], q[2100];
    SSL_CTX *fresh = ctx_build(err, sizeof(err));
    if (fresh == NULL) {
        log_error("msg=\"TLS reload failed; still serving the previous certificate\" error=%s",
                  log_quote(q, sizeof(q), err));
        return;
    }
    warn_key_mode();
    workers_swap_ssl_ctx(fresh); /* each worker takes its own reference */
    SSL_CTX_free(current);
    current = fresh;
    log_cert("TLS certificate reloaded; new connections use it", current);
}

void tls_free(void)
{
    SSL_CTX_free(current);
    current = NULL;
}
