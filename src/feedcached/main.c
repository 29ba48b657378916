/* feedcached: start-up reads like a table of contents. Settings, logging,
 * backends (Redis, PostgreSQL), the RPC server, the HTTP endpoint, signals;
 * then the loop runs until a graceful shutdown has closed everything.
 *
 * Shutdown (SIGTERM/SIGINT, docs/PROTOCOL.md "Shutdown"): stop accepting; requests
 * already received get their result, or UNAVAILABLE when shutdown_timeout_ms
 * passes; later requests get UNAVAILABLE with retry_after_ms; then every
 * handle is closed and the process exits 0. A watchdog exits 0 at 9.5 s even
 * if a backend hangs, to stay within the contract's 10 s. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "feed/feed_engine.h"
#include "feed/feed_fanout.h"
#include "feed/feed_metrics.h"
#include "feed/feed_rebuild.h"
#include "feed/feed_shard.h"
#include "feed/feed_warm.h"
#include "feedcached/health.h"
#include "feedcached/reload.h"
#include "feedcached/service.h"
#include "feedcached/systemd.h"
#include "fc_version.h"
#include "http/http_server.h"
#include "metrics/metrics.h"
#include "metrics/metrics_loop.h"
#include "rpc/rpc_auth.h"
#include "util/fdlimit.h"
#include "util/log.h"

extern char **environ;

#define HEALTH_TIMEOUT_MS 800
#define WATCHDOG_MS 9500
#define LOG_TICK_MS 1000
/* Warm jobs yield while this many RPC calls are in flight. */
#define WARM_BUSY_INFLIGHT 64
/* Queries queued per PostgreSQL connection beyond which reads that would
 * need PostgreSQL are shed (UNAVAILABLE) instead of queued behind them. */
#define PG_READ_BACKLOG_PER_CONN 8
/* Descriptors kept for everything but RPC connections: stdio, the loop's
 * own, listeners, log and config files, the HTTP endpoint's connections,
 * and slack for reconnects (backend connections are added per pool). */
#define FD_RESERVE_FIXED (64 + HTTP_MAX_CONNECTIONS)

static void close_if_open(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

/* Everything in flight is answered: close every module and handle so the
 * loop runs out of work and main returns. */
/* Second half of the shutdown: no feed timer is left that could touch a
 * backend, so the backends close. */
static void close_backends(void *arg)
{
    service_t *svc = arg;
    if (svc->http) {
        http_server_close(svc->http);
        svc->http = NULL;
    }
    if (svc->health) {
        health_destroy(svc->health);
        svc->health = NULL;
    }
    if (svc->redis) {
        rds_pool_close(svc->redis);
        svc->redis = NULL;
    }
    if (svc->pg) {
        pg_pool_close(svc->pg);
        svc->pg = NULL;
    }
    if (svc->pg_read) {
        pg_pool_close(svc->pg_read);
        svc->pg_read = NULL;
    }
    metrics_loop_stop();
    uv_timer_stop(&svc->shutdown_deadline);
    close_if_open((uv_handle_t *)&svc->shutdown_deadline);
    close_if_open((uv_handle_t *)&svc->sigterm);
    close_if_open((uv_handle_t *)&svc->sigint);
    close_if_open((uv_handle_t *)&svc->sighup);
    /* The watchdog stays, unreferenced, in case a close never completes. */
}

static void service_finish(service_t *svc)
{
    if (svc->finished)
        return;
    svc->finished = true;
    log_info("main", "closing connections and backends");
    if (svc->rpc) {
        rpc_server_close(svc->rpc);
        svc->rpc = NULL;
    }
    if (svc->engine)
        feed_warm_stop(svc->engine, NULL, NULL);
    if (svc->fanout) {
        feed_fanout_stop(svc->fanout);      /* frees itself once its jobs are done */
        svc->fanout = NULL;
    }
    /* Rebuilds waiting on timers end first (from the loop): a timer that
     * fired after the pools were freed would use them. */
    if (svc->engine)
        feed_rebuild_stop(svc->engine, close_backends, svc);
    else
        close_backends(svc);
}

static void on_warm_stopped(void *arg)
{
    service_finish(arg);
}

/* Unfinished warm jobs are marked failed while Redis is still open. */
static void on_drained(void *arg)
{
    service_t *svc = arg;
    if (svc->engine)
        feed_warm_stop(svc->engine, on_warm_stopped, svc);
    else
        service_finish(svc);
}

/* Warming yields to live traffic. */
static bool service_busy(void *arg)
{
    service_t *svc = arg;
    return svc->rpc && (rpc_server_inflight(svc->rpc) >= WARM_BUSY_INFLIGHT ||
                        rpc_server_busy(svc->rpc));
}

/* Log lines suppressed by the rate limit are counted in a line once their
 * kind goes quiet, and in a metric. */
static void on_log_tick(uv_timer_t *t)
{
    static metric_t *suppressed;
    if (!suppressed)
        suppressed = metrics_simple("feedcache_log_lines_suppressed_total",
                                    "log lines not written: more of one kind than the rate "
                                    "limit allows (5 per 10 s); counted in a later line",
                                    METRIC_COUNTER);
    (void)t;
    log_flush_suppressed();
    suppressed->count = log_suppressed_total();
}

static void log_tick_start(service_t *svc)
{
    uv_timer_init(svc->loop, &svc->log_tick);
    svc->log_tick.data = svc;
    uv_timer_start(&svc->log_tick, on_log_tick, LOG_TICK_MS, LOG_TICK_MS);
    uv_unref((uv_handle_t *)&svc->log_tick);
    on_log_tick(&svc->log_tick);        /* registers the metric */
}

/* Fan-out yields to live requests while they are being shed. */
static bool service_overloaded(void *arg)
{
    service_t *svc = arg;
    return svc->rpc && rpc_server_overloaded(svc->rpc);
}

static void on_shutdown_deadline(uv_timer_t *t)
{
    service_t *svc = t->data;
    log_warn("main", "shutdown: %zu requests still running after %llu ms: answering UNAVAILABLE",
             svc->rpc ? rpc_server_inflight(svc->rpc) : 0,
             (unsigned long long)svc->settings.shutdown_timeout_ms);
    if (svc->rpc)
        rpc_server_abort_inflight(svc->rpc);
    service_finish(svc);
}

static void on_watchdog(uv_timer_t *t)
{
    log_error("main", "shutdown did not complete in %d ms: exiting now", WATCHDOG_MS);
    fflush(stderr);
    _exit(0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    service_t *svc = h->data;
    if (svc->shutting_down) {
        log_info("main", "%s again: shutdown already in progress", strsignal(signum));
        return;
    }
    svc->shutting_down = true;
    log_info("main", "%s: shutting down (%zu requests in flight)", strsignal(signum),
             svc->rpc ? rpc_server_inflight(svc->rpc) : 0);
    systemd_stopping(svc);
    uv_timer_start(&svc->shutdown_deadline, on_shutdown_deadline,
                   svc->settings.shutdown_timeout_ms, 0);
    uv_timer_start(&svc->shutdown_watchdog, on_watchdog, WATCHDOG_MS, 0);
    uv_unref((uv_handle_t *)&svc->shutdown_watchdog);
    if (svc->rpc)
        rpc_server_drain(svc->rpc, on_drained, svc);
    else
        service_finish(svc);
}

/* SIGHUP: the reloadable settings and the tokens file (reload.h). */
static void on_sighup(uv_signal_t *h, int signum)
{
    service_t *svc = h->data;
    if (svc->shutting_down)
        return;
    log_info("main", "%s: reloading", strsignal(signum));
    systemd_reloading(svc);
    reload_run(svc);
    systemd_reloaded(svc);
}

/* True for an address only this host can reach. */
static bool addr_is_loopback(const addr_t *a)
{
    if (a->is_unix || strcmp(a->host, "localhost") == 0)
        return true;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, a->host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, a->host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

static int start_backends(service_t *svc, char *err, size_t errlen)
{
    const settings_t *st = &svc->settings;
    rds_url_t url;
    if (rds_url_parse(st->redis, &url, err, errlen) != 0)
        return -1;
    rds_pool_options_t ro = {
        .size = (int)st->redis_pool,
        .timeout_ms = (unsigned)st->redis_timeout_ms,
        .name = "redis",
    };
    svc->redis = rds_pool_create(svc->loop, &url, &ro);
    pg_pool_options_t po = {
        .size = (int)st->pg_pool,
        .timeout_ms = (unsigned)st->pg_timeout_ms,
        .max_queued = 10000,
        .name = "pg",
    };
    svc->pg = pg_pool_create(svc->loop, st->pg, &po);
    if (st->pg_read[0]) {
        pg_pool_options_t ro_pg = po;
        ro_pg.name = "pg-read";
        svc->pg_read = pg_pool_create(svc->loop, st->pg_read, &ro_pg);
    }
    if (!svc->redis || !svc->pg) {
        snprintf(err, errlen, "cannot create the backend pools");
        return -1;
    }
    feed_options_t fo = {
        .key_prefix = st->key_prefix,
        .feed_max = (int64_t)st->feed_max,
        .feed_ttl_ms = (int64_t)st->feed_ttl * 1000,
        .post_ttl_s = (int64_t)st->post_ttl,
        .celebrity_threshold = (int64_t)st->celebrity_threshold,
        .celebrity_cache_ms = (int64_t)st->celebrity_cache_ms,
        .fanout_queue_max = (int64_t)st->fanout_queue_max,
        .fanout_shards = (unsigned)st->fanout_shards,
        .wait_replicas = (int)st->redis_wait_replicas,
        .wait_timeout_ms = (int)st->redis_wait_timeout_ms,
        /* Rebuilds are PostgreSQL-bound: a few per connection keep the pool
         * busy without queueing behind one another. */
        .max_rebuilds = st->max_rebuilds ? (int)st->max_rebuilds : 2 * (int)st->pg_pool,
        .pg_backlog_max = PG_READ_BACKLOG_PER_CONN * (int)st->pg_pool,
        .pg_read = svc->pg_read,
    };
    svc->engine = feed_engine_create(svc->loop, svc->redis, svc->pg, &fo);
    /* The fan-out consumer name: instance_id, by default hostname:pid
     * (the caller contract), unique among live instances even when several
     * share a host or a listen address. A restarted instance is then a new
     * consumer: its old one's unfinished jobs are claimed (XAUTOCLAIM) by
     * any instance after fanout_claim_idle_ms, and the old name is removed
     * after a day. A fixed instance_id picks them up at once instead. */
    char consumer[FEED_CONSUMER_MAX];
    if (st->instance_id[0]) {
        snprintf(consumer, sizeof consumer, "%s", st->instance_id);
    } else {
        char host[128] = "feedcached";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        snprintf(consumer, sizeof consumer, "%s:%d", host, (int)getpid());
    }
    feed_fanout_options_t fa = {
        .redis_url = st->redis,
        .consumer = consumer,
        .timeout_ms = (unsigned)st->redis_timeout_ms,
        .max_attempts = (unsigned)st->fanout_max_attempts,
        .claim_idle_ms = (unsigned)st->fanout_claim_idle_ms,
        .retry_min_ms = (unsigned)st->fanout_retry_min_ms,
        .retry_max_ms = (unsigned)st->fanout_retry_max_ms,
        .busy = service_overloaded,
        .busy_arg = svc,
    };
    svc->fanout = feed_fanout_start(svc->engine, &fa);
    if (!svc->fanout) {
        snprintf(err, errlen, "cannot start the fan-out worker");
        return -1;
    }
    feed_warm_options_t wo = {
        .rate = (double)st->warm_rate,
        .window = st->warm_window,
        .busy = service_busy,
        .busy_arg = svc,
    };
    return feed_warm_start(svc->engine, &wo, err, errlen);
}

/* A second instance on the same unix socket stops here, before its fan-out
 * worker takes any job. */
static int check_listen(const settings_t *st, char *err, size_t errlen)
{
    addr_t addr;
    char why[256];
    if (addr_parse(st->listen, &addr, why, sizeof why) != 0) {
        snprintf(err, errlen, "listen: %s", why);
        return -1;
    }
    return rpc_server_check_address(&addr, err, errlen);
}

/* Raises RLIMIT_NOFILE to its hard limit and lowers max_connections to what
 * fits beside the backends, so that running out of descriptors never blocks
 * a Redis or PostgreSQL reconnect. */
static unsigned fit_connections(const settings_t *st)
{
    unsigned wanted = (unsigned)st->max_connections;
    fdlimit_t fl;
    if (fdlimit_raise(&fl) != 0) {
        log_warn("main", "cannot read RLIMIT_NOFILE: max_connections stays %u", wanted);
        return wanted;
    }
    /* Each backend connection may briefly have a replacement open. The
     * fan-out worker blocks on one connection per shard (auto: at most
     * FEED_SHARDS_CLUSTER) and delivers on one more. */
    unsigned long shards = st->fanout_shards ? st->fanout_shards : FEED_SHARDS_CLUSTER;
    unsigned long reserve = FD_RESERVE_FIXED + 2 * (st->redis_pool + shards + 1 + st->pg_pool);
    unsigned fit = fdlimit_max_connections(fl.now, reserve, wanted);
    if (fit < wanted)
        log_warn("main", "max_connections lowered from %u to %u: RLIMIT_NOFILE is %lu "
                 "(hard limit %lu) and %lu descriptors are kept for backends and files; "
                 "raise the hard limit (ulimit -Hn, LimitNOFILE=, --ulimit nofile=) to "
                 "accept more", wanted, fit, fl.now, fl.hard, reserve);
    else
        log_info("main", "descriptors: RLIMIT_NOFILE %lu (was %lu, hard %lu), "
                 "max_connections %u", fl.now, fl.before, fl.hard, fit);
    return fit;
}

static int start_servers(service_t *svc, char *err, size_t errlen)
{
    const settings_t *st = &svc->settings;
    addr_t addr;
    char why[256];
    if (addr_parse(st->listen, &addr, why, sizeof why) != 0) {
        snprintf(err, errlen, "listen: %s", why);
        return -1;
    }
    svc->auth = rpc_auth_create(st->auth_tokens_file, why, sizeof why);
    if (!svc->auth) {
        snprintf(err, errlen, "auth_tokens_file: %s", why);
        return -1;
    }
    if (!rpc_auth_enabled(svc->auth) && !addr_is_loopback(&addr))
        log_warn("main", "listening on %s without auth_tokens_file: anyone who can reach it "
                 "may call every method, warm and fanout.* included", st->listen);
    rpc_server_options_t ro = {
        .max_frame = st->max_frame,
        .max_output = st->max_output,
        .max_output_hard = st->max_output_hard,
        .idle_timeout_ms = (unsigned)(st->idle_timeout * 1000),
        .max_connections = fit_connections(st),
        .max_inflight = st->max_inflight,
        .adaptive_limit = strcmp(st->admission, "adaptive") == 0,
        .methods = service_methods,
        .nmethods = service_nmethods,
        .ctx = svc->engine,
        .gate = rpc_auth_gate,
        .gate_ctx = svc->auth,
    };
    /* The unix socket is created 0660 (owner and group), with no window in
     * which it is wider. */
    mode_t old_umask = addr.is_unix ? umask(0117) : 0;
    svc->rpc = rpc_server_start(svc->loop, &addr, &ro, err, errlen);
    if (addr.is_unix)
        umask(old_umask);
    if (!svc->rpc)
        return -1;
    log_info("main", "RPC listening on %s", st->listen);

    if (strcmp(st->metrics_listen, "off") != 0) {
        if (addr_parse(st->metrics_listen, &addr, why, sizeof why) != 0) {
            snprintf(err, errlen, "metrics_listen: %s", why);
            return -1;
        }
        svc->health = health_create(svc->loop, svc->redis, svc->pg, HEALTH_TIMEOUT_MS);
        svc->http = http_server_start(svc->loop, &addr, health_check, svc->health, err, errlen);
        if (!svc->http)
            return -1;
        log_info("main", "metrics and health on http://%s/metrics", st->metrics_listen);
    }
    return 0;
}

int main(int argc, char **argv)
{
    service_t svc;
    memset(&svc, 0, sizeof svc);
    svc.argc = argc;
    svc.argv = argv;
    char err[1024] = "";

    settings_result_t sr = settings_load(&svc.settings, argc, argv, environ, stdout, err,
                                         sizeof err);
    if (sr != SETTINGS_OK) {
        if (sr == SETTINGS_BAD)
            fprintf(stderr, "feedcached: %s (see --help)\n", err);
        settings_free(&svc.settings);
        return sr == SETTINGS_BAD ? 2 : 0;
    }
    log_level_t level;
    log_level_parse(svc.settings.log_level, &level);
    log_set_level(level);
    log_format_t format;
    log_format_parse(svc.settings.log_format, &format);
    log_set_format(format);
    signal(SIGPIPE, SIG_IGN);

    svc.loop = uv_default_loop();
    feed_metrics_setup();
    metrics_loop_start(svc.loop);
    uv_signal_init(svc.loop, &svc.sigterm);
    uv_signal_init(svc.loop, &svc.sigint);
    uv_signal_init(svc.loop, &svc.sighup);
    svc.sighup.data = &svc;
    uv_timer_init(svc.loop, &svc.shutdown_deadline);
    uv_timer_init(svc.loop, &svc.shutdown_watchdog);
    svc.sigterm.data = svc.sigint.data = &svc;
    svc.shutdown_deadline.data = svc.shutdown_watchdog.data = &svc;
    log_tick_start(&svc);

    int rc = 0;
    if (check_listen(&svc.settings, err, sizeof err) != 0 ||
        start_backends(&svc, err, sizeof err) != 0 || start_servers(&svc, err, sizeof err) != 0) {
        log_error("main", "start-up failed: %s", err);
        rc = 1;
        service_finish(&svc);
    } else {
        uv_signal_start(&svc.sigterm, on_signal, SIGTERM);
        uv_signal_start(&svc.sigint, on_signal, SIGINT);
        uv_signal_start(&svc.sighup, on_sighup, SIGHUP);
        log_info("main", "feedcached %s ready (pid %d)", FC_VERSION, (int)getpid());
        systemd_start(&svc);
    }

    uv_run(svc.loop, UV_RUN_DEFAULT);
    close_if_open((uv_handle_t *)&svc.shutdown_watchdog);
    close_if_open((uv_handle_t *)&svc.log_tick);
    systemd_close(&svc);
    uv_run(svc.loop, UV_RUN_DEFAULT);
    feed_engine_free(svc.engine);
    if (uv_loop_close(svc.loop) != 0)
        log_warn("main", "loop closed with handles still open");
    metrics_teardown();
    rpc_auth_free(svc.auth);
    settings_free(&svc.settings);
    if (rc == 0)
        log_info("main", "bye");
    return rc;
}
