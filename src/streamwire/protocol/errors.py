"""The exception hierarchy of streamwire.

One root, :class:`StreamwireError`. Under it, the types say whose fault an error is:

* the caller's: :class:`InvalidArgumentError` (also a :class:`ValueError`), raised at once;
* the peer's, when a stream breaks the protocol: :class:`PeerProtocolError` and its subclasses
  (:class:`SSEProtocolError`, :class:`ChunkDecodeError`, :class:`StructuredStreamError`,
  :class:`StructuredOutputError`, :class:`MalformedStreamError`, :class:`TruncatedStreamError`);
* the network's: the client's connection and timeout errors (``streamwire.client``).

Every error carries its data as attributes (``field``, ``path``, ``offset``, ``limit``) and builds
its message from them: what was wrong, where, and what was expected.
"""

from __future__ import annotations

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


class StreamwireError(Exception):
    """The root of every error streamwire raises on purpose."""


class InvalidArgumentError(StreamwireError, ValueError):
    """The caller passed a value that cannot work; raised at once, before anything happens.

    Attributes:
        field: the argument or field that was wrong, e.g. ``"id"``.
        reason: what was wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field} {reason}")


class PeerProtocolError(StreamwireError):
    """The other side sent something that breaks the protocol."""


class SSEProtocolError(PeerProtocolError):
    """A byte stream that cannot be decoded as Server-Sent Events within our limits.

    The WHATWG parsing rules accept any bytes, so this is raised only when a limit is crossed.

    Attributes:
        offset: the byte offset in the stream where the problem was found.
        limit: the limit that was crossed, in bytes, or ``None``.
        reason: what was wrong.
    """

    def __init__(self, reason: str, *, offset: int, limit: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        self.limit = limit
        super().__init__(f"{reason} (at byte offset {offset})")


class ChunkDecodeError(PeerProtocolError):
    """A stream chunk that is not valid: bad JSON, an unknown type, a missing or mistyped field.

    Attributes:
        field: the dotted path of the bad field (``"type"``, ``"input.kind"``), or ``""`` when
            the problem is the whole document (e.g. it is not JSON).
        reason: what was wrong.
        data: the offending text, cut to 200 characters, to show where it went wrong.
    """

    def __init__(self, reason: str, *, field: str = "", data: str = "") -> None:
        self.reason = reason
        self.field = field
        self.data = data[:200]
        where = f" at {field!r}" if field else ""
        shown = f" in {self.data!r}" if data else ""
        super().__init__(f"invalid chunk{where}: {reason}{shown}")


class StructuredStreamError(PeerProtocolError):
    """A structured-data chunk that cannot be applied to the object being rebuilt.

    Attributes:
        path: the dotted path the chunk addressed (``""`` when there is none).
        reason: what was found and what was expected.
    """

    def __init__(self, reason: str, *, path: str = "") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"at {path!r}: {reason}" if path else reason)


class StructuredOutputError(PeerProtocolError):
    """A model's structured output that is not the expected JSON document.

    Raised when the text is not JSON, is cut off, or fails validation against the model/schema.

    Attributes:
        reason: what was wrong.
        path: the first bad path in the document (``""`` when the document as a whole is bad).
        offset: the character offset in the text, when the problem is in the JSON syntax.
    """

    def __init__(self, reason: str, *, path: str = "", offset: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.offset = offset
        where = []
        if path:
            where.append(f"at {path!r}")
        if offset is not None:
            where.append(f"at offset {offset}")
        prefix = " ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class MalformedStreamError(PeerProtocolError):
    """A stream event that is not what its dialect allows (e.g. data that is not a chunk).

    Attributes:
        reason: what was wrong.
        event: the raw data of the offending event, cut to 200 characters.
        index: the 0-based number of the event in the stream, when known.
    """

    def __init__(self, reason: str, *, event: str = "", index: int | None = None) -> None:
        self.reason = reason
        self.event = event[:200]
        self.index = index
        where = f" (event {index})" if index is not None else ""
        shown = f": {self.event!r}" if event else ""
        super().__init__(f"{reason}{where}{shown}")


class TruncatedStreamError(PeerProtocolError):
    """The stream ended before its terminator (``done`` / ``[DONE]``).

    Attributes:
        received: how many chunks were read before the end.
    """

    def __init__(self, reason: str = "stream ended before its terminator", *, received: int = 0):
        self.reason = reason
        self.received = received
        super().__init__(f"{reason} (after {received} chunks)")
