#!/usr/bin/env python3
"""Whether FEED_PUSH's SLOWLOG entries over 1 ms are its own work or time
it waited for a CPU. On a throwaway Redis (it runs FLUSHALL!) whose pid is
RPID:
  RPORT=PORT RPID=PID python3 bench/micro/slowlog_sched.py
F feeds (1000) of N entries (300), P posts (100) each delivered by FEED_PUSH
calls of C feeds (16), pipelined (redis-cli --pipe), under each condition:
  alone   nothing else runs
  hogs    H busy loops (2) at nice 0 compete for the CPUs
  nice    the hogs, Redis at nice -10
  fifo    the hogs, Redis SCHED_FIFO (chrt): no process of this machine
          preempts it; only the hypervisor can (steal time). Keep a
          condition's Redis CPU under about 0.9 s (P = 100: ~0.5 s): the
          kernel stops a real-time process for the rest of a second in
          which it ran 95% (a 50 ms entry)
(nice and fifo need root: without, they print "not permitted".)
Measured 2026-12-05 (each call ~80 us of Redis CPU), N = 300: P = 200,
H = 2, three rounds: alone 2 / 2 / 2 entries (longest 1.40-2.46 ms); hogs
30 / 9 / 15 (4.18-4.35 ms); nice 2 / 21 / 2 (2.18-4.17 ms); fifo 0 / 2 / 0,
the 2 with a 52 ms one: the real-time throttle, for that pipe ran over a
second. P = 100, two rounds: H = 2 hogs 2 / 2 (4.7-4.8 ms), H = 4 hogs 8 /
19 (16-20 ms), fifo 0 every time.
Per condition: SLOWLOG entries over 1 ms (slowlog-log-slower-than 1000),
the longest, Redis CPU per delivery, and the CPUs' steal time meanwhile."""
import json, os, subprocess, time
from redis_pipe import cli, measured_pipe, busy_loops
from push_floor import setup, targets, deliveries
from feed_push_ab import script
def steal():
    f = open('/proc/stat').readline().split()
    return int(f[8]) / os.sysconf('SC_CLK_TCK')
def sched(rpid, how):
    """Redis's scheduling for a condition; False if not permitted (not root)."""
    ok = subprocess.run(['renice', '-n', '-10' if how == 'nice' else '0', '-p', rpid],
                        capture_output=True).returncode == 0
    return subprocess.run(['chrt', '-f' if how == 'fifo' else '-o', '-p',
                           '1' if how == 'fifo' else '0', rpid],
                          capture_output=True).returncode == 0 and ok
def slow_durations():
    """SLOWLOG GET's durations (us), as run.sh reads the log (redis-cli
    --json: printed flat, an argument could look like a duration)."""
    return [e[2] for e in json.loads(cli('--json', 'SLOWLOG', 'GET', '100000'))]
def one(F, N, P, C, how, rpid, nhogs):
    if not sched(rpid, how):
        sched(rpid, 'alone')
        return None
    hogs = [] if how == 'alone' else busy_loops(nhogs)
    try:
        setup(F, N, 'push')
        sha = cli('SCRIPT', 'LOAD', script(None)).strip()
        data = deliveries(list(targets(F, P, 0)), C, 'push', sha, 0)
        cli('CONFIG', 'SET', 'slowlog-log-slower-than', '1000')
        cli('CONFIG', 'SET', 'slowlog-max-len', '100000')
        cli('SLOWLOG', 'RESET')
        s0, t0 = steal(), time.time()
        secs, _ = measured_pipe(data)
        s1, t1 = steal(), time.time()
        durs = slow_durations()
    finally:
        for h in hogs: h.kill()
        sched(rpid, 'alone')
    return len(durs), max(durs, default=0), secs * 1e6 / (F * P), (s1 - s0) / (t1 - t0)
if __name__ == '__main__':
    F, N, P, C = (int(os.environ.get(k, d)) for k, d in (('F', 1000), ('N', 300), ('P', 100), ('C', 16)))
    R, H = int(os.environ.get('R', 2)), int(os.environ.get('H', 2))
    rpid = os.environ['RPID']
    for r in range(R):
        for how in os.environ.get('V', 'alone hogs nice fifo').split():
            res = one(F, N, P, C, how, rpid, H)
            if res is None:
                print(f'round {r} {how:5s}: not permitted (renice or chrt failed)', flush=True)
                continue
            n, mx, us, st = res
            print(f'round {r} {how:5s}: {n:4d} entries over 1 ms (of {F * P // C} calls), longest '
                  f'{mx / 1000:.2f} ms; Redis CPU per delivery {us:.2f} us; steal {st:.2f} CPUs',
                  flush=True)
