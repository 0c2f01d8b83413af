/*
 * Interned strings for the text fields of nodes: every distinct value is
 * stored once with a reference count, so 100,000 nodes in 60 districts hold
 * 60 district strings, not 100,000 fixed 256-byte arrays (docs/performance.md,
 * "Memory per node").
 *
 * A value from intern_get is read-only and lives until its last reference is
 * given back with intern_put. "" is a static string that is never counted.
 * Threading: any thread; the table has its own lock (rank LOCK_RANK_STRINGS,
 * taken under the nodes lock, never held while calling out).
 */
#ifndef HC_INTERN_H
#define HC_INTERN_H

/* Main thread, once, before any other call. */
int intern_init(void);
/* A counted reference to the interned copy of s (NULL counts as ""), or NULL
 * out of memory. */
const char *intern_get(const char *s);
/* Gives back a reference from intern_get (NULL and "" are ignored). */
void intern_put(const char *s);
/* Replaces *field (a reference or NULL) with a reference to value unless it
 * already holds that text: 0, or -1 out of memory with *field unchanged. */
int intern_set(const char **field, const char *value);

#endif
