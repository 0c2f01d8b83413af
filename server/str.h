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

/* A 64-bit hash of a NUL-terminated string for hash tables that take the
 * low bits: FNV-1a, whose multiply only carries upward (strings that differ
 * in their last bytes, render-00017 and render-00018, share low bits), then
 * murmur3's 64-bit finaliser to fold the high bits down. Measured: chains of
 * dozens at 100k node ids without the finaliser. */
static inline uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

#endif
