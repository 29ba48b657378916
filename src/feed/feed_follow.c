/* follow and unfollow in place (feed_follow.h).
 *
 *   1. One round trip on the follower's connection: the unfollowed set
 *      (SREM on follow; on unfollow UNFOLLOW_GUARD's SADD, which guards
 *      the feed too, and PEXPIRE, before anything is read, so that no
 *      fan-out delivers the followee's posts after it),
 *      the celebrity flag, the follower count, the feed's state and oldest
 *      entry, and on a single Redis the followee's recent-posts set.
 *   2. The followee's posts: that set when it exists. On a single Redis a
 *      missing set is rebuilt first (feed_rebuild_author: one PostgreSQL
 *      query that later follows of the same author then share, which is
 *      what a follow storm on one account needs). On a cluster they come
 *      from PostgreSQL: there the publish's write to the set and its fan-out
 *      job go to different nodes, so the set could lag behind a delivery
 *      and miss a post; PostgreSQL has the row before publish is called.
 *   3. FOLLOW_MERGE or UNFOLLOW_REMOVE on the feed (feed_scripts.h), which
 *      rechecks the feed's state and floor atomically.
 * Why this is exact under races (docs/DATA_MODEL.md, "Why it stays correct
 * under races"): a post published before the follows row changed is in the
 * set or in PostgreSQL by the time step 2 reads (a single Redis runs the
 * publish's set write before its fan-out job is even queued); one published
 * after reaches the feed through fan-out, or, on unfollow, is kept out by the
 * unfollowed set; a rebuild in flight is dropped, as before. */
#include "feed/feed_follow.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_cmd.h"
#include "feed/feed_metrics.h"
#include "feed/feed_rebuild.h"
#include "feed/feed_scripts.h"
#include "rpc/rpc_reply.h"
#include "store/pg/pg.h"
#include "store/redis/rds_keys.h"
#include "util/num.h"

/* A partial feed left with fewer than feed_max / UNFOLLOW_MIN_KEEP_DIV
 * entries after an unfollow is rebuilt rather than kept: most pages of it
 * would need PostgreSQL. */
#define UNFOLLOW_MIN_KEEP_DIV 4

typedef struct {
    int64_t ts, id;
} entry_t;

typedef struct {
    feed_engine_t *e;
    rpc_call_t *call;
    int64_t follower, followee;
    bool unfollow;
    int feed_state;            /* FEED_STATE_*, or 0: no feed */
    bool has_floor;            /* the feed held an entry: floor is its oldest, or its
                                  coverage floor if newer */
    int64_t floor;
    entry_t *posts;            /* the followee's posts, newest first */
    size_t nposts;
    bool complete;             /* posts holds every live post of the followee */
    rds_batch_t *batch;
    rds_args_t args;
} follow_t;

static void follow_free(follow_t *f)
{
    rds_batch_free(f->batch);
    rds_args_free(&f->args);
    free(f->posts);
    free(f);
}

static void count_path(const follow_t *f, feed_follow_path_t path)
{
    metric_inc(feed_metrics.follow_updates[f->unfollow][path]);
}

static void reply_ok(follow_t *f, feed_follow_path_t path)
{
    count_path(f, path);
    rpc_reply_ok(f->call);
    follow_free(f);
}

static void reply_unavailable(follow_t *f)
{
    rpc_reply_unavailable(f->call, "Redis is unavailable");
    follow_free(f);
}

static rds_args_t *cmd(follow_t *f, const char *name, feed_key_fn *key, int64_t id)
{
    return feed_args_cmd(&f->args, name, key, f->e->prefix, id);
}

static void add(follow_t *f)
{
    rds_batch_add(f->batch, &f->args);
}

static bool reply_score(const redisReply *r, int64_t *out)
{
    if (!r || r->type != REDIS_REPLY_STRING)
        return false;
    char *end;
    long long v = strtoll(r->str, &end, 10);
    if (end == r->str)
        return false;
    *out = v;
    return true;
}

/* ---- step 3: the script ------------------------------------------------ */

static void on_changed(rds_batch_t *b, void *arg)
{
    follow_t *f = arg;
    int64_t v;
    if (!feed_batch_ok(b) || rds_reply_int(rds_batch_reply(b, 0), &v) != 0) {
        reply_unavailable(f);
        return;
    }
    reply_ok(f, v > 0 ? FEED_FOLLOW_IN_PLACE : v == 0 ? FEED_FOLLOW_NO_FEED : FEED_FOLLOW_REBUILD);
}

static void on_dropped(rds_batch_t *b, void *arg)
{
    follow_t *f = arg;
    if (!feed_batch_ok(b)) {
        reply_unavailable(f);
        return;
    }
    reply_ok(f, FEED_FOLLOW_REBUILD);
}

/* The fallback of before: drop the feed, the next read rebuilds it. */
static void drop_feed(follow_t *f)
{
    rds_batch_clear(f->batch);
    cmd(f, "DEL", rds_key_feed, f->follower);
    add(f);
    rds_batch_wait(f->batch, on_dropped, f);
}

static void merge(follow_t *f)
{
    rds_args_t *a = &f->args;
    size_t n = f->nposts;
    /* The source reaches down to its oldest post only, unless complete. */
    bool has_cut = !f->complete && n > 0;
    int64_t cut = has_cut ? f->posts[n - 1].ts : 0;
    /* Posts below a partial feed's floor cannot go in; say so with the cut,
     * so that a feed rebuilt meanwhile with a lower floor stays exact. */
    if (f->feed_state == FEED_STATE_PARTIAL && f->has_floor) {
        while (n > 0 && f->posts[n - 1].ts < f->floor)
            n--;
        if (!has_cut || f->floor > cut)
            cut = f->floor;
        has_cut = true;
    }
    rds_batch_clear(f->batch);
    feed_args_eval(a, feed_script_follow_merge, 1);
    rds_args_key(a, rds_key_feed, f->e->prefix, f->follower);
    rds_args_int(a, f->e->feed_max);
    if (has_cut)
        rds_args_int(a, feed_home_score(cut));
    else
        rds_args_str(a, "");
    for (size_t i = 0; i < n; i++) {
        rds_args_int(a, feed_home_score(f->posts[i].ts));
        rds_args_int(a, f->posts[i].id);
    }
    add(f);
    rds_batch_wait(f->batch, on_changed, f);
}

static void remove_entries(follow_t *f)
{
    rds_args_t *a = &f->args;
    rds_batch_clear(f->batch);
    feed_args_eval(a, feed_script_unfollow_remove, 1);
    rds_args_key(a, rds_key_feed, f->e->prefix, f->follower);
    if (f->complete || f->nposts == 0)
        rds_args_str(a, "");
    else
        rds_args_int(a, feed_home_score(f->posts[f->nposts - 1].ts));
    rds_args_int(a, f->e->feed_max / UNFOLLOW_MIN_KEEP_DIV);
    rds_args_addf(a, FEED_MEMBER_CELEB "%" PRId64, f->followee);
    for (size_t i = 0; i < f->nposts; i++)
        rds_args_int(a, f->posts[i].id);
    add(f);
    rds_batch_wait(f->batch, on_changed, f);
}

/* The followee's posts are in f->posts. */
static void change(follow_t *f)
{
    if (f->unfollow)
        remove_entries(f);
    else
        merge(f);
}

/* ---- step 2: the followee's posts -------------------------------------- */

/* PostgreSQL rows (id, created_at ms), newest first, at most feed_max + 1:
 * one more than feed_max means older posts exist. */
static void on_rows(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    follow_t *f = arg;
    (void)errmsg;
    if (status != PG_OK) {
        /* The follow is still honoured: without the posts, by a rebuild. */
        drop_feed(f);
        return;
    }
    int rows = PQntuples(res);
    f->posts = fc_xcalloc(rows > 0 ? (size_t)rows : 1, sizeof *f->posts);
    for (int i = 0; i < rows; i++) {
        f->posts[i].id = fc_i64(PQgetvalue(res, i, 0));
        f->posts[i].ts = fc_i64(PQgetvalue(res, i, 1));
    }
    f->nposts = (size_t)rows;
    f->complete = rows <= f->e->feed_max;
    /* A merge takes feed_max posts: the extra row only said "there is more".
     * An unfollow removes it too (the members must cover the feed). */
    if (!f->unfollow && !f->complete)
        f->nposts--;
    change(f);
}

static void query_posts(follow_t *f)
{
    const int64_t params[] = { f->followee, f->e->feed_max + 1 };
    pg_query_i64(f->e->pg, PGQ_author_posts, params, on_rows, f);
}

/* The recent-posts set read in the same batch as replies `at` (ZSCORE s)
 * and `at + 1` (ZRANGE newest feed_max + 1 WITHSCORES). False when the set
 * does not exist or is being built. */
static bool take_set(follow_t *f, const rds_batch_t *b, size_t at)
{
    int64_t state;
    if (!reply_score(rds_batch_reply(b, at), &state) ||
        (state != FEED_STATE_COMPLETE && state != FEED_STATE_PARTIAL))
        return false;
    const redisReply *r = rds_batch_reply(b, at + 1);
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return false;
    size_t n = r->elements / 2;
    f->posts = fc_xcalloc(n ? n : 1, sizeof *f->posts);
    for (size_t i = 0; i < n; i++) {
        if (r->element[2 * i]->type != REDIS_REPLY_STRING)
            return false;
        f->posts[i].id = strtoll(r->element[2 * i]->str, NULL, 10);
        if (!reply_score(r->element[2 * i + 1], &f->posts[i].ts))
            return false;
    }
    f->nposts = n;
    f->complete = state == FEED_STATE_COMPLETE && (int64_t)n <= f->e->feed_max;
    if (!f->unfollow && (int64_t)n > f->e->feed_max)
        f->nposts = (size_t)f->e->feed_max;
    return true;
}

/* An unfollow needs posts reaching below the feed's floor; a set that
 * stops above it is not enough (PostgreSQL's newest feed_max + 1 are: the
 * feed cannot hold more of the followee's posts than that). */
static bool set_covers_feed(const follow_t *f)
{
    if (!f->unfollow || f->complete || !f->has_floor)
        return true;
    return f->nposts > 0 && f->posts[f->nposts - 1].ts < f->floor;
}

static void read_set(follow_t *f);

static void on_set_rebuilt(int status, void *arg)
{
    follow_t *f = arg;
    if (status == FEED_REBUILD_OK)
        read_set(f);
    else
        query_posts(f);         /* shed, raced or failed: straight from PostgreSQL */
}

static void on_set(rds_batch_t *b, void *arg)
{
    follow_t *f = arg;
    if (!feed_batch_ok(b)) {
        reply_unavailable(f);
        return;
    }
    if (take_set(f, b, 0) && set_covers_feed(f)) {
        change(f);
        return;
    }
    free(f->posts);
    f->posts = NULL;
    f->nposts = 0;
    query_posts(f);
}

static void add_set_reads(follow_t *f)
{
    cmd(f, "ZSCORE", rds_key_posts, f->followee);
    rds_args_str(&f->args, FEED_MEMBER_STATE);
    add(f);
    rds_args_t *a = cmd(f, "ZRANGE", rds_key_posts, f->followee);
    rds_args_str(a, "+inf");
    rds_args_str(a, "0");
    rds_args_str(a, "BYSCORE");
    rds_args_str(a, "REV");
    rds_args_str(a, "LIMIT");
    rds_args_str(a, "0");
    rds_args_int(a, f->e->feed_max + 1);
    rds_args_str(a, "WITHSCORES");
    add(f);
}

static void read_set(follow_t *f)
{
    rds_batch_clear(f->batch);
    add_set_reads(f);
    rds_batch_wait(f->batch, on_set, f);
}

/* ---- step 1 ------------------------------------------------------------ */

/* A celebrity followee: its marker went into the feed (FOLLOW_CELEB), or a
 * building feed was dropped. */
static void on_celebrity(rds_batch_t *b, void *arg)
{
    follow_t *f = arg;
    if (!feed_batch_ok(b)) {
        reply_unavailable(f);
        return;
    }
    reply_ok(f, FEED_FOLLOW_CELEBRITY);
}

enum { R_UNF, R_FLAG, R_COUNT, R_STATE, R_FLOOR, R_SET };

static void on_read(rds_batch_t *b, void *arg)
{
    follow_t *f = arg;
    if (!feed_batch_ok(b)) {
        reply_unavailable(f);
        return;
    }
    if (!f->unfollow) {
        const redisReply *flag = rds_batch_reply(b, R_FLAG);
        if (flag->type == REDIS_REPLY_INTEGER && flag->integer == 1) {
            rds_batch_clear(b);
            feed_args_eval(&f->args, feed_script_follow_celeb, 1);
            rds_args_key(&f->args, rds_key_feed, f->e->prefix, f->follower);
            rds_args_addf(&f->args, FEED_MEMBER_CELEB "%" PRId64, f->followee);
            add(f);
            rds_batch_wait(b, on_celebrity, f);
            return;
        }
    }
    const redisReply *st = rds_batch_reply(b, R_STATE);
    feed_sentinel_t sentinel;
    if (!st || st->type != REDIS_REPLY_STRING || !feed_sentinel_parse(st->str, &sentinel)) {
        reply_ok(f, FEED_FOLLOW_NO_FEED);
        return;
    }
    if (sentinel.state != FEED_STATE_COMPLETE && sentinel.state != FEED_STATE_PARTIAL) {
        drop_feed(f);
        return;
    }
    f->feed_state = sentinel.state;
    const redisReply *lo = rds_batch_reply(b, R_FLOOR);
    if (lo->type == REDIS_REPLY_ARRAY && lo->elements == 2 &&
        reply_score(lo->element[1], &f->floor)) {
        f->has_floor = true;
        f->floor = feed_home_ts(f->floor);      /* the feed's oldest entry */
        /* ... or the coverage floor, if newer: what lies below it is not
         * trusted (feed_scripts.h, "The sentinel's fraction"). */
        if (sentinel.state == FEED_STATE_PARTIAL && sentinel.cover > f->floor)
            f->floor = sentinel.cover;
    }
    if (rds_batch_count(b) > R_SET) {
        if (take_set(f, b, R_SET) && set_covers_feed(f)) {
            change(f);
            return;
        }
        free(f->posts);
        f->posts = NULL;
        f->nposts = 0;
        int64_t set_state;
        if (!reply_score(rds_batch_reply(b, R_SET), &set_state)) {
            /* No set: build it, so the next follows of this author share it. */
            feed_rebuild_author(f->e, f->followee, on_set_rebuilt, f);
            return;
        }
    }
    query_posts(f);
}

static void start(feed_engine_t *e, rpc_call_t *call, int64_t follower, int64_t followee,
                  bool unfollow)
{
    follow_t *f = fc_xcalloc(1, sizeof *f);
    f->e = e;
    f->call = call;
    f->follower = follower;
    f->followee = followee;
    f->unfollow = unfollow;
    f->batch = rds_batch_new(e->redis, feed_affinity(follower));
    rds_args_init(&f->args);

    if (unfollow) {
        /* The set and the feed's unfollow guard in one step (feed_scripts.h). */
        feed_args_eval(&f->args, feed_script_unfollow_guard, 2);
        rds_args_key(&f->args, rds_key_unfollowed, e->prefix, follower);
        rds_args_key(&f->args, rds_key_feed, e->prefix, follower);
        rds_args_int(&f->args, followee);
    } else {
        rds_args_int(cmd(f, "SREM", rds_key_unfollowed, follower), followee);
    }
    add(f);
    if (unfollow) {
        rds_args_int(cmd(f, "PEXPIRE", rds_key_unfollowed, follower), FEED_UNFOLLOW_TTL_MS);
    } else {
        char key[RDS_KEY_MAX];
        size_t n = rds_key_celebrities(key, sizeof key, e->prefix);
        rds_args_reset(&f->args);
        rds_args_str(&f->args, "SISMEMBER");
        rds_args_add(&f->args, key, n);
        rds_args_int(&f->args, followee);
    }
    add(f);
    /* The followee's cached follower count (COUNT_ADD): it decides fan-out
     * or celebrity merge at publish. */
    feed_args_eval(&f->args, feed_script_count_add, 1);
    rds_args_key(&f->args, rds_key_fcount, e->prefix, followee);
    rds_args_int(&f->args, unfollow ? -1 : 1);
    add(f);
    cmd(f, "ZSCORE", rds_key_feed, follower);
    rds_args_str(&f->args, FEED_MEMBER_STATE);
    add(f);
    /* The feed's floor: its oldest entry, the highest score (newest first). */
    rds_args_t *a = cmd(f, "ZRANGE", rds_key_feed, follower);
    rds_args_str(a, "+inf");
    rds_args_str(a, "0");
    rds_args_str(a, "BYSCORE");
    rds_args_str(a, "REV");
    rds_args_str(a, "LIMIT");
    rds_args_str(a, "0");
    rds_args_str(a, "1");
    rds_args_str(a, "WITHSCORES");
    add(f);
    if (!rds_pool_is_cluster(e->redis))
        add_set_reads(f);
    rds_batch_wait(f->batch, on_read, f);
}

void feed_follow(feed_engine_t *e, rpc_call_t *call, int64_t follower, int64_t followee)
{
    start(e, call, follower, followee, false);
}

void feed_unfollow(feed_engine_t *e, rpc_call_t *call, int64_t follower, int64_t followee)
{
    start(e, call, follower, followee, true);
}
