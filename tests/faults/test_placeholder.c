/* Fault test: readers keep an orphaned "building" placeholder alive (issue 9,
 * item 6).
 *
 *   placeholder_orphan   a home feed left as a dead rebuilder leaves it
 *                        (docs/DATA_MODEL.md: zset PREFIXhome:{U} with "s"
 *                        score -3 and "b:<token>" score -4, PEXPIRE 10000),
 *                        then that user reads for 12 s: while the placeholder
 *                        is there its TTL never exceeds the build TTL (10 s)
 *                        (today every read sends PEXPIRE feed_ttl); it is
 *                        gone 10.5 s after it was made; every read succeeds.
 *
 * Own Redis + PostgreSQL (faults.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"

#define USER 7
#define BUILD_TTL_MS 10000
#define TOKEN "b:deadbeefdeadbeef"
#define READ_FOR_MS 12000

typedef struct {
    const harness_daemon_t *d;
    long long until_ms;
    int reads, failed;
    char first_error[600];
} reader_t;

static void *reader(void *arg)
{
    reader_t *rd = arg;
    char err[512];
    fc_client_t *c = harness_connect(rd->d, FAULTS_RPC_TIMEOUT_MS, err, sizeof err);
    if (!c) {
        rd->failed++;
        snprintf(rd->first_error, sizeof rd->first_error, "connect: %.300s", err);
        return NULL;
    }
    fc_client_set_timeout(c, FAULTS_RPC_TIMEOUT_MS);
    while (faults_now_ms() < rd->until_ms) {
        int64_t ids[16];
        size_t n;
        rd->reads++;
        if (faults_read(c, USER, 10, ids, 16, &n, NULL, err, sizeof err) != 0 &&
            rd->failed++ == 0)
            snprintf(rd->first_error, sizeof rd->first_error, "%s", err);
        faults_sleep_ms(50);
    }
    fc_client_close(c);
    return NULL;
}

static void placeholder_orphan(void **state)
{
    faults_t *f = *state;
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM generate_series(1, 9) g");
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) VALUES (%d, 8), (%d, 9)", USER,
               USER);
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 100 + g, 7 + g %% 3, "
                  "'epoch'::timestamptz + (1700000000000 + g) * interval '1 millisecond', "
                  "'p' || g FROM generate_series(1, 30) g");
    faults_start(f, NULL);

    char k[128];
    faults_key(k, sizeof k, "home:", USER);
    redisReply *rep = redisCommand(f->r, "ZADD %s -3 s -4 %s", k, TOKEN);
    freeReplyObject(rep);
    rep = redisCommand(f->r, "PEXPIRE %s %d", k, BUILD_TTL_MS);
    freeReplyObject(rep);
    long long t0 = faults_now_ms();

    reader_t rd = { .d = f->d, .until_ms = t0 + READ_FOR_MS };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader, &rd), 0);

    long long max_pttl = -3, max_at = 0, gone_at = -1, still_at_deadline = -1;
    int samples = 0;
    while (faults_now_ms() < rd.until_ms) {
        redisAppendCommand(f->r, "ZSCORE %s %s", k, TOKEN);
        redisAppendCommand(f->r, "PTTL %s", k);
        redisReply *tok = NULL, *pttl = NULL;
        if (redisGetReply(f->r, (void **)&tok) != REDIS_OK ||
            redisGetReply(f->r, (void **)&pttl) != REDIS_OK)
            fail_msg("Redis: %s", f->r->errstr);
        long long now = faults_now_ms();
        bool ours = tok->type == REDIS_REPLY_STRING;
        if (ours) {
            samples++;
            if (pttl->integer > max_pttl) {
                max_pttl = pttl->integer;
                max_at = now - t0;
            }
            if (now - t0 > BUILD_TTL_MS + 500 && still_at_deadline < 0)
                still_at_deadline = pttl->integer;
        } else if (gone_at < 0) {
            gone_at = now - t0;
        }
        freeReplyObject(tok);
        freeReplyObject(pttl);
        faults_sleep_ms(25);
    }
    pthread_join(th, NULL);
    printf("orphaned placeholder: %d reads (%d failed) in %d ms; max PTTL while it was there "
           "%lld ms (at +%lld ms, %d samples); gone at +%lld ms\n", rd.reads, rd.failed,
           READ_FOR_MS, max_pttl, max_at, samples, gone_at);
    if (max_pttl > BUILD_TTL_MS)
        fail_msg("a reader extended the orphaned placeholder's TTL: PTTL %lld ms at +%lld ms, "
                 "above the build TTL %d ms", max_pttl, max_at, BUILD_TTL_MS);
    if (still_at_deadline >= 0 || gone_at < 0)
        fail_msg("the orphaned placeholder outlived its build TTL: still there %d ms after it "
                 "was made (PTTL %lld)", BUILD_TTL_MS + 500, still_at_deadline);
    if (rd.reads == 0 || rd.failed)
        fail_msg("%d of %d reads of user %d failed; the first: %s", rd.failed, rd.reads, USER,
                 rd.first_error);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(placeholder_orphan, faults_setup, faults_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
