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

    /* web UI: login sessions, pages (admin pages redirect to /login without a session), static files */
    {"POST", "/api/v1/session", api_session_create, AUTH_NONE, 4 * KiB, ROUTE_JSON_BODY,
     "web login {token}: sets the session cookie; 429 after repeated failures"},
    {"GET", "/api/v1/session", api_session_get, AUTH_NONE, 0, 0, "whether this browser has a session {authenticated, actor, expires_at}"},
    {"DELETE", "/api/v1/session", api_session_delete, AUTH_NONE, 0, 0, "web logout: ends the session, clears the cookie"},
    {"GET", "/", api_web_page, AUTH_NONE, 0, 0, "page: dashboard (nodes, pending approvals)"},
    {"GET", "/login", api_web_page, AUTH_NONE, 0, 0, "page: admin login"},
    {"GET", "/enroll", api_web_page, AUTH_NONE, 0, 0, "page: enroll a machine, iPad QR, recovery (open)"},
    {"GET", "/nodes/{id}", api_web_page, AUTH_NONE, 0, 0, "page: one node (metadata, roles, actions, exec, audit)"},
    {"GET", "/heads", api_web_page, AUTH_NONE, 0, 0, "page: kiosk heads"},
    {"GET", "/heads/{id}", api_web_page, AUTH_NONE, 0, 0, "page: one head (screenshot, log tail)"},
    {"GET", "/roles", api_web_page, AUTH_NONE, 0, 0, "page: role catalog"},
    {"GET", "/static/{*path}", api_web_static, AUTH_NONE, 0, 0, "web UI files (content-hashed URLs are immutable)"},
};

const size_t route_table_count = sizeof(route_table) / sizeof(route_table[0]);
