/* Unit tests for the retry schedule (util/backoff.h) and its RNG
 * (util/rng.h). Seeds are fixed where a test needs a repeatable sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/backoff.h"
#include "util/rng.h"

/* The range a delay with base `base` is drawn from. */
static void assert_in_band(unsigned delay, unsigned base)
{
    assert_true(delay >= base - base / 2);
    assert_true(delay <= base);
}

static void grows_from_min_by_doubling(void **state)
{
    (void)state;
    backoff_t b;
    backoff_init(&b, 100, 100000);
    rng_seed_with(&b.rng, 1);
    unsigned base = 100;
    for (int i = 0; i < 10; i++) {
        unsigned d = backoff_next(&b);
        assert_int_equal(b.base_ms, base);
        assert_in_band(d, base);
        base *= 2;
    }
}

static void stops_at_the_cap(void **state)
{
    (void)state;
    backoff_t b;
    backoff_init(&b, 50, 5000);
    rng_seed_with(&b.rng, 2);
    /* 50 100 200 400 800 1600 3200, then 5000 (not 6400) from then on. */
    for (int i = 0; i < 7; i++)
        backoff_next(&b);
    assert_int_equal(b.base_ms, 3200);
    for (int i = 0; i < 1000; i++) {
        unsigned d = backoff_next(&b);
        assert_int_equal(b.base_ms, 5000);
        assert_in_band(d, 5000);
    }
}

static void never_above_max_nor_below_half_min(void **state)
{
    (void)state;
    const unsigned cases[][2] = {
        { 1, 1 }, { 1, 2 }, { 3, 7 }, { 100, 5000 }, { 50, 5000 }, { 1000, 1000 },
        { 7, 1u << 31 }, { 1u << 30, UINT32_MAX }, { UINT32_MAX, UINT32_MAX },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        backoff_t b;
        backoff_init(&b, cases[c][0], cases[c][1]);
        rng_seed_with(&b.rng, c);
        for (int i = 0; i < 200; i++) {
            unsigned d = backoff_next(&b);
            assert_true(d <= cases[c][1]);
            assert_true(d >= cases[c][0] - cases[c][0] / 2);
            assert_true(b.base_ms >= cases[c][0] && b.base_ms <= cases[c][1]);
        }
        assert_int_equal(b.base_ms, cases[c][1]);   /* reached the cap, no overflow */
    }
}

static void odd_options_are_made_sane(void **state)
{
    (void)state;
    backoff_t b;
    backoff_init(&b, 0, 0);             /* min 0 would never grow */
    assert_int_equal(b.min_ms, 1);
    assert_int_equal(b.max_ms, 1);
    assert_int_equal(backoff_next(&b), 1);
    backoff_init(&b, 500, 100);         /* max below min */
    assert_int_equal(b.max_ms, 500);
    for (int i = 0; i < 5; i++)
        assert_in_band(backoff_next(&b), 500);
}

static void reset_starts_again_from_min(void **state)
{
    (void)state;
    backoff_t b;
    backoff_init(&b, 100, 5000);
    for (int i = 0; i < 20; i++)
        backoff_next(&b);
    assert_int_equal(b.base_ms, 5000);
    backoff_reset(&b);
    assert_int_equal(b.base_ms, 0);
    assert_in_band(backoff_next(&b), 100);
    assert_int_equal(b.base_ms, 100);
    assert_in_band(backoff_next(&b), 200);
}

/* Jitter must actually spread: over many draws at one base the delays cover
 * the band, and two schedules seeded apart do not move in lockstep. */
static void jitter_spreads_over_the_band(void **state)
{
    (void)state;
    backoff_t b;
    backoff_init(&b, 1000, 1000);
    rng_seed_with(&b.rng, 99);
    enum { N = 4000, BINS = 10 };
    unsigned lo = UINT32_MAX, hi = 0, bins[BINS] = { 0 };
    for (int i = 0; i < N; i++) {
        unsigned d = backoff_next(&b);
        assert_in_band(d, 1000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        bins[d == 1000 ? BINS - 1 : (d - 500) * BINS / 500]++;
    }
    assert_true(lo < 510);
    assert_true(hi > 990);
    /* Each tenth of the band gets roughly N / BINS = 400 draws. */
    for (int i = 0; i < BINS; i++)
        assert_true(bins[i] > 250 && bins[i] < 550);

    /* Two pools' connections, seeded by backoff_init, after the same
     * failure: their delays differ. */
    backoff_t x, y;
    backoff_init(&x, 100, 5000);
    backoff_init(&y, 100, 5000);
    int same = 0;
    for (int i = 0; i < 50; i++)
        same += backoff_next(&x) == backoff_next(&y);
    assert_true(same < 25);
}

static void rng_is_repeatable_per_seed(void **state)
{
    (void)state;
    rng_t a, b, c;
    rng_seed_with(&a, 42);
    rng_seed_with(&b, 42);
    rng_seed_with(&c, 43);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_next(&a);
        assert_true(x == rng_next(&b));
        differ += x != rng_next(&c);
    }
    assert_int_equal(differ, 100);
    /* splitmix64's published first output for seed 0. */
    rng_seed_with(&a, 0);
    assert_true(rng_next(&a) == 0xe220a8397b1dcdafull);
}

static void rng_below_stays_below(void **state)
{
    (void)state;
    rng_t r;
    rng_seed_with(&r, 7);
    assert_int_equal(rng_below(&r, 0), 0);
    assert_int_equal(rng_below(&r, 1), 0);
    const uint64_t ns[] = { 2, 3, 10, 1000, (1ull << 63) + 1, UINT64_MAX };
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int i = 0; i < 1000; i++)
            assert_true(rng_below(&r, ns[k]) < ns[k]);
    /* Both outcomes of a coin come up about equally often. */
    int heads = 0;
    for (int i = 0; i < 10000; i++)
        heads += (int)rng_below(&r, 2);
    assert_true(heads > 4700 && heads < 5300);
    /* Seeded from the kernel: two instances start apart. */
    rng_t s1, s2;
    rng_seed(&s1);
    rng_seed(&s2);
    assert_true(rng_next(&s1) != rng_next(&s2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grows_from_min_by_doubling),
        cmocka_unit_test(stops_at_the_cap),
        cmocka_unit_test(never_above_max_nor_below_half_min),
        cmocka_unit_test(odd_options_are_made_sane),
        cmocka_unit_test(reset_starts_again_from_min),
        cmocka_unit_test(jitter_spreads_over_the_band),
        cmocka_unit_test(rng_is_repeatable_per_seed),
        cmocka_unit_test(rng_below_stays_below),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
