/* Fault tests: the unbounded fan-out queue (issue 9, item 8), and SIGTERM
 * with the queue full.
 *
 *   queue_max          --fanout-queue-max 100 (new setting); author 1 with 5
 *                      followers whose feeds exist; PostgreSQL paused
 *                      (SIGSTOP) so the worker stalls. 100 publishes, 1.5 s
 *                      (a queue-depth refresh), 50 more: the first 90 are
 *                      accepted, the last 30 answer OVERLOADED with
 *                      retry_after_ms > 0 (docs/PROTOCOL.md, "Errors"). After
 *                      PostgreSQL resumes the queue drains (XLEN 0 within
 *                      30 s), a new publish is accepted, and every accepted
 *                      post reaches every follower's feed.
 *   queue_max_sigterm  the same full queue; SIGTERM: exit 0 within 10 s;
 *                      PostgreSQL resumed, feedcached restarted on the same
 *                      address: every accepted post delivered.
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
#define NFOLLOWERS 5
#define QUEUE_MAX 100
#define NFIRST 100
#define NLATER 50
#define BASE_MS INT64_C(1700000000000)

static int64_t feeds[NFOLLOWERS + 1];
static int64_t accepted[NFIRST + NLATER + 1];
static size_t naccepted;

static void seed_and_warm(faults_t *f)
{
    char mode[16];
    faults_seed_fanout(f, AUTHOR, NFOLLOWERS, BASE_MS, feeds, mode);
    faults_sql(f, "INSERT INTO posts (id, author_id, created_at, body) SELECT 3000 + g, %d, "
                  "'epoch'::timestamptz + (%" PRId64 " + 3000 + g) * interval '1 millisecond', "
                  "'post ' || (3000 + g) FROM generate_series(1, %d) g", AUTHOR, BASE_MS,
               NFIRST + NLATER + 1);
}

typedef struct {
    int ok_first, ok_later_tail, overloaded_tail, other;
    int64_t min_retry;
    char first_other[400];
    char tail_report[400];
} fill_t;

/* PostgreSQL paused, then NFIRST + NLATER publishes; results in *r. */
static void fill_queue(faults_t *f, fill_t *r)
{
    memset(r, 0, sizeof *r);
    r->min_retry = INT64_MAX;
    naccepted = 0;
    faults_pg_pause(&f->s);
    for (int i = 1; i <= NFIRST + NLATER; i++) {
        if (i == NFIRST + 1)
            faults_sleep_ms(1500);
        fc_response_t resp;
        faults_publish(f->c, 3000 + i, AUTHOR, BASE_MS + 3000 + i, &resp);
        bool tail = i > NFIRST + NLATER - 30;
        if (resp.ok) {
            accepted[naccepted++] = 3000 + i;
            if (i <= 90)
                r->ok_first++;
            if (tail && r->ok_later_tail++ == 0)
                snprintf(r->tail_report, sizeof r->tail_report, "publish #%d accepted", i);
        } else if (strcmp(resp.code, "OVERLOADED") == 0) {
            if (tail) {
                r->overloaded_tail++;
                if (resp.retry_after_ms < r->min_retry)
                    r->min_retry = resp.retry_after_ms;
            }
        } else if (r->other++ == 0) {
            snprintf(r->first_other, sizeof r->first_other, "publish #%d: %s: %s", i, resp.code,
                     resp.message);
        }
        fc_response_free(&resp);
    }
    printf("--fanout-queue-max %d, worker stalled: %zu of %d publishes accepted (%d of the first "
           "90), %d of the last 30 OVERLOADED (min retry_after_ms %" PRId64 "), %d other errors; "
           "stream length %lld\n", QUEUE_MAX, naccepted, NFIRST + NLATER, r->ok_first,
           r->overloaded_tail, r->min_retry == INT64_MAX ? -1 : r->min_retry, r->other,
           faults_stream_len(f->r));
}

static void check_fill(const fill_t *r)
{
    if (r->other)
        fail_msg("unexpected error: %s", r->first_other);
    if (r->ok_first != 90)
        fail_msg("only %d of the first 90 publishes (queue below %d) were accepted",
                 r->ok_first, QUEUE_MAX);
    if (r->overloaded_tail != 30)
        fail_msg("the queue was past --fanout-queue-max %d, yet %s (%d of the last 30 publishes "
                 "got OVERLOADED)", QUEUE_MAX, r->tail_report, r->overloaded_tail);
    if (r->min_retry <= 0)
        fail_msg("OVERLOADED without a positive retry_after_ms (%" PRId64 ")", r->min_retry);
}

static const char *const flags[] = { "--fanout-queue-max", "100", NULL };

static void queue_max(void **state)
{
    faults_t *f = *state;
    faults_start(f, flags);
    seed_and_warm(f);
    fill_t r;
    fill_queue(f, &r);
    check_fill(&r);

    faults_pg_resume(&f->s);
    long long t0 = faults_now_ms();
    long long len;
    while ((len = faults_stream_len(f->r)) > 0 && faults_now_ms() - t0 < 30000)
        faults_sleep_ms(100);
    printf("after PostgreSQL resumed: stream length %lld after %lld ms\n", len,
           faults_now_ms() - t0);
    if (len > 0)
        fail_msg("the fan-out queue did not drain within 30 s of PostgreSQL resuming: %lld jobs "
                 "left", len);
    char mode[16];
    int64_t id = 3000 + NFIRST + NLATER + 1;
    faults_publish_ok(f->c, id, AUTHOR, BASE_MS + id, mode);
    accepted[naccepted++] = id;
    char err[512];
    size_t missing = faults_wait_delivered(f->r, feeds, NFOLLOWERS + 1, accepted, naccepted,
                                           20000, err, sizeof err);
    if (missing)
        fail_msg("%zu deliveries of accepted posts missing; e.g. %s", missing, err);
    f->finished = true;
}

static void queue_max_sigterm(void **state)
{
    faults_t *f = *state;
    faults_start(f, flags);
    char listen[160], mlisten[160];
    snprintf(listen, sizeof listen, "%s", f->d->addr);
    snprintf(mlisten, sizeof mlisten, "%s", f->d->metrics_addr);
    seed_and_warm(f);
    fill_t r;
    fill_queue(f, &r);

    fc_client_close(f->c);
    f->c = NULL;
    long long took;
    int st = faults_sigterm(f->d, 10000, &took);
    printf("SIGTERM with the queue full and PostgreSQL paused: status %d after %lld ms\n", st,
           took);
    if (st != 0) {
        harness_daemon_dump_log(f->d, "SIGTERM");
        fail_msg("feedcached did not exit 0 within 10 s of SIGTERM: status %d after %lld ms", st,
                 took);
    }
    harness_daemon_free(f->d);
    f->d = NULL;

    faults_pg_resume(&f->s);
    const char *const again[] = { "--fanout-queue-max", "100", "--listen", listen,
                                  "--metrics-listen", mlisten, NULL };
    faults_start(f, again);
    char err[512];
    size_t missing = faults_wait_delivered(f->r, feeds, NFOLLOWERS + 1, accepted, naccepted,
                                           30000, err, sizeof err);
    printf("after restart: %zu deliveries of %zu accepted posts missing\n", missing, naccepted);
    if (missing)
        fail_msg("%zu deliveries of accepted posts lost after SIGTERM and restart; e.g. %s",
                 missing, err);
    f->finished = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(queue_max, faults_setup, faults_teardown),
        cmocka_unit_test_setup_teardown(queue_max_sigterm, faults_setup, faults_teardown),
    };
    return faults_run(tests, sizeof tests / sizeof tests[0]);
}
