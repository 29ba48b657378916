/* How many delivery rounds the fan-out worker keeps in flight. A round
 * (FANOUT_CHUNK feeds, one script call) that is in flight is queued in
 * Redis ahead of whatever a read or a publish sends next, so the fewer
 * rounds in flight, the less a live request waits behind fan-out; but
 * too few, and jobs wait for a round and the fan-out lag grows.
 *
 * The limit follows the wait for a round, which only the worker's own
 * clock measures (no clock of another host is compared):
 * - a job that waited longer than FEED_ROUNDS_GROW_US for its round opens
 *   the limit by one (at most once per FEED_ROUNDS_GROW_US), up to max: a
 *   backlog reaches max within max x 10 ms;
 * - a period of FEED_ROUNDS_PERIOD_US in which no round waited longer than
 *   FEED_ROUNDS_SHRINK_US closes it by one, down to 1.
 * So under a backlog it runs at max, as a fixed limit did, and while it
 * keeps up it settles at the fewest rounds whose waits stay short.
 * Pure bookkeeping, no I/O; feed_fanout.c starts the rounds. */
#ifndef FC_FEED_FEED_ROUNDS_H
#define FC_FEED_FEED_ROUNDS_H

#include <stdbool.h>
#include <stdint.h>

#define FEED_ROUNDS_GROW_US 10000
#define FEED_ROUNDS_SHRINK_US 2000
#define FEED_ROUNDS_PERIOD_US 100000

typedef struct {
    int limit;                 /* rounds allowed in flight now, 1..max */
    int max;
    int64_t period_start_us;   /* the current period (shrinking) */
    int64_t period_max_wait_us;
    int64_t grown_us;          /* the last opening */
} feed_rounds_t;

/* Starts at max: a worker that starts with a backlog delivers at once. */
void feed_rounds_init(feed_rounds_t *r, int max, int64_t now_us);

/* A round starts, after its job waited wait_us for a place (0: it had one
 * at once). Returns true when the limit grew (the caller may start more). */
bool feed_rounds_started(feed_rounds_t *r, int64_t wait_us, int64_t now_us);

#endif
