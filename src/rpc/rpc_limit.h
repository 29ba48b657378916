/* Adaptive concurrency limit: how many calls may be in progress at once,
 * learned from their latency, so that overload is shed at the door instead
 * of queueing inside (in Redis pipelines and the PostgreSQL pool) until
 * every call is slow and the timeouts turn a busy service into a failing
 * one.
 *
 * The algorithm is Netflix concurrency-limits' Gradient2, in windows:
 *   - a window collects the latency of the calls that end in it and closes
 *     after RPC_LIMIT_WINDOW_MS with at least RPC_LIMIT_WINDOW_MIN samples
 *     (or after a second with any);
 *   - short = the window's mean latency; long = a slow moving average of the
 *     windows' 99th percentiles: what latency normally reaches when we are
 *     not queueing. Learned mostly from windows under light load, hardly
 *     from windows at the limit (else a long overload would teach it that
 *     the queue is normal);
 *   - gradient = clamp(tolerance * long / short, 0.5, 1): 1 while the mean
 *     stays within tolerance of the normal p99, less as a queue builds.
 * Why the p99 and not the mean as the reference (Gradient2 uses the mean):
 * feedcached is one event loop, whose cost per call falls as more calls
 * share a loop iteration, so throughput keeps rising with concurrency while
 * latency rises too (measured: 8 calls in flight 3,100 reads/s at 1.9 ms,
 * 64 in flight 5,500 reads/s at 11 ms). A limit that kept the mean near
 * the unloaded mean would hold goodput at ~70% of capacity. Letting the
 * mean grow to the unloaded p99 is what callers already live with, and it
 * is the bound the overload targets are stated in;
 *   - limit = limit * gradient + sqrt(limit), smoothed; within [min, max].
 *     The sqrt(limit) term probes upward while latency stays normal.
 * A window in which fewer than half the limit were ever in flight says
 * nothing about the limit (the load was light): the limit stays.
 * After a long overload, `long` has crept up; when it exceeds twice
 * `short` it is pulled down quickly, so the limit recovers.
 *
 * Start the limit low (a few dozen): the normal latency is learned from
 * the first windows, and a limit that starts far above saturation would
 * learn the queue's latency as normal.
 *
 * Pure logic: the caller passes the time (nanoseconds, monotonic). */
#ifndef FC_RPC_RPC_LIMIT_H
#define FC_RPC_RPC_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RPC_LIMIT_WINDOW_MS 25
#define RPC_LIMIT_WINDOW_MIN 16
#define RPC_LIMIT_TOLERANCE 1.5
#define RPC_LIMIT_SMOOTHING 0.2
/* Windows in the long average's memory: ~15 s of busy windows. */
#define RPC_LIMIT_LONG_WINDOWS 600
/* Latency histogram of a window: bucket i holds [2^(i/4), 2^((i+1)/4)) µs,
 * up to ~65 s. */
#define RPC_LIMIT_BUCKETS 64

typedef struct {
    double limit;
    double min_limit;
    double max_limit;

    double long_ns;              /* normal p99; 0 until the first window */
    uint64_t windows;            /* closed so far, for the average's warm-up */

    uint64_t win_start_ns;
    double win_sum_ns;
    unsigned win_n;
    size_t win_peak;             /* most calls in flight seen in the window */
    uint32_t win_hist[RPC_LIMIT_BUCKETS];   /* latencies, quarter powers of two of µs */
} rpc_limit_t;

void rpc_limit_init(rpc_limit_t *l, unsigned initial, unsigned min_limit, unsigned max_limit);

/* The current limit: admit a call while fewer than this are in flight. */
static inline size_t rpc_limit_value(const rpc_limit_t *l)
{
    return (size_t)l->limit;
}

/* A call ended after latency_ns; inflight is how many limited calls were
 * in progress when it started (itself included). Returns 1 when this
 * closed a window (the limit may have changed), else 0. */
int rpc_limit_sample(rpc_limit_t *l, uint64_t now_ns, uint64_t latency_ns, size_t inflight);

/* The latency the limiter takes as normal (ns; 0 before any window). */
static inline double rpc_limit_normal_ns(const rpc_limit_t *l)
{
    return l->long_ns;
}

#endif
