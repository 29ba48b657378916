"""What a rebuild's write costs Redis when its rows pass through Lua, and
when the rebuilder sends them in a ZADD of their own just before the script
(src/feed/feed_scripts.c, REBUILD_APPLY; issue 12's median rebuild).

  RPORT=20699 python3 bench/micro/rebuild_apply.py

K placeholders (the sentinel of a building feed, its token, the fast
markers: what REBUILD_BEGIN leaves), each then given ROWS rows, newest
first, as feedcached writes a home feed: into a scratch key made a skiplist
by a long first member, then ZUNIONSTORE into the placeholder (listpack
again), DEL of the scratch key. Two ways, the same Redis, the same rows:

  lua   EVALSHA with the rows as arguments, which the script ZADDs into the
        scratch key 1,000 arguments at a time (feedcached until 2026-12-07);
  zadd  ZADD of the scratch key from the client, PEXPIRE, then EVALSHA of
        the same script without the rows (feedcached since).

Prints Redis's CPU per rebuild (INFO used_cpu) and INFO commandstats per
rebuild for each, alternated R times, and checks that both leave the same
feeds. Measured 2026-12-07 (Redis 7.0.15, 800 rows): see bench/RESULTS.md,
"The rebuild's rows outside Lua"."""
import os, random, sys
from redis_pipe import resp, pipe, cli, measured_pipe

K = int(os.environ.get('K', 400))
ROWS = int(os.environ.get('ROWS', 800))
R = int(os.environ.get('R', 2))
BASE = 2 ** 53          # a home feed entry's score is BASE - created_at
PAD = '-' * 256         # FEED_REBUILD_PAD_LEN
rnd = random.Random(1)

# The part both ways share: the token check, the sentinel, the union.
TAIL = """
redis.call('ZREM', tmp, string.rep('-', 256))
redis.call('ZADD', tmp, -1, 's')
redis.call('ZUNIONSTORE', key, 2, key, tmp, 'AGGREGATE', 'MAX')
redis.call('DEL', tmp)
redis.call('ZREM', key, token)
redis.call('PEXPIRE', key, 7200000)
return 1
"""
HEAD = """
local key, tmp, token = KEYS[1], KEYS[2], 'b:' .. ARGV[1]
if not redis.call('ZSCORE', key, token) then return 0 end
"""
LUA_ROWS = HEAD + """
redis.call('DEL', tmp)
redis.call('ZADD', tmp, 0, string.rep('-', 256))
for i = 2, #ARGV, 1000 do
  redis.call('ZADD', tmp, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
""" + TAIL
ZADD_ROWS = HEAD + """
if redis.call('EXISTS', tmp) == 0 then return redis.error_reply('no scratch key') end
""" + TAIL


def rows():
    now, out = 1764000000000, []
    for i in range(ROWS):
        out += [str(BASE - (now - i * 60000 - rnd.randrange(60000))),
                str(917000000000000000 + rnd.randrange(10 ** 15))]
    return out


def placeholders():
    cli('FLUSHALL')
    pipe(b''.join(resp('ZADD', 'fc:home:{%d}' % u, -3, 's', -4, 'b:tok', -7, 'f:1', -7, 'f:2')
                  for u in range(K)))


def run(way, sha, rows_of):
    placeholders()
    d = []
    for u in range(K):
        key, tmp = 'fc:home:{%d}' % u, 'fc:rebuild:{%d}:tok' % u
        if way == 'lua':
            d.append(resp('EVALSHA', sha, 2, key, tmp, 'tok', *rows_of[u]))
        else:
            d.append(resp('ZADD', tmp, 0, PAD, *rows_of[u]))
            d.append(resp('PEXPIRE', tmp, 60000))
            d.append(resp('EVALSHA', sha, 2, key, tmp, 'tok'))
    cpu, st = measured_pipe(b''.join(d))
    by = ', '.join(f'{c} {us / K:.0f}' for c, (n, us) in sorted(st.items(), key=lambda kv: -kv[1][1])
                   if c in ('evalsha', 'zadd', 'zunionstore', 'del', 'pexpire'))
    enc = cli('OBJECT', 'ENCODING', 'fc:home:{0}').strip()
    print(f'{way:4}: Redis CPU per rebuild {cpu / K * 1e6:6.0f} us; commandstats us per rebuild: {by}; '
          f'the feed a {enc} of {cli("ZCARD", "fc:home:{0}").strip()} members')
    return cpu / K * 1e6, cli('ZRANGE', 'fc:home:{%d}' % (K - 1), '0', '-1', 'WITHSCORES')


cli('CONFIG', 'SET', 'zset-max-listpack-entries', '1024')
sha = {'lua': cli('SCRIPT', 'LOAD', LUA_ROWS).strip(), 'zadd': cli('SCRIPT', 'LOAD', ZADD_ROWS).strip()}
rows_of = [rows() for _ in range(K)]
print(f'{K} rebuilds of {ROWS} rows into placeholders')
got = {}
for _ in range(R):
    for way in ('lua', 'zadd'):
        us, feed = run(way, sha[way], rows_of)
        got.setdefault(way, []).append(us)
        if feed != run.__dict__.setdefault('ref', feed):
            sys.exit(f'{way}: the feeds differ')
print('Redis CPU per rebuild, best of %d: lua %.0f us, zadd %.0f us'
      % (R, min(got['lua']), min(got['zadd'])))
cli('FLUSHALL')
