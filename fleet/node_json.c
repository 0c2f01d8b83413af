#include "node_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

void node_json_buf_free(node_json_buf_t *b)
{
    if (!b->borrowed)
        free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int reserve(node_json_buf_t *b, size_t more)
{
    if (b->oom)
        return -1;
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *p = b->borrowed ? malloc(cap) : realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    if (b->borrowed) {
        memcpy(p, b->p, b->len);
        b->borrowed = 0;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void node_json_put(node_json_buf_t *b, const char *s, size_t len)
{
    if (reserve(b, len) == 0) {
        memcpy(b->p + b->len, s, len);
        b->len += len;
    }
}

#define PUT_LIT(b, lit) node_json_put((b), (lit), sizeof(lit) - 1)

void node_json_put_str(node_json_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    /* worst case: every byte becomes \u00XX */
    if (reserve(b, n * 6 + 2) != 0)
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

/* ,"key": */
static void put_key(node_json_buf_t *b, const char *key)
{
    PUT_LIT(b, ",\"");
    node_json_put(b, key, strlen(key));
    PUT_LIT(b, "\":");
}

static void put_member(node_json_buf_t *b, const char *key, const char *val)
{
    put_key(b, key);
    node_json_put_str(b, val);
}

static void put_time(node_json_buf_t *b, const char *key, int64_t t)
{
    put_key(b, key);
    if (t == 0) {
        PUT_LIT(b, "null");
        return;
    }
    char buf[32];
    node_json_put_str(b, clock_rfc3339(t, buf, sizeof(buf)));
}

static void put_bool(node_json_buf_t *b, const char *key, int v)
{
    put_key(b, key);
    if (v)
        PUT_LIT(b, "true");
    else
        PUT_LIT(b, "false");
}

/* a jansson value as compact JSON (diagnostics, extra: small, rarely present) */
static void put_json(node_json_buf_t *b, const char *key, const json_t *v)
{
    size_t len = json_dumpb(v, NULL, 0, JSON_COMPACT);
    if (len == 0) {
        b->oom = 1;
        return;
    }
    put_key(b, key);
    if (reserve(b, len) == 0 && json_dumpb(v, b->p + b->len, len, JSON_COMPACT) == len)
        b->len += len;
    else
        b->oom = 1;
}

void node_json_append(node_json_buf_t *b, const node_t *n, int64_t now, uint64_t offline_after_ms)
{
    PUT_LIT(b, "{\"id\":");
    node_json_put_str(b, n->id);
    put_member(b, "name", n->name);
    put_member(b, "hostname", n->hostname);
    put_member(b, "os", n->os);
    put_member(b, "arch", n->arch);
    put_member(b, "version", n->version);
    put_key(b, "roles");
    PUT_LIT(b, "[");
    size_t i, k = 0;
    json_t *v;
    json_array_foreach(n->roles, i, v)
    {
        if (!json_is_string(v))
            continue;
        if (k++)
            PUT_LIT(b, ",");
        node_json_put_str(b, json_string_value(v));
    }
    PUT_LIT(b, "]");
    put_member(b, "owner", n->owner);
    put_member(b, "district", n->district);
    put_member(b, "venue", n->venue);
    put_member(b, "approval", n->approval);
    put_member(b, "node_status", registry_node_online(n, now, offline_after_ms) ? "online" : "offline");
    put_time(b, "last_seen", n->last_seen);
    put_time(b, "enrolled_at", n->enrolled_at);
    put_member(b, "ip", n->ip);
    put_member(b, "wireguard_ip", n->wireguard_ip);
    put_member(b, "lan_ip", n->lan_ip);
    put_member(b, "provider_status", n->provider_status);
    put_member(b, "stream_status", n->stream_status);
    put_bool(b, "drain", n->drain);
    put_key(b, "pending_flags");
    PUT_LIT(b, "[");
    const char *sep = "";
    if (n->flag_update_node) {
        PUT_LIT(b, "\"update_node\"");
        sep = ",";
    }
    if (n->flag_update_services) {
        node_json_put(b, sep, strlen(sep));
        PUT_LIT(b, "\"update_services\"");
        sep = ",";
    }
    if (n->flag_reprovision) {
        node_json_put(b, sep, strlen(sep));
        PUT_LIT(b, "\"reprovision\"");
    }
    PUT_LIT(b, "]");
    char num[32];
    int len = snprintf(num, sizeof(num), ",\"flags_generation\":%" PRId64, n->flags_generation);
    node_json_put(b, num, (size_t)len);
    put_bool(b, "is_head", n->head != NULL);
    if (json_object_size(n->diagnostics) > 0)
        put_json(b, "diagnostics", n->diagnostics);
    if (json_object_size(n->extra) > 0)
        put_json(b, "extra", n->extra);
    PUT_LIT(b, "}");
}
