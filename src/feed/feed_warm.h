/* Cache warming: the `warm` and `warm.status` methods (CONTRACT.md section 3).
 *
 * A warm job rebuilds the home feeds of a set of users from PostgreSQL in
 * the background, on the loop: the ids given, or every user whose
 * last_active_at lies within active_within_s of the job's start (streamed
 * from PostgreSQL in keyset pages, never loaded at once). Warming one user:
 *   1. feed_rebuild_home (single flight; a feed that exists is kept as it is,
 *      so a warm racing a fan-out or a read drops nothing);
 *   2. slide the feed's TTL (feed_ttl: "after its last read or warm") and
 *      read its newest WARM_HYDRATE entries, in one script;
 *   3. feed_hydrate those posts, so their post hashes are cached too.
 *
 * Pacing: a token bucket at the job's rate (users/s; the warm_rate setting
 * unless the caller gives one), at most WARM_MAX_INFLIGHT users in flight
 * over all jobs, and backing off when the service is busy (the busy hook),
 * when PostgreSQL is slow (rebuilds take WARM_SLOW_MS on average) or failing
 * (the user is retried later; WARM_MAX_FAILURES failures in a row fail the
 * job). Outside the warm_window setting jobs are "paused" and resume inside.
 *
 * Job state lives in Redis, PREFIXwarm:{JOB} (hash: done, total, state,
 * started_ms, updated_ms, error), so warm.status works from any instance.
 * The hash's TTL is refreshed while the job runs (a job of a crashed process
 * disappears an hour later) and set to WARM_KEEP_S when it ends. On shutdown
 * this instance's unfinished jobs are marked failed with error "shutdown". */
#ifndef FC_FEED_FEED_WARM_H
#define FC_FEED_FEED_WARM_H

#include <stdbool.h>
#include <stddef.h>

#include "rpc/rpc_server.h"

struct feed_engine;

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
#define WARM_KEEP_S 3600           /* job hash TTL: while running (refreshed) and after */

/* Returns true while live traffic should have the backends to itself. */
typedef bool feed_warm_busy_fn(void *arg);

typedef struct {
    double rate;                   /* users/s when a warm call gives none (> 0) */
    const char *window;            /* "HH:MM-HH:MM" local time, or "" for always */
    feed_warm_busy_fn *busy;       /* may be NULL */
    void *busy_arg;
} feed_warm_options_t;

/* Sets up warming for the engine (one per engine). Returns 0, or -1 with a
 * reason in err (a bad window). */
int feed_warm_start(struct feed_engine *e, const feed_warm_options_t *opts, char *err,
                    size_t errlen);

/* Stops warming: no job takes another user; unfinished jobs are marked
 * failed ("shutdown") in Redis. done(arg) runs once those writes are answered
 * or have failed, possibly before this returns; it may be NULL. Safe to call
 * again (later calls do not wait). Everything is freed once the users in
 * flight have come back, so run the loop until it has no more work. */
void feed_warm_stop(struct feed_engine *e, void (*done)(void *arg), void *arg);

/* RPC handlers; ctx is the feed engine (as for every feed method). */
void feed_method_warm(rpc_call_t *call, const msgpack_object *args, void *engine);
void feed_method_warm_status(rpc_call_t *call, const msgpack_object *args, void *engine);

/* The off-peak window: "HH:MM-HH:MM" (00:00..23:59 each, may wrap midnight,
 * start != end) or "" (always). Sets minutes since midnight; start = end = -1
 * for "". Returns 0, or -1 with a reason in err. Used by settings too. */
int feed_warm_window_parse(const char *s, int *start_min, int *end_min, char *err,
                           size_t errlen);
/* Whether minute-of-day m (0..1439) lies in [start, end), wrapping midnight. */
bool feed_warm_window_contains(int start_min, int end_min, int m);

#endif
