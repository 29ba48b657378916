/* rpc_admit: queue-time bound, the limit and its reserve, retry_after_ms
 * that follows the pressure, the "overloaded" signal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rpc/rpc_admit.h"

#define MS UINT64_C(1000000)

static void fixed_limit_and_reserve(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, false, 8);
    assert_int_equal(rpc_admit_limit(&a), 8);
    size_t place;
    /* A pipelining connection gets 7/8 of the limit... */
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(rpc_admit_try(&a, 1, 0, i, &place), RPC_ADMIT_OK);
    assert_int_equal(place, 7);
    assert_int_equal(rpc_admit_try(&a, 1, 0, 7, &place), RPC_ADMIT_SHED_RESERVE);
    /* ...the rest is for connections with nothing in progress. */
    assert_int_equal(rpc_admit_try(&a, 1, 0, 0, &place), RPC_ADMIT_OK);
    assert_int_equal(rpc_admit_try(&a, 1, 0, 0, &place), RPC_ADMIT_SHED_LIMIT);
    /* A slot freed is a slot taken. */
    rpc_admit_done(&a, 2, MS, 8, true);
    assert_int_equal(rpc_admit_try(&a, 2, 0, 0, &place), RPC_ADMIT_OK);
}

static void a_connection_holding_a_busy_limit_waits(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, true, 1000);
    size_t limit = rpc_admit_limit(&a), busy = limit - limit / RPC_ADMIT_RESERVE_DIV, place;
    /* One connection alone: below busy it may go on, at busy it waits. */
    for (size_t i = 0; i < busy - 1; i++)
        assert_int_equal(rpc_admit_try(&a, 1, 0, i, &place), RPC_ADMIT_OK);
    assert_false(rpc_admit_conn_should_wait(&a, busy - 1));
    assert_int_equal(rpc_admit_try(&a, 1, 0, busy - 1, &place), RPC_ADMIT_OK);
    assert_true(rpc_admit_conn_should_wait(&a, busy));
    /* Nothing in progress on it: never waits (it may use the reserve). */
    assert_false(rpc_admit_conn_should_wait(&a, 0));
    /* Less than half of what is in progress: shed as before, not paused. */
    assert_false(rpc_admit_conn_should_wait(&a, busy / 2 - 1));
    assert_true(rpc_admit_conn_should_wait(&a, busy / 2));
    /* A fixed limit is the operator's: its excess is shed. */
    rpc_admit_t f;
    rpc_admit_init(&f, false, 8);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(rpc_admit_try(&f, 1, 0, i, &place), RPC_ADMIT_OK);
    assert_false(rpc_admit_conn_should_wait(&f, 7));
}

/* The service moves: from `from` to `to`, one call ends and another starts
 * every ms (the calls in progress stay as many). Returns `to`. */
static uint64_t keep_moving(rpc_admit_t *a, uint64_t from, uint64_t to)
{
    size_t place;
    for (uint64_t t = from; t <= to; t += MS) {
        rpc_admit_done(a, t, MS, a->inflight, false);
        assert_int_equal(rpc_admit_try(a, t, 0, 0, &place), RPC_ADMIT_OK);
    }
    return to;
}

static void a_burst_is_held_until_overload(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, true, 1000);
    size_t limit = rpc_admit_limit(&a), place;
    uint64_t now = 1000 * MS;
    for (size_t i = 0; i < limit - limit / RPC_ADMIT_RESERVE_DIV; i++)
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_OK);
    /* Busy: a connection with calls in progress would be shed (reserve),
     * one without would not. */
    assert_true(rpc_admit_would_shed(&a, 1));
    assert_false(rpc_admit_would_shed(&a, 0));
    while (a.inflight < limit)
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_OK);
    assert_true(rpc_admit_would_shed(&a, 0));
    /* Nothing shed lately: held, while this hold and the oldest are young. */
    assert_true(rpc_admit_may_hold(&a, now, 0, 0));
    assert_false(rpc_admit_busy(&a, now));
    rpc_admit_note_hold(&a, now);                     /* background work yields to a hold */
    assert_true(rpc_admit_busy(&a, now + 1));
    assert_false(rpc_admit_busy(&a, now + RPC_ADMIT_OVERLOADED_MS * MS));
    /* Calls end every ms meanwhile (no stall): the bound is the minimum
     * plus that ms's allowance. */
    uint64_t held = now;
    uint64_t max = RPC_ADMIT_HOLD_MIN_MS * MS + RPC_ADMIT_STALL_FACTOR * MS;
    now = keep_moving(&a, now, held + max - MS);
    assert_int_equal(rpc_admit_hold_max_ns(&a, now), max);
    assert_true(rpc_admit_may_hold(&a, now, held, held));
    now = keep_moving(&a, now, held + max);
    assert_false(rpc_admit_may_hold(&a, now, held, held));       /* its own ran out */
    assert_false(rpc_admit_may_hold(&a, now, 0, held));          /* the oldest ran out */
    assert_true(rpc_admit_may_hold(&a, now, 0, held + MS));
    /* A hold that ran out (a stall's backlog, say) or a shed now and then
     * does not stop the next burst from being held; this connection's own
     * hold, once run out, is not renewed. */
    rpc_admit_t b = a;
    rpc_admit_note_overload(&b, now);
    assert_true(rpc_admit_overloaded(&b, now));
    assert_true(rpc_admit_may_hold(&b, now, 0, 0));
    assert_false(rpc_admit_may_hold(&b, now, held, 0));
    assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_SHED_LIMIT);
    assert_true(rpc_admit_may_hold(&a, now, 0, 0));
    /* Shedding as a matter of course (an eighth of what is offered) is an
     * overload: nothing is held until it is over. */
    size_t shed = 1;
    while (!rpc_admit_shedding(&a, now) && shed < 10 * limit) {
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_SHED_LIMIT);
        shed++;
    }
    assert_true(shed >= RPC_ADMIT_SHEDDING_MIN);
    assert_true(shed * RPC_ADMIT_SHEDDING_DIV >= shed + limit + max / MS);
    assert_false(rpc_admit_may_hold(&a, now, 0, 0));
    uint64_t later = keep_moving(&a, now, now + RPC_ADMIT_OVERLOADED_MS * MS);
    assert_false(rpc_admit_shedding(&a, later));
    assert_true(rpc_admit_may_hold(&a, later, 0, 0));
    /* A fixed limit is the operator's: shed, never held. */
    rpc_admit_t f;
    rpc_admit_init(&f, false, 8);
    assert_false(rpc_admit_may_hold(&f, now, 0, 0));
}

/* ticks of 10 ms from `now`: in each, 10 calls end and 10 start; in every
 * other one, sheds_per_two calls are shed. Returns the time after them. */
static uint64_t shed_per_tick(rpc_admit_t *a, uint64_t now, int ticks, int sheds_per_two)
{
    size_t place;
    for (int tick = 0; tick < ticks; tick++, now += 10 * MS) {
        for (int i = 0; i < 10; i++) {
            rpc_admit_done(a, now, MS, a->inflight, false);
            assert_int_equal(rpc_admit_try(a, now, 0, 0, &place), RPC_ADMIT_OK);
        }
        for (int i = 0; tick % 2 == 0 && i < sheds_per_two; i++)
            assert_int_equal(rpc_admit_try(a, now, 0, 0, &place), RPC_ADMIT_SHED_LIMIT);
    }
    return now;
}

/* An overload in which a period sheds little (its connections held, so
 * they offer less) is still one: the share shed over the last second
 * keeps holds off. */
static void an_overload_stays_one_when_a_period_sheds_little(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, true, 1000);
    size_t limit = rpc_admit_limit(&a), place;
    uint64_t now = 1000 * MS;
    while (a.inflight < limit)
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_OK);
    /* A second at 1.5x: per 20 ms, 20 calls end and start, 10 are shed. */
    now = shed_per_tick(&a, now, 100, 10);
    assert_true(rpc_admit_shedding(&a, now));
    /* Then periods in which one call is shed in 20 (the rest held): still
     * an overload. */
    now = shed_per_tick(&a, now, 20, 1);
    assert_true(a.prev_shed * RPC_ADMIT_SHEDDING_DIV < a.prev_shed + a.prev_admitted);
    assert_true(rpc_admit_shedding(&a, now));
    assert_false(rpc_admit_may_hold(&a, now, 0, 0));
    /* A second with a shed in 20 calls: over. */
    now = shed_per_tick(&a, now, 100, 1);
    assert_false(rpc_admit_shedding(&a, now));
    assert_true(rpc_admit_may_hold(&a, now, 0, 0));
}

/* "Most shed" (answers written in ticks, rpc_server) takes half of what is
 * offered shed over about a second: not a 1.5x overload, and not once the
 * sheds stopped. */
static void most_shed_is_half_or_more(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, true, 1000);
    size_t limit = rpc_admit_limit(&a), place;
    uint64_t now = 1000 * MS;
    assert_false(rpc_admit_shedding_most(&a, now));
    while (a.inflight < limit)
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_OK);
    /* A second at 1.5x: a third shed. */
    now = shed_per_tick(&a, now, 100, 10);
    assert_true(rpc_admit_shedding(&a, now));
    assert_false(rpc_admit_shedding_most(&a, now));
    /* A second at 4x: three quarters shed. */
    now = shed_per_tick(&a, now, 100, 60);
    assert_true(rpc_admit_shedding_most(&a, now));
    /* The share is an average: one period shedding little does not end it. */
    now = shed_per_tick(&a, now, 10, 2);
    assert_true(rpc_admit_shedding_most(&a, now));
    /* Nothing shed for longer than RPC_ADMIT_OVERLOADED_MS: over. */
    now = shed_per_tick(&a, now, RPC_ADMIT_OVERLOADED_MS / 10 + 1, 0);
    assert_false(rpc_admit_shedding_most(&a, now));
}

/* Calls in progress and none ending (feedcached or Redis waiting for a CPU)
 * is a stall, not an overload: what piles up meanwhile is held, and may
 * wait in the queue, longer by the stall seen lately (capped), and the
 * allowance fades a window or two after the service moves again. */
static void a_stall_lengthens_the_bounds(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, true, 1000);
    size_t limit = rpc_admit_limit(&a), place;
    uint64_t now = 1000 * MS, base = RPC_ADMIT_HOLD_MIN_MS * MS;
    assert_int_equal(rpc_admit_stall_ns(&a, now), 0);
    assert_int_equal(rpc_admit_hold_max_ns(&a, now), base);
    while (a.inflight < limit)
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_OK);
    now = keep_moving(&a, now, now + 10 * MS);
    assert_int_equal(rpc_admit_stall_ns(&a, now), MS);
    /* Nothing ends for 40 ms: a hold begun with the stall outlives the
     * minimum bound. */
    uint64_t held = now, allowance = RPC_ADMIT_STALL_FACTOR * 40 * MS;
    now += 40 * MS;
    assert_int_equal(rpc_admit_stall_ns(&a, now), 40 * MS);
    assert_int_equal(rpc_admit_hold_max_ns(&a, now), base + allowance);
    assert_true(rpc_admit_may_hold(&a, now, held, held));
    /* The service moves again: the backlog may drain for the rest of the
     * allowance and the minimum before its holds run out. */
    now = keep_moving(&a, now, held + base + allowance - MS);
    assert_int_equal(rpc_admit_stall_ns(&a, now), 40 * MS);
    assert_true(rpc_admit_may_hold(&a, now, held, held));
    now = keep_moving(&a, now, held + base + allowance);
    assert_false(rpc_admit_may_hold(&a, now, held, held));
    /* So may a request wait in the queue while the service is busy. */
    uint64_t queue_max = RPC_ADMIT_QUEUE_MIN_MS * MS + allowance;
    rpc_admit_done(&a, now, MS, a.inflight, false);
    assert_int_equal(rpc_admit_try(&a, now, queue_max, 0, &place), RPC_ADMIT_OK);
    rpc_admit_done(&a, now, MS, a.inflight, false);
    assert_int_equal(rpc_admit_try(&a, now, queue_max + 1, 0, &place), RPC_ADMIT_SHED_QUEUE);
    /* A stall longer than the cap counts as the cap. */
    now += 10 * RPC_ADMIT_STALL_MAX_MS * MS;
    assert_int_equal(rpc_admit_stall_ns(&a, now), RPC_ADMIT_STALL_MAX_MS * MS);
    /* It is forgotten two windows after the service moves again. */
    now = keep_moving(&a, now, now + 2 * RPC_ADMIT_STALL_WINDOW_MS * MS + MS);
    assert_int_equal(rpc_admit_stall_ns(&a, now), MS);
    /* Idle (nothing in progress) is no stall, however long. */
    while (a.inflight > 0)
        rpc_admit_done(&a, now, MS, a.inflight, false);
    now += 3 * RPC_ADMIT_STALL_WINDOW_MS * MS;
    assert_int_equal(rpc_admit_stall_ns(&a, now), 0);
    assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_OK);
    rpc_admit_done(&a, now + 5 * MS, 5 * MS, place, false);
    assert_int_equal(rpc_admit_stall_ns(&a, now + 5 * MS), 5 * MS);
}

static void waited_too_long_is_shed(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, false, 8);
    size_t place;
    /* Not busy: a request that waited on its own connection's budget is
     * served. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(rpc_admit_try(&a, 1, 10 * RPC_ADMIT_QUEUE_MIN_MS * MS, 0, &place),
                         RPC_ADMIT_OK);
    /* Busy (7 of 8 in progress): the bound applies. */
    assert_int_equal(rpc_admit_try(&a, 1, RPC_ADMIT_QUEUE_MIN_MS * MS, 0, &place), RPC_ADMIT_OK);
    assert_int_equal(rpc_admit_try(&a, 1, RPC_ADMIT_QUEUE_MIN_MS * MS + 1, 0, &place),
                     RPC_ADMIT_SHED_QUEUE);
}

static void retry_after_follows_pressure(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, false, 10);
    size_t place;
    uint64_t now = 1;
    /* Light: nothing shed, retry_after near the base (jittered +-50%). */
    int64_t ms = rpc_admit_retry_after_ms(&a, now);
    assert_true(ms >= RPC_ADMIT_RETRY_BASE_MS / 2 && ms <= RPC_ADMIT_RETRY_BASE_MS * 3 / 2);
    assert_false(rpc_admit_overloaded(&a, now));
    /* 4x offered (per 100 ms, 10 admitted, 30 shed): the wait stretches
     * period after period, up to the ceiling. */
    int64_t prev_base = RPC_ADMIT_RETRY_BASE_MS;
    for (int period = 0; period < 60; period++) {
        size_t places[10];
        for (int i = 0; i < 10; i++)
            assert_int_equal(rpc_admit_try(&a, now, 0, 0, &places[i]), RPC_ADMIT_OK);
        for (int i = 0; i < 30; i++)
            assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_SHED_LIMIT);
        for (int i = 0; i < 10; i++)
            rpc_admit_done(&a, now, MS, places[i], false);
        now += 100 * MS;
        if (period == 20) {
            prev_base = (int64_t)a.retry_ms;
            assert_true(prev_base > 4 * RPC_ADMIT_RETRY_BASE_MS);
        }
    }
    assert_true(rpc_admit_overloaded(&a, now - 100 * MS));
    assert_true(a.retry_ms >= prev_base);
    for (int i = 0; i < 20; i++) {
        ms = rpc_admit_retry_after_ms(&a, now);
        assert_true(ms >= RPC_ADMIT_RETRY_MAX_MS / 2 && ms <= RPC_ADMIT_RETRY_MAX_MS);
    }
    /* Callers came back slower: offered 1.1x admitted. The wait shrinks. */
    double high = a.retry_ms;
    for (int period = 0; period < 60; period++) {
        size_t places[10];
        for (int i = 0; i < 10; i++)
            assert_int_equal(rpc_admit_try(&a, now, 0, 0, &places[i]), RPC_ADMIT_OK);
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_SHED_LIMIT);
        for (int i = 0; i < 10; i++)
            rpc_admit_done(&a, now, MS, places[i], false);
        now += 100 * MS;
    }
    assert_true(a.retry_ms < high / 10);
    now += 1000 * MS;
    assert_false(rpc_admit_overloaded(&a, now));   /* the last shed was a second ago */
    /* Quiet for a while: back to the base. */
    now += 3000 * MS;
    ms = rpc_admit_retry_after_ms(&a, now);
    assert_true(ms <= RPC_ADMIT_RETRY_BASE_MS * 3 / 2);
}

/* Sustained shedding (rpc_admit_shedding) is a share of what is offered,
 * not one shed: a burst shed now and then at light load must not switch
 * the server to batched reads (which would make its bursts larger still). */
static void shedding_is_a_share_not_one_shed(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, false, 10);
    size_t place, places[10];
    uint64_t now = 1;
    assert_false(rpc_admit_shedding(&a, now));
    /* Per 100 ms: 10 admitted, 1 shed (9%, below 1/8): overloaded for
     * background work, but not shedding. */
    for (int period = 0; period < 5; period++) {
        for (int i = 0; i < 10; i++)
            assert_int_equal(rpc_admit_try(&a, now, 0, 0, &places[i]), RPC_ADMIT_OK);
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_SHED_LIMIT);
        for (int i = 0; i < 10; i++)
            rpc_admit_done(&a, now, MS, places[i], false);
        assert_true(rpc_admit_overloaded(&a, now));
        assert_false(rpc_admit_shedding(&a, now));
        now += 100 * MS;
    }
    /* 10 admitted, 30 shed: shedding, within the period already once
     * RPC_ADMIT_SHEDDING_MIN were shed... */
    for (int i = 0; i < 10; i++)
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &places[i]), RPC_ADMIT_OK);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_SHED_LIMIT);
        assert_true(rpc_admit_shedding(&a, now) == (i + 1 >= RPC_ADMIT_SHEDDING_MIN));
    }
    for (int i = 0; i < 10; i++)
        rpc_admit_done(&a, now, MS, places[i], false);
    /* ...and in the next one, from the last full period's share. */
    now += 100 * MS;
    assert_int_equal(rpc_admit_try(&a, now, 0, 0, &place), RPC_ADMIT_OK);
    assert_true(rpc_admit_shedding(&a, now));
    rpc_admit_done(&a, now, MS, place, false);
    /* Nothing shed for RPC_ADMIT_OVERLOADED_MS: over. */
    now += (RPC_ADMIT_OVERLOADED_MS + 1) * MS;
    assert_false(rpc_admit_shedding(&a, now));
}

/* rpc_admit_room is what rpc_admit_try would admit one after the other;
 * rpc_admit_shed_first gives the rest of a backlog to be shed first, only
 * while shedding as a matter of course and never for a connection that
 * would wait instead. */
static void room_and_newest_first(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, false, 16);   /* busy from 14 */
    size_t place, places[16], n = 0;
    uint64_t now = 1;
    for (size_t conn = 0; conn <= 3; conn++) {
        rpc_admit_t b = a;
        size_t room = rpc_admit_room(&b, conn), got = 0;
        while (rpc_admit_try(&b, now, 0, conn + got, &place) == RPC_ADMIT_OK)
            got++;
        assert_int_equal(room, got);
    }
    assert_int_equal(rpc_admit_room(&a, 0), 14);
    assert_int_equal(rpc_admit_room(&a, 1), 14);
    for (; n < 13; n++)
        assert_int_equal(rpc_admit_try(&a, now, 0, 0, &places[n]), RPC_ADMIT_OK);
    assert_int_equal(rpc_admit_room(&a, 0), 1 + 0);   /* 13 + 1 reaches busy: the reserve's one */
    assert_int_equal(rpc_admit_room(&a, 5), 1);
    assert_int_equal(rpc_admit_try(&a, now, 0, 0, &places[n++]), RPC_ADMIT_OK);
    assert_int_equal(rpc_admit_room(&a, 5), 0);     /* at busy: only an idle connection */
    assert_int_equal(rpc_admit_room(&a, 0), 1);
    assert_int_equal(rpc_admit_try(&a, now, 0, 0, &places[n++]), RPC_ADMIT_OK);
    assert_int_equal(rpc_admit_try(&a, now, 0, 0, &places[n++]), RPC_ADMIT_OK);
    assert_int_equal(rpc_admit_room(&a, 0), 0);     /* at the limit */

    /* Not shedding as a matter of course: a backlog goes in order... */
    assert_false(rpc_admit_shedding(&a, now));
    assert_false(rpc_admit_newest_first(&a, now));
    assert_int_equal(rpc_admit_shed_first(&a, now, 1, 10), 0);
    /* ...unless a hold just ran past its bound (an overload's onset), for
     * RPC_ADMIT_OVERLOADED_MS. */
    rpc_admit_t o = a;
    rpc_admit_note_overload(&o, now);
    assert_false(rpc_admit_shedding(&o, now));
    assert_true(rpc_admit_newest_first(&o, now));
    assert_int_equal(rpc_admit_shed_first(&o, now, 1, 10), 10);
    assert_int_equal(rpc_admit_shed_first(&o, now + (RPC_ADMIT_OVERLOADED_MS - 1) * MS, 1, 10), 10);
    assert_int_equal(rpc_admit_shed_first(&o, now + RPC_ADMIT_OVERLOADED_MS * MS, 1, 10), 0);
    /* Shedding: everything past the room is shed first, counted as sheds. */
    for (int i = 0; i < 2 * RPC_ADMIT_SHEDDING_MIN; i++)
        assert_int_equal(rpc_admit_try(&a, now, 0, 1, &place), RPC_ADMIT_SHED_LIMIT);
    assert_true(rpc_admit_shedding(&a, now));
    assert_int_equal(rpc_admit_shed_first(&a, now, 1, 10), 10);
    rpc_admit_done(&a, now, MS, places[--n], false);
    rpc_admit_done(&a, now, MS, places[--n], false);
    rpc_admit_done(&a, now, MS, places[--n], false);   /* 13 in progress */
    assert_int_equal(rpc_admit_shed_first(&a, now, 1, 10), 9);
    assert_int_equal(rpc_admit_shed_first(&a, now, 0, 10), 9);
    assert_int_equal(rpc_admit_shed_first(&a, now, 1, 1), 0);
    uint64_t shed_before = a.period_shed;
    assert_int_equal(rpc_admit_supersede(&a, now), RPC_ADMIT_SHED_NEWER);
    assert_int_equal(a.period_shed, shed_before + 1);
    while (n > 0)
        rpc_admit_done(&a, now, MS, places[--n], false);

    /* Adaptive: a connection that would hold half of a busy limit waits
     * (rpc_admit_conn_should_wait) rather than being shed, so nothing of
     * its backlog is shed first; one that would not is shed as above. */
    rpc_admit_t d;
    rpc_admit_init(&d, true, 1000);
    size_t limit = rpc_admit_limit(&d), busy = limit - limit / RPC_ADMIT_RESERVE_DIV;
    for (int i = 0; i < 2 * RPC_ADMIT_SHEDDING_MIN; i++) {
        assert_int_equal(rpc_admit_try(&d, now, 0, 0, &place), RPC_ADMIT_OK);
        rpc_admit_done(&d, now, MS, place, false);
    }
    for (size_t i = 0; i < busy / 4; i++)
        assert_int_equal(rpc_admit_try(&d, now, 0, 0, &place), RPC_ADMIT_OK);
    for (size_t i = 0; i < 2 * RPC_ADMIT_SHEDDING_MIN; i++)
        (void)rpc_admit_supersede(&d, now);
    assert_true(rpc_admit_shedding(&d, now));
    size_t room = rpc_admit_room(&d, 1);
    assert_int_equal(room, busy - busy / 4);
    /* It would end with room + 1 of the busy calls, over half: it waits. */
    assert_int_equal(rpc_admit_shed_first(&d, now, 1, room + 50), 0);
    /* Fewer of its own in progress than the others' by far: shed first. */
    rpc_admit_t e = d;
    for (size_t i = 0; i < busy / 2; i++)
        assert_int_equal(rpc_admit_try(&e, now, 0, 0, &place), RPC_ADMIT_OK);
    room = rpc_admit_room(&e, 1);
    assert_int_equal(rpc_admit_shed_first(&e, now, 1, room + 50), 50);
}

static void failures_do_not_teach_the_limit(void **state)
{
    (void)state;
    rpc_admit_t a;
    rpc_admit_init(&a, true, 5000);
    size_t place, start = rpc_admit_limit(&a);
    uint64_t now = 1;
    /* Calls at the limit that fail fast (a backend down) are not samples:
     * the limit neither learns their latency nor moves. */
    for (int i = 0; i < 100000; i++) {
        now += 10000;
        if (rpc_admit_try(&a, now, 0, 0, &place) == RPC_ADMIT_OK)
            rpc_admit_done(&a, now, 10000, place, false);
    }
    assert_int_equal(rpc_admit_limit(&a), start);
    assert_true(rpc_admit_normal_seconds(&a) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixed_limit_and_reserve),
        cmocka_unit_test(a_connection_holding_a_busy_limit_waits),
        cmocka_unit_test(a_burst_is_held_until_overload),
        cmocka_unit_test(a_stall_lengthens_the_bounds),
        cmocka_unit_test(an_overload_stays_one_when_a_period_sheds_little),
        cmocka_unit_test(most_shed_is_half_or_more),
        cmocka_unit_test(waited_too_long_is_shed),
        cmocka_unit_test(retry_after_follows_pressure),
        cmocka_unit_test(shedding_is_a_share_not_one_shed),
        cmocka_unit_test(room_and_newest_first),
        cmocka_unit_test(failures_do_not_teach_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
