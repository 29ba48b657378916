#include "feed/feed_fanout.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_metrics.h"
#include "feed/feed_scripts.h"
#include "feed/feed_write.h"
#include "util/log.h"

#define FANOUT_RETRY_MS 500
#define FANOUT_TICK_MS 1000
#define FANOUT_CLAIM_EVERY_TICKS 10

static const char fanout_script_remove[] =
    "for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end\n"
    "return #KEYS\n";

typedef struct fanout_job fanout_job_t;

struct feed_fanout {
    feed_engine_t *e;
    rds_pool_t *blocking;          /* XREADGROUP BLOCK only */
    char stream[RDS_KEY_MAX];
    char consumer[128];
    bool group_ready;
    bool reading;                  /* an XREADGROUP is outstanding */
    bool own_pending;              /* next read: our own unacknowledged entries */
    bool stopping;
    int jobs;
    int ticks;
    int side_commands;             /* XLEN, XAUTOCLAIM, CONFIG GET in flight */
    uv_timer_t tick;
    uv_timer_t retry;
    int handles;
};

struct fanout_job {
    feed_fanout_t *f;
    char entry[48];
    char type;
    int64_t post, author, ts, pub;
    int64_t last_follower;
    bool first_page;
    int64_t delivered;
    rds_batch_t *batch;
    rds_args_t args;
};

static void read_jobs(feed_fanout_t *f);

static void fanout_maybe_free(feed_fanout_t *f)
{
    if (!f->stopping || f->jobs > 0 || f->reading || f->handles > 0 || f->side_commands > 0)
        return;
    if (f->blocking) {
        rds_pool_close(f->blocking);
        f->blocking = NULL;
    }
    free(f);
}

static void on_handle_closed(uv_handle_t *h)
{
    feed_fanout_t *f = h->data;
    f->handles--;
    fanout_maybe_free(f);
}

/* ---- jobs -------------------------------------------------------------- */

static void job_free(fanout_job_t *j)
{
    feed_fanout_t *f = j->f;
    rds_batch_free(j->batch);
    rds_args_free(&j->args);
    free(j);
    f->jobs--;
    if (f->stopping)
        fanout_maybe_free(f);
    else
        read_jobs(f);
}

static void job_failed(fanout_job_t *j, const char *why)
{
    log_warn("fanout", "job %s (%c, post %" PRId64 ") left queued: %s", j->entry, j->type,
             j->post, why);
    /* Read our own pending entries again once the worker is idle. */
    j->f->own_pending = true;
    job_free(j);
}

static void on_acked(rds_batch_t *b, void *arg)
{
    fanout_job_t *j = arg;
    if (j->type == 'p') {
        metric_inc(feed_metrics.fanout_posts_total);
        double lag = (double)(feed_now_ms() - j->pub) / 1000.0;
        metric_observe(feed_metrics.fanout_lag_seconds, lag < 0 ? 0 : lag);
    }
    if (feed_metrics.fanout_queue_depth->value > 0)
        metric_gauge_add(feed_metrics.fanout_queue_depth, -1);
    job_free(j);
}

static void job_ack(fanout_job_t *j)
{
    rds_batch_clear(j->batch);
    rds_args_reset(&j->args);
    rds_args_str(&j->args, "XACK");
    rds_args_str(&j->args, j->f->stream);
    rds_args_str(&j->args, FANOUT_GROUP);
    rds_args_str(&j->args, j->entry);
    rds_batch_add(j->batch, &j->args);
    rds_args_reset(&j->args);
    rds_args_str(&j->args, "XDEL");
    rds_args_str(&j->args, j->f->stream);
    rds_args_str(&j->args, j->entry);
    rds_batch_add(j->batch, &j->args);
    rds_batch_wait(j->batch, on_acked, j);
}

static void job_next_page(fanout_job_t *j);

static void on_delivered(rds_batch_t *b, void *arg)
{
    fanout_job_t *j = arg;
    int64_t n = 0;
    for (size_t i = 0; i < rds_batch_count(b); i++) {
        int64_t v;
        if (rds_reply_int(rds_batch_reply(b, i), &v) != 0) {
            const redisReply *r = rds_batch_reply(b, i);
            job_failed(j, r && r->str ? r->str : "Redis unavailable");
            return;
        }
        n += v;
    }
    if (j->type == 'p') {
        j->delivered += n;
        metric_add(feed_metrics.fanout_deliveries_total, (uint64_t)n);
    }
    if (j->last_follower < 0)        /* the last page was delivered */
        job_ack(j);
    else
        job_next_page(j);
}

/* One EVAL for up to FANOUT_CHUNK feeds. ids[0..n) are their owners. */
static void add_delivery(fanout_job_t *j, const int64_t *ids, size_t n)
{
    feed_engine_t *e = j->f->e;
    rds_args_t *a = &j->args;
    if (j->type == 'd') {
        feed_args_eval(a, fanout_script_remove, (int)n);
        for (size_t i = 0; i < n; i++)
            feed_args_key(a, rds_key_feed, e, ids[i]);
        rds_args_int(a, j->post);
    } else {
        feed_args_eval(a, feed_script_push, (int)(2 * n));
        for (size_t i = 0; i < n; i++) {
            feed_args_key(a, rds_key_feed, e, ids[i]);
            feed_args_key(a, rds_key_unfollowed, e, ids[i]);
        }
        if (j->type == 'm') {
            rds_args_addf(a, "c:%" PRId64, j->author);
            rds_args_int(a, FEED_SCORE_CELEB);
        } else {
            rds_args_int(a, j->post);
            rds_args_int(a, j->ts);
        }
        rds_args_int(a, e->feed_max);
        rds_args_int(a, j->author);
        rds_args_str(a, "2");
    }
    rds_batch_add(j->batch, a);
}

static void on_followers(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    fanout_job_t *j = arg;
    if (status != PG_OK) {
        job_failed(j, errmsg ? errmsg : "PostgreSQL unavailable");
        return;
    }
    int rows = PQntuples(res);
    int64_t *ids = fc_xmalloc(((size_t)rows + 1) * sizeof *ids);
    size_t n = 0;
    if (j->first_page) {
        ids[n++] = j->author;       /* the author's own home feed */
        j->first_page = false;
    }
    for (int i = 0; i < rows; i++)
        ids[n++] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    j->last_follower = rows == FANOUT_PAGE ? ids[n - 1] : -1;
    rds_batch_clear(j->batch);
    for (size_t i = 0; i < n; i += FANOUT_CHUNK)
        add_delivery(j, ids + i, n - i < FANOUT_CHUNK ? n - i : FANOUT_CHUNK);
    free(ids);
    rds_batch_wait(j->batch, on_delivered, j);
}

static void job_next_page(fanout_job_t *j)
{
    char author[24], after[24], limit[24];
    snprintf(author, sizeof author, "%" PRId64, j->author);
    snprintf(after, sizeof after, "%" PRId64, j->last_follower);
    snprintf(limit, sizeof limit, "%d", FANOUT_PAGE);
    const char *params[] = { author, after, limit };
    if (pg_query(j->f->e->pg, PGQ_followers_page, 3, params, NULL, NULL, 0, on_followers, j) != 0)
        job_failed(j, "PostgreSQL is not connected");
}

static int64_t field_int(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0)
            return strtoll(fields->element[i + 1]->str, NULL, 10);
    return 0;
}

static const char *field_str(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    return "";
}

/* entry: [id, [field, value, ...]] */
static void job_start(feed_fanout_t *f, const redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *fields = entry->element[1];
    fanout_job_t *j = fc_xcalloc(1, sizeof *j);
    j->f = f;
    snprintf(j->entry, sizeof j->entry, "%s", entry->element[0]->str);
    f->jobs++;
    rds_args_init(&j->args);
    j->batch = rds_batch_new(f->e->redis, (unsigned)f->jobs);
    if (fields->type != REDIS_REPLY_ARRAY) {
        /* Deleted from the stream while pending (XDEL raced a claim). */
        job_ack(j);
        return;
    }
    j->type = field_str(fields, "t")[0];
    j->post = field_int(fields, "p");
    j->author = field_int(fields, "a");
    j->ts = field_int(fields, "ts");
    j->pub = field_int(fields, "pub");
    j->first_page = true;
    if ((j->type != 'p' && j->type != 'm' && j->type != 'd') || j->author <= 0) {
        log_warn("fanout", "dropping malformed job %s", j->entry);
        job_ack(j);
        return;
    }
    job_next_page(j);
}

/* ---- reading the stream ------------------------------------------------ */

static void start_entries(feed_fanout_t *f, const redisReply *entries)
{
    if (!entries || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements; i++)
        job_start(f, entries->element[i]);
}

static void on_retry(uv_timer_t *t)
{
    read_jobs(t->data);
}

static void retry_later(feed_fanout_t *f)
{
    if (!f->stopping)
        uv_timer_start(&f->retry, on_retry, FANOUT_RETRY_MS, 0);
}

static void on_read(redisReply *reply, void *arg)
{
    feed_fanout_t *f = arg;
    f->reading = false;
    if (f->stopping) {
        fanout_maybe_free(f);
        return;
    }
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply && strncmp(reply->str, "NOGROUP", 7) == 0)
            f->group_ready = false;     /* the stream was deleted (FLUSHDB) */
        retry_later(f);
        return;
    }
    bool got = false;
    /* [[stream, [entries...]]] or nil after BLOCK with nothing new */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2) {
        const redisReply *entries = reply->element[0]->element[1];
        got = entries->type == REDIS_REPLY_ARRAY && entries->elements > 0;
        start_entries(f, entries);
    }
    if (f->own_pending && !got)
        f->own_pending = false;         /* our backlog is done: new entries next */
    read_jobs(f);
}

/* Feeds are sorted sets of up to feed_max entries: as listpacks they take
 * about 6x less memory than as skiplists (docs/OPERATIONS.md). Checked once
 * Redis answers; a warning, since the cache still works. */
static bool side_done(feed_fanout_t *f);
static void side_command(feed_fanout_t *f, rds_reply_fn *cb, int argc, const char *const *argv,
                         const size_t *lens);

static void on_listpack_config(redisReply *reply, void *arg)
{
    feed_fanout_t *f = arg;
    if (!side_done(f))
        return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
        return;
    long long entries = strtoll(reply->element[1]->str, NULL, 10);
    if (entries < f->e->feed_max + 16)
        log_warn("fanout", "Redis zset-max-listpack-entries is %lld, below feed_max (%" PRId64
                 ") + 16: feeds will be stored as skiplists, about 6x the memory; set it to %"
                 PRId64 " or more", entries, f->e->feed_max, f->e->feed_max + 16);
}

static void on_group(redisReply *reply, void *arg)
{
    feed_fanout_t *f = arg;
    f->reading = false;
    if (f->stopping) {
        fanout_maybe_free(f);
        return;
    }
    if (reply && (reply->type != REDIS_REPLY_ERROR || strncmp(reply->str, "BUSYGROUP", 9) == 0)) {
        f->group_ready = true;
        f->own_pending = true;
        const char *argv[] = { "CONFIG", "GET", "zset-max-listpack-entries" };
        size_t lens[] = { 6, 3, 25 };
        side_command(f, on_listpack_config, 3, argv, lens);
        read_jobs(f);
        return;
    }
    retry_later(f);
}

static void read_jobs(feed_fanout_t *f)
{
    if (f->stopping || f->reading)
        return;
    if (!f->group_ready) {
        /* From the start of the stream ("0"): jobs queued before the group
         * existed are not skipped. */
        const char *argv[] = { "XGROUP", "CREATE", f->stream, FANOUT_GROUP, "0", "MKSTREAM" };
        size_t lens[6];
        for (int i = 0; i < 6; i++)
            lens[i] = strlen(argv[i]);
        if (rds_command_argv(f->e->redis, 0, on_group, f, 6, argv, lens) == 0)
            f->reading = true;
        else
            retry_later(f);
        return;
    }
    int room = FANOUT_CONCURRENCY - f->jobs;
    /* Our own pending entries are read only while no job runs, or a running
     * one would be started twice. */
    if (room <= 0 || (f->own_pending && f->jobs > 0))
        return;
    char count[16];
    snprintf(count, sizeof count, "%d", room);
    const char *argv[] = { "XREADGROUP", "GROUP", FANOUT_GROUP, f->consumer, "COUNT", count,
                           "BLOCK", "1000", "STREAMS", f->stream, f->own_pending ? "0" : ">" };
    int argc = 11;
    size_t lens[11];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (rds_command_argv(f->blocking, 0, on_read, f, argc, argv, lens) == 0)
        f->reading = true;
    else
        retry_later(f);
}

/* ---- periodic: queue depth, abandoned jobs ----------------------------- */

/* Commands whose callbacks take the worker as privdata are counted, so that
 * it is freed only after the last one is answered. */
static void side_command(feed_fanout_t *f, rds_reply_fn *cb, int argc, const char *const *argv,
                         const size_t *lens)
{
    if (rds_command_argv(f->e->redis, 0, cb, f, argc, argv, lens) == 0)
        f->side_commands++;
}

/* Returns true when the worker may still be used. */
static bool side_done(feed_fanout_t *f)
{
    f->side_commands--;
    if (f->stopping) {
        fanout_maybe_free(f);
        return false;
    }
    return true;
}

static void on_xlen(redisReply *reply, void *arg)
{
    if (!side_done(arg))
        return;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        metric_set(feed_metrics.fanout_queue_depth, (double)reply->integer);
}

static void on_claimed(redisReply *reply, void *arg)
{
    feed_fanout_t *f = arg;
    if (!side_done(f))
        return;
    /* [next-cursor, [entries...], [deleted ids...]] */
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
        return;
    if (reply->element[1]->elements > 0)
        log_info("fanout", "claimed %zu abandoned jobs", reply->element[1]->elements);
    start_entries(f, reply->element[1]);
}

static void on_tick(uv_timer_t *t)
{
    feed_fanout_t *f = t->data;
    if (f->stopping)
        return;
    const char *xlen[] = { "XLEN", f->stream };
    size_t xlen_lens[] = { 4, strlen(f->stream) };
    side_command(f, on_xlen, 2, xlen, xlen_lens);
    if (++f->ticks % FANOUT_CLAIM_EVERY_TICKS == 0 && f->group_ready &&
        f->jobs < FANOUT_CONCURRENCY) {
        char idle[16], count[16];
        snprintf(idle, sizeof idle, "%d", FANOUT_CLAIM_IDLE_MS);
        snprintf(count, sizeof count, "%d", FANOUT_CONCURRENCY - f->jobs);
        const char *argv[] = { "XAUTOCLAIM", f->stream, FANOUT_GROUP, f->consumer, idle, "0-0",
                               "COUNT", count };
        size_t lens[8];
        for (int i = 0; i < 8; i++)
            lens[i] = strlen(argv[i]);
        side_command(f, on_claimed, 8, argv, lens);
    }
    read_jobs(f);
}

feed_fanout_t *feed_fanout_start(feed_engine_t *e, const char *redis_url, const char *consumer,
                                 unsigned timeout_ms)
{
    rds_url_t url;
    char err[256];
    if (rds_url_parse(redis_url, &url, err, sizeof err) != 0) {
        log_error("fanout", "redis: %s", err);
        return NULL;
    }
    rds_pool_options_t o = {
        .size = 1,
        .timeout_ms = timeout_ms + FANOUT_BLOCK_MS,
        .name = "redis-fanout",
    };
    feed_fanout_t *f = fc_xcalloc(1, sizeof *f);
    f->e = e;
    f->blocking = rds_pool_create(e->loop, &url, &o);
    if (!f->blocking) {
        free(f);
        return NULL;
    }
    rds_key_fanout(f->stream, sizeof f->stream, e->prefix);
    snprintf(f->consumer, sizeof f->consumer, "%s", consumer);
    uv_timer_init(e->loop, &f->tick);
    uv_timer_init(e->loop, &f->retry);
    f->tick.data = f->retry.data = f;
    f->handles = 2;
    uv_timer_start(&f->tick, on_tick, FANOUT_TICK_MS, FANOUT_TICK_MS);
    /* The pools connect in the background: the first read is retried from
     * the timers until Redis answers. */
    retry_later(f);
    return f;
}

void feed_fanout_stop(feed_fanout_t *f)
{
    if (f->stopping)
        return;
    f->stopping = true;
    uv_timer_stop(&f->tick);
    uv_timer_stop(&f->retry);
    uv_close((uv_handle_t *)&f->tick, on_handle_closed);
    uv_close((uv_handle_t *)&f->retry, on_handle_closed);
    /* An outstanding blocking read ends within FANOUT_BLOCK_MS or when the
     * pool closes; closing it now cuts the wait short. */
    if (f->blocking) {
        rds_pool_close(f->blocking);
        f->blocking = NULL;
    }
}
