#include "agent_fields.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "log.h"
#include "metrics.h"

static const char *const ep_names[AGENT_EP_COUNT] = {"heartbeat", "exec_result", "head_status", "enroll"};

static _Atomic unsigned long unknown_total[AGENT_EP_COUNT], invalid_total[AGENT_EP_COUNT];

/* log-once memory: 64-bit FNV-1a hashes of (endpoint, kind, who, field);
 * 0 marks a free slot. A collision only costs a log line, never a count. */
static hc_lock_t seen_lock;
static uint64_t seen[AGENT_FIELDS_SEEN_MAX];
static size_t nseen;
static int full_logged;

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s != NULL && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= 0xff; /* separator, so ("ab","c") and ("a","bc") differ */
    return h * 1099511628211ULL;
}

/* 1 when this (ep, kind, who, field) was not logged before and should be now */
static int first_time(agent_ep_t ep, const char *kind, const char *who, const char *field, int *now_full)
{
    uint64_t h = fnv(fnv(fnv(fnv(14695981039346656037ULL, ep_names[ep]), kind), who), field);
    if (h == 0)
        h = 1;
    int fresh = 0;
    *now_full = 0;
    lock_take(&seen_lock);
    size_t i = (size_t)(h % AGENT_FIELDS_SEEN_MAX);
    for (size_t probes = 0; probes < AGENT_FIELDS_SEEN_MAX; probes++, i = (i + 1) % AGENT_FIELDS_SEEN_MAX) {
        if (seen[i] == h)
            break;
        if (seen[i] == 0) {
            /* keep a quarter free so probes stay short; past that, count without logging */
            if (nseen < AGENT_FIELDS_SEEN_MAX * 3 / 4) {
                seen[i] = h;
                nseen++;
                fresh = 1;
            } else if (!full_logged) {
                full_logged = 1;
                *now_full = 1;
            }
            break;
        }
    }
    lock_give(&seen_lock);
    return fresh;
}

static void note(agent_ep_t ep, const char *kind, const char *who, const char *field, const char *why)
{
    int full;
    if (first_time(ep, kind, who, field, &full)) {
        char qf[200], qw[200];
        log_warn("msg=\"agent sent a field this server %s; ignored (logged once per agent and field)\" "
                 "endpoint=%s agent=%s field=%s%s%s",
                 strcmp(kind, "unknown") == 0 ? "does not know" : "cannot use", ep_names[ep],
                 log_quote(qw, sizeof(qw), who ? who : ""), log_quote(qf, sizeof(qf), field), why ? " reason=" : "",
                 why ? why : "");
    } else if (full) {
        log_warn("msg=\"too many distinct agent fields to log each once; further ones are only counted in "
                 "/metrics\" limit=%d",
                 AGENT_FIELDS_SEEN_MAX * 3 / 4);
    }
}

/* the index of name in the NULL-terminated list, or -1 */
static int known_index(const char *name, const char *const *known)
{
    for (int i = 0; known[i] != NULL; i++)
        if (known[i][0] == name[0] && strcmp(known[i], name) == 0)
            return i;
    return -1;
}

int agent_fields_known(const char *name, const char *const *known)
{
    return known_index(name, known) >= 0;
}

size_t agent_fields_read(agent_ep_t ep, const char *who, json_t *obj, const char *const *known, json_t **found)
{
    if (found != NULL)
        for (size_t i = 0; known[i] != NULL; i++)
            found[i] = NULL;
    if (!json_is_object(obj))
        return 0;
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int i = known_index(k, known);
        if (i >= 0) {
            if (found != NULL)
                found[i] = v;
            continue;
        }
        n++;
        atomic_fetch_add(&unknown_total[ep], 1);
        note(ep, "unknown", who, k, NULL);
    }
    return n;
}

size_t agent_fields_unknown(agent_ep_t ep, const char *who, json_t *obj, const char *const *known)
{
    return agent_fields_read(ep, who, obj, known, NULL);
}

void agent_fields_invalid(agent_ep_t ep, const char *who, const char *field, const char *why)
{
    atomic_fetch_add(&invalid_total[ep], 1);
    char qwhy[300];
    note(ep, "invalid", who, field, why ? log_quote(qwhy, sizeof(qwhy), why) : NULL);
}

unsigned long agent_fields_unknown_total(agent_ep_t ep)
{
    return atomic_load(&unknown_total[ep]);
}

unsigned long agent_fields_invalid_total(agent_ep_t ep)
{
    return atomic_load(&invalid_total[ep]);
}

static void collect(FILE *f)
{
    fprintf(f, "# HELP hydracluster_agent_unknown_fields_total Fields agents sent that this server does not know "
               "(ignored, the request accepted).\n"
               "# TYPE hydracluster_agent_unknown_fields_total counter\n");
    for (int i = 0; i < AGENT_EP_COUNT; i++)
        fprintf(f, "hydracluster_agent_unknown_fields_total{endpoint=\"%s\"} %lu\n", ep_names[i],
                atomic_load(&unknown_total[i]));
    fprintf(f, "# HELP hydracluster_agent_invalid_fields_total Known fields agents sent with a wrong type or value "
               "(ignored, the request accepted).\n"
               "# TYPE hydracluster_agent_invalid_fields_total counter\n");
    for (int i = 0; i < AGENT_EP_COUNT; i++)
        fprintf(f, "hydracluster_agent_invalid_fields_total{endpoint=\"%s\"} %lu\n", ep_names[i],
                atomic_load(&invalid_total[i]));
}

int agent_fields_init(void)
{
    lock_init(&seen_lock, "agent_fields", LOCK_RANK_AGENT_FIELDS);
    return metrics_register_collector(collect);
}

json_t *agent_fields_diag_value(json_t *v, size_t max_len)
{
    if (json_is_string(v))
        return json_string_length(v) <= max_len ? json_copy(v) : NULL;
    if (json_is_number(v) || json_is_boolean(v)) {
        char *t = json_dumps(v, JSON_ENCODE_ANY);
        json_t *s = t ? json_string(t) : NULL;
        free(t);
        return s;
    }
    return NULL;
}
