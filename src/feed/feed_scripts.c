#include "feed/feed_scripts.h"

#include <math.h>
#include <stdlib.h>

/* The scripts that read a sentinel start with this: state_of(ZSCORE's
 * answer) returns the state as the string of its integer ('-1', '-2',
 * '-3'; nil: no key), the unfollow guard's offset g (-0.5 guarded, else 0),
 * which every script that rewrites the sentinel adds to the new state, and
 * the coverage floor (created_at in ms, 0 when there is none; exact: the
 * fraction is a multiple of 2^-44) (feed_scripts.h, "The sentinel's
 * fraction"). */
#define LUA_STATE_OF                                                            \
    "local function state_of(z)\n"                                              \
    "  if not z then return nil, 0, 0 end\n"                                    \
    "  local v = tonumber(z)\n"                                                 \
    "  local st = math.ceil(v)\n"                                               \
    "  local f, g = st - v, 0\n"                                                \
    "  if f >= 0.5 then g = -0.5; f = f - 0.5 end\n"                            \
    "  return tostring(st), g, f * 2^44\n"                                      \
    "end\n"

/* The home-feed floor helpers (BASE is FEED_SCORE_BASE, UNIT
 * FEED_COVER_UNIT: powers of two, exact in Lua's doubles):
 * cover_fraction(ts) is a coverage floor's part of the sentinel (0 when
 * the created_at does not fit); trim_tail(key, real, max) trims a
 * newest-first feed of `real` entries to its newest `max` and returns the
 * created_at of the oldest entry kept (0: none). */
#define LUA_FLOOR                                                               \
    "local BASE, UNIT = 2^53, 2^44\n"                                           \
    "local function cover_fraction(ts)\n"                                       \
    "  if ts > 0 and ts < UNIT / 2 then return ts / UNIT end\n"                 \
    "  return 0\n"                                                              \
    "end\n"                                                                     \
    "local function trim_tail(key, real, max)\n"                                \
    "  redis.call('ZREMRANGEBYRANK', key, max - real, -1)\n"                    \
    "  local t = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')\n"             \
    "  if t[2] then return BASE - tonumber(t[2]) end\n"                         \
    "  return 0\n"                                                              \
    "end\n"

/* The fast markers (feed_scripts.h, "Fast markers"): ZADD NX of the
 * sentinel and both markers with the entry answers, in the number it adds,
 * what the feed is: 0 or 1 (the entry was there or is new), a fast feed; 2
 * or 3, a feed without them; 4, no feed. The scores go as strings: Redis
 * 7.0 turns a Lua number argument into text with snprintf("%.17g"), three
 * times per delivery here (feed_push_ab.py, calls of 250, three rounds:
 * 5.1-6.6 us of Redis CPU per delivery against 6.2-10.8). */
#define LUA_FAST_ZADD "'NX', '-1', 's', '-7', 'f:1', '-7', 'f:2'"

/* A guarded feed whose unfollowed set has expired (the set lives 10
 * minutes after the last unfollow; the guard, until the feed is rebuilt)
 * is unguarded by the next delivery that checks its size: the set's
 * absence already lets every delivery through, and unguarded the feed
 * goes the fast way again. An unfollow after that guards it anew
 * (UNFOLLOW_GUARD: the set and the guard in one step).
 * Home feeds (newest first) drop their oldest entries from the tail and
 * find their floor there, by rank (the new member is an entry, so the tail
 * is one: cheaper than a range by score, which parses scores); author
 * sets (oldest first) right after the meta members at the head. checks[k]
 * is the byte of the k-th feed, 49 the character '1'.
 * A home feed is first sent one ZADD NX (LUA_FAST_ZADD) that adds the
 * entry: for a fast feed that is the whole delivery, the size check aside
 * (the sentinel is read only to trim, with the other meta members in one
 * range: their count is what the trim needs too). Any other feed (guarded, or partial
 * without a coverage floor, or from before the markers) takes the markers
 * out again, unless its sentinel says it may now be fast, and goes the
 * slow way: the sentinel read inline (state, guard g, coverage floor cover
 * in ms), the unfollowed set asked when guarded, the floor checked. An
 * author set goes the slow way always (it has no markers). The ZADD gets the score as the string it came as: Redis turns
 * a Lua number argument back into text with snprintf("%.17g"), which cost
 * 6% of Redis's CPU per delivery into 275-entry feeds
 * (bench/micro/feed_push_ab.py, 2026-12-05). */
const char feed_script_push[] =
    LUA_STATE_OF
    LUA_FLOOR
    "local member, score, max, author, stride = ARGV[1], tonumber(ARGV[2]), "
    "tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])\n"
    "local newest_first, slack, checks = ARGV[6] == '1', tonumber(ARGV[7]), ARGV[8]\n"
    "local n = 0\n"
    /* The sentinel of z: state as a number (nil: none), g, cover. */
    "local function sentinel(z)\n"
    "  local s, g, cover = state_of(z)\n"
    "  return tonumber(s), g, cover\n"
    "end\n"
    /* Trims a feed of card members (marks of them the fast markers) past
     * feed_max + slack to feed_max entries: a home feed from the tail, its
     * new floor the newer of its coverage floor and its oldest entry kept
     * (one below the floor may have come in the fast way); fast markers
     * stay only with a floor. Returns whether it trimmed. */
    "local function trim(feed, card, marks, state, g, cover, meta)\n"
    "  if card <= max + slack + marks then return false end\n"
    "  meta = meta or redis.call('ZCOUNT', feed, '-inf', '(0')\n"
    "  local real = card - meta\n"
    "  if real <= max then return false end\n"
    "  if newest_first then\n"
    "    local ts = trim_tail(feed, real, max)\n"
    "    if ts > 0 and state == -2 and cover > ts then ts = cover end\n"
    "    local c = cover_fraction(ts)\n"
    "    redis.call('ZADD', feed, -2 + g - c, 's')\n"
    "    if c == 0 and marks > 0 then redis.call('ZREM', feed, 'f:1', 'f:2') end\n"
    "  else\n"
    "    redis.call('ZREMRANGEBYRANK', feed, meta, meta + real - max - 1)\n"
    "    if state == -1 then redis.call('ZADD', feed, -2 + g, 's') end\n"
    "  end\n"
    "  return true\n"
    "end\n"
    "for i = 1, #KEYS, stride do\n"
    "  local feed = KEYS[i]\n"
    "  local check = score >= 0 and (not checks or "
    "string.byte(checks, (i + stride - 1) / stride) == 49)\n"
    "  local r = 2\n"
    "  if newest_first then\n"
    "    r = redis.call('ZADD', feed, " LUA_FAST_ZADD ", ARGV[2], member)\n"
    "  end\n"
    "  if r == 4 then\n"
    "    redis.call('DEL', feed)\n"
    "  elseif r <= 1 then\n"
    "    n = n + 1\n"
    "    if check then\n"
    "      local card = redis.call('ZCARD', feed)\n"
    "      if card > max + slack + 2 then\n"
    "        local m, z = redis.call('ZRANGE', feed, '-inf', '(0', 'BYSCORE', 'WITHSCORES')\n"
    "        for j = 1, #m, 2 do if m[j] == 's' then z = m[j + 1] end end\n"
    "        local state, g, cover = sentinel(z)\n"
    "        if state ~= -3 then trim(feed, card, 2, state, g, cover, #m / 2) end\n"
    "      end\n"
    "    end\n"
    "  else\n"
    "    local z = redis.call('ZSCORE', feed, 's')\n"
    "    local state, g, cover = sentinel(z)\n"
    "    local unfollowed = false\n"
    "    if state and stride == 2 and g ~= 0 then\n"
    "      unfollowed = redis.call('SISMEMBER', KEYS[i + 1], author) == 1\n"
    "      if not unfollowed and check and redis.call('EXISTS', KEYS[i + 1]) == 0 then\n"
    "        g = 0\n"
    "        redis.call('ZADD', feed, tonumber(z) + 0.5, 's')\n"
    "      end\n"
    "    end\n"
    "    local added, marks = nil, 0\n"
    "    if newest_first then\n"
    "      added = r - 2\n"
    "      if g == 0 and (state ~= -2 or cover > 0) then marks = 2\n"
    "      else redis.call('ZREM', feed, 'f:1', 'f:2') end\n"
    "    end\n"
    "    if unfollowed then\n"
    "      if added == 1 then redis.call('ZREM', feed, member) end\n"
    "    elseif state then\n"
    "      if not added then added = redis.call('ZADD', feed, ARGV[2], member) end\n"
    "      n = n + 1\n"
    "      if score >= 0 and state ~= -3 then\n"
    "        local trimmed = false\n"
    "        if check then\n"
    "          trimmed = trim(feed, redis.call('ZCARD', feed), marks, state, g, cover)\n"
    "        end\n"
    "        if not trimmed and added == 1 and state == -2 and "
    "not (cover > 0 and BASE - score > cover) then\n"
    "          local lo\n"
    "          if newest_first then\n"
    "            lo = redis.call('ZRANGE', feed, -1, -1)\n"
    "          else\n"
    "            lo = redis.call('ZRANGE', feed, 0, '+inf', 'BYSCORE', 'LIMIT', 0, 1)\n"
    "          end\n"
    "          if lo[1] == member then redis.call('ZREM', feed, member); n = n - 1 end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return n\n";

const char feed_script_rebuild_begin[] =
    LUA_STATE_OF
    "local s = state_of(redis.call('ZSCORE', KEYS[1], 's'))\n"
    "if s == '-1' or s == '-2' then return 0 end\n"
    "if s == '-3' then return -1 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "local g = 0\n"
    "if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then g = -0.5 end\n"
    "redis.call('ZADD', KEYS[1], -3 + g, 's', -4, 'b:' .. ARGV[1])\n"
    "if KEYS[2] and g == 0 then redis.call('ZADD', KEYS[1], -7, 'f:1', -7, 'f:2') end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return 1\n";

/* The rows go into a scratch key first: ZADD into an 800-entry listpack
 * scans and moves the whole listpack per insert (quadratic), while a first
 * member longer than zset-max-listpack-value (64 by default) makes ZADD
 * create a skiplist, O(log n) per insert. The rebuilder sends that ZADD
 * itself, in the same pipeline just before this script (FEED_REBUILD_PAD
 * first, then the rows), so that the rows never pass through Lua: handing
 * 1,600 arguments to the script and back to ZADD cost Redis more than
 * the ZADD and the union together (bench/micro/rebuild_apply.py: 1.34 ms
 * of Redis CPU per 800-row rebuild, 0.68 ms without). ZUNIONSTORE then
 * builds the union with the placeholder (fan-out deliveries that landed
 * meanwhile are kept; its sentinel -3 loses to the scratch's -1/-2 under
 * MAX) and converts it back to a listpack in one pass. (DEL, not UNLINK,
 * of the scratch key: measured, handing its free to Redis's background
 * thread cost the main thread ~20x more on this 2-core machine.) */
const char feed_script_rebuild_apply[] =
    LUA_STATE_OF
    LUA_FLOOR
    "local key, tmp, token = KEYS[1], KEYS[2], 'b:' .. ARGV[1]\n"
    "if not redis.call('ZSCORE', key, token) then redis.call('DEL', tmp); return 0 end\n"
    "if redis.call('ZREM', tmp, string.rep('-', " FEED_REBUILD_PAD_LEN_STR ")) == 0 then\n"
    "  return redis.error_reply('the scratch key of the rebuilt rows is missing')\n"
    "end\n"
    "local _, g = state_of(redis.call('ZSCORE', key, 's'))\n"
    "local max, newest_first = tonumber(ARGV[2]), ARGV[5] == '1'\n"
    "local state, c = -1, 0\n"
    "if ARGV[4] == '1' then state = -2 end\n"
    "if state == -2 and newest_first then c = cover_fraction(tonumber(ARGV[6])) end\n"
    "redis.call('ZREMRANGEBYSCORE', key, -6, -6)\n"
    "local a = {state + g - c, 's'}\n"
    "if ARGV[7] ~= '' then a[3] = -6; a[4] = ARGV[7] end\n"
    "for i = 8, #ARGV do\n"
    "  a[#a + 1] = -5; a[#a + 1] = ARGV[i]\n"
    "  if #a >= 1000 then redis.call('ZADD', tmp, unpack(a)); a = {} end\n"
    "end\n"
    "if #a > 0 then redis.call('ZADD', tmp, unpack(a)) end\n"
    "redis.call('ZUNIONSTORE', key, 2, key, tmp, 'AGGREGATE', 'MAX')\n"
    "redis.call('DEL', tmp)\n"
    "redis.call('ZREM', key, token)\n"
    "local meta = redis.call('ZCOUNT', key, '-inf', '(0')\n"
    "local real = redis.call('ZCARD', key) - meta\n"
    "if real > max then\n"
    "  c = 0\n"
    "  if newest_first then c = cover_fraction(trim_tail(key, real, max))\n"
    "  else redis.call('ZREMRANGEBYRANK', key, meta, meta + real - max - 1) end\n"
    "  redis.call('ZADD', key, -2 + g - c, 's')\n"
    "  state = -2\n"
    "end\n"
    "if state == -2 and c == 0 and newest_first then redis.call('ZREM', key, 'f:1', 'f:2') end\n"
    "redis.call('PEXPIRE', key, ARGV[3])\n"
    "return 1\n";

/* Values are feed_postval.h's: 'p<author>:<body>', 'd', 'u<body>'; the
 * first byte tells them apart (100 'd', 112 'p', 117 'u'). */
const char feed_script_post_fill[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "local new = ARGV[2]\n"
    "if v then\n"
    "  local t = string.byte(v, 1)\n"
    "  if t == 100 or (t ~= 117 and new ~= 'd') then\n"
    "    redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
    "    return 0\n"
    "  end\n"
    "  if new ~= 'd' then new = string.match(new, '^p%d+:') .. string.sub(v, 2) end\n"
    "end\n"
    "redis.call('SET', KEYS[1], new, 'EX', ARGV[1])\n"
    "return 1\n";

const char feed_script_publish_job[] =
    "local author = ARGV[1]\n"
    "local count = tonumber(redis.call('GET', KEYS[1]) or '')\n"
    "local flagged = redis.call('SISMEMBER', KEYS[2], author)\n"
    "local marked = redis.call('SISMEMBER', KEYS[3], author)\n"
    "local queued = 0\n"
    "for i = 4, #KEYS do queued = queued + redis.call('XLEN', KEYS[i]) end\n"
    "local job = 0\n"
    "if count and count < tonumber(ARGV[2]) and queued < tonumber(ARGV[3]) then\n"
    "  redis.call('XADD', KEYS[3 + tonumber(ARGV[4])], '*', unpack(ARGV, 5))\n"
    "  job = 1\n"
    "end\n"
    "return {count and 1 or 0, count or 0, flagged, marked, queued, job}\n";

const char feed_script_post_update[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "local new = 'u' .. ARGV[2]\n"
    "if v then\n"
    "  local t = string.byte(v, 1)\n"
    "  if t == 100 then redis.call('EXPIRE', KEYS[1], ARGV[1]) return 0 end\n"
    "  if t == 112 then\n"
    "    local head = string.match(v, '^p%d+:')\n"
    "    if head then new = head .. ARGV[2] end\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[1], new, 'EX', ARGV[1])\n"
    "return 1\n";

const char feed_script_rebuild_drop[] =
    "if redis.call('ZSCORE', KEYS[1], 'b:' .. ARGV[1]) then redis.call('DEL', KEYS[1]) end\n"
    "return 1\n";

const char feed_script_remove[] =
    "for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end\n"
    "return #KEYS\n";

const char feed_script_touch[] =
    LUA_STATE_OF
    "local s = state_of(redis.call('ZSCORE', KEYS[1], 's'))\n"
    "if s ~= '-1' and s ~= '-2' then return {} end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "return redis.call('ZRANGE', KEYS[1], '0', '+inf', 'BYSCORE', 'LIMIT', '0', ARGV[2], "
    "'WITHSCORES')\n";

const char feed_script_follow_celeb[] =
    LUA_STATE_OF
    "local s = state_of(redis.call('ZSCORE', KEYS[1], 's'))\n"
    "if s == '-1' or s == '-2' then redis.call('ZADD', KEYS[1], -5, ARGV[1]); return 1 end\n"
    "if s == '-3' then redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* Home feeds only, in their newest-first scores: the floor (the oldest
 * entry, or the coverage floor when that is newer: an entry below it may
 * have come in the fast way) is the highest score, "below the floor" is a
 * higher score. moved: a cut or a trim moved the floor, so the feed is
 * partial from there and its sentinel is rewritten with the new coverage
 * floor (the cut's created_at, or the oldest entry a trim kept if newer);
 * posts merged at or above the floor leave the sentinel alone. */
const char feed_script_follow_merge[] =
    LUA_STATE_OF
    LUA_FLOOR
    "local key, max = KEYS[1], tonumber(ARGV[1])\n"
    "local s, g, cover = state_of(redis.call('ZSCORE', key, 's'))\n"
    "if not s then return 0 end\n"
    "if s ~= '-1' and s ~= '-2' then redis.call('DEL', key); return -1 end\n"
    "local floor, moved = nil, false\n"
    "if s == '-2' then\n"
    "  local lo = redis.call('ZRANGE', key, '+inf', 0, 'BYSCORE', 'REV', 'LIMIT', 0, 1, "
    "'WITHSCORES')\n"
    "  if not lo[2] then redis.call('DEL', key); return -1 end\n"
    "  floor = tonumber(lo[2])\n"
    "  if cover > 0 and BASE - cover < floor then floor = BASE - cover end\n"
    "else\n"
    "  cover = 0\n"
    "end\n"
    "local cut = tonumber(ARGV[2])\n"
    "if cut and (not floor or cut < floor) then\n"
    "  redis.call('ZREMRANGEBYSCORE', key, '(' .. ARGV[2], '+inf')\n"
    "  floor, moved, cover = cut, true, BASE - cut\n"
    "end\n"
    "local args = {}\n"
    "for i = 3, #ARGV - 1, 2 do\n"
    "  if not floor or tonumber(ARGV[i]) <= floor then\n"
    "    args[#args + 1] = ARGV[i]; args[#args + 1] = ARGV[i + 1]\n"
    "    if #args >= 1000 then redis.call('ZADD', key, unpack(args)); args = {} end\n"
    "  end\n"
    "end\n"
    "if #args > 0 then redis.call('ZADD', key, unpack(args)) end\n"
    "local meta = redis.call('ZCOUNT', key, '-inf', '(0')\n"
    "local real = redis.call('ZCARD', key) - meta\n"
    "if real > max then\n"
    "  local ts = trim_tail(key, real, max)\n"
    "  if ts > cover then cover = ts end\n"
    "  moved = true\n"
    "end\n"
    "if moved then\n"
    "  local c = cover_fraction(cover)\n"
    "  redis.call('ZADD', key, -2 + g - c, 's')\n"
    "  if c == 0 then redis.call('ZREM', key, 'f:1', 'f:2') end\n"
    "end\n"
    "return 1\n";

const char feed_script_unfollow_remove[] =
    LUA_STATE_OF
    "local key = KEYS[1]\n"
    "local s = state_of(redis.call('ZSCORE', key, 's'))\n"
    "if not s then return 0 end\n"
    "if s ~= '-1' and s ~= '-2' then redis.call('DEL', key); return -1 end\n"
    "if ARGV[1] ~= '' then\n"
    "  local lo = redis.call('ZRANGE', key, '+inf', 0, 'BYSCORE', 'REV', 'LIMIT', 0, 1, "
    "'WITHSCORES')\n"
    "  if lo[2] and tonumber(lo[2]) >= tonumber(ARGV[1]) then\n"
    "    redis.call('DEL', key); return -1\n"
    "  end\n"
    "end\n"
    "for i = 3, #ARGV, 1000 do\n"
    "  redis.call('ZREM', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))\n"
    "end\n"
    "if s == '-2' then\n"
    "  local meta = redis.call('ZCOUNT', key, '-inf', '(0')\n"
    "  if redis.call('ZCARD', key) - meta < tonumber(ARGV[2]) then\n"
    "    redis.call('DEL', key); return -1\n"
    "  end\n"
    "end\n"
    "return 1\n";

const char feed_script_slide[] =
    LUA_STATE_OF
    "local s = state_of(redis.call('ZSCORE', KEYS[1], 's'))\n"
    "if s == '-1' or s == '-2' then return redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\n"
    "return 0\n";

const char feed_script_count_add[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  return redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "end\n"
    "return false\n";

const char feed_script_unfollow_guard[] =
    LUA_STATE_OF
    "redis.call('SADD', KEYS[1], ARGV[1])\n"
    "local z = redis.call('ZSCORE', KEYS[2], 's')\n"
    "local s, g = state_of(z)\n"
    "if s and g == 0 then\n"
    "  redis.call('ZADD', KEYS[2], tonumber(z) - 0.5, 's')\n"
    "  redis.call('ZREM', KEYS[2], 'f:1', 'f:2')\n"
    "end\n"
    "return 1\n";

/* ---- fan-out worker (issue 9): KEYS of the {fanout} tag only ----------- */

const char feed_script_fanout_ack[] =
    "local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))\n"
    "redis.call('XDEL', KEYS[1], unpack(ARGV, 2))\n"
    "redis.call('HDEL', KEYS[2], unpack(ARGV, 2))\n"
    "return n\n";

const char feed_script_fanout_heartbeat[] =
    "local lost = {}\n"
    "for i = 3, #ARGV do\n"
    "  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)\n"
    "  if p[1] and p[1][2] == ARGV[2] then\n"
    "    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')\n"
    "  else\n"
    "    lost[#lost + 1] = ARGV[i]\n"
    "  end\n"
    "end\n"
    "return lost\n";

const char feed_script_fanout_dead[] =
    "local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])\n"
    "local moved = 0\n"
    "if e[1] then\n"
    "  local f = {'job', ARGV[2], 'attempts', ARGV[3], 'reason', ARGV[4], 'at', ARGV[5]}\n"
    "  local src = e[1][2]\n"
    "  for i = 1, #src do f[#f + 1] = src[i] end\n"
    "  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', unpack(f))\n"
    "  moved = 1\n"
    "end\n"
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "redis.call('HDEL', KEYS[3], ARGV[2])\n"
    "return moved\n";

const char feed_script_fanout_reap[] =
    "local removed = {}\n"
    "local max = tonumber(ARGV[3])\n"
    "for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do\n"
    "  local f = {}\n"
    "  for i = 1, #c - 1, 2 do f[c[i]] = c[i + 1] end\n"
    "  if f.name ~= ARGV[2] and f.pending == 0 and f.idle > max then\n"
    "    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f.name)\n"
    "    removed[#removed + 1] = f.name\n"
    "  end\n"
    "end\n"
    "return removed\n";

const char feed_script_fanout_requeue[] =
    "local entries\n"
    "if ARGV[3] ~= '' then\n"
    "  entries = redis.call('XRANGE', KEYS[2], ARGV[3], ARGV[3])\n"
    "else\n"
    "  entries = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', ARGV[2])\n"
    "end\n"
    "local n = 0\n"
    "for _, e in ipairs(entries) do\n"
    "  local src, f = e[2], {}\n"
    "  for i = 9, #src - 1, 2 do\n"
    "    local v = src[i + 1]\n"
    "    if src[i] == 'pub' then v = ARGV[1] end\n"
    "    f[#f + 1] = src[i]; f[#f + 1] = v\n"
    "  end\n"
    "  if #f > 0 then redis.call('XADD', KEYS[1], '*', unpack(f)) end\n"
    "  redis.call('XDEL', KEYS[2], e[1])\n"
    "  n = n + 1\n"
    "end\n"
    "return n\n";

bool feed_sentinel_parse(const char *text, feed_sentinel_t *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(v) || v < INT32_MIN || v > INT32_MAX)
        return false;
    /* As LUA_STATE_OF: the state is the score rounded up; the fraction
     * below it holds the guard's half and cover / FEED_COVER_UNIT, both
     * exact in a double. */
    double state = ceil(v), f = state - v;
    out->state = (int)state;
    out->guarded = f >= 0.5;
    if (out->guarded)
        f -= 0.5;
    out->cover = (int64_t)llround(f * (double)FEED_COVER_UNIT);
    return true;
}
