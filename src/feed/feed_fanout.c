#include "feed/feed_fanout.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_cmd.h"
#include "feed/feed_job.h"
#include "feed/feed_metrics.h"
#include "feed/feed_scripts.h"
#include "util/log.h"

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
    rds_args_t args;               /* the worker's own commands (stream, side) */
};

struct fanout_job {
    feed_fanout_t *f;
    char entry[48];
    feed_job_t job;
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
    rds_args_free(&f->args);
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
    log_warn("fanout", "job %s (%c, post %" PRId64 ") left queued: %s", j->entry,
             (char)j->job.type, j->job.post, why);
    /* Read our own pending entries again once the worker is idle. */
    j->f->own_pending = true;
    job_free(j);
}

static void on_acked(rds_batch_t *b, void *arg)
{
    fanout_job_t *j = arg;
    if (j->job.type == FEED_JOB_POST) {
        metric_inc(feed_metrics.fanout_posts_total);
        double lag = (double)(feed_now_ms() - j->job.pub) / 1000.0;
        metric_observe(feed_metrics.fanout_lag_seconds, lag < 0 ? 0 : lag);
    }
    if (feed_metrics.fanout_queue_depth->value > 0)
        metric_gauge_add(feed_metrics.fanout_queue_depth, -1);
    job_free(j);
}

static void job_ack(fanout_job_t *j)
{
    rds_batch_clear(j->batch);
    rds_args_t *a = &j->args;
    rds_args_reset(a);
    rds_args_str(a, "XACK");
    rds_args_str(a, j->f->stream);
    rds_args_str(a, FANOUT_GROUP);
    rds_args_str(a, j->entry);
    rds_batch_add(j->batch, a);
    rds_args_reset(a);
    rds_args_str(a, "XDEL");
    rds_args_str(a, j->f->stream);
    rds_args_str(a, j->entry);
    rds_batch_add(j->batch, a);
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
    if (j->job.type == FEED_JOB_POST) {
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
    const feed_job_t *job = &j->job;
    rds_args_t *a = &j->args;
    if (job->type == FEED_JOB_DELETE) {
        feed_args_eval(a, feed_script_remove, (int)n);
        for (size_t i = 0; i < n; i++)
            rds_args_key(a, rds_key_feed, e->prefix, ids[i]);
        rds_args_int(a, job->post);
    } else {
        feed_args_eval(a, feed_script_push, (int)(2 * n));
        for (size_t i = 0; i < n; i++) {
            rds_args_key(a, rds_key_feed, e->prefix, ids[i]);
            rds_args_key(a, rds_key_unfollowed, e->prefix, ids[i]);
        }
        if (job->type == FEED_JOB_MARK) {
            rds_args_addf(a, FEED_MEMBER_CELEB "%" PRId64, job->author);
            rds_args_int(a, FEED_SCORE_CELEB);
        } else {
            rds_args_int(a, job->post);
            rds_args_int(a, job->ts);
        }
        rds_args_int(a, e->feed_max);
        rds_args_int(a, job->author);
        rds_args_str(a, "2");           /* stride: (feed, unfollowed set) pairs */
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
        ids[n++] = j->job.author;   /* the author's own home feed */
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
    const int64_t params[] = { j->job.author, j->last_follower, FANOUT_PAGE };
    pg_query_i64(j->f->e->pg, PGQ_followers_page, params, on_followers, j);
}

/* A stream entry's [field, value, ...] reply as a job. */
static int job_decode(feed_job_t *job, const redisReply *fields)
{
    feed_job_field_t f[16];
    size_t n = 0;
    for (size_t i = 0; i + 1 < fields->elements && n < sizeof f / sizeof f[0]; i += 2) {
        const redisReply *name = fields->element[i], *value = fields->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
            return -1;
        f[n++] = (feed_job_field_t){ name->str, name->len, value->str, value->len };
    }
    return feed_job_decode(job, f, n);
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
    /* Jobs running at once spread over the pool's connections; each job's
     * own commands stay in order on one. */
    j->batch = rds_batch_new(f->e->redis, (unsigned)f->jobs);
    if (fields->type != REDIS_REPLY_ARRAY) {
        /* Deleted from the stream while pending (XDEL raced a claim). */
        job_ack(j);
        return;
    }
    j->first_page = true;
    if (job_decode(&j->job, fields) != 0) {
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
static void side_command(feed_fanout_t *f, rds_reply_fn *cb);

/* Starts the worker's args over with cmd followed by the stream key. */
static rds_args_t *stream_args(feed_fanout_t *f, const char *cmd)
{
    rds_args_reset(&f->args);
    rds_args_str(&f->args, cmd);
    rds_args_str(&f->args, f->stream);
    return &f->args;
}

static void send_args(feed_fanout_t *f, rds_pool_t *pool, rds_reply_fn *cb)
{
    rds_send(pool, 0, &f->args, cb, f);
}

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
        rds_args_reset(&f->args);
        rds_args_str(&f->args, "CONFIG");
        rds_args_str(&f->args, "GET");
        rds_args_str(&f->args, "zset-max-listpack-entries");
        side_command(f, on_listpack_config);
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
        rds_args_reset(&f->args);
        rds_args_str(&f->args, "XGROUP");
        rds_args_str(&f->args, "CREATE");
        rds_args_str(&f->args, f->stream);
        rds_args_str(&f->args, FANOUT_GROUP);
        rds_args_str(&f->args, "0");
        rds_args_str(&f->args, "MKSTREAM");
        send_args(f, f->e->redis, on_group);
        f->reading = true;
        return;
    }
    int room = FANOUT_CONCURRENCY - f->jobs;
    /* Our own pending entries are read only while no job runs, or a running
     * one would be started twice. */
    if (room <= 0 || (f->own_pending && f->jobs > 0))
        return;
    rds_args_t *a = &f->args;
    rds_args_reset(a);
    rds_args_str(a, "XREADGROUP");
    rds_args_str(a, "GROUP");
    rds_args_str(a, FANOUT_GROUP);
    rds_args_str(a, f->consumer);
    rds_args_str(a, "COUNT");
    rds_args_int(a, room);
    rds_args_str(a, "BLOCK");
    rds_args_int(a, FANOUT_BLOCK_MS);
    rds_args_str(a, "STREAMS");
    rds_args_str(a, f->stream);
    rds_args_str(a, f->own_pending ? "0" : ">");
    send_args(f, f->blocking, on_read);
    f->reading = true;
}

/* ---- periodic: queue depth, abandoned jobs ----------------------------- */

/* Commands whose callbacks take the worker as privdata are counted, so that
 * it is freed only after the last one is answered. */
static void side_command(feed_fanout_t *f, rds_reply_fn *cb)
{
    send_args(f, f->e->redis, cb);
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
    stream_args(f, "XLEN");
    side_command(f, on_xlen);
    if (++f->ticks % FANOUT_CLAIM_EVERY_TICKS == 0 && f->group_ready &&
        f->jobs < FANOUT_CONCURRENCY) {
        rds_args_t *a = stream_args(f, "XAUTOCLAIM");
        rds_args_str(a, FANOUT_GROUP);
        rds_args_str(a, f->consumer);
        rds_args_int(a, FANOUT_CLAIM_IDLE_MS);
        rds_args_str(a, "0-0");
        rds_args_str(a, "COUNT");
        rds_args_int(a, FANOUT_CONCURRENCY - f->jobs);
        side_command(f, on_claimed);
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
    rds_args_init(&f->args);
    f->blocking = rds_pool_create(e->loop, &url, &o);
    if (!f->blocking) {
        rds_args_free(&f->args);
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
