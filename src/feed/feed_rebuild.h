/* Cold start: a home feed (or an author's recent-posts set) rebuilt from
 * PostgreSQL.
 *
 *   1. REBUILD_BEGIN puts a "building" placeholder with our token in Redis
 *      (or finds the key already there, or another rebuild at work: then we
 *      poll until it is done). From now on fan-out deliveries, celebrity
 *      markers and follows land in the placeholder, so nothing that happens
 *      while we query PostgreSQL is lost.
 *   2. Home feeds: one statement reads the followees and the newest
 *      feed_max + 1 live posts of the user and the followees, leaving out
 *      the celebrities this instance knows (e->known_celebs): those become
 *      markers, merged at read time. Author sets: the newest feed_max + 1
 *      posts of the author. More than feed_max rows means older ones
 *      exist: the feed is partial.
 *   3. REBUILD_APPLY adds the rows to the placeholder and marks it complete or
 *      partial, unless the placeholder was invalidated meanwhile (a DEL by
 *      timeline.invalidate, follow or unfollow): then nothing is written and
 *      the waiters read again. A home feed's celebrity flags (SMISMEMBER)
 *      are read in the same round trip, after the placeholder exists. When
 *      they differ from what the statement left out, an author flagged
 *      since this instance last looked gets its marker (its posts are
 *      already in), and when one it left out is no longer flagged (Redis
 *      lost the set) the feed is dropped and read again.
 * Concurrent callers for one key share one run (feed_flight). At most
 * max_rebuilds runs go on at once (a cold-start stampede must not turn into
 * a PostgreSQL stampede): a caller that would start one more gets
 * FEED_REBUILD_SHED; joining a run in progress is never shed. */
#ifndef FC_FEED_FEED_REBUILD_H
#define FC_FEED_FEED_REBUILD_H

#include <stdint.h>

#include "feed/feed_engine.h"

/* The status a rebuild's callback gets (an int, as feed_flight passes it). */
typedef enum {
    FEED_REBUILD_OK = 0,        /* the key exists now (rebuilt, or found done) */
    FEED_REBUILD_RETRY,         /* invalidated while building: read again */
    FEED_REBUILD_UNAVAILABLE,   /* Redis or PostgreSQL failed */
    FEED_REBUILD_SHED,          /* not started: max_rebuilds were running */
} feed_rebuild_status_t;

typedef void feed_rebuild_fn(int status, void *arg);

/* Rebuilds PREFIXhome:{user} from PostgreSQL unless it exists. The callback
 * always runs later, from the loop. */
void feed_rebuild_home(feed_engine_t *e, int64_t user_id, feed_rebuild_fn *cb, void *arg);
/* The same for an author's recent-posts set PREFIXposts:{author}. */
void feed_rebuild_author(feed_engine_t *e, int64_t author_id, feed_rebuild_fn *cb, void *arg);

/* Shutdown, before the backends close: rebuilds waiting on a timer (a poll
 * for another rebuilder, a shed answer) end now with
 * FEED_REBUILD_UNAVAILABLE, and rebuilds started from now on too, so that no
 * timer fires after the pools are gone. done(arg) runs from the loop once
 * none is left; the caller closes the backends then. */
void feed_rebuild_stop(feed_engine_t *e, void (*done)(void *arg), void *arg);

#endif
