/*
 * The systemd notification protocol (sd_notify(3)), written here rather than
 * linked from libsystemd: one datagram of "KEY=VALUE\n" lines sent to the
 * unix socket named by $NOTIFY_SOCKET (a path, or an abstract socket when it
 * starts with '@'). Without $NOTIFY_SOCKET every call is a no-op, so the
 * server behaves the same outside systemd.
 *
 * Threads: notify_init on the main thread before any other call; the rest
 * from any thread (each message is one sendto on a socket opened at init).
 */
#ifndef HC_NOTIFY_H
#define HC_NOTIFY_H

#include <stdint.h>

/* Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and opens the
 * socket. Returns 0 (also when there is nothing to notify), -1 when
 * $NOTIFY_SOCKET is set but unusable (logged; the server still runs). */
int notify_init(void);

/* Sends msg ("READY=1", "STOPPING=1", "STATUS=...", several joined by \n).
 * 0 sent or nothing to send to, -1 on a send error. */
int notify_send(const char *msg);

/* The watchdog interval systemd asked for (WatchdogSec=) in microseconds,
 * 0 when the service has no watchdog (or it is meant for another pid). */
uint64_t notify_watchdog_usec(void);

/* Sends WATCHDOG=1 when the service has a watchdog; else does nothing. */
void notify_watchdog_ping(void);

void notify_close(void);

#endif
