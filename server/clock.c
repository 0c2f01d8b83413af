#include "clock.h"

#include <stdio.h>
#include <string.h>

uint64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int64_t clock_now(void)
{
    return (int64_t)time(NULL);
}

/* the times written by arithmetic: years 0000..9999 */
#define TIME_MIN (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define TIME_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

/* The proleptic Gregorian date of a day count from 0000-01-01 (years 0000
 * to 9999). Counted from a 1st of March, every leap day falls at the end of
 * its year, of its 4-year block, of its century and of its 400-year cycle,
 * so each level divides evenly but for its last block, one day longer.
 * Counting from -0400-03-01 keeps every number unsigned. */
static void civil_from_days(uint64_t days, unsigned *year, unsigned *month, unsigned *day)
{
    /* day of the March-based year each month starts on (Mar..Feb, then the end) */
    static const unsigned short month_start[13] = {0, 31, 61, 92, 122, 153, 184, 214, 245, 275, 306, 337, 366};
    /* 0000-03-01 is day 60 of year 0 (a leap year), and one cycle after -0400-03-01 */
    uint64_t r = days + 146097 - 60;
    uint64_t c400 = r / 146097;
    r %= 146097;
    uint64_t c100 = r / 36524;
    if (c100 == 4) /* the cycle's last day: 29 February of its 400th year */
        c100 = 3;
    r -= c100 * 36524;
    uint64_t c4 = r / 1461;
    r -= c4 * 1461;
    uint64_t c1 = r / 365;
    if (c1 == 4) /* the block's last day: 29 February */
        c1 = 3;
    r -= c1 * 365;
    /* months have 30 or 31 days, so r / 31 is the month or the one before */
    unsigned mi = (unsigned)(r / 31);
    if (r >= month_start[mi + 1])
        mi++;
    /* January and February belong to the next year */
    *year = (unsigned)(400 * c400 + 100 * c100 + 4 * c4 + c1 + (mi >= 10)) - 400;
    *month = mi < 10 ? mi + 3 : mi - 9;
    *day = (unsigned)(r - month_start[mi]) + 1;
}

static const char two_digits[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                 "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                 "8081828384858687888990919293949596979899";

size_t clock_rfc3339_write(char out[20], int64_t t)
{
    if (t < TIME_MIN || t > TIME_MAX)
        return 0;
    /* by arithmetic, not gmtime_r (which takes glibc's time zone lock) and
     * strftime (its locale machinery): a node list writes two or three
     * times per node */
    uint64_t u = (uint64_t)(t - TIME_MIN);
    unsigned sec = (unsigned)(u % 86400), y, mon, mday;
    civil_from_days(u / 86400, &y, &mon, &mday);
    const unsigned f[6] = {y / 100, y % 100, mon, mday, sec / 3600, sec / 60 % 60};
    /* "YYYY-MM-DDTHH:MM:SSZ" */
    memcpy(out, two_digits + 2 * f[0], 2);
    memcpy(out + 2, two_digits + 2 * f[1], 2);
    out[4] = '-';
    memcpy(out + 5, two_digits + 2 * f[2], 2);
    out[7] = '-';
    memcpy(out + 8, two_digits + 2 * f[3], 2);
    out[10] = 'T';
    memcpy(out + 11, two_digits + 2 * f[4], 2);
    out[13] = ':';
    memcpy(out + 14, two_digits + 2 * f[5], 2);
    out[16] = ':';
    memcpy(out + 17, two_digits + 2 * (sec % 60), 2);
    out[19] = 'Z';
    return 20;
}

const char *clock_rfc3339(int64_t t, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    char d[20];
    if (len > sizeof(d) && clock_rfc3339_write(d, t) == sizeof(d)) {
        memcpy(buf, d, sizeof(d));
        buf[sizeof(d)] = '\0';
        return buf;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    /* a time beyond what struct tm holds (|t| past ~2^55 s) names no date:
     * the epoch says "unknown" without reading an unset tm */
    if (gmtime_r(&tt, &tm) == NULL) {
        tt = 0;
        gmtime_r(&tt, &tm);
    }
    if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        buf[0] = '\0';
    return buf;
}

int clock_parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10)
        return -1;
    s += n;
    if (*s != 'T' && *s != 't' && *s != ' ')
        return -1;
    s++;
    if (sscanf(s, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 3 || n != 8)
        return -1;
    s += n;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    long offset = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s == '-' ? -1 : 1, oh, om;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 3600L + om * 60L);
        s += 6;
    } else {
        return -1;
    }
    if (*s != '\0')
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm) - offset;
    return 0;
}
