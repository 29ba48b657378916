/* Fan-out dead letters (feed_fanout.h): the jobs in each shard's
 * dead-letter stream (PREFIX{fanout}:dead, PREFIX{fanout:i}:dead), listed
 * for an operator and requeued once the cause is fixed. The RPC methods
 * fanout.dead_letters and fanout.retry (feed_methods.c) answer through
 * these; feedcachectl fanout is their command line.
 *
 * A dead letter is a stream entry whose first four pairs are job (the
 * original entry id), attempts, reason and at (epoch ms), followed by the
 * original entry's fields (feed_job.h: t, p, a, ts, pub).
 *
 * Its id names the shard too: the stream id for shard 0 (as before shards
 * existed), "I/ID" for shard I > 0 (e.g. "3/1700000000000-0"). Listing goes
 * through the shards in order, each oldest first. */
#ifndef FC_FEED_FEED_DEAD_H
#define FC_FEED_FEED_DEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "feed/feed_engine.h"
#include "rpc/rpc_server.h"

#define FEED_DEAD_LIST_MAX 1000     /* dead letters per fanout.dead_letters call */
#define FEED_DEAD_REQUEUE_MAX 1000  /* dead letters requeued per fanout.retry all call */
#define FEED_DEAD_ID_MAX 44         /* "63/" and a stream id: two uint64 and a dash */

/* True when s[0..len) is a dead letter's id: DIGITS-DIGITS, or I/DIGITS-DIGITS
 * with a shard I in 1..FEED_SHARDS_MAX-1. Sets *shard and *id_off (where
 * the stream id starts); either may be NULL. */
bool feed_dead_id_parse(const char *s, size_t len, unsigned *shard, size_t *id_off);
bool feed_dead_id_ok(const char *s, size_t len);

/* Answers {"total": N, "dead_letters": [{id, job, type, post, author,
 * attempts, reason, at_ms}...], "next": ID|nil}: up to limit dead letters
 * of every shard (shard by shard, each oldest first) after the id `after`
 * (NULL: from the start). total counts every shard's. next is the last id
 * returned when more may follow. UNAVAILABLE without Redis. */
void feed_dead_list(feed_engine_t *e, rpc_call_t *call, const char *after, int64_t limit);

/* Requeues the dead letter `id` (NULL: about FEED_DEAD_REQUEUE_MAX, the
 * oldest of each shard, an equal share per shard) as new jobs on its
 * shard's stream, with fresh attempts, and removes them from the
 * dead-letter stream. Answers {"requeued": N, "remaining": M} (M over every
 * shard); NOT_FOUND when id names no dead letter. */
void feed_dead_retry(feed_engine_t *e, rpc_call_t *call, const char *id);

#endif
