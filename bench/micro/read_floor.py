"""The most cached reads/s a Redis can serve, as a share of the pipelined
ZREVRANGE ceiling that bench/run.sh divides by (issue 12's read target),
whatever feedcached and the client cost.

  RPORT=20699 python3 bench/micro/read_floor.py

A cached first page makes Redis run four commands (src/feed/feed_read.c):
the feed's sentinel (ZSCORE s) and the names of its other meta members
(ZRANGE -inf -5 BYSCORE), together "meta" below (until 2026-12-07 one
ZRANGE -inf (0 BYSCORE WITHSCORES), its window (ZRANGE 0 +inf BYSCORE
LIMIT 0 24 WITHSCORES) and the page's post values (MGET of 20 keys); the
celebrities' windows come from feedcached's copy (99% of them in the
bench). Each is timed alone with redis-benchmark, as run.sh times the
ceiling (-P 32 -c 50, random keys), against the same Redis, on data laid
out as feedcached lays it out: USERS home feeds of ENTRIES entries newest
first behind eight meta members (the sentinel, an epoch, the two fast
markers, four celebrity markers: redis_pipe.home_feed), POSTS post values of 80-200 bytes. A read then costs Redis at
least the sum of the commands' times, so reads/s / ceiling is at most

    (1 / ceiling) / (1 / meta + 1 / window + 1 / mget).

This bound is generous: redis-benchmark pipelines 32 commands per write,
where a read's three come in two round trips, and the window is counted
on the ceiling's own terms (one command, its reply formatted alike).

Measured 2026-12-05 (this machine, Redis 7.0.15): see bench/RESULTS.md,
"Read cost (issue 12), 2026-12-05"."""
import os, random
from redis_pipe import resp, pipe, cli, bench_cpu, home_feed

USERS = int(os.environ.get('USERS', 10000))
ENTRIES = int(os.environ.get('ENTRIES', 275))
POSTS = int(os.environ.get('POSTS', 100000))
N = int(os.environ.get('N', 200000))
R = int(os.environ.get('R', 3))
rnd = random.Random(1)
WORDS = 'the a new today feed coffee morning launch great team release cache timeline'.split()


def body():
    s, n = [], 80 + rnd.randrange(121)
    while len(' '.join(s)) < n:
        s.append(rnd.choice(WORDS))
    return ' '.join(s).encode()


def load():
    """Keys named as redis-benchmark's __rand_int__ names them (12 digits)."""
    cli('FLUSHALL')
    cli('CONFIG', 'SET', 'zset-max-listpack-entries', '1024')
    out = []
    for u in range(USERS):
        out.append(home_feed(b'fc:home:{%012d}' % u, rnd, range(4), ENTRIES, POSTS))
        # The ceiling's keys, as run.sh makes them: ~50 random members.
        z = ['ZADD', b'fc:ceil:{%012d}' % u]
        for _ in range(50):
            z += [rnd.randrange(USERS), rnd.randrange(USERS)]
        out.append(resp(*z))
    for p in range(POSTS):
        out.append(resp('SET', b'fc:pc:{%012d}' % p, b'p%d:%s' % (rnd.randrange(10 ** 6), body())))
    pipe(b''.join(out))


CPU_US = {}   # Redis CPU per request (us) of each command timed, by name


def rps(*cmd, r=USERS, name=None):
    rate, us = bench_cpu(*cmd, n=N, r=r)
    if name:
        CPU_US[name] = us
    return rate


LEAST = {}   # the least us per request of each command over the rounds


def note_least(**times):
    for k, v in times.items():
        LEAST[k] = min(LEAST.get(k, v), v)


load()
print(f'{USERS} feeds of {ENTRIES} entries + 8 meta, {POSTS} post values; '
      f'encoding {cli("OBJECT", "ENCODING", "fc:home:{%012d}" % 0).strip()}')
for _ in range(R):
    ceil = rps('ZREVRANGE', 'fc:ceil:{__rand_int__}', 0, 19, 'WITHSCORES', name='ceil')
    sentinel = rps('ZSCORE', 'fc:home:{__rand_int__}', 's', name='sentinel')
    names = rps('ZRANGE', 'fc:home:{__rand_int__}', '-inf', -5, 'BYSCORE', name='names')
    meta = 1 / (1 / sentinel + 1 / names)     # the two as one: their times add
    CPU_US['meta'] = CPU_US['sentinel'] + CPU_US['names']
    win = rps('ZRANGE', 'fc:home:{__rand_int__}', 0, '+inf', 'BYSCORE', 'LIMIT', 0, 24,
              'WITHSCORES', name='win')
    win_bare = rps('ZRANGE', 'fc:home:{__rand_int__}', 0, '+inf', 'BYSCORE', 'LIMIT', 0, 24)
    mget = rps('MGET', *['fc:pc:{__rand_int__}'] * 20, r=POSTS, name='mget')
    us = lambda x: 1e6 / x
    note_least(ceil=us(ceil), sentinel=us(sentinel), names=us(names), win=us(win),
               mget=us(mget))
    read_us = us(meta) + us(win) + us(mget)
    print(f'ceiling ZREVRANGE 0 19 WITHSCORES {ceil:9.0f}/s ({us(ceil):5.2f} us); '
          f'meta (ZSCORE + names) {us(meta):5.2f} us, window {us(win):5.2f} us (without scores {us(win_bare):5.2f}), '
          f'MGET of 20 {us(mget):5.2f} us; a read >= {read_us:5.2f} us of Redis: '
          f'at most {ceil and 100 * us(ceil) / read_us:4.1f}% of the ceiling')
    # The same in Redis's own CPU time (INFO used_cpu). Where the two agree,
    # redis-benchmark kept Redis at a full CPU, so a ceiling's time per
    # request (run.sh's) is Redis's CPU per request. Not a floor of the
    # service's reads: their posts are recent ones that many pages share,
    # where this MGET takes random keys (bench/RESULTS.md, 2026-12-06 night).
    c = CPU_US
    print(f'Redis CPU per request (INFO used_cpu): ceiling {c["ceil"]:5.2f} us; meta {c["meta"]:5.2f} us, '
          f'window {c["win"]:5.2f} us, MGET of 20 {c["mget"]:5.2f} us; '
          f'a read >= {c["meta"] + c["win"] + c["mget"]:5.2f} us of Redis CPU')
# The bound from each command's least time over the rounds: noise only
# ever adds time, and one round's ceiling alone was once 1.6x its usual
# (9.08 against 5.5-6.1 us, bench/RESULTS.md, 2026-12-07 afternoon), which
# put that round's bound at 30.1% where the others gave 18-20%.
L = LEAST
read_us = L['sentinel'] + L['names'] + L['win'] + L['mget']
print(f'least of {R} rounds: ceiling {L["ceil"]:5.2f} us; meta {L["sentinel"] + L["names"]:5.2f} us, '
      f'window {L["win"]:5.2f} us, MGET of 20 {L["mget"]:5.2f} us; a read >= {read_us:5.2f} us of Redis: '
      f'at most {100 * L["ceil"] / read_us:4.1f}% of the ceiling')
cli('FLUSHALL')
