"""feedcache: a Python client for feedcached's msgpack-RPC (docs/PROTOCOL.md).

    import feedcache

    with feedcache.connect("127.0.0.1:7400", token_file="/etc/feedcache/token") as fc:
        page = fc.timeline_get(42, limit=20)
        for post in page["posts"]:
            print(post["id"], post["body"])

Depends on msgpack only (Debian: python3-msgpack).
"""

from .connection import DEFAULT_ADDR, Connection, Pending, Pipeline, connect, to_ms
from .errors import (
    BadRequestError,
    CallTimeoutError,
    ConnectError,
    ConnectionLostError,
    FeedcacheError,
    ForbiddenError,
    InternalError,
    NotFoundError,
    OverloadedError,
    ProtocolError,
    RetryableError,
    RPCError,
    TokenFileError,
    TransportError,
    UnauthorizedError,
    UnavailableError,
    error_from_wire,
)
from .retry import RetryPolicy, call_with_retry
from .token import read_token_file

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ADDR",
    "Connection",
    "Pending",
    "Pipeline",
    "connect",
    "to_ms",
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
    "RetryPolicy",
    "call_with_retry",
    "read_token_file",
    "__version__",
]
