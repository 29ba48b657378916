/* The per-connection budget (src/rpc/rpc_budget.h) and the descriptor
 * arithmetic (src/util/fdlimit.h); rpc_framer_trim is in test_rpc_frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>

#include "rpc/rpc_budget.h"
#include "util/fdlimit.h"

static void cost_charges_calls_and_saturates(void **state)
{
    (void)state;
    assert_int_equal(rpc_budget_cost(100, 0, 65536), 100);
    assert_int_equal(rpc_budget_cost(100, 2, 65536), 100 + 2 * 65536);
    /* Never below the floor per call. */
    assert_int_equal(rpc_budget_cost(0, 3, 10), 3 * RPC_BUDGET_CALL_MIN);
    assert_int_equal(rpc_budget_cost(SIZE_MAX - 1, 1, 4096), SIZE_MAX);
    assert_int_equal(rpc_budget_cost(0, SIZE_MAX, 4096), SIZE_MAX);
}

static void soft_limit_stops_starting_calls(void **state)
{
    (void)state;
    rpc_budget_t b = { .soft = 1 << 20, .hard = 16 << 20 };
    /* An empty connection may always start one call, even with a reply
     * estimate larger than the soft limit. */
    assert_true(rpc_budget_may_start(&b, 0, 0, 64 << 20));
    assert_false(rpc_budget_may_start(&b, 0, 1, 1 << 20));
    /* 320 KB replies: three in flight, not four. */
    assert_true(rpc_budget_may_start(&b, 0, 3, 320000));
    assert_false(rpc_budget_may_start(&b, 0, 4, 320000));
    /* Unsent output counts as much as calls. */
    assert_false(rpc_budget_may_start(&b, 1 << 20, 0, 4096));
    assert_true(rpc_budget_may_start(&b, (1 << 20) - 4097, 1, 4096));
    /* Small replies: the per-connection cap on calls. */
    rpc_budget_t big = { .soft = 1 << 30 };
    assert_true(rpc_budget_may_start(&big, 0, RPC_BUDGET_MAX_CALLS - 1, 4096));
    assert_false(rpc_budget_may_start(&big, 0, RPC_BUDGET_MAX_CALLS, 4096));
}

static void resume_below_half(void **state)
{
    (void)state;
    rpc_budget_t b = { .soft = 1 << 20 };
    assert_true(rpc_budget_may_resume(&b, 0, 0, 1 << 30));
    assert_true(rpc_budget_may_resume(&b, 1 << 19, 0, 4096));
    assert_false(rpc_budget_may_resume(&b, (1 << 19) + 1, 0, 4096));
    assert_false(rpc_budget_may_resume(&b, 0, RPC_BUDGET_MAX_CALLS / 2 + 1, 1));
}

static void hard_limit(void **state)
{
    (void)state;
    rpc_budget_t b = { .soft = 1 << 20, .hard = 16 << 20 };
    assert_false(rpc_budget_over_hard(&b, 16 << 20));
    assert_true(rpc_budget_over_hard(&b, (16 << 20) + 1));
    rpc_budget_t none = { .soft = 1 << 20, .hard = 0 };
    assert_false(rpc_budget_over_hard(&none, SIZE_MAX));
}

static void estimate_follows_up_fast_and_down_slowly(void **state)
{
    (void)state;
    size_t e = RPC_BUDGET_CALL_INITIAL;
    e = rpc_budget_estimate(e, 320000);
    assert_int_equal(e, 320000);
    e = rpc_budget_estimate(e, 0);
    assert_int_equal(e, 320000 - 320000 / 8);
    for (int i = 0; i < 200; i++)
        e = rpc_budget_estimate(e, 10);
    assert_int_equal(e, RPC_BUDGET_CALL_MIN);
}

static void descriptors_fit(void **state)
{
    (void)state;
    assert_int_equal(fdlimit_max_connections(1024, 150, 10000), 874);
    assert_int_equal(fdlimit_max_connections(1048576, 150, 10000), 10000);
    assert_int_equal(fdlimit_max_connections(100, 150, 10000), 1);
    assert_int_equal(fdlimit_max_connections(150, 150, 10000), 1);
    assert_int_equal(fdlimit_max_connections(151, 150, 10000), 1);
    assert_int_equal(fdlimit_max_connections(152, 150, 10000), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cost_charges_calls_and_saturates),
        cmocka_unit_test(soft_limit_stops_starting_calls),
        cmocka_unit_test(resume_below_half),
        cmocka_unit_test(hard_limit),
        cmocka_unit_test(estimate_follows_up_fast_and_down_slowly),
        cmocka_unit_test(descriptors_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
