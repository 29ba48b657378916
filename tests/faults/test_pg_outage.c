/* Fault tests: a PostgreSQL outage with fan-out jobs pending (issue 9,
 * item 1), and SIGTERM during it.
 *
 *   pg_outage          author 1 with 50 followers whose feeds exist.
 *                      PostgreSQL stopped (fast shutdown), 40 posts published
 *                      during the outage, then 8 s measured: feedcached's CPU
 *                      (utime + stime) < 0.5 s and the Redis commands it
 *                      sends < 200/s on average (INFO
 *                      total_commands_processed). After PostgreSQL is back:
 *                      every post in every follower's feed (and the author's)
 *                      within 30 s, and 5 posts published after the outage
 *                      fan out too within 10 s.
 *   pg_outage_sigterm  the same outage; SIGTERM during it: exit 0 within
 *                      10 s; PostgreSQL back, feedcached restarted on the same
 *                      address: nothing lost.
 *
 * Own Redis + PostgreSQL per test (faults.h). */
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
#define NFOLLOWERS 50
#define NPENDING 40
#define NAFTER 5
#define OUTAGE_MS 8000
#define CPU_MAX_MS 500
#define REDIS_CMDS_MAX_PER_S 200.0
#define BASE_MS INT64_C(1700000000000)

static int64_t feeds[NFOLLOWERS + 1];     /* the followers and the author */

static void seed_and_warm(faults_t *f)
{
    char mode[16];
    /* The follower count cached: publishes during the outage need no SQL. */
    faults_seed_fanout(f, AUTHOR, NFOLLOWERS, BASE_MS, feeds, mode);
    assert_string_equal(mode, "fanout");
    for (int i = 0; i < NPENDING; i++)
        faults_insert_post(f, 3001 + i, AUTHOR, BASE_MS + 3001 + i);
    for (int i = 0; i < NAFTER; i++)
        faults_insert_post(f, 4001 + i, AUTHOR, BASE_MS + 4001 + i);
}

/* PostgreSQL stopped, then the pending posts published. */
static void outage_begin(faults_t *f)
{
    PQfinish(f->pg);
    f->pg = NULL;
    faults_pg_stop(&f->s);
    char mode[16];
    for (int i = 0; i < NPENDING; i++) {
        faults_publish_ok(f->c, 3001 + i, AUTHOR, BASE_MS + 3001 + i, mode);
        assert_string_equal(mode, "fanout");
    }
}

static void outage_end(faults_t *f)
{
    faults_pg_start(&f->s);
    faults_pg_reconnect(f);
}

static void pg_outage(void **state)
{
    faults_t *f = *state;
    faults_start(f, NULL);
    seed_and_warm(f);
    outage_begin(f);

    faults_sleep_ms(300);
    long long cpu0 = faults_cpu_ms(f->d->pid);
    long long cmd0 = faults_redis_info(&f->s, "total_commands_processed");
    long long t0 = faults_now_ms();
    faults_sleep_ms(OUTAGE_MS);
    long long cpu1 = faults_cpu_ms(f->d->pid);
    long long cmd1 = faults_redis_info(&f->s, "total_commands_processed");
    long long t1 = faults_now_ms();
    assert_true(cpu0 >= 0 && cpu1 >= 0 && cmd0 >= 0 && cmd1 >= 0);
    long long cpu = cpu1 - cpu0;
    double secs = (double)(t1 - t0) / 1000.0;
    double cmds_per_s = (double)(cmd1 - cmd0 - 1) / secs;
    char *log = harness_daemon_log(f->d);
    size_t warnings = 0;
    for (const char *p = strstr(log, " warn "); p; p = strstr(p + 1, " warn "))
        warnings++;
    free(log);
    printf("PostgreSQL down %.1f s with %d posts pending: feedcached CPU %lld ms, Redis %.0f "
           "commands/s, %zu warnings logged so far\n", secs, NPENDING, cpu, cmds_per_s, warnings);

    outage_end(f);
    int64_t pending[NPENDING], after[NAFTER];
    for (int i = 0; i < NPENDING; i++)
        pending[i] = 3001 + i;
    char err[512], err2[512] = "";
    long long tb = faults_now_ms();
    size_t missing = faults_wait_delivered(f->r, feeds, NFOLLOWERS + 1, pending, NPENDING, 30000,
                                           err, sizeof err);
    printf("after PostgreSQL returned: %zu of %d deliveries missing after %lld ms\n", missing,
           NPENDING * (NFOLLOWERS + 1), faults_now_ms() - tb);
    size_t missing_after = 0;
    if (missing == 0) {
        char mode[16];
        for (int i = 0; i < NAFTER; i++) {
            after[i] = 4001 + i;
            faults_publish_ok(f->c, after[i], AUTHOR, BASE_MS + 4001 + i, mode);
        }
        missing_after = faults_wait_delivered(f->r, feeds, NFOLLOWERS + 1, after, NAFTER, 10000,
                                              err2, sizeof err2);
        printf("posts published after the outage: %zu of %d deliveries missing (10 s allowed)\n",
               missing_after, NAFTER * (NFOLLOWERS + 1));
    }

    if (cpu >= CPU_MAX_MS)
        fail_msg("feedcached used %lld ms of CPU during %.1f s of PostgreSQL outage with %d jobs "
                 "pending (bound %d ms)", cpu, secs, NPENDING, CPU_MAX_MS);
    if (cmds_per_s >= REDIS_CMDS_MAX_PER_S)
        fail_msg("Redis processed %.0f commands/s during the PostgreSQL outage (bound %.0f/s)",
                 cmds_per_s, REDIS_CMDS_MAX_PER_S);
    if (missing)
        fail_msg("%zu deliveries missing 30 s after PostgreSQL returned; e.g. %s", missing, err);
    if (missing_after)
        fail_msg("posts published after the outage did not fan out: %zu deliveries missing; "
                 "e.g. %s", missing_after, err2);
    f->finished = true;
}

static void pg_outage_sigterm(void **state)
{
    faults_t *f = *state;
    /* A fixed instance_id: the restarted instance is the same fan-out
     * consumer and takes its pending jobs back at once. (With the default,
     * hostname:pid, another consumer claims them after fanout_claim_idle_ms:
     * test_fanout's kill_resume.) */
    const char *const first[] = { "--instance-id", "pg-outage-sigterm", NULL };
    faults_start(f, first);
    char listen[160], mlisten[160];
    snprintf(listen, sizeof listen, "%s", f->d->addr);
    snprintf(mlisten, sizeof mlisten, "%s", f->d->metrics_addr);
    seed_and_warm(f);
    outage_begin(f);
    faults_sleep_ms(3000);

    fc_client_close(f->c);
    f->c = NULL;
    long long took;
    int st = faults_sigterm(f->d, 10000, &took);
    printf("SIGTERM during the PostgreSQL outage: status %d after %lld ms\n", st, took);
    if (st != 0) {
        harness_daemon_dump_log(f->d, "SIGTERM");
        fail_msg("feedcached did not exit 0 within 10 s of SIGTERM during a PostgreSQL outage: "
                 "status %d after %lld ms", st, took);
    }
    harness_daemon_free(f->d);
    f->d = NULL;

    outage_end(f);
    const char *const again[] = { "--listen", listen, "--metrics-listen", mlisten,
                                  "--instance-id", "pg-outage-sigterm", NULL };
    faults_start(f, again);
    int64_t pending[NPENDING];
    for (int i = 0; i < NPENDING; i++)
        pending[i] = 3001 + i;
    char err[512];
    size_t missing = faults_wait_delivered(f->r, feeds, NFOLLOWERS + 1, pending, NPENDING, 30000,
                                           err, sizeof err);
    printf("after restart: %zu deliveries missing\n", missing);
    if (missing)
        fail_msg("%zu deliveries lost after SIGTERM during the outage and restart; e.g. %s",
                 missing, err);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pg_outage, faults_setup, faults_teardown),
        cmocka_unit_test_setup_teardown(pg_outage_sigterm, faults_setup, faults_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
