#include "util/backoff.h"

void backoff_init(backoff_t *b, unsigned min_ms, unsigned max_ms)
{
    b->min_ms = min_ms ? min_ms : 1;
    b->max_ms = max_ms >= b->min_ms ? max_ms : b->min_ms;
    b->base_ms = 0;
    rng_seed(&b->rng);
}

unsigned backoff_next(backoff_t *b)
{
    if (b->base_ms == 0)
        b->base_ms = b->min_ms;
    else if (b->base_ms > b->max_ms / 2)   /* doubling would pass the cap (or overflow) */
        b->base_ms = b->max_ms;
    else
        b->base_ms *= 2;
    unsigned half = b->base_ms / 2;
    return b->base_ms - (unsigned)rng_below(&b->rng, (uint64_t)half + 1);
}

void backoff_reset(backoff_t *b)
{
    b->base_ms = 0;
}
