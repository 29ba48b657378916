"""What a cached read's meta costs Redis: the one command feedcached sent
until 2026-12-07 against the two it sends now (src/feed/feed_read.c, RT1).

  RPORT=20699 python3 bench/micro/meta_read.py

Before: ZRANGE home -inf (0 BYSCORE WITHSCORES, every meta member with its
score. Now: ZSCORE home s (the sentinel's score, the feed's state) and
ZRANGE home -inf -5 BYSCORE (the names of the celebrity markers, the epoch
and the fast markers, which carry nothing in their scores). Redis 7.0
formats every score it returns with snprintf("%.17g"), so the old command
cost grows with the markers a feed carries: 6.4 per feed on average on
the bench's quick graph, 16.3 on its full graph.

Feeds laid out as feedcached lays them out (redis_pipe.home_feed): USERS
feeds of ENTRIES entries newest first, the fast markers, an epoch,
MARKERS celebrity markers and the sentinel. Each command is timed alone with redis-benchmark
(-P 32 -c 50, random keys) as bench/run.sh times its ceilings, and
Redis's own CPU per request (INFO used_cpu) is printed beside it; R
rounds, the commands alternated within each."""
import os, random
from redis_pipe import pipe, cli, bench_cpu, home_feed

USERS = int(os.environ.get('USERS', 10000))
ENTRIES = int(os.environ.get('ENTRIES', 300))
N = int(os.environ.get('N', 200000))
R = int(os.environ.get('R', 3))
rnd = random.Random(1)


def load(markers):
    """Keys named as redis-benchmark's __rand_int__ names them (12 digits)."""
    cli('FLUSHALL')
    cli('CONFIG', 'SET', 'zset-max-listpack-entries', '1024')
    pipe(b''.join(home_feed(b'fc:home:{%012d}' % u, rnd, rnd.sample(range(100000), markers),
                            ENTRIES, 10 ** 6) for u in range(USERS)))


for markers in (int(m) for m in os.environ.get('MARKERS', '6 16').split()):
    load(markers)
    key = 'fc:home:{__rand_int__}'
    print(f'{USERS} feeds of {ENTRIES} entries, {markers} celebrity markers + 4 meta members; '
          f'encoding {cli("OBJECT", "ENCODING", "fc:home:{%012d}" % 0).strip()}')
    for _ in range(R):
        _, old = bench_cpu('ZRANGE', key, '-inf', '(0', 'BYSCORE', 'WITHSCORES', n=N, r=USERS)
        _, score = bench_cpu('ZSCORE', key, 's', n=N, r=USERS)
        _, names = bench_cpu('ZRANGE', key, '-inf', -5, 'BYSCORE', n=N, r=USERS)
        print(f'  Redis CPU per request: before (ZRANGE ... WITHSCORES) {old:5.2f} us; '
              f'now ZSCORE {score:5.2f} + ZRANGE names {names:5.2f} = {score + names:5.2f} us')
cli('FLUSHALL')
