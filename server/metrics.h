/*
 * Prometheus metrics. Counters are atomics updated from any thread without a
 * lock; metrics_render builds the text exposition (GET /metrics).
 */
#ifndef HC_METRICS_H
#define HC_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "router.h"

int metrics_init(void);
/* route may be NULL (no route matched) */
void metrics_request_observe(const route_t *route, int status, uint64_t dur_us);
/* Appends the exposition text to f. */
void metrics_render(FILE *f);

#endif
