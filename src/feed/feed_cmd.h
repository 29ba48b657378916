/* Helpers every feed module uses to talk to its backends: Redis argv for
 * keys and scripts, the Redis connection a user's commands go to, the
 * clock. A leaf: it knows the store, not the engine. */
#ifndef FC_FEED_FEED_CMD_H
#define FC_FEED_FEED_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/redis/rds_batch.h"

/* A key builder of store/redis/rds_keys.h (rds_key_feed, rds_key_post...),
 * for rds_args_key. */
typedef size_t feed_key_fn(char *out, size_t cap, const char *prefix, int64_t id);

/* Starts args over as "NAME key(id)" (the caller appends the rest). */
rds_args_t *feed_args_cmd(rds_args_t *a, const char *name, feed_key_fn *key, const char *prefix,
                          int64_t id);

/* Starts args over as a call of script (one of feed_scripts.h), nkeys keys
 * and the arguments follow: EVALSHA <sha> <nkeys>, which the Redis pool
 * sends as EVAL <script> on a connection that has not run it yet
 * (store/redis/rds_script.h). */
void feed_args_eval(rds_args_t *a, const char *script, int nkeys);

/* The Redis pool connection for commands about `id` (a user, an author, a
 * post): the same id always maps to the same connection, so its commands
 * stay in order, and ids spread evenly over every connection of the pool
 * (the pool takes affinity % size). */
unsigned feed_affinity(int64_t id);

/* Wall-clock milliseconds since the epoch (post timestamps, fan-out lag). */
int64_t feed_now_ms(void);

/* True when every command of the batch got a reply that is not an error;
 * logs the first Redis error. */
bool feed_batch_ok(const rds_batch_t *b);


#endif
