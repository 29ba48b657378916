/* Grouping a fan-out page's deliveries by Redis Cluster hash slot.
 *
 * A fan-out delivery script (FEED_PUSH, FEED_REMOVE) may carry many feeds
 * at once: on a single Redis that saves round trips and script calls. On a
 * cluster one script must touch keys of one slot only (Redis answers
 * CROSSSLOT otherwise), so the page is ordered by slot and cut into runs of
 * one slot each: one script per run. All the keys a delivery touches for a
 * user (home:{U}, unf:{U}) share the user's hash tag, so the slot of the
 * feed key is the slot of every key of that delivery.
 *
 * The same grouping serves hydration's MGETs (feed_hydrate.c): a
 * multi-key command must stay in one slot too.
 *
 * Pure: no I/O. feed_fanout.c and feed_hydrate.c do the sending. */
#ifndef FC_FEED_FEED_SLOTS_H
#define FC_FEED_FEED_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "feed/feed_cmd.h"

/* Orders ids[0..n) by the slot of key(prefix, id) (ties by id, so the
 * order is the same on every run) and writes each id's slot to slots[i].
 * An id whose key cannot be built (bad prefix) gets slot 0. */
void feed_slots_sort(int64_t *ids, unsigned *slots, size_t n, const char *prefix,
                     feed_key_fn *key);

/* The same order without moving ids: order[k] is the index in ids of the
 * k-th id in slot order, slots[k] its slot (hydration keeps its posts in
 * place and fetches them by slot). */
void feed_slots_order(const int64_t *ids, size_t *order, unsigned *slots, size_t n,
                      const char *prefix, feed_key_fn *key);

/* How many of slots[0..n) from the start share slots[0], at most max
 * (max >= 1). 0 when n == 0. */
size_t feed_slots_run(const unsigned *slots, size_t n, size_t max);

#endif
