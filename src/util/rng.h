/* A small pseudo-random number generator with per-instance state: for
 * jitter and sampling, never for secrets.
 *
 * splitmix64 (Steele, Lea, Flood 2014; the seeder of the xoshiro family):
 * one 64-bit word of state, every seed is a good seed, and it passes BigCrush.
 * Each user keeps its own rng_t, so there is no global state to share or
 * lock, and rng_seed gives each instance (each connection of each process)
 * a different sequence: that difference is what jitter is for. */
#ifndef FC_UTIL_RNG_H
#define FC_UTIL_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} rng_t;

/* Seeds from getrandom(2); if the kernel has no entropy to give (it should
 * not happen after boot), from the clock and the instance's address. */
void rng_seed(rng_t *r);

/* A fixed seed: the same sequence every time (for tests). */
void rng_seed_with(rng_t *r, uint64_t seed);

uint64_t rng_next(rng_t *r);

/* Uniform in [0, n), without the modulo bias; 0 when n is 0. */
uint64_t rng_below(rng_t *r, uint64_t n);

#endif
