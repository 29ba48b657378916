/* Random numbers and post bodies shared by graphgen and feedbench:
 * splitmix64 (small, seedable, one state per thread) and bodies of
 * 80..200 bytes of plain words (no quoting needed in SQL or COPY text). */
#ifndef FC_BENCH_BENCH_RAND_H
#define FC_BENCH_BENCH_RAND_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/buf.h"

typedef struct {
    uint64_t s;
} rng_t;

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* 0..n-1 (0 when n is 0). The modulo bias is below 2^-40 for the sizes
 * used here. */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
    return n ? rng_next(r) % n : 0;
}

/* Uniform in [0, 1). */
static inline double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Appends a body of 80..200 bytes: lowercase words and single spaces. */
static inline void rng_body(rng_t *r, buf_t *b)
{
    static const char *const words[] = {
        "the", "a", "new", "today", "feed", "coffee", "morning", "launch", "great", "team",
        "release", "cache", "timeline", "friends", "weekend", "music", "photo", "city",
        "travel", "code", "really", "love", "this", "just", "finished", "reading", "about",
        "how", "we", "built", "fast", "service", "thanks", "everyone", "who", "came",
        "tonight", "rain", "sunny", "park", "dinner", "with", "family", "best", "ever",
        "working", "on", "something", "big", "soon", "more", "later", "check", "out",
        "latest", "post", "blog", "game", "win", "lost", "happy", "birthday", "news", "update",
    };
    size_t target = 80 + (size_t)rng_below(r, 121);
    size_t start = b->len;
    while (b->len - start < target) {
        if (b->len > start)
            buf_append(b, " ", 1);
        buf_puts(b, words[rng_below(r, sizeof words / sizeof words[0])]);
    }
}

/* Zipf-distributed ranks 0..n-1 (rank k has weight (k+1)^-s) by inverse
 * CDF: a binary search over the cumulative weights, exact for any
 * exponent, ~17 steps for 100,000 ranks. Read-only once made, so threads
 * may share one. */
typedef struct {
    double *cdf;
    int64_t n;
} zipf_t;

static inline void zipf_init(zipf_t *z, int64_t n, double s)
{
    z->n = n;
    z->cdf = fc_xmalloc((size_t)n * sizeof *z->cdf);
    double sum = 0;
    for (int64_t k = 0; k < n; k++) {
        sum += pow((double)(k + 1), -s);
        z->cdf[k] = sum;
    }
    for (int64_t k = 0; k < n; k++)
        z->cdf[k] /= sum;
}

static inline void zipf_free(zipf_t *z)
{
    free(z->cdf);
    z->cdf = NULL;
}

static inline int64_t zipf_draw(const zipf_t *z, rng_t *r)
{
    double u = rng_unit(r);
    int64_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#endif
