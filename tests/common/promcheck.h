/*
 * A strict checker of the Prometheus text exposition format (0.0.4), for
 * the tests of GET /metrics and of metrics_render. Stricter than Prometheus
 * itself where our output should be:
 *  - every line is "# HELP name text", "# TYPE name type", or a sample
 *    "name{label="value",...} value" (labels optional); no other comments,
 *    no blank lines, no timestamps, the text ends with a newline;
 *  - names and label names are valid; label values use only \\ \" \n escapes;
 *  - each family has one TYPE, before its samples; a family's samples are
 *    contiguous; every sample belongs to a declared family (histograms:
 *    name_bucket / name_sum / name_count);
 *  - no series appears twice; values parse as numbers; counters are >= 0;
 *  - histograms, per label set: le bounds strictly ascending, cumulative
 *    counts non-decreasing, "+Inf" last, +Inf == _count, _sum present.
 * Header-only; test code only.
 */
#ifndef HC_TEST_PROMCHECK_H
#define HC_TEST_PROMCHECK_H

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_MAX_SERIES 4096
#define PROM_MAX_FAMILIES 256

typedef struct {
    char name[128];
    char type[16];
    int has_help, closed;
} prom_family_t;

typedef struct {
    char family[128];
    char labels[512]; /* label set without le, canonical text */
    double last_le;
    double last_count;
    int nbuckets, saw_inf, saw_sum, saw_count;
    double inf_count, count;
} prom_hist_t;

typedef struct {
    prom_family_t fam[PROM_MAX_FAMILIES];
    int nfam;
    char *series[PROM_MAX_SERIES];
    int nseries;
    prom_hist_t hist[PROM_MAX_SERIES];
    int nhist;
    int current; /* family index whose samples may follow, -1 none */
} prom_state_t;

static int prom_fail(char *err, size_t errlen, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "line %d: %s", line, msg);
    return -1;
}

static int prom_name_ok(const char *s, size_t n, int metric)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = isalpha((unsigned char)c) || c == '_' || (metric && c == ':') || (i > 0 && isdigit((unsigned char)c));
        if (!ok)
            return 0;
    }
    return 1;
}

static int prom_find_family(prom_state_t *st, const char *name)
{
    for (int i = 0; i < st->nfam; i++)
        if (strcmp(st->fam[i].name, name) == 0)
            return i;
    return -1;
}

static int prom_value(const char *s, double *out)
{
    if (strcmp(s, "+Inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcmp(s, "-Inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return 0;
    }
    char *end;
    *out = strtod(s, &end);
    return (*s != '\0' && *end == '\0') ? 0 : -1;
}

/* the family a sample name belongs to, given the declared families */
static int prom_family_of(prom_state_t *st, const char *name, const char **suffix)
{
    int i = prom_find_family(st, name);
    *suffix = "";
    if (i >= 0 && strcmp(st->fam[i].type, "histogram") != 0)
        return i;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (size_t k = 0; k < 3; k++) {
        size_t nl = strlen(name), sl = strlen(sfx[k]);
        if (nl > sl && strcmp(name + nl - sl, sfx[k]) == 0) {
            char base[128];
            snprintf(base, sizeof(base), "%.*s", (int)(nl - sl), name);
            int j = prom_find_family(st, base);
            if (j >= 0 && strcmp(st->fam[j].type, "histogram") == 0) {
                *suffix = sfx[k];
                return j;
            }
        }
    }
    return -1;
}

static prom_hist_t *prom_hist(prom_state_t *st, const char *family, const char *labels)
{
    for (int i = 0; i < st->nhist; i++)
        if (strcmp(st->hist[i].family, family) == 0 && strcmp(st->hist[i].labels, labels) == 0)
            return &st->hist[i];
    if (st->nhist == PROM_MAX_SERIES)
        return NULL;
    prom_hist_t *h = &st->hist[st->nhist++];
    memset(h, 0, sizeof(*h));
    /* memmove: both point into *st, which the compiler cannot see apart */
    size_t fl = strnlen(family, sizeof(h->family) - 1), ll = strnlen(labels, sizeof(h->labels) - 1);
    memmove(h->family, family, fl);
    h->family[fl] = '\0';
    memmove(h->labels, labels, ll);
    h->labels[ll] = '\0';
    h->last_le = -INFINITY;
    return h;
}

/* Parses one sample line. */
static int prom_sample(prom_state_t *st, const char *line, int ln, char *err, size_t errlen)
{
    const char *p = line;
    while (*p && *p != '{' && *p != ' ')
        p++;
    char name[128];
    if ((size_t)(p - line) >= sizeof(name) || !prom_name_ok(line, (size_t)(p - line), 1))
        return prom_fail(err, errlen, ln, "bad metric name in \"%s\"", line);
    snprintf(name, sizeof(name), "%.*s", (int)(p - line), line);
    char labels[512] = "", le[256] = "";
    size_t lo = 0;
    int has_le = 0;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            const char *ls = p;
            while (*p && *p != '=')
                p++;
            if (*p != '=' || !prom_name_ok(ls, (size_t)(p - ls), 0))
                return prom_fail(err, errlen, ln, "bad label name in \"%s\"", line);
            char lname[64];
            snprintf(lname, sizeof(lname), "%.*s", (int)(p - ls), ls);
            p++;
            if (*p != '"')
                return prom_fail(err, errlen, ln, "label value not quoted in \"%s\"", line);
            p++;
            char val[256];
            size_t vo = 0;
            while (*p && *p != '"') {
                if (*p == '\\') {
                    p++;
                    if (*p != '\\' && *p != '"' && *p != 'n')
                        return prom_fail(err, errlen, ln, "bad escape in label value in \"%s\"", line);
                }
                if (*p == '\0' || *p == '\n')
                    return prom_fail(err, errlen, ln, "unterminated label value in \"%s\"", line);
                if (vo + 1 < sizeof(val))
                    val[vo++] = *p;
                p++;
            }
            val[vo] = '\0';
            if (*p != '"')
                return prom_fail(err, errlen, ln, "unterminated label value in \"%s\"", line);
            p++;
            if (strcmp(lname, "le") == 0) {
                has_le = 1;
                snprintf(le, sizeof(le), "%s", val);
            } else {
                int w = snprintf(labels + lo, sizeof(labels) - lo, "%s%s=\"%s\"", lo ? "," : "", lname, val);
                if (w > 0 && (size_t)w < sizeof(labels) - lo)
                    lo += (size_t)w;
            }
            if (*p == ',')
                p++;
            else if (*p != '}')
                return prom_fail(err, errlen, ln, "expected , or } in \"%s\"", line);
        }
        p++;
    }
    if (*p != ' ')
        return prom_fail(err, errlen, ln, "expected one space before the value in \"%s\"", line);
    p++;
    double v;
    if (strchr(p, ' ') != NULL)
        return prom_fail(err, errlen, ln, "timestamps or trailing fields are not expected: \"%s\"", line);
    if (prom_value(p, &v) != 0)
        return prom_fail(err, errlen, ln, "value \"%s\" is not a number", p);

    const char *suffix;
    int fi = prom_family_of(st, name, &suffix);
    if (fi < 0)
        return prom_fail(err, errlen, ln, "sample %s has no # TYPE", name);
    if (fi != st->current)
        return prom_fail(err, errlen, ln, "sample %s is not next to its family's other samples", name);
    prom_family_t *f = &st->fam[fi];

    /* duplicates */
    char key[1024];
    snprintf(key, sizeof(key), "%s{%s}le=%s", name, labels, le);
    for (int i = 0; i < st->nseries; i++)
        if (strcmp(st->series[i], key) == 0)
            return prom_fail(err, errlen, ln, "series %s appears twice", key);
    if (st->nseries == PROM_MAX_SERIES)
        return prom_fail(err, errlen, ln, "too many series");
    st->series[st->nseries++] = strdup(key);

    if (strcmp(f->type, "counter") == 0 && !(v >= 0))
        return prom_fail(err, errlen, ln, "counter %s is negative or NaN", name);
    if (strcmp(f->type, "histogram") == 0) {
        prom_hist_t *h = prom_hist(st, f->name, labels);
        if (h == NULL)
            return prom_fail(err, errlen, ln, "too many histograms");
        if (strcmp(suffix, "_bucket") == 0) {
            if (!has_le)
                return prom_fail(err, errlen, ln, "bucket without le: \"%s\"", line);
            if (h->saw_inf || h->saw_sum || h->saw_count)
                return prom_fail(err, errlen, ln, "bucket after +Inf, _sum or _count in \"%s\"", line);
            double lev;
            if (prom_value(le, &lev) != 0 || isnan(lev))
                return prom_fail(err, errlen, ln, "le=\"%s\" is not a number", le);
            if (!(lev > h->last_le))
                return prom_fail(err, errlen, ln, "le bounds not ascending at %s", le);
            if (h->nbuckets > 0 && v < h->last_count)
                return prom_fail(err, errlen, ln, "bucket counts are not cumulative at le=%s (%g < %g)", le, v,
                                 h->last_count);
            h->last_le = lev;
            h->last_count = v;
            h->nbuckets++;
            if (isinf(lev)) {
                h->saw_inf = 1;
                h->inf_count = v;
            }
        } else if (has_le) {
            return prom_fail(err, errlen, ln, "le label on %s", name);
        } else if (strcmp(suffix, "_sum") == 0) {
            h->saw_sum = 1;
        } else {
            h->saw_count = 1;
            h->count = v;
        }
    } else if (has_le) {
        return prom_fail(err, errlen, ln, "le label outside a histogram: %s", name);
    }
    return 0;
}

/* 0 when text passes; else -1 and err says which line and why. */
static int prom_check(const char *text, char *err, size_t errlen)
{
    prom_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return prom_fail(err, errlen, 0, "out of memory");
    st->current = -1;
    int rc = 0, ln = 0;
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n') {
        rc = prom_fail(err, errlen, 0, "the text must end with a newline");
        goto out;
    }
    for (const char *p = text; *p && rc == 0;) {
        const char *eol = strchr(p, '\n');
        char line[2048];
        ln++;
        if ((size_t)(eol - p) >= sizeof(line)) {
            rc = prom_fail(err, errlen, ln, "line too long");
            break;
        }
        snprintf(line, sizeof(line), "%.*s", (int)(eol - p), p);
        p = eol + 1;
        if (line[0] == '\0') {
            rc = prom_fail(err, errlen, ln, "blank line");
        } else if (line[0] == '#') {
            char kind[8], name[128];
            int off = 0;
            if (sscanf(line, "# %7s %127s %n", kind, name, &off) < 2 ||
                (strcmp(kind, "HELP") != 0 && strcmp(kind, "TYPE") != 0)) {
                rc = prom_fail(err, errlen, ln, "only # HELP and # TYPE comments are expected: \"%s\"", line);
                break;
            }
            if (!prom_name_ok(name, strlen(name), 1)) {
                rc = prom_fail(err, errlen, ln, "bad family name %s", name);
                break;
            }
            int fi = prom_find_family(st, name);
            if (fi >= 0 && st->fam[fi].closed) {
                rc = prom_fail(err, errlen, ln, "family %s declared again after other families", name);
                break;
            }
            if (fi < 0) {
                if (st->nfam == PROM_MAX_FAMILIES) {
                    rc = prom_fail(err, errlen, ln, "too many families");
                    break;
                }
                fi = st->nfam++;
                snprintf(st->fam[fi].name, sizeof(st->fam[fi].name), "%s", name);
            }
            if (st->current >= 0 && st->current != fi)
                st->fam[st->current].closed = 1;
            st->current = fi;
            if (strcmp(kind, "HELP") == 0) {
                if (st->fam[fi].has_help++)
                    rc = prom_fail(err, errlen, ln, "second # HELP for %s", name);
            } else {
                const char *type = line + off;
                if (st->fam[fi].type[0] != '\0')
                    rc = prom_fail(err, errlen, ln, "second # TYPE for %s", name);
                else if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram") &&
                         strcmp(type, "summary") && strcmp(type, "untyped"))
                    rc = prom_fail(err, errlen, ln, "unknown type \"%s\"", type);
                else
                    snprintf(st->fam[fi].type, sizeof(st->fam[fi].type), "%s", type);
            }
        } else {
            if (st->current >= 0 && st->fam[st->current].type[0] == '\0')
                rc = prom_fail(err, errlen, ln, "samples of %s before its # TYPE", st->fam[st->current].name);
            else
                rc = prom_sample(st, line, ln, err, errlen);
        }
    }
    for (int i = 0; rc == 0 && i < st->nhist; i++) {
        prom_hist_t *h = &st->hist[i];
        if (!h->saw_inf)
            rc = prom_fail(err, errlen, ln, "histogram %s{%s} has no le=\"+Inf\" bucket", h->family, h->labels);
        else if (!h->saw_count || !h->saw_sum)
            rc = prom_fail(err, errlen, ln, "histogram %s{%s} lacks _sum or _count", h->family, h->labels);
        else if (h->inf_count != h->count)
            rc = prom_fail(err, errlen, ln, "histogram %s{%s}: +Inf bucket %g != _count %g", h->family, h->labels,
                           h->inf_count, h->count);
    }
out:
    for (int i = 0; i < st->nseries; i++)
        free(st->series[i]);
    free(st);
    return rc;
}

/* The value of the first sample whose line starts with prefix
 * ("name{labels}" or "name "), or NAN. */
static double prom_value_of(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, prefix, n) == 0 && (p[n] == ' ' || prefix[n - 1] == ' ')) {
            const char *v = prefix[n - 1] == ' ' ? p + n : p + n + 1;
            return strtod(v, NULL);
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NAN;
}

#endif
