#include "log.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static _Atomic int min_level = LOG_INFO;
static _Atomic int format = LOG_FORMAT_LOGFMT;
static _Atomic int journal; /* stderr is the journal: prefix <N> */
static const char *level_names[] = {"debug", "info", "warn", "error", "fatal"};
/* syslog priorities (sd-daemon(3)): debug 7, info 6, warning 4, err 3, crit 2 */
static const char level_prio[] = {'7', '6', '4', '3', '2'};

void log_set_min_level(log_level_t level)
{
    min_level = level;
}

void log_set_format(log_format_t f)
{
    format = f;
}

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    return -1;
}

int log_journal_detect(void)
{
    /* JOURNAL_STREAM is "dev:ino" of the journal's stream; it is inherited,
     * so only trust it when stderr still is that stream */
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    int on = js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
             (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
    journal = on;
    return on;
}

/* Appends the logfmt pairs in src to dst as JSON members (",\"k\":\"v\"").
 * Values are always strings: logfmt does not say which were numbers. */
static size_t logfmt_to_json(const char *src, char *dst, size_t cap)
{
    size_t o = 0;
#define PUT(c)                                                                                                         \
    do {                                                                                                               \
        if (o + 1 < cap)                                                                                               \
            dst[o++] = (c);                                                                                            \
    } while (0)
    const char *p = src;
    while (*p) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        PUT(',');
        PUT('"');
        for (const char *q = k; q < p; q++)
            if (*q != '"' && *q != '\\' && (unsigned char)*q >= ' ')
                PUT(*q);
        PUT('"');
        PUT(':');
        PUT('"');
        if (*p == '=') {
            p++;
            int quoted = *p == '"';
            if (quoted)
                p++;
            while (*p && (quoted ? *p != '"' : *p != ' ')) {
                unsigned char c = (unsigned char)*p++;
                if (quoted && c == '\\' && *p) {
                    c = (unsigned char)*p++;
                    if (c == 'n') {
                        PUT('\\');
                        PUT('n');
                        continue;
                    }
                }
                if (c == '"' || c == '\\') {
                    PUT('\\');
                    PUT((char)c);
                } else if (c >= ' ') {
                    PUT((char)c);
                }
            }
            if (quoted && *p == '"')
                p++;
        }
        PUT('"');
    }
#undef PUT
    return o;
}

#define LOG_BATCH_MAX 16384
static __thread struct {
    int on;
    size_t len;
    char buf[LOG_BATCH_MAX];
} *batch;

static void write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w <= 0)
            return; /* nowhere left to report a failed log write */
        p += w;
        len -= (size_t)w;
    }
}

void log_batch_begin(void)
{
    if (batch == NULL)
        batch = calloc(1, sizeof(*batch));
    if (batch != NULL)
        batch->on = 1; /* without memory: one write per line, as before */
}

void log_flush(void)
{
    if (batch != NULL && batch->len > 0) {
        write_all(batch->buf, batch->len);
        batch->len = 0;
    }
}

void log_batch_end(void)
{
    log_flush();
    free(batch);
    batch = NULL;
}

void log_write(log_level_t level, const char *fmt, ...)
{
    if ((int)level < min_level)
        return;
    char pairs[4096];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(pairs, sizeof(pairs), fmt, ap);
    va_end(ap);
    if (m < 0)
        pairs[0] = '\0';
    log_write_pairs(level, pairs, strlen(pairs));
}

void log_write_pairs(log_level_t level, const char *pairs, size_t plen)
{
    if ((int)level < min_level)
        return;
    char line[8192];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    /* "2026-11-23T06:31:27." is formatted once per second per thread (every
     * access line starts with it); the milliseconds are three digits */
    static __thread time_t ts_sec = -1;
    static __thread char ts[40];
    static __thread size_t ts_len;
    if (tv.tv_sec != ts_sec) {
        /* clock_rfc3339's "…:SSZ" with the Z turned into the fraction's dot */
        ts_len = clock_rfc3339_write(ts, (int64_t)tv.tv_sec);
        if (ts_len > 0)
            ts[ts_len - 1] = '.';
        ts_sec = tv.tv_sec;
    }
    int ms = (int)(tv.tv_usec / 1000);
    ts[ts_len] = (char)('0' + ms / 100);
    ts[ts_len + 1] = (char)('0' + ms / 10 % 10);
    ts[ts_len + 2] = (char)('0' + ms % 10);
    ts[ts_len + 3] = 'Z';
    ts[ts_len + 4] = '\0';
    size_t len = 0;
    if (journal) {
        line[len++] = '<';
        line[len++] = level_prio[level];
        line[len++] = '>';
    }
    if (format == LOG_FORMAT_JSON) {
        int n = snprintf(line + len, sizeof(line) - len, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, level_names[level]);
        len += (size_t)n;
        len += logfmt_to_json(pairs, line + len, sizeof(line) - len - 2);
        line[len++] = '}';
    } else {
        /* "ts=<ts> level=<name> <pairs>" by hand: this runs for every
         * request (the access line), and vfprintf showed in its profile */
        const char *name = level_names[level];
        size_t nlen = strlen(name), tlen = ts_len + 4;
        memcpy(line + len, "ts=", 3);
        memcpy(line + len + 3, ts, tlen);
        len += 3 + tlen;
        memcpy(line + len, " level=", 7);
        memcpy(line + len + 7, name, nlen);
        len += 7 + nlen;
        line[len++] = ' ';
        size_t room = sizeof(line) - len - 1; /* the newline */
        if (plen > room)
            plen = room;
        memcpy(line + len, pairs, plen);
        len += plen;
    }
    line[len++] = '\n';
    if (batch == NULL || !batch->on) {
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w; /* nowhere left to report a failed log write */
        return;
    }
    if (batch->len + len > sizeof(batch->buf))
        log_flush();
    if (len > sizeof(batch->buf)) {
        write_all(line, len);
        return;
    }
    memcpy(batch->buf + batch->len, line, len);
    batch->len += len;
    if (level >= LOG_WARN)
        log_flush();
}

/* How log_quote_n sees each byte: QUOTE = it needs the value quoted (a
 * space, '=', bytes from 0x80 up), ESCAPE = it is escaped or dropped (a
 * control byte, NUL, DEL, '"', '\\'); other printable ASCII is 0. */
enum { LQ_QUOTE = 1, LQ_ESCAPE = 2 };
static const unsigned char lq_class[256] = {
    [0 ... 0x1f] = LQ_QUOTE | LQ_ESCAPE, [' '] = LQ_QUOTE,          ['"'] = LQ_QUOTE | LQ_ESCAPE,
    ['='] = LQ_QUOTE,                    ['\\'] = LQ_QUOTE | LQ_ESCAPE, [0x7f] = LQ_QUOTE | LQ_ESCAPE,
    [0x80 ... 0xff] = LQ_QUOTE,
};

/* nonzero when one of the 8 bytes in w is not of class 0 (not in '!'..'~',
 * or one of '"' '=' '\\'); each test is exact for the word as a whole */
static inline uint64_t lq_word_special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = ones << 7;
    uint64_t below = (w - ones * 0x21) & ~w; /* a byte below '!' */
    uint64_t above = (w + ones) | w;          /* a byte from 0x7f up */
    uint64_t q = w ^ (ones * '"'), e = w ^ (ones * '='), b = w ^ (ones * '\\');
    uint64_t equal = ((q - ones) & ~q) | ((e - ones) & ~e) | ((b - ones) & ~b);
    return (below | above | equal) & highs;
}

size_t log_quote_n(char *buf, size_t buflen, const char *s, size_t slen)
{
    return log_quote_nv(buf, buflen, s, slen, NULL);
}

size_t log_quote_nv(char *buf, size_t buflen, const char *s, size_t slen, int *verbatim)
{
    if (verbatim != NULL)
        *verbatim = 0;
    if (buflen == 0)
        return 0;
    /* one pass over the whole text (this runs for three values of each
     * access line), eight plain bytes at a time, the byte table only for a
     * word that holds another; only text with a byte to escape or drop (NUL
     * among them) needs the careful pass below */
    const unsigned char *u = (const unsigned char *)s;
    unsigned acc = 0;
    size_t i = 0;
    for (; slen - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, u + i, 8);
        if (lq_word_special(w))
            for (size_t k = i; k < i + 8; k++)
                acc |= lq_class[u[k]];
    }
    for (; i < slen; i++)
        acc |= lq_class[u[i]];
    const char *nul = NULL;
    size_t n = slen;
    int copy = 1, bare = slen > 0;
    if (acc & LQ_ESCAPE) {
        nul = memchr(s, '\0', slen);
        n = nul != NULL ? (size_t)(nul - s) : slen;
        bare = 0;
        for (size_t k = 0; k < n; k++)
            if (lq_class[u[k]] & LQ_ESCAPE) {
                copy = 0;
                break;
            }
    } else if (acc & LQ_QUOTE) {
        bare = 0;
    }
    /* the common cases in one memcpy, when nothing is cut (the loop below
     * keeps the last bytes of buf for an escape and the closing quote) */
    if (bare && n + 3 <= buflen) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (verbatim != NULL)
            *verbatim = 1;
        return n;
    }
    if (copy && !bare && n + 4 <= buflen) {
        buf[0] = '"';
        memcpy(buf + 1, s, n);
        buf[n + 1] = '"';
        buf[n + 2] = '\0';
        if (verbatim != NULL)
            *verbatim = nul == NULL;
        return n + 2;
    }
    size_t o = 0;
    if (!bare && o + 1 < buflen)
        buf[o++] = '"';
    for (size_t i = 0; i < n && o + 3 < buflen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c >= ' ' && c != 0x7f) {
            buf[o++] = (char)c;
        }
    }
    if (!bare && o + 1 < buflen)
        buf[o++] = '"';
    buf[o] = '\0';
    return o;
}

const char *log_quote(char *buf, size_t buflen, const char *s)
{
    if (buflen == 0)
        return buf;
    if (s == NULL)
        s = "";
    int bare = *s != '\0';
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p == 0x7f)
            bare = 0;
    size_t o = 0;
    if (!bare && o + 1 < buflen)
        buf[o++] = '"';
    for (const char *p = s; *p && o + 3 < buflen; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c >= ' ' && c != 0x7f) {
            buf[o++] = c;
        }
    }
    if (!bare && o + 1 < buflen)
        buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
