/* Single flight: concurrent rebuilds of one key share one run. Waiters of a
 * (kind, id) pair join the run in progress and all get its outcome. */
#ifndef FC_FEED_FEED_FLIGHT_H
#define FC_FEED_FEED_FLIGHT_H

#include "feed/feed_engine.h"

#define FEED_FLIGHT_BUCKETS 1024

typedef enum { FEED_FLIGHT_HOME, FEED_FLIGHT_AUTHOR } feed_flight_kind_t;

void feed_flight_init(feed_engine_t *e);
void feed_flight_free(feed_engine_t *e);

/* Adds a waiter. Returns 1 when this waiter started a new flight (the caller
 * must then run it and call feed_flight_finish), 0 when it joined one. */
int feed_flight_join(feed_engine_t *e, feed_flight_kind_t kind, int64_t id, feed_rebuild_fn *cb,
                     void *arg);
/* Ends the flight: every waiter's callback runs with status, now. */
void feed_flight_finish(feed_engine_t *e, feed_flight_kind_t kind, int64_t id,
                        feed_rebuild_status_t status);

#endif
