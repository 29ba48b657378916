#include "feedcached/systemd.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/log.h"
#include "util/notify.h"

#define READY_POLL_MS 10
/* Beyond the backends' own timeouts: when a first attempt still has not
 * ended then, it is stuck outside our control (a resolver). */
#define READY_GRACE_MS 1000

static void send_state(service_t *svc, const char *state)
{
    if (!svc->notify_socket)
        return;
    char err[256];
    if (notify_send(svc->notify_socket, state, err, sizeof err) != 0)
        log_warn("systemd", "notify: %s", err);
}

static bool backends_settled(const service_t *svc)
{
    return rds_pool_settled(svc->redis) && pg_pool_settled(svc->pg) &&
           (!svc->pg_read || pg_pool_settled(svc->pg_read));
}

static void send_ready(service_t *svc, bool late)
{
    char state[512];
    snprintf(state, sizeof state,
             "READY=1\nSTATUS=serving on %s; redis %d connection(s) ready, pg %d%s",
             svc->settings.listen, rds_pool_ready(svc->redis), pg_pool_ready(svc->pg),
             late ? "; backends still connecting" : "");
    send_state(svc, state);
    svc->sd_ready_sent = true;
    log_info("systemd", "READY=1 sent after %llu ms (redis %d ready, pg %d ready)%s",
             (unsigned long long)(uv_now(svc->loop) - svc->sd_started_ms),
             rds_pool_ready(svc->redis), pg_pool_ready(svc->pg),
             late ? ": backends' first connection attempts still under way" : "");
}

static void on_ready_poll(uv_timer_t *t)
{
    service_t *svc = t->data;
    uint64_t waited = uv_now(svc->loop) - svc->sd_started_ms;
    uint64_t limit = svc->settings.redis_timeout_ms + svc->settings.pg_timeout_ms +
                     READY_GRACE_MS;
    bool settled = backends_settled(svc);
    if (!settled && waited < limit)
        return;
    uv_timer_stop(t);
    if (svc->shutting_down)
        return;         /* STOPPING=1 went out already */
    if (!settled)
        log_warn("systemd", "backends' first connection attempts not over after %llu ms: "
                 "declaring ready anyway", (unsigned long long)waited);
    send_ready(svc, !settled);
}

static void on_watchdog(uv_timer_t *t)
{
    send_state(t->data, "WATCHDOG=1");
}

void systemd_start(service_t *svc)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    svc->notify_socket = sock && *sock ? sock : NULL;
    svc->sd_started_ms = uv_now(svc->loop);
    uv_timer_init(svc->loop, &svc->sd_ready_poll);
    uv_timer_init(svc->loop, &svc->sd_watchdog);
    svc->sd_ready_poll.data = svc->sd_watchdog.data = svc;
    if (!svc->notify_socket)
        return;
    log_info("systemd", "notifying %s", svc->notify_socket);
    uv_timer_start(&svc->sd_ready_poll, on_ready_poll, 0, READY_POLL_MS);
    uint64_t every = notify_watchdog_ms(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"),
                                        getpid());
    if (every > 0) {
        log_info("systemd", "watchdog: WATCHDOG=1 every %llu ms", (unsigned long long)every);
        send_state(svc, "WATCHDOG=1");
        uv_timer_start(&svc->sd_watchdog, on_watchdog, every, every);
        /* It keeps pinging through a drain, but keeps no loop alive. */
        uv_unref((uv_handle_t *)&svc->sd_watchdog);
    }
}

void systemd_reloading(service_t *svc)
{
    if (!svc->sd_ready_sent)
        return;     /* still starting: systemd waits for READY=1 alone */
    send_state(svc, "RELOADING=1\nSTATUS=reloading settings");
}

void systemd_reloaded(service_t *svc)
{
    if (!svc->sd_ready_sent) {
        /* Not ready yet: the readiness poll sends READY=1 when it is. */
        return;
    }
    char state[512];
    snprintf(state, sizeof state, "READY=1\nSTATUS=serving on %s (settings reloaded)",
             svc->settings.listen);
    send_state(svc, state);
}

void systemd_stopping(service_t *svc)
{
    uv_timer_stop(&svc->sd_ready_poll);
    send_state(svc, "STOPPING=1\nSTATUS=shutting down: draining requests");
}

static void close_timer(uv_timer_t *t)
{
    if (t->loop && !uv_is_closing((uv_handle_t *)t))
        uv_close((uv_handle_t *)t, NULL);
}

void systemd_close(service_t *svc)
{
    close_timer(&svc->sd_ready_poll);
    close_timer(&svc->sd_watchdog);
}
