"""The native dialect: the streamwire protocol v1 on Server-Sent Events.

Each chunk is one event whose data is the chunk's compact JSON. ``done`` goes out as an event
named ``done`` (so a browser can ``addEventListener("done", () => es.close())``); every other
chunk is an unnamed (``message``) event. See ``docs/protocol.md``.
"""

from __future__ import annotations

from streamwire.protocol.chunks import Chunk, Done, decode_chunk, encode_chunk
from streamwire.protocol.dialects import Dialect
from streamwire.protocol.errors import ChunkDecodeError, MalformedStreamError
from streamwire.protocol.sse import ServerSentEvent

__all__ = ["DIALECT", "NativeDecoder", "NativeEncoder", "encode_sse_chunk"]

DONE_EVENT = "done"


def encode_sse_chunk(chunk: Chunk) -> bytes:
    """The SSE bytes of one chunk in the native dialect (the server's fast path).

    The JSON encoder escapes every control character, so the data is always one line.
    """
    if isinstance(chunk, Done):
        return b"event: done\ndata: " + encode_chunk(chunk) + b"\n\n"
    return b"data: " + encode_chunk(chunk) + b"\n\n"


class NativeEncoder:
    """Chunks -> native events."""

    __slots__ = ()

    def encode(self, chunk: Chunk) -> list[ServerSentEvent]:
        data = encode_chunk(chunk).decode()
        if isinstance(chunk, Done):
            return [ServerSentEvent(data=data, event=DONE_EVENT)]
        return [ServerSentEvent(data=data)]


class NativeDecoder:
    """Native events -> chunks. Counts events so that errors can say which one was bad."""

    __slots__ = ("_count", "_finished")

    def __init__(self) -> None:
        self._finished = False
        self._count = 0

    @property
    def finished(self) -> bool:
        return self._finished

    def decode(self, event: ServerSentEvent) -> list[Chunk]:
        index = self._count
        self._count += 1
        try:
            chunk = decode_chunk(event.data)
        except ChunkDecodeError as exc:
            raise MalformedStreamError(str(exc), event=event.data, index=index) from exc
        if isinstance(chunk, Done):
            self._finished = True
        return [chunk]


DIALECT = Dialect(name="native", new_encoder=NativeEncoder, new_decoder=NativeDecoder)
