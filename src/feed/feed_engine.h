/* The feed engine: the state every feed module shares, one per daemon, on
 * the loop's thread. What the methods do lives in the modules around it:
 *
 *   feed_methods   RPC argument checks of every method, then the module below
 *   feed_read      timeline.get: page, celebrity merge, PostgreSQL paging
 *   feed_write     post.publish/update/delete, follow, unfollow, invalidate
 *   feed_fanout    the fan-out worker on the durable job stream
 *   feed_dead      its dead letters: listed and requeued
 *   feed_warm      warm jobs: scheduling and pacing (feed_warm_job: their state)
 *   feed_rebuild   cold start: a home feed or author set rebuilt from PostgreSQL
 *   feed_hydrate   cached posts for a list of posts, misses from PostgreSQL
 * and the pure parts they use: feed_merge, feed_cursor, feed_job, feed_guess,
 * feed_flight, feed_scripts (every Lua script), feed_cmd (command helpers),
 * feed_metrics. docs/DATA_MODEL.md describes every key and query,
 * docs/PROTOCOL.md every method. */
#ifndef FC_FEED_FEED_ENGINE_H
#define FC_FEED_FEED_ENGINE_H

#include <stdint.h>
#include <uv.h>

#include "store/pg/pg.h"
#include "store/redis/rds.h"
#include "store/redis/rds_keys.h"
#include "util/list.h"

/* How long a home feed stays "building" at most if its rebuilder dies. */
#define FEED_BUILD_TTL_MS 10000
/* How long an unfollow blocks deliveries of the followee's posts that a
 * fan-out read before the unfollow. Longer than any job's follower batch. */
#define FEED_UNFOLLOW_TTL_MS 600000
/* Follower counts are cached this long (follows and unfollows adjust them;
 * the expiry makes them recounted, which bounds any drift). */
#define FEED_FCOUNT_TTL_S 3600
/* Celebrities a rebuild's query leaves out without asking Redis first. */
#define FEED_KNOWN_CELEBS_MAX 4096

typedef struct {
    const char *key_prefix;          /* copied */
    int64_t feed_max;                /* entries per home feed and author set */
    int64_t feed_ttl_ms;             /* a home feed's sliding TTL */
    int64_t post_ttl_s;              /* a cached post's TTL */
    int64_t celebrity_threshold;     /* followers from which posts are merged at read */
    int64_t celebrity_cache_ms;      /* how long a celebrity's window is reused (feed_celebs) */
    int64_t fanout_queue_max;        /* jobs queued; past it publishes are shed */
    unsigned fanout_shards;          /* the setting: 1..FEED_SHARDS_MAX, 0 auto (feed_shard.h) */
    int max_rebuilds;                /* home feed rebuilds in flight; past it reads are shed */
    int pg_backlog_max;              /* PostgreSQL queries queued beyond which a read
                                      * that cannot use Redis is shed, not queued */
    int wait_replicas;               /* publish: replicas that must have the writes */
    int wait_timeout_ms;             /* publish: how long to wait for them */
    pg_pool_t *pg_read;              /* a read replica, or NULL */
} feed_options_t;

struct feed_flights;
struct feed_celebs;
struct feed_guess;
struct feed_warm;

typedef struct feed_engine {
    uv_loop_t *loop;
    rds_pool_t *redis;
    pg_pool_t *pg;
    pg_pool_t *pg_read;              /* read replica (pg_read), NULL when none */
    char prefix[RDS_KEY_PREFIX_MAX + 1];
    int64_t feed_max;
    int64_t feed_ttl_ms;
    int64_t post_ttl_s;
    int64_t celebrity_threshold;
    int64_t celebrity_cache_ms;
    int64_t fanout_queue_max;        /* over all shards */
    unsigned fanout_shards;          /* streams of the fan-out queue, resolved (>= 1) */
    int max_rebuilds;
    int pg_backlog_max;
    int wait_replicas;
    int wait_timeout_ms;
    int rebuilds_inflight;           /* flights running (feed_rebuild) */
    list_t rebuild_polls;            /* rebuilds waiting on a poll timer (feed_rebuild) */
    list_t rebuild_sheds;            /* shed answers waiting for the loop (feed_rebuild) */
    bool stopping;                   /* feed_rebuild_stop was called */
    void (*stopped)(void *arg);      /* feed_rebuild_stop's done callback */
    void *stopped_arg;
    uint64_t next_token;             /* rebuild tokens and warm job ids */
    struct feed_flights *flights;    /* rebuilds in progress (feed_rebuild) */
    struct feed_guess *guess;        /* celebrities per user (feed_read) */
    struct feed_celebs *celebs;      /* celebrities' recent windows (feed_read) */
    int64_t *known_celebs;           /* flagged authors seen by rebuilds, sorted, at most
                                      * FEED_KNOWN_CELEBS_MAX: the rebuild query leaves
                                      * them out, its SMISMEMBER checks (feed_rebuild) */
    size_t nknown_celebs;
    struct feed_warm *warm;          /* set by feed_warm_start */
} feed_engine_t;

feed_engine_t *feed_engine_create(uv_loop_t *loop, rds_pool_t *redis, pg_pool_t *pg,
                                  const feed_options_t *opts);
/* After every module using the engine has stopped and the loop ran dry. */
void feed_engine_free(feed_engine_t *e);

/* The TTL every writer of a home feed sets (a rebuild, a warm, a read's
 * slide): feed_ttl plus feed_ttl/16, at most FEED_TTL_MARGIN_MAX_MS more. A
 * read asks Redis for the feed's PTTL only once what it last saw could have
 * fallen below feed_ttl (feed_read.c); this margin, set by every writer, is
 * what makes that safe: a feed rebuilt after the PTTL was seen still lives
 * feed_ttl after every read until the next look.
 *
 * A feed read all the time slides, and asks for its PTTL, once per margin.
 * The cap was a minute: with a feed_ttl of two hours (the bench's), a busy
 * feed then slid every minute, 0.12 slide scripts and 0.39 PTTLs per read
 * on the full bench graph. Ten minutes keeps a sixteenth up to a feed_ttl of
 * 160 minutes; past it an idle feed lives at most ten minutes over its
 * feed_ttl, and a TTL shortened by hand in Redis is seen at most that late. */
#define FEED_TTL_MARGIN_MAX_MS 600000
int64_t feed_engine_ttl_set_ms(const feed_engine_t *e);

/* How much longer than feed_ttl feed_engine_ttl_set_ms is. */
int64_t feed_engine_ttl_margin_ms(const feed_engine_t *e);

/* Whether PostgreSQL's queue is at pg_backlog_max: the budget of work that
 * falls back to PostgreSQL (reads Redis cannot serve, post cache misses).
 * Past it a fallback fails fast (UNAVAILABLE, or a page without the posts)
 * instead of queueing where it would only time out after delaying
 * everything behind it. */
bool feed_engine_pg_saturated(const feed_engine_t *e);

/* Where a read that tolerates replication lag goes (pages past the cache,
 * post cache misses): the pg_read replica while it has a ready connection,
 * else the primary. Rebuilds and follower counts always use e->pg: they
 * need the newest rows. */
pg_pool_t *feed_engine_pg_lagging(const feed_engine_t *e);

#endif
