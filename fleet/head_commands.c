/*
 * Commands for the heads' screenshot and log proxies (see head_commands.h).
 *
 * POSIX sh, the same on macOS and Linux: the file's age is not read with
 * `stat` (-c on GNU, -f on BSD) nor `date -r FILE` (older macOS takes -r as
 * seconds and silently prints 1970). Instead a reference file is stamped
 * max_age_s before the head's clock, in UTC (`date -u` + awk, then
 * `TZ=UTC0 touch -t`), and `find -H FILE -newer REF` says whether the
 * screenshot is newer. `base64 < FILE` (no option: GNU and macOS differ in
 * them) encodes; the server decodes ignoring line breaks. `tail -n`,
 * `tail -c`, `wc -c`, `mktemp -d TEMPLATE` behave alike on both.
 *
 * Quoting: every path goes into the command as one single-quoted word
 * (sh: ' becomes '\''; PowerShell: each quote character, including the
 * typographic ones PowerShell also takes as quotes, is doubled), after
 * head_path_ok refused control characters.
 */
#include "head_commands.h"

#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SHOT_MARK "hydra-screenshot: "
#define LOGS_MARK "hydra-logs: "

/* the 4 MiB cap on exec output bounds any size we accept */
#define SHOT_SIZE_MAX (64ULL * 1024 * 1024)

head_shell_t head_shell_for_os(const char *os)
{
    if (os == NULL)
        return HEAD_SHELL_POSIX;
    if (strncasecmp(os, "win", 3) == 0)
        return HEAD_SHELL_POWERSHELL;
    if (strcasecmp(os, "ipados") == 0 || strcasecmp(os, "ios") == 0)
        return HEAD_SHELL_NONE;
    return HEAD_SHELL_POSIX;
}

static int is_darwin(const char *os)
{
    return os != NULL && (strcasecmp(os, "darwin") == 0 || strcasecmp(os, "macos") == 0);
}

const char *head_log_default_path(const char *os)
{
    switch (head_shell_for_os(os)) {
    case HEAD_SHELL_POWERSHELL:
        return "%ProgramData%\\hydrahead\\agent.log";
    case HEAD_SHELL_POSIX:
        return is_darwin(os) ? "$HOME/Library/Logs/hydrahead/agent.log" : "/var/log/hydrahead/agent.log";
    default:
        return NULL;
    }
}

int head_path_ok(head_shell_t shell, const char *path)
{
    if (path == NULL)
        return 0;
    size_t n = strlen(path);
    if (n == 0 || n > HEAD_PATH_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    if (shell == HEAD_SHELL_POSIX)
        return path[0] == '/' || (path[0] == '~' && path[1] == '/');
    if (shell == HEAD_SHELL_POWERSHELL) {
        if (path[0] == '/' || path[0] == '\\')
            return 1; /* the current drive's root, or \\server\share */
        return isalpha((unsigned char)path[0]) && path[1] == ':' && (path[2] == '\\' || path[2] == '/');
    }
    return 0;
}

/* ---- a small growing string ---- */

typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        b->failed = 1;
    else
        sb_add(b, tmp, (size_t)n);
}

static char *sb_finish(sbuf_t *b)
{
    if (b->failed || b->s == NULL) {
        free(b->s);
        return NULL;
    }
    return b->s;
}

/* s as one single-quoted sh word */
static void sb_sh_quote(sbuf_t *b, const char *s)
{
    sb_str(b, "'");
    for (; *s; s++) {
        if (*s == '\'')
            sb_str(b, "'\\''");
        else
            sb_add(b, s, 1);
    }
    sb_str(b, "'");
}

/* sh: f=<path>, "~/" taken as the agent's home */
static void sb_sh_assign(sbuf_t *b, const char *path)
{
    if (path[0] == '~') {
        sb_str(b, "f=\"$HOME\"");
        sb_sh_quote(b, path + 1);
    } else {
        sb_str(b, "f=");
        sb_sh_quote(b, path);
    }
    sb_str(b, "\n");
}

/* s as one single-quoted PowerShell string. PowerShell ends such a string at
 * any of ' U+2018 U+2019 U+201A U+201B, and reads each doubled as itself. */
static void sb_ps_quote(sbuf_t *b, const char *s)
{
    sb_str(b, "'");
    while (*s) {
        const unsigned char *u = (const unsigned char *)s;
        size_t n = 1;
        int quote = *s == '\'';
        if (u[0] == 0xE2 && u[1] == 0x80 && u[2] >= 0x98 && u[2] <= 0x9B) {
            n = 3;
            quote = 1;
        }
        sb_add(b, s, n);
        if (quote)
            sb_add(b, s, n);
        s += n;
    }
    sb_str(b, "'");
}

/* awk: "Y m d H M S" (UTC, from date -u) minus a seconds, as touch -t's
 * CCYYMMDDhhmm.SS. Days from and to the civil calendar (proleptic
 * Gregorian), in whole numbers so any POSIX awk gets it exact. */
static const char cutoff_awk[] =
    "{ y = $1 + 0; m = $2 + 0; d = $3 + 0; if (m <= 2) y--\n"
    "  e = int(y / 400); yoe = y - e * 400; doy = int((153 * ((m + 9) % 12) + 2) / 5) + d - 1\n"
    "  t = (e * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468) * 86400\n"
    "  t += $4 * 3600 + $5 * 60 + $6 - a\n"
    "  z = int(t / 86400); s = t - z * 86400; z += 719468\n"
    "  e = int(z / 146097); doe = z - e * 146097\n"
    "  yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)\n"
    "  y = yoe + e * 400; doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))\n"
    "  mp = int((5 * doy + 2) / 153); d = doy - int((153 * mp + 2) / 5) + 1\n"
    "  m = mp < 10 ? mp + 3 : mp - 9; if (m <= 2) y++\n"
    "  printf \"%04d%02d%02d%02d%02d.%02d\\n\", y, m, d, int(s / 3600), int((s % 3600) / 60), s % 60 }";

char *head_screenshot_command(head_shell_t shell, const char *path, uint64_t max_age_s, uint64_t max_bytes)
{
    if (!head_path_ok(shell, path))
        return NULL;
    sbuf_t b = {0};
    unsigned long long age = (unsigned long long)max_age_s, max = (unsigned long long)max_bytes;
    if (shell == HEAD_SHELL_POSIX) {
        sb_str(&b, "# hydracluster: this head's screenshot (GET /api/v1/heads/{id}/screenshot)\n");
        sb_sh_assign(&b, path);
        sb_str(&b, "if [ ! -f \"$f\" ]; then echo '" SHOT_MARK "missing'; exit 0; fi\n"
                   "d=$(mktemp -d \"${TMPDIR:-/tmp}/hydra-shot.XXXXXX\") || exit 70\n"
                   "trap 'rm -rf \"$d\"' EXIT\n");
        sb_printf(&b, "stamp=$(date -u '+%%Y %%m %%d %%H %%M %%S' | awk -v a=%llu '", age);
        sb_str(&b, cutoff_awk);
        sb_str(&b, "') || exit 71\n"
                   "TZ=UTC0 touch -t \"$stamp\" \"$d/ref\" || exit 72\n"
                   "if [ -z \"$(find -H \"$f\" -newer \"$d/ref\")\" ]; then echo '" SHOT_MARK "stale'; exit 0; fi\n"
                   "cp \"$f\" \"$d/shot\" || exit 73\n"
                   "n=$(( $(wc -c < \"$d/shot\") ))\n");
        sb_printf(&b, "if [ \"$n\" -gt %llu ]; then echo \"" SHOT_MARK "too-large $n\"; exit 0; fi\n", max);
        sb_str(&b, "echo \"" SHOT_MARK "ok $n\"\n"
                   "base64 < \"$d/shot\" || exit 74\n");
    } else if (shell == HEAD_SHELL_POWERSHELL) {
        sb_str(&b, "$ErrorActionPreference = 'Stop'; $f = ");
        sb_ps_quote(&b, path);
        sb_str(&b, "; if (-not (Test-Path -LiteralPath $f -PathType Leaf)) { '" SHOT_MARK "missing'; exit 0 }; "
                   "$i = Get-Item -LiteralPath $f; ");
        sb_printf(&b, "if (([DateTime]::UtcNow - $i.LastWriteTimeUtc).TotalSeconds -gt %llu) ", age);
        sb_str(&b, "{ '" SHOT_MARK "stale'; exit 0 }; $b = [IO.File]::ReadAllBytes($i.FullName); ");
        sb_printf(&b, "if ($b.Length -gt %llu) ", max);
        sb_str(&b, "{ '" SHOT_MARK "too-large ' + $b.Length; exit 0 }; '" SHOT_MARK "ok ' + $b.Length; "
                   "[Convert]::ToBase64String($b)");
    } else {
        return NULL;
    }
    return sb_finish(&b);
}

char *head_logs_command(head_shell_t shell, const char *os, const char *path, uint64_t max_bytes)
{
    if (path != NULL && !head_path_ok(shell, path))
        return NULL;
    sbuf_t b = {0};
    unsigned long long max = (unsigned long long)max_bytes;
    if (shell == HEAD_SHELL_POSIX) {
        sb_str(&b, "# hydracluster: this head agent's log tail (GET /api/v1/heads/{id}/logs)\n");
        if (path != NULL)
            sb_sh_assign(&b, path);
        else if (is_darwin(os))
            sb_str(&b, "f=\"$HOME\"'/Library/Logs/hydrahead/agent.log'\n");
        else
            sb_str(&b, "f='/var/log/hydrahead/agent.log'\n");
        sb_str(&b, "if [ ! -f \"$f\" ]; then printf '" LOGS_MARK "missing %s\\n' \"$f\"; exit 0; fi\n"
                   "if [ ! -r \"$f\" ]; then printf '" LOGS_MARK "unreadable %s\\n' \"$f\"; exit 0; fi\n");
        sb_printf(&b, "n=$(( $(tail -n %d \"$f\" | wc -c) ))\n", HEAD_LOG_LINES);
        sb_printf(&b, "if [ \"$n\" -le %llu ]; then printf '" LOGS_MARK "ok %%s\\n' \"$f\"; ", max);
        sb_printf(&b, "tail -n %d \"$f\"; exit; fi\n", HEAD_LOG_LINES);
        sb_str(&b, "printf '" LOGS_MARK "cut %s\\n' \"$f\"\n");
        sb_printf(&b, "tail -n %d \"$f\" | tail -c %llu\n", HEAD_LOG_LINES, max);
    } else if (shell == HEAD_SHELL_POWERSHELL) {
        /* cut by characters: a UTF-16 unit is at most 3 bytes of UTF-8 */
        unsigned long long chars = max / 3;
        sb_str(&b, "$ErrorActionPreference = 'Stop'; ");
        if (path != NULL) {
            sb_str(&b, "$f = ");
            sb_ps_quote(&b, path);
            sb_str(&b, "; ");
        } else {
            sb_str(&b, "$f = Join-Path $env:ProgramData 'hydrahead\\agent.log'; ");
        }
        sb_str(&b, "if (-not (Test-Path -LiteralPath $f -PathType Leaf)) { '" LOGS_MARK "missing ' + $f; exit 0 }; ");
        sb_printf(&b, "$t = @(Get-Content -LiteralPath $f -Tail %d) -join \"`n\"; ", HEAD_LOG_LINES);
        sb_printf(&b, "if ($t.Length -le %llu) { '" LOGS_MARK "ok ' + $f; $t; exit 0 }; ", chars);
        sb_printf(&b, "'" LOGS_MARK "cut ' + $f; $t.Substring($t.Length - %llu)", chars);
    } else {
        return NULL;
    }
    return sb_finish(&b);
}

/* ---- parsing ---- */

/* the first line of out[0..len) that starts with mark; returns what follows
 * the mark and sets *eol to the end of that line (the "\n" or len) */
static const char *find_mark(const char *out, size_t len, const char *mark, size_t *rest, size_t *eol)
{
    size_t ml = strlen(mark);
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(out + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - out) : len;
        if (end - i >= ml && memcmp(out + i, mark, ml) == 0) {
            *rest = i + ml;
            *eol = end;
            return out + i + ml;
        }
        i = end + 1;
    }
    return NULL;
}

/* a decimal number filling s[0..n), at most max */
static int parse_size(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > max)
            return -1;
    }
    *out = v;
    return 0;
}

static int word_is(const char *s, size_t n, const char *w)
{
    return n == strlen(w) && memcmp(s, w, n) == 0;
}

head_shot_t head_screenshot_parse(const char *out, size_t len, unsigned char **jpeg, uint64_t *size, char *err,
                                  size_t errlen)
{
    *jpeg = NULL;
    *size = 0;
    size_t at, eol;
    if (find_mark(out, len, SHOT_MARK, &at, &eol) == NULL) {
        snprintf(err, errlen, "no \"%s\" line in the command's output", SHOT_MARK "…");
        return HEAD_SHOT_MALFORMED;
    }
    size_t line_end = eol;
    if (line_end > at && out[line_end - 1] == '\r')
        line_end--;
    const char *w = out + at;
    const char *sp = memchr(w, ' ', line_end - at);
    size_t wl = sp ? (size_t)(sp - w) : line_end - at;
    const char *arg = sp ? sp + 1 : out + line_end;
    size_t al = (size_t)(out + line_end - arg);
    if (word_is(w, wl, "missing") && al == 0)
        return HEAD_SHOT_MISSING;
    if (word_is(w, wl, "stale") && al == 0)
        return HEAD_SHOT_STALE;
    if (word_is(w, wl, "too-large") && parse_size(arg, al, UINT64_MAX / 10, size) == 0)
        return HEAD_SHOT_TOO_LARGE;
    if (!word_is(w, wl, "ok") || parse_size(arg, al, SHOT_SIZE_MAX, size) != 0) {
        snprintf(err, errlen, "unexpected status line \"%.*s\"", (int)(line_end - at > 80 ? 80 : line_end - at),
                 out + at);
        return HEAD_SHOT_MALFORMED;
    }
    if (*size == 0) {
        snprintf(err, errlen, "the screenshot file is empty");
        return HEAD_SHOT_MALFORMED;
    }
    const char *b64 = eol < len ? out + eol + 1 : out + len;
    size_t b64_len = (size_t)(out + len - b64);
    unsigned char *bin = malloc((size_t)*size);
    if (bin == NULL)
        return HEAD_SHOT_ENOMEM;
    size_t bin_len = 0;
    /* b64_end NULL: any character that is neither base64 nor ignored fails */
    if (sodium_base642bin(bin, (size_t)*size, b64, b64_len, " \t\r\n", &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(bin);
        snprintf(err, errlen, "the base64 of a %llu-byte file does not decode (cut short or corrupted)",
                 (unsigned long long)*size);
        return HEAD_SHOT_MALFORMED;
    }
    if (bin_len != *size) {
        free(bin);
        snprintf(err, errlen, "the head announced %llu bytes and sent %zu", (unsigned long long)*size, bin_len);
        return HEAD_SHOT_MALFORMED;
    }
    if (bin_len < 2 || bin[0] != 0xFF || bin[1] != 0xD8) {
        free(bin);
        snprintf(err, errlen, "the file is not a JPEG image (no start-of-image marker)");
        return HEAD_SHOT_NOT_JPEG;
    }
    *jpeg = bin;
    return HEAD_SHOT_OK;
}

head_logs_t head_logs_parse(const char *out, size_t len, const char **path, size_t *path_len, const char **text,
                            size_t *text_len, int *cut)
{
    *path = NULL;
    *path_len = 0;
    *text = out + len;
    *text_len = 0;
    *cut = 0;
    size_t at, eol;
    if (find_mark(out, len, LOGS_MARK, &at, &eol) == NULL)
        return HEAD_LOGS_MALFORMED;
    size_t line_end = eol;
    if (line_end > at && out[line_end - 1] == '\r')
        line_end--;
    const char *w = out + at;
    const char *sp = memchr(w, ' ', line_end - at);
    if (sp == NULL || sp + 1 == out + line_end)
        return HEAD_LOGS_MALFORMED;
    size_t wl = (size_t)(sp - w);
    *path = sp + 1;
    *path_len = (size_t)(out + line_end - *path);
    if (word_is(w, wl, "missing"))
        return HEAD_LOGS_MISSING;
    if (word_is(w, wl, "unreadable"))
        return HEAD_LOGS_UNREADABLE;
    int is_cut = word_is(w, wl, "cut");
    if (!is_cut && !word_is(w, wl, "ok"))
        return HEAD_LOGS_MALFORMED;
    const char *t = eol < len ? out + eol + 1 : out + len;
    size_t tl = (size_t)(out + len - t);
    if (is_cut) {
        /* the cut landed inside the first line: drop it (a single line longer
         * than the cut is kept as its tail) */
        const char *nl = memchr(t, '\n', tl);
        if (nl != NULL && (size_t)(nl + 1 - t) < tl) {
            tl -= (size_t)(nl + 1 - t);
            t = nl + 1;
        }
        *cut = 1;
    }
    *text = t;
    *text_len = tl;
    return HEAD_LOGS_OK;
}
