/* Single flight: concurrent rebuilds of one key share one run. The first
 * caller for a (kind, id) pair starts a flight and runs the work; later
 * callers join it; when it ends every waiter gets its status, in the order
 * they joined. Pure bookkeeping, no I/O: feed_rebuild runs the flights. */
#ifndef FC_FEED_FEED_FLIGHT_H
#define FC_FEED_FEED_FLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#define FEED_FLIGHT_BUCKETS 1024

typedef enum { FEED_FLIGHT_HOME, FEED_FLIGHT_AUTHOR } feed_flight_kind_t;

/* status is the outcome the flight ended with (feed_rebuild_status_t). */
typedef void feed_flight_fn(int status, void *arg);

typedef struct feed_flights feed_flights_t;

feed_flights_t *feed_flights_new(void);
/* Frees the table and any waiters still in it, without calling them. */
void feed_flights_free(feed_flights_t *t);

/* Whether a flight for (kind, id) is running (a join would not start one). */
bool feed_flight_running(const feed_flights_t *t, feed_flight_kind_t kind, int64_t id);

/* Adds a waiter. Returns 1 when this waiter started a new flight (the caller
 * must then run it and call feed_flight_finish), 0 when it joined one. */
int feed_flight_join(feed_flights_t *t, feed_flight_kind_t kind, int64_t id, feed_flight_fn *cb,
                     void *arg);

/* Ends the flight: every waiter's callback runs with status, now. A waiter
 * may start a new flight for the same key from its callback. */
void feed_flight_finish(feed_flights_t *t, feed_flight_kind_t kind, int64_t id, int status);

#endif
