/*
 * API test harness: starts the real hydracluster binary ($HC_BINARY) on a
 * free loopback port with a temporary data dir, and talks HTTP to it with
 * libcurl. Single-threaded test code; nothing here is shared with the server.
 */
#ifndef HC_TEST_HARNESS_H
#define HC_TEST_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#define TEST_ADMIN_TOKEN "test-admin-token-0123456789abcdef0123456789abcdef"
#define TEST_FLEET_TOKEN "test-fleet-token-0123456789abcdef0123456789abcdef"

typedef struct hc_server {
    pid_t pid;
    int port;
    char dir[256];         /* temp dir: config.yaml, data/, server.log */
    char url[64];          /* http://127.0.0.1:PORT, or https:// when the config has TLS */
    char config_path[300];
    char log_path[300];
} hc_server_t;

typedef struct hc_resp {
    long status;
    char *body;
    size_t len;
    char *headers; /* raw response headers, lower-cased names */
    json_t *json;  /* parsed body when it is JSON, else NULL */
} hc_resp_t;

/* 1 (the default): config.yaml sets server.fleet_enrollment_token to
 * TEST_FLEET_TOKEN; 0: it is left out, so the server generates one into
 * data/fleet_enrollment_token (and the API may rotate it). Read by
 * hc_server_start. */
extern int hc_fleet_token_in_config;

/* Writes config.yaml (listen, data_dir, tokens, then extra_yaml verbatim
 * under the top level; extra_server_yaml is appended inside `server:`) and
 * starts the server; waits for /api/v1/health. Aborts the test on failure. */
hc_server_t *hc_server_start(const char *extra_server_yaml, const char *extra_yaml);
/* Like hc_server_start, but config.yaml is config_text verbatim after every
 * "@PORT@" and "@DIR@" in it is replaced by the port and the temp dir. https
 * selects the URL scheme (certificates are not verified). */
hc_server_t *hc_server_start_raw(const char *config_text, int https);
/* Creates the temp dir and picks a port without writing a config or
 * starting (for tests that build their own config); then hc_server_spawn. */
hc_server_t *hc_server_prepare(int https);
void hc_server_spawn(hc_server_t *s);
/* Starts again on the same dir and port (after a stop or kill). */
void hc_server_restart(hc_server_t *s);
/* SIGTERM and wait; returns the exit status (or 128+signal). */
int hc_server_stop(hc_server_t *s);
/* SIGKILL and wait. */
void hc_server_kill9(hc_server_t *s);
/* stops if running, removes the temp dir */
void hc_server_free(hc_server_t *s);
/* 1 when the server's log contains needle */
int hc_server_log_contains(hc_server_t *s, const char *needle);

/* One request. token NULL = no Authorization; content_type NULL = none;
 * extra_header e.g. "X-Request-Id: abc" or NULL; several are separated by
 * "\n". */
hc_resp_t hc_request(hc_server_t *s, const char *method, const char *path, const char *token,
                     const char *content_type, const char *body, size_t body_len, const char *extra_header);
/* JSON shortcuts (application/json body) */
hc_resp_t hc_get(hc_server_t *s, const char *path, const char *token);
hc_resp_t hc_post_json(hc_server_t *s, const char *path, const char *token, const char *json);
hc_resp_t hc_json(hc_server_t *s, const char *method, const char *path, const char *token, const char *json);
void hc_resp_free(hc_resp_t *r);
/* the value of a response header (lower-case name), static buffer, or NULL */
const char *hc_resp_header(hc_resp_t *r, const char *name);
/* asserts r is a JSON error with this status and code */
void hc_assert_error(hc_resp_t *r, long status, const char *code);

/* Sends raw bytes on a new TCP connection and returns what came back within
 * timeout_ms (malloc'ed, NUL-terminated). */
char *hc_raw(hc_server_t *s, const char *data, size_t len, int timeout_ms);

/* Enrolls a machine the way an operator and its agent do (POST
 * /api/v1/enrollments, POST /api/v1/enroll) and approves it when approve is
 * set. Fills node_id (>= 64 bytes) and token (>= 65 bytes). */
void hc_enroll_node(hc_server_t *s, const char *name, const char *os, int approve, char *node_id, char *token);

/* POST /api/v1/body/heartbeat with a node token (json NULL = empty body). */
hc_resp_t hc_heartbeat(hc_server_t *s, const char *token, const char *json);
/* GET /api/v1/nodes/{id} as admin: the node object (caller json_decref), or
 * NULL when it answers 404; fails the test on anything else. */
json_t *hc_node_get(hc_server_t *s, const char *id);
/* A fake node agent on its own thread, speaking the exec protocol like
 * hydranode: long-polls GET /api/v1/body/exec?wait=wait_s and answers each
 * command with POST /api/v1/body/exec/result, filled by fn (exit_code
 * defaults to 0, out/err to ""; fn may malloc *out / *err, the agent frees
 * them; fn may set *skip to take the command and never report it). fn runs on the agent thread: no cmocka
 * asserts there; record what you need and check it afterwards. */
typedef struct hc_agent hc_agent_t;
typedef void (*hc_agent_fn)(const char *id, const char *command, long timeout_s, int *exit_code, char **out,
                            char **err, int *skip, void *arg);
hc_agent_t *hc_agent_start(hc_server_t *s, const char *token, int wait_s, hc_agent_fn fn, void *arg);
/* Stops the agent (aborting its current long poll) and joins it; returns how
 * many commands it handled. */
int hc_agent_stop(hc_agent_t *a);

/* A self-signed P-256 certificate for CN cn made by the openssl CLI:
 * dir/name.pem and dir/name.key (mode 0600). Aborts the test on failure. */
void hc_make_cert(const char *dir, const char *name, const char *cn);

/* milliseconds on the monotonic clock */
double hc_now_ms(void);

/* a free loopback TCP port */
int hc_free_port(void);

#endif
