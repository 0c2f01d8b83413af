#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static log_level_t min_level = LOG_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error", "fatal"};

void log_set_min_level(log_level_t level)
{
    min_level = level;
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
    if (level < min_level)
        return;
    char line[4096];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    /* "ts=2026-11-23T06:31:27." is formatted once per second per thread
     * (every access line starts with it); the milliseconds are three digits */
    static __thread time_t prefix_sec = -1;
    static __thread char prefix[32];
    static __thread int prefix_len;
    if (tv.tv_sec != prefix_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        prefix_len = snprintf(prefix, sizeof(prefix), "ts=%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (prefix_len < 0 || (size_t)prefix_len >= sizeof(prefix))
            prefix_len = 0;
        prefix_sec = tv.tv_sec;
    }
    memcpy(line, prefix, (size_t)prefix_len);
    int ms = (int)(tv.tv_usec / 1000);
    int n = prefix_len;
    line[n++] = (char)('0' + ms / 100);
    line[n++] = (char)('0' + ms / 10 % 10);
    line[n++] = (char)('0' + ms % 10);
    const char *lv = level_names[level];
    size_t lvlen = strlen(lv);
    memcpy(line + n, "Z level=", 8);
    n += 8;
    memcpy(line + n, lv, lvlen);
    n += (int)lvlen;
    line[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : ((size_t)m >= sizeof(line) - n - 1 ? sizeof(line) - n - 2 : (size_t)m));
    line[len++] = '\n';
    if (batch == NULL || !batch->on) {
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w; /* nowhere left to report a failed log write */
        return;
    }
    if (batch->len + len > sizeof(batch->buf))
        log_flush();
    memcpy(batch->buf + batch->len, line, len);
    batch->len += len;
    if (level >= LOG_WARN)
        log_flush();
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
