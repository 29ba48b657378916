/* Unit tests for the loop-stall gauge (src/metrics/metrics_loop.c): a
 * callback that blocks the loop for 80 ms shows up as an iteration of at
 * least that long; time waiting in poll (a 120 ms timer with nothing else to
 * do) does not; rendering /metrics exports the maximum and resets it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/metrics.h"
#include "metrics/metrics_loop.h"

static void on_block(uv_timer_t *t)
{
    uv_sleep(80);                     /* a blocking call on the loop's thread */
}

static void on_nothing(uv_timer_t *t)
{
}

/* The gauge's value in a fresh render. */
static double rendered(void)
{
    buf_t b;
    buf_init(&b);
    metrics_render(&b);
    const char *p = strstr(b.data, "\nfeedcache_loop_iteration_max_seconds ");
    assert_non_null(p);
    double v = strtod(p + strlen("\nfeedcache_loop_iteration_max_seconds "), NULL);
    buf_free(&b);
    return v;
}

static void measures_stalls_not_waits(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    metrics_loop_start(&loop);
    uv_timer_t t;
    uv_timer_init(&loop, &t);

    /* Idle: 120 ms in poll, nothing run. */
    uv_timer_start(&t, on_nothing, 120, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_timer_start(&t, on_nothing, 10, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    double idle = metrics_loop_max_seconds();
    assert_true(idle < 0.05);

    /* A stall of 80 ms. */
    uv_timer_start(&t, on_block, 5, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_timer_start(&t, on_nothing, 5, 0);        /* one more iteration ends it */
    uv_run(&loop, UV_RUN_DEFAULT);
    double stalled = metrics_loop_max_seconds();
    assert_true(stalled >= 0.075);
    assert_true(stalled < 1.0);

    /* A scrape exports it and starts over. */
    double got = rendered();
    assert_true(got >= 0.075);
    assert_true(metrics_loop_max_seconds() == 0);
    assert_true(rendered() == 0);

    uv_close((uv_handle_t *)&t, NULL);
    metrics_loop_stop();
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    printf("idle wait: longest iteration %.3f ms; 80 ms stall: %.3f ms\n", idle * 1e3,
           stalled * 1e3);
    metrics_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(measures_stalls_not_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
