/*
 * Logging to stderr: one line per event, logfmt by default,
 *   ts=2026-11-23T06:31:27.123Z level=info msg="..." key=value ...
 * or the same pairs as one JSON object per line (log.format: json). When
 * stderr is the systemd journal, each line starts with its syslog priority
 * (<3> error … <7> debug) so journalctl can filter by level.
 * Callable from any thread (one write(2) per line, or per batch of whole
 * lines, so lines never interleave).
 * Never log a token or any other secret.
 */
#ifndef HC_LOG_H
#define HC_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL } log_level_t;

/* fmt produces the key=value pairs after level= (including msg="..."). */
void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with the pairs already formatted (pairs[plen] is '\0'): for the
 * access line, built without printf on every request. */
void log_write_pairs(log_level_t level, const char *pairs, size_t plen);
void log_set_min_level(log_level_t level);

typedef enum { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON } log_format_t;
/* Set by main at start (config log.format); any thread may log meanwhile. */
void log_set_format(log_format_t f);
/* "debug", "info", "warn", "error": 0, else -1 */
int log_level_parse(const char *s, log_level_t *out);
/* Turns the <N> priority prefix on when $JOURNAL_STREAM names stderr's
 * device and inode (systemd sets it for a unit's stdout/stderr); returns 1
 * when on. Main thread, at start. */
int log_journal_detect(void);

/* Batching, for the HTTP workers' access log: after log_batch_begin, the
 * calling thread's info and debug lines wait in a per-thread buffer (16 KiB)
 * until log_flush, which the worker calls once per event-loop turn; a
 * warning or error flushes at once (with what waits before it, in order).
 * A crash loses at most the lines of the turn in progress. log_batch_end
 * flushes and goes back to one write per line. Thread-local: no locks. */
void log_batch_begin(void);
void log_flush(void);
void log_batch_end(void);

#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)

/* Writes s into buf as a logfmt value: bare when safe, else quoted with \" \\ \n
 * escaped; control bytes dropped. Returns buf. */
const char *log_quote(char *buf, size_t buflen, const char *s);
/* log_quote of the first slen bytes of s (up to a NUL among them); returns
 * the length written (buf is NUL-terminated). */
size_t log_quote_n(char *buf, size_t buflen, const char *s, size_t slen);
/* The same; *verbatim (when not NULL) is set to 1 when the output is the
 * slen bytes as they are, bare or between quotes (no byte escaped, dropped
 * or cut, no NUL), else 0 (also for text too long for the quick copy). */
size_t log_quote_nv(char *buf, size_t buflen, const char *s, size_t slen, int *verbatim);

#endif
