"""Every exception streamwire raises on purpose (stable import path)."""

from streamwire.protocol.errors import (
    ChunkDecodeError,
    InvalidArgumentError,
    MalformedStreamError,
    PeerProtocolError,
    SSEProtocolError,
    StreamwireError,
    StructuredOutputError,
    StructuredStreamError,
    TruncatedStreamError,
)

__all__ = [
    "ChunkDecodeError",
    "InvalidArgumentError",
    "MalformedStreamError",
    "PeerProtocolError",
    "SSEProtocolError",
    "StreamwireError",
    "StructuredOutputError",
    "StructuredStreamError",
    "TruncatedStreamError",
]
