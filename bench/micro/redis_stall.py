#!/usr/bin/env python3
"""How long this machine stalls an idle Redis: a PING every I ms (2) for D
seconds (5) on one connection, each timed from its send to its answer.
Nothing else is asked of Redis, so a slow PING is time Redis (or this
client) could not run, not work:
  RPORT=PORT python3 bench/micro/redis_stall.py
Prints one line:
  stall: R MB resident: stalled S% of the time, K stalls over T ms (every
  ~P s), the longest L ms; a call at a random time waits W ms at p99
(as run.sh puts it into its tables), then the PINGs' own percentiles:
  pings: N, p50 A ms, p99 B ms
where R is Redis's resident set (INFO memory), K the PINGs slower than T
ms (2), and P the median time between the starts of stalls (slow PINGs
less than 100 ms apart are one stall; left out with fewer than three). A PING
is sent only after the last answer, so one that met a stall stands for
the whole of it: S is the slow PINGs' time over the run's, and W what a
call arriving at a random moment (as a request does) would wait at its
p99 for Redis to run again, from those stalls (each a wait of 0..its
length). That W is a floor under the p99 of any round trip to this
Redis on this machine. Then,
when the kernel's DAMON runs (/sys/kernel/mm/damon/admin), a line naming
its state and sampling interval:
  damon: kdamond 0 on, operations paddr, sample every 500 ms

Why (bench/RESULTS.md, 2026-12-07): on this machine an idle Redis holding
1.3-2.7 GB stalls for 4-29 ms every ~0.52 s, an empty one does not; the
stalls come as the kernel's kdamond wakes (every 500 ms, sampling physical
pages' access bits) and stretch Redis's own run time. Every round trip to
such a Redis can meet one: it is a floor under any p99 of a call that
needs Redis, whatever the service does."""
import glob, os, socket, time
from redis_pipe import cli

def stalls_summary(samples, over_ms):
    """samples: (t seconds, latency ms). Returns (count over, period s or None)."""
    slow = [t for t, ms in samples if ms > over_ms]
    starts = []
    for t in slow:
        if not starts or t - last > 0.1:
            starts.append(t)
        last = t
    gaps = sorted(b - a for a, b in zip(starts, starts[1:]))
    period = gaps[len(gaps) // 2] if len(gaps) >= 2 else None
    return len(slow), period

def random_arrival_p99(samples, over_ms, dur_s):
    """The wait w that a call arriving at a uniformly random moment exceeds
    1% of the time, if Redis was stopped for each slow PING's latency."""
    stalls = [ms for _, ms in samples if ms > over_ms]
    def share_over(w):
        return sum(max(0.0, L - w) for L in stalls) / (dur_s * 1000)
    if share_over(0) <= 0.01:
        return 0.0
    lo, hi = 0.0, max(stalls)
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if share_over(mid) > 0.01 else (lo, mid)
    return hi

def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p))]

def rss_mb():
    for line in cli('INFO', 'memory').splitlines():
        if line.startswith('used_memory_rss:'):
            return int(line.split(':')[1]) / 1e6
    return 0.0

def damon():
    out = []
    for k in sorted(glob.glob('/sys/kernel/mm/damon/admin/kdamonds/[0-9]*')):
        try:
            state = open(k + '/state').read().strip()
            ctx = k + '/contexts/0'
            ops = open(ctx + '/operations').read().strip()
            us = int(open(ctx + '/monitoring_attrs/intervals/sample_us').read())
            out.append('kdamond %s %s, operations %s, sample every %g ms'
                       % (os.path.basename(k), state, ops, us / 1000))
        except OSError:
            continue
    return '; '.join(out)

def main():
    port = int(os.environ['RPORT'])
    dur = float(os.environ.get('D', '5'))
    interval = float(os.environ.get('I', '2')) / 1000
    over = float(os.environ.get('T', '2'))
    s = socket.create_connection(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rss = rss_mb()
    samples = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < dur:
        a = time.monotonic()
        s.sendall(b'PING\r\n')
        got = b''
        while not got.endswith(b'\r\n'):
            got += s.recv(64)
        b = time.monotonic()
        samples.append((a - t0, (b - a) * 1000))
        time.sleep(interval)
    took = time.monotonic() - t0
    ms = sorted(x[1] for x in samples)
    k, period = stalls_summary(samples, over)
    stalled = sum(x for x in ms if x > over) / (took * 1000)
    often = ' (every ~%.2f s)' % period if period else ''
    print('stall: %.0f MB resident: stalled %.1f%% of the time, %d stalls over %g ms%s,'
          ' the longest %.2f ms; a call at a random time waits %.2f ms at p99'
          % (rss, 100 * stalled, k, over, often, ms[-1], random_arrival_p99(samples, over, took)))
    print('pings: %d, p50 %.2f ms, p99 %.2f ms' % (len(ms), pct(ms, 0.5), pct(ms, 0.99)))
    d = damon()
    if d:
        print('damon: ' + d)

if __name__ == '__main__':
    main()
