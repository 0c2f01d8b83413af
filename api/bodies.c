/*
 * Bodies seen from a head: GET /api/v1/bodies/eligible (fleet/eligibility.h
 * has the rules). A head asks with its own token; an admin asks for a head
 * with ?head_id=; ?owner= narrows to bodies of that owner. ?explain=true also lists every body with why it was left
 * out, so operators can debug selection without pinning bodies by hand.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "eligibility.h"
#include "jsonio.h"
#include "registry.h"
#include "serve.h"

typedef struct {
    const node_t **v;
    size_t n, cap;
} snapshot_t;

static int collect(node_t *n, void *arg)
{
    snapshot_t *s = arg;
    if (s->n < s->cap)
        s->v[s->n++] = n;
    return 0;
}

static json_t *time_or_null(int64_t t)
{
    char buf[32];
    return t ? json_string(clock_rfc3339(t, buf, sizeof(buf))) : json_null();
}

/* what a head needs to pick and reach a body; no more of the node (a kiosk
 * holds this token, not an operator) */
static json_t *body_json(const node_t *b, unsigned port)
{
    char wg[128], lan[128];
    eligibility_stream_url(b->wireguard_ip, port, wg, sizeof(wg));
    eligibility_stream_url(b->lan_ip, port, lan, sizeof(lan));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "id", b->id, "name", b->name, "district",
                     b->district, "venue", b->venue, "owner", b->owner, "wireguard_ip", b->wireguard_ip, "lan_ip", b->lan_ip,
                     "stream_url", wg, "stream_url_lan", lan, "last_assigned_at", time_or_null(b->last_assigned_at));
}

/* builds the answer under the nodes lock (caller holds it); NULL when out of memory */
static json_t *evaluate(const node_t *head, const char *owner, int explain)
{
    const hc_config_t *cfg = serve_config();
    snapshot_t s = {.cap = registry_node_count()};
    s.v = malloc((s.cap ? s.cap : 1) * sizeof(*s.v));
    elig_entry_t *e = malloc((s.cap ? s.cap : 1) * sizeof(*e));
    json_t *bodies = json_array(), *considered = explain ? json_array() : NULL, *out = NULL;
    size_t count = 0, good = 0;
    if (s.v == NULL || e == NULL || bodies == NULL || (explain && considered == NULL))
        goto done;
    registry_node_foreach(collect, &s);
    if (eligibility_evaluate(head, owner, s.v, s.n, clock_now(), cfg->nodes.offline_after_ms, e, &count, &good) != 0)
        goto done;
    for (size_t i = 0; i < good; i++)
        if (json_array_append_new(bodies, body_json(e[i].body, cfg->heads.sunshine_port)) != 0)
            goto done;
    if (!explain) {
        out = bodies;
        bodies = NULL;
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *reasons = json_array();
        if (reasons == NULL)
            goto done;
        eligibility_reasons_json(e[i].reasons, reasons);
        if (json_array_append_new(considered, json_pack("{s:s, s:s, s:b, s:o}", "id", e[i].body->id, "name",
                                                        e[i].body->name, "eligible", e[i].reasons == 0, "reasons",
                                                        reasons)) != 0)
            goto done;
    }
    out = json_pack("{s:s, s:s, s:s, s:O, s:O}", "head_id", head->id, "district", head->district, "venue", head->venue,
                    "bodies", bodies, "considered", considered);
done:
    json_decref(bodies);
    json_decref(considered);
    free(s.v);
    free(e);
    return out;
}

void api_bodies_eligible(hc_req_t *r)
{
    const char *head_id = route_query(r, "head_id");
    const char *explain_s = route_query(r, "explain");
    const char *owner = route_query(r, "owner"); /* optional: only bodies of this owner */
    int explain = 0;
    if (explain_s != NULL) {
        if (strcmp(explain_s, "true") == 0 || strcmp(explain_s, "1") == 0)
            explain = 1;
        else if (strcmp(explain_s, "false") != 0 && strcmp(explain_s, "0") != 0 && explain_s[0] != '\0') {
            json_error(r, 400, "bad_request", "\"explain\" must be true or false");
            return;
        }
    }
    int as_node = r->auth.cred == CRED_NODE;
    if (as_node) {
        if (head_id != NULL && head_id[0] != '\0' && strcmp(head_id, r->auth.node_id) != 0) {
            json_error(r, 403, "forbidden", "a head may only ask for its own eligible bodies");
            return;
        }
        head_id = r->auth.node_id;
    } else if (head_id == NULL || head_id[0] == '\0') {
        json_error(r, 400, "bad_request", "\"head_id\" is required with an admin token: which head is asking?");
        return;
    }
    json_t *out = NULL;
    int found = 0, is_head = 0;
    lock_take_shared(&registry_nodes_lock);
    const node_t *h = strlen(head_id) < NODE_ID_MAX ? registry_node_find(head_id) : NULL;
    if (h != NULL) {
        found = 1;
        is_head = h->head != NULL;
        if (is_head)
            out = evaluate(h, owner, explain);
    }
    lock_give(&registry_nodes_lock);
    if (as_node && !is_head) {
        json_error(r, 403, "forbidden", "only a head's token may ask for eligible bodies");
        return;
    }
    if (!found) {
        json_error(r, 404, "not_found", "no head %s", head_id);
        return;
    }
    if (!is_head) {
        json_error(r, 404, "not_found", "node %s is not a head", head_id);
        return;
    }
    if (out == NULL) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    json_respond(r, 200, out);
}
