/* fleet/: QR codes of the iPad enrollment payload, drawn as SVG (qr.h). */
#include "qr.h"

#include <qrencode.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIET 4 /* modules of light border the QR specification asks for */

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
}

static char *sb_finish(sbuf_t *b, size_t *len)
{
    if (b->failed || b->data == NULL) {
        free(b->data);
        return NULL;
    }
    if (len != NULL)
        *len = b->len;
    return b->data;
}

static QRcode *encode(const char *text)
{
    return QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}

static int dark(const QRcode *q, int x, int y)
{
    if (x < 0 || y < 0 || x >= q->width || y >= q->width)
        return 0;
    return q->data[y * q->width + x] & 1;
}

char *qr_svg(const char *text, unsigned module_px, size_t *len)
{
    QRcode *q = encode(text);
    if (q == NULL)
        return NULL;
    int size = q->width + 2 * QUIET;
    sbuf_t b = {.cap = 4096};
    b.data = malloc(b.cap);
    if (b.data == NULL) {
        QRcode_free(q);
        return NULL;
    }
    b.data[0] = '\0';
    sb_printf(&b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" viewBox=\"0 0 %d %d\" "
              "shape-rendering=\"crispEdges\">\n"
              "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n<path fill=\"#000000\" d=\"",
              (unsigned)size * module_px, (unsigned)size * module_px, size, size, size, size);
    /* one rectangle per horizontal run of dark modules */
    for (int y = 0; y < q->width; y++) {
        for (int x = 0; x < q->width;) {
            if (!dark(q, x, y)) {
                x++;
                continue;
            }
            int run = 1;
            while (dark(q, x + run, y))
                run++;
            sb_printf(&b, "M%d %dh%dv1h-%dz", x + QUIET, y + QUIET, run, run);
            x += run;
        }
    }
    sb_printf(&b, "\"/>\n</svg>\n");
    QRcode_free(q);
    return sb_finish(&b, len);
}

char *qr_text(const char *text)
{
    QRcode *q = encode(text);
    if (q == NULL)
        return NULL;
    sbuf_t b = {.cap = 8192};
    b.data = malloc(b.cap);
    if (b.data == NULL) {
        QRcode_free(q);
        return NULL;
    }
    b.data[0] = '\0';
    /* light modules are drawn: full block, upper half, lower half, or blank */
    for (int y = -QUIET; y < q->width + QUIET; y += 2) {
        for (int x = -QUIET; x < q->width + QUIET; x++) {
            int top = !dark(q, x, y), bottom = y + 1 < q->width + QUIET && !dark(q, x, y + 1);
            sb_printf(&b, "%s", top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ");
        }
        sb_printf(&b, "\n");
    }
    QRcode_free(q);
    return sb_finish(&b, NULL);
}
