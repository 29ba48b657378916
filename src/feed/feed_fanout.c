#include "feed/feed_fanout.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_cmd.h"
#include "feed/feed_job.h"
#include "feed/feed_metrics.h"
#include "feed/feed_rounds.h"
#include "feed/feed_scripts.h"
#include "feed/feed_shard.h"
#include "feed/feed_slots.h"
#include "store/redis/rds_slots.h"
#include "util/backoff.h"
#include "util/list.h"
#include "util/log.h"
#include "util/num.h"

typedef struct fanout_job fanout_job_t;

/* One shard of the queue (feed_shard.h): its keys, all in one slot, and
 * this worker's reading of it. */
typedef struct {
    feed_fanout_t *f;
    unsigned index;
    char stream[RDS_KEY_MAX];
    char dead[RDS_KEY_MAX];
    char progress[RDS_KEY_MAX];
    bool group_ready;
    bool reading;                  /* an XREADGROUP (or XGROUP CREATE) is outstanding */
    bool own_pending;              /* next read: our own entries after pending_after */
    char pending_after[48];
    /* Acknowledgements (job_ack): one FANOUT_ACK call in flight per shard;
     * the jobs that finish meanwhile wait in acks and go in the next. */
    rds_batch_t *ack_batch;
    list_t acks;                   /* fanout_job_t.ack_link: waiting for the next call */
    list_t acking;                 /* in the call in flight */
    bool ack_busy;
} fanout_shard_t;

struct feed_fanout {
    feed_engine_t *e;
    rds_pool_t *blocking;          /* XREADGROUP BLOCK only: a connection per shard */
    rds_pool_t *deliver;           /* the jobs' commands: deliveries, progress */
    fanout_shard_t *shards;
    unsigned nshards;
    int reads;                     /* shards with a read outstanding */
    char consumer[FEED_CONSUMER_MAX];
    unsigned max_attempts;
    unsigned claim_idle_ms;
    bool (*busy)(void *arg);
    void *busy_arg;
    rds_batch_t *depth;            /* XLEN of every shard, summed (queue depth) */
    bool depth_busy;
    rds_batch_t *dropped;          /* start-up: shards past nshards that hold jobs */
    bool dropped_checked;
    bool stopping;
    int jobs;                      /* running */
    int nwaiting;
    list_t running, waiting;       /* fanout_job_t.link */
    unsigned next_affinity;
    int pushes;                    /* delivery rounds in flight */
    feed_rounds_t rounds;          /* how many may be (at most FANOUT_PUSH_ROUNDS) */
    list_t push_queue;             /* fanout_job_t.push_link: jobs waiting for a round */
    int side_commands;             /* XLEN, XAUTOCLAIM, heartbeats, CONFIG GET in flight */
    /* Failure handling: see feed_fanout.h. */
    backoff_t backoff;
    uint64_t successes;            /* pages delivered, ever */
    bool failing;                  /* a job failed and nothing succeeded since */
    int64_t failing_since_ms;
    uint64_t failures_in_outage;
    uv_timer_t tick;               /* queue depth */
    uv_timer_t retry;              /* reads: group creation, read errors */
    uv_timer_t wake;               /* waiting jobs */
    uv_timer_t beat;               /* heartbeats and claims */
    uv_timer_t reap;               /* consumers gone for a day */
    int handles;
    rds_args_t args;               /* the worker's own commands (stream, side) */
};

struct fanout_job {
    feed_fanout_t *f;
    fanout_shard_t *shard;         /* the stream it came from */
    list_t link;                   /* in f->running or f->waiting */
    bool running;
    char entry[48];
    feed_job_t job;
    int64_t pos;                   /* next page: followers after this id; -1: all delivered */
    int64_t page_end;              /* the page being delivered ends here (-1: last page) */
    unsigned attempts;             /* counted attempts, this one included */
    uint64_t success_mark;         /* f->successes at the start or the last failure */
    bool resumed;                  /* taken over: its progress is read first */
    bool progress_loaded;          /* (resumed jobs) it was */
    bool lost;                     /* claimed by another consumer: stop, do not ack */
    bool finishing;                /* its FANOUT_ACK or FANOUT_DEAD is in flight */
    list_t ack_link;               /* in shard->acks or shard->acking */
    size_t first_eval;             /* index of the first delivery in the batch */
    /* The page being delivered: its feeds' owners (slot order on a
     * cluster), delivered FANOUT_CHUNK at a time from next. */
    int64_t *ids;
    unsigned *slots;               /* cluster: the slot of each */
    size_t nids, next;
    bool save_progress;            /* the page's first round saves where it starts */
    bool queued;                   /* in f->push_queue */
    int64_t queued_us;             /* since when (feed_rounds: the wait for a round) */
    list_t push_link;
    char dead_reason[160];         /* set: moving to the dead-letter stream */
    rds_batch_t *batch;
    rds_args_t args;
};

static void read_jobs(feed_fanout_t *f);
static void job_run(fanout_job_t *j);
static void job_dead(fanout_job_t *j, const char *reason);
static void on_wake(uv_timer_t *t);

static void fanout_maybe_free(feed_fanout_t *f)
{
    if (!f->stopping || f->jobs > 0 || f->reads > 0 || f->handles > 0 || f->side_commands > 0)
        return;
    if (f->blocking) {
        rds_pool_close(f->blocking);
        f->blocking = NULL;
    }
    if (f->deliver) {
        rds_pool_close(f->deliver);
        f->deliver = NULL;
    }
    rds_batch_free(f->depth);
    rds_batch_free(f->dropped);
    for (unsigned i = 0; i < f->nshards; i++)
        rds_batch_free(f->shards[i].ack_batch);
    rds_args_free(&f->args);
    free(f->shards);
    free(f);
}

static void on_handle_closed(uv_handle_t *h)
{
    feed_fanout_t *f = h->data;
    f->handles--;
    fanout_maybe_free(f);
}

/* ---- jobs -------------------------------------------------------------- */

/* Entry ids are unique within one shard's stream only. */
static fanout_job_t *find_held(feed_fanout_t *f, const fanout_shard_t *s, const char *entry)
{
    list_t *lists[] = { &f->running, &f->waiting };
    for (int k = 0; k < 2; k++)
        list_foreach(pos, lists[k]) {
            fanout_job_t *j = list_entry(pos, fanout_job_t, link);
            if (j->shard == s && strcmp(j->entry, entry) == 0)
                return j;
        }
    return NULL;
}

/* Frees a job that is in neither list. */
static void job_destroy(fanout_job_t *j)
{
    if (j->queued)
        list_remove(&j->push_link);
    free(j->ids);
    free(j->slots);
    rds_batch_free(j->batch);
    rds_args_free(&j->args);
    free(j);
}

/* The end of a running job (done, dead-lettered, lost, or the worker stops). */
static void job_free(fanout_job_t *j)
{
    feed_fanout_t *f = j->f;
    list_remove(&j->link);
    f->jobs--;
    job_destroy(j);
    if (f->stopping)
        fanout_maybe_free(f);
    else
        read_jobs(f);
}

/* A page was delivered: the backends work. */
static void note_success(feed_fanout_t *f)
{
    f->successes++;
    backoff_reset(&f->backoff);
    if (!f->failing)
        return;
    f->failing = false;
    log_info("fanout", "fan-out recovered after %.1f s (%" PRIu64 " failed attempts); "
             "retrying %d waiting jobs", (double)(feed_now_ms() - f->failing_since_ms) / 1000.0,
             f->failures_in_outage, f->nwaiting);
    if (f->nwaiting > 0 && !f->stopping)
        uv_timer_start(&f->wake, on_wake, backoff_next(&f->backoff), 0);
}

/* A running job that failed: waits for the retry timer, or moves to the
 * dead-letter stream when it has failed too often. job_error: the failure
 * is the job's own (Redis refused its command, e.g. WRONGTYPE), not a
 * backend that is down or slow. */
static void job_failed_as(fanout_job_t *j, const char *why, bool job_error)
{
    feed_fanout_t *f = j->f;
    if (j->lost || f->stopping) {
        /* Another consumer has it, or the worker stops: it stays pending. */
        job_free(j);
        return;
    }
    j->finishing = false;
    metric_inc(feed_metrics.fanout_job_failures_total);
    /* An attempt counts if the job's own command was refused, or if other
     * work succeeded since this job's last failure: during an outage nothing
     * does, and jobs keep their attempts. Without the first rule a poison
     * job that fails while nothing else runs would be retried for ever. */
    bool counts = job_error || f->successes != j->success_mark;
    j->success_mark = f->successes;
    if (counts && j->attempts >= f->max_attempts) {
        char reason[160];
        snprintf(reason, sizeof reason, "%s", why);
        job_dead(j, reason);
        return;
    }
    if (counts)
        j->attempts++;
    if (!f->failing) {
        f->failing = true;
        f->failing_since_ms = feed_now_ms();
        f->failures_in_outage = 0;
        log_warn("fanout", "job %s (%c, post %" PRId64 ") failed: %s; failed jobs are retried "
                 "with backoff (logged again when fan-out recovers)", j->entry,
                 (char)j->job.type, j->job.post, why);
    } else {
        log_debug("fanout", "job %s failed (attempt %u): %s", j->entry, j->attempts, why);
    }
    f->failures_in_outage++;
    list_remove(&j->link);
    f->jobs--;
    j->running = false;
    list_insert_tail(&f->waiting, &j->link);
    f->nwaiting++;
    if (!uv_is_active((uv_handle_t *)&f->wake))
        uv_timer_start(&f->wake, on_wake, backoff_next(&f->backoff), 0);
    read_jobs(f);
}

static void job_failed(fanout_job_t *j, const char *why)
{
    job_failed_as(j, why, false);
}

/* A failed Redis reply: NULL (unavailable, timed out) or an error. */
static void job_failed_reply(fanout_job_t *j, const redisReply *r)
{
    bool job_error = r && !rds_error_is_transient(r->str, r->len);
    job_failed_as(j, r && r->str ? r->str : "Redis unavailable", job_error);
}

/* Moves waiting jobs back to running: all of them (as room allows) once
 * something succeeded, else one probe. */
static void on_wake(uv_timer_t *t)
{
    feed_fanout_t *f = t->data;
    if (f->stopping)
        return;
    int n = f->failing ? 1 : FANOUT_CONCURRENCY - f->jobs;
    while (n-- > 0 && !list_empty(&f->waiting)) {
        fanout_job_t *j = list_entry(f->waiting.next, fanout_job_t, link);
        list_remove(&j->link);
        f->nwaiting--;
        list_insert_tail(&f->running, &j->link);
        f->jobs++;
        j->running = true;
        if (j->dead_reason[0])
            job_dead(j, j->dead_reason);
        else
            job_run(j);
    }
    /* Jobs left (no room, or a probe is out): look again later. A probe
     * that fails restarts the timer with a longer delay. */
    if (!list_empty(&f->waiting) && !uv_is_active((uv_handle_t *)&f->wake))
        uv_timer_start(&f->wake, on_wake, backoff_next(&f->backoff), 0);
}

/* Acknowledgements go in batches, one call per shard in flight: a job's
 * ack was a script of its own (the script call, XACK, XDEL, HDEL), four
 * Redis calls per post, 0.15 per delivery in bench/run.sh's publish run;
 * the jobs that finish while a call is out share the next. A job is
 * acknowledged as before, only after its last delivery; one that waits
 * here is still pending in the stream, and a crash meanwhile delivers it
 * again (harmless, see feed_fanout.h). */
#define FANOUT_ACK_MAX 256

static void ack_flush(fanout_shard_t *s);

static void job_acked(fanout_job_t *j)
{
    if (j->job.type == FEED_JOB_POST && !j->dead_reason[0]) {
        metric_inc(feed_metrics.fanout_posts_total);
        double lag = (double)(feed_now_ms() - j->job.pub) / 1000.0;
        metric_observe(feed_metrics.fanout_lag_seconds, lag < 0 ? 0 : lag);
    }
    if (feed_metrics.fanout_queue_depth->value > 0)
        metric_gauge_add(feed_metrics.fanout_queue_depth, -1);
    job_free(j);
}

static void on_acked(rds_batch_t *b, void *arg)
{
    fanout_shard_t *s = arg;
    feed_fanout_t *f = s->f;
    const redisReply *r = rds_batch_reply(b, 0);
    bool failed = !r || r->type == REDIS_REPLY_ERROR;
    /* The call's jobs end here. A job that finishes meanwhile goes to
     * s->acks (ack_busy is still set) and waits for the next call; f stays
     * while side_commands counts this one. */
    while (!list_empty(&s->acking)) {
        fanout_job_t *j = list_entry(list_first(&s->acking), fanout_job_t, ack_link);
        list_remove(&j->ack_link);
        if (failed)
            job_failed_reply(j, r);
        else
            job_acked(j);
    }
    s->ack_busy = false;
    f->side_commands--;
    if (!list_empty(&s->acks))
        ack_flush(s);
    else
        fanout_maybe_free(f);
}

/* One FANOUT_ACK call for the jobs waiting in s->acks (at most
 * FANOUT_ACK_MAX; the rest go in the next). */
static void ack_flush(fanout_shard_t *s)
{
    feed_fanout_t *f = s->f;
    rds_batch_clear(s->ack_batch);
    rds_args_t *a = &f->args;
    feed_args_eval(a, feed_script_fanout_ack, 2);
    rds_args_str(a, s->stream);
    rds_args_str(a, s->progress);
    rds_args_str(a, FANOUT_GROUP);
    for (int n = 0; n < FANOUT_ACK_MAX && !list_empty(&s->acks); n++) {
        fanout_job_t *j = list_entry(list_first(&s->acks), fanout_job_t, ack_link);
        list_remove(&j->ack_link);
        list_insert_tail(&s->acking, &j->ack_link);
        rds_args_str(a, j->entry);
    }
    rds_batch_add(s->ack_batch, a);
    s->ack_busy = true;
    f->side_commands++;
    rds_batch_wait(s->ack_batch, on_acked, s);
}

static void job_ack(fanout_job_t *j)
{
    fanout_shard_t *s = j->shard;
    j->finishing = true;
    list_insert_tail(&s->acks, &j->ack_link);
    if (!s->ack_busy)
        ack_flush(s);
}

static void on_dead(rds_batch_t *b, void *arg)
{
    fanout_job_t *j = arg;
    const redisReply *r = rds_batch_reply(b, 0);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        /* Retried with the other waiting jobs; dead_reason says what to do. */
        job_failed(j, r ? r->str : "Redis unavailable");
        return;
    }
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        metric_inc(feed_metrics.fanout_dead_letters_total);
        log_warn("fanout", "job %s (%c, post %" PRId64 ", author %" PRId64 ") moved to the "
                 "dead-letter stream %s after %u attempts: %s", j->entry, (char)j->job.type,
                 j->job.post, j->job.author, j->shard->dead, j->attempts, j->dead_reason);
        if (feed_metrics.fanout_queue_depth->value > 0)
            metric_gauge_add(feed_metrics.fanout_queue_depth, -1);
    }
    job_free(j);
}

static void job_dead(fanout_job_t *j, const char *reason)
{
    const fanout_shard_t *s = j->shard;
    if (j->dead_reason != reason)
        snprintf(j->dead_reason, sizeof j->dead_reason, "%s", reason);
    j->finishing = true;
    rds_batch_clear(j->batch);
    rds_args_t *a = &j->args;
    feed_args_eval(a, feed_script_fanout_dead, 3);
    rds_args_str(a, s->stream);
    rds_args_str(a, s->dead);
    rds_args_str(a, s->progress);
    rds_args_str(a, FANOUT_GROUP);
    rds_args_str(a, j->entry);
    rds_args_int(a, j->attempts);
    rds_args_str(a, j->dead_reason);
    rds_args_int(a, feed_now_ms());
    rds_args_int(a, FANOUT_DEAD_MAX);
    rds_batch_add(j->batch, a);
    rds_batch_wait(j->batch, on_dead, j);
}

static void job_next_page(fanout_job_t *j);
static void deliver_round(fanout_job_t *j);

/* Places for rounds go to the jobs waiting longest. */
static void start_waiting(feed_fanout_t *f)
{
    while (f->pushes < f->rounds.limit && !list_empty(&f->push_queue)) {
        fanout_job_t *next = list_entry(f->push_queue.next, fanout_job_t, push_link);
        list_remove(&next->push_link);
        next->queued = false;
        deliver_round(next);
    }
}

/* A round ended (either way): its place goes to the job waiting longest. */
static void round_done(feed_fanout_t *f)
{
    f->pushes--;
    start_waiting(f);
}

static int64_t now_us(void)
{
    return (int64_t)(uv_hrtime() / 1000);
}

static void on_delivered(rds_batch_t *b, void *arg)
{
    fanout_job_t *j = arg;
    feed_fanout_t *f = j->f;
    /* Its place first: j may end below, and the stopping worker with it. */
    round_done(f);
    int64_t n = 0;
    for (size_t i = 0; i < rds_batch_count(b); i++) {
        const redisReply *r = rds_batch_reply(b, i);
        int64_t v;
        if (!r || r->type == REDIS_REPLY_ERROR) {
            job_failed_reply(j, r);
            return;
        }
        if (i >= j->first_eval && rds_reply_int(r, &v) == 0)
            n += v;
    }
    if (j->job.type == FEED_JOB_POST) {
        metric_add(feed_metrics.fanout_deliveries_total, (uint64_t)n);
    }
    note_success(f);
    if (j->lost) {
        job_free(j);
    } else if (j->next < j->nids) {
        deliver_round(j);            /* the page goes on */
    } else {
        j->pos = j->page_end;
        if (j->pos < 0)              /* the last page was delivered */
            job_ack(j);
        else
            job_next_page(j);
    }
}

/* One script call for up to FANOUT_CHUNK feeds. ids[0..n) are their owners. */
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
            rds_args_int(a, feed_home_score(job->ts));
        }
        rds_args_int(a, e->feed_max);
        rds_args_int(a, job->author);
        rds_args_str(a, "2");           /* stride: (feed, unfollowed set) pairs */
        rds_args_str(a, "1");           /* newest first */
        rds_args_int(a, feed_trim_slack(e->feed_max));
        if (job->type != FEED_JOB_MARK) {
            char checks[FANOUT_CHUNK];  /* which feeds check their size */
            for (size_t i = 0; i < n; i++)
                checks[i] = feed_trim_check(ids[i], job->post) ? '1' : '0';
            rds_args_add(a, checks, n);
        }
    }
    rds_batch_add(j->batch, a);
}

/* The page's next FANOUT_CHUNK feeds: one call on a single Redis; on a
 * cluster, where a script may touch one slot only, one call per run of one
 * slot (about one per user: a page of 5,000 users spans nearly as many
 * slots), which the router sends to their nodes.
 *
 * At most f->rounds.limit rounds (feed_rounds.h: FANOUT_PUSH_ROUNDS under
 * a backlog, fewer while fan-out keeps up) are in flight for the whole
 * worker; a job past that waits in f->push_queue. Redis runs every command already
 * read from a connection before it serves another, so a page of 157
 * scripts pipelined at once (as until issue 12's tail work) kept it on
 * fan-out for ~5 ms per 16 KB read, and a read or publish queued behind
 * waited that long; now what fan-out has queued in Redis is bounded to
 * about FANOUT_PUSH_ROUNDS x FANOUT_CHUNK deliveries. */
static void deliver_round(fanout_job_t *j)
{
    feed_fanout_t *f = j->f;
    if (j->lost || f->stopping) {
        job_free(j);                 /* it stays pending in the stream */
        return;
    }
    int64_t now = now_us();
    if (f->pushes >= f->rounds.limit) {
        if (j->queued_us == 0)
            j->queued_us = now;
        list_insert_tail(&f->push_queue, &j->push_link);
        j->queued = true;
        return;
    }
    f->pushes++;
    bool grew = feed_rounds_started(&f->rounds, j->queued_us ? now - j->queued_us : 0, now);
    j->queued_us = 0;
    metric_set(feed_metrics.fanout_rounds_limit, (double)f->rounds.limit);
    rds_batch_clear(j->batch);
    j->first_eval = 0;
    if (j->save_progress) {
        /* Where a take-over resumes: everything up to pos is delivered. It
         * goes first on the page's connection, so it is saved even if the
         * process dies while the page is delivered. */
        rds_args_t *a = &j->args;
        rds_args_reset(a);
        rds_args_str(a, "HSET");
        rds_args_str(a, j->shard->progress);
        rds_args_str(a, j->entry);
        rds_args_addf(a, "%" PRId64 " %u", j->pos, j->attempts);
        rds_batch_add(j->batch, a);
        j->first_eval = 1;
        j->save_progress = false;
    }
    size_t end = j->nids - j->next < FANOUT_CHUNK ? j->nids : j->next + FANOUT_CHUNK;
    if (j->slots) {
        for (size_t i = j->next, run; i < end; i += run) {
            run = feed_slots_run(j->slots + i, end - i, FANOUT_CHUNK);
            add_delivery(j, j->ids + i, run);
        }
    } else if (end > j->next) {      /* an empty page (after a full last one): no call */
        add_delivery(j, j->ids + j->next, end - j->next);
    }
    j->next = end;
    /* Before the wait, whose callback may end j (an empty batch answers at
     * once); f stays, for it is not stopping (see the top). */
    if (grew)
        start_waiting(f);
    rds_batch_wait(j->batch, on_delivered, j);
}

static void on_followers(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    fanout_job_t *j = arg;
    if (status != PG_OK) {
        job_failed(j, errmsg ? errmsg : "PostgreSQL unavailable");
        return;
    }
    if (j->lost) {
        job_free(j);
        return;
    }
    int rows = PQntuples(res);
    free(j->ids);
    free(j->slots);
    j->slots = NULL;
    j->ids = fc_xmalloc(((size_t)rows + 1) * sizeof *j->ids);
    size_t n = 0;
    if (j->pos == 0)
        j->ids[n++] = j->job.author;   /* the author's own home feed, with the first page */
    for (int i = 0; i < rows; i++)
        j->ids[n++] = fc_i64(PQgetvalue(res, i, 0));
    j->page_end = rows == FANOUT_PAGE ? j->ids[n - 1] : -1;
    j->nids = n;
    j->next = 0;
    feed_engine_t *e = j->f->e;
    if (rds_pool_is_cluster(e->redis)) {
        j->slots = fc_xmalloc((n ? n : 1) * sizeof *j->slots);
        feed_slots_sort(j->ids, j->slots, n, e->prefix, rds_key_feed);
    }
    j->save_progress = j->pos > 0 || j->resumed || j->attempts > 1;
    deliver_round(j);
}

static void job_next_page(fanout_job_t *j)
{
    const int64_t params[] = { j->job.author, j->pos, FANOUT_PAGE };
    pg_query_i64(j->f->e->pg, PGQ_followers_page, params, on_followers, j);
}

static void job_load_progress(fanout_job_t *j);

static void job_run(fanout_job_t *j)
{
    if (j->resumed && !j->progress_loaded)
        job_load_progress(j);        /* reading it failed: read it again */
    else if (j->pos < 0)
        job_ack(j);                  /* only the acknowledgement failed */
    else
        job_next_page(j);
}

/* A taken-over job's saved progress: "POSITION ATTEMPTS". */
static void on_progress(rds_batch_t *b, void *arg)
{
    fanout_job_t *j = arg;
    const redisReply *r = rds_batch_reply(b, 0);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        job_failed(j, r ? r->str : "Redis unavailable");
        return;
    }
    j->progress_loaded = true;
    long long pos = 0;
    unsigned attempts = 0;
    if (r->type == REDIS_REPLY_STRING && sscanf(r->str, "%lld %u", &pos, &attempts) == 2 &&
        pos >= 0) {
        j->pos = pos;
        log_info("fanout", "job %s (post %" PRId64 ") taken over: resumes after follower %lld",
                 j->entry, j->job.post, pos);
    }
    /* Being taken over counts as an attempt: a job that kills its worker
     * ends up dead-lettered too. */
    j->attempts = attempts + 1;
    if (j->attempts > j->f->max_attempts) {
        j->attempts = j->f->max_attempts;
        job_dead(j, "its worker stopped during every attempt");
        return;
    }
    job_run(j);
}

static void job_load_progress(fanout_job_t *j)
{
    rds_batch_clear(j->batch);
    rds_args_t *a = &j->args;
    rds_args_reset(a);
    rds_args_str(a, "HGET");
    rds_args_str(a, j->shard->progress);
    rds_args_str(a, j->entry);
    rds_batch_add(j->batch, a);
    rds_batch_wait(j->batch, on_progress, j);
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

/* entry: [id, [field, value, ...]]. taken_over: from our own pending
 * entries or XAUTOCLAIM, so it may have progress saved. */
static void job_start(fanout_shard_t *s, const redisReply *entry, bool taken_over)
{
    feed_fanout_t *f = s->f;
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[0]->len >= sizeof ((fanout_job_t *)0)->entry)
        return;
    if (find_held(f, s, entry->element[0]->str))
        return;                     /* already ours: never run a job twice */
    const redisReply *fields = entry->element[1];
    fanout_job_t *j = fc_xcalloc(1, sizeof *j);
    j->f = f;
    j->shard = s;
    snprintf(j->entry, sizeof j->entry, "%s", entry->element[0]->str);
    list_insert_tail(&f->running, &j->link);
    j->running = true;
    f->jobs++;
    rds_args_init(&j->args);
    j->attempts = 1;
    j->success_mark = f->successes;
    j->resumed = taken_over;
    /* Every job's commands go on the worker's own connection (f->deliver),
     * in order: a read or publish never waits behind a round of deliveries
     * pipelined on its connection. Alternated on the quick graph
     * (bench/run.sh --only publish, 1,600 publishes/s), post.publish's p99
     * was lower in 6 of 7 pairs against deliveries spread over the command
     * pool. */
    j->batch = rds_batch_new(f->deliver, f->next_affinity++);
    if (fields->type != REDIS_REPLY_ARRAY) {
        /* Deleted from the stream while pending (XDEL raced a claim). */
        j->pos = -1;
        j->progress_loaded = true;
        job_ack(j);
        return;
    }
    if (job_decode(&j->job, fields) != 0) {
        job_dead(j, "malformed job: not a fan-out job entry (feed_job.h)");
        return;
    }
    job_run(j);
}

/* ---- reading the stream ------------------------------------------------ */

static void start_entries(fanout_shard_t *s, const redisReply *entries, bool taken_over)
{
    if (!entries || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements; i++)
        job_start(s, entries->element[i], taken_over);
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

/* An outstanding read of shard s has its reply. Returns false when the
 * worker is stopping (and may be freed). */
static bool read_done(fanout_shard_t *s)
{
    feed_fanout_t *f = s->f;
    s->reading = false;
    f->reads--;
    if (f->stopping) {
        fanout_maybe_free(f);
        return false;
    }
    return true;
}

static void on_read(redisReply *reply, void *arg)
{
    fanout_shard_t *s = arg;
    feed_fanout_t *f = s->f;
    if (!read_done(s))
        return;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply && strncmp(reply->str, "NOGROUP", 7) == 0)
            s->group_ready = false;     /* the stream was deleted (FLUSHDB) */
        retry_later(f);
        return;
    }
    bool got = false;
    /* [[stream, [entries...]]] or nil after BLOCK with nothing new */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2) {
        const redisReply *entries = reply->element[0]->element[1];
        got = entries->type == REDIS_REPLY_ARRAY && entries->elements > 0;
        if (got && s->own_pending) {
            /* Our backlog is read page by page, each after the last id. */
            const redisReply *last = entries->element[entries->elements - 1];
            if (last->type == REDIS_REPLY_ARRAY && last->elements == 2 &&
                last->element[0]->type == REDIS_REPLY_STRING &&
                last->element[0]->len < sizeof s->pending_after)
                snprintf(s->pending_after, sizeof s->pending_after, "%s", last->element[0]->str);
            else
                got = false;
        }
        start_entries(s, entries, s->own_pending);
    }
    if (s->own_pending && !got)
        s->own_pending = false;         /* our backlog is done: new entries next */
    read_jobs(f);
}

/* Feeds are sorted sets of up to feed_max entries: as listpacks they take
 * about 6x less memory than as skiplists (docs/OPERATIONS.md). Checked once
 * Redis answers; a warning, since the cache still works. */
static bool side_done(feed_fanout_t *f);
static void side_command(feed_fanout_t *f, rds_reply_fn *cb);

/* Starts the worker's args over with cmd followed by shard s's stream. */
static rds_args_t *stream_args(fanout_shard_t *s, const char *cmd)
{
    rds_args_t *a = &s->f->args;
    rds_args_reset(a);
    rds_args_str(a, cmd);
    rds_args_str(a, s->stream);
    return a;
}

/* The value of a CONFIG GET of one setting; false for any other reply (an
 * error, or a setting the server does not know). */
static bool config_value(const redisReply *reply, long long *out)
{
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return false;
    *out = strtoll(reply->element[1]->str, NULL, 10);
    return true;
}

static void on_listpack_config(redisReply *reply, void *arg)
{
    feed_fanout_t *f = arg;
    long long entries;
    if (!side_done(f) || !config_value(reply, &entries))
        return;
    /* A home feed holds up to feed_max + its trim slack entries, the
     * overshoot of a sampled trim (feed_scripts.h), and a few meta
     * members. */
    int64_t need = f->e->feed_max + feed_trim_slack(f->e->feed_max) + FEED_TRIM_OVERSHOOT + 16;
    if (entries < need)
        log_warn("fanout", "Redis zset-max-listpack-entries is %lld, below feed_max (%" PRId64
                 ") + %" PRId64 ": feeds will be stored as skiplists, about 6x the memory; "
                 "set it to %" PRId64 " or more", entries, f->e->feed_max,
                 need - f->e->feed_max, need);
}

static void on_group(redisReply *reply, void *arg)
{
    fanout_shard_t *s = arg;
    feed_fanout_t *f = s->f;
    if (!read_done(s))
        return;
    if (reply && (reply->type != REDIS_REPLY_ERROR || strncmp(reply->str, "BUSYGROUP", 9) == 0)) {
        s->group_ready = true;
        s->own_pending = true;
        snprintf(s->pending_after, sizeof s->pending_after, "0");
        /* Registered at once (Redis before 7.2 creates a consumer only when
         * it is first given a job): XINFO CONSUMERS lists every instance
         * reading the shard. */
        rds_args_reset(&f->args);
        rds_args_str(&f->args, "XGROUP");
        rds_args_str(&f->args, "CREATECONSUMER");
        rds_args_str(&f->args, s->stream);
        rds_args_str(&f->args, FANOUT_GROUP);
        rds_args_str(&f->args, f->consumer);
        rds_send(f->e->redis, s->index, &f->args, NULL, NULL);
        if (s->index == 0) {
            rds_args_reset(&f->args);
            rds_args_str(&f->args, "CONFIG");
            rds_args_str(&f->args, "GET");
            rds_args_str(&f->args, "zset-max-listpack-entries");
            side_command(f, on_listpack_config);
        }
        read_jobs(f);
        return;
    }
    retry_later(f);
}

/* Sends shard s's next read: the group's creation first, then XREADGROUP of
 * up to count jobs. Each shard blocks on its own connection of the blocking
 * pool (affinity = shard), so an idle shard's BLOCK never delays another's
 * jobs. */
static void shard_read(fanout_shard_t *s, int count)
{
    feed_fanout_t *f = s->f;
    rds_args_t *a = &f->args;
    if (!s->group_ready) {
        /* From the start of the stream ("0"): jobs queued before the group
         * existed are not skipped. */
        rds_args_reset(a);
        rds_args_str(a, "XGROUP");
        rds_args_str(a, "CREATE");
        rds_args_str(a, s->stream);
        rds_args_str(a, FANOUT_GROUP);
        rds_args_str(a, "0");
        rds_args_str(a, "MKSTREAM");
        rds_send(f->e->redis, s->index, a, on_group, s);
    } else {
        rds_args_reset(a);
        rds_args_str(a, "XREADGROUP");
        rds_args_str(a, "GROUP");
        rds_args_str(a, FANOUT_GROUP);
        rds_args_str(a, f->consumer);
        rds_args_str(a, "COUNT");
        rds_args_int(a, count);
        rds_args_str(a, "BLOCK");
        rds_args_int(a, FANOUT_BLOCK_MS);
        rds_args_str(a, "STREAMS");
        rds_args_str(a, s->stream);
        rds_args_str(a, s->own_pending ? s->pending_after : ">");
        rds_send(f->blocking, s->index, a, on_read, s);
    }
    s->reading = true;
    f->reads++;
}

/* Room for `room` more jobs is shared among the shards: each idle shard
 * reads ceil(room / nshards), so the worker holds at most nshards - 1 jobs
 * more than its concurrency, and a busy shard refills the room others leave
 * (its next read starts as soon as the last one is answered). */
static int read_share(const feed_fanout_t *f, int room)
{
    return (room + (int)f->nshards - 1) / (int)f->nshards;
}

static void read_jobs(feed_fanout_t *f)
{
    if (f->stopping)
        return;
    bool yield = false, asked = false;
    int room = 0;
    for (unsigned i = 0; i < f->nshards; i++) {
        fanout_shard_t *s = &f->shards[i];
        if (s->reading)
            continue;
        if (!s->group_ready) {
            shard_read(s, 0);
            continue;
        }
        if (!asked) {
            asked = true;
            yield = f->busy && f->busy(f->busy_arg);
            if (yield)
                metric_inc(feed_metrics.fanout_yields_total);
            room = (yield ? FANOUT_YIELD_CONCURRENCY : FANOUT_CONCURRENCY) - f->jobs;
        }
        if (room <= 0 || f->nwaiting >= FANOUT_WAIT_MAX)
            continue;               /* (shards without a group yet still create it) */
        shard_read(s, read_share(f, room));
    }
}

/* ---- periodic: queue depth, heartbeats, abandoned jobs ----------------- */

/* Commands whose callbacks take the worker as privdata are counted, so that
 * it is freed only after the last one is answered. */
static void side_command_to(feed_fanout_t *f, rds_reply_fn *cb, void *privdata)
{
    rds_send(f->e->redis, 0, &f->args, cb, privdata);
    f->side_commands++;
}

static void side_command(feed_fanout_t *f, rds_reply_fn *cb)
{
    side_command_to(f, cb, f);
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

/* The queue depth: the sum of every shard's length, set only when every
 * shard answered (a partial sum would dip). */
static void on_depth(rds_batch_t *b, void *arg)
{
    feed_fanout_t *f = arg;
    f->depth_busy = false;
    if (!side_done(f))
        return;
    int64_t total = 0;
    for (size_t i = 0; i < rds_batch_count(b); i++) {
        int64_t len;
        if (rds_reply_int(rds_batch_reply(b, i), &len) != 0)
            return;
        total += len;
    }
    metric_set(feed_metrics.fanout_queue_depth, (double)total);
}

static void on_claimed(redisReply *reply, void *arg)
{
    fanout_shard_t *s = arg;
    feed_fanout_t *f = s->f;
    if (!side_done(f))
        return;
    /* [next-cursor, [entries...], [deleted ids...]] */
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
        return;
    if (reply->element[1]->elements > 0)
        log_info("fanout", "claimed %zu abandoned jobs from %s", reply->element[1]->elements,
                 s->stream);
    start_entries(s, reply->element[1], true);
}

/* The ids another consumer now owns (or that are gone): stop those jobs. */
static void on_heartbeat(redisReply *reply, void *arg)
{
    fanout_shard_t *s = arg;
    feed_fanout_t *f = s->f;
    if (!side_done(f))
        return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *id = reply->element[i];
        if (id->type != REDIS_REPLY_STRING)
            continue;
        fanout_job_t *j = find_held(f, s, id->str);
        /* A job whose acknowledgement (or move to the dead letters) ran
         * before the heartbeat, its reply not in yet, is not lost: it is
         * done (replies of different connections arrive in any order). */
        if (!j || j->finishing)
            continue;
        log_warn("fanout", "job %s is no longer this worker's (claimed by another after a "
                 "stall): dropped here", j->entry);
        if (j->running) {
            j->lost = true;         /* ends at its next step, without an ack */
        } else {
            list_remove(&j->link);
            f->nwaiting--;
            job_destroy(j);
        }
    }
}

/* Heartbeats the jobs this worker holds from shard s (one script per
 * shard: a script touches one stream). */
static void shard_heartbeat(fanout_shard_t *s)
{
    feed_fanout_t *f = s->f;
    rds_args_t *a = &f->args;
    feed_args_eval(a, feed_script_fanout_heartbeat, 1);
    rds_args_str(a, s->stream);
    rds_args_str(a, FANOUT_GROUP);
    rds_args_str(a, f->consumer);
    int n = 0;
    list_t *lists[] = { &f->running, &f->waiting };
    for (int k = 0; k < 2; k++)
        list_foreach(pos, lists[k]) {
            fanout_job_t *j = list_entry(pos, fanout_job_t, link);
            if (j->shard == s) {
                rds_args_str(a, j->entry);
                n++;
            }
        }
    if (n > 0)
        side_command_to(f, on_heartbeat, s);
}

static void on_beat(uv_timer_t *t)
{
    feed_fanout_t *f = t->data;
    if (f->stopping)
        return;
    int room = FANOUT_CONCURRENCY - f->jobs;
    for (unsigned i = 0; i < f->nshards; i++) {
        fanout_shard_t *s = &f->shards[i];
        if (!s->group_ready)
            continue;
        shard_heartbeat(s);
        /* Jobs of a stopped worker, this shard's share of the room. */
        if (room > 0 && f->nwaiting < FANOUT_WAIT_MAX) {
            rds_args_t *a = stream_args(s, "XAUTOCLAIM");
            rds_args_str(a, FANOUT_GROUP);
            rds_args_str(a, f->consumer);
            rds_args_int(a, f->claim_idle_ms);
            rds_args_str(a, "0-0");
            rds_args_str(a, "COUNT");
            rds_args_int(a, read_share(f, room));
            side_command_to(f, on_claimed, s);
        }
    }
}

/* Start-up, once Redis answers: shards past nshards (fanout_shards was
 * higher before) that still hold jobs or dead letters are read by no one
 * now. Logged, with what to do (docs/OPERATIONS.md, "Fan-out shards"). */
static void on_dropped(rds_batch_t *b, void *arg)
{
    feed_fanout_t *f = arg;
    if (!side_done(f))
        return;
    if (!feed_batch_ok(b)) {
        f->dropped_checked = false; /* tried again on the next tick */
        return;
    }
    f->dropped_checked = true;
    for (unsigned i = 0; i + 1 < rds_batch_count(b); i += 2) {
        int64_t jobs = 0, dead = 0;
        rds_reply_int(rds_batch_reply(b, i), &jobs);
        rds_reply_int(rds_batch_reply(b, i + 1), &dead);
        if (jobs > 0 || dead > 0)
            log_warn("fanout", "fan-out shard %u holds %" PRId64 " jobs and %" PRId64 " dead "
                     "letters, but fanout_shards is %u: no instance reads it. Run one "
                     "instance with fanout_shards = %u until that shard is empty (XLEN), "
                     "then lower it (docs/OPERATIONS.md, \"Fan-out shards\")", f->nshards + i / 2,
                     jobs, dead, f->nshards, f->nshards + i / 2 + 1);
    }
}

static void check_dropped(feed_fanout_t *f)
{
    if (f->dropped_checked || f->nshards >= FEED_SHARDS_MAX)
        return;
    rds_batch_clear(f->dropped);
    char key[RDS_KEY_MAX];
    for (unsigned i = f->nshards; i < FEED_SHARDS_MAX; i++) {
        rds_args_reset(&f->args);
        rds_args_str(&f->args, "XLEN");
        rds_key_fanout(key, sizeof key, f->e->prefix, i);
        rds_args_str(&f->args, key);
        rds_batch_add(f->dropped, &f->args);
        rds_args_reset(&f->args);
        rds_args_str(&f->args, "XLEN");
        rds_key_fanout_dead(key, sizeof key, f->e->prefix, i);
        rds_args_str(&f->args, key);
        rds_batch_add(f->dropped, &f->args);
    }
    f->side_commands++;
    f->dropped_checked = true;      /* until the answer says otherwise */
    rds_batch_wait(f->dropped, on_dropped, f);
}

/* Consumers removed from shard s's group (FANOUT_REAP). */
static void on_reaped(redisReply *reply, void *arg)
{
    fanout_shard_t *s = arg;
    feed_fanout_t *f = s->f;
    if (!side_done(f))
        return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *name = reply->element[i];
        if (name->type != REDIS_REPLY_STRING)
            continue;
        log_info("fanout", "removed consumer '%s' from the group of %s: idle for more than "
                 "%d h with no job pending", name->str, s->stream,
                 FANOUT_CONSUMER_GONE_MS / 3600000);
        metric_inc(feed_metrics.fanout_consumers_removed_total);
    }
}

/* Every instance does it (each a few commands an hour); FANOUT_REAP makes
 * it safe to race. */
static void on_reap(uv_timer_t *t)
{
    feed_fanout_t *f = t->data;
    if (f->stopping)
        return;
    for (unsigned i = 0; i < f->nshards; i++) {
        fanout_shard_t *s = &f->shards[i];
        if (!s->group_ready)
            continue;
        rds_args_t *a = &f->args;
        feed_args_eval(a, feed_script_fanout_reap, 1);
        rds_args_str(a, s->stream);
        rds_args_str(a, FANOUT_GROUP);
        rds_args_str(a, f->consumer);
        rds_args_int(a, FANOUT_CONSUMER_GONE_MS);
        side_command_to(f, on_reaped, s);
    }
}

static void on_tick(uv_timer_t *t)
{
    feed_fanout_t *f = t->data;
    if (f->stopping)
        return;
    if (!f->depth_busy) {
        rds_batch_clear(f->depth);
        for (unsigned i = 0; i < f->nshards; i++)
            rds_batch_add(f->depth, stream_args(&f->shards[i], "XLEN"));
        f->depth_busy = true;
        f->side_commands++;
        rds_batch_wait(f->depth, on_depth, f);
    }
    check_dropped(f);
    read_jobs(f);
}

feed_fanout_t *feed_fanout_start(feed_engine_t *e, const feed_fanout_options_t *o)
{
    rds_url_t url;
    char err[256];
    if (rds_url_parse(o->redis_url, &url, err, sizeof err) != 0) {
        log_error("fanout", "redis: %s", err);
        return NULL;
    }
    /* One blocking connection per shard (affinity = shard): a BLOCK waiting
     * on one shard's connection would hold up every read queued behind it. */
    rds_pool_options_t po = {
        .size = (int)e->fanout_shards,
        .timeout_ms = o->timeout_ms + FANOUT_BLOCK_MS,
        .name = "redis-fanout",
    };
    feed_fanout_t *f = fc_xcalloc(1, sizeof *f);
    f->e = e;
    rds_args_init(&f->args);
    f->blocking = rds_pool_create(e->loop, &url, &po);
    rds_pool_options_t dpo = {
        .size = 1,
        .timeout_ms = o->timeout_ms,
        .name = "redis-deliver",
    };
    f->deliver = f->blocking ? rds_pool_create(e->loop, &url, &dpo) : NULL;
    /* One connection (per master on a cluster): Redis runs a connection's
     * pipelined commands back to back, so more would not run deliveries
     * any sooner, and at most FANOUT_PUSH_ROUNDS rounds are out. */
    if (!f->deliver) {
        if (f->blocking)
            rds_pool_close(f->blocking);
        rds_args_free(&f->args);
        free(f);
        return NULL;
    }
    f->nshards = e->fanout_shards;
    f->shards = fc_xcalloc(f->nshards, sizeof *f->shards);
    for (unsigned i = 0; i < f->nshards; i++) {
        fanout_shard_t *s = &f->shards[i];
        s->f = f;
        s->index = i;
        rds_key_fanout(s->stream, sizeof s->stream, e->prefix, i);
        rds_key_fanout_dead(s->dead, sizeof s->dead, e->prefix, i);
        rds_key_fanout_progress(s->progress, sizeof s->progress, e->prefix, i);
        s->ack_batch = rds_batch_new(e->redis, i);
        list_init(&s->acks);
        list_init(&s->acking);
    }
    f->depth = rds_batch_new(e->redis, 0);
    f->dropped = rds_batch_new(e->redis, 0);
    metric_set(feed_metrics.fanout_shards, (double)f->nshards);
    log_info("fanout", "consuming %u fan-out queue shard%s as '%s'", f->nshards,
             f->nshards == 1 ? "" : "s", o->consumer);
    snprintf(f->consumer, sizeof f->consumer, "%s", o->consumer);
    f->max_attempts = o->max_attempts ? o->max_attempts : 8;
    f->claim_idle_ms = o->claim_idle_ms ? o->claim_idle_ms : FANOUT_CLAIM_IDLE_MS;
    f->busy = o->busy;
    f->busy_arg = o->busy_arg;
    backoff_init(&f->backoff, o->retry_min_ms ? o->retry_min_ms : 500,
                 o->retry_max_ms ? o->retry_max_ms : 10000);
    list_init(&f->running);
    list_init(&f->waiting);
    list_init(&f->push_queue);
    feed_rounds_init(&f->rounds, FANOUT_PUSH_ROUNDS, now_us());
    metric_set(feed_metrics.fanout_rounds_limit, (double)f->rounds.limit);
    uv_timer_init(e->loop, &f->tick);
    uv_timer_init(e->loop, &f->retry);
    uv_timer_init(e->loop, &f->wake);
    uv_timer_init(e->loop, &f->beat);
    uv_timer_init(e->loop, &f->reap);
    f->tick.data = f->retry.data = f->wake.data = f->beat.data = f->reap.data = f;
    f->handles = 5;
    uv_timer_start(&f->reap, on_reap, FANOUT_REAP_FIRST_MS, FANOUT_REAP_MS);
    uv_timer_start(&f->tick, on_tick, FANOUT_TICK_MS, FANOUT_TICK_MS);
    unsigned beat_ms = f->claim_idle_ms / 3;
    uv_timer_start(&f->beat, on_beat, beat_ms, beat_ms);
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
    uv_timer_t *timers[] = { &f->tick, &f->retry, &f->wake, &f->beat, &f->reap };
    for (int i = 0; i < 5; i++) {
        uv_timer_stop(timers[i]);
        uv_close((uv_handle_t *)timers[i], on_handle_closed);
    }
    /* Waiting jobs stay pending in the stream: this consumer's next start,
     * or another worker's XAUTOCLAIM, takes them. */
    list_foreach_safe(pos, &f->waiting) {
        fanout_job_t *j = list_entry(pos, fanout_job_t, link);
        list_remove(&j->link);
        job_destroy(j);
    }
    f->nwaiting = 0;
    /* An outstanding blocking read ends within FANOUT_BLOCK_MS or when the
     * pool closes; closing it now cuts the wait short. */
    if (f->blocking) {
        rds_pool_close(f->blocking);
        f->blocking = NULL;
    }
}
