/* The oracle test of the feed engine against the caller contract
 * (docs/PROTOCOL.md, "Methods" and "What timeline.get returns").
 *
 * For a few seeded random worlds (users, a power-law follow graph, posts
 * with many created_at ties and ids whose decimal strings sort unlike their
 * numbers), written the way the timeline API writes (PostgreSQL commit, then
 * the RPC), every user's timeline is walked page by page and compared with
 * the SQL definition of a home timeline: same posts, same order, same
 * fields. Around that: deletes, edits, follows and unfollows (each checked
 * on the very next read), authors crossing the celebrity threshold both
 * ways, Redis's script cache flushed under the daemon (SCRIPT FLUSH, with
 * fan-out running), a cold start (FLUSHDB), invalidations, and bad input. Two focused
 * tests: a cursor kept while posts are added and deleted around it, and
 * post.update / post.delete arriving while their post.publish is still
 * being processed (behind a notification, or pipelined).
 *
 * The daemon runs with --celebrity-threshold 10 (so the popular authors are
 * celebrities), --feed-max 25 (so walks go past the cached window) and
 * --celebrity-cache-ms 1000, the longest: every write goes through this one
 * instance, so no page may differ however long celebrity windows are reused
 * (feed_celebs.h: its publishes and deletes forget them).
 * Own PostgreSQL database fc_oracle_<pid>, own Redis db 7, own key prefix.
 *
 * FEEDCACHE_ORACLE_SEED=N picks another base seed; a failure prints the
 * seed of the world it happened in. FEEDCACHE_TEST_FILTER=world_tiny runs
 * one test (cmocka's name filter, wildcards allowed). */
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

#define THRESHOLD 10
#define SETTLE_MS 15000

static uint64_t base_seed = 20240601;

/* --- fixture ----------------------------------------------------------------- */

static const char *const daemon_args[] = {
    "--celebrity-threshold", "10", "--feed-max", "25", "--celebrity-cache-ms", "1000", NULL,
};
static const fixture_conf_t conf = {
    .program = "test_oracle", .db_tag = "fc_oracle", .redis_db = 7, .key_prefix = "fcoracle",
    .daemon_args = daemon_args,
};

static int group_setup(void **state)
{
    base_seed = fixture_seed(base_seed);
    return fixture_group_setup(&conf);
}

/* --- the scenario -------------------------------------------------------------- */

/* A random user index other than `not`. */
static size_t other_user(odb_world_t *w, size_t not)
{
    size_t i;
    do
        i = (size_t)odb_rng_below(&w->rng, w->nusers);
    while (i == not);
    return i;
}

/* An id no user has: PostgreSQL has never heard of it. */
static int64_t unknown_user(odb_world_t *w)
{
    int64_t id = 4242424242424242LL;
    for (bool taken = true; taken;) {
        taken = false;
        for (size_t i = 0; i < w->nusers; i++)
            taken |= w->users[i] == id;
        if (taken)
            id++;
    }
    return id;
}

/* Checks one user right after a change: the contract says the very next
 * read reflects it. Returns 1 on a mismatch (printed). */
static size_t check_now(odb_world_t *w, int64_t user, const char *after)
{
    char err[8192];
    odb_walk_opts_t o = { .limit = 7, .hydrate = true };
    if (odb_check_user(w->pg, w->c, user, &o, NULL, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "ORACLE MISMATCH [next read after %s, seed %" PRIu64 "] %s\n", after, w->seed,
            err);
    return 1;
}

/* Right after a delete, with fan-out still running: the post is gone from
 * user's timeline (the rest may still be catching up). */
static size_t check_absent(odb_world_t *w, int64_t user, int64_t id, const char *after)
{
    char err[8192];
    odb_walk_opts_t o = { .limit = 50, .hydrate = false, .data_may_change = true };
    odb_walk_t walk;
    size_t failed = 0;
    if (odb_walk(w->c, user, &o, &walk, err, sizeof err) != 0) {
        fprintf(stderr, "ORACLE MISMATCH [next read after %s, seed %" PRIu64 "] user %" PRId64
                ": walk failed: %s\n", after, w->seed, user, err);
        failed = 1;
    } else if (odb_posts_has(&walk.posts, id)) {
        fprintf(stderr, "ORACLE MISMATCH [next read after %s, seed %" PRIu64 "] user %" PRId64
                ": the deleted post is still there (%zu posts)\n", after, w->seed, user,
                walk.posts.n);
        failed = 1;
    }
    odb_walk_free(&walk);
    return failed;
}

static bool log_has(const harness_daemon_t *d, const char *needle)
{
    char *log = harness_daemon_log(d);
    bool has = strstr(log, needle) != NULL;
    free(log);
    return has;
}

/* A user, other than j, who follows j; nusers when none. */
static size_t some_follower(odb_world_t *w, size_t j)
{
    size_t start = (size_t)odb_rng_below(&w->rng, w->nusers);
    for (size_t k = 0; k < w->nusers; k++) {
        size_t i = (start + k) % w->nusers;
        if (i != j && odb_world_follows(w, i, j))
            return i;
    }
    return w->nusers;
}

#define STEP(expr)                                                              \
    do {                                                                        \
        if ((expr) != 0) {                                                      \
            odb_world_free(&w);                                                 \
            fail_msg("seed %" PRIu64 ": %s", seed, err);                        \
        }                                                                       \
    } while (0)

static void scenario(fixture_t *f, uint64_t seed, size_t nusers, size_t nposts)
{
    odb_world_t w;
    char err[8192], what[160];
    size_t failed = 0;
    odb_world_init(&w, f->pg, f->c, seed, THRESHOLD);
    fprintf(stderr, "world: seed %" PRIu64 ", %zu users, %zu posts\n", seed, nusers, nposts);

    /* Users; user 0 follows nobody (others may follow them). */
    STEP(odb_world_add_users(&w, nusers, err, sizeof err));
    const size_t loner = 0;
    STEP(odb_world_random_follows(&w, 8, &loner, 1, err, sizeof err));
    int64_t extra[] = { unknown_user(&w) };

    /* The authors who will cross the threshold: `up` from a few followers
     * to more than the threshold, `down` from just above it to below. */
    size_t up = w.nusers, down = w.nusers;
    for (size_t j = 1; j < w.nusers; j++) {
        size_t n = odb_world_followers(&w, j);
        if (n >= 2 && n <= THRESHOLD - 3 && (up == w.nusers || n > odb_world_followers(&w, up)))
            up = j;
        if (n >= THRESHOLD + 2 && (down == w.nusers || n < odb_world_followers(&w, down)))
            down = j;
    }
    if (up == w.nusers)
        up = other_user(&w, loner);
    if (down == w.nusers || down == up)
        down = odb_world_most_followed(&w);
    size_t maxf = odb_world_followers(&w, odb_world_most_followed(&w)), celebs = 0;
    for (size_t j = 0; j < w.nusers; j++)
        celebs += odb_world_followers(&w, j) >= THRESHOLD;
    fprintf(stderr, "graph: %zu celebrities (>= %d followers), most followed has %zu; up-crosser "
            "%" PRId64 " (%zu followers), down-crosser %" PRId64 " (%zu followers)\n", celebs,
            THRESHOLD, maxf, w.users[up], odb_world_followers(&w, up), w.users[down],
            odb_world_followers(&w, down));

    /* Phase 1: 40% of the posts; the crossers post every so often. */
    size_t n1 = nposts * 4 / 10;
    for (size_t k = 0; k < n1; k++) {
        if (k % 10 == 3)
            STEP(odb_world_publish(&w, up, ODB_PUB_PLAIN, NULL, err, sizeof err));
        else if (k % 10 == 7)
            STEP(odb_world_publish(&w, down, ODB_PUB_PLAIN, NULL, err, sizeof err));
        else
            STEP(odb_world_publish(&w, (size_t)odb_rng_below(&w.rng, w.nusers), ODB_PUB_RANDOM,
                                   NULL, err, sizeof err));
    }
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    failed += odb_world_check_all(&w, "phase 1", extra, 1, NULL);

    /* `up` crosses the threshold upwards; each new follower's next read
     * already holds up's posts. */
    while ((int64_t)odb_world_followers(&w, up) < THRESHOLD + 2) {
        size_t i = other_user(&w, up);
        if (i == loner || odb_world_follows(&w, i, up))
            continue;
        STEP(odb_world_follow(&w, i, up, err, sizeof err));
        snprintf(what, sizeof what, "follow %" PRId64 " -> %" PRId64, w.users[i], w.users[up]);
        failed += check_now(&w, w.users[i], what);
    }
    for (int k = 0; k < 8; k++)     /* now celebrity posts (checked by the mode) */
        STEP(odb_world_publish(&w, up, ODB_PUB_PLAIN, NULL, err, sizeof err));
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));

    /* `down` crosses it downwards; an ex-follower's next read has none of
     * down's posts. */
    while ((int64_t)odb_world_followers(&w, down) > THRESHOLD - 2) {
        size_t i = some_follower(&w, down);
        STEP(odb_world_unfollow(&w, i, down, err, sizeof err));
        snprintf(what, sizeof what, "unfollow %" PRId64 " -> %" PRId64, w.users[i],
                 w.users[down]);
        failed += check_now(&w, w.users[i], what);
    }
    for (int k = 0; k < 8; k++)     /* fanned out again */
        STEP(odb_world_publish(&w, down, ODB_PUB_PLAIN, NULL, err, sizeof err));
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));

    /* Random follows and unfollows, each checked on the next read. */
    for (int k = 0; k < 24; k++) {
        size_t i = other_user(&w, loner), j = other_user(&w, i);
        if (j == up || j == down)
            continue;   /* keep the crossers where they are */
        bool unf = odb_world_follows(&w, i, j);
        if (unf)
            STEP(odb_world_unfollow(&w, i, j, err, sizeof err));
        else
            STEP(odb_world_follow(&w, i, j, err, sizeof err));
        snprintf(what, sizeof what, "%s %" PRId64 " -> %" PRId64, unf ? "unfollow" : "follow",
                 w.users[i], w.users[j]);
        failed += check_now(&w, w.users[i], what);
    }

    /* Phase 2: the rest of the posts, with deletes and edits in between,
     * some of them of a post whose fan-out may still be running: a late
     * delivery must neither bring a deleted post back nor an old body.
     * Halfway, an operator's SCRIPT FLUSH empties Redis's script cache
     * under the daemon (with fan-out running): its EVALSHAs get NOSCRIPT
     * and must go again as EVAL, losing nothing (checked when settled). */
    size_t flush_at = n1 + (nposts - n1) / 2;
    for (size_t k = n1; k < nposts; k++) {
        size_t idx, other;
        if (k == flush_at) {
            STEP(odb_redis_script_flush(fixture_env(), err, sizeof err));
            for (int r = 0; r < 5; r++) {     /* reads right after the flush */
                size_t i = (size_t)odb_rng_below(&w.rng, w.nusers);
                odb_walk_opts_t o = { .limit = 7, .hydrate = true, .data_may_change = true };
                odb_walk_t walk;
                if (odb_walk(w.c, w.users[i], &o, &walk, err, sizeof err) != 0) {
                    fprintf(stderr, "ORACLE MISMATCH [read right after SCRIPT FLUSH, seed %"
                            PRIu64 "] user %" PRId64 ": walk failed: %s\n", seed, w.users[i], err);
                    failed++;
                    continue;
                }
                odb_walk_free(&walk);
            }
        }
        STEP(odb_world_publish(&w, (size_t)odb_rng_below(&w.rng, w.nusers), ODB_PUB_RANDOM,
                               &idx, err, sizeof err));
        if (k % 25 == 0) {
            if (odb_world_random_live(&w, &other) == 0)
                STEP(odb_world_delete(&w, other, err, sizeof err));
            if (odb_world_random_live(&w, &other) == 0)
                STEP(odb_world_edit(&w, other, err, sizeof err));
        } else if (k % 25 == 10) {
            STEP(odb_world_delete(&w, idx, err, sizeof err));
            const odb_post_t *p = &w.posts[idx].post;
            size_t a = odb_world_user_index(&w, p->author_id), fol = some_follower(&w, a);
            snprintf(what, sizeof what, "post.delete of %" PRId64 " right after its post.publish",
                     p->id);
            failed += check_absent(&w, p->author_id, p->id, what);
            if (fol < w.nusers)
                failed += check_absent(&w, w.users[fol], p->id, what);
        } else if (k % 25 == 17) {
            STEP(odb_world_edit(&w, idx, err, sizeof err));
        }
    }
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    failed += odb_world_check_all(&w, "after SCRIPT FLUSH", extra, 1, NULL);
    if (!log_has(f->d, "answered NOSCRIPT")) {
        fprintf(stderr, "SCRIPT FLUSH [seed %" PRIu64 "]: the daemon never got NOSCRIPT: the "
                "flush did not test the resend\n", seed);
        failed++;
    }

    /* More deletes and edits on settled feeds: the next read of the author
     * and of one follower no longer shows a deleted post, and shows an
     * edited body. */
    for (int k = 0; k < 40; k++) {
        size_t idx;
        bool del = k % 4 != 3;
        if (odb_world_random_live(&w, &idx) != 0)
            break;
        if (del)
            STEP(odb_world_delete(&w, idx, err, sizeof err));
        else
            STEP(odb_world_edit(&w, idx, err, sizeof err));
        if (k >= 16)
            continue;
        const odb_post_t *p = &w.posts[idx].post;
        size_t author = odb_world_user_index(&w, p->author_id);
        snprintf(what, sizeof what, "%s of post %" PRId64, del ? "post.delete" : "post.update",
                 p->id);
        failed += check_now(&w, p->author_id, what);
        size_t fol = some_follower(&w, author);
        if (fol < w.nusers)
            failed += check_now(&w, w.users[fol], what);
    }
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    failed += odb_world_check_all(&w, "settled", extra, 1, NULL);

    /* Cold start: Redis emptied under the daemon. Same answers, each
     * user's first read rebuilt from PostgreSQL; then fan-out still works. */
    STEP(odb_redis_flushdb(fixture_env(), err, sizeof err));
    failed += odb_world_check_all(&w, "cold start", extra, 1, "rebuilt");
    for (int k = 0; k < 40; k++)
        STEP(odb_world_publish(&w, (size_t)odb_rng_below(&w.rng, w.nusers), ODB_PUB_RANDOM, NULL,
                               err, sizeof err));
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    failed += odb_world_check_all(&w, "publishes after cold start", extra, 1, NULL);

    /* timeline.invalidate: the next read rebuilds, the one after is cached. */
    for (int k = 0; k < 10; k++) {
        size_t i = k == 0 ? loner : (size_t)odb_rng_below(&w.rng, w.nusers);
        int64_t user = w.users[i];
        STEP(odb_rpc_invalidate(f->c, user, err, sizeof err));
        odb_walk_opts_t o = { .limit = 7, .hydrate = true };
        char src1[16] = "", src2[16] = "";
        snprintf(what, sizeof what, "timeline.invalidate of %" PRId64, user);
        if (odb_check_user(w.pg, w.c, user, &o, src1, err, sizeof err) != 0 ||
            odb_check_user(w.pg, w.c, user, &o, src2, err, sizeof err) != 0) {
            fprintf(stderr, "ORACLE MISMATCH [after %s, seed %" PRIu64 "] %s\n", what, seed, err);
            failed++;
            continue;
        }
        odb_posts_t want = { 0 };
        STEP(odb_pg_timeline(w.pg, user, &want, err, sizeof err));
        bool empty = want.n == 0;
        odb_posts_free(&want);
        if (!empty && (strcmp(src1, "rebuilt") != 0 || strcmp(src2, "cache") != 0)) {
            fprintf(stderr, "SOURCE MISMATCH [after %s, seed %" PRIu64 "]: first read \"%s\" "
                    "(expected \"rebuilt\"), second read \"%s\" (expected \"cache\")\n", what,
                    seed, src1, src2);
            failed++;
        }
    }

    int64_t fan = -1, deliveries = -1;
    odb_rpc_stat(f->c, "fanout_posts", &fan, err, sizeof err);
    odb_rpc_stat(f->c, "fanout_deliveries", &deliveries, err, sizeof err);
    fprintf(stderr, "seed %" PRIu64 ": published %zu posts (%zu fanout, %zu celebrity answers, %zu "
            "notifications); daemon: fanout_posts %" PRId64 ", fanout_deliveries %" PRId64 "\n",
            seed, w.nposts, w.published_fanout, w.published_celebrity, w.published_notify, fan,
            deliveries);
    odb_world_free(&w);
    if (failed)
        fail_msg("seed %" PRIu64 ": %zu oracle checks failed (see above)", seed, failed);
}

static void world_large(void **state)
{
    fixture_t *f = *state;
    scenario(f, base_seed, 72, 1500);
    /* Celebrity windows start small (feed_read.c): the walks above, with
     * celebrities who fill whole pages, must have made some reads start
     * over with larger windows, and every page still matched the oracle. */
    char err[512];
    double grown = harness_metric(f->d->metrics_addr, "feedcache_read_window_grown_total", err,
                                  sizeof err);
    fprintf(stderr, "reads that grew their windows: %.0f\n", grown);
    if (grown <= 0)
        fail_msg("no read grew its windows (feedcache_read_window_grown_total %.0f%s%s)", grown,
                 grown == -2 ? ": " : "", grown == -2 ? err : "");
    /* And celebrity windows were reused from the instance's copy. */
    double reused = harness_metric(f->d->metrics_addr, "feedcache_celebrity_cache_hits_total",
                                   err, sizeof err);
    double merged = harness_metric(f->d->metrics_addr, "feedcache_celebrity_merges_total", err,
                                   sizeof err);
    fprintf(stderr, "celebrity windows merged: %.0f, of which from the instance's copy: %.0f\n",
            merged, reused);
    if (reused <= 0)
        fail_msg("no celebrity window was served from the cache "
                 "(feedcache_celebrity_cache_hits_total %.0f)", reused);
    /* And first pages came with the posts of the user's last first page
     * (the page hint), most of them whole, while the pages above, after
     * deletes and edits among them, matched the oracle. */
    double prefetched = harness_metric(f->d->metrics_addr, "feedcache_read_page_prefetches_total",
                                       err, sizeof err);
    double whole = harness_metric(f->d->metrics_addr, "feedcache_read_page_prefetch_whole_total",
                                  err, sizeof err);
    fprintf(stderr, "first pages that prefetched their last page's posts: %.0f, of which whole: "
            "%.0f\n", prefetched, whole);
    if (prefetched <= 0 || whole <= 0)
        fail_msg("no page was served from its prefetched posts "
                 "(feedcache_read_page_prefetches_total %.0f, _whole_total %.0f)", prefetched,
                 whole);
    f->finished = true;
}

static void world_small(void **state)
{
    fixture_t *f = *state;
    scenario(f, base_seed + 1, 32, 400);
    f->finished = true;
}

static void world_tiny(void **state)
{
    fixture_t *f = *state;
    scenario(f, base_seed + 2, 20, 250);
    f->finished = true;
}

/* --- a second instance's copy of celebrity windows -------------------------------- */

/* Whether user's first page, read through c, holds post id. */
static int page_has(fc_client_t *c, int64_t user, int64_t id, bool *has, char *err,
                    size_t errlen)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", user);
    fc_params_int(&p, "limit", 20);
    fc_response_t r;
    int rc = odb_call(c, "timeline.get", &p, &r, err, errlen);
    fc_params_free(&p);
    if (rc != 0)
        return rc;
    const msgpack_object *posts = fc_obj_get(&r.result, "posts");
    *has = false;
    for (uint32_t i = 0; posts && posts->type == MSGPACK_OBJECT_ARRAY && i < posts->via.array.size;
         i++) {
        int64_t got;
        if (fc_obj_int(fc_obj_get(&posts->via.array.ptr[i], "id"), &got) == 0 && got == id)
            *has = true;
    }
    fc_response_free(&r);
    return 0;
}

/* Two instances on one Redis, both reusing celebrity windows for 1000 ms
 * (daemon_args): a post deleted through one is never shown by the other,
 * whose copy still lists it (pages are hydrated from the cached posts); a
 * post published through one is shown by it at once (it forgets its copy)
 * and by the other once its copy is older than celebrity_cache_ms. */
static void celebrity_copy_across_instances(void **state)
{
    fixture_t *f = *state;
    uint64_t seed = base_seed + 77;
    odb_world_t w;
    char err[8192];
    odb_world_init(&w, f->pg, f->c, seed, THRESHOLD);
    STEP(odb_world_add_users(&w, THRESHOLD + 2, err, sizeof err));
    for (size_t i = 1; i < w.nusers; i++)           /* users[0]: the celebrity */
        STEP(odb_world_follow(&w, i, 0, err, sizeof err));
    size_t first, next;
    STEP(odb_world_publish(&w, 0, ODB_PUB_PLAIN, &first, err, sizeof err));
    assert_int_equal(w.published_celebrity, 1);
    fc_client_t *c2 = NULL;
    harness_daemon_t *d2 = fixture_daemon_start(f->prefix, NULL, &c2);
    if (!d2) {
        odb_world_free(&w);
        fail_msg("the second feedcached did not start");
    }
    int64_t reader = w.users[1];
    bool has = false;
    STEP(page_has(c2, reader, w.posts[first].post.id, &has, err, sizeof err));
    if (!has)
        fail_msg("the celebrity's post is missing from the second instance's page");

    STEP(odb_world_delete(&w, first, err, sizeof err));
    STEP(page_has(c2, reader, w.posts[first].post.id, &has, err, sizeof err));
    if (has)
        fail_msg("the second instance showed a post deleted through the first");

    STEP(odb_world_publish(&w, 0, ODB_PUB_PLAIN, &next, err, sizeof err));
    int64_t id = w.posts[next].post.id;
    STEP(page_has(f->c, reader, id, &has, err, sizeof err));
    if (!has)
        fail_msg("the instance that published the post did not show it at once");
    long long t0 = odb_now_ms(), waited = 0;
    for (;;) {
        STEP(page_has(c2, reader, id, &has, err, sizeof err));
        waited = odb_now_ms() - t0;
        if (has || waited > 3000)
            break;
        odb_sleep_ms(20);
    }
    fprintf(stderr, "celebrity post published through one instance, shown by the other after "
            "%lld ms (celebrity_cache_ms 1000)\n", waited);
    /* 1000 ms of copy, plus room for a slow (sanitizer) build. */
    if (!has || waited > 2500)
        fail_msg("the second instance showed the new post after %lld ms%s", waited,
                 has ? "" : " (never)");
    fc_client_close(c2);
    assert_int_equal(harness_daemon_finish(d2, true), 0);
    odb_world_free(&w);
    f->finished = true;
}

/* --- edits racing the publish -------------------------------------------------------- */

#define RACE_ROUNDS 80

/* Sends two requests back to back (both in flight at once, as the contract
 * allows) and waits for both answers, which must be successes. */
static int pipelined(fc_client_t *c, const char *m1, const fc_params_t *p1, const char *m2,
                     const fc_params_t *p2, char *err, size_t errlen)
{
    uint32_t id1, id2;
    if (fc_client_send(c, m1, p1, &id1) != FC_OK || fc_client_send(c, m2, p2, &id2) != FC_OK) {
        snprintf(err, errlen, "send: %s", fc_client_error(c));
        return -1;
    }
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        fc_response_t r;
        if (fc_client_recv(c, &r) != FC_OK) {
            snprintf(err, errlen, "recv: %s", fc_client_error(c));
            return -1;
        }
        if (!r.ok && rc == 0) {
            snprintf(err, errlen, "%s: error %s: %s", r.msgid == id1 ? m1 : m2, r.code, r.message);
            rc = -1;
        }
        fc_response_free(&r);
    }
    return rc;
}

/* post.update and post.delete sent while the post's post.publish is still
 * being processed: right behind a publish notification, or pipelined behind
 * a publish request. Requests on a connection are processed in arrival
 * order, so the update or delete wins: the next read never shows the post
 * deleted, nor the old body once the post shows; after settling, every
 * timeline matches PostgreSQL. Fan-out and celebrity authors alike. */
static void edits_racing_publish(void **state)
{
    fixture_t *f = *state;
    uint64_t seed = base_seed + 77;
    odb_world_t w;
    char err[8192], what[160];
    size_t failed = 0;
    odb_world_init(&w, f->pg, f->c, seed, THRESHOLD);
    STEP(odb_world_add_users(&w, 14, err, sizeof err));
    for (size_t i = 1; i <= 12; i++)     /* users[13]: a celebrity */
        STEP(odb_world_follow(&w, i, 13, err, sizeof err));
    for (size_t i = 1; i <= 5; i++)      /* users[0]: fanned out */
        STEP(odb_world_follow(&w, i, 0, err, sizeof err));
    fc_params_t pub, edit;
    fc_params_init(&pub);
    fc_params_init(&edit);
    for (int k = 0; k < RACE_ROUNDS; k++) {
        size_t author = k % 2 ? 13 : 0;
        int variant = (k / 2) % 4;
        bool del = variant >= 2, pipe = variant % 2 == 1;
        char body[64], edited[64];
        snprintf(body, sizeof body, "original body of round %d", k);
        snprintf(edited, sizeof edited, "edited body of round %d", k);
        odb_post_t p = { .author_id = w.users[author], .created_ms = ++w.clock_ms, .body = body,
                         .body_len = strlen(body) };
        int ins;
        do {
            p.id = odb_rng_id(&w.rng);
            ins = odb_pg_insert_post(f->pg, &p, err, sizeof err);
        } while (ins == 1);
        STEP(ins);
        fc_params_reset(&pub);
        fc_params_int(&pub, "id", p.id);
        fc_params_int(&pub, "author_id", p.author_id);
        fc_params_int(&pub, "created_at", p.created_ms);
        fc_params_str(&pub, "body", body);
        fc_params_reset(&edit);
        fc_params_int(&edit, "id", p.id);
        if (del)
            fc_params_int(&edit, "author_id", p.author_id);
        else
            fc_params_str(&edit, "body", edited);
        const char *method = del ? "post.delete" : "post.update";
        snprintf(what, sizeof what, "%s of post %" PRId64 " %s its post.publish (%s author)",
                 method, p.id, pipe ? "pipelined behind" : "right behind the notification of",
                 author == 13 ? "celebrity" : "fan-out");
        if (!pipe && fc_client_notify(f->c, "post.publish", &pub) != FC_OK)
            fail_msg("round %d: notify: %s", k, fc_client_error(f->c));
        if (del)
            STEP(odb_pg_delete_post(f->pg, p.id, err, sizeof err));
        else
            STEP(odb_pg_update_body(f->pg, p.id, edited, err, sizeof err));
        if (pipe)
            STEP(pipelined(f->c, "post.publish", &pub, method, &edit, err, sizeof err));
        else
            STEP(odb_call(f->c, method, &edit, NULL, err, sizeof err));

        /* The next read: the author's newest posts. */
        odb_walk_opts_t o = { .limit = 200, .hydrate = true, .data_may_change = true };
        odb_walk_t walk;
        if (odb_walk(f->c, p.author_id, &o, &walk, err, sizeof err) != 0) {
            fprintf(stderr, "ORACLE MISMATCH [next read after %s, seed %" PRIu64 "] walk failed: "
                    "%s\n", what, seed, err);
            failed++;
        } else {
            for (size_t i = 0; i < walk.posts.n; i++) {
                const odb_post_t *g = &walk.posts.v[i];
                if (g->id != p.id)
                    continue;
                if (del || strcmp(g->body, edited) != 0) {
                    fprintf(stderr, "ORACLE MISMATCH [next read after %s, seed %" PRIu64 "] user "
                            "%" PRId64 ": %s%s%s\n", what, seed, p.author_id,
                            del ? "the deleted post is there" : "body \"", del ? "" : g->body,
                            del ? "" : "\", expected the edited one");
                    failed++;
                }
            }
        }
        odb_walk_free(&walk);
    }
    fc_params_free(&pub);
    fc_params_free(&edit);
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    failed += odb_world_check_all(&w, "edits racing publish, settled", NULL, 0, NULL);
    /* And the same from PostgreSQL alone: a cold start. */
    STEP(odb_redis_flushdb(fixture_env(), err, sizeof err));
    failed += odb_world_check_all(&w, "edits racing publish, cold start", NULL, 0, NULL);
    odb_world_free(&w);
    if (failed)
        fail_msg("seed %" PRIu64 ": %zu checks failed (see above)", seed, failed);
    f->finished = true;
}

/* --- cursors while the data changes -------------------------------------------------- */

/* The cursor is keyset-based: it stays valid while posts are added or
 * removed, and the pages after it hold exactly the posts strictly after the
 * last one it was made from, in the current data. Checked with the cursor
 * inside the cached window, at its edge and past it. */
static void cursor_survives_changes(void **state)
{
    fixture_t *f = *state;
    uint64_t seed = base_seed + 55;
    odb_world_t w;
    char err[8192];
    size_t failed = 0;
    odb_world_init(&w, f->pg, f->c, seed, THRESHOLD);
    STEP(odb_world_add_users(&w, 4, err, sizeof err));
    STEP(odb_world_follow(&w, 0, 1, err, sizeof err));
    STEP(odb_world_follow(&w, 0, 2, err, sizeof err));
    for (int k = 0; k < 90; k++)
        STEP(odb_world_publish(&w, (size_t)k % 3, ODB_PUB_RANDOM, NULL, err, sizeof err));
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    int64_t user = w.users[0];
    static const int limits[] = { 7, 24, 30 };
    for (int round = 0; round < 3; round++) {
        /* One page, then changes on both sides of its last post. */
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "user_id", user);
        fc_params_int(&p, "limit", limits[round]);
        fc_response_t r;
        STEP(odb_call(f->c, "timeline.get", &p, &r, err, sizeof err));
        fc_params_free(&p);
        const msgpack_object *posts = fc_obj_get(&r.result, "posts");
        char *cursor = fc_obj_strdup(fc_obj_get(&r.result, "next_cursor"));
        odb_post_t last = { 0 };
        if (!cursor || !posts || posts->type != MSGPACK_OBJECT_ARRAY ||
            posts->via.array.size != (uint32_t)limits[round] ||
            fc_obj_int(fc_obj_get(&posts->via.array.ptr[limits[round] - 1], "id"), &last.id) ||
            fc_obj_int(fc_obj_get(&posts->via.array.ptr[limits[round] - 1], "created_at"),
                       &last.created_ms)) {
            fc_response_free(&r);
            free(cursor);
            odb_world_free(&w);
            fail_msg("round %d: a first page of %d posts with a next_cursor was expected", round,
                     limits[round]);
        }
        fc_response_free(&r);
        for (int k = 0; k < 3; k++)     /* newer than the page */
            STEP(odb_world_publish(&w, 1 + (size_t)k % 2, ODB_PUB_PLAIN, NULL, err, sizeof err));
        /* Two posts after the cursor's position and one before it go. */
        odb_posts_t now = { 0 };
        STEP(odb_pg_timeline(f->pg, user, &now, err, sizeof err));
        size_t at = 0;
        while (at < now.n && now.v[at].id != last.id)
            at++;
        size_t victims[] = { at + 1, at + 4, at > 2 ? at - 2 : 0 };
        for (size_t v = 0; v < 3; v++)
            for (size_t k = 0; k < w.nposts; k++)
                if (victims[v] < now.n && victims[v] != at && w.posts[k].post.id == now.v[victims[v]].id &&
                    !w.posts[k].deleted)
                    STEP(odb_world_delete(&w, k, err, sizeof err));
        odb_posts_free(&now);
        STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));

        /* The rest of the walk: the current timeline strictly after `last`. */
        odb_posts_t all = { 0 }, want = { 0 };
        STEP(odb_pg_timeline(f->pg, user, &all, err, sizeof err));
        for (size_t k = 0; k < all.n; k++)
            if (all.v[k].created_ms < last.created_ms ||
                (all.v[k].created_ms == last.created_ms && all.v[k].id < last.id))
                odb_posts_push(&want, &all.v[k]);
        odb_walk_opts_t o = { .limit = 7, .hydrate = true, .data_may_change = true,
                              .cursor = cursor };
        odb_walk_t walk;
        if (odb_walk(f->c, user, &o, &walk, err, sizeof err) != 0 ||
            odb_compare(&want, &walk.posts, true, err, sizeof err) != 0) {
            fprintf(stderr, "ORACLE MISMATCH [cursor after %d posts, then 3 posts added and 3 "
                    "deleted, seed %" PRIu64 "] user %" PRId64 ": %s\n", limits[round], seed,
                    user, err);
            failed++;
        }
        odb_walk_free(&walk);
        odb_posts_free(&all);
        odb_posts_free(&want);
        free(cursor);
    }
    odb_world_free(&w);
    if (failed)
        fail_msg("seed %" PRIu64 ": %zu checks failed (see above)", seed, failed);
    f->finished = true;
}

/* --- bad input ------------------------------------------------------------------ */

static size_t bad_failures;

/* The call must answer BAD_REQUEST with a message naming `field`. */
static void expect_bad(fc_client_t *c, const char *method, const fc_params_t *p,
                       const char *field, const char *what)
{
    fc_response_t r;
    memset(&r, 0, sizeof r);
    int rc = fc_client_call(c, method, p, &r);
    if (rc != FC_OK)    /* the connection is no good for the next cases */
        fail_msg("BAD INPUT %s (%s): no answer: %s", method, what, fc_client_error(c));
    if (r.ok) {
        fprintf(stderr, "BAD INPUT %s (%s): succeeded, expected BAD_REQUEST naming %s\n", method,
                what, field);
        bad_failures++;
    } else if (strcmp(r.code, "BAD_REQUEST") != 0 || !strstr(r.message, field)) {
        fprintf(stderr, "BAD INPUT %s (%s): got %s \"%s\", expected BAD_REQUEST naming %s\n",
                method, what, r.code, r.message, field);
        bad_failures++;
    }
    fc_response_free(&r);
}

/* timeline.get with a user and one odd argument, packed by `pack`. */
typedef void (*packer_fn)(msgpack_packer *pk, const void *arg);

static void pack_str(msgpack_packer *pk, const void *arg)
{
    const char *s = arg;
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_true(msgpack_packer *pk, const void *arg)
{
    msgpack_pack_true(pk);
}

static void pack_int(msgpack_packer *pk, const void *arg)
{
    msgpack_pack_int64(pk, *(const int64_t *)arg);
}

static void pack_double(msgpack_packer *pk, const void *arg)
{
    msgpack_pack_double(pk, *(const double *)arg);
}

static void pack_nil(msgpack_packer *pk, const void *arg)
{
    msgpack_pack_nil(pk);
}

static void get_with(fc_client_t *c, int64_t user, const char *key, packer_fn pack,
                     const void *arg, const char *field, const char *what)
{
    fc_params_t p;
    fc_params_init(&p);
    if (strcmp(key, "user_id") != 0)
        fc_params_int(&p, "user_id", user);
    pack(fc_params_value(&p, key), arg);
    expect_bad(c, "timeline.get", &p, field, what);
    fc_params_free(&p);
}

static void bad_input(void **state)
{
    fixture_t *f = *state;
    uint64_t seed = base_seed + 99;
    odb_world_t w;
    char err[8192];
    odb_world_init(&w, f->pg, f->c, seed, THRESHOLD);
    STEP(odb_world_add_users(&w, 4, err, sizeof err));
    STEP(odb_world_follow(&w, 0, 1, err, sizeof err));
    STEP(odb_world_follow(&w, 2, 1, err, sizeof err));
    for (int k = 0; k < 30; k++)
        STEP(odb_world_publish(&w, (size_t)k % 3, ODB_PUB_PLAIN, NULL, err, sizeof err));
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    int64_t a = w.users[0], b = w.users[2];

    /* A real cursor of a's walk. */
    odb_walk_t walk;
    odb_walk_opts_t o = { .limit = 5, .hydrate = true };
    STEP(odb_walk(f->c, a, &o, &walk, err, sizeof err));
    if (!walk.first_cursor) {
        odb_walk_free(&walk);
        odb_world_free(&w);
        fail_msg("user %" PRId64 " has %zu posts but no next_cursor after 5", a, walk.posts.n);
    }
    char *cursor = fc_xstrdup(walk.first_cursor);
    odb_walk_free(&walk);
    bad_failures = 0;

    /* Cursors. */
    get_with(f->c, b, "cursor", pack_str, cursor, "cursor", "a cursor of another user's walk");
    get_with(f->c, a, "cursor", pack_str, "garbage!!", "cursor", "cursor 'garbage!!'");
    get_with(f->c, a, "cursor", pack_str, "", "cursor", "empty cursor");
    char *half = fc_xstrndup(cursor, strlen(cursor) / 2);
    get_with(f->c, a, "cursor", pack_str, half, "cursor", "first half of a real cursor");
    free(half);
    int64_t five = 5;
    get_with(f->c, a, "cursor", pack_int, &five, "cursor", "cursor 5 (an integer)");
    /* Positive control: the cursor is fine for its own user. */
    {
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "user_id", a);
        fc_params_int(&p, "limit", 5);
        fc_params_str(&p, "cursor", cursor);
        if (odb_call(f->c, "timeline.get", &p, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "BAD INPUT control: a's own cursor was refused: %s\n", err);
            bad_failures++;
        }
        fc_params_free(&p);
    }
    free(cursor);

    /* limit */
    int64_t zero = 0, big = 201, neg = -1;
    double frac = 7.5;
    get_with(f->c, a, "limit", pack_int, &zero, "limit", "limit 0");
    get_with(f->c, a, "limit", pack_int, &big, "limit", "limit 201");
    get_with(f->c, a, "limit", pack_int, &neg, "limit", "limit -1");
    get_with(f->c, a, "limit", pack_str, "x", "limit", "limit \"x\"");
    get_with(f->c, a, "limit", pack_true, NULL, "limit", "limit true");
    get_with(f->c, a, "limit", pack_double, &frac, "limit", "limit 7.5");

    /* user_id */
    get_with(f->c, a, "user_id", pack_int, &zero, "user_id", "user_id 0");
    get_with(f->c, a, "user_id", pack_int, &neg, "user_id", "user_id -1");
    get_with(f->c, a, "user_id", pack_true, NULL, "user_id", "user_id true");
    get_with(f->c, a, "user_id", pack_str, "42", "user_id", "user_id \"42\"");
    get_with(f->c, a, "user_id", pack_nil, NULL, "user_id", "user_id nil (= missing)");
    {
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "limit", 5);
        expect_bad(f->c, "timeline.get", &p, "user_id", "user_id missing");
        fc_params_free(&p);
    }
    expect_bad(f->c, "timeline.get", NULL, "user_id", "params []");

    /* hydrate: booleans are not integers, and the other way round */
    int64_t one = 1;
    get_with(f->c, a, "hydrate", pack_int, &one, "hydrate", "hydrate 1");
    get_with(f->c, a, "hydrate", pack_str, "yes", "hydrate", "hydrate \"yes\"");

    /* follow / unfollow / invalidate */
    {
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "follower_id", a);
        expect_bad(f->c, "follow", &p, "followee_id", "followee_id missing");
        fc_params_reset(&p);
        fc_params_int(&p, "follower_id", a);
        fc_params_bool(&p, "followee_id", true);
        expect_bad(f->c, "follow", &p, "followee_id", "followee_id true");
        fc_params_reset(&p);
        fc_params_int(&p, "followee_id", b);
        expect_bad(f->c, "unfollow", &p, "follower_id", "follower_id missing");
        fc_params_reset(&p);
        fc_params_bool(&p, "user_id", false);
        expect_bad(f->c, "timeline.invalidate", &p, "user_id", "user_id false");
        fc_params_free(&p);
    }

    /* post.publish */
    {
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "id", 777000777);
        fc_params_int(&p, "author_id", a);
        fc_params_str(&p, "created_at", "1700000000000");
        expect_bad(f->c, "post.publish", &p, "created_at", "created_at a string");
        fc_params_reset(&p);
        fc_params_int(&p, "id", 777000777);
        fc_params_int(&p, "created_at", 1700000000000LL);
        expect_bad(f->c, "post.publish", &p, "author_id", "author_id missing");
        fc_params_free(&p);
    }

    /* None of that broke the connection, the daemon or the data. */
    fc_response_t r;
    if (fc_client_call(f->c, "ping", NULL, &r) != FC_OK || !r.ok ||
        !fc_obj_str_eq(&r.result, "pong")) {
        fprintf(stderr, "BAD INPUT: ping failed afterwards\n");
        bad_failures++;
    }
    fc_response_free(&r);
    size_t failed = bad_failures + odb_world_check_all(&w, "after bad input", NULL, 0, NULL);
    odb_world_free(&w);
    if (failed)
        fail_msg("%zu bad-input checks failed (see above)", failed);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bad_input, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(cursor_survives_changes, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(edits_racing_publish, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(celebrity_copy_across_instances, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(world_tiny, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(world_small, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(world_large, fixture_setup, fixture_teardown),
    };
    /* e.g. FEEDCACHE_TEST_FILTER=world_tiny */
    if (getenv("FEEDCACHE_TEST_FILTER"))
        cmocka_set_test_filter(getenv("FEEDCACHE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, fixture_group_teardown);
}
