"""The sans-IO core of the stream readers: response bytes -> events -> typed chunks.

It picks the dialect (by name, from the response headers, or from the first event's shape),
tracks the terminator and counts what it decoded. The IO loops in ``read.py``,
``chat.py`` and ``eventsource.py`` feed it and act on what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from streamwire.protocol.chunks import Chunk
from streamwire.protocol.dialects import ChunkDecoder, Dialect, get_dialect
from streamwire.protocol.errors import TruncatedStreamError
from streamwire.protocol.sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder

__all__ = ["AI_SDK_HEADER", "ChunkDecoding", "dialect_from_event", "dialect_from_headers"]

#: The response header by which an AI SDK UI message stream announces itself.
AI_SDK_HEADER = "x-vercel-ai-ui-message-stream"

_OPENAI_OBJECT = "chat.completion.chunk"


def dialect_from_headers(headers: Mapping[str, str]) -> str | None:
    """The dialect the response headers announce: ``"ai-sdk"`` for
    ``x-vercel-ai-ui-message-stream: v1``, else ``None`` (undecided)."""
    value = headers.get(AI_SDK_HEADER)
    if value is not None and value.strip().lower() == "v1":
        return "ai-sdk"
    return None


def dialect_from_event(event: ServerSentEvent) -> str:
    """The dialect a stream's first event shows: ``"openai"`` for a ``chat.completion.chunk``
    object (or a bare ``[DONE]``), ``"native"`` for anything else."""
    data = event.data.strip()
    if data == "[DONE]":
        return "openai"
    if data.startswith("{") and _OPENAI_OBJECT in data:
        try:
            obj = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return "native"
        if isinstance(obj, dict) and obj.get("object") == _OPENAI_OBJECT:
            return "openai"
    return "native"


class ChunkDecoding:
    """Decodes one response: feed it bytes for events, then decode each event into chunks.

    Args:
        dialect: a dialect name or :class:`Dialect`, or ``None`` to detect it: from ``headers``
            first, else from the first event.
        headers: the response headers.
        max_event_bytes: the SSE decoder's limit on one event.

    Attributes:
        dialect: the dialect's name once known (``None`` until the first event when detecting).
        received: how many chunks have been decoded.
        finished: whether the dialect's terminator has been read.
    """

    __slots__ = ("_decoder", "_sse", "dialect", "finished", "received")

    def __init__(
        self,
        *,
        dialect: str | Dialect | None = None,
        headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self._sse = SSEDecoder(max_event_bytes=max_event_bytes)
        self._decoder: ChunkDecoder | None = None
        self.dialect: str | None = None
        self.received = 0
        self.finished = False
        if dialect is None and headers is not None:
            dialect = dialect_from_headers(headers)
        if dialect is not None:
            chosen = get_dialect(dialect)
            self._decoder = chosen.new_decoder()
            self.dialect = chosen.name

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """The events completed by ``data`` (none once the terminator has been read).

        Raises:
            SSEProtocolError: an event grew past ``max_event_bytes``.
        """
        if self.finished:
            return []
        return self._sse.feed(data)

    def decode(self, event: ServerSentEvent) -> list[Chunk]:
        """The chunks one event carries (none after the terminator).

        Raises:
            MalformedStreamError: the event is not valid in the dialect.
        """
        if self.finished:
            return []
        decoder = self._decoder
        if decoder is None:
            name = dialect_from_event(event)
            decoder = self._decoder = get_dialect(name).new_decoder()
            self.dialect = name
        chunks = decoder.decode(event)
        self.received += len(chunks)
        if decoder.finished:
            self.finished = True
        return chunks

    def close(self) -> None:
        """The input ended.

        Raises:
            TruncatedStreamError: it ended before the dialect's terminator; ``received`` says
                how many chunks came before.
        """
        if not self.finished:
            raise TruncatedStreamError(received=self.received)
