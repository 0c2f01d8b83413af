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
    {"GET", "/api/v1/enrollments", api_enrollments_list, AUTH_ADMIN, 0, 0,
     "unspent, unexpired enrollments {id, name, os, owner, created_at, expires_at, created_by} (never the token)"},
    {"DELETE", "/api/v1/enrollments/{id}", api_enrollments_revoke, AUTH_ADMIN, 0, 0,
     "revoke an unspent enrollment: its token stops working at once"},
    {"GET", "/api/v1/enroll-warnings", api_enroll_warnings, AUTH_ADMIN, 0, 0,
     "what would make install commands useless here (public_url loopback, placeholder releases.base_url)"},
    {"POST", "/api/v1/enroll", api_enroll, AUTH_ENROLLMENT, 16 * KiB, ROUTE_JSON_BODY,
     "agent: spend an enrollment token {enrollment_token, hostname, os, arch, version}"},
    {"POST", "/api/v1/nodes/{id}/approve", api_nodes_approve, AUTH_ADMIN, 0, 0, "approve a pending node"},
    {"POST", "/api/v1/nodes/{id}/reject", api_nodes_reject, AUTH_ADMIN, 0, 0, "reject a pending node"},
    {"GET", "/install.sh", api_install_sh, AUTH_NONE, 0, 0, "agent install script for Linux/macOS (releases.base_url filled in)"},
    {"GET", "/install.ps1", api_install_ps1, AUTH_NONE, 0, 0, "agent install script for Windows (releases.base_url filled in)"},

    /* nodes */
    {"GET", "/api/v1/nodes", api_nodes_list, AUTH_ADMIN, 0, 0,
     "node objects; filters ?role=&district=&venue=&status=online|offline|pending&stream_status=&orphaned=true|false"},
    {"GET", "/api/v1/nodes/summary", api_nodes_summary, AUTH_ADMIN, 0, 0,
     "counts by state, and the districts, venues and roles in use; the list's filters give \"matched\""},
    {"GET", "/api/v1/nodes/{id}", api_nodes_get, AUTH_ADMIN_OR_NODE, 0, 0, "one node object"},
    {"PATCH", "/api/v1/nodes/{id}", api_nodes_patch, AUTH_ADMIN, 16 * KiB, ROUTE_JSON_BODY,
     "admin metadata {name, owner, district, venue, drain, wireguard_ip, lan_ip}"},
    {"DELETE", "/api/v1/nodes/{id}", api_nodes_delete, AUTH_ADMIN, 0, 0, "remove a node; its token stops working"},
    {"POST", "/api/v1/nodes/{id}/roles", api_nodes_set_roles, AUTH_ADMIN, 16 * KiB, ROUTE_JSON_BODY,
     "replace the node's roles {roles:[...]}, each from the catalog"},
    {"GET", "/api/v1/nodes/{id}/events", api_node_events_list, AUTH_ADMIN, 0, 0,
     "the node's history, newest first: online/offline, approval, roles, flags delivered, streams; "
     "?limit=&before=&kind=&since="},
    {"POST", "/api/v1/nodes/{id}/update-node", api_nodes_update_node, AUTH_ADMIN, 0, 0, "flag an agent self-update"},
    {"POST", "/api/v1/nodes/{id}/update-services", api_nodes_update_services, AUTH_ADMIN, 0, 0,
     "flag an update of every provisioned service"},
    {"POST", "/api/v1/nodes/{id}/reprovision", api_nodes_reprovision, AUTH_ADMIN, 0, 0,
     "flag a forced reinstall of the provider"},

    /* the role catalog */
    {"GET", "/api/v1/roles", api_roles_list, AUTH_ADMIN, 0, 0, "the role catalog"},
    {"PUT", "/api/v1/roles/{name}", api_roles_put, AUTH_ADMIN, 64 * KiB, ROUTE_JSON_BODY,
     "create or replace a role {description, recipe}"},
    {"DELETE", "/api/v1/roles/{name}", api_roles_delete, AUTH_ADMIN, 0, 0,
     "remove a role (409 while nodes hold it, unless ?force=true)"},

    /* node agents */
    {"POST", "/api/v1/body/heartbeat", api_body_heartbeat, AUTH_NODE, 128 * KiB, ROUTE_JSON_OPTIONAL | ROUTE_AGENT_SEEN,
     "agent: soft state in {version, stream_status, provider_status, wireguard_ip, lan_ip, diagnostics, flags_ack}; "
     "roles, flags, exec_pending, interval out"},
    {"GET", "/api/v1/body/provision", api_body_provision, AUTH_NODE, 0, 0, "agent: its roles with their recipes"},
    {"GET", "/api/v1/body/shell/check", api_body_shell_check, AUTH_NODE, 0, 0,
     "agent: the next shell session waiting for it, or null; ?wait=N long poll (N <= 55)"},
    {"GET", "/api/v1/body/shell/{session_id}", api_body_shell_connect, AUTH_NODE, 0, 0,
     "agent: WebSocket to a shell session it was offered, bridged to a fresh PTY"},

    /* audit */
    {"GET", "/api/v1/audit", api_audit_list, AUTH_ADMIN, 0, 0, "the audit trail, newest first; ?target=&limit=&before="},

    /* heads and iPads */
    {"GET", "/api/v1/heads", api_heads_list, AUTH_ADMIN, 0, 0, "every head with its status and assigned body"},
    {"POST", "/api/v1/heads", api_heads_register, AUTH_FLEET, 16 * KiB, ROUTE_JSON_BODY,
     "iPad self-registration {name, district, venue}: an approved head and its token"},
    {"GET", "/api/v1/heads/{id}", api_heads_get, AUTH_ADMIN_OR_NODE, 0, 0,
     "a head's stream config (stream_url from the assigned body)"},
    {"PUT", "/api/v1/heads/{id}", api_heads_put, AUTH_ADMIN_OR_NODE, 128 * KiB, ROUTE_JSON_BODY | ROUTE_AGENT_SEEN,
     "the kiosk reports {status, diagnostics}"},
    {"GET", "/api/v1/heads/{id}/experiences", api_heads_experiences, AUTH_ADMIN_OR_NODE, 0, 0,
     "the kiosk's experience catalog from the experience library, filtered by its allowed list"},
    {"GET", "/api/v1/heads/{id}/screenshot", api_heads_screenshot, AUTH_ADMIN, 0, 0,
     "the kiosk's screenshot (image/jpeg) through the exec channel; 502 stale/absent, 504 after heads.screenshot_timeout"},
    {"GET", "/api/v1/heads/{id}/logs", api_heads_logs, AUTH_ADMIN, 0, 0,
     "the last 200 lines of the head agent's log through the exec channel; 504 after heads.logs_timeout"},
    {"POST", "/api/v1/nodes/{id}/head-assignment", api_nodes_head_assign, AUTH_ADMIN, 16 * KiB, ROUTE_JSON_BODY,
     "pin a body to a head {body_id, app_id}"},
    {"DELETE", "/api/v1/nodes/{id}/head-assignment", api_nodes_head_unassign, AUTH_ADMIN, 0, 0,
     "unpin the head's body"},
    {"POST", "/api/v1/nodes/{id}/allowed-experiences", api_nodes_allowed_experiences, AUTH_ADMIN, 64 * KiB,
     ROUTE_JSON_BODY, "set a head's experience filter {allowed_experiences: [...]}; empty = no filter"},
    {"GET", "/api/v1/bodies/eligible", api_bodies_eligible, AUTH_ADMIN_OR_ANY_NODE, 0, 0,
     "bodies a head may stream from, best first (head token, or admin ?head_id=); ?explain=true says why not"},
    {"GET", "/api/v1/enroll-qr", api_enroll_qr_get, AUTH_ADMIN, 0, 0,
     "the iPad QR payload {server_url, enrollment_token}; ?format=svg for the QR image"},
    {"POST", "/api/v1/fleet-token/rotate", api_fleet_token_rotate, AUTH_ADMIN, 0, 0,
     "mint a new fleet enrollment token; the previous one works for heads.fleet_token_overlap"},

    /* exec queue (admin) */
    {"POST", "/api/v1/nodes/{id}/exec", api_exec_submit, AUTH_ADMIN, 512 * KiB, ROUTE_JSON_BODY,
     "queue a command {command, timeout|timeout_s}; 202 after commit"},
    {"GET", "/api/v1/nodes/{id}/exec", api_exec_list, AUTH_ADMIN, 0, 0,
     "the node's queue: pending, running, recent results (?limit=)"},
    {"DELETE", "/api/v1/nodes/{id}/exec", api_exec_purge, AUTH_ADMIN, 0, 0, "cancel every pending command of the node"},
    {"GET", "/api/v1/nodes/{id}/shell", api_nodes_shell, AUTH_ADMIN, 0, 0,
     "WebSocket: a shell on the node in a fresh PTY; ?cols=&rows=&command= (no command: interactive)"},
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

    /* streaming sessions (one head streaming from one body) */
    {"GET", "/api/v1/sessions", api_sessions_list, AUTH_ADMIN, 0, 0,
     "streaming sessions, newest first; ?state=active|ended&node=&limit=&before="},
    {"GET", "/api/v1/sessions/{id}", api_sessions_get, AUTH_ADMIN, 0, 0, "one streaming session"},
    {"GET", "/api/v1/sessions/{id}/logs", api_sessions_logs_get, AUTH_ADMIN, 0, 0,
     "a session's body and head log lines, each side in time order; ?tail=N for the last N per side"},
    {"POST", "/api/v1/body/sessions/{id}/logs", api_body_sessions_logs_post, AUTH_NODE, 4 * MiB, ROUTE_JSON_BODY,
     "agent (the session's body or head): upload log lines {lines:[{ts, line}]}; oldest dropped past the cap"},
    /* web UI: login sessions, pages (admin pages redirect to /login without a session), static files */
    {"POST", "/api/v1/session", api_login_session_create, AUTH_NONE, 4 * KiB, ROUTE_JSON_BODY,
     "web login {token}: sets the session cookie; 429 after repeated failures"},
    {"GET", "/api/v1/session", api_login_session_get, AUTH_NONE, 0, 0, "whether this browser has a session {authenticated, actor, expires_at}"},
    {"DELETE", "/api/v1/session", api_login_session_delete, AUTH_NONE, 0, 0, "web logout: ends the session, clears the cookie"},
    {"GET", "/", api_web_page, AUTH_NONE, 0, 0, "page: dashboard (nodes, pending approvals)"},
    {"GET", "/login", api_web_page, AUTH_NONE, 0, 0, "page: admin login"},
    {"GET", "/enroll", api_web_page, AUTH_NONE, 0, 0, "page: enroll a machine, iPad QR, recovery (open)"},
    {"GET", "/nodes/{id}", api_web_page, AUTH_NONE, 0, 0, "page: one node (metadata, roles, actions, exec, audit)"},
    {"GET", "/heads", api_web_page, AUTH_NONE, 0, 0, "page: kiosk heads"},
    {"GET", "/heads/{id}", api_web_page, AUTH_NONE, 0, 0, "page: one head (screenshot, log tail)"},
    {"GET", "/roles", api_web_page, AUTH_NONE, 0, 0, "page: role catalog"},
    {"GET", "/sessions", api_web_page, AUTH_NONE, 0, 0, "page: streaming sessions (active first)"},
    {"GET", "/sessions/{id}/logs", api_web_page, AUTH_NONE, 0, 0, "page: a session's body and head logs side by side"},
    {"GET", "/activity", api_web_page, AUTH_NONE, 0, 0, "page: fleet-wide activity (the audit log, filterable)"},
    {"GET", "/admin", api_web_page, AUTH_NONE, 0, 0, "page: admin tokens, enrollments, fleet token rotation"},
    {"GET", "/static/{*path}", api_web_static, AUTH_NONE, 0, 0, "web UI files (content-hashed URLs are immutable)"},
};

const size_t route_table_count = sizeof(route_table) / sizeof(route_table[0]);
