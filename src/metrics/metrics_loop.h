/* The event loop's longest iteration: how long the loop went without
 * looking at its sockets (callbacks, timers, anything run on the loop's
 * thread), time spent waiting for I/O excluded. One slow callback (a
 * blocking call, a big sort) shows up here as a stall every connection felt.
 *
 * Exported as the gauge feedcache_loop_iteration_max_seconds: the longest
 * iteration since the previous render of /metrics (each scrape resets it).
 * Measured with a uv_prepare handle (runs once per iteration, right before
 * the loop polls) and libuv's idle-time metric (UV_METRICS_IDLE_TIME):
 * busy = time between two prepares - time idle in poll between them. */
#ifndef FC_METRICS_METRICS_LOOP_H
#define FC_METRICS_METRICS_LOOP_H

#include <uv.h>

/* Starts measuring loop (one loop per process). The handle is unreferenced:
 * it never keeps the loop alive. */
void metrics_loop_start(uv_loop_t *loop);

/* The longest iteration so far, in seconds, without resetting it. */
double metrics_loop_max_seconds(void);

/* Closes the handle (before uv_loop_close). */
void metrics_loop_stop(void);

#endif
