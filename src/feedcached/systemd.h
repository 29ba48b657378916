/* feedcached under systemd (feedcached.service, Type=notify), through
 * util/notify.h; nothing happens without $NOTIFY_SOCKET.
 *
 * - READY=1 once the RPC listener is up and the backends' first connection
 *   attempts have ended, connected or not (rds_pool_settled,
 *   pg_pool_settled): `systemctl start` returns when a caller can be
 *   served, or be told at once that a backend is down. A start whose
 *   attempts hang (a DNS lookup cannot be cut short) is declared ready
 *   anyway after both backend timeouts and a second more, with a warning.
 * - WATCHDOG=1 from a loop timer at half of $WATCHDOG_USEC, so a loop that
 *   blocks (or spins) misses it and systemd restarts the service.
 * - RELOADING=1 ... READY=1 around a SIGHUP reload; STOPPING=1 when the
 *   shutdown begins. STATUS= says what is going on (systemctl status). */
#ifndef FC_FEEDCACHED_SYSTEMD_H
#define FC_FEEDCACHED_SYSTEMD_H

#include "feedcached/service.h"

/* After the servers started: watches readiness, starts the watchdog. */
void systemd_start(service_t *svc);

void systemd_reloading(service_t *svc);
void systemd_reloaded(service_t *svc);
void systemd_stopping(service_t *svc);

/* Closes the timers (the loop's last run before exit). */
void systemd_close(service_t *svc);

#endif
