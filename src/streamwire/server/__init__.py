"""Streaming responses for any ASGI app: SSE, chunked and NDJSON, with guards (stable path).

``sse(source)`` returns a Starlette ``Response`` that is also a bare ASGI app: each item the
source produces goes out at once; the response notices a client that leaves, cancels the source,
applies backpressure, sends heartbeats while idle and ends cleanly when the server shuts down.
See ``docs/server.md`` and ``docs/architecture.md``.
"""

from streamwire.server.chunked import (
    NDJSON_CONTENT_TYPE,
    ChunkedResponse,
    StreamAbortedError,
    TextChunk,
    ndjson,
    stream,
)
from streamwire.server.errors import SafeStreamError, StreamClosedError
from streamwire.server.guards import (
    BearerToken,
    CSRFProtection,
    Guard,
    GuardMiddleware,
    Guards,
    RateLimit,
    Rejection,
    bearer_token,
    csrf,
    guard,
    rate_limit,
)
from streamwire.server.outcome import (
    CloseCallback,
    DisconnectCallback,
    Emit,
    OutcomeStatus,
    StreamOutcome,
)
from streamwire.server.shutdown import ShutdownMiddleware, ShutdownMonitor, shutdown_monitor
from streamwire.server.sse import SSEItem, SSEResponse, SSESource, sse

__all__ = [
    "NDJSON_CONTENT_TYPE",
    "BearerToken",
    "CSRFProtection",
    "ChunkedResponse",
    "CloseCallback",
    "DisconnectCallback",
    "Emit",
    "Guard",
    "GuardMiddleware",
    "Guards",
    "OutcomeStatus",
    "RateLimit",
    "Rejection",
    "SSEItem",
    "SSEResponse",
    "SSESource",
    "SafeStreamError",
    "ShutdownMiddleware",
    "ShutdownMonitor",
    "StreamAbortedError",
    "StreamClosedError",
    "StreamOutcome",
    "TextChunk",
    "bearer_token",
    "csrf",
    "guard",
    "ndjson",
    "rate_limit",
    "shutdown_monitor",
    "sse",
    "stream",
]
