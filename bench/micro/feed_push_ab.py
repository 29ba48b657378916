#!/usr/bin/env python3
"""A/B of two FEED_PUSH texts on a throwaway Redis (it runs FLUSHALL!):
  RPORT=PORT python3 bench/micro/feed_push_ab.py OLD_REV [NEW_REV]
OLD_REV, NEW_REV: git revisions of src/feed/feed_scripts.c (NEW_REV: the work
tree). A text that takes a layout argument (since 2026-12-04) runs on
newest-first feeds (PREFIXhome:{U}, scores 2^53 - created_at, with the trim
slack), an older one on oldest-first feeds (PREFIXfeed:{U}).
Feeds of N entries (partial, with the coverage floor its trim wrote for a
text that reads it; an epoch marker; NS="275 800"), 10% of their
owners with the author in their unfollow set (their feeds guarded, for a
text that reads the guard); P posts fanned out to F feeds in
EVALSHAs of C feeds (250 and 16), pipelined with redis-cli --pipe. Prints Redis CPU
per delivery (INFO cpu, so time the process was not running does not count),
EVAL wall time per delivery (INFO commandstats), calls per delivery, and the
EVALs over 1 ms (SLOWLOG: wall time, so a busy machine inflates it), and per
command inside the script its (calls, us) per delivery."""
import subprocess, sys, os, random
from redis_pipe import resp, pipe, cli, measured_pipe
def pid(i): return '70000%013d' % (i * 4194304)
BASE = 2 ** 53
def newest_first(script): return 'newest_first' in script
def samples(script): return 'checks' in script   # size checked at 1 delivery in 4 (2026-12-04)
def guards(script): return 'g == 0' in script
def covers(script): return 'cover' in script     # reads a coverage floor from the sentinel (2026-12-04)  # asks unf:{U} for guarded feeds only (2026-12-04)
M64 = 2 ** 64 - 1
def trim_check(owner, post):
    """feed_scripts.h's feed_trim_check."""
    x = (owner * 0x9E3779B97F4A7C15 & M64) ^ post
    x ^= x >> 30; x = x * 0xBF58476D1CE4E5B9 & M64
    x ^= x >> 27; x = x * 0x94D049BB133111EB & M64
    x ^= x >> 31
    return x % 8 == 0   # FEED_TRIM_CHECK_EVERY (4 before 2026-12-06)
def feed_key(script, u): return ('fc:home:{%d}' if newest_first(script) else 'fc:feed:{%d}') % u
def score(script, ts): return BASE - ts if newest_first(script) else ts
def setup(script, F, N, present):
    cli('FLUSHALL')
    buf = []
    for u in range(1, F + 1):
        if u % present: continue  # a feed not cached: the script only looks
        guarded = u % 10 == 0 and guards(script)   # the owners with an unfollow set
        state = -2.5 if guarded else -2
        if covers(script):   # as the trim that made the feed partial wrote it: its oldest entry
            state -= (1764000000000 + 1000 + u) / 2 ** 44
        args = ['ZADD', feed_key(script, u), repr(state), 's', -6, 'e:0123456789abcdef']
        for i in range(1, N + 1):
            args += [score(script, 1764000000000 + i * 1000 + u), pid(i * 7 + u)]
        buf.append(resp(*args))
        if u % 10 == 0: buf.append(resp('SADD', 'fc:unf:{%d}' % u, 424242))
    pipe(b''.join(buf))
def run(script, F, N, P, C, slack, present):
    setup(script, F, N, present)
    cli('CONFIG', 'SET', 'slowlog-log-slower-than', '1000'); cli('SLOWLOG', 'RESET')
    sha = cli('SCRIPT', 'LOAD', script).strip()   # EVALSHA, as feedcached calls it
    buf = []
    for p in range(P):
        for c in range(1, F + 1, C):
            us = range(c, min(c + C, F + 1))
            keys = []
            for u in us: keys += [feed_key(script, u), 'fc:unf:{%d}' % u]
            extra = (1, slack) if newest_first(script) else (slack,)
            if samples(script):
                extra += (''.join('1' if trim_check(u, int(pid(10**6 + p))) else '0' for u in us),)
            buf.append(resp('EVALSHA', sha, len(keys), *keys, pid(10**6 + p),
                            score(script, 1765000000000 + p), N, 424242, 2, *extra))
    secs, st = measured_pipe(b''.join(buf))
    slow = cli('EVAL', "local s=redis.call('SLOWLOG','GET',100000) local m,c=0,0 for _,e in ipairs(s) do if string.upper(e[4][1])=='EVALSHA' then c=c+1 if e[3]>m then m=e[3] end end end return {c,m}", '0').split()
    feeds = len([u for u in range(1, F + 1) if u % present == 0])
    d = P * feeds * 9 / 10   # the 10% with an unfollow set are skipped
    inner = sum(v[0] for k, v in st.items() if k not in ('evalsha', 'eval', 'config|resetstat', 'info', 'script|load'))
    enc = cli('OBJECT', 'ENCODING', feed_key(script, present)).strip()
    card = cli('ZCARD', feed_key(script, present)).strip()
    return dict(cpu=secs * 1e6 / d, us=st['evalsha'][1] / d, calls=inner / d, evals=st['evalsha'][0], slow=int(slow[0]),
                slowmax=int(slow[1]), enc=enc, card=card,
                detail={k: (round(v[0] / d, 3), round(v[1] / d, 2)) for k, v in st.items()
                        if k not in ('evalsha', 'eval', 'config|resetstat', 'info', 'echo', 'script|load')})
def scripts(rev=None):
    """{name: text} of every script src/feed/feed_scripts.h declares, at
    revision rev (None: the working tree), compiled from the C source."""
    import re, tempfile
    root = subprocess.run(['git', 'rev-parse', '--show-toplevel'], capture_output=True, text=True).stdout.strip()
    d = tempfile.mkdtemp()
    os.makedirs(d + '/feed')
    src = {}
    for f in ('feed_scripts.c', 'feed_scripts.h'):
        src[f] = open(root + '/src/feed/' + f).read() if rev is None else subprocess.run(
            ['git', 'show', '%s:src/feed/%s' % (rev, f)], capture_output=True, text=True, check=True).stdout
        open(d + '/feed/' + f, 'w').write(src[f])
    names = re.findall(r'extern const char (feed_script_\w+)\[\];', src['feed_scripts.h'])
    body = ''.join('fputs(%s, stdout); fputc(0, stdout);\n' % n for n in names)
    open(d + '/p.c', 'w').write('#include <stdio.h>\n#include "feed/feed_scripts.h"\n'
                                'int main(void) {\n%s return 0; }\n' % body)
    subprocess.run(['cc', '-I', d, '-o', d + '/p', d + '/p.c', d + '/feed/feed_scripts.c', '-lm'],
                   check=True)
    out = subprocess.run([d + '/p'], capture_output=True, check=True).stdout.split(b'\0')[:-1]
    return {n: t.decode() for n, t in zip(names, out)}
def script(rev):
    """FEED_PUSH's text at revision rev (None: the working tree)."""
    return scripts(rev)['feed_script_push']
if __name__ == '__main__':
    old, new = script(sys.argv[1]), script(sys.argv[2] if len(sys.argv) > 2 else None)
    F, P, rounds = int(os.environ.get('F', 1000)), int(os.environ.get('P', 40)), int(os.environ.get('R', 2))
    present = int(os.environ.get('PRESENT', 1))
    for N in [int(x) for x in os.environ.get('NS', '275 800').split()]:
        slack = min(64, N // 4)     # feed_trim_slack; older texts ignore it
        for r in range(rounds):
            for name, s, C in [x for x in [('new/250', new, 250), ('old/250', old, 250), ('old/16', old, 16), ('new/16', new, 16)] if x[0] in os.environ.get('V', 'new/250 old/250 new/16')]:
                x = run(s, F, N, P, C, slack, present)
                print(f"N={N} {name:8s} round {r}: CPU {x['cpu']:6.2f} us/delivery (EVAL wall {x['us']:6.2f}), {x['calls']:.2f} calls/delivery, "
                      f"{x['evals']} EVALs, {x['slow']} over 1 ms (max {x['slowmax']} us), {x['enc']} card {x['card']} {x['detail']}", flush=True)
