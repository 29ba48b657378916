/* rpc_limit: the adaptive concurrency limit against simple server models. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rpc/rpc_limit.h"

#define MS 1000000ull

/* A server that does `capacity` calls per second and answers in base_ns
 * when nothing queues: with n calls in flight, a call takes
 * max(base, n / capacity) (Little's law once the server is saturated).
 * Drives `seconds` of always-full load (every slot the limit allows is
 * used) and returns the last latency. */
static double drive_saturated(rpc_limit_t *l, double capacity, double base_ns, double seconds,
                              uint64_t *now)
{
    double lat = base_ns;
    uint64_t end = *now + (uint64_t)(seconds * 1e9);
    while (*now < end) {
        size_t n = rpc_limit_value(l);
        lat = (double)n / capacity * 1e9;
        if (lat < base_ns)
            lat = base_ns;
        /* n calls end per latency period: sample them spread over it. */
        for (size_t i = 0; i < n; i++) {
            *now += (uint64_t)(lat / (double)n);
            rpc_limit_sample(l, *now, (uint64_t)lat, n);
        }
    }
    return lat;
}

/* Light load: `n` calls in flight, each taking lat_ns. */
static void drive_light(rpc_limit_t *l, size_t n, double lat_ns, double seconds, uint64_t *now)
{
    uint64_t end = *now + (uint64_t)(seconds * 1e9);
    while (*now < end) {
        *now += (uint64_t)(lat_ns / (double)n);
        rpc_limit_sample(l, *now, (uint64_t)lat_ns, n);
    }
}

static void saturated_server_keeps_latency_near_normal(void **state)
{
    (void)state;
    rpc_limit_t l;
    rpc_limit_init(&l, 32, 16, 50000);
    uint64_t now = 1;
    /* 10,000 calls/s, 2 ms unloaded: 20 in flight saturate it. Unbounded,
     * the 16,000 calls offered would take 1.6 s each. */
    drive_light(&l, 4, 2 * MS, 5, &now);
    double lat = drive_saturated(&l, 10000, 2 * MS, 20, &now);
    assert_true(rpc_limit_value(&l) >= 20);       /* enough to keep it saturated */
    assert_true(rpc_limit_value(&l) <= 80);
    assert_true(lat <= 3.0 * 2 * MS);
    /* A long overload does not teach it that the queue is normal. */
    lat = drive_saturated(&l, 10000, 2 * MS, 300, &now);
    assert_true(lat <= 2.5 * 2 * MS);
}

static void overload_at_start_settles_too(void **state)
{
    (void)state;
    rpc_limit_t l;
    rpc_limit_init(&l, 32, 16, 50000);
    uint64_t now = 1;
    double lat = drive_saturated(&l, 10000, 2 * MS, 60, &now);
    assert_true(rpc_limit_value(&l) >= 20);
    assert_true(lat <= 4.0 * 2 * MS);
}

static void limit_grows_while_latency_stays_flat(void **state)
{
    (void)state;
    rpc_limit_t l;
    rpc_limit_init(&l, 20, 16, 2000);
    uint64_t now = 1;
    /* A server that never queues (infinite capacity). */
    drive_saturated(&l, 1e12, 1 * MS, 30, &now);
    assert_int_equal(rpc_limit_value(&l), 2000);
}

static void light_load_leaves_the_limit_alone(void **state)
{
    (void)state;
    rpc_limit_t l;
    rpc_limit_init(&l, 400, 16, 50000);
    uint64_t now = 1;
    /* 3 calls in flight against a limit of 400: latency spikes say
     * nothing about the limit. */
    for (int i = 0; i < 100000; i++) {
        now += 100000;
        rpc_limit_sample(&l, now, (i % 100) ? 1 * MS : 50 * MS, 3);
    }
    assert_int_equal(rpc_limit_value(&l), 400);
}

static void limit_recovers_after_overload(void **state)
{
    (void)state;
    rpc_limit_t l;
    rpc_limit_init(&l, 32, 16, 5000);
    uint64_t now = 1;
    drive_light(&l, 4, 2 * MS, 5, &now);
    drive_saturated(&l, 10000, 2 * MS, 10, &now);
    /* A long slow phase (a capacity drop)... */
    drive_saturated(&l, 2000, 2 * MS, 60, &now);
    size_t low = rpc_limit_value(&l);
    assert_true(low <= 40);
    /* ...then the server is fast again: the limit climbs back. */
    drive_saturated(&l, 1e12, 2 * MS, 30, &now);
    assert_true(rpc_limit_value(&l) >= 10 * low);
}

static void bounds_hold(void **state)
{
    (void)state;
    rpc_limit_t l;
    rpc_limit_init(&l, 5, 16, 64);
    assert_int_equal(rpc_limit_value(&l), 16);
    rpc_limit_init(&l, 500, 16, 64);
    assert_int_equal(rpc_limit_value(&l), 64);
    uint64_t now = 1;
    drive_light(&l, 4, 1 * MS, 5, &now);
    drive_saturated(&l, 10, 1 * MS, 120, &now);     /* hopeless server */
    assert_int_equal(rpc_limit_value(&l), 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(saturated_server_keeps_latency_near_normal),
        cmocka_unit_test(overload_at_start_settles_too),
        cmocka_unit_test(limit_grows_while_latency_stays_flat),
        cmocka_unit_test(light_load_leaves_the_limit_alone),
        cmocka_unit_test(limit_recovers_after_overload),
        cmocka_unit_test(bounds_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
