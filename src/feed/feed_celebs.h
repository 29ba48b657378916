/* The celebrity window cache: the newest entries of each celebrity's
 * recent-posts set (posts:{A}), as this instance last read them from Redis,
 * kept for celebrity_cache_ms.
 *
 * Why. Most cached reads merge a few celebrities (a popular account is
 * followed by many), and every read asked Redis for each one's window: two
 * ZRANGEs of the same few keys, thousands of times a second, about a third
 * of Redis' CPU per read (bench/RESULTS.md, "Read cost"). Kept here for
 * celebrity_cache_ms (250 by default), they are asked for about four times
 * a second per celebrity instead. The default was 100 until 2026-12-06:
 * on the full bench graph (500 celebrities, ~13 merged per read) the
 * windows refetched as they expired were most of what still reached Redis,
 * about one command per read (bench/RESULTS.md, "celebrity windows"); a
 * quarter of the second the contract gives a post to reach its followers
 * still leaves the fan-out most of it.
 *
 * Why it is safe. A cached window is a true state of the set at the time it
 * was read, no older than celebrity_cache_ms. The contract lets a post show
 * up in followers' timelines up to 1 s after its publish; a post deleted
 * since is still dropped from every page, because pages are hydrated from
 * the cached posts (the tombstone) every time, and the read that finds one
 * forgets that author's window. A publish or delete through this instance
 * forgets the author's window when Redis has it, and a window read before
 * that is not stored (feed_celebs_epoch), so this instance's own writes
 * show at once.
 *
 * A set-associative table: an author's hash picks a set of
 * FEED_CELEBS_WAYS slots, and the window takes its own slot there, an
 * empty one, or the one stored longest ago. The table was direct-mapped (a
 * slot per hash, a newer author took it over) until 2026-12-06: with the
 * full bench graph's 500 celebrities in 4,096 slots, 9-12% of them shared
 * a slot with another and the two evicted each other at every read, so
 * 10-11% of the windows merged came from Redis instead of 1-3%
 * (bench/RESULTS.md, "celebrity windows"). With four ways, 500 authors
 * spread by the hash fill a set past its four in about one table of six
 * (Poisson, 1,024 sets), and then only one window is lost.
 * Refreshed ahead of expiry. When a window expired, every read of this
 * instance that merged the author asked Redis for it until the first reply
 * was stored (the full bench graph merges each celebrity ~450 times a
 * second, and a round trip takes a few ms at full load). So
 * the first first-page read past three quarters of a window's life claims
 * its refresh (feed_celebs_refresh_due) and fetches it along with its own
 * commands, while the other reads go on with the copy, which is still
 * within celebrity_cache_ms: one fetch per window's life, and none of the
 * reads in between waits for Redis. A claim whose reply never came back
 * (Redis failed, the read's guess was wrong) lapses after a quarter of the
 * life; the copy then expires as before.
 * Pure, no I/O: the caller passes the time. */
#ifndef FC_FEED_FEED_CELEBS_H
#define FC_FEED_FEED_CELEBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/feed_merge.h"

#define FEED_CELEBS_SLOTS 4096
#define FEED_CELEBS_WAYS 4
/* Entries kept per window; a longer window is cut to this (and is then not
 * the whole set). */
#define FEED_CELEBS_ITEMS_MAX 256

typedef struct feed_celebs feed_celebs_t;

/* fresh_ms: how long a window is served (0: the cache is off, nothing is
 * stored). */
feed_celebs_t *feed_celebs_new(int64_t fresh_ms);
void feed_celebs_free(feed_celebs_t *c);

/* A counter that feed_celebs_forget raises. A read takes it before it sends
 * its commands and gives it to feed_celebs_store, which refuses a window
 * read before a forget of the same slot. */
uint64_t feed_celebs_epoch(const feed_celebs_t *c);

/* Keeps a window read from the top of author's set (no cursor): items as
 * Redis sent them (any order among equal scores), whole when the set had
 * no more entries than asked for. partial, floor: the set's state, as
 * given to feed_source_prepare. Ignored when the cache is off, or when the
 * slot was forgotten after epoch was taken. */
void feed_celebs_store(feed_celebs_t *c, int64_t author, int64_t now_ms, uint64_t epoch,
                       const feed_item_t *items, size_t n, bool whole, bool partial,
                       feed_key_t floor);

/* Serves author's window after the cursor (NULL: the first page) when a
 * fresh one holds at least `window` entries after it, or all of the set:
 * fills s (items allocated with malloc, then feed_source_prepare'd), sets
 * *full when the window was cut (a longer one would hold more: only Redis
 * has it) and returns true. Otherwise returns false and leaves s untouched. */
bool feed_celebs_serve(const feed_celebs_t *c, int64_t author, int64_t now_ms,
                       const feed_key_t *after, int64_t window, feed_source_t *s, bool *full);

/* Whether feed_celebs_serve would serve these arguments. */
bool feed_celebs_covers(const feed_celebs_t *c, int64_t author, int64_t now_ms,
                        const feed_key_t *after, int64_t window);

/* Whether a first-page read that the copy serves should fetch author's
 * window all the same, to refresh it: the copy has lived three quarters of
 * fresh_ms and no read has claimed its refresh within the last quarter.
 * Claims it when it says yes; the next feed_celebs_store of the author
 * clears the claim. */
bool feed_celebs_refresh_due(feed_celebs_t *c, int64_t author, int64_t now_ms);

/* Drops author's window (a publish or delete of theirs, a deleted post
 * found in a page) and raises the epoch. */
void feed_celebs_forget(feed_celebs_t *c, int64_t author);

#endif
