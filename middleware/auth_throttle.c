/*
 * The bearer failure table: a fixed array of slots found by a hash of the
 * address and a short linear probe, so a failure costs a few string
 * comparisons and memory stays bounded however many addresses guess. A full
 * probe window forgets its stalest slot: an attacker with many addresses can
 * push others out, which only ever makes the throttle more lenient.
 */
#include "auth_throttle.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lock.h"

#define PROBE 8

typedef struct slot {
    char ip[64];
    uint64_t first_ms; /* start of the current window */
    uint64_t failures; /* in the current window */
} slot_t;

static slot_t slots[AUTH_THROTTLE_SLOTS];
static hc_lock_t throttle_lock;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_lock(void)
{
    lock_init(&throttle_lock, "auth_throttle", LOCK_RANK_AUTH_THROTTLE);
}

static uint64_t hash_ip(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* caller holds the lock: ip's slot, or a fresh one replacing the stalest of its window */
static slot_t *find_slot(const char *ip, uint64_t now, uint64_t window_ms)
{
    size_t base = (size_t)(hash_ip(ip) % AUTH_THROTTLE_SLOTS);
    slot_t *victim = NULL;
    int victim_reusable = 0;
    for (size_t i = 0; i < PROBE; i++) {
        slot_t *s = &slots[(base + i) % AUTH_THROTTLE_SLOTS];
        if (s->ip[0] != '\0' && strcmp(s->ip, ip) == 0)
            return s;
        int reusable = s->ip[0] == '\0' || now - s->first_ms >= window_ms;
        if (reusable) {
            if (!victim_reusable)
                victim = s, victim_reusable = 1;
        } else if (!victim_reusable && (victim == NULL || s->first_ms < victim->first_ms)) {
            victim = s;
        }
    }
    memset(victim, 0, sizeof(*victim));
    snprintf(victim->ip, sizeof(victim->ip), "%s", ip);
    return victim;
}

int64_t auth_throttle_failed(const char *client_ip, uint64_t mono_ms, uint64_t max_failures, uint64_t window_ms,
                             int *newly)
{
    if (newly != NULL)
        *newly = 0;
    if (max_failures == 0 || window_ms == 0 || client_ip == NULL)
        return 0;
    pthread_once(&once, init_lock);
    lock_take(&throttle_lock);
    slot_t *s = find_slot(client_ip, mono_ms, window_ms);
    if (s->failures == 0 || mono_ms - s->first_ms >= window_ms) {
        s->first_ms = mono_ms;
        s->failures = 0;
    }
    s->failures++;
    uint64_t wait_ms = 0;
    if (s->failures > max_failures)
        wait_ms = window_ms - (mono_ms - s->first_ms);
    int crossed = s->failures == max_failures + 1;
    lock_give(&throttle_lock);
    if (newly != NULL)
        *newly = crossed;
    return wait_ms == 0 ? 0 : (int64_t)((wait_ms + 999) / 1000);
}

uint64_t auth_throttle_active(uint64_t mono_ms, uint64_t max_failures, uint64_t window_ms)
{
    if (max_failures == 0 || window_ms == 0)
        return 0;
    pthread_once(&once, init_lock);
    uint64_t n = 0;
    lock_take(&throttle_lock);
    for (size_t i = 0; i < AUTH_THROTTLE_SLOTS; i++)
        if (slots[i].ip[0] != '\0' && slots[i].failures > max_failures && mono_ms - slots[i].first_ms < window_ms)
            n++;
    lock_give(&throttle_lock);
    return n;
}
