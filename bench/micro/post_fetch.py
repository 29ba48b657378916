"""Redis's CPU and memory for a page's post lookups (issue 12, read cost):
the post hash (HMGET a d b, one command per post) against one compact
string per post ('p<author>:<body>', one MGET per page).

  RPORT=20699 python3 bench/micro/post_fetch.py

N posts of 80-200 bytes (as graphgen writes them), TTL set as feedcached
does; PAGES pages of 20 random posts each, every page pipelined. Prints,
per layout, bytes per post (INFO used_memory) and Redis CPU and commands
per page (INFO cpu and commandstats). Start Redis as scripts/services.sh
does (hash-max-listpack-value 1024, so that the hashes are listpacks, as
the old version recommended); the setting is printed.

Measured 2026-12-04: hashes 326-329 B/post and 22.7-25.6 us of Redis CPU
per page (hash-max-listpack-value 1024; with Redis's default of 64 the
bodies make them hashtables: 486-495 B), strings 310 B and 6.8-16.5 us."""
import os, random
from redis_pipe import resp, pipe, cli, measured_pipe

N = int(os.environ.get('N', 20000))
PAGES = int(os.environ.get('PAGES', 20000))
PAGE = 20
R = int(os.environ.get('R', 3))
WORDS = 'the a new today feed coffee morning launch great team release cache timeline'.split()
rnd = random.Random(1)
def body():
    s, n = [], 80 + rnd.randrange(121)
    while len(' '.join(s)) < n: s.append(rnd.choice(WORDS))
    return ' '.join(s).encode()
bodies = [body() for _ in range(N)]
authors = [rnd.randrange(1, 10 ** 6) for _ in range(N)]
def used():
    return int(dict(l.split(':', 1) for l in cli('INFO', 'memory').splitlines() if ':' in l)['used_memory'])

def load(kind):
    cli('FLUSHALL')
    m0 = used()
    out = []
    for i in range(N):
        if kind == 'hash':
            k = b'fc:post:{%d}' % (10 ** 8 + i)
            out.append(resp('HSET', k, 'a', authors[i], 'b', bodies[i]))
        else:
            k = b'fc:pc:{%d}' % (10 ** 8 + i)
            out.append(resp('SET', k, b'p%d:%s' % (authors[i], bodies[i])))
        out.append(resp('EXPIRE', k, 7200))
    pipe(b''.join(out))
    return (used() - m0) / N

def pages(kind):
    out = []
    for _ in range(PAGES):
        ids = [10 ** 8 + rnd.randrange(N) for _ in range(PAGE)]
        if kind == 'hash':
            out += [resp('HMGET', b'fc:post:{%d}' % i, 'a', 'd', 'b') for i in ids]
        else:
            out.append(resp('MGET', *[b'fc:pc:{%d}' % i for i in ids]))
    return b''.join(out)

print('hash-max-listpack-value', cli('CONFIG', 'GET', 'hash-max-listpack-value').split()[1])
for r in range(R):
    for kind in ('hash', 'string'):
        per_post = load(kind)
        data = pages(kind)
        sec, st = measured_pipe(data)
        calls = sum(c for c, _ in st.values())
        print(f'{kind:6}: {per_post:6.1f} B/post; Redis CPU {sec / PAGES * 1e6:6.2f} us per page, '
              f'{calls / PAGES:5.2f} commands per page ({", ".join(f"{k} {u / c:.2f} us" for k, (c, u) in st.items())})')
cli('FLUSHALL')
