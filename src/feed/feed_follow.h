/* follow and unfollow (docs/PROTOCOL.md, "Methods"): the follower's cached
 * home feed is changed in place, so a follow does not cost a rebuild.
 *
 *   follow    a celebrity: its marker goes into the feed (merged at read).
 *             Anyone else: the followee's newest feed_max posts (its
 *             recent-posts set, or PostgreSQL) are merged into the feed in
 *             one script, only down to the feed's floor, so the feed stays
 *             an exact prefix of the timeline;
 *   unfollow  the followee's entries and marker leave the feed in one
 *             script; its author is recorded in the follower's unfollowed
 *             set first, so a fan-out in flight cannot deliver after.
 * A feed that is being rebuilt, or whose change cannot be made exactly
 * (PostgreSQL down, a source that does not reach back to the feed's floor,
 * a partial feed left with too few entries), is dropped as before: the next
 * read rebuilds it. A feed that does not exist is left alone. The
 * followee's cached follower count moves by one either way. */
#ifndef FC_FEED_FEED_FOLLOW_H
#define FC_FEED_FEED_FOLLOW_H

#include <stdint.h>

#include "feed/feed_engine.h"
#include "rpc/rpc_server.h"

void feed_follow(feed_engine_t *e, rpc_call_t *call, int64_t follower, int64_t followee);
void feed_unfollow(feed_engine_t *e, rpc_call_t *call, int64_t follower, int64_t followee);

#endif
