/* The write side of the engine. Every method writes Redis before answering,
 * so that a read after the answer sees the change:
 *
 *   post.publish   the post's value (write-through), the author's recent-posts
 *                  set and own feed (read-your-writes), and either a durable
 *                  fan-out job (XADD) or, for a celebrity, the celebrity
 *                  flag and, once per author, a marker job (recorded as
 *                  queued only after it is) — decided by the cached follower
 *                  count at publish time; OVERLOADED past fanout_queue_max.
 *                  On a single Redis one round trip when the count is
 *                  cached and the author no new celebrity; else two (the
 *                  state, then the writes that depend on it);
 *   post.update    the new body into the post's value (feed_postval.h);
 *   post.delete    a tombstone as the post's value (reads skip tombstones), the
 *                  post out of the author's set and own feed, and a job that
 *                  removes it from the followers' feeds;
 *   invalidate     the feed dropped.
 * follow and unfollow are in feed_follow.c. */
#include "feed/feed_write.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_celebs.h"
#include "feed/feed_cmd.h"
#include "feed/feed_job.h"
#include "feed/feed_metrics.h"
#include "feed/feed_postval.h"
#include "feed/feed_scripts.h"
#include "feed/feed_shard.h"
#include "rpc/rpc_reply.h"
#include "util/fault.h"
#include "util/log.h"

typedef struct {
    feed_engine_t *e;
    rpc_call_t *call;
    feed_post_t post;
    char *body;
    bool celebrity;            /* publish: the author is a celebrity now */
    bool flagged;              /* publish: the author's celebrity flag was set */
    bool marked;               /* publish: the author's marker job was queued before */
    bool written;              /* publish: the post's value and the author's sets are written */
    int64_t queued;            /* publish: fan-out jobs queued */
    size_t first_wait;         /* publish: index of the first WAIT in the batch */
    rds_batch_t *batch;
    rds_args_t args;
} write_t;

/* owner: the user or author whose keys the write is about; its commands
 * share that id's connection, so they stay in order with its reads. */
static write_t *write_new(feed_engine_t *e, rpc_call_t *call, int64_t owner)
{
    write_t *w = fc_xcalloc(1, sizeof *w);
    w->e = e;
    w->call = call;
    w->batch = rds_batch_new(e->redis, feed_affinity(owner));
    rds_args_init(&w->args);
    return w;
}

static void write_free(write_t *w)
{
    rds_batch_free(w->batch);
    rds_args_free(&w->args);
    free(w->body);
    free(w);
}

static void reply_ok(write_t *w)
{
    rpc_reply_ok(w->call);
    write_free(w);
}

static void reply_unavailable(write_t *w)
{
    rpc_reply_unavailable(w->call, "Redis is unavailable");
    write_free(w);
}

/* Starts "NAME key(id)" in w->args; the caller appends the rest and adds
 * the command with add(). */
static rds_args_t *cmd(write_t *w, const char *name, feed_key_fn *key, int64_t id)
{
    return feed_args_cmd(&w->args, name, key, w->e->prefix, id);
}

static void add(write_t *w)
{
    rds_batch_add(w->batch, &w->args);
}

/* Queues a fan-out job (feed_job.h) on the durable stream: the author's
 * shard, so one author's jobs stay in order. */
static void add_job(write_t *w, feed_job_type_t type, int64_t post, int64_t author, int64_t ts)
{
    rds_args_t *a = &w->args;
    char key[RDS_KEY_MAX];
    size_t n = rds_key_fanout(key, sizeof key, w->e->prefix,
                              feed_shard_of(author, w->e->fanout_shards));
    rds_args_reset(a);
    rds_args_str(a, "XADD");
    rds_args_add(a, key, n);
    rds_args_str(a, "*");
    feed_job_t job = { type, post, author, ts, feed_now_ms() };
    feed_job_encode(&job, a);
    rds_batch_add(w->batch, a);
}

/* Adds a post to its author's own home feed (newest first) or recent-posts
 * set (FEED_PUSH, stride 1). */
static void add_push(write_t *w, bool home, int64_t post, int64_t ts, int64_t author)
{
    feed_args_eval(&w->args, feed_script_push, 1);
    rds_args_key(&w->args, home ? rds_key_feed : rds_key_posts, w->e->prefix, author);
    rds_args_int(&w->args, post);
    rds_args_int(&w->args, home ? feed_home_score(ts) : ts);
    rds_args_int(&w->args, w->e->feed_max);
    rds_args_int(&w->args, author);
    rds_args_str(&w->args, "1");          /* stride: one key per feed */
    rds_args_str(&w->args, home ? "1" : "0");
    rds_args_int(&w->args, home ? feed_trim_slack(w->e->feed_max) : 0);
    add(w);
}

/* ---- post.publish ------------------------------------------------------ */

/* redis_wait_replicas: a WAIT behind the publish's writes, so that the
 * answer means "on the master and on that many replicas" and a failover
 * cannot lose the post. WAIT counts the writes of its own connection: on
 * a single Redis the batch's one connection carries them all; on a cluster
 * each written key's master gets its own WAIT, sent on the connection of
 * the batch's affinity there (rds_args_route_like), right behind the
 * write. Two keys on one master make a second WAIT that returns at once. */
static void add_wait_like(write_t *w, const char *key, size_t len)
{
    rds_args_reset(&w->args);
    rds_args_str(&w->args, "WAIT");
    rds_args_int(&w->args, w->e->wait_replicas);
    rds_args_int(&w->args, w->e->wait_timeout_ms);
    rds_args_route_like(&w->args, key, len);
    add(w);
}

static void add_waits(write_t *w)
{
    feed_engine_t *e = w->e;
    w->first_wait = rds_batch_count(w->batch);
    if (e->wait_replicas <= 0)
        return;
    char key[RDS_KEY_MAX];
    /* The job's stream: the author's shard. */
    size_t n = rds_key_fanout(key, sizeof key, e->prefix,
                              feed_shard_of(w->post.author_id, e->fanout_shards));
    add_wait_like(w, key, n);
    if (!rds_pool_is_cluster(e->redis))
        return;
    feed_key_fn *const keys[] = { rds_key_post, rds_key_posts, rds_key_feed };
    const int64_t ids[] = { w->post.id, w->post.author_id, w->post.author_id };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        n = keys[i](key, sizeof key, e->prefix, ids[i]);
        add_wait_like(w, key, n);
    }
    if (w->celebrity) {
        n = rds_key_celebrities(key, sizeof key, e->prefix);
        add_wait_like(w, key, n);
    }
}

/* Whether every WAIT saw enough replicas; says why not in why. */
static bool waits_ok(write_t *w, char *why, size_t whylen)
{
    for (size_t i = w->first_wait; i < rds_batch_count(w->batch); i++) {
        const redisReply *r = rds_batch_reply(w->batch, i);
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer >= w->e->wait_replicas)
            continue;
        snprintf(why, whylen, "the post is written but only %lld of %d Redis replicas "
                 "acknowledged it within %d ms (redis_wait_replicas): a failover could lose "
                 "it; publishing it again is safe",
                 r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0LL, w->e->wait_replicas,
                 w->e->wait_timeout_ms);
        return false;
    }
    return true;
}

static void reply_published(write_t *w)
{
    msgpack_packer *pk = rpc_reply_begin(w->call);
    msgpack_pack_map(pk, 2);
    rpc_pack_cstr(pk, "queued");
    msgpack_pack_true(pk);
    rpc_pack_cstr(pk, "mode");
    rpc_pack_cstr(pk, w->celebrity ? "celebrity" : "fanout");
    rpc_reply_end(w->call);
    write_free(w);
}

static void on_flagged(rds_batch_t *b, void *arg)
{
    write_t *w = arg;
    if (!feed_batch_ok(b)) {
        reply_unavailable(w);
        return;
    }
    reply_published(w);
}

/* The writes of a publish are answered: whether they all succeeded and
 * reached their replicas. If not, answers the call (and frees w). */
static bool publish_written(write_t *w, rds_batch_t *b)
{
    /* This instance's cached window of the author's set is older than the
     * post: the next read here must see it (feed_celebs.h). */
    feed_celebs_forget(w->e->celebs, w->post.author_id);
    if (!feed_batch_ok(b)) {
        reply_unavailable(w);
        return false;
    }
    char why[256];
    if (!waits_ok(w, why, sizeof why)) {
        metric_inc(feed_metrics.publish_unreplicated_total);
        rpc_reply_unavailable(w->call, why);
        write_free(w);
        return false;
    }
    return true;
}

static void on_published(rds_batch_t *b, void *arg)
{
    write_t *w = arg;
    if (!publish_written(w, b))
        return;
    if (w->celebrity && !w->marked) {
        /* The marker job is queued: only now is the author recorded as
         * marked. A crash before this SADD leaves it unrecorded, so the next
         * publish queues the marker again (markers are idempotent); a record
         * written first could outlive a marker job that never came, and
         * followers' feeds would never merge the author's posts. */
        fault_point("publish.marker_queued");
        char key[RDS_KEY_MAX];
        size_t n = rds_key_celebrities_marked(key, sizeof key, w->e->prefix);
        rds_batch_clear(b);
        rds_args_reset(&w->args);
        rds_args_str(&w->args, "SADD");
        rds_args_add(&w->args, key, n);
        rds_args_int(&w->args, w->post.author_id);
        add(w);
        rds_batch_wait(b, on_flagged, w);
        return;
    }
    if (!w->celebrity)
        metric_gauge_add(feed_metrics.fanout_queue_depth, 1);
    reply_published(w);
}

/* What every publish writes, whatever its mode. */
static void add_post_writes(write_t *w)
{
    const feed_post_t *p = &w->post;
    rds_args_t *a = &w->args;
    if (w->body) {
        /* Through POST_FILL: an update or delete of this post that
         * overtook the publish (pipelined behind it, on another connection)
         * has already written the newer body or the tombstone. */
        buf_t value;
        buf_init(&value);
        feed_postval_post(&value, p->author_id, w->body, p->body_len);
        feed_args_eval(a, feed_script_post_fill, 1);
        rds_args_key(a, rds_key_post, w->e->prefix, p->id);
        rds_args_int(a, w->e->post_ttl_s);
        rds_args_add(a, value.data, value.len);
        rds_batch_add(w->batch, a);
        buf_free(&value);
    }
    add_push(w, false, p->id, p->created_at, p->author_id);
    /* Read-your-writes: the author's own feed gets the post now, not
     * behind the fan-out queue (the job delivers it again, harmlessly). */
    add_push(w, true, p->id, p->created_at, p->author_id);
}

static void publish_write(write_t *w)
{
    const feed_post_t *p = &w->post;
    feed_engine_t *e = w->e;
    rds_args_t *a = &w->args;
    rds_batch_clear(w->batch);
    if (!w->written)
        add_post_writes(w);
    if (w->celebrity) {
        /* No fan-out: followers merge the author's set at read time, once
         * their feeds carry the author's marker. The flag makes rebuilds
         * write the marker; the marker job writes it into existing feeds. */
        if (!w->flagged) {
            char key[RDS_KEY_MAX];
            size_t n = rds_key_celebrities(key, sizeof key, e->prefix);
            rds_args_reset(a);
            rds_args_str(a, "SADD");
            rds_args_add(a, key, n);
            rds_args_int(a, p->author_id);
            add(w);
        }
        if (!w->marked) {
            log_info("feed", "author %" PRId64 " is now a celebrity: marking followers' feeds",
                     p->author_id);
            add_job(w, FEED_JOB_MARK, p->id, p->author_id, p->created_at);
        }
    } else {
        add_job(w, FEED_JOB_POST, p->id, p->author_id, p->created_at);
    }
    if (rds_batch_count(w->batch) == 0) {
        /* Written in the first round trip (publish_at_once), and a
         * celebrity flagged and marked before: nothing depends on the
         * mode. */
        reply_published(w);
        return;
    }
    add_waits(w);
    rds_batch_wait(w->batch, on_published, w);
}

static void decide_mode(write_t *w, int64_t followers)
{
    w->celebrity = followers >= w->e->celebrity_threshold;
    if (!w->celebrity && w->queued >= w->e->fanout_queue_max) {
        /* The worker is behind by fanout_queue_max jobs: queueing more
         * would only grow the stream until Redis evicts feeds. No job is
         * queued (on a single Redis the post's value and the author's own
         * sets may be written: publishing again rewrites them, harmlessly);
         * the caller retries. */
        metric_inc(feed_metrics.publishes_shed_total);
        rpc_reply_overloaded(w->call, "the fan-out queue is full (fanout_queue_max jobs)");
        write_free(w);
        return;
    }
    publish_write(w);
}

static void on_follower_count(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    write_t *w = arg;
    if (status != PG_OK) {
        if (w->flagged) {
            /* A celebrity before: stays one, which costs followers nothing. */
            decide_mode(w, w->e->celebrity_threshold);
            return;
        }
        /* A fan-out decided on a guess could be millions of deliveries for
         * a big author: refuse instead (no job is queued; on a single Redis
         * the post's value and the author's own sets may be written, which
         * a publish again rewrites). */
        log_warn("feed", "follower count of %" PRId64 " unavailable (%s): publish refused",
                 w->post.author_id, errmsg ? errmsg : "?");
        rpc_reply_unavailable(w->call, "PostgreSQL is unavailable (the author's follower count "
                                       "decides between fan-out and celebrity merge)");
        write_free(w);
        return;
    }
    int64_t count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    rds_args_t *a = cmd(w, "SET", rds_key_fcount, w->post.author_id);
    rds_args_int(a, count);
    rds_args_str(a, "EX");
    rds_args_int(a, FEED_FCOUNT_TTL_S);
    rds_send(w->e->redis, feed_affinity(w->post.author_id), a, NULL, NULL);
    decide_mode(w, count);
}

/* RT1: the cached follower count, the celebrity flag and marker record, the
 * queue's length (the sum of every shard's). */
static void on_publish_state(rds_batch_t *b, void *arg)
{
    write_t *w = arg;
    if (!feed_batch_ok(b)) {
        reply_unavailable(w);
        return;
    }
    int64_t flagged = 0, marked = 0, count;
    w->flagged = rds_reply_int(rds_batch_reply(b, 1), &flagged) == 0 && flagged == 1;
    w->marked = rds_reply_int(rds_batch_reply(b, 2), &marked) == 0 && marked == 1;
    w->queued = 0;
    for (unsigned s = 0; s < w->e->fanout_shards; s++) {
        int64_t len;
        if (rds_reply_int(rds_batch_reply(b, 3 + s), &len) == 0)
            w->queued += len;
    }
    if (rds_reply_int(rds_batch_reply(b, 0), &count) == 0) {
        decide_mode(w, count);
        return;
    }
    pg_query_i64(w->e->pg, PGQ_follower_count, &w->post.author_id, on_follower_count, w);
}

/* The reply of PUBLISH_JOB (feed_scripts.h) into w; false if it is not
 * one. */
static bool read_publish_job(write_t *w, const redisReply *r, bool *has_count, int64_t *count,
                             bool *job)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 6)
        return false;
    int64_t v[6];
    for (size_t i = 0; i < 6; i++)
        if (rds_reply_int(r->element[i], &v[i]) != 0)
            return false;
    *has_count = v[0] == 1;
    *count = v[1];
    w->flagged = v[2] == 1;
    w->marked = v[3] == 1;
    w->queued = v[4];
    *job = v[5] == 1;
    return true;
}

static void on_published_at_once(rds_batch_t *b, void *arg)
{
    write_t *w = arg;
    if (!publish_written(w, b))
        return;
    bool has_count, job;
    int64_t count;
    /* PUBLISH_JOB is the last command before the WAITs. */
    const redisReply *state = rds_batch_reply(b, w->first_wait - 1);
    if (!read_publish_job(w, state, &has_count, &count, &job)) {
        log_warn("feed", "publish of %" PRId64 ": unexpected answer of the publish script",
                 w->post.id);
        reply_unavailable(w);
        return;
    }
    if (job) {
        metric_gauge_add(feed_metrics.fanout_queue_depth, 1);
        reply_published(w);
        return;
    }
    /* A celebrity, a full queue, or a count not cached: the rest as in two
     * round trips, without writing the post again. */
    if (has_count) {
        decide_mode(w, count);
        return;
    }
    pg_query_i64(w->e->pg, PGQ_follower_count, &w->post.author_id, on_follower_count, w);
}

/* On a single Redis every key is on one server, so one round trip can
 * carry it all: the writes every publish makes, then PUBLISH_JOB, which
 * reads the state the mode depends on and queues the fan-out job when that
 * is the mode (nearly every publish). A cluster cannot run it (its keys
 * are in several slots): there the state is read first. */
static void publish_at_once(write_t *w)
{
    feed_engine_t *e = w->e;
    rds_args_t *a = &w->args;
    char key[RDS_KEY_MAX];
    add_post_writes(w);
    w->written = true;
    feed_args_eval(a, feed_script_publish_job, 3 + (int)e->fanout_shards);
    rds_args_key(a, rds_key_fcount, e->prefix, w->post.author_id);
    rds_args_add(a, key, rds_key_celebrities(key, sizeof key, e->prefix));
    rds_args_add(a, key, rds_key_celebrities_marked(key, sizeof key, e->prefix));
    for (unsigned s = 0; s < e->fanout_shards; s++)
        rds_args_add(a, key, rds_key_fanout(key, sizeof key, e->prefix, s));
    rds_args_int(a, w->post.author_id);
    rds_args_int(a, e->celebrity_threshold);
    rds_args_int(a, e->fanout_queue_max);
    rds_args_int(a, feed_shard_of(w->post.author_id, e->fanout_shards) + 1);
    feed_job_t job = { FEED_JOB_POST, w->post.id, w->post.author_id, w->post.created_at,
                       feed_now_ms() };
    feed_job_encode(&job, a);
    add(w);
    add_waits(w);
    rds_batch_wait(w->batch, on_published_at_once, w);
}

void feed_publish(feed_engine_t *e, rpc_call_t *call, const feed_post_t *post)
{
    write_t *w = write_new(e, call, post->author_id);
    w->post = *post;
    if (post->body) {
        w->body = fc_xstrndup(post->body, post->body_len);
        w->post.body = w->body;
    }
    if (!rds_pool_is_cluster(e->redis)) {
        publish_at_once(w);
        return;
    }
    char key[RDS_KEY_MAX];
    cmd(w, "GET", rds_key_fcount, post->author_id);
    add(w);
    size_t n = rds_key_celebrities(key, sizeof key, e->prefix);
    rds_args_reset(&w->args);
    rds_args_str(&w->args, "SISMEMBER");
    rds_args_add(&w->args, key, n);
    rds_args_int(&w->args, post->author_id);
    add(w);
    n = rds_key_celebrities_marked(key, sizeof key, e->prefix);
    rds_args_reset(&w->args);
    rds_args_str(&w->args, "SISMEMBER");
    rds_args_add(&w->args, key, n);
    rds_args_int(&w->args, post->author_id);
    add(w);
    /* fanout_queue_max bounds the whole queue: one XLEN per shard (each in
     * its own slot; on a cluster they go to their nodes in parallel). */
    for (unsigned s = 0; s < e->fanout_shards; s++) {
        n = rds_key_fanout(key, sizeof key, e->prefix, s);
        rds_args_reset(&w->args);
        rds_args_str(&w->args, "XLEN");
        rds_args_add(&w->args, key, n);
        add(w);
    }
    rds_batch_wait(w->batch, on_publish_state, w);
}

/* ---- the others -------------------------------------------------------- */

static void on_done(rds_batch_t *b, void *arg)
{
    write_t *w = arg;
    if (!feed_batch_ok(b)) {
        reply_unavailable(w);
        return;
    }
    reply_ok(w);
}

static void on_deleted(rds_batch_t *b, void *arg)
{
    write_t *w = arg;
    feed_celebs_forget(w->e->celebs, w->post.author_id);
    on_done(b, arg);
}

void feed_post_update(feed_engine_t *e, rpc_call_t *call, int64_t id, const char *body,
                      size_t body_len)
{
    write_t *w = write_new(e, call, id);
    /* A post not cached before gets 'u<body>', a miss for readers, who fill
     * the author from PostgreSQL without overwriting this body. */
    rds_args_t *a = &w->args;
    feed_args_eval(a, feed_script_post_update, 1);
    rds_args_key(a, rds_key_post, e->prefix, id);
    rds_args_int(a, e->post_ttl_s);
    rds_args_add(a, body, body_len);
    add(w);
    rds_batch_wait(w->batch, on_done, w);
}

void feed_post_delete(feed_engine_t *e, rpc_call_t *call, int64_t id, int64_t author_id)
{
    write_t *w = write_new(e, call, author_id);
    rds_args_t *a = cmd(w, "SET", rds_key_post, id);
    rds_args_str(a, FEED_POSTVAL_TOMBSTONE);
    rds_args_str(a, "EX");
    rds_args_int(a, e->post_ttl_s);
    add(w);
    rds_args_int(cmd(w, "ZREM", rds_key_posts, author_id), id);
    add(w);
    rds_args_int(cmd(w, "ZREM", rds_key_feed, author_id), id);
    add(w);
    add_job(w, FEED_JOB_DELETE, id, author_id, 0);
    w->post.author_id = author_id;
    rds_batch_wait(w->batch, on_deleted, w);
}

void feed_invalidate(feed_engine_t *e, rpc_call_t *call, int64_t user_id)
{
    write_t *w = write_new(e, call, user_id);
    cmd(w, "DEL", rds_key_feed, user_id);
    add(w);
    rds_batch_wait(w->batch, on_done, w);
}
