/* Fault test: a missing follower count never means a guessed fan-out (issue 9, item 4).
 *
 *   fcount_missing_no_guess   --celebrity-threshold 1000; author 1 has 2,000
 *        followers (rows in follows), 20 of them with feeds. A first publish
 *        caches the count (celebrity); a follow drops it (as follow/unfollow
 *        do); then PostgreSQL is paused (SIGSTOP) so the count query cannot
 *        answer, and the author publishes. The publish must answer within
 *        8 s, either mode celebrity or an error, never "fanout"; the fan-out
 *        stream gets no 'p' job for the post; and after PostgreSQL resumes,
 *        none of the followers' feeds receives it (deliveries stay 0).
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
#define NFOLLOWERS 2000
#define NFEEDS 20
#define BASE_MS INT64_C(1700000000000)

static void fcount_missing_no_guess(void **state)
{
    faults_t *f = *state;
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM "
                  "generate_series(1, %d) g", NFOLLOWERS + 2);
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) SELECT g, %d FROM "
                  "generate_series(2, %d) g", AUTHOR, NFOLLOWERS + 1);
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 100 + g, %d, "
                  "'epoch'::timestamptz + (%" PRId64 " + g) * interval '1 millisecond', 'old' "
                  "FROM generate_series(1, 5) g", AUTHOR, BASE_MS);
    const char *const flags[] = { "--celebrity-threshold", "1000", NULL };
    faults_start(f, flags);

    char err[512], mode[16];
    int64_t ids[16], feeds[NFEEDS];
    size_t n;
    for (int i = 0; i < NFEEDS; i++) {
        feeds[i] = 2 + i * 97;
        if (faults_read(f->c, feeds[i], 10, ids, 16, &n, NULL, err, sizeof err) != 0)
            fail_msg("warm-up read: %s", err);
    }
    /* The count cached by a publish, then dropped by a follow. */
    faults_insert_post(f, 7001, AUTHOR, BASE_MS + 10000);
    faults_publish_ok(f->c, 7001, AUTHOR, BASE_MS + 10000, mode);
    assert_string_equal(mode, "celebrity");
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) VALUES (%d, %d)",
               NFOLLOWERS + 2, AUTHOR);
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "follower_id", NFOLLOWERS + 2);
    fc_params_int(&p, "followee_id", AUTHOR);
    fc_response_t r;
    assert_int_equal(fc_client_call(f->c, "follow", &p, &r), FC_OK);
    if (!r.ok)
        fail_msg("follow: %s: %s", r.code, r.message);
    fc_response_free(&r);
    fc_params_free(&p);
    char k[128];
    redisReply *rep = redisCommand(f->r, "DEL %s", faults_key(k, sizeof k, "fcount:", AUTHOR));
    freeReplyObject(rep);

    /* The count query cannot answer: PostgreSQL paused for the publish. */
    const int64_t post = 7002;
    faults_insert_post(f, post, AUTHOR, BASE_MS + 20000);
    faults_pg_pause(&f->s);
    long long t0 = faults_now_ms();
    faults_publish(f->c, post, AUTHOR, BASE_MS + 20000, &r);
    long long took = faults_now_ms() - t0;
    char answer[400];
    if (r.ok) {
        const char *s;
        size_t sl;
        mode[0] = '\0';
        if (fc_obj_str(fc_obj_get(&r.result, "mode"), &s, &sl) == 0 && sl < sizeof mode) {
            memcpy(mode, s, sl);
            mode[sl] = '\0';
        }
        snprintf(answer, sizeof answer, "ok, mode %s", mode);
    } else {
        snprintf(answer, sizeof answer, "%s: %s", r.code, r.message);
    }
    bool fanout = r.ok && strcmp(mode, "celebrity") != 0;
    fc_response_free(&r);
    size_t jobs = faults_stream_jobs(f->r, 'p', post);
    printf("publish with the follower count missing and PostgreSQL paused: %s after %lld ms; "
           "'p' jobs for the post: %zu\n", answer, took, jobs);

    faults_pg_resume(&f->s);
    faults_sleep_ms(3000);
    size_t delivered = faults_count_deliveries(f->r, feeds, NFEEDS, post);
    int64_t fanned = faults_stat(f->c, "fanout_deliveries");
    printf("after PostgreSQL resumed: post in %zu of %d followers' feeds; fanout_deliveries %"
           PRId64 "\n", delivered, NFEEDS, fanned);

    if (took > 8000)
        fail_msg("post.publish took %lld ms to answer with PostgreSQL paused", took);
    if (fanout)
        fail_msg("post.publish with the follower count unknown answered '%s': a full fan-out "
                 "was started on a guess for an author with %d followers", answer,
                 NFOLLOWERS + 1);
    if (jobs)
        fail_msg("the fan-out stream holds %zu 'p' job(s) for post %" PRId64 " (answer: %s)",
                 jobs, post, answer);
    if (delivered)
        fail_msg("post %" PRId64 " was fanned out to %zu of %d followers' feeds (answer: %s)",
                 post, delivered, NFEEDS, answer);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fcount_missing_no_guess, faults_setup, faults_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
