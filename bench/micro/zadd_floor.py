#!/usr/bin/env python3
"""The floor under a fan-out delivery: Redis CPU of a bare ZADD of the newest
post into a home feed of N entries, against the same ZADD into a key of one
entry (what run.sh's pipelined ZADD ceiling measures). On a throwaway Redis
(it runs FLUSHALL!):
  RPORT=PORT python3 bench/micro/zadd_floor.py
Feeds are newest-first listpacks as feedcached writes them (integer members,
scores 2^53 - created_at, the sentinel and an epoch marker at the head);
F feeds (1000), P posts each (20), sent with redis-cli --pipe. Prints Redis
CPU per ZADD (INFO cpu) and ZADD's own time (INFO commandstats) for each N
in NS ("1 275 800"), so the ratio bounds what any delivery script can reach
against the ceiling: a delivery makes at least this ZADD."""
import os
from redis_pipe import resp, pipe, cli, measured_pipe
BASE = 2 ** 53
def pid(i): return 700000000000000000 + i * 4194304
def run(F, N, P):
    cli('FLUSHALL')
    buf = []
    for u in range(1, F + 1):
        args = ['ZADD', 'fc:home:{%d}' % u]
        if N > 1:
            args += [-2, 's', -6, 'e:0123456789abcdef']
        for i in range(1, N + 1):
            args += [BASE - (1764000000000 + i * 1000 + u), pid(i * 7 + u)]
        buf.append(resp(*args))
    pipe(b''.join(buf))
    buf = [resp('ZADD', 'fc:home:{%d}' % u, BASE - (1765000000000 + p), pid(10 ** 6 + p))
           for p in range(P) for u in range(1, F + 1)]
    secs, st = measured_pipe(b''.join(buf))
    n = F * P
    enc = cli('OBJECT', 'ENCODING', 'fc:home:{1}').strip()
    return secs * 1e6 / n, st['zadd'][1] / n, enc
if __name__ == '__main__':
    F, P, R = int(os.environ.get('F', 1000)), int(os.environ.get('P', 20)), int(os.environ.get('R', 2))
    for r in range(R):
        for N in [int(x) for x in os.environ.get('NS', '1 275 800').split()]:
            c, z, enc = run(F, N, P)
            print(f"N={N:4d} round {r}: Redis CPU {c:6.2f} us per ZADD (ZADD itself {z:5.2f} us), {enc}",
                  flush=True)
