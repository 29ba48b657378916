/* The feed engine: what the RPC methods of CONTRACT.md section 3 do with
 * Redis and PostgreSQL. One engine per daemon, on the loop's thread.
 *
 *   feed_engine.c   setup, settings, keys, single-flight table
 *   feed_rebuild.c  cold start: a home feed or author set rebuilt from PostgreSQL
 *   feed_read.c     timeline.get: page, celebrity merge, hydration, PostgreSQL paging
 *   feed_write.c    post.publish/update/delete, follow, unfollow, invalidate
 *   feed_fanout.c   the fan-out worker on the durable job stream
 *   feed_methods.c  RPC argument checking and result packing
 * docs/DATA_MODEL.md describes every key and query. */
#ifndef FC_FEED_FEED_ENGINE_H
#define FC_FEED_FEED_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/settings.h"
#include "store/pg/pg.h"
#include "store/redis/rds.h"
#include "store/redis/rds_batch.h"
#include "store/redis/rds_keys.h"

/* How long a home feed stays "building" at most if its rebuilder dies. */
#define FEED_BUILD_TTL_MS 10000
/* How long an unfollow blocks deliveries of the followee's posts that a
 * fan-out read before the unfollow. Longer than any job's follower batch. */
#define FEED_UNFOLLOW_TTL_MS 600000
/* Follower counts are cached this long (follows and unfollows drop them). */
#define FEED_FCOUNT_TTL_S 3600

typedef struct feed_flight feed_flight_t;
typedef struct feed_fanout feed_fanout_t;
struct feed_warm;

typedef struct feed_engine {
    uv_loop_t *loop;
    rds_pool_t *redis;
    pg_pool_t *pg;
    char prefix[RDS_KEY_PREFIX_MAX + 1];
    int64_t feed_max;
    int64_t feed_ttl_ms;
    int64_t post_ttl_s;
    int64_t celebrity_threshold;
    uint64_t next_token;
    feed_flight_t **flights;         /* single-flight table, FEED_FLIGHT_BUCKETS chains */
    feed_fanout_t *fanout;
    struct feed_warm *warm;          /* warm jobs (feed_warm.c) */
    bool stopping;
} feed_engine_t;

feed_engine_t *feed_engine_create(uv_loop_t *loop, rds_pool_t *redis, pg_pool_t *pg,
                                  const settings_t *settings);
/* Starts the fan-out worker on its own Redis connection (blocking reads). */
int feed_engine_start_fanout(feed_engine_t *e, const char *redis_url, const char *consumer,
                             unsigned timeout_ms);
/* Stops taking fan-out jobs; jobs in progress finish or stay queued. */
void feed_engine_stop(feed_engine_t *e);
void feed_engine_free(feed_engine_t *e);

/* ---- single flight ----------------------------------------------------- */

/* Status given to rebuild waiters. */
typedef enum {
    FEED_REBUILD_OK = 0,        /* the key exists now (rebuilt, or found done) */
    FEED_REBUILD_RETRY,         /* invalidated while building: read again */
    FEED_REBUILD_UNAVAILABLE,   /* Redis or PostgreSQL failed */
} feed_rebuild_status_t;

typedef void feed_rebuild_fn(feed_rebuild_status_t status, void *arg);

/* Rebuilds PREFIXfeed:{user} from PostgreSQL unless it exists; concurrent
 * callers for one user share one rebuild. The callback always runs later,
 * from the loop. */
void feed_rebuild_home(feed_engine_t *e, int64_t user_id, feed_rebuild_fn *cb, void *arg);
/* The same for an author's recent-posts set PREFIXposts:{author}. */
void feed_rebuild_author(feed_engine_t *e, int64_t author_id, feed_rebuild_fn *cb, void *arg);

/* ---- helpers shared by the engine's files ------------------------------ */

/* Adds EVAL <script> <nkeys> to args (keys and argv follow). */
void feed_args_eval(rds_args_t *a, const char *script, int nkeys);
/* Appends a key built by a rds_key_* function. */
void feed_args_key(rds_args_t *a, size_t (*build)(char *, size_t, const char *, int64_t),
                   const feed_engine_t *e, int64_t id);
int64_t feed_now_ms(void);
/* Formats an int64 array as a PostgreSQL array literal "{1,2,3}". */
void feed_pg_array(buf_t *out, const int64_t *ids, size_t n);

#endif
