"""RetryPolicy against a fake: scripted errors, a fake clock and sleep."""

from __future__ import annotations

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import feedcache  # noqa: E402
from feedcache import (  # noqa: E402
    BadRequestError,
    ConnectionLostError,
    OverloadedError,
    RetryPolicy,
    UnavailableError,
)


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, s):
        self.slept.append(s)
        self.now += s


class Flaky:
    """Raises the scripted errors in turn, then returns "done"."""

    def __init__(self, *errors, cost: float = 0.0, clock: FakeTime = None):
        self.errors = list(errors)
        self.calls = 0
        self.cost, self.clock = cost, clock
        self.args = []

    def __call__(self, *args, **kw):
        self.calls += 1
        self.args.append((args, kw))
        if self.clock:
            self.clock.now += self.cost
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def overloaded(ms=None):
    return OverloadedError("OVERLOADED", "shed", ms)


def unavailable(ms=None):
    return UnavailableError("UNAVAILABLE", "redis down", ms)


class RetryTest(unittest.TestCase):
    def policy(self, t, **kw):
        return RetryPolicy(sleep=t.sleep, clock=t.clock, rand=lambda: 0.5, **kw)

    def test_waits_retry_after_ms_then_succeeds(self):
        t = FakeTime()
        fn = Flaky(overloaded(250), unavailable(1200))
        self.assertEqual(self.policy(t).call(fn, 1, limit=2), "done")
        self.assertEqual(fn.calls, 3)
        self.assertEqual(t.slept, [0.25, 1.2])
        self.assertEqual(fn.args, [((1,), {"limit": 2})] * 3)

    def test_bounded_attempts_raise_the_last_error(self):
        t = FakeTime()
        last = overloaded(10)
        fn = Flaky(overloaded(10), overloaded(10), last, overloaded(10))
        with self.assertRaises(OverloadedError) as cm:
            self.policy(t, max_attempts=3).call(fn)
        self.assertIs(cm.exception, last)
        self.assertEqual(fn.calls, 3)
        self.assertEqual(len(t.slept), 2)

    def test_bounded_time(self):
        t = FakeTime()
        fn = Flaky(*[unavailable(1000) for _ in range(20)], cost=0.1, clock=t)
        with self.assertRaises(UnavailableError):
            self.policy(t, max_attempts=100, max_elapsed_s=3.5).call(fn)
        # Never sleeps past the budget: calls at 0, 1.1, 2.2, 3.3 (each
        # costs 0.1); after the fourth, the next wait would end at 4.4 > 3.5.
        self.assertEqual(fn.calls, 4)
        self.assertEqual(t.slept, [1.0, 1.0, 1.0])
        self.assertLessEqual(t.now - 100.0, 3.5)

    def test_retry_after_is_capped(self):
        t = FakeTime()
        fn = Flaky(overloaded(60_000))
        self.assertEqual(self.policy(t, max_delay_ms=2000, max_elapsed_s=10).call(fn), "done")
        self.assertEqual(t.slept, [2.0])

    def test_backoff_without_retry_after(self):
        t = FakeTime()
        fn = Flaky(unavailable(), unavailable(), unavailable(), unavailable())
        self.policy(t, base_delay_ms=100, max_delay_ms=300, max_attempts=5).call(fn)
        # base * 2**n capped at 300, times rand() = 0.5
        self.assertEqual(t.slept, [0.05, 0.1, 0.15, 0.15])

    def test_other_errors_are_not_retried(self):
        t = FakeTime()
        for err in (BadRequestError("BAD_REQUEST", "limit: must be in 1..200"),
                    feedcache.NotFoundError("NOT_FOUND", "x"),
                    ConnectionLostError("gone"),
                    ValueError("not ours")):
            fn = Flaky(err)
            with self.assertRaises(type(err)):
                self.policy(t).call(fn)
            self.assertEqual(fn.calls, 1)
        self.assertEqual(t.slept, [])

    def test_on_retry_and_wrap(self):
        t = FakeTime()
        seen = []
        policy = self.policy(t, on_retry=lambda e, n, d: seen.append((e.code, n, d)))
        fn = Flaky(overloaded(5), unavailable(7))
        wrapped = policy.wrap(fn)
        self.assertEqual(wrapped(), "done")
        self.assertEqual(seen, [("OVERLOADED", 1, 0.005), ("UNAVAILABLE", 2, 0.007)])

    def test_call_with_retry_and_validation(self):
        t = FakeTime()
        fn = Flaky(overloaded(1))
        self.assertEqual(feedcache.call_with_retry(fn, policy=self.policy(t)), "done")
        with self.assertRaises(ValueError):
            RetryPolicy(max_attempts=0)


if __name__ == "__main__":
    unittest.main()
