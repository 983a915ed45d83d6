"""``EventSource``: a reconnecting Server-Sent Events client, like the browser's, on httpx.

It GETs the URL with ``Accept: text/event-stream`` and yields the events. When the connection
fails, breaks, goes idle, or the body simply ends, it reconnects after the server's ``retry``
delay (or its own), backing off exponentially with jitter up to a cap, and sends
``Last-Event-ID`` so the server can resume. It gives up after ``max_attempts`` reconnections
in a row that brought no event.

It never reconnects when the server answered but not with a stream: a ``204 No Content`` (the
standard's way to say "stop"), any other status than 2xx, or a content type other than
``text/event-stream`` raise :class:`StreamResponseError` at once. It stops for good after a
native ``done`` event (its job is finished; reconnecting would replay or restart the answer).

One object serves both worlds: ``async for`` / ``async with`` / :meth:`EventSource.aclose`, or
``for`` / ``with`` / :meth:`EventSource.close`. :meth:`EventSource.chunks` reads typed chunks
instead of raw events.

Surprises, explained:

* An idle timeout (no byte at all, not even a heartbeat comment, for ``idle_timeout_seconds``)
  is a dead connection: it is closed and reconnected, like a network error.
* :meth:`EventSource.close` may be called from another task or thread. An async reader stops at
  once; a sync reader blocked in a socket read stops when the next bytes or the idle timeout
  arrive (a blocking read cannot be interrupted safely from another thread).
"""

from __future__ import annotations

import asyncio
import random
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass

import anyio
import httpx

from streamwire._aio import aclose
from streamwire.client._closing import Closing
from streamwire.client._decode import ChunkDecoding
from streamwire.client._http import EVENT_STREAM, connection_error, response_error, stream_problem
from streamwire.client.errors import (
    StreamConnectionError,
    StreamConsumedError,
    StreamErrorChunkError,
)
from streamwire.client.read import _aread_excerpt, _read_excerpt
from streamwire.protocol.chunks import Chunk, ErrorChunk
from streamwire.protocol.dialects import Dialect
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.protocol.sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_IDLE_TIMEOUT_SECONDS",
    "EventSource",
    "EventSourceChunks",
    "ReconnectPolicy",
]

# Browsers wait about 3 s before reconnecting when the server gave no `retry`.
DEFAULT_RETRY_SECONDS = 3.0
# Long enough to stop hammering a server that is down, short enough that a user keeps waiting.
DEFAULT_MAX_RETRY_SECONDS = 30.0
# The classic doubling.
DEFAULT_BACKOFF_MULTIPLIER = 2.0
# Up to +50 %: spreads the reconnections of many clients after a server restart.
DEFAULT_JITTER = 0.5
# 10 attempts with the defaults span about 4 minutes before giving up.
DEFAULT_MAX_ATTEMPTS = 10
# Four times the common 15 s heartbeat: a live server always sends something within it.
DEFAULT_IDLE_TIMEOUT_SECONDS = 60.0
# A reachable server accepts a connection in well under this, even across the world.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0

# The native dialect's terminator event.
_DONE_EVENT = "done"


def _positive(name: str, value: float, *, zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(name, f"must be a number, not {type(value).__name__}")
    if value < 0 or (value == 0 and not zero) or value != value:
        allowed = "must not be negative" if zero else "must be positive"
        raise InvalidArgumentError(name, f"{allowed} (got {value!r})")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """When an :class:`EventSource` reconnects, and when it gives up.

    The n-th reconnection in a row waits ``min(max_retry_seconds, base * multiplier ** (n - 1))``
    plus up to ``jitter`` times that at random (the total still capped), where ``base`` is the
    server's ``retry`` when it sent one, else ``retry_seconds``. The count restarts after a
    connection that brought at least one event.

    Attributes:
        retry_seconds: the base delay until the server sends ``retry``.
        max_retry_seconds: the cap on any one delay.
        multiplier: the backoff factor (1 keeps the delay constant).
        jitter: the random extra, as a fraction of the delay (0 for none).
        max_attempts: the most reconnections in a row without an event before giving up with
            :class:`StreamConnectionError`; ``None`` never gives up, 0 never reconnects.

    Raises:
        InvalidArgumentError: a value is negative, not a number, or ``multiplier`` is below 1.
    """

    retry_seconds: float = DEFAULT_RETRY_SECONDS
    max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS
    multiplier: float = DEFAULT_BACKOFF_MULTIPLIER
    jitter: float = DEFAULT_JITTER
    max_attempts: int | None = DEFAULT_MAX_ATTEMPTS

    def __post_init__(self) -> None:
        _positive("retry_seconds", self.retry_seconds, zero=True)
        _positive("max_retry_seconds", self.max_retry_seconds, zero=True)
        _positive("multiplier", self.multiplier)
        if self.multiplier < 1:
            raise InvalidArgumentError("multiplier", f"must be at least 1 (got {self.multiplier})")
        _positive("jitter", self.jitter, zero=True)
        if self.max_attempts is not None:
            if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
                raise InvalidArgumentError(
                    "max_attempts",
                    f"must be an int or None, not {type(self.max_attempts).__name__}",
                )
            if self.max_attempts < 0:
                raise InvalidArgumentError(
                    "max_attempts", f"must not be negative (got {self.max_attempts})"
                )

    def delay_seconds(
        self, attempt: int, *, server_retry_ms: int | None = None, random_value: float = 0.0
    ) -> float:
        """The wait before reconnection number ``attempt`` (1 for the first in a row).

        Args:
            attempt: which reconnection in a row this is, from 1.
            server_retry_ms: the server's last ``retry`` value, in milliseconds, if any.
            random_value: a number in [0, 1) that picks the jitter.

        Returns:
            The delay in seconds.
        """
        base = self.retry_seconds if server_retry_ms is None else server_retry_ms / 1000
        delay = min(self.max_retry_seconds, base * self.multiplier ** max(0, attempt - 1))
        return min(self.max_retry_seconds, delay * (1 + self.jitter * random_value))

    def gives_up(self, attempt: int) -> bool:
        """Whether reconnection number ``attempt`` is one too many."""
        return self.max_attempts is not None and attempt > self.max_attempts


class EventSource(Closing):
    """A reconnecting Server-Sent Events reader (see the module docstring for the behaviour).

    Args:
        url: the stream's URL (GET).
        headers: extra request headers (e.g. ``Authorization``).
        client: an ``httpx.AsyncClient`` (for ``async for``) or ``httpx.Client`` (for ``for``)
            to use; by default the source makes one and closes it when done.
        last_event_id: the id to resume after on the first connection.
        reconnect: when to reconnect and when to give up.
        idle_timeout_seconds: the longest silence (no byte at all) before the connection counts
            as dead; ``None`` waits forever.
        connect_timeout_seconds: the longest wait for a connection.
        max_event_bytes: the most bytes one event may span.
        random: the source of jitter, a function returning a float in [0, 1).

    Raises:
        InvalidArgumentError: a timeout or ``max_event_bytes`` is not positive.

    Example:
        >>> async with EventSource("http://127.0.0.1:8000/api/chat/stream?q=hi") as source:
        ...     async for event in source:  # doctest: +SKIP
        ...         print(event.data)
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | httpx.Client | None = None,
        last_event_id: str | None = None,
        reconnect: ReconnectPolicy | None = None,
        idle_timeout_seconds: float | None = DEFAULT_IDLE_TIMEOUT_SECONDS,
        connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        random: Callable[[], float] = random.random,
    ) -> None:
        if idle_timeout_seconds is not None:
            _positive("idle_timeout_seconds", idle_timeout_seconds)
        _positive("connect_timeout_seconds", connect_timeout_seconds)
        self.url = url
        self.reconnect = reconnect if reconnect is not None else ReconnectPolicy()
        self.idle_timeout_seconds = idle_timeout_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self._headers = dict(headers or {})
        self._client = client
        self._random = random
        self._decoder = SSEDecoder(max_event_bytes=max_event_bytes)
        if last_event_id:
            self._decoder.last_event_id = last_event_id
            self._decoder.close()  # start the next stream's id buffer from it
        self._closed = False
        self._started = False
        self._attempt = 0
        self._received = 0
        self._connected_received = 0
        self._last_failure: httpx.TransportError | None = None
        self._response_headers: httpx.Headers = httpx.Headers()
        self._scope: anyio.CancelScope | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake = threading.Event()
        self._agen: weakref.ref[AsyncGenerator[object, None]] | None = None
        self._gen: weakref.ref[Generator[object, None, None]] | None = None
        #: How many connections answered with a stream.
        self.connections = 0

    # --- state -------------------------------------------------------------------------------

    @property
    def last_event_id(self) -> str:
        """The last event id received (``""`` when none); sent as ``Last-Event-ID``."""
        return self._decoder.last_event_id

    @property
    def retry_ms(self) -> int | None:
        """The server's last ``retry`` value in milliseconds, or ``None``."""
        return self._decoder.retry

    @property
    def closed(self) -> bool:
        """Whether the source has stopped (closed, finished by ``done``, or failed)."""
        return self._closed

    @property
    def received(self) -> int:
        """How many events have been received, over all connections."""
        return self._received

    def _stopping(self) -> bool:
        # A method, not the attribute: close() may flip it from elsewhere at any await.
        return self._closed

    def _start(self) -> None:
        if self._started:
            raise StreamConsumedError(type(self).__name__)
        self._started = True

    def _request_headers(self) -> dict[str, str]:
        headers = {"accept": EVENT_STREAM, "cache-control": "no-store", **self._headers}
        if self._decoder.last_event_id:
            headers["last-event-id"] = self._decoder.last_event_id
        return headers

    def _timeout(self) -> httpx.Timeout:
        connect = self.connect_timeout_seconds
        return httpx.Timeout(connect, read=self.idle_timeout_seconds, pool=connect)

    def _next_delay(self) -> float:
        if self._attempt == 0:
            return 0.0
        return self.reconnect.delay_seconds(
            self._attempt, server_retry_ms=self._decoder.retry, random_value=self._random()
        )

    def _connection_ended(self, failure: httpx.TransportError | None) -> None:
        # Called after every connection that may be retried; raises when giving up.
        self._decoder.close()  # [spec: 9.2.6] an event cut off by the end is dropped
        got_events = self._received > self._connected_received
        self._attempt = 1 if got_events else self._attempt + 1
        if failure is not None:
            self._last_failure = failure
        if self.reconnect.gives_up(self._attempt):
            self._closed = True
            last = failure or self._last_failure
            if last is not None:
                raise connection_error(
                    last, url=self.url, attempts=self._attempt, received=self._received
                ) from last
            raise StreamConnectionError(
                "the stream kept ending without a done event",
                url=self.url,
                attempts=self._attempt,
                received=self._received,
            )

    # --- async -------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[ServerSentEvent]:
        """Read events with ``async for`` (an ``httpx.AsyncClient`` is used).

        Raises (from the loop):
            StreamResponseError: the server answered without a stream (204, another non-2xx
                status, another content type); no reconnection.
            StreamConnectionError: reconnection gave up (:class:`StreamTimeoutError` when the
                last failure was a timeout); ``attempts`` says how many were made.
            SSEProtocolError: an event grew past ``max_event_bytes``.
            StreamConsumedError: the source was iterated before.
            InvalidArgumentError: ``client`` is not an ``httpx.AsyncClient``.
        """
        self._start()
        generator = self._aevents()
        self._agen = weakref.ref(generator)
        return generator

    def chunks(
        self, *, dialect: str | Dialect | None = None, raise_on_error: bool = False
    ) -> EventSourceChunks:
        """Read typed chunks instead of events (with ``async for`` or ``for``).

        Args:
            dialect: the dialect, or ``None`` to detect it (headers, then first event).
            raise_on_error: raise :class:`StreamErrorChunkError` at an ``error`` chunk.

        Returns:
            An iterable of chunks that stops after the dialect's terminator. It raises what
            iterating the source raises, and :class:`MalformedStreamError` for a bad event.
        """
        return EventSourceChunks(self, dialect=dialect, raise_on_error=raise_on_error)

    async def _asleep(self, seconds: float) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            await anyio.sleep(seconds)
        self._scope = None

    async def _aevents(self) -> AsyncGenerator[ServerSentEvent, None]:
        client = self._client
        owned = client is None
        if client is None:
            client = httpx.AsyncClient()
        elif not isinstance(client, httpx.AsyncClient):
            self._closed = True
            raise InvalidArgumentError(
                "client", f"must be an httpx.AsyncClient for async for, not {type(client).__name__}"
            )
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # another event loop (trio): close() from other threads is not
            self._loop = None  # supported there
        self._loop_thread = threading.get_ident()
        try:
            while not self._closed:
                delay = self._next_delay()
                if delay > 0:
                    await self._asleep(delay)
                    if self._stopping():
                        return
                response: httpx.Response | None = None
                failure: httpx.TransportError | None = None
                self._connected_received = self._received
                try:
                    request = client.build_request(
                        "GET", self.url, headers=self._request_headers(), timeout=self._timeout()
                    )
                    with anyio.CancelScope() as scope:
                        self._scope = scope
                        response = await client.send(request, stream=True)
                    self._scope = None
                    if response is None or self._stopping():
                        return
                    problem = stream_problem(response)
                    if problem is not None:
                        self._closed = True
                        raise response_error(response, problem, await _aread_excerpt(response))
                    self.connections += 1
                    self._response_headers = response.headers
                    iterator = response.aiter_bytes()
                    while True:
                        with anyio.CancelScope() as scope:
                            self._scope = scope
                            data = await anext(iterator, None)
                        self._scope = None
                        if self._stopping():
                            return
                        if data is None:
                            break
                        for event in self._decoder.feed(data):
                            self._received += 1
                            yield event
                            if self._stopping():
                                return
                            if event.event == _DONE_EVENT:
                                self._closed = True
                                return
                except httpx.TransportError as exc:
                    if self._stopping():
                        return
                    failure = exc
                finally:
                    self._scope = None
                    if response is not None:
                        await response.aclose()
                self._connection_ended(failure)
        finally:
            self._closed = True
            if owned:
                await client.aclose()

    async def aclose(self) -> None:
        """Stop everything: no more reads, no reconnection; the response is closed (idempotent).

        A loop running in another task ends at once, without an error.
        """
        self.close()
        generator = self._agen() if self._agen is not None else None
        if generator is not None and not getattr(generator, "ag_running", False):
            await generator.aclose()

    # --- sync --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[ServerSentEvent]:
        """Read events with ``for`` (an ``httpx.Client`` is used); raises as ``__aiter__``."""
        self._start()
        generator = self._events()
        self._gen = weakref.ref(generator)
        return generator

    def _events(self) -> Generator[ServerSentEvent, None, None]:
        client = self._client
        owned = client is None
        if client is None:
            client = httpx.Client()
        elif not isinstance(client, httpx.Client):
            self._closed = True
            raise InvalidArgumentError(
                "client", f"must be an httpx.Client for a sync for, not {type(client).__name__}"
            )
        try:
            while not self._closed:
                delay = self._next_delay()
                if delay > 0:
                    self._wake.wait(delay)
                    if self._stopping():
                        return
                response: httpx.Response | None = None
                failure: httpx.TransportError | None = None
                self._connected_received = self._received
                try:
                    request = client.build_request(
                        "GET", self.url, headers=self._request_headers(), timeout=self._timeout()
                    )
                    response = client.send(request, stream=True)
                    if self._stopping():
                        return
                    problem = stream_problem(response)
                    if problem is not None:
                        self._closed = True
                        raise response_error(response, problem, _read_excerpt(response))
                    self.connections += 1
                    self._response_headers = response.headers
                    for data in response.iter_bytes():
                        if self._stopping():
                            return
                        for event in self._decoder.feed(data):
                            self._received += 1
                            yield event
                            if self._stopping():
                                return
                            if event.event == _DONE_EVENT:
                                self._closed = True
                                return
                except httpx.TransportError as exc:
                    if self._stopping():
                        return
                    failure = exc
                finally:
                    if response is not None:
                        response.close()
                self._connection_ended(failure)
        finally:
            self._closed = True
            if owned:
                client.close()

    def close(self) -> None:
        """Stop everything (idempotent): callable from any task or thread.

        An async reader stops at once; a sync reader at once when it is between reads or
        waiting to reconnect, else when its blocked read returns (next bytes or idle timeout).
        Called from the reading thread, it also closes the response.
        """
        self._closed = True
        self._wake.set()
        scope = self._scope
        if scope is not None:
            if self._loop is not None and threading.get_ident() != self._loop_thread:
                self._loop.call_soon_threadsafe(scope.cancel)
            else:
                scope.cancel()
        generator = self._gen() if self._gen is not None else None
        if generator is not None and not getattr(generator, "gi_running", False):
            generator.close()


class EventSourceChunks:
    """The typed chunks of an :class:`EventSource`; made by :meth:`EventSource.chunks`.

    Iterate it once with ``async for`` or ``for``. The dialect decoder lives across
    reconnections, so a resumed stream continues where it left off.

    Attributes:
        source: the event source being read.
        chunks: every chunk read so far.
    """

    __slots__ = ("_dialect", "_raise_on_error", "chunks", "source")

    def __init__(
        self, source: EventSource, *, dialect: str | Dialect | None, raise_on_error: bool
    ) -> None:
        self.source = source
        self.chunks: list[Chunk] = []
        self._dialect = dialect
        self._raise_on_error = raise_on_error

    def _decoding(self) -> ChunkDecoding:
        return ChunkDecoding(dialect=self._dialect, headers=self.source._response_headers)

    def _check(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)
        if self._raise_on_error and isinstance(chunk, ErrorChunk):
            raise StreamErrorChunkError(chunk)

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._aiterate(aiter(self.source))

    def __iter__(self) -> Iterator[Chunk]:
        return self._iterate(iter(self.source))

    async def _aiterate(
        self, events: AsyncIterator[ServerSentEvent]
    ) -> AsyncGenerator[Chunk, None]:
        decoding: ChunkDecoding | None = None
        try:
            async for event in events:
                if decoding is None:
                    decoding = self._decoding()
                for chunk in decoding.decode(event):
                    self._check(chunk)
                    yield chunk
                if decoding.finished:
                    return
        finally:
            self.source._closed = True
            await aclose(events)

    def _iterate(self, events: Iterator[ServerSentEvent]) -> Generator[Chunk, None, None]:
        decoding: ChunkDecoding | None = None
        try:
            for event in events:
                if decoding is None:
                    decoding = self._decoding()
                for chunk in decoding.decode(event):
                    self._check(chunk)
                    yield chunk
                if decoding.finished:
                    return
        finally:
            self.source._closed = True
            close = getattr(events, "close", None)
            if close is not None:
                close()
