#include "util/rng.h"

#include <sys/random.h>
#include <time.h>

void rng_seed_with(rng_t *r, uint64_t seed)
{
    r->state = seed;
}

void rng_seed(rng_t *r)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        seed ^= (uint64_t)(uintptr_t)r;
    }
    rng_seed_with(r, seed);
}

uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t rng_below(rng_t *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* x % n favours small results unless x is uniform over a multiple of
     * n values: draws below 2^64 mod n are redrawn, which leaves
     * 2^64 - (2^64 mod n) of them. A redraw is rare (never more likely than
     * one in two, and about n / 2^64 for the small n used here). */
    uint64_t limit = -n % n;   /* 2^64 mod n */
    uint64_t x;
    do
        x = rng_next(r);
    while (x < limit);
    return x % n;
}
