/* Unit tests for the pure helpers of feed_scripts.h: home feed scores, the
 * trim slack, which fan-out deliveries check a feed's size
 * (feed_trim_check), and the sentinel's score read as the scripts read it
 * (feed_sentinel_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

static void slack_is_a_quarter_capped(void **state)
{
    (void)state;
    assert_int_equal(feed_trim_slack(80), 20);
    assert_int_equal(feed_trim_slack(100), 25);
    assert_int_equal(feed_trim_slack(800), FEED_TRIM_SLACK_MAX);
    assert_int_equal(feed_trim_slack(3), 0);
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
        /* 1/8 of 20,000 = 2,500; the binomial's sd is ~47. */
        assert_in_range(checked, 2200, 2800);
        /* Were the choice random, a run past 130 in 20,000 deliveries
         * would have a chance of about 1e-4 (2,500 runs, (7/8)^131 each);
         * the hash is fixed, so this holds or fails on every run. */
        assert_in_range(longest, 1, 130);
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
    assert_in_range(checked, 2200, 2800);
}

/* A sentinel as a script writes it (state + g - cover / 2^44), printed as
 * Redis prints a score (%.17g reads back the same double). */
static void sentinel_text(char *out, size_t cap, int state, bool guarded, int64_t cover)
{
    double v = state - (guarded ? 0.5 : 0) - (double)cover / (double)FEED_COVER_UNIT;
    snprintf(out, cap, "%.17g", v);
}

static void sentinel_reads_back(void **state)
{
    (void)state;
    const int states[] = { FEED_STATE_COMPLETE, FEED_STATE_PARTIAL, FEED_STATE_BUILDING };
    /* created_at: 1 ms, today, and the last that fits (under 2^43 ms). */
    const int64_t covers[] = { 0, 1, 1764000000000, FEED_COVER_UNIT / 2 - 1 };
    for (size_t i = 0; i < sizeof states / sizeof *states; i++)
        for (int g = 0; g < 2; g++)
            for (size_t j = 0; j < sizeof covers / sizeof *covers; j++) {
                char text[64];
                sentinel_text(text, sizeof text, states[i], g, covers[j]);
                feed_sentinel_t s = { 0, false, -1 };
                assert_true(feed_sentinel_parse(text, &s));
                assert_int_equal(s.state, states[i]);
                assert_int_equal(s.guarded, g == 1);
                assert_int_equal(s.cover, covers[j]);
            }
    /* Plain states as Redis prints them. */
    feed_sentinel_t s;
    assert_true(feed_sentinel_parse("-2", &s));
    assert_int_equal(s.state, FEED_STATE_PARTIAL);
    assert_false(s.guarded);
    assert_int_equal(s.cover, 0);
    assert_true(feed_sentinel_parse("-1.5", &s));
    assert_int_equal(s.state, FEED_STATE_COMPLETE);
    assert_true(s.guarded);
}

static void sentinel_rejects_garbage(void **state)
{
    (void)state;
    feed_sentinel_t s = { 7, true, 7 };
    assert_false(feed_sentinel_parse("", &s));
    assert_false(feed_sentinel_parse("s", &s));
    assert_false(feed_sentinel_parse("-1x", &s));
    assert_false(feed_sentinel_parse("inf", &s));
    assert_false(feed_sentinel_parse("nan", &s));
    assert_false(feed_sentinel_parse("-1e300", &s));
    assert_int_equal(s.state, 7);               /* untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(home_scores_invert),
        cmocka_unit_test(slack_is_a_quarter_capped),
        cmocka_unit_test(trim_checks_are_spread),
        cmocka_unit_test(one_post_spreads_over_feeds),
        cmocka_unit_test(sentinel_reads_back),
        cmocka_unit_test(sentinel_rejects_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
