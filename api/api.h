/*
 * Handlers of the HTTP API, one file per resource (api/<resource>.c). The
 * route table (server/routes.c) is the only place that binds them to paths,
 * methods, credentials and limits. Every handler runs on a worker thread,
 * entered with no lock held, and answers (or parks) before it returns.
 */
#ifndef HC_API_H
#define HC_API_H

#include "config.h"
#include "router.h"

/* api/health.c */
void api_health_get(hc_req_t *r);

/* api/metrics.c */
void api_metrics_get(hc_req_t *r);

/* api/admin_tokens.c */
void api_admin_tokens_create(hc_req_t *r);
void api_admin_tokens_list(hc_req_t *r);
void api_admin_tokens_revoke(hc_req_t *r);

/* api/enroll.c */
void api_enrollments_create(hc_req_t *r);
void api_enroll(hc_req_t *r);
void api_nodes_approve(hc_req_t *r);
void api_nodes_reject(hc_req_t *r);
/* the install commands (PowerShell and sh) for a one-time token; a new JSON object */
json_t *enroll_install_commands(const char *token);
/* What makes install commands useless here (public_url loopback or 0.0.0.0,
 * releases.base_url the example placeholder): an array of sentences, NULL
 * out of memory. enroll_warnings_log writes each as a warning (main, at start). */
json_t *enroll_warnings(void);
void enroll_warnings_log(void);
void api_enroll_warnings(hc_req_t *r);

/* api/enrollments.c */
void api_enrollments_list(hc_req_t *r);
void api_enrollments_revoke(hc_req_t *r);

/* api/node_events.c */
void api_node_events_list(hc_req_t *r);

/* api/install.c */
void api_install_sh(hc_req_t *r);
void api_install_ps1(hc_req_t *r);

/* api/nodes.c (list and get: api/nodes_read.c) */
void api_nodes_list(hc_req_t *r);
void api_nodes_get(hc_req_t *r);
void api_nodes_summary(hc_req_t *r);
void api_nodes_patch(hc_req_t *r);
void api_nodes_delete(hc_req_t *r);
void api_nodes_set_roles(hc_req_t *r);
void api_nodes_update_node(hc_req_t *r);
void api_nodes_update_services(hc_req_t *r);
void api_nodes_reprovision(hc_req_t *r);
/* input checks shared with the agent endpoints */
int nodes_text_ok(const char *s);          /* no control characters */
int nodes_ip_ok(const char *s);            /* "" or an IPv4/IPv6 address */
int nodes_stream_status_ok(const char *s); /* idle, streaming, error */

/* api/roles.c */
void api_roles_list(hc_req_t *r);
void api_roles_put(hc_req_t *r);
void api_roles_delete(hc_req_t *r);
/* Inserts the config role_catalog entries missing from the roles table (main
 * thread, after registry_load, before the store writer starts). -1 with err
 * on an invalid entry or a store failure. */
int roles_seed(const hc_config_t *cfg, char *err, size_t errlen);

/* api/body.c (node agents) */
void api_body_heartbeat(hc_req_t *r);
void api_body_provision(hc_req_t *r);
void api_body_shell_check(hc_req_t *r);

/* api/shell.c (also api_body_shell_check above) */
void api_nodes_shell(hc_req_t *r);
void api_body_shell_connect(hc_req_t *r);

/* api/audit.c */
void api_audit_list(hc_req_t *r);
/* api/heads.c */
void api_heads_list(hc_req_t *r);
void api_heads_get(hc_req_t *r);
void api_heads_put(hc_req_t *r);
void api_heads_register(hc_req_t *r);
void api_nodes_head_assign(hc_req_t *r);
void api_nodes_head_unassign(hc_req_t *r);
void api_nodes_allowed_experiences(hc_req_t *r);

/* api/experiences.c */
void api_heads_experiences(hc_req_t *r);

/* api/head_proxy.c */
void api_heads_screenshot(hc_req_t *r);
void api_heads_logs(hc_req_t *r);

/* api/bodies.c */
void api_bodies_eligible(hc_req_t *r);

/* api/fleet.c */
void api_enroll_qr_get(hc_req_t *r);
void api_fleet_token_rotate(hc_req_t *r);
/* api/exec.c */
void api_exec_submit(hc_req_t *r);
void api_exec_list(hc_req_t *r);
void api_exec_purge(hc_req_t *r);
void api_exec_result(hc_req_t *r);
void api_exec_cancel(hc_req_t *r);
void api_body_exec_fetch(hc_req_t *r);
void api_body_exec_result(hc_req_t *r);

/* api/stream.c */
void api_nodes_stream_stop(hc_req_t *r);

/* api/sessions.c: streaming sessions (fleet/stream_sessions.h) */
void api_sessions_list(hc_req_t *r);
void api_sessions_get(hc_req_t *r);
void api_sessions_logs_get(hc_req_t *r);
void api_body_sessions_logs_post(hc_req_t *r);
/* api/login_session.c: web UI login (web/login_sessions.h) */
void api_login_session_create(hc_req_t *r);
void api_login_session_get(hc_req_t *r);
void api_login_session_delete(hc_req_t *r);

/* api/web.c: the web UI's pages and static files (web/) */
void api_web_page(hc_req_t *r);
void api_web_static(hc_req_t *r);
/* renders the pages (hashed static URLs); main thread, at start. 0 or -1 with err */
int web_init(char *err, size_t errlen);
void web_free(void);

#endif
