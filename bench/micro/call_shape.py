#!/usr/bin/env python3
"""What the shape of the fan-out's calls costs Redis: FEED_PUSH calls of C
feeds (16, and 6: about what a quick-graph job's call carries) sent three
ways on a throwaway Redis (it runs FLUSHALL!):
  RPORT=PORT python3 bench/micro/call_shape.py
  pipe  all at once through redis-cli --pipe (push_floor.py's floor: Redis
        reads many calls per read event);
  K=8   from one socket with at most 8 calls unanswered (the fan-out
        worker's rounds in flight, feed_fanout.h FANOUT_PUSH_ROUNDS);
  K=1   one call at a time, each answered before the next is sent.
Per shape, Redis's CPU per delivery split into user and system time (INFO
cpu), into 1000 feeds (F) of 275 entries (N), 20 posts (P), R rounds
(2). A call that arrives alone costs Redis a wake-up, a read and a write
of its own: the system time per call is what the per-delivery figure
cannot amortise when calls are small or answered one at a time."""
import os, socket, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_pipe import resp, cli, pipe
import push_floor as pf
from feed_push_ab import script   # FEED_PUSH's text, compiled from the C source
def cpu_split():
    i = dict(l.split(':', 1) for l in cli('INFO', 'cpu').splitlines() if ':' in l)
    return float(i['used_cpu_user']), float(i['used_cpu_sys'])
def calls(F, P, C, sha):
    out = []
    for p in range(P):
        score, member = pf.BASE - (1765000000000 + p), pf.pid(10 ** 6 + p)
        for c in range(1, F + 1, C):
            us = range(c, min(c + C, F + 1))
            keys = []
            for u in us: keys += ['fc:home:{%d}' % u, 'fc:unf:{%d}' % u]
            # member, score, max, author, stride, newest_first, slack, checks
            out.append(resp('EVALSHA', sha, len(keys), *keys, member, score, 800, 424242,
                            2, 1, 64, '0' * len(us)))
    return out
def in_flight(cs, K):
    """Sends cs keeping at most K unanswered; every reply is an integer."""
    s = socket.create_connection(('127.0.0.1', int(os.environ['RPORT'])))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent = got = 0
    buf = b''
    while got < len(cs):
        while sent < len(cs) and sent - got < K:
            s.sendall(cs[sent]); sent += 1
        buf += s.recv(65536)
        if buf.startswith(b'-'): sys.exit(f'Redis: {buf[:200]!r}')
        n = buf.count(b'\r\n')
        got += n
        buf = buf[buf.rfind(b'\r\n') + 2:] if n else buf
    s.close()
if __name__ == '__main__':
    F, P, N = int(os.environ.get('F', 1000)), int(os.environ.get('P', 20)), int(os.environ.get('N', 275))
    for rnd in range(int(os.environ.get('R', 2))):
        for C in (16, 6):
            for K in (0, 8, 1):
                pf.setup(F, N, 'push')
                sha = cli('SCRIPT', 'LOAD', script(None)).strip()
                cs = calls(F, P, C, sha)
                u0, s0 = cpu_split()
                t0 = time.time()
                if K == 0:
                    pipe(b''.join(cs))
                else:
                    in_flight(cs, K)
                u1, s1 = cpu_split()
                n, secs = F * P, time.time() - t0
                print(f"round {rnd} C={C:2d} {'pipe' if K == 0 else f'K={K}':4s}: Redis CPU per "
                      f"delivery {((u1 - u0) + (s1 - s0)) * 1e6 / n:5.2f} us (user "
                      f"{(u1 - u0) * 1e6 / n:5.2f}, system {(s1 - s0) * 1e6 / n:5.2f}; system per "
                      f"call {(s1 - s0) * 1e6 / len(cs):5.1f}); {n / secs:7.0f} deliveries/s",
                      flush=True)
