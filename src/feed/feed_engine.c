#include "feed/feed_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "feed/feed_celebs.h"
#include "feed/feed_flight.h"
#include "feed/feed_guess.h"
#include "feed/feed_shard.h"
#include "util/buf.h"

feed_engine_t *feed_engine_create(uv_loop_t *loop, rds_pool_t *redis, pg_pool_t *pg,
                                  const feed_options_t *o)
{
    feed_engine_t *e = fc_xcalloc(1, sizeof *e);
    e->loop = loop;
    e->redis = redis;
    e->pg = pg;
    e->pg_read = o->pg_read;
    snprintf(e->prefix, sizeof e->prefix, "%s", o->key_prefix);
    e->feed_max = o->feed_max;
    e->feed_ttl_ms = o->feed_ttl_ms;
    e->post_ttl_s = o->post_ttl_s;
    e->celebrity_threshold = o->celebrity_threshold;
    e->celebrity_cache_ms = o->celebrity_cache_ms;
    e->fanout_queue_max = o->fanout_queue_max;
    e->fanout_shards = feed_shards_resolve(o->fanout_shards, rds_pool_is_cluster(redis));
    e->wait_replicas = o->wait_replicas;
    e->wait_timeout_ms = o->wait_timeout_ms;
    e->max_rebuilds = o->max_rebuilds;
    e->pg_backlog_max = o->pg_backlog_max;
    /* Rebuild tokens must differ across instances too: a placeholder is
     * owned by its token, and a rebuild whose placeholder was dropped
     * (invalidate, follow) must not find a newer rebuild's placeholder,
     * on another instance, under the same token and fill it with rows read
     * before the drop. A random start makes two instances' token ranges
     * meet with negligible odds; the clock and pid used before could start
     * two containers (pid 1 both) booted alike close together. */
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = ((uint64_t)uv_hrtime() << 16) ^ (uint64_t)getpid();
    e->next_token = rnd;
    list_init(&e->rebuild_polls);
    list_init(&e->rebuild_sheds);
    e->flights = feed_flights_new();
    e->guess = feed_guess_new();
    e->celebs = feed_celebs_new(o->celebrity_cache_ms);
    return e;
}

int64_t feed_engine_ttl_margin_ms(const feed_engine_t *e)
{
    int64_t margin = e->feed_ttl_ms / 16;
    return margin < FEED_TTL_MARGIN_MAX_MS ? margin : FEED_TTL_MARGIN_MAX_MS;
}

int64_t feed_engine_ttl_set_ms(const feed_engine_t *e)
{
    return e->feed_ttl_ms + feed_engine_ttl_margin_ms(e);
}

bool feed_engine_pg_saturated(const feed_engine_t *e)
{
    return e->pg_backlog_max > 0 && pg_pool_queued(e->pg) >= (unsigned)e->pg_backlog_max;
}

pg_pool_t *feed_engine_pg_lagging(const feed_engine_t *e)
{
    return e->pg_read && pg_pool_ready(e->pg_read) > 0 ? e->pg_read : e->pg;
}

void feed_engine_free(feed_engine_t *e)
{
    if (!e)
        return;
    feed_flights_free(e->flights);
    feed_guess_free(e->guess);
    feed_celebs_free(e->celebs);
    free(e->known_celebs);
    free(e);
}
