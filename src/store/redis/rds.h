/* Redis: hiredis async contexts on the libuv loop, in a small pool.
 *
 * The pool keeps `size` connections to one server, each reconnecting on its
 * own with exponential backoff and jitter after a failure. A command goes to
 * a ready connection (chosen by `affinity % size`, the next ready one when
 * that one is down), so a caller that passes the same affinity for related
 * commands keeps them in order on one connection.
 *
 * Every command either
 *   - returns -1 at once (no connection is ready): the callback is NOT called;
 *   - or returns 0, and the callback is called exactly once, later, from the
 *     loop: with the reply, or with reply == NULL when the command failed
 *     without one (connection lost, command timed out, pool closing).
 * An error reply (REDIS_REPLY_ERROR) is a reply: the server answered. The
 * reply is freed after the callback returns: copy what you keep.
 *
 * Timeouts: a connection whose oldest outstanding command has waited longer
 * than timeout_ms is dropped (all its commands get NULL) and reconnected.
 * hiredis 0.14 has no timeouts of its own, hence the timer. So blocking
 * commands (BLPOP, XREADGROUP BLOCK) need a pool whose timeout_ms exceeds
 * their block time; SUBSCRIBE/MONITOR are not supported.
 *
 * A connection is ready once the server answered its handshake: AUTH (when
 * the URL has a password), SELECT (db != 0), or else PING.
 * Metrics: feedcache_redis_{commands,errors,timeouts,reconnects}_total and the
 * gauge feedcache_redis_connections, shared by all pools of the process. */
#ifndef FC_STORE_REDIS_RDS_H
#define FC_STORE_REDIS_RDS_H

#include <stddef.h>
#include <uv.h>

#include "store/redis/rds_url.h"

struct redisReply;

typedef void rds_reply_fn(struct redisReply *reply, void *privdata);

typedef struct rds_pool rds_pool_t;

typedef struct {
    int size;                  /* connections, >= 1 */
    unsigned timeout_ms;       /* command timeout; also the connect timeout; 0: 1000 */
    const char *name;          /* for logs, e.g. "redis" or "redis-fanout" */
} rds_pool_options_t;

/* Starts connecting at once; commands fail with -1 until a connection is up.
 * Returns NULL (logged) for bad options: size outside 1..1024, or a host that
 * is not a numeric IP or "localhost" (hiredis would resolve it blocking). */
rds_pool_t *rds_pool_create(uv_loop_t *loop, const rds_url_t *url, const rds_pool_options_t *opts);

/* Connections that are connected (AUTH and SELECT done). */
int rds_pool_ready(const rds_pool_t *pool);

/* Commands accepted whose callback has not run yet. */
int rds_pool_pending(const rds_pool_t *pool);

int rds_command_argv(rds_pool_t *pool, unsigned affinity, rds_reply_fn *cb, void *privdata,
                     int argc, const char *const *argv, const size_t *argvlen);

/* printf-style like redisAsyncCommand; prefer rds_command_argv for binary data. */
int rds_command(rds_pool_t *pool, unsigned affinity, rds_reply_fn *cb, void *privdata,
                const char *fmt, ...);

/* From inside a reply callback: keep `reply` past the callback (hiredis
 * would free it when the callback returns). Free it later with
 * freeReplyObject. */
void rds_reply_keep(struct redisReply *reply);

/* Disconnects everything; outstanding callbacks get NULL before this returns
 * or from the loop shortly after; handles are closed on the loop and the pool
 * is freed once they are (run the loop until it has no more work). */
void rds_pool_close(rds_pool_t *pool);

#endif
