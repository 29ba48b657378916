"""The shapes of the results, as docs/PROTOCOL.md ("Methods") gives them.

At run time every result is a plain ``dict`` (or ``list``/``str``) exactly
as decoded from msgpack; these ``TypedDict`` classes only document the keys
for readers and type checkers. feedcached may add keys (*extensions*): code
should ignore keys it does not know.
"""

from __future__ import annotations

from typing import Dict, List, Optional

try:
    from typing import Literal, TypedDict
except ImportError:  # pragma: no cover - Python < 3.8
    from typing_extensions import Literal, TypedDict  # type: ignore

__all__ = [
    "Post",
    "TimelinePage",
    "PublishResult",
    "OkResult",
    "WarmResult",
    "WarmStatus",
    "DeadLetter",
    "DeadLetters",
    "RetryResult",
    "AuthResult",
    "Stats",
]


class _PostBase(TypedDict):
    id: int
    author_id: int
    created_at: int  # ms since the Unix epoch


class Post(_PostBase, total=False):
    """A post of a page; ``body`` is absent with ``hydrate=False``."""

    body: str


class TimelinePage(TypedDict):
    posts: List[Post]
    next_cursor: Optional[str]  # None on the last page
    source: Literal["cache", "rebuilt", "db"]
    degraded: bool


class PublishResult(TypedDict):
    queued: bool
    mode: Literal["fanout", "celebrity"]


class OkResult(TypedDict):
    ok: bool


class WarmResult(TypedDict):
    job: str
    users: int


class _WarmStatusBase(TypedDict):
    done: int
    total: int
    state: Literal["running", "paused", "finished", "failed"]


class WarmStatus(_WarmStatusBase, total=False):
    started_ms: int  # extension
    updated_ms: int  # extension
    error: str  # extension, when failed


class DeadLetter(TypedDict):
    id: str
    job: str
    type: Optional[str]  # None for a malformed job
    post: Optional[int]
    author: Optional[int]
    attempts: int
    reason: str
    at_ms: int


class DeadLetters(TypedDict):
    total: int
    dead_letters: List[DeadLetter]
    next: Optional[str]


class RetryResult(TypedDict):
    requeued: int
    remaining: int


class AuthResult(TypedDict):
    role: Literal["read", "write", "admin"]


#: ``stats``: a map of integer counters (feed_cache_hits, ... see PROTOCOL.md).
Stats = Dict[str, int]
