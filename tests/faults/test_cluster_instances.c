/* Cluster fault test: several feedcached instances on one cluster, one of
 * them killed in the middle of large fan-outs (issue 11).
 *
 *   cluster_instance_killed   three feedcached (own --listen each; the same
 *        Redis Cluster, PostgreSQL and key prefix; --fanout-claim-idle-ms
 *        1000 so that the survivors take a dead worker's jobs over within
 *        seconds). Authors 1..4 have 2,500 followers each (users 1001..5000,
 *        overlapping), whose home feeds all exist. 10 posts per author are
 *        published, pipelined over the three instances: 100,000 deliveries.
 *        While the fan-out queue is not empty, the second instance gets
 *        SIGKILL. Required within 60 s: every post in every follower's
 *        feed; and then each follower's feed holds exactly the posts the
 *        SQL oracle says (ZRANGE of the zset itself, not a read that could
 *        rebuild it), so nothing is missing and nothing is there twice or
 *        under another name; every 50th follower's timeline walked
 *        through a survivor equals the oracle, and walked again it is
 *        served without a post cache miss (the page's values, fetched per
 *        slot, were all cached by the first walk). (The instances'
 *        fanout_deliveries are printed, not checked: a job taken over is
 *        pushed again from its last saved page, and FEED_PUSH counts every
 *        push, so their sum may exceed the pairs without any duplicate.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults_cluster.h"
#include "oracle_db.h"

#define NAUTHORS 4
#define FOLLOWERS 2500
#define FIRST_FOLLOWER 1001
#define LAST_FOLLOWER (FIRST_FOLLOWER + (NAUTHORS - 1) * 500 + FOLLOWERS - 1)
#define NFOLLOWERS (LAST_FOLLOWER - FIRST_FOLLOWER + 1)
#define POSTS_EACH 10
#define NPOSTS (NAUTHORS * POSTS_EACH)
#define BASE_MS INT64_C(1700000000000)
#define NDAEMONS 3

/* Author a (1-based) is followed by users first_of(a) .. first_of(a) + FOLLOWERS - 1. */
static int64_t first_of(int a)
{
    return FIRST_FOLLOWER + (int64_t)(a - 1) * 500;
}

static void load_world(fcl_t *cl)
{
    faults_t *f = cl->f;
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM generate_series(1, %d) g",
               LAST_FOLLOWER);
    for (int a = 1; a <= NAUTHORS; a++) {
        faults_sql(f, "INSERT INTO follows (follower_id, followee_id) SELECT g, %d FROM "
                      "generate_series(%" PRId64 ", %" PRId64 ") g", a, first_of(a),
                   first_of(a) + FOLLOWERS - 1);
        for (int k = 0; k < 3; k++)
            faults_insert_post(f, 100 + a * 10 + k, a, BASE_MS - 100000 + a * 10 + k);
    }
}

/* How many (follower feed, post) pairs of the new posts are still missing;
 * pipelined ZSCOREs through the routed connection. */
static long missing_deliveries(fcl_t *cl, const int64_t *posts, int nposts)
{
    long missing = 0;
    char key[64];
    for (int i = 0; i < nposts; i++) {
        int a = (int)((posts[i] - 10000) / POSTS_EACH) + 1;
        for (int64_t u = first_of(a); u < first_of(a) + FOLLOWERS; u++) {
            faults_key(key, sizeof key, "home:", u);
            rdirect_append(cl->rd, "ZSCORE %s %" PRId64, key, posts[i]);
        }
        for (int64_t u = first_of(a); u < first_of(a) + FOLLOWERS; u++) {
            redisReply *rep;
            if (rdirect_get_reply(cl->rd, &rep) != REDIS_OK)
                fail_msg("ZSCORE: %s", rdirect_error(cl->rd));
            missing += rep->type != REDIS_REPLY_STRING;
            freeReplyObject(rep);
        }
    }
    return missing;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The post ids in a home feed zset (members that are decimal ids with a
 * score >= 0; placeholders and sentinels are not posts), sorted. */
static size_t feed_ids(fcl_t *cl, int64_t user, int64_t *out, size_t cap)
{
    char key[64];
    faults_key(key, sizeof key, "home:", user);
    redisReply *rep = rdirect_command(cl->rd, "ZRANGE %s 0 +inf BYSCORE", key);
    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        fail_msg("ZRANGE %s: %s", key, rep ? rep->str : rdirect_error(cl->rd));
    size_t n = 0;
    for (size_t i = 0; i < rep->elements && n < cap; i++) {
        char *end;
        long long id = strtoll(rep->element[i]->str, &end, 10);
        if (*end == '\0' && end != rep->element[i]->str)
            out[n++] = id;
    }
    freeReplyObject(rep);
    qsort(out, n, sizeof *out, cmp_id);
    return n;
}

/* Users whose feed differs from the oracle's timeline (as a set of ids). */
static size_t feeds_differ(fcl_t *cl)
{
    size_t bad = 0;
    char err[512];
    for (int64_t u = FIRST_FOLLOWER; u <= LAST_FOLLOWER; u++) {
        odb_posts_t want = { 0 };
        if (odb_pg_timeline(cl->f->pg, u, &want, err, sizeof err) != 0)
            fail_msg("oracle of user %" PRId64 ": %s", u, err);
        int64_t got[256], exp[256];
        size_t ng = feed_ids(cl, u, got, 256), ne = 0;
        for (size_t i = 0; i < want.n && ne < 256; i++)
            exp[ne++] = want.v[i].id;
        odb_posts_free(&want);
        qsort(exp, ne, sizeof *exp, cmp_id);
        if (ng == ne && memcmp(got, exp, ne * sizeof *exp) == 0)
            continue;
        if (bad < 5) {
            size_t i = 0;
            while (i < ng && i < ne && got[i] == exp[i])
                i++;
            fprintf(stderr, "FEED MISMATCH user %" PRId64 ": %zu ids in Redis, %zu in the "
                    "oracle; first difference at %zu: Redis %" PRId64 ", oracle %" PRId64 "\n",
                    u, ng, ne, i, i < ng ? got[i] : -1, i < ne ? exp[i] : -1);
        }
        bad++;
    }
    return bad;
}

static void cluster_instance_killed(void **state)
{
    fcl_t *cl = *state;
    faults_t *f = cl->f;
    const char *const extra[] = { "--celebrity-threshold", "100000",
                                  "--fanout-claim-idle-ms", "1000", NULL };
    load_world(cl);
    faults_start(f, extra);
    harness_daemon_t *d[NDAEMONS] = { f->d };
    fc_client_t *c[NDAEMONS] = { f->c };
    char err[8192];
    for (int i = 1; i < NDAEMONS; i++) {
        cl->more[i - 1] = d[i] = faults_daemon_start(extra, &cl->more_c[i - 1], err, sizeof err);
        if (!d[i])
            fail_msg("cannot start feedcached %d: %s", i, err);
        c[i] = cl->more_c[i - 1];
    }
    /* Every follower's home feed exists (built by whichever instance). */
    long long t0 = faults_now_ms();
    for (int64_t u = FIRST_FOLLOWER; u <= LAST_FOLLOWER; u++) {
        int64_t ids[4];
        size_t n;
        if (faults_read(c[u % NDAEMONS], u, 3, ids, 4, &n, NULL, err, sizeof err) != 0)
            fail_msg("first read of user %" PRId64 ": %s", u, err);
    }
    fprintf(stderr, "%d home feeds built in %lld ms\n", NFOLLOWERS, faults_now_ms() - t0);

    /* Posts 10000.. (author a's are 10000 + (a-1)*POSTS_EACH ..), each
     * published through instance i % 3, as fast as they are answered. */
    int64_t posts[NPOSTS];
    for (int i = 0; i < NPOSTS; i++) {
        int a = 1 + i / POSTS_EACH;
        posts[i] = 10000 + i;
        faults_insert_post(f, posts[i], a, BASE_MS + i);
    }
    /* Pipelined, so that the kill lands while most fan-outs still run. */
    for (int k = 0; k < NDAEMONS; k++) {
        fc_client_set_cork(c[k], true);
        for (int i = k; i < NPOSTS; i += NDAEMONS) {
            fc_params_t p;
            char body[32];
            snprintf(body, sizeof body, "post %" PRId64, posts[i]);
            fc_params_init(&p);
            fc_params_int(&p, "id", posts[i]);
            fc_params_int(&p, "author_id", 1 + i / POSTS_EACH);
            fc_params_int(&p, "created_at", BASE_MS + i);
            fc_params_str(&p, "body", body);
            assert_int_equal(fc_client_send(c[k], "post.publish", &p, NULL), FC_OK);
            fc_params_free(&p);
        }
        fc_client_set_cork(c[k], false);
        assert_int_equal(fc_client_flush(c[k]), FC_OK);
    }
    for (int i = 0; i < NPOSTS; i++) {
        fc_response_t r;
        if (fc_client_recv(c[i % NDAEMONS], &r) != FC_OK)
            fail_msg("post.publish: no answer: %s", fc_client_error(c[i % NDAEMONS]));
        if (!r.ok)
            fail_msg("post.publish: %s: %s", r.code, r.message);
        assert_true(fc_obj_str_eq(fc_obj_get(&r.result, "mode"), "fanout"));
        fc_response_free(&r);
    }
    int64_t depth = faults_stat(c[1], "fanout_queue_depth");
    int64_t delivered_by_victim = faults_stat(c[1], "fanout_deliveries");
    assert_int_equal(harness_daemon_signal(d[1], SIGKILL), 0);
    long long killed_at = faults_now_ms();
    assert_int_equal(harness_daemon_wait(d[1], 5000), 128 + SIGKILL);
    fc_client_close(cl->more_c[0]);      /* gone: nothing for the teardown to stop */
    harness_daemon_free(d[1]);
    cl->more_c[0] = NULL;
    cl->more[0] = NULL;
    long missing_at_kill = missing_deliveries(cl, posts, NPOSTS);
    fprintf(stderr, "instance 2 killed with fanout_queue_depth %" PRId64 ", %" PRId64
            " deliveries of its own; %ld of %d deliveries missing just after\n", depth,
            delivered_by_victim, missing_at_kill, NPOSTS * FOLLOWERS);
    /* The kill has to land in the middle of the fan-outs to test anything. */
    assert_true(depth > 0);
    assert_true(missing_at_kill > 0);

    long missing = missing_at_kill;
    while (missing > 0 && faults_now_ms() - killed_at < 60000) {
        faults_sleep_ms(200);
        missing = missing_deliveries(cl, posts, NPOSTS);
    }
    fprintf(stderr, "%lld ms after the kill: %ld of %d deliveries missing\n",
            faults_now_ms() - killed_at, missing, NPOSTS * FOLLOWERS);
    assert_int_equal(missing, 0);
    faults_wait_settled(c[0], 30000);
    faults_wait_settled(c[2], 30000);
    fprintf(stderr, "fanout_deliveries: instance 1 %" PRId64 ", instance 3 %" PRId64
            ", instance 2 (before its death) %" PRId64 "; %d pairs\n",
            faults_stat(c[0], "fanout_deliveries"), faults_stat(c[2], "fanout_deliveries"),
            delivered_by_victim, NPOSTS * FOLLOWERS);
    assert_int_equal(feeds_differ(cl), 0);
    const odb_walk_opts_t opts = { .limit = 20, .hydrate = true };
    for (int64_t u = FIRST_FOLLOWER; u <= LAST_FOLLOWER; u += 50)
        if (odb_check_user(f->pg, c[u % 2 ? 0 : 2], u, &opts, NULL, err, sizeof err) != 0)
            fail_msg("timeline differs from the oracle: %s", err);
    /* Walked again, every post comes from Redis: the page's values are
     * fetched one MGET per slot (a multi-slot MGET would fail CROSSSLOT and
     * every post would come from PostgreSQL, correct but uncached). */
    int64_t misses = faults_stat(c[0], "post_cache_misses");
    int64_t hits = faults_stat(c[0], "post_cache_hits");
    for (int64_t u = FIRST_FOLLOWER; u <= LAST_FOLLOWER; u += 50)
        if (odb_check_user(f->pg, c[0], u, &opts, NULL, err, sizeof err) != 0)
            fail_msg("timeline differs from the oracle: %s", err);
    fprintf(stderr, "walked again: %" PRId64 " post cache hits, %" PRId64 " misses\n",
            faults_stat(c[0], "post_cache_hits") - hits,
            faults_stat(c[0], "post_cache_misses") - misses);
    assert_true(faults_stat(c[0], "post_cache_hits") - hits >= 100);
    assert_int_equal(faults_stat(c[0], "post_cache_misses") - misses, 0);

    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cluster_instance_killed, fcl_setup, fcl_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
