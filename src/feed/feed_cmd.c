#include "feed/feed_cmd.h"

#include <sys/time.h>

#include "store/redis/rds_keys.h"
#include "store/redis/rds_script.h"
#include "util/log.h"

void feed_args_eval(rds_args_t *a, const char *script, int nkeys)
{
    rds_args_eval(a, script, nkeys);
}

rds_args_t *feed_args_cmd(rds_args_t *a, const char *name, feed_key_fn *key, const char *prefix,
                          int64_t id)
{
    rds_args_reset(a);
    rds_args_str(a, name);
    rds_args_key(a, key, prefix, id);
    return a;
}

unsigned feed_affinity(int64_t id)
{
    /* Fibonacci hashing: consecutive ids land on different connections,
     * and the top bits are well mixed for any pool size. Never 0, which a
     * reader could take for "no affinity". */
    uint64_t h = (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15);
    unsigned a = (unsigned)(h >> 32);
    return a ? a : 1u;
}

int64_t feed_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

bool feed_batch_ok(const rds_batch_t *b)
{
    for (size_t i = 0; i < rds_batch_count(b); i++) {
        const redisReply *r = rds_batch_reply(b, i);
        if (!r)
            return false;
        if (r->type == REDIS_REPLY_ERROR) {
            log_warn("feed", "redis error: %s", r->str);
            return false;
        }
    }
    return true;
}
