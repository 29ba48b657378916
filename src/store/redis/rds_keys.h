/* Every Redis key feedcache uses, built in this one place.
 *
 * PREFIX is the key_prefix setting (default "fc:"). The part in {braces} is
 * the Redis Cluster hash tag: only it is hashed to pick the slot, so all keys
 * of one id share a slot and a script or MULTI touching them stays legal on a
 * cluster. Redis takes the FIRST '{' ... '}' of a key as the tag, which is why
 * a prefix may not contain braces.
 *
 *   key                     type    purpose
 *   PREFIXhome:{U}          zset    home feed of user U, newest first: post ids scored
 *                                   by 2^53 - created_at (ms), plus meta members with
 *                                   negative scores (the state sentinel, a rebuild
 *                                   token, celebrity markers; see
 *                                   src/feed/feed_scripts.h); trimmed to about
 *                                   feed_max; expires feed_ttl after the last read or
 *                                   warm. (Versions before 2026-12-04 kept home feeds
 *                                   oldest first as PREFIXfeed:{U}: they expire unread.)
 *   PREFIXposts:{A}         zset    recent posts of author A, scored by created_at (ms),
 *                                   the same meta members but markers; read-time merge
 *                                   source for celebrities
 *   PREFIXrebuild:{I}       zset    scratch of REBUILD_APPLY for home:{I} or posts:{I}
 *                                   (same slot): created and deleted inside the script
 *   PREFIXpc:{P}            string  post P: "p<author>:<body>", "d" once deleted (a
 *                                   tombstone), "u<body>" when only an update wrote it
 *                                   (feed/feed_postval.h); expires post_ttl
 *   PREFIXunf:{U}           set     authors U unfollowed in the last 10 minutes: a
 *                                   fan-out that read U as a follower before the
 *                                   unfollow must not deliver after it
 *   PREFIXfcount:{A}        string  cached follower count of author A (integer)
 *   PREFIX{celebrities}     set     authors that ever published as celebrities
 *   PREFIXmarked:{celebrities} set  celebrities whose marker job has been queued
 *   PREFIX{fanout}          stream  fan-out jobs, XADD on publish, read by a consumer group
 *   PREFIX{fanout}:dead     stream  dead-letter jobs: failed fanout_max_attempts times, or
 *                                   malformed; listed and requeued by feedcachectl fanout
 *   PREFIX{fanout}:progress hash    entry id -> "POSITION ATTEMPTS" of a running job with
 *                                   more than one page: where a taken-over job resumes
 *   PREFIX{fanout:I}...     the same three for shard I > 0 of the fan-out queue (the
 *                                   names above are shard 0), each shard in its own slot
 *   PREFIXwarm:{JOB}        hash    warm job JOB: done, total, state; kept >= 1 h after it ends
 *
 * Each builder writes the key into out (cap bytes, NUL included) and returns
 * its length, or returns 0 with out set to "" when it does not fit or an
 * argument is invalid (see rds_key_prefix_check): a key is never truncated.
 * RDS_KEY_MAX bytes always suffice for a valid prefix and job id. */
#ifndef FC_STORE_REDIS_RDS_KEYS_H
#define FC_STORE_REDIS_RDS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define RDS_KEY_PREFIX_MAX 64
#define RDS_KEY_JOB_MAX 64
#define RDS_KEY_TOKEN_MAX 32
/* prefix + "celebrities" or "warm:" + "{" + 20 digits or a job id + "}" + NUL */
#define RDS_KEY_MAX 160

size_t rds_key_feed(char *out, size_t cap, const char *prefix, int64_t user_id);
size_t rds_key_posts(char *out, size_t cap, const char *prefix, int64_t author_id);
/* A rebuild's scratch key, "rebuild:{I}:TOKEN": in the slot of rds_key_feed
 * and rds_key_posts of the same id, and one per rebuild (a home feed and an
 * author set of the same id may rebuild at once; a rebuilder whose
 * placeholder was taken over must not write into its successor's). TOKEN:
 * printable, no space or braces, at most RDS_KEY_TOKEN_MAX characters
 * (else 0 and ""). */
size_t rds_key_rebuild_tmp(char *out, size_t cap, const char *prefix, int64_t id,
                           const char *token);
/* A post's cached value (feed/feed_postval.h), "pc:{P}". Until 2026-12-04
 * posts were hashes at "post:{P}": the new name keeps the two versions from
 * reading each other's keys (docs/OPERATIONS.md, "Upgrading"). */
size_t rds_key_post(char *out, size_t cap, const char *prefix, int64_t post_id);
size_t rds_key_unfollowed(char *out, size_t cap, const char *prefix, int64_t user_id);
size_t rds_key_fcount(char *out, size_t cap, const char *prefix, int64_t author_id);
size_t rds_key_celebrities(char *out, size_t cap, const char *prefix);
/* In the same slot as rds_key_celebrities. */
size_t rds_key_celebrities_marked(char *out, size_t cap, const char *prefix);
/* Shard `shard` of the fan-out queue: its stream, dead-letter stream and
 * progress hash, all three in one slot. */
size_t rds_key_fanout(char *out, size_t cap, const char *prefix, unsigned shard);
size_t rds_key_fanout_dead(char *out, size_t cap, const char *prefix, unsigned shard);
size_t rds_key_fanout_progress(char *out, size_t cap, const char *prefix, unsigned shard);
/* job_id: 1..RDS_KEY_JOB_MAX printable characters, no space or brace. */
size_t rds_key_warm(char *out, size_t cap, const char *prefix, const char *job_id);

/* Checks a key_prefix setting: 1..RDS_KEY_PREFIX_MAX printable characters,
 * no space and no brace. Returns 0, or -1 with the reason in err. */
int rds_key_prefix_check(const char *prefix, char *err, size_t errlen);

/* The Redis Cluster slot of a key: CRC16/XMODEM of its hash tag (or of the
 * whole key when it has none) modulo 16384. */
unsigned rds_key_slot(const char *key, size_t len);

#endif
