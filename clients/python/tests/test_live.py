"""The client against a real feedcached (started here, on free ports), a
real Redis (FEEDCACHE_TEST_REDIS_URL: a single Redis or a cluster) and a
real PostgreSQL database of this run's own, holding sql/schema.sql, the
demo graph (scripts/demo-data.sql, users 1..1000) and a small graph of
ours (users 5001..5014, 5100..5399) whose timelines the tests check against
the contract's definition computed from the tables.

Daemons: `main` (celebrity_threshold 300) for the methods, errors and
pipelining; `auth` (an auth_tokens_file); `shed` (admission fixed,
max_inflight 1: OVERLOADED); `dead` (Redis and PostgreSQL ports nobody
listens on: UNAVAILABLE); `restricted` (PostgreSQL as a role whose SELECT
on posts is revoked mid-test: INTERNAL); `victim` (stopped, killed:
timeouts and connection loss).
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
import unittest

import support as S
from support import feedcache

# --- the graph ---------------------------------------------------------------------

T0 = 1767225600000  # 2026-01-01T00:00:00Z in ms
POST_BASE = 9_000_000_000_000
WALKER = 5011  # follows AUTHOR (45 posts, ties on created_at), 2 posts of its own
AUTHOR = 5002
FOLLOWER = 5012  # follows nobody at first; follows/unfollows OTHER
OTHER = 5003  # 3 posts
PUBLISHER = 5004  # followed by PUB_READER; its posts are published by the tests
PUB_READER = 5013
CELEB = 5005  # 300 followers (5100..5399) + CELEB_READER: celebrity mode
CELEB_READER = 5014
CELEB_THRESHOLD = 300

DB: S.Database
MAIN: S.Daemon
_next_post = [POST_BASE + 10_000]


def new_post_id() -> int:
    _next_post[0] += 1
    return _next_post[0]


def make_graph(db: S.Database) -> None:
    db.add_users([5001, AUTHOR, OTHER, PUBLISHER, CELEB, WALKER, FOLLOWER, PUB_READER,
                  CELEB_READER] + list(range(5100, 5400)))
    sql = []
    for i in range(45):
        created = T0 + (20_000 if 20 <= i <= 22 else i * 1000)  # three posts share a time
        sql.append(f"({POST_BASE + i}, {AUTHOR}, {S.ts(created)}, 'author post {i}')")
    sql.append(f"({POST_BASE + 100}, {WALKER}, {S.ts(T0 + 10_500)}, 'walker own 1')")
    sql.append(f"({POST_BASE + 101}, {WALKER}, {S.ts(T0 + 20_000)}, 'walker own 2')")  # ties too
    for i in range(3):
        sql.append(f"({POST_BASE + 200 + i}, {OTHER}, {S.ts(T0 + 5_000 + i)}, 'other post {i}')")
    db.sql("INSERT INTO posts (id, author_id, created_at, body) VALUES " + ",".join(sql))
    db.sql(f"INSERT INTO follows (follower_id, followee_id) VALUES ({WALKER}, {AUTHOR}), "
           f"({PUB_READER}, {PUBLISHER}), ({CELEB_READER}, {CELEB})")
    db.sql(f"INSERT INTO follows (follower_id, followee_id) "
           f"SELECT f, {CELEB} FROM generate_series(5100, 5399) AS f")


def setUpModule() -> None:
    global DB, MAIN
    S.require_integration()
    DB = S.Database(f"fc_py_{S.TAG}", demo=True)
    try:
        make_graph(DB)
        MAIN = S.Daemon("main", DB.conninfo(),
                        extra=["--celebrity-threshold", str(CELEB_THRESHOLD)])
    except BaseException:
        DB.drop()
        raise


def tearDownModule() -> None:
    try:
        MAIN.stop()
    finally:
        MAIN.cleanup()
        DB.drop()


def page_posts(page):
    return [p["id"] for p in page["posts"]]


class LiveCase(unittest.TestCase):
    daemon = None  # the class's daemon; MAIN when None

    def setUp(self) -> None:
        d = self.daemon or MAIN
        self.conn = d.connect()
        self.addCleanup(self.conn.close)

    def run(self, result=None):
        # On a failure, show the daemon's log.
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            print((self.daemon or MAIN).log_tail(), flush=True)
        return out

    def assertOk(self, answer) -> None:
        self.assertEqual(answer, {"ok": True})


# --- every method -----------------------------------------------------------------


class MethodsTest(LiveCase):
    def test_ping(self):
        self.assertEqual(self.conn.ping(), "pong")

    def test_auth_without_tokens_file_is_admin(self):
        self.assertEqual(self.conn.auth("anything"), {"role": "admin"})

    def test_stats(self):
        s = self.conn.stats()
        for key in ("feed_cache_hits", "feed_cache_misses", "post_cache_hits",
                    "post_cache_misses", "feed_rebuilds", "pg_fallbacks", "fanout_posts",
                    "fanout_deliveries", "fanout_queue_depth"):
            self.assertIn(key, s)
        for key, v in s.items():
            self.assertIsInstance(v, int, key)
            self.assertNotIsInstance(v, bool, key)
        self.assertOk(self.conn.timeline_invalidate(WALKER))
        self.conn.timeline_get(WALKER)
        self.assertGreater(self.conn.stats()["feed_rebuilds"], s["feed_rebuilds"])

    def test_timeline_cursor_walk_matches_the_tables(self):
        want = DB.timeline(WALKER)
        self.assertEqual(len(want), 47)
        got, cursor, pages = [], None, 0
        while True:
            page = self.conn.timeline_get(WALKER, limit=7, cursor=cursor)
            pages += 1
            self.assertEqual(set(page), {"posts", "next_cursor", "source", "degraded"})
            self.assertIn(page["source"], ("cache", "rebuilt", "db"))
            self.assertIs(page["degraded"], False)
            self.assertLessEqual(len(page["posts"]), 7)
            self.assertTrue(page["posts"], "a non-nil cursor led to an empty page")
            got += page["posts"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
        self.assertEqual(pages, 7)  # 6 pages of 7, then 5
        self.assertEqual(got, want)  # ids, authors, created_at in ms, bodies; ties by id
        self.assertEqual(list(self.conn.iter_timeline(WALKER, limit=20)), want)

    def test_timeline_hydrate_false(self):
        page = self.conn.timeline_get(WALKER, limit=10, hydrate=False)
        self.assertEqual(len(page["posts"]), 10)
        for p in page["posts"]:
            self.assertEqual(set(p), {"id", "author_id", "created_at"})
        want = DB.timeline(WALKER)[:10]
        self.assertEqual(page["posts"],
                         [{k: p[k] for k in ("id", "author_id", "created_at")} for p in want])

    def test_timeline_invalidate_then_rebuilt(self):
        self.conn.timeline_get(WALKER, limit=3)
        self.assertEqual(self.conn.timeline_get(WALKER, limit=3)["source"], "cache")
        self.assertOk(self.conn.timeline_invalidate(WALKER))
        self.assertEqual(self.conn.timeline_get(WALKER, limit=3)["source"], "rebuilt")
        self.assertEqual(self.conn.timeline_get(WALKER, limit=3)["source"], "cache")

    def test_notification_is_executed_in_order(self):
        self.conn.timeline_get(WALKER, limit=3)
        self.conn.notify("timeline.invalidate", {"user_id": WALKER})
        # Processed in arrival order: the read after it rebuilds.
        self.assertEqual(self.conn.timeline_get(WALKER, limit=3)["source"], "rebuilt")

    def _publish(self, author: int, body: str):
        pid, created = new_post_id(), S.now_ms()
        DB.add_post(pid, author, created, body)  # the API commits first...
        answer = self.conn.post_publish(pid, author, created, body=body)  # ...then tells
        return pid, created, answer

    def test_publish_shows_on_the_authors_and_followers_timelines(self):
        pid, created, answer = self._publish(PUBLISHER, "hello from python")
        self.assertEqual(answer, {"queued": True, "mode": "fanout"})
        # Read-your-writes: the first read after the answer shows it.
        top = self.conn.timeline_get(PUBLISHER, limit=1)["posts"][0]
        self.assertEqual(top, {"id": pid, "author_id": PUBLISHER, "created_at": created,
                               "body": "hello from python"})
        # Fan-out is asynchronous: the follower sees it soon.
        S.wait_until(lambda: pid in page_posts(self.conn.timeline_get(PUB_READER, limit=5)),
                     10, "the published post on the follower's timeline")
        self.assertEqual(self.conn.timeline_get(PUB_READER)["posts"], DB.timeline(PUB_READER))

    def test_publish_celebrity_mode(self):
        pid, _, answer = self._publish(CELEB, "a celebrity speaks")
        self.assertEqual(answer, {"queued": True, "mode": "celebrity"})
        page = self.conn.timeline_get(CELEB_READER, limit=5)
        self.assertEqual(page["posts"][0]["id"], pid)  # merged at read time
        self.assertEqual(page["posts"], DB.timeline(CELEB_READER)[:5])

    def test_publish_accepts_an_aware_datetime(self):
        import datetime as dt
        pid = new_post_id()
        when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)
        ms = feedcache.to_ms(when)
        self.assertEqual(ms, 1767323045678)
        DB.add_post(pid, PUBLISHER, ms, "dated")
        self.assertEqual(self.conn.post_publish(pid, PUBLISHER, when)["mode"], "fanout")
        posts = list(self.conn.iter_timeline(PUBLISHER, limit=50))
        self.assertIn({"id": pid, "author_id": PUBLISHER, "created_at": ms, "body": "dated"}, posts)

    def test_post_update(self):
        pid, _, _ = self._publish(PUBLISHER, "before")
        DB.sql(f"UPDATE posts SET body = 'after' WHERE id = {pid}")
        self.assertOk(self.conn.post_update(pid, "after"))
        top = self.conn.timeline_get(PUBLISHER, limit=1)["posts"][0]
        self.assertEqual((top["id"], top["body"]), (pid, "after"))

    def test_post_delete(self):
        pid, _, _ = self._publish(PUBLISHER, "soon gone")
        S.wait_until(lambda: pid in page_posts(self.conn.timeline_get(PUB_READER, limit=5)),
                     10, "the post on the follower's timeline")
        DB.sql(f"UPDATE posts SET deleted_at = now() WHERE id = {pid}")
        self.assertOk(self.conn.post_delete(pid, PUBLISHER))
        self.assertNotIn(pid, page_posts(self.conn.timeline_get(PUBLISHER, limit=50)))
        self.assertNotIn(pid, page_posts(self.conn.timeline_get(PUB_READER, limit=50)))

    def test_follow_unfollow(self):
        other = {POST_BASE + 200 + i for i in range(3)}
        self.assertFalse(other & set(page_posts(self.conn.timeline_get(FOLLOWER, limit=50))))
        DB.add_follow(FOLLOWER, OTHER)
        self.assertOk(self.conn.follow(FOLLOWER, OTHER))
        page = self.conn.timeline_get(FOLLOWER, limit=50)
        self.assertEqual(set(page_posts(page)), other)
        self.assertEqual(page["posts"], DB.timeline(FOLLOWER))
        DB.sql(f"DELETE FROM follows WHERE follower_id = {FOLLOWER} AND followee_id = {OTHER}")
        self.assertOk(self.conn.unfollow(FOLLOWER, OTHER))
        self.assertEqual(self.conn.timeline_get(FOLLOWER, limit=50)["posts"], [])

    def _wait_job(self, job: str, timeout: float = 30):
        def finished():
            st = self.conn.warm_status(job)
            self.assertIn(st["state"], ("running", "paused", "finished"), st)
            return st if st["state"] == "finished" else None
        return S.wait_until(finished, timeout, f"warm job {job} finished", interval=0.1)

    def test_warm_user_ids(self):
        job = self.conn.warm(user_ids=[WALKER, FOLLOWER, WALKER], rate=1000)
        self.assertEqual(set(job), {"job", "users"})
        self.assertIsInstance(job["job"], str)
        self.assertEqual(job["users"], 2)  # distinct ids
        st = self._wait_job(job["job"])
        self.assertEqual((st["done"], st["total"]), (2, 2))
        self.assertIsInstance(st.get("started_ms"), int)
        self.assertIsInstance(st.get("updated_ms"), int)

    def test_warm_active_within(self):
        active = int(DB.sql("SELECT count(*) FROM users "
                            "WHERE last_active_at > now() - interval '1 day'"))
        self.assertGreater(active, 0)
        job = self.conn.warm(active_within_s=86400, rate=2000)
        self.assertEqual(job["users"], active)
        st = self._wait_job(job["job"])
        self.assertEqual(st["done"], st["total"])

    def test_fanout_dead_letters_and_retry(self):
        self.assertEqual(self.conn.fanout_dead_letters(),
                         {"total": 0, "dead_letters": [], "next": None})
        self.assertEqual(self.conn.fanout_retry(all=True), {"requeued": 0, "remaining": 0})
        # A malformed job, written straight into shard 0 of the fan-out
        # queue, is dead-lettered at once.
        S.redis_cmd("XADD", f"{MAIN.prefix}{{fanout}}", "*", "t", "x", "junk", "1")
        dl = S.wait_until(lambda: self.conn.fanout_dead_letters(limit=10)["dead_letters"], 15,
                          "the malformed job in the dead letters")
        self.assertEqual(len(dl), 1)
        d = dl[0]
        self.assertEqual(set(d), {"id", "job", "type", "post", "author", "attempts", "reason",
                                  "at_ms"})
        self.assertIn("malformed", d["reason"])
        # The entry's own fields as far as it has them: its "t" is "x", it
        # has no post or author. (PROTOCOL.md says type is nil for a
        # malformed job; feedcached gives the t field when there is one.)
        self.assertEqual((d["type"], d["post"], d["author"]), ("x", None, None))
        self.assertIsInstance(d["id"], str)
        self.assertIsInstance(d["job"], str)
        self.assertIsInstance(d["at_ms"], int)
        self.assertLess(abs(d["at_ms"] - S.now_ms()), 60_000)
        after = self.conn.fanout_dead_letters(after=d["id"])
        self.assertEqual((after["total"], after["dead_letters"]), (1, []))
        answer = self.conn.fanout_retry(d["id"])
        self.assertEqual(answer["requeued"], 1)
        self.assertIn(answer["remaining"], (0, 1))
        # Still malformed: dead-lettered again, under a new id.
        again = S.wait_until(
            lambda: [x for x in self.conn.fanout_dead_letters()["dead_letters"]
                     if x["id"] != d["id"]], 15, "the requeued job dead-lettered again")
        self.assertEqual(self.conn.fanout_retry(all=True)["requeued"], len(again))
        with self.assertRaises(feedcache.NotFoundError):
            self.conn.fanout_retry(d["id"])  # gone from the stream

    def test_generic_call(self):
        self.assertEqual(self.conn.call("ping"), "pong")
        page = self.conn.call("timeline.get", {"user_id": WALKER, "limit": 2, "extra": 1})
        self.assertEqual(len(page["posts"]), 2)  # unknown keys are ignored


# --- errors ---------------------------------------------------------------------


class ErrorsTest(LiveCase):
    def assertRpc(self, cls, fn, *args, message=None, **kw):
        with self.assertRaises(cls) as cm:
            fn(*args, **kw)
        e = cm.exception
        self.assertIsInstance(e, feedcache.RPCError)
        self.assertIsInstance(e, feedcache.FeedcacheError)
        self.assertEqual(e.code, cls.CODE)
        self.assertIsInstance(e.message, str)
        if message is not None:
            self.assertEqual(e.message, message)
        self.assertEqual(self.conn.ping(), "pong")  # the connection stays usable
        return e

    def test_bad_request_bad_cursor(self):
        e = self.assertRpc(feedcache.BadRequestError, self.conn.timeline_get, WALKER,
                           cursor="not-a-cursor")
        self.assertTrue(e.message.startswith("cursor"), e.message)
        self.assertIsNone(e.retry_after_ms)
        self.assertEqual(e.method, "timeline.get")
        self.assertIn("BAD_REQUEST", str(e))

    def test_bad_request_cursor_of_another_user(self):
        cursor = self.conn.timeline_get(WALKER, limit=2)["next_cursor"]
        self.assertIsNotNone(cursor)
        self.assertRpc(feedcache.BadRequestError, self.conn.timeline_get, FOLLOWER, cursor=cursor)

    def test_bad_request_names_the_field(self):
        self.assertRpc(feedcache.BadRequestError, self.conn.timeline_get, WALKER, limit=0,
                       message="limit: must be in 1..200")
        self.assertRpc(feedcache.BadRequestError, self.conn.call, "timeline.get", {},
                       message="user_id: required")
        self.assertRpc(feedcache.BadRequestError, self.conn.timeline_get, WALKER, hydrate=1)
        self.assertRpc(feedcache.BadRequestError, self.conn.warm)  # neither argument

    def test_not_found(self):
        self.assertRpc(feedcache.NotFoundError, self.conn.call, "no.such.method",
                       message="unknown method 'no.such.method'")
        e = self.assertRpc(feedcache.NotFoundError, self.conn.warm_status, "nojob")
        self.assertIn("nojob", e.message)
        self.assertRpc(feedcache.NotFoundError, self.conn.fanout_retry, "1-1")


# --- pipelining -------------------------------------------------------------------


class PipelineTest(LiveCase):
    def test_many_calls_in_flight_matched_by_msgid(self):
        users = [WALKER] + list(range(6, 96))
        limit = {u: 3 + u % 17 for u in users}
        # Warm the feeds and post hashes first: a pipeline of cold reads
        # would be shed (max_rebuilds), which is right but not this test.
        want = {u: self.conn.timeline_get(u, limit=limit[u]) for u in users}
        p = self.conn.pipeline()
        calls = []
        for i, u in enumerate(users):
            calls.append(("page", u, p.timeline_get(u, limit=limit[u])))
            if i % 10 == 0:
                calls.append(("ping", None, p.ping()))
            if i % 30 == 0:
                calls.append(("stats", None, p.stats()))
                calls.append(("bad", None, p.call("no.such.method")))
                calls.append(("cursor", None, p.timeline_get(u, cursor="bogus")))
        self.assertEqual(self.conn.in_flight, len(calls))  # nothing answered yet
        self.assertGreater(len(calls), 100)
        self.assertEqual(len({c[2].msgid for c in calls}), len(calls))
        p.wait()
        self.assertEqual(self.conn.in_flight, 0)
        for kind, u, pending in calls:
            self.assertTrue(pending.done())
            if kind == "page":
                got = pending.result()
                self.assertFalse(got["degraded"])
                self.assertEqual((got["posts"], got["next_cursor"]),
                                 (want[u]["posts"], want[u]["next_cursor"]), f"user {u}")
            elif kind == "ping":
                self.assertEqual(pending.result(), "pong")
            elif kind == "stats":
                self.assertIn("feed_cache_hits", pending.result())
            elif kind == "bad":
                self.assertIsInstance(pending.exception(), feedcache.NotFoundError)
            else:
                self.assertIsInstance(pending.exception(), feedcache.BadRequestError)

    def test_pipeline_larger_than_the_socket_buffers(self):
        # ~3 MB of requests, none read by the server before the client has
        # written them all: the client must read answers while it writes.
        # warm.status is never shed, and its NOT_FOUND names the job, so
        # every answer proves which call it belongs to.
        n = 3000
        with self.conn.pipeline() as p:
            for i in range(n):
                p.warm_status(f"j{i}-" + "x" * 900)
        self.assertEqual(len(p.calls), n)
        for i, (e, pending) in enumerate(zip(p.results(return_exceptions=True), p.calls)):
            self.assertIsInstance(e, feedcache.NotFoundError)
            self.assertIn(f"'j{i}-x", e.message)
            self.assertIs(pending.exception(), e)


# --- authentication ---------------------------------------------------------------


class AuthTest(LiveCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="fc-py-auth.")
        cls.tokens = {r: os.urandom(16).hex() for r in ("read", "write", "admin")}
        server_file = os.path.join(cls.tmp.name, "tokens")
        with open(server_file, "w") as f:
            f.write("# roles and tokens\n")
            for role, tok in cls.tokens.items():
                f.write(f"{role} {tok}\n")
        cls.daemon = S.Daemon("auth", DB.conninfo(), extra=["--auth-tokens-file", server_file])

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()
            cls.tmp.cleanup()

    def token_file(self, text: str) -> str:
        fd, path = tempfile.mkstemp(dir=self.tmp.name)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def test_unauthenticated(self):
        self.assertEqual(self.conn.ping(), "pong")  # allowed before auth
        self.assertIsNone(self.conn.role)
        with self.assertRaises(feedcache.UnauthorizedError) as cm:
            self.conn.timeline_get(WALKER)
        self.assertEqual(cm.exception.code, "UNAUTHORIZED")
        with self.assertRaises(feedcache.UnauthorizedError):
            self.conn.call("no.such.method")  # unknown names too, before auth

    def test_refused_token_and_three_strikes(self):
        wrong = "wrong-" + self.tokens["admin"]
        for strike in range(3):
            with self.assertRaises(feedcache.UnauthorizedError) as cm:
                self.conn.auth(wrong)
            self.assertNotIn(wrong, str(cm.exception))
        # The third refusal closes the connection after its answer.
        with self.assertRaises(feedcache.ConnectionLostError) as cm:
            self.conn.ping()
        self.assertIn("lost", str(cm.exception))
        self.assertTrue(self.conn.closed)

    def test_connect_with_a_refused_token(self):
        with self.assertRaises(feedcache.UnauthorizedError):
            self.daemon.connect(token="nope")

    def test_read_role_from_a_role_token_file(self):
        path = self.token_file(f"# copied from the server's file\n\nread {self.tokens['read']}\n")
        with self.daemon.connect(token_file=path) as c:
            self.assertEqual(c.role, "read")
            self.assertEqual(c.timeline_get(WALKER, limit=3)["posts"], DB.timeline(WALKER)[:3])
            self.assertIn("feed_cache_hits", c.stats())
            with self.assertRaises(feedcache.ForbiddenError) as cm:
                c.post_publish(new_post_id(), PUBLISHER, S.now_ms())
            self.assertEqual(cm.exception.code, "FORBIDDEN")
            with self.assertRaises(feedcache.ForbiddenError):
                c.fanout_dead_letters()
            # A later auth with another token changes the role.
            self.assertEqual(c.auth(self.tokens["admin"]), {"role": "admin"})
            self.assertEqual(c.fanout_dead_letters()["total"], 0)

    def test_write_role_from_a_bare_token_file(self):
        path = self.token_file(f"  {self.tokens['write']}  \n")
        with self.daemon.connect(token_file=path) as c:
            self.assertEqual(c.role, "write")
            self.assertOk(c.timeline_invalidate(WALKER))
            with self.assertRaises(feedcache.ForbiddenError):
                c.warm(user_ids=[WALKER])

    def test_admin_token(self):
        with self.daemon.connect(token=self.tokens["admin"]) as c:
            self.assertEqual(c.role, "admin")
            self.assertEqual(c.fanout_retry(all=True), {"requeued": 0, "remaining": 0})

    def test_unreadable_token_file(self):
        with self.assertRaises(feedcache.TokenFileError):
            self.daemon.connect(token_file=os.path.join(self.tmp.name, "missing"))


# --- OVERLOADED, UNAVAILABLE, INTERNAL and the retry helper against the real thing -----


class OverloadedTest(LiveCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = S.Daemon("shed", DB.conninfo(),
                              extra=["--admission", "fixed", "--max-inflight", "1"])

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()

    def test_overloaded_carries_retry_after_ms(self):
        with self.conn.pipeline() as p:
            for u in range(100, 140):
                p.timeline_get(u)
        errors = [e for e in p.results(return_exceptions=True) if isinstance(e, Exception)]
        self.assertTrue(errors, "40 calls in flight with max_inflight 1: none shed")
        for e in errors:
            self.assertIsInstance(e, feedcache.OverloadedError)
            self.assertIsInstance(e, feedcache.RetryableError)
            self.assertIsInstance(e.retry_after_ms, int)
            self.assertTrue(0 < e.retry_after_ms <= 7500, e.retry_after_ms)
        self.assertEqual(self.conn.ping(), "pong")

    def test_retry_policy_rides_out_the_shedding(self):
        # Another connection keeps the single slot busy with a pipeline;
        # calls made under the policy still succeed, waiting as told.
        waits = []
        policy = feedcache.RetryPolicy(max_attempts=100, max_elapsed_s=30,
                                       on_retry=lambda e, n, d: waits.append((e, d)))
        with self.daemon.connect() as busy:
            hog = busy.pipeline()
            for u in range(200, 300):
                hog.timeline_get(u)
            busy.flush()
            for u in (WALKER, FOLLOWER, PUB_READER):
                page = policy.call(self.conn.timeline_get, u, limit=50)
                self.assertEqual(page["posts"], DB.timeline(u)[:50])
            hog.wait()
        for e, delay in waits:
            self.assertIsInstance(e, feedcache.OverloadedError)
            self.assertEqual(delay, min(e.retry_after_ms, policy.max_delay_ms) / 1000)


class UnavailableTest(LiveCase):
    @classmethod
    def setUpClass(cls):
        dead_pg = f"host=127.0.0.1 port={S.free_port()} dbname=none user=none connect_timeout=1"
        cls.daemon = S.Daemon("dead", dead_pg, redis=f"redis://127.0.0.1:{S.free_port()}/0")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()

    def test_unavailable_carries_retry_after_ms(self):
        for call in (lambda: self.conn.timeline_get(WALKER),
                     lambda: self.conn.post_publish(new_post_id(), PUBLISHER, S.now_ms()),
                     lambda: self.conn.follow(FOLLOWER, OTHER)):
            with self.assertRaises(feedcache.UnavailableError) as cm:
                call()
            e = cm.exception
            self.assertEqual(e.code, "UNAVAILABLE")
            self.assertTrue(500 <= e.retry_after_ms <= 1500, e.retry_after_ms)
            self.assertIn("unavailable", e.message)

    def test_retry_policy_gives_up_after_max_attempts(self):
        slept = []
        policy = feedcache.RetryPolicy(max_attempts=3, max_elapsed_s=60, sleep=slept.append)
        with self.assertRaises(feedcache.UnavailableError):
            policy.call(self.conn.timeline_get, WALKER)
        self.assertEqual(len(slept), 2)  # three attempts, two waits
        for s in slept:
            self.assertTrue(0.5 <= s <= 1.5, s)  # the server's retry_after_ms

    def test_retry_policy_gives_up_when_the_wait_exceeds_the_budget(self):
        slept = []
        policy = feedcache.RetryPolicy(max_attempts=10, max_elapsed_s=0.2, sleep=slept.append)
        t = time.monotonic()
        with self.assertRaises(feedcache.UnavailableError):
            policy.call(self.conn.timeline_get, WALKER)
        self.assertEqual(slept, [])  # retry_after_ms >= 500 ms > the 200 ms budget
        self.assertLess(time.monotonic() - t, 5)

    def test_connection_retry_option(self):
        slept = []
        with self.daemon.connect(retry=feedcache.RetryPolicy(max_attempts=2, sleep=slept.append)) as c:
            with self.assertRaises(feedcache.UnavailableError):
                c.timeline_get(WALKER)
            self.assertEqual(len(slept), 1)
            with self.assertRaises(feedcache.BadRequestError):  # not retried
                c.timeline_get(WALKER, limit=0)
            self.assertEqual(len(slept), 1)


class InternalTest(LiveCase):
    """INTERNAL: PostgreSQL rejects a query. feedcached runs as a role
    (options='-c role=...') allowed to read the tables; once its home feed
    is cached (feed_max 5), SELECT on posts is revoked and a page past the
    cached window, which only PostgreSQL can serve, is refused."""

    @classmethod
    def setUpClass(cls):
        cls.role = f"fc_py_{S.TAG}_ro"
        S.psql("postgres", f"DROP ROLE IF EXISTS {cls.role}")
        S.psql("postgres", f"CREATE ROLE {cls.role} NOLOGIN")
        DB.sql(f"GRANT SELECT ON users, follows, posts TO {cls.role}")
        try:
            cls.daemon = S.Daemon("restricted", DB.conninfo(f"options='-c role={cls.role}'"),
                                  extra=["--feed-max", "5"])
        except BaseException:
            cls._drop_role()
            raise

    @classmethod
    def _drop_role(cls):
        try:
            DB.sql(f"REVOKE ALL ON users, follows, posts FROM {cls.role}")
            S.psql("postgres", f"DROP ROLE IF EXISTS {cls.role}")
        except AssertionError as e:
            print(f"warning: {e}")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()
            cls._drop_role()

    def test_internal(self):
        first = self.conn.timeline_get(WALKER, limit=5)
        self.assertIsNotNone(first["next_cursor"])
        second = self.conn.timeline_get(WALKER, limit=5, cursor=first["next_cursor"])
        self.assertEqual(second["source"], "db")
        self.assertEqual(second["posts"], DB.timeline(WALKER)[5:10])
        DB.sql(f"REVOKE SELECT ON posts FROM {self.role}")
        try:
            with self.assertRaises(feedcache.InternalError) as cm:
                self.conn.timeline_get(WALKER, limit=5, cursor=first["next_cursor"])
            self.assertEqual(cm.exception.code, "INTERNAL")
            self.assertIn("rejected", cm.exception.message)
            self.assertIsNone(cm.exception.retry_after_ms)
        finally:
            DB.sql(f"GRANT SELECT ON posts TO {self.role}")


# --- timeouts and a lost connection ---------------------------------------------------


class ConnectionLossTest(LiveCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = S.Daemon("victim", DB.conninfo())

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def test_1_connect_errors(self):
        with self.assertRaises(feedcache.ConnectError) as cm:
            feedcache.connect(f"127.0.0.1:{S.free_port()}", timeout=2)
        self.assertIsInstance(cm.exception, ConnectionError)
        self.assertIn("connect 127.0.0.1:", str(cm.exception))
        for bad in ("nonsense", "host:", "unix:", "[::1]"):
            with self.assertRaises(feedcache.ConnectError):
                feedcache.connect(bad)

    def test_2_timeout_leaves_the_connection_usable(self):
        self.daemon.signal(signal.SIGSTOP)
        try:
            p = self.conn.submit("ping")
            with self.assertRaises(feedcache.CallTimeoutError) as cm:
                p.result(timeout=0.3)
            self.assertIsInstance(cm.exception, TimeoutError)
            with self.assertRaises(feedcache.CallTimeoutError):
                self.conn.call("stats", timeout=0.2)
            self.assertEqual(self.conn.in_flight, 2)
        finally:
            self.daemon.signal(signal.SIGCONT)
        self.assertEqual(p.result(), "pong")  # the late answer is matched
        self.assertEqual(self.conn.ping(), "pong")
        self.assertEqual(self.conn.in_flight, 0)  # the stats answer was taken too

    def test_3_close_fails_calls_in_flight(self):
        p = self.conn.submit("ping")
        self.conn.close()
        with self.assertRaises(feedcache.ConnectionLostError) as cm:
            p.result()
        self.assertIn("closed by the client", str(cm.exception))
        with self.assertRaises(feedcache.ConnectionLostError):
            self.conn.ping()

    def test_4_server_dies_with_calls_in_flight(self):
        self.assertEqual(self.conn.ping(), "pong")
        self.daemon.signal(signal.SIGSTOP)
        pend = [self.conn.submit("timeline.get", {"user_id": WALKER}) for _ in range(10)]
        self.conn.flush()
        self.daemon.signal(signal.SIGKILL)
        self.daemon.proc.wait(10)
        t = time.monotonic()
        for p in pend:
            with self.assertRaises(feedcache.ConnectionLostError) as cm:
                p.result()
            self.assertIsInstance(cm.exception, ConnectionError)
            self.assertIn("lost", str(cm.exception))
            self.assertIn(self.daemon.addr, str(cm.exception))
        self.assertLess(time.monotonic() - t, 5)  # at once, not after a timeout
        self.assertTrue(self.conn.closed)
        with self.assertRaises(feedcache.ConnectionLostError):
            self.conn.ping()
        with self.assertRaises(feedcache.ConnectError):
            self.daemon.connect()


if __name__ == "__main__":
    unittest.main()
