/*
 * The relay between a session's two WebSockets (fleet/shell_session.h has
 * the model). Each end's ws_conn_t lives on the worker that accepted it; the
 * frames in between live in the receiving end's queue under the shell lock.
 * A worker never blocks and never waits for the other: it queues, posts a
 * worker_call to the other end's worker, and returns.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "shell_internal.h"

#define SHELL_SEND_CAP (64 * 1024) /* taken from the queue while the socket has less than this unsent */

static shell_end_t *other(shell_end_t *e)
{
    return &e->s->end[e->side == SHELL_CLIENT ? SHELL_AGENT : SHELL_CLIENT];
}

void shell_end_drop_locked(shell_end_t *e)
{
    while (e->in_head != NULL) {
        shell_frame_t *f = e->in_head;
        e->in_head = f->next;
        free(f);
    }
    e->in_tail = NULL;
    e->in_bytes = 0;
}

void shell_end_close_locked(shell_end_t *e, int force, uint16_t code, const char *reason)
{
    if (e->gone || e->force || (e->eof && !force))
        return;
    if (force)
        e->force = 1;
    else
        e->eof = 1;
    e->close_code = code;
    snprintf(e->close_reason, sizeof(e->close_reason), "%s", reason);
    if (!e->attached)
        e->gone = 1; /* never attached: it never will now */
}

static void on_call(worker_call_t *c);

void shell_end_notify(shell_end_t *e)
{
    lock_take(&shell_lock);
    worker_t *w = e->attached && !e->gone ? e->worker : NULL;
    lock_give(&shell_lock);
    if (w == NULL)
        return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&e->call_pending, &expected, 1))
        return; /* a call is in flight; it will see what we queued */
    shell_session_ref(e->s);
    e->call.fn = on_call;
    worker_call_post(w, &e->call);
}

/* Owner worker: sends what is queued for e while its socket keeps up, and
 * carries out resumes and closes. */
static void pump(shell_end_t *e)
{
    ws_conn_t *ws = e->ws;
    if (ws == NULL)
        return;
    size_t unsent = ws_unsent(ws);
    size_t room = unsent < SHELL_SEND_CAP ? SHELL_SEND_CAP - unsent : 0;
    shell_frame_t *take = NULL, **tail = &take;
    int close = 0, resume = 0, wake_peer = 0;
    uint16_t code = 0;
    char reason[124];
    shell_end_t *peer = other(e);
    lock_take(&shell_lock);
    if (e->force) {
        shell_end_drop_locked(e);
        close = 1;
    } else {
        while (e->in_head != NULL && room > 0) {
            shell_frame_t *f = e->in_head;
            e->in_head = f->next;
            if (e->in_head == NULL)
                e->in_tail = NULL;
            e->in_bytes -= f->len;
            room = f->len < room ? room - f->len : 0;
            f->next = NULL;
            *tail = f;
            tail = &f->next;
        }
        if (e->in_head == NULL && e->eof)
            close = 1;
    }
    if (close) {
        code = e->close_code;
        memcpy(reason, e->close_reason, sizeof(reason));
    }
    if (peer->paused && e->in_bytes <= SHELL_BUF_LOW) {
        peer->paused = 0;
        peer->resume = 1;
        wake_peer = 1;
    }
    resume = e->resume;
    e->resume = 0;
    int ping = e->ping && !close;
    e->ping = 0;
    lock_give(&shell_lock);
    if (ping)
        ws_ping(ws);
    while (take != NULL) {
        shell_frame_t *f = take;
        take = f->next;
        ws_send(ws, f->opcode, f->data, f->len);
        free(f);
    }
    if (resume)
        ws_read_pause(ws, 0);
    if (close)
        ws_close(ws, code, reason);
    if (wake_peer)
        shell_end_notify(peer);
}

static void on_call(worker_call_t *c)
{
    shell_end_t *e = H2O_STRUCT_FROM_MEMBER(shell_end_t, call, c);
    shell_session_t *s = e->s;
    atomic_store(&e->call_pending, 0); /* before looking: what is queued after this gets a new call */
    pump(e);
    shell_session_unref(s);
}

/* {"type":"exit","code":N} from the agent: remembered for the audit and
 * relayed like any other frame */
static int exit_code_of(const uint8_t *data, size_t len)
{
    if (len > 256)
        return -1;
    json_t *o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
    int code = -1;
    const char *type = json_string_value(json_object_get(o, "type"));
    json_t *c = json_object_get(o, "code");
    if (type != NULL && strcmp(type, "exit") == 0 && json_is_integer(c) && json_integer_value(c) >= 0 &&
        json_integer_value(c) <= 255)
        code = (int)json_integer_value(c);
    json_decref(o);
    return code;
}

static void on_message(ws_conn_t *c, int opcode, const uint8_t *data, size_t len)
{
    shell_end_t *e = ws_data(c);
    shell_session_t *s = e->s;
    shell_end_t *peer = other(e);
    int exit_code = e->side == SHELL_AGENT && opcode == WS_OP_TEXT ? exit_code_of(data, len) : -1;
    shell_frame_t *f = malloc(sizeof(*f) + len);
    if (f == NULL) {
        log_error("msg=\"out of memory relaying a shell frame\" session=%s", s->id);
        ws_close(c, 1011, "{\"code\":\"internal\",\"error\":\"out of memory\"}");
        return;
    }
    f->next = NULL;
    f->opcode = opcode;
    f->len = len;
    memcpy(f->data, data, len);
    int pause = 0, notify = 0;
    lock_take(&shell_lock);
    if (exit_code >= 0)
        s->exit_code = exit_code;
    if (peer->gone || peer->force || peer->eof) {
        free(f); /* nobody to give it to any more */
    } else {
        if (peer->in_tail != NULL)
            peer->in_tail->next = f;
        else
            peer->in_head = f;
        peer->in_tail = f;
        peer->in_bytes += len;
        if (peer->in_bytes >= SHELL_BUF_HIGH && !e->paused) {
            e->paused = 1;
            pause = 1;
        }
        notify = peer->attached;
    }
    lock_give(&shell_lock);
    atomic_fetch_add(&s->bytes[e->side], len);
    atomic_fetch_add(&shell_bytes_total[e->side], len);
    atomic_store(&s->last_activity_ms, clock_mono_ms());
    if (pause)
        ws_read_pause(c, 1);
    if (notify)
        shell_end_notify(peer);
}

static void on_drain(ws_conn_t *c)
{
    shell_end_t *e = ws_data(c);
    pump(e);
}

static void on_close(ws_conn_t *c, int code)
{
    shell_end_t *e = ws_data(c);
    e->ws = NULL;
    shell_end_gone(e, code);
}

static const ws_handlers_t handlers = {on_message, on_drain, on_close};

static int attach(shell_session_t *s, int side, hc_req_t *r, const char *ws_key)
{
    shell_end_t *e = &s->end[side];
    lock_take(&shell_lock);
    int ok = !e->attached && !e->gone && s->state != SH_CLOSED;
    if (ok) {
        e->attached = 1;
        e->worker = r->worker;
        if (side == SHELL_AGENT) {
            s->state = SH_ACTIVE;
            s->active_ms = clock_mono_ms();
            s->pinged_ms = s->active_ms;
        }
    }
    lock_give(&shell_lock);
    if (!ok)
        return -1;
    atomic_store(&s->last_activity_ms, clock_mono_ms());
    ws_conn_t *ws = ws_upgrade(r, ws_key, &handlers, e, SHELL_MSG_MAX);
    if (ws == NULL) {
        lock_take(&shell_lock);
        e->attached = 0;
        if (side == SHELL_AGENT)
            s->state = SH_OFFERED;
        lock_give(&shell_lock);
        return -1;
    }
    e->ws = ws;
    /* the caller's reference is now the end's; the other end may have queued
     * frames for this one already (the client types before the agent came) */
    shell_end_notify(e);
    return 0;
}

int shell_client_attach(shell_session_t *s, hc_req_t *r, const char *ws_key)
{
    return attach(s, SHELL_CLIENT, r, ws_key);
}

int shell_agent_attach(shell_session_t *s, hc_req_t *r, const char *ws_key)
{
    return attach(s, SHELL_AGENT, r, ws_key);
}
