/*
 * The node object (docs/api.md "Nodes") written straight into a byte buffer,
 * without building a jansson tree: what the list and node reads send. Same
 * members, order and values as node_to_json (registry.h), which the
 * mutation answers still use.
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

#endif
