/*
 * Types-only stand-in for klib's khash.h, which h2o's installed
 * <h2o/http2_internal.h> includes but Debian's libh2o-dev does not ship.
 * server/conn_guard.c needs that header for the layout of h2o's HTTP/2
 * connection and stream structs; the only khash use there is a pointer
 * member (the stream table), whose layout does not depend on the table's
 * type. The lookup macros exist so that h2o's unused inline lookup function
 * compiles; calling it would fail to link (hc_khash_unavailable is never
 * defined), so nothing can use the table by accident.
 */
#ifndef HC_KHASH_STANDIN_H
#define HC_KHASH_STANDIN_H

#include <stdint.h>

typedef uint32_t khint_t;
typedef khint_t khiter_t;

#define khash_t(name) kh_##name##_t
#define KHASH_MAP_INIT_INT64(name, khval_t) typedef struct kh_##name##_s kh_##name##_t;

khint_t hc_khash_unavailable(void);
#define kh_get(name, h, k) ((void)(h), (void)(k), hc_khash_unavailable())
#define kh_end(h) ((void)(h), (khint_t)0)
#define kh_val(h, x) ((void)(h), (void)(x), (void *)0)

#endif
