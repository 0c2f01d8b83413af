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

/* api/session.c: web UI login (server/session.h) */
void api_session_create(hc_req_t *r);
void api_session_get(hc_req_t *r);
void api_session_delete(hc_req_t *r);

/* api/web.c: the web UI's pages and static files (web/) */
void api_web_page(hc_req_t *r);
void api_web_static(hc_req_t *r);
/* renders the pages (hashed static URLs); main thread, at start. 0 or -1 with err */
int web_init(char *err, size_t errlen);
void web_free(void);

#endif
