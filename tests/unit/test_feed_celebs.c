/* Unit tests for the celebrity window cache (feed_celebs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "feed/feed_celebs.h"

#define AUTHOR 42
#define FRESH 100

/* n entries of AUTHOR, ts 1000, 990, ... (newest first), ids 1..n, given
 * in reverse (oldest first) so that the cache must sort them. */
static feed_item_t *window_of(size_t n)
{
    feed_item_t *items = calloc(n ? n : 1, sizeof *items);
    for (size_t i = 0; i < n; i++) {
        size_t k = n - 1 - i;
        items[i] = (feed_item_t){ 1000 - 10 * (int64_t)k, (int64_t)k + 1, AUTHOR };
    }
    return items;
}

static void store(feed_celebs_t *c, int64_t now, uint64_t epoch, size_t n, bool whole)
{
    feed_item_t *items = window_of(n);
    feed_celebs_store(c, AUTHOR, now, epoch, items, n, whole, false, (feed_key_t){ 0, 0 });
    free(items);
}

/* Serves and checks the entries: ids first_id, first_id + 1, ... */
static void expect_served(feed_celebs_t *c, int64_t now, const feed_key_t *after,
                          int64_t window, size_t want_n, int64_t first_id, bool want_full)
{
    feed_source_t s = { 0 };
    bool full = !want_full;
    assert_true(feed_celebs_covers(c, AUTHOR, now, after, window));
    assert_true(feed_celebs_serve(c, AUTHOR, now, after, window, &s, &full));
    assert_int_equal(full, want_full);
    assert_int_equal(s.n, want_n);
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(s.items[i].id, first_id + (int64_t)i);
        assert_int_equal(s.items[i].author_id, AUTHOR);
        if (i > 0)
            assert_true(s.items[i].ts < s.items[i - 1].ts);
    }
    free(s.items);
}

static void expect_missed(feed_celebs_t *c, int64_t now, const feed_key_t *after, int64_t window)
{
    feed_source_t s = { 0 };
    bool full = false;
    assert_false(feed_celebs_covers(c, AUTHOR, now, after, window));
    assert_false(feed_celebs_serve(c, AUTHOR, now, after, window, &s, &full));
    assert_null(s.items);
}

static void a_whole_set_is_served_newest_first_until_it_expires(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(FRESH);
    expect_missed(c, 0, NULL, 8);
    store(c, 1000, feed_celebs_epoch(c), 5, true);
    expect_served(c, 1000, NULL, 8, 5, 1, false);        /* whole: shorter than asked is fine */
    expect_served(c, 1000 + FRESH - 1, NULL, 8, 5, 1, false);
    expect_missed(c, 1000 + FRESH, NULL, 8);
    expect_missed(c, 999, NULL, 8);                      /* a clock going back: not trusted */
    feed_celebs_free(c);
}

static void a_cut_window_serves_only_reads_it_covers(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(FRESH);
    store(c, 0, feed_celebs_epoch(c), 20, false);
    /* Cut: a bounded source (the last entries may hide ties below them). */
    feed_source_t s = { 0 };
    bool full = false;
    assert_true(feed_celebs_serve(c, AUTHOR, 0, NULL, 20, &s, &full));
    assert_true(full);
    assert_true(s.bounded);
    free(s.items);
    expect_missed(c, 0, NULL, 21);                       /* Redis may hold more */
    /* After the cursor of entry 5 (ts 960, id 5): 15 entries from id 6. */
    feed_key_t after = { 960, 5 };
    assert_true(feed_celebs_covers(c, AUTHOR, 0, &after, 15));
    expect_missed(c, 0, &after, 16);
    /* A whole set serves any cursor, even past its end. */
    store(c, 0, feed_celebs_epoch(c), 20, true);
    expect_served(c, 0, &after, 100, 15, 6, false);
    feed_key_t past = { 1, 1 };
    expect_served(c, 0, &past, 100, 0, 0, false);
    feed_celebs_free(c);
}

static void a_forget_drops_the_window_and_refuses_older_reads(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(FRESH);
    uint64_t before = feed_celebs_epoch(c);
    store(c, 0, before, 5, true);
    feed_celebs_forget(c, AUTHOR);
    expect_missed(c, 0, NULL, 1);
    assert_true(feed_celebs_epoch(c) > before);
    /* A read sent before the forget (a publish landed meanwhile) is not kept. */
    store(c, 1, before, 5, true);
    expect_missed(c, 1, NULL, 1);
    /* One sent after it is. */
    store(c, 1, feed_celebs_epoch(c), 5, true);
    expect_served(c, 1, NULL, 1, 5, 1, false);
    feed_celebs_free(c);
}

/* The set of slots an author maps to, as feed_celebs.c computes it: the
 * tests below check that the module agrees. */
static size_t set_of(int64_t author)
{
    return (size_t)(((uint64_t)author * 0x9E3779B97F4A7C15ULL) >> 52) %
           (FEED_CELEBS_SLOTS / FEED_CELEBS_WAYS);
}

/* The first author after `after` whose set is (or is not) AUTHOR's. */
static int64_t author_after(int64_t after, bool same_set)
{
    for (int64_t id = after + 1; id < after + (1 << 24); id++)
        if ((set_of(id) == set_of(AUTHOR)) == same_set)
            return id;
    fail_msg("no author found");
    return 0;
}

static int64_t author_where(bool same_set)
{
    return author_after(AUTHOR, same_set);
}

/* A whole window of n entries of author, stored at now. */
static void store_as(feed_celebs_t *c, int64_t author, int64_t now, size_t n)
{
    feed_item_t *items = window_of(n);
    feed_celebs_store(c, author, now, feed_celebs_epoch(c), items, n, true, false,
                      (feed_key_t){ 0, 0 });
    free(items);
}

static void a_forget_drops_only_its_set(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(FRESH);
    feed_celebs_forget(c, 7);                            /* before any slot exists */
    store(c, 0, feed_celebs_epoch(c), 3, true);
    int64_t elsewhere = author_where(false), colliding = author_where(true);
    feed_celebs_forget(c, elsewhere);
    expect_served(c, 0, NULL, 1, 3, 1, false);
    assert_false(feed_celebs_covers(c, elsewhere, 0, NULL, 1));
    assert_false(feed_celebs_covers(c, colliding, 0, NULL, 1));
    /* A forget of an author sharing the set refuses reads sent before it
     * (harmless: the next read asks Redis). */
    uint64_t before = feed_celebs_epoch(c);
    feed_celebs_forget(c, colliding);
    expect_served(c, 0, NULL, 1, 3, 1, false);           /* not this author's window */
    store(c, 0, before, 2, true);
    expect_served(c, 0, NULL, 1, 3, 1, false);           /* refused: the old one stays */
    feed_celebs_free(c);
}

/* FEED_CELEBS_WAYS authors whose hash picks one set are all kept; one more
 * takes the slot stored longest ago. */
static void authors_sharing_a_set_are_all_kept(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(FRESH);
    int64_t ids[FEED_CELEBS_WAYS + 1] = { AUTHOR };
    for (size_t i = 1; i <= FEED_CELEBS_WAYS; i++)
        ids[i] = author_after(ids[i - 1], true);
    for (size_t i = 0; i < FEED_CELEBS_WAYS; i++)
        store_as(c, ids[i], (int64_t)i, 3);
    for (size_t i = 0; i < FEED_CELEBS_WAYS; i++)
        assert_true(feed_celebs_covers(c, ids[i], FEED_CELEBS_WAYS, NULL, 1));
    store_as(c, ids[FEED_CELEBS_WAYS], FEED_CELEBS_WAYS, 3);
    assert_false(feed_celebs_covers(c, ids[0], FEED_CELEBS_WAYS, NULL, 1));
    for (size_t i = 1; i <= FEED_CELEBS_WAYS; i++)
        assert_true(feed_celebs_covers(c, ids[i], FEED_CELEBS_WAYS, NULL, 1));
    /* Stored again, an author keeps its own slot (no second copy). */
    store_as(c, ids[1], FEED_CELEBS_WAYS + 1, 2);
    for (size_t i = 1; i <= FEED_CELEBS_WAYS; i++)
        assert_true(feed_celebs_covers(c, ids[i], FEED_CELEBS_WAYS + 1, NULL, 1));
    feed_celebs_free(c);
}

/* The full bench graph's case: 500 celebrities among 100,000 users. A
 * direct-mapped table of FEED_CELEBS_SLOTS slots (FEED_CELEBS_WAYS 1)
 * keeps 465 of these 500 (the others share a slot and evict each other);
 * the sets of 4 keep all. */
static void five_hundred_celebrities_are_nearly_all_kept(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(FRESH);
    int64_t ids[500];
    uint64_t x = 12345;
    for (size_t i = 0; i < 500; i++) {
        bool seen;
        do {                         /* distinct ids in 1..100000 */
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            ids[i] = (int64_t)((x >> 33) % 100000) + 1;
            seen = false;
            for (size_t k = 0; k < i; k++)
                seen = seen || ids[k] == ids[i];
        } while (seen);
        store_as(c, ids[i], 0, 2);
    }
    size_t kept = 0;
    for (size_t i = 0; i < 500; i++)
        kept += feed_celebs_covers(c, ids[i], 1, NULL, 1);
    assert_true(kept >= 497);
    feed_celebs_free(c);
}

static void an_oversized_window_is_cut_and_no_longer_whole(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(FRESH);
    store(c, 0, feed_celebs_epoch(c), FEED_CELEBS_ITEMS_MAX + 10, true);
    expect_missed(c, 0, NULL, FEED_CELEBS_ITEMS_MAX + 1);
    feed_source_t s = { 0 };
    bool full = false;
    assert_true(feed_celebs_serve(c, AUTHOR, 0, NULL, FEED_CELEBS_ITEMS_MAX, &s, &full));
    assert_true(full);
    assert_true(s.n <= FEED_CELEBS_ITEMS_MAX);
    assert_int_equal(s.items[0].id, 1);
    free(s.items);
    feed_celebs_free(c);
}

static void a_partial_set_keeps_its_floor(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(FRESH);
    feed_item_t *items = window_of(4);                   /* ts 970..1000 */
    feed_celebs_store(c, AUTHOR, 0, feed_celebs_epoch(c), items, 4, true, true,
                      (feed_key_t){ 970, 4 });
    free(items);
    feed_source_t s = { 0 };
    bool full = true;
    assert_true(feed_celebs_serve(c, AUTHOR, 0, NULL, 8, &s, &full));
    assert_false(full);
    assert_true(s.bounded);                              /* trimmed: older posts may exist */
    free(s.items);
    feed_celebs_free(c);
}

/* FRESH 100: the refresh falls due at 75 ms, to one read at a time, a
 * claim lapses after 25 ms, and a store clears it. */
static void one_read_refreshes_a_window_past_three_quarters_of_its_life(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(FRESH);
    assert_false(feed_celebs_refresh_due(c, AUTHOR, 0));        /* nothing stored */
    store(c, 1000, feed_celebs_epoch(c), 5, true);
    assert_false(feed_celebs_refresh_due(c, AUTHOR, 1000));
    assert_false(feed_celebs_refresh_due(c, AUTHOR, 1074));
    assert_false(feed_celebs_refresh_due(c, AUTHOR + 1, 1080)); /* another author */
    assert_true(feed_celebs_refresh_due(c, AUTHOR, 1075));      /* this read claims it */
    assert_false(feed_celebs_refresh_due(c, AUTHOR, 1076));     /* the others do not */
    assert_false(feed_celebs_refresh_due(c, AUTHOR, 1099));
    expect_served(c, 1099, NULL, 8, 5, 1, false);               /* and go on with the copy */
    assert_true(feed_celebs_refresh_due(c, AUTHOR, 1100));      /* the claim lapsed */
    expect_missed(c, 1100, NULL, 8);                            /* expired all the same */
    /* The refreshed window clears the claim and starts a new life. */
    store(c, 1090, feed_celebs_epoch(c), 6, true);
    expect_served(c, 1100, NULL, 8, 6, 1, false);
    assert_false(feed_celebs_refresh_due(c, AUTHOR, 1164));
    assert_true(feed_celebs_refresh_due(c, AUTHOR, 1165));
    assert_false(feed_celebs_refresh_due(c, AUTHOR, 1089));     /* a clock going back */
    feed_celebs_forget(c, AUTHOR);
    assert_false(feed_celebs_refresh_due(c, AUTHOR, 1170));     /* forgotten: a plain miss */
    feed_celebs_free(c);
}

static void a_cache_of_zero_ms_stores_nothing(void **state)
{
    (void)state;
    feed_celebs_t *c = feed_celebs_new(0);
    store(c, 0, feed_celebs_epoch(c), 5, true);
    expect_missed(c, 0, NULL, 1);
    feed_celebs_forget(c, AUTHOR);
    feed_celebs_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_whole_set_is_served_newest_first_until_it_expires),
        cmocka_unit_test(a_cut_window_serves_only_reads_it_covers),
        cmocka_unit_test(a_forget_drops_the_window_and_refuses_older_reads),
        cmocka_unit_test(a_forget_drops_only_its_set),
        cmocka_unit_test(authors_sharing_a_set_are_all_kept),
        cmocka_unit_test(five_hundred_celebrities_are_nearly_all_kept),
        cmocka_unit_test(an_oversized_window_is_cut_and_no_longer_whole),
        cmocka_unit_test(a_partial_set_keeps_its_floor),
        cmocka_unit_test(one_read_refreshes_a_window_past_three_quarters_of_its_life),
        cmocka_unit_test(a_cache_of_zero_ms_stores_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
