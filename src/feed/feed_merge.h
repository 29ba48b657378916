/* The read path's k-way merge: one page of a home timeline from several
 * sorted sources (the user's home feed and the recent-post sets of the
 * celebrities they follow), deduplicated, with an exact account of what the
 * sources can be trusted for.
 *
 * Order. A post's key is (ts, id): created_at in ms, then the post id, both
 * int64. Keys compare as plain pairs of numbers; a GREATER key is NEWER and
 * comes EARLIER in the timeline, which is ordered by key descending (ties on
 * ts broken by id descending, docs/PROTOCOL.md "What timeline.get returns"). "After k" in the
 * timeline therefore means "key < k".
 *
 * Trust. A source is either complete (every post of it below the cursor is
 * in items) or bounded: only its posts with key > bound are all present;
 * some with key <= bound may be missing (cut by a LIMIT, or trimmed from the
 * Redis set). The merge emits only posts newer than W, the highest bound of
 * all bounded sources: below W it cannot know whether a post is missing.
 *
 * Typical use, per source:
 *     ZRANGE key <cursor.ts | +inf> 0 BYSCORE REV LIMIT 0 N WITHSCORES
 *     -> items, feed_source_prepare(&src, cursor, got == N, trimmed, floor)
 * then feed_merge over all sources. On FEED_MERGE_SHORT: if some fetch came
 * back full, fetch again with a larger N (a ts group larger than N can make
 * a page SHORT with nothing ready, so N must grow, not stay); when only
 * trimmed sets hold the page back, serve it from PostgreSQL. This is the loop
 * tests/unit/test_feed_merge.c runs against an oracle.
 *
 * Pure functions over caller memory: no allocation except a small array of
 * positions in feed_merge when there are more than FEED_MERGE_STACK_SOURCES
 * sources. */
#ifndef FC_FEED_FEED_MERGE_H
#define FC_FEED_FEED_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t ts;   /* created_at, ms since the epoch */
    int64_t id;   /* post id */
} feed_key_t;

typedef struct {
    int64_t ts;
    int64_t id;
    int64_t author_id;   /* 0 = unknown (a home feed holds only ids and scores) */
} feed_item_t;

typedef struct {
    feed_item_t *items;   /* sorted newest first once prepared */
    size_t n;
    bool bounded;         /* false: complete below the cursor */
    feed_key_t bound;     /* when bounded: every item with key > bound is in items;
                             items with key <= bound may be missing (and, after
                             feed_source_prepare, none are in items) */
} feed_source_t;

typedef enum {
    FEED_MERGE_PAGE,    /* limit items emitted; *more tells whether a next page may exist */
    FEED_MERGE_END,     /* fewer than limit, every source complete: the last page */
    FEED_MERGE_SHORT,   /* fewer than limit and some source bounded: the *nout items
                           emitted are right, but the page needs more data */
} feed_merge_status_t;

/* Compares keys as numbers: > 0 when a is NEWER than b (a comes first in the
 * timeline), < 0 when a is OLDER (comes later), 0 when equal. */
int feed_key_cmp(feed_key_t a, feed_key_t b);

static inline feed_key_t feed_item_key(const feed_item_t *it)
{
    return (feed_key_t){ it->ts, it->id };
}

/* Sorts newest first: (ts, id) descending; equal keys put a known
 * (non-zero) author first so that the result does not depend on the input
 * order. */
void feed_items_sort(feed_item_t *items, size_t n);

/* Turns what one ZRANGE returned into a source with an exact bound; see
 * feed_merge.c for each step and why. s->items / s->n hold the raw reply
 * (any order; score = ts, member = id) on entry and the trusted items,
 * sorted newest first, on return (compacted in place: s->items is not
 * moved). after: the cursor's key, or NULL for the first page.
 * fetch_was_full: the reply held all N items asked for. partial: the Redis
 * set was trimmed, so posts older than its oldest entry, partial_floor, may
 * be missing from it (and so may posts with the same ts: Redis trims ties in
 * member-string order, not numeric order). */
void feed_source_prepare(feed_source_t *s, const feed_key_t *after, bool fetch_was_full,
                         bool partial, feed_key_t partial_floor);

/* The highest bound over the bounded sources, W. Returns false (and leaves
 * *w untouched) when every source is complete. */
bool feed_merge_watermark(const feed_source_t *srcs, size_t nsrc, feed_key_t *w);

/* Merges up to limit items, newest first, into out (capacity limit) and sets
 * *nout. Each source must be sorted newest first and hold only items after
 * the cursor (feed_source_prepare does both). A post id found in several
 * sources is emitted once, with a non-zero author_id when any source knows
 * it. Only items with key > W (feed_merge_watermark) are emitted.
 *
 * *more (set for every status, meaningful for PAGE): true when at least one
 * more trusted item exists or some source is bounded (there may be more
 * below W): the caller returns a next cursor made from out[limit - 1];
 * false only when every source is complete and exhausted. It is exact when
 * the sources came from feed_source_prepare over real posts: a bounded
 * source then always holds, below W, the posts its bound dropped, so a next
 * cursor never leads to an empty page.
 *
 * Dedup relies on a post having one created_at everywhere (the service
 * scores every set with it), so that copies of a post have equal keys and
 * meet in the merge. */
feed_merge_status_t feed_merge(const feed_source_t *srcs, size_t nsrc, size_t limit,
                               feed_item_t *out, size_t *nout, bool *more);

#define FEED_MERGE_STACK_SOURCES 64

#endif
