#include "feed/feed_engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "feed/feed_fanout.h"
#include "feed/feed_flight.h"
#include "feed/feed_read.h"
#include "util/log.h"

feed_engine_t *feed_engine_create(uv_loop_t *loop, rds_pool_t *redis, pg_pool_t *pg,
                                  const settings_t *st)
{
    feed_engine_t *e = fc_xcalloc(1, sizeof *e);
    e->loop = loop;
    e->redis = redis;
    e->pg = pg;
    snprintf(e->prefix, sizeof e->prefix, "%s", st->key_prefix);
    e->feed_max = (int64_t)st->feed_max;
    e->feed_ttl_ms = (int64_t)st->feed_ttl * 1000;
    e->post_ttl_s = (int64_t)st->post_ttl;
    e->celebrity_threshold = (int64_t)st->celebrity_threshold;
    e->next_token = ((uint64_t)uv_hrtime() << 16) ^ (uint64_t)getpid();
    feed_flight_init(e);
    return e;
}

int feed_engine_start_fanout(feed_engine_t *e, const char *redis_url, const char *consumer,
                             unsigned timeout_ms)
{
    e->fanout = feed_fanout_start(e, redis_url, consumer, timeout_ms);
    return e->fanout ? 0 : -1;
}

void feed_engine_stop(feed_engine_t *e)
{
    e->stopping = true;
    if (e->fanout)
        feed_fanout_stop(e->fanout);
}

void feed_engine_free(feed_engine_t *e)
{
    if (!e)
        return;
    feed_flight_free(e);
    feed_read_guess_reset();
    free(e);
}

void feed_args_eval(rds_args_t *a, const char *script, int nkeys)
{
    rds_args_reset(a);
    rds_args_str(a, "EVAL");
    rds_args_str(a, script);
    rds_args_int(a, nkeys);
}

void feed_args_key(rds_args_t *a, size_t (*build)(char *, size_t, const char *, int64_t),
                   const feed_engine_t *e, int64_t id)
{
    char key[RDS_KEY_MAX];
    size_t n = build(key, sizeof key, e->prefix, id);
    rds_args_add(a, key, n);
}

int64_t feed_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void feed_pg_array(buf_t *out, const int64_t *ids, size_t n)
{
    buf_reset(out);
    buf_puts(out, "{");
    for (size_t i = 0; i < n; i++)
        buf_printf(out, i ? ",%" PRId64 : "%" PRId64, ids[i]);
    buf_puts(out, "}");
}
