/* Admission: whether a call may start now, decided in microseconds before
 * any backend work, and what an OVERLOADED answer says.
 *
 * Two rules, in order:
 *   - queue time (CoDel's idea): while the service is busy (all but the
 *     reserve of the limit in progress), a request that waited in feedcached longer than
 *     max(RPC_ADMIT_QUEUE_MIN_MS, RPC_ADMIT_QUEUE_NORMALS x the normal p99),
 *     plus RPC_ADMIT_STALL_FACTOR x the stall seen lately
 *     (rpc_admit_stall_ns), before its turn came (its connection was paused by its output
 *     budget, say) is shed: its caller has likely given up, and serving it
 *     would only make the calls behind it late too. (A deep pipeline that
 *     waits on its own budget while the service is not busy is served.)
 *   - concurrency: at most `limit` calls in progress. Adaptive (rpc_limit.h)
 *     by default, so that nothing needs tuning; fixed at max_inflight
 *     otherwise. max_inflight is the adaptive limit's ceiling;
 *   - fairness: the last 1/RPC_ADMIT_RESERVE_DIV of the limit (the
 *     reserve) is kept for calls whose connection has nothing else in
 *     progress, so that a few clients
 *     pipelining hundreds of calls cannot take every slot from the others
 *     (a request/response client always finds room).
 *   - newest first: while calls are shed as a matter of course, a backlog
 *     read at once that does not fit sheds its oldest, and its newest get
 *     the room (rpc_admit_room, rpc_admit_shed_first).
 *
 * retry_after_ms reflects the state: it starts at RPC_ADMIT_RETRY_BASE_MS
 * and is stretched by 15% every 100 ms while more than
 * RPC_ADMIT_PRESSURE_TARGET times what is admitted is offered (a moving
 * average over about a second), shrunk by as much otherwise, within
 * [RPC_ADMIT_RETRY_BASE_MS, RPC_ADMIT_RETRY_MAX_MS]; it is jittered by +-50%
 * so that shed callers do not come back in step. Callers that honour it
 * thus come back at about 1.5 x the rate the service admits, however many
 * they are: every slot stays busy and shedding stays cheap.
 *
 * Pure logic apart from the jitter's RNG; the caller passes the time. */
#ifndef FC_RPC_RPC_ADMIT_H
#define FC_RPC_RPC_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc_limit.h"
#include "util/rng.h"

#define RPC_ADMIT_QUEUE_MIN_MS 50
#define RPC_ADMIT_QUEUE_NORMALS 8
#define RPC_ADMIT_RETRY_BASE_MS 100
#define RPC_ADMIT_PRESSURE_TARGET 1.25
#define RPC_ADMIT_RETRY_MAX_MS 5000
/* Most of what is offered is shed (rpc_admit_shedding_most): this share,
 * on average over about a second. */
#define RPC_ADMIT_MOST_SHARE 0.5
/* A shed within this long makes the service "overloaded" for background
 * work that should yield (rpc_admit_overloaded). */
#define RPC_ADMIT_OVERLOADED_MS 250
/* Shedding as a matter of course (rpc_admit_shedding): an eighth of what
 * is offered, not a burst shed now and then. */
#define RPC_ADMIT_SHEDDING_DIV 8
#define RPC_ADMIT_SHEDDING_MIN 16
/* The adaptive limit's floor and start. One event loop serves more calls
 * per second the more share an iteration, so a low limit costs goodput; a
 * high one is a queue inside, which every served call waits in: under
 * overload the limit sits at the floor (the latency the limiter takes as
 * normal is well under a ms, so its gradient asks for less), and a served
 * call's latency is Little's law, floor / throughput. Measured 2026-12-04
 * night:
 *   - bench/run.sh's overload scenario, the load generator on its own CPU
 *     (FC_BENCH_PIN=0:1), capacity 14,700-17,100 reads/s: at 4x load,
 *     128: p50 8.8-10.2 ms, p99 16.6-22.2 ms, 75-87% of capacity;
 *     64: p50 5.2-5.6 ms, p99 10.5-13.7 ms, 79-95%;
 *     32: p50 3.0-3.1 ms, p99 5.6-6.4 ms, 74-84%;
 *   - the service on both CPUs (no pinning), where it needs more calls in
 *     flight to keep both busy: the faults suite's overload test (16,384
 *     in flight) served 84-97% of its 64-in-flight reference at 128,
 *     75-80% at 64 (p99 about the same); the bench's 4x phase 22,800 reads/s
 *     at 128, 21,600 at 64, 17,200-18,700 at 32.
 * The floor that is best depends on how the CPUs are shared; the goodput
 * targets weighed more, so it stayed 128 until 2026-12-08.
 * 64 since 2026-12-08, with redis_pool 2 instead of 4: what a low floor
 * cost was mostly the Redis pool's, whose four connections each carried a
 * quarter of the calls in progress, so that a round trip took a quarter of
 * the pipeline and Redis and feedcached paid their read and write calls
 * four times per batch. With two connections the floor of 64 keeps the
 * goodput of 128 on four. bench/run.sh --quick --only overload-ab, HEAD
 * e95a2fe (128, pool 4) alternated with this, 3 pairs each:
 *   - pool 2: 4x p99 7.2-7.7 ms against 10.3-16.5, p50 3.3 against 5.0-5.9;
 *     goodput 88-91% of capacity against 73-100%; at 1.5x 83-107% against
 *     83-102%;
 *   - pool 1: 4x p99 6.4-6.8 ms against 9.8-11.0, goodput 83-88% against
 *     83-88%; but closed-loop reads (--only reads) 20,000-21,100/s against
 *     21,700-26,900, so one connection is a bottleneck of its own, while two
 *     served 32,100-33,700 against 27,400-32,600 with four. */
#define RPC_ADMIT_MIN_LIMIT 64
#define RPC_ADMIT_INITIAL_LIMIT 64
#define RPC_ADMIT_RESERVE_DIV 8
/* A burst that finds the limit full while nothing was shed lately is held
 * (its connection is not read) for up to this long, or
 * RPC_ADMIT_HOLD_NORMALS x the normal latency if longer, instead of being
 * shed: see rpc_admit_may_hold. The bound is also how late the first reads
 * of a real overload are served, before it is known for one: it sets the
 * p99 of a 1.5x overload's phase. Measured in bench/run.sh's overload
 * scenario, pinned, floor 64 (2026-12-04 night): 20 ms gave a 1.5x p99 of
 * ~24 ms (4x: 6-14 ms, after the onset); 10 ms 12.4 and 23.1 ms; 5 ms
 * 7.0-11.0 ms, but one of four unloaded phases shed a burst (161 reads);
 * at the floor of 128 (the floor then) the queue itself is 8-10 ms.
 * (An earlier series in which 10 ms shed late in a recovery phase had a
 * load generator whose connections sent in step after a spike.)
 * 25 ms since 2026-12-06: unpinned, the machine stalls feedcached and Redis
 * for 25-50 ms at light load (each waits ~0.2 s per s for a CPU), and a
 * stall's backlog, which drains once they run again, outlasted 10 ms and
 * was shed: quick overload runs alternated, reads shed at 0.5x load with
 * 10 ms 102 / 0 / 75 / 212 / 0 / 390 / 0 / 0, with 25 ms (and holds
 * refused only while shedding is sustained, rpc_admit_may_hold) 0 in
 * seven runs (an eighth, while another load held the machine at 74% CPU
 * pressure, shed 6,562).
 * 10 ms again since 2026-12-06 evening: the stall allowance (below), which
 * came after the 25 ms, now covers a stall's backlog, so the minimum only
 * has to cover a burst. Quick overload runs alternated with 25 ms
 * (bench/RESULTS.md, "2026-12-06 evening"), medians of 11: the 1.5x
 * phase's onset p99 28 against 45 ms, its p99 / the unloaded p99 3.0x
 * against 4.2x; pinned (FC_BENCH_PIN=0:1) 2.6 and 2.9x, the goal met,
 * against 6.6 and 7.1x. Goodput medians 82% / 65% of capacity at 1.5x /
 * 4x against 86% / 77%, which a permutation test cannot tell from the
 * runs' noise (p = 0.53 / 0.23); under sustained shedding nothing is held,
 * so the bound does not act there. Reads shed at 0.5x: 45 in one of 15 runs
 * (quick and full graph), none in the others. The burst test
 * (tests/integration/test_conn.c) served every call, single Redis and
 * cluster: there 8x the normal p99 is the longer bound. */
#define RPC_ADMIT_HOLD_MIN_MS 10
#define RPC_ADMIT_HOLD_NORMALS 8
/* A stall (calls in progress, none ending: feedcached or Redis waiting for
 * a CPU, say) lengthens the bounds on holds and on queue time by
 * RPC_ADMIT_STALL_FACTOR x the longest seen lately (rpc_admit_stall_ns),
 * counted up to this much: what piled up while nothing moved drains only
 * once things move again, and it is no overload. The full graph's
 * half-load phase stalls for 20-90 ms (feedcache_rpc_stall_seconds, sampled
 * through bench/run.sh's overload scenario, 2026-12-06, with the machine at
 * 60-65% CPU pressure); the cap keeps a real overload's onset, whose first
 * reads wait out the bound before sheds tell it for one, within ~210 ms. */
#define RPC_ADMIT_STALL_MAX_MS 100
/* A stall of S at half capacity leaves a backlog that takes another S to
 * drain once things move (arrivals go on at half the rate served), and on
 * a shared machine the service's rate after a stall is lower still. In
 * bench/run.sh's full overload scenario (one run each, 2026-12-06), reads
 * shed in the 0.5x phase / the recovery phase's last failure: no allowance
 * 6,687 and 7,169 / 14.97 and 14.70 s in; x1 1,534 / 5.74 s; x2 838 /
 * 2.25 s; x2 with the shedding average of rpc_admit_shedding (this code)
 * 0 / 10.03 s (175 reads shed in that phase). */
#define RPC_ADMIT_STALL_FACTOR 2
/* "Lately": the longest stall of the current and the previous window of
 * this length. Long enough to cover a stall's drain; short enough that one
 * bad second does not set the bounds for the next minute. */
#define RPC_ADMIT_STALL_WINDOW_MS 1000

typedef enum {
    RPC_ADMIT_OK = 0,
    RPC_ADMIT_SHED_QUEUE,        /* waited too long before its turn */
    RPC_ADMIT_SHED_LIMIT,        /* at the concurrency limit */
    RPC_ADMIT_SHED_RESERVE,      /* in the reserve, and its connection has calls in progress */
    RPC_ADMIT_SHED_NEWER,        /* the room went to its connection's newer calls (rpc_admit_room) */
    RPC_ADMIT__COUNT,
} rpc_admit_result_t;

typedef struct {
    bool adaptive;
    size_t max_inflight;         /* fixed limit, or the adaptive one's ceiling */
    rpc_limit_t limit;
    size_t inflight;             /* admitted calls not yet done */

    /* offered vs admitted, per second, for retry_after_ms */
    uint64_t period_start_ns;
    uint64_t period_admitted, period_shed;
    uint64_t prev_admitted, prev_shed;   /* the last full period's */
    double pressure;             /* offered / admitted, moving average, >= 1 */
    double shed_share;           /* shed / offered, moving average over ~1 s */
    double retry_ms;             /* retry_after_ms before jitter */
    uint64_t last_shed_ns;       /* 0: never */
    uint64_t last_hold_ns;       /* 0: never (rpc_admit_note_hold) */
    uint64_t hold_out_ns;        /* a hold last ran past its bound; 0: never */
    /* stalls: the longest time without a call ending while calls were in
     * progress, per window (rpc_admit_stall_ns) */
    uint64_t progress_ns;        /* the last call's end, or the start that ended idleness */
    uint64_t stall_window_ns;    /* the current window's start */
    uint64_t stall_cur_ns, stall_prev_ns;   /* the current and the previous window's longest */
    rng_t rng;
} rpc_admit_t;

void rpc_admit_init(rpc_admit_t *a, bool adaptive, size_t max_inflight);

/* Decides for a call that arrived queued_ns ago on a connection that has
 * conn_inflight admitted calls in progress. On RPC_ADMIT_OK the call counts
 * as in progress until rpc_admit_done; *inflight_at_start is then its place
 * (for rpc_admit_done). */
rpc_admit_result_t rpc_admit_try(rpc_admit_t *a, uint64_t now_ns, uint64_t queued_ns,
                                 size_t conn_inflight, size_t *inflight_at_start);

/* An admitted call ended after latency_ns. measured: whether its latency
 * says something about load (false for calls that failed fast on a down
 * backend or were cut short by shutdown). Returns whether the limit was
 * recomputed (a window closed). */
bool rpc_admit_done(rpc_admit_t *a, uint64_t now_ns, uint64_t latency_ns,
                    size_t inflight_at_start, bool measured);

/* The current limit on calls in progress. */
size_t rpc_admit_limit(const rpc_admit_t *a);

/* Whether a connection with conn_admitted calls in progress should wait
 * (stop being read until its own calls end) rather than offer more: with
 * the adaptive limit, it holds half or more of the calls in progress while
 * all but the reserve are in use, so its next call would be shed although
 * nobody else may want the room (one client pipelining hundreds of calls
 * at an idle service). The adaptive limit is feedcached's own estimate,
 * which no caller can know; a fixed one is the operator's and sheds. */
bool rpc_admit_conn_should_wait(const rpc_admit_t *a, size_t conn_admitted);

/* How many more calls a connection with conn_admitted calls in progress
 * would have admitted now, one after the other, by the limit and its
 * reserve (the queue-time rule aside).
 *
 * Newest first: while requests are shed as a matter of course, a
 * connection read after its batch interval (or a hold) brings more
 * requests than there is room for; they are taken in arrival order, but
 * the oldest of them, past the room, are shed (rpc_admit_supersede) and
 * the newest get the room. The oldest waited in the socket for the batch
 * (up to RPC_OVERLOAD_READ_MS, or a hold's bound) and would be served
 * that much late; the newest just came. Serving the newest of a backlog
 * is what Facebook's adaptive LIFO does for the same reason (a caller
 * still waits for them); the goodput is the same. */
size_t rpc_admit_room(const rpc_admit_t *a, size_t conn_admitted);

/* Whether a backlog's oldest may be shed first now: calls are shed as a
 * matter of course (rpc_admit_shedding), or a hold ran past its bound
 * within RPC_ADMIT_OVERLOADED_MS (an overload's onset: the held backlogs,
 * released at once, are older than the bound). Otherwise a burst is held
 * instead. Cheap: callers ask it before counting a backlog. */
bool rpc_admit_newest_first(const rpc_admit_t *a, uint64_t now_ns);

/* Of `waiting` calls a connection with conn_admitted calls in progress
 * brings at once, how many to shed first so that the newest get the room:
 * none unless rpc_admit_newest_first, none if they all fit, and none if
 * the
 * connection, its room taken, would wait (rpc_admit_conn_should_wait)
 * rather than be shed. */
size_t rpc_admit_shed_first(const rpc_admit_t *a, uint64_t now_ns, size_t conn_admitted,
                            size_t waiting);

/* Sheds a call now because the room went to newer calls of its
 * connection (rpc_admit_room): counted as a shed, as rpc_admit_try's. */
rpc_admit_result_t rpc_admit_supersede(rpc_admit_t *a, uint64_t now_ns);

/* Whether a call from a connection with conn_admitted calls in progress
 * would be shed now by the limit or its reserve (the queue-time rule
 * aside). */
bool rpc_admit_would_shed(const rpc_admit_t *a, size_t conn_admitted);

/* The longest stall seen lately, at most RPC_ADMIT_STALL_MAX_MS: the
 * longest time without a call ending while calls were in progress, in this
 * window or the previous one (RPC_ADMIT_STALL_WINDOW_MS), or the current
 * one if longer (nothing has ended for that long now). */
uint64_t rpc_admit_stall_ns(const rpc_admit_t *a, uint64_t now_ns);

/* How long a burst may be held: RPC_ADMIT_HOLD_MIN_MS, or
 * RPC_ADMIT_HOLD_NORMALS x the normal latency if longer, plus
 * RPC_ADMIT_STALL_FACTOR x the stall seen lately (rpc_admit_stall_ns). */
uint64_t rpc_admit_hold_max_ns(const rpc_admit_t *a, uint64_t now_ns);

/* Whether a connection whose next call would be shed may be held instead:
 * not read until a slot frees, as if the call were queued. Shedding a
 * burst on an otherwise quiet service (a client's pipeline, a stall of the
 * machine that let a few hundred requests pile up) turns a few ms of delay
 * into errors and retries; a sustained overload is another matter, and
 * holding would only make every served call wait. So: only with the
 * adaptive limit, only while calls are not being shed as a matter of
 * course (rpc_admit_shedding; a burst shed now and then, or one hold that
 * ran out, does not stop the next burst from being held), only while the
 * connection held longest (oldest_hold_ns, 0 = none) and this one
 * (held_since_ns, 0 = not held) have waited less than
 * rpc_admit_hold_max_ns (which a stall lengthens). A hold that runs out
 * is shed; once the sheds are an eighth of what is offered, holding stops
 * until the overload is over. */
bool rpc_admit_may_hold(const rpc_admit_t *a, uint64_t now_ns, uint64_t held_since_ns,
                        uint64_t oldest_hold_ns);

/* The latency the limiter takes as normal, in seconds (0 before it knows). */
double rpc_admit_normal_seconds(const rpc_admit_t *a);

/* retry_after_ms for a call shed now. */
int64_t rpc_admit_retry_after_ms(rpc_admit_t *a, uint64_t now_ns);

/* Whether a call was shed within the last RPC_ADMIT_OVERLOADED_MS. */
bool rpc_admit_overloaded(const rpc_admit_t *a, uint64_t now_ns);

/* Whether calls are being shed as a matter of course, not just a burst
 * now and then: a call shed within RPC_ADMIT_OVERLOADED_MS, and at least
 * 1/RPC_ADMIT_SHEDDING_DIV of what was offered shed in the last full
 * period (or, once RPC_ADMIT_SHEDDING_MIN calls were shed, in the current
 * one), or on average over the last second or so. The average keeps an
 * overload one when a period sheds little: holding masks shedding (held
 * connections are not read, so they offer less), and holds that a stall's
 * allowance makes long would come back and serve the overload's reads
 * late (bench/run.sh, full graph, 1.3x offered: p99 178 ms, against
 * 45-61 ms without the allowance). */
bool rpc_admit_shedding(const rpc_admit_t *a, uint64_t now_ns);

/* Whether calls were shed within RPC_ADMIT_OVERLOADED_MS and at least
 * RPC_ADMIT_MOST_SHARE of what was offered was shed, on average over about
 * a second: an overload of twice what is served or more. */
bool rpc_admit_shedding_most(const rpc_admit_t *a, uint64_t now_ns);

/* A hold ran past its bound: from now on the service counts as overloaded
 * (rpc_admit_overloaded), as after a shed. */
void rpc_admit_note_overload(rpc_admit_t *a, uint64_t now_ns);

/* A connection was held now (rpc_admit_may_hold said yes). */
void rpc_admit_note_hold(rpc_admit_t *a, uint64_t now_ns);

/* Whether a call was shed or held within the last RPC_ADMIT_OVERLOADED_MS:
 * calls wait for a slot, and background work should yield. */
bool rpc_admit_busy(const rpc_admit_t *a, uint64_t now_ns);

#endif
