/* The daemon's state: every module it started, in one place. (RPC handlers
 * get the feed engine as their context, not this.) */
#ifndef FC_FEEDCACHED_SERVICE_H
#define FC_FEEDCACHED_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/settings.h"
#include "rpc/rpc_server.h"
#include "store/pg/pg.h"
#include "store/redis/rds.h"

struct http_server;
struct feed_engine;
struct feed_fanout;
struct health;
struct rpc_auth;

typedef struct service {
    uv_loop_t *loop;
    int argc;                       /* the command line, read again on SIGHUP */
    char **argv;
    settings_t settings;
    rds_pool_t *redis;
    pg_pool_t *pg;
    pg_pool_t *pg_read;       /* the pg_read replica, NULL when not set */
    struct feed_engine *engine;
    struct feed_fanout *fanout;     /* the fan-out worker */
    rpc_server_t *rpc;
    struct rpc_auth *auth;          /* auth_tokens_file; reloaded on SIGHUP */
    struct http_server *http;
    struct health *health;
    uv_signal_t sigterm, sigint;
    uv_signal_t sighup;             /* reload.h: settings and the tokens file */
    uv_timer_t shutdown_deadline;   /* in-flight calls get UNAVAILABLE */
    uv_timer_t shutdown_watchdog;   /* exit 0 even if a backend hangs */
    uv_timer_t log_tick;            /* reports rate-limited log lines (log_limit.h) */
    /* systemd.h: readiness and watchdog notifications */
    const char *notify_socket;      /* $NOTIFY_SOCKET, NULL when not run by systemd */
    uv_timer_t sd_ready_poll;       /* until the backends' first attempts have ended */
    uv_timer_t sd_watchdog;         /* WATCHDOG=1 at half of $WATCHDOG_USEC */
    uint64_t sd_started_ms;
    bool sd_ready_sent;
    bool shutting_down;
    bool finished;
} service_t;

/* The RPC method table (methods.c). */
extern const rpc_method_t service_methods[];
extern const size_t service_nmethods;

#endif
