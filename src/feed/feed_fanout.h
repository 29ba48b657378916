/* The fan-out worker: takes jobs from the durable streams of the fan-out
 * queue (PREFIX{fanout}, and PREFIX{fanout:I} for shards I > 0: feed_shard.h)
 * through each stream's consumer group "feedcache" and delivers them. Every
 * instance consumes every shard, as the consumer named by instance_id; all
 * that follows holds per shard (a job's keys are its shard's).
 *
 * A job is acknowledged (XACK, XDEL and its progress HDEL'd, in one script)
 * only after its last delivery, so a job taken by a worker that dies stays
 * pending and is delivered again: by this consumer after a restart (it reads
 * its own pending entries once, at start-up, then only new ones), or by
 * another one after claim_idle_ms (XAUTOCLAIM). Deliveries are idempotent
 * (ZADD of the same member and score), so a page done twice is harmless.
 *
 * Jobs (feed_job.h): push a post into the home feeds of the author and
 * their followers that exist, push a celebrity marker into them, or remove
 * a deleted post from them. Followers are read from PostgreSQL in pages of
 * FANOUT_PAGE and delivered with one FEED_PUSH call (EVALSHA) per
 * FANOUT_CHUNK feeds (a short script: Redis serves nothing else while it
 * runs), a round of FANOUT_CHUNK feeds at a time, at most FANOUT_PUSH_ROUNDS
 * rounds in flight for the worker. Up to FANOUT_CONCURRENCY jobs run at
 * once, so PostgreSQL and Redis latencies overlap.
 *
 * Long jobs: every job this worker holds (running or waiting for a retry)
 * is heartbeated every claim_idle_ms / 3 (FANOUT_HEARTBEAT: XCLAIM to
 * itself), so no XAUTOCLAIM takes a job that is alive. A job of more than
 * one page saves its keyset position (the last follower delivered) in
 * PREFIX{fanout}:progress before each further page; a job taken over
 * (claimed, or this consumer's own pending after a restart) resumes there,
 * so at most one page is delivered twice.
 *
 * Failures: a failed job is not re-read. It waits in this worker's retry
 * list, and resumes at the page that failed. One retry timer serves the
 * worker: its delay grows with util/backoff (retry_min_ms doubling up to
 * retry_max_ms, with jitter) while nothing succeeds, and while nothing
 * succeeds only one waiting job is tried per delay (a probe); the first
 * page delivered resets it and releases the others. New jobs keep being
 * read meanwhile (up to FANOUT_WAIT_MAX waiting). The outage is logged once
 * when it starts and once when it ends.
 *
 * Poison jobs: a failure counts as an attempt when some other work
 * succeeded since the job's previous failure (so an outage, where nothing
 * succeeds, costs no attempts); a job taken over counts one more. After
 * max_attempts, or at once when the entry is not a job (feed_job_decode
 * fails), it moves to the dead-letter stream PREFIX{fanout}:dead with its
 * reason (FANOUT_DEAD), counted by feedcache_fanout_dead_letters_total.
 * feed_dead.h lists and requeues dead letters. */
#ifndef FC_FEED_FEED_FANOUT_H
#define FC_FEED_FEED_FANOUT_H

#include "feed/feed_engine.h"

#define FANOUT_GROUP "feedcache"
#define FANOUT_PAGE 5000
/* Feeds per FEED_PUSH call on a single Redis. Smaller calls block Redis
 * for less time (a delivery into an 800-entry listpack cost it 20-40 us
 * oldest first, 9-10 newest first: 250 feeds were 5-10 ms of script, 16
 * are ~0.15 ms). With EVAL every call carried the
 * script's 1.1 KB text, and 16 per call cost 75% more Redis CPU per
 * delivery than 250 (23.2 against 13.1 us); scripts now go by EVALSHA
 * (store/redis/rds_script.h). Measured again, bench/run.sh --quick, same
 * tree, two rounds back to back (bench/RESULTS.md, "EVALSHA"): Redis CPU
 * per delivery 12.7 / 12.5 us for 32, 11.9 / 12.3 for 250, 15.5 / 12.0 for
 * 16; deliveries/s 54,500 / 62,400 for 32 against 62,900 / 64,600; SLOWLOG
 * entries over 1 ms 378 / 310 against 603 / 589. The quick graph's jobs are
 * mostly one call either way (0.175 against 0.167 scripts per delivery),
 * so those CPU differences are the shared machine's noise, which also sets
 * the longest entries (8-28 ms, some of one key). 32 bounds a call to about
 * 1 ms of script on 800-entry feeds; 16 was not clearly better then.
 * Measured again on 2026-12-05 (bench/RESULTS.md, "Fan-out calls of 16
 * feeds"), with newest-first feeds, 16 against 32 alternated: post.publish
 * p99 while fan-out runs lower (below); SLOWLOG entries over 1 ms 85-228
 * against 176-263. A publish or a read that reaches Redis during a call
 * waits for its end; 16 halves it. */
#define FANOUT_CHUNK 16
#define FANOUT_CONCURRENCY 32
/* Delivery rounds (FANOUT_CHUNK feeds each) in flight for the whole worker
 * at most: what fan-out may have queued in Redis ahead of a read
 * (feed_fanout.c, deliver_round). The worker allows this many under a
 * backlog and fewer while it keeps up (feed_rounds.h). Under reads, each round waits its turn behind them, so
 * the rounds in flight bound deliveries/s by the round trip: with 2, the
 * bench's mixed load (8,000 ops/s, 10% publishes) left posts 1.7-2.7 s
 * (p50) from their followers against the contract's 1 s; with 4, 74-491
 * ms, at the same read p99 (bench/RESULTS.md, "2026-12-04 afternoon").
 * (With the oldest-first feeds of before, 4 had measured no more
 * deliveries/s: Redis was the limit.) With calls of 16 feeds, 8 rounds
 * keep the 128 feeds in flight of 4 rounds of 32: at 8,000 ops/s mixed,
 * alternated with 4 x 32 and 4 x 16 (bench/RESULTS.md, "Fan-out calls of
 * 16 feeds"), post.publish p99 1.36 / 1.41 ms against 2.01 / 2.41 and
 * 1.90 / 2.16, the deliveries/s of 4 x 32 (4 x 16 had ~10% fewer), the
 * fan-out lag 9 ms p99 for all three. Over all runs of the day the publish
 * p99 was 1.20-2.75 ms, median 1.41, for 8 x 16 (five runs) against
 * 1.55-3.06, median 2.01, for 4 x 32 (seven). */
#define FANOUT_PUSH_ROUNDS 8
#define FANOUT_YIELD_CONCURRENCY 2 /* jobs at once while live requests are shed */
#define FANOUT_WAIT_MAX 1024       /* failed jobs held for a retry; beyond, no new reads */
#define FANOUT_BLOCK_MS 1000
#define FANOUT_CLAIM_IDLE_MS 30000 /* default of the fanout_claim_idle_ms setting */
#define FANOUT_RETRY_MS 500        /* after a failed read or group creation */
#define FANOUT_TICK_MS 1000        /* queue depth refresh */
#define FANOUT_DEAD_MAX 100000     /* dead letters kept (approximate MAXLEN) */
#define FEED_CONSUMER_MAX 256      /* a consumer name (instance_id), NUL included */
#define FANOUT_CONSUMER_GONE_MS 86400000 /* a consumer idle this long, nothing pending: removed */
#define FANOUT_REAP_FIRST_MS 60000 /* the first look for such consumers, after start */
#define FANOUT_REAP_MS 3600000     /* then every hour */

typedef struct feed_fanout feed_fanout_t;

typedef struct {
    /* The blocking reads get their own Redis connections, one per shard
     * (redis_url, timeout_ms plus the block time). */
    const char *redis_url;
    /* Names this instance in every shard's group (the instance_id
     * setting). Two live instances must never share it. A name that
     * survives a restart (a fixed instance_id) picks up its own unfinished
     * jobs at once; a new name (the default hostname:pid) leaves them to
     * XAUTOCLAIM after claim_idle_ms, by any instance. */
    const char *consumer;
    unsigned timeout_ms;
    unsigned max_attempts;     /* fanout_max_attempts; 0: 8 */
    unsigned claim_idle_ms;    /* fanout_claim_idle_ms; 0: FANOUT_CLAIM_IDLE_MS */
    unsigned retry_min_ms;     /* fanout_retry_min_ms; 0: 500 */
    unsigned retry_max_ms;     /* fanout_retry_max_ms; 0: 10000 */
    /* Whether live requests are being shed (may be NULL): the worker then
     * takes new jobs FANOUT_YIELD_CONCURRENCY at a time instead of
     * FANOUT_CONCURRENCY, so reads get the CPU and Redis first, while
     * fan-out slows down but never stops. */
    bool (*busy)(void *arg);
    void *busy_arg;
} feed_fanout_options_t;

/* Starts the worker. Returns NULL (logged) on a bad URL. */
feed_fanout_t *feed_fanout_start(feed_engine_t *e, const feed_fanout_options_t *o);
/* Stops taking jobs. Jobs in progress run on until they finish or their
 * backends close (then they stay queued); jobs waiting for a retry are
 * dropped here and stay pending. Frees itself when idle. */
void feed_fanout_stop(feed_fanout_t *f);

#endif
