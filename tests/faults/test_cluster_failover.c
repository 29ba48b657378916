/* Cluster fault test: failover under traffic (issue 11).
 *
 *   cluster_failover   feedcached on a private 3+3 Redis Cluster (node
 *        timeout 1 s); 1,000 users following 10 of 100 authors each, every
 *        home feed built; a writer publishes (PostgreSQL first, then
 *        post.publish, retried like the timeline API would for up to 8 s)
 *        and a reader reads timelines throughout.
 *        1. `CLUSTER FAILOVER` on the replica of the master of slot 0 (a
 *           planned switch): the traffic goes on, no call fails.
 *        2. `kill -9` of the master of slot 8000: its replica takes over
 *           after the node timeout. Reads of 30 users whose home feeds live
 *           on that master must be served from Redis again (source not
 *           "db", not degraded) within 5 s of the kill, for three rounds in
 *           a row; no attempt of a traffic call may fail later than 5 s
 *           after the kill, and no publish may fail for good (retried).
 *        Afterwards, once fan-out settled, every timeline equals the SQL
 *        oracle: no published post is missing from a follower's timeline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "faults_cluster.h"

#define NUSERS 1000
#define NAUTHORS 100
#define BASE_MS INT64_C(1700000000000)
#define PROBES 30
#define RECOVERY_MS 5000

/* timeline.get answered from Redis: ok, not degraded, source not "db". */
static bool served_from_redis(fc_client_t *c, int64_t user, char *why, size_t len)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", user);
    fc_params_int(&p, "limit", 10);
    fc_response_t r;
    int rc = fc_client_call(c, "timeline.get", &p, &r);
    fc_params_free(&p);
    if (rc != FC_OK) {
        snprintf(why, len, "user %" PRId64 ": no answer: %s", user, fc_client_error(c));
        return false;
    }
    bool degraded = false;
    bool ok = r.ok;
    if (!ok)
        snprintf(why, len, "user %" PRId64 ": %s: %s", user, r.code, r.message);
    if (ok && (fc_obj_bool(fc_obj_get(&r.result, "degraded"), &degraded) != 0 || degraded ||
               fc_obj_str_eq(fc_obj_get(&r.result, "source"), "db"))) {
        snprintf(why, len, "user %" PRId64 ": served from PostgreSQL (degraded %s)", user,
                 degraded ? "true" : "false");
        ok = false;
    }
    fc_response_free(&r);
    return ok;
}

/* Users whose home feed lives on the master on `port`. */
static size_t users_on(fcl_t *cl, int port, int64_t *out, size_t cap)
{
    size_t n = 0;
    for (int64_t u = 1; u <= NUSERS && n < cap; u++) {
        char key[64];
        faults_key(key, sizeof key, "home:", u);
        if (fcl_master_of_slot(cl, rdirect_slot(key, strlen(key))) == port)
            out[n++] = u;
    }
    return n;
}

static void cluster_failover(void **state)
{
    fcl_t *cl = *state;
    faults_t *f = cl->f;
    const char *const extra[] = { "--celebrity-threshold", "100000", NULL };
    faults_start(f, extra);
    fcl_world(cl, f->c, NUSERS, NAUTHORS, 10, 3, BASE_MS);

    ftraffic_t t = {
        .addr = f->d->addr, .pg_conninfo = f->s.pg_conninfo, .nusers = NUSERS,
        .nauthors = NAUTHORS, .first_id = 5000000, .base_ms = BASE_MS + 100000000,
        .call_deadline_ms = 8000, .pause_ms = 5,
    };
    ftraffic_start(&t);
    ftraffic_wait(&t, 20, 10000);

    /* 1. A planned failover. */
    int m0 = fcl_master_of_slot(cl, 0);
    fcl_failover(cl, fcl_replica_of(cl, m0));
    ftraffic_wait(&t, 20, 10000);

    /* 2. A master dies. */
    int victim = fcl_master_of_slot(cl, 8000);
    int64_t probes[PROBES];
    size_t nprobes = users_on(cl, victim, probes, PROBES);
    assert_int_equal(nprobes, PROBES);
    char err[512];
    fc_client_t *probe = harness_connect(f->d, 5000, err, sizeof err);
    if (!probe)
        fail_msg("%s", err);
    fc_client_set_timeout(probe, 2000);
    /* A planned failover loses nothing and fails nothing. */
    long failed_before_kill = atomic_load(&t.read_failures) + atomic_load(&t.publish_failures);
    long long killed_at = faults_now_ms();
    fcl_kill(cl, victim);
    long long last_bad = killed_at;
    int good_rounds = 0;
    char why[512] = "";
    while (good_rounds < 3 && faults_now_ms() - killed_at < 3 * RECOVERY_MS) {
        bool all = true;
        for (size_t i = 0; i < nprobes && all; i++)
            all = served_from_redis(probe, probes[i], why, sizeof why);
        if (all) {
            good_rounds++;
        } else {
            good_rounds = 0;
            last_bad = faults_now_ms();
            faults_sleep_ms(20);     /* a round again, not a busy loop */
        }
    }
    fc_client_close(probe);
    long long recovered_ms = last_bad - killed_at;
    fprintf(stderr, "master 127.0.0.1:%d killed: reads of its users served from Redis again "
            "after %lld ms (cluster ok after %lld ms more)%s%s\n", victim, recovered_ms,
            fcl_wait_ok(cl, 10000), why[0] ? "; last failure: " : "", why);
    ftraffic_wait(&t, 20, 10000);
    ftraffic_stop(&t, "failover");

    assert_int_equal(failed_before_kill, 0);
    assert_int_equal(good_rounds, 3);
    assert_true(recovered_ms <= RECOVERY_MS);
    assert_int_equal(atomic_load(&t.publish_failures), 0);
    if (t.last_failure_ms > killed_at + RECOVERY_MS)
        fail_msg("a call failed %lld ms after the kill: %s", t.last_failure_ms - killed_at,
                 t.first_failure);
    faults_wait_settled(f->c, 30000);
    assert_int_equal(fcl_check_all(cl, f->c, NUSERS, "after failover"), 0);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cluster_failover, fcl_setup, fcl_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
