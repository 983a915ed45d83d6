"""Streaming responses for any ASGI app: SSE, chunked and NDJSON, with guards (stable path).

``sse(source)`` returns a Starlette ``Response`` that is also a bare ASGI app: each item the
source produces goes out at once; the response notices a client that leaves, cancels the source,
applies backpressure, sends heartbeats while idle and ends cleanly when the server shuts down.
See ``docs/server.md`` and ``docs/architecture.md``.
"""

from streamwire.server.errors import SafeStreamError, StreamClosedError
from streamwire.server.outcome import (
    CloseCallback,
    DisconnectCallback,
    Emit,
    OutcomeStatus,
    StreamOutcome,
)

__all__ = [
    "CloseCallback",
    "DisconnectCallback",
    "Emit",
    "OutcomeStatus",
    "SafeStreamError",
    "StreamClosedError",
    "StreamOutcome",
]
