"""Server shutdown ends open streams with a server_shutdown notice, in time (issue 3)."""

from __future__ import annotations

import asyncio
import json
import selectors
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message

from streamwire.server import (
    ShutdownMiddleware,
    ShutdownMonitor,
    SSEItem,
    StreamOutcome,
    ndjson,
    sse,
)
from tests.server._support import (
    WAIT_SECONDS,
    Gate,
    parse_events,
    raw_request,
    read_until,
    wait_for,
)
from tests.servers import LiveServer, free_port, server_process

REPO = Path(__file__).resolve().parents[2]
STREAMS = 200
EXIT_SECONDS = 2.0  # the bound: uvicorn with 200 open streams exits within 2 s


def _read_all_until_eof(socks: list[socket.socket], deadline: float) -> dict[socket.socket, bytes]:
    received = {sock: b"" for sock in socks}
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    open_count = len(socks)
    try:
        while open_count and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
                fileobj = key.fileobj
                assert isinstance(fileobj, socket.socket)
                sock = fileobj
                try:
                    data = sock.recv(65536)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                if data:
                    received[sock] += data
                else:
                    selector.unregister(sock)
                    open_count -= 1
    finally:
        selector.close()
    return received


def _body_of(raw: bytes) -> bytes:
    """The de-chunked body of a raw HTTP/1.1 chunked response."""
    _, _, rest = raw.partition(b"\r\n\r\n")
    body = b""
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body += rest[:size]
        rest = rest[size + 2 :]
    return body


def test_sigterm_ends_200_open_streams_with_the_notice_and_uvicorn_exits_within_2s() -> None:
    port = free_port()
    args = [
        "-m",
        "uvicorn",
        "tests.server.apps.shutdown_app:app",
        "--app-dir",
        str(REPO),
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--backlog",
        "512",
    ]
    with server_process(args, ready_url=f"http://127.0.0.1:{port}/health") as proc:
        socks = [raw_request(port, "/stream") for _ in range(STREAMS)]
        try:
            heads = [read_until(sock, b'"hello"') for sock in socks]
            sent_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rest = _read_all_until_eof(socks, sent_at + EXIT_SECONDS)
            try:
                proc.wait(timeout=max(0.0, sent_at + EXIT_SECONDS - time.monotonic()))
            except Exception:
                pytest.fail(f"uvicorn still running {EXIT_SECONDS} s after SIGTERM")
        finally:
            for sock in socks:
                sock.close()
    for head, sock in zip(heads, socks, strict=True):
        events = parse_events(_body_of(head + rest[sock]))
        assert events[0].data == '{"type":"text-delta","delta":"hello"}'
        assert json.loads(events[1].data) == {
            "type": "error",
            "message": "The server is restarting; please reconnect.",
            "code": "server_shutdown",
            "retryable": True,
        }
        assert events[-1].event == "done"
        assert b"retry: " in rest[sock]


# --------------------------------------------------------------------------------------------
# In process: a private monitor, requested by hand.

monitor = ShutdownMonitor()
outcomes: list[StreamOutcome] = []
slow_outcomes: list[StreamOutcome] = []  # its own: they arrive once the slow source has closed
slow_close_started = threading.Event()
# The slow source finishes closing only when the test opens this (after the response ended).
slow_close_gate = Gate()
slow_close_interrupted = threading.Event()  # its cleanup was cancelled before the gate opened


async def waiting(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        yield "hello"
        await asyncio.Event().wait()
        yield "never"

    retry = request.query_params.get("retry")
    return sse(
        source(),
        shutdown=monitor,
        on_close=outcomes.append,
        retry_ms=int(retry) if retry else None,
    )


async def slow_to_close(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        try:
            yield "hello"
            await asyncio.Event().wait()
        finally:
            slow_close_started.set()
            try:
                await slow_close_gate.wait()  # cleanup that takes until the test says
            except asyncio.CancelledError:
                slow_close_interrupted.set()
                raise

    return sse(
        source(), shutdown=monitor, shutdown_grace_seconds=0.2, on_close=slow_outcomes.append
    )


async def lines(request: Request) -> Response:
    async def source() -> AsyncIterator[object]:
        yield {"n": 1}
        await asyncio.Event().wait()

    return ndjson(source(), shutdown=monitor, on_close=outcomes.append)


app = Starlette(
    routes=[Route("/waiting", waiting), Route("/slow", slow_to_close), Route("/lines", lines)]
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(app) as live:
        yield live


@pytest.fixture(autouse=True)
def _fresh_monitor() -> Iterator[None]:
    monitor.reset()
    outcomes.clear()
    yield
    monitor.reset()


def test_requested_shutdown_sends_retry_hint_error_and_done(server: LiveServer) -> None:
    sock = raw_request(server.port, "/waiting?retry=3000")
    try:
        head = read_until(sock, b'"hello"')
        monitor.request()
        raw = head + read_until(sock, b"0\r\n\r\n")
    finally:
        sock.close()
    body = _body_of(raw)
    events = parse_events(body)
    assert [json.loads(event.data)["type"] for event in events] == ["text-delta", "error", "done"]
    # The hint is the user's retry_ms plus jitter below it.
    hints = [int(line[7:]) for line in body.decode().splitlines() if line.startswith("retry: ")]
    assert hints[0] == 3000
    assert 3000 <= hints[-1] < 6000
    assert wait_for(lambda: len(outcomes) == 1)
    assert outcomes[0].status == "shutdown"
    assert outcomes[0].events_sent == 3


def test_a_stream_started_after_the_request_ends_at_once(server: LiveServer) -> None:
    monitor.request()
    response = httpx.get(f"{server.url}/waiting", timeout=WAIT_SECONDS)
    chunks = [json.loads(event.data) for event in parse_events(response.content)]
    assert [chunk["type"] for chunk in chunks][-2:] == ["error", "done"]
    assert chunks[-2]["code"] == "server_shutdown"


def test_a_source_slow_to_close_does_not_hold_the_stream_past_the_grace(
    server: LiveServer,
) -> None:
    global slow_close_gate
    slow_close_gate = Gate()
    slow_outcomes.clear()
    slow_close_started.clear()
    # Reads time out well before the source could finish closing on its own (the gate's
    # WAIT_SECONDS): a response held until the source closed fails the test.
    with (
        httpx.Client(base_url=server.url, timeout=WAIT_SECONDS / 2) as client,
        client.stream("GET", "/slow") as response,
    ):
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        monitor.request()
        rest = "\n".join(lines)  # ends when the response ends
    try:
        assert slow_close_started.is_set()
        assert "server_shutdown" in rest
        assert rest.endswith('event: done\ndata: {"type":"done"}\n')
    finally:
        slow_close_gate.open()
    assert wait_for(lambda: len(slow_outcomes) == 1)
    assert slow_outcomes[0].status == "shutdown"


def test_a_source_slow_to_close_finishes_its_cleanup_before_on_close(server: LiveServer) -> None:
    global slow_close_gate
    slow_close_gate = Gate()
    slow_outcomes.clear()
    slow_close_interrupted.clear()
    with (
        httpx.Client(base_url=server.url, timeout=WAIT_SECONDS / 2) as client,
        client.stream("GET", "/slow") as response,
    ):
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        monitor.request()
        assert "event: done" in "\n".join(lines)
    try:
        # The cleanup is still running: nothing may cut it short, and on_close waits for it.
        ended_early = wait_for(
            lambda: slow_close_interrupted.is_set() or bool(slow_outcomes), seconds=1.0
        )
        assert not slow_close_interrupted.is_set(), "the source's cleanup was cancelled"
        assert not ended_early, "on_close ran before the source finished closing"
    finally:
        slow_close_gate.open()
    assert wait_for(lambda: len(slow_outcomes) == 1)
    assert slow_outcomes[0].status == "shutdown"
    assert not slow_close_interrupted.is_set()


def test_chunked_stream_simply_ends_at_shutdown(server: LiveServer) -> None:
    with (
        httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as client,
        client.stream("GET", "/lines") as response,
    ):
        lines = response.iter_lines()
        assert next(lines) == '{"n":1}'
        monitor.request()
        assert list(lines) == []
    assert wait_for(lambda: len(outcomes) == 1)
    assert outcomes[0].status == "shutdown"


async def test_lifespan_shutdown_requests_and_startup_resets_the_monitor() -> None:
    own = ShutdownMonitor()
    own.request()
    seen: list[tuple[str, bool]] = []
    messages: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        for _ in messages:
            message = await receive()
            seen.append((message["type"], own.requested))

    async def receive() -> Message:
        return messages[len(seen)]

    async def send(message: Message) -> None:
        raise AssertionError("not expected")

    await ShutdownMiddleware(lifespan_app, monitor=own)({"type": "lifespan"}, receive, send)
    assert seen == [("lifespan.startup", False), ("lifespan.shutdown", True)]


def test_signal_handler_requests_shutdown_and_then_calls_the_previous_handler() -> None:
    calls: list[int] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    original = signal.signal(signal.SIGUSR1, previous)
    try:
        own = ShutdownMonitor()
        assert own.install_signal_handlers((signal.SIGUSR1,))
        assert own.install_signal_handlers((signal.SIGUSR1,))  # idempotent: no double chain
        signal.raise_signal(signal.SIGUSR1)
        assert own.requested
        assert calls == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, original)


def test_signal_handlers_are_not_installed_off_the_main_thread() -> None:
    own = ShutdownMonitor()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(own.install_signal_handlers()))
    thread.start()
    thread.join(WAIT_SECONDS)
    assert result == [False]
