#include "feed/feed_scripts.h"

const char feed_script_push[] =
    "local member, score, max, author, stride = ARGV[1], tonumber(ARGV[2]), "
    "tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])\n"
    "local n = 0\n"
    "for i = 1, #KEYS, stride do\n"
    "  local feed = KEYS[i]\n"
    "  local state = redis.call('ZSCORE', feed, 's')\n"
    "  if state and (stride == 1 or redis.call('SISMEMBER', KEYS[i + 1], author) == 0) then\n"
    "    redis.call('ZADD', feed, score, member)\n"
    "    n = n + 1\n"
    "    if score >= 0 and state ~= '-3' then\n"
    "      local card = redis.call('ZCARD', feed)\n"
    "      if card > max then\n"
    "        local meta = redis.call('ZCOUNT', feed, '-inf', '(0')\n"
    "        local real = card - meta\n"
    "        if real > max then\n"
    "          redis.call('ZREMRANGEBYRANK', feed, meta, meta + real - max - 1)\n"
    "          if state == '-1' then redis.call('ZADD', feed, -2, 's') end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return n\n";

const char feed_script_rebuild_begin[] =
    "local s = redis.call('ZSCORE', KEYS[1], 's')\n"
    "if s == '-1' or s == '-2' then return 0 end\n"
    "if s == '-3' then return -1 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZADD', KEYS[1], -3, 's', -4, 'b:' .. ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return 1\n";

const char feed_script_rebuild_apply[] =
    "local key, token = KEYS[1], 'b:' .. ARGV[1]\n"
    "if not redis.call('ZSCORE', key, token) then return 0 end\n"
    "local max, nm = tonumber(ARGV[2]), tonumber(ARGV[5])\n"
    "local i = 6\n"
    "for j = 1, nm do redis.call('ZADD', key, -5, ARGV[i]); i = i + 1 end\n"
    "local args = {}\n"
    "while i < #ARGV do\n"
    "  args[#args + 1] = ARGV[i]; args[#args + 1] = ARGV[i + 1]; i = i + 2\n"
    "  if #args >= 1000 then redis.call('ZADD', key, unpack(args)); args = {} end\n"
    "end\n"
    "if #args > 0 then redis.call('ZADD', key, unpack(args)) end\n"
    "redis.call('ZREM', key, token)\n"
    "local state = -1\n"
    "if ARGV[4] == '1' then state = -2 end\n"
    "local meta = redis.call('ZCOUNT', key, '-inf', '(0')\n"
    "local real = redis.call('ZCARD', key) - meta\n"
    "if real > max then\n"
    "  redis.call('ZREMRANGEBYRANK', key, meta, meta + real - max - 1)\n"
    "  state = -2\n"
    "end\n"
    "redis.call('ZADD', key, state, 's')\n"
    "redis.call('PEXPIRE', key, ARGV[3])\n"
    "return 1\n";

const char feed_script_post_fill[] =
    "for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
    "return 1\n";

const char feed_script_rebuild_drop[] =
    "if redis.call('ZSCORE', KEYS[1], 'b:' .. ARGV[1]) then redis.call('DEL', KEYS[1]) end\n"
    "return 1\n";

const char feed_script_remove[] =
    "for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end\n"
    "return #KEYS\n";

const char feed_script_touch[] =
    "local s = tonumber(redis.call('ZSCORE', KEYS[1], 's'))\n"
    "if s ~= -1 and s ~= -2 then return {} end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "return redis.call('ZRANGE', KEYS[1], '+inf', '0', 'BYSCORE', 'REV', 'LIMIT', '0', "
    "ARGV[2], 'WITHSCORES')\n";

const char feed_script_follow_celeb[] =
    "local s = redis.call('ZSCORE', KEYS[1], 's')\n"
    "if s == '-1' or s == '-2' then redis.call('ZADD', KEYS[1], -5, ARGV[1]); return 1 end\n"
    "if s == '-3' then redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

const char feed_script_slide[] =
    "local s = redis.call('ZSCORE', KEYS[1], 's')\n"
    "if s == '-1' or s == '-2' then return redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\n"
    "return 0\n";

const char feed_script_count_add[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  return redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "end\n"
    "return false\n";
