/* Integration tests of warming (warm, warm.status: docs/PROTOCOL.md,
 * "Methods" and "What timeline.get returns"), against a real feedcached,
 * Redis and PostgreSQL:
 *
 *   - bad arguments get BAD_REQUEST naming the field; unknown jobs NOT_FOUND
 *   - by ids: duplicates counted once; afterwards each feed holds exactly the
 *     SQL timeline and the values of its newest posts are cached; users
 *     not asked for stay cold; an empty list finishes at once
 *   - by activity: only users active within the range; "users" is the SQL
 *     count
 *   - pacing: 60 users at 20 users/s take >= 2.5 s; no job beats its rate
 *   - live traffic first: floods of cold reads make a job yield ("busy")
 *   - an existing feed is kept (entries untouched) and its TTL slides
 *   - a read slides a warmed feed's short TTL, and then trusts what it saw
 *     until it could have fallen below feed_ttl
 *   - a warm racing fan-out: posts published while warming reach every
 *     warmed feed
 *   - the window: paused outside (and the state seen from another instance),
 *     failed "shutdown" when its daemon stops, running inside, resumed when
 *     the window opens; a bad window stops start-up with status 2
 *
 * Own PostgreSQL database fc_warm_<pid>, own Redis db 10, a key prefix per
 * daemon. FEEDCACHE_TEST_FILTER=warm_by_ids runs one test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "fixture.h"
#include "harness.h"
#include "oracle_db.h"

#define NUSERS 60
#define NPOSTS 1500

static const fixture_conf_t conf = {
    .program = "test_warm", .db_tag = "fc_warm", .redis_db = 10, .key_prefix = "fcwarm",
};

/* --- helpers: SQL, Redis ------------------------------------------------------ */

static void pg_exec(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s\n%s", PQerrorMessage(pg), sql);
    PQclear(res);
}

static int64_t pg_int(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("SQL failed: %s\n%s", PQerrorMessage(pg), sql);
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* NUSERS users, each following 5 others, NPOSTS posts with created_at ties
 * (pairs share a millisecond) and a few deleted; nobody active. */
static void seed_world(PGconn *pg)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM generate_series(1, %d) g",
             NUSERS);
    pg_exec(pg, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO follows (follower_id, followee_id) "
             "SELECT f, 1 + ((f * 7 + k * 13) %% %d) FROM generate_series(1, %d) f, "
             "generate_series(1, 5) k WHERE f <> 1 + ((f * 7 + k * 13) %% %d) "
             "ON CONFLICT DO NOTHING", NUSERS, NUSERS, NUSERS);
    pg_exec(pg, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO posts (id, author_id, created_at, body) "
             "SELECT 1000000 + p, 1 + (p * 31 %% %d), 'epoch'::timestamptz + "
             "(1700000000000 + (p / 2) * 1000) * interval '1 millisecond', 'post ' || p "
             "FROM generate_series(1, %d) p", NUSERS, NPOSTS);
    pg_exec(pg, sql);
    pg_exec(pg, "UPDATE posts SET deleted_at = now() WHERE id % 97 = 0");
}

static size_t key(const fixture_t *f, char *out, size_t cap, const char *kind, int64_t id)
{
    return (size_t)snprintf(out, cap, "%s%s:{%" PRId64 "}", f->prefix, kind, id);
}

static bool feed_exists(fixture_t *f, int64_t user)
{
    char k[160];
    key(f, k, sizeof k, "home", user);
    redisReply *rep = rdirect_command(f->r, "EXISTS %s", k);
    assert_non_null(rep);
    bool yes = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    return yes;
}

/* --- helpers: RPC ----------------------------------------------------------------- */

/* warm; UNAVAILABLE (PostgreSQL still connecting after a start, under
 * valgrind say) is retried for a while, as a caller would. */
static int warm_call(fc_client_t *c, fc_params_t *p, char job[64], int64_t *users)
{
    fc_response_t r;
    long long deadline = odb_now_ms() + 10000;
    for (;;) {
        if (fc_client_call(c, "warm", p, &r) != FC_OK) {
            fprintf(stderr, "warm: no answer: %s\n", fc_client_error(c));
            return -1;
        }
        if (r.ok)
            break;
        bool retry = strcmp(r.code, "UNAVAILABLE") == 0 && odb_now_ms() < deadline;
        if (!retry)
            fprintf(stderr, "warm: %s: %s\n", r.code, r.message);
        fc_response_free(&r);
        if (!retry)
            return -1;
        odb_sleep_ms(100);
    }
    const char *s;
    size_t n;
    int rc = 0;
    if (fc_obj_str(fc_obj_get(&r.result, "job"), &s, &n) != 0 || n == 0 || n >= 64 ||
        fc_obj_int(fc_obj_get(&r.result, "users"), users) != 0) {
        fprintf(stderr, "warm: unexpected answer shape\n");
        rc = -1;
    } else {
        memcpy(job, s, n);
        job[n] = '\0';
    }
    fc_response_free(&r);
    return rc;
}

static void warm_ids(fc_client_t *c, const int64_t *ids, size_t n, double rate, char job[64],
                     int64_t *users)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int_array(&p, "user_ids", ids, n);
    if (rate > 0)
        fc_params_double(&p, "rate", rate);
    assert_int_equal(warm_call(c, &p, job, users), 0);
    fc_params_free(&p);
}

typedef struct {
    int64_t done, total, updated_ms;
    char state[16];
    char error[128];
} status_t;

static void get_status(fc_client_t *c, const char *job, status_t *s)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_str(&p, "job", job);
    fc_response_t r;
    char err[512];
    if (odb_call(c, "warm.status", &p, &r, err, sizeof err) != 0)
        fail_msg("warm.status %s: %s", job, err);
    fc_params_free(&p);
    memset(s, 0, sizeof *s);
    const char *st;
    size_t n;
    assert_int_equal(fc_obj_int(fc_obj_get(&r.result, "done"), &s->done), 0);
    assert_int_equal(fc_obj_int(fc_obj_get(&r.result, "total"), &s->total), 0);
    assert_int_equal(fc_obj_str(fc_obj_get(&r.result, "state"), &st, &n), 0);
    assert_true(n < sizeof s->state);
    memcpy(s->state, st, n);
    fc_obj_int(fc_obj_get(&r.result, "updated_ms"), &s->updated_ms);
    if (fc_obj_str(fc_obj_get(&r.result, "error"), &st, &n) == 0)
        snprintf(s->error, sizeof s->error, "%.*s", (int)n, st);
    fc_response_free(&r);
    assert_true(s->done >= 0 && s->done <= s->total);
    assert_true(strcmp(s->state, "running") == 0 || strcmp(s->state, "paused") == 0 ||
                strcmp(s->state, "finished") == 0 || strcmp(s->state, "failed") == 0);
}

/* Polls until the job ends; returns its last status. */
static void wait_job(fc_client_t *c, const char *job, int timeout_ms, status_t *s)
{
    long long deadline = odb_now_ms() + timeout_ms;
    for (;;) {
        get_status(c, job, s);
        if (strcmp(s->state, "finished") == 0 || strcmp(s->state, "failed") == 0)
            return;
        if (odb_now_ms() > deadline)
            fail_msg("warm job %s still %s (%" PRId64 "/%" PRId64 ") after %d ms", job, s->state,
                     s->done, s->total, timeout_ms);
        odb_sleep_ms(20);
    }
}

static void expect_error(fc_client_t *c, const char *method, const fc_params_t *p,
                         const char *code, const char *field)
{
    fc_response_t r;
    assert_int_equal(fc_client_call(c, method, p, &r), FC_OK);
    if (r.ok || strcmp(r.code, code) != 0)
        fail_msg("%s: expected %s (%s), got %s: %s", method, code, field ? field : "",
                 r.ok ? "OK" : r.code, r.message);
    if (field && !strstr(r.message, field))
        fail_msg("%s: the message '%s' does not name '%s'", method, r.message, field);
    fc_response_free(&r);
}

/* --- fixture -------------------------------------------------------------------- */

static int group_setup(void **state)
{
    return fixture_group_setup(&conf);
}

/* The world of seed_world; no daemon (the test starts its own). */
static int setup_data(void **state)
{
    if (fixture_setup_data(state) != 0)
        return -1;
    fixture_t *f = *state;
    seed_world(f->pg);
    return 0;
}

/* The world and a daemon. */
static int setup(void **state)
{
    if (setup_data(state) != 0)
        return -1;
    return fixture_start(*state, NULL);
}

/* The same, the daemon logging at debug level. */
static int setup_debug(void **state)
{
    static const char *const debug[] = { "--log-level", "debug", NULL };
    if (setup_data(state) != 0)
        return -1;
    return fixture_start(*state, debug);
}

/* --- tests ------------------------------------------------------------------------ */

static void warm_bad_args(void **state)
{
    fixture_t *f = *state;
    fc_params_t p;
    fc_params_init(&p);

    expect_error(f->c, "warm", NULL, "BAD_REQUEST", "user_ids");
    expect_error(f->c, "warm", &p, "BAD_REQUEST", "user_ids");

    int64_t one = 1;
    fc_params_int_array(&p, "user_ids", &one, 1);
    fc_params_int(&p, "active_within_s", 60);
    expect_error(f->c, "warm", &p, "BAD_REQUEST", "active_within_s");

    /* user_ids: not an array, bad elements. */
    fc_params_reset(&p);
    fc_params_int(&p, "user_ids", 5);
    expect_error(f->c, "warm", &p, "BAD_REQUEST", "user_ids");
    const int bad_kinds = 5;
    for (int k = 0; k < bad_kinds; k++) {
        fc_params_reset(&p);
        msgpack_packer *pk = fc_params_value(&p, "user_ids");
        msgpack_pack_array(pk, 2);
        msgpack_pack_int64(pk, 7);
        switch (k) {
        case 0: msgpack_pack_int64(pk, 0); break;
        case 1: msgpack_pack_int64(pk, -3); break;
        case 2: msgpack_pack_true(pk); break;
        case 3: msgpack_pack_str_with_body(pk, "8", 1); break;
        case 4: msgpack_pack_double(pk, 8.0); break;
        }
        expect_error(f->c, "warm", &p, "BAD_REQUEST", "user_ids[1]");
    }

    /* active_within_s: >= 1, an integer (booleans are not). */
    for (int k = 0; k < 5; k++) {
        fc_params_reset(&p);
        msgpack_packer *pk = fc_params_value(&p, "active_within_s");
        switch (k) {
        case 0: msgpack_pack_int64(pk, 0); break;
        case 1: msgpack_pack_int64(pk, -60); break;
        case 2: msgpack_pack_true(pk); break;
        case 3: msgpack_pack_str_with_body(pk, "60", 2); break;
        case 4: msgpack_pack_double(pk, 60.5); break;
        }
        expect_error(f->c, "warm", &p, "BAD_REQUEST", "active_within_s");
    }

    /* rate: a finite number > 0. */
    for (int k = 0; k < 6; k++) {
        fc_params_reset(&p);
        fc_params_int_array(&p, "user_ids", &one, 1);
        msgpack_packer *pk = fc_params_value(&p, "rate");
        switch (k) {
        case 0: msgpack_pack_int64(pk, 0); break;
        case 1: msgpack_pack_double(pk, -2.5); break;
        case 2: msgpack_pack_double(pk, NAN); break;
        case 3: msgpack_pack_double(pk, INFINITY); break;
        case 4: msgpack_pack_true(pk); break;
        case 5: msgpack_pack_str_with_body(pk, "10", 2); break;
        }
        expect_error(f->c, "warm", &p, "BAD_REQUEST", "rate");
    }

    /* nil is absent: user_ids nil + active_within_s is fine. */
    fc_params_reset(&p);
    fc_params_nil(&p, "user_ids");
    fc_params_int(&p, "active_within_s", 60);
    char job[64];
    int64_t users = -1;
    assert_int_equal(warm_call(f->c, &p, job, &users), 0);
    assert_int_equal(users, 0);

    /* warm.status: job required, a string. */
    fc_params_reset(&p);
    expect_error(f->c, "warm.status", &p, "BAD_REQUEST", "job");
    expect_error(f->c, "warm.status", NULL, "BAD_REQUEST", "job");
    fc_params_int(&p, "job", 12);
    expect_error(f->c, "warm.status", &p, "BAD_REQUEST", "job");
    fc_params_free(&p);
    f->finished = true;
}

static void warm_unknown_job(void **state)
{
    fixture_t *f = *state;
    static const char *const jobs[] = { "0123456789abcdef", "nope", "a{b}c", "has space", "",
                                        "x-very-long-job-id-that-no-job-could-ever-have-xxxxxxxx"
                                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx" };
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
        fc_params_t p;
        fc_params_init(&p);
        fc_params_str(&p, "job", jobs[i]);
        expect_error(f->c, "warm.status", &p, "NOT_FOUND", NULL);
        fc_params_free(&p);
    }
    f->finished = true;
}

/* A job record of another instance (written straight to Redis): running
 * and fresh reads as running on this instance; running but not refreshed
 * for 10 minutes (its instance died) reads as failed; a finished one is
 * left as it is however old. */
static void warm_status_of_dead_instance(void **state)
{
    fixture_t *f = *state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);     /* records hold epoch ms */
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    static const struct {
        const char *id, *state;
        long long age_ms;
        const char *want;
    } cases[] = {
        { "00000000000000a1", "running", 5000, "running" },
        { "00000000000000a2", "running", 600000, "failed" },
        { "00000000000000a3", "paused", 600000, "failed" },
        { "00000000000000a4", "finished", 600000, "finished" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char k[160];
        snprintf(k, sizeof k, "%swarm:{%s}", f->prefix, cases[i].id);
        redisReply *rep = rdirect_command(f->r, "HSET %s done 3 total 10 state %s started_ms %lld "
                                           "updated_ms %lld error %s", k, cases[i].state,
                                           now - 700000, now - cases[i].age_ms, "");
        assert_non_null(rep);
        freeReplyObject(rep);
        status_t st;
        get_status(f->c, cases[i].id, &st);
        if (strcmp(st.state, cases[i].want) != 0)
            fail_msg("job %s (%s, %lld ms old): state %s, want %s", cases[i].id,
                     cases[i].state, cases[i].age_ms, st.state, cases[i].want);
        if (strcmp(cases[i].want, "failed") == 0 && !strstr(st.error, "stopped reporting"))
            fail_msg("job %s: error '%s'", cases[i].id, st.error);
        assert_int_equal(st.done, 3);
    }
    f->finished = true;
}

/* The feed of `user` in Redis equals its SQL timeline (as a set of
 * (id, created_at)), and its newest WARM_HYDRATE posts have cached hashes. */
static void check_feed(fixture_t *f, int64_t user)
{
    char err[512], k[160];
    odb_posts_t want = { 0 };
    assert_int_equal(odb_pg_timeline(f->pg, user, &want, err, sizeof err), 0);
    key(f, k, sizeof k, "home", user);
    redisReply *rep = rdirect_command(f->r, "ZRANGE %s 0 +inf BYSCORE WITHSCORES", k);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    size_t n = rep->elements / 2;
    if (n != want.n)
        fail_msg("user %" PRId64 ": feed holds %zu entries, the SQL timeline %zu", user, n,
                 want.n);
    for (size_t i = 0; i < want.n; i++) {
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, want.v[i].id);
        bool found = false;
        for (size_t j = 0; j < n && !found; j++) {
            if (strcmp(rep->element[2 * j]->str, id) == 0) {
                found = true;
                if (RDIRECT_HOME_BASE - strtoll(rep->element[2 * j + 1]->str, NULL, 10) !=
                    want.v[i].created_ms)
                    fail_msg("user %" PRId64 ": post %s has score %s, created_at %lld", user, id,
                             rep->element[2 * j + 1]->str, (long long)want.v[i].created_ms);
            }
        }
        if (!found)
            fail_msg("user %" PRId64 ": post %s (timeline position %zu) is not in the feed", user,
                     id, i);
    }
    freeReplyObject(rep);
    /* The newest posts' values, with authors and bodies (feed_postval.h). */
    for (size_t i = 0; i < want.n && i < 20; i++) {
        char value[1024];
        snprintf(value, sizeof value, "p%" PRId64 ":%s", want.v[i].author_id, want.v[i].body);
        key(f, k, sizeof k, "pc", want.v[i].id);
        rep = rdirect_command(f->r, "GET %s", k);
        assert_non_null(rep);
        if (rep->type != REDIS_REPLY_STRING || strcmp(rep->str, value) != 0)
            fail_msg("user %" PRId64 ": post %" PRId64 " (newest #%zu) has no cached body", user,
                     want.v[i].id, i + 1);
        freeReplyObject(rep);
    }
    /* The TTL every writer of a feed sets: feed_ttl (300 s) plus a
     * sixteenth (18.75 s). */
    key(f, k, sizeof k, "home", user);
    rep = rdirect_command(f->r, "PTTL %s", k);
    assert_true(rep->type == REDIS_REPLY_INTEGER && rep->integer > 300000 &&
                rep->integer <= 318750);
    freeReplyObject(rep);
    odb_posts_free(&want);
}

static void warm_by_ids(void **state)
{
    fixture_t *f = *state;
    /* Duplicates count once. */
    const int64_t ids[] = { 3, 1, 2, 3, 17, 2, 40, 1, 59 };
    char job[64];
    int64_t users;
    warm_ids(f->c, ids, sizeof ids / sizeof ids[0], 0, job, &users);
    assert_int_equal(users, 6);
    status_t s;
    wait_job(f->c, job, 20000, &s);
    assert_string_equal(s.state, "finished");
    assert_int_equal(s.done, 6);
    assert_int_equal(s.total, 6);
    const int64_t warmed[] = { 1, 2, 3, 17, 40, 59 };
    for (size_t i = 0; i < 6; i++)
        check_feed(f, warmed[i]);
    assert_false(feed_exists(f, 4));
    assert_false(feed_exists(f, 30));

    /* The job hash lives >= 1 h after the end. */
    char k[160];
    snprintf(k, sizeof k, "%swarm:{%s}", f->prefix, job);
    redisReply *rep = rdirect_command(f->r, "TTL %s", k);
    assert_true(rep->type == REDIS_REPLY_INTEGER && rep->integer > 3500);
    freeReplyObject(rep);

    /* The page a reader gets is the oracle's and comes from the cache. */
    char err[512], source[16];
    odb_walk_opts_t o = { .limit = 20, .hydrate = true };
    assert_int_equal(odb_check_user(f->pg, f->c, 17, &o, source, err, sizeof err), 0);
    assert_string_equal(source, "cache");

    /* An empty list: a job of 0 users that is finished. A user unknown to
     * PostgreSQL: an empty timeline, warmed fine. */
    warm_ids(f->c, NULL, 0, 0, job, &users);
    assert_int_equal(users, 0);
    wait_job(f->c, job, 5000, &s);
    assert_string_equal(s.state, "finished");
    const int64_t stranger = 987654321;
    warm_ids(f->c, &stranger, 1, 0, job, &users);
    wait_job(f->c, job, 10000, &s);
    assert_string_equal(s.state, "finished");
    assert_int_equal(s.done, 1);
    f->finished = true;
}

static void warm_by_activity(void **state)
{
    fixture_t *f = *state;
    /* 7..18 active within the hour (two at the same instant), 19..30 two
     * days ago, the rest never. */
    pg_exec(f->pg, "UPDATE users SET last_active_at = now() - (id * interval '1 minute') "
                   "WHERE id BETWEEN 7 AND 18");
    pg_exec(f->pg, "UPDATE users SET last_active_at = (SELECT last_active_at FROM users "
                   "WHERE id = 7) WHERE id = 8");
    pg_exec(f->pg, "UPDATE users SET last_active_at = now() - interval '2 days' "
                   "WHERE id BETWEEN 19 AND 30");
    int64_t want = pg_int(f->pg, "SELECT count(*) FROM users "
                                 "WHERE last_active_at >= now() - interval '1 hour'");
    assert_int_equal(want, 12);

    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "active_within_s", 3600);
    char job[64];
    int64_t users;
    assert_int_equal(warm_call(f->c, &p, job, &users), 0);
    assert_int_equal(users, want);
    status_t s;
    wait_job(f->c, job, 20000, &s);
    assert_string_equal(s.state, "finished");
    assert_int_equal(s.done, 12);
    assert_int_equal(s.total, 12);
    for (int64_t u = 1; u <= NUSERS; u++) {
        bool active = u >= 7 && u <= 18;
        if (feed_exists(f, u) != active)
            fail_msg("user %" PRId64 " (%s) %s a feed", u, active ? "active" : "inactive",
                     active ? "lacks" : "has");
        if (active)
            check_feed(f, u);
    }

    /* A wider range takes in the users of two days ago, and counts right. */
    fc_params_reset(&p);
    fc_params_int(&p, "active_within_s", 3 * 86400);
    assert_int_equal(warm_call(f->c, &p, job, &users), 0);
    assert_int_equal(users, 24);
    wait_job(f->c, job, 20000, &s);
    assert_string_equal(s.state, "finished");
    assert_true(feed_exists(f, 25));
    assert_false(feed_exists(f, 31));
    fc_params_free(&p);
    f->finished = true;
}

/* More users than one keyset page (WARM_PAGE = 500), many sharing one
 * last_active_at: every one is warmed exactly once. */
static void warm_by_activity_pages(void **state)
{
    fixture_t *f = *state;
    pg_exec(f->pg, "INSERT INTO users (id, handle, last_active_at) "
                   "SELECT g, 'x' || g, date_trunc('second', now()) - (g % 3) * interval '1 second' "
                   "FROM generate_series(1001, 2200) g");
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "active_within_s", 600);
    fc_params_int(&p, "rate", 5000);
    char job[64];
    int64_t users;
    assert_int_equal(warm_call(f->c, &p, job, &users), 0);
    assert_int_equal(users, 1200);
    status_t s;
    wait_job(f->c, job, 60000, &s);
    assert_string_equal(s.state, "finished");
    assert_int_equal(s.done, 1200);
    int64_t rebuilds = 0;
    char err[512];
    assert_int_equal(odb_rpc_stat(f->c, "feed_rebuilds", &rebuilds, err, sizeof err), 0);
    assert_int_equal(rebuilds, 1200);     /* each user once: no page repeated a user */
    for (int64_t u = 1001; u <= 2200; u += 97)
        assert_true(feed_exists(f, u));
    fc_params_free(&p);
    f->finished = true;
}

static void warm_pacing(void **state)
{
    fixture_t *f = *state;
    int64_t ids[NUSERS];
    for (int i = 0; i < NUSERS; i++)
        ids[i] = i + 1;
    char job[64];
    int64_t users;
    long long t0 = odb_now_ms();
    warm_ids(f->c, ids, NUSERS, 20, job, &users);
    assert_int_equal(users, NUSERS);
    status_t s;
    wait_job(f->c, job, 30000, &s);
    long long took = odb_now_ms() - t0;
    assert_string_equal(s.state, "finished");
    double rate = (double)NUSERS * 1000.0 / (double)took;
    printf("pacing: %d users at target 20 users/s took %.2f s: %.1f users/s\n", NUSERS,
           (double)took / 1000.0, rate);
    /* The first user starts at once, the 60th no earlier than 59/20 s later. */
    assert_true(took >= 2500);
    assert_true(took < 15000);

    /* The default rate (warm_rate 200): never faster than the target. */
    char err[512];
    assert_int_equal(odb_redis_flushdb(fixture_env(), err, sizeof err), 0);
    t0 = odb_now_ms();
    warm_ids(f->c, ids, NUSERS, 0, job, &users);
    wait_job(f->c, job, 30000, &s);
    took = odb_now_ms() - t0;
    assert_string_equal(s.state, "finished");
    rate = (double)NUSERS * 1000.0 / (double)took;
    printf("pacing: %d users at the default 200 users/s took %.2f s: %.1f users/s\n", NUSERS,
           (double)took / 1000.0, rate);
    /* 10 tokens of burst, then 200/s: 50 users need >= 250 ms. */
    assert_true(took >= 240);
    f->finished = true;
}

/* One counter from /metrics (series given with its labels), or -1. */
static double metric_value(const harness_daemon_t *d, const char *series)
{
    char err[512];
    double v = harness_metric(d->metrics_addr, series, err, sizeof err);
    if (v == -2)
        fail_msg("GET /metrics: %s", err);
    return v;
}

/* Live traffic first: while many calls are in flight (floods of cold reads,
 * each a rebuild), a job yields ("busy" backoffs) and still finishes. */
static void warm_yields_when_busy(void **state)
{
    fixture_t *f = *state;
    pg_exec(f->pg, "INSERT INTO users (id, handle) SELECT g, 'c' || g "
                   "FROM generate_series(3001, 33000) g");
    int64_t ids[NUSERS];
    for (int i = 0; i < NUSERS; i++)
        ids[i] = i + 1;
    char job[64], err[512];
    int64_t users;
    /* 10 users/s: the job lasts ~6 s, so that the floods below find it
     * running. They go on until the job has yielded to one (its debug
     * line) or for 5 s: a fixed 1.5 s of floods against a 2 s job saw it
     * yield to them in some runs only (the job checks between users, and
     * a flood of fast cold reads is over in tens of ms). */
    warm_ids(f->c, ids, NUSERS, 10, job, &users);
    fc_client_t *c2 = harness_connect(f->d, FIXTURE_TIMEOUT_MS, err, sizeof err);
    assert_non_null(c2);
    fc_client_set_timeout(c2, FIXTURE_TIMEOUT_MS);
    long long deadline = odb_now_ms() + 5000;
    int64_t next = 3001;
    int floods = 0;
    bool busy = false;
    while (!busy && odb_now_ms() < deadline && next + 300 <= 33001) {
        fc_client_set_cork(c2, true);
        for (int i = 0; i < 300; i++, next++) {
            fc_params_t p;
            fc_params_init(&p);
            fc_params_int(&p, "user_id", next);
            assert_int_equal(fc_client_send(c2, "timeline.get", &p, NULL), FC_OK);
            fc_params_free(&p);
        }
        fc_client_set_cork(c2, false);
        assert_int_equal(fc_client_flush(c2), FC_OK);
        for (int i = 0; i < 300; i++) {
            fc_response_t r;
            assert_int_equal(fc_client_recv(c2, &r), FC_OK);
            fc_response_free(&r);
        }
        floods++;
        char *log = harness_daemon_log(f->d);
        busy = log && strstr(log, "yields for 100 ms: service busy") != NULL;
        free(log);
    }
    fc_client_close(c2);
    status_t s;
    wait_job(f->c, job, 30000, &s);
    assert_string_equal(s.state, "finished");
    assert_int_equal(s.done, NUSERS);
    double backoffs = metric_value(f->d, "feedcache_warm_backoffs_total");
    printf("busy: %d floods of 300 cold reads; the job yielded %.0f times\n", floods, backoffs);
    assert_true(backoffs >= 1);
    /* The daemon logs why at debug level: "service busy" among them. */
    assert_true(busy);
    f->finished = true;
}

/* Warms one user's feed and waits for the job to finish; job: its id. */
static void warm_one(fixture_t *f, int64_t user, char job[64])
{
    int64_t users;
    status_t s;
    warm_ids(f->c, &user, 1, 0, job, &users);
    wait_job(f->c, job, 10000, &s);
    assert_string_equal(s.state, "finished");
}

static void warm_keeps_existing_feed(void **state)
{
    fixture_t *f = *state;
    const int64_t user = 5;
    char job[64], k[160];
    int64_t users;
    status_t s;
    warm_one(f, user, job);
    /* A member PostgreSQL does not know (a delivery the rebuild would not
     * reproduce), and a short TTL: a second warm must keep the first and
     * slide the second. */
    key(f, k, sizeof k, "home", user);
    redisReply *rep = rdirect_command(f->r, "ZADD %s %" PRId64 " 424242424242", k,
                                      RDIRECT_HOME_BASE - INT64_C(1800000000000));
    freeReplyObject(rep);
    rep = rdirect_command(f->r, "PEXPIRE %s 5000", k);
    freeReplyObject(rep);
    rep = rdirect_command(f->r, "ZCARD %s", k);
    long long card = rep->integer;
    freeReplyObject(rep);

    int64_t rebuilds_before = 0, rebuilds_after = 0;
    char err[512];
    assert_int_equal(odb_rpc_stat(f->c, "feed_rebuilds", &rebuilds_before, err, sizeof err), 0);
    warm_ids(f->c, &user, 1, 0, job, &users);
    wait_job(f->c, job, 10000, &s);
    assert_string_equal(s.state, "finished");
    assert_int_equal(odb_rpc_stat(f->c, "feed_rebuilds", &rebuilds_after, err, sizeof err), 0);
    assert_int_equal(rebuilds_after, rebuilds_before);

    rep = rdirect_command(f->r, "ZSCORE %s 424242424242", k);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    freeReplyObject(rep);
    rep = rdirect_command(f->r, "ZCARD %s", k);
    assert_int_equal(rep->integer, card);
    freeReplyObject(rep);
    rep = rdirect_command(f->r, "PTTL %s", k);
    assert_true(rep->integer > 250000);
    freeReplyObject(rep);
    f->finished = true;
}

static long long pttl_of(fixture_t *f, const char *k)
{
    redisReply *rep = rdirect_command(f->r, "PTTL %s", k);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    long long ms = rep->integer;
    freeReplyObject(rep);
    return ms;
}

static void set_pttl(fixture_t *f, const char *k, long long ms)
{
    redisReply *rep = rdirect_command(f->r, "PEXPIRE %s %lld", k, ms);
    freeReplyObject(rep);
}

/* A read slides a warmed feed's TTL when less than feed_ttl is left, to
 * the TTL every writer sets (feed_ttl 300 s plus 18.75 s). Having seen it,
 * the instance asks for the PTTL again only when it could have fallen
 * below feed_ttl: a TTL shortened behind its back by something that is no
 * feedcached (here the test) goes unseen until then. That is what the
 * hint saves, and what this test pins down. */
static void read_slides_the_ttl_and_remembers_it(void **state)
{
    fixture_t *f = *state;
    const int64_t user = 7;
    char job[64], k[160], err[512], source[16];
    warm_one(f, user, job);
    key(f, k, sizeof k, "home", user);
    set_pttl(f, k, 5000);

    odb_walk_opts_t o = { .limit = 20, .hydrate = true };
    assert_int_equal(odb_check_user(f->pg, f->c, user, &o, source, err, sizeof err), 0);
    assert_string_equal(source, "cache");
    long long slid = pttl_of(f, k);
    printf("slide: a read of a feed with 5 s left: PTTL %lld ms after\n", slid);
    assert_true(slid > 300000 && slid <= 318750);

    set_pttl(f, k, 5000);
    assert_int_equal(odb_check_user(f->pg, f->c, user, &o, source, err, sizeof err), 0);
    assert_string_equal(source, "cache");
    long long unseen = pttl_of(f, k);
    printf("slide: the same read again after a PEXPIRE 5000 from outside: PTTL %lld ms\n",
           unseen);
    assert_true(unseen > 0 && unseen <= 5000);
    f->finished = true;
}

static void warm_races_fanout(void **state)
{
    fixture_t *f = *state;
    char err[512], mode[16];
    int64_t ids[NUSERS];
    for (int i = 0; i < NUSERS; i++)
        ids[i] = i + 1;
    char job[64];
    int64_t users;
    /* ~1.5 s of warming, with publishes all along. */
    warm_ids(f->c, ids, NUSERS, 40, job, &users);
    odb_posts_t published = { 0 };
    odb_rng_t rng;
    odb_rng_seed(&rng, 4242);
    status_t s;
    int64_t next_id = 5000000, ms = 1800000000000;
    int during = 0;
    for (int i = 0; i < 400; i++) {
        odb_post_t p = { .id = next_id++, .author_id = 1 + (int64_t)odb_rng_below(&rng, NUSERS),
                         .created_ms = ms += 7, .body = "raced" };
        p.body_len = 5;
        assert_int_equal(odb_pg_insert_post(f->pg, &p, err, sizeof err), 0);
        if (odb_rpc_publish(f->c, &p, true, false, mode, err, sizeof err) != 0)
            fail_msg("publish: %s", err);
        odb_posts_push(&published, &p);
        get_status(f->c, job, &s);
        if (strcmp(s.state, "running") == 0)
            during++;
        else if (i > 20)
            break;
        odb_sleep_ms(5);
    }
    printf("race: %zu posts published, %d while the job ran\n", published.n, during);
    assert_true(during >= 20);
    wait_job(f->c, job, 30000, &s);
    assert_string_equal(s.state, "finished");
    assert_int_equal(odb_wait_settled(f->c, 15000, err, sizeof err), 0);

    /* Every warmed feed holds every published post it should: check Redis
     * itself (a read could rebuild and hide a lost delivery). */
    static bool follows[NUSERS + 1][NUSERS + 1];
    memset(follows, 0, sizeof follows);
    PGresult *res = PQexec(f->pg, "SELECT follower_id, followee_id FROM follows");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(res); i++)
        follows[atoi(PQgetvalue(res, i, 0))][atoi(PQgetvalue(res, i, 1))] = true;
    PQclear(res);
    size_t checked = 0;
    for (int64_t u = 1; u <= NUSERS; u++) {
        assert_true(feed_exists(f, u));
        for (size_t i = 0; i < published.n; i++) {
            int64_t a = published.v[i].author_id;
            if (a != u && !follows[u][a])
                continue;
            char k[160];
            key(f, k, sizeof k, "home", u);
            redisReply *rep = rdirect_command(f->r, "ZSCORE %s %" PRId64, k, published.v[i].id);
            if (rep->type != REDIS_REPLY_STRING)
                fail_msg("user %" PRId64 ": post %" PRId64 " by %" PRId64
                         " published during the warm is missing from the feed",
                         u, published.v[i].id, a);
            freeReplyObject(rep);
            checked++;
        }
    }
    printf("race: %zu (feed, post) deliveries checked\n", checked);
    /* And the reads agree with the oracle. */
    odb_walk_opts_t o = { .limit = 50, .hydrate = true };
    for (int64_t u = 1; u <= NUSERS; u += 7)
        if (odb_check_user(f->pg, f->c, u, &o, NULL, err, sizeof err) != 0)
            fail_msg("user %" PRId64 ": %s", u, err);
    odb_posts_free(&published);
    f->finished = true;
}

/* "HH:MM-HH:MM" for [now + from, now + to) minutes, local time. */
static void window_from_now(int from, int to, char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    int m = tm.tm_hour * 60 + tm.tm_min;
    int a = ((m + from) % 1440 + 1440) % 1440, b = ((m + to) % 1440 + 1440) % 1440;
    snprintf(out, cap, "%02d:%02d-%02d:%02d", a / 60, a % 60, b / 60, b % 60);
}

static int seconds_into_minute(void)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    return tm.tm_sec;
}

static int run_status(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A daemon of warm_window's own, on f->prefix, warming inside `window`. */
static harness_daemon_t *start_windowed(const fixture_t *f, const char *window, fc_client_t **c)
{
    const char *const extra[] = { "--warm-window", window, NULL };
    return fixture_daemon_start(f->prefix, extra, c);
}

static void warm_window(void **state)
{
    fixture_t *f = *state;          /* data only: this test runs its own daemons */
    fixture_next_prefix(f);
    const int64_t ids[] = { 1, 2, 3, 4, 5 };
    char job[64], past[16], now[16], soon[16];
    int64_t users;
    status_t s;

    /* A window that ended a minute ago: the job waits, paused. */
    window_from_now(-3, -1, past, sizeof past);
    fc_client_t *ca;
    harness_daemon_t *a = start_windowed(f, past, &ca);
    assert_non_null(a);
    warm_ids(ca, ids, 5, 100, job, &users);
    assert_int_equal(users, 5);
    get_status(ca, job, &s);
    assert_string_equal(s.state, "paused");
    odb_sleep_ms(1500);
    get_status(ca, job, &s);
    assert_string_equal(s.state, "paused");
    assert_int_equal(s.done, 0);
    assert_false(feed_exists(f, 1));

    /* Another instance (same Redis and prefix) sees the job's state, and
     * its own window (containing now) lets its jobs run. */
    window_from_now(-1, 5, now, sizeof now);
    fc_client_t *cb;
    harness_daemon_t *b = start_windowed(f, now, &cb);
    assert_non_null(b);
    get_status(cb, job, &s);
    assert_string_equal(s.state, "paused");
    assert_int_equal(s.total, 5);

    /* Stopping A marks its job failed, "shutdown"; B reads that. */
    fc_client_close(ca);
    assert_int_equal(harness_daemon_finish(a, true), 0);
    get_status(cb, job, &s);
    assert_string_equal(s.state, "failed");
    assert_string_equal(s.error, "shutdown");

    char job_b[64];
    warm_ids(cb, ids, 5, 100, job_b, &users);
    wait_job(cb, job_b, 10000, &s);
    assert_string_equal(s.state, "finished");
    for (int i = 0; i < 5; i++)
        assert_true(feed_exists(f, ids[i]));
    fc_client_close(cb);
    assert_int_equal(harness_daemon_finish(b, true), 0);

    /* A window that opens at the next minute: paused now, then resumed and
     * finished once the minute turns (at most a minute of waiting). */
    char err[512];
    assert_int_equal(odb_redis_flushdb(fixture_env(), err, sizeof err), 0);
    if (seconds_into_minute() >= 55)
        odb_sleep_ms(6000);
    window_from_now(1, 10, soon, sizeof soon);
    fc_client_t *cc;
    harness_daemon_t *c = start_windowed(f, soon, &cc);
    assert_non_null(c);
    warm_ids(cc, ids, 5, 100, job, &users);
    get_status(cc, job, &s);
    assert_string_equal(s.state, "paused");
    printf("window: %s, job paused; waiting for the window to open\n", soon);
    wait_job(cc, job, 75000, &s);
    assert_string_equal(s.state, "finished");
    assert_int_equal(s.done, 5);
    assert_true(feed_exists(f, 3));
    fc_client_close(cc);
    assert_int_equal(harness_daemon_finish(c, true), 0);

    /* A bad window stops start-up with status 2. */
    const char *exe = getenv("FEEDCACHED");
    assert_non_null(exe);
    static const char *const bad[] = { "25:00-01:00", "02:00-02:00", "2:00-05:00", "02:00",
                                       "02:60-03:00", "02:00-03:00x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cmd[1024];
        /* timeout: a window wrongly accepted would start a daemon. */
        snprintf(cmd, sizeof cmd, "timeout 20 '%s' --warm-window '%s' --listen 127.0.0.1:1 "
                 "--metrics-listen off >/dev/null 2>&1", exe, bad[i]);
        int st = run_status(cmd);
        if (st != 2)
            fail_msg("--warm-window %s: exit status %d, expected 2", bad[i], st);
    }
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(warm_bad_args, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_unknown_job, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_status_of_dead_instance, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_by_ids, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_by_activity, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_by_activity_pages, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_pacing, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_yields_when_busy, setup_debug, fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_keeps_existing_feed, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(read_slides_the_ttl_and_remembers_it, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_races_fanout, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(warm_window, setup_data, fixture_teardown),
    };
    const char *filter = getenv("FEEDCACHE_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, fixture_group_teardown);
}
