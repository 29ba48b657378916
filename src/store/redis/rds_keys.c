/* Redis key names: see rds_keys.h for the whole data model. */
#include "store/redis/rds_keys.h"

#include <stdio.h>
#include <string.h>

#include "util/num.h"

/* Printable ASCII without space and braces: what may sit outside or inside a
 * hash tag without changing which part Redis hashes. */
static int token_ok(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c <= ' ' || c >= 0x7f || c == '{' || c == '}' || n >= max)
            return 0;
    }
    return n > 0;
}

int rds_key_prefix_check(const char *prefix, char *err, size_t errlen)
{
    if (!prefix || !*prefix) {
        snprintf(err, errlen, "key prefix is empty");
        return -1;
    }
    if (strlen(prefix) > RDS_KEY_PREFIX_MAX) {
        snprintf(err, errlen, "key prefix longer than %d characters", RDS_KEY_PREFIX_MAX);
        return -1;
    }
    if (!token_ok(prefix, RDS_KEY_PREFIX_MAX)) {
        snprintf(err, errlen, "key prefix may hold only printable characters, "
                 "no space and no '{' or '}' (they would change the cluster hash tag)");
        return -1;
    }
    return 0;
}

/* PREFIX KIND {TAG} SUFFIX: the single place that decides the shape of a
 * key. Only the fan-out stream's companions have a suffix. */
static size_t build_suffix(char *out, size_t cap, const char *prefix, const char *kind,
                           const char *tag, const char *suffix)
{
    if (cap > 0)
        out[0] = '\0';
    if (!prefix || !token_ok(prefix, RDS_KEY_PREFIX_MAX))
        return 0;
    /* By hand, not snprintf: a key is built for nearly every command, and
     * snprintf's format parsing was ~3% of feedcached's CPU on reads. */
    const char *parts[] = { prefix, kind, "{", tag, "}", suffix };
    size_t n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t len = strlen(parts[i]);
        if (len >= cap - n) {        /* no room for it and the final NUL */
            if (cap > 0)
                out[0] = '\0';
            return 0;
        }
        memcpy(out + n, parts[i], len);
        n += len;
    }
    out[n] = '\0';
    return n;
}

static size_t build(char *out, size_t cap, const char *prefix, const char *kind,
                    const char *tag)
{
    return build_suffix(out, cap, prefix, kind, tag, "");
}

static size_t build_id(char *out, size_t cap, const char *prefix, const char *kind, int64_t id)
{
    char tag[FC_I64_CHARS];
    fc_i64_format(tag, id);
    return build(out, cap, prefix, kind, tag);
}

size_t rds_key_feed(char *out, size_t cap, const char *prefix, int64_t user_id)
{
    return build_id(out, cap, prefix, "home:", user_id);
}

size_t rds_key_posts(char *out, size_t cap, const char *prefix, int64_t author_id)
{
    return build_id(out, cap, prefix, "posts:", author_id);
}

size_t rds_key_rebuild_tmp(char *out, size_t cap, const char *prefix, int64_t id,
                           const char *token)
{
    char tag[FC_I64_CHARS], suffix[RDS_KEY_TOKEN_MAX + 2];
    if (!token_ok(token, RDS_KEY_TOKEN_MAX)) {
        if (cap > 0)
            out[0] = '\0';
        return 0;
    }
    suffix[0] = ':';
    strcpy(suffix + 1, token);
    fc_i64_format(tag, id);
    return build_suffix(out, cap, prefix, "rebuild:", tag, suffix);
}

size_t rds_key_post(char *out, size_t cap, const char *prefix, int64_t post_id)
{
    return build_id(out, cap, prefix, "pc:", post_id);
}

size_t rds_key_unfollowed(char *out, size_t cap, const char *prefix, int64_t user_id)
{
    return build_id(out, cap, prefix, "unf:", user_id);
}

size_t rds_key_fcount(char *out, size_t cap, const char *prefix, int64_t author_id)
{
    return build_id(out, cap, prefix, "fcount:", author_id);
}

size_t rds_key_celebrities(char *out, size_t cap, const char *prefix)
{
    /* One set for the whole service: its own name is its tag. */
    return build(out, cap, prefix, "", "celebrities");
}

size_t rds_key_celebrities_marked(char *out, size_t cap, const char *prefix)
{
    return build(out, cap, prefix, "marked:", "celebrities");
}

/* The fan-out queue is sharded: shard 0 keeps the unsharded names (so jobs
 * queued before shards existed are still read), shard i > 0 has the tag
 * {fanout:i}, a slot of its own. A shard's stream, dead-letter stream and
 * progress hash share its tag: one script moves a job between them. */
static size_t build_fanout(char *out, size_t cap, const char *prefix, unsigned shard,
                           const char *suffix)
{
    char tag[32];
    if (shard == 0)
        snprintf(tag, sizeof tag, "fanout");
    else
        snprintf(tag, sizeof tag, "fanout:%u", shard);
    return build_suffix(out, cap, prefix, "", tag, suffix);
}

size_t rds_key_fanout(char *out, size_t cap, const char *prefix, unsigned shard)
{
    return build_fanout(out, cap, prefix, shard, "");
}

size_t rds_key_fanout_dead(char *out, size_t cap, const char *prefix, unsigned shard)
{
    return build_fanout(out, cap, prefix, shard, ":dead");
}

size_t rds_key_fanout_progress(char *out, size_t cap, const char *prefix, unsigned shard)
{
    return build_fanout(out, cap, prefix, shard, ":progress");
}

size_t rds_key_warm(char *out, size_t cap, const char *prefix, const char *job_id)
{
    if (!job_id || !token_ok(job_id, RDS_KEY_JOB_MAX)) {
        if (cap > 0)
            out[0] = '\0';
        return 0;
    }
    return build(out, cap, prefix, "warm:", job_id);
}

/* CRC16/XMODEM (poly 0x1021, init 0), bit by bit: keys are short and this is
 * only used for checks, not on a hot path. */
static unsigned crc16(const char *p, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

unsigned rds_key_slot(const char *key, size_t len)
{
    /* As Redis does it: the first '{', then the first '}' after it; an empty
     * tag "{}" means the whole key is hashed. */
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return crc16(open + 1, (size_t)(close - open - 1)) & 16383;
    }
    return crc16(key, len) & 16383;
}
