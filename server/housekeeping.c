#include "housekeeping.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <uv.h>

#include "lock.h"
#include "log.h"

#define MAX_TASKS 32

typedef struct task {
    const char *name;
    uint64_t ms;
    housekeeping_fn fn;
    void *arg;
    uv_timer_t timer;
} task_t;

static task_t tasks[MAX_TASKS];
static size_t ntasks;
static struct {
    housekeeping_fn fn;
    void *arg;
} reload_hooks[8], stop_hooks[8];
static size_t nreload, nstop;

static uv_loop_t loop;
static uv_thread_t thread;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_async_t stop_async;

static pthread_mutex_t stop_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static int stop_signal;

int housekeeping_every(const char *name, uint64_t ms, housekeeping_fn fn, void *arg)
{
    if (ntasks == MAX_TASKS)
        return -1;
    tasks[ntasks++] = (task_t){.name = name, .ms = ms, .fn = fn, .arg = arg};
    return 0;
}

int housekeeping_on_reload(housekeeping_fn fn, void *arg)
{
    if (nreload == sizeof(reload_hooks) / sizeof(reload_hooks[0]))
        return -1;
    reload_hooks[nreload].fn = fn;
    reload_hooks[nreload++].arg = arg;
    return 0;
}

int housekeeping_on_stop(housekeeping_fn fn, void *arg)
{
    if (nstop == sizeof(stop_hooks) / sizeof(stop_hooks[0]))
        return -1;
    stop_hooks[nstop].fn = fn;
    stop_hooks[nstop++].arg = arg;
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    task_t *task = t->data;
    task->fn(task->arg);
    lock_assert_none_held(task->name);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    if (signum == SIGHUP) {
        log_info("msg=\"SIGHUP: reloading\"");
        for (size_t i = 0; i < nreload; i++)
            reload_hooks[i].fn(reload_hooks[i].arg);
        return;
    }
    pthread_mutex_lock(&stop_mutex);
    if (stop_signal == 0)
        stop_signal = signum;
    pthread_cond_broadcast(&stop_cond);
    pthread_mutex_unlock(&stop_mutex);
}

static void close_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_stop_async(uv_async_t *a)
{
    (void)a;
    for (size_t i = 0; i < nstop; i++)
        stop_hooks[i].fn(stop_hooks[i].arg);
    uv_walk(&loop, close_cb, NULL);
}

static void thread_main(void *arg)
{
    (void)arg;
    uv_run(&loop, UV_RUN_DEFAULT);
}

int housekeeping_start(void)
{
    int rc;
    if ((rc = uv_loop_init(&loop)) != 0)
        goto fail;
    for (size_t i = 0; i < ntasks; i++) {
        uv_timer_init(&loop, &tasks[i].timer);
        tasks[i].timer.data = &tasks[i];
        if ((rc = uv_timer_start(&tasks[i].timer, on_timer, tasks[i].ms, tasks[i].ms)) != 0)
            goto fail;
    }
    uv_signal_init(&loop, &sig_term);
    uv_signal_init(&loop, &sig_int);
    uv_signal_init(&loop, &sig_hup);
    if ((rc = uv_signal_start(&sig_term, on_signal, SIGTERM)) != 0 ||
        (rc = uv_signal_start(&sig_int, on_signal, SIGINT)) != 0 ||
        (rc = uv_signal_start(&sig_hup, on_signal, SIGHUP)) != 0)
        goto fail;
    if ((rc = uv_async_init(&loop, &stop_async, on_stop_async)) != 0)
        goto fail;
    if ((rc = uv_thread_create(&thread, thread_main, NULL)) != 0)
        goto fail;
    return 0;
fail:
    log_error("msg=\"cannot start the housekeeping thread\" err=\"%s\"", uv_strerror(rc));
    return -1;
}

int housekeeping_wait_for_stop(void)
{
    pthread_mutex_lock(&stop_mutex);
    while (stop_signal == 0)
        pthread_cond_wait(&stop_cond, &stop_mutex);
    int s = stop_signal;
    pthread_mutex_unlock(&stop_mutex);
    return s;
}

void housekeeping_stop(void)
{
    uv_async_send(&stop_async);
    uv_thread_join(&thread);
    uv_loop_close(&loop);
}
