/*
 * QR codes of short texts (the iPad enrollment payload), with libqrencode:
 * error correction level M, automatic version, the text as given (8-bit
 * mode for anything outside the alphanumeric set). Any thread.
 */
#ifndef HC_QR_H
#define HC_QR_H

#include <stddef.h>

/* An SVG image: a white square with a 4-module quiet zone and the dark
 * modules as one path; module_px pixels per module in width/height.
 * malloc'ed, NUL-terminated (*len without the NUL when len != NULL), or NULL
 * when the text does not fit a QR code or memory ran out. */
char *qr_svg(const char *text, unsigned module_px, size_t *len);

/* The same code for a terminal, two module rows per line with Unicode half
 * blocks, light modules drawn (for dark terminal backgrounds), with the quiet
 * zone. malloc'ed or NULL. */
char *qr_text(const char *text);

#endif
