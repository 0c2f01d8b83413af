/* The token revokes' shared handler prologue and answers (api/revoke.h). */
#include "revoke.h"

#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "jsonio.h"

void *api_revoke_arg_new(hc_req_t *r, size_t size, const char *noun)
{
    const char *id = route_param(r, "id");
    if (strlen(id) >= NODE_ID_MAX) {
        json_error(r, 404, "not_found", "no such %s", noun);
        return NULL;
    }
    api_revoke_t *v = calloc(1, size);
    if (v == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return NULL;
    }
    snprintf(v->id, sizeof(v->id), "%s", id);
    snprintf(v->actor, sizeof(v->actor), "%s", r->auth.actor);
    return v;
}

void api_revoke_respond(hc_req_t *r, int status, const char *id, const char *failed)
{
    if (commit_respond_store_error(r, status))
        return;
    if (status != 0) {
        json_error(r, 500, "store_error", "%s", failed);
        return;
    }
    json_respond(r, 200, json_pack("{s:s, s:s}", "id", id, "status", "revoked"));
}
