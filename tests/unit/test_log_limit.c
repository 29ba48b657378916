/* util/log_limit: lines per call site per window, counts of what was
 * suppressed, reports for sites that went quiet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/log_limit.h"

static const char site_a[] = "a: %d";
static const char site_b[] = "b: %d";

static void burst_then_suppressed(void **state)
{
    (void)state;
    log_limit_t l;
    log_limit_init(&l, 3, 1000);
    uint64_t sup = 99;
    for (int i = 0; i < 3; i++) {
        assert_true(log_limit_admit(&l, site_a, "m", 10 + (uint64_t)i, &sup));
        assert_int_equal(sup, 0);
    }
    for (int i = 0; i < 7; i++)
        assert_false(log_limit_admit(&l, site_a, "m", 500, &sup));
    assert_int_equal(l.total_suppressed, 7);
    /* Another site has its own budget. */
    assert_true(log_limit_admit(&l, site_b, "m", 500, &sup));
    /* The window ends 1000 ms after its first line: the next line passes
     * and carries the count. */
    assert_false(log_limit_admit(&l, site_a, "m", 1009, &sup));
    assert_true(log_limit_admit(&l, site_a, "m", 1010, &sup));
    assert_int_equal(sup, 8);
    assert_true(log_limit_admit(&l, site_a, "m", 1011, &sup));
    assert_int_equal(sup, 0);
}

typedef struct {
    int calls;
    uint64_t suppressed;
    const void *kind;
} report_t;

static void on_report(const char *module, const void *kind, uint64_t suppressed,
                      uint64_t window_ms, void *arg)
{
    report_t *r = arg;
    assert_string_equal(module, "mod");
    assert_true(window_ms >= 1000);
    r->calls++;
    r->suppressed += suppressed;
    r->kind = kind;
}

static void quiet_sites_are_reported_once(void **state)
{
    (void)state;
    log_limit_t l;
    log_limit_init(&l, 1, 1000);
    uint64_t sup;
    assert_true(log_limit_admit(&l, site_a, "mod", 0, &sup));
    assert_false(log_limit_admit(&l, site_a, "mod", 1, &sup));
    assert_false(log_limit_admit(&l, site_a, "mod", 2, &sup));
    assert_true(log_limit_admit(&l, site_b, "mod", 0, &sup));   /* nothing suppressed */
    report_t r = { 0 };
    assert_int_equal(log_limit_expired(&l, 999, on_report, &r), 0);   /* window still open */
    assert_int_equal(log_limit_expired(&l, 1000, on_report, &r), 1);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.suppressed, 2);
    assert_ptr_equal(r.kind, site_a);
    /* Forgotten once reported: the next line starts fresh. */
    assert_int_equal(log_limit_expired(&l, 5000, on_report, &r), 0);
    assert_true(log_limit_admit(&l, site_a, "mod", 5000, &sup));
    assert_int_equal(sup, 0);
}

static void many_sites_never_block_new_ones(void **state)
{
    (void)state;
    /* More sites than slots: a new site evicts an old one rather than
     * being suppressed forever. */
    static char sites[3 * LOG_LIMIT_SLOTS];
    log_limit_t l;
    log_limit_init(&l, 1, 1000);
    uint64_t sup;
    for (unsigned i = 0; i < sizeof sites; i++)
        assert_true(log_limit_admit(&l, &sites[i], "m", i, &sup));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_suppressed),
        cmocka_unit_test(quiet_sites_are_reported_once),
        cmocka_unit_test(many_sites_never_block_new_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
