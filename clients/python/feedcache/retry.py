"""An optional retry helper for ``OVERLOADED`` and ``UNAVAILABLE``.

feedcached sheds load at the door and says when to come back:
``retry_after_ms`` (already jittered by the server, so callers turned away
together do not return together). :class:`RetryPolicy` waits exactly that
long, within a bound on attempts and on total time, and gives up by raising
the last error. Without ``retry_after_ms`` it backs off exponentially from
``base_delay_ms`` with full jitter.

Every write of the contract may be sent again safely (``post.publish`` of
the same post is idempotent), and ``OVERLOADED`` means nothing was done.
Transport errors (:class:`~feedcache.errors.TransportError`) are not
retried: the connection may be gone, which is for the caller to handle.

    policy = RetryPolicy(max_attempts=5, max_elapsed_s=10)
    page = policy.call(conn.timeline_get, 42, limit=20)
    # or for every call of a connection:
    conn = feedcache.connect("127.0.0.1:7400", retry=policy)
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Tuple, Type, TypeVar

from .errors import RetryableError

__all__ = ["RetryPolicy", "call_with_retry"]

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """How long to keep trying.

    * ``max_attempts``: calls in all, the first included (>= 1).
    * ``max_elapsed_s``: never sleep past this many seconds after the first
      call started; when the next wait would end later, give up at once.
    * ``base_delay_ms`` / ``max_delay_ms``: the backoff when an error has no
      ``retry_after_ms`` (``base * 2**n``, capped, full jitter). A server's
      ``retry_after_ms`` is used as it is, capped at ``max_delay_ms``.
    * ``retry_on``: the exception classes retried.
    * ``sleep``, ``clock``, ``rand``: injectable for tests.
    * ``on_retry``: called as ``on_retry(error, attempt, delay_s)`` before
      each wait (logging, metrics).
    """

    max_attempts: int = 5
    max_elapsed_s: float = 10.0
    base_delay_ms: int = 100
    max_delay_ms: int = 5000
    retry_on: Tuple[Type[BaseException], ...] = (RetryableError,)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    rand: Callable[[], float] = field(default=random.random, repr=False)
    on_retry: Optional[Callable[[BaseException, int, float], None]] = field(
        default=None, repr=False
    )

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.max_elapsed_s < 0 or self.base_delay_ms < 0 or self.max_delay_ms < 0:
            raise ValueError("delays must be >= 0")

    def delay_s(self, error: BaseException, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ra = getattr(error, "retry_after_ms", None)
        if isinstance(ra, int) and ra >= 0:
            return min(ra, self.max_delay_ms) / 1000.0
        backoff = min(self.base_delay_ms * (2 ** (attempt - 1)), self.max_delay_ms)
        return backoff * self.rand() / 1000.0

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, retried on ``retry_on`` errors."""
        start = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn(*args, **kwargs)
            except self.retry_on as e:
                if attempt >= self.max_attempts:
                    raise
                delay = self.delay_s(e, attempt)
                if self.clock() + delay - start > self.max_elapsed_s:
                    raise
                if self.on_retry is not None:
                    self.on_retry(e, attempt, delay)
                self.sleep(delay)

    def wrap(self, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` with this policy applied (usable as a decorator)."""

        def wrapped(*args: Any, **kwargs: Any) -> T:
            return self.call(fn, *args, **kwargs)

        wrapped.__name__ = getattr(fn, "__name__", "wrapped")
        wrapped.__doc__ = getattr(fn, "__doc__", None)
        return wrapped


def call_with_retry(fn: Callable[..., T], *args: Any, policy: Optional[RetryPolicy] = None,
                    **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` under ``policy`` (default: ``RetryPolicy()``)."""
    return (policy or RetryPolicy()).call(fn, *args, **kwargs)
