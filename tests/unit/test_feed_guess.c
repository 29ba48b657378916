/* Unit tests for the celebrity guess cache (feed_guess). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "feed/feed_guess.h"

/* The set a user maps to, as feed_guess.c computes it. The eviction tests
 * below check that the module agrees: users found here must compete for
 * one set's slots there. */
static size_t set_of(int64_t user)
{
    return (size_t)(((uint64_t)user * 0x9E3779B97F4A7C15ULL) >> 48) % FEED_GUESS_SETS;
}

/* The smallest id above `user` in the same set (a few 65536 tries). */
static int64_t colliding_user(int64_t user)
{
    for (int64_t id = user + 1; id < user + (1 << 24); id++)
        if (set_of(id) == set_of(user))
            return id;
    fail_msg("no id colliding with %lld", (long long)user);
    return 0;
}

/* Stores FEED_GUESS_WAYS other users of user's set, each after the last:
 * user, stored before them, is then the one that gave its slot up. */
static void crowd_out(feed_guess_t *g, int64_t user)
{
    int64_t other = user, none[1] = { 0 };
    for (int w = 0; w < FEED_GUESS_WAYS; w++) {
        other = colliding_user(other);
        feed_guess_store(g, other, none, 0);
    }
}

/* What got holds before a get: get must overwrite it. */
static const int64_t poison[1] = { -7 };

/* get must return exactly want[0..n). */
static void expect(const feed_guess_t *g, int64_t user, const int64_t *want, size_t n)
{
    const int64_t *got = poison;
    assert_int_equal(feed_guess_get(g, user, &got), n);
    if (n == 0)
        return;
    assert_non_null(got);
    assert_memory_equal(got, want, n * sizeof *want);
}

static void expect_nothing(const feed_guess_t *g, int64_t user)
{
    const int64_t *got = poison;
    assert_int_equal(feed_guess_get(g, user, &got), 0);
    assert_null(got);
}

static void empty_cache_knows_nothing(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    assert_non_null(g);
    expect_nothing(g, 1);
    expect_nothing(g, 42);
    expect_nothing(g, INT64_MAX);
    expect_nothing(g, -1);
    expect_nothing(g, 0);
    feed_guess_free(g);
    feed_guess_free(NULL);
}

static void store_then_get_returns_the_sorted_list(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    int64_t celebs[] = { 30, 10, INT64_MAX, 20, 1, 10 };
    int64_t want[] = { 1, 10, 10, 20, 30, INT64_MAX };
    feed_guess_store(g, 42, celebs, 6);
    expect(g, 42, want, 6);
    /* The store sorted the caller's array in place ... */
    assert_memory_equal(celebs, want, sizeof want);
    /* ... and kept a copy: the caller may reuse its array. */
    memset(celebs, 0, sizeof celebs);
    expect(g, 42, want, 6);
    /* Another user, another slot: both are remembered. */
    assert_true(set_of(43) != set_of(42));
    int64_t other[] = { 5 };
    feed_guess_store(g, 43, other, 1);
    expect(g, 43, other, 1);
    expect(g, 42, want, 6);
    /* Other users still know nothing. */
    expect_nothing(g, 44);
    expect_nothing(g, -42);
    feed_guess_free(g);
}

static void store_sorts_in_place_even_when_forgetting(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    int64_t big[FEED_GUESS_MAX + 1];
    for (size_t i = 0; i < FEED_GUESS_MAX + 1; i++)
        big[i] = (int64_t)(FEED_GUESS_MAX + 1 - i) * 1000;     /* descending */
    feed_guess_store(g, 7, big, FEED_GUESS_MAX + 1);
    for (size_t i = 1; i < FEED_GUESS_MAX + 1; i++)
        assert_true(big[i - 1] < big[i]);
    /* Negative ids sort as numbers, not as unsigned values. */
    int64_t mixed[] = { 3, -2, INT64_MIN, 0, -1, INT64_MAX };
    int64_t sorted[] = { INT64_MIN, -2, -1, 0, 3, INT64_MAX };
    feed_guess_store(g, 7, mixed, 6);
    assert_memory_equal(mixed, sorted, sizeof sorted);
    expect(g, 7, sorted, 6);
    feed_guess_free(g);
}

/* "Follows no celebrity" is a fact worth remembering: the user keeps or
 * takes a slot and gets 0 back. */
static void zero_celebrities_are_remembered_as_zero(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    int64_t c[] = { 2, 1 }, want[] = { 1, 2 };
    feed_guess_store(g, 9, c, 2);
    expect(g, 9, want, 2);
    feed_guess_store(g, 9, NULL, 0);
    const int64_t *got;
    assert_int_equal(feed_guess_get(g, 9, &got), 0);
    feed_guess_set_ttl_until(g, 9, 1234);           /* still holds its slot */
    assert_int_equal(feed_guess_ttl_until(g, 9), 1234);
    /* And then a list again, into the storage kept in the slot. */
    int64_t c3[] = { 8, 6, 7 }, want3[] = { 6, 7, 8 };
    feed_guess_store(g, 9, c3, 3);
    expect(g, 9, want3, 3);
    feed_guess_free(g);
}

static void more_than_max_forgets_the_user(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    int64_t *c = malloc((FEED_GUESS_MAX + 1) * sizeof *c);
    int64_t *want = malloc((FEED_GUESS_MAX + 1) * sizeof *want);
    assert_non_null(c);
    assert_non_null(want);
    /* Exactly FEED_GUESS_MAX is still remembered. */
    for (size_t i = 0; i < FEED_GUESS_MAX; i++) {
        c[i] = (int64_t)(FEED_GUESS_MAX - i);
        want[i] = (int64_t)(i + 1);
    }
    feed_guess_store(g, 11, c, FEED_GUESS_MAX);
    expect(g, 11, want, FEED_GUESS_MAX);
    /* One more forgets what was known about the user. */
    for (size_t i = 0; i < FEED_GUESS_MAX + 1; i++)
        c[i] = (int64_t)i + 1;
    feed_guess_store(g, 11, c, FEED_GUESS_MAX + 1);
    expect_nothing(g, 11);
    /* A later small list is remembered again. */
    int64_t small[] = { 3 };
    feed_guess_store(g, 11, small, 1);
    expect(g, 11, small, 1);
    /* Too many for a user never seen: still nothing. */
    feed_guess_store(g, 12, c, FEED_GUESS_MAX + 1);
    expect_nothing(g, 12);
    expect(g, 11, small, 1);
    /* Too many for a user of the same set takes no one's slot. */
    int64_t b = colliding_user(11);
    feed_guess_store(g, b, c, FEED_GUESS_MAX + 1);
    expect_nothing(g, b);
    expect(g, 11, small, 1);
    free(c);
    free(want);
    feed_guess_free(g);
}

/* A set holds FEED_GUESS_WAYS users; one more takes the slot of the user
 * whose last store is the oldest, whoever stored first. */
static void the_least_recently_stored_user_gives_its_slot_up(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    int64_t users[FEED_GUESS_WAYS + 1];
    users[0] = 1000;
    for (int i = 1; i <= FEED_GUESS_WAYS; i++)
        users[i] = colliding_user(users[i - 1]);
    int64_t c[FEED_GUESS_WAYS + 1][1];
    for (int i = 0; i < FEED_GUESS_WAYS; i++) {
        c[i][0] = 100 + i;
        feed_guess_store(g, users[i], c[i], 1);
    }
    for (int i = 0; i < FEED_GUESS_WAYS; i++)
        expect(g, users[i], c[i], 1);               /* a full set, all known */
    expect_nothing(g, users[FEED_GUESS_WAYS]);
    /* users[0] reads again: users[1] is now the one seen longest ago. */
    feed_guess_store(g, users[0], c[0], 1);
    c[FEED_GUESS_WAYS][0] = 999;
    feed_guess_store(g, users[FEED_GUESS_WAYS], c[FEED_GUESS_WAYS], 1);
    expect(g, users[FEED_GUESS_WAYS], c[FEED_GUESS_WAYS], 1);
    expect_nothing(g, users[1]);
    expect(g, users[0], c[0], 1);
    for (int i = 2; i < FEED_GUESS_WAYS; i++)
        expect(g, users[i], c[i], 1);
    /* Getting is not reading: only a store counts. users[2] is next. */
    const int64_t *got;
    feed_guess_get(g, users[2], &got);
    feed_guess_store(g, users[1], c[1], 1);
    expect(g, users[1], c[1], 1);
    expect_nothing(g, users[2]);
    /* Negative and large ids collide the same way. */
    int64_t big = INT64_MAX - (1 << 25);
    feed_guess_store(g, big, c[0], 1);
    expect(g, big, c[0], 1);
    crowd_out(g, big);
    expect_nothing(g, big);
    int64_t neg = -5000;
    feed_guess_store(g, neg, c[1], 1);
    expect(g, neg, c[1], 1);
    crowd_out(g, neg);
    expect_nothing(g, neg);
    feed_guess_free(g);
}

/* Users of other sets never take each other's slots, however many. */
static void users_of_other_sets_keep_theirs(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    int64_t mine[] = { 3, 4 };
    feed_guess_store(g, 7, mine, 2);
    int64_t one[] = { 1 };
    size_t stored = 0;
    for (int64_t u = 8; stored < 4 * FEED_GUESS_WAYS; u++)
        if (set_of(u) != set_of(7)) {
            feed_guess_store(g, u, one, 1);
            stored++;
        }
    expect(g, 7, mine, 2);
    feed_guess_free(g);
}

/* One slot's storage is reused across stores: shrinking keeps the buffer,
 * growing reallocates it; every content must be exact (and valgrind/ASan
 * would see a write past the buffer). */
static void shrinking_and_growing_reuse_storage(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    static const size_t sizes[] = { 5, 2, 0, 1, 8, 8, 3, FEED_GUESS_MAX, 1, FEED_GUESS_MAX,
                                    FEED_GUESS_MAX + 1, 4, 17 };
    /* One user more than a set holds, in turn: the slots change hands. */
    int64_t users[FEED_GUESS_WAYS + 1];
    users[0] = 77;
    for (int i = 1; i <= FEED_GUESS_WAYS; i++)
        users[i] = colliding_user(users[i - 1]);
    int64_t c[FEED_GUESS_MAX + 1], want[FEED_GUESS_MAX + 1];
    for (size_t r = 0; r < 3 * sizeof sizes / sizeof sizes[0]; r++) {
        size_t n = sizes[r % (sizeof sizes / sizeof sizes[0])];
        int64_t user = users[r % (FEED_GUESS_WAYS + 1)];
        for (size_t i = 0; i < n; i++) {
            c[i] = (int64_t)((n - i) * 100 + r);
            want[n - 1 - i] = c[i];
        }
        feed_guess_store(g, user, c, n);
        if (n > FEED_GUESS_MAX) {
            expect_nothing(g, user);
            continue;
        }
        const int64_t *got;
        assert_int_equal(feed_guess_get(g, user, &got), n);
        if (n)
            assert_memory_equal(got, want, n * sizeof *want);
    }
    feed_guess_free(g);
}

/* 0 means an empty slot, so user 0 is never known, whatever is stored. */
static void user_zero_is_never_known(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    int64_t c[] = { 1, 2 };
    assert_true(set_of(5) != set_of(0));
    feed_guess_store(g, 0, c, 2);
    expect_nothing(g, 0);
    /* Users elsewhere are unaffected. */
    feed_guess_store(g, 5, c, 2);
    feed_guess_store(g, 0, c, 2);
    expect(g, 5, c, 2);
    feed_guess_free(g);
}

/* The window hint belongs to the user in the slot: set only after a
 * store, kept by the same user's next store, gone when other users take
 * the slot over. */
static void window_hint_follows_the_slots_user(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    feed_guess_set_window(g, 42, 7);                 /* no slot yet: ignored */
    assert_int_equal(feed_guess_window(g, 42), 0);
    int64_t celebs[] = { 5, 3 };
    feed_guess_store(g, 42, celebs, 2);
    assert_int_equal(feed_guess_window(g, 42), 0);
    feed_guess_set_window(g, 42, 7);
    assert_int_equal(feed_guess_window(g, 42), 7);
    int64_t fewer[] = { 3 };
    feed_guess_store(g, 42, fewer, 1);               /* same user: hint kept */
    assert_int_equal(feed_guess_window(g, 42), 7);
    int64_t other = colliding_user(42);
    feed_guess_set_window(g, other, 9);              /* not its slot: ignored */
    assert_int_equal(feed_guess_window(g, 42), 7);
    assert_int_equal(feed_guess_window(g, other), 0);
    feed_guess_store(g, other, celebs, 2);           /* a slot of its own */
    assert_int_equal(feed_guess_window(g, other), 0);
    assert_int_equal(feed_guess_window(g, 42), 7);
    crowd_out(g, 42);                                /* 42's slot taken over */
    assert_int_equal(feed_guess_window(g, 42), 0);
    feed_guess_store(g, 42, celebs, 2);              /* back: the old hint is gone */
    assert_int_equal(feed_guess_window(g, 42), 0);
    feed_guess_set_window(g, 0, 3);
    assert_int_equal(feed_guess_window(g, 0), 0);
    feed_guess_free(g);
}

/* The TTL hint likewise: set only for the slot's user, kept across its
 * stores, gone when other users take the slot; an unknown user reads 0,
 * which makes a read ask for the PTTL. */
static void ttl_hint_follows_the_slots_user(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    feed_guess_set_ttl_until(g, 42, 5000);            /* no slot yet: ignored */
    assert_int_equal(feed_guess_ttl_until(g, 42), 0);
    int64_t celebs[] = { 5, 3 };
    feed_guess_store(g, 42, celebs, 2);
    assert_int_equal(feed_guess_ttl_until(g, 42), 0);
    feed_guess_set_ttl_until(g, 42, 5000);
    assert_int_equal(feed_guess_ttl_until(g, 42), 5000);
    feed_guess_store(g, 42, celebs, 1);               /* same user: hint kept */
    assert_int_equal(feed_guess_ttl_until(g, 42), 5000);
    int64_t other = colliding_user(42);
    feed_guess_set_ttl_until(g, other, 9000);         /* not its slot: ignored */
    assert_int_equal(feed_guess_ttl_until(g, 42), 5000);
    assert_int_equal(feed_guess_ttl_until(g, other), 0);
    feed_guess_store(g, other, celebs, 2);            /* a slot of its own */
    assert_int_equal(feed_guess_ttl_until(g, other), 0);
    assert_int_equal(feed_guess_ttl_until(g, 42), 5000);
    crowd_out(g, 42);                                 /* 42's slot taken over */
    assert_int_equal(feed_guess_ttl_until(g, 42), 0);
    feed_guess_store(g, 42, celebs, 2);               /* back: the old hint is gone */
    assert_int_equal(feed_guess_ttl_until(g, 42), 0);
    feed_guess_free(g);
}

/* The page hint: kept as given (not sorted: a page's order), for the
 * slot's user only, across its stores; a longer page than
 * FEED_GUESS_PAGE_MAX forgets it; gone with the slot. */
static void page_hint_follows_the_slots_user(void **state)
{
    (void)state;
    feed_guess_t *g = feed_guess_new();
    const int64_t *ids = poison;
    int64_t page[] = { 30, 10, 20 };
    feed_guess_set_page(g, 42, page, 3);             /* no slot yet: ignored */
    assert_int_equal(feed_guess_page(g, 42, &ids), 0);
    int64_t celebs[] = { 5 };
    feed_guess_store(g, 42, celebs, 1);
    assert_int_equal(feed_guess_page(g, 42, &ids), 0);
    feed_guess_set_page(g, 42, page, 3);
    assert_int_equal(feed_guess_page(g, 42, &ids), 3);
    assert_memory_equal(ids, page, sizeof page);
    page[0] = 99;                                    /* a copy was kept */
    assert_int_equal(feed_guess_page(g, 42, &ids), 3);
    assert_int_equal(ids[0], 30);
    feed_guess_store(g, 42, celebs, 1);              /* same user: kept */
    assert_int_equal(feed_guess_page(g, 42, &ids), 3);
    int64_t other = colliding_user(42);
    feed_guess_set_page(g, other, page, 3);          /* not its slot: ignored */
    assert_int_equal(feed_guess_page(g, other, &ids), 0);
    /* Longer pages grow the storage; too long a page forgets. */
    int64_t big[FEED_GUESS_PAGE_MAX + 1];
    for (size_t i = 0; i < FEED_GUESS_PAGE_MAX + 1; i++)
        big[i] = (int64_t)(1000 - i);
    feed_guess_set_page(g, 42, big, FEED_GUESS_PAGE_MAX);
    assert_int_equal(feed_guess_page(g, 42, &ids), FEED_GUESS_PAGE_MAX);
    assert_memory_equal(ids, big, FEED_GUESS_PAGE_MAX * sizeof *big);
    feed_guess_set_page(g, 42, big, FEED_GUESS_PAGE_MAX + 1);
    assert_int_equal(feed_guess_page(g, 42, &ids), 0);
    assert_null(ids);
    feed_guess_set_page(g, 42, page, 2);
    assert_int_equal(feed_guess_page(g, 42, &ids), 2);
    crowd_out(g, 42);                                /* 42's slot taken over */
    assert_int_equal(feed_guess_page(g, 42, &ids), 0);
    feed_guess_store(g, 42, celebs, 1);              /* back: the old page is gone */
    assert_int_equal(feed_guess_page(g, 42, &ids), 0);
    feed_guess_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_cache_knows_nothing),
        cmocka_unit_test(store_then_get_returns_the_sorted_list),
        cmocka_unit_test(store_sorts_in_place_even_when_forgetting),
        cmocka_unit_test(zero_celebrities_are_remembered_as_zero),
        cmocka_unit_test(more_than_max_forgets_the_user),
        cmocka_unit_test(the_least_recently_stored_user_gives_its_slot_up),
        cmocka_unit_test(users_of_other_sets_keep_theirs),
        cmocka_unit_test(shrinking_and_growing_reuse_storage),
        cmocka_unit_test(user_zero_is_never_known),
        cmocka_unit_test(window_hint_follows_the_slots_user),
        cmocka_unit_test(ttl_hint_follows_the_slots_user),
        cmocka_unit_test(page_hint_follows_the_slots_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
