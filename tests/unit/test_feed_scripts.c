/* Unit tests for the pure helpers of feed_scripts.h: home feed scores, the
 * trim slack, and which fan-out deliveries check a feed's size
 * (feed_trim_check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "feed/feed_scripts.h"

static void home_scores_invert(void **state)
{
    (void)state;
    const int64_t ts = 1764000000000;
    assert_true(feed_home_score(ts + 1) < feed_home_score(ts));     /* newer first */
    assert_true(feed_home_score(ts) >= 0);
    assert_int_equal(feed_home_ts(feed_home_score(ts)), ts);
}

static void slack_is_an_eighth_capped(void **state)
{
    (void)state;
    assert_int_equal(feed_trim_slack(80), 10);
    assert_int_equal(feed_trim_slack(800), FEED_TRIM_SLACK_MAX);
    assert_int_equal(feed_trim_slack(7), 0);
}

/* One delivery in FEED_TRIM_CHECK_EVERY checks, for any owner: sequential
 * post ids (one author's posts, or every post of a busy instance) must not
 * leave a feed unchecked for long, or it would pass Redis's listpack limit. */
static void trim_checks_are_spread(void **state)
{
    (void)state;
    const int posts = 20000;
    for (int64_t owner = 1; owner <= 2000; owner += 37) {
        int checked = 0, run = 0, longest = 0;
        for (int64_t post = 1000000; post < 1000000 + posts; post++) {
            if (feed_trim_check(owner, post)) {
                checked++;
                run = 0;
            } else if (++run > longest) {
                longest = run;
            }
        }
        /* 1/4 of 20,000 = 5,000; the binomial's sd is ~61. */
        assert_in_range(checked, 4600, 5400);
        /* Were the choice random, a run past 60 in 20,000 deliveries would
         * have a chance of about 1e-4 (5,000 runs, (3/4)^61 each); the
         * hash is fixed, so this holds or fails on every run. */
        assert_in_range(longest, 1, 60);
    }
    /* Deterministic: every instance and every retry picks the same. */
    assert_int_equal(feed_trim_check(5, 77), feed_trim_check(5, 77));
}

/* The same post checks different feeds: deliveries of one post do not all
 * ask for the size, nor all skip it. */
static void one_post_spreads_over_feeds(void **state)
{
    (void)state;
    int checked = 0;
    for (int64_t owner = 1; owner <= 20000; owner++)
        checked += feed_trim_check(owner, 123456789);
    assert_in_range(checked, 4600, 5400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(home_scores_invert),
        cmocka_unit_test(slack_is_an_eighth_capped),
        cmocka_unit_test(trim_checks_are_spread),
        cmocka_unit_test(one_post_spreads_over_feeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
