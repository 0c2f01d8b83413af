/*
 * Small string helpers for hot paths, where snprintf(dst, n, "%s", src)
 * runs vfprintf's machinery for a plain copy (it showed in the request
 * path's profile). Header only; any thread.
 */
#ifndef HC_STR_H
#define HC_STR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copies src into dst (cap bytes, cap > 0) as snprintf(dst, cap, "%s", src)
 * does: cut to cap - 1 bytes, always NUL-terminated. Returns the length
 * written. */
static inline size_t str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

/* Writes v in decimal at out (room for 20 digits and a sign: 21 bytes), no
 * NUL; returns the length. */
static inline size_t str_from_int(char *out, long long v)
{
    char d[24];
    size_t n = sizeof(d);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        d[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        d[--n] = '-';
    memcpy(out, d + n, sizeof(d) - n);
    return sizeof(d) - n;
}

static inline uint64_t str_rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

/* 8 bytes at p as a little-endian number, whatever the machine's order */
static inline uint64_t str_load64_le(const unsigned char *p)
{
    uint64_t w;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&w, p, 8);
#else
    w = 0;
    for (int i = 7; i >= 0; i--)
        w = w << 8 | p[i];
#endif
    return w;
}

/* A 64-bit hash of len bytes, 8 bytes per step, for validators such as
 * ETags, where changes nobody chose to collide must change the value (about
 * a 2^-64 chance that one does not) and nobody gains by forging a collision:
 * it is not a MAC (where a client could choose colliding inputs to hurt
 * someone, use libsodium). Each step xors a word into the state, multiplies
 * (low bits reach the high ones) and rotates (the high ones come back down):
 * one-to-one in the word, so inputs of one length that differ inside one
 * step always differ; murmur3's 64-bit finaliser folds the state at the end.
 * seed: any value (a per-process one makes the values differ between runs). */
static inline uint64_t str_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const uint64_t k = 0x9e3779b97f4a7c15ULL; /* 2^64 / the golden ratio, odd */
    const unsigned char *p = (const unsigned char *)data;
    uint64_t h = seed ^ (len * k);
    size_t n = len;
    for (; n >= 16; n -= 16, p += 16) {
        h = str_rotl64((h ^ str_load64_le(p)) * k, 29);
        h = str_rotl64((h ^ str_load64_le(p + 8)) * k, 29);
    }
    if (n >= 8) {
        h = str_rotl64((h ^ str_load64_le(p)) * k, 29);
        n -= 8;
        p += 8;
    }
    if (n > 0) {
        uint64_t w;
        if (len >= 8) {
            /* the last 8 bytes, the ones already taken shifted out */
            w = str_load64_le(p + n - 8) >> (8 * (8 - n));
        } else {
            w = 0;
            for (size_t i = 0; i < n; i++)
                w |= (uint64_t)p[i] << (8 * i);
        }
        h = str_rotl64((h ^ w) * k, 29);
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* A 64-bit hash of a NUL-terminated string for hash tables that take the
 * low bits (the registry's indexes, the interned strings): str_hash_bytes,
 * whose finaliser folds the high bits down (FNV-1a alone, byte by byte, left
 * chains of dozens at 100k node ids: its multiply only carries upward, so
 * render-00017 and render-00018 shared low bits). */
static inline uint64_t str_hash(const char *s)
{
    return str_hash_bytes(s, strlen(s), 0);
}

#endif
