/* Hydration: the cached values of a list of posts (feed_postval.h), in one
 * round trip (one MGET on a single Redis; on a cluster one per slot,
 * pipelined), then the misses from PostgreSQL in one query, written back
 * with POST_FILL (never over a newer body or a tombstone). A value comes
 * whole, body included, even when bodies are not asked for.
 * Used by timeline.get for a page and by warming for a feed's newest posts. */
#ifndef FC_FEED_FEED_HYDRATE_H
#define FC_FEED_FEED_HYDRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/feed_engine.h"
#include "util/buf.h"

typedef struct {
    int64_t id;            /* in: the post */
    int64_t ts;            /* in: created_at from the feed; out: from PostgreSQL on a miss */
    int64_t author_id;     /* out (0 = unknown) */
    size_t body_off;       /* out, when bodies were asked for: the body is */
    size_t body_len;       /* body_len bytes at body_off in the caller's buffer */
    bool found;            /* out: the post exists (hash or PostgreSQL) */
    bool deleted;          /* out: deleted, or unknown to PostgreSQL */
} feed_hpost_t;

/* status: 0 done; -1 PostgreSQL failed (the misses stay !found). pg_used:
 * PostgreSQL was asked (a cache miss). */
typedef void feed_hydrate_fn(int status, bool pg_used, void *arg);

enum {
    FEED_HYDRATE_UNCOUNTED = 2,   /* not a read: leave the post cache hit ratio alone (warming) */
};

/* posts must stay valid until cb runs (always later, from the loop). Posts
 * already found or deleted (feed_hydrate_take) are left as they are and not
 * counted; at least one must be neither. bodies, when not NULL, gets the
 * bodies of the posts found appended (one buffer for a page: a copy of
 * each body in its own allocation was 40 of a cached read's ~150 malloc
 * and free calls, callgrind); it too must stay valid until cb runs. */
void feed_hydrate(feed_engine_t *e, unsigned affinity, feed_hpost_t *posts, size_t n,
                  buf_t *bodies, unsigned flags, feed_hydrate_fn *cb, void *arg);

/* Fills p from a cached value the caller read itself (value NULL: a nil
 * reply), as feed_hydrate does with its MGET's, appending its body to
 * bodies unless NULL; returns whether it was a hit (found or deleted).
 * Counts nothing. */
bool feed_hydrate_take(feed_hpost_t *p, const char *value, size_t len, buf_t *bodies);

#endif
