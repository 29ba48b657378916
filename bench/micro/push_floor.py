#!/usr/bin/env python3
"""The floor under a scripted delivery: what any fan-out that adds to a home
feed only if the feed exists (the contract's "only feeds that exist") costs
Redis, before the work FEED_PUSH does beyond it. On a throwaway Redis (it runs
FLUSHALL!):
  RPORT=PORT python3 bench/micro/push_floor.py
Feeds are newest-first listpacks as feedcached writes them (integer members,
scores 2^53 - created_at, the sentinel of a complete feed, an epoch marker
and the fast markers at the head), F feeds (1000) of N entries (NS="1 275
800"; one written, the others COPYs of it), P posts (20) each, sent with
redis-cli --pipe; with D > 0, each post
goes to D feeds drawn at random instead of all F in order, as a service's
posts reach their authors' followers (F=10000 D=27 P=1000: the quick graph;
feeds that do not fit the CPU's last-level cache are then read from memory
at each delivery, where F=1000 in order stays in the cache). Per N, Redis
CPU per delivery (INFO cpu) of (V="zadd lua check push head", the variants
to run):
  zadd   bare pipelined ZADDs (no condition: the ceiling's command)
  lua    EVALSHA of C feeds (16) whose script only ZADDs each
  check  EVALSHA of C feeds whose script adds to a feed that exists in one
         ZADD NX of the sentinel and the entry (a feed it made, it deletes)
  push   FEED_PUSH as src/feed/feed_scripts.c has it (same call shape)
  head   issue 12's small head set in front of the feed, at its cheapest: the
         meta members move to a head key of their own, a delivery checks the
         sentinel there and adds to the head; a head past H entries (HS="32
         64 128") is merged into the N-entry tail in one ZUNIONSTORE
         (AGGREGATE MAX, the one bulk merge Redis has: a ZADD of many members
         looks each up in the whole listpack) and emptied but for its meta
         members. 2 (H + 1) posts per feed, so every feed is merged twice, at
         N and N + H + 1 entries. No trim, no unfollow or floor check: each
         would add to it; a read would also pay one more range, on the head.
"check" is the least a delivery that adds only to feeds that exist can do in
a script; "head" is what a layout that inserts into a small key saves.
Each round first times bench/run.sh's ceiling on the same Redis
(redis-benchmark -P 32 -c 50: ZADD to CEIL_R (10000) random keys, CEIL_N
(500000) requests) and prints each variant's cost beside it as a share of
the ceiling, so that the ratio is of two figures taken seconds apart:
on this shared machine the speed of everything can change by half between
one minute and the next (bench/RESULTS.md, "2026-12-05 evening")."""
import os, random, sys
from redis_pipe import resp, pipe, cli, measured_pipe, bench_rps
from feed_push_ab import script   # FEED_PUSH's text, compiled from the C source
BASE = 2 ** 53
def pid(i): return 700000000000000000 + i * 4194304
LUA_ONLY = "for i = 1, #KEYS do redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1]) end return #KEYS"
LUA_CHECK = ("local n = 0 for i = 1, #KEYS do "
             "if redis.call('ZADD', KEYS[i], 'NX', -1, 's', ARGV[2], ARGV[1]) >= 2 then "
             "redis.call('DEL', KEYS[i]) else n = n + 1 end end return n")
LUA_HEAD = ("local n, h = 0, tonumber(ARGV[3]) for i = 1, #KEYS, 2 do "
            "if redis.call('ZSCORE', KEYS[i + 1], 's') then "
            "redis.call('ZADD', KEYS[i + 1], ARGV[2], ARGV[1]); n = n + 1 "
            "if redis.call('ZCARD', KEYS[i + 1]) > h + 1 then "
            "redis.call('ZUNIONSTORE', KEYS[i], 2, KEYS[i], KEYS[i + 1], 'AGGREGATE', 'MAX') "
            "redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(0') "
            "redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], 0, '+inf') end end end return n")
def setup(F, N, how):
    cli('FLUSHALL')
    # Listpacks throughout, the head's merged tails included (N + 2 (H + 1)).
    cli('CONFIG', 'SET', 'zset-max-listpack-entries', '4096')
    # Feed 1 is written as feedcached writes one; the others are COPYs of it
    # (a listpack is copied in one allocation), since a ZADD of N members
    # into a listpack looks each up in it: building 63,000 feeds of 742
    # entries one ZADD each took minutes, and a floor at the full graph's
    # number of feeds needs them (bench/RESULTS.md, 2026-12-07 midday).
    # The sentinel, an epoch and the fast markers (a feed FEED_PUSH adds to
    # in one ZADD NX).
    args = ['ZADD', 'fc:home:{1}', -1, 's', -6, 'e:0123456789abcdef', -7, 'f:1', -7, 'f:2']
    keys = ['fc:home:{%d}']
    if how == 'head':   # the meta members live in the head
        cli(*[str(a) for a in args])
        args = ['ZADD', 'fc:tail:{1}']
        keys.append('fc:tail:{%d}')
    for i in range(1, N):
        args += [BASE - (1764000000000 + i * 1000), pid(i * 7)]
    if len(args) > 2:
        pipe(resp(*args))
    pipe(b''.join(resp('COPY', k % 1, k % u) for u in range(2, F + 1) for k in keys))
def targets(F, P, D):
    """Each post's feeds: all F in order (D = 0), or D distinct feeds drawn
    at random, as a service's posts reach their authors' followers."""
    rnd = random.Random(1)
    for p in range(P):
        yield p, list(range(1, F + 1)) if D == 0 else sorted(rnd.sample(range(1, F + 1), D))
def deliveries(plan, C, how, sha, H):
    buf = []
    for p, feeds in plan:
        score, member = BASE - (1765000000000 + p), pid(10 ** 6 + p)
        for c in range(0, len(feeds), C):
            us = feeds[c:c + C]
            if how == 'zadd':
                buf += [resp('ZADD', 'fc:home:{%d}' % u, score, member) for u in us]
            elif how == 'head':
                keys = []
                for u in us: keys += ['fc:tail:{%d}' % u, 'fc:home:{%d}' % u]
                buf.append(resp('EVALSHA', sha, len(keys), *keys, member, score, H))
            elif how == 'push':
                keys = []
                for u in us: keys += ['fc:home:{%d}' % u, 'fc:unf:{%d}' % u]
                # member, score, max, author, stride, newest_first, slack, checks
                buf.append(resp('EVALSHA', sha, len(keys), *keys, member, score, 800, 424242,
                                2, 1, 64, '0' * len(us)))
            else:
                keys = ['fc:home:{%d}' % u for u in us]
                buf.append(resp('EVALSHA', sha, len(keys), *keys, member, score))
    return b''.join(buf)
def run(F, N, P, C, H, how, D=0):
    if how == 'head':
        P = 2 * (H + 1)
    setup(F, N, how)
    text = {'lua': LUA_ONLY, 'check': LUA_CHECK, 'push': script(None), 'head': LUA_HEAD}.get(how)
    sha = cli('SCRIPT', 'LOAD', text).strip() if text else None
    plan = list(targets(F, P, D))
    secs, st = measured_pipe(deliveries(plan, C, how, sha, H))
    n = sum(len(feeds) for _, feeds in plan)
    got = sum(1 in feeds for _, feeds in plan)
    card = sum(int(cli('ZCARD', k)) for k in ('fc:home:{1}', 'fc:tail:{1}'))
    if card != N + 3 + got:
        sys.exit(f'{how}: feed 1 holds {card} members, expected {N + 3 + got}')
    key = 'fc:tail:{1}' if how == 'head' and N > 1 else 'fc:home:{1}'
    enc = cli('OBJECT', 'ENCODING', key).strip()
    if enc != 'listpack':
        sys.exit(f'{how}: {key} is a {enc}, not a listpack')
    return secs * 1e6 / n
if __name__ == '__main__':
    F, P, C = int(os.environ.get('F', 1000)), int(os.environ.get('P', 20)), int(os.environ.get('C', 16))
    D = int(os.environ.get('D', 0))   # 0: every post to all F feeds, in order
    R, HS = int(os.environ.get('R', 2)), [int(h) for h in os.environ.get('HS', '32 64 128').split()]
    V = os.environ.get('V', 'zadd lua check push head').split()   # the variants to run
    CEIL_N, CEIL_R = int(os.environ.get('CEIL_N', 500000)), int(os.environ.get('CEIL_R', 10000))
    for r in range(R):
        for N in [int(x) for x in os.environ.get('NS', '1 275 800').split()]:
            cli('FLUSHALL')
            ceil = 1e6 / bench_rps('ZADD', 'fc:ceil:{__rand_int__}', '__rand_int__',
                                   '__rand_int__', n=CEIL_N, r=CEIL_R)
            row = {how: run(F, N, P, C, 0, how, D) for how in ('zadd', 'lua', 'check', 'push')
                   if how in V}
            row.update({f'head H={h}': run(F, N, P, C, h, 'head', D) for h in HS if 'head' in V})
            print(f"N={N:4d} round {r}: ZADD ceiling {ceil:5.2f} us; Redis CPU per delivery "
                  "(us, and the ceiling's share): "
                  + ', '.join(f'{k} {v:5.2f} ({ceil / v:.2f})' for k, v in row.items()),
                  flush=True)
