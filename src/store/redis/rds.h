/* Redis: hiredis async contexts on the libuv loop, in a small pool.
 *
 * The pool keeps `size` connections to one server, each reconnecting on its
 * own with exponential backoff and jitter after a failure. A command goes to
 * a ready connection (chosen by `affinity % size`, the next ready one when
 * that one is down), so a caller that passes the same affinity for related
 * commands keeps them in order on one connection.
 *
 * The calling convention is "always call back": rds_send has no return
 * value; its callback runs exactly once, always later from the loop, never
 * before rds_send returns: with the reply, or with reply == NULL when the
 * command got none (no connection ready, connection lost, command timed
 * out, pool closing). A caller handles failure in one place, the callback.
 * An error reply (REDIS_REPLY_ERROR) is a reply: the server answered. The
 * reply is freed after the callback returns: copy what you keep.
 * (A callback that sends again on NULL should give up at some point: with
 * no connection, each retry fails again on the next loop iteration.)
 *
 * At start-up, before every connection's first attempt has ended, "no
 * connection ready" means "not yet": a command waits (up to timeout_ms) for
 * the first ready connection instead of failing, so callers that send the
 * moment the service answers are served. Once every first attempt has
 * failed, Redis is known down and commands fail fast.
 *
 * Timeouts: a connection on which Redis has answered nothing for timeout_ms
 * while a command waited is dropped (all its commands get NULL) and
 * reconnected. Silence, not a slow command: while replies keep coming (a
 * long queue of our own making), commands wait rather than fail, so that
 * overload is never mistaken for an outage.
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

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "store/redis/rds_args.h"
#include "store/redis/rds_types.h"
#include "store/redis/rds_url.h"

typedef struct rds_pool rds_pool_t;

/* Starts connecting at once; commands fail (NULL) until a connection is up.
 * The host may be a name: it is resolved on libuv's thread pool before every
 * connection attempt (util/resolve.h), each address tried in turn; a name
 * that does not resolve is a failed attempt like a refused connection.
 * Returns NULL (logged) for bad options: size outside 1..1024, a bad port,
 * an empty host. */
rds_pool_t *rds_pool_create(uv_loop_t *loop, const rds_url_t *url, const rds_pool_options_t *opts);

/* Connections that are connected (AUTH and SELECT done). */
int rds_pool_ready(const rds_pool_t *pool);

/* True once every connection's first attempt has ended, connected or not
 * (a cluster: the first slot map arrived and every master's connections
 * have had their first attempt, or every seed failed). From then on "no
 * connection ready" means Redis is down, not "not yet". feedcached tells
 * systemd it is ready only after this (src/feedcached/systemd.c). */
bool rds_pool_settled(const rds_pool_t *pool);

/* Why the last connection attempt failed (e.g. "cannot resolve 'redis':
 * Name or service not known", "Connection refused"), while no connection is
 * ready; "" otherwise. For /healthz. */
const char *rds_pool_last_error(const rds_pool_t *pool);

/* Commands whose callback has not run yet (deferred failures included). */
int rds_pool_pending(const rds_pool_t *pool);

/* True when the pool routes over a Redis Cluster (a redis-cluster:// URL).
 * Every command must then touch keys of one hash slot only (rds_key_slot);
 * a multi-key command or script is grouped by slot by its caller. */
bool rds_pool_is_cluster(const rds_pool_t *pool);

/* The epoch of the Redis master serving `key`: the first RDS_EPOCH_LEN
 * characters of its replication id, "" while unknown. It changes when that
 * master changes (a failover promoted a replica, a resharding moved the
 * key's slot, a restart): data written under another epoch may lack the
 * writes the old master had not replicated. Known within about a second of
 * a change on the same address, at once on a new one. */
const char *rds_pool_epoch(const rds_pool_t *pool, const char *key, size_t len);

/* The loop the pool runs on. */
uv_loop_t *rds_pool_loop(const rds_pool_t *pool);

/* Sends the command built in args (see rds_args.h; args may be reset or
 * freed as soon as this returns) on the connection for `affinity`. cb may
 * be NULL (fire and forget: the command is still counted and timed out).
 * Failure, including an empty args, reaches cb as reply == NULL, from the
 * loop. pool must not be NULL (there would be no loop to call back from). */
void rds_send(rds_pool_t *pool, unsigned affinity, rds_args_t *args, rds_reply_fn *cb,
              void *privdata);


/* Disconnects everything; outstanding callbacks (deferred failures too) get
 * NULL before this returns or from the loop shortly after; handles are
 * closed on the loop and the pool is freed once they are (run the loop until
 * it has no more work). Commands sent after this get NULL from the loop,
 * until the pool is freed; after that the pool must not be used. */
void rds_pool_close(rds_pool_t *pool);

#endif
