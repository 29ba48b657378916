/* Cache warming: jobs, pacing, the off-peak window, job state in Redis, and
 * the warm / warm.status handlers. See feed_warm.h for the whole picture.
 *
 * Lifetime: a job holds one reference per thing that will call it back (its
 * timer while open, each user in flight, a page query, a state write, the
 * count query at creation) and is freed when it has ended and the last one
 * came back. The module frees itself once stopped and without jobs, so a
 * shutdown only has to run the loop dry. */
#include "feed/feed_warm.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "feed/feed_engine.h"
#include "feed/feed_hydrate.h"
#include "feed/feed_scripts.h"
#include "metrics/metrics.h"
#include "util/log.h"

#define WARM_TICK_MS 1000          /* longest sleep of a job: window, heartbeat */
#define WARM_PROGRESS_MS 500       /* progress writes at most this often */
#define WARM_HEARTBEAT_MS 60000    /* a quiet job still refreshes its hash */
#define WARM_REBUILD_TRIES 3       /* rebuilds invalidated while building, per attempt */
#define WARM_BURST_S 0.05          /* token bucket depth: this many seconds of rate */
#define WARM_ID_HEX 16

#define WARM_METRICS(ACTION) \
    ACTION(warm_users_total, METRIC_COUNTER, "home feeds warmed by warm jobs") \
    ACTION(warm_user_failures_total, METRIC_COUNTER, \
           "users whose warming failed (retried later)") \
    ACTION(warm_backoffs_total, METRIC_COUNTER, \
           "times a warm job paused to yield: service busy, PostgreSQL slow or failing") \
    ACTION(warm_jobs, METRIC_GAUGE, "warm jobs running or paused on this instance")

typedef struct {
    WARM_METRICS(METRIC_FIELD)
} warm_metrics_t;

static warm_metrics_t warm_metrics;

/* KEYS[1] a home feed; ARGV ttl_ms, n. Slides the TTL of a complete or
 * partial feed and returns its newest n entries (id, score pairs). A
 * "building" placeholder is left alone: it keeps its short TTL in case its
 * rebuilder dies. */
static const char warm_script_touch[] =
    "local s = tonumber(redis.call('ZSCORE', KEYS[1], 's'))\n"
    "if s ~= -1 and s ~= -2 then return {} end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "return redis.call('ZRANGE', KEYS[1], '+inf', '0', 'BYSCORE', 'REV', 'LIMIT', '0', "
    "ARGV[2], 'WITHSCORES')\n";

typedef enum { JOB_RUNNING, JOB_PAUSED, JOB_FINISHED, JOB_FAILED } job_state_t;

static const char *const state_names[] = { "running", "paused", "finished", "failed" };

typedef struct feed_warm feed_warm_t;
typedef struct warm_job warm_job_t;

typedef struct {
    int64_t id;
    int attempts;              /* failed attempts so far */
} warm_item_t;

struct warm_job {
    feed_warm_t *w;
    warm_job_t *next;
    char id[WARM_ID_HEX + 1];
    unsigned affinity;         /* Redis connection for the job's hash: writes stay ordered */
    int refs;
    job_state_t state;
    char error[200];
    int64_t total, done, skipped;
    int64_t started_ms, updated_ms;
    uint64_t started_ns;

    /* pacing */
    double rate, tokens;
    uint64_t refill_ns, backoff_until_ns;
    int inflight;
    int failures;              /* in a row */
    char last_failure[160];

    /* users still to warm: the ids given, or the current keyset pages */
    warm_item_t *queue;
    size_t qhead, qlen, qcap;
    bool by_activity, source_done, page_pending;
    int64_t cutoff_us, upper_us, last_us, last_id;

    /* the job's hash in Redis */
    bool write_inflight, write_dirty, write_failed_logged;
    uint64_t written_ns;
    int64_t written_done;
    job_state_t written_state;
    bool marking;              /* a shutdown mark the stop is waiting for */

    rpc_call_t *create_call;   /* the warm call, answered once the hash exists */
    uv_timer_t timer;
    bool timer_open;
};

struct feed_warm {
    feed_engine_t *e;
    double rate;
    int win_start, win_end;    /* minutes; -1 = always */
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

static feed_warm_t *warm_of(feed_engine_t *e)
{
    return e->warm;
}

static uint64_t ns_to_ms_ceil(uint64_t ns)
{
    return (ns + 999999) / 1000000;
}

/* ---- the window ---------------------------------------------------------- */

static int parse_hhmm(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
        s[3] > '9' || s[4] < '0' || s[4] > '9')
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return -1;
    *out = h * 60 + m;
    return 0;
}

int feed_warm_window_parse(const char *s, int *start_min, int *end_min, char *err, size_t errlen)
{
    *start_min = *end_min = -1;
    if (!s || !*s)
        return 0;
    if (strlen(s) != 11 || s[5] != '-' || parse_hhmm(s, start_min) != 0 ||
        parse_hhmm(s + 6, end_min) != 0) {
        *start_min = *end_min = -1;
        snprintf(err, errlen, "'%s' is not HH:MM-HH:MM (local time, e.g. 02:00-05:00), "
                 "or empty for always", s);
        return -1;
    }
    if (*start_min == *end_min) {
        *start_min = *end_min = -1;
        snprintf(err, errlen, "'%s' is an empty window (start equals end); "
                 "leave it empty to warm at any time", s);
        return -1;
    }
    return 0;
}

bool feed_warm_window_contains(int start_min, int end_min, int m)
{
    if (start_min < 0)
        return true;
    if (start_min < end_min)
        return m >= start_min && m < end_min;
    return m >= start_min || m < end_min;      /* wraps midnight */
}

static bool in_window(const feed_warm_t *w)
{
    if (w->win_start < 0)
        return true;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    return feed_warm_window_contains(w->win_start, w->win_end, tm.tm_hour * 60 + tm.tm_min);
}

/* ---- the queue ------------------------------------------------------------- */

static size_t queue_len(const warm_job_t *j)
{
    return j->qlen - j->qhead;
}

static void queue_push(warm_job_t *j, int64_t id, int attempts)
{
    if (j->qhead > 0 && j->qlen == j->qcap) {
        /* Reuse the consumed front before growing. */
        memmove(j->queue, j->queue + j->qhead, queue_len(j) * sizeof *j->queue);
        j->qlen -= j->qhead;
        j->qhead = 0;
    }
    if (j->qlen == j->qcap) {
        j->qcap = j->qcap ? 2 * j->qcap : 64;
        j->queue = fc_xrealloc(j->queue, j->qcap * sizeof *j->queue);
    }
    j->queue[j->qlen++] = (warm_item_t){ id, attempts };
}

static warm_item_t queue_pop(warm_job_t *j)
{
    warm_item_t it = j->queue[j->qhead++];
    if (j->qhead == j->qlen)
        j->qhead = j->qlen = 0;
    return it;
}

/* ---- lifetime ---------------------------------------------------------------- */

static bool job_ended(const warm_job_t *j)
{
    return j->state == JOB_FINISHED || j->state == JOB_FAILED;
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
    free(j->queue);
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

static void job_end(warm_job_t *j, job_state_t state)
{
    bool was_active = !job_ended(j) && !j->create_call;
    j->state = state;
    if (was_active)
        metric_gauge_add(warm_metrics.warm_jobs, -1);
    job_close_timer(j);
    job_write(j);
}

static void job_fail(warm_job_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void job_fail(warm_job_t *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->error, sizeof j->error, fmt, ap);
    va_end(ap);
    log_warn("warm", "job %s failed after %" PRId64 " of %" PRId64 " users: %s", j->id, j->done,
             j->total, j->error);
    job_end(j, JOB_FAILED);
}

static void job_finish(warm_job_t *j)
{
    /* By activity, `total` was counted at the start; users who turned active
     * since moved past the job's upper bound and dropped out of the stream
     * (their own reads keep their feeds warm). They count as done, so a
     * finished job always reads done == total. */
    if (j->done < j->total)
        j->done = j->total;
    double secs = (double)(uv_hrtime() - j->started_ns) / 1e9;
    log_info("warm", "job %s finished: %" PRId64 " users in %.1f s (%.1f users/s, target %g)%s",
             j->id, j->total, secs, secs > 0 ? (double)j->total / secs : 0.0, j->rate,
             j->skipped ? " (some users were skipped: see warnings)" : "");
    job_end(j, JOB_FINISHED);
}

/* ---- the job's hash in Redis ----------------------------------------------- */

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
        rpc_reply_error(call, RPC_UNAVAILABLE, 1000, "%s",
                        j->w->stopping ? "shutting down" : "Redis is unavailable");
        if (!job_ended(j)) {
            snprintf(j->error, sizeof j->error, "%s", ok ? "shutdown" : "could not be started");
            j->state = JOB_FAILED;
            if (ok)
                job_write(j);
        }
        return;
    }
    msgpack_packer *pk = rpc_reply_begin(call);
    msgpack_pack_map(pk, 2);
    rpc_pack_cstr(pk, "job");
    rpc_pack_cstr(pk, j->id);
    rpc_pack_cstr(pk, "users");
    msgpack_pack_int64(pk, j->total);
    rpc_reply_end(call);
    if (job_ended(j))
        return;                 /* nothing to warm */
    log_info("warm", "job %s: %" PRId64 " users%s at %g users/s", j->id, j->total,
             j->by_activity ? " (by activity)" : "", j->rate);
    metric_gauge_add(warm_metrics.warm_jobs, 1);
    uv_timer_init(j->w->e->loop, &j->timer);
    j->timer.data = j;
    j->timer_open = true;
    j->refs++;
    job_pump(j);
}

static void on_written(rds_batch_t *b, void *arg)
{
    warm_job_t *j = arg;
    bool failed = rds_batch_failed(b) || !rds_batch_reply(b, 0) ||
                  rds_batch_reply(b, 0)->type == REDIS_REPLY_ERROR;
    rds_batch_free(b);
    j->write_inflight = false;
    if (failed && !j->write_failed_logged) {
        j->write_failed_logged = true;
        log_warn("warm", "job %s: cannot write its state to Redis (warm.status may lag)", j->id);
    } else if (!failed) {
        j->write_failed_logged = false;
    }
    void (*done)(void *) = NULL;
    void *done_arg = NULL;
    if (j->create_call) {
        answer_created(j, !failed);
    } else if (j->write_dirty) {
        /* A newer state came meanwhile (when stopping: failed, "shutdown"). */
        j->write_dirty = false;
        job_write(j);
    } else if (j->marking) {
        j->marking = false;
        stop_mark_done(j->w, &done, &done_arg);
    }
    job_release(j);
    if (done)
        done(done_arg);
}

/* HSET the job's fields and refresh the TTL. One write at a time per job, so
 * a later state never lands before an earlier one. */
static void job_write(warm_job_t *j)
{
    if (j->write_inflight) {
        j->write_dirty = true;
        return;
    }
    feed_engine_t *e = j->w->e;
    char key[RDS_KEY_MAX];
    size_t klen = rds_key_warm(key, sizeof key, e->prefix, j->id);
    j->updated_ms = feed_now_ms();
    rds_args_t a;
    rds_args_init(&a);
    rds_args_str(&a, "HSET");
    rds_args_add(&a, key, klen);
    rds_args_str(&a, "done");
    rds_args_int(&a, j->done);
    rds_args_str(&a, "total");
    rds_args_int(&a, j->total);
    rds_args_str(&a, "state");
    rds_args_str(&a, state_names[j->state]);
    rds_args_str(&a, "started_ms");
    rds_args_int(&a, j->started_ms);
    rds_args_str(&a, "updated_ms");
    rds_args_int(&a, j->updated_ms);
    rds_args_str(&a, "error");
    rds_args_str(&a, j->error);
    rds_batch_t *b = rds_batch_new(e->redis, j->affinity);
    rds_batch_add(b, &a);
    rds_args_reset(&a);
    rds_args_str(&a, "EXPIRE");
    rds_args_add(&a, key, klen);
    rds_args_int(&a, WARM_KEEP_S);
    rds_batch_add(b, &a);
    rds_args_free(&a);
    j->write_inflight = true;
    j->written_ns = uv_hrtime();
    j->written_done = j->done;
    j->written_state = j->state;
    j->refs++;
    rds_batch_wait(b, on_written, j);
}

/* Progress goes out when the state changed, else at most every
 * WARM_PROGRESS_MS, and at least every WARM_HEARTBEAT_MS (the TTL). */
static void job_maybe_write(warm_job_t *j, uint64_t now)
{
    uint64_t since_ms = (now - j->written_ns) / 1000000;
    if (j->state != j->written_state ||
        (j->done != j->written_done && since_ms >= WARM_PROGRESS_MS) ||
        since_ms >= WARM_HEARTBEAT_MS)
        job_write(j);
}

/* ---- warming one user ---------------------------------------------------------- */

static void user_free(warm_user_t *u)
{
    if (u->posts)
        for (size_t i = 0; i < u->nposts; i++)
            free(u->posts[i].body);
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
    metric_inc(warm_metrics.warm_backoffs_total);
    log_debug("warm", "job %s yields for %" PRIu64 " ms: %s", j->id, ms, why);
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
            if (++j->done > j->total)
                j->total = j->done;
            j->failures = 0;
            metric_inc(warm_metrics.warm_users_total);
            /* PostgreSQL is slow when rebuilds are, typically: a moving
             * average, so that one outlier does not stall every job. */
            w->rebuild_ms = w->rebuild_ms > 0 ? 0.8 * w->rebuild_ms + 0.2 * rebuild_ms : rebuild_ms;
            if (w->rebuild_ms > WARM_SLOW_MS)
                backoff(j, WARM_SLOW_BACKOFF_MS, "PostgreSQL slow");
        } else {
            metric_inc(warm_metrics.warm_user_failures_total);
            snprintf(j->last_failure, sizeof j->last_failure, "user %" PRId64 ": %s", item.id,
                     failure);
            if (++item.attempts < WARM_USER_ATTEMPTS) {
                queue_push(j, item.id, item.attempts);     /* retried later */
            } else {
                log_warn("warm", "job %s: skipping user %" PRId64 " after %d attempts: %s", j->id,
                         item.id, item.attempts, failure);
                if (++j->done > j->total)
                    j->total = j->done;
                j->skipped++;
            }
            job_failure(j);
        }
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
        u->posts[u->nposts].ts = strtoll(ts->str, NULL, 10);
        if (u->posts[u->nposts].id > 0)
            u->nposts++;
    }
    if (u->nposts == 0) {
        user_end(u, NULL);
        return;
    }
    feed_hydrate(u->j->w->e, (unsigned)u->item.id, u->posts, u->nposts,
                 FEED_HYDRATE_BODIES | FEED_HYDRATE_UNCOUNTED, on_hydrated, u);
}

static void on_rebuilt(feed_rebuild_status_t status, void *arg)
{
    warm_user_t *u = arg;
    feed_engine_t *e = u->j->w->e;
    if (status == FEED_REBUILD_RETRY && ++u->rebuilds < WARM_REBUILD_TRIES && !u->j->w->stopping) {
        feed_rebuild_home(e, u->item.id, on_rebuilt, u);    /* invalidated while building */
        return;
    }
    u->rebuild_ms = (double)(uv_hrtime() - u->start_ns) / 1e6;
    if (status != FEED_REBUILD_OK) {
        user_end(u, status == FEED_REBUILD_RETRY ? "invalidated while rebuilding"
                                                 : "rebuild failed (Redis or PostgreSQL)");
        return;
    }
    feed_args_eval(&u->args, warm_script_touch, 1);
    feed_args_key(&u->args, rds_key_feed, e, u->item.id);
    rds_args_int(&u->args, e->feed_ttl_ms);
    rds_args_int(&u->args, WARM_HYDRATE);
    u->batch = rds_batch_new(e->redis, (unsigned)u->item.id);
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
                queue_push(j, strtoll(PQgetvalue(res, i, 0), NULL, 10), 0);
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
    if (!j->by_activity || j->source_done || j->page_pending || queue_len(j) >= WARM_PAGE / 2)
        return;
    char cutoff[24], upper[24], last_us[24], last_id[24], limit[24];
    snprintf(cutoff, sizeof cutoff, "%" PRId64, j->cutoff_us);
    snprintf(upper, sizeof upper, "%" PRId64, j->upper_us);
    snprintf(last_us, sizeof last_us, "%" PRId64, j->last_us);
    snprintf(last_id, sizeof last_id, "%" PRId64, j->last_id);
    snprintf(limit, sizeof limit, "%d", WARM_PAGE);
    const char *params[] = { cutoff, upper, last_us, last_id, limit };
    if (pg_query(j->w->e->pg, PGQ_warm_active_page, 5, params, NULL, NULL, 0, on_page, j) != 0) {
        /* Not connected: a later pump tries again. */
        snprintf(j->last_failure, sizeof j->last_failure,
                 "reading active users: PostgreSQL is not connected");
        job_failure(j);
        return;
    }
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
    if (queue_len(j) == 0) {
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
    while (j->tokens >= 1.0 && queue_len(j) > 0 && w->inflight < WARM_MAX_INFLIGHT) {
        j->tokens -= 1.0;
        user_start(j, queue_pop(j));
        maybe_fetch_page(j);
        if (job_ended(j))
            return 0;
    }
    if (queue_len(j) == 0)
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
        if (j->state != JOB_PAUSED)
            log_info("warm", "job %s paused: outside warm_window", j->id);
        j->state = JOB_PAUSED;
    } else {
        if (j->state == JOB_PAUSED) {
            log_info("warm", "job %s resumed: inside warm_window", j->id);
            j->state = JOB_RUNNING;
            j->tokens = 1.0;
            j->refill_ns = now;
        }
        sleep_ms = job_run(j, now);
        if (job_ended(j))
            return;
    }
    job_maybe_write(j, now);
    uv_timer_start(&j->timer, on_tick, sleep_ms, 0);
}

/* ---- creating a job ----------------------------------------------------------------- */

static warm_job_t *job_new(feed_warm_t *w, double rate)
{
    warm_job_t *j = fc_xcalloc(1, sizeof *j);
    j->w = w;
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = uv_hrtime() ^ ((uint64_t)getpid() << 32);
    rnd ^= ++w->e->next_token;     /* distinct within the process even if urandom repeats */
    snprintf(j->id, sizeof j->id, "%016" PRIx64, rnd);
    j->affinity = (unsigned)rnd;
    j->rate = rate;
    j->tokens = 1.0;
    j->refill_ns = j->started_ns = uv_hrtime();
    j->started_ms = feed_now_ms();
    j->written_state = JOB_RUNNING;
    j->next = w->jobs;
    w->jobs = j;
    return j;
}

/* The job exists: write its hash; the warm call is answered when it is in. */
static void job_create(warm_job_t *j, rpc_call_t *call)
{
    if (j->total == 0)
        j->state = JOB_FINISHED;
    else
        j->state = in_window(j->w) ? JOB_RUNNING : JOB_PAUSED;
    j->create_call = call;
    job_write(j);
    job_release(j);                 /* the creation's reference: the write holds the job now */
}

static void on_count(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    warm_job_t *j = arg;
    if (status != PG_OK) {
        log_warn("warm", "counting active users failed: %s", errmsg ? errmsg : "?");
        rpc_reply_error(j->create_call, RPC_UNAVAILABLE, 1000, "PostgreSQL is unavailable");
        j->create_call = NULL;
        j->state = JOB_FAILED;
        job_release(j);
        return;
    }
    j->total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    job_create(j, j->create_call);
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* user_ids: an array of positive int64 ids. Returns 0 with the distinct ids
 * (sorted) in *out, or -1 with the reason in err. */
static int parse_user_ids(const msgpack_object *v, int64_t **out, size_t *n, char *err,
                          size_t errlen)
{
    if (v->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(err, errlen, "user_ids: must be an array of user ids");
        return -1;
    }
    uint32_t size = v->via.array.size;
    int64_t *ids = fc_xmalloc((size ? size : 1) * sizeof *ids);
    for (uint32_t i = 0; i < size; i++) {
        const msgpack_object *o = &v->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 < 1 ||
            o->via.u64 > INT64_MAX) {
            snprintf(err, errlen, "user_ids[%u]: must be a positive integer id", i);
            free(ids);
            return -1;
        }
        ids[i] = (int64_t)o->via.u64;
    }
    qsort(ids, size, sizeof *ids, cmp_id);
    size_t k = 0;
    for (uint32_t i = 0; i < size; i++)
        if (k == 0 || ids[k - 1] != ids[i])
            ids[k++] = ids[i];
    *out = ids;
    *n = k;
    return 0;
}

void feed_method_warm(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    feed_warm_t *w = warm_of(engine);
    if (!w || w->stopping) {
        rpc_reply_error(call, RPC_UNAVAILABLE, 1000, "warming is not running");
        return;
    }
    char err[160];
    const msgpack_object *ids_arg = rpc_arg(args, "user_ids");
    int64_t within = 0;
    int rc = rpc_arg_int(args, "active_within_s", 1, INT64_MAX, &within, err, sizeof err);
    if (rc < 0) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", err);
        return;
    }
    if ((ids_arg != NULL) == (rc == 1)) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "user_ids, active_within_s: %s",
                        ids_arg ? "give only one of them" : "one of them is required");
        return;
    }
    double rate = w->rate;
    int rr = rpc_arg_number(args, "rate", &rate, err, sizeof err);
    if (rr < 0 || (rr == 1 && !(rate > 0))) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", rr < 0 ? err : "rate: must be > 0");
        return;
    }
    int64_t *ids = NULL;
    size_t n = 0;
    if (ids_arg && parse_user_ids(ids_arg, &ids, &n, err, sizeof err) != 0) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", err);
        return;
    }

    warm_job_t *j = job_new(w, rate);
    j->refs = 1;                    /* the creation */
    if (ids_arg) {
        for (size_t i = 0; i < n; i++)
            queue_push(j, ids[i], 0);
        free(ids);
        j->total = (int64_t)n;
        job_create(j, call);
        return;
    }
    /* By activity: a fixed range [now - within, now], counted now, then
     * streamed. Users active again during the job move past `now` and out
     * of the range, so no one is warmed twice. Before year 1 PostgreSQL's
     * timestamps end: clamp there. */
    j->by_activity = true;
    int64_t now_us = feed_now_ms() * 1000;
    const int64_t floor_s = INT64_C(-62135596800);
    int64_t now_s = now_us / 1000000;
    j->cutoff_us = within >= now_s - floor_s ? floor_s * 1000000 : now_us - within * 1000000;
    j->upper_us = now_us;
    j->last_us = j->cutoff_us;
    j->last_id = 0;
    char cutoff[24], upper[24];
    snprintf(cutoff, sizeof cutoff, "%" PRId64, j->cutoff_us);
    snprintf(upper, sizeof upper, "%" PRId64, j->upper_us);
    const char *params[] = { cutoff, upper };
    j->create_call = call;
    if (pg_query(w->e->pg, PGQ_warm_active_count, 2, params, NULL, NULL, 0, on_count, j) != 0) {
        on_count(PG_UNAVAILABLE, NULL, "PostgreSQL is not connected", j);
    }
}

/* ---- warm.status ---------------------------------------------------------------------- */

typedef struct {
    rpc_call_t *call;
    char job[RDS_KEY_JOB_MAX + 1];
} status_req_t;

static void pack_status(msgpack_packer *pk, int64_t done, int64_t total, const char *state,
                        const char *error, size_t error_len, int64_t started_ms,
                        int64_t updated_ms)
{
    bool with_error = strcmp(state, "failed") == 0;
    msgpack_pack_map(pk, with_error ? 6 : 5);
    rpc_pack_cstr(pk, "done");
    msgpack_pack_int64(pk, done);
    rpc_pack_cstr(pk, "total");
    msgpack_pack_int64(pk, total);
    rpc_pack_cstr(pk, "state");
    rpc_pack_cstr(pk, state);
    /* Extensions: when the job started and last reported (followers compute
     * its rate, and detect a job whose process died), and why it failed. */
    rpc_pack_cstr(pk, "started_ms");
    msgpack_pack_int64(pk, started_ms);
    rpc_pack_cstr(pk, "updated_ms");
    msgpack_pack_int64(pk, updated_ms);
    if (with_error) {
        rpc_pack_cstr(pk, "error");
        msgpack_pack_str(pk, error_len);
        msgpack_pack_str_body(pk, error, error_len);
    }
}

static int64_t field_int(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

static void on_status(redisReply *r, void *arg)
{
    status_req_t *q = arg;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        rpc_reply_error(q->call, RPC_UNAVAILABLE, 1000, "Redis is unavailable");
    } else if (r->element[2]->type != REDIS_REPLY_STRING) {
        rpc_reply_error(q->call, RPC_NOT_FOUND, -1,
                        "job: no warm job '%s' (jobs are remembered for 1 h after they end)",
                        q->job);
    } else {
        const redisReply *err = r->element[3];
        bool has_err = err->type == REDIS_REPLY_STRING;
        msgpack_packer *pk = rpc_reply_begin(q->call);
        pack_status(pk, field_int(r->element[0]), field_int(r->element[1]), r->element[2]->str,
                    has_err ? err->str : "", has_err ? err->len : 0, field_int(r->element[4]),
                    field_int(r->element[5]));
        rpc_reply_end(q->call);
    }
    free(q);
}

void feed_method_warm_status(rpc_call_t *call, const msgpack_object *args, void *engine)
{
    feed_engine_t *e = engine;
    char err[160];
    const char *job;
    size_t len;
    int rc = rpc_arg_str(args, "job", 1024, &job, &len, err, sizeof err);
    if (rc != 1) {
        rpc_reply_error(call, RPC_BAD_REQUEST, -1, "%s", rc == 0 ? "job: required" : err);
        return;
    }
    char id[RDS_KEY_JOB_MAX + 1], key[RDS_KEY_MAX];
    size_t klen = 0;
    if (len <= RDS_KEY_JOB_MAX && !memchr(job, '\0', len)) {
        memcpy(id, job, len);
        id[len] = '\0';
        klen = rds_key_warm(key, sizeof key, e->prefix, id);
    }
    if (klen == 0) {
        /* Not a shape a job id can have: no such job. */
        rpc_reply_error(call, RPC_NOT_FOUND, -1, "job: no warm job '%.*s'",
                        (int)(len > 64 ? 64 : len), job);
        return;
    }
    /* A job of this instance answers from memory: always current. */
    feed_warm_t *w = warm_of(e);
    for (warm_job_t *j = w ? w->jobs : NULL; j; j = j->next) {
        if (!j->create_call && strcmp(j->id, id) == 0) {
            msgpack_packer *pk = rpc_reply_begin(call);
            pack_status(pk, j->done, j->total, state_names[j->state], j->error,
                        strlen(j->error), j->started_ms,
                        j->updated_ms ? j->updated_ms : feed_now_ms());
            rpc_reply_end(call);
            return;
        }
    }
    status_req_t *q = fc_xcalloc(1, sizeof *q);
    q->call = call;
    memcpy(q->job, id, len + 1);
    const char *argv[] = { "HMGET", key, "done", "total", "state", "error", "started_ms",
                           "updated_ms" };
    const size_t lens[] = { 5, klen, 4, 5, 5, 5, 10, 10 };
    if (rds_command_argv(e->redis, rpc_call_conn_id(call), on_status, q, 8, argv, lens) != 0) {
        free(q);
        rpc_reply_error(call, RPC_UNAVAILABLE, 1000, "Redis is unavailable");
    }
}

/* ---- setup and shutdown --------------------------------------------------------------- */

int feed_warm_start(feed_engine_t *e, const feed_warm_options_t *o, char *err, size_t errlen)
{
    int ws, we;
    char why[200];
    if (feed_warm_window_parse(o->window, &ws, &we, why, sizeof why) != 0) {
        snprintf(err, errlen, "warm_window: %s", why);
        return -1;
    }
    if (!(o->rate > 0)) {
        snprintf(err, errlen, "warm_rate: must be > 0");
        return -1;
    }
#define METRICS_TARGET (&warm_metrics)
    WARM_METRICS(METRIC_REGISTER)
#undef METRICS_TARGET
    feed_warm_t *w = fc_xcalloc(1, sizeof *w);
    w->e = e;
    w->rate = o->rate;
    w->win_start = ws;
    w->win_end = we;
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
        snprintf(j->error, sizeof j->error, "shutdown");
        j->marking = true;
        w->marks_pending++;
        marked++;
        job_end(j, JOB_FAILED);
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
