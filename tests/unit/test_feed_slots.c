/* Unit tests for grouping fan-out deliveries by cluster slot (feed_slots):
 * every run the worker turns into one script holds keys of one slot only
 * (home:{U} and unf:{U} of each user included), runs are capped, nothing is
 * lost or duplicated, and ids that share a slot are grouped together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "feed/feed_slots.h"
#include "store/redis/rds_keys.h"

static unsigned slot_of_user(const char *prefix, size_t (*key)(char *, size_t, const char *,
                                                               int64_t), int64_t id)
{
    char k[RDS_KEY_MAX];
    size_t n = key(k, sizeof k, prefix, id);
    assert_true(n > 0);
    return rds_key_slot(k, n);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void runs_hold_one_slot_each(void **state)
{
    (void)state;
    enum { N = 5001 };
    int64_t *ids = malloc(N * sizeof *ids), *orig = malloc(N * sizeof *orig);
    unsigned *slots = malloc(N * sizeof *slots);
    for (int i = 0; i < N; i++)
        ids[i] = orig[i] = 1000 + 7 * i;
    feed_slots_sort(ids, slots, N, "fc:", rds_key_feed);
    /* Sorted by slot; each slot is the feed's and the unfollowed set's. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(slots[i], slot_of_user("fc:", rds_key_feed, ids[i]));
        assert_int_equal(slots[i], slot_of_user("fc:", rds_key_unfollowed, ids[i]));
        if (i > 0)
            assert_true(slots[i - 1] < slots[i] ||
                        (slots[i - 1] == slots[i] && ids[i - 1] < ids[i]));
    }
    /* The same ids, each once. */
    int64_t *sorted = malloc(N * sizeof *sorted);
    memcpy(sorted, ids, N * sizeof *sorted);
    qsort(sorted, N, sizeof *sorted, cmp_i64);
    assert_memory_equal(sorted, orig, N * sizeof *orig);
    /* Runs: one slot each, at most the cap, covering everything. */
    size_t covered = 0, nruns = 0;
    for (size_t i = 0, run; i < N; i += run, nruns++) {
        run = feed_slots_run(slots + i, N - i, 250);
        assert_true(run >= 1 && run <= 250);
        for (size_t k = 1; k < run; k++)
            assert_int_equal(slots[i + k], slots[i]);
        if (i + run < N && run < 250)
            assert_int_not_equal(slots[i + run], slots[i]);   /* runs are maximal */
        covered += run;
    }
    assert_int_equal(covered, N);
    assert_true(nruns < N);              /* 5,001 users in 16,384 slots: some share one */
    free(ids);
    free(orig);
    free(slots);
    free(sorted);
}

static void run_is_capped_and_handles_edges(void **state)
{
    (void)state;
    unsigned same[10] = { 5, 5, 5, 5, 5, 5, 5, 5, 5, 5 };
    assert_int_equal(feed_slots_run(same, 10, 3), 3);
    assert_int_equal(feed_slots_run(same, 10, 250), 10);
    assert_int_equal(feed_slots_run(same, 0, 250), 0);
    unsigned mixed[4] = { 1, 2, 2, 3 };
    assert_int_equal(feed_slots_run(mixed, 4, 250), 1);
    assert_int_equal(feed_slots_run(mixed + 1, 3, 250), 2);
    feed_slots_sort(NULL, NULL, 0, "fc:", rds_key_feed);     /* nothing to do */
    /* Ids that share a slot end up in one run. */
    int64_t ids[3] = { 0, 0, 0 };
    unsigned slots[3];
    unsigned target = slot_of_user("fc:", rds_key_feed, 42);
    int64_t twin = -1;
    for (int64_t u = 43; u < 10000000 && twin < 0; u++)
        if (slot_of_user("fc:", rds_key_feed, u) == target)
            twin = u;
    assert_true(twin > 0);
    ids[0] = twin;
    ids[1] = 7;
    ids[2] = 42;
    feed_slots_sort(ids, slots, 3, "fc:", rds_key_feed);
    size_t i = ids[0] == 7 ? 1 : 0;
    assert_int_equal(feed_slots_run(slots + i, 3 - i, 250), 2);
    assert_int_equal(ids[i], 42);
    assert_int_equal(ids[i + 1], twin);
}

/* feed_slots_order: the ids stay put; order visits each once, by slot,
 * and slots[k] is the slot of ids[order[k]] (duplicates included). */
static void order_leaves_ids_in_place(void **state)
{
    (void)state;
    enum { N = 2000 };
    int64_t ids[N], copy[N];
    size_t order[N];
    unsigned slots[N];
    bool seen[N] = { false };
    for (size_t i = 0; i < N; i++)
        ids[i] = (int64_t)(i * 7919 % 1500) + 1;      /* some ids twice */
    memcpy(copy, ids, sizeof ids);
    feed_slots_order(ids, order, slots, N, "fc:", rds_key_post);
    assert_memory_equal(ids, copy, sizeof ids);
    for (size_t k = 0; k < N; k++) {
        assert_true(order[k] < N);
        assert_false(seen[order[k]]);
        seen[order[k]] = true;
        assert_int_equal(slots[k], slot_of_user("fc:", rds_key_post, ids[order[k]]));
        if (k > 0)
            assert_true(slots[k - 1] <= slots[k]);
    }
    feed_slots_order(NULL, NULL, NULL, 0, "fc:", rds_key_post);   /* nothing to do */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_leaves_ids_in_place),
        cmocka_unit_test(runs_hold_one_slot_each),
        cmocka_unit_test(run_is_capped_and_handles_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
