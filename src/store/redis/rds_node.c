/* The connection pool of one Redis server (see rds_node.h; rds.h has the
 * contract callers rely on).
 *
 * Each connection goes IDLE -> RESOLVING -> CONNECTING -> HANDSHAKE -> READY
 * and back to IDLE on any failure, with a retry timer armed with exponential
 * backoff. RESOLVING looks the host name up again on every attempt
 * (util/resolve.h: on the thread pool, never on the loop; a numeric host
 * skips it), so a name moved by a failover is followed. A connection then
 * tries each address in turn (the next one at once, from the retry timer at
 * 0 ms); only when all have failed does it back off. hiredis is only ever
 * given a numeric address: its own getaddrinfo would block.
 * HANDSHAKE is AUTH and/or SELECT, or a PING when neither is needed, so a
 * connection counts as ready only once the server has actually answered
 * (a stopped server accepts TCP connections from its backlog).
 *
 * Every command carries a small wrapper (rds_cmd_t) linked oldest first on its
 * connection: the periodic tick looks at the head to find commands waiting
 * longer than timeout_ms, and the wrapper guarantees the user callback runs
 * exactly once, from hiredis's reply or NULL-on-free path.
 *
 * Scripts (rds_script.h): a command that is an EVALSHA of a registered
 * script goes out as EVAL <text> on a connection whose `scripts` mask does
 * not have it yet; its first reply that is not an error sets the bit (the
 * mask is cleared whenever the connection becomes ready). An EVALSHA sent
 * by digest keeps its bytes in its wrapper, and a NOSCRIPT reply clears the
 * mask and sends them again as EVAL on the same connection, from inside
 * the reply callback, with the same wrapper: the caller's callback runs
 * once, with the second reply.
 *
 * A command rds_node_send cannot hand to hiredis (an empty command, no
 * connection ready, pool closing) gets a wrapper too, on the pool's `failed`
 * list, and the `defer` idle handle runs its NULL callback on the next loop
 * iteration: that is how rds_node_send never calls back before it returns. An
 * idle handle rather than a zero timer: libuv 1.44 runs a timer re-armed
 * from its own callback again in the same pass, so a caller that retries on
 * NULL would never leave it.
 *
 * hiredis rules this code lives by (0.14.1):
 *   - redisAsyncFree inside a reply callback is deferred until the callback
 *     returns; anywhere else it runs every pending callback with NULL at once.
 *   - It must never be called from the connect or disconnect callback (the
 *     context is still in use by hiredis right after them).
 *   - The disconnect callback runs only for contexts that were connected; the
 *     event-library cleanup hook runs for every context that is freed, so that
 *     is where the pool counts contexts still alive (live_acs). The pool is
 *     freed only once none is, and only from a libuv close callback.
 *   - After a failed connect hiredis frees the context itself.
 * To tell "our" context from one being torn down, conn->ac is cleared before
 * a context is dropped; callbacks for any other context are stale. */
#include "store/redis/rds_node.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "metrics/metrics.h"
#include "store/redis/rds_script.h"
#include "store/redis/rds_slots.h"
#include "store/redis/rds_uv.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/list.h"
#include "util/log.h"
#include "util/num.h"
#include "util/resolve.h"

static void install_reply_keeper(redisAsyncContext *ac);

#define RDS_BACKOFF_MIN_MS 50
#define RDS_BACKOFF_MAX_MS 5000
#define RDS_DEFAULT_TIMEOUT_MS 1000
#define RDS_MAX_POOL_SIZE 1024
/* Repeated connect failures are logged at warn at most this often. */
#define RDS_FAIL_LOG_INTERVAL_MS 30000
/* How often the replication id is asked for again: a promotion on the same
 * address (no reconnect) is noticed within this. */
#define RDS_EPOCH_EVERY_MS 1000

#define RDS_METRICS(ACTION) \
    ACTION(redis_commands_total, METRIC_COUNTER, "Redis commands sent") \
    ACTION(redis_errors_total, METRIC_COUNTER, \
           "Redis commands that failed: no reply (connection lost, timeout, close) or an error reply") \
    ACTION(redis_timeouts_total, METRIC_COUNTER, \
           "Redis connections dropped because a command or the connect took longer than the timeout") \
    ACTION(redis_reconnects_total, METRIC_COUNTER, "Redis reconnect attempts") \
    ACTION(redis_connections, METRIC_GAUGE, "Redis connections ready (connected, AUTH and SELECT done)") \
    ACTION(redis_script_loads_total, METRIC_COUNTER, \
           "Lua script calls sent with the script's text (EVAL): the first call of a script on a " \
           "connection, or a resend after NOSCRIPT; every other call goes by EVALSHA") \
    ACTION(redis_noscript_total, METRIC_COUNTER, \
           "EVALSHA calls Redis answered NOSCRIPT (its script cache was flushed): sent again as EVAL")

typedef struct { RDS_METRICS(METRIC_FIELD) } rds_metrics_t;
static rds_metrics_t rds_metrics;

typedef enum { CONN_IDLE, CONN_RESOLVING, CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY } conn_state_t;

typedef struct rds_conn rds_conn_t;
typedef struct rds_cmd rds_cmd_t;

struct rds_cmd {
    rds_conn_t *conn;
    rds_reply_fn *cb;
    void *privdata;
    const char *handshake;        /* "AUTH", "SELECT", "PING" for internal ones, else NULL */
    bool internal;                /* ours (the epoch's INFO): not a user command */
    int script1;                  /* 1 + the registered script it calls (rds_script.h); 0: none */
    char *resp;                   /* an EVALSHA's bytes, to send again as EVAL after NOSCRIPT */
    size_t len, rest;             /* their length; where numkeys starts */
    uint64_t sent_ms;
    list_t link;                  /* in conn->cmds, or in pool->failed (conn NULL) */
};

struct rds_conn {
    rds_node_t *pool;
    int index;
    conn_state_t state;
    redisAsyncContext *ac;        /* the live context, NULL when none or dropped */
    uint64_t state_since;         /* when the connect started */
    uint64_t last_reply_ms;       /* uv_now of the last reply: Redis is making progress */
    int handshake_left;
    uint64_t scripts;             /* registered scripts known loaded on this connection: bit i
                                   * for script i (rds_script.h); empty on every new connection */
    list_t cmds;                  /* outstanding commands (rds_cmd_t.link), oldest first */
    uv_timer_t retry;
    backoff_t backoff;            /* reconnect delays of this connection */
    uint64_t ready_since;
    int attempted;
    int first_done;               /* its first connection attempt has ended */
    int was_ready;                /* has been ready before: the next ready is a reconnect */
    resolve_t *resolving;         /* the lookup under way (RESOLVING), else NULL */
    size_t naddrs;                /* this attempt's addresses ... */
    size_t addr_next;             /* ... and the next one to try */
    char addrs[RESOLVE_MAX_ADDRS][RESOLVE_ADDR_LEN];
};

/* A command sent before any connection was up, while the pool's first
 * connection attempts are under way: it waits for the first ready
 * connection, or fails once they all failed or timeout_ms passed. */
typedef struct {
    list_t link;                  /* in pool->waiting, oldest first */
    unsigned affinity;
    rds_reply_fn *cb;
    void *privdata;
    uint64_t since_ms;
    size_t len;
    char resp[];                  /* the command, RESP-encoded */
} rds_wait_t;

struct rds_node {
    rds_kind_t kind;              /* RDS_KIND_NODE, first: see rds_node.h */
    uv_loop_t *loop;
    rds_url_t url;
    char name[64];
    char where[300];              /* for logs, never with the password */
    unsigned timeout_ms;
    int size;
    rds_conn_t *conns;
    int ready;
    int pending;                  /* user commands without their callback yet */
    uv_timer_t tick;
    int closing;
    int tick_closed;
    int live_acs;                 /* hiredis contexts not yet freed */
    int open_handles;             /* timers and the idle handle not yet closed */
    list_t failed;                /* rds_node_send commands that could not be sent (rds_cmd_t.link) */
    size_t nfailed;
    uv_idle_t defer;              /* runs their NULL callbacks from the loop */
    list_t waiting;               /* rds_wait_t: sent during the first connect */
    int first_pending;            /* connections whose first attempt is under way */
    /* Log rate limiting for connect failures. */
    int fail_logged;
    uint64_t fail_logged_ms;
    unsigned fail_count;          /* failures since the last success */
    uint64_t noscript_logged_ms;  /* NOSCRIPT is logged at most every RDS_FAIL_LOG_INTERVAL_MS */
    char last_error[256];         /* why the last attempt failed, "" after a success */
    /* The server's replication id (rds_node_epoch): asked for on every new
     * connection and every RDS_EPOCH_EVERY_MS. */
    char epoch[RDS_EPOCH_LEN + 1];
    bool epoch_asking;
    uint64_t epoch_asked_ms;
};

static void conn_connect(rds_conn_t *conn);
static void conn_connect_next(rds_conn_t *conn);
static void ask_epoch(rds_node_t *pool);
static rds_conn_t *pick(rds_node_t *pool, unsigned affinity);
static void on_retry(uv_timer_t *timer);
static void on_next_addr(uv_timer_t *timer);
static void defer_failure(rds_node_t *pool, rds_reply_fn *cb, void *privdata);
static void send_waiting(rds_node_t *pool);
static void fail_waiting(rds_node_t *pool, uint64_t older_than_ms);

/* Until every connection's first attempt has ended, "nothing ready" means
 * "not yet": callers send the moment the service answers, and a command
 * then waits rather than fails. Once they have all ended without a ready
 * connection, Redis is known down and commands fail fast. */
static void first_attempt_done(rds_conn_t *conn)
{
    rds_node_t *pool = conn->pool;
    if (conn->first_done)
        return;
    conn->first_done = 1;
    pool->first_pending--;
    if (pool->first_pending == 0 && pool->ready == 0)
        fail_waiting(pool, 0);
}

/* --- state changes ------------------------------------------------------ */

static void schedule_retry(rds_conn_t *conn)
{
    rds_node_t *pool = conn->pool;
    unsigned delay = backoff_next(&conn->backoff);
    log_debug("rds", "%s: connection %d retrying in %u ms", pool->name, conn->index, delay);
    uv_timer_start(&conn->retry, on_retry, delay, 0);
}

static void note_failure(rds_node_t *pool, rds_conn_t *conn, const char *reason)
{
    uint64_t now = uv_now(pool->loop);
    pool->fail_count++;
    snprintf(pool->last_error, sizeof pool->last_error, "%s", reason);
    if (!pool->fail_logged || now - pool->fail_logged_ms >= RDS_FAIL_LOG_INTERVAL_MS) {
        log_warn("rds", "%s: cannot connect to %s: %s (%u failed attempts so far; retrying "
                 "with backoff up to %d ms)", pool->name, pool->where, reason, pool->fail_count,
                 RDS_BACKOFF_MAX_MS);
        pool->fail_logged = 1;
        pool->fail_logged_ms = now;
    } else {
        log_debug("rds", "%s: connection %d to %s failed: %s", pool->name, conn->index,
                  pool->where, reason);
    }
}

/* The connection has no usable context any more (it is gone or being
 * dropped): account for it and, unless closing, retry later from a timer. */
static void conn_down(rds_conn_t *conn, const char *reason)
{
    rds_node_t *pool = conn->pool;
    int was_ready = conn->state == CONN_READY;
    conn->state = CONN_IDLE;
    if (!was_ready && !pool->closing && conn->addr_next < conn->naddrs) {
        /* This address failed, the name has more: the next one now (from
         * the timer: never from inside a hiredis callback). */
        log_debug("rds", "%s: connection %d to %s via %s failed: %s; trying the next address",
                  pool->name, conn->index, pool->where, conn->addrs[conn->addr_next - 1], reason);
        uv_timer_start(&conn->retry, on_next_addr, 0, 0);
        return;
    }
    first_attempt_done(conn);
    if (was_ready) {
        pool->ready--;
        metric_gauge_add(rds_metrics.redis_connections, -1);
        log_warn("rds", "%s: connection %d to %s lost: %s (%d of %d ready)", pool->name,
                 conn->index, pool->where, reason, pool->ready, pool->size);
        /* Retry quickly after a connection that worked for a while; one that
         * drops right after connecting (flapping) keeps backing off. */
        if (uv_now(pool->loop) - conn->ready_since >= RDS_BACKOFF_MAX_MS)
            backoff_reset(&conn->backoff);
    } else if (!pool->closing) {
        note_failure(pool, conn, reason);
    }
    if (!pool->closing)
        schedule_retry(conn);
}

/* Our decision to drop a connection (timeout, failed handshake): mark it down
 * first so callbacks run during the free cannot pick it, then free the
 * context: pending callbacks get NULL now, or right after the reply callback
 * we may be in. */
static void conn_drop(rds_conn_t *conn, const char *reason)
{
    redisAsyncContext *ac = conn->ac;
    conn->ac = NULL;
    conn_down(conn, reason);
    if (ac)
        redisAsyncFree(ac);
}

/* The address this attempt uses, for logs. */
static const char *conn_addr(const rds_conn_t *conn)
{
    if (conn->pool->url.is_unix)
        return "unix socket";
    return conn->addr_next > 0 ? conn->addrs[conn->addr_next - 1] : "?";
}

static void conn_ready(rds_conn_t *conn)
{
    rds_node_t *pool = conn->pool;
    conn->state = CONN_READY;
    conn->ready_since = uv_now(pool->loop);
    /* Maybe another server (a restart, a failover behind a name): no
     * script is known loaded here until a call of it has been answered. */
    conn->scripts = 0;
    pool->ready++;
    metric_gauge_add(rds_metrics.redis_connections, 1);
    char after[64] = "";
    if (pool->fail_count > 0 && pool->fail_logged)
        snprintf(after, sizeof after, " after %u failed attempts", pool->fail_count);
    if (conn->was_ready) {
        /* The counterpart of the "lost" warning for this connection. */
        log_info("rds", "%s: connection %d to %s re-established%s (%d of %d ready)", pool->name,
                 conn->index, pool->where, after, pool->ready, pool->size);
    } else if (after[0]) {
        log_info("rds", "%s: connected to %s (%s)%s", pool->name, pool->where,
                 conn_addr(conn), after);
    } else if (pool->ready == 1) {
        log_info("rds", "%s: connected to %s (%s)", pool->name, pool->where, conn_addr(conn));
    } else {
        log_debug("rds", "%s: connection %d to %s ready (%d of %d)", pool->name, conn->index,
                  pool->where, pool->ready, pool->size);
    }
    pool->fail_logged = 0;
    pool->fail_count = 0;
    pool->last_error[0] = '\0';
    conn->was_ready = 1;
    first_attempt_done(conn);
    send_waiting(pool);
    /* A new connection may be to another server (a failover behind a name). */
    pool->epoch_asked_ms = 0;
    ask_epoch(pool);
}

/* --- hiredis callbacks -------------------------------------------------- */

static void handshake_reply(rds_conn_t *conn, redisAsyncContext *ac, const char *what,
                            redisReply *reply)
{
    /* A stale context, or NULL: the context is going away and the disconnect
     * callback (or whoever dropped it) accounts for that. */
    if (conn->ac != ac || !reply)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char reason[256];
        snprintf(reason, sizeof reason, "%s failed: %.*s", what,
                 (int)(reply->len > 200 ? 200 : reply->len), reply->str ? reply->str : "");
        conn_drop(conn, reason);
        return;
    }
    if (--conn->handshake_left == 0)
        conn_ready(conn);
}

static void cmd_free(rds_cmd_t *cmd)
{
    free(cmd->resp);
    free(cmd);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

/* The reply of a registered script's call on conn (rds_script.h). A reply
 * that is not an error means the server has the script now (an EVAL loads
 * it before running it; an error may be a refusal before that: MOVED, OOM,
 * LOADING...). NOSCRIPT means the server's cache was flushed: nothing is
 * known loaded any more, and the call goes again at once as EVAL on the
 * same connection (it did not run, so it runs once). True when it was
 * resent: its callback waits for the second reply. */
static bool script_reply(rds_conn_t *conn, redisAsyncContext *ac, rds_cmd_t *cmd,
                         const redisReply *reply)
{
    rds_node_t *pool = conn->pool;
    if (reply->type != REDIS_REPLY_ERROR) {
        conn->scripts |= UINT64_C(1) << (cmd->script1 - 1);
        return false;
    }
    if (!cmd->resp || reply->len < 8 || memcmp(reply->str, "NOSCRIPT", 8) != 0)
        return false;
    conn->scripts = 0;
    metric_inc(rds_metrics.redis_noscript_total);
    uint64_t now = uv_now(pool->loop);
    if (!pool->noscript_logged_ms || now - pool->noscript_logged_ms >= RDS_FAIL_LOG_INTERVAL_MS) {
        log_warn("rds", "%s: %s answered NOSCRIPT: its script cache was emptied (SCRIPT "
                 "FLUSH); scripts are sent again with their text", pool->name, pool->where);
        pool->noscript_logged_ms = now;
    }
    if (conn->state != CONN_READY || (ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
        return false;
    const buf_t *full = rds_script_eval_resp(cmd->script1 - 1, cmd->resp, cmd->len, cmd->rest);
    cmd->sent_ms = now;
    list_insert_tail(&conn->cmds, &cmd->link);
    if (redisAsyncFormattedCommand(ac, on_reply, cmd, full->data, full->len) != REDIS_OK) {
        list_remove(&cmd->link);
        return false;
    }
    metric_inc(rds_metrics.redis_script_loads_total);
    free(cmd->resp);               /* sent as EVAL: no NOSCRIPT to expect */
    cmd->resp = NULL;
    return true;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    rds_cmd_t *cmd = privdata;
    rds_conn_t *conn = cmd->conn;
    redisReply *reply = r;
    list_remove(&cmd->link);
    if (reply)
        conn->last_reply_ms = uv_now(conn->pool->loop);
    if (cmd->handshake) {
        handshake_reply(conn, ac, cmd->handshake, reply);
        free(cmd);
        return;
    }
    if (cmd->script1 && reply && conn->ac == ac && script_reply(conn, ac, cmd, reply))
        return;
    if (!cmd->internal) {
        conn->pool->pending--;
        if (!reply || reply->type == REDIS_REPLY_ERROR)
            metric_inc(rds_metrics.redis_errors_total);
    }
    rds_reply_fn *cb = cmd->cb;
    void *pd = cmd->privdata;
    cmd_free(cmd);
    /* The callback may close the pool: nothing below touches it. */
    if (cb)
        cb(reply, pd);
}

static int send_handshake(rds_conn_t *conn, const char *what, int argc, const char **argv)
{
    rds_cmd_t *cmd = fc_xcalloc(1, sizeof *cmd);
    cmd->conn = conn;
    cmd->handshake = what;
    cmd->sent_ms = uv_now(conn->pool->loop);
    list_insert_tail(&conn->cmds, &cmd->link);
    if (redisAsyncCommandArgv(conn->ac, on_reply, cmd, argc, argv, NULL) != REDIS_OK) {
        list_remove(&cmd->link);
        free(cmd);
        return -1;
    }
    conn->handshake_left++;
    return 0;
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    rds_conn_t *conn = ac->data;
    if (conn->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context when we return (no disconnect callback).
         * Its error is in ac->c: ac->errstr is copied only afterwards. */
        conn->ac = NULL;
        conn_down(conn, ac->c.err ? ac->c.errstr : "connect failed");
        return;
    }
    rds_node_t *pool = conn->pool;
    conn->state = CONN_HANDSHAKE;
    conn->handshake_left = 0;
    /* Never free the context from here (hiredis uses it after we return): if
     * a send fails, the connect timeout drops the connection. */
    if (pool->url.password[0] && pool->url.user[0]) {
        /* An ACL user (Redis 6+): AUTH user password. */
        const char *argv[] = { "AUTH", pool->url.user, pool->url.password };
        send_handshake(conn, "AUTH", 3, argv);
    } else if (pool->url.password[0]) {
        const char *argv[] = { "AUTH", pool->url.password };
        send_handshake(conn, "AUTH", 2, argv);
    }
    if (pool->url.db != 0) {
        char db[FC_I64_CHARS];
        fc_i64_format(db, pool->url.db);
        const char *argv[] = { "SELECT", db };
        send_handshake(conn, "SELECT", 2, argv);
    }
    if (!pool->url.password[0] && pool->url.db == 0) {
        const char *argv[] = { "PING" };
        send_handshake(conn, "PING", 1, argv);
    }
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    rds_conn_t *conn = ac->data;
    if (conn->ac != ac)
        return;   /* we dropped it ourselves and already accounted for it */
    conn->ac = NULL;
    /* Reconnecting is left to the retry timer armed by conn_down: never from
     * inside this callback. */
    conn_down(conn, ac->c.err ? ac->c.errstr : "connection closed");
}

/* --- deferred failures ------------------------------------------------- */

static void on_defer(uv_idle_t *idle);

/* rds_node_send could not send: the callback gets NULL from the loop. */
static void defer_failure(rds_node_t *pool, rds_reply_fn *cb, void *privdata)
{
    rds_cmd_t *cmd = fc_xcalloc(1, sizeof *cmd);
    cmd->cb = cb;
    cmd->privdata = privdata;
    list_insert_tail(&pool->failed, &cmd->link);
    pool->nfailed++;
    pool->pending++;
    metric_inc(rds_metrics.redis_errors_total);
    /* Closing: the idle handle is closed; rds_node_close or the pool's
     * last close callback runs these. */
    if (!pool->closing)
        uv_idle_start(&pool->defer, on_defer);
}

/* Runs the NULL callbacks of up to max deferred failures, oldest first. A
 * callback may send again (and fail again: it lands at the tail) or close
 * the pool; the pool itself stays allocated until a close callback. */
static void run_deferred(rds_node_t *pool, size_t max)
{
    for (; max > 0; max--) {
        list_t *node = list_pop_head(&pool->failed);
        if (!node)
            break;
        rds_cmd_t *cmd = list_entry(node, rds_cmd_t, link);
        pool->nfailed--;
        pool->pending--;
        rds_reply_fn *cb = cmd->cb;
        void *pd = cmd->privdata;
        free(cmd);
        if (cb)
            cb(NULL, pd);
    }
}

static void on_defer(uv_idle_t *idle)
{
    rds_node_t *pool = container_of(idle, rds_node_t, defer);
    /* Only those already queued: a retry that fails again waits for the
     * next iteration, so a caller retrying on NULL cannot keep the loop here. */
    run_deferred(pool, pool->nfailed);
    if (!pool->closing && pool->nfailed == 0)
        uv_idle_stop(&pool->defer);
}

static void on_handle_closed(uv_handle_t *handle)
{
    rds_node_t *pool = handle->data;
    if (--pool->open_handles > 0)
        return;
    /* Commands sent after rds_node_close: their callbacks run now, the last
     * moment the pool exists. (A callback that sends again on every NULL
     * would keep this loop going: give up on a closing pool.) */
    run_deferred(pool, SIZE_MAX);
    free(pool->conns);
    free(pool);
}

static void close_tick(rds_node_t *pool)
{
    if (pool->tick_closed)
        return;
    pool->tick_closed = 1;
    uv_close((uv_handle_t *)&pool->tick, on_handle_closed);
}

/* From the glue: hiredis is freeing one of our contexts. The pool outlives
 * every context, so its last timer closes only once none is left. */
static void on_cleanup(void *data)
{
    rds_conn_t *conn = data;
    rds_node_t *pool = conn->pool;
    pool->live_acs--;
    if (pool->closing && pool->live_acs == 0)
        close_tick(pool);
}

/* --- timers ------------------------------------------------------------- */

static void on_retry(uv_timer_t *timer)
{
    rds_conn_t *conn = container_of(timer, rds_conn_t, retry);
    if (!conn->pool->closing && conn->state == CONN_IDLE && !conn->ac)
        conn_connect(conn);
}

static void on_next_addr(uv_timer_t *timer)
{
    rds_conn_t *conn = container_of(timer, rds_conn_t, retry);
    if (!conn->pool->closing && conn->state == CONN_IDLE && !conn->ac)
        conn_connect_next(conn);
}

/* Whether the socket holds bytes we have not read: Redis did answer. */
static bool conn_has_unread(const rds_conn_t *conn)
{
    int n = 0;
    return conn->ac && ioctl(conn->ac->c.fd, FIONREAD, &n) == 0 && n > 0;
}

/* The one periodic timer of the pool: drops connections whose connect
 * took longer than timeout_ms, or on which Redis has been silent for
 * timeout_ms while a command waited. */
static void on_tick(uv_timer_t *timer)
{
    rds_node_t *pool = timer->data;
    uint64_t now = uv_now(pool->loop);
    ask_epoch(pool);
    if (!list_empty(&pool->waiting) && now >= pool->timeout_ms)
        fail_waiting(pool, now - pool->timeout_ms + 1);
    for (int i = 0; i < pool->size && !pool->closing; i++) {
        rds_conn_t *conn = &pool->conns[i];
        if (!conn->ac)
            continue;
        char reason[128];
        if (conn->state == CONN_CONNECTING || conn->state == CONN_HANDSHAKE) {
            if (now - conn->state_since < pool->timeout_ms)
                continue;
            snprintf(reason, sizeof reason, "connect timed out after %u ms", pool->timeout_ms);
        } else if (conn->state == CONN_READY && !list_empty(&conn->cmds)) {
            /* Silence, not slowness: the connection is dropped when Redis
             * has answered nothing on it for timeout_ms while a command
             * waited. A queue of our own making (a burst of commands that
             * Redis works through, replies we have not read yet because the
             * loop was busy) is not a dead server: dropping the connection
             * would fail every command on it and send the reads to
             * PostgreSQL, turning overload into an outage. */
            const rds_cmd_t *oldest = list_entry(list_first(&conn->cmds), rds_cmd_t, link);
            uint64_t since = oldest->sent_ms > conn->last_reply_ms ? oldest->sent_ms
                                                                   : conn->last_reply_ms;
            if (now - since < pool->timeout_ms || conn_has_unread(conn))
                continue;
            snprintf(reason, sizeof reason, "no reply for %u ms", pool->timeout_ms);
        } else {
            continue;
        }
        metric_inc(rds_metrics.redis_timeouts_total);
        conn_drop(conn, reason);
    }
}

/* --- connecting --------------------------------------------------------- */

static void on_resolved(const resolve_result_t *res, void *arg)
{
    rds_conn_t *conn = arg;
    conn->resolving = NULL;
    conn->state = CONN_IDLE;
    if (!res->ok) {
        conn_down(conn, res->why);
        return;
    }
    conn->naddrs = res->naddrs;
    memcpy(conn->addrs, res->addrs, sizeof conn->addrs);
    conn_connect_next(conn);
}

/* One connection attempt: a fresh lookup of the host (unless numeric or a
 * unix socket), then each address in turn. */
static void conn_connect(rds_conn_t *conn)
{
    rds_node_t *pool = conn->pool;
    if (conn->attempted)
        metric_inc(rds_metrics.redis_reconnects_total);
    conn->attempted = 1;
    conn->naddrs = 0;
    conn->addr_next = 0;
    if (pool->url.is_unix || resolve_is_numeric(pool->url.host)) {
        conn->naddrs = 1;
        snprintf(conn->addrs[0], sizeof conn->addrs[0], "%.45s", pool->url.host);
        conn_connect_next(conn);
        return;
    }
    conn->state = CONN_RESOLVING;
    conn->state_since = uv_now(pool->loop);
    conn->resolving = resolve_start(pool->loop, pool->url.host, on_resolved, conn);
}

/* Connects to the next address of this attempt. */
static void conn_connect_next(rds_conn_t *conn)
{
    rds_node_t *pool = conn->pool;
    const char *ip = conn->addrs[conn->addr_next++];
    conn->state = CONN_CONNECTING;
    conn->state_since = uv_now(pool->loop);

    /* ip is numeric: hiredis's getaddrinfo cannot block on DNS. */
    redisAsyncContext *ac = pool->url.is_unix ? redisAsyncConnectUnix(pool->url.path)
                                              : redisAsyncConnect(ip, pool->url.port);
    if (!ac) {
        conn_down(conn, "out of memory");
        return;
    }
    if (ac->err) {
        /* Failed at once (e.g. no such unix socket): never attached. */
        char reason[128];
        snprintf(reason, sizeof reason, "%s", ac->errstr ? ac->errstr : "connect failed");
        redisAsyncFree(ac);
        conn_down(conn, reason);
        return;
    }
    int rc = rds_uv_attach(ac, pool->loop, on_cleanup, conn);
    if (rc != 0) {
        redisAsyncFree(ac);
        conn_down(conn, uv_strerror(rc));
        return;
    }
    pool->live_acs++;
    ac->data = conn;
    conn->ac = ac;
    install_reply_keeper(ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* --- reply objects: one arena per reply ----------------------------------- *
 * hiredis's default reader functions make one malloc per reply object and
 * one per string (a page read's replies hold hundreds), and freeReplyObject
 * one free each. Ours put a whole reply, its elements at every depth and
 * their strings, in one arena: the top-level reply is the head of its
 * first block, children are bump-allocated after it (more blocks when it
 * fills), and freeing the top-level reply frees the blocks. A child finds
 * its arena through its parent tasks: the top-level task's obj is the head.
 * hiredis frees only top-level replies through freeObject (after the
 * callback, or a partial one when the reader is freed); callers free kept
 * replies with rds_reply_free, never with freeReplyObject. */

typedef struct reply_block {
    struct reply_block *next;
    size_t size;                  /* bytes allocated, header included */
} reply_block_t;

typedef struct {
    redisReply reply;             /* first: the reply's address is the arena's */
    size_t size;                  /* bytes allocated for this head */
    reply_block_t *blocks;        /* further blocks, newest first */
    char *cur;                    /* free space of the current block */
    size_t left;
    size_t grow;                  /* size of the next block */
} reply_arena_t;

#define ARENA_ALIGN 8
#define ARENA_BLOCK_MIN 1024
#define ARENA_FIRST_MAX (64 * 1024)
/* Room guessed per element of a top-level array: its object, its slot in
 * the element vector and a short string. */
#define ARENA_PER_ELEMENT (sizeof(redisReply) + sizeof(redisReply *) + 24)

static size_t arena_round(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

/* Freed blocks of the two pooled sizes wait here for the next reply (at
 * most ARENA_POOL_MAX of each): a page read makes about 35 replies, most
 * kept until its batch completes, which overflowed malloc's per-thread
 * cache, and every malloc of 1 KiB or more made glibc consolidate its
 * fastbins first (malloc_consolidate was 3-4% of feedcached's CPU on cached
 * reads, perf; malloc and free another 10% of its instructions, callgrind).
 * Bigger blocks come from malloc. Replies are made and freed on the loop's
 * thread only (see kept_reply below), so the pools need no lock. */
#define ARENA_SMALL 512
#define ARENA_LARGE 4096
#define ARENA_POOL_MAX 256
/* Not under AddressSanitizer: a pooled block is never freed, so a reply
 * used after its free would go unnoticed. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_POOLING 0
#else
#define ARENA_POOLING 1
#endif

typedef struct {
    void *blocks[ARENA_POOL_MAX];
    size_t n;
} arena_pool_t;

static arena_pool_t arena_small, arena_large;

/* At least `size` bytes; *got: how many. */
static void *block_alloc(size_t size, size_t *got)
{
    arena_pool_t *pool = size <= ARENA_SMALL ? &arena_small
                         : size <= ARENA_LARGE ? &arena_large : NULL;
    if (!pool) {
        *got = size;
        return fc_xmalloc(size);
    }
    *got = pool == &arena_small ? ARENA_SMALL : ARENA_LARGE;
    return pool->n ? pool->blocks[--pool->n] : fc_xmalloc(*got);
}

static void block_free(void *p, size_t size)
{
    arena_pool_t *pool = size == ARENA_SMALL ? &arena_small
                         : size == ARENA_LARGE ? &arena_large : NULL;
    if (ARENA_POOLING && pool && pool->n < ARENA_POOL_MAX)
        pool->blocks[pool->n++] = p;
    else
        free(p);
}

/* A new top-level reply with (at least) `extra` bytes of room after it. */
static reply_arena_t *arena_new(int type, size_t extra)
{
    size_t head = arena_round(sizeof(reply_arena_t));
    size_t got;
    reply_arena_t *a = block_alloc(head + extra, &got);
    memset(&a->reply, 0, sizeof a->reply);
    a->reply.type = type;
    a->size = got;
    a->blocks = NULL;
    a->cur = (char *)a + head;
    a->left = got - head;
    a->grow = extra * 2 > ARENA_BLOCK_MIN ? extra * 2 : ARENA_BLOCK_MIN;
    return a;
}

static void *arena_alloc(reply_arena_t *a, size_t n)
{
    n = arena_round(n);
    if (n > a->left) {
        size_t size = a->grow > n ? a->grow : n;
        size_t head = arena_round(sizeof(reply_block_t));
        size_t got;
        reply_block_t *b = block_alloc(head + size, &got);
        b->size = got;
        b->next = a->blocks;
        a->blocks = b;
        a->cur = (char *)b + head;
        a->left = got - head;
        if (a->grow < ARENA_FIRST_MAX)
            a->grow *= 2;
    }
    void *p = a->cur;
    a->cur += n;
    a->left -= n;
    return p;
}

/* The arena of a task's reply: the top-level task's object. */
static reply_arena_t *task_arena(const redisReadTask *task)
{
    while (task->parent)
        task = task->parent;
    return task->obj;
}

/* A reply object of `type` with `extra` bytes after it, placed in the
 * parent's element vector; a top-level one starts an arena (room for
 * `root_extra` more bytes). */
static redisReply *arena_object(const redisReadTask *task, int type, size_t extra,
                                size_t root_extra)
{
    if (!task->parent) {
        reply_arena_t *a = arena_new(type, arena_round(extra) + root_extra);
        return &a->reply;
    }
    reply_arena_t *a = task_arena(task);
    redisReply *r = arena_alloc(a, arena_round(sizeof *r) + extra);
    memset(r, 0, sizeof *r);
    r->type = type;
    redisReply *parent = task->parent->obj;
    parent->element[task->idx] = r;
    return r;
}

/* Where an object's extra bytes start: after it in the arena, or for a
 * top-level reply after the arena's head (arena_new left them free). */
static char *object_extra(const redisReadTask *task, redisReply *r, size_t extra)
{
    if (!task->parent)
        return arena_alloc((reply_arena_t *)(void *)r, extra);
    return (char *)r + arena_round(sizeof *r);
}

static void *arena_create_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r = arena_object(task, task->type, len + 1, 0);
    char *buf = object_extra(task, r, len + 1);
    memcpy(buf, str, len);
    buf[len] = '\0';
    r->str = buf;
    r->len = len;
    return r;
}

static void *arena_create_array(const redisReadTask *task, int elements)
{
    size_t n = elements > 0 ? (size_t)elements : 0;
    size_t guess = n * ARENA_PER_ELEMENT;
    if (guess > ARENA_FIRST_MAX)
        guess = ARENA_FIRST_MAX;
    redisReply *r = arena_object(task, REDIS_REPLY_ARRAY, n * sizeof(redisReply *), guess);
    r->elements = n;
    if (n > 0) {
        r->element = (redisReply **)(void *)object_extra(task, r, n * sizeof(redisReply *));
        memset(r->element, 0, n * sizeof(redisReply *));
    }
    return r;
}

static void *arena_create_integer(const redisReadTask *task, long long value)
{
    redisReply *r = arena_object(task, REDIS_REPLY_INTEGER, 0, 0);
    r->integer = value;
    return r;
}

static void *arena_create_nil(const redisReadTask *task)
{
    return arena_object(task, REDIS_REPLY_NIL, 0, 0);
}

static void arena_free(void *reply)
{
    if (!reply)
        return;
    reply_arena_t *a = reply;
    reply_block_t *b = a->blocks;
    while (b) {
        reply_block_t *next = b->next;
        block_free(b, b->size);
        b = next;
    }
    block_free(a, a->size);
}

void rds_reply_free(struct redisReply *reply)
{
    arena_free(reply);
}

/* --- keeping a reply ----------------------------------------------------- *
 * hiredis 0.14 frees a reply as soon as its callback returns. A callback
 * that wants to keep it (a batch waiting for its other replies) calls
 * rds_reply_keep; the reader's freeObject hook then skips exactly that
 * reply, once. Replies are freed right after their callback, one at a time
 * on the loop's thread, so one pointer is enough. This saves a deep copy
 * of every reply a batch holds. */

static void *kept_reply;

static void keeper_free(void *reply)
{
    if (reply && reply == kept_reply) {
        kept_reply = NULL;
        return;
    }
    arena_free(reply);
}

static redisReplyObjectFunctions reply_fns = {
    .createString = arena_create_string,
    .createArray = arena_create_array,
    .createInteger = arena_create_integer,
    .createNil = arena_create_nil,
    .freeObject = keeper_free,
};

static void install_reply_keeper(redisAsyncContext *ac)
{
    ac->c.reader->fn = &reply_fns;
}

void rds_reply_keep(struct redisReply *reply)
{
    kept_reply = reply;
}

/* --- the replication id ------------------------------------------------- */

static void on_epoch(struct redisReply *reply, void *arg)
{
    rds_node_t *pool = arg;
    pool->epoch_asking = false;
    char id[RDS_EPOCH_LEN + 1];
    if (!reply || reply->type != REDIS_REPLY_STRING ||
        rds_info_field(reply->str, reply->len, "master_replid", id, sizeof id) != 0)
        return;
    if (pool->epoch[0] && strcmp(pool->epoch, id) != 0)
        log_warn("rds", "%s: %s has a new replication id (%s, was %s): it was promoted or "
                 "restarted; feeds written before are rebuilt on their next read", pool->name,
                 pool->where, id, pool->epoch);
    snprintf(pool->epoch, sizeof pool->epoch, "%s", id);
}

static void ask_epoch(rds_node_t *pool)
{
    uint64_t now = uv_now(pool->loop);
    if (pool->closing || pool->epoch_asking || pool->ready == 0 ||
        (pool->epoch_asked_ms && now - pool->epoch_asked_ms < RDS_EPOCH_EVERY_MS))
        return;
    rds_conn_t *conn = pick(pool, 0);
    if (!conn)
        return;
    /* Not a user command: not in pending, not in the command metrics. */
    static const char info[] = "*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n";
    rds_cmd_t *cmd = fc_xcalloc(1, sizeof *cmd);
    cmd->conn = conn;
    cmd->cb = on_epoch;
    cmd->privdata = pool;
    cmd->internal = true;
    cmd->sent_ms = now;
    list_insert_tail(&conn->cmds, &cmd->link);
    if (redisAsyncFormattedCommand(conn->ac, on_reply, cmd, info, sizeof info - 1) != REDIS_OK) {
        list_remove(&cmd->link);
        free(cmd);
        return;
    }
    pool->epoch_asking = true;
    pool->epoch_asked_ms = now;
}

const char *rds_node_epoch(const rds_node_t *node)
{
    return node->epoch;
}

/* --- public API --------------------------------------------------------- */

rds_node_t *rds_node_create(uv_loop_t *loop, const rds_url_t *url, const rds_pool_options_t *opts)
{
    if (!loop || !url || !opts || opts->size < 1 || opts->size > RDS_MAX_POOL_SIZE) {
        log_error("rds", "pool: invalid options (size must be 1..%d)", RDS_MAX_POOL_SIZE);
        return NULL;
    }
    const char *name = opts->name && *opts->name ? opts->name : "redis";
    if (url->is_unix ? url->path[0] != '/' : url->port < 1 || url->port > 65535) {
        log_error("rds", "%s: bad address (port 1..65535, or an absolute unix socket path)", name);
        return NULL;
    }
    if (!url->is_unix && !url->host[0]) {
        log_error("rds", "%s: empty host", name);
        return NULL;
    }

    /* metrics_simple returns the existing series for a name, so a second
     * pool shares the first one's metrics. */
#define METRICS_TARGET (&rds_metrics)
    RDS_METRICS(METRIC_REGISTER)
#undef METRICS_TARGET

    rds_node_t *pool = fc_xcalloc(1, sizeof *pool);
    pool->kind = RDS_KIND_NODE;
    pool->loop = loop;
    pool->url = *url;
    snprintf(pool->name, sizeof pool->name, "%s", name);
    if (url->is_unix)
        snprintf(pool->where, sizeof pool->where, "unix:%s", url->path);
    else if (strchr(url->host, ':'))
        snprintf(pool->where, sizeof pool->where, "[%.64s]:%d", url->host, url->port);
    else
        snprintf(pool->where, sizeof pool->where, "%.200s:%d", url->host, url->port);
    if (url->db != 0) {
        size_t n = strlen(pool->where);
        snprintf(pool->where + n, sizeof pool->where - n, " db %d", url->db);
    }
    pool->timeout_ms = opts->timeout_ms ? opts->timeout_ms : RDS_DEFAULT_TIMEOUT_MS;
    pool->size = opts->size;
    pool->conns = fc_xcalloc((size_t)opts->size, sizeof *pool->conns);

    uv_timer_init(loop, &pool->tick);
    pool->tick.data = pool;
    list_init(&pool->failed);
    list_init(&pool->waiting);
    pool->first_pending = opts->size;
    uv_idle_init(loop, &pool->defer);
    pool->defer.data = pool;
    pool->open_handles = 2 + pool->size;
    /* A quarter of the timeout keeps detection within ~1.25x timeout_ms. */
    unsigned every = pool->timeout_ms / 4;
    if (every < 5)
        every = 5;
    if (every > 250)
        every = 250;
    uv_timer_start(&pool->tick, on_tick, every, every);

    for (int i = 0; i < pool->size; i++) {
        rds_conn_t *conn = &pool->conns[i];
        conn->pool = pool;
        conn->index = i;
        list_init(&conn->cmds);
        backoff_init(&conn->backoff, RDS_BACKOFF_MIN_MS, RDS_BACKOFF_MAX_MS);
        uv_timer_init(loop, &conn->retry);
        conn->retry.data = pool;
    }
    log_info("rds", "%s: connecting to %s (%d connections, timeout %u ms)", pool->name,
             pool->where, pool->size, pool->timeout_ms);
    for (int i = 0; i < pool->size; i++)
        conn_connect(&pool->conns[i]);
    return pool;
}

int rds_node_ready(const rds_node_t *pool)
{
    return pool ? pool->ready : 0;
}

bool rds_node_settled(const rds_node_t *pool)
{
    return !pool || pool->first_pending == 0;
}

const char *rds_node_last_error(const rds_node_t *pool)
{
    return pool && pool->ready == 0 ? pool->last_error : "";
}

int rds_node_pending(const rds_node_t *pool)
{
    return pool ? pool->pending : 0;
}

uv_loop_t *rds_node_loop(const rds_node_t *pool)
{
    return pool->loop;
}

/* The connection for affinity, or the next ready one after it. A context
 * hiredis is tearing down (its NULL callbacks run before the disconnect
 * callback tells us) is skipped. */
static rds_conn_t *pick(rds_node_t *pool, unsigned affinity)
{
    unsigned start = affinity % (unsigned)pool->size;
    for (int i = 0; i < pool->size; i++) {
        rds_conn_t *conn = &pool->conns[(start + (unsigned)i) % (unsigned)pool->size];
        if (conn->state == CONN_READY && conn->ac &&
            !(conn->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
            return conn;
    }
    return NULL;
}

static void send_formatted(rds_node_t *pool, rds_conn_t *conn, const char *resp, size_t len,
                           rds_reply_fn *cb, void *privdata);

/* A connection is ready: the commands that waited for it go out, in order. */
static void send_waiting(rds_node_t *pool)
{
    list_t *node;
    while (!pool->closing && (node = list_first(&pool->waiting)) != NULL) {
        rds_wait_t *w = list_entry(node, rds_wait_t, link);
        rds_conn_t *conn = pick(pool, w->affinity);
        if (!conn)
            return;
        list_remove(node);
        pool->pending--;                /* send_formatted counts it again */
        send_formatted(pool, conn, w->resp, w->len, w->cb, w->privdata);
        free(w);
    }
}

/* Fails the waiting commands that waited since before older_than_ms (all
 * of them when 0): later, from the loop, like any failure. */
static void fail_waiting(rds_node_t *pool, uint64_t older_than_ms)
{
    list_foreach_safe(pos, &pool->waiting) {
        rds_wait_t *w = list_entry(pos, rds_wait_t, link);
        if (older_than_ms && w->since_ms >= older_than_ms)
            break;                      /* oldest first: the rest are younger */
        list_remove(pos);
        pool->pending--;                /* defer_failure counts it again */
        defer_failure(pool, w->cb, w->privdata);
        free(w);
    }
}

void rds_node_send(rds_node_t *pool, unsigned affinity, const char *resp, size_t len,
                   rds_reply_fn *cb, void *privdata)
{
    if (!pool) {
        /* Nowhere to run the callback from: a bug in the caller. */
        log_error("rds", "rds_node_send without a pool: callback dropped");
        return;
    }
    rds_conn_t *conn = NULL;
    if (len > 0 && !pool->closing)
        conn = pick(pool, affinity);
    if (!conn && len > 0 && !pool->closing && pool->first_pending > 0) {
        rds_wait_t *w = fc_xmalloc(sizeof *w + len);
        w->affinity = affinity;
        w->cb = cb;
        w->privdata = privdata;
        w->since_ms = uv_now(pool->loop);
        w->len = len;
        memcpy(w->resp, resp, len);
        list_insert_tail(&pool->waiting, &w->link);
        pool->pending++;
        return;
    }
    if (!conn) {
        defer_failure(pool, cb, privdata);
        return;
    }
    send_formatted(pool, conn, resp, len, cb, privdata);
}

/* Sends a RESP-encoded command on conn; a refusal fails it later. Counts
 * it in pending (the caller has not). */
static void send_formatted(rds_node_t *pool, rds_conn_t *conn, const char *resp, size_t len,
                           rds_reply_fn *cb, void *privdata)
{
    rds_cmd_t *cmd = fc_xcalloc(1, sizeof *cmd);
    cmd->conn = conn;
    cmd->cb = cb;
    cmd->privdata = privdata;
    cmd->sent_ms = uv_now(pool->loop);
    size_t rest = 0;
    int script = rds_script_of_resp(resp, len, &rest);
    cmd->script1 = script + 1;
    bool load = false;
    if (script >= 0 && (conn->scripts & (UINT64_C(1) << script))) {
        /* By EVALSHA; kept to go again as EVAL should Redis answer NOSCRIPT. */
        cmd->resp = fc_xmalloc(len);
        memcpy(cmd->resp, resp, len);
        cmd->len = len;
        cmd->rest = rest;
    } else if (script >= 0) {
        /* Not known loaded on this connection: with its text. */
        const buf_t *full = rds_script_eval_resp(script, resp, len, rest);
        resp = full->data;
        len = full->len;
        load = true;
    }
    list_insert_tail(&conn->cmds, &cmd->link);
    if (redisAsyncFormattedCommand(conn->ac, on_reply, cmd, resp, len) != REDIS_OK) {
        /* hiredis refused it (its context is going away): it fails later,
         * like a command with no connection. */
        list_remove(&cmd->link);
        cmd_free(cmd);
        defer_failure(pool, cb, privdata);
        return;
    }
    pool->pending++;
    metric_inc(rds_metrics.redis_commands_total);
    if (load)
        metric_inc(rds_metrics.redis_script_loads_total);
}

void rds_node_close(rds_node_t *pool)
{
    if (!pool || pool->closing)
        return;
    pool->closing = 1;
    log_info("rds", "%s: closing (%d commands outstanding)", pool->name, pool->pending);
    for (int i = 0; i < pool->size; i++) {
        rds_conn_t *conn = &pool->conns[i];
        uv_close((uv_handle_t *)&conn->retry, on_handle_closed);
        resolve_cancel(conn->resolving);
        conn->resolving = NULL;
        if (conn->state == CONN_READY) {
            pool->ready--;
            metric_gauge_add(rds_metrics.redis_connections, -1);
        }
        conn->state = CONN_IDLE;
        redisAsyncContext *ac = conn->ac;
        conn->ac = NULL;
        /* Pending callbacks get NULL now (or, for a context whose reply
         * callback we are in, as soon as that returns). */
        if (ac)
            redisAsyncFree(ac);
    }
    /* Failures rds_node_send has deferred get NULL now, like the commands above;
     * any sent from these callbacks wait for the pool's last close callback. */
    fail_waiting(pool, 0);
    uv_close((uv_handle_t *)&pool->defer, on_handle_closed);
    run_deferred(pool, pool->nfailed);
    if (pool->live_acs == 0)
        close_tick(pool);
}
