/* Fault tests: Redis restarted empty under read load, the cold-start
 * stampede (issue 9, item 7).
 *
 * 2,000 users following 8 others each, 20,000 posts. 64 reader threads, one
 * RPC connection each, each cycling over 30 users of its own (distinct
 * users: every read after the restart is a rebuild); a reader told
 * UNAVAILABLE waits retry_after_ms (at most 1 s), as a client should. After
 * 3 s of load, Redis is killed and started again empty (1 s down), and the
 * load goes on for 8 s. Sampled every ~20 ms throughout: PostgreSQL
 * connections of the database (pg_stat_activity, our own excluded).
 *
 *   stampede_pool       --pg-pool 4: PostgreSQL connections never exceed 4;
 *                       reads recover: every reader succeeds again, and 99%
 *                       of the reads started 5 s or more after Redis came
 *                       back succeed.
 *   stampede_rebuild_cap  --pg-pool 4 --max-rebuilds 2 (new setting), the same
 *                       load, also sampling /metrics: the gauge
 *                       feedcache_rebuilds_inflight never exceeds 2 (absent:
 *                       fails), feedcache_rebuilds_shed_total is exported, and
 *                       the same recovery.
 *
 * Own Redis + PostgreSQL per test (faults.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"

#define NUSERS 2000
#define NREADERS 64
#define PER_READER 30
#define PG_POOL 4
#define MAX_REBUILDS 2
#define WARM_MS 3000
#define DOWN_MS 1000
#define AFTER_MS 8000
#define RECOVER_MS 5000

static long long g_up_ms;     /* when Redis answered again; 0 before */
static int g_stop;

typedef struct {
    const harness_daemon_t *d;
    int idx;
    int ok, failed;
    int late_ok, late_failed;          /* reads started >= RECOVER_MS after g_up_ms */
    long long first_ok_after_up;       /* ms after g_up_ms; -1 none */
    char first_error[400];
} reader_t;

static void *reader(void *arg)
{
    reader_t *rd = arg;
    char err[512];
    rd->first_ok_after_up = -1;
    fc_client_t *c = harness_connect(rd->d, FAULTS_RPC_TIMEOUT_MS, err, sizeof err);
    if (!c) {
        rd->failed++;
        snprintf(rd->first_error, sizeof rd->first_error, "connect: %.300s", err);
        return NULL;
    }
    fc_client_set_timeout(c, FAULTS_RPC_TIMEOUT_MS);
    fc_params_t p;
    fc_params_init(&p);
    for (int i = 0; !__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE); i++) {
        int64_t user = 1 + rd->idx * PER_READER + i % PER_READER;
        fc_params_reset(&p);
        fc_params_int(&p, "user_id", user);
        fc_params_int(&p, "limit", 20);
        long long up = __atomic_load_n(&g_up_ms, __ATOMIC_ACQUIRE);
        long long started = faults_now_ms();
        bool late = up && started - up >= RECOVER_MS;
        fc_response_t r;
        int rc = fc_client_call(c, "timeline.get", &p, &r);
        int64_t retry = 0;
        if (rc == FC_OK && r.ok) {
            rd->ok++;
            rd->late_ok += late;
            if (up && rd->first_ok_after_up < 0 && started >= up)
                rd->first_ok_after_up = faults_now_ms() - up;
        } else {
            rd->failed++;
            rd->late_failed += late;
            if (late && !rd->first_error[0])
                snprintf(rd->first_error, sizeof rd->first_error, "user %" PRId64 ": %s%s%s",
                         user, rc == FC_OK ? r.code : "no answer: ",
                         rc == FC_OK ? ": " : "",
                         rc == FC_OK ? r.message : fc_client_error(c));
            if (rc == FC_OK)
                retry = r.retry_after_ms;
            if (rc != FC_OK) {
                /* A dropped connection: reconnect, as a client would. */
                fc_client_close(c);
                faults_sleep_ms(100);
                c = harness_connect(rd->d, FAULTS_RPC_TIMEOUT_MS, err, sizeof err);
                if (!c)
                    break;
                fc_client_set_timeout(c, FAULTS_RPC_TIMEOUT_MS);
                continue;
            }
        }
        if (rc == FC_OK)
            fc_response_free(&r);
        if (retry > 0)
            faults_sleep_ms(retry > 1000 ? 1000 : (int)retry);
    }
    fc_params_free(&p);
    if (c)
        fc_client_close(c);
    return NULL;
}

static void seed(faults_t *f)
{
    faults_sql(f, "INSERT INTO users (id, handle) SELECT g, 'u' || g FROM "
                  "generate_series(1, %d) g", NUSERS);
    faults_sql(f, "INSERT INTO follows (follower_id, followee_id) SELECT DISTINCT u, "
                  "1 + (u * 7 + k * 131) %% %d FROM generate_series(1, %d) u, "
                  "generate_series(1, 8) k WHERE 1 + (u * 7 + k * 131) %% %d <> u",
               NUSERS, NUSERS, NUSERS);
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT g, 1 + g %% %d, "
                  "'epoch'::timestamptz + (1700000000000 + g * 10) * interval '1 millisecond', "
                  "'post ' || g FROM generate_series(1, 20000) g", NUSERS);
    faults_sql(f, "ANALYZE");
}

typedef struct {
    int max_pg;
    double max_inflight;
    bool inflight_absent;
    int samples;
} samples_t;

static void sample(faults_t *f, PGconn *probe, bool metrics, samples_t *s)
{
    /* feedcached's connections: the test's own two are left out. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'feedcache' "
             "AND pid NOT IN (pg_backend_pid(), %d)", f->pg ? PQbackendPID(f->pg) : 0);
    PGresult *res = PQexec(probe, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        int n = atoi(PQgetvalue(res, 0, 0));
        if (n > s->max_pg)
            s->max_pg = n;
    }
    PQclear(res);
    if (metrics) {
        double v = faults_metric(f->d, "feedcache_rebuilds_inflight");
        if (isnan(v))
            s->inflight_absent = true;
        else if (v > s->max_inflight)
            s->max_inflight = v;
    }
    s->samples++;
}

static void run_stampede(faults_t *f, bool metrics)
{
    seed(f);
    PGconn *probe = PQconnectdb(f->s.pg_conninfo);
    assert_int_equal(PQstatus(probe), CONNECTION_OK);
    g_up_ms = 0;
    g_stop = 0;
    static reader_t rds[NREADERS];
    pthread_t th[NREADERS];
    memset(rds, 0, sizeof rds);
    for (int i = 0; i < NREADERS; i++) {
        rds[i].d = f->d;
        rds[i].idx = i;
        assert_int_equal(pthread_create(&th[i], NULL, reader, &rds[i]), 0);
    }
    samples_t s = { 0 };
    long long t = faults_now_ms();
    while (faults_now_ms() - t < WARM_MS) {
        sample(f, probe, metrics, &s);
        faults_sleep_ms(20);
    }
    faults_redis_kill(&f->s);
    t = faults_now_ms();
    while (faults_now_ms() - t < DOWN_MS) {
        sample(f, probe, metrics, &s);
        faults_sleep_ms(20);
    }
    faults_redis_start(&f->s);
    __atomic_store_n(&g_up_ms, faults_now_ms(), __ATOMIC_RELEASE);
    t = faults_now_ms();
    while (faults_now_ms() - t < AFTER_MS) {
        sample(f, probe, metrics, &s);
        faults_sleep_ms(20);
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(th[i], NULL);
    PQfinish(probe);

    int ok = 0, failed = 0, late_ok = 0, late_failed = 0, never = 0;
    long long slowest = 0;
    const char *example = NULL;
    for (int i = 0; i < NREADERS; i++) {
        ok += rds[i].ok;
        failed += rds[i].failed;
        late_ok += rds[i].late_ok;
        late_failed += rds[i].late_failed;
        if (rds[i].first_ok_after_up < 0)
            never++;
        else if (rds[i].first_ok_after_up > slowest)
            slowest = rds[i].first_ok_after_up;
        if (!example && rds[i].first_error[0])
            example = rds[i].first_error;
    }
    double shed = metrics ? faults_metric(f->d, "feedcache_rebuilds_shed_total") : NAN;
    printf("stampede: %d readers, %d reads ok, %d failed; reads started >= %d ms after Redis "
           "came back: %d ok, %d failed; slowest reader's first success after the restart: "
           "%lld ms (%d never); max PostgreSQL connections %d (pool %d); %d samples",
           NREADERS, ok, failed, RECOVER_MS, late_ok, late_failed, slowest, never, s.max_pg,
           PG_POOL, s.samples);
    if (metrics)
        printf("; max feedcache_rebuilds_inflight %s%.0f (cap %d); feedcache_rebuilds_shed_total "
               "%.0f", s.inflight_absent ? "ABSENT " : "", s.max_inflight, MAX_REBUILDS, shed);
    printf("\n");

    if (s.max_pg > PG_POOL)
        fail_msg("%d PostgreSQL connections at once, above --pg-pool %d", s.max_pg, PG_POOL);
    if (metrics && s.inflight_absent)
        fail_msg("/metrics has no feedcache_rebuilds_inflight gauge");
    if (metrics && s.max_inflight > MAX_REBUILDS)
        fail_msg("feedcache_rebuilds_inflight reached %.0f, above --max-rebuilds %d",
                 s.max_inflight, MAX_REBUILDS);
    if (metrics && isnan(shed))
        fail_msg("/metrics has no feedcache_rebuilds_shed_total counter");
    if (never)
        fail_msg("%d of %d readers never read successfully in the %d ms after Redis came back",
                 never, NREADERS, AFTER_MS);
    if (late_ok + late_failed == 0 || late_failed * 100 > late_ok + late_failed)
        fail_msg("reads did not recover: %d of %d reads started %d ms or more after Redis came "
                 "back failed; e.g. %s", late_failed, late_ok + late_failed, RECOVER_MS,
                 example ? example : "-");
}

static void stampede_pool(void **state)
{
    faults_t *f = *state;
    const char *const flags[] = { "--pg-pool", "4", NULL };
    faults_start(f, flags);
    run_stampede(f, false);
    f->finished = true;
}

static void stampede_rebuild_cap(void **state)
{
    faults_t *f = *state;
    const char *const flags[] = { "--pg-pool", "4", "--max-rebuilds", "2", NULL };
    faults_start(f, flags);
    run_stampede(f, true);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stampede_pool, faults_setup, faults_teardown),
        cmocka_unit_test_setup_teardown(stampede_rebuild_cap, faults_setup, faults_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
