#include "intern.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "str.h"

typedef struct entry {
    struct entry *next;
    uint32_t hash;
    uint32_t refs;
    char s[]; /* what callers hold a pointer to */
} entry_t;

static hc_lock_t lock;
static entry_t **buckets;
static size_t nbuckets, count;
static const char empty[] = "";

int intern_init(void)
{
    lock_init(&lock, "strings", LOCK_RANK_STRINGS);
    nbuckets = 1024;
    buckets = calloc(nbuckets, sizeof(*buckets));
    return buckets ? 0 : -1;
}

static void grow(void)
{
    size_t nb = nbuckets * 2;
    entry_t **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < nbuckets; i++)
        for (entry_t *e = buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash % nb];
            b[e->hash % nb] = e;
        }
    free(buckets);
    buckets = b;
    nbuckets = nb;
}

const char *intern_get(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return empty;
    uint32_t h = (uint32_t)str_hash(s); /* the low bits, well mixed */
    const char *out = NULL;
    lock_take(&lock);
    for (entry_t *e = buckets[h % nbuckets]; e != NULL; e = e->next)
        if (e->hash == h && strcmp(e->s, s) == 0) {
            e->refs++;
            out = e->s;
            break;
        }
    if (out == NULL) {
        size_t len = strlen(s);
        entry_t *e = malloc(sizeof(*e) + len + 1);
        if (e != NULL) {
            if (count + 1 > nbuckets)
                grow();
            e->hash = h;
            e->refs = 1;
            memcpy(e->s, s, len + 1);
            e->next = buckets[h % nbuckets];
            buckets[h % nbuckets] = e;
            count++;
            out = e->s;
        }
    }
    lock_give(&lock);
    return out;
}

void intern_put(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return; /* "" is never counted (an interned string is never empty) */
    entry_t *e = (entry_t *)(void *)(s - offsetof(entry_t, s));
    lock_take(&lock);
    if (--e->refs == 0) {
        for (entry_t **pp = &buckets[e->hash % nbuckets]; *pp != NULL; pp = &(*pp)->next)
            if (*pp == e) {
                *pp = e->next;
                break;
            }
        count--;
        free(e);
    }
    lock_give(&lock);
}

int intern_set(const char **field, const char *value)
{
    if (value == NULL)
        value = empty;
    if (*field != NULL && strcmp(*field, value) == 0)
        return 0; /* the common case (a heartbeat repeating its version): no lock */
    const char *v = intern_get(value);
    if (v == NULL)
        return -1;
    intern_put(*field);
    *field = v;
    return 0;
}
