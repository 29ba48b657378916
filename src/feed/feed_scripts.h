/* The Lua scripts of the feed engine: every multi-step change to one feed or
 * author set is done atomically inside Redis. On a Redis Cluster every call
 * must name keys of one slot: the one-key scripts always do; FEED_PUSH and
 * FEED_REMOVE take many feeds, and their caller (feed_fanout.c, through
 * feed_slots.h) passes feeds of one slot per call there.
 *
 * Layout of a home feed zset PREFIXhome:{U} and of an author's recent-posts
 * zset PREFIXposts:{A} (which has no markers):
 *   member "<post id>"   score (see below) >= 0         the entries
 *   member "s"           score -1 complete             sentinel: the key is a
 *                              -2 partial                real feed; partial = trimmed,
 *                              -3 building               entries older than the oldest
 *                              (-1.5, -2.5, -3.5:        one may be missing
 *                              the same, guarded)
 *   member "b:<token>"   score -4                      the rebuild that owns a
 *                                                        building feed
 *   member "c:<author>"  score -5                      a celebrity the user follows:
 *                                                        merge posts:{author} at read
 *   member "e:<epoch>"   score -6                      the epoch (rds_pool_epoch) of
 *                                                        the master the rebuild wrote
 *                                                        to: under another epoch the
 *                                                        feed is suspect (a failover
 *                                                        may have lost deliveries)
 *   members "f:1", "f:2" score -7                      home feeds: the fast markers
 *                                                        (below)
 * The sentinel's fraction. A home feed's sentinel score is its state minus
 * a fraction that FEED_PUSH reads with the state, in the same call, to
 * spare calls per delivery (bench/micro/feed_push_ab.py):
 *   - the unfollow guard, 0.5: the owner unfollowed someone while the feed
 *     existed (UNFOLLOW_GUARD), or PREFIXunf:{U} existed when its
 *     placeholder was made (REBUILD_BEGIN). FEED_PUSH asks the unfollowed
 *     set only for a guarded feed: one call fewer per delivery to the feed
 *     of someone who unfollowed nobody lately. It stays until the feed is
 *     rebuilt, or until a delivery that checks the feed's size finds the
 *     set expired;
 *   - the coverage floor, below 0.5: cover / FEED_COVER_UNIT, where cover
 *     (ms, < FEED_COVER_UNIT / 2) is a created_at such that the partial feed
 *     holds every post of the timeline created after it (or their fan-out
 *     is on its way). FEED_PUSH's trim writes it: the created_at of the
 *     oldest entry it kept; so does REBUILD_APPLY: the created_at of the
 *     newest row the rebuild left out, or, when it trims, of the oldest
 *     entry kept. A post created after cover cannot fall below
 *     the floor, so FEED_PUSH skips the floor check for it. Deletes and
 *     unfollows do not move it (what they remove is no longer in the
 *     timeline); every other script that rewrites the sentinel drops it
 *     (0: unknown, the check runs), which is only slower.
 *     Readers trust a partial home feed only above the newer of its oldest
 *     entry and its coverage floor (feed_read.c), and so does a follow
 *     (feed_follow.c, FOLLOW_MERGE): an entry below the floor may have
 *     come in the fast way (below), and FEED_PUSH's trims keep the floor
 *     where it was when the oldest entry they keep is below it;
 * So -2.5000001 is a partial, guarded feed with a coverage floor. Every
 * other script reads the state through state_of (feed_scripts.c) and keeps
 * the guard when it rewrites the sentinel; C parses the score with fc_i64,
 * which stops at the '.' and so reads the state.
 * Fast markers. A home feed that FEED_PUSH may add to without reading its
 * sentinel holds two meta members, "f:1" and "f:2": one that is not
 * guarded and is complete, building, or partial with a coverage floor.
 * FEED_PUSH's one ZADD NX of the sentinel, both markers and the entry
 * then tells from the number it added whether the feed exists and is fast,
 * and adds the entry: one call per delivery instead of two (issue 12's
 * "state and unfollow checks that cost nothing when there is nothing to
 * check"), and no floor check, as readers ignore what lies below the
 * coverage floor. Two markers, so that "a marker added" (2 or 3) never
 * reads like "the entry added" (1). REBUILD_BEGIN adds them to a
 * placeholder that is not guarded; UNFOLLOW_GUARD takes them out; a
 * script that leaves a partial feed without a coverage floor takes them
 * out; FEED_PUSH's slow way puts them back when the sentinel allows. A
 * feed without them (from a version before them, say) is only slower.
 * Negative scores never collide with entries; page reads ask for scores >= 0
 * and the meta read for scores < 0. The scripts spell these numbers out
 * ('-1', -5...): they are the FEED_STATE_* and FEED_SCORE_* values below,
 * and C code compares states only through the constants.
 *
 * Entry scores. An author set scores an entry with its created_at (ms), so
 * its oldest entry comes first. A home feed is NEWEST FIRST: its entries
 * score FEED_SCORE_BASE - created_at (feed_home_score), so the newest sit
 * right after the few meta members at the head. Fan-out inserts the newest
 * post into feeds of up to feed_max entries, stored as listpacks (a flat
 * array sorted by score): an insert walks from the head to its place, so
 * at the head it stops at once where at the tail it walked the whole feed
 * (bench/micro/zset_listpack.lua: 16.1 -> 6.5 us per delivery to an
 * 800-entry feed). What is left is ZADD's lookup of the member, which
 * still reads the whole feed (bench/micro/zadd_floor.py). The oldest
 * entries, which trims remove, are at the tail.
 * Home feeds took a new key name with this layout (they were PREFIXfeed:{U},
 * oldest first), so an instance of an older version never writes into a
 * newest-first feed nor reads one (docs/OPERATIONS.md, "Upgrading").
 * The scripts that serve both kinds take the layout as an argument
 * ("1": newest first). */
#ifndef FC_FEED_FEED_SCRIPTS_H
#define FC_FEED_FEED_SCRIPTS_H

#include <stdbool.h>
#include <stdint.h>

#define FEED_STATE_COMPLETE (-1)
#define FEED_STATE_PARTIAL (-2)
#define FEED_STATE_BUILDING (-3)
#define FEED_SCORE_TOKEN (-4)
#define FEED_SCORE_CELEB (-5)
#define FEED_SCORE_EPOCH (-6)
#define FEED_SCORE_FAST (-7)

/* The first member of a rebuild's scratch key (REBUILD_APPLY): FEED_REBUILD_PAD_LEN
 * dashes, longer than any zset-max-listpack-value in use (64 by default). */
#define FEED_REBUILD_PAD_LEN 256
#define FEED_REBUILD_PAD_LEN_STR "256"

/* The sentinel's member and the prefixes of the other meta members. */
#define FEED_MEMBER_STATE "s"
#define FEED_MEMBER_TOKEN "b:"
#define FEED_MEMBER_CELEB "c:"
#define FEED_MEMBER_EPOCH "e:"
#define FEED_MEMBER_FAST_1 "f:1"
#define FEED_MEMBER_FAST_2 "f:2"

/* A home feed's entry scores: FEED_SCORE_BASE - created_at. 2^53: every
 * score stays an exact integer in Redis's doubles and Lua's numbers. */
#define FEED_SCORE_BASE INT64_C(9007199254740992)

/* The coverage floor's unit in the sentinel (2^44): a created_at in ms below
 * half of it (until the year 2248) fits in the fraction below the guard's
 * 0.5, and -2 - 0.5 - cover / 2^44 is still an exact double. */
#define FEED_COVER_UNIT INT64_C(17592186044416)

static inline int64_t feed_home_score(int64_t created_at)
{
    return FEED_SCORE_BASE - created_at;
}

static inline int64_t feed_home_ts(int64_t score)
{
    return FEED_SCORE_BASE - score;
}

/* A sentinel's score, read as the scripts read it (LUA_STATE_OF). */
typedef struct {
    int state;             /* FEED_STATE_* */
    bool guarded;
    int64_t cover;         /* the coverage floor, created_at in ms; 0: none */
} feed_sentinel_t;

/* Parses a sentinel's score as Redis writes it (the shortest text that
 * reads back as the same double). False, *out untouched, when the text is
 * not a finite number. */
bool feed_sentinel_parse(const char *text, feed_sentinel_t *out);

/* How far past feed_max a home feed may grow before FEED_PUSH trims it back
 * to feed_max: trimming once per that many deliveries instead of at each
 * (the contract asks for at least feed_max entries, not at most). A trim
 * of a fast feed costs four calls (the meta range, the tail's removal, its
 * new oldest entry, the sentinel's floor), so the slack sets their share
 * of a delivery: 4 / (slack + FEED_TRIM_CHECK_EVERY) calls. A quarter of
 * feed_max, at most FEED_TRIM_SLACK_MAX, so that a feed of the default 800
 * still fits Redis's listpack limit of 1024 with its meta members, and a
 * small feed_max (100: 0.12 calls per delivery with 25, 0.27 with the
 * eighth this was before 2026-12-06) does not trim every few deliveries. */
#define FEED_TRIM_SLACK_MAX 64

static inline int64_t feed_trim_slack(int64_t feed_max)
{
    return feed_max / 4 < FEED_TRIM_SLACK_MAX ? feed_max / 4 : FEED_TRIM_SLACK_MAX;
}

/* Fan-out asks a feed for its size (to trim it past feed_max + slack) at
 * one delivery in FEED_TRIM_CHECK_EVERY only, chosen by a hash of owner
 * and post (feed_trim_check): one call fewer per delivery, about 0.5 us of
 * Redis CPU (bench/micro/feed_push_ab.py). A feed so grows a little past
 * feed_max + slack before its trim, FEED_TRIM_CHECK_EVERY - 1 deliveries
 * on average; more than FEED_TRIM_OVERSHOOT with a chance of (7/8)^64,
 * 2e-4, per trim, and past Redis's listpack limit with the recommended
 * 1024 (80 more for the default feed_max) with (7/8)^80, 2e-5. The
 * listpack headroom (feed_fanout.c's start-up warning, docs/OPERATIONS.md)
 * counts the overshoot: a feed past Redis's listpack limit turns into a
 * skiplist, four times the memory, until it is rebuilt. One in eight, not
 * four (before 2026-12-06): the size check was 0.28 calls per delivery. */
#define FEED_TRIM_CHECK_EVERY 8
#define FEED_TRIM_OVERSHOOT 64

static inline bool feed_trim_check(int64_t owner, int64_t post)
{
    /* splitmix64's finaliser: owner and post ids are sequential, their low
     * bits alone would pick the same feeds for every post. */
    uint64_t x = (uint64_t)owner * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)post;
    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    x ^= x >> 31;
    return x % FEED_TRIM_CHECK_EVERY == 0;
}

/* FEED_PUSH: add one member to many feeds that exist.
 * KEYS: feed keys, or (feed, unfollowed-set) pairs when ARGV[5] == "2".
 * ARGV: member, score, feed_max, author id, stride (1 or 2), layout ("1"
 * newest first: home feeds), slack, and optionally checks: one character
 * per feed, '1' where the delivery checks the feed's size (absent: every
 * feed is checked).
 * A home feed with the fast markers (see above) takes the member in one
 * ZADD NX; every other feed goes the slow way, below.
 * A feed whose owner recently unfollowed `author` is skipped (a fan-out that
 * read its followers before the unfollow must not deliver after it): the
 * unfollowed set is asked for guarded feeds only (see above). A
 * checked feed with more than feed_max + slack members (meta members
 * included, so the count costs nothing until then; the fast markers not)
 * is trimmed, oldest first, to feed_max entries (the feed becomes
 * partial); a building feed is not trimmed (the rebuild trims when it
 * finishes). On the slow way, a new
 * member that would become a partial feed's oldest entry is taken out again:
 * the feed holds the timeline only down to its oldest entry, and one older
 * post would move that floor past posts it never held (a feed short of
 * feed_max after deletes or an unfollow, then a late-dated post). A full
 * feed's trim drops it anyway; the check runs only when no trim did, and
 * in a home feed only for a post not created after its coverage floor (a
 * fast feed has one, which readers honour instead).
 * Returns how many feeds received the member. */
extern const char feed_script_push[];

/* REBUILD_BEGIN: KEYS[1] the feed or author set, KEYS[2] (home feeds) the
 * owner's unfollowed set; ARGV token, ttl_ms. The placeholder is guarded
 * when that set exists.
 * Returns 1: a building placeholder owned by token now exists; 0: the key is
 * already a complete/partial feed; -1: another rebuild is building it. */
extern const char feed_script_rebuild_begin[];

/* REBUILD_APPLY: KEYS[1] the feed or author set, KEYS[2] its scratch key
 * (rds_key_rebuild_tmp of this rebuild's token, same slot), which the
 * rebuilder fills just before, in the same pipeline: ZADD of the member
 * FEED_REBUILD_PAD (score 0) first, which makes the key a skiplist, then
 * the rows as score/member pairs; then PEXPIRE (a safety net should the
 * script never come). ARGV token, feed_max, ttl_ms, partial (0/1), layout
 * ("1" newest first), the coverage floor of a partial home feed
 * (created_at in ms; 0: unknown), the epoch member ("e:<epoch>", or ""
 * when the epoch is unknown), then marker members. Adds the sentinel, the
 * epoch and the markers to the scratch key, stores its union with the
 * placeholder (which may already hold fan-out deliveries, so nothing
 * racing the rebuild is lost) into the key, deletes the scratch key, trims,
 * and sets the sentinel.
 * Returns 1; 0 when the placeholder is gone or owned by another token
 * (invalidated meanwhile: nothing is written, the scratch key is deleted);
 * an error when the scratch key is missing (it expired, or its ZADD
 * failed). */
extern const char feed_script_rebuild_apply[];

/* POST_FILL: KEYS[1] a post's value (feed_postval.h); ARGV ttl_s, the
 * value to write: 'p<author>:<body>' (publish, or a write-back from
 * PostgreSQL) or 'd' (PostgreSQL says deleted). Never overwrites what is
 * newer: a tombstone stays; a post already there stays (as new or newer);
 * an update-only value 'u<body>' becomes the post with that body. The TTL
 * is set either way. Returns 1 when it wrote, else 0. */
extern const char feed_script_post_fill[];

/* PUBLISH_JOB (single Redis only: its keys are in different slots):
 * KEYS[1] the author's cached follower count, KEYS[2] the celebrity flags,
 * KEYS[3] the celebrity marker records, KEYS[4..] every shard's fan-out
 * stream; ARGV author, celebrity_threshold, fanout_queue_max, the author's
 * shard (1 for KEYS[4]), then the job's fields for XADD (feed_job.h).
 * Reads what post.publish decides by and, when it decides a plain fan-out
 * (a count cached below the threshold, the queue below its maximum),
 * queues the job: post.publish in one round trip (feed_write.c). A count
 * that is not a number counts as not cached (the caller recounts). Returns
 * {count cached (0/1), count, flagged (0/1), marked (0/1), queue length
 * (every shard's), job queued (0/1)}. */
extern const char feed_script_publish_job[];

/* POST_UPDATE: KEYS[1] a post's value; ARGV ttl_s, the new body. A post
 * gets the body (its author kept); a missing value becomes 'u<body>', for
 * readers to complete from PostgreSQL; a tombstone stays. Returns 1 when it
 * wrote, else 0. */
extern const char feed_script_post_update[];

/* REBUILD_DROP: KEYS[1]; ARGV token. Deletes the key if it is still the
 * placeholder of that rebuild (a failed rebuild lets readers go on at once
 * instead of waiting for the placeholder to expire). Returns 1. */
extern const char feed_script_rebuild_drop[];

/* FEED_REMOVE: KEYS feeds; ARGV[1] a member. ZREM from each (fan-out of a
 * deleted post). Returns the number of keys. */
extern const char feed_script_remove[];

/* FEED_TOUCH: KEYS[1] a home feed; ARGV ttl_ms, n. Slides the TTL of a
 * complete or partial feed and returns its newest n entries (id, score
 * pairs, newest first; the scores are feed_home_score's). A building
 * placeholder is left alone: it keeps its short TTL in case its rebuilder
 * dies. Used by warming. */
extern const char feed_script_touch[];

/* FOLLOW_CELEB: KEYS[1] a feed; ARGV marker member. A complete or partial
 * feed gets the celebrity marker; a building one is dropped (its rebuild may
 * have read the followees before this follow, and starts over on the next
 * read). Returns 1 if marked. */
extern const char feed_script_follow_celeb[];

/* FOLLOW_MERGE: KEYS[1] a home feed; ARGV feed_max, cut ("" or a score),
 * then score/member pairs: a followee's posts, newest first. Scores are a
 * home feed's (feed_home_score: lower is newer).
 * A partial feed holds every timeline entry down to its floor (its oldest
 * entry), so only pairs at or above that floor go in. cut: the pairs hold
 * every post of the followee down to cut only (its source was partial, or
 * was cut at the feed's floor as the caller saw it): entries below cut leave
 * the feed, which becomes partial there. Then the feed is trimmed to
 * feed_max. The feed stays an exact prefix of the timeline either way.
 * Returns 1 merged, 0 no feed, -1 dropped (building: its rebuild may have
 * read the followees before this follow; or partial with no entry). */
extern const char feed_script_follow_merge[];

/* UNFOLLOW_REMOVE: KEYS[1] a home feed; ARGV cover ("" or a home feed's
 * score, feed_home_score),
 * min_keep, then members to remove (the followee's posts and marker).
 * cover: the members hold every post of the followee above cover only; a
 * feed reaching down to cover or below is dropped instead (it may hold a
 * post of the followee we do not know of). A partial feed left with fewer
 * than min_keep entries is dropped too (rebuilt on the next read, instead
 * of sending most pages to PostgreSQL). Returns 1 removed in place, 0 no
 * feed, -1 dropped (or building). */
extern const char feed_script_unfollow_remove[];

/* FEED_SLIDE: KEYS[1] a home feed; ARGV ttl_ms. Slides the TTL of a
 * complete or partial feed (every read does); a building placeholder keeps
 * its short TTL, so that one whose rebuilder died still expires however
 * often its user reads. Returns 1 when slid. */
extern const char feed_script_slide[];

/* UNFOLLOW_GUARD: KEYS[1] the unfollowed set, KEYS[2] the home feed; ARGV
 * the followee. SADD to the set and, if the feed exists, guard it, in one
 * step: from then on every FEED_PUSH to the feed asks the set. (A guard
 * set after the SADD would let a delivery that runs between them skip the
 * set.) Returns 1. */
extern const char feed_script_unfollow_guard[];

/* COUNT_ADD: KEYS[1] a cached follower count; ARGV delta. Adjusts the
 * count if it is cached (follow +1, unfollow -1), so that a big author's
 * count is not dropped and recounted on every follow. Returns the new
 * count, or nil when none was cached. */
extern const char feed_script_count_add[];

/* ---- the fan-out worker (feed_fanout.c, feed_dead.c) ---------------------
 * Keys of the {fanout} tag only: the job stream PREFIX{fanout}, its
 * dead-letter stream PREFIX{fanout}:dead and the progress hash
 * PREFIX{fanout}:progress (entry id -> "POSITION ATTEMPTS"). */

/* FANOUT_ACK: KEYS stream, progress; ARGV group, entry ids (one or more:
 * the worker acknowledges the jobs that finished meanwhile in one call).
 * XACK, XDEL and HDEL of the jobs' progress, at once. Returns XACK's
 * count. */
extern const char feed_script_fanout_ack[];

/* FANOUT_HEARTBEAT: KEYS[1] stream; ARGV group, consumer, entry ids...
 * Each entry still pending for consumer is claimed again by it (XCLAIM 0
 * JUSTID: its idle time restarts, its delivery count does not change), so no
 * XAUTOCLAIM takes a job that is alive. Returns the ids that are no longer
 * the consumer's (acknowledged, or claimed by another after a stall). */
extern const char feed_script_fanout_heartbeat[];

/* FANOUT_DEAD: KEYS stream, dead stream, progress; ARGV group, entry id,
 * attempts, reason, now ms, dead stream MAXLEN (approximate). Copies the
 * entry to the dead stream as job, attempts, reason, at (these four pairs
 * first), then the entry's own fields, and acknowledges and deletes it (and
 * its progress). Returns 1 if moved, 0 if the entry was already gone. */
extern const char feed_script_fanout_dead[];

/* FANOUT_REAP: KEYS[1] stream; ARGV group, own consumer name, idle ms.
 * Deletes (XGROUP DELCONSUMER) every consumer of the group but this one that
 * has nothing pending and has been idle longer than `idle ms`: instances
 * gone for good (a default instance_id has the pid in it, so every restart
 * leaves a consumer behind). Checked and deleted in one script, so a
 * consumer cannot take a job between the check and the delete (DELCONSUMER
 * drops a consumer's pending jobs). Returns the names removed. */
extern const char feed_script_fanout_reap[];

/* FANOUT_REQUEUE: KEYS stream, dead stream; ARGV now ms, count, dead id
 * ("" for the oldest `count`). Adds each dead letter's job fields (without
 * the four leading pairs; pub set to now) to the stream as a new job and
 * deletes the dead letter. Returns how many were requeued. */
extern const char feed_script_fanout_requeue[];

#endif
