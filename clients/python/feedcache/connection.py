"""One msgpack-RPC connection to feedcached, with pipelining.

Wire format (docs/PROTOCOL.md, "Transport and framing"): requests
``[0, msgid, method, [params]]``, notifications ``[2, method, [params]]``,
responses ``[1, msgid, error, result]``. Responses may come back in any
order; they are matched to their calls by msgid.

A :class:`Connection` is not thread-safe: use one per thread (or a pool).
Within one thread it may have any number of calls in flight:

* ``conn.timeline_get(42)`` and the other method wrappers send one call and
  wait for its answer;
* ``conn.submit("timeline.get", {"user_id": 42})`` sends and returns a
  :class:`Pending` at once; ``pending.result()`` waits for that answer,
  keeping any other answers that arrive meanwhile for their own calls;
* ``with conn.pipeline() as p: a = p.timeline_get(42); b = p.stats()`` does
  the same with the method wrappers, and waits for every answer on exit.

While it waits, the connection reads answers as it writes requests, so a
pipeline of any length cannot deadlock against the server's backpressure.
"""

from __future__ import annotations

import datetime as _dt
import os
import selectors
import socket
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import msgpack

from .errors import (
    CallTimeoutError,
    ConnectError,
    ConnectionLostError,
    FeedcacheError,
    ProtocolError,
    RPCError,
    TransportError,
    error_from_wire,
)
from .retry import RetryPolicy
from .token import read_token_file
from .types import (
    AuthResult,
    DeadLetters,
    OkResult,
    Post,
    PublishResult,
    RetryResult,
    Stats,
    TimelinePage,
    WarmResult,
    WarmStatus,
)

__all__ = ["Connection", "Pending", "Pipeline", "connect", "to_ms", "DEFAULT_ADDR"]

DEFAULT_ADDR = "127.0.0.1:7400"
#: Largest response accepted (as the C client's FC_CLIENT_MAX_RESPONSE).
MAX_RESPONSE = 64 << 20
_MSGID_MAX = 0xFFFFFFFF
_RECV_CHUNK = 256 << 10
#: Unsent bytes above which submit() writes (reading answers meanwhile)
#: before it queues more.
_OUT_HIGH_WATER = 1 << 20

_DEFAULT = object()  # "the connection's timeout"
Timeout = Optional[float]
Addr = Union[str, Tuple[str, int]]
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def to_ms(value: Union[int, _dt.datetime]) -> int:
    """``created_at`` for the RPC: int ms since the epoch, or an aware
    :class:`datetime.datetime` (converted to whole ms; naive ones are
    refused, their zone would be a guess)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("created_at: a naive datetime; give it a tzinfo")
        return (value - _EPOCH) // _dt.timedelta(milliseconds=1)
    return value


def _args(**kw: Any) -> Dict[str, Any]:
    """The params map, without the arguments left at None (nil is the same
    as an absent key, and a smaller frame)."""
    return {k: v for k, v in kw.items() if v is not None}


# --- the method wrappers, shared by Connection and Pipeline -------------------


class _Methods:
    """One wrapper per method of the contract. ``_invoke`` decides whether
    a wrapper waits (:class:`Connection`) or returns a :class:`Pending`
    (:class:`Pipeline`)."""

    def _invoke(self, method: str, params: Optional[Dict[str, Any]]) -> Any:
        raise NotImplementedError

    def ping(self) -> str:
        """``ping``: ``"pong"``. Allowed before ``auth``."""
        return self._invoke("ping", None)

    def auth(self, token: str) -> AuthResult:
        """``auth``: ``{"role": "read"|"write"|"admin"}`` for a known token;
        :class:`~feedcache.errors.UnauthorizedError` otherwise (three
        refusals close the connection). The token is never put in an error
        message."""
        return self._invoke("auth", {"token": token})

    def stats(self) -> Stats:
        """``stats``: a map of integer counters."""
        return self._invoke("stats", None)

    def post_publish(
        self,
        id: int,
        author_id: int,
        created_at: Union[int, _dt.datetime],
        body: Optional[Union[str, bytes]] = None,
    ) -> PublishResult:
        """``post.publish`` of a post already committed to PostgreSQL:
        ``{"queued": True, "mode": "fanout"|"celebrity"}``. ``body``, when
        given, is cached (write-through). Safe to send again."""
        return self._invoke(
            "post.publish",
            _args(id=id, author_id=author_id, created_at=to_ms(created_at), body=body),
        )

    def post_update(self, id: int, body: Union[str, bytes]) -> OkResult:
        """``post.update``: ``{"ok": True}``; the next hydrated read shows
        ``body``."""
        return self._invoke("post.update", {"id": id, "body": body})

    def post_delete(self, id: int, author_id: int) -> OkResult:
        """``post.delete``: ``{"ok": True}``; no later read returns it."""
        return self._invoke("post.delete", {"id": id, "author_id": author_id})

    def follow(self, follower_id: int, followee_id: int) -> OkResult:
        """``follow`` (after the row is in ``follows``): ``{"ok": True}``."""
        return self._invoke("follow", {"follower_id": follower_id, "followee_id": followee_id})

    def unfollow(self, follower_id: int, followee_id: int) -> OkResult:
        """``unfollow`` (after the row left ``follows``): ``{"ok": True}``."""
        return self._invoke("unfollow", {"follower_id": follower_id, "followee_id": followee_id})

    def timeline_get(
        self,
        user_id: int,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        hydrate: Optional[bool] = None,
    ) -> TimelinePage:
        """``timeline.get``: ``{"posts": [...], "next_cursor": str|None,
        "source": "cache"|"rebuilt"|"db", "degraded": bool}``. ``limit``
        defaults to 20 (1..200), ``hydrate`` to True (False: posts without
        ``body``). A malformed cursor, or one of another user, is
        :class:`~feedcache.errors.BadRequestError`."""
        return self._invoke(
            "timeline.get", _args(user_id=user_id, limit=limit, cursor=cursor, hydrate=hydrate)
        )

    def timeline_invalidate(self, user_id: int) -> OkResult:
        """``timeline.invalidate``: ``{"ok": True}``; the next read rebuilds
        the home feed from PostgreSQL."""
        return self._invoke("timeline.invalidate", {"user_id": user_id})

    def warm(
        self,
        user_ids: Optional[Sequence[int]] = None,
        active_within_s: Optional[int] = None,
        rate: Optional[float] = None,
    ) -> WarmResult:
        """``warm``: starts a job rebuilding home feeds, for exactly one of
        ``user_ids`` (may be empty) or ``active_within_s``; ``rate`` in
        users/s. ``{"job": str, "users": int}``."""
        return self._invoke(
            "warm",
            _args(
                user_ids=list(user_ids) if user_ids is not None else None,
                active_within_s=active_within_s,
                rate=rate,
            ),
        )

    def warm_status(self, job: str) -> WarmStatus:
        """``warm.status``: ``{"done", "total", "state", ...}``;
        :class:`~feedcache.errors.NotFoundError` for an unknown job."""
        return self._invoke("warm.status", {"job": job})

    def fanout_dead_letters(
        self, limit: Optional[int] = None, after: Optional[str] = None
    ) -> DeadLetters:
        """``fanout.dead_letters`` (admin): ``{"total", "dead_letters":
        [...], "next"}``; ``limit`` 1..1000 (default 100), ``after`` a dead
        letter id to list those after it."""
        return self._invoke("fanout.dead_letters", _args(limit=limit, after=after))

    def fanout_retry(self, id: Optional[str] = None, *, all: bool = False) -> RetryResult:
        """``fanout.retry`` (admin) of one dead letter (``id``) or of about
        1000 (``all=True``): ``{"requeued", "remaining"}``;
        :class:`~feedcache.errors.NotFoundError` for an unknown id."""
        return self._invoke("fanout.retry", _args(id=id, all=True if all else None))


# --- calls in flight ---------------------------------------------------------------


class Pending:
    """A call sent and not yet answered (or answered and not yet looked at)."""

    __slots__ = ("_conn", "msgid", "method", "_done", "_value", "_error")

    def __init__(self, conn: "Connection", msgid: int, method: str) -> None:
        self._conn = conn
        self.msgid = msgid
        self.method = method
        self._done = False
        self._value: Any = None
        self._error: Optional[BaseException] = None

    def done(self) -> bool:
        """True once the answer (or the connection's failure) is in."""
        return self._done

    def result(self, timeout: Any = _DEFAULT) -> Any:
        """The call's result; raises its :class:`RPCError`, or the transport
        error that ended the connection. Waits up to ``timeout`` seconds
        (default: the connection's; None: forever), then raises
        :class:`CallTimeoutError` and leaves the call in flight."""
        if not self._done:
            self._conn._wait(self, timeout)
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout: Any = _DEFAULT) -> Optional[BaseException]:
        """The error the call ended with, or None; waits like result()."""
        try:
            self.result(timeout)
        except CallTimeoutError:
            raise
        except FeedcacheError as e:
            return e
        return None

    def _set(self, value: Any) -> None:
        self._value, self._done = value, True

    def _fail(self, error: BaseException) -> None:
        self._error, self._done = error, True

    def __repr__(self) -> str:
        state = "pending" if not self._done else ("error" if self._error else "done")
        return f"<Pending {self.method} msgid={self.msgid} {state}>"


class Pipeline(_Methods):
    """The method wrappers, each sending its call and returning a
    :class:`Pending` at once. As a context manager, flushes and waits for
    every call it sent when the block ends (RPC errors stay in their
    :class:`Pending`; a transport error is raised)."""

    def __init__(self, conn: "Connection") -> None:
        self._conn = conn
        self.calls: List[Pending] = []

    def _invoke(self, method: str, params: Optional[Dict[str, Any]]) -> Pending:
        p = self._conn.submit(method, params)
        self.calls.append(p)
        return p

    def call(self, method: str, params: Optional[Dict[str, Any]] = None) -> Pending:
        """Any method by name (``params``: the named arguments)."""
        return self._invoke(method, params)

    def wait(self, timeout: Any = _DEFAULT) -> None:
        """Waits until every call sent so far is answered."""
        self._conn._wait_all(self.calls, timeout)

    def results(self, return_exceptions: bool = False, timeout: Any = _DEFAULT) -> List[Any]:
        """Every call's result in the order sent. An RPC error is raised, or
        with ``return_exceptions`` put in the list in its place."""
        self.wait(timeout)
        out: List[Any] = []
        for p in self.calls:
            if return_exceptions and p._error is not None and isinstance(p._error, RPCError):
                out.append(p._error)
            else:
                out.append(p.result())
        return out

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.wait()


# --- the connection ---------------------------------------------------------------


def _parse_addr(addr: Addr) -> Tuple[str, Any]:
    """("unix", path) or ("tcp", (host, port))."""
    if isinstance(addr, tuple):
        return "tcp", (addr[0], int(addr[1]))
    if not isinstance(addr, str) or not addr:
        raise ConnectError(f"bad address {addr!r}: want HOST:PORT, [IPV6]:PORT or unix:/path")
    if addr.startswith("unix:"):
        path = addr[5:]
        if not path:
            raise ConnectError(f"bad address {addr!r}: unix: needs a path")
        return "unix", path
    if addr.startswith("["):
        host, sep, rest = addr[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ConnectError(f"bad address {addr!r}: want [IPV6]:PORT")
        port_s = rest[1:]
    else:
        host, sep, port_s = addr.rpartition(":")
        if not sep or not host or ":" in host:
            raise ConnectError(f"bad address {addr!r}: want HOST:PORT, [IPV6]:PORT or unix:/path")
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ConnectError(f"bad address {addr!r}: bad port")
    return "tcp", (host, int(port_s))


def _open_socket(addr: Addr, timeout: Timeout) -> socket.socket:
    kind, target = _parse_addr(addr)
    try:
        if kind == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.settimeout(timeout)
                s.connect(target)
            except BaseException:
                s.close()
                raise
        else:
            # Every address of the name in turn, each within the timeout.
            s = socket.create_connection(target, timeout=timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except socket.timeout:
        raise ConnectError(f"connect {addr}: timed out after {timeout} s") from None
    except socket.gaierror as e:
        raise ConnectError(f"connect {addr}: {e.strerror or e}") from None
    except OSError as e:
        raise ConnectError(f"connect {addr}: {e.strerror or e}") from None
    s.setblocking(False)
    return s


class Connection(_Methods):
    """A connection to feedcached.

    * ``addr``: ``"HOST:PORT"``, ``"[IPV6]:PORT"``, ``"unix:/path"`` or a
      ``(host, port)`` tuple.
    * ``timeout``: seconds an operation (one call, a flush) may wait; None
      waits forever. ``connect_timeout`` (default: ``timeout``) bounds the
      connect and the ``auth`` call.
    * ``token`` or ``token_file``: authenticate right after connecting
      (``token_file`` holds ``TOKEN`` or ``ROLE TOKEN``, like
      ``feedcachectl --token-file``); the role is in ``conn.role``. A
      refused token raises :class:`~feedcache.errors.UnauthorizedError` and
      no connection is left open.
    * ``retry``: a :class:`~feedcache.retry.RetryPolicy` applied to every
      waiting call (``call`` and the method wrappers, not to :meth:`submit`
      or pipelines).
    * ``max_response``: the largest answer accepted, in bytes.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        addr: Addr = DEFAULT_ADDR,
        *,
        timeout: Timeout = 5.0,
        connect_timeout: Any = _DEFAULT,
        token: Optional[str] = None,
        token_file: Optional[Union[str, os.PathLike]] = None,
        retry: Optional[RetryPolicy] = None,
        max_response: int = MAX_RESPONSE,
    ) -> None:
        if token is not None and token_file is not None:
            raise ValueError("give token or token_file, not both")
        if token_file is not None:
            token = read_token_file(token_file)
        self.addr = addr if isinstance(addr, str) else f"{addr[0]}:{addr[1]}"
        self.timeout = timeout
        self.retry = retry
        self.role: Optional[str] = None
        ct = timeout if connect_timeout is _DEFAULT else connect_timeout
        self._sock: Optional[socket.socket] = None
        self._closed: Optional[TransportError] = None
        self._out = bytearray()
        self._pending: Dict[int, Pending] = {}
        self._next_id = 1
        self._unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max_response)
        self._sock = _open_socket(addr, ct)
        self._sel = selectors.DefaultSelector()
        self._sel_events = selectors.EVENT_READ
        self._sel.register(self._sock, self._sel_events)
        if token is not None:
            try:
                self.role = self._submit("auth", {"token": token}).result(ct)["role"]
            except BaseException:
                self.close()
                raise
            finally:
                token = None

    # -- the public call API --------------------------------------------------

    def call(self, method: str, params: Optional[Dict[str, Any]] = None, *,
             timeout: Any = _DEFAULT) -> Any:
        """Calls ``method`` with the named arguments ``params`` and waits
        for its result (under the connection's retry policy, if any)."""
        if self.retry is not None:
            return self.retry.call(self._call_once, method, params, timeout)
        return self._call_once(method, params, timeout)

    def submit(self, method: str, params: Optional[Dict[str, Any]] = None) -> Pending:
        """Sends a call without waiting; returns its :class:`Pending`. The
        bytes go out when something waits (or :meth:`flush`), or at once
        when much is queued."""
        return self._submit(method, params)

    def notify(self, method: str, params: Optional[Dict[str, Any]] = None) -> None:
        """Queues ``method`` as a notification: executed, never answered.
        It goes out with the next wait, :meth:`flush`, or the end of a
        ``with`` block."""
        self._check_open()
        self._out += msgpack.packb([2, method, [params] if params is not None else []],
                                   use_bin_type=True)
        self._after_queue()

    def pipeline(self) -> Pipeline:
        """The method wrappers, returning :class:`Pending` results."""
        return Pipeline(self)

    def flush(self, timeout: Any = _DEFAULT) -> None:
        """Writes every queued request (reading answers meanwhile)."""
        self._pump(lambda: not self._out, self._timeout(timeout), "flush")

    def iter_timeline(self, user_id: int, limit: Optional[int] = None,
                      hydrate: Optional[bool] = None,
                      cursor: Optional[str] = None) -> Iterator[Post]:
        """Every post of a home timeline, newest first, walking the cursors
        page by page from ``cursor`` (default: the first page)."""
        while True:
            page = self.timeline_get(user_id, limit=limit, cursor=cursor, hydrate=hydrate)
            yield from page["posts"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def in_flight(self) -> int:
        """Calls sent and not answered yet."""
        return len(self._pending)

    def close(self) -> None:
        """Closes the socket. Calls still in flight fail with
        :class:`ConnectionLostError`. Idempotent."""
        if self._closed is None:
            self._shut(ConnectionLostError(f"connection to {self.addr} closed by the client"))

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._closed is None and self._out:
                self.flush()  # queued notifications
        except TransportError:
            pass
        finally:
            self.close()

    def __del__(self) -> None:
        try:
            if self._sock is not None:
                self._sock.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._pending)} in flight"
        return f"<feedcache.Connection {self.addr} {state}>"

    # -- internals -------------------------------------------------------------

    def _invoke(self, method: str, params: Optional[Dict[str, Any]]) -> Any:
        return self.call(method, params)

    def _call_once(self, method: str, params: Optional[Dict[str, Any]], timeout: Any) -> Any:
        return self._submit(method, params).result(timeout)

    def _timeout(self, timeout: Any) -> Timeout:
        return self.timeout if timeout is _DEFAULT else timeout

    def _check_open(self) -> None:
        if self._closed is not None:
            raise type(self._closed)(str(self._closed))

    def _alloc_id(self) -> int:
        for _ in range(len(self._pending) + 1):
            msgid = self._next_id
            self._next_id = 1 if msgid >= _MSGID_MAX else msgid + 1
            if msgid not in self._pending:
                return msgid
        raise FeedcacheError("no free msgid")  # 4 billion calls in flight

    def _submit(self, method: str, params: Optional[Dict[str, Any]]) -> Pending:
        self._check_open()
        msgid = self._alloc_id()
        frame = msgpack.packb([0, msgid, method, [params] if params is not None else []],
                              use_bin_type=True)
        p = Pending(self, msgid, method)
        self._pending[msgid] = p
        self._out += frame
        self._after_queue()
        return p

    def _after_queue(self) -> None:
        if len(self._out) >= _OUT_HIGH_WATER:
            self._pump(lambda: len(self._out) < _OUT_HIGH_WATER // 2, self.timeout, "send")

    def _wait(self, p: Pending, timeout: Any) -> None:
        self._pump(lambda: p._done, self._timeout(timeout), p.method)

    def _wait_all(self, calls: Sequence[Pending], timeout: Any) -> None:
        first = [0]  # calls[:first] are done: answers only ever complete calls

        def all_done() -> bool:
            i = first[0]
            while i < len(calls) and calls[i]._done:
                i += 1
            first[0] = i
            return i == len(calls)

        self._pump(all_done, self._timeout(timeout), "pipeline")

    def _shut(self, error: TransportError) -> None:
        """Ends the connection: every call in flight fails with error."""
        self._closed = error
        pending, self._pending = self._pending, {}
        for p in pending.values():
            p._fail(type(error)(f"{p.method}: {error}"))
        self._out.clear()
        if self._sock is not None:
            try:
                self._sel.close()
            except Exception:
                pass
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def _lost(self, why: str) -> None:
        self._shut(ConnectionLostError(f"connection to {self.addr} lost: {why}"))

    def _pump(self, until: Callable[[], bool], timeout: Timeout, what: str) -> None:
        """Writes and reads until ``until()`` holds; raises the transport
        error that closed the connection, or CallTimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not until():
            if self._closed is not None:
                raise type(self._closed)(f"{what}: {self._closed}")
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._out else 0)
            if want != self._sel_events:
                self._sel.modify(self._sock, want)
                self._sel_events = want
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready = self._sel.select(wait)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            for _key, events in ready:
                if events & selectors.EVENT_WRITE and self._closed is None:
                    self._send_some()
                if events & selectors.EVENT_READ and self._closed is None:
                    self._recv_some()
            # Checked after one round, so that timeout 0 still polls once.
            if (deadline is not None and self._closed is None and not until()
                    and time.monotonic() >= deadline):
                raise CallTimeoutError(f"{what}: no answer from {self.addr} within {timeout} s")

    def _send_some(self) -> None:
        try:
            n = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lost(e.strerror or str(e))
            return
        del self._out[:n]

    def _recv_some(self) -> None:
        try:
            data = self._sock.recv(_RECV_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lost(e.strerror or str(e))
            return
        if not data:
            self._lost("the server closed the connection")
            return
        try:
            self._unpacker.feed(data)
            for msg in self._unpacker:
                self._dispatch(msg)
                if self._closed is not None:
                    return
        except msgpack.BufferFull:
            self._protocol_error("a response larger than max_response")
        except (ValueError, msgpack.UnpackException) as e:
            # FormatError, StackError, invalid UTF-8 in a str...
            self._protocol_error(f"undecodable data ({type(e).__name__}: {e})")

    def _protocol_error(self, why: str) -> None:
        self._shut(ProtocolError(f"connection to {self.addr} closed: {why}"))

    def _dispatch(self, msg: Any) -> None:
        if (not isinstance(msg, list) or len(msg) != 4 or msg[0] != 1
                or not isinstance(msg[1], int) or isinstance(msg[1], bool)):
            self._protocol_error(f"not a response: {str(msg)[:80]}")
            return
        _, msgid, error, result = msg
        p = self._pending.pop(msgid, None)
        if p is None:
            return  # not ours (cannot happen with feedcached): ignore it
        if error is None:
            p._set(result)
        else:
            p._fail(error_from_wire(error, p.method))


def connect(addr: Addr = DEFAULT_ADDR, **kwargs: Any) -> Connection:
    """``Connection(addr, **kwargs)``: see :class:`Connection`."""
    return Connection(addr, **kwargs)
