/* timeline.get: a page of a home timeline.
 *
 * Round trips for a cached page:
 *   RT1  the feed's sentinel score (its state), the names of its other meta
 *        members (celebrity markers, epoch), the page window after the
 *        cursor, and the feed's PTTL — one pipelined batch. The markers
 *        come without their scores (all FEED_SCORE_CELEB): Redis 7.0 formats
 *        each score it returns with snprintf (below), so one more command
 *        (ZSCORE of the sentinel) costs less than their scores: 4.4-4.6
 *        against 5.8-6.0 us of Redis CPU with 16 markers (the full bench
 *        graph's average), 3.7 against 4.0 with 6 (bench/micro/meta_read.py).
 *        FEED_SLIDE, which slides the TTL of a complete feed (never of a
 *        building placeholder), is sent (without waiting for it) only when
 *        less than feed_ttl is left, setting feed_engine_ttl_set_ms (feed_ttl
 *        plus a sixteenth, at most ten minutes). A feed thus lives at least
 *        feed_ttl after every read, whoever set its TTL last (a warm, a
 *        rebuild, another instance), and a busy feed runs the script at most
 *        every sixteenth of feed_ttl instead of at every read. The PTTL is
 *        asked only once what this instance last saw could have fallen below
 *        feed_ttl (the guess cache keeps when: slide_if_due). The floor of a
 *        trimmed feed (its oldest entry) comes from the window (home_floor);
 *   RT2  only when the user follows celebrities: a window of each
 *        celebrity's recent-posts set after the cursor, unless this
 *        instance read it within celebrity_cache_ms (feed_celebs.h); usually
 *        asked in RT1 already (feed_guess.h);
 *   RT3  the page's cached posts (one MGET), for bodies and deletion tombstones;
 *        only those not read with RT1 already: a first page's RT1 also asks
 *        for the posts of the user's last first page (the page hint,
 *        feed_guess_page), so a page that did not change needs no RT3. The
 *        values are read after the call began, as RT3's would be, so a post
 *        deleted before it is seen deleted. Each round trip saved is a
 *        pipeline of its own to Redis in open-loop traffic (requests that
 *        come one at a time): ~14 us of Redis CPU per unpipelined request
 *        against ~0.7 pipelined (redis-benchmark PING, -P 1 vs -P 32, here).
 * Then the sources are merged (feed_merge: dedupe, (created_at, id) order,
 * trust bounds), and misses of the post cache come from PostgreSQL in one
 * query and are written back.
 *
 * Fallbacks: a missing feed is rebuilt (feed_rebuild, single flight) and the
 * read starts over ("rebuilt"); a page that reaches below what Redis holds
 * (a trimmed feed or set) is served from PostgreSQL with the same order and
 * cursor ("db"); Redis down: the page comes from PostgreSQL ("db",
 * degraded). Posts found deleted are removed from the feed lazily and the
 * read starts over, so pages stay full.
 *
 * Window sizes. Redis 7.0 formats every WITHSCORES score with
 * snprintf("%.17g"), about 0.25 us each, which made the scores the largest
 * part of Redis' CPU per read (36 per set, four or five sets per read). So
 * the home feed's window is the page plus READ_SLACK, and a celebrity's
 * window is about what one celebrity gave this user's last page (the guess
 * cache keeps it), at least READ_CELEB_MIN: a celebrity rarely fills a page
 * of a timeline that also follows others. A window that turns out too
 * small makes the merge SHORT, and the read starts over with that kind of
 * window four times larger. While celebrity windows are cached
 * (feed_celebs.h), a first page asks at least READ_CELEB_CACHED entries
 * of a celebrity: the copy then serves every first page for a while, and
 * most reads ask Redis for no celebrity at all. */
#include "feed/feed_read.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_celebs.h"
#include "feed/feed_cmd.h"
#include "feed/feed_cursor.h"
#include "feed/feed_guess.h"
#include "feed/feed_hydrate.h"
#include "feed/feed_metrics.h"
#include "feed/feed_rebuild.h"
#include "feed/feed_scripts.h"
#include "rpc/rpc_reply.h"
#include "util/log.h"
#include "util/num.h"

#define READ_MAX_ATTEMPTS 4
/* Entries fetched beyond the page: room for duplicates (a post both
 * fanned out and in a celebrity's set) and deleted posts, and the one entry
 * that tells whether there is a next page. */
#define READ_SLACK 4
/* The smallest celebrity window; feed_read.c's header says why it is small. */
#define READ_CELEB_MIN 8
/* Bytes reserved per post of a hydrated page for the bodies, so that the
 * page's one buffer is allocated once (a body is a few hundred bytes; a
 * longer one grows it). */
#define READ_BODY_GUESS 256
/* When the first page starts at the newest post: a timestamp beyond any post
 * (9999-12-31) and the largest id. */
#define READ_TS_MAX INT64_C(253402300799999)
/* A first page's celebrity window asked of Redis while windows are cached
 * (celeb_ask): at least this, so that the copy also serves the next reads
 * whose windows are larger than this one's (a copy that fits only the read
 * that fetched it is missed by the next). */
#define READ_CELEB_CACHED 32
/* RT1's first replies (read_start). */
#define READ_RT1_SENTINEL 0
#define READ_RT1_MARKERS 1
#define READ_RT1_WINDOW 2
/* celeb_at: a celebrity whose window is not in the current batch. */
#define READ_NOT_ASKED SIZE_MAX

/* A post's cached value read with RT1 for the page hint (feed_guess_page),
 * kept until the page is known. value NULL: none came (nil, or an error);
 * else it points into read_t's pre_values. */
typedef struct {
    int64_t id;
    const char *value;
    size_t len;
} read_pre_t;

typedef struct {
    feed_engine_t *e;
    rpc_call_t *call;
    feed_read_req_t req;
    unsigned affinity;
    int attempts;
    int64_t fetch_n;           /* the home feed's window */
    int64_t celeb_n;           /* each celebrity set's window */
    const char *source;
    bool degraded;
    bool past_cache;           /* the page lies wholly below what Redis holds */
    pg_pool_t *db;             /* where read_from_db sent its query */
    bool counted_feed;
    bool db_only;              /* an author set could not be rebuilt now (shed) */
    bool used_pg;
    rds_batch_t *batch;
    rds_args_t args;

    /* sources: [0] the home feed, then one per celebrity (srcs[1 + j].items
     * is set once celebrity j's window is in) */
    int64_t *celebs;
    size_t ncelebs;
    size_t *celeb_at;          /* per celebrity: its replies' index in the batch, or
                                * READ_NOT_ASKED */
    uint64_t celebs_epoch;     /* feed_celebs_epoch when the batch was sent */
    feed_source_t *srcs;
    size_t nsrcs;
    bool home_full;            /* the home window came back full: a bigger one may help */
    bool celeb_full;           /* so did some celebrity window */
    int author_rebuilds;       /* outstanding author-set rebuilds */
    int64_t *guess;            /* celebrities guessed in RT1 (a copy) */
    size_t *guess_at;          /* per guess: its replies' index in RT1, or READ_NOT_ASKED
                                * (its window was cached) */
    size_t nguess;
    size_t pttl_at;            /* the PTTL's index in RT1, or READ_NOT_ASKED (the
                                * TTL hint said feed_ttl is left) */
    int64_t rt1_sent_ms;       /* uv_now when RT1 was sent */
    size_t pre_at;             /* the page hint's first MGET in RT1, or READ_NOT_ASKED */
    read_pre_t *pre;           /* the page hint's posts (their values once RT1 is in) */
    size_t npre;
    char *pre_values;          /* the values, copied from RT1's replies */

    feed_item_t *page;
    size_t npage;
    bool more;
    feed_hpost_t *posts;        /* one per page item */
    buf_t bodies;               /* their bodies (feed_hpost_t.body_off) */
} read_t;

static void read_start(read_t *r);
static void read_from_db(read_t *r);
static size_t add_celeb_commands(read_t *r, int64_t celeb);

/* ---- lifecycle --------------------------------------------------------- */

static void free_sources(read_t *r)
{
    for (size_t i = 0; i < r->nsrcs; i++)
        free(r->srcs[i].items);
    free(r->srcs);
    r->srcs = NULL;
    r->nsrcs = 0;
    free(r->celebs);
    r->celebs = NULL;
    free(r->celeb_at);
    r->celeb_at = NULL;
    r->ncelebs = 0;
}

static void free_pre(read_t *r)
{
    free(r->pre_values);
    r->pre_values = NULL;
    free(r->pre);
    r->pre = NULL;
    r->npre = 0;
    r->pre_at = READ_NOT_ASKED;
}

static void free_posts(read_t *r)
{
    free(r->posts);
    r->posts = NULL;
    buf_reset(&r->bodies);
    free(r->page);
    r->page = NULL;
    r->npage = 0;
}

static void read_free(read_t *r)
{
    free(r->guess);
    free(r->guess_at);
    free_pre(r);
    free_sources(r);
    free_posts(r);
    buf_free(&r->bodies);
    rds_batch_free(r->batch);
    rds_args_free(&r->args);
    free(r);
}

static void read_fail(read_t *r, rpc_code_t code, const char *msg)
{
    if (code == RPC_UNAVAILABLE)
        rpc_reply_unavailable(r->call, msg);
    else if (code == RPC_OVERLOADED)
        rpc_reply_overloaded(r->call, msg);
    else
        rpc_reply_internal(r->call, msg);
    read_free(r);
}

static void count_pg(read_t *r)
{
    if (!r->used_pg) {
        r->used_pg = true;
        metric_inc(feed_metrics.pg_fallbacks_total);
    }
}

/* Starts over after a rebuild or a lazy removal, within a bound. */
static void read_restart(read_t *r)
{
    if (++r->attempts >= READ_MAX_ATTEMPTS) {
        read_from_db(r);
        return;
    }
    free_sources(r);
    free_posts(r);
    read_start(r);
}

/* ---- reply ------------------------------------------------------------- */

static void pack_post(msgpack_packer *pk, int64_t id, int64_t author, int64_t ts,
                      const char *body, size_t body_len, bool hydrate)
{
    msgpack_pack_map(pk, hydrate ? 4 : 3);
    rpc_pack_cstr(pk, "id");
    msgpack_pack_int64(pk, id);
    rpc_pack_cstr(pk, "author_id");
    msgpack_pack_int64(pk, author);
    rpc_pack_cstr(pk, "created_at");
    msgpack_pack_int64(pk, ts);
    if (hydrate) {
        rpc_pack_cstr(pk, "body");
        msgpack_pack_str(pk, body_len);
        msgpack_pack_str_body(pk, body ? body : "", body_len);
    }
}

static void pack_tail(read_t *r, msgpack_packer *pk, bool has_next, feed_key_t last)
{
    rpc_pack_cstr(pk, "next_cursor");
    if (has_next) {
        char cursor[FEED_CURSOR_MAX];
        feed_cursor_t c = { r->req.user_id, last.ts, last.id };
        size_t n = feed_cursor_encode(&c, cursor, sizeof cursor);
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, cursor, n);
    } else {
        msgpack_pack_nil(pk);
    }
    rpc_pack_cstr(pk, "source");
    rpc_pack_cstr(pk, r->source);
    rpc_pack_cstr(pk, "degraded");
    if (r->degraded)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

static void reply_page(read_t *r)
{
    size_t shown = 0;
    for (size_t i = 0; i < r->npage; i++)
        if (r->posts[i].found && !r->posts[i].deleted)
            shown++;
    msgpack_packer *pk = rpc_reply_begin(r->call);
    msgpack_pack_map(pk, 4);
    rpc_pack_cstr(pk, "posts");
    msgpack_pack_array(pk, shown);
    for (size_t i = 0; i < r->npage; i++) {
        const feed_hpost_t *p = &r->posts[i];
        if (p->found && !p->deleted)
            pack_post(pk, p->id, p->author_id, p->ts,
                      p->body_len ? r->bodies.data + p->body_off : "", p->body_len,
                      r->req.hydrate);
    }
    feed_key_t last = { 0, 0 };
    if (r->npage > 0)
        last = feed_item_key(&r->page[r->npage - 1]);
    pack_tail(r, pk, r->more && r->npage > 0, last);
    rpc_reply_end(r->call);
    read_free(r);
}

/* ---- the PostgreSQL path ----------------------------------------------- */

static void on_db_page(pg_status_t status, PGresult *res, const char *errmsg, void *arg);

static void query_db_page(read_t *r, pg_pool_t *pool)
{
    const int64_t params[] = {
        r->req.user_id,
        r->req.has_cursor ? r->req.after.ts : READ_TS_MAX,
        r->req.has_cursor ? r->req.after.id : INT64_MAX,
        r->req.limit + 1,        /* one more: is there a next page? */
    };
    r->db = pool;
    pg_query_i64(pool, PGQ_timeline_page, params, on_db_page, r);
}

static void on_db_page(pg_status_t status, PGresult *res, const char *errmsg, void *arg)
{
    read_t *r = arg;
    if (status != PG_OK && r->db != r->e->pg) {
        /* The read replica failed: the primary has the same rows. */
        log_warn("feed", "timeline page on the read replica failed: %s; asking the primary",
                 errmsg ? errmsg : "?");
        query_db_page(r, r->e->pg);
        return;
    }
    if (status != PG_OK) {
        if (status != PG_UNAVAILABLE)
            read_fail(r, RPC_INTERNAL, "PostgreSQL rejected the timeline page query");
        else
            read_fail(r, RPC_UNAVAILABLE, r->degraded ? "Redis and PostgreSQL are unavailable"
                                                      : "PostgreSQL is unavailable");
        return;
    }
    int rows = PQntuples(res);
    int shown = rows > r->req.limit ? (int)r->req.limit : rows;
    r->source = "db";
    msgpack_packer *pk = rpc_reply_begin(r->call);
    msgpack_pack_map(pk, 4);
    rpc_pack_cstr(pk, "posts");
    msgpack_pack_array(pk, (size_t)shown);
    feed_key_t last = { 0, 0 };
    for (int i = 0; i < shown; i++) {
        int64_t id = fc_i64(PQgetvalue(res, i, 0));
        int64_t author = fc_i64(PQgetvalue(res, i, 1));
        int64_t ts = fc_i64(PQgetvalue(res, i, 2));
        pack_post(pk, id, author, ts, PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3),
                  r->req.hydrate);
        last = (feed_key_t){ ts, id };
    }
    pack_tail(r, pk, rows > r->req.limit, last);
    rpc_reply_end(r->call);
    read_free(r);
}

static void read_from_db(read_t *r)
{
    /* Redis could not serve this read. PostgreSQL can, unless it is
     * already saturated: then one more query in its queue would only time
     * out there, after delaying every query behind it. With Redis up that
     * is load shed, OVERLOADED (both backends are healthy, the feed is
     * just not cached yet); UNAVAILABLE is for a backend that is down. */
    if (feed_engine_pg_saturated(r->e)) {
        metric_inc(feed_metrics.reads_shed_total);
        metric_inc(feed_metrics.pg_fallbacks_shed_total);
        if (r->degraded)
            read_fail(r, RPC_UNAVAILABLE, "Redis is unavailable and PostgreSQL is busy");
        else
            read_fail(r, RPC_OVERLOADED,
                      "PostgreSQL is busy: this page is not cached, and PostgreSQL's queue "
                      "is full");
        return;
    }
    count_pg(r);
    metric_inc(feed_metrics.timeline_db_pages_total);
    /* A page past the cache is older than anything cached, so a replica's
     * lag cannot hide its rows. Any other page from PostgreSQL (Redis
     * failed, a rebuild was shed) may be a first page, whose newest posts
     * the replica may not have yet: the primary serves those. */
    query_db_page(r, r->past_cache ? feed_engine_pg_lagging(r->e) : r->e->pg);
}

/* ---- RT3: hydration ---------------------------------------------------- */

static void remove_deleted(read_t *r)
{
    /* Lazy cleanup, on the read's own connection so that the read that
     * starts over next sees it done. */
    for (size_t i = 0; i < r->npage; i++) {
        feed_hpost_t *p = &r->posts[i];
        if (!p->deleted)
            continue;
        rds_args_reset(&r->args);
        rds_args_str(&r->args, "ZREM");
        rds_args_key(&r->args, rds_key_feed, r->e->prefix, r->req.user_id);
        rds_args_int(&r->args, p->id);
        rds_send(r->e->redis, r->affinity, &r->args, NULL, NULL);
        if (p->author_id > 0) {
            /* A cached window of this author still holds the post. */
            feed_celebs_forget(r->e->celebs, p->author_id);
            rds_args_reset(&r->args);
            rds_args_str(&r->args, "ZREM");
            rds_args_key(&r->args, rds_key_posts, r->e->prefix, p->author_id);
            rds_args_int(&r->args, p->id);
            rds_send(r->e->redis, r->affinity, &r->args, NULL, NULL);
        }
    }
}

static void on_hydrated(int status, bool pg_used, void *arg)
{
    read_t *r = arg;
    if (pg_used)
        count_pg(r);
    if (status != 0)
        r->degraded = true;     /* the page goes out without the posts we could not read */
    bool any_deleted = false;
    for (size_t i = 0; i < r->npage; i++)
        any_deleted |= r->posts[i].deleted;
    if (any_deleted) {
        remove_deleted(r);
        if (r->attempts + 1 < READ_MAX_ATTEMPTS) {
            read_restart(r);
            return;
        }
    }
    reply_page(r);
}

static void hydrate(read_t *r)
{
    if (r->npage == 0) {
        reply_page(r);
        return;
    }
    r->posts = fc_xcalloc(r->npage, sizeof *r->posts);
    buf_t *bodies = r->req.hydrate ? &r->bodies : NULL;
    if (bodies)
        buf_reserve(bodies, r->npage * READ_BODY_GUESS);
    int64_t *ids = r->req.has_cursor ? NULL : fc_xmalloc(r->npage * sizeof *ids);
    size_t known = 0;
    for (size_t i = 0; i < r->npage; i++) {
        feed_hpost_t *p = &r->posts[i];
        p->id = r->page[i].id;
        p->ts = r->page[i].ts;
        p->author_id = r->page[i].author_id;
        if (ids)
            ids[i] = p->id;
        /* Read with RT1 already (the page hint)? */
        for (size_t k = 0; k < r->npre; k++) {
            if (r->pre[k].id != p->id)
                continue;
            if (r->pre[k].value &&
                feed_hydrate_take(p, r->pre[k].value, r->pre[k].len, bodies)) {
                metric_inc(feed_metrics.post_hits);
                known++;
            }
            break;
        }
    }
    free_pre(r);
    if (ids) {
        feed_guess_set_page(r->e->guess, r->req.user_id, ids, r->npage);
        free(ids);
    }
    if (known == r->npage) {
        metric_inc(feed_metrics.read_page_prefetch_whole_total);
        on_hydrated(0, false, r);
        return;
    }
    feed_hydrate(r->e, r->affinity, r->posts, r->npage, bodies, 0, on_hydrated, r);
}

/* ---- merge ------------------------------------------------------------- */

/* Keeps the most posts one celebrity gave this page, for the next read's
 * celebrity windows (celeb_window). */
static void remember_window(read_t *r)
{
    size_t most = 0;
    for (size_t j = 0; j < r->ncelebs; j++) {
        size_t n = 0;
        for (size_t i = 0; i < r->npage; i++)
            n += r->page[i].author_id == r->celebs[j];
        if (n > most)
            most = n;
    }
    feed_guess_set_window(r->e->guess, r->req.user_id, most);
}

static void merge_sources(read_t *r)
{
    r->page = fc_xcalloc((size_t)r->req.limit, sizeof *r->page);
    feed_merge_status_t st = feed_merge(r->srcs, r->nsrcs, (size_t)r->req.limit, r->page,
                                        &r->npage, &r->more);
    if (st == FEED_MERGE_END)
        r->more = false;
    if (st == FEED_MERGE_SHORT) {
        /* Cut by a window (a chatty celebrity, many ties, many duplicates):
         * the windows that came back full grow. */
        int64_t cap = 4 * r->e->feed_max + READ_SLACK;
        bool grow = false;
        if (r->home_full && r->fetch_n < cap) {
            r->fetch_n *= 4;
            grow = true;
        }
        if (r->celeb_full && r->celeb_n < cap) {
            r->celeb_n *= 4;
            grow = true;
        }
        if (grow) {
            metric_inc(feed_metrics.read_window_grown_total);
            free_sources(r);
            free_posts(r);
            read_start(r);
            return;
        }
        /* The page reaches below what Redis holds: PostgreSQL serves it.
         * Wholly below (a cursor past every cached entry) it holds only
         * posts older than the cached window, which a read replica's lag
         * cannot hide; a page that also holds cached entries may hold
         * posts too new for the replica. */
        r->past_cache = r->req.has_cursor && r->npage == 0;
        free_posts(r);
        read_from_db(r);
        return;
    }
    if (r->ncelebs > 0)
        remember_window(r);
    hydrate(r);
}

/* The oldest entry of an author set, from a WITHSCORES reply of its lowest
 * members: the first one with a score >= 0 (the meta members below 0 are
 * skipped). Returns false when there is none. */
static bool parse_floor(const redisReply *low, feed_key_t *floor)
{
    if (!low || low->type != REDIS_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i + 1 < low->elements; i += 2) {
        int64_t score = fc_i64(low->element[i + 1]->str);
        if (score >= 0 && low->element[i + 1]->str[0] != '-') {
            floor->id = fc_i64(low->element[i]->str);
            floor->ts = score;
            return true;
        }
    }
    return false;
}

/* The oldest entry of a home feed, from its window (add_home_window):
 * only a floor a trimmed feed's bound can use. A window shorter than asked
 * reached the feed's end, so its last entry is the oldest. A full one
 * holds an entry no older than the oldest, and feed_source_prepare already
 * trusts nothing at or below its oldest ts, so that entry bounds as well.
 * An empty one has none: nothing after the cursor is in Redis. */
static bool home_floor(const redisReply *range, feed_key_t *floor)
{
    if (!range || range->type != REDIS_REPLY_ARRAY || range->elements < 2)
        return false;
    floor->id = fc_i64(range->element[range->elements - 2]->str);
    floor->ts = feed_home_ts(fc_i64(range->element[range->elements - 1]->str));
    return true;
}

/* Fills a source from a ZRANGE ... WITHSCORES reply of a window of
 * `window` entries; returns whether the reply was full. floor: the set's
 * oldest entry, for a partial set. */
static bool fill_source(read_t *r, feed_source_t *s, const redisReply *range, int64_t window,
                        bool partial, bool has_floor, feed_key_t floor_key, int64_t author)
{
    size_t n = range && range->type == REDIS_REPLY_ARRAY ? range->elements / 2 : 0;
    s->items = fc_xcalloc(n ? n : 1, sizeof *s->items);
    s->n = 0;
    for (size_t i = 0; i < n; i++) {
        feed_item_t *it = &s->items[s->n];
        it->id = fc_i64(range->element[2 * i]->str);
        it->ts = fc_i64(range->element[2 * i + 1]->str);
        if (author == 0)
            it->ts = feed_home_ts(it->ts);      /* a home feed's score */
        it->author_id = author;
        if (it->id > 0)
            s->n++;
    }
    if (partial && !has_floor) {
        /* A trimmed set emptied by deletes since: older posts may exist, and
         * nothing in Redis can be trusted: PostgreSQL will serve the page. */
        floor_key = (feed_key_t){ INT64_MAX, INT64_MAX };
    }
    bool full = (int64_t)n >= window;
    if (author != 0 && !r->req.has_cursor)
        feed_celebs_store(r->e->celebs, author, (int64_t)uv_now(r->e->loop), r->celebs_epoch,
                          s->items, s->n, !full, partial, floor_key);
    feed_source_prepare(s, r->req.has_cursor ? &r->req.after : NULL, full, partial, floor_key);
    return full;
}

/* ZRANGE key from to BYSCORE [REV] LIMIT 0 limit WITHSCORES. */
static void add_byscore(read_t *r, rds_args_t *a, feed_key_fn *key, int64_t id, const char *from,
                        const char *to, bool rev, int64_t limit)
{
    rds_args_reset(a);
    rds_args_str(a, "ZRANGE");
    rds_args_key(a, key, r->e->prefix, id);
    rds_args_str(a, from);
    rds_args_str(a, to);
    rds_args_str(a, "BYSCORE");
    if (rev)
        rds_args_str(a, "REV");
    rds_args_str(a, "LIMIT");
    rds_args_str(a, "0");
    rds_args_int(a, limit);
    rds_args_str(a, "WITHSCORES");
    rds_batch_add(r->batch, a);
}

/* The home feed's window at or after the cursor: newest first, it reads
 * forward from the cursor's score (feed_home_score). */
static void add_home_window(read_t *r, rds_args_t *a)
{
    char from[FC_I64_CHARS] = "0";
    if (r->req.has_cursor)
        fc_i64_format(from, feed_home_score(r->req.after.ts));
    add_byscore(r, a, rds_key_feed, r->req.user_id, from, "+inf", false, r->fetch_n);
}

/* A celebrity's window at or after the cursor: an author set is oldest
 * first, so it reads backwards from the cursor's created_at. */
static void add_celeb_window(read_t *r, rds_args_t *a, int64_t celeb, int64_t window)
{
    char from[FC_I64_CHARS] = "+inf";
    if (r->req.has_cursor)
        fc_i64_format(from, r->req.after.ts);
    add_byscore(r, a, rds_key_posts, celeb, from, "0", true, window);
}

/* ---- RT2: celebrity sets ----------------------------------------------- */

/* The window asked of a celebrity's set: the read's own, or more for a
 * first page that the cache of windows will keep (READ_CELEB_CACHED). */
static int64_t celeb_ask(const read_t *r)
{
    if (r->req.has_cursor || r->e->celebrity_cache_ms <= 0 || r->celeb_n >= READ_CELEB_CACHED)
        return r->celeb_n;
    return READ_CELEB_CACHED;
}

static void read_celebs(read_t *r);

static void on_author_rebuilt(int status, void *arg)
{
    read_t *r = arg;
    if (status == FEED_REBUILD_UNAVAILABLE)
        r->degraded = true;
    else if (status == FEED_REBUILD_SHED)
        r->db_only = true;      /* too many rebuilds running: PostgreSQL serves it */
    if (--r->author_rebuilds > 0)
        return;
    if (r->degraded || r->db_only) {
        read_from_db(r);
        return;
    }
    if (++r->attempts >= READ_MAX_ATTEMPTS) {
        read_from_db(r);
        return;
    }
    read_celebs(r);
}

/* The state sentinel's score (FEED_STATE_*), from a WITHSCORES reply of a
 * set's lowest members; 0 when the set does not exist. */
static int low_state(const redisReply *low)
{
    if (!low || low->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i + 1 < low->elements; i += 2)
        if (strcmp(low->element[i]->str, FEED_MEMBER_STATE) == 0)
            return (int)fc_i64(low->element[i + 1]->str);
    return 0;
}

/* Fills celebrity j's source from this instance's cache of windows, if a
 * fresh one serves this read. */
static bool celeb_from_cache(read_t *r, size_t j)
{
    bool full = false;
    if (!feed_celebs_serve(r->e->celebs, r->celebs[j], (int64_t)uv_now(r->e->loop),
                           r->req.has_cursor ? &r->req.after : NULL, r->celeb_n,
                           &r->srcs[1 + j], &full))
        return false;
    metric_inc(feed_metrics.celebrity_cache_hits_total);
    r->celeb_full |= full;
    return true;
}

/* Takes the celebrity windows that batch b holds (celeb_at), or the cache,
 * then goes on: the merge once every window is in; the rebuild of the sets
 * found missing; or RT2 for the windows still wanted. */
static void take_celebs(read_t *r, rds_batch_t *b)
{
    int64_t *missing = NULL;
    size_t nmissing = 0, wanted = 0;
    for (size_t j = 0; j < r->ncelebs; j++) {
        if (r->srcs[1 + j].items)
            continue;
        size_t at = r->celeb_at[j];
        if (at == READ_NOT_ASKED) {
            if (!celeb_from_cache(r, j))
                wanted++;
            continue;
        }
        const redisReply *low = rds_batch_reply(b, at);
        int state = low_state(low);
        if (state != FEED_STATE_COMPLETE && state != FEED_STATE_PARTIAL) {
            /* Missing author sets are rebuilt first (all at once), then RT2. */
            if (!missing)
                missing = fc_xmalloc(r->ncelebs * sizeof *missing);
            missing[nmissing++] = r->celebs[j];
            continue;
        }
        feed_key_t floor = { 0, 0 };
        bool has_floor = parse_floor(low, &floor);
        r->celeb_full |= fill_source(r, &r->srcs[1 + j], rds_batch_reply(b, at + 1),
                                     celeb_ask(r), state == FEED_STATE_PARTIAL, has_floor, floor,
                                     r->celebs[j]);
    }
    if (nmissing > 0) {
        r->author_rebuilds = (int)nmissing;
        count_pg(r);
        for (size_t j = 0; j < nmissing; j++)
            feed_rebuild_author(r->e, missing[j], on_author_rebuilt, r);
        free(missing);
        return;
    }
    if (wanted > 0) {
        read_celebs(r);
        return;
    }
    metric_add(feed_metrics.celebrity_merges_total, r->ncelebs);
    merge_sources(r);
}

static void on_celebs(rds_batch_t *b, void *arg)
{
    read_t *r = arg;
    if (rds_batch_failed(b)) {
        r->degraded = true;
        read_from_db(r);
        return;
    }
    take_celebs(r, b);
}

/* Adds the two commands of one celebrity's window; returns the index of
 * the first. */
static size_t add_celeb_commands(read_t *r, int64_t celeb)
{
    size_t at = rds_batch_count(r->batch);
    /* The lowest members: the sentinel, a rebuild token if any, and the
     * oldest entry (the floor of a trimmed set), in one command. */
    rds_args_reset(&r->args);
    rds_args_str(&r->args, "ZRANGE");
    rds_args_key(&r->args, rds_key_posts, r->e->prefix, celeb);
    rds_args_str(&r->args, "-inf");
    rds_args_str(&r->args, "+inf");
    rds_args_str(&r->args, "BYSCORE");
    rds_args_str(&r->args, "LIMIT");
    rds_args_str(&r->args, "0");
    rds_args_str(&r->args, "3");
    rds_args_str(&r->args, "WITHSCORES");
    rds_batch_add(r->batch, &r->args);
    add_celeb_window(r, &r->args, celeb, celeb_ask(r));
    return at;
}

/* RT2: the windows still wanted, from Redis. */
static void read_celebs(read_t *r)
{
    rds_batch_clear(r->batch);
    r->celebs_epoch = feed_celebs_epoch(r->e->celebs);
    for (size_t j = 0; j < r->ncelebs; j++)
        r->celeb_at[j] = r->srcs[1 + j].items ? READ_NOT_ASKED
                                              : add_celeb_commands(r, r->celebs[j]);
    rds_batch_wait(r->batch, on_celebs, r);
}

/* ---- RT1: the home feed ------------------------------------------------ */

static void on_feed_rebuilt(int status, void *arg)
{
    read_t *r = arg;
    if (status == FEED_REBUILD_UNAVAILABLE || status == FEED_REBUILD_SHED) {
        read_from_db(r);
        return;
    }
    if (status == FEED_REBUILD_OK)
        r->source = "rebuilt";
    read_restart(r);
}

/* Whether a feed written under `epoch` (NULL: written before epochs, or
 * when the master's was unknown) is served by another master now. */
static bool suspect(read_t *r, const char *epoch)
{
    if (!epoch)
        return false;
    char key[RDS_KEY_MAX];
    size_t n = rds_key_feed(key, sizeof key, r->e->prefix, r->req.user_id);
    const char *now = rds_pool_epoch(r->e->redis, key, n);
    return now[0] && strcmp(now, epoch) != 0;
}

/* Slides a complete feed's TTL when RT1's PTTL says less than feed_ttl is
 * left (or none is set); the slide script still checks the state. Then
 * remembers until when the feed has feed_ttl left, so that reads until
 * then skip the PTTL. That stays true whatever another writer does
 * meanwhile: each sets feed_engine_ttl_set_ms, the margin over feed_ttl
 * being at least how long the hint lasts, or drops the feed (a read then
 * finds it missing). */
static void slide_if_due(read_t *r, const redisReply *pttl)
{
    feed_engine_t *e = r->e;
    if (r->pttl_at == READ_NOT_ASKED || !pttl || pttl->type != REDIS_REPLY_INTEGER)
        return;
    if (pttl->integer >= e->feed_ttl_ms) {
        /* Counted from when RT1 was sent: Redis answered no earlier. */
        feed_guess_set_ttl_until(e->guess, r->req.user_id,
                                 r->rt1_sent_ms + pttl->integer - e->feed_ttl_ms);
        return;
    }
    feed_args_eval(&r->args, feed_script_slide, 1);
    rds_args_key(&r->args, rds_key_feed, e->prefix, r->req.user_id);
    rds_args_int(&r->args, feed_engine_ttl_set_ms(e));
    rds_send(e->redis, r->affinity, &r->args, NULL, NULL);
    feed_guess_set_ttl_until(e->guess, r->req.user_id,
                             (int64_t)uv_now(e->loop) + feed_engine_ttl_margin_ms(e));
}

/* Keeps the values RT1 read for the page hint: the batch is reused by RT2
 * before the page is known. */
static void take_prefetch(read_t *r, rds_batch_t *b)
{
    if (r->pre_at == READ_NOT_ASKED)
        return;
    bool cluster = rds_pool_is_cluster(r->e->redis);
    const redisReply **v = fc_xcalloc(r->npre, sizeof *v);
    size_t total = 0;
    for (size_t k = 0; k < r->npre; k++) {
        /* One MGET on a single Redis; one per post on a cluster. */
        const redisReply *get = rds_batch_reply(b, cluster ? r->pre_at + k : r->pre_at);
        size_t at = cluster ? 0 : k;
        if (get && get->type == REDIS_REPLY_ARRAY && get->elements > at &&
            get->element[at]->type == REDIS_REPLY_STRING) {
            v[k] = get->element[at];
            total += v[k]->len;
        }
    }
    r->pre_values = fc_xmalloc(total ? total : 1);
    char *to = r->pre_values;
    for (size_t k = 0; k < r->npre; k++) {
        if (!v[k])
            continue;
        memcpy(to, v[k]->str, v[k]->len);
        r->pre[k].value = to;
        r->pre[k].len = v[k]->len;
        to += v[k]->len;
    }
    free(v);
    r->pre_at = READ_NOT_ASKED;
}

static void on_feed(rds_batch_t *b, void *arg)
{
    read_t *r = arg;
    const redisReply *sentinel = rds_batch_reply(b, READ_RT1_SENTINEL);
    const redisReply *meta = rds_batch_reply(b, READ_RT1_MARKERS);
    const redisReply *range = rds_batch_reply(b, READ_RT1_WINDOW);
    if (rds_batch_failed(b) || !sentinel || !meta || !range ||
        (sentinel->type != REDIS_REPLY_STRING && sentinel->type != REDIS_REPLY_NIL) ||
        meta->type != REDIS_REPLY_ARRAY || range->type != REDIS_REPLY_ARRAY) {
        r->degraded = true;
        read_from_db(r);
        return;
    }
    int state = 0;
    int64_t cover = 0;
    size_t nc = 0;
    const char *epoch = NULL;
    feed_sentinel_t parsed;
    if (sentinel->type == REDIS_REPLY_STRING && feed_sentinel_parse(sentinel->str, &parsed)) {
        state = parsed.state;
        cover = parsed.cover;
    }
    r->celebs = fc_xmalloc((meta->elements + 1) * sizeof *r->celebs);
    for (size_t i = 0; i < meta->elements; i++) {
        const char *m = meta->element[i]->str;
        if (strncmp(m, FEED_MEMBER_CELEB, strlen(FEED_MEMBER_CELEB)) == 0)
            r->celebs[nc++] = fc_i64(m + strlen(FEED_MEMBER_CELEB));
        else if (strncmp(m, FEED_MEMBER_EPOCH, strlen(FEED_MEMBER_EPOCH)) == 0)
            epoch = m + strlen(FEED_MEMBER_EPOCH);
    }
    r->ncelebs = nc;
    if ((state == FEED_STATE_COMPLETE || state == FEED_STATE_PARTIAL) && suspect(r, epoch)) {
        /* Built under another master: deliveries and markers written to
         * the old one after its last replication may be missing, and the
         * feed would claim to be complete. Rebuilt from PostgreSQL; the
         * DEL goes first on this connection. */
        metric_inc(feed_metrics.feed_suspect_total);
        rds_args_reset(&r->args);
        rds_args_str(&r->args, "DEL");
        rds_args_key(&r->args, rds_key_feed, r->e->prefix, r->req.user_id);
        rds_send(r->e->redis, r->affinity, &r->args, NULL, NULL);
        state = 0;
    }
    if (state != FEED_STATE_COMPLETE && state != FEED_STATE_PARTIAL) {
        if (!r->counted_feed) {
            r->counted_feed = true;
            metric_inc(feed_metrics.feed_misses);
            count_pg(r);
        }
        free_sources(r);
        feed_rebuild_home(r->e, r->req.user_id, on_feed_rebuilt, r);
        return;
    }
    if (!r->counted_feed) {
        r->counted_feed = true;
        metric_inc(feed_metrics.feed_hits);
    }
    take_prefetch(r, b);
    if (!r->source)
        r->source = "cache";
    r->nsrcs = 1 + nc;
    r->srcs = fc_xcalloc(r->nsrcs, sizeof *r->srcs);
    feed_key_t floor = { 0, 0 };
    bool has_floor = home_floor(range, &floor);
    /* Below its coverage floor a partial feed may hold entries that came
     * in the fast way past a floor check (feed_scripts.h): only what is
     * newer than the floor is trusted. */
    if (has_floor && cover > floor.ts)
        floor.ts = cover;
    r->home_full = fill_source(r, &r->srcs[0], range, r->fetch_n, state == FEED_STATE_PARTIAL,
                               has_floor, floor, 0);
    r->celeb_full = false;
    bool guessed = nc == r->nguess;
    feed_guess_store(r->e->guess, r->req.user_id, r->celebs, nc);
    slide_if_due(r, rds_batch_reply(b, r->pttl_at));
    for (size_t j = 0; guessed && j < nc; j++)
        guessed = r->celebs[j] == r->guess[j];
    if (nc > 0) {
        /* Same celebrities as guessed: the windows not cached came with RT1. */
        r->celeb_at = fc_xmalloc(nc * sizeof *r->celeb_at);
        for (size_t j = 0; j < nc; j++)
            r->celeb_at[j] = guessed ? r->guess_at[j] : READ_NOT_ASKED;
        take_celebs(r, b);
        return;
    }
    merge_sources(r);
}

/* Whether RT1 can leave celebrity celeb to the cache of windows: a fresh
 * window serves this read (after: its cursor, NULL for a first page), and
 * its refresh is not due (or not this read's to make: a page after a
 * cursor is not stored). */
static bool celeb_cached(read_t *r, int64_t celeb, int64_t now, const feed_key_t *after)
{
    if (!feed_celebs_covers(r->e->celebs, celeb, now, after, r->celeb_n))
        return false;
    if (after)
        return true;
    if (feed_celebs_refresh_due(r->e->celebs, celeb, now)) {
        metric_inc(feed_metrics.celebrity_cache_refreshes_total);
        return false;
    }
    return true;
}

/* The posts of the user's last first page come along (the page hint,
 * feed_guess_page): one MGET on a single Redis, one per post on a cluster
 * (a multi-key command stays in one slot). */
static void add_prefetch(read_t *r)
{
    const int64_t *ids;
    size_t n = feed_guess_page(r->e->guess, r->req.user_id, &ids);
    if (n == 0)
        return;
    metric_inc(feed_metrics.read_page_prefetches_total);
    bool cluster = rds_pool_is_cluster(r->e->redis);
    r->pre = fc_xcalloc(n, sizeof *r->pre);
    r->npre = n;
    r->pre_at = rds_batch_count(r->batch);
    rds_args_t *a = &r->args;
    for (size_t k = 0; k < n; k++) {
        r->pre[k].id = ids[k];
        if (k == 0 || cluster) {
            if (k > 0)
                rds_batch_add(r->batch, a);
            rds_args_reset(a);
            rds_args_str(a, "MGET");
        }
        rds_args_key(a, rds_key_post, r->e->prefix, ids[k]);
    }
    rds_batch_add(r->batch, a);
}

static void read_start(read_t *r)
{
    rds_batch_clear(r->batch);
    free_pre(r);
    rds_args_t *a = &r->args;
    rds_args_reset(a);                                  /* READ_RT1_SENTINEL */
    rds_args_str(a, "ZSCORE");
    rds_args_key(a, rds_key_feed, r->e->prefix, r->req.user_id);
    rds_args_str(a, FEED_MEMBER_STATE);
    rds_batch_add(r->batch, a);
    /* READ_RT1_MARKERS: the meta members at or below the markers' score
     * (markers, epoch, fast markers; not the sentinel and the token). */
    rds_args_reset(a);
    rds_args_str(a, "ZRANGE");
    rds_args_key(a, rds_key_feed, r->e->prefix, r->req.user_id);
    rds_args_str(a, "-inf");
    rds_args_int(a, FEED_SCORE_CELEB);
    rds_args_str(a, "BYSCORE");
    rds_batch_add(r->batch, a);
    add_home_window(r, a);                              /* READ_RT1_WINDOW */
    r->rt1_sent_ms = (int64_t)uv_now(r->e->loop);
    r->pttl_at = READ_NOT_ASKED;
    if (r->rt1_sent_ms >= feed_guess_ttl_until(r->e->guess, r->req.user_id)) {
        r->pttl_at = rds_batch_count(r->batch);
        rds_args_reset(a);
        rds_args_str(a, "PTTL");
        rds_args_key(a, rds_key_feed, r->e->prefix, r->req.user_id);
        rds_batch_add(r->batch, a);
    }
    /* The celebrities of the last read come along (feed_guess.h). */
    const int64_t *guess;
    r->nguess = feed_guess_get(r->e->guess, r->req.user_id, &guess);
    if (r->nguess) {
        r->guess = fc_xrealloc(r->guess, r->nguess * sizeof *r->guess);
        memcpy(r->guess, guess, r->nguess * sizeof *r->guess);
        r->guess_at = fc_xrealloc(r->guess_at, r->nguess * sizeof *r->guess_at);
    }
    /* Only the windows the cache cannot serve now, and those whose refresh
     * falls to this read; one that expires before RT1 is answered goes to
     * RT2. */
    r->celebs_epoch = feed_celebs_epoch(r->e->celebs);
    int64_t now = (int64_t)uv_now(r->e->loop);
    const feed_key_t *after = r->req.has_cursor ? &r->req.after : NULL;
    for (size_t k = 0; k < r->nguess; k++)
        r->guess_at[k] = celeb_cached(r, r->guess[k], now, after)
                             ? READ_NOT_ASKED
                             : add_celeb_commands(r, r->guess[k]);
    if (!after)
        add_prefetch(r);
    rds_batch_wait(r->batch, on_feed, r);
}

/* A celebrity's window: half as much again as the most one celebrity gave
 * the user's last page, within [READ_CELEB_MIN, the home window]. */
static int64_t celeb_window(size_t most, int64_t home_window)
{
    int64_t n = (int64_t)(most + most / 2 + 2);
    if (n < READ_CELEB_MIN)
        n = READ_CELEB_MIN;
    return n < home_window ? n : home_window;
}

void feed_timeline_get(feed_engine_t *e, rpc_call_t *call, const feed_read_req_t *req)
{
    read_t *r = fc_xcalloc(1, sizeof *r);
    r->e = e;
    r->call = call;
    r->req = *req;
    r->affinity = feed_affinity(req->user_id);
    r->fetch_n = req->limit + READ_SLACK;
    r->celeb_n = celeb_window(feed_guess_window(e->guess, req->user_id), r->fetch_n);
    r->batch = rds_batch_new(e->redis, r->affinity);
    rds_args_init(&r->args);
    buf_init(&r->bodies);
    read_start(r);
}
