/* The fan-out worker's rounds in flight (feed_rounds.h). */
#include "feed/feed_rounds.h"

void feed_rounds_init(feed_rounds_t *r, int max, int64_t now_us)
{
    r->max = max < 1 ? 1 : max;
    r->limit = r->max;
    r->period_start_us = now_us;
    r->period_max_wait_us = 0;
    r->grown_us = now_us;
}

static void new_period(feed_rounds_t *r, int64_t now_us)
{
    r->period_start_us = now_us;
    r->period_max_wait_us = 0;
}

bool feed_rounds_started(feed_rounds_t *r, int64_t wait_us, int64_t now_us)
{
    if (wait_us > r->period_max_wait_us)
        r->period_max_wait_us = wait_us;
    if (wait_us > FEED_ROUNDS_GROW_US) {
        if (r->limit < r->max && now_us - r->grown_us >= FEED_ROUNDS_GROW_US) {
            r->limit++;
            r->grown_us = now_us;
            /* The next shrink is judged on waits under the new limit. */
            new_period(r, now_us);
            return true;
        }
        return false;
    }
    if (now_us - r->period_start_us >= FEED_ROUNDS_PERIOD_US) {
        if (r->period_max_wait_us <= FEED_ROUNDS_SHRINK_US && r->limit > 1)
            r->limit--;
        new_period(r, now_us);
    }
    return false;
}
