/* Shutdown with feed timers pending: SIGTERM while reads wait on timers of
 * the rebuild module must exit 0 and touch nothing freed (run under ASan by
 * scripts/test.sh, where a use after free aborts the daemon).
 *
 *   rebuild_poll_timer_at_shutdown   a home feed is left "building" by a
 *        rebuilder that died (the placeholder of docs/DATA_MODEL.md with
 *        another process's token); reads of that user poll every 20 ms for
 *        up to 3 s. SIGTERM while they poll, with a drain of 200 ms: exit 0
 *        within 10 s, and each read gets UNAVAILABLE (shutting down).
 *   shed_timer_at_shutdown           --max-rebuilds 1 and cold reads of
 *        many users: most rebuilds are shed and answered from a timer of
 *        the loop; SIGTERM in the middle: exit 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "redis_direct.h"

#define READERS 8

static char prefix[64];

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The server or cluster of FEEDCACHE_TEST_REDIS_URL. */
static rdirect_t *redis_connect(void)
{
    char err[512];
    rdirect_t *r = rdirect_open_env(err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    return r;
}

/* Sends a timeline.get for each user without waiting. */
static void send_reads(fc_client_t *c, int64_t first, int n)
{
    fc_client_set_cork(c, true);
    for (int i = 0; i < n; i++) {
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "user_id", first + i);
        assert_int_equal(fc_client_send(c, "timeline.get", &p, NULL), FC_OK);
        fc_params_free(&p);
    }
    fc_client_set_cork(c, false);
    assert_int_equal(fc_client_flush(c), FC_OK);
}

/* After our SIGTERM: exit 0 within 10 s (a crash, or an ASan report, is
 * not). Waits without signalling again: a second SIGTERM after the daemon
 * closed its signal handlers would end it with the default action. */
static void expect_clean_exit(harness_daemon_t *d)
{
    int st = harness_daemon_wait(d, 10000);
    if (st != 0) {
        harness_daemon_dump_log(d, "shutdown with timers pending");
        harness_daemon_free(d);
        fail_msg("feedcached exited with %d on SIGTERM, expected 0", st);
    }
    harness_daemon_free(d);
}

static void rebuild_poll_timer_at_shutdown(void **state)
{
    (void)state;
    /* A short drain: the reads are still polling when the backends close. */
    const char *const extra[] = { "--key-prefix", prefix, "--shutdown-timeout-ms", "200", NULL };
    char err[1024];
    harness_daemon_t *d = harness_daemon_start(extra, err, sizeof err);
    if (!d)
        fail_msg("%s", err);
    rdirect_t *r = redis_connect();
    for (int i = 0; i < READERS; i++) {
        redisReply *rep = rdirect_command(r, "ZADD %shome:{%d} -3 s -4 b:dead%d", prefix, 900 + i, i);
        freeReplyObject(rep);
        rep = rdirect_command(r, "PEXPIRE %shome:{%d} 10000", prefix, 900 + i);
        freeReplyObject(rep);
    }
    fc_client_t *c = harness_connect(d, 5000, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    send_reads(c, 900, READERS);
    sleep_ms(150);                   /* the reads are polling now */
    assert_true(harness_daemon_alive(d));
    assert_int_equal(harness_daemon_signal(d, SIGTERM), 0);
    int answered = 0, unavailable = 0;
    fc_response_t resp;
    while (answered < READERS && fc_client_recv(c, &resp) == FC_OK) {
        answered++;
        unavailable += !resp.ok && strcmp(resp.code, "UNAVAILABLE") == 0;
        fc_response_free(&resp);
    }
    fc_client_close(c);
    expect_clean_exit(d);
    printf("poll timers at shutdown: %d of %d reads answered, %d UNAVAILABLE\n", answered,
           READERS, unavailable);
    assert_int_equal(answered, READERS);
    assert_int_equal(unavailable, READERS);
    for (int i = 0; i < READERS; i++) {
        redisReply *rep = rdirect_command(r, "DEL %shome:{%d}", prefix, 900 + i);
        freeReplyObject(rep);
    }
    rdirect_close(r);
}

static void shed_timer_at_shutdown(void **state)
{
    (void)state;
    const char *const extra[] = { "--key-prefix", prefix, "--max-rebuilds", "1",
                                  "--shutdown-timeout-ms", "100", NULL };
    char err[1024];
    harness_daemon_t *d = harness_daemon_start(extra, err, sizeof err);
    if (!d)
        fail_msg("%s", err);
    fc_client_t *c = harness_connect(d, 5000, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    for (int round = 0; round < 20; round++)
        send_reads(c, 10000 + round * 50, 50);
    assert_int_equal(harness_daemon_signal(d, SIGTERM), 0);
    fc_client_close(c);
    expect_clean_exit(d);
}

int main(void)
{
    snprintf(prefix, sizeof prefix, "fcshut%d:", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rebuild_poll_timer_at_shutdown),
        cmocka_unit_test(shed_timer_at_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
