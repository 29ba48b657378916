/* Fault tests: read-your-writes under a fan-out backlog (issue 9, item 9),
 * and SIGTERM during that backlog (item "SIGTERM during each").
 *
 *   ryw_backlog   PostgreSQL paused (SIGSTOP), so the fan-out worker cannot
 *                 page followers and 2,000 jobs of a filler author queue up.
 *                 Then each of 5 authors publishes and at once reads their
 *                 own timeline: their post must be on the first page
 *                 (docs/PROTOCOL.md, "Read-your-writes": "however long the
 *                 fan-out queue is").
 *   ryw_sigterm   the same backlog; SIGTERM: exit 0 within 10 s; PostgreSQL
 *                 resumed and feedcached restarted on the same address: every
 *                 published post reaches every follower's existing feed.
 *
 * Own Redis + PostgreSQL per test (faults.h). FEEDCACHE_TEST_FILTER picks
 * one test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"

#define NAUTHORS 5
#define FILLER 100           /* the author whose posts make the backlog */
#define NFOLLOWERS 10        /* users 101..110 follow FILLER and every author */
#define NBACKLOG 2000
#define BASE_MS INT64_C(1700000000000)

/* The backlog is 2,000 publishes pipelined at once on one connection: with
 * the default adaptive admission most would be shed (OVERLOADED), which is
 * right for a burst but not what this test is about. */
static const char *const daemon_flags[] = { "--feed-max", "5000", "--admission", "fixed", NULL };

static int64_t followers[NFOLLOWERS];

static void seed(faults_t *f)
{
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM "
                  "generate_series(1, %d) g", NAUTHORS);
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM "
                  "generate_series(%d, %d) g", FILLER, FILLER + NFOLLOWERS);
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) SELECT f, a FROM "
                  "generate_series(%d, %d) f, (SELECT %d AS a UNION ALL SELECT generate_series(1, %d)) x",
               FILLER + 1, FILLER + NFOLLOWERS, FILLER, NAUTHORS);
    /* A few old posts each. */
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 1000 * a + k, a, "
                  "'epoch'::timestamptz + (%" PRId64 " + 1000 * a + k) * interval '1 millisecond', "
                  "'old ' || a || '/' || k FROM (SELECT generate_series(1, %d) AS a UNION ALL "
                  "SELECT %d) x, generate_series(1, 3) k", BASE_MS, NAUTHORS, FILLER);
    for (int i = 0; i < NFOLLOWERS; i++)
        followers[i] = FILLER + 1 + i;
}

/* Feeds for everyone (reads rebuild them), and the follower counts cached
 * (one publish per author, PostgreSQL up), fan-out settled. */
static void warm_up(faults_t *f)
{
    char err[512], mode[16];
    int64_t ids[32];
    size_t n;
    for (int64_t u = 1; u <= NAUTHORS; u++)
        if (faults_read(f->c, u, 10, ids, 32, &n, NULL, err, sizeof err) != 0)
            fail_msg("warm-up read: %s", err);
    for (int i = 0; i < NFOLLOWERS; i++)
        if (faults_read(f->c, followers[i], 10, ids, 32, &n, NULL, err, sizeof err) != 0)
            fail_msg("warm-up read: %s", err);
    int64_t authors[NAUTHORS + 1];
    for (int i = 0; i < NAUTHORS; i++)
        authors[i] = i + 1;
    authors[NAUTHORS] = FILLER;
    for (int i = 0; i <= NAUTHORS; i++) {
        int64_t id = 500000 + authors[i];
        faults_insert_post(f, id, authors[i], BASE_MS + 500000 + i);
        faults_publish_ok(f->c, id, authors[i], BASE_MS + 500000 + i, mode);
        assert_string_equal(mode, "fanout");
    }
    faults_wait_settled(f->c, 15000);
}

/* PostgreSQL rows for the backlog and the authors' posts, then PostgreSQL
 * paused and NBACKLOG filler posts published (pipelined). */
static void make_backlog(faults_t *f)
{
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 1000000 + g, %d, "
                  "'epoch'::timestamptz + (%" PRId64 " + 1000000 + g) * interval '1 millisecond', "
                  "'post ' || (1000000 + g) FROM generate_series(1, %d) g",
               FILLER, BASE_MS, NBACKLOG);
    for (int64_t a = 1; a <= NAUTHORS; a++)
        faults_insert_post(f, 2000000 + a, a, BASE_MS + 2000000 + a);

    faults_pg_pause(&f->s);
    fc_client_set_cork(f->c, true);
    for (int i = 1; i <= NBACKLOG; i++) {
        fc_params_t p;
        char body[32];
        snprintf(body, sizeof body, "post %d", 1000000 + i);
        fc_params_init(&p);
        fc_params_int(&p, "id", 1000000 + i);
        fc_params_int(&p, "author_id", FILLER);
        fc_params_int(&p, "created_at", BASE_MS + 1000000 + i);
        fc_params_str(&p, "body", body);
        assert_int_equal(fc_client_send(f->c, "post.publish", &p, NULL), FC_OK);
        fc_params_free(&p);
    }
    fc_client_set_cork(f->c, false);
    assert_int_equal(fc_client_flush(f->c), FC_OK);
    int failed = 0;
    char first[320] = "";
    for (int i = 0; i < NBACKLOG; i++) {
        fc_response_t r;
        if (fc_client_recv(f->c, &r) != FC_OK)
            fail_msg("backlog publish: no answer: %s", fc_client_error(f->c));
        if (!r.ok && failed++ == 0)
            snprintf(first, sizeof first, "%s: %s", r.code, r.message);
        fc_response_free(&r);
    }
    if (failed)
        fail_msg("%d of %d backlog publishes failed, the first with %s", failed, NBACKLOG, first);
    long long queued = faults_stream_len(f->r);
    printf("backlog: %d posts published with PostgreSQL paused; fan-out stream holds %lld\n",
           NBACKLOG, queued);
    assert_true(queued >= NBACKLOG / 2);
}

static void ryw_backlog(void **state)
{
    faults_t *f = *state;
    seed(f);
    faults_start(f, daemon_flags);
    warm_up(f);
    make_backlog(f);

    int missed = 0;
    char report[1024] = "";
    for (int64_t a = 1; a <= NAUTHORS; a++) {
        char mode[16], err[512], source[16];
        int64_t ids[32];
        size_t n;
        int64_t post = 2000000 + a;
        faults_publish_ok(f->c, post, a, BASE_MS + 2000000 + a, mode);
        if (faults_read(f->c, a, 10, ids, 32, &n, source, err, sizeof err) != 0)
            fail_msg("author %" PRId64 " reading their own timeline: %s", a, err);
        if (!faults_ids_have(ids, n, post)) {
            missed++;
            size_t used = strlen(report);
            snprintf(report + used, sizeof report - used,
                     "\n  author %" PRId64 " (mode %s): post %" PRId64 " not on the first page "
                     "(source %s, newest %" PRId64 ")", a, mode, post, source, n ? ids[0] : 0);
        }
    }
    printf("read-your-writes with %lld jobs queued: %d of %d authors missed their own post\n",
           faults_stream_len(f->r), missed, NAUTHORS);
    faults_pg_resume(&f->s);
    if (missed)
        fail_msg("%d of %d authors did not see their own post on the first read after "
                 "post.publish, with %d fan-out jobs queued:%s", missed, NAUTHORS, NBACKLOG,
                 report);
    f->finished = true;
}

static void ryw_sigterm(void **state)
{
    faults_t *f = *state;
    seed(f);
    faults_start(f, daemon_flags);
    char listen[160], mlisten[160];
    snprintf(listen, sizeof listen, "%s", f->d->addr);
    snprintf(mlisten, sizeof mlisten, "%s", f->d->metrics_addr);
    warm_up(f);
    make_backlog(f);
    char mode[16];
    for (int64_t a = 1; a <= NAUTHORS; a++)
        faults_publish_ok(f->c, 2000000 + a, a, BASE_MS + 2000000 + a, mode);

    /* SIGTERM with the backlog stuck behind the paused PostgreSQL. */
    fc_client_close(f->c);
    f->c = NULL;
    long long took;
    int st = faults_sigterm(f->d, 10000, &took);
    printf("SIGTERM with %lld jobs queued and PostgreSQL paused: status %d after %lld ms\n",
           faults_stream_len(f->r), st, took);
    if (st != 0) {
        harness_daemon_dump_log(f->d, "SIGTERM");
        fail_msg("feedcached did not exit 0 within 10 s of SIGTERM: status %d after %lld ms", st,
                 took);
    }
    harness_daemon_free(f->d);
    f->d = NULL;

    /* Back: PostgreSQL, and feedcached on the same address (same consumer). */
    faults_pg_resume(&f->s);
    const char *const again[] = { "--feed-max", "5000", "--admission", "fixed", "--listen", listen,
                                  "--metrics-listen", mlisten, NULL };
    faults_start(f, again);
    int64_t posts[NBACKLOG + NAUTHORS];
    for (int i = 0; i < NBACKLOG; i++)
        posts[i] = 1000000 + i + 1;
    for (int a = 0; a < NAUTHORS; a++)
        posts[NBACKLOG + a] = 2000000 + a + 1;
    char err[512];
    long long t0 = faults_now_ms();
    size_t missing = faults_wait_delivered(f->r, followers, NFOLLOWERS, posts,
                                           NBACKLOG + NAUTHORS, 60000, err, sizeof err);
    printf("after restart: %zu (feed, post) deliveries missing after %lld ms\n", missing,
           faults_now_ms() - t0);
    if (missing)
        fail_msg("%zu deliveries lost after SIGTERM and restart; e.g. %s", missing, err);
    /* The authors' own feeds too. */
    for (int64_t a = 1; a <= NAUTHORS; a++)
        if (!faults_feed_has(f->r, a, 2000000 + a))
            fail_msg("author %" PRId64 ": own post missing from their feed after restart", a);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ryw_backlog, faults_setup, faults_teardown),
        cmocka_unit_test_setup_teardown(ryw_sigterm, faults_setup, faults_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
