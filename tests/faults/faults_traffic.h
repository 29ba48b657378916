/* Publish and read traffic for the cluster fault tests: a writer thread
 * that, like the timeline API, commits a post to PostgreSQL and then
 * publishes it, and a reader thread reading random timelines of users
 * 1..nusers; each with its own connections, so that the test's own thread
 * can reshard, fail over or kill meanwhile.
 *
 * A call answered OVERLOADED or UNAVAILABLE is retried after its
 * retry_after_ms, and a failed publish is retried whatever the error (the
 * timeline API must get it through), while the call's deadline allows; the
 * client reconnects after a transport error. A call that never succeeds
 * within its deadline is a failure; every failed attempt is remembered
 * (when, and the first reason). */
#ifndef FC_TESTS_FAULTS_TRAFFIC_H
#define FC_TESTS_FAULTS_TRAFFIC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    /* in */
    const char *addr;          /* the daemon to talk to */
    const char *pg_conninfo;
    int nusers, nauthors;
    int64_t first_id;          /* post ids count up from here */
    int64_t base_ms;           /* created_at of the first post */
    int call_deadline_ms;      /* per call, retries included */
    int pause_ms;              /* between two calls of a thread */
    /* out: counted as they happen (poll them while it runs) */
    atomic_long published, reads, retries;
    atomic_long publish_failures, read_failures;   /* calls that never succeeded */
    long long last_failure_ms; /* faults_now_ms() of the last failed attempt, 0: none */
    long long longest_call_ms; /* a call, from its first attempt to success */
    char first_failure[512];   /* (these three under mu) */
    /* private */
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_t writer, reader;
    bool running;
} ftraffic_t;

void ftraffic_start(ftraffic_t *t);
/* Waits until the traffic has made n more publishes and n more reads than
 * when called; fails the test after timeout_ms (the traffic is stuck). */
void ftraffic_wait(ftraffic_t *t, long n, int timeout_ms);
/* Stops and joins both threads and prints a summary line. */
void ftraffic_stop(ftraffic_t *t, const char *label);

#endif
