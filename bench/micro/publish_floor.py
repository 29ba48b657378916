#!/usr/bin/env python3
"""The floor under post.publish's p99 while fan-out runs: how long a
publish's own Redis work waits behind the fan-out calls that Redis is
running, on a Redis that does nothing else. On a throwaway Redis (it runs
FLUSHALL!) whose pid is RPID:
  RPORT=PORT RPID=PID python3 bench/micro/publish_floor.py
F feeds (1000) of N entries (300) as feedcached writes them; one process
keeps W calls (8: FANOUT_PUSH_ROUNDS) of FEED_PUSH to C feeds each (16:
FANOUT_CHUNK), to D random feeds per post (27), in flight on its own
connection, as feedcached's fan-out does under a backlog, at most RATE
deliveries/s (0: as many as the calls in flight allow); another times
publishes, one every I ms (1.0), for S seconds (3): a publish is the one
round trip post.publish makes to a single Redis when the author's count is
cached (src/feed/feed_write.c): the post's value, the author's recent set,
FEED_PUSH into the author's own feed, then PUBLISH_JOB (the publish state,
and the fan-out job's XADD). Nothing of feedcached's own time is in it, nor any
PostgreSQL: what is left is Redis's queue and the machine's CPUs.
Conditions (V="alone hogs"):
  alone   nothing else runs but Redis and the two client processes
  hogs    H busy loops (4) compete for the CPUs, as the bench's own
          processes (feedcached, PostgreSQL, feedbench) do
  inserts the caller's own writes run beside it, as in bench/run.sh's
          publish run, where each publish follows its INSERT INTO posts:
          pgbench (PGBENCH) INSERTs one post per transaction into PG (a
          conninfo whose posts table has users 1..USERS) at INS_RATE/s
          (the publishes' rate, 1000 / I) from 4 clients; the rows are
          deleted afterwards
Per condition: publishes timed, their round trips' p50 / p99 / max (ms),
and the fan-out deliveries/s meanwhile."""
import multiprocessing as mp, os, random, re, socket, subprocess, tempfile, time
from redis_pipe import resp, cli, busy_loops
from push_floor import setup
from feed_push_ab import scripts
BASE = 2 ** 53


def connect(port):
    s = socket.create_connection(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Replies:
    """Counts whole RESP replies off a socket (integers, simple strings,
    bulk strings, errors: what these commands answer)."""
    def __init__(self, s):
        self.s, self.buf = s, b''

    def line(self):
        while b'\r\n' not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError('Redis closed the connection')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def one(self):
        line = self.line()
        if line[:1] == b'-':
            raise RuntimeError(line.decode())
        if line[:1] == b'*':
            for _ in range(max(0, int(line[1:]))):
                self.one()
            return
        if line[:1] == b'$' and int(line[1:]) >= 0:
            n = int(line[1:]) + 2
            while len(self.buf) < n:
                self.buf += self.s.recv(65536)
            self.buf = self.buf[n:]


def fanout(port, sha, F, C, D, W, rate, stop, delivered):
    """Keeps up to W FEED_PUSH calls in flight until stop is set, at most
    rate deliveries/s (0: as many as W allows)."""
    s, rnd, post, sent, done = connect(port), random.Random(2), 0, 0, 0
    t0 = time.perf_counter()
    r = Replies(s)
    calls = []
    def more():
        nonlocal post
        while not calls:
            post += 1
            feeds = rnd.sample(range(1, F + 1), D)
            score, member = BASE - (1766000000000 + post), 800000000000000000 + post
            for c in range(0, D, C):
                keys = []
                for u in feeds[c:c + C]:
                    keys += ['fc:home:{%d}' % u, 'fc:unf:{%d}' % u]
                calls.append((resp('EVALSHA', sha, len(keys), *keys, member, score, 800,
                                   424242, 2, 1, 64, '0' * (len(keys) // 2)), len(keys) // 2))
        return calls.pop(0)
    inflight = []
    while not stop.is_set():
        while len(inflight) < W:
            if rate and sent > rate * (time.perf_counter() - t0):
                break                         # ahead of the rate
            data, n = more()
            s.sendall(data)
            inflight.append(n)
            sent += n
        if not inflight:
            time.sleep(0.0002)
            continue
        r.one()
        done += inflight.pop(0)
    for _ in inflight:
        r.one()
    delivered.value = done


def publish_once(s, r, sha, job_sha, i):
    u = 1 + i % 1000
    t0 = time.perf_counter()
    post = 900000000000000000 + i
    s.sendall(resp('SET', 'fc:post:{%d}' % post, 'x' * 120, 'EX', 86400)
              + resp('ZADD', 'fc:recent:{%d}' % u, 1766000000000 + i, post)
              + resp('EVALSHA', sha, 2, 'fc:home:{%d}' % u, 'fc:unf:{%d}' % u, post,
                     BASE - (1766000000000 + i), 800, u, 2, 1, 64, '0')
              + resp('EVALSHA', job_sha, 4, 'fc:fcount:{%d}' % u, 'fc:celebs', 'fc:celebs:marked',
                     'fc:{fanout}', u, 10000, 1000000, 1, 't', 'p', 'p', post, 'a', u,
                     'ts', 1766000000000 + i, 'pub', 1766000000000 + i))
    for _ in range(4):
        r.one()
    return (time.perf_counter() - t0) * 1e3


# Post ids of the inserts condition: far above any the bench writes, and
# random, so that the 4 clients need no shared counter.
INS_ID_MIN = 10 ** 15


def inserts(secs, I):
    """pgbench INSERTing posts at the publishes' rate for secs (Popen)."""
    users = int(os.environ.get('USERS', 1000))
    f = tempfile.NamedTemporaryFile('w', suffix='.sql', delete=False)
    f.write(f"\\set id random({INS_ID_MIN}, {2 * INS_ID_MIN})\n"
            f"\\set a random(1, {users})\n"
            "INSERT INTO posts (id, author_id, created_at, body) VALUES "
            "(:id, :a, now(), repeat('feed ', 28));\n")
    f.close()
    rate = float(os.environ.get('INS_RATE', 1000 / I))
    return subprocess.Popen([os.environ.get('PGBENCH', 'pgbench'), '-n', '-c', '4', '-j', '2',
                             '-R', str(rate), '-T', str(int(secs + 1)), '-f', f.name,
                             os.environ['PG']], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True), f.name, secs


def inserts_done(p, path, secs):
    """Waits for pgbench, deletes its rows; returns INSERTs/s."""
    out, err = p.communicate()
    os.unlink(path)
    subprocess.run([os.environ.get('PSQL', 'psql'), '-q', '-c',
                    f'DELETE FROM posts WHERE id >= {INS_ID_MIN}', os.environ['PG']],
                   check=True, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError('pgbench: ' + err.strip())
    m = re.search(r'number of transactions actually processed: (\d+)', out)
    return int(m.group(1)) / int(secs + 1) if m else 0


def condition(port, sha, job_sha, how, F, C, D, W, rate, I, S, H):
    hogs = busy_loops(H) if how == 'hogs' else []
    ins = inserts(S + 0.3, I) if how == 'inserts' else None
    stop, delivered = mp.Event(), mp.Value('q', 0)
    p = mp.Process(target=fanout, args=(port, sha, F, C, D, W, rate, stop, delivered))
    try:
        p.start()
        time.sleep(0.3)                       # fan-out running
        s = connect(port)
        r = Replies(s)
        lat, i, t_start = [], 0, time.perf_counter()
        next_t = t_start
        while time.perf_counter() - t_start < S:
            lat.append(publish_once(s, r, sha, job_sha, i))
            i += 1
            next_t += I / 1e3
            pause = next_t - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        secs = time.perf_counter() - t_start
        stop.set()
        p.join()
        s.close()
    finally:
        for h in hogs:
            h.kill()
        ins_rate = inserts_done(*ins) if ins else 0
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    return (f"{how:5s}: {len(lat)} publishes, round trips p50 {q(0.5):.2f} / p99 {q(0.99):.2f}"
            f" / max {lat[-1]:.2f} ms; fan-out {delivered.value / (secs + 0.3):.0f} deliveries/s"
            f" meanwhile" + (f"; {ins_rate:.0f} INSERTs/s" if ins else ""))


if __name__ == '__main__':
    port = int(os.environ['RPORT'])
    F, N = int(os.environ.get('F', 1000)), int(os.environ.get('N', 300))
    C, D, W = int(os.environ.get('C', 16)), int(os.environ.get('D', 27)), int(os.environ.get('W', 8))
    I, S, H = float(os.environ.get('I', 1.0)), float(os.environ.get('S', 3)), int(os.environ.get('H', 4))
    rate = float(os.environ.get('RATE', 0))
    setup(F, N, 'push')
    texts = scripts(None)
    sha = cli('SCRIPT', 'LOAD', texts['feed_script_push']).strip()
    job_sha = cli('SCRIPT', 'LOAD', texts['feed_script_publish_job']).strip()
    # The authors' follower counts cached (27 followers: no celebrity),
    # as for nearly every publish of the bench's runs.
    conn = connect(port)
    conn.sendall(b''.join(resp('SET', 'fc:fcount:{%d}' % u, 27) for u in range(1, 1001)))
    replies = Replies(conn)
    for _ in range(1000):
        replies.one()
    conn.close()
    for r in range(int(os.environ.get('R', 1))):
        for how in os.environ.get('V', 'alone hogs').split():
            print(f"round {r} " + condition(port, sha, job_sha, how, F, C, D, W, rate, I, S, H),
                  flush=True)
