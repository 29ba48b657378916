/* Cache warming: what the `warm` and `warm.status` methods start and report
 * (docs/PROTOCOL.md, "Methods").
 *
 * A warm job rebuilds the home feeds of a set of users from PostgreSQL in
 * the background, on the loop: the ids given, or every user whose
 * last_active_at lies within active_within_s of the job's start (streamed
 * from PostgreSQL in keyset pages, never loaded at once). Warming one user:
 *   1. feed_rebuild_home (single flight; a feed that exists is kept as it is,
 *      so a warm racing a fan-out or a read drops nothing);
 *   2. slide the feed's TTL (feed_ttl: "after its last read or warm") and
 *      read its newest WARM_HYDRATE entries, in one script;
 *   3. feed_hydrate those posts, so that they are cached too.
 *
 * Pacing: a token bucket at the job's rate (users/s; the warm_rate setting
 * unless the caller gives one), at most WARM_MAX_INFLIGHT users in flight
 * over all jobs, and backing off when the service is busy (the busy hook),
 * when PostgreSQL is slow (rebuilds take WARM_SLOW_MS on average) or failing
 * (the user is retried later; WARM_MAX_FAILURES failures in a row fail the
 * job). Outside the warm_window setting jobs are "paused" and resume inside.
 *
 * Job state lives in Redis (feed_warm_job.h), so warm.status works from any
 * instance. On shutdown this instance's unfinished jobs are marked failed
 * with error "shutdown". */
#ifndef FC_FEED_FEED_WARM_H
#define FC_FEED_FEED_WARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/feed_engine.h"
#include "feed/feed_warm_job.h"
#include "rpc/rpc_server.h"

#define WARM_PAGE 500              /* users per keyset page */
#define WARM_HYDRATE 20            /* newest entries of a warmed feed to hydrate */
#define WARM_MAX_INFLIGHT 8        /* users being warmed at once, all jobs together.
                                      * Each runs one query or Redis round trip at a time,
                                      * so live reads queue behind few warm queries. More
                                      * did not help on 2 cores: 16 doubled the latency of
                                      * a rebuild (CPU-bound) and tripped WARM_SLOW_MS */
#define WARM_SLOW_MS 100           /* rebuilds slower than this (moving average):
                                      * PostgreSQL is slow */
#define WARM_SLOW_BACKOFF_MS 200
#define WARM_BUSY_BACKOFF_MS 100
#define WARM_MAX_FAILURES 20       /* failures in a row that fail a job */
#define WARM_USER_ATTEMPTS 5       /* attempts per user before it is skipped */

/* Returns true while live traffic should have the backends to itself. */
typedef bool feed_warm_busy_fn(void *arg);

typedef struct {
    double rate;                   /* users/s when a warm call gives none (> 0) */
    const char *window;            /* "HH:MM-HH:MM" local time, or "" for always */
    feed_warm_busy_fn *busy;       /* may be NULL */
    void *busy_arg;
} feed_warm_options_t;

/* A warm call, its arguments checked (feed_methods.c). */
typedef struct {
    bool by_activity;              /* users active within active_within_s, else users[] */
    const int64_t *users;          /* distinct ids */
    size_t nusers;
    int64_t active_within_s;
    bool has_rate;
    double rate;                   /* users/s (> 0) */
} feed_warm_req_t;

/* Sets up warming for the engine (one per engine). Returns 0, or -1 with a
 * reason in err (a bad window). */
int feed_warm_start(feed_engine_t *e, const feed_warm_options_t *opts, char *err, size_t errlen);

/* Stops warming: no job takes another user; unfinished jobs are marked
 * failed ("shutdown") in Redis. done(arg) runs once those writes are answered
 * or have failed, possibly before this returns; it may be NULL. Safe to call
 * again (later calls do not wait). Everything is freed once the users in
 * flight have come back, so run the loop until it has no more work. */
void feed_warm_stop(feed_engine_t *e, void (*done)(void *arg), void *arg);

/* Starts a warm job and answers call with {"job", "users"} once its record
 * is in Redis (or with UNAVAILABLE). req may go when this returns. */
void feed_warm_create(feed_engine_t *e, rpc_call_t *call, const feed_warm_req_t *req);

/* A job this instance runs (or has just ended), or NULL. */
const feed_warm_job_t *feed_warm_find(feed_engine_t *e, const char *id);

#endif
