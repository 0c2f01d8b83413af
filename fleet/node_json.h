/*
 * The node object (docs/api.md "Nodes") written straight into a byte buffer,
 * without building a jansson tree: what the list and node reads send. Byte
 * for byte what json_dumps(node_to_json(...), JSON_COMPACT) writes (the
 * mutation answers still use node_to_json, registry.h), but for times in
 * years 0..999, written with four digits (tests/unit/test_node_json.c).
 *
 * Threading: a node_json_buf_t belongs to one thread; node_json_append reads
 * the node, so its caller holds the nodes lock (shared is enough) and sends
 * the bytes only after releasing it.
 */
#ifndef HC_NODE_JSON_H
#define HC_NODE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

typedef struct node_json_buf {
    char *p;      /* malloc'ed (node_json_buf_free), or the caller's while borrowed */
    size_t len, cap;
    int oom;      /* an append failed: the content is incomplete */
    int borrowed; /* p is the caller's memory (e.g. on its stack): moved to the heap when it must grow */
} node_json_buf_t;

/* frees p unless borrowed */
void node_json_buf_free(node_json_buf_t *b);
/* appends len bytes (on failure sets b->oom and leaves the content as it was) */
void node_json_put(node_json_buf_t *b, const char *s, size_t len);
/* appends s as a JSON string literal, quotes included */
void node_json_put_str(node_json_buf_t *b, const char *s);
/* appends the node object; now and offline_after_ms decide node_status */
void node_json_append(node_json_buf_t *b, const node_t *n, int64_t now, uint64_t offline_after_ms);

/* The writers under the appends, for callers that size their own memory
 * (and the unit tests). They write at o, which must have the room given,
 * and return the end of what they wrote; no NUL. */

/* Room node_json_str_write needs for n bytes: each byte as \u00XX, the
 * quotes, and 8 bytes it may store past its end (it copies whole words). */
#define NODE_JSON_STR_ROOM(n) ((n) * 6 + 2 + 8)
/* the n bytes at s as a JSON string literal, escaped as jansson's
 * json_dumps does ("\"", "\\", \b \f \n \r \t, other bytes below 0x20 as
 * \u00XX with capitals, everything else as it is) */
char *node_json_str_write(char *o, const char *s, size_t n);
/* Room node_json_time_write needs */
#define NODE_JSON_TIME_ROOM 64
/* a time as a node's JSON holds it, quotes included: null for 0, else
 * clock_rfc3339's string ("YYYY-MM-DDTHH:MM:SSZ", UTC) */
char *node_json_time_write(char *o, int64_t t);

#endif
