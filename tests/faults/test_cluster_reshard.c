/* Cluster fault test: live slot migration (issue 11).
 *
 *   cluster_reshard   feedcached on a private 3+3 Redis Cluster; 1,500 users
 *        following 10 of 150 authors each, every home feed built. While a
 *        writer publishes (PostgreSQL first, then post.publish) and a reader
 *        reads timelines, `redis-cli --cluster reshard` moves 1,500 slots
 *        from the master of slot 0 to the master of slot 8000, then 1,500
 *        from the master of slot 16000 to the master of slot 0: keys move
 *        one slot at a time with MIGRATE, so the daemon meets ASK (a slot
 *        half moved) and MOVED (a slot moved) on reads, on fan-out writes
 *        and on its fan-out stream (its redirect counters must show some).
 *        Required: no call fails (a call answered
 *        OVERLOADED/UNAVAILABLE may be retried after its retry_after_ms
 *        within 2 s: callers would), and afterwards, once fan-out settled,
 *        every timeline equals the SQL oracle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>

#include "faults_cluster.h"

#define NUSERS 1500
#define NAUTHORS 150
#define BASE_MS INT64_C(1700000000000)
#define SLOTS_MOVED 1500

static void cluster_reshard(void **state)
{
    fcl_t *cl = *state;
    faults_t *f = cl->f;
    const char *const extra[] = { "--celebrity-threshold", "100000", NULL };
    faults_start(f, extra);
    fcl_world(cl, f->c, NUSERS, NAUTHORS, 10, 3, BASE_MS);

    ftraffic_t t = {
        .addr = f->d->addr, .pg_conninfo = f->s.pg_conninfo, .nusers = NUSERS,
        .nauthors = NAUTHORS, .first_id = 5000000, .base_ms = BASE_MS + 100000000,
        .call_deadline_ms = 2000, .pause_ms = 5,
    };
    ftraffic_start(&t);
    ftraffic_wait(&t, 20, 10000);      /* both threads are going */
    int a = fcl_master_of_slot(cl, 0), b = fcl_master_of_slot(cl, 8000);
    int c = fcl_master_of_slot(cl, 16000);
    fcl_reshard(cl, a, b, SLOTS_MOVED);
    ftraffic_wait(&t, 20, 10000);
    fcl_reshard(cl, c, a, SLOTS_MOVED);
    ftraffic_wait(&t, 20, 10000);      /* and still going after both */
    ftraffic_stop(&t, "reshard");
    /* The daemon really met the moves (else this tested nothing). */
    double moved = faults_metric(f->d, "feedcache_redis_redirects_total{kind=\"moved\"}");
    double ask = faults_metric(f->d, "feedcache_redis_redirects_total{kind=\"ask\"}");
    fprintf(stderr, "redirects followed by feedcached: %.0f MOVED, %.0f ASK\n", moved, ask);
    assert_true(moved + ask > 0);

    faults_wait_settled(f->c, 30000);
    size_t differ = fcl_check_all(cl, f->c, NUSERS, "after reshard");
    assert_int_equal(atomic_load(&t.publish_failures), 0);
    assert_int_equal(atomic_load(&t.read_failures), 0);
    assert_int_equal(differ, 0);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cluster_reshard, fcl_setup, fcl_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
