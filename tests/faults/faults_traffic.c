/* Publish and read traffic for the cluster fault tests (see faults_traffic.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "faults_traffic.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "faults.h"
#include "oracle_db.h"

static void note_failure(ftraffic_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note_failure(ftraffic_t *t, const char *fmt, ...)
{
    pthread_mutex_lock(&t->mu);
    t->last_failure_ms = faults_now_ms();
    if (!t->first_failure[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->first_failure, sizeof t->first_failure, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&t->mu);
}

/* One call as a careful caller makes it: retried after retry_after_ms on
 * OVERLOADED / UNAVAILABLE, and on anything else too when `always_retry`
 * (a publish: the timeline API must get it through), until the deadline.
 * The client is reconnected after a transport error. true on success. */
static bool careful_call(ftraffic_t *t, fc_client_t **c, const char *method,
                         const fc_params_t *p, bool always_retry)
{
    long long t0 = faults_now_ms();
    for (int attempt = 0;; attempt++) {
        fc_response_t r = { 0 };
        char why[400] = "";
        int delay = 50;
        if (!*c) {
            char err[256];
            *c = fc_client_connect(t->addr, 2000, err, sizeof err);
            if (*c)
                fc_client_set_timeout(*c, 5000);
            else
                snprintf(why, sizeof why, "connect: %s", err);
        }
        if (*c) {
            int rc = fc_client_call(*c, method, p, &r);
            if (rc == FC_OK && r.ok) {
                fc_response_free(&r);
                long long took = faults_now_ms() - t0;
                pthread_mutex_lock(&t->mu);
                if (took > t->longest_call_ms)
                    t->longest_call_ms = took;
                pthread_mutex_unlock(&t->mu);
                return true;
            }
            if (rc != FC_OK) {
                snprintf(why, sizeof why, "no answer: %s", fc_client_error(*c));
                fc_client_close(*c);
                *c = NULL;
            } else {
                bool soft = strcmp(r.code, "OVERLOADED") == 0 || strcmp(r.code, "UNAVAILABLE") == 0;
                snprintf(why, sizeof why, "%s: %s (retry_after_ms %" PRId64 ")", r.code,
                         r.message, r.retry_after_ms);
                if (soft && r.retry_after_ms > 0)
                    delay = (int)r.retry_after_ms;
                if (!soft && !always_retry) {
                    fc_response_free(&r);
                    note_failure(t, "%s: %s", method, why);
                    return false;
                }
            }
            fc_response_free(&r);
        }
        note_failure(t, "%s (attempt %d): %s", method, attempt + 1, why);
        if (faults_now_ms() + delay - t0 > t->call_deadline_ms) {
            note_failure(t, "%s: gave up after %d attempts in %lld ms: %s", method, attempt + 1,
                         faults_now_ms() - t0, why);
            return false;
        }
        atomic_fetch_add(&t->retries, 1);
        faults_sleep_ms(delay);
    }
}

static void *writer_main(void *arg)
{
    ftraffic_t *t = arg;
    PGconn *pg = PQconnectdb(t->pg_conninfo);
    fc_client_t *c = NULL;
    if (PQstatus(pg) != CONNECTION_OK) {
        note_failure(t, "writer: cannot connect to PostgreSQL: %s", PQerrorMessage(pg));
        atomic_fetch_add(&t->publish_failures, 1);
    }
    for (int64_t i = 0; !atomic_load(&t->stop) && PQstatus(pg) == CONNECTION_OK; i++) {
        int64_t id = t->first_id + i, author = 1 + i % t->nauthors, created = t->base_ms + i;
        /* The timeline API commits first, then tells feedcache. */
        char sql[512];
        snprintf(sql, sizeof sql, "INSERT INTO posts (id, author_id, created_at, body) VALUES (%"
                 PRId64 ", %" PRId64 ", 'epoch'::timestamptz + %" PRId64 " * interval '1 "
                 "millisecond', 'post %" PRId64 "')", id, author, created, id);
        PGresult *res = PQexec(pg, sql);
        bool inserted = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!inserted) {
            note_failure(t, "INSERT post %" PRId64 ": %s", id, PQerrorMessage(pg));
            atomic_fetch_add(&t->publish_failures, 1);
            break;
        }
        fc_params_t p;
        char body[48];
        snprintf(body, sizeof body, "post %" PRId64, id);
        fc_params_init(&p);
        fc_params_int(&p, "id", id);
        fc_params_int(&p, "author_id", author);
        fc_params_int(&p, "created_at", created);
        fc_params_str(&p, "body", body);
        if (careful_call(t, &c, "post.publish", &p, true))
            atomic_fetch_add(&t->published, 1);
        else
            atomic_fetch_add(&t->publish_failures, 1);
        fc_params_free(&p);
        if (t->pause_ms)
            faults_sleep_ms(t->pause_ms);
    }
    if (c)
        fc_client_close(c);
    PQfinish(pg);
    return NULL;
}

static void *reader_main(void *arg)
{
    ftraffic_t *t = arg;
    fc_client_t *c = NULL;
    odb_rng_t rng;
    odb_rng_seed(&rng, (uint64_t)t->first_id);
    while (!atomic_load(&t->stop)) {
        fc_params_t p;
        fc_params_init(&p);
        fc_params_int(&p, "user_id", 1 + (int64_t)odb_rng_below(&rng, (uint64_t)t->nusers));
        fc_params_int(&p, "limit", 20);
        if (careful_call(t, &c, "timeline.get", &p, false))
            atomic_fetch_add(&t->reads, 1);
        else
            atomic_fetch_add(&t->read_failures, 1);
        fc_params_free(&p);
        if (t->pause_ms)
            faults_sleep_ms(t->pause_ms);
    }
    if (c)
        fc_client_close(c);
    return NULL;
}

void ftraffic_start(ftraffic_t *t)
{
    atomic_store(&t->stop, false);
    pthread_mutex_init(&t->mu, NULL);
    if (pthread_create(&t->writer, NULL, writer_main, t) != 0 ||
        pthread_create(&t->reader, NULL, reader_main, t) != 0)
        fail_msg("cannot start the traffic threads");
    t->running = true;
}

void ftraffic_wait(ftraffic_t *t, long n, int timeout_ms)
{
    long p0 = atomic_load(&t->published), r0 = atomic_load(&t->reads);
    long long deadline = faults_now_ms() + timeout_ms;
    while (atomic_load(&t->published) < p0 + n || atomic_load(&t->reads) < r0 + n) {
        if (faults_now_ms() > deadline) {
            pthread_mutex_lock(&t->mu);
            char first[512];
            snprintf(first, sizeof first, "%s", t->first_failure);
            pthread_mutex_unlock(&t->mu);
            fail_msg("traffic stuck: %ld publishes and %ld reads in %d ms, %d wanted; "
                     "first failure: %s", atomic_load(&t->published) - p0,
                     atomic_load(&t->reads) - r0, timeout_ms, (int)n, first);
        }
        faults_sleep_ms(20);
    }
}

void ftraffic_stop(ftraffic_t *t, const char *label)
{
    if (!t->running)
        return;
    atomic_store(&t->stop, true);
    pthread_join(t->writer, NULL);
    pthread_join(t->reader, NULL);
    t->running = false;
    fprintf(stderr, "traffic [%s]: %ld published, %ld reads, %ld retries, %ld publishes and "
            "%ld reads failed, longest call %lld ms%s%s\n", label, atomic_load(&t->published),
            atomic_load(&t->reads), atomic_load(&t->retries), atomic_load(&t->publish_failures),
            atomic_load(&t->read_failures), t->longest_call_ms,
            t->first_failure[0] ? "; first failure: " : "", t->first_failure);
}
