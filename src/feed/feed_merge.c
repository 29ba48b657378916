/* k-way merge of timeline sources: see feed_merge.h for the order and the
 * trust model. */
#include "feed/feed_merge.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

int feed_key_cmp(feed_key_t a, feed_key_t b)
{
    /* Comparisons, not subtraction: keys span the whole int64 range. */
    if (a.ts != b.ts)
        return a.ts > b.ts ? 1 : -1;
    if (a.id != b.id)
        return a.id > b.id ? 1 : -1;
    return 0;
}

/* qsort comparator: newest first, then a known author first, then the
 * larger author id, so that equal keys end up in one deterministic order. */
static int item_cmp_desc(const void *pa, const void *pb)
{
    const feed_item_t *a = pa, *b = pb;
    int c = feed_key_cmp(feed_item_key(b), feed_item_key(a));
    if (c != 0)
        return c;
    if ((a->author_id != 0) != (b->author_id != 0))
        return a->author_id != 0 ? -1 : 1;
    if (a->author_id != b->author_id)
        return a->author_id > b->author_id ? -1 : 1;
    return 0;
}

void feed_items_sort(feed_item_t *items, size_t n)
{
    /* What Redis returns is nearly always in order already (only ids that
     * share a ms and differ in digit count are not): one pass to check
     * costs far less than qsort, which was ~5% of feedcached's
     * instructions on cached reads. */
    size_t i = 1;
    while (i < n && item_cmp_desc(&items[i - 1], &items[i]) <= 0)
        i++;
    if (i < n)
        qsort(items, n, sizeof *items, item_cmp_desc);
}

/* Raises (or sets) a source's bound to k: the source now vouches for less. */
static void raise_bound(feed_source_t *s, feed_key_t k)
{
    if (!s->bounded || feed_key_cmp(k, s->bound) > 0)
        s->bound = k;
    s->bounded = true;
}

void feed_source_prepare(feed_source_t *s, const feed_key_t *after, bool fetch_was_full,
                         bool partial, feed_key_t partial_floor)
{
    /* 1. Numeric order. Redis sorts equal scores by member STRING, so within
     *    one ts the ids arrive in lexicographic order ("9" > "100" > "10"),
     *    not numeric order. */
    feed_items_sort(s->items, s->n);
    s->bounded = false;
    s->bound = (feed_key_t){ 0, 0 };

    /* 2. A full reply may stop in the middle of its oldest ts group, and
     *    because of the string order above the part that came back is not a
     *    numeric prefix of that group: nothing at that ts can be trusted, only
     *    ts > min_ts, i.e. key > (min_ts, INT64_MAX). This uses the oldest ts
     *    of the whole reply, before the cursor filter below (LIMIT counted
     *    those items too). A full reply of zero items (N = 0) says nothing:
     *    trust nothing. */
    if (fetch_was_full) {
        int64_t min_ts = s->n > 0 ? s->items[s->n - 1].ts : INT64_MAX;
        raise_bound(s, (feed_key_t){ min_ts, INT64_MAX });
    }

    /* 3. A trimmed set lacks posts older than its oldest entry. It may also
     *    lack posts with the SAME ts as that entry: trimming (ZREMRANGEBYRANK)
     *    removes by Redis rank, string order within a ts, so which of the
     *    floor's ts group survived has nothing to do with their numeric ids.
     *    Hence the bound is (floor.ts, INT64_MAX), not the floor itself. */
    if (partial)
        raise_bound(s, (feed_key_t){ partial_floor.ts, INT64_MAX });

    /* 4. Keep only [lo, hi): items strictly after the cursor (key < after;
     *    the reply starts at after.ts inclusive, so it holds the cursor's own
     *    post and its newer ts-mates) and strictly above the bound. The items
     *    are sorted, so both are contiguous; compact in place so that the
     *    caller's pointer (and its free) stay valid. */
    size_t lo = 0, hi = s->n;
    if (after)
        while (lo < hi && feed_key_cmp(feed_item_key(&s->items[lo]), *after) >= 0)
            lo++;
    if (s->bounded)
        while (hi > lo && feed_key_cmp(feed_item_key(&s->items[hi - 1]), s->bound) <= 0)
            hi--;
    if (lo > 0 && hi > lo)
        memmove(s->items, s->items + lo, (hi - lo) * sizeof *s->items);
    s->n = hi - lo;
}

bool feed_merge_watermark(const feed_source_t *srcs, size_t nsrc, feed_key_t *w)
{
    bool found = false;
    feed_key_t best = { 0, 0 };
    for (size_t i = 0; i < nsrc; i++) {
        if (!srcs[i].bounded)
            continue;
        if (!found || feed_key_cmp(srcs[i].bound, best) > 0)
            best = srcs[i].bound;
        found = true;
    }
    if (found)
        *w = best;
    return found;
}

/* Index of the source whose next item is the newest, or nsrc when all are
 * exhausted. A linear scan: k is small (tens), and a page is at most a few
 * hundred items, so a heap would cost more code than it saves. Ties go to
 * the lowest index; the copies of one post then come out back to back. */
static size_t newest_head(const feed_source_t *srcs, size_t nsrc, const size_t *pos)
{
    size_t best = nsrc;
    for (size_t i = 0; i < nsrc; i++) {
        if (pos[i] >= srcs[i].n)
            continue;
        if (best == nsrc || feed_key_cmp(feed_item_key(&srcs[i].items[pos[i]]),
                                         feed_item_key(&srcs[best].items[pos[best]])) > 0)
            best = i;
    }
    return best;
}

feed_merge_status_t feed_merge(const feed_source_t *srcs, size_t nsrc, size_t limit,
                               feed_item_t *out, size_t *nout, bool *more)
{
    size_t stack_pos[FEED_MERGE_STACK_SOURCES];
    size_t *pos = stack_pos;
    if (nsrc > FEED_MERGE_STACK_SOURCES)
        pos = fc_xcalloc(nsrc, sizeof *pos);
    else
        memset(stack_pos, 0, sizeof stack_pos);

    feed_key_t w = { 0, 0 };
    bool has_w = feed_merge_watermark(srcs, nsrc, &w);
    size_t n = 0;
    bool trusted_left = false;

    for (;;) {
        size_t i = newest_head(srcs, nsrc, pos);
        if (i == nsrc)
            break;
        const feed_item_t *it = &srcs[i].items[pos[i]];
        /* The newest remaining item is at or below W: so is everything else
         * left, and none of it can be told complete. */
        if (has_w && feed_key_cmp(feed_item_key(it), w) <= 0)
            break;
        /* Another copy of the post just emitted (home feed and a celebrity
         * set both hold it). Absorbed even when the page is full, so that the
         * last post also gets a known author. */
        if (n > 0 && out[n - 1].id == it->id && out[n - 1].ts == it->ts) {
            if (out[n - 1].author_id == 0)
                out[n - 1].author_id = it->author_id;
            pos[i]++;
            continue;
        }
        if (n == limit) {
            trusted_left = true;
            break;
        }
        out[n++] = *it;
        pos[i]++;
    }

    if (pos != stack_pos)
        free(pos);
    *nout = n;
    if (n == limit) {
        *more = trusted_left || has_w;
        return FEED_MERGE_PAGE;
    }
    /* Short of a full page: the end if every source is complete, otherwise
     * the rest lies below W and must be fetched. */
    *more = has_w;
    return has_w ? FEED_MERGE_SHORT : FEED_MERGE_END;
}
