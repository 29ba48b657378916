#include "rpc/rpc_limit.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define NS_PER_MS 1000000u
/* The long average's first windows are averaged plainly: an EMA started
 * from the first window alone would weigh it for a long time. */
#define RPC_LIMIT_WARMUP_WINDOWS 10

void rpc_limit_init(rpc_limit_t *l, unsigned initial, unsigned min_limit, unsigned max_limit)
{
    *l = (rpc_limit_t){ 0 };
    l->min_limit = min_limit ? min_limit : 1;
    l->max_limit = max_limit < l->min_limit ? l->min_limit : max_limit;
    l->limit = initial < l->min_limit ? l->min_limit
               : initial > l->max_limit ? l->max_limit
                                        : initial;
}

static void update_long(rpc_limit_t *l, double p99_ns, bool app_limited)
{
    l->windows++;
    if (l->windows <= RPC_LIMIT_WARMUP_WINDOWS) {
        l->long_ns += (p99_ns - l->long_ns) / (double)l->windows;
        return;
    }
    /* Windows at the limit measure the latency the limit allows, not the
     * normal one: were they averaged in at the usual pace, a long overload
     * would teach the limiter that its own queue is normal and the limit
     * would creep up (by 2.3x in 5 minutes when they counted 40 times
     * less). They count 400 times less (an hour or two), so that a lasting
     * change of the normal latency is still learned during a long overload;
     * light load teaches it within seconds anyway. */
    double memory = app_limited ? RPC_LIMIT_LONG_WINDOWS : 400.0 * RPC_LIMIT_LONG_WINDOWS;
    l->long_ns += (p99_ns - l->long_ns) * (2.0 / (memory + 1));
    /* Latency is back to normal after a long overload: forget the overload
     * faster than the average would. */
    if (l->long_ns > 2 * p99_ns)
        l->long_ns *= 0.95;
}

/* Bucket of a latency: 4 * log2(µs), by the exponent and the two bits
 * below the leading one. */
static unsigned bucket_of(uint64_t ns)
{
    uint64_t us = ns / 1000;
    if (us < 1)
        return 0;
    unsigned e = 63u - (unsigned)__builtin_clzll(us);
    unsigned frac = e >= 2 ? (unsigned)((us >> (e - 2)) & 3) : (unsigned)((us << (2 - e)) & 3);
    unsigned b = 4 * e + frac;
    return b < RPC_LIMIT_BUCKETS ? b : RPC_LIMIT_BUCKETS - 1;
}

/* The upper bound of bucket b, in ns. */
static double bucket_top_ns(unsigned b)
{
    return exp2((double)(b + 1) / 4.0) * 1000.0;
}

static double window_p99_ns(const rpc_limit_t *l)
{
    uint64_t want = (uint64_t)ceil(0.99 * l->win_n), seen = 0;
    for (unsigned b = 0; b < RPC_LIMIT_BUCKETS; b++) {
        seen += l->win_hist[b];
        if (seen >= want)
            return bucket_top_ns(b);
    }
    return bucket_top_ns(RPC_LIMIT_BUCKETS - 1);
}

static void close_window(rpc_limit_t *l)
{
    double short_ns = l->win_sum_ns / l->win_n;
    bool app_limited = (double)l->win_peak < l->limit / 2;
    update_long(l, window_p99_ns(l), app_limited);
    if (app_limited)
        return;
    double gradient = RPC_LIMIT_TOLERANCE * l->long_ns / short_ns;
    gradient = gradient < 0.5 ? 0.5 : gradient > 1.0 ? 1.0 : gradient;
    double next = l->limit * gradient + sqrt(l->limit);
    next = l->limit * (1 - RPC_LIMIT_SMOOTHING) + next * RPC_LIMIT_SMOOTHING;
    l->limit = next < l->min_limit ? l->min_limit : next > l->max_limit ? l->max_limit : next;
}

int rpc_limit_sample(rpc_limit_t *l, uint64_t now_ns, uint64_t latency_ns, size_t inflight)
{
    if (l->win_n == 0)
        l->win_start_ns = now_ns;
    l->win_sum_ns += (double)latency_ns;
    l->win_n++;
    l->win_hist[bucket_of(latency_ns)]++;
    if (inflight > l->win_peak)
        l->win_peak = inflight;
    uint64_t age = now_ns - l->win_start_ns;
    if (!((age >= (uint64_t)RPC_LIMIT_WINDOW_MS * NS_PER_MS && l->win_n >= RPC_LIMIT_WINDOW_MIN) ||
          age >= (uint64_t)1000 * NS_PER_MS))
        return 0;
    close_window(l);
    l->win_sum_ns = 0;
    l->win_n = 0;
    l->win_peak = 0;
    memset(l->win_hist, 0, sizeof l->win_hist);
    return 1;
}
