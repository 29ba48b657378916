/* Every metric of the feed modules, in one table (docs/PROTOCOL.md,
 * "Metrics and health"): the same variables feed /metrics and the `stats` method, so
 * the two can never disagree. */
#ifndef FC_FEED_FEED_METRICS_H
#define FC_FEED_FEED_METRICS_H

#include <msgpack.h>

#include "metrics/metrics.h"

#define FEED_METRICS(ACTION) \
    ACTION(feed_rebuilds_total, METRIC_COUNTER, "home feeds rebuilt from PostgreSQL") \
    ACTION(pg_fallbacks_total, METRIC_COUNTER, \
           "reads (feed pages or post hashes) that needed PostgreSQL") \
    ACTION(fanout_posts_total, METRIC_COUNTER, "posts fanned out (celebrity posts excluded)") \
    ACTION(fanout_deliveries_total, METRIC_COUNTER, "post ids pushed into home feeds by fan-out") \
    ACTION(fanout_queue_depth, METRIC_GAUGE, \
           "fan-out jobs queued and not yet finished (every shard of the queue)") \
    ACTION(fanout_shards, METRIC_GAUGE, \
           "shards (streams) of the fan-out queue this instance consumes (fanout_shards)") \
    ACTION(fanout_dead_letters_total, METRIC_COUNTER, \
           "fan-out jobs moved to the dead-letter stream (failed too often, or malformed)") \
    ACTION(fanout_job_failures_total, METRIC_COUNTER, \
           "fan-out job attempts that failed and were scheduled for a retry") \
    ACTION(fanout_consumers_removed_total, METRIC_COUNTER, \
           "fan-out consumers removed from the groups: gone for a day with no job pending " \
           "(instances that stopped or were renamed)") \
    ACTION(fanout_rounds_limit, METRIC_GAUGE, \
           "fan-out delivery rounds allowed in flight now: fewer while fan-out keeps up, so " \
           "that less of it is queued in Redis ahead of reads and publishes") \
    ACTION(fanout_yields_total, METRIC_COUNTER, \
           "reads of the fan-out queue that took fewer jobs because live requests were being " \
           "shed (fan-out yields to reads under overload, never stops)") \
    ACTION(pg_fallbacks_shed_total, METRIC_COUNTER, \
           "PostgreSQL lookups not made because its queue was at its bound (pages answered " \
           "UNAVAILABLE, or served without the posts)") \
    ACTION(celebrity_merges_total, METRIC_COUNTER, \
           "celebrity recent-post sets merged into timeline pages at read time") \
    ACTION(celebrity_cache_hits_total, METRIC_COUNTER, \
           "celebrity recent-post windows this instance served from its own copy, read " \
           "from Redis less than celebrity_cache_ms before, instead of asking Redis") \
    ACTION(celebrity_cache_refreshes_total, METRIC_COUNTER, \
           "celebrity recent-post windows fetched from Redis before their copy expired, by " \
           "one read while the others go on with the copy") \
    ACTION(read_page_prefetches_total, METRIC_COUNTER, \
           "first-page timeline reads that asked, with their first round trip, for the " \
           "cached posts of the user's last first page read through this instance") \
    ACTION(read_page_prefetch_whole_total, METRIC_COUNTER, \
           "of those, the reads whose page was wholly among those posts, so that no round " \
           "trip for posts followed the window") \
    ACTION(read_window_grown_total, METRIC_COUNTER, \
           "timeline reads that started over with larger windows because a window of the " \
           "home feed or of a celebrity's set was too small for the page") \
    ACTION(timeline_db_pages_total, METRIC_COUNTER, \
           "timeline pages served from PostgreSQL (Redis down, or past the cached window)") \
    ACTION(feed_rebuild_duration_seconds, METRIC_HISTOGRAM, \
           "time to rebuild a home feed from PostgreSQL") \
    ACTION(rebuilds_inflight, METRIC_GAUGE, \
           "home feed and author set rebuilds running now (capped by max_rebuilds)") \
    ACTION(rebuilds_shed_total, METRIC_COUNTER, \
           "rebuilds refused because max_rebuilds were running (the read was served " \
           "from PostgreSQL or answered UNAVAILABLE)") \
    ACTION(reads_shed_total, METRIC_COUNTER, \
           "timeline.get calls answered UNAVAILABLE because they needed PostgreSQL while " \
           "its queue was full") \
    ACTION(publishes_shed_total, METRIC_COUNTER, \
           "post.publish calls answered OVERLOADED: the fan-out queue held fanout_queue_max jobs") \
    ACTION(feed_suspect_total, METRIC_COUNTER, \
           "home feeds rebuilt because they were built under another Redis master (a " \
           "failover or resharding since: writes may have been lost)") \
    ACTION(publish_unreplicated_total, METRIC_COUNTER, \
           "post.publish calls answered UNAVAILABLE because fewer than redis_wait_replicas " \
           "replicas acknowledged the writes in time") \
    ACTION(warm_users_total, METRIC_COUNTER, "home feeds warmed by warm jobs") \
    ACTION(warm_user_failures_total, METRIC_COUNTER, \
           "users whose warming failed (retried later)") \
    ACTION(warm_backoffs_total, METRIC_COUNTER, \
           "times a warm job paused to yield: service busy, PostgreSQL slow or failing") \
    ACTION(warm_jobs, METRIC_GAUGE, "warm jobs running or paused on this instance")

/* What a follow or unfollow did to the follower's home feed
 * (feedcache_follow_updates_total{op, path}). */
typedef enum {
    FEED_FOLLOW_IN_PLACE,      /* changed in place */
    FEED_FOLLOW_REBUILD,       /* dropped: the next read rebuilds it */
    FEED_FOLLOW_NO_FEED,       /* not cached: nothing to change */
    FEED_FOLLOW_CELEBRITY,     /* follow of a celebrity: a marker (or a drop while building) */
    FEED_FOLLOW__PATHS
} feed_follow_path_t;

typedef struct {
    FEED_METRICS(METRIC_FIELD)
    metric_t *feed_hits, *feed_misses;      /* feedcache_feed_cache_requests_total{result} */
    metric_t *post_hits, *post_misses;      /* feedcache_post_cache_requests_total{result} */
    metric_t *fanout_lag_seconds;           /* publish answered -> last delivery */
    /* [0] follow, [1] unfollow; an unfollow has no CELEBRITY path (NULL). */
    metric_t *follow_updates[2][FEED_FOLLOW__PATHS];
} feed_metrics_t;

extern feed_metrics_t feed_metrics;

/* Registers the families (idempotent per process until metrics_teardown). */
void feed_metrics_setup(void);

/* Packs the `stats` map: at least the contract's keys, as integers. */
void feed_metrics_pack_stats(msgpack_packer *pk);

#endif
