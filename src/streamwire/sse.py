"""Server-Sent Events: ``ServerSentEvent``, ``encode`` and ``SSEDecoder`` (stable import path)."""

from streamwire.protocol.errors import SSEProtocolError
from streamwire.protocol.sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder, encode

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEDecoder", "SSEProtocolError", "ServerSentEvent", "encode"]
