#include "lock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* Contention totals per lock name. Slots are claimed once (CAS on the name)
 * and never freed; the rank table has six names, so 32 is plenty. */
#define STAT_SLOTS 32
static struct {
    _Atomic(const char *) name;
    _Atomic uint64_t contended;
    _Atomic uint64_t wait_us;
} stats[STAT_SLOTS];

static void record_wait(const char *name, uint64_t wait_us)
{
    for (size_t i = 0; i < STAT_SLOTS; i++) {
        const char *n = atomic_load_explicit(&stats[i].name, memory_order_acquire);
        if (n == NULL) {
            const char *expected = NULL;
            if (!atomic_compare_exchange_strong(&stats[i].name, &expected, name))
                n = expected; /* another thread claimed it first: maybe for this name */
            else
                n = name;
        }
        if (n == name || strcmp(n, name) == 0) {
            atomic_fetch_add_explicit(&stats[i].contended, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&stats[i].wait_us, wait_us, memory_order_relaxed);
            return;
        }
    }
}

size_t lock_stats_get(lock_stat_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < STAT_SLOTS && n < max; i++) {
        const char *name = atomic_load_explicit(&stats[i].name, memory_order_acquire);
        if (name == NULL)
            break;
        out[n].name = name;
        out[n].contended = atomic_load_explicit(&stats[i].contended, memory_order_relaxed);
        out[n].wait_us = atomic_load_explicit(&stats[i].wait_us, memory_order_relaxed);
        n++;
    }
    return n;
}

#ifdef HC_LOCK_CHECK
/* What this thread holds, in acquisition order. Depth is small: the rank
 * table has six entries and rule 4 forbids repeats. */
#define HELD_MAX 16
static __thread struct {
    const char *name;
    int rank;
    const void *addr;
} held[HELD_MAX];
static __thread int nheld;

static void check_acquire(const void *addr, const char *name, int rank)
{
    for (int i = 0; i < nheld; i++) {
        if (held[i].addr == addr) {
            fprintf(stderr, "level=fatal msg=\"lock order violation: recursive acquisition\" lock=%s rank=%d\n", name, rank);
            abort();
        }
        if (held[i].rank >= rank) {
            fprintf(stderr,
                    "level=fatal msg=\"lock order violation: %s (rank %d) taken while holding %s (rank %d)\" lock=%s held=%s\n",
                    name, rank, held[i].name, held[i].rank, name, held[i].name);
            abort();
        }
    }
    if (nheld == HELD_MAX) {
        fprintf(stderr, "level=fatal msg=\"too many locks held\" lock=%s\n", name);
        abort();
    }
}

static void record_acquire(const void *addr, const char *name, int rank)
{
    held[nheld].addr = addr;
    held[nheld].name = name;
    held[nheld].rank = rank;
    nheld++;
}

static void record_release(const void *addr, const char *name)
{
    for (int i = nheld - 1; i >= 0; i--) {
        if (held[i].addr == addr) {
            for (int j = i; j < nheld - 1; j++)
                held[j] = held[j + 1];
            nheld--;
            return;
        }
    }
    fprintf(stderr, "level=fatal msg=\"lock released that this thread does not hold\" lock=%s\n", name);
    abort();
}

int lock_held_count(void)
{
    return nheld;
}

void lock_assert_none_held(const char *where)
{
    if (nheld != 0) {
        fprintf(stderr, "level=fatal msg=\"lock held across a boundary\" lock=%s where=\"%s\"\n", held[0].name, where);
        abort();
    }
}
#else
#define check_acquire(a, n, r) ((void)0)
#define record_acquire(a, n, r) ((void)0)
#define record_release(a, n) ((void)0)
int lock_held_count(void)
{
    return 0;
}
void lock_assert_none_held(const char *where)
{
    (void)where;
}
#endif

static void die_errno(const char *what, const char *name, int err)
{
    fprintf(stderr, "level=fatal msg=\"%s failed\" lock=%s errno=%d\n", what, name, err);
    abort();
}

void lock_init(hc_lock_t *l, const char *name, int rank)
{
    int err = pthread_rwlock_init(&l->rw, NULL);
    if (err)
        die_errno("pthread_rwlock_init", name, err);
    l->name = name;
    l->rank = rank;
}

void lock_destroy(hc_lock_t *l)
{
    pthread_rwlock_destroy(&l->rw);
}

void lock_take(hc_lock_t *l)
{
    check_acquire(l, l->name, l->rank);
    int err = pthread_rwlock_trywrlock(&l->rw);
    if (err == EBUSY) {
        uint64_t t0 = clock_mono_us();
        err = pthread_rwlock_wrlock(&l->rw);
        record_wait(l->name, clock_mono_us() - t0);
    }
    if (err)
        die_errno("pthread_rwlock_wrlock", l->name, err);
    record_acquire(l, l->name, l->rank);
    l->generation++;
}

uint64_t lock_generation(const hc_lock_t *l)
{
    return l->generation;
}

void lock_take_shared(hc_lock_t *l)
{
    check_acquire(l, l->name, l->rank);
    int err = pthread_rwlock_tryrdlock(&l->rw);
    if (err == EBUSY) {
        uint64_t t0 = clock_mono_us();
        err = pthread_rwlock_rdlock(&l->rw);
        record_wait(l->name, clock_mono_us() - t0);
    }
    if (err)
        die_errno("pthread_rwlock_rdlock", l->name, err);
    record_acquire(l, l->name, l->rank);
}

void lock_give(hc_lock_t *l)
{
    record_release(l, l->name);
    int err = pthread_rwlock_unlock(&l->rw);
    if (err)
        die_errno("pthread_rwlock_unlock", l->name, err);
}

void mutex_init(hc_mutex_t *m, const char *name, int rank)
{
    int err = pthread_mutex_init(&m->m, NULL);
    if (err)
        die_errno("pthread_mutex_init", name, err);
    m->name = name;
    m->rank = rank;
}

void mutex_destroy(hc_mutex_t *m)
{
    pthread_mutex_destroy(&m->m);
}

void mutex_take(hc_mutex_t *m)
{
    check_acquire(m, m->name, m->rank);
    int err = pthread_mutex_trylock(&m->m);
    if (err == EBUSY) {
        uint64_t t0 = clock_mono_us();
        err = pthread_mutex_lock(&m->m);
        record_wait(m->name, clock_mono_us() - t0);
    }
    if (err)
        die_errno("pthread_mutex_lock", m->name, err);
    record_acquire(m, m->name, m->rank);
}

void mutex_give(hc_mutex_t *m)
{
    record_release(m, m->name);
    int err = pthread_mutex_unlock(&m->m);
    if (err)
        die_errno("pthread_mutex_unlock", m->name, err);
}

void mutex_wait(hc_mutex_t *m, pthread_cond_t *cond)
{
    int err = pthread_cond_wait(cond, &m->m);
    if (err)
        die_errno("pthread_cond_wait", m->name, err);
}

int mutex_timedwait(hc_mutex_t *m, pthread_cond_t *cond, const struct timespec *abstime)
{
    int err = pthread_cond_timedwait(cond, &m->m, abstime);
    if (err && err != ETIMEDOUT)
        die_errno("pthread_cond_timedwait", m->name, err);
    return err;
}
