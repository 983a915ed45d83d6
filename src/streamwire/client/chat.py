"""``stream_chat_from_route`` and ``collect``: POST a chat to a streaming route and read it.

An HTTP failure is not raised: it becomes an ``error`` chunk (with the body's
``{"error": {"message"}}``, or ``Request failed (<status>)``) followed by ``done``, so a UI that
renders chunks shows it like any other stream error. A connection failure is raised
(:class:`StreamConnectionError`): no answer came at all.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping, Sequence

import httpx

from streamwire.chat.buffered import BufferedCollector, BufferedResult
from streamwire.chat.messages import ChatMessage
from streamwire.client._closing import Closing
from streamwire.client._decode import ChunkDecoding
from streamwire.client._http import EVENT_STREAM, connection_error, http_error_details
from streamwire.client.errors import StreamConsumedError, StreamErrorChunkError
from streamwire.client.eventsource import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
)
from streamwire.client.read import ChunkStream, _aread_excerpt, _read_excerpt
from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    JSONValue,
)
from streamwire.protocol.dialects import Dialect
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.protocol.sse import DEFAULT_MAX_EVENT_BYTES

__all__ = [
    "DEFAULT_CHAT_TIMEOUT",
    "ChatStream",
    "collect",
    "collect_sync",
    "stream_chat_from_route",
]

#: Connect within 10 s; then allow 60 s of silence between bytes (a model may think before its
#: first token; a live server sends heartbeats well within that).
DEFAULT_CHAT_TIMEOUT = httpx.Timeout(
    DEFAULT_CONNECT_TIMEOUT_SECONDS, read=DEFAULT_IDLE_TIMEOUT_SECONDS
)

MessageLike = ChatMessage | Mapping[str, JSONValue]
TimeoutLike = float | httpx.Timeout | None


def _message_to_json(message: MessageLike, index: int) -> dict[str, JSONValue]:
    if isinstance(message, ChatMessage):
        out: dict[str, JSONValue] = {"role": message.role}
        if isinstance(message.content, str):
            out["content"] = message.content
        else:
            out["content"] = [
                dict(part.data) if part.data else {"type": part.type, "text": part.text}
                for part in message.content
            ]
        if message.name is not None:
            out["name"] = message.name
        if message.tool_call_id is not None:
            out["toolCallId"] = message.tool_call_id
        return out
    if isinstance(message, Mapping):
        return dict(message)
    raise InvalidArgumentError(
        f"messages.{index}", f"must be a ChatMessage or a mapping, not {type(message).__name__}"
    )


def _body(
    messages: Sequence[MessageLike], session_id: str | None, extra: Mapping[str, JSONValue]
) -> dict[str, JSONValue]:
    given: object = messages
    if isinstance(given, str | bytes) or not isinstance(given, Sequence):
        raise InvalidArgumentError(
            "messages", f"must be a sequence of messages, not {type(given).__name__}"
        )
    body: dict[str, JSONValue] = {
        "messages": [_message_to_json(m, i) for i, m in enumerate(messages)]
    }
    if session_id is not None:
        body["sessionId"] = session_id
    for key, value in extra.items():
        if key in body:
            raise InvalidArgumentError(key, "is set by its own argument; do not pass it again")
        body[key] = value
    return body


def failure_chunks(status: int, body: bytes) -> list[Chunk]:
    """The chunks that stand for an HTTP failure: an ``error`` chunk, then ``done``."""
    message, code, retryable = http_error_details(status, body)
    return [
        ErrorChunk(message=message, code=code, retryable=retryable),
        Done(finish_reason="error"),
    ]


def _buffered(chunks: Sequence[Chunk]) -> BufferedResult:
    collector = BufferedCollector()
    for chunk in chunks:
        collector.feed(chunk)
    return collector.result()


class ChatStream(Closing):
    """The chunks of one chat request; made by :func:`stream_chat_from_route`.

    The request is sent when iteration starts: ``async for`` uses an ``httpx.AsyncClient``,
    ``for`` an ``httpx.Client``. Iterate once. Leaving the loop, or cancelling the task,
    closes the response at once.

    Attributes:
        url: the route's URL.
        body: the JSON body that is sent.
        chunks: every chunk read so far (kept after an error).
        status_code: the response's status, once it arrived.
    """

    __slots__ = (
        "_agen",
        "_client",
        "_dialect",
        "_gen",
        "_headers",
        "_max_event_bytes",
        "_raise_on_error",
        "_started",
        "_stream",
        "_timeout",
        "body",
        "chunks",
        "status_code",
        "url",
    )

    def __init__(
        self,
        url: str,
        body: Mapping[str, JSONValue],
        *,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | httpx.Client | None = None,
        timeout: TimeoutLike = DEFAULT_CHAT_TIMEOUT,
        dialect: str | Dialect | None = None,
        raise_on_error: bool = False,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.url = url
        self.body = dict(body)
        self.chunks: list[Chunk] = []
        self.status_code: int | None = None
        self._headers = {"accept": EVENT_STREAM, **(headers or {})}
        self._client = client
        self._timeout = timeout
        self._dialect = dialect
        self._raise_on_error = raise_on_error
        self._max_event_bytes = max_event_bytes
        self._started = False
        self._stream: ChunkStream | None = None
        self._agen: weakref.ref[AsyncGenerator[Chunk, None]] | None = None
        self._gen: weakref.ref[Generator[Chunk, None, None]] | None = None

    def _start(self) -> None:
        if self._started:
            raise StreamConsumedError(type(self).__name__)
        self._started = True

    def _read(self, response: httpx.Response) -> ChunkStream:
        stream = ChunkStream(
            response,
            dialect=self._dialect,
            raise_on_error=self._raise_on_error,
            max_event_bytes=self._max_event_bytes,
        )
        self._stream = stream
        stream.chunks = self.chunks  # one list: what the stream read is what we read
        return stream

    def _failed(self, status: int, body: bytes) -> list[Chunk]:
        chunks = failure_chunks(status, body)
        self.chunks.extend(chunks)
        if self._raise_on_error:
            assert isinstance(chunks[0], ErrorChunk)
            raise StreamErrorChunkError(chunks[0])
        return chunks

    @property
    def dialect(self) -> str | None:
        """The response's dialect once known (see :func:`read_stream`)."""
        return self._stream.dialect if self._stream is not None else None

    def __aiter__(self) -> AsyncIterator[Chunk]:
        """Send the request with an ``httpx.AsyncClient`` and read the chunks.

        Raises (from the loop):
            StreamConnectionError: no connection, or it broke (:class:`StreamTimeoutError`
                when the timeout ran out).
            StreamResponseError: a 2xx answer that is not an event stream.
            TruncatedStreamError, MalformedStreamError, SSEProtocolError: as
                :func:`read_stream`.
            StreamErrorChunkError: an ``error`` chunk (an HTTP failure included) arrived and
                ``raise_on_error`` is set.
            InvalidArgumentError: ``client`` is not an ``httpx.AsyncClient``.
            StreamConsumedError: the stream was iterated before.
        """
        self._start()
        generator = self._aiterate()
        self._agen = weakref.ref(generator)
        return generator

    def __iter__(self) -> Iterator[Chunk]:
        """Send the request with an ``httpx.Client`` and read the chunks; raises as
        ``__aiter__``."""
        self._start()
        generator = self._iterate()
        self._gen = weakref.ref(generator)
        return generator

    async def _aiterate(self) -> AsyncGenerator[Chunk, None]:
        client = self._client
        owned = client is None
        if client is None:
            client = httpx.AsyncClient()
        elif not isinstance(client, httpx.AsyncClient):
            raise InvalidArgumentError(
                "client", f"must be an httpx.AsyncClient for async for, not {type(client).__name__}"
            )
        try:
            request = client.build_request(
                "POST", self.url, json=self.body, headers=self._headers, timeout=self._timeout
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise connection_error(exc, url=self.url) from exc
            self.status_code = response.status_code
            try:
                if response.status_code >= 300:
                    for chunk in self._failed(response.status_code, await _aread_excerpt(response)):
                        yield chunk
                    return
                stream = self._read(response)
                try:
                    async for chunk in stream:
                        yield chunk
                finally:
                    await stream.aclose()
            finally:
                await response.aclose()
        finally:
            if owned:
                await client.aclose()

    def _iterate(self) -> Generator[Chunk, None, None]:
        client = self._client
        owned = client is None
        if client is None:
            client = httpx.Client()
        elif not isinstance(client, httpx.Client):
            raise InvalidArgumentError(
                "client", f"must be an httpx.Client for a sync for, not {type(client).__name__}"
            )
        try:
            request = client.build_request(
                "POST", self.url, json=self.body, headers=self._headers, timeout=self._timeout
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise connection_error(exc, url=self.url) from exc
            self.status_code = response.status_code
            try:
                if response.status_code >= 300:
                    yield from self._failed(response.status_code, _read_excerpt(response))
                    return
                stream = self._read(response)
                try:
                    yield from stream
                finally:
                    stream.close()
            finally:
                response.close()
        finally:
            if owned:
                client.close()

    async def acollect(self) -> BufferedResult:
        """Read the whole answer and buffer it.

        Returns:
            The :class:`BufferedResult`; after an HTTP failure its ``error`` holds the message and
            ``finish_reason`` is ``"error"``.

        Raises:
            As iterating with ``async for``, and StructuredStreamError.
        """
        async for _ in self:
            pass
        return _buffered(self.chunks)

    def collect(self) -> BufferedResult:
        """The sync twin of :meth:`acollect`."""
        for _ in self:
            pass
        return _buffered(self.chunks)

    async def aclose(self) -> None:
        """Stop reading and close the response (idempotent)."""
        generator = self._agen() if self._agen is not None else None
        if generator is not None and not getattr(generator, "ag_running", False):
            await generator.aclose()
        if self._stream is not None:
            await self._stream.aclose()

    def close(self) -> None:
        """Stop reading and close the response (idempotent); the sync twin of :meth:`aclose`."""
        generator = self._gen() if self._gen is not None else None
        if generator is not None and not getattr(generator, "gi_running", False):
            generator.close()
        if self._stream is not None:
            self._stream.close()


def stream_chat_from_route(
    url: str,
    messages: Sequence[MessageLike],
    *,
    session_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | httpx.Client | None = None,
    timeout: TimeoutLike = DEFAULT_CHAT_TIMEOUT,
    dialect: str | Dialect | None = None,
    raise_on_error: bool = False,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    **body_extra: JSONValue,
) -> ChatStream:
    """POST a chat to a streaming route and read the answer as typed chunks.

    The body is ``{"messages": [...], "sessionId": ..., **body_extra}`` as JSON.

    Args:
        url: the route, e.g. ``http://127.0.0.1:8000/api/chat``.
        messages: the conversation: :class:`~streamwire.chat.messages.ChatMessage` values or
            JSON objects (``{"role": "user", "content": "Hi"}``).
        session_id: sent as ``sessionId`` when given.
        headers: extra request headers (e.g. ``Authorization``).
        client: the httpx client to use (async for ``async for``, sync for ``for``); by default
            one is made for the request and closed after it.
        timeout: an httpx timeout; by default 10 s to connect and 60 s between bytes.
        dialect: the response's dialect, or ``None`` to detect it (see :func:`read_stream`).
        raise_on_error: raise :class:`StreamErrorChunkError` at an ``error`` chunk.
        max_event_bytes: the most bytes one event may span.
        **body_extra: more body fields, e.g. ``stream=True``, ``model="demo"``.

    Returns:
        A :class:`ChatStream` to iterate once (``async for`` or ``for``), or to
        :meth:`~ChatStream.acollect`. An HTTP failure arrives as an ``error`` chunk with the
        body's ``error.message`` (or ``Request failed (<status>)``), then ``done``.

    Raises:
        InvalidArgumentError: ``messages`` is not a sequence of messages, a ``body_extra`` key
            repeats an argument, ``dialect`` is unknown or ``max_event_bytes`` not positive.
    """
    # Fail the call, not the loop, on a bad dialect or limit.
    ChunkDecoding(dialect=dialect, max_event_bytes=max_event_bytes)
    return ChatStream(
        url,
        _body(messages, session_id, body_extra),
        headers=headers,
        client=client,
        timeout=timeout,
        dialect=dialect,
        raise_on_error=raise_on_error,
        max_event_bytes=max_event_bytes,
    )


async def collect(
    url: str,
    messages: Sequence[MessageLike],
    *,
    session_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
    # An httpx per-phase timeout, not a deadline for the whole call (hence the noqa).
    timeout: TimeoutLike = DEFAULT_CHAT_TIMEOUT,  # noqa: ASYNC109
    dialect: str | Dialect | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    **body_extra: JSONValue,
) -> BufferedResult:
    """POST a chat and return the whole answer, buffered (``await``).

    Arguments as :func:`stream_chat_from_route`.

    Returns:
        The :class:`BufferedResult`: text, structured objects, tool calls, usage, finish reason and
        error (an HTTP failure included).

    Raises:
        As :meth:`ChatStream.acollect`.
    """
    stream = stream_chat_from_route(
        url,
        messages,
        session_id=session_id,
        headers=headers,
        client=client,
        timeout=timeout,
        dialect=dialect,
        max_event_bytes=max_event_bytes,
        **body_extra,
    )
    return await stream.acollect()


def collect_sync(
    url: str,
    messages: Sequence[MessageLike],
    *,
    session_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
    timeout: TimeoutLike = DEFAULT_CHAT_TIMEOUT,
    dialect: str | Dialect | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    **body_extra: JSONValue,
) -> BufferedResult:
    """The sync twin of :func:`collect` (an ``httpx.Client`` is used)."""
    stream = stream_chat_from_route(
        url,
        messages,
        session_id=session_id,
        headers=headers,
        client=client,
        timeout=timeout,
        dialect=dialect,
        max_event_bytes=max_event_bytes,
        **body_extra,
    )
    return stream.collect()
