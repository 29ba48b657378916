/* follow and unfollow on home feeds that are cached, step by step: what a
 * reader sees must stay exactly the contract's timeline (docs/PROTOCOL.md,
 * "What timeline.get returns", "follow", "unfollow"), whatever the engine
 * does to the cached feed (drop it and rebuild, or merge the followee's
 * posts in place / take them out in place).
 *
 * The daemon runs with --feed-max 10, so a feed holds 10 entries at most
 * (docs/DATA_MODEL.md, "Home feed"): trimmed (partial) feeds have a floor,
 * below which PostgreSQL serves the pages, and a feed with fewer posts than
 * that is complete. Two worlds, deterministic times (ids random, so that
 * ties on created_at order differently as strings and as numbers):
 *
 *   F follows A1, A2 and the celebrity C: 31 posts (C's 3 are merged at
 *     read time), a tie group of 5 at the floor, so F's feed is partial;
 *   G follows A3: 5 posts, so G's feed is complete.
 *
 * Every block starts from a freshly rebuilt feed whose state is checked in
 * Redis (partial with 10 entries / complete); then a chain of follows and
 * unfollows, each followee's posts written just before, placed relative to
 * the follower's feed as it is then (read from Redis):
 *   - posts straddling the floor (some newer than the feed's oldest entry,
 *     some older, one deleted);
 *   - posts all older than the floor (a merge must not move the floor down
 *     past posts of other authors that were trimmed);
 *   - more than feed_max posts all newer than the floor, interleaved; then
 *     unfollowing that author, who holds most of the feed;
 *   - more than feed_max posts newer than everything; then unfollowing it,
 *     which leaves nothing of the cached feed;
 *   - ties on created_at with the floor entry, across authors;
 *   - an author with no posts; a re-follow within 10 minutes of the
 *     unfollow, then a new post of that author (fan-out must reach F);
 *   - the celebrity unfollowed and followed again;
 *   - for the complete feed: posts older than its oldest entry (a complete
 *     feed has no floor: they belong in it), a follow that fills it to
 *     exactly feed_max, one that overflows it (it must stop claiming to be
 *     complete), posts all newer than everything.
 * After each change, the whole timeline is walked with several limits and
 * compared with the SQL definition, and a cursor taken before the change is
 * walked to the end and compared with the posts after it. The source of the
 * first read after each change is printed, not checked: "rebuilt" when the
 * change dropped the feed, "cache" when it changed the feed in place; both
 * are correct.
 *
 * A second test, changes_during_fanout, follows and unfollows while a
 * fan-out of the followee's post is in flight (held in PostgreSQL by a slow
 * view): after an unfollow that post must never show, after a follow it
 * must. A third, late_post_below_floor: a post dated below a partial feed's
 * floor, fanned out into that feed while it is short of feed_max, must not
 * move the floor past posts the feed never held.
 *
 * Own PostgreSQL database fc_follow_<pid>, own Redis db 9, own key prefix.
 * FEEDCACHE_ORACLE_SEED=N picks another seed (for the ids and bodies);
 * FEEDCACHE_TEST_FILTER=changes_during_fanout runs one test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "oracle_db.h"

#define FEED_MAX 10
#define THRESHOLD 3
#define SETTLE_MS 15000
#define T0 INT64_C(1700000000000)
#define SEC INT64_C(1000)

static uint64_t seed = 20240620;

static const char *const daemon_args[] = {
    "--celebrity-threshold", "3", "--feed-max", "10", NULL,
};
static const fixture_conf_t conf = {
    .program = "test_follow", .db_tag = "fc_follow", .redis_db = 9, .key_prefix = "fcfollow",
    .daemon_args = daemon_args,
};

static int group_setup(void **state)
{
    seed = fixture_seed(seed);
    return fixture_group_setup(&conf);
}

/* --- the world -------------------------------------------------------------------------- */

enum {
    F, G,                 /* the followers */
    A1, A2, A3,           /* what they follow at the start */
    C, X1, X2,            /* a celebrity and two more of its followers */
    S, O, B1, B2, T, E,   /* followed by F along the way (E never posts) */
    S2, O2, B3, K, K2,    /* followed by G along the way */
    NUSERS
};
static const char *const names[NUSERS] = {
    "F", "G", "A1", "A2", "A3", "C", "X1", "X2", "S", "O", "B1", "B2", "T", "E",
    "S2", "O2", "B3", "K", "K2",
};

typedef struct {
    fixture_t *f;
    odb_world_t w;
    size_t failed;
    int changes;          /* follows and unfollows so far */
    bool unsettled;       /* posts written since fan-out last settled */
} ctx_t;

#define STEP(expr)                                                              \
    do {                                                                        \
        if ((expr) != 0)                                                        \
            fail_msg("seed %" PRIu64 ": %s", seed, err);                        \
    } while (0)

/* One post by users[author] at ts, PostgreSQL first, then post.publish
 * (with body; the mode checked against the follower count). */
static int64_t post_at(ctx_t *x, size_t author, int64_t ts)
{
    char err[4096];
    odb_post_t p = { .author_id = x->w.users[author], .created_ms = ts };
    p.body = odb_random_body(&x->w.rng);
    p.body_len = strlen(p.body);
    int ins;
    do {
        p.id = odb_rng_id(&x->w.rng);
        ins = odb_pg_insert_post(x->w.pg, &p, err, sizeof err);
    } while (ins == 1);
    char mode[16] = "";
    if (ins == 0)
        ins = odb_rpc_publish(x->w.c, &p, true, false, mode, err, sizeof err);
    free(p.body);
    if (ins != 0)
        fail_msg("seed %" PRIu64 ": post by %s at %" PRId64 ": %s", seed, names[author], ts, err);
    x->unsettled = true;
    const char *want = odb_world_followers(&x->w, author) >= THRESHOLD ? "celebrity" : "fanout";
    if (strcmp(mode, want) != 0)
        fail_msg("post %" PRId64 " by %s (%zu followers): mode \"%s\", expected \"%s\"", p.id,
                 names[author], odb_world_followers(&x->w, author), mode, want);
    return p.id;
}

static void posts_at(ctx_t *x, size_t author, const int64_t *ts, size_t n)
{
    for (size_t k = 0; k < n; k++)
        post_at(x, author, ts[k]);
}

static void delete_post(ctx_t *x, size_t author, int64_t id)
{
    char err[4096];
    STEP(odb_pg_delete_post(x->w.pg, id, err, sizeof err));
    STEP(odb_rpc_delete(x->w.c, id, x->w.users[author], err, sizeof err));
}

/* --- the feed in Redis (docs/DATA_MODEL.md, "Home feed") --------------------------------- */

typedef struct {
    bool exists;            /* a real feed: the sentinel is there */
    int64_t sentinel;       /* -1 complete, -2 partial, -3 building */
    long long entries;      /* members with a score >= 0 */
    bool any;               /* entries > 0: oldest and newest are set */
    int64_t oldest_ts, oldest_id, newest_ts, newest_id;
} feed_state_t;

static redisReply *redis_cmd(ctx_t *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = rdirect_vcommand(x->f->r, fmt, ap);
    va_end(ap);
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        fail_msg("Redis: %s", rep ? rep->str : rdirect_error(x->f->r));
    return rep;
}

/* The first (member, score) pair of a WITHSCORES reply. */
static bool first_pair(const redisReply *rep, int64_t *ts, int64_t *id)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2)
        return false;
    *id = strtoll(rep->element[0]->str, NULL, 10);
    *ts = RDIRECT_HOME_BASE - strtoll(rep->element[1]->str, NULL, 10);
    return true;
}

static feed_state_t feed_state(ctx_t *x, size_t user)
{
    feed_state_t st = { 0 };
    int64_t u = x->w.users[user];
    const char *pre = x->f->prefix;
    redisReply *rep = redis_cmd(x, "ZSCORE %shome:{%" PRId64 "} s", pre, u);
    if (rep->type == REDIS_REPLY_STRING) {
        st.exists = true;
        st.sentinel = strtoll(rep->str, NULL, 10);
    }
    freeReplyObject(rep);
    rep = redis_cmd(x, "ZCOUNT %shome:{%" PRId64 "} 0 +inf", pre, u);
    st.entries = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
    freeReplyObject(rep);
    /* Newest first: the oldest entry has the highest score. */
    rep = redis_cmd(x, "ZREVRANGEBYSCORE %shome:{%" PRId64 "} +inf 0 WITHSCORES LIMIT 0 1", pre,
                    u);
    st.any = first_pair(rep, &st.oldest_ts, &st.oldest_id);
    freeReplyObject(rep);
    rep = redis_cmd(x, "ZRANGEBYSCORE %shome:{%" PRId64 "} 0 +inf WITHSCORES LIMIT 0 1", pre, u);
    first_pair(rep, &st.newest_ts, &st.newest_id);
    freeReplyObject(rep);
    return st;
}

static const char *describe(const feed_state_t *st, char *out, size_t len)
{
    if (!st->exists) {
        snprintf(out, len, "no feed in Redis");
        return out;
    }
    const char *kind = st->sentinel == -1 ? "complete" : st->sentinel == -2 ? "partial"
                       : st->sentinel == -3 ? "building" : "sentinel?";
    if (st->any)
        snprintf(out, len, "%s, %lld entries, oldest %" PRId64 "@T0%+" PRId64 ", newest %" PRId64
                 "@T0%+" PRId64, kind, st->entries, st->oldest_id, st->oldest_ts - T0,
                 st->newest_id, st->newest_ts - T0);
    else
        snprintf(out, len, "%s, no entries", kind);
    return out;
}

/* Reads user's first page, so that the feed is in Redis, and returns its
 * state; fails the test when it is not a real feed with entries. */
static feed_state_t cached_feed(ctx_t *x, size_t user, const char *why)
{
    char err[4096];
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", x->w.users[user]);
    fc_params_int(&p, "limit", 1);
    STEP(odb_call(x->w.c, "timeline.get", &p, NULL, err, sizeof err));
    fc_params_free(&p);
    feed_state_t st = feed_state(x, user);
    char d[160];
    if (!st.exists || (st.sentinel != -1 && st.sentinel != -2) || !st.any)
        fail_msg("%s: %s's feed after a read: %s; expected a complete or partial feed with "
                 "entries", why, names[user], describe(&st, d, sizeof d));
    return st;
}

/* A fresh feed: timeline.invalidate, then a read rebuilds it. */
static feed_state_t fresh_feed(ctx_t *x, size_t user, int64_t want_sentinel, long long want_n,
                               const char *block)
{
    char err[4096], d[160];
    STEP(odb_rpc_invalidate(x->w.c, x->w.users[user], err, sizeof err));
    feed_state_t st = cached_feed(x, user, block);
    describe(&st, d, sizeof d);
    if (st.sentinel != want_sentinel || st.entries != want_n)
        fail_msg("%s: %s's rebuilt feed: %s; expected %s with %lld entries (the world is not "
                 "what this test means to build)", block, names[user], d,
                 want_sentinel == -1 ? "complete" : "partial", want_n);
    fprintf(stderr, "%s: %s's feed: %s\n", block, names[user], d);
    return st;
}

/* --- checks ------------------------------------------------------------------------------- */

/* The whole timeline, walked with several limits, against the SQL
 * definition. The first walk is the first read after the change: its
 * source is printed. */
static void compare(ctx_t *x, size_t user, const char *what)
{
    static const struct {
        int limit;
        bool hydrate;
    } runs[] = { { 7, true }, { 1, false }, { 2, true }, { 3, false }, { 4, true },
                 { 9, false }, { 10, true }, { 11, false }, { 200, true } };
    char err[8192], d[160];
    feed_state_t before = feed_state(x, user);
    describe(&before, d, sizeof d);
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        odb_walk_opts_t o = { .limit = runs[k].limit, .hydrate = runs[k].hydrate };
        char source[16] = "";
        if (odb_check_user(x->w.pg, x->w.c, x->w.users[user], &o, source, err, sizeof err) != 0) {
            fprintf(stderr, "FOLLOW MISMATCH [seed %" PRIu64 ", %s; %s's feed before the first "
                    "read: %s] %s (%s): %s\n", seed, what, names[user], d, names[user],
                    k == 0 ? "first read" : "a later walk", err);
            x->failed++;
        }
        if (k == 0)
            fprintf(stderr, "  %s: first read of %s: source \"%s\" (feed before it: %s)\n", what,
                    names[user], source, d);
    }
}

/* A cursor of user's timeline (a first page of 4), taken before a change. */
typedef struct {
    char *cursor;
    odb_post_t last;
} mark_t;

static mark_t mark_take(ctx_t *x, size_t user)
{
    char err[4096];
    mark_t m = { 0 };
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", x->w.users[user]);
    fc_params_int(&p, "limit", 4);
    fc_params_bool(&p, "hydrate", false);
    fc_response_t r;
    STEP(odb_call(x->w.c, "timeline.get", &p, &r, err, sizeof err));
    fc_params_free(&p);
    const msgpack_object *posts = fc_obj_get(&r.result, "posts");
    m.cursor = fc_obj_strdup(fc_obj_get(&r.result, "next_cursor"));
    if (m.cursor && (!posts || posts->type != MSGPACK_OBJECT_ARRAY ||
                     posts->via.array.size != 4 ||
                     fc_obj_int(fc_obj_get(&posts->via.array.ptr[3], "id"), &m.last.id) != 0 ||
                     fc_obj_int(fc_obj_get(&posts->via.array.ptr[3], "created_at"),
                                &m.last.created_ms) != 0))
        fail_msg("%s's first page of 4 has a next_cursor but not 4 posts", names[user]);
    fc_response_free(&r);
    return m;
}

/* The walk from the cursor equals the timeline strictly after its post. */
static void mark_check(ctx_t *x, size_t user, mark_t *m, const char *what)
{
    char err[8192];
    if (!m->cursor)
        return;
    odb_posts_t all = { 0 }, want = { 0 };
    STEP(odb_pg_timeline(x->w.pg, x->w.users[user], &all, err, sizeof err));
    for (size_t k = 0; k < all.n; k++)
        if (all.v[k].created_ms < m->last.created_ms ||
            (all.v[k].created_ms == m->last.created_ms && all.v[k].id < m->last.id))
            odb_posts_push(&want, &all.v[k]);
    odb_walk_opts_t o = { .limit = 3, .hydrate = true, .data_may_change = true,
                          .cursor = m->cursor };
    odb_walk_t walk;
    if (odb_walk(x->w.c, x->w.users[user], &o, &walk, err, sizeof err) != 0 ||
        odb_compare(&want, &walk.posts, true, err, sizeof err) != 0) {
        fprintf(stderr, "FOLLOW MISMATCH [seed %" PRIu64 ", %s] %s (id %" PRId64 "), walking on "
                "from a cursor taken before (after post %" PRId64 "@T0%+" PRId64 "): %s\n", seed,
                what, names[user], x->w.users[user], m->last.id, m->last.created_ms - T0, err);
        x->failed++;
    }
    odb_walk_free(&walk);
    odb_posts_free(&all);
    odb_posts_free(&want);
    free(m->cursor);
    m->cursor = NULL;
}

static void change(ctx_t *x, bool follow, size_t i, size_t j, const char *about)
{
    char err[4096], what[256], d[160];
    /* The followee's new posts are fanned out (to nobody yet) before the
     * change, so that the change alone decides what the feed holds. (A
     * follow during their fan-out: changes_during_fanout.) */
    if (x->unsettled)
        STEP(odb_wait_settled(x->w.c, SETTLE_MS, err, sizeof err));
    x->unsettled = false;
    mark_t m = mark_take(x, i);
    feed_state_t st = feed_state(x, i);
    snprintf(what, sizeof what, "change %d: %s %s -> %s (%s)", ++x->changes,
             follow ? "follow" : "unfollow", names[i], names[j], about);
    fprintf(stderr, "%s; %s's feed: %s\n", what, names[i], describe(&st, d, sizeof d));
    if (follow)
        STEP(odb_world_follow(&x->w, i, j, err, sizeof err));
    else
        STEP(odb_world_unfollow(&x->w, i, j, err, sizeof err));
    compare(x, i, what);
    mark_check(x, i, &m, what);
}

/* --- the scenario ---------------------------------------------------------------------------- */

static void build_world(ctx_t *x)
{
    char err[4096];
    STEP(odb_world_add_users(&x->w, NUSERS, err, sizeof err));
    fprintf(stderr, "world: seed %" PRIu64 ", users", seed);
    for (size_t k = 0; k < NUSERS; k++)
        fprintf(stderr, " %s=%" PRId64, names[k], x->w.users[k]);
    fprintf(stderr, "\n");
    static const size_t follows[][2] = {
        { F, A1 }, { F, A2 }, { F, C }, { X1, C }, { X2, C }, { G, A3 },
    };
    for (size_t k = 0; k < sizeof follows / sizeof follows[0]; k++)
        STEP(odb_world_follow(&x->w, follows[k][0], follows[k][1], err, sizeof err));

    /* F's timeline without C: 7 posts newer than T0+100s, then a tie group
     * of 5 at T0+100s (3 by A1, 2 by A2) holding ranks 8..12: the feed keeps
     * 3 of them, and its floor is in the group. */
    static const int64_t a1[] = { 5, 15, 25, 35, 45, 55, 65, 75, 100, 100, 100, 110, 130, 150 };
    static const int64_t a2[] = { 10, 20, 30, 40, 50, 60, 70, 100, 100, 120, 140, 160 };
    static const int64_t fo[] = { 12, 105 };
    static const int64_t c[] = { 8, 102, 155 };
    static const int64_t a3[] = { 33, 66, 99 };
    static const int64_t go[] = { 44, 88 };
    static const struct {
        size_t author;
        const int64_t *s;
        size_t n;
    } posts[] = {
        { A1, a1, sizeof a1 / sizeof a1[0] }, { A2, a2, sizeof a2 / sizeof a2[0] },
        { F, fo, sizeof fo / sizeof fo[0] }, { C, c, sizeof c / sizeof c[0] },
        { A3, a3, sizeof a3 / sizeof a3[0] }, { G, go, sizeof go / sizeof go[0] },
    };
    for (size_t k = 0; k < sizeof posts / sizeof posts[0]; k++)
        for (size_t i = 0; i < posts[k].n; i++)
            post_at(x, posts[k].author, T0 + posts[k].s[i] * SEC);
    STEP(odb_wait_settled(x->w.c, SETTLE_MS, err, sizeof err));
    x->unsettled = false;
}

/* F, partial: posts around the floor, below it, and tied with it. */
static void block_floor(ctx_t *x)
{
    const char *block = "block 1 (F partial: straddling, older, ties)";
    fresh_feed(x, F, -2, FEED_MAX, block);
    compare(x, F, "block 1, before any change");

    /* S: three posts older than the floor, four newer (one newer than
     * anything), and a deleted one newer than the floor. */
    feed_state_t st = cached_feed(x, F, block);
    int64_t fl = st.oldest_ts;
    const int64_t s[] = { fl - 50 * SEC, fl - 20 * SEC, fl - 2, fl + 1, fl + 7,
                          fl + 25 * SEC, st.newest_ts + 70 * SEC };
    posts_at(x, S, s, sizeof s / sizeof s[0]);
    delete_post(x, S, post_at(x, S, fl + 10));
    change(x, true, F, S, "S's posts straddle the floor, one deleted");
    change(x, false, F, S, "S held entries above the floor");

    /* O: every post older than the floor. */
    st = cached_feed(x, F, block);
    fl = st.oldest_ts;
    const int64_t o[] = { fl - 90 * SEC, fl - 45 * SEC, fl - 10 * SEC, fl - 1 };
    posts_at(x, O, o, sizeof o / sizeof o[0]);
    change(x, true, F, O, "O's posts are all older than the floor");
    change(x, false, F, O, "O's posts were all older than the floor");

    /* T: ties with the feed's oldest entry, ids above and below it (and of
     * other lengths: string order differs), and the milliseconds around. */
    st = cached_feed(x, F, block);
    fl = st.oldest_ts;
    const int64_t t[] = { fl, fl, fl, fl, fl + 1, fl - 1 };
    posts_at(x, T, t, sizeof t / sizeof t[0]);
    change(x, true, F, T, "T's posts tie with the floor entry");
    change(x, false, F, T, "T's posts tied with the floor entry");

    change(x, true, F, E, "E has no posts");
    change(x, false, F, E, "E has no posts");
}

/* F, partial: followees that take over the feed. */
static void block_takeover(ctx_t *x)
{
    const char *block = "block 2 (F partial: followees that fill the feed)";
    char err[4096];
    fresh_feed(x, F, -2, FEED_MAX, block);

    /* B1: 15 posts newer than the floor, spread between it and beyond the
     * newest entry: they push most of F's entries out. */
    feed_state_t st = cached_feed(x, F, block);
    int64_t span = st.newest_ts + 10 * SEC - st.oldest_ts;
    for (int k = 1; k <= 15; k++)
        post_at(x, B1, st.oldest_ts + span * k / 15 - (k % 3));
    change(x, true, F, B1, "15 posts of B1, all newer than the floor");
    change(x, false, F, B1, "B1 holds most of the feed");

    /* B2: 12 posts newer than anything: after the follow they could be
     * the whole feed, and after the unfollow nothing of it is left. */
    st = cached_feed(x, F, block);
    for (int k = 1; k <= 12; k++)
        post_at(x, B2, st.newest_ts + k * SEC);
    change(x, true, F, B2, "12 posts of B2, newer than everything");
    change(x, false, F, B2, "B2 holds all of the feed");

    /* S again, within 10 minutes of its unfollow; then S posts: fan-out
     * must reach F again. */
    change(x, true, F, S, "a re-follow of S");
    st = feed_state(x, F);
    post_at(x, S, (st.any ? st.newest_ts : T0 + 500 * SEC) + SEC);
    post_at(x, S, T0 + 101 * SEC);
    STEP(odb_wait_settled(x->w.c, SETTLE_MS, err, sizeof err));
    compare(x, F, "block 2: two posts of S after the re-follow, fan-out settled");
    change(x, false, F, S, "after the re-follow");

    /* The celebrity: unfollowed and followed again. */
    change(x, false, F, C, "the celebrity C");
    change(x, true, F, C, "the celebrity C again");
    /* A1, who with A2 holds the feed, goes; A3 (also G's) comes. */
    change(x, false, F, A1, "A1 holds about half of the feed");
    change(x, true, F, A3, "A3, followed by G too");
}

/* G, complete. */
static void block_complete(ctx_t *x)
{
    const char *block = "block 3 (G complete)";
    fresh_feed(x, G, -1, 5, block);
    compare(x, G, "block 3, before any change");

    /* S2: one post older than the oldest entry, one in between, one newer
     * than anything: 8 entries, still complete. */
    feed_state_t st = cached_feed(x, G, block);
    const int64_t s2[] = { st.oldest_ts - 10 * SEC, st.oldest_ts + 1, st.newest_ts + 3 * SEC };
    posts_at(x, S2, s2, sizeof s2 / sizeof s2[0]);
    change(x, true, G, S2, "S2 straddles the oldest entry of a complete feed");

    /* O2: four posts older than every entry: 12 posts, more than fit. */
    st = cached_feed(x, G, block);
    const int64_t o2[] = { st.oldest_ts - 40 * SEC, st.oldest_ts - 30 * SEC,
                           st.oldest_ts - 20 * SEC, st.oldest_ts - 1 };
    posts_at(x, O2, o2, sizeof o2 / sizeof o2[0]);
    change(x, true, G, O2, "O2's posts are older than every entry: 12 posts in all");
    change(x, false, G, O2, "O2");

    /* B3: 12 posts newer than everything. */
    st = cached_feed(x, G, block);
    for (int k = 1; k <= 12; k++)
        post_at(x, B3, st.newest_ts + k * SEC);
    change(x, true, G, B3, "12 posts of B3, newer than everything");
    change(x, false, G, B3, "B3 held all of the feed");
    change(x, false, G, S2, "S2");
    change(x, true, G, E, "E has no posts");
    change(x, false, G, E, "E has no posts");

    /* Exactly feed_max, then one more. */
    fresh_feed(x, G, -1, 5, "block 3, again");
    st = cached_feed(x, G, block);
    const int64_t k5[] = { st.oldest_ts - 5 * SEC, st.oldest_ts + 2, st.newest_ts - 1,
                           st.newest_ts + 1, st.newest_ts + 9 * SEC };
    posts_at(x, K, k5, sizeof k5 / sizeof k5[0]);
    change(x, true, G, K, "K's 5 posts fill the feed to exactly feed_max");
    st = cached_feed(x, G, block);
    post_at(x, K2, st.oldest_ts - 3 * SEC);
    change(x, true, G, K2, "K2's post, older than every entry, is one more than fits");
    change(x, false, G, K, "K");
    change(x, true, G, A1, "A1, followed by F too (14 posts)");
}

/* feedcache_follow_updates_total{op="OP",path="PATH"} from /metrics; -1 when
 * absent. */
static long long follow_updates(fixture_t *f, const char *op, const char *path)
{
    harness_http_t h;
    char err[256], series[128];
    if (harness_http(f->d->metrics_addr, "GET", "/metrics", 5000, &h, err, sizeof err) != 0)
        fail_msg("/metrics: %s", err);
    snprintf(series, sizeof series, "feedcache_follow_updates_total{op=\"%s\",path=\"%s\"} ",
             op, path);
    const char *at = strstr(h.body.data, series);
    long long v = at ? strtoll(at + strlen(series), NULL, 10) : -1;
    harness_http_free(&h);
    return v;
}

static void follow_on_cached_feeds(void **state)
{
    fixture_t *f = *state;
    ctx_t x = { .f = f };
    odb_world_init(&x.w, f->pg, f->c, seed, THRESHOLD);
    long long t0 = odb_now_ms();
    build_world(&x);
    block_floor(&x);
    block_takeover(&x);
    block_complete(&x);
    fprintf(stderr, "follow: %d follows and unfollows, %zu mismatches, %lld ms\n", x.changes,
            x.failed, odb_now_ms() - t0);
    /* The feeds were cached: most changes must have been made in place. */
    long long fin = follow_updates(f, "follow", "in_place");
    long long uin = follow_updates(f, "unfollow", "in_place");
    long long fre = follow_updates(f, "follow", "rebuild");
    long long ure = follow_updates(f, "unfollow", "rebuild");
    fprintf(stderr, "follow: in place %lld follows, %lld unfollows; fell back to a rebuild %lld "
            "follows, %lld unfollows\n", fin, uin, fre, ure);
    if (fin < 1 || uin < 1 || fin + uin < 2 * (fre + ure))
        fail_msg("too few follows/unfollows done in place: %lld + %lld in place, %lld + %lld "
                 "rebuilds", fin, uin, fre, ure);
    size_t failed = x.failed + odb_world_check_all(&x.w, "follow: at the end", NULL, 0, NULL);
    odb_world_free(&x.w);
    if (failed)
        fail_msg("seed %" PRIu64 ": %zu checks failed (see FOLLOW MISMATCH above)", seed, failed);
    f->finished = true;
}


/* --- unfollow and follow while a fan-out of the followee's post is in flight ----------------- */

/* The contract: no read after unfollow's answer shows the followee's posts,
 * "including posts being fanned out at that moment"; after follow's answer
 * every post of the followee shows, including one whose fan-out started
 * before the follow (and so will not deliver to the new follower). The
 * daemon reads `follows` through a view (schema "slow", first on its
 * search_path) that sleeps RACE_SLEEP_MS on one row, (X, J): the fan-out
 * query of J's followers then holds its snapshot (taken before the change)
 * that long while the test follows or unfollows (I, J); pg_stat_activity
 * shows when it sleeps. Each round: read I's timeline (so that the feed is
 * cached), publish a post of J, wait until its fan-out sleeps, change,
 * then read I's whole timeline at once and again once fan-out has settled
 * (the late delivery has happened by then): both must equal the SQL
 * definition (in particular: no post of J after the unfollow). */

#define RACE_SLEEP_MS 300
#define RACE_ROUNDS 4

enum { RI, RJ, RX, RA, RUSERS };

static void exec_sql(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%.120s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
}

/* Backends of this database sleeping in pg_sleep (the slow view). */
static int sleepers(PGconn *pg)
{
    PGresult *res = PQexec(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND wait_event = 'PgSleep'");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("pg_stat_activity: %s", PQerrorMessage(pg));
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

static int start_slow_daemon(void **state)
{
    if (fixture_setup_data(state) != 0)
        return -1;
    fixture_t *f = *state;
    exec_sql(f->pg, "CREATE SCHEMA IF NOT EXISTS slow");
    exec_sql(f->pg, "CREATE TABLE IF NOT EXISTS slow.target (follower bigint, followee bigint)");
    exec_sql(f->pg, "TRUNCATE slow.target");
    char sql[512];
    snprintf(sql, sizeof sql, "CREATE OR REPLACE FUNCTION slow.pass(fr bigint, fe bigint) "
             "RETURNS boolean LANGUAGE sql VOLATILE AS $$ SELECT CASE WHEN EXISTS (SELECT 1 "
             "FROM slow.target t WHERE t.follower = fr AND t.followee = fe) THEN "
             "pg_sleep(%g) IS NOT NULL ELSE true END $$", RACE_SLEEP_MS / 1000.0);
    exec_sql(f->pg, sql);
    exec_sql(f->pg, "CREATE OR REPLACE VIEW slow.follows AS SELECT * FROM public.follows "
             "WHERE slow.pass(follower_id, followee_id)");
    /* The daemon's conninfo: the test's database, the view first. */
    char slow[1400], saved[1200];
    snprintf(slow, sizeof slow, "%s options='-c search_path=slow,public'",
             fixture_env()->conninfo);
    snprintf(saved, sizeof saved, "%s", getenv("FEEDCACHE_TEST_PG"));
    setenv("FEEDCACHE_TEST_PG", slow, 1);
    fixture_next_prefix(f);
    f->d = fixture_daemon_start(f->prefix, NULL, &f->c);
    setenv("FEEDCACHE_TEST_PG", saved, 1);
    return f->d ? 0 : -1;
}

static void race_compare(ctx_t *x, const char *what)
{
    char err[8192];
    odb_walk_opts_t o = { .limit = 3, .hydrate = false };
    char source[16] = "";
    if (odb_check_user(x->w.pg, x->w.c, x->w.users[RI], &o, source, err, sizeof err) != 0) {
        fprintf(stderr, "FOLLOW MISMATCH [seed %" PRIu64 ", %s] I (id %" PRId64 "): %s\n", seed,
                what, x->w.users[RI], err);
        x->failed++;
    } else {
        fprintf(stderr, "  %s: I's timeline is right (first source \"%s\")\n", what, source);
    }
}

static void changes_during_fanout(void **state)
{
    fixture_t *f = *state;
    ctx_t x = { .f = f };
    char err[4096], what[200];
    odb_world_init(&x.w, f->pg, f->c, seed + 1, THRESHOLD);
    STEP(odb_world_add_users(&x.w, RUSERS, err, sizeof err));
    STEP(odb_world_follow(&x.w, RI, RA, err, sizeof err));
    STEP(odb_world_follow(&x.w, RX, RJ, err, sizeof err));
    STEP(odb_world_follow(&x.w, RI, RJ, err, sizeof err));
    for (int k = 0; k < 4; k++) {
        post_at(&x, RA, T0 + (10 + 10 * k) * SEC);
        post_at(&x, RJ, T0 + (15 + 10 * k) * SEC);
    }
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    snprintf(what, sizeof what, "INSERT INTO slow.target VALUES (%" PRId64 ", %" PRId64 ")",
             x.w.users[RX], x.w.users[RJ]);
    exec_sql(f->pg, what);
    fprintf(stderr, "race: I=%" PRId64 " J=%" PRId64 " X=%" PRId64 " A=%" PRId64 "; the fan-out "
            "of J's posts sleeps %d ms on X's row\n", x.w.users[RI], x.w.users[RJ],
            x.w.users[RX], x.w.users[RA], RACE_SLEEP_MS);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        bool unf = odb_world_follows(&x.w, RI, RJ);
        cached_feed(&x, RI, "race");
        int64_t id = post_at(&x, RJ, T0 + (100 + round) * SEC);
        long long deadline = odb_now_ms() + 5000;
        while (sleepers(f->pg) == 0) {
            if (odb_now_ms() > deadline)
                fail_msg("race round %d: the fan-out of post %" PRId64 " by J never slept in the "
                         "slow view", round, id);
            odb_sleep_ms(2);
        }
        if (unf)
            STEP(odb_world_unfollow(&x.w, RI, RJ, err, sizeof err));
        else
            STEP(odb_world_follow(&x.w, RI, RJ, err, sizeof err));
        bool in_flight = sleepers(f->pg) > 0;
        snprintf(what, sizeof what, "race round %d: %s I -> J while the fan-out of J's post %"
                 PRId64 " was in flight (%s when the answer came)", round,
                 unf ? "unfollow" : "follow", id, in_flight ? "still" : "no longer");
        race_compare(&x, what);
        /* The job stays queued until its last delivery: settled means
         * delivered (or skipped). */
        STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
        if (sleepers(f->pg) > 0)
            fail_msg("race round %d: fan-out settled while a query still sleeps in the slow "
                     "view", round);
        snprintf(what, sizeof what, "race round %d: after the %s, fan-out settled", round,
                 unf ? "unfollow" : "follow");
        race_compare(&x, what);
    }
    size_t failed = x.failed;
    odb_world_free(&x.w);
    if (failed)
        fail_msg("seed %" PRIu64 ": %zu checks failed (see FOLLOW MISMATCH above)", seed, failed);
    f->finished = true;
}

/* --- a late post below a partial feed's floor: a known bug ----------------------------------- */

/* A partial feed short of feed_max entries (post.delete took two of them)
 * gets fan-out deliveries of posts older than its oldest entry (late posts:
 * created_at in the past). FEED_PUSH adds them and has nothing to trim, so
 * the oldest entry, which readers take as the floor above which the feed
 * holds every post, moves down past posts the feed never held: here the
 * two posts of the tie group at the old floor that the rebuild left out.
 * Walks whose pages end just above them (limits 1 and 11) skipped them until
 * FEED_PUSH learnt to take such a post out again (in-place unfollow, issue
 * 14, leaves partial feeds short all the time, which made it frequent). */
static void late_post_below_floor(void **state)
{
    fixture_t *f = *state;
    ctx_t x = { .f = f };
    char err[8192];
    odb_world_init(&x.w, f->pg, f->c, seed, THRESHOLD);
    build_world(&x);
    const char *block = "late post below the floor";
    fresh_feed(&x, F, -2, FEED_MAX, block);
    /* A1's posts at 150 s and 130 s are in F's feed: post.delete, and
     * fan-out takes them out of it (8 entries left). */
    odb_posts_t tl = { 0 };
    STEP(odb_pg_timeline(x.w.pg, x.w.users[F], &tl, err, sizeof err));
    for (size_t k = 0; k < tl.n; k++)
        if (tl.v[k].created_ms == T0 + 150 * SEC || tl.v[k].created_ms == T0 + 130 * SEC)
            delete_post(&x, A1, tl.v[k].id);
    odb_posts_free(&tl);
    STEP(odb_wait_settled(x.w.c, SETTLE_MS, err, sizeof err));
    feed_state_t st = feed_state(&x, F);
    char d[160];
    fprintf(stderr, "%s: after two deletes: %s\n", block, describe(&st, d, sizeof d));
    /* Two late posts of A2, below the floor (T0+100s). */
    post_at(&x, A2, T0 + 90 * SEC);
    post_at(&x, A2, T0 + 80 * SEC);
    STEP(odb_wait_settled(x.w.c, SETTLE_MS, err, sizeof err));
    compare(&x, F, "two late posts below the floor of a partial feed two entries short");
    size_t failed = x.failed;
    odb_world_free(&x.w);
    if (failed)
        fail_msg("seed %" PRIu64 ": %zu walks failed (see FOLLOW MISMATCH above)", seed, failed);
    f->finished = true;
}

/* --- a rebuild that learns of a celebrity, or finds one gone ----------------------------- */

/* Whether F's feed holds member m (an entry id, or a marker "c:<id>"). */
static bool feed_has(ctx_t *x, size_t user, const char *m)
{
    redisReply *rep = redis_cmd(x, "ZSCORE %shome:{%" PRId64 "} %s", x->f->prefix,
                                x->w.users[user], m);
    bool has = rep->type == REDIS_REPLY_STRING;
    freeReplyObject(rep);
    return has;
}

/* A rebuild leaves out the posts of the celebrities its instance knows and
 * reads the flags with its write (src/feed/feed_rebuild.c, check_flags).
 * A fresh daemon knows none: F's first rebuild writes C's posts and then
 * gives the feed C's marker. The next knows C: no post of C, the marker.
 * Then C's flag goes (Redis lost it): the rebuild that still left C out
 * drops the feed and reads again, now with C's posts and no marker. Every
 * state reads exactly the SQL timeline. */
static void rebuild_under_changed_flags(void **state)
{
    fixture_t *f = *state;
    ctx_t x = { .f = f };
    char err[8192], marker[32], post[32];
    odb_world_init(&x.w, f->pg, f->c, seed, THRESHOLD);
    build_world(&x);
    snprintf(marker, sizeof marker, "c:%" PRId64, x.w.users[C]);
    odb_posts_t tl = { 0 };
    STEP(odb_pg_timeline(x.w.pg, x.w.users[F], &tl, err, sizeof err));
    post[0] = '\0';
    for (size_t k = 0; k < tl.n && !post[0]; k++)    /* newest first: C's at T0+155s */
        if (tl.v[k].author_id == x.w.users[C])
            snprintf(post, sizeof post, "%" PRId64, tl.v[k].id);
    odb_posts_free(&tl);
    assert_true(post[0] != '\0');

    cached_feed(&x, F, "first rebuild");
    if (!feed_has(&x, F, marker) || !feed_has(&x, F, post))
        fail_msg("first rebuild (C flagged, not known yet): marker %s, C's post %s",
                 feed_has(&x, F, marker) ? "there" : "missing",
                 feed_has(&x, F, post) ? "there" : "missing");
    compare(&x, F, "first rebuild: C's posts written, its marker added after");

    fresh_feed(&x, F, -2, FEED_MAX, "second rebuild");
    if (!feed_has(&x, F, marker) || feed_has(&x, F, post))
        fail_msg("second rebuild (C known): marker %s, C's post %s",
                 feed_has(&x, F, marker) ? "there" : "missing",
                 feed_has(&x, F, post) ? "there" : "missing");
    compare(&x, F, "second rebuild: C's marker, none of its posts");

    freeReplyObject(redis_cmd(&x, "SREM %s{celebrities} %" PRId64, f->prefix, x.w.users[C]));
    STEP(odb_rpc_invalidate(x.w.c, x.w.users[F], err, sizeof err));
    cached_feed(&x, F, "third rebuild");
    if (feed_has(&x, F, marker) || !feed_has(&x, F, post))
        fail_msg("third rebuild (C's flag gone): marker %s, C's post %s",
                 feed_has(&x, F, marker) ? "there" : "missing",
                 feed_has(&x, F, post) ? "there" : "missing");
    compare(&x, F, "third rebuild: C's flag gone, its posts written, no marker");
    size_t failed = x.failed;
    odb_world_free(&x.w);
    if (failed)
        fail_msg("seed %" PRIu64 ": %zu walks failed (see FOLLOW MISMATCH above)", seed, failed);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(follow_on_cached_feeds, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(changes_during_fanout, start_slow_daemon,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(late_post_below_floor, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(rebuild_under_changed_flags, fixture_setup,
                                        fixture_teardown),
    };
    /* e.g. FEEDCACHE_TEST_FILTER=changes_during_fanout */
    if (getenv("FEEDCACHE_TEST_FILTER"))
        cmocka_set_test_filter(getenv("FEEDCACHE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, fixture_group_teardown);
}
