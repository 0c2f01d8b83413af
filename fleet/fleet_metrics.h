/*
 * The fleet's gauges for GET /metrics: enrolled nodes by status. The runtime
 * (server/metrics.c) knows nothing of nodes; this collector is registered
 * with it by registry_init (main thread, at start) and runs on a worker
 * inside the /metrics handler.
 */
#ifndef HC_FLEET_METRICS_H
#define HC_FLEET_METRICS_H

#include <stdio.h>

/* Registers the collector once (later calls do nothing). 0, or -1 when the
 * collector table is full. Main thread, before the workers serve. */
int fleet_metrics_register(void);

/* hydracluster_nodes{status=...}: takes the nodes lock (shared) to count,
 * writes after releasing it. */
void fleet_metrics_render(FILE *f);

#endif
