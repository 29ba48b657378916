-- Where Redis spends its time on feedcache's feeds (bench/RESULTS.md, notes).
-- Run against a throwaway Redis (it uses and deletes the keys m:*):
--   redis-cli -p PORT --eval bench/micro/zset_listpack.lua , 800
-- ARGV[1]: entries per feed (default 800), ARGV[2]: repetitions (2000). Times are measured inside Redis
-- (TIME), so neither the network nor the client counts. With the default
-- zset-max-listpack-entries of 128 the feeds are skiplists instead: compare
-- by running it again after CONFIG SET zset-max-listpack-entries 128.
local n = tonumber(ARGV[1] or '800')
local reps = tonumber(ARGV[2] or '2000')
local function us(a, b) return (b[1] - a[1]) * 1e6 + (b[2] - a[2]) end
-- 18-digit post ids as feedcache stores them (integers in the listpack).
-- Built as text: Lua numbers are doubles and would print 7e+18.
local function id(i) return '70000' .. string.format('%013d', i * 4194304) end
local out = {}

-- 1. One fan-out delivery: ZADD of the newest post, then trim the oldest so
--    the feed keeps n entries. As stored now (newest = highest score: the
--    insert walks the listpack from its head to its tail), and with negated
--    scores (newest = lowest score, at the head).
for _, sign in ipairs({1, -1}) do
  redis.call('DEL', 'm:f')
  for i = 1, n do redis.call('ZADD', 'm:f', sign * (1764000000000 + i * 1000), id(i)) end
  local t0 = redis.call('TIME')
  for i = 1, reps do
    redis.call('ZADD', 'm:f', sign * (1765000000000 + i), id(n + i))
    if sign > 0 then redis.call('ZREMRANGEBYRANK', 'm:f', 0, 0)
    else redis.call('ZREMRANGEBYRANK', 'm:f', -1, -1) end
  end
  local t1 = redis.call('TIME')
  local enc = redis.call('OBJECT', 'ENCODING', 'm:f')
  out[#out + 1] = string.format('delivery (ZADD newest + trim), %s scores, %d-entry %s: %.2f us',
    sign > 0 and 'created_at' or 'negated', n, enc['ok'] or enc, us(t0, t1) / reps)
end

-- 2. A rebuild: n rows, newest first (as the rebuild query returns them),
--    added to the "building" placeholder, as REBUILD_APPLY did until issue 12...
local args = {}
for i = n, 1, -1 do
  args[#args + 1] = 1764000000000 + i * 1000
  args[#args + 1] = id(i)
end
redis.call('DEL', 'm:r')
redis.call('ZADD', 'm:r', -3, 's', -4, 'b:token')
local t0 = redis.call('TIME')
redis.call('ZADD', 'm:r', unpack(args))
local t1 = redis.call('TIME')
-- ...and through a temporary skiplist: a first member longer than
-- zset-max-listpack-value makes ZADD create the key as a skiplist (O(log n)
-- inserts); ZUNIONSTORE then builds the union with the placeholder (which
-- may hold fan-out deliveries) and converts it to a listpack in one pass
-- (what REBUILD_APPLY does now, src/feed/feed_scripts.c).
redis.call('DEL', 'm:u', 'm:tmp')
redis.call('ZADD', 'm:u', -3, 's', -4, 'b:token')
local long = string.rep('x', 80)
local t2 = redis.call('TIME')
redis.call('ZADD', 'm:tmp', -9, long, unpack(args))
redis.call('ZREM', 'm:tmp', long)
redis.call('ZUNIONSTORE', 'm:u', 2, 'm:u', 'm:tmp', 'AGGREGATE', 'MAX')
redis.call('DEL', 'm:tmp')
local t3 = redis.call('TIME')
local same = redis.call('ZCARD', 'm:r') == redis.call('ZCARD', 'm:u')
local e1, e2 = redis.call('OBJECT', 'ENCODING', 'm:r'), redis.call('OBJECT', 'ENCODING', 'm:u')
out[#out + 1] = string.format('rebuild of %d rows into the placeholder (%s): %.0f us', n,
  e1['ok'] or e1, us(t0, t1))
out[#out + 1] = string.format('rebuild via temporary skiplist + ZUNIONSTORE (%s, same entries: %s): %.0f us',
  e2['ok'] or e2, tostring(same), us(t2, t3))
-- 3. The floor of one delivery on this encoding (issue 12): what Redis spends
--    per delivery whatever the script around it does, split into its parts,
--    against a ZADD to a 50-entry key (what the pipelined ZADD ceiling of
--    bench/run.sh measures: redis-benchmark's keys hold about 50 entries).
--    member lookup: ZSCORE of a member the feed does not hold (ZADD scans
--    every member before inserting); position scan + memmove: the rest of a
--    ZADD of the newest post, measured as ZADD newest then ZREM of it (ZREM
--    scans the members again, so the pair is counted as two lookups + the
--    insert); a call's own cost: ZCARD (O(1)).
local function each(f) local t0 = redis.call('TIME'); for i = 1, reps do f(i) end
  return us(t0, redis.call('TIME')) / reps end
local function feed(k, m)
  redis.call('DEL', k)
  redis.call('ZADD', k, -2, 's', -6, 'e:0123456789abcdef')
  for i = 1, m do redis.call('ZADD', k, 1764000000000 + i * 1000, id(i)) end
end
feed('m:f', n)
feed('m:s', 50)
local call = each(function() redis.call('ZCARD', 'm:f') end)
local lookup = each(function(i) redis.call('ZSCORE', 'm:f', id(n + i)) end)
local sentinel = each(function() redis.call('ZSCORE', 'm:f', 's') end)
local head = each(function() redis.call('ZRANGE', 'm:f', -3, '+inf', 'BYSCORE', 'LIMIT', 0, 2, 'WITHSCORES') end)
local addrem = each(function(i) redis.call('ZADD', 'm:f', 1765000000000 + i, id(n + i))
  redis.call('ZREM', 'm:f', id(n + i)) end)
local trim = each(function(i) redis.call('ZADD', 'm:f', 1765000000000 + i, id(n + i))
  redis.call('ZREMRANGEBYRANK', 'm:f', 2, 2) end)
feed('m:f', n)
local small = each(function(i) redis.call('ZADD', 'm:s', 1765000000000 + i, id(n + i))
  redis.call('ZREMRANGEBYRANK', 'm:s', 2, 2) end)
local enc = redis.call('OBJECT', 'ENCODING', 'm:f')
out[#out + 1] = string.format('floor of one delivery, %d-entry %s: ZADD newest + trim %.2f us '
  .. '(member lookup %.2f, ZADD + ZREM %.2f, a call %.2f, sentinel ZSCORE %.2f, sentinel + oldest ZRANGE %.2f); '
  .. 'the same on a 50-entry key (the ZADD ceiling\'s keys): %.2f us, %.1fx less',
  n, enc['ok'] or enc, trim, lookup, addrem, call, sentinel, head, small, trim / small)
redis.call('DEL', 'm:f', 'm:r', 'm:u', 'm:s')
return out
