/* Time helpers. Any thread. */
#ifndef HC_CLOCK_H
#define HC_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* milliseconds on the monotonic clock (for durations and deadlines) */
uint64_t clock_mono_ms(void);
/* microseconds on the monotonic clock */
uint64_t clock_mono_us(void);
/* seconds since the epoch, wall clock */
int64_t clock_now(void);
/* RFC 3339 UTC ("2026-11-23T06:31:27Z") of t into buf (>= 21 bytes): four
 * digits of year for years 0000..9999, strftime's %Y beyond them */
const char *clock_rfc3339(int64_t t, char *buf, size_t len);
/* The same 20 bytes for years 0000..9999, not NUL-terminated: returns 20, or
 * 0 (nothing written) for a time outside them. No lock, no locale. */
size_t clock_rfc3339_write(char out[20], int64_t t);
/* Parses RFC 3339 ("...Z" or "+hh:mm" offsets, optional fraction); -1 when malformed. */
int clock_parse_rfc3339(const char *s, int64_t *out);

#endif
