/* Fault test: the celebrity flag and its marker job are not atomic (issue 9,
 * item 5).
 *
 *   celebrity_flag_without_marker   --celebrity-threshold 3; author 1 has 3
 *        followers whose feeds exist. The flag is set by hand (SADD
 *        PREFIX{celebrities} 1) before the author's first celebrity publish:
 *        what a crash between the SADD and the XADD of the marker job
 *        leaves. Then the author publishes twice: every follower's timeline
 *        must show both posts within 5 s (today the retried publish sees
 *        SADD = 0 and never queues the marker, so followers never merge the
 *        author's posts).
 *   celebrity_crash_between_halves   the same world; the first celebrity
 *        publish runs with FC_FAULT=publish.marker_queued (util/fault.h): the
 *        process exits right after the marker job is in the stream and
 *        before it is recorded as queued. A second feedcached takes over:
 *        the marker job left in the stream is delivered, the next publish
 *        queues the marker again (harmless), and every follower sees both
 *        posts within 5 s. Needs a build with -Dfault_hooks=true.
 *
 * Own Redis + PostgreSQL (faults.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"

#define AUTHOR 1
#define NFOLLOWERS 3
#define BASE_MS INT64_C(1700000000000)

/* Author 1 with NFOLLOWERS followers (2..4), and author 5. */
static void load_world(faults_t *f)
{
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM generate_series(1, 5) g");
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) SELECT g, %d FROM "
                  "generate_series(2, %d) g", AUTHOR, 1 + NFOLLOWERS);
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) SELECT g, 5 FROM "
                  "generate_series(2, 4) g");
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 100 + g, "
                  "CASE WHEN g %% 2 = 0 THEN %d ELSE 5 END, 'epoch'::timestamptz + "
                  "(%" PRId64 " + g) * interval '1 millisecond', 'old ' || g "
                  "FROM generate_series(1, 20) g", AUTHOR, BASE_MS);
}

/* Reads every follower once, so that their feeds exist. */
static void warm_followers(faults_t *f, fc_client_t *c)
{
    char err[512];
    int64_t ids[32];
    size_t n;
    for (int i = 0; i < NFOLLOWERS; i++) {
        if (faults_read(c, 2 + i, 10, ids, 32, &n, NULL, err, sizeof err) != 0)
            fail_msg("warm-up read: %s", err);
        assert_true(faults_feed_exists(f->r, 2 + i));
    }
}

/* Every follower sees both posts within 5 s (markers are asynchronous). */
static void expect_followers_see(faults_t *f, const int64_t posts[2], const char *what)
{
    char err[512];
    int64_t ids[32];
    size_t n;
    long long deadline = faults_now_ms() + 5000;
    int missing = 0;
    char report[1024];
    for (;;) {
        missing = 0;
        report[0] = '\0';
        for (int i = 0; i < NFOLLOWERS; i++) {
            if (faults_read(f->c, 2 + i, 10, ids, 32, &n, NULL, err, sizeof err) != 0)
                fail_msg("read: %s", err);
            for (int j = 0; j < 2; j++)
                if (!faults_ids_have(ids, n, posts[j])) {
                    size_t used = strlen(report);
                    snprintf(report + used, sizeof report - used,
                             "\n  follower %d: post %" PRId64 " missing (newest %" PRId64 ")",
                             2 + i, posts[j], n ? ids[0] : 0);
                    missing++;
                }
        }
        if (missing == 0 || faults_now_ms() > deadline)
            break;
        faults_sleep_ms(200);
    }
    if (missing)
        fail_msg("%s: %d (follower, post) pairs missing from followers' timelines 5 s after "
                 "publish:%s", what, missing, report);
}

static void celebrity_flag_without_marker(void **state)
{
    faults_t *f = *state;
    load_world(f);
    const char *const flags[] = { "--celebrity-threshold", "3", NULL };
    faults_start(f, flags);
    warm_followers(f, f->c);

    /* The half of the celebrity step that a crash leaves behind. */
    char k[128];
    snprintf(k, sizeof k, "%s{celebrities}", FAULTS_PREFIX);
    redisReply *rep = redisCommand(f->r, "SADD %s %d", k, AUTHOR);
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);

    const int64_t posts[2] = { 9001, 9002 };
    for (int i = 0; i < 2; i++) {
        char mode[16];
        faults_insert_post(f, posts[i], AUTHOR, BASE_MS + 100000 + i);
        faults_publish_ok(f->c, posts[i], AUTHOR, BASE_MS + 100000 + i, mode);
        if (strcmp(mode, "celebrity") != 0)
            fail_msg("post %" PRId64 " by an author with %d followers, threshold 3: mode %s, "
                     "expected celebrity", posts[i], NFOLLOWERS, mode);
    }
    printf("flag set by hand; 2 celebrity posts published; marker jobs in the stream: %zu\n",
           faults_stream_jobs(f->r, 'm', 0));

    expect_followers_see(f, posts, "the celebrity flag was set without its marker job");
    f->finished = true;
}

static void celebrity_crash_between_halves(void **state)
{
    faults_t *f = *state;
    load_world(f);
    const char *const flags[] = { "--celebrity-threshold", "3", NULL };
    char err[1024];
    fc_client_t *c = NULL;
    setenv("FC_FAULT", "publish.marker_queued", 1);
    harness_daemon_t *d = faults_daemon_start(flags, &c, err, sizeof err);
    unsetenv("FC_FAULT");
    if (!d)
        fail_msg("%s", err);
    warm_followers(f, c);

    const int64_t posts[2] = { 9101, 9102 };
    faults_insert_post(f, posts[0], AUTHOR, BASE_MS + 200000);
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "id", posts[0]);
    fc_params_int(&p, "author_id", AUTHOR);
    fc_params_int(&p, "created_at", BASE_MS + 200000);
    fc_params_str(&p, "body", "post 9101");
    fc_response_t r;
    int rc = fc_client_call(c, "post.publish", &p, &r);
    fc_params_free(&p);
    if (rc == FC_OK) {
        bool ok = r.ok;
        fc_response_free(&r);
        fail_msg("the first celebrity publish was answered (%s): is this build without "
                 "-Dfault_hooks=true?", ok ? "ok" : "an error");
    }
    fc_client_close(c);
    int st = harness_daemon_wait(d, 5000);
    if (st != 86) {
        harness_daemon_dump_log(d, "fault point");
        fail_msg("feedcached ended with %d at the fault point, expected 86", st);
    }
    harness_daemon_free(d);
    printf("crashed between the marker job and its record: %zu marker job(s) in the stream\n",
           faults_stream_jobs(f->r, 'm', 0));

    /* The caller retries on another instance; then publishes again. */
    faults_start(f, flags);
    char mode[16];
    faults_publish_ok(f->c, posts[0], AUTHOR, BASE_MS + 200000, mode);
    faults_insert_post(f, posts[1], AUTHOR, BASE_MS + 200001);
    faults_publish_ok(f->c, posts[1], AUTHOR, BASE_MS + 200001, mode);
    if (strcmp(mode, "celebrity") != 0)
        fail_msg("mode %s, expected celebrity", mode);
    expect_followers_see(f, posts, "after a crash between the marker job and its record");
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(celebrity_flag_without_marker, faults_setup,
                                        faults_teardown),
        cmocka_unit_test_setup_teardown(celebrity_crash_between_halves, faults_setup,
                                        faults_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
