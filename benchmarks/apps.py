"""The benchmarked ASGI apps: one per implementation, all serving the same route.

``GET /stream?n=N&size=S&interval_ms=T`` sends N events of about S bytes of data, T ms apart, then
an event named ``end`` (data ``end``). The first event leaves at once; event ``i`` is due at
``start + i*T`` and the end event at ``start + N*T``, so a stream's nominal duration is ``N*T``.
Pacing is by deadline, not by ``sleep(T)`` per event: a real upstream produces tokens on its own
clock, and a server that falls behind takes the waiting tokens at once rather than adding its
delay to every later token. So a stream that takes longer than nominal is the server's doing.

Data: when ``T > 0`` every event's data starts with the microseconds of its due time on the
system-wide monotonic clock (``time.monotonic()``, ``CLOCK_MONOTONIC`` on Linux, shared by the
load client on the same machine), so the client can measure delivery latency: receive time minus
due time, which includes any lag of the server behind the token's availability. When ``T == 0``
(the one-stream throughput scenario) the data is one constant string, so no implementation pays
for formatting a timestamp and the raw floor can send pre-encoded bytes.

Every implementation is served by :mod:`serve` under uvicorn (httptools, uvloop, one worker). The
response objects of sse-starlette and streamwire are ASGI apps themselves: a tiny dispatcher awaits
the response's own coroutine, as it awaits the raw apps', so none of them pays for a router or a
frame of the harness's; FastAPI's
``EventSourceResponse`` only exists inside FastAPI routing, so it gets a FastAPI app with one
route, in the documented style (an async generator yielding strings, which FastAPI JSON-encodes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

END_EVENT_NAME = "end"
END_EVENT_DATA = "end"
END_EVENT_BYTES = b"event: end\ndata: end\n\n"

# The response headers of the raw apps: what the libraries send, minus the extras.
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]

# The raw coalescing app lets at most this many encoded bytes wait for one send: the producer
# then pauses until the sender has taken them, so memory stays bounded on an unpaced stream.
COALESCE_MAX_BYTES = 64 * 1024

T = TypeVar("T")


class BadRequestError(ValueError):
    """A query parameter of ``/stream`` is missing or invalid.

    Attributes:
        field: the parameter's name.
        reason: what is wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"query parameter {field!r} {reason}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamParams:
    """The parameters of one ``/stream`` request.

    Attributes:
        n: the number of data events before the end event.
        size: the approximate size of each event's data, in bytes.
        interval_ms: milliseconds between events; 0 sends them back to back.
    """

    n: int
    size: int
    interval_ms: float


def parse_params(query_string: bytes) -> StreamParams:
    """Read ``n``, ``size`` and ``interval_ms`` from a query string.

    Args:
        query_string: the raw query string, as in an ASGI scope.

    Returns:
        The parameters; ``size`` defaults to 16 and ``interval_ms`` to 0.

    Raises:
        BadRequestError: a parameter is missing (``n``), not a number, or negative.
    """
    query = parse_qs(query_string.decode("latin-1"))

    def number(name: str, default: str | None) -> float:
        values = query.get(name)
        if not values:
            if default is None:
                raise BadRequestError(name, "is required")
            return float(default)
        try:
            value = float(values[0])
        except ValueError:
            raise BadRequestError(name, f"must be a number, got {values[0]!r}") from None
        if value < 0:
            raise BadRequestError(name, f"must not be negative, got {values[0]!r}")
        return value

    return StreamParams(
        n=int(number("n", None)),
        size=int(number("size", "16")),
        interval_ms=number("interval_ms", "0"),
    )


def constant_data(size: int) -> str:
    """The data of an unpaced event: ``size`` ASCII letters (at least one)."""
    return "x" * max(size, 1)


def stamped_data(due_us: int, size: int) -> str:
    """A paced event's data: its due time in microseconds, a space, padding up to ``size``."""
    head = f"{due_us} "
    return head + "x" * max(size - len(head), 1)


async def source(params: StreamParams, end: T) -> AsyncIterator[str | T]:
    """The event source every library app streams: data strings, then ``end``.

    Args:
        params: what to send.
        end: the library's own end event object, yielded last.

    Yields:
        ``params.n`` data strings on the schedule described in the module docstring, then ``end``.
    """
    n = params.n
    if params.interval_ms <= 0:
        data = constant_data(params.size)
        for _ in range(n):
            yield data
        yield end
        return
    interval = params.interval_ms / 1000.0
    size = params.size
    monotonic = time.monotonic
    sleep = asyncio.sleep
    start = monotonic()
    for i in range(n):
        due = start + i * interval
        delay = due - monotonic()
        if delay > 0:
            await sleep(delay)
        yield stamped_data(int(due * 1_000_000), size)
    delay = start + n * interval - monotonic()
    if delay > 0:
        await sleep(delay)
    yield end


async def _plain_response(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _dispatcher(stream: Callable[[StreamParams, Scope, Receive, Send], Awaitable[None]]) -> ASGIApp:
    """An ASGI app that answers ``GET /stream`` with ``stream`` and anything else with 404/400."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http" or scope["path"] != "/stream":
            await _plain_response(send, 404, b"not found")
            return
        try:
            params = parse_params(scope["query_string"])
        except BadRequestError as exc:
            await _plain_response(send, 400, str(exc).encode())
            return
        await stream(params, scope, receive, send)

    return app


# --- raw ASGI: the floor ---------------------------------------------------------------------


async def _raw_stream(params: StreamParams, scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
    n = params.n
    if params.interval_ms <= 0:
        event = f"data: {constant_data(params.size)}\n\n".encode()
        message = {"type": "http.response.body", "body": event, "more_body": True}
        for _ in range(n):
            await send(message)
    else:
        interval = params.interval_ms / 1000.0
        size = params.size
        monotonic = time.monotonic
        start = monotonic()
        for i in range(n):
            due = start + i * interval
            delay = due - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            body = f"data: {stamped_data(int(due * 1_000_000), size)}\n\n".encode()
            await send({"type": "http.response.body", "body": body, "more_body": True})
        delay = start + n * interval - monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    await send({"type": "http.response.body", "body": END_EVENT_BYTES, "more_body": False})


def raw_app() -> ASGIApp:
    """Raw ASGI, one ``send`` per pre-encoded event: the floor every library is measured against.

    It does not watch for disconnects and sends no heartbeat: the least work a server can do.
    """
    return _dispatcher(_raw_stream)


async def _raw_watching_stream(
    params: StreamParams, scope: Scope, receive: Receive, send: Send
) -> None:
    me = asyncio.current_task()
    assert me is not None

    def on_message(watcher: asyncio.Task[Message]) -> None:
        ok = not watcher.cancelled() and watcher.exception() is None
        if ok and watcher.result()["type"] == "http.disconnect":
            me.cancel()

    # The least a server can do to notice a client that leaves while it waits: receive() in a
    # bare task whose done-callback cancels the response (the request has no body to read).
    watcher = asyncio.ensure_future(receive())
    watcher.add_done_callback(on_message)
    try:
        await _raw_stream(params, scope, receive, send)
    except asyncio.CancelledError:
        if not watcher.done():
            raise
    finally:
        watcher.cancel()


def raw_watching_app() -> ASGIApp:
    """Raw ASGI that also notices a client that leaves: :func:`raw_app` plus a task awaiting
    ``receive()`` that cancels the response on ``http.disconnect``.

    Not a target; the floor for a server that, like every library here, stops the source when
    the client goes (what one such watcher costs is the gap between this and :func:`raw_app`).
    """
    return _dispatcher(_raw_watching_stream)


async def _raw_coalescing_stream(
    params: StreamParams, scope: Scope, receive: Receive, send: Send
) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
    pending: list[bytes] = []
    pending_bytes = 0
    ready = asyncio.Event()  # the sender has something to send
    room = asyncio.Event()  # the producer may add more
    room.set()
    done = False

    async def produce() -> None:
        nonlocal pending_bytes, done
        end = object()
        try:
            async for item in source(params, end):
                chunk = END_EVENT_BYTES if item is end else f"data: {item}\n\n".encode()
                pending.append(chunk)
                pending_bytes += len(chunk)
                ready.set()
                if pending_bytes >= COALESCE_MAX_BYTES:
                    room.clear()
                    await room.wait()
        finally:
            done = True
            ready.set()

    producer = asyncio.create_task(produce())
    try:
        while True:
            await ready.wait()
            ready.clear()
            if pending:
                body = b"".join(pending) if len(pending) > 1 else pending[0]
                pending.clear()
                pending_bytes = 0
                room.set()
                await send({"type": "http.response.body", "body": body, "more_body": True})
            if done and not pending:
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        producer.cancel()


def raw_coalescing_app() -> ASGIApp:
    """Raw ASGI that sends every event already waiting in one ``send`` (a lone event never waits).

    A producer task encodes events into a list and wakes the sender; the sender takes the whole
    list at once. This is the coalescing ceiling a library can aim for.
    """
    return _dispatcher(_raw_coalescing_stream)


# --- sse-starlette ---------------------------------------------------------------------------


def sse_starlette_app() -> ASGIApp:
    """sse-starlette's ``EventSourceResponse`` with its defaults, yielding plain strings."""
    from sse_starlette import EventSourceResponse, ServerSentEvent

    end = ServerSentEvent(data=END_EVENT_DATA, event=END_EVENT_NAME)

    def stream(params: StreamParams, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # The response's own coroutine, awaited by the dispatcher: no frame of ours in between
        # (the raw apps' stream functions are the app itself).
        return EventSourceResponse(source(params, end))(scope, receive, send)

    return _dispatcher(stream)


# --- FastAPI ---------------------------------------------------------------------------------


def fastapi_app() -> ASGIApp:
    """FastAPI's own ``EventSourceResponse`` (``fastapi.sse``), in its documented style.

    The endpoint is an async generator annotated to yield ``str``; FastAPI validates each item and
    JSON-encodes it (``data: "..."`` on the wire), and the end event is a ``ServerSentEvent``.
    """
    from fastapi import FastAPI
    from fastapi.sse import EventSourceResponse, ServerSentEvent

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    end = ServerSentEvent(raw_data=END_EVENT_DATA, event=END_EVENT_NAME)

    # FastAPI reads the parameters and the return annotation at runtime, so they are real types.
    @app.get("/stream", response_class=EventSourceResponse)
    async def stream(
        n: int, size: int = 16, interval_ms: float = 0
    ) -> AsyncIterator[str]:  # items are str; the end event is a ServerSentEvent
        async for item in source(StreamParams(n=n, size=size, interval_ms=interval_ms), end):
            yield item  # type: ignore[misc]  # the end marker is FastAPI's own event type

    result: ASGIApp = app
    return result


# --- streamwire ------------------------------------------------------------------------------


def _streamwire(coalesce: bool) -> ASGIApp:
    from streamwire.server import sse
    from streamwire.sse import ServerSentEvent

    end = ServerSentEvent(data=END_EVENT_DATA, event=END_EVENT_NAME)

    def stream(params: StreamParams, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # As for sse-starlette: the response's coroutine, awaited by the dispatcher.
        return sse(source(params, end), coalesce=coalesce)(scope, receive, send)

    return _dispatcher(stream)


def streamwire_app() -> ASGIApp:
    """streamwire's ``sse()`` response with its defaults (adaptive coalescing: events the
    source has ready leave in one send, a lone event at once)."""
    return _streamwire(coalesce=True)


def streamwire_each_app() -> ASGIApp:
    """streamwire's ``sse(coalesce=False)``: one send per event, as the raw floor does."""
    return _streamwire(coalesce=False)


# name -> (factory, label). The order is the order of every table and chart.
IMPLEMENTATIONS: dict[str, tuple[Callable[[], ASGIApp], str]] = {
    "raw": (raw_app, "raw ASGI (floor)"),
    "raw-watch": (raw_watching_app, "raw ASGI + disconnect watch"),
    "raw-coalesce": (raw_coalescing_app, "raw ASGI, coalescing"),
    "sse-starlette": (sse_starlette_app, "sse-starlette 3.7"),
    "fastapi": (fastapi_app, "FastAPI EventSourceResponse"),
    "streamwire": (streamwire_app, "streamwire sse()"),
    "streamwire-each": (streamwire_each_app, "streamwire sse(coalesce=False)"),
}


def available() -> list[str]:
    """The implementations that can be imported here (streamwire's server may not exist yet)."""
    names = []
    for name in IMPLEMENTATIONS:
        if name.startswith("streamwire"):
            try:
                from streamwire.server import sse  # noqa: F401
            except ImportError:
                continue
        names.append(name)
    return names
