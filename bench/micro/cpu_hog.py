#!/usr/bin/env python3
"""Work the machine must do beside what is measured, as plain CPU time:
  python3 bench/micro/cpu_hog.py CORES [SECONDS]
uses CORES of the CPUs (n = ceil(CORES) processes, CORES / n each) at
normal priority, in small slices: every PERIOD_US (500) each process spins
until its own CPU time has grown by its share of the period, then sleeps
to the period's end (a process kept from its share makes up at most one
slice of it). Runs for SECONDS (default: until killed, SIGTERM), then prints the
CPU it used per second of wall time.

bench/run.sh runs it beside the mixed workload whose publishes are INSERTs
alone, at the CPU the fan-out's deliveries cost Redis at their floor: a
lower bound on what any fan-out of those posts adds to the machine (the
deliveries' work inside Redis also queues the reads behind it; this
slices it finer than Redis's calls of 16 and never holds a read up)."""
import math, multiprocessing as mp, os, signal, sys, time


def hog(share, secs, period, used):
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    start, cpu0 = time.monotonic(), time.process_time()
    due, last, owed = start, cpu0, 0.0
    while not stop[0] and time.monotonic() - start < secs:
        # Its share of each period, the loop's own overhead included; a
        # process kept from its share makes up at most one slice of it.
        due += period
        owed = min(owed + share * period, 2 * share * period)
        while owed > 0:
            now_cpu = time.process_time()
            owed -= now_cpu - last
            last = now_cpu
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        else:
            due = now                # behind: the schedule starts again from now
    used.put((time.process_time() - cpu0) / max(time.monotonic() - start, 1e-9))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit('usage: cpu_hog.py CORES [SECONDS]')
    cores = float(sys.argv[1])
    secs = float(sys.argv[2]) if len(sys.argv) == 3 else math.inf
    period = int(os.environ.get('PERIOD_US', 500)) / 1e6
    if cores <= 0:
        print('cpu_hog: 0 cores asked, nothing run')
        return
    n = math.ceil(cores)
    used = mp.Queue()
    procs = [mp.Process(target=hog, args=(cores / n, secs, period, used)) for _ in range(n)]
    for p in procs:
        p.start()

    def forward(*_):
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    total = sum(used.get() for _ in procs)
    for p in procs:
        p.join()
    print(f'cpu_hog: asked {cores:.3f} cores, used {total:.3f} ({n} processes, '
          f'{period * 1e6:.0f} us slices)')


if __name__ == '__main__':
    main()
