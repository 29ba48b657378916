"""What the integration tests need around the client: a PostgreSQL database
of their own, feedcached processes on free ports, Redis access for the odd
direct write.

Environment (tests/integration/test_python_client.sh sets it; meson passes
FEEDCACHED, scripts/test.sh or scripts/services.sh's env file the rest):

  FEEDCACHED                path of the feedcached binary under test
  FEEDCACHE_TEST_PG         libpq conninfo (keywords) of a PostgreSQL where
                            databases and roles may be created
  FEEDCACHE_TEST_REDIS_URL  Redis URL for feedcached (redis://, unix://,
                            redis-cluster://); default redis://127.0.0.1:6379/0
  FEEDCACHE_SOURCE_ROOT     the repository (for sql/schema.sql and
                            scripts/demo-data.sql); default: found from here
  FEEDCACHE_PYTEST_REQUIRE  when 1, a missing FEEDCACHED/FEEDCACHE_TEST_PG
                            fails the integration tests instead of skipping
  FEEDCACHE_TEST_KEEP_LOGS  when set, daemon logs are kept (paths printed)

Without FEEDCACHED or FEEDCACHE_TEST_PG the integration tests skip (the
unit tests of the package still run).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Dict, List, Optional, Sequence
from urllib.parse import unquote, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # clients/python, for `import feedcache`

import feedcache  # noqa: E402

SOURCE_ROOT = os.environ.get("FEEDCACHE_SOURCE_ROOT") or os.path.normpath(
    os.path.join(HERE, "..", "..", "..")
)
REDIS_URL = os.environ.get("FEEDCACHE_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
IS_CLUSTER = REDIS_URL.startswith("redis-cluster://")
#: A tag that is this run's own: databases, roles and key prefixes carry it.
TAG = f"{os.getpid()}"


def require_integration() -> None:
    """SkipTest (or a failure, with FEEDCACHE_PYTEST_REQUIRE=1) when the
    environment cannot run feedcached."""
    missing = [v for v in ("FEEDCACHED", "FEEDCACHE_TEST_PG") if not os.environ.get(v)]
    tools = [t for t in ("psql",) if shutil.which(t) is None]
    why = ""
    if missing:
        why = f"{' and '.join(missing)} not set (tests/integration/test_python_client.sh sets them)"
    elif tools:
        why = f"{', '.join(tools)} not installed"
    if why:
        if os.environ.get("FEEDCACHE_PYTEST_REQUIRE") == "1":
            raise RuntimeError(why)
        raise unittest.SkipTest(why)


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_until(pred, timeout: float, what: str, interval: float = 0.05):
    """pred()'s first truthy value within timeout seconds, else AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


# --- PostgreSQL ------------------------------------------------------------------


def _pg_base() -> str:
    return os.environ["FEEDCACHE_TEST_PG"]


def conninfo(dbname: str, extra: str = "") -> str:
    """FEEDCACHE_TEST_PG with another dbname (the last keyword wins)."""
    return f"{_pg_base()} dbname={dbname}" + (f" {extra}" if extra else "")


def psql(db: str, sql: Optional[str] = None, files: Sequence[str] = ()) -> str:
    """Runs SQL (and/or files) with psql on database db; returns its
    unaligned, tuples-only output. Raises AssertionError with psql's
    message on failure."""
    cmd = ["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", conninfo(db)]
    for f in files:
        cmd += ["-f", f]
    if sql is not None:
        cmd += ["-c", sql]
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"psql on {db} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ts(ms: int) -> str:
    """A timestamptz literal for ms since the epoch, exact to the ms."""
    return f"(timestamptz 'epoch' + {int(ms)} * interval '1 millisecond')"


class Database:
    """A database of this run: the schema, the demo graph
    (scripts/demo-data.sql: users 1..1000) when asked, dropped by drop()."""

    def __init__(self, name: str, demo: bool = False) -> None:
        self.name = name
        psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        psql("postgres", f"CREATE DATABASE {name}")
        files = [os.path.join(SOURCE_ROOT, "sql", "schema.sql")]
        if demo:
            files.append(os.path.join(SOURCE_ROOT, "scripts", "demo-data.sql"))
        psql(name, files=files)

    def conninfo(self, extra: str = "") -> str:
        return conninfo(self.name, extra)

    def sql(self, sql: str) -> str:
        return psql(self.name, sql)

    def rows(self, sql: str) -> List[List[str]]:
        return [line.split("|") for line in self.sql(sql).splitlines() if line]

    def add_users(self, ids: Sequence[int]) -> None:
        self.sql("INSERT INTO users (id, handle) SELECT u, 'py' || u FROM unnest(ARRAY["
                 + ",".join(str(i) for i in ids) + "]::bigint[]) AS u ON CONFLICT DO NOTHING")

    def add_follow(self, follower: int, followee: int) -> None:
        self.sql(f"INSERT INTO follows (follower_id, followee_id) VALUES ({follower}, {followee})"
                 " ON CONFLICT DO NOTHING")

    def add_post(self, id: int, author: int, created_ms: int, body: str) -> None:
        self.sql(f"INSERT INTO posts (id, author_id, created_at, body) VALUES "
                 f"({id}, {author}, {ts(created_ms)}, {sql_str(body)})")

    def timeline(self, user: int) -> List[Dict[str, object]]:
        """The contract's definition of the home timeline, from the tables:
        own and followees' posts, not deleted, newest first by
        (created_at, id)."""
        rows = self.rows(
            "SELECT id, author_id, (extract(epoch FROM created_at) * 1000)::bigint, body "
            "FROM posts WHERE deleted_at IS NULL AND (author_id = " + str(user) +
            " OR author_id IN (SELECT followee_id FROM follows WHERE follower_id = "
            + str(user) + ")) ORDER BY created_at DESC, id DESC")
        return [{"id": int(r[0]), "author_id": int(r[1]), "created_at": int(r[2]), "body": r[3]}
                for r in rows]

    def drop(self) -> None:
        try:
            psql("postgres", f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        except AssertionError as e:
            print(f"warning: {e}", file=sys.stderr)


# --- Redis (direct, for what the RPC cannot do) --------------------------------------


def redis_cli_args(url: str = REDIS_URL) -> Optional[List[str]]:
    """redis-cli arguments reaching the Redis (or a seed of the cluster) of
    url, or None (no redis-cli, or a URL form this does not handle)."""
    if shutil.which("redis-cli") is None:
        return None
    if url.startswith("unix://"):
        u = urlsplit(url)
        q = dict(p.split("=", 1) for p in u.query.split("&") if "=" in p)
        args = ["redis-cli", "-s", u.path, "-n", q.get("db", "0")]
        if "password" in q:
            args += ["--no-auth-warning", "-a", unquote(q["password"])]
        if "user" in q:
            args += ["--user", unquote(q["user"])]
        return args
    m = re.match(r"^(redis|redis-cluster)://(?:([^@/]*)@)?([^/?]+)(?:/(\d+))?$", url)
    if not m:
        return None
    scheme, userinfo, hosts, db = m.groups()
    first = hosts.split(",")[0]
    hm = re.match(r"^\[([^\]]+)\](?::(\d+))?$", first) or re.match(r"^([^:]+)(?::(\d+))?$", first)
    if not hm:
        return None
    args = ["redis-cli", "-h", hm.group(1), "-p", hm.group(2) or "6379"]
    if scheme == "redis-cluster":
        args.append("-c")
    elif db:
        args += ["-n", db]
    if userinfo:
        user, sep, password = userinfo.rpartition(":") if ":" in userinfo else ("", "", userinfo)
        if user:
            args += ["--user", unquote(user)]
        args += ["--no-auth-warning", "-a", unquote(password)]
    return args


def redis_cmd(*cmd: str, url: str = REDIS_URL) -> str:
    args = redis_cli_args(url)
    if args is None:
        raise unittest.SkipTest(f"no redis-cli, or a Redis URL it cannot reach: {url}")
    r = subprocess.run(args + list(cmd), capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or r.stdout.startswith("(error)") or r.stdout.startswith("ERR"):
        raise AssertionError(f"redis-cli {' '.join(cmd[:2])}: {r.stdout.strip()} {r.stderr.strip()}")
    return r.stdout


def redis_drop_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """Best effort: removes the keys under prefix (on every master of a
    cluster), so that a run leaves nothing behind."""
    base = redis_cli_args(url)
    if base is None:
        return
    try:
        nodes = [base]
        if "-c" in base:
            out = subprocess.run(base + ["CLUSTER", "NODES"], capture_output=True, text=True,
                                 timeout=10).stdout
            nodes = []
            for line in out.splitlines():
                f = line.split()
                if len(f) > 2 and "master" in f[2] and "fail" not in f[2]:
                    host, _, port = f[1].split("@")[0].rpartition(":")
                    nodes.append(["redis-cli", "-c", "-h", host or "127.0.0.1", "-p", port]
                                 + [a for a in base[5:] if a != "-c"])
        for node in nodes:
            keys = subprocess.run(node + ["--scan", "--pattern", prefix + "*"],
                                  capture_output=True, text=True, timeout=30).stdout.split()
            if keys:
                # One UNLINK per line on stdin: keys of different slots
                # cannot share a command on a cluster.
                subprocess.run(node, input="".join(f"UNLINK {k}\n" for k in keys),
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"warning: cleaning Redis keys {prefix}*: {e}", file=sys.stderr)


# --- feedcached ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies (PR_SET_PDEATHSIG),
    so that a crashed test leaves no daemon behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Daemon:
    """feedcached on a free 127.0.0.1 port (metrics off), its own key
    prefix, stdout+stderr in a temp file. Ready once ping answers."""

    def __init__(self, name: str, pg: str, redis: str = REDIS_URL,
                 extra: Sequence[str] = (), env: Optional[Dict[str, str]] = None,
                 ready_timeout: float = 20.0) -> None:
        self.name = name
        self.prefix = f"fcpy{TAG}{name}:"
        self.redis = redis
        self.proc: Optional[subprocess.Popen] = None
        fd, self.log_path = tempfile.mkstemp(prefix=f"fc-py-{name}.", suffix=".log")
        os.close(fd)
        for attempt in range(3):
            self.port = free_port()
            self.addr = f"127.0.0.1:{self.port}"
            argv = [os.environ["FEEDCACHED"], "--listen", self.addr, "--metrics-listen", "off",
                    "--redis", redis, "--pg", pg, "--key-prefix", self.prefix, *extra]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                             env=dict(os.environ, **(env or {})))
            if self._wait_ready(ready_timeout):
                return
            if self.proc.poll() == 1 and attempt < 2:  # the port was taken meanwhile?
                continue
            raise AssertionError(f"feedcached {name} did not start: {self.status()}\n{self.log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with feedcache.connect(self.addr, timeout=2) as c:
                    if c.ping() == "pong":
                        return True
            except feedcache.FeedcacheError:
                pass
            time.sleep(0.05)
        return False

    def connect(self, **kw) -> feedcache.Connection:
        kw.setdefault("timeout", 15)
        return feedcache.connect(self.addr, **kw)

    def status(self) -> str:
        rc = self.proc.poll() if self.proc else None
        return "running" if rc is None else f"exited {rc}"

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, "r", errors="replace") as f:
                lines = f.readlines()
        except OSError:
            return "(no log)"
        return f"--- last lines of feedcached {self.name}'s log:\n" + "".join(lines[-n:])

    def signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, check: bool = True) -> Optional[int]:
        """SIGTERM and wait (SIGKILL after 12 s). With check, anything but
        a clean exit 0 (a crash, an ASan report) is an AssertionError."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(12)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
                if check:
                    raise AssertionError(f"feedcached {self.name} still running 12 s after "
                                         f"SIGTERM\n{self.log_tail()}")
        if check and rc != 0:
            raise AssertionError(f"feedcached {self.name} exited {rc} after SIGTERM, want 0\n"
                                 f"{self.log_tail()}")
        return rc

    def cleanup(self) -> None:
        """Kills the process if still running, removes the log (unless
        FEEDCACHE_TEST_KEEP_LOGS) and the Redis keys of its prefix."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if os.environ.get("FEEDCACHE_TEST_KEEP_LOGS"):
            print(f"feedcached {self.name} log: {self.log_path}", file=sys.stderr)
        else:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass
        if self.redis == REDIS_URL:
            redis_drop_prefix(self.prefix)
