#!/usr/bin/env python3
"""The service's own fan-out traffic, replayed on a Redis that does nothing
else: how much of the Redis CPU a delivery costs in bench/run.sh is the
work of the calls themselves (their data, their shape) and how much is the
run's conditions (the CPUs and caches shared with feedcached, PostgreSQL
and the load generator). Capture, then replay:
  FC_BENCH_CAPTURE=DIR bench/run.sh --quick      # DIR/snapshot.rdb, DIR/monitor.txt
  redis-server --port P --zset-max-listpack-entries 1024 --dir D   # D/dump.rdb = the snapshot
  redis-cli -p P CONFIG SET repl-backlog-ttl 1   # see below; wait ~2 s
  RPORT=P python3 bench/micro/fanout_replay.py DIR/monitor.txt [push|all]
push (the default) replays only the FEED_PUSH calls (deliveries, the
author's own feed); all replays every command of the clients but the
blocking XREADGROUP and XAUTOCLAIM. A replay changes the data: restart the
Redis from the snapshot before each. The snapshot's keys keep the expiry
times they had (run.sh gives feeds 2 h): replay within them, or the feeds
are gone and FEED_PUSH only creates and deletes empty keys (DEL in the
commandstats says so).

A Redis that loads an RDB written with replication information (redis-cli
--rdb writes one) keeps a replication backlog and copies every write into
it; let it expire first (repl_backlog_active:0 in INFO replication), or
the replay pays for it (8.6% of Redis's instructions, measured).

The scripts are loaded from src/feed/feed_scripts.c (compiled), so that the
EVALSHAs of the capture find them; a capture made by another commit's
feedcached needs that commit's scripts."""
import hashlib, sys
from redis_pipe import resp, cli, measured_pipe
from feed_push_ab import scripts   # compiled from src/feed/feed_scripts.c

# MONITOR quotes each argument as sdscatrepr does.
ESC = {'n': b'\n', 'r': b'\r', 't': b'\t', 'a': b'\a', 'b': b'\b', '"': b'"', '\\': b'\\'}

def parse(line):
    """The arguments of one MONITOR line, as bytes."""
    s, i = line, line.index('] ') + 2
    args = []
    while i < len(s):
        if s[i] == ' ':
            i += 1
            continue
        if s[i] != '"':
            raise ValueError('not a MONITOR line: ' + line[:80])
        i += 1
        buf = bytearray()
        while s[i] != '"':
            if s[i] == '\\':
                c = s[i + 1]
                if c == 'x':
                    buf.append(int(s[i + 2:i + 4], 16))
                    i += 4
                else:
                    buf += ESC[c]
                    i += 2
            else:
                buf += s[i].encode('latin-1')
                i += 1
        args.append(bytes(buf))
        i += 1
    return args

SKIP = {'monitor', 'info', 'config', 'slowlog', 'xreadgroup', 'xautoclaim'}

def main():
    path = sys.argv[1]
    only = sys.argv[2] if len(sys.argv) > 2 else 'push'
    texts = scripts()
    by_sha = {hashlib.sha1(t.encode()).hexdigest(): n for n, t in texts.items()}
    for t in texts.values():
        cli('SCRIPT', 'LOAD', t)
    cmds, deliveries, calls = [], 0, {}
    for line in open(path, encoding='latin-1'):
        # A script's own calls are logged as "[0 lua]": the script replays them.
        if ' [0 lua]' in line or '] "' not in line:
            continue
        a = parse(line.rstrip('\n'))
        name = a[0].lower().decode()
        if name == 'evalsha':
            name = by_sha.get(a[1].decode(), 'evalsha?')
            if name == 'feed_script_push':
                deliveries += int(a[2]) // 2 if a[3].startswith(b'fc:home:') else 0
            elif only == 'push':
                continue
        elif only == 'push' or name in SKIP:
            continue
        calls[name] = calls.get(name, 0) + 1
        cmds.append(resp(*a))
    secs, st = measured_pipe(b''.join(cmds))
    d = max(deliveries, 1)
    print(f'{only}: {deliveries} deliveries in', ', '.join(
        f'{n} {c}' for n, c in sorted(calls.items(), key=lambda x: -x[1])))
    print(f'{only}: Redis CPU {secs * 1e6 / d:.2f} us per delivery; commandstats us per delivery:',
          ', '.join(f'{k} {u / d:.2f}' for k, (c, u) in
                    sorted(st.items(), key=lambda x: -x[1][1])[:8]))

if __name__ == '__main__':
    main()
