/*
 * The fleet enrollment token, seen from the API (fleet/fleet_token.h has where it
 * lives and why it is kept in clear):
 *   GET  /api/v1/enroll-qr             the iPad QR payload {server_url, enrollment_token}, or ?format=svg the QR
 *   POST /api/v1/fleet-token/rotate    mint a new one; the previous one keeps working for heads.fleet_token_overlap
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "clock.h"
#include "commit.h"
#include "fleet_token.h"
#include "jsonio.h"
#include "log.h"
#include "qr.h"
#include "registry.h"
#include "secret.h"
#include "serve.h"

#define QR_MODULE_PX 8

void api_enroll_qr_get(hc_req_t *r)
{
    const char *format = route_query(r, "format");
    if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "svg") != 0) {
        json_error(r, 400, "bad_request", "\"format\" must be json or svg");
        return;
    }
    char token[REGISTRY_FLEET_TOKEN_MAX + 1];
    if (registry_fleet_token(token, sizeof(token)) != 0) {
        json_error(r, 503, "not_configured", "no fleet enrollment token is loaded");
        return;
    }
    if (format == NULL || strcmp(format, "json") == 0) {
        json_respond(r, 200, json_pack("{s:s, s:s}", "server_url", serve_public_url(), "enrollment_token", token));
        memset(token, 0, sizeof(token));
        return;
    }
    char *payload = fleet_qr_payload(serve_public_url(), token);
    memset(token, 0, sizeof(token));
    size_t len = 0;
    char *svg = payload ? qr_svg(payload, QR_MODULE_PX, &len) : NULL;
    free(payload);
    if (svg == NULL) {
        json_error(r, 500, "internal", "the QR code could not be generated");
        return;
    }
    h2o_req_t *req = r->req;
    char *body = h2o_mem_alloc_pool(&req->pool, len);
    memcpy(body, svg, len);
    free(svg);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("image/svg+xml"));
    /* it carries a secret */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len);
}

/* ---- POST /api/v1/fleet-token/rotate ---- */

typedef struct {
    char token[SECRET_TOKEN_HEX + 1];
    uint8_t prev_hash[SECRET_HASH_LEN];
    int64_t prev_until;
    char actor[80];
} rotate_t;

static int rotate_apply(sqlite3 *db, void *arg)
{
    rotate_t *o = arg;
    char until[32];
    json_t *d = json_pack("{s:s}", "previous_valid_until", clock_rfc3339(o->prev_until, until, sizeof(until)));
    int rc = store_audit_append(db, o->actor, "fleet_token.rotate", "fleet", d);
    json_decref(d);
    if (rc != 0)
        return -1;
    /* last: replaces the file only when everything before it worked */
    return fleet_token_rotate_apply(db, serve_config()->server.data_dir, o->token, o->prev_until, o->prev_hash);
}

static void rotate_publish(void *arg)
{
    rotate_t *o = arg;
    registry_fleet_set(o->token, o->prev_hash, o->prev_until);
}

static void rotate_respond(hc_req_t *r, int status, void *arg)
{
    rotate_t *o = arg;
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "the fleet token could not be rotated; the current one still works");
        return;
    }
    char until[32];
    json_respond(r, 200, json_pack("{s:s, s:s, s:s}", "server_url", serve_public_url(), "enrollment_token", o->token,
                                   "previous_valid_until", clock_rfc3339(o->prev_until, until, sizeof(until))));
}

static void rotate_free(void *arg)
{
    rotate_t *o = arg;
    memset(o->token, 0, sizeof(o->token));
    free(o);
}

static const commit_spec_t rotate_spec = {rotate_apply, rotate_publish, rotate_respond, rotate_free};

void api_fleet_token_rotate(hc_req_t *r)
{
    const hc_config_t *cfg = serve_config();
    if (!fleet_token_rotatable(cfg)) {
        json_error(r, 409, "conflict", "the fleet enrollment token is set in the config file "
                                       "(server.fleet_enrollment_token): change it there and restart");
        return;
    }
    rotate_t *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    secret_token_new(o->token);
    o->prev_until = clock_now() + (int64_t)(cfg->heads.fleet_token_overlap_ms / 1000);
    snprintf(o->actor, sizeof(o->actor), "%s", r->auth.actor);
    commit_submit(r, &rotate_spec, o);
}
