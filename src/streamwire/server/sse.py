"""``sse()``: a Server-Sent Events response for Starlette, FastAPI or any ASGI server.

Items from the source become events in the chosen dialect as soon as they are produced:

* a streamwire chunk (``streamwire.chunks``) is encoded by the dialect;
* a :class:`~streamwire.sse.ServerSentEvent` is sent as it is;
* a ``str`` is a ``TextDelta`` chunk;
* a ``dict`` is a chunk in its wire form (``{"type": "text-delta", "delta": "Hi"}``).

The stream always ends with exactly one ``done`` chunk: appended if the source ends without one,
never duplicated, and nothing after it is sent. An exception in the source is logged with its
traceback and becomes an ``error`` chunk with a safe message (only a
:class:`~streamwire.server.SafeStreamError` shows its own text), then ``done``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import TypeAlias

import msgspec
from starlette.background import BackgroundTask

from streamwire.protocol.chunks import (
    CHUNK_TYPES,
    Chunk,
    Done,
    ErrorChunk,
    TextDelta,
    chunk_from_dict,
)
from streamwire.protocol.dialects import Dialect, get_dialect
from streamwire.protocol.dialects.native import encode_sse_chunk
from streamwire.protocol.errors import ChunkDecodeError, InvalidArgumentError
from streamwire.protocol.sse import ServerSentEvent, encode
from streamwire.server._engine import (
    DEFAULT_HEARTBEAT_SECONDS,
    DEFAULT_MAX_BUFFERED_EVENTS,
    DEFAULT_SEND_TIMEOUT_SECONDS,
    DEFAULT_SHUTDOWN_GRACE_SECONDS,
    stream_settings,
)
from streamwire.server._response import StreamingResponseBase, build_headers
from streamwire.server.errors import SafeStreamError
from streamwire.server.outcome import CloseCallback, DisconnectCallback, Emit
from streamwire.server.shutdown import ShutdownMonitor, shutdown_monitor

__all__ = [
    "DEFAULT_SHUTDOWN_RETRY_MS",
    "HEARTBEAT",
    "INTERNAL_ERROR_MESSAGE",
    "SHUTDOWN_MESSAGE",
    "SSEItem",
    "SSEResponse",
    "SSESource",
    "sse",
]

#: What a source may produce.
SSEItem: TypeAlias = Chunk | ServerSentEvent | str | Mapping[str, object]

#: What :func:`sse` accepts: an async iterable, an iterable (run in a thread), or an emitter.
SSESource: TypeAlias = (
    AsyncIterable[SSEItem] | Iterable[SSEItem] | Callable[[Emit[SSEItem]], Awaitable[None]]
)

#: The heartbeat: a comment line, which every SSE client ignores.
HEARTBEAT = b": ping\n\n"
#: The message of the error chunk that replaces an unexpected exception.
INTERNAL_ERROR_MESSAGE = "The stream failed."
#: The message of the error chunk sent when the server shuts down.
SHUTDOWN_MESSAGE = "The server is restarting; please reconnect."
# 1 s, doubled at most by jitter: a restart takes about that long, and spreading reconnects
# over [1 s, 2 s) keeps a fleet of clients from arriving at the new process all at once.
DEFAULT_SHUTDOWN_RETRY_MS = 1000

# openai-python fails on a `retry:`-only block once a stream has carried an `id:` (FIELD-NOTES):
# the OpenAI dialect never sends `retry:`.
_NO_RETRY_FIELD = frozenset({"openai"})
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_CONTENT_TYPE = "text/event-stream; charset=utf-8"
_CHUNK_CLASSES = tuple(CHUNK_TYPES.values())


def _text_delta_frame() -> tuple[bytes, bytes]:
    """The native bytes of a ``TextDelta`` around its JSON-encoded ``delta``, taken from the
    dialect's own encoder so the fast path cannot drift from it."""
    marker = "\ue000streamwire\ue000"
    encoded = encode_sse_chunk(TextDelta(delta=marker))
    prefix, found, suffix = encoded.partition(msgspec.json.encode(marker))
    if not found or marker.encode() in suffix:
        raise RuntimeError(f"unexpected native text-delta encoding: {encoded!r}")
    return prefix, suffix


# The common item of the common dialect (a str in native) skips the chunk object: the bytes
# are the same, built around msgspec's encoding of the text.
_TEXT_FRAME = _text_delta_frame()  # one tuple for every encoder (an idle stream holds it)
_TEXT_PREFIX, _TEXT_SUFFIX = _TEXT_FRAME
_encode_json = msgspec.json.encode


def _as_chunk(item: object) -> Chunk:
    if type(item) is str:
        return TextDelta(delta=item)
    if isinstance(item, _CHUNK_CLASSES):
        return item
    if isinstance(item, str):
        return TextDelta(delta=item)
    if isinstance(item, Mapping):
        try:
            return chunk_from_dict(dict(item))
        except ChunkDecodeError as exc:
            field = f"item.{exc.field}" if exc.field else "item"
            raise InvalidArgumentError(field, f"is not a valid chunk: {exc.reason}") from exc
    raise TypeError(
        "a stream item must be a streamwire chunk, a ServerSentEvent, a str or a dict, "
        f"not {type(item).__name__}"
    )


class _SSEEncoder:
    """Items -> SSE bytes in one dialect, for one stream."""

    __slots__ = ("_encoder", "_retry_ms", "_shutdown_retry", "finished", "text_frame")

    def __init__(self, dialect: Dialect, *, retry_ms: int | None) -> None:
        native = dialect is get_dialect("native")
        self._encoder = None if native else dialect.new_encoder()
        self._retry_ms = retry_ms
        self._shutdown_retry = dialect.name not in _NO_RETRY_FIELD
        self.finished = False
        #: A ``str`` item's bytes are ``prefix + msgspec.json.encode(item) + suffix`` (the
        #: native dialect): the stream engine builds them itself, without a call per item.
        self.text_frame = _TEXT_FRAME if native else None

    def _chunk(self, chunk: Chunk) -> tuple[bytes, int]:
        if isinstance(chunk, Done):
            self.finished = True
        if self._encoder is None:
            return encode_sse_chunk(chunk), 1
        events = self._encoder.encode(chunk)
        return b"".join(encode(event) for event in events), len(events)

    def encode(self, item: SSEItem) -> tuple[bytes, int]:
        if type(item) is str and self._encoder is None:
            return _TEXT_PREFIX + _encode_json(item) + _TEXT_SUFFIX, 1
        if isinstance(item, ServerSentEvent):
            return encode(item), 1
        return self._chunk(_as_chunk(item))

    def opening(self) -> bytes:
        if self._retry_ms is None:
            return b""
        return encode(ServerSentEvent(retry=self._retry_ms))

    def _ending(self, error: ErrorChunk | None) -> tuple[bytes, int]:
        parts: list[bytes] = []
        count = 0
        for chunk in (error, None if self.finished else Done()):
            if chunk is not None:
                data, events = self._chunk(chunk)
                parts.append(data)
                count += events
        return b"".join(parts), count

    def end(self) -> tuple[bytes, int]:
        return self._ending(None)

    def fail(self, exc: Exception) -> tuple[bytes, int]:
        if isinstance(exc, SafeStreamError):
            error = ErrorChunk(message=exc.message, code=exc.code, retryable=exc.retryable)
        else:
            error = ErrorChunk(
                message=INTERNAL_ERROR_MESSAGE, code="internal_error", retryable=False
            )
        return self._ending(error)

    def shutdown(self) -> tuple[bytes, int]:
        error = ErrorChunk(message=SHUTDOWN_MESSAGE, code="server_shutdown", retryable=True)
        body, events = self._ending(error)
        if not self._shutdown_retry:
            return body, events
        base = self._retry_ms if self._retry_ms else DEFAULT_SHUTDOWN_RETRY_MS
        retry = base + random.randrange(base)  # jitter spreads reconnects; not security
        return encode(ServerSentEvent(retry=retry)) + body, events


class SSEResponse(StreamingResponseBase[SSEItem]):
    """A Server-Sent Events response: a Starlette ``Response`` and a bare ASGI app.

    Build it with :func:`sse`, which documents every argument.
    """

    def __init__(
        self,
        source: SSESource,
        *,
        dialect: str | Dialect = "native",
        heartbeat_seconds: float | None = DEFAULT_HEARTBEAT_SECONDS,
        send_timeout_seconds: float | None = DEFAULT_SEND_TIMEOUT_SECONDS,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
        on_disconnect: DisconnectCallback | None = None,
        on_close: CloseCallback | None = None,
        headers: Mapping[str, str] | None = None,
        status_code: int = 200,
        retry_ms: int | None = None,
        shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
        coalesce: bool = True,
        background: BackgroundTask | None = None,
        shutdown: ShutdownMonitor | None = None,
    ) -> None:
        self.dialect = get_dialect(dialect)
        if retry_ms is not None:
            if isinstance(retry_ms, bool) or not isinstance(retry_ms, int) or retry_ms < 0:
                raise InvalidArgumentError("retry_ms", f"must be an int >= 0 (got {retry_ms!r})")
            if self.dialect.name in _NO_RETRY_FIELD:
                raise InvalidArgumentError(
                    "retry_ms",
                    f"cannot be used with the {self.dialect.name} dialect: its clients fail on "
                    "a `retry:` field",
                )
        self.retry_ms = retry_ms
        settings = stream_settings(
            heartbeat_seconds=heartbeat_seconds,
            heartbeat=HEARTBEAT,
            send_timeout_seconds=send_timeout_seconds,
            max_buffered_events=max_buffered_events,
            coalesce=coalesce,
            shutdown_grace_seconds=shutdown_grace_seconds,
            on_disconnect=on_disconnect,
            on_close=on_close,
            shutdown_monitor=shutdown if shutdown is not None else shutdown_monitor,
        )
        raw_headers = build_headers(
            content_type=_CONTENT_TYPE,
            fixed={**_SSE_HEADERS, **self.dialect.headers},
            user=headers,
        )
        super().__init__(
            source,
            settings=settings,
            raw_headers=raw_headers,
            status_code=status_code,
            background=background,
        )

    media_type = "text/event-stream"

    def new_encoder(self) -> _SSEEncoder:
        """A fresh encoder (dialect state) for one run of the stream."""
        return _SSEEncoder(self.dialect, retry_ms=self.retry_ms)


def sse(
    source: SSESource,
    *,
    dialect: str | Dialect = "native",
    heartbeat_seconds: float | None = DEFAULT_HEARTBEAT_SECONDS,
    send_timeout_seconds: float | None = DEFAULT_SEND_TIMEOUT_SECONDS,
    max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
    on_disconnect: DisconnectCallback | None = None,
    on_close: CloseCallback | None = None,
    headers: Mapping[str, str] | None = None,
    status_code: int = 200,
    retry_ms: int | None = None,
    shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
    coalesce: bool = True,
    background: BackgroundTask | None = None,
    shutdown: ShutdownMonitor | None = None,
) -> SSEResponse:
    """Stream ``source`` as Server-Sent Events.

    Return the result from a Starlette or FastAPI route, or call it as an ASGI app.

    Args:
        source: an async iterable of items, an iterable (iterated in a worker thread), or an
            emitter ``async def produce(emit): await emit(item)``. Items: streamwire chunks,
            ``ServerSentEvent``, ``str`` (a text delta) or ``dict`` (a chunk in wire form).
        dialect: the wire format: ``"native"``, ``"openai"``, ``"ai-sdk"`` or a ``Dialect``.
        heartbeat_seconds: send a ``: ping`` comment after this many seconds without an event
            (never while events flow); ``None`` turns heartbeats off.
        send_timeout_seconds: drop a client whose read of one event takes longer than this
            and cancel the source; ``None`` waits forever.
        max_buffered_events: how many produced events may wait behind a send in flight (a
            heartbeat, or an emitter's coalesced batch); the source waits (``emit`` does not
            return, the generator is not resumed) while that many wait. A generator's own
            send holds it directly: it is not resumed while its send is in flight.
        on_disconnect: ``on_disconnect()``, sync or async, when the client leaves early.
        on_close: ``on_close(outcome)``, sync or async, exactly once when the stream ends,
            whatever the reason, with a :class:`StreamOutcome`.
        headers: extra response headers. ``content-type`` and connection/framing headers
            cannot be set here.
        status_code: the HTTP status (200 unless you have a reason).
        retry_ms: a ``retry:`` reconnection hint sent first (not allowed in the openai
            dialect); also the base of the hint sent at shutdown.
        shutdown_grace_seconds: when the server shuts down, how long the stream has to send
            what is buffered and its ``server_shutdown`` notice before it is closed.
        coalesce: let events that are already waiting leave in one ``send``, up to 64 KiB
            (a lone event never waits: it leaves as soon as the source would wait). On by
            default; ``False`` sends each event on its own.
        background: a Starlette background task run after the stream ends.
        shutdown: the :class:`ShutdownMonitor` to follow (the process-wide one by default).

    Returns:
        An :class:`SSEResponse`.

    Raises:
        InvalidArgumentError: (a ``ValueError``) an option is out of range, an unknown
            dialect, or a forbidden header; ``field`` names it.
        TypeError: ``source`` is not an iterable or an emitter.

    Example:
        >>> async def tokens():
        ...     yield "Hello"
        ...     yield ", world"
        >>> response = sse(tokens())
        >>> response.headers["content-type"]
        'text/event-stream; charset=utf-8'
    """
    return SSEResponse(
        source,
        dialect=dialect,
        heartbeat_seconds=heartbeat_seconds,
        send_timeout_seconds=send_timeout_seconds,
        max_buffered_events=max_buffered_events,
        on_disconnect=on_disconnect,
        on_close=on_close,
        headers=headers,
        status_code=status_code,
        retry_ms=retry_ms,
        shutdown_grace_seconds=shutdown_grace_seconds,
        coalesce=coalesce,
        background=background,
        shutdown=shutdown,
    )
