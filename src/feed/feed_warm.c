/* Warm jobs: scheduling, pacing, the off-peak window, warming one user.
 * See feed_warm.h for the whole picture; feed_warm_job keeps each job's
 * state and its record in Redis.
 *
 * Lifetime: a job holds one reference per thing that will call it back (its
 * timer while open, each user in flight, a page query, a record write, the
 * count query at creation) and is freed when it has ended and the last one
 * came back. The module frees itself once stopped and without jobs, so a
 * shutdown only has to run the loop dry. */
#include "feed/feed_warm.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_cmd.h"
#include "feed/feed_hydrate.h"
#include "feed/feed_metrics.h"
#include "feed/feed_rebuild.h"
#include "feed/feed_scripts.h"
#include "feed/feed_warm_job.h"
#include "rpc/rpc_reply.h"
#include "util/log.h"
#include "util/num.h"
#include "util/window.h"

#define WARM_TICK_MS 1000          /* longest sleep of a job: window, heartbeat */
#define WARM_REBUILD_TRIES 3       /* rebuilds invalidated while building, per attempt */
#define WARM_BURST_S 0.05          /* token bucket depth: this many seconds of rate */

typedef struct feed_warm feed_warm_t;
typedef struct warm_job warm_job_t;
typedef feed_warm_item_t warm_item_t;

struct warm_job {
    feed_warm_job_t st;        /* id, counts, state, queue, record (feed_warm_job.h) */
    feed_warm_t *w;
    warm_job_t *next;
    int refs;
    uint64_t started_ns;

    /* pacing */
    double rate, tokens;
    uint64_t refill_ns, backoff_until_ns;
    int inflight;
    int failures;              /* in a row */
    char last_failure[160];

    /* where users come from: the ids given (all queued at once), or keyset
     * pages of users active in [cutoff_us, upper_us] */
    bool by_activity, source_done, page_pending;
    int64_t cutoff_us, upper_us, last_us, last_id;

    bool marking;              /* a shutdown mark the stop is waiting for */
    rpc_call_t *create_call;   /* the warm call, answered once the record exists */
    uv_timer_t timer;
    bool timer_open;
};

struct feed_warm {
    feed_engine_t *e;
    double rate;
    window_t window;
    feed_warm_busy_fn *busy;
    void *busy_arg;
    warm_job_t *jobs;
    int inflight;              /* users in flight, all jobs */
    double rebuild_ms;         /* moving average of warm rebuilds: is PostgreSQL slow? */
    bool stopping;
    int marks_pending;
    void (*stop_done)(void *);
    void *stop_arg;
};

typedef struct {
    warm_job_t *j;
    warm_item_t item;
    int rebuilds;
    uint64_t start_ns;
    double rebuild_ms;         /* the rebuild's time; < 0 until it is done */
    rds_batch_t *batch;
    rds_args_t args;
    feed_hpost_t *posts;
    size_t nposts;
} warm_user_t;

static void job_pump(warm_job_t *j);
static void job_write(warm_job_t *j);
static void on_written(feed_warm_job_t *st, bool ok);

static feed_warm_t *warm_of(feed_engine_t *e)
{
    return e->warm;
}

static warm_job_t *job_of(feed_warm_job_t *st)
{
    return (warm_job_t *)((char *)st - offsetof(warm_job_t, st));
}

static uint64_t ns_to_ms_ceil(uint64_t ns)
{
    return (ns + 999999) / 1000000;
}

/* ---- lifetime ---------------------------------------------------------------- */

static bool job_ended(const warm_job_t *j)
{
    return feed_warm_job_ended(&j->st);
}

static bool in_window(const feed_warm_t *w)
{
    return window_contains_now(&w->window);
}

static void warm_free(feed_warm_t *w)
{
    if (w->e->warm == w)
        w->e->warm = NULL;
    free(w);
}

static void job_release(warm_job_t *j)
{
    if (--j->refs > 0)
        return;
    feed_warm_t *w = j->w;
    for (warm_job_t **p = &w->jobs; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            break;
        }
    }
    feed_warm_job_release(&j->st);
    free(j);
    if (w->stopping && !w->jobs)
        warm_free(w);
}

static void on_timer_closed(uv_handle_t *h)
{
    job_release(h->data);
}

static void job_close_timer(warm_job_t *j)
{
    if (!j->timer_open)
        return;
    j->timer_open = false;
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, on_timer_closed);
}

static void job_end(warm_job_t *j, feed_warm_state_t state)
{
    bool was_active = !job_ended(j) && !j->create_call;
    j->st.state = state;
    if (was_active)
        metric_gauge_add(feed_metrics.warm_jobs, -1);
    job_close_timer(j);
    job_write(j);
}

static void job_fail(warm_job_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void job_fail(warm_job_t *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->st.error, sizeof j->st.error, fmt, ap);
    va_end(ap);
    log_warn("warm", "job %s failed after %" PRId64 " of %" PRId64 " users: %s", j->st.id,
             j->st.done, j->st.total, j->st.error);
    job_end(j, FEED_WARM_FAILED);
}

static void job_finish(warm_job_t *j)
{
    /* By activity, `total` was counted at the start; users who turned active
     * since moved past the job's upper bound and dropped out of the stream
     * (their own reads keep their feeds warm). They count as done, so a
     * finished job always reads done == total. */
    if (j->st.done < j->st.total)
        j->st.done = j->st.total;
    double secs = (double)(uv_hrtime() - j->started_ns) / 1e9;
    log_info("warm", "job %s finished: %" PRId64 " users in %.1f s (%.1f users/s, target %g)%s",
             j->st.id, j->st.total, secs, secs > 0 ? (double)j->st.total / secs : 0.0, j->rate,
             j->st.skipped ? " (some users were skipped: see warnings)" : "");
    job_end(j, FEED_WARM_FINISHED);
}

/* ---- the warm call's answer, record writes ---------------------------------- */

static void stop_mark_done(feed_warm_t *w, void (**cb)(void *), void **arg)
{
    *cb = NULL;
    if (--w->marks_pending == 0 && w->stop_done) {
        *cb = w->stop_done;
        *arg = w->stop_arg;
        w->stop_done = NULL;
    }
}

static void answer_created(warm_job_t *j, bool ok)
{
    rpc_call_t *call = j->create_call;
    j->create_call = NULL;
    if (!ok || j->w->stopping) {
        rpc_reply_unavailable(call, j->w->stopping ? "shutting down" : "Redis is unavailable");
        if (!job_ended(j)) {
            snprintf(j->st.error, sizeof j->st.error, "%s",
                     ok ? "shutdown" : "could not be started");
            j->st.state = FEED_WARM_FAILED;
            if (ok)
                job_write(j);
        }
        return;
    }
    msgpack_packer *pk = rpc_reply_begin(call);
    msgpack_pack_map(pk, 2);
    rpc_pack_cstr(pk, "job");
    rpc_pack_cstr(pk, j->st.id);
    rpc_pack_cstr(pk, "users");
    msgpack_pack_int64(pk, j->st.total);
    rpc_reply_end(call);
    if (job_ended(j))
        return;                 /* nothing to warm */
    log_info("warm", "job %s: %" PRId64 " users%s at %g users/s", j->st.id, j->st.total,
             j->by_activity ? " (by activity)" : "", j->rate);
    metric_gauge_add(feed_metrics.warm_jobs, 1);
    uv_timer_init(j->w->e->loop, &j->timer);
    j->timer.data = j;
    j->timer_open = true;
    j->refs++;
    job_pump(j);
}

/* The record write holds a reference to the job. */
static void job_write(warm_job_t *j)
{
    if (feed_warm_job_write(&j->st))
        j->refs++;
}

/* A record write came back (feed_warm_written_fn). */
static void on_written(feed_warm_job_t *st, bool ok)
{
    warm_job_t *j = job_of(st);
    void (*done)(void *) = NULL;
    void *done_arg = NULL;
    if (j->create_call) {
        answer_created(j, ok);
    } else if (feed_warm_job_flush(st)) {
        return;                 /* the newer write holds this write's reference */
    } else if (j->marking) {
        j->marking = false;
        stop_mark_done(j->w, &done, &done_arg);
    }
    job_release(j);
    if (done)
        done(done_arg);
}

/* ---- warming one user ---------------------------------------------------------- */

static void user_free(warm_user_t *u)
{
    free(u->posts);
    rds_batch_free(u->batch);
    rds_args_free(&u->args);
    free(u);
}

static void backoff(warm_job_t *j, uint64_t ms, const char *why)
{
    uint64_t until = uv_hrtime() + ms * 1000000;
    if (until > j->backoff_until_ns)
        j->backoff_until_ns = until;
    metric_inc(feed_metrics.warm_backoffs_total);
    log_debug("warm", "job %s yields for %" PRIu64 " ms: %s", j->st.id, ms, why);
}

/* A failure of the job's backends (a user, or a page of users): pause a
 * little longer each time; WARM_MAX_FAILURES in a row fail the job. */
static void job_failure(warm_job_t *j)
{
    if (++j->failures >= WARM_MAX_FAILURES) {
        job_fail(j, "gave up after %d failures in a row (last: %s)", j->failures,
                 j->last_failure);
        return;
    }
    uint64_t ms = 200 * (uint64_t)j->failures;
    backoff(j, ms > 5000 ? 5000 : ms, "backends failing");
}

/* The end of one user: bookkeeping, then the job moves on. failure (NULL on
 * success) may point into u's replies: it is copied before u goes. */
static void user_end(warm_user_t *u, const char *failure_text)
{
    warm_job_t *j = u->j;
    feed_warm_t *w = j->w;
    double rebuild_ms = u->rebuild_ms;
    warm_item_t item = u->item;
    char failure_copy[128];
    const char *failure = NULL;
    if (failure_text) {
        snprintf(failure_copy, sizeof failure_copy, "%s", failure_text);
        failure = failure_copy;
    }
    user_free(u);
    w->inflight--;
    j->inflight--;
    if (!job_ended(j) && !w->stopping) {
        if (!failure) {
            /* A user's last_active_at moved within the range (PostgreSQL's
             * clock behind ours) is streamed twice: done never exceeds total. */
            if (++j->st.done > j->st.total)
                j->st.total = j->st.done;
            j->failures = 0;
            metric_inc(feed_metrics.warm_users_total);
            /* PostgreSQL is slow when rebuilds are, typically: a moving
             * average, so that one outlier does not stall every job. */
            w->rebuild_ms = w->rebuild_ms > 0 ? 0.8 * w->rebuild_ms + 0.2 * rebuild_ms : rebuild_ms;
            if (w->rebuild_ms > WARM_SLOW_MS)
                backoff(j, WARM_SLOW_BACKOFF_MS, "PostgreSQL slow");
        } else {
            metric_inc(feed_metrics.warm_user_failures_total);
            snprintf(j->last_failure, sizeof j->last_failure, "user %" PRId64 ": %s", item.id,
                     failure);
            if (++item.attempts < WARM_USER_ATTEMPTS) {
                feed_warm_job_push(&j->st, item.id, item.attempts);     /* retried later */
            } else {
                log_warn("warm", "job %s: skipping user %" PRId64 " after %d attempts: %s",
                         j->st.id, item.id, item.attempts, failure);
                if (++j->st.done > j->st.total)
                    j->st.total = j->st.done;
                j->st.skipped++;
            }
            job_failure(j);
        }
        job_pump(j);
    }
    job_release(j);
}

/* The rebuild was shed (max_rebuilds running: live reads come first). Not a
 * failure: the user goes back in the queue as it was, and the job yields as
 * when the service is busy. */
static void user_shed(warm_user_t *u)
{
    warm_job_t *j = u->j;
    feed_warm_t *w = j->w;
    warm_item_t item = u->item;
    user_free(u);
    w->inflight--;
    j->inflight--;
    if (!job_ended(j) && !w->stopping) {
        feed_warm_job_push(&j->st, item.id, item.attempts);
        backoff(j, WARM_BUSY_BACKOFF_MS, "service busy (max_rebuilds rebuilds running)");
        job_pump(j);
    }
    job_release(j);
}

static void on_hydrated(int status, bool pg_used, void *arg)
{
    warm_user_t *u = arg;
    user_end(u, status == 0 ? NULL : "PostgreSQL failed reading its newest posts");
}

static void on_touched(rds_batch_t *b, void *arg)
{
    warm_user_t *u = arg;
    const redisReply *r = rds_batch_reply(b, 0);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        user_end(u, r && r->type == REDIS_REPLY_ERROR ? r->str : "Redis did not answer");
        return;
    }
    size_t n = r->elements / 2;
    if (n == 0) {
        user_end(u, NULL);      /* an empty feed (or invalidated meanwhile) */
        return;
    }
    u->posts = fc_xcalloc(n, sizeof *u->posts);
    for (size_t i = 0; i < n; i++) {
        const redisReply *id = r->element[2 * i], *ts = r->element[2 * i + 1];
        if (id->type != REDIS_REPLY_STRING || ts->type != REDIS_REPLY_STRING)
            continue;
        u->posts[u->nposts].id = strtoll(id->str, NULL, 10);
        u->posts[u->nposts].ts = feed_home_ts(strtoll(ts->str, NULL, 10));
        if (u->posts[u->nposts].id > 0)
            u->nposts++;
    }
    if (u->nposts == 0) {
        user_end(u, NULL);
        return;
    }
    feed_hydrate(u->j->w->e, feed_affinity(u->item.id), u->posts, u->nposts,
                 NULL, FEED_HYDRATE_UNCOUNTED, on_hydrated, u);
}

static void on_rebuilt(int status, void *arg)
{
    warm_user_t *u = arg;
    feed_engine_t *e = u->j->w->e;
    if (status == FEED_REBUILD_RETRY && ++u->rebuilds < WARM_REBUILD_TRIES && !u->j->w->stopping) {
        feed_rebuild_home(e, u->item.id, on_rebuilt, u);    /* invalidated while building */
        return;
    }
    u->rebuild_ms = (double)(uv_hrtime() - u->start_ns) / 1e6;
    if (status == FEED_REBUILD_SHED) {
        user_shed(u);
        return;
    }
    if (status != FEED_REBUILD_OK) {
        user_end(u, status == FEED_REBUILD_RETRY ? "invalidated while rebuilding"
                                                 : "rebuild failed (Redis or PostgreSQL)");
        return;
    }
    feed_args_eval(&u->args, feed_script_touch, 1);
    rds_args_key(&u->args, rds_key_feed, e->prefix, u->item.id);
    rds_args_int(&u->args, feed_engine_ttl_set_ms(e));
    rds_args_int(&u->args, WARM_HYDRATE);
    u->batch = rds_batch_new(e->redis, feed_affinity(u->item.id));
    rds_batch_add(u->batch, &u->args);
    rds_batch_wait(u->batch, on_touched, u);
}

static void user_start(warm_job_t *j, warm_item_t item)
{
    warm_user_t *u = fc_xcalloc(1, sizeof *u);
    u->j = j;
    u->item = item;
    u->start_ns = uv_hrtime();
    rds_args_init(&u->args);
    j->refs++;
    j->inflight++;
    j->w->inflight++;
    feed_rebuild_home(j->w->e, item.id, on_rebuilt, u);
}

/* ---- users by activity: keyset pages ------------------------------------------ */

static void on_page(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    warm_job_t *j = arg;
    j->page_pending = false;
    if (!job_ended(j) && !j->w->stopping) {
        if (status != PG_OK) {
            snprintf(j->last_failure, sizeof j->last_failure, "reading active users: %s",
                     errmsg ? errmsg : "PostgreSQL failed");
            job_failure(j);
        } else {
            int rows = PQntuples(res);
            for (int i = 0; i < rows; i++)
                feed_warm_job_push(&j->st, fc_i64(PQgetvalue(res, i, 0)), 0);
            if (rows > 0) {
                j->last_id = strtoll(PQgetvalue(res, rows - 1, 0), NULL, 10);
                j->last_us = strtoll(PQgetvalue(res, rows - 1, 1), NULL, 10);
            }
            if (rows < WARM_PAGE)
                j->source_done = true;
        }
        if (!job_ended(j))
            job_pump(j);
    }
    job_release(j);
}

static void maybe_fetch_page(warm_job_t *j)
{
    if (!j->by_activity || j->source_done || j->page_pending ||
        feed_warm_job_queued(&j->st) >= WARM_PAGE / 2)
        return;
    const int64_t params[] = { j->cutoff_us, j->upper_us, j->last_us, j->last_id, WARM_PAGE };
    pg_query_i64(j->w->e->pg, PGQ_warm_active_page, params, on_page, j);
    j->page_pending = true;
    j->refs++;
}

/* ---- pacing --------------------------------------------------------------------- */

/* Starts the users the token bucket allows; returns how long to sleep. */
static uint64_t job_run(warm_job_t *j, uint64_t now)
{
    feed_warm_t *w = j->w;
    maybe_fetch_page(j);
    if (job_ended(j))
        return 0;
    if (feed_warm_job_queued(&j->st) == 0) {
        if (!j->page_pending && (j->source_done || !j->by_activity) && j->inflight == 0) {
            job_finish(j);
            return 0;
        }
        return WARM_TICK_MS;    /* a page or a user coming back pumps us */
    }
    if (now < j->backoff_until_ns)
        return ns_to_ms_ceil(j->backoff_until_ns - now);
    if (w->busy && w->busy(w->busy_arg)) {
        backoff(j, WARM_BUSY_BACKOFF_MS, "service busy");   /* live traffic first */
        return WARM_BUSY_BACKOFF_MS;
    }
    double burst = fmax(1.0, j->rate * WARM_BURST_S);
    j->tokens = fmin(burst, j->tokens + j->rate * (double)(now - j->refill_ns) / 1e9);
    j->refill_ns = now;
    while (j->tokens >= 1.0 && feed_warm_job_queued(&j->st) > 0 &&
           w->inflight < WARM_MAX_INFLIGHT) {
        j->tokens -= 1.0;
        user_start(j, feed_warm_job_pop(&j->st));
        maybe_fetch_page(j);
        if (job_ended(j))
            return 0;
    }
    if (feed_warm_job_queued(&j->st) == 0)
        return WARM_TICK_MS;
    if (w->inflight >= WARM_MAX_INFLIGHT)
        return 5;               /* users coming back pump us; other jobs' too, soon */
    double wait_ms = ceil((1.0 - j->tokens) / j->rate * 1000.0);
    return wait_ms < 1 ? 1 : wait_ms > WARM_TICK_MS ? WARM_TICK_MS : (uint64_t)wait_ms;
}

static void on_tick(uv_timer_t *t)
{
    job_pump(t->data);
}

static void job_pump(warm_job_t *j)
{
    if (job_ended(j) || j->create_call || j->w->stopping)
        return;
    uint64_t now = uv_hrtime();
    uint64_t sleep_ms = WARM_TICK_MS;
    if (!in_window(j->w)) {
        if (j->st.state != FEED_WARM_PAUSED)
            log_info("warm", "job %s paused: outside warm_window", j->st.id);
        j->st.state = FEED_WARM_PAUSED;
    } else {
        if (j->st.state == FEED_WARM_PAUSED) {
            log_info("warm", "job %s resumed: inside warm_window", j->st.id);
            j->st.state = FEED_WARM_RUNNING;
            j->tokens = 1.0;
            j->refill_ns = now;
        }
        sleep_ms = job_run(j, now);
        if (job_ended(j))
            return;
    }
    if (feed_warm_job_maybe_write(&j->st, now))
        j->refs++;
    uv_timer_start(&j->timer, on_tick, sleep_ms, 0);
}

/* ---- creating a job ----------------------------------------------------------------- */

static warm_job_t *job_new(feed_warm_t *w, double rate)
{
    warm_job_t *j = fc_xcalloc(1, sizeof *j);
    feed_warm_job_init(&j->st, w->e, on_written);
    j->w = w;
    j->rate = rate;
    j->tokens = 1.0;
    j->refill_ns = j->started_ns = uv_hrtime();
    j->next = w->jobs;
    w->jobs = j;
    return j;
}

/* The job exists: write its record; the warm call is answered when it is in. */
static void job_create(warm_job_t *j, rpc_call_t *call)
{
    if (j->st.total == 0)
        j->st.state = FEED_WARM_FINISHED;
    else
        j->st.state = in_window(j->w) ? FEED_WARM_RUNNING : FEED_WARM_PAUSED;
    j->create_call = call;
    job_write(j);
    job_release(j);                 /* the creation's reference: the write holds the job now */
}

static void on_count(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    warm_job_t *j = arg;
    if (status != PG_OK) {
        log_warn("warm", "counting active users failed: %s", errmsg ? errmsg : "?");
        rpc_reply_unavailable(j->create_call, "PostgreSQL is unavailable");
        j->create_call = NULL;
        j->st.state = FEED_WARM_FAILED;
        job_release(j);
        return;
    }
    j->st.total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    job_create(j, j->create_call);
}

void feed_warm_create(feed_engine_t *e, rpc_call_t *call, const feed_warm_req_t *req)
{
    feed_warm_t *w = warm_of(e);
    if (!w || w->stopping) {
        rpc_reply_unavailable(call, "warming is not running");
        return;
    }
    warm_job_t *j = job_new(w, req->has_rate ? req->rate : w->rate);
    j->refs = 1;                    /* the creation */
    if (!req->by_activity) {
        for (size_t i = 0; i < req->nusers; i++)
            feed_warm_job_push(&j->st, req->users[i], 0);
        j->st.total = (int64_t)req->nusers;
        job_create(j, call);
        return;
    }
    /* By activity: a fixed range [now - within, now], counted now, then
     * streamed. Users active again during the job move past `now` and out
     * of the range, so no one is warmed twice. Before year 1 PostgreSQL's
     * timestamps end: clamp there. */
    int64_t within = req->active_within_s;
    j->by_activity = true;
    int64_t now_us = feed_now_ms() * 1000;
    const int64_t floor_s = INT64_C(-62135596800);
    int64_t now_s = now_us / 1000000;
    j->cutoff_us = within >= now_s - floor_s ? floor_s * 1000000 : now_us - within * 1000000;
    j->upper_us = now_us;
    j->last_us = j->cutoff_us;
    j->last_id = 0;
    const int64_t params[] = { j->cutoff_us, j->upper_us };
    j->create_call = call;
    pg_query_i64(w->e->pg, PGQ_warm_active_count, params, on_count, j);
}

const feed_warm_job_t *feed_warm_find(feed_engine_t *e, const char *id)
{
    feed_warm_t *w = warm_of(e);
    for (warm_job_t *j = w ? w->jobs : NULL; j; j = j->next)
        if (!j->create_call && strcmp(j->st.id, id) == 0)
            return &j->st;
    return NULL;
}

/* ---- setup and shutdown --------------------------------------------------------------- */

int feed_warm_start(feed_engine_t *e, const feed_warm_options_t *o, char *err, size_t errlen)
{
    window_t window;
    char why[200];
    if (window_parse(o->window, &window, why, sizeof why) != 0) {
        snprintf(err, errlen, "warm_window: %s", why);
        return -1;
    }
    if (!(o->rate > 0)) {
        snprintf(err, errlen, "warm_rate: must be > 0");
        return -1;
    }
    feed_warm_t *w = fc_xcalloc(1, sizeof *w);
    w->e = e;
    w->rate = o->rate;
    w->window = window;
    w->busy = o->busy;
    w->busy_arg = o->busy_arg;
    e->warm = w;
    return 0;
}

void feed_warm_stop(feed_engine_t *e, void (*done)(void *), void *arg)
{
    feed_warm_t *w = warm_of(e);
    if (!w || w->stopping) {
        if (done)
            done(arg);
        return;
    }
    w->stopping = true;
    w->stop_done = done;
    w->stop_arg = arg;
    w->marks_pending = 1;           /* held until the loop below is through */
    int marked = 0;
    /* Hold every job while marking: a write that fails at once must not free
     * the job under our feet. */
    for (warm_job_t *j = w->jobs; j; j = j->next)
        j->refs++;
    for (warm_job_t *j = w->jobs; j; j = j->next) {
        if (job_ended(j) || j->create_call) {
            job_close_timer(j);
            continue;
        }
        snprintf(j->st.error, sizeof j->st.error, "shutdown");
        j->marking = true;
        w->marks_pending++;
        marked++;
        job_end(j, FEED_WARM_FAILED);
    }
    if (marked)
        log_info("warm", "shutdown: %d warm job(s) marked failed", marked);
    void (*cb)(void *) = NULL;
    void *cb_arg = NULL;
    stop_mark_done(w, &cb, &cb_arg);
    /* Release the holds; the last release of the last job frees w. */
    warm_job_t *j = w->jobs;
    bool empty = j == NULL;
    while (j) {
        warm_job_t *next = j->next;
        job_release(j);
        j = next;
    }
    if (empty)
        warm_free(w);
    if (cb)
        cb(cb_arg);
}
