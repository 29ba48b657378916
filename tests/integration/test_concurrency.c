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
 * A second test, the follow storm (see its section), aims the same kind of
 * load at follow and unfollow on cached feeds: 3 follow threads, a deleter,
 * hot users, and a check after each follow and unfollow that the timeline
 * is an exact prefix where it must be.
 *
 * Own PostgreSQL database fc_concurrency_<pid>, own Redis db 8, own key
 * prefix. FEEDCACHE_ORACLE_SEED=N picks another seed;
 * FEEDCACHE_TEST_FILTER=follow_storm runs one test. */
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
    long long deleting_ms;   /* follow storm: when its delete began (0: never) */
    long long deleted_ms;    /* follow storm: when post.delete answered (0: not yet) */
    int64_t created_ms;
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
    /* The follow storm (0 / NULL in the first test): readers and the
     * invalidator favour the first nhot users; the pauses replace
     * PUBLISH_PAUSE_MS and the invalidator's 2 ms. */
    size_t nhot;
    int publish_pause_ms, invalidate_pause_ms;
    const char *prefix;              /* the daemon's key prefix */
    bool *record;                    /* follows [i * nusers + j]; row i written by its owner only */
    atomic_size_t deletes, checks, checked_posts;
    atomic_size_t on_uncached, on_complete, on_partial, straddling, older_only, newer_only;
} shared_t;

typedef struct {
    shared_t *sh;
    const char *role;
    int no;
    odb_rng_t rng;
    fc_client_t *c;
    PGconn *pg;
    bool *follows;                   /* follower thread: its record */
    rdirect_t *r;                    /* follow storm: to look at feeds */
    int part;                        /* follow storm: which followers it owns */
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

/* Appends to sh->pub (under sh->mu once threads run). */
static void pub_push(shared_t *sh, published_t p)
{
    if (sh->npub == sh->pubcap) {
        sh->pubcap = sh->pubcap ? sh->pubcap * 2 : 1024;
        sh->pub = fc_xrealloc(sh->pub, sh->pubcap * sizeof *sh->pub);
    }
    sh->pub[sh->npub++] = p;
}

/* A random user; with a hot set (the follow storm), one of it 4 times in 5. */
static int64_t pick_user(worker_t *w)
{
    shared_t *sh = w->sh;
    if (sh->nhot && odb_rng_chance(&w->rng, 80))
        return sh->users[odb_rng_below(&w->rng, sh->nhot)];
    return sh->users[odb_rng_below(&w->rng, sh->nusers)];
}

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
    /* A notification has no answer: count it as answered when the next
     * request on this connection is, i.e. a little later; fine for the
     * grace period. */
    pub_push(sh, (published_t){ .id = p.id, .author = author, .answered_ms = odb_now_ms(),
                                .created_ms = p.created_ms });
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
        odb_sleep_ms(sh->publish_pause_ms ? sh->publish_pause_ms : PUBLISH_PAUSE_MS);
    }
    return NULL;
}

static void *invalidator(void *arg)
{
    worker_t *w = arg;
    shared_t *sh = w->sh;
    char err[4096];
    while (!atomic_load(&sh->stop)) {
        int64_t user = pick_user(w);
        if (odb_rpc_invalidate(w->c, user, err, sizeof err) != 0)
            report(sh, "invalidator: user %" PRId64 ": %s", user, err);
        else
            atomic_fetch_add(&sh->invalidations, 1);
        odb_sleep_ms(sh->invalidate_pause_ms ? sh->invalidate_pause_ms : 2);
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
        int64_t user = pick_user(w);
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
    if (w->r)
        rdirect_close(w->r);
    w->c = NULL;
    w->pg = NULL;
    w->r = NULL;
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
    for (size_t k = 0; k < world.nposts; k++)
        pub_push(&sh, (published_t){ .id = world.posts[k].post.id,
                                     .author = world.posts[k].post.author_id,
                                     .created_ms = world.posts[k].post.created_ms });

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

/* --- the follow storm ----------------------------------------------------------------------- */

/* follow and unfollow on cached feeds, under everything else. feed_max (25)
 * is small next to the timelines (about 20 posts per user, 2 to 6
 * followees), so most feeds are partial and have a floor; the hot users
 * that start following nobody (STORM_LONERS) have complete feeds until
 * they follow someone, and keep about one followee. Each of
 * STORM_FOLLOWERS threads owns the followers u with u % STORM_FOLLOWERS ==
 * its part (so that its record of their follows is exact), picks one of
 * its hot users 4 times in 5, reads that user's first page (so that the
 * feed is cached), notes the feed's state in Redis, then follows or
 * unfollows (PostgreSQL first) and walks the follower's whole timeline:
 *   - no post of an author the follower does not follow (the one just
 *     unfollowed included), and none deleted before the walk began;
 *   - after a follow, every live post of the followee published more than
 *     FOLLOW_GRACE_MS before the follow;
 *   - every live post of the follower and of its followees published more
 *     than STORM_STABLE_MS before the walk (fan-out is done by then: the
 *     contract says within 1 s), so that a feed which stopped being an
 *     exact prefix of the timeline (a post missing above its floor, a floor
 *     moved down past posts it lacks, a trimmed feed taken for complete)
 *     shows up, whoever follows whom later.
 * Around them: 2 publishers (as in the first test: ties, notifications, late posts),
 * a deleter (deleted_at, then post.delete), an invalidator and 2 readers,
 * all favouring the hot users. Then fan-out settles and every timeline
 * must equal the SQL definition.
 *
 * The publishers send late posts too (created_at in the past), as in the
 * first test: deletes leave partial feeds short of feed_max entries, and a
 * late post below such a feed's floor must not move the floor down past
 * posts the feed never held (FEED_PUSH takes it out again, or, in a fast
 * feed, readers and follows ignore what lies below the coverage floor;
 * test_follow.c's late_post_below_floor shows the case alone). */

#define STORM_USERS 24
#define STORM_HOT 9
#define STORM_LONERS 3            /* the last hot users: they start following nobody */
#define STORM_POSTS 360
#define STORM_MS 7000
#define STORM_FOLLOWERS 3
#define STORM_STABLE_MS 3000
#define STORM_PUBLISH_PAUSE_MS 40
#define STORM_DELETE_PAUSE_MS 60
#define STORM_INVALIDATE_PAUSE_MS 50

static size_t user_index(const shared_t *sh, int64_t id)
{
    for (size_t k = 0; k < sh->nusers; k++)
        if (sh->users[k] == id)
            return k;
    return sh->nusers;
}

static void *deleter(void *arg)
{
    worker_t *w = arg;
    shared_t *sh = w->sh;
    char err[4096];
    while (!atomic_load(&sh->stop)) {
        odb_sleep_ms(STORM_DELETE_PAUSE_MS);
        int64_t id = 0, author = 0;
        pthread_mutex_lock(&sh->mu);
        for (int tries = 0; tries < 20 && !id && sh->npub; tries++) {
            published_t *q = &sh->pub[odb_rng_below(&w->rng, sh->npub)];
            if (!q->deleting_ms) {
                q->deleting_ms = odb_now_ms();
                id = q->id;
                author = q->author;
            }
        }
        pthread_mutex_unlock(&sh->mu);
        if (!id)
            continue;
        if (odb_pg_delete_post(w->pg, id, err, sizeof err) != 0 ||
            odb_rpc_delete(w->c, id, author, err, sizeof err) != 0) {
            report(sh, "deleter: post %" PRId64 " by %" PRId64 ": %s", id, author, err);
            continue;
        }
        long long now = odb_now_ms();
        pthread_mutex_lock(&sh->mu);
        for (size_t k = 0; k < sh->npub; k++)
            if (sh->pub[k].id == id)
                sh->pub[k].deleted_ms = now;
        pthread_mutex_unlock(&sh->mu);
        atomic_fetch_add(&sh->deletes, 1);
    }
    return NULL;
}

typedef struct {
    bool exists;              /* the sentinel is there */
    int64_t sentinel;         /* -1 complete, -2 partial, -3 building */
    long long entries;        /* members with a score >= 0 */
    bool has_floor;           /* there is an oldest entry: */
    int64_t floor_ts, floor_id;
} storm_feed_t;

/* The user's feed in Redis (docs/DATA_MODEL.md, "Home feed"). */
static storm_feed_t storm_feed(worker_t *w, int64_t user)
{
    storm_feed_t st = { 0 };
    const char *pre = w->sh->prefix;
    redisReply *rep = rdirect_command(w->r, "ZSCORE %shome:{%" PRId64 "} s", pre, user);
    if (rep && rep->type == REDIS_REPLY_STRING) {
        st.exists = true;
        st.sentinel = strtoll(rep->str, NULL, 10);
    }
    freeReplyObject(rep);
    rep = rdirect_command(w->r, "ZCOUNT %shome:{%" PRId64 "} 0 +inf", pre, user);
    if (rep && rep->type == REDIS_REPLY_INTEGER)
        st.entries = rep->integer;
    freeReplyObject(rep);
    rep = rdirect_command(w->r, "ZREVRANGEBYSCORE %shome:{%" PRId64 "} +inf 0 WITHSCORES LIMIT 0 1",
                          pre, user);
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        st.has_floor = true;
        st.floor_id = strtoll(rep->element[0]->str, NULL, 10);
        st.floor_ts = RDIRECT_HOME_BASE - strtoll(rep->element[1]->str, NULL, 10);
    }
    freeReplyObject(rep);
    return st;
}

static const char *storm_describe(const storm_feed_t *st, char *out, size_t len)
{
    const char *kind = st->sentinel == -1 ? "complete" : st->sentinel == -2 ? "partial"
                       : "building";
    if (!st->exists)
        snprintf(out, len, "no feed in Redis");
    else if (st->has_floor)
        snprintf(out, len, "%s, %lld entries, oldest %" PRId64 "@%" PRId64, kind, st->entries,
                 st->floor_id, st->floor_ts);
    else
        snprintf(out, len, "%s, no entries", kind);
    return out;
}

/* Counts the kind of feed a follow or unfollow met and, for a follow on a
 * partial feed, on which side of its floor the followee's live posts lie. */
static void storm_classify(worker_t *w, const storm_feed_t *st, bool follow, int64_t followee)
{
    shared_t *sh = w->sh;
    if (!st->exists || (st->sentinel != -1 && st->sentinel != -2)) {
        atomic_fetch_add(&sh->on_uncached, 1);
        return;
    }
    atomic_fetch_add(st->sentinel == -1 ? &sh->on_complete : &sh->on_partial, 1);
    if (!follow || st->sentinel != -2 || !st->has_floor)
        return;
    size_t older = 0, newer = 0;
    pthread_mutex_lock(&sh->mu);
    for (size_t k = 0; k < sh->npub; k++) {
        const published_t *p = &sh->pub[k];
        if (p->author != followee || p->deleting_ms)
            continue;
        if (p->created_ms > st->floor_ts)
            newer++;
        else
            older++;
    }
    pthread_mutex_unlock(&sh->mu);
    if (older && newer)
        atomic_fetch_add(&sh->straddling, 1);
    else if (older)
        atomic_fetch_add(&sh->older_only, 1);
    else if (newer)
        atomic_fetch_add(&sh->newer_only, 1);
}

/* The first page of user (limit 10): so that the feed is cached. */
static void storm_touch(worker_t *w, int64_t user)
{
    char err[4096];
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", user);
    fc_params_int(&p, "limit", 10);
    fc_params_bool(&p, "hydrate", false);
    if (odb_call(w->c, "timeline.get", &p, NULL, err, sizeof err) != 0)
        report(w->sh, "follow storm: first page of %" PRId64 ": %s", user, err);
    fc_params_free(&p);
}

/* After follower i followed (follow) or unfollowed j: see the comment at the
 * top of this section. before: FOLLOW_GRACE_MS before the follow was sent. */
static void storm_check(worker_t *w, size_t i, bool follow, size_t j, long long before)
{
    shared_t *sh = w->sh;
    size_t n = sh->nusers;
    const bool *row = &sh->record[i * n];
    int64_t user = sh->users[i], followee = sh->users[j];
    static const int limits[] = { 5, 10, 25 };
    odb_walk_opts_t o = { .limit = limits[odb_rng_below(&w->rng, 3)], .hydrate = false,
                          .data_may_change = true };
    char err[8192], what[160], feed[160] = "";
    snprintf(what, sizeof what, "%s %" PRId64 " -> %" PRId64 " answered", follow ? "follow" :
             "unfollow", user, followee);
    long long t0 = odb_now_ms();
    odb_walk_t walk;
    if (odb_walk(w->c, user, &o, &walk, err, sizeof err) != 0) {
        report(sh, "follow storm: after %s: walk of %" PRId64 "'s timeline (limit %d): %s", what,
               user, o.limit, err);
        odb_walk_free(&walk);
        return;
    }
    atomic_fetch_add(&sh->checks, 1);
    bool bad = false;
    for (size_t k = 0; k < walk.posts.n && !bad; k++) {
        const odb_post_t *q = &walk.posts.v[k];
        size_t a = user_index(sh, q->author_id);
        if (a != i && (a == n || !row[a])) {
            storm_feed_t now = storm_feed(w, user);
            storm_describe(&now, feed, sizeof feed);
            report(sh, "follow storm: after %s, %" PRId64 "'s timeline (limit %d, %zu posts) shows "
                   "post %" PRId64 " by %" PRId64 " at position %zu, but %" PRId64 " %s %" PRId64
                   " (feed now: %s)", what, user, o.limit, walk.posts.n, q->id, q->author_id, k,
                   user, a == j && !follow ? "has just unfollowed" : "does not follow",
                   q->author_id, feed);
            bad = true;
        }
    }
    size_t required = 0;
    pthread_mutex_lock(&sh->mu);
    for (size_t k = 0; k < sh->npub && !bad; k++) {
        const published_t *p = &sh->pub[k];
        size_t a = user_index(sh, p->author);
        if (a == n || (a != i && !row[a]))
            continue;
        bool shown = odb_posts_has(&walk.posts, p->id);
        if (shown && p->deleted_ms && p->deleted_ms < t0) {
            pthread_mutex_unlock(&sh->mu);
            report(sh, "follow storm: after %s, %" PRId64 "'s timeline shows post %" PRId64 " by %"
                   PRId64 ", whose post.delete answered %lld ms before the walk began", what, user,
                   p->id, p->author, t0 - p->deleted_ms);
            pthread_mutex_lock(&sh->mu);
            bad = true;
            break;
        }
        if (p->deleting_ms)
            continue;
        bool by_follow = follow && a == j && p->answered_ms < before;
        bool settled = p->answered_ms < t0 - STORM_STABLE_MS;
        if (!by_follow && !settled)
            continue;
        required++;
        if (shown)
            continue;
        published_t miss = *p;
        pthread_mutex_unlock(&sh->mu);
        /* Where it belongs: the posts of the walk around its place. */
        size_t at = 0;
        while (at < walk.posts.n && (walk.posts.v[at].created_ms > miss.created_ms ||
                                     (walk.posts.v[at].created_ms == miss.created_ms &&
                                      walk.posts.v[at].id > miss.id)))
            at++;
        storm_feed_t now = storm_feed(w, user);
        storm_describe(&now, feed, sizeof feed);
        char when[64];
        if (miss.answered_ms)
            snprintf(when, sizeof when, "%lld ms before the walk", t0 - miss.answered_ms);
        else
            snprintf(when, sizeof when, "before the storm");
        report(sh, "follow storm: after %s, %" PRId64 "'s timeline (limit %d, %zu posts, first "
               "source %s) lacks post %" PRId64 " by %s %" PRId64 " (created_at %" PRId64 ", "
               "published %s); it belongs at position %zu, between %" PRId64 "@%" PRId64
               " and %" PRId64 "@%" PRId64 " (feed now: %s)", what, user, o.limit, walk.posts.n,
               walk.first_source, miss.id, by_follow ? "the new followee" :
               a == i ? "the user" : "the followee", miss.author, miss.created_ms, when, at,
               at > 0 ? walk.posts.v[at - 1].id : 0, at > 0 ? walk.posts.v[at - 1].created_ms : 0,
               at < walk.posts.n ? walk.posts.v[at].id : 0,
               at < walk.posts.n ? walk.posts.v[at].created_ms : 0, feed);
        pthread_mutex_lock(&sh->mu);
        bad = true;
    }
    pthread_mutex_unlock(&sh->mu);
    atomic_fetch_add(&sh->checked_posts, required);
    odb_walk_free(&walk);
}

static void *storm_follower(void *arg)
{
    worker_t *w = arg;
    shared_t *sh = w->sh;
    size_t n = sh->nusers;
    char err[4096];
    while (!atomic_load(&sh->stop)) {
        size_t i;
        do
            i = (size_t)(odb_rng_chance(&w->rng, 80) ? odb_rng_below(&w->rng, sh->nhot)
                                                     : odb_rng_below(&w->rng, n));
        while (i % STORM_FOLLOWERS != (size_t)w->part);
        bool *row = &sh->record[i * n];
        size_t k = 0;
        for (size_t m = 0; m < n; m++)
            k += row[m];
        /* About 4 followees each (1 for the loners): more than that, more
         * unfollows. */
        size_t target = i >= STORM_HOT - STORM_LONERS && i < STORM_HOT ? 1 : 4;
        bool unf = k > 0 && odb_rng_chance(&w->rng, k >= target ? 70 : 30);
        size_t j = (size_t)odb_rng_below(&w->rng, n);
        for (size_t m = 0; m < n && (j == i || row[j] != unf); m++)
            j = (j + 1) % n;
        if (j == i || row[j] != unf)
            continue;
        int64_t a = sh->users[i], b = sh->users[j];
        storm_touch(w, a);
        storm_feed_t st = storm_feed(w, a);
        storm_classify(w, &st, !unf, b);
        long long before = odb_now_ms() - FOLLOW_GRACE_MS;
        if (unf ? odb_pg_unfollow(w->pg, a, b, err, sizeof err) != 0 ||
                      odb_rpc_unfollow(w->c, a, b, err, sizeof err) != 0
                : odb_pg_follow(w->pg, a, b, err, sizeof err) != 0 ||
                      odb_rpc_follow(w->c, a, b, err, sizeof err) != 0) {
            report(sh, "follow storm: %s %" PRId64 " -> %" PRId64 ": %s", unf ? "unfollow" :
                   "follow", a, b, err);
            break;
        }
        row[j] = !unf;
        atomic_fetch_add(unf ? &sh->unfollows : &sh->follows, 1);
        storm_check(w, i, !unf, j, before);
        odb_sleep_ms(1 + (int)odb_rng_below(&w->rng, 5));
    }
    return NULL;
}

static void follow_storm(void **state)
{
    fixture_t *f = *state;
    char err[8192];
    odb_world_t world;
    odb_world_init(&world, f->pg, f->c, seed + 7, THRESHOLD);
    fprintf(stderr, "follow storm: seed %" PRIu64 ", %d users (%d hot), %d posts, then %d ms\n",
            world.seed, STORM_USERS, STORM_HOT, STORM_POSTS, STORM_MS);
    STEP(odb_world_add_users(&world, STORM_USERS, err, sizeof err));
    size_t loners[STORM_LONERS];
    for (size_t k = 0; k < STORM_LONERS; k++)
        loners[k] = STORM_HOT - STORM_LONERS + k;
    STEP(odb_world_random_follows(&world, 4, loners, STORM_LONERS, err, sizeof err));
    for (int k = 0; k < STORM_POSTS; k++)
        STEP(odb_world_publish(&world, (size_t)k % world.nusers, ODB_PUB_RANDOM, NULL, err,
                               sizeof err));
    STEP(odb_wait_settled(f->c, SETTLE_MS, err, sizeof err));
    size_t failed = odb_world_check_all(&world, "follow storm: before", NULL, 0, NULL);

    size_t n = world.nusers;
    shared_t sh = { .addr = f->d->addr, .users = world.users, .nusers = n,
                    .nhot = STORM_HOT,
                    .publish_pause_ms = STORM_PUBLISH_PAUSE_MS,
                    .invalidate_pause_ms = STORM_INVALIDATE_PAUSE_MS, .prefix = f->prefix };
    pthread_mutex_init(&sh.mu, NULL);
    atomic_store(&sh.clock_ms, world.clock_ms);
    sh.record = fc_xcalloc(n * n, sizeof(bool));
    memcpy(sh.record, world.follows, n * n * sizeof(bool));
    for (size_t k = 0; k < world.nposts; k++)
        pub_push(&sh, (published_t){ .id = world.posts[k].post.id,
                                     .author = world.posts[k].post.author_id,
                                     .created_ms = world.posts[k].post.created_ms });

    static const struct { const char *role; void *(*fn)(void *); } roles[] = {
        { "publisher", publisher }, { "publisher", publisher }, { "deleter", deleter },
        { "invalidator", invalidator }, { "reader", reader }, { "reader", reader },
        { "storm follower", storm_follower }, { "storm follower", storm_follower },
        { "storm follower", storm_follower },
    };
    enum { NWORKERS = sizeof roles / sizeof roles[0] };
    worker_t workers[NWORKERS];
    memset(workers, 0, sizeof workers);
    int part = 0;
    for (int k = 0; k < NWORKERS; k++) {
        bool ok = worker_open(&workers[k], &sh, roles[k].role, 100 + k, err, sizeof err) == 0;
        if (ok && roles[k].fn == storm_follower) {
            workers[k].part = part++;
            workers[k].r = odb_redis_connect(fixture_env(), err, sizeof err);
            ok = workers[k].r != NULL;
        }
        if (!ok) {
            for (int m = 0; m <= k; m++)
                worker_close(&workers[m]);
            fail_msg("worker %d: %s", k, err);
        }
    }
    assert_int_equal(part, STORM_FOLLOWERS);
    long long t0 = odb_now_ms();
    for (int k = 0; k < NWORKERS; k++)
        pthread_create(&workers[k].tid, NULL, roles[k].fn, &workers[k]);
    odb_sleep_ms(STORM_MS);
    atomic_store(&sh.stop, true);
    for (int k = 0; k < NWORKERS; k++) {
        pthread_join(workers[k].tid, NULL);
        worker_close(&workers[k]);
    }
    memcpy(world.follows, sh.record, n * n * sizeof(bool));
    size_t ops = atomic_load(&sh.follows) + atomic_load(&sh.unfollows);
    fprintf(stderr, "follow storm: %lld ms: %zu publishes + %zu notifications, %zu deletes, %zu "
            "invalidations, %zu walks (%zu pages); %zu follows + %zu unfollows, met %zu partial, "
            "%zu complete and %zu uncached feeds; follows on partial feeds: %zu with the "
            "followee's posts on both sides of the floor, %zu only below, %zu only above; %zu "
            "checks requiring %zu posts; %zu failures\n", odb_now_ms() - t0,
            atomic_load(&sh.publishes), atomic_load(&sh.notifications), atomic_load(&sh.deletes),
            atomic_load(&sh.invalidations), atomic_load(&sh.walks), atomic_load(&sh.pages),
            atomic_load(&sh.follows), atomic_load(&sh.unfollows), atomic_load(&sh.on_partial),
            atomic_load(&sh.on_complete), atomic_load(&sh.on_uncached),
            atomic_load(&sh.straddling), atomic_load(&sh.older_only), atomic_load(&sh.newer_only),
            atomic_load(&sh.checks), atomic_load(&sh.checked_posts), atomic_load(&sh.failures));
    int64_t lag = 0, fanned = 0;
    if (odb_rpc_stat(f->c, "fanout_lag_ms_total", &lag, err, sizeof err) == 0 &&
        odb_rpc_stat(f->c, "fanout_posts", &fanned, err, sizeof err) == 0 && fanned > 0)
        fprintf(stderr, "follow storm: mean fan-out lag %" PRId64 " ms over %" PRId64 " posts\n",
                lag / fanned, fanned);
    /* The storm must have done what it is for: most follows and unfollows
     * on cached feeds, many of them partial with the followee's posts on
     * both sides of the floor, some on complete feeds. */
    size_t cached = atomic_load(&sh.on_partial) + atomic_load(&sh.on_complete);
    if (ops < 60 || cached * 2 < ops || atomic_load(&sh.straddling) < 10 ||
        atomic_load(&sh.on_complete) < 3)
        report(&sh, "follow storm: too little of what it is for: %zu follows and unfollows, %zu "
               "on cached feeds, %zu follows straddling a floor, %zu on complete feeds (expected "
               "at least 60, half, 10, 3)", ops, cached, atomic_load(&sh.straddling),
               atomic_load(&sh.on_complete));

    if (odb_wait_settled(f->c, SETTLE_MS, err, sizeof err) != 0)
        report(&sh, "follow storm: after it: %s", err);
    failed += odb_world_check_all(&world, "follow storm: after it, settled", NULL, 0, NULL);
    failed += atomic_load(&sh.failures);
    free(sh.record);
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
        cmocka_unit_test_setup_teardown(follow_storm, fixture_setup, fixture_teardown),
    };
    /* e.g. FEEDCACHE_TEST_FILTER=follow_storm */
    if (getenv("FEEDCACHE_TEST_FILTER"))
        cmocka_set_test_filter(getenv("FEEDCACHE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, fixture_group_teardown);
}
