"""The connection against a scripted fake server (no feedcached): the
frames it sends, answers matched by msgid in any order, error mapping, and
what a server that closes or talks nonsense does to calls in flight."""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import msgpack  # noqa: E402

import feedcache  # noqa: E402


class FakeServer:
    """Accepts one connection and runs script(conn, read) in a thread;
    read(n) returns the next n decoded messages. Messages received are
    kept in .received."""

    def __init__(self, script, unix: bool = False):
        self.script = script
        self.received = []
        self.error = None
        if unix:
            self.tmp = tempfile.TemporaryDirectory()
            path = os.path.join(self.tmp.name, "s")
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(path)
            self.addr = "unix:" + path
        else:
            self.tmp = None
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, _ = self.sock.accept()
            unpacker = msgpack.Unpacker(raw=False)
            backlog = []

            def read(n):
                while len(backlog) < n:
                    data = conn.recv(65536)
                    if not data:
                        raise EOFError("client closed")
                    unpacker.feed(data)
                    for m in unpacker:
                        backlog.append(m)
                        self.received.append(m)
                out = backlog[:n]
                del backlog[:n]
                return out

            with conn:
                self.script(conn, read)
        except Exception as e:  # reported by join()
            self.error = e

    def join(self):
        self.thread.join(10)
        self.sock.close()
        if self.tmp:
            self.tmp.cleanup()
        if self.error:
            raise self.error


def reply(conn, msgid, result=None, error=None):
    conn.sendall(msgpack.packb([1, msgid, error, result], use_bin_type=True))


class WireTest(unittest.TestCase):
    def serve(self, script, **kw):
        srv = FakeServer(script, **kw)
        self.addCleanup(srv.join)
        return srv

    def test_frames_sent(self):
        def script(conn, read):
            for _ in range(4):  # the client waits for each answer
                m = read(1)[0]
                if m[0] == 0:
                    reply(conn, m[1], "ok")

        srv = self.serve(script)
        with feedcache.connect(srv.addr) as c:
            c.ping()
            c.timeline_get(7, limit=5)  # cursor, hydrate left out: not sent
            c.notify("timeline.invalidate", {"user_id": 7})
            c.post_publish(1, 2, dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.timezone.utc),
                           body=b"\xffraw")
        srv.join()
        self.assertEqual(srv.received, [
            [0, 1, "ping", []],
            [0, 2, "timeline.get", [{"user_id": 7, "limit": 5}]],
            [2, "timeline.invalidate", [{"user_id": 7}]],
            [0, 3, "post.publish", [{"id": 1, "author_id": 2, "created_at": 1000,
                                     "body": b"\xffraw"}]],
        ])

    def test_answers_in_reverse_order_are_matched(self):
        n = 50

        def script(conn, read):
            msgs = read(n)
            for m in reversed(msgs):  # the last call answered first
                method, params = m[2], m[3]
                if method == "echo":
                    reply(conn, m[1], params[0]["i"])
                else:
                    reply(conn, m[1], error={"code": "NOT_FOUND", "message": f"#{m[1]}"})

        srv = self.serve(script)
        with feedcache.connect(srv.addr) as c:
            with c.pipeline() as p:
                for i in range(n):
                    p.call("echo" if i % 5 else "nope", {"i": i})
                self.assertEqual(c.in_flight, n)
            results = p.results(return_exceptions=True)
        for i, r in enumerate(results):
            if i % 5:
                self.assertEqual(r, i)
            else:
                self.assertIsInstance(r, feedcache.NotFoundError)
                self.assertEqual(r.message, f"#{p.calls[i].msgid}")

    def test_error_mapping(self):
        cases = [
            ("BAD_REQUEST", feedcache.BadRequestError, None),
            ("NOT_FOUND", feedcache.NotFoundError, None),
            ("OVERLOADED", feedcache.OverloadedError, 120),
            ("UNAVAILABLE", feedcache.UnavailableError, 800),
            ("UNAUTHORIZED", feedcache.UnauthorizedError, None),
            ("FORBIDDEN", feedcache.ForbiddenError, None),
            ("INTERNAL", feedcache.InternalError, None),
            ("SOMETHING_NEW", feedcache.RPCError, None),
        ]

        def script(conn, read):
            for code, _, ra in cases:
                m = read(1)[0]
                err = {"code": code, "message": f"m-{code}"}
                if ra is not None:
                    err["retry_after_ms"] = ra
                reply(conn, m[1], error=err)
            m = read(1)[0]
            reply(conn, m[1], error="just a string")

        srv = self.serve(script)
        with feedcache.connect(srv.addr) as c:
            for code, cls, ra in cases:
                with self.assertRaises(cls) as cm:
                    c.call("m")
                e = cm.exception
                self.assertIs(type(e), cls)
                self.assertEqual((e.code, e.message, e.retry_after_ms, e.method),
                                 (code, f"m-{code}", ra, "m"))
                self.assertEqual(isinstance(e, feedcache.RetryableError),
                                 code in ("OVERLOADED", "UNAVAILABLE"))
            with self.assertRaises(feedcache.RPCError) as cm:
                c.call("m")
            self.assertEqual(cm.exception.code, "UNKNOWN")

    def test_server_closes_with_calls_in_flight(self):
        def script(conn, read):
            m = read(3)
            reply(conn, m[0][1], "first")
            conn.shutdown(socket.SHUT_RDWR)

        srv = self.serve(script)
        c = feedcache.connect(srv.addr)
        a, b, d = (c.submit("x") for _ in range(3))
        self.assertEqual(a.result(), "first")
        for p in (b, d):
            with self.assertRaises(feedcache.ConnectionLostError) as cm:
                p.result()
            self.assertIn("the server closed the connection", str(cm.exception))
        self.assertTrue(c.closed)
        with self.assertRaises(feedcache.ConnectionLostError):
            c.ping()

    def test_garbage_is_a_protocol_error(self):
        def script(conn, read):
            read(1)
            conn.sendall(msgpack.packb({"not": "a response"}))

        srv = self.serve(script)
        c = feedcache.connect(srv.addr)
        with self.assertRaises(feedcache.ProtocolError):
            c.ping()
        self.assertTrue(c.closed)

    def test_oversized_answer_is_a_protocol_error(self):
        def script(conn, read):
            m = read(1)[0]
            reply(conn, m[1], "x" * 5000)

        srv = self.serve(script)
        c = feedcache.connect(srv.addr, max_response=1024)
        with self.assertRaises(feedcache.ProtocolError) as cm:
            c.ping()
        self.assertIn("max_response", str(cm.exception))

    def test_unix_socket_and_msgid_wrap(self):
        def script(conn, read):
            for _ in range(3):
                m = read(1)[0]
                reply(conn, m[1], m[1])

        srv = self.serve(script, unix=True)
        with feedcache.connect(srv.addr) as c:
            c._next_id = 0xFFFFFFFF
            self.assertEqual([c.call("id") for _ in range(3)], [0xFFFFFFFF, 1, 2])

    def test_connection_retry_policy(self):
        def script(conn, read):
            m = read(1)[0]
            reply(conn, m[1], error={"code": "OVERLOADED", "message": "busy", "retry_after_ms": 40})
            m = read(1)[0]
            reply(conn, m[1], "pong")

        srv = self.serve(script)
        slept = []
        policy = feedcache.RetryPolicy(sleep=slept.append)
        with feedcache.connect(srv.addr, retry=policy) as c:
            self.assertEqual(c.ping(), "pong")
        self.assertEqual(slept, [0.04])
        self.assertEqual([m[1] for m in srv.received], [1, 2])  # sent again: a new msgid

    def test_auth_on_connect(self):
        def script(conn, read):
            m = read(1)[0]
            self.assertEqual(m[2:], ["auth", [{"token": "s3cret"}]])
            reply(conn, m[1], {"role": "write"})

        srv = self.serve(script)
        with feedcache.connect(srv.addr, token="s3cret") as c:
            self.assertEqual(c.role, "write")

    def test_timeout_then_late_answer(self):
        go = threading.Event()

        def script(conn, read):
            m = read(1)[0]
            go.wait(10)
            reply(conn, m[1], "late")
            m = read(1)[0]
            reply(conn, m[1], "next")

        srv = self.serve(script)
        with feedcache.connect(srv.addr) as c:
            p = c.submit("slow")
            with self.assertRaises(feedcache.CallTimeoutError):
                p.result(timeout=0.1)
            self.assertFalse(p.done())
            go.set()
            c.flush()
            time.sleep(0.2)  # the answer is in the socket buffer now
            self.assertEqual(p.result(timeout=0), "late")  # timeout 0 still polls
            self.assertEqual(c.call("x"), "next")

    def test_to_ms(self):
        self.assertEqual(feedcache.to_ms(5), 5)
        when = dt.datetime(2026, 1, 1, 1, 0, 0, 1999, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        self.assertEqual(feedcache.to_ms(when), 1767225600001)
        with self.assertRaises(ValueError):
            feedcache.to_ms(dt.datetime(2026, 1, 1))


if __name__ == "__main__":
    unittest.main()
