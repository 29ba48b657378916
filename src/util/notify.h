/* systemd's service notification protocol (sd_notify(3)), by hand: one
 * datagram of `KEY=VALUE` lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET. A name starting with '@' is an abstract socket (the '@'
 * stands for the leading NUL byte). No libsystemd: the protocol is one
 * sendto, and the daemon should not need the library where systemd is not
 * there (containers, other init systems).
 *
 * feedcached sends READY=1 once it serves, WATCHDOG=1 from its event loop,
 * RELOADING=1 and READY=1 around a SIGHUP reload and STOPPING=1 on
 * shutdown (src/feedcached/systemd.c). Without $NOTIFY_SOCKET nothing is sent.
 *
 * Sending never blocks (MSG_DONTWAIT): a wedged service manager must not
 * stall the loop; such a datagram is dropped and reported as an error. */
#ifndef FC_UTIL_NOTIFY_H
#define FC_UTIL_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Sends state (e.g. "READY=1\nSTATUS=serving") to socket_name, a path or
 * an '@' abstract name. Returns 0, or -1 with a reason in err: a name that
 * is neither, too long for sockaddr_un, or a socket error. */
int notify_send(const char *socket_name, const char *state, char *err, size_t errlen);

/* The interval at which to send WATCHDOG=1: half of watchdog_usec (the
 * value of $WATCHDOG_USEC), in milliseconds (at least 1). 0 when there is
 * no watchdog: watchdog_usec NULL, empty, not a positive whole number, or
 * watchdog_pid (the value of $WATCHDOG_PID, may be NULL) naming a process
 * other than self (the variables were inherited, not meant for us). */
uint64_t notify_watchdog_ms(const char *watchdog_usec, const char *watchdog_pid, pid_t self);

#endif
