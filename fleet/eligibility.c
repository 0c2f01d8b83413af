/* fleet/: body eligibility for a head, best first (eligibility.h). */
#include "eligibility.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_codes[] = {
    "not_approved", "other_district", "other_venue", "offline", "draining", "provider_not_running", "streaming",
    "pinned_to_other_head", "orphaned", "other_owner",
};

#define NREASONS (sizeof(reason_codes) / sizeof(reason_codes[0]))

const char *eligibility_reason_code(unsigned bit)
{
    for (size_t i = 0; i < NREASONS; i++)
        if (bit == 1u << i)
            return reason_codes[i];
    return NULL;
}

void eligibility_reasons_json(unsigned mask, json_t *array)
{
    for (size_t i = 0; i < NREASONS; i++)
        if (mask & (1u << i))
            json_array_append_new(array, json_string(reason_codes[i]));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int by_name(const node_t *a, const node_t *b)
{
    int c = strcmp(a->name, b->name);
    return c != 0 ? c : strcmp(a->id, b->id);
}

static int cmp_entry(const void *pa, const void *pb)
{
    const elig_entry_t *a = pa, *b = pb;
    if ((a->reasons == 0) != (b->reasons == 0))
        return a->reasons == 0 ? -1 : 1;
    if (a->reasons == 0 && a->body->last_assigned_at != b->body->last_assigned_at)
        return a->body->last_assigned_at < b->body->last_assigned_at ? -1 : 1;
    return by_name(a->body, b->body);
}

static int stream_idle(const char *s)
{
    return s[0] == '\0' || strcmp(s, "idle") == 0;
}

int eligibility_evaluate(const node_t *head, const char *owner, const node_t *const *nodes, size_t n, int64_t now,
                         uint64_t offline_after_ms, elig_entry_t *out, size_t *count_out, size_t *eligible)
{
    /* the bodies other heads have pinned, sorted for lookup */
    const char **pinned = calloc(n ? n : 1, sizeof(*pinned));
    if (pinned == NULL)
        return -1;
    size_t npinned = 0;
    for (size_t i = 0; i < n; i++) {
        const node_t *h = nodes[i];
        if (h != head && h->head != NULL && h->head->assigned_body_id[0] != '\0')
            pinned[npinned++] = h->head->assigned_body_id;
    }
    qsort(pinned, npinned, sizeof(*pinned), cmp_str);

    size_t count = 0, good = 0;
    for (size_t i = 0; i < n; i++) {
        const node_t *b = nodes[i];
        if (b == head || b->head != NULL)
            continue;
        unsigned why = 0;
        if (strcmp(b->approval, "approved") != 0)
            why |= ELIG_NOT_APPROVED;
        if (strcmp(b->district, head->district) != 0)
            why |= ELIG_OTHER_DISTRICT;
        if (head->venue[0] != '\0' && strcmp(b->venue, head->venue) != 0)
            why |= ELIG_OTHER_VENUE;
        if (!registry_node_online(b, now, offline_after_ms))
            why |= ELIG_OFFLINE;
        if (b->drain)
            why |= ELIG_DRAINING;
        if (strcmp(b->provider_status, "running") != 0)
            why |= ELIG_PROVIDER_NOT_RUNNING;
        if (!stream_idle(b->stream_status))
            why |= ELIG_STREAMING;
        const char *id = b->id;
        if (npinned > 0 && bsearch(&id, pinned, npinned, sizeof(*pinned), cmp_str) != NULL)
            why |= ELIG_PINNED_ELSEWHERE;
        if (b->orphaned_since != 0)
            why |= ELIG_ORPHANED;
        if (owner != NULL && owner[0] != '\0' && strcmp(b->owner, owner) != 0)
            why |= ELIG_OTHER_OWNER;
        out[count].body = b;
        out[count].reasons = why;
        count++;
        if (why == 0)
            good++;
    }
    free(pinned);
    qsort(out, count, sizeof(*out), cmp_entry);
    *count_out = count;
    if (eligible != NULL)
        *eligible = good;
    return 0;
}

void eligibility_stream_url(const char *ip, unsigned port, char *out, size_t outlen)
{
    if (ip == NULL || ip[0] == '\0') {
        snprintf(out, outlen, "%s", "");
        return;
    }
    int v6 = strchr(ip, ':') != NULL && ip[0] != '[';
    snprintf(out, outlen, "https://%s%s%s:%u", v6 ? "[" : "", ip, v6 ? "]" : "", port);
}
