/*
 * Body eligibility (GET /api/v1/bodies/eligible): which bodies a head may
 * stream from, best first, and every reason each other body was left out.
 *
 * Pure: no locks, no clock, no config. The caller passes the nodes (holding
 * the nodes lock, shared, for as long as it uses the result: the entries
 * point into the registry), the wall clock and nodes.offline_after. Unit
 * tests pass nodes they built themselves. Any thread.
 *
 * A body is any node without a head record. It is eligible for a head when
 * it is approved, in the head's district (exact match; a head without a
 * district matches bodies without one), in the head's venue when the head has
 * one, online (a heartbeat within offline_after), not draining, its provider
 * is "running", its stream is idle (stream_status "idle" or not reported yet),
 * and no other head has it pinned (head-assignment). When the caller names an
 * owner (the runbooks' third input beside district and venue), the body must
 * also have that owner.
 */
#ifndef HC_ELIGIBILITY_H
#define HC_ELIGIBILITY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

/* why a body was left out: a bit each, so every reason is reported at once */
enum {
    ELIG_NOT_APPROVED = 1u << 0,
    ELIG_OTHER_DISTRICT = 1u << 1,
    ELIG_OTHER_VENUE = 1u << 2,
    ELIG_OFFLINE = 1u << 3,
    ELIG_DRAINING = 1u << 4,
    ELIG_PROVIDER_NOT_RUNNING = 1u << 5,
    ELIG_STREAMING = 1u << 6,
    ELIG_PINNED_ELSEWHERE = 1u << 7,
    ELIG_ORPHANED = 1u << 8, /* streaming with no head for sessions.orphan_after (fleet/stream_sessions.h) */
    ELIG_OTHER_OWNER = 1u << 9,
};

typedef struct elig_entry {
    const node_t *body;
    unsigned reasons; /* 0 = eligible */
} elig_entry_t;

/*
 * Evaluates every body among nodes[0..n) for head. Writes one entry per body
 * into out (room for n entries): the eligible ones first, best first (least
 * recently assigned: body->last_assigned_at ascending, never assigned first;
 * then name, then id), then the others by name and id. *count gets the
 * number of entries written, *eligible (may be NULL) how many are eligible.
 * The head itself and every other head are not bodies and get no entry.
 * Returns 0, or -1 when out of memory (nothing written).
 */
int eligibility_evaluate(const node_t *head, const char *owner /* NULL or "": any */, const node_t *const *nodes,
                         size_t n, int64_t now, uint64_t offline_after_ms, elig_entry_t *out, size_t *count,
                         size_t *eligible);

/* Appends the reason code of each bit of mask to array (in bit order):
 * "not_approved", "other_district", "other_venue", "offline", "draining",
 * "provider_not_running", "streaming", "pinned_to_other_head", "orphaned",
 * "other_owner". */
void eligibility_reasons_json(unsigned mask, json_t *array);

/* The code of one reason bit, or NULL for an unknown bit. */
const char *eligibility_reason_code(unsigned bit);

/*
 * The URL a head streams from: "https://<ip>:<port>" (IPv6 in brackets), or
 * "" when ip is empty. Sunshine serves its API on that port (47990 by
 * default) over HTTPS only, hence https.
 */
void eligibility_stream_url(const char *ip, unsigned port, char *out, size_t outlen);

#endif
