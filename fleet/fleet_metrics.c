/*
 * The fleet's gauges for GET /metrics (fleet_metrics.h).
 */
#include "fleet_metrics.h"

#include <stdatomic.h>
#include <string.h>

#include "clock.h"
#include "lock.h"
#include "metrics.h"
#include "registry.h"
#include "serve.h"

typedef struct {
    size_t online, offline, pending, rejected;
    int64_t now;
    uint64_t offline_after_ms;
} node_counts_t;

static int count_node(node_t *n, void *arg)
{
    node_counts_t *c = arg;
    if (strcmp(n->approval, "pending") == 0)
        c->pending++;
    else if (strcmp(n->approval, "rejected") == 0)
        c->rejected++;
    else if (n->last_seen != 0 && (uint64_t)(c->now - n->last_seen) * 1000 <= c->offline_after_ms)
        c->online++;
    else
        c->offline++;
    return 0;
}

void fleet_metrics_render(FILE *f)
{
    const hc_config_t *cfg = serve_config();
    node_counts_t c = {.now = clock_now(), .offline_after_ms = cfg ? cfg->nodes.offline_after_ms : 90000};
    lock_take_shared(&registry_nodes_lock);
    registry_node_foreach(count_node, &c);
    lock_give(&registry_nodes_lock);
    fprintf(f,
            "# HELP hydracluster_nodes Enrolled nodes by status (online/offline from heartbeats for approved nodes).\n"
            "# TYPE hydracluster_nodes gauge\n"
            "hydracluster_nodes{status=\"online\"} %zu\n"
            "hydracluster_nodes{status=\"offline\"} %zu\n"
            "hydracluster_nodes{status=\"pending\"} %zu\n"
            "hydracluster_nodes{status=\"rejected\"} %zu\n",
            c.online, c.offline, c.pending, c.rejected);
}

int fleet_metrics_register(void)
{
    static atomic_int registered;
    if (atomic_exchange(&registered, 1))
        return 0;
    return metrics_register_collector(fleet_metrics_render);
}
