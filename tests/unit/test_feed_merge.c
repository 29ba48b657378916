/* Unit tests for the k-way timeline merge (feed_merge).
 *
 * Besides hand-written cases, a simulation: random "true" timelines (many
 * ties on ts, ids whose decimal strings sort differently from their values)
 * are spread over several Redis sorted sets with overlaps, some sets are
 * trimmed the way Redis trims (by rank, member-string order within a score),
 * and pages are walked the way the read path does it: ZRANGE ... LIMIT N
 * (simulated with Redis's ordering), feed_source_prepare, feed_merge, cursor
 * = last item of the page. Every emitted item is checked against the true
 * order; on SHORT the walker fetches more or serves the page from the truth
 * ("PostgreSQL"), as the caller would. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "feed/feed_merge.h"

#define MAXT 64    /* posts in a simulated timeline */
#define MAXK 6     /* sources */
#define MAXL 8     /* page size */

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static size_t rnd(size_t n) { return (size_t)(rng() % n); }

static feed_key_t key(int64_t ts, int64_t id) { return (feed_key_t){ ts, id }; }

/* ---- a simulated Redis sorted set ---------------------------------------- */

typedef struct {
    int64_t ts, id, author;
} post_t;

typedef struct {
    post_t m[MAXT];      /* Redis order: score ascending, then member string ascending */
    size_t n;
    post_t orig[MAXT];   /* membership before trimming: what the bound must vouch for */
    size_t norig;
    bool partial;
    feed_key_t floor;
} zset_t;

/* Redis compares equal scores by member bytes: "10" < "100" < "9". */
static int redis_cmp(const post_t *a, const post_t *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    char sa[24], sb[24];
    snprintf(sa, sizeof sa, "%" PRId64, a->id);
    snprintf(sb, sizeof sb, "%" PRId64, b->id);
    return strcmp(sa, sb);
}

static void zset_add(zset_t *z, post_t p)
{
    size_t i = z->n;
    while (i > 0 && redis_cmp(&z->m[i - 1], &p) > 0) {
        z->m[i] = z->m[i - 1];
        i--;
    }
    z->m[i] = p;
    z->n++;
    z->orig[z->norig++] = p;
}

/* ZREMRANGEBYRANK key 0 r-1: drops the r lowest by Redis order. The caller
 * then knows the set is partial, its floor being the lowest survivor (an
 * emptied set vouches for nothing). */
static void zset_trim(zset_t *z, size_t r)
{
    memmove(z->m, z->m + r, (z->n - r) * sizeof z->m[0]);
    z->n -= r;
    z->partial = true;
    z->floor = z->n ? key(z->m[0].ts, z->m[0].id) : key(INT64_MAX, INT64_MAX);
}

/* ZRANGE key <after.ts | +inf> 0 BYSCORE REV LIMIT 0 limit WITHSCORES:
 * highest Redis order first (member strings descending within a score). */
static size_t zset_range(const zset_t *z, const feed_key_t *after, size_t limit,
                         bool author_known, feed_item_t *out)
{
    size_t n = 0;
    for (size_t i = z->n; i-- > 0 && n < limit;) {
        if (after && z->m[i].ts > after->ts)
            continue;
        out[n++] = (feed_item_t){ z->m[i].ts, z->m[i].id, author_known ? z->m[i].author : 0 };
    }
    return n;
}

/* ---- the truth and the page walker ---------------------------------------- */

typedef struct {
    post_t p;
    bool in_celeb;   /* in some source that knows authors: merged output must carry it */
} truth_t;

typedef struct {
    size_t pages, ends, shorts, retries, fallbacks, merged_items, cases;
} stats_t;

/* Source 0 plays the home feed (ids and scores only: author unknown). */
static bool source_knows_author(size_t s) { return s != 0; }

/* Checks what feed_source_prepare promises for one source. */
static void check_prepared(const feed_source_t *src, const zset_t *z, const feed_key_t *after)
{
    for (size_t i = 0; i < src->n; i++) {
        feed_key_t k = feed_item_key(&src->items[i]);
        if (i > 0)
            assert_true(feed_key_cmp(feed_item_key(&src->items[i - 1]), k) > 0);
        if (after)
            assert_true(feed_key_cmp(k, *after) < 0);
        if (src->bounded)
            assert_true(feed_key_cmp(k, src->bound) > 0);
    }
    /* The bound is honest: every member the set ever had (trimmed or not)
     * after the cursor and above the bound is there. */
    for (size_t j = 0; j < z->norig; j++) {
        feed_key_t k = key(z->orig[j].ts, z->orig[j].id);
        if (after && feed_key_cmp(k, *after) >= 0)
            continue;
        if (src->bounded && feed_key_cmp(k, src->bound) <= 0)
            continue;
        bool found = false;
        for (size_t i = 0; i < src->n && !found; i++)
            found = feed_key_cmp(feed_item_key(&src->items[i]), k) == 0;
        if (!found)
            fail_msg("prepare lost (%" PRId64 ",%" PRId64 ")", k.ts, k.id);
    }
}

/* Walks the whole timeline page by page, as the read path would. n_first is
 * the LIMIT of the first ZRANGE of every page; SHORT doubles it while some
 * fetch came back full, then falls back to the truth. */
static void walk(const zset_t *sets, size_t k, const truth_t *truth, size_t len,
                 size_t limit, size_t n_first, bool expect_no_short, stats_t *st)
{
    static feed_item_t buf[MAXK][MAXT];
    feed_key_t after = { 0, 0 };
    bool have_after = false;
    size_t pos = 0, n_fetch = n_first;

    for (int guard = 0;; guard++) {
        assert_true(guard < 10000);
        const feed_key_t *ap = have_after ? &after : NULL;
        feed_source_t src[MAXK];
        bool any_full = false;
        for (size_t s = 0; s < k; s++) {
            size_t n = zset_range(&sets[s], ap, n_fetch, source_knows_author(s), buf[s]);
            bool full = n == n_fetch;
            any_full |= full;
            src[s] = (feed_source_t){ .items = buf[s], .n = n };
            feed_source_prepare(&src[s], ap, full, sets[s].partial, sets[s].floor);
            assert_ptr_equal(src[s].items, buf[s]);
            check_prepared(&src[s], &sets[s], ap);
        }

        feed_item_t out[MAXL + 1];
        out[limit] = (feed_item_t){ -7, -7, -7 };   /* must stay untouched */
        size_t nout = 99;
        bool more = false;
        feed_merge_status_t r = feed_merge(src, k, limit, out, &nout, &more);
        assert_true(out[limit].ts == -7 && out[limit].id == -7);
        assert_true(nout <= limit);
        assert_true(pos + nout <= len);
        for (size_t j = 0; j < nout; j++) {
            const truth_t *t = &truth[pos + j];
            if (out[j].ts != t->p.ts || out[j].id != t->p.id)
                fail_msg("item %zu: got (%" PRId64 ",%" PRId64 ") want (%" PRId64 ",%" PRId64 ")",
                         pos + j, out[j].ts, out[j].id, t->p.ts, t->p.id);
            assert_int_equal(out[j].author_id, t->in_celeb ? t->p.author : 0);
        }
        st->merged_items += nout;

        feed_key_t w;
        bool has_w = feed_merge_watermark(src, k, &w);
        switch (r) {
        case FEED_MERGE_PAGE:
            st->pages++;
            assert_int_equal(nout, limit);
            /* Exact: a bounded source always has posts below W after the
             * page (those its bound dropped), so more never leads to an
             * empty page. */
            assert_int_equal(more, pos + limit < len);
            pos += limit;
            after = key(out[limit - 1].ts, out[limit - 1].id);
            have_after = true;
            n_fetch = n_first;
            if (!more)
                return;
            break;
        case FEED_MERGE_END:
            st->ends++;
            assert_false(has_w);
            assert_false(more);
            assert_int_equal(pos + nout, len);
            return;
        case FEED_MERGE_SHORT:
            st->shorts++;
            assert_true(has_w);
            assert_true(more);
            assert_false(expect_no_short);
            if (any_full && n_fetch <= MAXT) {
                st->retries++;
                n_fetch *= 2;
                break;
            }
            /* Only trimmed sets hold the page back: serve it from "PostgreSQL". */
            st->fallbacks++;
            {
                size_t take = len - pos < limit ? len - pos : limit;
                if (take == 0)
                    return;
                pos += take;
                after = key(truth[pos - 1].p.ts, truth[pos - 1].p.id);
                have_after = true;
                n_fetch = n_first;
                if (take < limit)
                    return;
            }
            break;
        default:
            fail_msg("bad status %d", (int)r);
        }
    }
}

/* Builds the truth (the union of the sets before trimming), newest first. */
static size_t build_truth(const zset_t *sets, size_t k, truth_t *truth)
{
    size_t len = 0;
    for (size_t s = 0; s < k; s++) {
        for (size_t j = 0; j < sets[s].norig; j++) {
            const post_t *p = &sets[s].orig[j];
            size_t i = 0;
            while (i < len && truth[i].p.id != p->id)
                i++;
            if (i == len)
                truth[len++] = (truth_t){ *p, false };
            truth[i].in_celeb |= source_knows_author(s);
        }
    }
    for (size_t i = 1; i < len; i++)   /* insertion sort, (ts, id) descending */
        for (size_t j = i; j > 0 && feed_key_cmp(key(truth[j].p.ts, truth[j].p.id),
                                                 key(truth[j - 1].p.ts, truth[j - 1].p.id)) > 0; j--) {
            truth_t t = truth[j];
            truth[j] = truth[j - 1];
            truth[j - 1] = t;
        }
    return len;
}

/* First ZRANGE sizes: tiny ones cut ts groups all the time; the last one
 * never comes back full. */
static const size_t fetch_sizes[] = { 1, 2, 3, 5, 2 * MAXT + 1 };
#define NFETCH (sizeof fetch_sizes / sizeof fetch_sizes[0])

/* Walks with every page size 1..MAXL and every fetch size (hand cases), or
 * with `samples` random combinations of them (the random cases). */
static void walk_sets(const zset_t *sets, size_t k, bool trimmed, int samples, stats_t *st)
{
    truth_t truth[MAXK * MAXT];
    size_t len = build_truth(sets, k, truth);
    if (samples == 0) {
        for (size_t limit = 1; limit <= MAXL; limit++)
            for (size_t f = 0; f < NFETCH; f++)
                walk(sets, k, truth, len, limit, fetch_sizes[f],
                     !trimmed && fetch_sizes[f] > MAXT, st);
        return;
    }
    for (int i = 0; i < samples; i++) {
        size_t f = rnd(NFETCH);
        walk(sets, k, truth, len, 1 + rnd(MAXL), fetch_sizes[f],
             !trimmed && fetch_sizes[f] > MAXT, st);
    }
}

static void walk_all(const zset_t *sets, size_t k, bool trimmed, stats_t *st)
{
    walk_sets(sets, k, trimmed, 0, st);
}

/* ---- hand-written cases ------------------------------------------------------ */

static void key_cmp_is_numeric_newer_first(void **state)
{
    (void)state;
    assert_true(feed_key_cmp(key(5, 1), key(4, 100)) > 0);    /* newer ts wins */
    assert_true(feed_key_cmp(key(5, 1), key(5, 2)) < 0);      /* tie: larger id is newer */
    assert_int_equal(feed_key_cmp(key(5, 2), key(5, 2)), 0);
    assert_true(feed_key_cmp(key(5, 10), key(5, 9)) > 0);     /* numbers, not strings */
    /* No overflow at the extremes (a subtraction would get these wrong). */
    assert_true(feed_key_cmp(key(INT64_MIN, 0), key(INT64_MAX, 0)) < 0);
    assert_true(feed_key_cmp(key(INT64_MAX, 0), key(INT64_MIN, 0)) > 0);
    assert_true(feed_key_cmp(key(0, INT64_MIN), key(0, INT64_MAX)) < 0);
    assert_true(feed_key_cmp(key(0, INT64_MAX), key(-1, INT64_MAX)) > 0);
}

static void sort_is_newest_first_and_deterministic(void **state)
{
    (void)state;
    feed_item_t it[] = { { 7, 9, 1 }, { 7, 100, 1 }, { 8, 1, 2 }, { 7, 10, 1 },
                         { 6, 5, 0 }, { 6, 5, 3 } };
    feed_items_sort(it, 6);
    static const int64_t ids[] = { 1, 100, 10, 9, 5, 5 };
    for (int i = 0; i < 6; i++)
        assert_int_equal(it[i].id, ids[i]);
    assert_int_equal(it[4].author_id, 3);   /* a known author first among equals */
    feed_items_sort(NULL, 0);
    feed_items_sort(it, 1);
    /* Sorted already: unchanged. Out of order only in the last pair (the
     * check before the sort stops there): sorted. */
    feed_item_t done[] = { { 9, 3, 0 }, { 9, 2, 0 }, { 8, 7, 4 }, { 8, 7, 0 } };
    feed_items_sort(done, 4);
    assert_int_equal(done[1].id, 2);
    assert_int_equal(done[2].author_id, 4);
    feed_item_t last[] = { { 9, 3, 0 }, { 9, 2, 0 }, { 8, 7, 0 }, { 8, 7, 4 } };
    feed_items_sort(last, 4);
    assert_int_equal(last[2].author_id, 4);
    assert_int_equal(last[3].author_id, 0);
    feed_item_t first[] = { { 1, 1, 0 }, { 9, 3, 0 }, { 5, 2, 0 } };
    feed_items_sort(first, 3);
    assert_int_equal(first[0].ts, 9);
    assert_int_equal(first[2].ts, 1);
}

/* ZRANGE REV returns ts-ties in reversed string order: "9", "100", "10". */
static void prepare_fixes_string_order_of_ties(void **state)
{
    (void)state;
    feed_item_t it[] = { { 50, 9, 0 }, { 50, 100, 0 }, { 50, 10, 0 }, { 40, 1000, 0 } };
    feed_source_t s = { it, 4, false, { 0, 0 } };
    feed_source_prepare(&s, NULL, false, false, key(0, 0));
    assert_false(s.bounded);
    assert_int_equal(s.n, 4);
    assert_int_equal(it[0].id, 100);
    assert_int_equal(it[1].id, 10);
    assert_int_equal(it[2].id, 9);
    assert_int_equal(it[3].id, 1000);
}

/* A full fetch may cut its oldest ts group anywhere: that group is dropped
 * and the source vouches only for newer ts. */
static void prepare_full_fetch_drops_oldest_ts_group(void **state)
{
    (void)state;
    feed_item_t it[] = { { 5, 1, 0 }, { 5, 2, 0 }, { 4, 9, 0 }, { 4, 100, 0 } };
    feed_source_t s = { it, 4, false, { 0, 0 } };
    feed_source_prepare(&s, NULL, true, false, key(0, 0));
    assert_true(s.bounded);
    assert_int_equal(feed_key_cmp(s.bound, key(4, INT64_MAX)), 0);
    assert_int_equal(s.n, 2);
    assert_true(it[0].id == 2 && it[1].id == 1);

    /* All of one ts and full: nothing can be trusted. */
    feed_item_t same[] = { { 5, 1, 0 }, { 5, 2, 0 } };
    feed_source_t t = { same, 2, false, { 0, 0 } };
    feed_source_prepare(&t, NULL, true, false, key(0, 0));
    assert_true(t.bounded);
    assert_int_equal(t.n, 0);
}

/* The reply starts at the cursor's ts: the cursor's post and its newer
 * ts-mates come back and must go. */
static void prepare_drops_cursor_and_newer(void **state)
{
    (void)state;
    feed_item_t it[] = { { 5, 3, 0 }, { 5, 2, 0 }, { 5, 10, 0 }, { 5, 1, 0 }, { 4, 7, 0 } };
    feed_source_t s = { it, 5, false, { 0, 0 } };
    feed_key_t after = key(5, 3);
    feed_source_prepare(&s, &after, false, false, key(0, 0));
    assert_false(s.bounded);
    assert_int_equal(s.n, 3);
    assert_true(it[0].id == 2 && it[1].id == 1 && it[2].id == 7);
}

/* A trimmed set: its floor's ts group cannot be trusted either, because
 * Redis trimmed it in string order. True set {(5,1),(4,9),(4,10),(4,100)}:
 * trimming two by rank removes "10" and "100" (they sort before "9"), so the
 * floor is (4,9) while (4,10) and (4,100), numerically above it, are gone.
 * Trusting keys > (4,9) would let another source's (4,50) through ahead of
 * the missing (4,100). */
static void trimmed_floor_ties_are_not_trusted(void **state)
{
    (void)state;
    zset_t sets[2];
    memset(sets, 0, sizeof sets);
    zset_add(&sets[1], (post_t){ 5, 1, 11 });
    zset_add(&sets[1], (post_t){ 4, 9, 11 });
    zset_add(&sets[1], (post_t){ 4, 10, 11 });
    zset_add(&sets[1], (post_t){ 4, 100, 11 });
    zset_trim(&sets[1], 2);
    assert_int_equal(feed_key_cmp(sets[1].floor, key(4, 9)), 0);
    zset_add(&sets[0], (post_t){ 4, 50, 22 });

    feed_item_t a[MAXT], b[MAXT], out[4];
    feed_source_t src[2] = { { b, zset_range(&sets[0], NULL, 10, false, b), false, { 0, 0 } },
                             { a, zset_range(&sets[1], NULL, 10, true, a), false, { 0, 0 } } };
    feed_source_prepare(&src[0], NULL, false, false, key(0, 0));
    feed_source_prepare(&src[1], NULL, false, true, sets[1].floor);
    size_t n;
    bool more;
    assert_int_equal(feed_merge(src, 2, 4, out, &n, &more), FEED_MERGE_SHORT);
    assert_int_equal(n, 1);
    assert_true(out[0].ts == 5 && out[0].id == 1 && out[0].author_id == 11);
    assert_true(more);

    stats_t st = { 0 };
    walk_all(sets, 2, true, &st);
}

static void empty_sources(void **state)
{
    (void)state;
    feed_item_t out[3];
    size_t n = 9;
    bool more = true;
    assert_int_equal(feed_merge(NULL, 0, 3, out, &n, &more), FEED_MERGE_END);
    assert_int_equal(n, 0);
    assert_false(more);

    feed_source_t e[3] = { { NULL, 0, false, { 0, 0 } }, { NULL, 0, false, { 0, 0 } },
                           { NULL, 0, false, { 0, 0 } } };
    feed_source_prepare(&e[0], NULL, false, false, key(0, 0));
    assert_int_equal(feed_merge(e, 3, 3, out, &n, &more), FEED_MERGE_END);
    assert_int_equal(n, 0);

    /* An empty but bounded source (a full fetch whose items were all at one
     * ts): nothing is ready, fetch more. */
    e[1].bounded = true;
    e[1].bound = key(10, INT64_MAX);
    assert_int_equal(feed_merge(e, 3, 3, out, &n, &more), FEED_MERGE_SHORT);
    assert_int_equal(n, 0);
    assert_true(more);
}

static void more_flag_on_full_pages(void **state)
{
    (void)state;
    feed_item_t a[] = { { 3, 3, 1 }, { 2, 2, 1 } };
    feed_source_t s = { a, 2, false, { 0, 0 } };
    feed_item_t out[2];
    size_t n;
    bool more;
    /* Exactly limit items, all complete: the last page, no cursor. */
    assert_int_equal(feed_merge(&s, 1, 2, out, &n, &more), FEED_MERGE_PAGE);
    assert_false(more);
    /* One more trusted item exists. */
    assert_int_equal(feed_merge(&s, 1, 1, out, &n, &more), FEED_MERGE_PAGE);
    assert_true(more);
    assert_int_equal(out[0].id, 3);
    /* Bounded: there may be more below the bound. */
    s.bounded = true;
    s.bound = key(1, INT64_MAX);
    assert_int_equal(feed_merge(&s, 1, 2, out, &n, &more), FEED_MERGE_PAGE);
    assert_true(more);
    /* The bound cuts the page short. */
    s.bound = key(2, INT64_MAX);
    assert_int_equal(feed_merge(&s, 1, 2, out, &n, &more), FEED_MERGE_SHORT);
    assert_int_equal(n, 1);
    /* limit 0: nothing emitted, but it says whether anything is there. */
    s.bounded = false;
    assert_int_equal(feed_merge(&s, 1, 0, out, &n, &more), FEED_MERGE_PAGE);
    assert_int_equal(n, 0);
    assert_true(more);
}

/* One post in the home feed (author unknown) and two celebrity sets. */
static void duplicates_across_three_sources(void **state)
{
    (void)state;
    feed_item_t home[] = { { 9, 7, 0 }, { 8, 5, 0 }, { 1, 1, 0 } };
    feed_item_t c1[] = { { 8, 5, 42 }, { 2, 2, 42 } };
    feed_item_t c2[] = { { 9, 7, 43 }, { 8, 5, 42 }, { 1, 1, 44 } };
    feed_source_t s[3] = { { home, 3, false, { 0, 0 } }, { c1, 2, false, { 0, 0 } },
                           { c2, 3, false, { 0, 0 } } };
    feed_item_t out[8];
    size_t n;
    bool more;
    assert_int_equal(feed_merge(s, 3, 8, out, &n, &more), FEED_MERGE_END);
    assert_int_equal(n, 4);
    static const feed_item_t want[] = { { 9, 7, 43 }, { 8, 5, 42 }, { 2, 2, 42 }, { 1, 1, 44 } };
    for (size_t i = 0; i < 4; i++)
        assert_true(out[i].ts == want[i].ts && out[i].id == want[i].id &&
                    out[i].author_id == want[i].author_id);

    /* The page is full after the first copy: the other copies are still
     * absorbed (author filled in) and do not count as "more". */
    feed_item_t h1[] = { { 9, 7, 0 } }, x1[] = { { 9, 7, 43 } }, y1[] = { { 9, 7, 43 } };
    feed_source_t t[3] = { { h1, 1, false, { 0, 0 } }, { x1, 1, false, { 0, 0 } },
                           { y1, 1, false, { 0, 0 } } };
    assert_int_equal(feed_merge(t, 3, 1, out, &n, &more), FEED_MERGE_PAGE);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].author_id, 43);
    assert_false(more);
}

/* Ties everywhere, ids 9/10/100/999/1000 whose strings sort unlike their
 * values, page size 1 included (walk_all runs sizes 1..MAXL). */
static void same_ts_and_string_order_ids(void **state)
{
    (void)state;
    static const int64_t ids[] = { 9, 10, 100, 99, 999, 1000, 1, 2, 11, 101, 1001, 90 };
    zset_t sets[3];
    memset(sets, 0, sizeof sets);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        post_t p = { 1700000000000LL, ids[i], 500 + (int64_t)i };
        zset_add(&sets[i % 3], p);
        if (i % 4 == 0)
            zset_add(&sets[(i + 1) % 3], p);   /* duplicates */
    }
    stats_t st = { 0 };
    walk_all(sets, 3, false, &st);
    assert_true(st.pages > 0 && st.retries > 0);

    /* The same, with one set trimmed: every page must come out right or be
     * reported SHORT. */
    zset_trim(&sets[2], 2);
    walk_all(sets, 3, true, &st);
    assert_true(st.fallbacks > 0);
}

/* More sources than fit the stack array: the heap path of feed_merge. */
static void many_sources(void **state)
{
    (void)state;
    enum { K = 3 * FEED_MERGE_STACK_SOURCES };
    static feed_item_t items[K];
    static feed_source_t s[K];
    for (size_t i = 0; i < K; i++) {
        /* Source i holds post 1000 + (i * 7919) % K: a permutation of ids. */
        int64_t id = 1000 + (int64_t)((i * 7919) % K);
        items[i] = (feed_item_t){ 1, id, id };
        s[i] = (feed_source_t){ &items[i], 1, false, { 0, 0 } };
    }
    feed_item_t out[K];
    size_t n;
    bool more;
    assert_int_equal(feed_merge(s, K, K, out, &n, &more), FEED_MERGE_PAGE);
    assert_int_equal(n, K);
    assert_false(more);
    for (size_t i = 0; i < K; i++)
        assert_int_equal(out[i].id, 1000 + (int64_t)(K - 1 - i));
}

/* ---- the randomized oracle ------------------------------------------------ */

static int64_t random_id(void)
{
    static const int64_t tricky[] = { 1, 9, 10, 11, 19, 90, 99, 100, 101, 109, 110, 999, 1000,
                                      1001, 9999, 10000, 123456789012LL, INT64_MAX };
    switch (rnd(3)) {
    case 0: return tricky[rnd(sizeof tricky / sizeof tricky[0])];
    case 1: return 1 + (int64_t)rnd(200);
    default: return 1 + (int64_t)(rng() >> 2);
    }
}

static void random_timelines_against_oracle(void **state)
{
    (void)state;
    stats_t st = { 0 };
    for (int c = 0; c < 2000; c++) {
        size_t k = 1 + rnd(MAXK);
        size_t len = rnd(MAXT / 2 + 1);
        int64_t span = 1 + (int64_t)rnd(8);   /* few distinct ts: many ties */
        zset_t sets[MAXK];
        memset(sets, 0, sizeof sets);
        int64_t used[MAXT];
        size_t nused = 0;
        while (nused < len) {
            int64_t id = random_id();
            bool dup = false;
            for (size_t i = 0; i < nused && !dup; i++)
                dup = used[i] == id;
            if (dup)
                continue;
            used[nused++] = id;
            post_t p = { 1700000000000LL + (int64_t)rnd((size_t)span), id, 1 + (int64_t)rnd(1000) };
            size_t first = rnd(k);
            zset_add(&sets[first], p);
            for (size_t s = 0; s < k; s++)   /* copies in other sources */
                if (s != first && rnd(4) == 0)
                    zset_add(&sets[s], p);
        }
        bool trimmed = c % 4 != 0;   /* a quarter of the cases: complete sets */
        if (trimmed)
            for (size_t s = 0; s < k; s++)
                if (rnd(3) == 0)
                    zset_trim(&sets[s], rnd(sets[s].n + 1));
        walk_sets(sets, k, trimmed, 3, &st);
        st.cases++;
    }
    print_message("%zu cases: %zu PAGE, %zu END, %zu SHORT (%zu refetches, %zu PG pages), "
                  "%zu items checked\n", st.cases, st.pages, st.ends, st.shorts, st.retries,
                  st.fallbacks, st.merged_items);
    /* The run must have exercised every outcome. */
    assert_true(st.pages > 1000 && st.ends > 1000 && st.shorts > 1000);
    assert_true(st.retries > 100 && st.fallbacks > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_cmp_is_numeric_newer_first),
        cmocka_unit_test(sort_is_newest_first_and_deterministic),
        cmocka_unit_test(prepare_fixes_string_order_of_ties),
        cmocka_unit_test(prepare_full_fetch_drops_oldest_ts_group),
        cmocka_unit_test(prepare_drops_cursor_and_newer),
        cmocka_unit_test(trimmed_floor_ties_are_not_trusted),
        cmocka_unit_test(empty_sources),
        cmocka_unit_test(more_flag_on_full_pages),
        cmocka_unit_test(duplicates_across_three_sources),
        cmocka_unit_test(same_ts_and_string_order_ids),
        cmocka_unit_test(many_sources),
        cmocka_unit_test(random_timelines_against_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
