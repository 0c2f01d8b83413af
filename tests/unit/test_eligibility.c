/* Body eligibility over constructed nodes: every filter on its own, all
 * reasons at once, the order, and the stream URL format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eligibility.h"

#define NOW 1800000000
#define OFFLINE_MS 90000
#define MAXN 16

typedef struct {
    node_t nodes[MAXN];
    head_rec_t heads[MAXN];
    const node_t *ptrs[MAXN];
    size_t n;
    elig_entry_t out[MAXN];
    size_t count, eligible;
    const char *owner; /* the owner input; NULL: any */
} fleet_t;

static node_t *add_body(fleet_t *f, const char *id, const char *name)
{
    node_t *b = &f->nodes[f->n];
    memset(b, 0, sizeof(*b));
    /* registry_node_new's defaults: text fields are never NULL */
    b->hostname = b->os = b->arch = b->version = b->owner = b->district = b->venue = "";
    b->provider_status = b->stream_status = "";
    snprintf(b->id, sizeof(b->id), "%s", id);
    b->name = name;
    snprintf(b->approval, sizeof(b->approval), "approved");
    b->district = "bxl1";
    b->venue = "cloud-seven";
    b->provider_status = "running";
    b->stream_status = "idle";
    b->last_seen = NOW - 10;
    f->ptrs[f->n] = b;
    f->n++;
    return b;
}

static node_t *add_head(fleet_t *f, const char *id, const char *district, const char *venue)
{
    node_t *h = add_body(f, id, id);
    h->district = district;
    h->venue = venue;
    head_rec_t *rec = &f->heads[f->n - 1];
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->status, sizeof(rec->status), "idle");
    h->head = rec;
    return h;
}

static void run(fleet_t *f, const node_t *head)
{
    assert_int_equal(eligibility_evaluate(head, f->owner, f->ptrs, f->n, NOW, OFFLINE_MS, f->out, &f->count, &f->eligible), 0);
}

/* the reasons of body id in the last run (-1 when it got no entry) */
static long reasons_of(fleet_t *f, const char *id)
{
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->out[i].body->id, id) == 0)
            return (long)f->out[i].reasons;
    return -1;
}

/* one head in bxl1/cloud-seven and one body that passes every filter */
static fleet_t *base(node_t **head, node_t **body)
{
    static fleet_t f;
    memset(&f, 0, sizeof(f));
    *head = add_head(&f, "node-head", "bxl1", "cloud-seven");
    *body = add_body(&f, "node-body", "render-01");
    return &f;
}

static void test_good_body_is_eligible(void **state)
{
    (void)state;
    node_t *h, *b;
    fleet_t *f = base(&h, &b);
    run(f, h);
    assert_int_equal(f->count, 1); /* the head is no body */
    assert_int_equal(f->eligible, 1);
    assert_ptr_equal(f->out[0].body, b);
    assert_int_equal(f->out[0].reasons, 0);
}

static void test_each_filter_alone(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        unsigned reason;
    } cases[] = {
        {"pending", ELIG_NOT_APPROVED},       {"rejected", ELIG_NOT_APPROVED},
        {"district", ELIG_OTHER_DISTRICT},    {"venue", ELIG_OTHER_VENUE},
        {"never seen", ELIG_OFFLINE},         {"seen too long ago", ELIG_OFFLINE},
        {"draining", ELIG_DRAINING},          {"provider down", ELIG_PROVIDER_NOT_RUNNING},
        {"provider unknown", ELIG_PROVIDER_NOT_RUNNING}, {"streaming", ELIG_STREAMING},
        {"stream status unknown to us", ELIG_STREAMING}, {"owner", ELIG_OTHER_OWNER},
        {"orphaned", ELIG_ORPHANED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        node_t *h, *b;
        fleet_t *f = base(&h, &b);
        const char *w = cases[i].what;
        if (strcmp(w, "pending") == 0)
            snprintf(b->approval, sizeof(b->approval), "pending");
        else if (strcmp(w, "rejected") == 0)
            snprintf(b->approval, sizeof(b->approval), "rejected");
        else if (strcmp(w, "district") == 0)
            b->district = "ams2";
        else if (strcmp(w, "venue") == 0)
            b->venue = "other-venue";
        else if (strcmp(w, "never seen") == 0)
            b->last_seen = 0;
        else if (strcmp(w, "seen too long ago") == 0)
            b->last_seen = NOW - 91;
        else if (strcmp(w, "draining") == 0)
            b->drain = 1;
        else if (strcmp(w, "provider down") == 0)
            b->provider_status = "sunshine_api_unreachable";
        else if (strcmp(w, "provider unknown") == 0)
            b->provider_status = "";
        else if (strcmp(w, "streaming") == 0)
            b->stream_status = "streaming";
        else if (strcmp(w, "stream status unknown to us") == 0)
            b->stream_status = "starting"; /* only idle is free */
        else if (strcmp(w, "owner") == 0) {
            b->owner = "ops";
            f->owner = "venue-cloud-seven";
        }
        else if (strcmp(w, "orphaned") == 0)
            b->orphaned_since = NOW - 120; /* (set by fleet/stream_sessions.c only while streaming) */
        run(f, h);
        if (f->eligible != 0 || reasons_of(f, "node-body") != (long)cases[i].reason)
            fail_msg("case \"%s\": eligible=%zu reasons=%ld, expected reason %u", w, f->eligible,
                     reasons_of(f, "node-body"), cases[i].reason);
    }
}

static void test_boundaries_that_stay_eligible(void **state)
{
    (void)state;
    node_t *h, *b;
    fleet_t *f = base(&h, &b);
    b->last_seen = NOW - 90; /* exactly offline_after: still online, like node_status */
    b->stream_status = ""; /* not reported yet counts as idle */
    run(f, h);
    assert_int_equal(reasons_of(f, "node-body"), 0);
    /* a head without a venue takes any venue of its district */
    h->venue = "";
    b->venue = "elsewhere";
    run(f, h);
    assert_int_equal(reasons_of(f, "node-body"), 0);
    /* a head without a district only matches bodies without one */
    h->district = "";
    run(f, h);
    assert_int_equal(reasons_of(f, "node-body"), ELIG_OTHER_DISTRICT);
    b->district = "";
    run(f, h);
    assert_int_equal(reasons_of(f, "node-body"), 0);
}

static void test_pinned_bodies(void **state)
{
    (void)state;
    node_t *h, *b;
    fleet_t *f = base(&h, &b);
    node_t *other = add_head(f, "node-other-head", "bxl1", "cloud-seven");
    /* pinned to this head: still eligible for it */
    snprintf(h->head->assigned_body_id, sizeof(h->head->assigned_body_id), "node-body");
    run(f, h);
    assert_int_equal(reasons_of(f, "node-body"), 0);
    assert_int_equal(reasons_of(f, "node-other-head"), -1); /* heads are not bodies */
    /* pinned to another head: not offered to this one */
    h->head->assigned_body_id[0] = '\0';
    snprintf(other->head->assigned_body_id, sizeof(other->head->assigned_body_id), "node-body");
    run(f, h);
    assert_int_equal(reasons_of(f, "node-body"), ELIG_PINNED_ELSEWHERE);
    /* and the other head still sees it */
    run(f, other);
    assert_int_equal(reasons_of(f, "node-body"), 0);
}

static void test_every_reason_at_once(void **state)
{
    (void)state;
    node_t *h, *b;
    fleet_t *f = base(&h, &b);
    node_t *other = add_head(f, "node-other-head", "x", "y");
    snprintf(other->head->assigned_body_id, sizeof(other->head->assigned_body_id), "node-body");
    snprintf(b->approval, sizeof(b->approval), "pending");
    b->district = "ams2";
    b->venue = "v";
    b->last_seen = 0;
    b->drain = 1;
    b->provider_status = "stopped";
    b->stream_status = "streaming";
    f->owner = "someone-else";
    b->orphaned_since = NOW - 61;
    run(f, h);
    unsigned all = ELIG_NOT_APPROVED | ELIG_OTHER_DISTRICT | ELIG_OTHER_VENUE | ELIG_OFFLINE | ELIG_DRAINING |
                   ELIG_PROVIDER_NOT_RUNNING | ELIG_STREAMING | ELIG_PINNED_ELSEWHERE | ELIG_ORPHANED | ELIG_OTHER_OWNER;
    assert_int_equal(reasons_of(f, "node-body"), all);
    json_t *a = json_array();
    eligibility_reasons_json(all, a);
    char *s = json_dumps(a, JSON_COMPACT);
    assert_string_equal(s, "[\"not_approved\",\"other_district\",\"other_venue\",\"offline\",\"draining\","
                           "\"provider_not_running\",\"streaming\",\"pinned_to_other_head\",\"orphaned\","
                           "\"other_owner\"]");
    free(s);
    json_decref(a);
    assert_string_equal(eligibility_reason_code(ELIG_OFFLINE), "offline");
    assert_null(eligibility_reason_code(1u << 20));
}

static void test_order_least_recently_assigned_then_name(void **state)
{
    (void)state;
    node_t *h, *b;
    fleet_t *f = base(&h, &b); /* render-01, never assigned */
    node_t *b2 = add_body(f, "node-b2", "render-02");
    node_t *b3 = add_body(f, "node-b3", "render-03");
    node_t *b4 = add_body(f, "node-b4", "render-00");
    node_t *bad = add_body(f, "node-bad", "aaa-offline");
    node_t *b5 = add_body(f, "node-bz", "render-01"); /* same name as b: id decides (node-body < node-bz) */
    bad->last_seen = 0;
    b->last_assigned_at = NOW - 100;  /* assigned recently */
    b2->last_assigned_at = NOW - 5000; /* assigned long ago */
    b3->last_assigned_at = 0;          /* never */
    b4->last_assigned_at = NOW - 100;  /* ties with b: name decides (render-00 first) */
    b5->last_assigned_at = NOW - 100;
    run(f, h);
    assert_int_equal(f->count, 6);
    assert_int_equal(f->eligible, 5);
    const node_t *want[] = {b3, b2, b4, b, b5, bad};
    for (size_t i = 0; i < 6; i++)
        if (f->out[i].body != want[i])
            fail_msg("position %zu: %s, expected %s", i, f->out[i].body->id, want[i]->id);
    assert_int_equal(f->out[5].reasons, ELIG_OFFLINE);
}

static void test_empty_fleet(void **state)
{
    (void)state;
    fleet_t *f = &(fleet_t){0};
    node_t *h = add_head(f, "node-lonely", "bxl1", "");
    run(f, h);
    assert_int_equal(f->count, 0);
    assert_int_equal(f->eligible, 0);
}

static void test_stream_url(void **state)
{
    (void)state;
    char buf[128];
    eligibility_stream_url("10.66.0.21", 47990, buf, sizeof(buf));
    assert_string_equal(buf, "https://10.66.0.21:47990");
    eligibility_stream_url("fd00::21", 47990, buf, sizeof(buf));
    assert_string_equal(buf, "https://[fd00::21]:47990");
    eligibility_stream_url("", 47990, buf, sizeof(buf));
    assert_string_equal(buf, "");
    eligibility_stream_url("192.168.10.21", 8443, buf, sizeof(buf));
    assert_string_equal(buf, "https://192.168.10.21:8443");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_body_is_eligible),
        cmocka_unit_test(test_each_filter_alone),
        cmocka_unit_test(test_boundaries_that_stay_eligible),
        cmocka_unit_test(test_pinned_bodies),
        cmocka_unit_test(test_every_reason_at_once),
        cmocka_unit_test(test_order_least_recently_assigned_then_name),
        cmocka_unit_test(test_empty_fleet),
        cmocka_unit_test(test_stream_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
