#include "feed/feed_metrics.h"

#include <string.h>

#include "rpc/rpc_msg.h"

feed_metrics_t feed_metrics;

static metric_t *by_result(const char *family, const char *help, const char *result)
{
    metric_family_t *f = metrics_family(family, help, METRIC_COUNTER, NULL, 0);
    const char *names[] = { "result" };
    return metrics_series(f, 1, names, &result);
}

void feed_metrics_setup(void)
{
#define METRICS_TARGET (&feed_metrics)
    FEED_METRICS(METRIC_REGISTER)
#undef METRICS_TARGET
    static const char feed_help[] = "home feed reads, by whether the feed was in Redis";
    static const char post_help[] = "cached post reads, by whether the post was in Redis";
    feed_metrics.feed_hits = by_result("feedcache_feed_cache_requests_total", feed_help, "hit");
    feed_metrics.feed_misses = by_result("feedcache_feed_cache_requests_total", feed_help, "miss");
    feed_metrics.post_hits = by_result("feedcache_post_cache_requests_total", post_help, "hit");
    feed_metrics.post_misses = by_result("feedcache_post_cache_requests_total", post_help, "miss");
    /* Lag spans 1 ms (a small fan-out) to a minute (a backlog). */
    static const double lag_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5, 1, 2.5, 5, 10, 30, 60 };
    metric_family_t *lag = metrics_family(
        "feedcache_fanout_lag_seconds", "time from a publish's answer to its last delivery",
        METRIC_HISTOGRAM, lag_bounds, sizeof lag_bounds / sizeof lag_bounds[0]);
    feed_metrics.fanout_lag_seconds = metrics_series(lag, 0, NULL, NULL);
    metric_family_t *fu = metrics_family(
        "feedcache_follow_updates_total",
        "follows and unfollows, by what they did to the follower's cached home feed: "
        "in_place (merged or removed), rebuild (dropped, rebuilt on the next read), no_feed "
        "(not cached), celebrity (a follow of a celebrity: a marker)",
        METRIC_COUNTER, NULL, 0);
    static const char *const ops[] = { "follow", "unfollow" };
    static const char *const paths[] = { "in_place", "rebuild", "no_feed", "celebrity" };
    const char *names[] = { "op", "path" };
    for (int op = 0; op < 2; op++)
        for (int p = 0; p < FEED_FOLLOW__PATHS; p++) {
            if (op == 1 && p == FEED_FOLLOW_CELEBRITY)
                continue;
            const char *values[] = { ops[op], paths[p] };
            feed_metrics.follow_updates[op][p] = metrics_series(fu, 2, names, values);
        }
}

static void pack_kv(msgpack_packer *pk, const char *key, int64_t v)
{
    rpc_pack_cstr(pk, key);
    msgpack_pack_int64(pk, v);
}

void feed_metrics_pack_stats(msgpack_packer *pk)
{
    const feed_metrics_t *m = &feed_metrics;
    msgpack_pack_map(pk, 10);
    pack_kv(pk, "feed_cache_hits", (int64_t)m->feed_hits->count);
    pack_kv(pk, "feed_cache_misses", (int64_t)m->feed_misses->count);
    pack_kv(pk, "post_cache_hits", (int64_t)m->post_hits->count);
    pack_kv(pk, "post_cache_misses", (int64_t)m->post_misses->count);
    pack_kv(pk, "feed_rebuilds", (int64_t)m->feed_rebuilds_total->count);
    pack_kv(pk, "pg_fallbacks", (int64_t)m->pg_fallbacks_total->count);
    pack_kv(pk, "fanout_posts", (int64_t)m->fanout_posts_total->count);
    pack_kv(pk, "fanout_deliveries", (int64_t)m->fanout_deliveries_total->count);
    pack_kv(pk, "fanout_queue_depth", (int64_t)m->fanout_queue_depth->value);
    /* Extra keys the contract allows: the lag distribution's count and sum
     * let a caller compute the mean lag. */
    pack_kv(pk, "fanout_lag_ms_total", (int64_t)(m->fanout_lag_seconds->value * 1000.0));
}
