/* The fan-out queue's shards: which shard a job goes to, and how many there
 * are. Pure: no I/O.
 *
 * The queue is N streams (rds_keys.h: shard 0 is PREFIX{fanout}, shard i
 * PREFIX{fanout:i}), each in its own hash slot, so that on a Redis Cluster
 * the queue's load spreads over several nodes instead of one. Every
 * instance consumes every shard. A job goes to the shard of its author, so
 * one author's jobs (a post, then its deletion) stay in order in one
 * stream.
 *
 * Every instance sharing a Redis must use the same N: an instance that
 * consumes fewer shards leaves the others to its peers, and a publisher
 * with another N puts an author's jobs in another shard than its peers do
 * (correct, but no longer in order with them). */
#ifndef FC_FEED_FEED_SHARD_H
#define FC_FEED_FEED_SHARD_H

#include <stdbool.h>
#include <stdint.h>

#define FEED_SHARDS_MAX 64        /* the fanout_shards setting's maximum */
#define FEED_SHARDS_CLUSTER 8     /* fanout_shards 0 (auto) on a cluster; 1 on a single Redis */

/* The shard count for the fanout_shards setting: itself when 1..MAX, else
 * (0, auto) 8 on a cluster and 1 on a single Redis, where more streams would
 * only add commands. */
unsigned feed_shards_resolve(uint64_t setting, bool cluster);

/* The shard of an author's jobs, 0..nshards-1 (0 when nshards <= 1). A
 * fixed mix of the id (every instance and version agrees), independent of
 * the connection affinity (feed_affinity). */
unsigned feed_shard_of(int64_t author, unsigned nshards);

#endif
