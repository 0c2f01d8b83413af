/*
 * THE route table: every endpoint of hydracluster in one place (method, path
 * pattern, handler, credential kind, body limit, flags, summary).
 * `hydracluster routes` prints it; docs/api.md is generated from it.
 * Order matters only between patterns that match the same path: the first wins.
 */
#include "api.h"
#include "router.h"

#define KiB 1024
#define MiB (1024 * 1024)

const route_t route_table[] = {
    /* health and observability */
    {"GET", "/api/v1/health", api_health_get, AUTH_NONE, 0, 0, "liveness and database check"},
    {"GET", "/metrics", api_metrics_get, AUTH_METRICS, 0, ROUTE_NO_ACCESS_LOG, "Prometheus metrics"},

    /* admin credentials */
    {"GET", "/api/v1/admin-tokens", api_admin_tokens_list, AUTH_ADMIN, 0, 0, "list minted admin tokens (never the token)"},
    {"POST", "/api/v1/admin-tokens", api_admin_tokens_create, AUTH_ADMIN, 16 * KiB, ROUTE_JSON_OPTIONAL,
     "mint an admin token {label}; shown once"},
    {"DELETE", "/api/v1/admin-tokens/{id}", api_admin_tokens_revoke, AUTH_ADMIN, 0, 0, "revoke a minted admin token"},

    /* enrollment of machines */
    {"POST", "/api/v1/enrollments", api_enrollments_create, AUTH_ADMIN, 16 * KiB, ROUTE_JSON_BODY,
     "mint a one-time enrollment token {name, owner, os} with install commands"},
    {"POST", "/api/v1/enroll", api_enroll, AUTH_ENROLLMENT, 16 * KiB, ROUTE_JSON_BODY,
     "agent: spend an enrollment token {enrollment_token, hostname, os, arch, version}"},
    {"POST", "/api/v1/nodes/{id}/approve", api_nodes_approve, AUTH_ADMIN, 0, 0, "approve a pending node"},
    {"POST", "/api/v1/nodes/{id}/reject", api_nodes_reject, AUTH_ADMIN, 0, 0, "reject a pending node"},

    /* exec queue (admin) */
    {"POST", "/api/v1/nodes/{id}/exec", api_exec_submit, AUTH_ADMIN, 512 * KiB, ROUTE_JSON_BODY,
     "queue a command {command, timeout|timeout_s}; 202 after commit"},
    {"GET", "/api/v1/nodes/{id}/exec", api_exec_list, AUTH_ADMIN, 0, 0,
     "the node's queue: pending, running, recent results (?limit=)"},
    {"DELETE", "/api/v1/nodes/{id}/exec", api_exec_purge, AUTH_ADMIN, 0, 0, "cancel every pending command of the node"},
    {"GET", "/api/v1/nodes/{id}/exec/{execId}/result", api_exec_result, AUTH_ADMIN, 0, 0,
     "a command's result: 200 finished, 202 pending/running (?wait=N long poll)"},
    {"DELETE", "/api/v1/nodes/{id}/exec/{execId}", api_exec_cancel, AUTH_ADMIN, 0, 0, "cancel a pending command"},
    {"DELETE", "/api/v1/nodes/{id}/stream", api_nodes_stream_stop, AUTH_ADMIN, 0, 0,
     "clear the stream state and run streams.stop_command on the body (waits, bounded)"},

    /* exec queue (agent) */
    {"GET", "/api/v1/body/exec", api_body_exec_fetch, AUTH_NODE, 0, 0,
     "agent: next command (200) or none (204); ?wait=N long poll"},
    {"POST", "/api/v1/body/exec/result", api_body_exec_result, AUTH_NODE, 8 * MiB, ROUTE_JSON_BODY,
     "agent: report {id, exit_code, stdout, stderr, duration_ms}; idempotent"},
};

const size_t route_table_count = sizeof(route_table) / sizeof(route_table[0]);
