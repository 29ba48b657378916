#include "feed/feed_shard.h"

unsigned feed_shards_resolve(uint64_t setting, bool cluster)
{
    if (setting >= 1 && setting <= FEED_SHARDS_MAX)
        return (unsigned)setting;
    return cluster ? FEED_SHARDS_CLUSTER : 1;
}

unsigned feed_shard_of(int64_t author, unsigned nshards)
{
    if (nshards <= 1)
        return 0;
    /* splitmix64's finalizer: consecutive ids spread evenly. Part of the
     * queue's layout: changing it moves authors between shards. */
    uint64_t z = (uint64_t)author + UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    return (unsigned)(z % nshards);
}
