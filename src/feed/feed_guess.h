/* The celebrity guess: which celebrities each user followed at their last
 * read, in a small direct-mapped cache (a slot per hash of the user id; a
 * newer user takes the slot over).
 *
 * Which celebrities a user follows is only known from the first round trip
 * of timeline.get (the feed's marker members), which would make the
 * celebrities' sets a second round trip. So the first round trip also asks
 * for the sets of the guessed celebrities; when its markers say the same,
 * those replies are used and the read needs no second one. A guess never
 * decides what is shown: the markers read in the same round trip do, so a
 * wrong or lost guess costs a round trip, never correctness. Pure, no I/O. */
#ifndef FC_FEED_FEED_GUESS_H
#define FC_FEED_FEED_GUESS_H

#include <stddef.h>
#include <stdint.h>

#define FEED_GUESS_SLOTS 65536
#define FEED_GUESS_MAX 256       /* users following more are never guessed */

typedef struct feed_guess feed_guess_t;

feed_guess_t *feed_guess_new(void);
void feed_guess_free(feed_guess_t *g);

/* The celebrities remembered for user (sorted ascending), valid until the
 * next store; returns how many (0: nothing known). */
size_t feed_guess_get(const feed_guess_t *g, int64_t user, const int64_t **celebs);

/* Remembers user's celebrities; sorts celebs in place. More than
 * FEED_GUESS_MAX forgets the user instead. A user's window and TTL hints
 * (below) survive a store for the same user. */
void feed_guess_store(feed_guess_t *g, int64_t user, int64_t *celebs, size_t n);

/* The window hint: the most posts one celebrity contributed to the user's
 * last page, so that the next read asks each celebrity's set for about
 * that many rather than a whole page (feed_read.c). 0 when unknown. */
size_t feed_guess_window(const feed_guess_t *g, int64_t user);

/* Sets user's window hint; ignored unless the user has a slot (a store
 * came first). */
void feed_guess_set_window(feed_guess_t *g, int64_t user, size_t most);

/* The TTL hint: until when (loop ms) the user's feed is known to have at
 * least feed_ttl left, so a read need not ask for its PTTL (feed_read.c).
 * 0 when unknown; forgotten, like the rest, when another user takes the
 * slot. */
int64_t feed_guess_ttl_until(const feed_guess_t *g, int64_t user);

/* Sets user's TTL hint; ignored unless the user has a slot. */
void feed_guess_set_ttl_until(feed_guess_t *g, int64_t user, int64_t until_ms);

#endif
