/* The feed engine under concurrent writers and readers: concurrent
 * publishes, follows, unfollows, warms and reads must not break what
 * timeline.get returns (docs/PROTOCOL.md, "What timeline.get returns").
 *
 * One seeded world (as in test_oracle.c, smaller), then for RUN_MS in
 * parallel, each thread with its own RPC connection and PostgreSQL
 * connection:
 *   - 2 publishers (PostgreSQL insert, then post.publish; ties on
 *     created_at across threads, some late posts, some notifications);
 *   - 1 invalidator (timeline.invalidate of random users);
 *   - 1 follower (follow / unfollow, PostgreSQL first, keeping a record);
 *     right after each answer it reads the follower's timeline: after an
 *     unfollow no post of the followee may show (the contract says: no read
 *     after this answer, even with fan-out in flight); after a follow every
 *     post of the followee published over FOLLOW_GRACE_MS earlier must;
 *   - 2 readers walking random timelines: no error, no post twice, strictly
 *     descending (created_at, id), degraded false.
 * Then fan-out settles and every user's timeline must equal the SQL
 * definition. Finally a focused race: for one user, RACE_ROUNDS times
 * {timeline.invalidate, then a read (a rebuild) while a followee's post is
 * published}, and the post must show up in that user's first page.
 *
 * Own PostgreSQL database fc_concurrency_<pid>, own Redis db 8, own key
 * prefix. FEEDCACHE_ORACLE_SEED=N picks another seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "oracle_db.h"

#define THRESHOLD 10
#define SETTLE_MS 15000
#define USERS 40
#define POSTS 400
#define RUN_MS 10000
#define PUBLISH_PAUSE_MS 20
#define FOLLOW_GRACE_MS 1500   /* "within 1 s" of fan-out, and some slack */
#define RACE_ROUNDS 50
#define RACE_WAIT_MS 2000
#define MAX_PRINTED 20

static uint64_t seed = 20240611;

/* --- what the threads share ------------------------------------------------------ */

typedef struct {
    int64_t id, author;
    long long answered_ms;   /* when post.publish answered */
} published_t;

typedef struct {
    const char *addr;
    const int64_t *users;
    size_t nusers;
    atomic_bool stop;
    atomic_llong clock_ms;           /* created_at of the newest post */
    pthread_mutex_t mu;              /* guards pub and printing */
    published_t *pub;
    size_t npub, pubcap;
    atomic_size_t failures;
    atomic_size_t publishes, notifications, invalidations, follows, unfollows, walks, pages;
} shared_t;

typedef struct {
    shared_t *sh;
    const char *role;
    int no;
    odb_rng_t rng;
    fc_client_t *c;
    PGconn *pg;
    bool *follows;                   /* follower thread: its record */
    pthread_t tid;
} worker_t;

static void report(shared_t *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(shared_t *sh, const char *fmt, ...)
{
    size_t n = atomic_fetch_add(&sh->failures, 1);
    if (n >= MAX_PRINTED)
        return;
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&sh->mu);
    fprintf(stderr, "CONCURRENCY FAILURE [seed %" PRIu64 "] %s\n", seed, msg);
    pthread_mutex_unlock(&sh->mu);
}

/* --- fixture --------------------------------------------------------------------------- */

static const char *const daemon_args[] = {
    "--celebrity-threshold", "10", "--feed-max", "25", NULL,
};
static const fixture_conf_t conf = {
    .program = "test_concurrency", .db_tag = "fc_concurrency", .redis_db = 8,
    .key_prefix = "fcconc", .daemon_args = daemon_args,
};

static int group_setup(void **state)
{
    seed = fixture_seed(seed);
    return fixture_group_setup(&conf);
}

/* --- workers ------------------------------------------------------------------------------ */

/* A post by `author`, created now-ish: threads share the clock, so their
 * posts tie on created_at; a few come late with an older created_at. */
static int publish_one(worker_t *w, int64_t author, bool allow_notify, int64_t *id_out,
                       char *err, size_t errlen)
{
    shared_t *sh = w->sh;
    odb_post_t p = { .author_id = author };
    unsigned r = (unsigned)odb_rng_below(&w->rng, 100);
    long long step = r < 50 ? 0 : 1 + (long long)odb_rng_below(&w->rng, 3);
    p.created_ms = atomic_fetch_add(&sh->clock_ms, step) + step;
    if (allow_notify && r >= 97)
        p.created_ms -= (int64_t)odb_rng_below(&w->rng, 20000);
    p.body = odb_random_body(&w->rng);
    p.body_len = strlen(p.body);
    int ins;
    do {
        p.id = odb_rng_id(&w->rng);
        ins = odb_pg_insert_post(w->pg, &p, err, errlen);
    } while (ins == 1);
    if (ins < 0) {
        free(p.body);
        return -1;
    }
    bool notify = allow_notify && odb_rng_chance(&w->rng, 10);
    bool with_body = !odb_rng_chance(&w->rng, 20);
    char mode[16];
    int rc = odb_rpc_publish(w->c, &p, with_body, notify, mode, err, errlen);
    free(p.body);
    if (rc != 0)
        return -1;
    pthread_mutex_lock(&sh->mu);
    if (sh->npub == sh->pubcap) {
        sh->pubcap = sh->pubcap ? sh->pubcap * 2 : 1024;
        sh->pub = fc_xrealloc(sh->pub, sh->pubcap * sizeof *sh->pub);
    }
    /* A notification has no answer: count it as answered when the next
     * request on this connection is, i.e. a little later; fine for the
     * grace period. */
    sh->pub[sh->npub++] = (published_t){ p.id, author, odb_now_ms() };
    pthread_mutex_unlock(&sh->mu);
    atomic_fetch_add(notify ? &sh->notifications : &sh->publishes, 1);
    if (id_out)
        *id_out = p.id;
    return 0;
}

static void *publisher(void *arg)
{
    worker_t *w = arg;
    shared_t *sh = w->sh;
    char err[4096];
    while (!atomic_load(&sh->stop)) {
        int64_t author = sh->users[odb_rng_below(&w->rng, sh->nusers)];
        if (publish_one(w, author, true, NULL, err, sizeof err) != 0) {
            report(sh, "publisher %d: %s", w->no, err);
            odb_sleep_ms(50);
        }
        /* ~50 posts/s each: enough to keep fan-out busy, few enough that
         * the final oracle pass walks timelines of hundreds, not
         * thousands, of posts. */
        odb_sleep_ms(PUBLISH_PAUSE_MS);
    }
    return NULL;
}

static void *invalidator(void *arg)
{
    worker_t *w = arg;
    shared_t *sh = w->sh;
    char err[4096];
    while (!atomic_load(&sh->stop)) {
        int64_t user = sh->users[odb_rng_below(&w->rng, sh->nusers)];
        if (odb_rpc_invalidate(w->c, user, err, sizeof err) != 0)
            report(sh, "invalidator: user %" PRId64 ": %s", user, err);
        else
            atomic_fetch_add(&sh->invalidations, 1);
        odb_sleep_ms(2);
    }
    return NULL;
}

static void *reader(void *arg)
{
    worker_t *w = arg;
    shared_t *sh = w->sh;
    static const int limits[] = { 3, 7, 20, 50, 200 };
    char err[8192];
    while (!atomic_load(&sh->stop)) {
        int64_t user = sh->users[odb_rng_below(&w->rng, sh->nusers)];
        odb_walk_opts_t o = {
            .limit = limits[odb_rng_below(&w->rng, 5)],
            .hydrate = odb_rng_chance(&w->rng, 70),
            .data_may_change = true,
        };
        odb_walk_t walk;
        if (odb_walk(w->c, user, &o, &walk, err, sizeof err) != 0)
            report(sh, "reader %d: user %" PRId64 " (limit %d, hydrate %s): %s", w->no, user,
                   o.limit, o.hydrate ? "true" : "false", err);
        atomic_fetch_add(&sh->walks, 1);
        atomic_fetch_add(&sh->pages, walk.pages);
        odb_walk_free(&walk);
    }
    return NULL;
}

/* After unfollow(i, j) answered: no post of j in i's timeline. */
static void check_unfollowed(worker_t *w, int64_t follower, int64_t followee)
{
    char err[8192];
    odb_walk_opts_t o = { .limit = 50, .hydrate = false, .data_may_change = true };
    odb_walk_t walk;
    if (odb_walk(w->c, follower, &o, &walk, err, sizeof err) != 0) {
        report(w->sh, "after unfollow %" PRId64 " -> %" PRId64 ": %s", follower, followee, err);
    } else {
        for (size_t k = 0; k < walk.posts.n; k++)
            if (walk.posts.v[k].author_id == followee) {
                report(w->sh, "after unfollow %" PRId64 " -> %" PRId64 " answered, the next read "
                       "still shows post %" PRId64 " by %" PRId64 " at position %zu of %zu",
                       follower, followee, walk.posts.v[k].id, followee, k, walk.posts.n);
                break;
            }
    }
    odb_walk_free(&walk);
}

/* After follow(i, j) answered: every post of j published before `before`
 * is in i's timeline. */
static void check_followed(worker_t *w, int64_t follower, int64_t followee, long long before)
{
    shared_t *sh = w->sh;
    int64_t *want = NULL;
    size_t nwant = 0;
    pthread_mutex_lock(&sh->mu);
    for (size_t k = 0; k < sh->npub; k++)
        if (sh->pub[k].author == followee && sh->pub[k].answered_ms < before) {
            want = fc_xrealloc(want, (nwant + 1) * sizeof *want);
            want[nwant++] = sh->pub[k].id;
        }
    pthread_mutex_unlock(&sh->mu);
    char err[8192];
    odb_walk_opts_t o = { .limit = 50, .hydrate = false, .data_may_change = true };
    odb_walk_t walk;
    if (odb_walk(w->c, follower, &o, &walk, err, sizeof err) != 0) {
        report(sh, "after follow %" PRId64 " -> %" PRId64 ": %s", follower, followee, err);
    } else {
        for (size_t k = 0; k < nwant; k++)
            if (!odb_posts_has(&walk.posts, want[k])) {
                report(sh, "after follow %" PRId64 " -> %" PRId64 " answered, the next read "
                       "(%zu posts) lacks post %" PRId64 " by %" PRId64 ", published over %d ms "
                       "before", follower, followee, walk.posts.n, want[k], followee,
                       FOLLOW_GRACE_MS);
                break;
            }
    }
    odb_walk_free(&walk);
    free(want);
}

static void *follower(void *arg)
{
    worker_t *w = arg;
    shared_t *sh = w->sh;
    size_t n = sh->nusers;
    char err[4096];
    while (!atomic_load(&sh->stop)) {
        /* Half the time an unfollow of one of i's followees (random pairs
         * alone would mostly follow). */
        size_t i = (size_t)odb_rng_below(&w->rng, n), j = (size_t)odb_rng_below(&w->rng, n);
        if (odb_rng_chance(&w->rng, 50))
            for (size_t k = 0; k < n && !w->follows[i * n + j]; k++)
                j = (j + 1) % n;
        if (i == j)
            continue;
        int64_t a = sh->users[i], b = sh->users[j];
        bool *f = &w->follows[i * n + j];
        if (*f) {
            if (odb_pg_unfollow(w->pg, a, b, err, sizeof err) != 0 ||
                odb_rpc_unfollow(w->c, a, b, err, sizeof err) != 0) {
                report(sh, "unfollow %" PRId64 " -> %" PRId64 ": %s", a, b, err);
                break;
            }
            *f = false;
            atomic_fetch_add(&sh->unfollows, 1);
            check_unfollowed(w, a, b);
        } else {
            long long before = odb_now_ms() - FOLLOW_GRACE_MS;
            if (odb_pg_follow(w->pg, a, b, err, sizeof err) != 0 ||
                odb_rpc_follow(w->c, a, b, err, sizeof err) != 0) {
                report(sh, "follow %" PRId64 " -> %" PRId64 ": %s", a, b, err);
                break;
            }
            *f = true;
            atomic_fetch_add(&sh->follows, 1);
            check_followed(w, a, b, before);
        }
        odb_sleep_ms(5);
    }
    return NULL;
}

static int worker_open(worker_t *w, shared_t *sh, const char *role, int no, char *err,
                       size_t errlen)
{
    w->sh = sh;
    w->role = role;
    w->no = no;
    odb_rng_seed(&w->rng, seed * 1000 + (uint64_t)no);
    w->c = fc_client_connect(sh->addr, FIXTURE_TIMEOUT_MS, err, errlen);
    if (!w->c)
        return -1;
    fc_client_set_timeout(w->c, FIXTURE_TIMEOUT_MS);
    w->pg = odb_pg_connect(fixture_env(), err, errlen);
    return w->pg ? 0 : -1;
}

static void worker_close(worker_t *w)
{
    if (w->c)
        fc_client_close(w->c);
    if (w->pg)
        PQfinish(w->pg);
    w->c = NULL;
    w->pg = NULL;
}

#define STEP(expr)                                                              \
    do {                                                                        \
        if ((expr) != 0)                                                        \
            fail_msg("seed %" PRIu64 ": %s", seed, err);                        \
    } while (0)

/* --- the focused race ------------------------------------------------------------------- */

typedef struct {
    worker_t *w;
    pthread_barrier_t *bar;
    const int64_t *authors;     /* by round: who publishes */
    int64_t ids[RACE_ROUNDS];   /* what was published (0: failed) */
} race_t;

static void *race_publisher(void *arg)
{
    race_t *r = arg;
    char err[4096];
    for (int k = 0; k < RACE_ROUNDS; k++) {
        pthread_barrier_wait(r->bar);
        /* Land anywhere in the invalidate + rebuild of the other side. */
        usleep((useconds_t)odb_rng_below(&r->w->rng, 4000));
        r->ids[k] = 0;
        if (publish_one(r->w, r->authors[k], false, &r->ids[k], err, sizeof err) != 0)
            report(r->w->sh, "race round %d: publish: %s", k, err);
        pthread_barrier_wait(r->bar);
    }
    return NULL;
}

/* The first page of user (limit 10) holds id; source (16 bytes) gets the
 * page's source. */
static int first_page_has(fc_client_t *c, int64_t user, int64_t id, bool *has, char *source,
                          char *err, size_t errlen)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", user);
    fc_params_int(&p, "limit", 10);
    fc_params_bool(&p, "hydrate", false);
    fc_response_t r;
    int rc = odb_call(c, "timeline.get", &p, &r, err, errlen);
    fc_params_free(&p);
    if (rc != 0)
        return -1;
    *has = false;
    const char *s = "";
    size_t n = 0;
    fc_obj_str(fc_obj_get(&r.result, "source"), &s, &n);
    snprintf(source, 16, "%.*s", (int)(n < 15 ? n : 15), s);
    const msgpack_object *posts = fc_obj_get(&r.result, "posts");
    for (uint32_t i = 0; posts && posts->type == MSGPACK_OBJECT_ARRAY && i < posts->via.array.size;
         i++) {
        int64_t got;
        if (fc_obj_int(fc_obj_get(&posts->via.array.ptr[i], "id"), &got) == 0 && got == id)
            *has = true;
    }
    fc_response_free(&r);
    return 0;
}

static void race(fixture_t *f, odb_world_t *world, shared_t *sh)
{
    char err[8192];
    /* The user, a followee posting in fan-out mode and one in celebrity
     * mode (the most followed, topped up to the threshold if need be). */
    size_t u = 1, cel = odb_world_most_followed(world), fan = world->nusers;
    if (cel == u)
        u = 2;
    for (size_t j = 0; j < world->nusers; j++)
        if (j != u && j != cel && odb_world_followers(world, j) < THRESHOLD - 2) {
            fan = j;
            break;
        }
    assert_true(fan < world->nusers);
    for (size_t i = 0; odb_world_followers(world, cel) < THRESHOLD && i < world->nusers; i++)
        if (i != cel && !odb_world_follows(world, i, cel))
            STEP(odb_world_follow(world, i, cel, err, sizeof err));
    if (!odb_world_follows(world, u, cel))
        STEP(odb_world_follow(world, u, cel, err, sizeof err));
    if (!odb_world_follows(world, u, fan))
        STEP(odb_world_follow(world, u, fan, err, sizeof err));
    int64_t user = world->users[u];
    fprintf(stderr, "race: user %" PRId64 ", fan-out author %" PRId64 " (%zu followers), "
            "celebrity %" PRId64 " (%zu followers), %d rounds\n", user, world->users[fan],
            odb_world_followers(world, fan), world->users[cel], odb_world_followers(world, cel),
            RACE_ROUNDS);

    int64_t authors[RACE_ROUNDS];
    for (int k = 0; k < RACE_ROUNDS; k++)
        authors[k] = world->users[k % 3 == 2 ? cel : fan];
    worker_t pw = { 0 };
    STEP(worker_open(&pw, sh, "race publisher", 99, err, sizeof err));
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    race_t r = { .w = &pw, .bar = &bar, .authors = authors };
    pthread_t tid;
    pthread_create(&tid, NULL, race_publisher, &r);
    size_t lost = 0, before_rebuild = 0;
    long long worst = 0;
    char source[16];
    for (int k = 0; k < RACE_ROUNDS; k++) {
        pthread_barrier_wait(&bar);
        if (odb_rpc_invalidate(f->c, user, err, sizeof err) != 0)
            report(sh, "race round %d: %s", k, err);
        bool has;
        /* This read rebuilds the feed while the post is being published. */
        if (first_page_has(f->c, user, -1, &has, source, err, sizeof err) != 0)
            report(sh, "race round %d: read: %s", k, err);
        else if (strcmp(source, "rebuilt") != 0)
            report(sh, "race round %d: the first read after timeline.invalidate of %" PRId64
                   " has source \"%s\", expected \"rebuilt\"", k, user, source);
        pthread_barrier_wait(&bar);
        if (!r.ids[k])
            continue;
        long long t0 = odb_now_ms();
        has = false;
        while (!has && odb_now_ms() - t0 < RACE_WAIT_MS) {
            if (first_page_has(f->c, user, r.ids[k], &has, source, err, sizeof err) != 0) {
                report(sh, "race round %d: read: %s", k, err);
                break;
            }
            if (!has)
                odb_sleep_ms(10);
        }
        if (has && odb_now_ms() - t0 < 5)
            before_rebuild++;
        if (odb_now_ms() - t0 > worst)
            worst = odb_now_ms() - t0;
        if (!has) {
            lost++;
            report(sh, "race round %d: post %" PRId64 " by %" PRId64 " (%s) not in user %" PRId64
                   "'s first page %d ms after post.publish answered (invalidate + rebuild raced "
                   "the publish)", k, r.ids[k], authors[k], k % 3 == 2 ? "celebrity" : "fan-out",
                   user, RACE_WAIT_MS);
        }
    }
    pthread_join(tid, NULL);
    pthread_barrier_destroy(&bar);
    worker_close(&pw);
    fprintf(stderr, "race: %zu of %d posts lost, %zu visible at once, slowest to show %lld ms\n",
            lost, RACE_ROUNDS, before_rebuild, worst);
    /* And after settling, the whole timeline is right. */
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    odb_walk_opts_t o = { .limit = 7, .hydrate = true };
    if (odb_check_user(world->pg, world->c, user, &o, NULL, err, sizeof err) != 0)
        report(sh, "race: after settling: %s", err);
}

/* --- the test -------------------------------------------------------------------------------- */

static void concurrent_writers_and_readers(void **state)
{
    fixture_t *f = *state;
    char err[8192];
    odb_world_t world;
    odb_world_init(&world, f->pg, f->c, seed, THRESHOLD);
    fprintf(stderr, "world: seed %" PRIu64 ", %d users, %d posts, then %d ms of concurrency\n",
            seed, USERS, POSTS, RUN_MS);
    STEP(odb_world_add_users(&world, USERS, err, sizeof err));
    STEP(odb_world_random_follows(&world, 8, NULL, 0, err, sizeof err));
    for (int k = 0; k < POSTS; k++)
        STEP(odb_world_publish(&world, (size_t)odb_rng_below(&world.rng, world.nusers),
                               ODB_PUB_RANDOM, NULL, err, sizeof err));
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    int64_t unknown[] = { 4242424242424242LL };
    size_t failed = odb_world_check_all(&world, "before the concurrent phase", unknown, 1, NULL);

    shared_t sh = { .addr = f->d->addr, .users = world.users, .nusers = world.nusers };
    pthread_mutex_init(&sh.mu, NULL);
    atomic_store(&sh.clock_ms, world.clock_ms);
    /* Posts published before the threads start count for the follow check. */
    for (size_t k = 0; k < world.nposts; k++) {
        published_t p = { world.posts[k].post.id, world.posts[k].post.author_id, 0 };
        if (sh.npub == sh.pubcap) {
            sh.pubcap = sh.pubcap ? sh.pubcap * 2 : 1024;
            sh.pub = fc_xrealloc(sh.pub, sh.pubcap * sizeof *sh.pub);
        }
        sh.pub[sh.npub++] = p;
    }

    static const struct { const char *role; void *(*fn)(void *); } roles[] = {
        { "publisher", publisher }, { "publisher", publisher }, { "invalidator", invalidator },
        { "follower", follower }, { "reader", reader }, { "reader", reader },
    };
    enum { NWORKERS = sizeof roles / sizeof roles[0] };
    worker_t workers[NWORKERS];
    memset(workers, 0, sizeof workers);
    for (int k = 0; k < NWORKERS; k++) {
        if (worker_open(&workers[k], &sh, roles[k].role, k, err, sizeof err) != 0) {
            for (int m = 0; m <= k; m++)
                worker_close(&workers[m]);
            fail_msg("worker %d: %s", k, err);
        }
        if (roles[k].fn == follower) {
            size_t n = world.nusers;
            workers[k].follows = fc_xcalloc(n * n, sizeof(bool));
            memcpy(workers[k].follows, world.follows, n * n * sizeof(bool));
        }
    }
    long long t0 = odb_now_ms();
    for (int k = 0; k < NWORKERS; k++)
        pthread_create(&workers[k].tid, NULL, roles[k].fn, &workers[k]);
    odb_sleep_ms(RUN_MS);
    atomic_store(&sh.stop, true);
    for (int k = 0; k < NWORKERS; k++) {
        pthread_join(workers[k].tid, NULL);
        if (workers[k].follows) {
            memcpy(world.follows, workers[k].follows, world.nusers * world.nusers * sizeof(bool));
            free(workers[k].follows);
        }
        worker_close(&workers[k]);
    }
    fprintf(stderr, "concurrent phase: %lld ms: %zu publishes + %zu notifications, %zu "
            "invalidations, %zu follows, %zu unfollows, %zu walks (%zu pages), %zu failures\n",
            odb_now_ms() - t0, atomic_load(&sh.publishes), atomic_load(&sh.notifications),
            atomic_load(&sh.invalidations), atomic_load(&sh.follows), atomic_load(&sh.unfollows),
            atomic_load(&sh.walks), atomic_load(&sh.pages), atomic_load(&sh.failures));

    if (odb_wait_settled(f->c, SETTLE_MS, err, sizeof err) != 0)
        report(&sh, "after the concurrent phase: %s", err);
    failed += odb_world_check_all(&world, "after the concurrent phase", unknown, 1, NULL);

    race(f, &world, &sh);
    failed += odb_world_check_all(&world, "after the race", unknown, 1, NULL);

    failed += atomic_load(&sh.failures);
    free(sh.pub);
    pthread_mutex_destroy(&sh.mu);
    odb_world_free(&world);
    if (failed)
        fail_msg("seed %" PRIu64 ": %zu checks failed (see above)", seed, failed);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(concurrent_writers_and_readers, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, fixture_group_teardown);
}
