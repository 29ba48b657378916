/* Cold start (see feed_rebuild.h for the steps). */
#include "feed/feed_rebuild.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_cmd.h"
#include "feed/feed_flight.h"
#include "feed/feed_metrics.h"
#include "feed/feed_scripts.h"
#include "metrics/metrics.h"
#include "util/log.h"
#include "util/num.h"

#define REBUILD_POLL_MS 20
#define REBUILD_MAX_POLLS 150       /* 3 s of waiting for another rebuilder */

typedef struct {
    feed_engine_t *e;
    feed_flight_kind_t kind;
    int64_t id;
    char token[32];
    rds_batch_t *batch;
    rds_args_t args;
    int polls;
    uv_timer_t *poll_timer;
    list_t poll_link;          /* in e->rebuild_polls while the timer is armed */
    int64_t *markers;          /* celebrity authors (home feeds) */
    size_t nmarkers;
    int64_t *hint;             /* the celebrities the query left out (sorted) */
    size_t nhint;
    int64_t *checked;          /* the user and the followees, whose flags the */
    size_t nchecked;           /* apply's SMISMEMBER reads (home feeds) */
    uint64_t start_ns;
} rebuild_t;

static void rebuild_begin(rebuild_t *r);

static size_t rebuild_key(const rebuild_t *r, char *out, size_t cap)
{
    return r->kind == FEED_FLIGHT_HOME ? rds_key_feed(out, cap, r->e->prefix, r->id)
                                       : rds_key_posts(out, cap, r->e->prefix, r->id);
}

static void args_key(rebuild_t *r)
{
    char key[RDS_KEY_MAX];
    size_t n = rebuild_key(r, key, sizeof key);
    rds_args_add(&r->args, key, n);
}


static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void rebuild_end(rebuild_t *r, feed_rebuild_status_t status)
{
    r->e->rebuilds_inflight--;
    metric_set(feed_metrics.rebuilds_inflight, r->e->rebuilds_inflight);
    if (status == FEED_REBUILD_OK && r->kind == FEED_FLIGHT_HOME && r->start_ns) {
        metric_observe(feed_metrics.feed_rebuild_duration_seconds,
                       (double)(uv_hrtime() - r->start_ns) / 1e9);
    }
    if (r->poll_timer) {
        list_remove(&r->poll_link);
        uv_close((uv_handle_t *)r->poll_timer, on_timer_closed);
    }
    feed_engine_t *e = r->e;
    feed_flight_kind_t kind = r->kind;
    int64_t id = r->id;
    rds_batch_free(r->batch);
    rds_args_free(&r->args);
    free(r->markers);
    free(r->hint);
    free(r->checked);
    free(r);
    feed_flight_finish(e->flights, kind, id, (int)status);
}

/* Drops our placeholder after a failure so that readers do not wait for a
 * rebuild that will never finish. Fire and forget. */
static void rebuild_abort(rebuild_t *r, const char *why)
{
    log_warn("feed", "rebuild of %s %" PRId64 " failed: %s",
             r->kind == FEED_FLIGHT_HOME ? "feed" : "author set", r->id, why);
    feed_args_eval(&r->args, feed_script_rebuild_drop, 1);
    args_key(r);
    rds_args_str(&r->args, r->token);
    rds_send(r->e->redis, feed_affinity(r->id), &r->args, NULL, NULL);
    rebuild_end(r, FEED_REBUILD_UNAVAILABLE);
}

static int64_t cell_int(const PGresult *res, int row, int col)
{
    return fc_i64(PQgetvalue(res, row, col));     /* PostgreSQL's text of an int8 */
}

/* ---- step 3: apply ----------------------------------------------------- */

/* The scratch key's safety net: it lives only from its ZADD to the
 * REBUILD_APPLY right behind it, which deletes it. */
#define REBUILD_TMP_TTL_MS 60000

static void known_celeb_update(feed_engine_t *e, int64_t id, bool flagged);
static bool in_sorted(const int64_t *set, size_t n, int64_t id);

static void on_marked(rds_batch_t *b, void *arg)
{
    rebuild_t *r = arg;
    if (rds_batch_failed(b)) {
        rebuild_abort(r, "cannot mark the celebrities flagged meanwhile");
        return;
    }
    metric_inc(feed_metrics.feed_rebuilds_total);
    rebuild_end(r, FEED_REBUILD_OK);
}

/* Deletes the feed just written (fire and forget) and ends the rebuild. */
static void drop_feed(rebuild_t *r, const char *key, size_t klen, feed_rebuild_status_t status)
{
    rds_args_reset(&r->args);
    rds_args_str(&r->args, "DEL");
    rds_args_add(&r->args, key, klen);
    rds_send(r->e->redis, feed_affinity(r->id), &r->args, NULL, NULL);
    rebuild_end(r, status);
}

/* Home feeds: the flags the apply's SMISMEMBER read against what the
 * statement left out (the hint). Nearly always they agree. An author
 * flagged that the hint did not have (another instance flagged it since
 * this one last looked) had its posts written, and gets its marker now
 * (FOLLOW_CELEB, as its marker job would have, had the feed existed). An
 * author in the hint that is not flagged (Redis lost the set) has a marker
 * but no posts in the feed: the feed is dropped and read again, with the
 * hint now right. Returns whether the rebuild went on from here. */
static bool check_flags(rebuild_t *r, const redisReply *rep)
{
    char key[RDS_KEY_MAX];
    size_t klen = rebuild_key(r, key, sizeof key);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != r->nchecked) {
        drop_feed(r, key, klen, FEED_REBUILD_UNAVAILABLE);
        return true;
    }
    /* rep lives in r->batch: read it whole before the batch is reused. */
    int64_t *late = fc_xmalloc(r->nchecked * sizeof *late);
    size_t nlate = 0;
    bool stale = false;
    for (size_t i = 0; i < r->nchecked; i++) {
        int64_t id = r->checked[i];
        bool flagged = rep->element[i]->type == REDIS_REPLY_INTEGER &&
                       rep->element[i]->integer == 1;
        bool hinted = in_sorted(r->hint, r->nhint, id);
        known_celeb_update(r->e, id, flagged);
        if (flagged && !hinted)
            late[nlate++] = id;
        else if (!flagged && hinted)
            stale = true;
    }
    rds_batch_clear(r->batch);
    for (size_t i = 0; i < nlate && !stale; i++) {
        feed_args_eval(&r->args, feed_script_follow_celeb, 1);
        rds_args_add(&r->args, key, klen);
        rds_args_addf(&r->args, FEED_MEMBER_CELEB "%" PRId64, late[i]);
        rds_batch_add(r->batch, &r->args);
    }
    free(late);
    if (stale) {
        drop_feed(r, key, klen, FEED_REBUILD_RETRY);
        return true;
    }
    if (nlate) {
        rds_batch_wait(r->batch, on_marked, r);
        return true;
    }
    return false;
}

static void on_applied(rds_batch_t *b, void *arg)
{
    rebuild_t *r = arg;
    /* apply_send's commands: the flags (home feeds), the scratch key's
     * ZADD and PEXPIRE, REBUILD_APPLY. */
    size_t first = r->checked ? 1 : 0;
    const redisReply *rows = rds_batch_reply(b, first);
    int64_t v;
    if (!rows || rows->type == REDIS_REPLY_ERROR ||
        rds_reply_int(rds_batch_reply(b, first + 2), &v) != 0) {
        rebuild_abort(r, "Redis did not take the rebuilt feed");
        return;
    }
    if (v == 0) {
        rebuild_end(r, FEED_REBUILD_RETRY);
        return;
    }
    if (r->checked && check_flags(r, rds_batch_reply(b, 0)))
        return;
    if (r->kind == FEED_FLIGHT_HOME)
        metric_inc(feed_metrics.feed_rebuilds_total);
    rebuild_end(r, FEED_REBUILD_OK);
}

static size_t tmp_key(const rebuild_t *r, char *out, size_t cap)
{
    return rds_key_rebuild_tmp(out, cap, r->e->prefix, r->id, r->token);
}

static void apply_send(rebuild_t *r, rds_args_t *rows);

/* Builds the scratch key's ZADD from the rows of res that have
 * an id (column 0 not NULL): all of them, or, when there are more than
 * feed_max (the query asks for one more), all but the oldest, and the
 * feed is partial, and REBUILD_APPLY in r->args, and sends them (apply_send). */
static void apply_rows(rebuild_t *r, const PGresult *res, int ts_col)
{
    int n = PQntuples(res), posts = 0, oldest = -1;
    int64_t ots = 0, oid = 0;
    for (int i = 0; i < n; i++)
        posts += !PQgetisnull(res, i, 0);
    int partial = posts > r->e->feed_max;
    if (partial) {
        for (int i = 0; i < n; i++) {
            if (PQgetisnull(res, i, 0))
                continue;
            int64_t ts = cell_int(res, i, ts_col), id = cell_int(res, i, 0);
            if (oldest < 0 || ts < ots || (ts == ots && id < oid)) {
                oldest = i;
                ots = ts;
                oid = id;
            }
        }
    }
    bool home = r->kind == FEED_FLIGHT_HOME;
    char tmp[RDS_KEY_MAX], pad[FEED_REBUILD_PAD_LEN];
    size_t tlen = tmp_key(r, tmp, sizeof tmp);
    memset(pad, '-', sizeof pad);
    rds_args_t rows;
    rds_args_init(&rows);
    rds_args_str(&rows, "ZADD");
    rds_args_add(&rows, tmp, tlen);
    rds_args_str(&rows, "0");
    rds_args_add(&rows, pad, sizeof pad);
    /* PostgreSQL's text of an int8 is already the decimal Redis wants. */
    for (int i = 0; i < n; i++) {
        if (i == oldest || PQgetisnull(res, i, 0))
            continue;
        if (home)
            rds_args_int(&rows, feed_home_score(cell_int(res, i, ts_col)));
        else
            rds_args_add(&rows, PQgetvalue(res, i, ts_col),
                         (size_t)PQgetlength(res, i, ts_col));
        rds_args_add(&rows, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
    }
    feed_args_eval(&r->args, feed_script_rebuild_apply, 2);
    args_key(r);
    rds_args_add(&r->args, tmp, tlen);
    rds_args_str(&r->args, r->token);
    rds_args_int(&r->args, r->e->feed_max);
    rds_args_int(&r->args, home ? feed_engine_ttl_set_ms(r->e) : r->e->post_ttl_s * 1000);
    rds_args_int(&r->args, partial);
    rds_args_str(&r->args, home ? "1" : "0");      /* a home feed is newest first */
    /* The coverage floor: no row left out is newer than the one the query
     * returned beyond feed_max, so the partial feed holds every post
     * created after that one. Fan-out then skips the floor check for a
     * newer post: one call fewer per delivery to the partial feeds that
     * rebuilds make (feed_scripts.h, "The sentinel's fraction"). */
    rds_args_int(&r->args, partial && home ? ots : 0);
    apply_send(r, &rows);
    rds_args_free(&rows);
}

/* Ends REBUILD_APPLY (the epoch, the markers) and sends it behind the
 * scratch key's ZADD and PEXPIRE, one pipeline on one connection, so that
 * they reach Redis in that order. A home feed's flags go first (on a
 * cluster to their own node, at the same time): read after the placeholder
 * exists, so that a celebrity flagged later sends its marker job after
 * that, and the job's marker lands in the placeholder or the feed; what
 * was flagged before is checked in check_flags. */
static void apply_send(rebuild_t *r, rds_args_t *rows)
{
    /* The epoch of the master this is written to: read under another one
     * (a failover since), the feed is rebuilt rather than trusted. */
    char key[RDS_KEY_MAX];
    size_t klen = rebuild_key(r, key, sizeof key);
    const char *epoch = rds_pool_epoch(r->e->redis, key, klen);
    if (epoch[0])
        rds_args_addf(&r->args, FEED_MEMBER_EPOCH "%s", epoch);
    else
        rds_args_str(&r->args, "");
    for (size_t i = 0; i < r->nmarkers; i++)
        rds_args_addf(&r->args, FEED_MEMBER_CELEB "%" PRId64, r->markers[i]);
    rds_batch_clear(r->batch);
    rds_args_t cmd;
    rds_args_init(&cmd);
    if (r->checked) {
        rds_args_str(&cmd, "SMISMEMBER");
        rds_args_add(&cmd, key, rds_key_celebrities(key, sizeof key, r->e->prefix));
        for (size_t i = 0; i < r->nchecked; i++)
            rds_args_int(&cmd, r->checked[i]);
        rds_batch_add(r->batch, &cmd);
        rds_args_reset(&cmd);
    }
    rds_batch_add(r->batch, rows);
    rds_args_str(&cmd, "PEXPIRE");
    rds_args_add(&cmd, key, tmp_key(r, key, sizeof key));
    rds_args_int(&cmd, REBUILD_TMP_TTL_MS);
    rds_batch_add(r->batch, &cmd);
    rds_batch_add(r->batch, &r->args);
    rds_args_free(&cmd);
    rds_batch_wait(r->batch, on_applied, r);
}

/* The rows of an author set. */
static void on_rows(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    rebuild_t *r = arg;
    if (status != PG_OK) {
        rebuild_abort(r, errmsg ? errmsg : "PostgreSQL failed");
        return;
    }
    apply_rows(r, res, 1);
}

static void query_rows(rebuild_t *r)
{
    /* One more than fits: more rows than feed_max means older ones exist. */
    const int64_t params[] = { r->id, r->e->feed_max + 1 };
    pg_query_i64(r->e->pg, PGQ_author_posts, params, on_rows, r);
}

/* ---- step 2: followees, rows, celebrity flags (home feeds) -------------- */

/* The first index of a sorted set whose id is >= id (n when none is). */
static size_t lower_bound(const int64_t *set, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool in_sorted(const int64_t *set, size_t n, int64_t id)
{
    size_t at = lower_bound(set, n, id);
    return at < n && set[at] == id;
}

/* Keeps e->known_celebs in step with what Redis said of one author. */
static void known_celeb_update(feed_engine_t *e, int64_t id, bool flagged)
{
    size_t lo = lower_bound(e->known_celebs, e->nknown_celebs, id);
    bool present = lo < e->nknown_celebs && e->known_celebs[lo] == id;
    if (flagged && !present && e->nknown_celebs < FEED_KNOWN_CELEBS_MAX) {
        if (!e->known_celebs)
            e->known_celebs = fc_xmalloc(FEED_KNOWN_CELEBS_MAX * sizeof *e->known_celebs);
        memmove(e->known_celebs + lo + 1, e->known_celebs + lo,
                (e->nknown_celebs - lo) * sizeof *e->known_celebs);
        e->known_celebs[lo] = id;
        e->nknown_celebs++;
    } else if (!flagged && present) {
        memmove(e->known_celebs + lo, e->known_celebs + lo + 1,
                (e->nknown_celebs - lo - 1) * sizeof *e->known_celebs);
        e->nknown_celebs--;
    }
}

/* Whom the user follows, and the rows of them all but the celebrities known
 * so far (the hint), in one statement (feed_rebuild_all); the hint's
 * authors among them become markers. The flags go with the apply
 * (apply_send, check_flags). */
static void on_all(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    rebuild_t *r = arg;
    if (status != PG_OK) {
        rebuild_abort(r, errmsg ? errmsg : "PostgreSQL failed");
        return;
    }
    int rows = PQntuples(res);
    r->checked = fc_xmalloc(((size_t)rows + 1) * sizeof *r->checked);
    r->checked[r->nchecked++] = r->id;
    for (int i = 0; i < rows; i++)
        if (PQgetisnull(res, i, 0))
            r->checked[r->nchecked++] = cell_int(res, i, 1);
    r->markers = fc_xmalloc(r->nchecked * sizeof *r->markers);
    for (size_t i = 0; i < r->nchecked; i++)
        if (in_sorted(r->hint, r->nhint, r->checked[i]))
            r->markers[r->nmarkers++] = r->checked[i];
    apply_rows(r, res, 2);
}

static void query_all(rebuild_t *r)
{
    feed_engine_t *e = r->e;
    if (e->nknown_celebs) {
        r->hint = fc_xmalloc(e->nknown_celebs * sizeof *r->hint);
        memcpy(r->hint, e->known_celebs, e->nknown_celebs * sizeof *r->hint);
        r->nhint = e->nknown_celebs;
    }
    const int64_t rest[] = { r->id, e->feed_max + 1 };
    pg_query_ids(e->pg, PGQ_feed_rebuild_all, r->hint, r->nhint, rest, on_all, r);
}

/* ---- step 1: placeholder ----------------------------------------------- */

static void maybe_stopped(feed_engine_t *e);

static void on_poll_timer(uv_timer_t *t)
{
    rebuild_t *r = t->data;
    feed_engine_t *e = r->e;
    list_remove(&r->poll_link);
    if (e->stopping) {
        rebuild_end(r, FEED_REBUILD_UNAVAILABLE);
        maybe_stopped(e);
        return;
    }
    rebuild_begin(r);
}

static void on_begun(rds_batch_t *b, void *arg)
{
    rebuild_t *r = arg;
    int64_t v;
    if (rds_reply_int(rds_batch_reply(b, 0), &v) != 0) {
        rebuild_end(r, FEED_REBUILD_UNAVAILABLE);
        return;
    }
    if (v == 0) {
        rebuild_end(r, FEED_REBUILD_OK);
    } else if (v < 0) {
        /* Another process is rebuilding this key: wait for it. */
        if (++r->polls > REBUILD_MAX_POLLS) {
            rebuild_end(r, FEED_REBUILD_UNAVAILABLE);
            return;
        }
        if (!r->poll_timer) {
            r->poll_timer = fc_xmalloc(sizeof *r->poll_timer);
            uv_timer_init(r->e->loop, r->poll_timer);
            r->poll_timer->data = r;
        }
        list_insert_tail(&r->e->rebuild_polls, &r->poll_link);
        uv_timer_start(r->poll_timer, on_poll_timer, REBUILD_POLL_MS, 0);
    } else {
        r->start_ns = uv_hrtime();
        if (r->kind == FEED_FLIGHT_HOME)
            query_all(r);
        else
            query_rows(r);
    }
}

static void rebuild_begin(rebuild_t *r)
{
    bool home = r->kind == FEED_FLIGHT_HOME;
    feed_args_eval(&r->args, feed_script_rebuild_begin, home ? 2 : 1);
    args_key(r);
    if (home)           /* the owner's unfollowed set: the unfollow guard */
        rds_args_key(&r->args, rds_key_unfollowed, r->e->prefix, r->id);
    rds_args_str(&r->args, r->token);
    rds_args_int(&r->args, FEED_BUILD_TTL_MS);
    rds_batch_clear(r->batch);
    rds_batch_add(r->batch, &r->args);
    rds_batch_wait(r->batch, on_begun, r);
}

/* A caller turned away by the cap hears so later, from the loop, like
 * every other outcome. */
typedef struct {
    uv_timer_t timer;          /* first: the handle is the allocation */
    list_t link;               /* in e->rebuild_sheds until it fires */
    feed_engine_t *e;
    feed_rebuild_status_t status;
    feed_rebuild_fn *cb;
    void *arg;
} shed_t;

static void on_shed_closed(uv_handle_t *h)
{
    free(h);
}

static void on_shed(uv_timer_t *t)
{
    shed_t *s = (shed_t *)t;
    feed_engine_t *e = s->e;
    list_remove(&s->link);
    s->cb(s->e->stopping ? FEED_REBUILD_UNAVAILABLE : s->status, s->arg);
    uv_close((uv_handle_t *)t, on_shed_closed);
    maybe_stopped(e);
}

/* Answers a caller that gets no rebuild, later, from the loop. */
static void answer_later(feed_engine_t *e, feed_rebuild_status_t status, feed_rebuild_fn *cb,
                         void *arg)
{
    shed_t *s = fc_xcalloc(1, sizeof *s);
    s->e = e;
    s->status = status;
    s->cb = cb;
    s->arg = arg;
    list_insert_tail(&e->rebuild_sheds, &s->link);
    uv_timer_init(e->loop, &s->timer);
    uv_timer_start(&s->timer, on_shed, 0, 0);
}

static void maybe_stopped(feed_engine_t *e)
{
    if (!e->stopping || !e->stopped || !list_empty(&e->rebuild_polls) ||
        !list_empty(&e->rebuild_sheds))
        return;
    void (*done)(void *) = e->stopped;
    e->stopped = NULL;
    done(e->stopped_arg);
}

static void on_stop_check(uv_timer_t *t)
{
    feed_engine_t *e = t->data;
    uv_close((uv_handle_t *)t, on_timer_closed);
    maybe_stopped(e);
}

void feed_rebuild_stop(feed_engine_t *e, void (*done)(void *), void *arg)
{
    e->stopping = true;
    e->stopped = done;
    e->stopped_arg = arg;
    /* Every waiting timer fires at once, with UNAVAILABLE. */
    list_foreach(pos, &e->rebuild_polls)
        uv_timer_start(list_entry(pos, rebuild_t, poll_link)->poll_timer, on_poll_timer, 0, 0);
    list_foreach(pos, &e->rebuild_sheds)
        uv_timer_start(&list_entry(pos, shed_t, link)->timer, on_shed, 0, 0);
    /* done runs from the loop even when nothing waits. */
    uv_timer_t *check = fc_xmalloc(sizeof *check);
    uv_timer_init(e->loop, check);
    check->data = e;
    uv_timer_start(check, on_stop_check, 0, 0);
}

static void rebuild_start(feed_engine_t *e, feed_flight_kind_t kind, int64_t id,
                          feed_rebuild_fn *cb, void *arg)
{
    if (e->stopping) {
        answer_later(e, FEED_REBUILD_UNAVAILABLE, cb, arg);
        return;
    }
    if (e->max_rebuilds > 0 && e->rebuilds_inflight >= e->max_rebuilds &&
        !feed_flight_running(e->flights, kind, id)) {
        metric_inc(feed_metrics.rebuilds_shed_total);
        answer_later(e, FEED_REBUILD_SHED, cb, arg);
        return;
    }
    if (!feed_flight_join(e->flights, kind, id, cb, arg))
        return;
    e->rebuilds_inflight++;
    metric_set(feed_metrics.rebuilds_inflight, e->rebuilds_inflight);
    rebuild_t *r = fc_xcalloc(1, sizeof *r);
    r->e = e;
    r->kind = kind;
    r->id = id;
    snprintf(r->token, sizeof r->token, "%" PRIx64, ++e->next_token);
    r->batch = rds_batch_new(e->redis, feed_affinity(id));
    rds_args_init(&r->args);
    rebuild_begin(r);
}

void feed_rebuild_home(feed_engine_t *e, int64_t user_id, feed_rebuild_fn *cb, void *arg)
{
    rebuild_start(e, FEED_FLIGHT_HOME, user_id, cb, arg);
}

void feed_rebuild_author(feed_engine_t *e, int64_t author_id, feed_rebuild_fn *cb, void *arg)
{
    rebuild_start(e, FEED_FLIGHT_AUTHOR, author_id, cb, arg);
}
