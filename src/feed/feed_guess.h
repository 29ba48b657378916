/* The celebrity guess: which celebrities each user followed at their last
 * read, in a cache of FEED_GUESS_SETS sets of FEED_GUESS_WAYS slots (a
 * user's hash picks the set; in a full set the user whose last store is the
 * oldest gives its slot up).
 *
 * Which celebrities a user follows is only known from the first round trip
 * of timeline.get (the feed's marker members), which would make the
 * celebrities' sets a second round trip. So the first round trip also asks
 * for the sets of the guessed celebrities; when its markers say the same,
 * those replies are used and the read needs no second one. A guess never
 * decides what is shown: the markers read in the same round trip do, so a
 * wrong or lost guess costs a round trip, never correctness. The same goes
 * for the page hint (the posts of the user's last first page, below): it
 * only decides which cached post values are read early. Pure, no I/O. */
#ifndef FC_FEED_FEED_GUESS_H
#define FC_FEED_FEED_GUESS_H

#include <stddef.h>
#include <stdint.h>

/* 262,144 users: 16 MB of slots, touched as they fill, plus each user's
 * lists (a page hint of 20 posts is 160 B; about 60 MB when every slot
 * holds a user who follows a few celebrities). Before, one
 * slot per hash, 65,536 of them: 100,000 readers read at random (the full
 * bench graph) kept about half their slots (computed), and each read that
 * found its slot lost asked Redis for a PTTL and missed its guess (0.39
 * PTTLs per read). In sets of four, a user loses its slot only when five
 * or more users share the set (about 2% of the sets at that load). */
#define FEED_GUESS_WAYS 4
#define FEED_GUESS_SETS 65536
#define FEED_GUESS_MAX 256       /* users following more are never guessed */
#define FEED_GUESS_PAGE_MAX 40   /* a longer first page is not remembered */

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
 * slot over. */
int64_t feed_guess_ttl_until(const feed_guess_t *g, int64_t user);

/* Sets user's TTL hint; ignored unless the user has a slot. */
void feed_guess_set_ttl_until(feed_guess_t *g, int64_t user, int64_t until_ms);

/* The page hint: the post ids of the user's last first page, whose cached
 * values the next first page asks for in its first round trip, before it
 * knows its page (feed_read.c): a timeline changes little between two
 * reads, and each page that needs no post lookup after its window saves a
 * round trip. Valid until the next set; 0 when unknown. */
size_t feed_guess_page(const feed_guess_t *g, int64_t user, const int64_t **ids);

/* Sets user's page hint (more than FEED_GUESS_PAGE_MAX ids: forgets it);
 * ignored unless the user has a slot. */
void feed_guess_set_page(feed_guess_t *g, int64_t user, const int64_t *ids, size_t n);

#endif
