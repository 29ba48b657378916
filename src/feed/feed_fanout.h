/* The fan-out worker: takes jobs from the durable stream PREFIX{fanout}
 * through the consumer group "feedcache" and delivers them.
 *
 * A job is acknowledged (XACK, then XDEL) only after its last delivery, so a
 * job taken by a worker that dies stays pending and is delivered again:
 * by this consumer after a restart (it reads its own pending entries first),
 * or by another one after FANOUT_CLAIM_IDLE_MS (XAUTOCLAIM). Deliveries are
 * idempotent (ZADD of the same member and score), so a job done twice is
 * harmless.
 *
 * Jobs (feed_job.h): push a post into the home feeds of the author and
 * their followers that exist, push a celebrity marker into them, or remove
 * a deleted post from them. Followers are read from PostgreSQL in pages of
 * FANOUT_PAGE and delivered with one EVAL per FANOUT_CHUNK feeds, all of a
 * page pipelined in one round trip. Up to FANOUT_CONCURRENCY jobs run at
 * once, so PostgreSQL and Redis latencies overlap. */
#ifndef FC_FEED_FEED_FANOUT_H
#define FC_FEED_FEED_FANOUT_H

#include "feed/feed_engine.h"

#define FANOUT_GROUP "feedcache"
#define FANOUT_PAGE 5000
#define FANOUT_CHUNK 250
#define FANOUT_CONCURRENCY 32
#define FANOUT_BLOCK_MS 1000
#define FANOUT_CLAIM_IDLE_MS 30000
#define FANOUT_RETRY_MS 500        /* after a failed read or group creation */
#define FANOUT_TICK_MS 1000        /* queue depth refresh */
#define FANOUT_CLAIM_EVERY_TICKS 10

typedef struct feed_fanout feed_fanout_t;

/* Starts the worker. Its blocking reads get their own Redis connection
 * (redis_url, timeout_ms plus the block time). consumer names this instance
 * in the group; it should survive a restart, so that the instance picks up
 * its own unfinished jobs at once. Returns NULL (logged) on a bad URL. */
feed_fanout_t *feed_fanout_start(feed_engine_t *e, const char *redis_url, const char *consumer,
                                 unsigned timeout_ms);
/* Stops taking jobs. Jobs in progress run on until they finish or their
 * backends close (then they stay queued). Frees itself when idle. */
void feed_fanout_stop(feed_fanout_t *f);

#endif
