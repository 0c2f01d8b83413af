/*
 * Tolerant reading of what agents send (spec: "Agents in the field are read
 * tolerantly"). Agents are upgraded on their own schedule, so the endpoints
 * they call (heartbeat, exec result, head status, enroll) ignore members they
 * do not know and known members of the wrong type or shape, and still accept
 * the request. Each such member is counted in /metrics
 * (hydracluster_agent_unknown_fields_total{endpoint} and
 * hydracluster_agent_invalid_fields_total{endpoint}: the endpoint is the only
 * label, so the series stay few whatever agents send) and logged once per
 * agent and field. The log-once memory is a fixed table of hashes
 * (AGENT_FIELDS_SEEN_MAX): when it is full, further fields are still counted
 * but no longer logged, and that is logged once.
 *
 * Admin requests stay strict: these helpers are only for agent credentials.
 *
 * Threading: agent_fields_init on the main thread at start (registers the
 * metrics collector); the rest from any thread. The log-once table has its
 * own lock (LOCK_RANK_AGENT_FIELDS), taken and released inside; nothing is
 * logged while holding it.
 */
#ifndef HC_AGENT_FIELDS_H
#define HC_AGENT_FIELDS_H

#include <jansson.h>
#include <stddef.h>

#define AGENT_FIELDS_SEEN_MAX 4096

typedef enum {
    AGENT_EP_HEARTBEAT,
    AGENT_EP_EXEC_RESULT,
    AGENT_EP_HEAD_STATUS,
    AGENT_EP_ENROLL,
    AGENT_EP_COUNT
} agent_ep_t;

int agent_fields_init(void);

/* Counts and logs (once per who and field) every member of obj whose name is
 * not in the NULL-terminated known list; returns how many there were. who
 * names the agent (its node id, or "ip:<address>" before it has one). obj may
 * be NULL. */
size_t agent_fields_unknown(agent_ep_t ep, const char *who, json_t *obj, const char *const *known);
/* agent_fields_unknown, and in the same pass over obj each known member:
 * found[i] is the value of known[i] (borrowed from obj), NULL when absent.
 * found has room for every entry of known. One pass instead of a lookup per
 * known name (the heartbeat reads eight, most of them absent). */
size_t agent_fields_read(agent_ep_t ep, const char *who, json_t *obj, const char *const *known, json_t **found);
/* 1 when name is in the NULL-terminated list */
int agent_fields_known(const char *name, const char *const *known);
/* Counts and logs (once per who and field) a known member that was ignored
 * because of its type or value; why is a short reason for the log. */
void agent_fields_invalid(agent_ep_t ep, const char *who, const char *field, const char *why);

/* One diagnostics value as agents send it, as a string: strings as they are
 * (NULL when longer than max_len bytes), numbers and booleans as their JSON
 * text; NULL for anything else or out of memory. A new reference. */
json_t *agent_fields_diag_value(json_t *v, size_t max_len);

/* Totals since start, for tests of this module. */
unsigned long agent_fields_unknown_total(agent_ep_t ep);
unsigned long agent_fields_invalid_total(agent_ep_t ep);

#endif
