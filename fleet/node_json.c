#include "node_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "str.h"

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

/* ,"key": from a literal: no strlen per member */
#define PUT_KEY(b, key) PUT_LIT(b, ",\"" key "\":")
#define PUT_MEMBER(b, key, val)                                                                                        \
    do {                                                                                                               \
        PUT_KEY(b, key);                                                                                               \
        node_json_put_str(b, val);                                                                                     \
    } while (0)

static void put_time(node_json_buf_t *b, int64_t t)
{
    if (t == 0) {
        PUT_LIT(b, "null");
        return;
    }
    /* clock_rfc3339's format, without strftime's locale machinery (a list
     * formats two times per node) */
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        char buf[64];
        node_json_put_str(b, clock_rfc3339(t, buf, sizeof(buf)));
        return;
    }
    char o[22];
    int y = tm.tm_year + 1900;
    const int f[5] = {tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
    o[0] = '"';
    o[1] = (char)('0' + y / 1000);
    o[2] = (char)('0' + y / 100 % 10);
    o[3] = (char)('0' + y / 10 % 10);
    o[4] = (char)('0' + y % 10);
    static const char seps[5] = {'-', '-', 'T', ':', ':'};
    for (int i = 0; i < 5; i++) {
        o[5 + 3 * i] = seps[i];
        o[6 + 3 * i] = (char)('0' + f[i] / 10);
        o[7 + 3 * i] = (char)('0' + f[i] % 10);
    }
    o[20] = 'Z';
    o[21] = '"';
    node_json_put(b, o, sizeof(o));
}

static void put_bool(node_json_buf_t *b, int v)
{
    if (v)
        PUT_LIT(b, "true");
    else
        PUT_LIT(b, "false");
}

/* a jansson value as compact JSON (diagnostics, extra: small, rarely present) */
static void put_json(node_json_buf_t *b, const json_t *v)
{
    /* one dump into the room there is; a second only when it did not fit */
    if (reserve(b, 256) != 0)
        return;
    size_t room = b->cap - b->len;
    size_t len = json_dumpb(v, b->p + b->len, room, JSON_COMPACT);
    if (len == 0) {
        b->oom = 1;
        return;
    }
    if (len > room) {
        if (reserve(b, len) != 0)
            return;
        if (json_dumpb(v, b->p + b->len, len, JSON_COMPACT) != len) {
            b->oom = 1;
            return;
        }
    }
    b->len += len;
}

void node_json_append(node_json_buf_t *b, const node_t *n, int64_t now, uint64_t offline_after_ms)
{
    PUT_LIT(b, "{\"id\":");
    node_json_put_str(b, n->id);
    PUT_MEMBER(b, "name", n->name);
    PUT_MEMBER(b, "hostname", n->hostname);
    PUT_MEMBER(b, "os", n->os);
    PUT_MEMBER(b, "arch", n->arch);
    PUT_MEMBER(b, "version", n->version);
    PUT_KEY(b, "roles");
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
    PUT_MEMBER(b, "owner", n->owner);
    PUT_MEMBER(b, "district", n->district);
    PUT_MEMBER(b, "venue", n->venue);
    PUT_MEMBER(b, "approval", n->approval);
    if (registry_node_online(n, now, offline_after_ms))
        PUT_LIT(b, ",\"node_status\":\"online\"");
    else
        PUT_LIT(b, ",\"node_status\":\"offline\"");
    PUT_KEY(b, "last_seen");
    put_time(b, n->last_seen);
    PUT_KEY(b, "enrolled_at");
    put_time(b, n->enrolled_at);
    PUT_MEMBER(b, "ip", n->ip);
    PUT_MEMBER(b, "wireguard_ip", n->wireguard_ip);
    PUT_MEMBER(b, "lan_ip", n->lan_ip);
    PUT_MEMBER(b, "provider_status", n->provider_status);
    PUT_MEMBER(b, "stream_status", n->stream_status);
    PUT_KEY(b, "drain");
    put_bool(b, n->drain);
    PUT_KEY(b, "pending_flags");
    PUT_LIT(b, "[");
    int sep = 0;
    if (n->flag_update_node) {
        PUT_LIT(b, "\"update_node\"");
        sep = 1;
    }
    if (n->flag_update_services) {
        if (sep)
            PUT_LIT(b, ",");
        PUT_LIT(b, "\"update_services\"");
        sep = 1;
    }
    if (n->flag_reprovision) {
        if (sep)
            PUT_LIT(b, ",");
        PUT_LIT(b, "\"reprovision\"");
    }
    PUT_LIT(b, "]");
    PUT_KEY(b, "flags_generation");
    char num[24];
    node_json_put(b, num, str_from_int(num, (long long)n->flags_generation));
    PUT_KEY(b, "is_head");
    put_bool(b, n->head != NULL);
    if (json_object_size(n->diagnostics) > 0) {
        PUT_KEY(b, "diagnostics");
        put_json(b, n->diagnostics);
    }
    if (json_object_size(n->extra) > 0) {
        PUT_KEY(b, "extra");
        put_json(b, n->extra);
    }
    PUT_KEY(b, "orphaned");
    put_bool(b, n->orphaned_since != 0);
    PUT_KEY(b, "orphaned_since");
    put_time(b, n->orphaned_since);
    PUT_LIT(b, "}");
}

static json_t *time_json(int64_t t)
{
    char buf[32];
    return t ? json_string(clock_rfc3339(t, buf, sizeof(buf))) : json_null();
}

json_t *node_to_json(const node_t *n, int64_t now, uint64_t offline_after_ms)
{
    int online = registry_node_online(n, now, offline_after_ms);
    json_t *flags = json_array();
    if (n->flag_update_node)
        json_array_append_new(flags, json_string("update_node"));
    if (n->flag_update_services)
        json_array_append_new(flags, json_string("update_services"));
    if (n->flag_reprovision)
        json_array_append_new(flags, json_string("reprovision"));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, "
                          "s:s, s:s, s:b, s:o, s:I, s:b}",
                          "id", n->id, "name", n->name, "hostname", n->hostname, "os", n->os, "arch", n->arch,
                          "version", n->version, "roles", json_deep_copy(n->roles), "owner", n->owner, "district", n->district,
                          "venue", n->venue, "approval", n->approval, "node_status", online ? "online" : "offline",
                          "last_seen", time_json(n->last_seen), "enrolled_at", time_json(n->enrolled_at), "ip", n->ip,
                          "wireguard_ip", n->wireguard_ip, "lan_ip", n->lan_ip, "provider_status", n->provider_status,
                          "stream_status", n->stream_status, "drain", n->drain, "pending_flags", flags,
                          "flags_generation", (json_int_t)n->flags_generation, "is_head", n->head != NULL);
    if (o == NULL)
        return NULL;
    if (json_object_size(n->diagnostics) > 0)
        json_object_set_new(o, "diagnostics", json_deep_copy(n->diagnostics));
    if (json_object_size(n->extra) > 0)
        json_object_set_new(o, "extra", json_deep_copy(n->extra));
    json_object_set_new(o, "orphaned", json_boolean(n->orphaned_since != 0));
    json_object_set_new(o, "orphaned_since", time_json(n->orphaned_since));
    return o;
}
