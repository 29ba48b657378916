"""The exceptions of the feedcache client.

Two families, under one base :class:`FeedcacheError`:

* :class:`RPCError` and its subclasses: feedcached answered the call with an
  error map ``{"code", "message"[, "retry_after_ms"]}`` (docs/PROTOCOL.md,
  "Errors"). One subclass per code; a code this client does not know yet is
  an :class:`RPCError` with that ``code``. The connection stays usable.
* :class:`TransportError` and its subclasses: no answer could be had (the
  connection failed, was lost, timed out, or the server sent something that
  is not a response). After :class:`ConnectionLostError` and
  :class:`ProtocolError` the connection is closed; after
  :class:`CallTimeoutError` it stays usable (a late answer is still matched
  to its call).
"""

from __future__ import annotations

import builtins
from typing import Any, Dict, Optional, Type

__all__ = [
    "FeedcacheError",
    "RPCError",
    "RetryableError",
    "BadRequestError",
    "NotFoundError",
    "OverloadedError",
    "UnavailableError",
    "UnauthorizedError",
    "ForbiddenError",
    "InternalError",
    "TransportError",
    "ConnectError",
    "ConnectionLostError",
    "ProtocolError",
    "CallTimeoutError",
    "TokenFileError",
    "error_from_wire",
]


class FeedcacheError(Exception):
    """Base of every exception this package raises."""


# --- errors answered by feedcached -------------------------------------------


class RPCError(FeedcacheError):
    """feedcached answered the call with an error.

    Attributes: ``code`` (e.g. ``"BAD_REQUEST"``), ``message`` (the server's
    text, e.g. ``"limit: must be in 1..200"``), ``retry_after_ms`` (an int
    when the server sent one, else None), ``method`` (the called method, or
    None) and ``raw`` (the error map as received).
    """

    #: The wire code a subclass stands for (None on the base class).
    CODE: Optional[str] = None

    def __init__(
        self,
        code: str,
        message: str,
        retry_after_ms: Optional[int] = None,
        method: Optional[str] = None,
        raw: Any = None,
    ) -> None:
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms
        self.method = method
        self.raw = raw
        text = f"{code}: {message}" if message else code
        if method:
            text = f"{method}: {text}"
        if retry_after_ms is not None:
            text += f" (retry after {retry_after_ms} ms)"
        super().__init__(text)

    def __reduce__(self):  # picklable despite the keyword-rich __init__
        return (
            self.__class__,
            (self.code, self.message, self.retry_after_ms, self.method, self.raw),
        )


class RetryableError(RPCError):
    """Base of the codes a caller may retry (``OVERLOADED``,
    ``UNAVAILABLE``): nothing was done, or doing it again is safe. Honour
    ``retry_after_ms`` when it is set (:mod:`feedcache.retry` does)."""


class BadRequestError(RPCError):
    """``BAD_REQUEST``: wrong shape, type or range; the message names the
    field (``cursor: ...``, ``user_id: required``)."""

    CODE = "BAD_REQUEST"


class NotFoundError(RPCError):
    """``NOT_FOUND``: unknown method, unknown warm job, unknown dead letter."""

    CODE = "NOT_FOUND"


class OverloadedError(RetryableError):
    """``OVERLOADED``: shed at admission before any work, or ``post.publish``
    past ``fanout_queue_max``. Carries ``retry_after_ms``."""

    CODE = "OVERLOADED"


class UnavailableError(RetryableError):
    """``UNAVAILABLE``: a backend is down, or the service is shutting down.
    Carries ``retry_after_ms``."""

    CODE = "UNAVAILABLE"


class UnauthorizedError(RPCError):
    """``UNAUTHORIZED``: ``auth`` is required first, or the token was
    refused (three refusals close the connection)."""

    CODE = "UNAUTHORIZED"


class ForbiddenError(RPCError):
    """``FORBIDDEN``: the connection's role may not call this method."""

    CODE = "FORBIDDEN"


class InternalError(RPCError):
    """``INTERNAL``: a bug, or an unexpected backend error (e.g. PostgreSQL
    rejected a query)."""

    CODE = "INTERNAL"


_BY_CODE: Dict[str, Type[RPCError]] = {
    cls.CODE: cls
    for cls in (
        BadRequestError,
        NotFoundError,
        OverloadedError,
        UnavailableError,
        UnauthorizedError,
        ForbiddenError,
        InternalError,
    )
}


def _text(v: Any) -> Optional[str]:
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    return None


def error_from_wire(error: Any, method: Optional[str] = None) -> RPCError:
    """The exception for a response's non-nil ``error`` element."""
    if isinstance(error, dict):
        code = _text(error.get("code")) or "UNKNOWN"
        message = _text(error.get("message")) or ""
        ra = error.get("retry_after_ms")
        retry_after_ms = ra if isinstance(ra, int) and not isinstance(ra, bool) else None
    else:  # not the contract's shape: keep what there is
        code, message, retry_after_ms = "UNKNOWN", repr(error), None
    cls = _BY_CODE.get(code, RPCError)
    return cls(code, message, retry_after_ms, method, error)


# --- no answer --------------------------------------------------------------


class TransportError(FeedcacheError):
    """No answer could be had from feedcached."""


class ConnectError(TransportError, builtins.ConnectionError):
    """Connecting failed (refused, unreachable, timed out, bad address)."""


class ConnectionLostError(TransportError, builtins.ConnectionError):
    """The connection was closed (by the server, by a reset, or by
    :meth:`Connection.close`) before the answer came. Calls in flight fail
    with it; so does every later call on that connection."""


class ProtocolError(TransportError):
    """The server sent something that is not a msgpack-RPC response (or one
    larger than the client accepts). The connection is closed."""


class CallTimeoutError(TransportError, builtins.TimeoutError):
    """No answer within the timeout. The connection stays usable: the call
    is still in flight and a late answer is still matched to it."""


class TokenFileError(FeedcacheError, ValueError):
    """A client token file is unreadable or holds no token (the message
    never quotes the file's contents)."""
