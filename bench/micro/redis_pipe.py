"""Helpers of the micro-benchmarks in this directory: RESP encoding, a
redis-cli --pipe of many commands, one redis-cli call, Redis's CPU time
(INFO cpu: time the process was not running does not count), a measured
pipe, a redis-benchmark rate (and Redis's CPU per request), a home feed
laid out as feedcached lays it out, and busy loops that compete for the
CPUs. The port is RPORT from the environment."""
import os, re, subprocess, sys
port = os.environ['RPORT']
def resp(*args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)
def pipe(data):
    p = subprocess.run(['redis-cli', '-p', port, '--pipe'], input=data, capture_output=True)
    if b'errors: 0' not in p.stdout: print(p.stdout.decode(), p.stderr.decode()); sys.exit(1)
def cli(*a):
    return subprocess.run(['redis-cli', '-p', port] + list(a), capture_output=True, text=True).stdout
def cpu():
    i = dict(l.split(':', 1) for l in cli('INFO', 'cpu').splitlines() if ':' in l)
    return float(i['used_cpu_user']) + float(i['used_cpu_sys'])
def measured_pipe(data):
    """Pipes data after CONFIG RESETSTAT; returns Redis's CPU seconds for it
    and INFO commandstats as {command: (calls, usec)}."""
    cli('CONFIG', 'RESETSTAT')
    c0 = cpu()
    pipe(data)
    c1 = cpu()
    st = {}
    for l in cli('INFO', 'commandstats').splitlines():
        m = re.match(r'cmdstat_(\S+?):calls=(\d+),usec=(\d+)', l)
        if m: st[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return c1 - c0, st
def bench_rps(*cmd, n=200000, r=10000):
    """Requests/s of one command with redis-benchmark as bench/run.sh times
    its ceilings (-P 32 -c 50, __rand_int__ below r)."""
    p = subprocess.run(['redis-benchmark', '-p', port, '-P', '32', '-c', '50',
                        '-n', str(n), '-r', str(r), '-q', '--csv'] + [str(c) for c in cmd],
                       capture_output=True, text=True, check=True)
    line = [l for l in p.stdout.splitlines() if l and not l.startswith('"test"')][-1]
    return float(line.split(',')[1].strip('"'))
def bench_cpu(*cmd, n=200000, r=10000):
    """bench_rps, and Redis's CPU time per request (us): what the command
    costs Redis itself, whatever the rate (which the client or a slow
    minute of the machine can bound)."""
    c0 = cpu()
    rps = bench_rps(*cmd, n=n, r=r)
    return rps, (cpu() - c0) / n * 1e6
HOME_BASE = 2 ** 53    # a home feed entry's score: HOME_BASE - created_at (feed_scripts.h)
def home_feed(key, rnd, markers, entries, ids, now=1764000000000):
    """RESP of a ZADD that lays a home feed out as feedcached does
    (src/feed/feed_scripts.h): the sentinel (complete, -1), an epoch (-6),
    the fast markers (-7), celebrity markers c:<id> (-5) for each id in
    markers, then `entries` entries newest first, one a minute or so, each
    a random post id below ids."""
    a = ['ZADD', key, -1, 's', -6, 'e:0123456789abcdef', -7, 'f:1', -7, 'f:2']
    for c in markers:
        a += [-5, 'c:%d' % c]
    for i in range(entries):
        a += [HOME_BASE - (now - i * 60000 - rnd.randrange(60000)), rnd.randrange(ids)]
    return resp(*a)
def busy_loops(n):
    """n processes that only spin, competing for the CPUs (kill() each)."""
    return [subprocess.Popen(['python3', '-c', 'while True: pass']) for _ in range(n)]
