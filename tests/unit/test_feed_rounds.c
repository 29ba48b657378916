/* Unit tests for the fan-out worker's rounds in flight (feed_rounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "feed/feed_rounds.h"

#define MS 1000

/* Rounds that start at once (no wait), one per ms, for `ms` ms from *t. */
static void idle_rounds(feed_rounds_t *r, int64_t *t, int ms)
{
    for (int i = 0; i < ms; i++) {
        *t += MS;
        assert_false(feed_rounds_started(r, 0, *t));
    }
}

static void test_starts_at_max(void **state)
{
    (void)state;
    feed_rounds_t r;
    feed_rounds_init(&r, 8, 0);
    assert_int_equal(r.limit, 8);
    feed_rounds_init(&r, 0, 0);
    assert_int_equal(r.limit, 1);      /* a max below 1 still allows one */
}

/* Keeping up (no round waits): one step down per period, never below 1. */
static void test_shrinks_while_keeping_up(void **state)
{
    (void)state;
    feed_rounds_t r;
    int64_t t = 0;
    feed_rounds_init(&r, 8, t);
    idle_rounds(&r, &t, FEED_ROUNDS_PERIOD_US / MS - 1);
    assert_int_equal(r.limit, 8);      /* the first period is not over */
    idle_rounds(&r, &t, 1);
    assert_int_equal(r.limit, 7);
    idle_rounds(&r, &t, 10 * FEED_ROUNDS_PERIOD_US / MS);
    assert_int_equal(r.limit, 1);
}

/* Short waits (at most FEED_ROUNDS_SHRINK_US) still count as keeping up;
 * a longer one in a period holds the limit where it is. */
static void test_waits_between_hold(void **state)
{
    (void)state;
    feed_rounds_t r;
    int64_t t = 0;
    feed_rounds_init(&r, 4, t);
    for (int i = 0; i < FEED_ROUNDS_PERIOD_US / MS; i++) {
        t += MS;
        feed_rounds_started(&r, FEED_ROUNDS_SHRINK_US, t);
    }
    assert_int_equal(r.limit, 3);
    for (int p = 0; p < 5; p++) {
        t += MS;
        assert_false(feed_rounds_started(&r, FEED_ROUNDS_SHRINK_US + 1, t));
        idle_rounds(&r, &t, FEED_ROUNDS_PERIOD_US / MS);
        assert_int_equal(r.limit, 3);
    }
}

/* A backlog (every round waits long): one step up per FEED_ROUNDS_GROW_US,
 * up to max, and no shrinking meanwhile. */
static void test_grows_under_a_backlog(void **state)
{
    (void)state;
    feed_rounds_t r;
    int64_t t = 0;
    feed_rounds_init(&r, 8, t);
    idle_rounds(&r, &t, 20 * FEED_ROUNDS_PERIOD_US / MS);
    assert_int_equal(r.limit, 1);
    int grown = 0;
    for (int i = 0; i < 200; i++) {    /* 200 ms of rounds that waited 50 ms */
        t += MS;
        if (feed_rounds_started(&r, 50 * MS, t))
            grown++;
        if (i == 0)
            assert_int_equal(r.limit, 2);  /* the first long wait opens it at once */
        if (i == FEED_ROUNDS_GROW_US / MS - 1)
            assert_int_equal(r.limit, 2);  /* then not within 10 ms of that */
    }
    assert_int_equal(grown, 7);
    assert_int_equal(r.limit, 8);
    assert_false(feed_rounds_started(&r, 50 * MS, t + 100 * MS));   /* at max */
    assert_int_equal(r.limit, 8);
}

/* After growing, the first shrink waits for a whole period of short
 * waits: an opening is not undone by the rounds it let start at once. */
static void test_growth_starts_a_new_period(void **state)
{
    (void)state;
    feed_rounds_t r;
    int64_t t = 0;
    feed_rounds_init(&r, 8, t);
    idle_rounds(&r, &t, 7 * FEED_ROUNDS_PERIOD_US / MS);
    assert_int_equal(r.limit, 1);
    t += FEED_ROUNDS_GROW_US;
    assert_true(feed_rounds_started(&r, FEED_ROUNDS_GROW_US + 1, t));
    assert_int_equal(r.limit, 2);
    idle_rounds(&r, &t, FEED_ROUNDS_PERIOD_US / MS - 1);
    assert_int_equal(r.limit, 2);
    idle_rounds(&r, &t, 1);
    assert_int_equal(r.limit, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_at_max),
        cmocka_unit_test(test_shrinks_while_keeping_up),
        cmocka_unit_test(test_waits_between_hold),
        cmocka_unit_test(test_grows_under_a_backlog),
        cmocka_unit_test(test_growth_starts_a_new_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
