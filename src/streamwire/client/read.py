"""``read_stream``: a streaming httpx response -> typed chunks, in any dialect.

The returned :class:`ChunkStream` is iterated with ``async for`` when the response came from an
``httpx.AsyncClient`` and with ``for`` when it came from an ``httpx.Client``: one object, both
loops, like httpx's own response.

A stream owns the rest of its response: when the loop ends for any reason (the terminator, an
error, ``break``, a cancelled task) the response is closed at once, so the server sees the
disconnect and can stop its model.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator

import httpx

from streamwire.client._closing import Closing
from streamwire.client._decode import ChunkDecoding
from streamwire.client._http import connection_error, response_error, stream_problem
from streamwire.client.errors import StreamConsumedError, StreamErrorChunkError
from streamwire.protocol.chunks import Chunk, ErrorChunk
from streamwire.protocol.dialects import Dialect
from streamwire.protocol.sse import DEFAULT_MAX_EVENT_BYTES

__all__ = ["ChunkStream", "read_stream"]

# How much of a failed response's body is read to show in the error.
_ERROR_BODY_BYTES = 2000


async def _aread_excerpt(response: httpx.Response) -> bytes:
    body = b""
    try:
        async for data in response.aiter_bytes():
            body += data
            if len(body) >= _ERROR_BODY_BYTES:
                break
    except httpx.HTTPError:
        pass  # the status is the news; a body we cannot read adds nothing
    return body[:_ERROR_BODY_BYTES]


def _read_excerpt(response: httpx.Response) -> bytes:
    body = b""
    try:
        for data in response.iter_bytes():
            body += data
            if len(body) >= _ERROR_BODY_BYTES:
                break
    except httpx.HTTPError:
        pass  # the status is the news; a body we cannot read adds nothing
    return body[:_ERROR_BODY_BYTES]


class ChunkStream(Closing):
    """The typed chunks of one streaming response; made by :func:`read_stream`.

    Iterate it once, with ``async for`` (a response of an ``httpx.AsyncClient``) or ``for``
    (an ``httpx.Client``). Iteration stops after the terminator (``done`` / ``[DONE]``) and
    closes the response.

    Attributes:
        response: the response being read.
        chunks: every chunk read so far, in order; still there after an error, so a truncated
            stream's partial answer is not lost.
    """

    __slots__ = (
        "_agen",
        "_closed",
        "_decoding",
        "_gen",
        "_raise_on_error",
        "_started",
        "chunks",
        "response",
    )

    def __init__(
        self,
        response: httpx.Response,
        *,
        dialect: str | Dialect | None = None,
        raise_on_error: bool = False,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.response = response
        self.chunks: list[Chunk] = []
        self._decoding = ChunkDecoding(
            dialect=dialect, headers=response.headers, max_event_bytes=max_event_bytes
        )
        self._raise_on_error = raise_on_error
        self._started = False
        self._closed = False
        self._agen: weakref.ref[AsyncGenerator[Chunk, None]] | None = None
        self._gen: weakref.ref[Generator[Chunk, None, None]] | None = None

    @property
    def dialect(self) -> str | None:
        """The dialect's name: as given, announced by the headers, or detected from the first
        event (``None`` until then)."""
        return self._decoding.dialect

    @property
    def finished(self) -> bool:
        """Whether the stream's terminator has been read."""
        return self._decoding.finished

    def _start(self) -> None:
        if self._started:
            raise StreamConsumedError(type(self).__name__)
        self._started = True

    def __aiter__(self) -> AsyncIterator[Chunk]:
        """Read the chunks of a response of an ``httpx.AsyncClient``.

        Raises (from the loop):
            StreamResponseError: the status is not 2xx or the content type is not
                ``text/event-stream`` (the body's start is in the error).
            TruncatedStreamError: the body ended before the terminator.
            MalformedStreamError: an event is not valid in the dialect; the error shows it.
            SSEProtocolError: an event grew past ``max_event_bytes``.
            StreamErrorChunkError: an ``error`` chunk arrived and ``raise_on_error`` is set.
            StreamConnectionError: the connection broke; :class:`StreamTimeoutError` when the
                client's read timeout ran out.
            StreamConsumedError: the stream was iterated before.

            In every case :attr:`chunks` keeps what was read and the response is closed.
        """
        self._start()
        generator = self._aiterate()
        self._agen = weakref.ref(generator)
        return generator

    def __iter__(self) -> Iterator[Chunk]:
        """Read the chunks of a response of an ``httpx.Client``; raises as ``__aiter__``."""
        self._start()
        generator = self._iterate()
        self._gen = weakref.ref(generator)
        return generator

    def _check_chunk(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)
        if self._raise_on_error and isinstance(chunk, ErrorChunk):
            raise StreamErrorChunkError(chunk)

    async def _aiterate(self) -> AsyncGenerator[Chunk, None]:
        response = self.response
        decoding = self._decoding
        try:
            problem = stream_problem(response)
            if problem is not None:
                raise response_error(response, problem, await _aread_excerpt(response))
            try:
                async for data in response.aiter_bytes():
                    for event in decoding.feed(data):
                        for chunk in decoding.decode(event):
                            self._check_chunk(chunk)
                            yield chunk
                        if decoding.finished:
                            return
            except httpx.TransportError as exc:
                if self._closed:
                    return
                url = str(response.request.url)
                raise connection_error(exc, url=url, received=decoding.received) from exc
            if not self._closed:
                decoding.close()
        finally:
            await response.aclose()

    def _iterate(self) -> Generator[Chunk, None, None]:
        response = self.response
        decoding = self._decoding
        try:
            problem = stream_problem(response)
            if problem is not None:
                raise response_error(response, problem, _read_excerpt(response))
            try:
                for data in response.iter_bytes():
                    for event in decoding.feed(data):
                        for chunk in decoding.decode(event):
                            self._check_chunk(chunk)
                            yield chunk
                        if decoding.finished:
                            return
            except httpx.TransportError as exc:
                if self._closed:
                    return
                url = str(response.request.url)
                raise connection_error(exc, url=url, received=decoding.received) from exc
            if not self._closed:
                decoding.close()
        finally:
            response.close()

    async def aclose(self) -> None:
        """Stop reading and close the response (idempotent). A loop still running in another
        task ends quietly at its next read."""
        self._closed = True
        generator = self._agen() if self._agen is not None else None
        if generator is not None and not getattr(generator, "ag_running", False):
            await generator.aclose()
        await self.response.aclose()

    def close(self) -> None:
        """Stop reading and close the response (idempotent); the sync twin of :meth:`aclose`."""
        self._closed = True
        generator = self._gen() if self._gen is not None else None
        if generator is not None and not getattr(generator, "gi_running", False):
            generator.close()
        self.response.close()


def read_stream(
    response: httpx.Response,
    *,
    dialect: str | Dialect | None = None,
    raise_on_error: bool = False,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> ChunkStream:
    """Read a streaming httpx response as typed chunks.

    Args:
        response: a response opened with ``stream=True`` (``client.stream(...)`` or
            ``client.send(request, stream=True)``), of an ``httpx.AsyncClient`` (iterate with
            ``async for``) or an ``httpx.Client`` (iterate with ``for``).
        dialect: ``"native"``, ``"openai"``, ``"ai-sdk"`` or a :class:`Dialect`. By default it
            is detected: ``ai-sdk`` when the response has ``x-vercel-ai-ui-message-stream: v1``,
            ``openai`` when the first event is a ``chat.completion.chunk``, else ``native``.
        raise_on_error: raise :class:`StreamErrorChunkError` at an ``error`` chunk instead of
            yielding it.
        max_event_bytes: the most bytes one event may span (a guard against a runaway peer).

    Returns:
        A :class:`ChunkStream`: iterate it once; it stops after ``done`` / ``[DONE]``. The errors
        the loop raises are listed on :meth:`ChunkStream.__aiter__`.

    Raises:
        InvalidArgumentError: ``dialect`` is unknown or ``max_event_bytes`` is not positive.

    Example:
        >>> async with httpx.AsyncClient() as client:  # doctest: +SKIP
        ...     async with client.stream("POST", url, json=body) as response:
        ...         async for chunk in read_stream(response):
        ...             if isinstance(chunk, TextDelta):
        ...                 print(chunk.delta, end="", flush=True)
    """
    return ChunkStream(
        response, dialect=dialect, raise_on_error=raise_on_error, max_event_bytes=max_event_bytes
    )
