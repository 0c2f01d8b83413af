/*
 * JSON in and out of requests (worker thread; memory from the request pool).
 * Every error on /api/ is {"error":"<human text>","code":"<machine_code>"}.
 */
#ifndef HC_JSONIO_H
#define HC_JSONIO_H

#include "router.h"

/* Sends obj with status (steals the reference). */
void json_respond(hc_req_t *r, int status, json_t *obj);
/* Sends len bytes that already are one JSON document (and its newline),
 * with the headers of json_respond; copies them into the request's pool. */
void json_respond_text(hc_req_t *r, int status, const char *json, size_t len);
/* The standard reason phrase of an HTTP status ("" for one this server does
 * not use): h2o writes it on the HTTP/1 status line. A static string. */
const char *json_http_reason(int status);
/* Like json_respond on a raw h2o request (before routing). */
void json_respond_raw(h2o_req_t *req, int status, json_t *obj);
/* {"error": <printf>, "code": code} with status. */
void json_error(hc_req_t *r, int status, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void json_error_raw(h2o_req_t *req, int status, const char *code, const char *msg);

/* Parses a request body: duplicate keys rejected, depth capped at
 * JSON_MAX_DEPTH, must be an object. NULL with a message in err otherwise. */
json_t *json_parse_body(const char *data, size_t len, char *err, size_t errlen);

/* Reads an integer member without truncation: 1 found and in [min,max], 0
 * absent (or null), -1 wrong type or out of range (err filled). */
int json_get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen);
/* A string member: 1 found (and length <= maxlen), 0 absent/null, -1 wrong type or too long. */
int json_get_str(json_t *obj, const char *key, size_t maxlen, const char **out, char *err, size_t errlen);
/* The one rule for names and labels an admin or agent gives us (node and
 * head names, owners, districts, venues, app ids, token labels…): no control
 * characters (below 0x20, and 0x7f). 1 when s follows it. */
int json_text_ok(const char *s);
/* json_get_str that also applies json_text_ok: -1 with "\"key\" must not
 * contain control characters" in err when it does not. */
int json_get_name(json_t *obj, const char *key, size_t maxlen, const char **out, char *err, size_t errlen);
/* A bool member: 1/0/-1 as above. */
int json_get_bool(json_t *obj, const char *key, int *out, char *err, size_t errlen);

/* Rejects members not in the NULL-terminated list: 0 ok, -1 with err naming the key. */
int json_check_keys(json_t *obj, const char *const *allowed, char *err, size_t errlen);

#endif
