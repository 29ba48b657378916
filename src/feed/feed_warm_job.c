#include "feed/feed_warm_job.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "feed/feed_cmd.h"
#include "rpc/rpc_msg.h"
#include "rpc/rpc_reply.h"
#include "util/log.h"

static const char *const state_names[] = { "running", "paused", "finished", "failed" };

const char *feed_warm_state_name(feed_warm_state_t state)
{
    return state_names[state];
}

bool feed_warm_job_ended(const feed_warm_job_t *st)
{
    return st->state == FEED_WARM_FINISHED || st->state == FEED_WARM_FAILED;
}

void feed_warm_job_init(feed_warm_job_t *st, feed_engine_t *e, feed_warm_written_fn *written)
{
    memset(st, 0, sizeof *st);
    st->e = e;
    st->written = written;
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = uv_hrtime() ^ ((uint64_t)getpid() << 32);
    rnd ^= ++e->next_token;     /* distinct within the process even if urandom repeats */
    snprintf(st->id, sizeof st->id, "%016" PRIx64, rnd);
    st->affinity = (unsigned)rnd;
    st->started_ms = feed_now_ms();
    st->state = st->written_state = FEED_WARM_RUNNING;
}

void feed_warm_job_release(feed_warm_job_t *st)
{
    free(st->queue);
    st->queue = NULL;
}

/* ---- the queue ------------------------------------------------------------ */

size_t feed_warm_job_queued(const feed_warm_job_t *st)
{
    return st->qlen - st->qhead;
}

void feed_warm_job_push(feed_warm_job_t *st, int64_t id, int attempts)
{
    if (st->qhead > 0 && st->qlen == st->qcap) {
        /* Reuse the consumed front before growing. */
        memmove(st->queue, st->queue + st->qhead, feed_warm_job_queued(st) * sizeof *st->queue);
        st->qlen -= st->qhead;
        st->qhead = 0;
    }
    if (st->qlen == st->qcap) {
        st->qcap = st->qcap ? 2 * st->qcap : 64;
        st->queue = fc_xrealloc(st->queue, st->qcap * sizeof *st->queue);
    }
    st->queue[st->qlen++] = (feed_warm_item_t){ id, attempts };
}

feed_warm_item_t feed_warm_job_pop(feed_warm_job_t *st)
{
    feed_warm_item_t it = st->queue[st->qhead++];
    if (st->qhead == st->qlen)
        st->qhead = st->qlen = 0;
    return it;
}

/* ---- the record in Redis -------------------------------------------------- */

static void on_written(rds_batch_t *b, void *arg)
{
    feed_warm_job_t *st = arg;
    bool failed = rds_batch_failed(b) || !rds_batch_reply(b, 0) ||
                  rds_batch_reply(b, 0)->type == REDIS_REPLY_ERROR;
    rds_batch_free(b);
    st->write_inflight = false;
    if (failed && !st->write_failed_logged) {
        st->write_failed_logged = true;
        log_warn("warm", "job %s: cannot write its state to Redis (warm.status may lag)", st->id);
    } else if (!failed) {
        st->write_failed_logged = false;
    }
    st->written(st, !failed);
}

bool feed_warm_job_write(feed_warm_job_t *st)
{
    if (st->write_inflight) {
        st->write_dirty = true;
        return false;
    }
    feed_engine_t *e = st->e;
    char key[RDS_KEY_MAX];
    size_t klen = rds_key_warm(key, sizeof key, e->prefix, st->id);
    st->updated_ms = feed_now_ms();
    rds_args_t a;
    rds_args_init(&a);
    rds_args_str(&a, "HSET");
    rds_args_add(&a, key, klen);
    rds_args_str(&a, "done");
    rds_args_int(&a, st->done);
    rds_args_str(&a, "total");
    rds_args_int(&a, st->total);
    rds_args_str(&a, "state");
    rds_args_str(&a, state_names[st->state]);
    rds_args_str(&a, "started_ms");
    rds_args_int(&a, st->started_ms);
    rds_args_str(&a, "updated_ms");
    rds_args_int(&a, st->updated_ms);
    rds_args_str(&a, "error");
    rds_args_str(&a, st->error);
    rds_batch_t *b = rds_batch_new(e->redis, st->affinity);
    rds_batch_add(b, &a);
    rds_args_reset(&a);
    rds_args_str(&a, "EXPIRE");
    rds_args_add(&a, key, klen);
    rds_args_int(&a, FEED_WARM_KEEP_S);
    rds_batch_add(b, &a);
    rds_args_free(&a);
    st->write_inflight = true;
    st->written_ns = uv_hrtime();
    st->written_done = st->done;
    st->written_state = st->state;
    rds_batch_wait(b, on_written, st);
    return true;
}

bool feed_warm_job_flush(feed_warm_job_t *st)
{
    if (!st->write_dirty)
        return false;
    /* A newer state came meanwhile (when stopping: failed, "shutdown"). */
    st->write_dirty = false;
    return feed_warm_job_write(st);
}

bool feed_warm_job_maybe_write(feed_warm_job_t *st, uint64_t now_ns)
{
    uint64_t since_ms = (now_ns - st->written_ns) / 1000000;
    if (st->state != st->written_state ||
        (st->done != st->written_done && since_ms >= FEED_WARM_PROGRESS_MS) ||
        since_ms >= FEED_WARM_HEARTBEAT_MS)
        return feed_warm_job_write(st);
    return false;
}

/* ---- warm.status ------------------------------------------------------------ */

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

void feed_warm_job_pack_status(msgpack_packer *pk, const feed_warm_job_t *st)
{
    pack_status(pk, st->done, st->total, state_names[st->state], st->error, strlen(st->error),
                st->started_ms, st->updated_ms ? st->updated_ms : feed_now_ms());
}

bool feed_warm_job_orphaned(const char *state, int64_t updated_ms, int64_t now_ms)
{
    bool live = strcmp(state, "running") == 0 || strcmp(state, "paused") == 0;
    return live && updated_ms > 0 && now_ms - updated_ms > FEED_WARM_ORPHAN_MS;
}

typedef struct {
    rpc_call_t *call;
    char job[RDS_KEY_JOB_MAX + 1];
} status_req_t;

static int64_t field_int(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

static void on_status(redisReply *r, void *arg)
{
    status_req_t *q = arg;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        rpc_reply_unavailable(q->call, "Redis is unavailable");
    } else if (r->element[2]->type != REDIS_REPLY_STRING) {
        rpc_reply_not_found(q->call,
                            "job: no warm job '%s' (jobs are remembered for 1 h after they end)",
                            q->job);
    } else {
        const redisReply *err = r->element[3];
        bool has_err = err->type == REDIS_REPLY_STRING;
        const char *state = r->element[2]->str;
        const char *error = has_err ? err->str : "";
        size_t error_len = has_err ? err->len : 0;
        int64_t updated_ms = field_int(r->element[5]);
        char why[120];
        if (feed_warm_job_orphaned(state, updated_ms, feed_now_ms())) {
            /* Its instance died (a shutdown marks its jobs failed): nobody
             * will finish it, so it is not reported as still running. */
            state = "failed";
            error_len = (size_t)snprintf(why, sizeof why, "its instance stopped reporting "
                                         "(last report %" PRId64 " s ago)",
                                         (feed_now_ms() - updated_ms) / 1000);
            error = why;
        }
        msgpack_packer *pk = rpc_reply_begin(q->call);
        pack_status(pk, field_int(r->element[0]), field_int(r->element[1]), state, error,
                    error_len, field_int(r->element[4]), updated_ms);
        rpc_reply_end(q->call);
    }
    free(q);
}

void feed_warm_job_fetch_status(feed_engine_t *e, rpc_call_t *call, const char *id)
{
    status_req_t *q = fc_xcalloc(1, sizeof *q);
    q->call = call;
    snprintf(q->job, sizeof q->job, "%s", id);
    char key[RDS_KEY_MAX];
    size_t klen = rds_key_warm(key, sizeof key, e->prefix, id);
    rds_args_t a;
    rds_args_init(&a);
    rds_args_str(&a, "HMGET");
    rds_args_add(&a, key, klen);
    rds_args_str(&a, "done");
    rds_args_str(&a, "total");
    rds_args_str(&a, "state");
    rds_args_str(&a, "error");
    rds_args_str(&a, "started_ms");
    rds_args_str(&a, "updated_ms");
    rds_send(e->redis, rpc_call_conn_id(call), &a, on_status, q);
    rds_args_free(&a);
}
