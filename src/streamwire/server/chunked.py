"""``stream()`` and ``ndjson()``: plain chunked streaming (CSV, text, JSON lines).

Each item the source produces is flushed to the client as soon as the source would wait for the
next one (items it already has ready leave in one send), with the same disconnect detection,
backpressure, send timeout, shutdown and ``on_close`` as :func:`~streamwire.server.sse`.

These formats have no way to report an error in-band, so when the source raises, the traceback is
logged and the body is left *incomplete* (the server closes the connection without the final
chunk): a client sees a truncated response instead of a short one that looks whole. At shutdown
the body simply ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import TypeAlias, TypeVar

import msgspec
from starlette.background import BackgroundTask

from streamwire.protocol.errors import InvalidArgumentError
from streamwire.server._engine import (
    DEFAULT_MAX_BUFFERED_EVENTS,
    DEFAULT_SEND_TIMEOUT_SECONDS,
    DEFAULT_SHUTDOWN_GRACE_SECONDS,
    StreamAbortedError,
    stream_settings,
)
from streamwire.server._response import StreamingResponseBase, build_headers
from streamwire.server.outcome import CloseCallback, DisconnectCallback, Emit
from streamwire.server.shutdown import ShutdownMonitor, shutdown_monitor

__all__ = [
    "NDJSON_CONTENT_TYPE",
    "ChunkedResponse",
    "StreamAbortedError",
    "TextChunk",
    "ndjson",
    "stream",
]

_T = TypeVar("_T")

#: What :func:`stream` accepts as one piece of the body.
TextChunk: TypeAlias = str | bytes | bytearray | memoryview

#: The media type of newline-delimited JSON.
NDJSON_CONTENT_TYPE = "application/x-ndjson"

_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class _BytesEncoder:
    """str (as UTF-8) or bytes -> the same bytes."""

    __slots__ = ("_charset",)

    finished = False

    def __init__(self, charset: str) -> None:
        self._charset = charset

    def encode(self, item: TextChunk) -> tuple[bytes, int]:
        if isinstance(item, str):
            return item.encode(self._charset), 1
        if isinstance(item, bytes | bytearray | memoryview):
            return bytes(item), 1
        raise TypeError(f"a stream item must be str or bytes, not {type(item).__name__}")

    def opening(self) -> bytes:
        return b""

    def end(self) -> tuple[bytes, int]:
        return b"", 0

    def fail(self, exc: Exception) -> None:
        return None

    def shutdown(self) -> tuple[bytes, int]:
        return b"", 0


class _NDJSONEncoder:
    """Any msgspec-encodable value -> one line of compact JSON."""

    __slots__ = ("_encoder",)

    finished = False

    def __init__(self, encoder: msgspec.json.Encoder) -> None:
        self._encoder = encoder

    def encode(self, item: object) -> tuple[bytes, int]:
        # msgspec escapes control characters, so the JSON text never contains a line break.
        return self._encoder.encode(item) + b"\n", 1

    def opening(self) -> bytes:
        return b""

    def end(self) -> tuple[bytes, int]:
        return b"", 0

    def fail(self, exc: Exception) -> None:
        return None

    def shutdown(self) -> tuple[bytes, int]:
        return b"", 0


class ChunkedResponse(StreamingResponseBase[_T]):
    """A streamed body of any content type: a Starlette ``Response`` and a bare ASGI app.

    Build it with :func:`stream` or :func:`ndjson`.
    """

    def __init__(
        self,
        source: AsyncIterable[_T] | Iterable[_T] | Callable[[Emit[_T]], Awaitable[None]],
        *,
        content_type: str,
        new_encoder: Callable[[], _BytesEncoder | _NDJSONEncoder],
        headers: Mapping[str, str] | None,
        status_code: int,
        send_timeout_seconds: float | None,
        max_buffered_events: int,
        on_disconnect: DisconnectCallback | None,
        on_close: CloseCallback | None,
        shutdown_grace_seconds: float,
        coalesce: bool,
        background: BackgroundTask | None,
        shutdown: ShutdownMonitor | None,
    ) -> None:
        if not isinstance(content_type, str) or not content_type.strip():
            raise InvalidArgumentError("content_type", "must be a non-empty str")
        if any(char in content_type for char in "\r\n\0"):
            raise InvalidArgumentError("content_type", "must not contain CR, LF or NUL")
        self.media_type = content_type
        self._new_encoder = new_encoder
        settings = stream_settings(
            heartbeat_seconds=None,
            heartbeat=None,
            send_timeout_seconds=send_timeout_seconds,
            max_buffered_events=max_buffered_events,
            coalesce=coalesce,
            shutdown_grace_seconds=shutdown_grace_seconds,
            on_disconnect=on_disconnect,
            on_close=on_close,
            shutdown_monitor=shutdown if shutdown is not None else shutdown_monitor,
        )
        raw_headers = build_headers(content_type=content_type, fixed=_STREAM_HEADERS, user=headers)
        super().__init__(
            source,
            settings=settings,
            raw_headers=raw_headers,
            status_code=status_code,
            background=background,
        )

    def new_encoder(self) -> _BytesEncoder | _NDJSONEncoder:  # type: ignore[override]  # narrower
        """A fresh encoder for one run of the stream."""
        return self._new_encoder()


def _charset_of(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


def stream(
    source: AsyncIterable[TextChunk]
    | Iterable[TextChunk]
    | Callable[[Emit[TextChunk]], Awaitable[None]],
    *,
    content_type: str,
    headers: Mapping[str, str] | None = None,
    status_code: int = 200,
    send_timeout_seconds: float | None = DEFAULT_SEND_TIMEOUT_SECONDS,
    max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
    on_disconnect: DisconnectCallback | None = None,
    on_close: CloseCallback | None = None,
    shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
    coalesce: bool = True,
    background: BackgroundTask | None = None,
    shutdown: ShutdownMonitor | None = None,
) -> ChunkedResponse[TextChunk]:
    """Stream ``source`` as a chunked body of ``content_type``, each piece flushed at once.

    Args:
        source: an async iterable or an iterable (iterated in a worker thread, so a blocking
            generator does not block the event loop) of ``str`` (encoded with the charset of
            ``content_type``, UTF-8 by default) or ``bytes``; or an emitter
            ``async def produce(emit)``.
        content_type: the media type, e.g. ``"text/csv; charset=utf-8"``.
        headers: extra response headers (not ``content-type`` nor connection/framing headers).
        status_code: the HTTP status.
        send_timeout_seconds: drop a client that takes longer than this to accept one piece.
        max_buffered_events: how many produced pieces may wait behind a send in flight (a
            heartbeat, or an emitter's coalesced batch); a generator's own send holds it
            directly.
        on_disconnect: called when the client leaves early.
        on_close: called exactly once with a :class:`StreamOutcome`.
        shutdown_grace_seconds: at server shutdown, the time to send what is buffered.
        coalesce: let pieces already waiting leave in one send, up to 64 KiB (a lone piece
            never waits). On by default; ``False`` sends each piece on its own.
        background: a Starlette background task run after the stream ends.
        shutdown: the :class:`ShutdownMonitor` to follow.

    Returns:
        A :class:`ChunkedResponse`.

    Raises:
        InvalidArgumentError: an option is out of range or a header is forbidden.
        TypeError: ``source`` is not an iterable or an emitter.

    Example:
        >>> response = stream(["a,b\\n", "1,2\\n"], content_type="text/csv")
        >>> response.headers["content-type"]
        'text/csv'
    """
    charset = _charset_of(content_type)
    try:
        "".encode(charset)
    except LookupError:
        raise InvalidArgumentError(
            "content_type", f"names an unknown charset {charset!r}"
        ) from None
    return ChunkedResponse(
        source,
        content_type=content_type,
        new_encoder=lambda: _BytesEncoder(charset),
        headers=headers,
        status_code=status_code,
        send_timeout_seconds=send_timeout_seconds,
        max_buffered_events=max_buffered_events,
        on_disconnect=on_disconnect,
        on_close=on_close,
        shutdown_grace_seconds=shutdown_grace_seconds,
        coalesce=coalesce,
        background=background,
        shutdown=shutdown,
    )


def ndjson(
    source: AsyncIterable[object] | Iterable[object] | Callable[[Emit[object]], Awaitable[None]],
    *,
    headers: Mapping[str, str] | None = None,
    status_code: int = 200,
    send_timeout_seconds: float | None = DEFAULT_SEND_TIMEOUT_SECONDS,
    max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
    on_disconnect: DisconnectCallback | None = None,
    on_close: CloseCallback | None = None,
    shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
    coalesce: bool = True,
    background: BackgroundTask | None = None,
    shutdown: ShutdownMonitor | None = None,
) -> ChunkedResponse[object]:
    """Stream ``source`` as newline-delimited JSON: one compact JSON value per line.

    Items are encoded with ``msgspec.json`` (dicts, lists, dataclasses, msgspec structs,
    datetimes, ...). Content type ``application/x-ndjson``. Other arguments as :func:`stream`.

    Returns:
        A :class:`ChunkedResponse`.

    Raises:
        InvalidArgumentError: an option is out of range or a header is forbidden.
        TypeError: ``source`` is not an iterable or an emitter. (An item msgspec cannot encode
            raises ``TypeError`` in the source: it is logged and the body is left incomplete.)

    Example:
        >>> ndjson([{"n": 1}, {"n": 2}]).headers["content-type"]
        'application/x-ndjson'
    """
    encoder = msgspec.json.Encoder()
    return ChunkedResponse(
        source,
        content_type=NDJSON_CONTENT_TYPE,
        new_encoder=lambda: _NDJSONEncoder(encoder),
        headers=headers,
        status_code=status_code,
        send_timeout_seconds=send_timeout_seconds,
        max_buffered_events=max_buffered_events,
        on_disconnect=on_disconnect,
        on_close=on_close,
        shutdown_grace_seconds=shutdown_grace_seconds,
        coalesce=coalesce,
        background=background,
        shutdown=shutdown,
    )
