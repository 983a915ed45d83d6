"""A client that leaves cancels the source, under ASGI 2.3 and 2.4 behaviours (issue 3).

uvicorn reports HTTP spec 2.3: sends to a gone client are silently dropped. A 2.4 server raises
OSError from such a send instead. Either way the response must notice the disconnect while the
source is still waiting on the model, not only at its next send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamwire.server import Emit, SSEItem, StreamOutcome, sse
from tests.server._support import WAIT_SECONDS, Gate, raw_request, read_until, wait_for
from tests.servers import LiveServer


@dataclass
class Probe:
    """What one stream's source and hooks did, seen from the test thread."""

    yielded: int = 0
    closed: threading.Event = field(default_factory=threading.Event)
    # The model's next token: the waiting sources park here after their first token, so the
    # disconnect can only be noticed while they wait (there is no next send to fail).
    next_token: Gate = field(default_factory=Gate)
    # Set when the response's receive() returned http.disconnect: it noticed the client left.
    disconnect_read: threading.Event = field(default_factory=threading.Event)
    disconnects: int = 0
    outcomes: list[StreamOutcome] = field(default_factory=list)


probes: dict[str, Probe] = {}


def probe_for(request: Request) -> Probe:
    return probes.setdefault(request.query_params["id"], Probe())


def hooks(probe: Probe) -> dict[str, object]:
    def on_disconnect() -> None:
        probe.disconnects += 1

    async def on_close(outcome: StreamOutcome) -> None:
        probe.outcomes.append(outcome)

    return {"on_disconnect": on_disconnect, "on_close": on_close}


async def waiting_generator(request: Request) -> Response:
    probe = probe_for(request)

    async def source() -> AsyncIterator[SSEItem]:
        try:
            probe.yielded += 1
            yield f"token {probe.yielded}"
            await probe.next_token.wait()  # waiting on the model; never answers
            probe.yielded += 1
            yield f"token {probe.yielded}"
        finally:
            probe.closed.set()

    return sse(source(), **hooks(probe))  # type: ignore[arg-type]


async def waiting_emitter(request: Request) -> Response:
    probe = probe_for(request)

    async def produce(emit: Emit[SSEItem]) -> None:
        try:
            probe.yielded += 1
            await emit(f"token {probe.yielded}")
            await probe.next_token.wait()  # waiting on the model; never answers
            probe.yielded += 1
            await emit(f"token {probe.yielded}")
        finally:
            probe.closed.set()

    return sse(produce, **hooks(probe))  # type: ignore[arg-type]


async def blocking_sync_generator(request: Request) -> Response:
    probe = probe_for(request)

    def source() -> Iterator[SSEItem]:
        try:
            for _ in range(3):
                probe.yielded += 1
                yield f"token {probe.yielded}"
                # A blocking SDK call in the worker thread: it cannot be interrupted, so the
                # test releases it once the response has noticed the disconnect.
                probe.next_token.event.wait(WAIT_SECONDS)
        finally:
            probe.closed.set()

    return sse(source(), **hooks(probe))  # type: ignore[arg-type]


async def fast_generator(request: Request) -> Response:
    """Produces as fast as it can: blocked by backpressure when the client stops reading."""
    probe = probe_for(request)

    async def source() -> AsyncIterator[SSEItem]:
        try:
            while True:
                probe.yielded += 1
                yield "x" * 4096
        finally:
            probe.closed.set()

    return sse(source(), max_buffered_events=4, **hooks(probe))  # type: ignore[arg-type]


class Spec24:
    """Makes the app see a 2.4 server: spec_version 2.4, and a send after the client left
    raises OSError (as 2.4 servers do) instead of being dropped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = {**scope, "asgi": {**scope.get("asgi", {}), "spec_version": "2.4"}}
        gone = False

        async def watched_receive() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect":
                gone = True
            return message

        async def failing_send(message: Message) -> None:
            if gone:
                raise OSError("client disconnected")
            await send(message)

        await self.app(scope, watched_receive, failing_send)


routes = [
    Route("/generator", waiting_generator),
    Route("/emitter", waiting_emitter),
    Route("/sync", blocking_sync_generator),
    Route("/fast", fast_generator),
]
app_23 = Starlette(routes=routes)
app_24 = Spec24(Starlette(routes=routes))


async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        ids = parse_qs(scope["query_string"].decode()).get("id")
        if ids:
            probe = probes.setdefault(ids[0], Probe())
            inner_receive = receive

            async def receive() -> Message:
                message = await inner_receive()
                if message["type"] == "http.disconnect":
                    probe.disconnect_read.set()
                return message

    if scope["type"] == "http" and scope["path"].startswith("/v24/"):
        scope = {**scope, "path": scope["path"][4:], "raw_path": scope["raw_path"][4:]}
        await app_24(scope, receive, send)
    else:
        await app_23(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(dispatch) as live:
        yield live


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
@pytest.mark.parametrize("kind", ["generator", "emitter", "sync"])
def test_client_drop_is_noticed_while_the_source_waits_and_closes_it(
    server: LiveServer, spec: str, kind: str
) -> None:
    key = f"{kind}-{spec}"
    prefix = "/v24" if spec == "2.4" else ""
    with (
        httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as client,
        client.stream("GET", f"{prefix}/{kind}", params={"id": key}) as response,
    ):
        lines = response.iter_lines()
        assert next(lines) == 'data: {"type":"text-delta","delta":"token 1"}'
        probe = probes[key]
        assert probe.yielded == 1
    # Leaving the block closed the connection, while the source waits for its next token.
    assert probe.disconnect_read.wait(WAIT_SECONDS), "the response never read the disconnect"
    if kind == "sync":
        # The blocking call cannot be interrupted: released now, its thread returns with one
        # more item, and the source is closed then instead of being asked for a third.
        assert not probe.closed.is_set()
        probe.next_token.open()
        assert probe.closed.wait(WAIT_SECONDS), "the source was not closed"
        assert probe.yielded == 2
    else:
        # An async source is cancelled in its wait: it never reaches the next token.
        assert probe.closed.wait(WAIT_SECONDS), "the source was not closed"
        assert probe.yielded == 1
    assert wait_for(lambda: len(probe.outcomes) == 1)
    assert probe.outcomes[0].status == "cancelled"
    assert probe.disconnects == 1


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
def test_client_drop_closes_a_source_blocked_by_backpressure(server: LiveServer, spec: str) -> None:
    key = f"fast-{spec}"
    prefix = "/v24" if spec == "2.4" else ""
    sock = raw_request(server.port, f"{prefix}/fast?id={key}")
    try:
        read_until(sock, b"data: ")
        # Stop reading: the buffers fill and the producer blocks.
        probe = probes[key]
        assert wait_for(lambda: _stable(probe))
    finally:
        sock.close()
    assert probe.closed.wait(WAIT_SECONDS), "the source was not closed"
    assert wait_for(lambda: len(probe.outcomes) == 1)
    assert probe.outcomes[0].status == "cancelled"


def _stable(probe: Probe) -> bool:
    """The producer made no progress for 100 ms (it is blocked)."""
    before = probe.yielded
    time.sleep(0.1)
    return probe.yielded == before and before > 0
