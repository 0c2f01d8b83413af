#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int sock_fd = -1;
static struct sockaddr_un addr;
static socklen_t addr_len;
static uint64_t watchdog_usec;

int notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    const char *wd = getenv("WATCHDOG_USEC");
    const char *wd_pid = getenv("WATCHDOG_PID");
    if (wd != NULL && wd[0] != '\0') {
        char *end;
        unsigned long long v = strtoull(wd, &end, 10);
        /* WATCHDOG_PID names the process the watchdog is meant for; a child
         * that inherited the environment must not feed it */
        int ours = wd_pid == NULL || wd_pid[0] == '\0' || strtol(wd_pid, NULL, 10) == (long)getpid();
        if (*end == '\0' && v > 0 && ours)
            watchdog_usec = v;
    }
    if (path == NULL || path[0] == '\0')
        return 0;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path)) {
        log_error("msg=\"NOTIFY_SOCKET is not an absolute path or @abstract name; systemd will not hear from us\"");
        return -1;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0'; /* abstract namespace: the length, not a NUL, ends the name */
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    sock_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock_fd < 0) {
        log_error("msg=\"cannot create the systemd notification socket\" error=\"%s\"", strerror(errno));
        return -1;
    }
    return 0;
}

int notify_send(const char *msg)
{
    if (sock_fd < 0)
        return 0;
    ssize_t n;
    do
        n = sendto(sock_fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        log_warn("msg=\"systemd notification failed\" error=\"%s\"", strerror(errno));
        return -1;
    }
    return 0;
}

uint64_t notify_watchdog_usec(void)
{
    return sock_fd >= 0 ? watchdog_usec : 0;
}

void notify_watchdog_ping(void)
{
    if (notify_watchdog_usec() > 0)
        notify_send("WATCHDOG=1");
}

void notify_close(void)
{
    if (sock_fd >= 0)
        close(sock_fd);
    sock_fd = -1;
}
