/* A retry schedule: exponential backoff with jitter, as both store pools
 * (Redis, PostgreSQL) use it to reconnect.
 *
 * The base delay starts at min_ms, doubles with every backoff_next and stays
 * at max_ms once there; backoff_reset (after a success that counts, e.g. a
 * connection that stayed up a while) starts again from min_ms.
 *
 * Each delay is drawn uniformly from [base - base/2, base] ("equal jitter"):
 * the fixed half keeps a delay from collapsing to nothing, the random half
 * spreads out clients that failed together (every connection of every
 * process when a server restarts) instead of retrying in lockstep. So a delay
 * is never above max_ms and, once growing, never below half of min_ms.
 *
 * No I/O and no global state: each schedule has its own RNG (util/rng.h),
 * seeded by backoff_init; a test may reseed it with rng_seed_with(&b.rng, n). */
#ifndef FC_UTIL_BACKOFF_H
#define FC_UTIL_BACKOFF_H

#include "util/rng.h"

typedef struct {
    unsigned min_ms;
    unsigned max_ms;
    unsigned base_ms;   /* base of the last delay; 0 after init or reset */
    rng_t rng;
} backoff_t;

/* min_ms 0 counts as 1; max_ms below min_ms counts as min_ms. */
void backoff_init(backoff_t *b, unsigned min_ms, unsigned max_ms);

/* The delay before the next attempt, in milliseconds. */
unsigned backoff_next(backoff_t *b);

/* After a success: the next delay is drawn from min_ms again. */
void backoff_reset(backoff_t *b);

#endif
