/*
 * Handlers of the HTTP API, one file per resource (api/<resource>.c). The
 * route table (server/routes.c) is the only place that binds them to paths,
 * methods, credentials and limits. Every handler runs on a worker thread,
 * entered with no lock held, and answers (or parks) before it returns.
 */
#ifndef HC_API_H
#define HC_API_H

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

/* api/bodies.c */
void api_bodies_eligible(hc_req_t *r);

/* api/fleet.c */
void api_enroll_qr_get(hc_req_t *r);
void api_fleet_token_rotate(hc_req_t *r);

#endif
