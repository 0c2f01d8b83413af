#include "node_json.h"

#include <stdlib.h>
#include <string.h>

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

/* ---- strings ---- */

/* out of line: rare, and inlined it made every string pay for its registers */
__attribute__((noinline)) static char *escape_byte(char *o, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF"; /* capitals: as jansson writes them */
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
    return o;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ONES 0x0101010101010101ULL

/* The high bit of each byte of w that must be escaped (below 0x20, '"',
 * '\\'), or 0 when none must. A byte minus k borrows into its high bit only
 * when it was below k, so (w - k * ONES) & ~w marks the bytes below k (and
 * '"', '\\' as the bytes below 1 after an xor). A borrow runs upward into
 * the next bytes, so only the lowest mark is sure, and only it is used. */
static inline uint64_t swar_special(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), s = w ^ (ONES * '\\');
    return ((w - ONES * 0x20) | (q - ONES) | (s - ONES)) & ~w & (ONES * 0x80);
}

/* s[i..n) (fewer than 8 bytes) in the low bytes of a word, the rest spaces
 * (which never need escaping); reads nothing outside s[0..n) */
static inline uint64_t load_tail(const char *s, size_t i, size_t n)
{
    size_t k = n - i;
    uint64_t w;
    if (n >= 8) {
        /* the last 8 bytes, the ones done already shifted out */
        memcpy(&w, s + n - 8, 8);
        w >>= 8 * (8 - k);
    } else if (k >= 4) {
        /* two loads of 4 that overlap: the shared bytes are equal */
        uint32_t a, b;
        memcpy(&a, s + i, 4);
        memcpy(&b, s + n - 4, 4);
        w = (uint64_t)a | (uint64_t)b << (8 * (k - 4));
    } else if (k >= 2) {
        uint16_t a, b;
        memcpy(&a, s + i, 2);
        memcpy(&b, s + n - 2, 2);
        w = (uint64_t)a | (uint64_t)b << (8 * (k - 2));
    } else {
        w = (unsigned char)s[i];
    }
    return w | (ONES * ' ') << (8 * k);
}

char *node_json_str_write(char *o, const char *s, size_t n)
{
    *o++ = '"';
    /* 8 bytes per step, stored whole (hence the room's 8 spare bytes) */
    size_t i = 0;
    while (i < n) {
        uint64_t w;
        size_t take = n - i;
        if (take >= 8) {
            memcpy(&w, s + i, 8);
            take = 8;
        } else {
            w = load_tail(s, i, n);
        }
        uint64_t m = swar_special(w);
        memcpy(o, &w, 8);
        if (m == 0) {
            o += take;
            i += take;
            continue;
        }
        size_t k = (size_t)__builtin_ctzll(m) >> 3;
        o += k;
        i += k;
        o = escape_byte(o, (unsigned char)s[i++]);
    }
    *o++ = '"';
    return o;
}
#else
char *node_json_str_write(char *o, const char *s, size_t n)
{
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            *o++ = (char)c;
        else
            o = escape_byte(o, c);
    }
    *o++ = '"';
    return o;
}
#endif

void node_json_put_str(node_json_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (reserve(b, NODE_JSON_STR_ROOM(n)) != 0)
        return;
    b->len = (size_t)(node_json_str_write(b->p + b->len, s, n) - b->p);
}

/* ---- times ---- */

char *node_json_time_write(char *o, int64_t t)
{
    if (t == 0) {
        memcpy(o, "null", 4);
        return o + 4;
    }
    char buf[NODE_JSON_TIME_ROOM - 16];
    size_t n = clock_rfc3339_write(buf, t);
    if (n == 0) {
        /* beyond years 0000..9999: clock_rfc3339's digits, '-', ':', 'T',
         * 'Z' need no escape; the length plus the quotes and 8 spare bytes
         * fit the room */
        clock_rfc3339(t, buf, sizeof(buf));
        return node_json_str_write(o, buf, strlen(buf));
    }
    *o++ = '"';
    memcpy(o, buf, n);
    o += n;
    *o++ = '"';
    return o;
}

/* ---- the node ---- */

/* Grows b so that `more` bytes fit at o, a write position inside b->p
 * (b->len is stale while a writer holds one); returns o in the new memory,
 * or NULL out of memory. */
__attribute__((noinline)) static char *grow(node_json_buf_t *b, char *o, size_t more)
{
    b->len = (size_t)(o - b->p);
    if (reserve(b, more) != 0)
        return NULL;
    return b->p + b->len;
}

/* `more` bytes must fit at o; jumps to oom when they cannot */
#define ROOM(more)                                                                                                     \
    do {                                                                                                               \
        size_t more_ = (more);                                                                                         \
        if ((size_t)(b->p + b->cap - o) < more_ && (o = grow(b, o, more_)) == NULL)                                    \
            goto oom;                                                                                                  \
    } while (0)

/* a literal: its length known when compiling, so a few moves */
#define LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) += sizeof(lit) - 1)
#define KEY(key) ",\"" key "\":"

/* a jansson value as compact JSON by json_dumpb (b->len current) */
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

#if JANSSON_VERSION_HEX >= 0x020e00
#define ITER_KEY_LEN(it, key) json_object_iter_key_len(it)
#else
#define ITER_KEY_LEN(it, key) strlen(key)
#endif

/* An object as json_dumpb(JSON_COMPACT) writes it, walked member by member
 * in its order (dumping without JSON_SORT_KEYS keeps it too): diagnostics
 * are strings, extra mostly. Any value but a string, an integer, a boolean
 * or null (a real, whose format is jansson's own, or anything nested) hands
 * the whole object to json_dumpb. Returns the new write position, or NULL
 * out of memory. */
static char *put_object(node_json_buf_t *b, char *o, json_t *obj)
{
    size_t start = (size_t)(o - b->p);
    ROOM(2);
    *o++ = '{';
    for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = ITER_KEY_LEN(it, key);
        json_t *v = json_object_iter_value(it);
        const char *str = NULL;
        size_t slen = 0, vroom = 21; /* a json_int_t's digits and sign, or true/false/null */
        switch (json_typeof(v)) {
        case JSON_STRING:
            str = json_string_value(v);
            slen = json_string_length(v);
            vroom = NODE_JSON_STR_ROOM(slen);
            break;
        case JSON_INTEGER:
        case JSON_TRUE:
        case JSON_FALSE:
        case JSON_NULL:
            break;
        default:
            b->len = start;
            put_json(b, obj);
            return b->oom ? NULL : b->p + b->len;
        }
        /* ',' key ':' value '}' */
        ROOM(1 + NODE_JSON_STR_ROOM(klen) + 1 + vroom + 1);
        if (o[-1] != '{')
            *o++ = ',';
        o = node_json_str_write(o, key, klen);
        *o++ = ':';
        switch (json_typeof(v)) {
        case JSON_STRING: o = node_json_str_write(o, str, slen); break;
        case JSON_INTEGER: o += str_from_int(o, (long long)json_integer_value(v)); break;
        case JSON_TRUE: LIT(o, "true"); break;
        case JSON_FALSE: LIT(o, "false"); break;
        default: LIT(o, "null"); break;
        }
    }
    *o++ = '}';
    return o;
oom:
    return NULL;
}

/* the longest run of literals and numbers between two checked writes */
#define FIXED_ROOM 256

/* ,"key":"value" for a C string member */
#define MEMBER(key, val)                                                                                               \
    do {                                                                                                               \
        const char *v_ = (val);                                                                                        \
        size_t l_ = strlen(v_);                                                                                        \
        ROOM(sizeof(KEY(key)) + NODE_JSON_STR_ROOM(l_) + FIXED_ROOM);                                                  \
        LIT(o, KEY(key));                                                                                              \
        o = node_json_str_write(o, v_, l_);                                                                            \
    } while (0)

void node_json_append(node_json_buf_t *b, const node_t *n, int64_t now, uint64_t offline_after_ms)
{
    if (b->oom)
        return;
    /* every check below leaves FIXED_ROOM spare for the literals, times and
     * numbers up to the next check */
    char *o = b->p + b->len;
    size_t idlen = strlen(n->id);
    ROOM(NODE_JSON_STR_ROOM(idlen) + FIXED_ROOM);
    LIT(o, "{\"id\":");
    o = node_json_str_write(o, n->id, idlen);
    MEMBER("name", n->name);
    MEMBER("hostname", n->hostname);
    MEMBER("os", n->os);
    MEMBER("arch", n->arch);
    MEMBER("version", n->version);
    LIT(o, KEY("roles") "[");
    size_t i;
    json_t *v;
    json_array_foreach(n->roles, i, v)
    {
        if (!json_is_string(v))
            continue;
        size_t l = json_string_length(v);
        ROOM(1 + NODE_JSON_STR_ROOM(l) + FIXED_ROOM);
        if (o[-1] != '[')
            *o++ = ',';
        o = node_json_str_write(o, json_string_value(v), l);
    }
    *o++ = ']';
    MEMBER("owner", n->owner);
    MEMBER("district", n->district);
    MEMBER("venue", n->venue);
    MEMBER("approval", n->approval);
    if (registry_node_online(n, now, offline_after_ms))
        LIT(o, KEY("node_status") "\"online\"");
    else
        LIT(o, KEY("node_status") "\"offline\"");
    ROOM(2 * NODE_JSON_TIME_ROOM + FIXED_ROOM);
    LIT(o, KEY("last_seen"));
    o = node_json_time_write(o, n->last_seen);
    LIT(o, KEY("enrolled_at"));
    o = node_json_time_write(o, n->enrolled_at);
    MEMBER("ip", n->ip);
    MEMBER("wireguard_ip", n->wireguard_ip);
    MEMBER("lan_ip", n->lan_ip);
    MEMBER("provider_status", n->provider_status);
    MEMBER("stream_status", n->stream_status);
    /* ~120 bytes of literals and one number: within the last check's spare */
    if (n->drain)
        LIT(o, KEY("drain") "true" KEY("pending_flags") "[");
    else
        LIT(o, KEY("drain") "false" KEY("pending_flags") "[");
    if (n->flag_update_node)
        LIT(o, "\"update_node\",");
    if (n->flag_update_services)
        LIT(o, "\"update_services\",");
    if (n->flag_reprovision)
        LIT(o, "\"reprovision\",");
    if (o[-1] == ',')
        o--;
    LIT(o, "]" KEY("flags_generation"));
    o += str_from_int(o, (long long)n->flags_generation);
    if (n->head != NULL)
        LIT(o, KEY("is_head") "true");
    else
        LIT(o, KEY("is_head") "false");
    if (json_object_size(n->diagnostics) > 0) {
        LIT(o, KEY("diagnostics"));
        if ((o = put_object(b, o, n->diagnostics)) == NULL)
            goto oom;
    }
    if (json_object_size(n->extra) > 0) {
        ROOM(FIXED_ROOM);
        LIT(o, KEY("extra"));
        if ((o = put_object(b, o, n->extra)) == NULL)
            goto oom;
    }
    ROOM(NODE_JSON_TIME_ROOM + FIXED_ROOM);
    if (n->orphaned_since != 0)
        LIT(o, KEY("orphaned") "true" KEY("orphaned_since"));
    else
        LIT(o, KEY("orphaned") "false" KEY("orphaned_since"));
    o = node_json_time_write(o, n->orphaned_since);
    *o++ = '}';
    b->len = (size_t)(o - b->p);
    return;
oom:
    b->oom = 1; /* b->len is where the last write that fitted ended */
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
