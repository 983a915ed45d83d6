"""The stream engine's edge paths, driven in-process as a bare ASGI app (issue 9).

Backpressure of a coalescing stream, a shutdown while a send is stuck, a client gone before the
response head, a send that fails with something other than a disconnect, a source that raises
after its ``done`` chunk, a ``receive()`` that breaks, and the response's background task.

Every ASGI call is bounded by ``asyncio.wait_for`` and every source by an item count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from starlette.background import BackgroundTask
from starlette.types import Message

from streamwire.server import SSEItem, StreamOutcome, sse
from streamwire.server._engine import COALESCE_MAX_BYTES
from streamwire.server.shutdown import ShutdownMonitor
from tests.server._support import WAIT_SECONDS
from tests.server.test_engine_behaviours import ITEM_LIMIT, Client, http_scope

DONE = b'event: done\ndata: {"type":"done"}\n\n'


async def stalled(client: Client) -> None:
    """Wait (bounded) until a send of ``client``'s is stuck."""
    await asyncio.wait_for(client.stalled.wait(), WAIT_SECONDS)


async def test_a_coalescing_stream_holds_its_source_at_the_buffer_while_a_send_is_stuck() -> None:
    client = Client(stall_after=1)
    produced = 0
    closed = asyncio.Event()

    async def source() -> AsyncIterator[SSEItem]:
        nonlocal produced
        try:
            while produced < ITEM_LIMIT:
                produced += 1
                yield "x"
        finally:
            closed.set()

    outcomes: list[StreamOutcome] = []
    response = sse(
        source(),
        coalesce=True,
        max_buffered_events=4,
        heartbeat_seconds=None,
        send_timeout_seconds=None,
        on_close=outcomes.append,
        shutdown=ShutdownMonitor(),
    )
    task = asyncio.create_task(response(http_scope(), client.receive, client.send))
    try:
        await stalled(client)
        # Held: the count stops growing while the send is stuck.
        before = -1
        for _ in range(50):
            if produced == before:
                break
            before = produced
            await asyncio.sleep(0.02)
        assert produced == before
        # Two batches of at most 64 KiB (the one sent, the one stuck in its send): the source
        # is not stepped while the send is stuck.
        item_bytes = len(b'data: {"type":"text-delta","delta":"x"}\n\n')
        assert produced <= 2 * (COALESCE_MAX_BYTES // item_bytes + 1)
        client.gone.set()  # the client leaves: the stuck send and the waiting source both end
        await asyncio.wait_for(task, WAIT_SECONDS)
    finally:
        task.cancel()
    assert closed.is_set()
    assert [outcome.status for outcome in outcomes] == ["cancelled"]


async def test_shutdown_during_a_stuck_send_waits_for_it_and_gives_up_after_the_grace() -> None:
    client = Client(stall_after=1)
    monitor = ShutdownMonitor()
    closed = asyncio.Event()

    async def source() -> AsyncIterator[SSEItem]:
        try:
            yield "one"
            await asyncio.sleep(0)  # "one" leaves on its own
            yield "two"  # its send never ends: the client stopped reading
            await asyncio.sleep(WAIT_SECONDS)
        finally:
            closed.set()

    outcomes: list[StreamOutcome] = []
    response = sse(
        source(),
        heartbeat_seconds=None,
        send_timeout_seconds=None,
        shutdown_grace_seconds=0.2,
        on_close=outcomes.append,
        shutdown=monitor,
    )
    task = asyncio.create_task(response(http_scope(), client.receive, client.send))
    await stalled(client)
    loop = asyncio.get_running_loop()
    asked = loop.time()
    monitor.request()
    await asyncio.wait_for(task, WAIT_SECONDS)

    assert loop.time() - asked >= 0.2  # the send in flight was given the grace, not cut
    assert closed.is_set()
    assert [outcome.status for outcome in outcomes] == ["shutdown"]
    # Only "one" arrived; the notice waited behind the stuck send and was then abandoned.
    assert len(client.bodies) == 1


async def test_shutdown_notice_follows_a_send_in_flight_once_it_completes() -> None:
    monitor = ShutdownMonitor()
    release = asyncio.Event()
    bodies: list[bytes] = []
    started = asyncio.Event()

    async def receive() -> Message:
        await asyncio.sleep(WAIT_SECONDS)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] != "http.response.body":
            return
        if not bodies and message.get("body"):
            started.set()
            await release.wait()  # the first event's send is slow
        bodies.append(bytes(message.get("body", b"")))

    async def source() -> AsyncIterator[SSEItem]:
        yield "one"
        await asyncio.sleep(WAIT_SECONDS)
        yield "never"

    outcomes: list[StreamOutcome] = []
    response = sse(source(), on_close=outcomes.append, shutdown=monitor)
    task = asyncio.create_task(response(http_scope(), receive, send))
    await asyncio.wait_for(started.wait(), WAIT_SECONDS)
    monitor.request()
    await asyncio.sleep(0.05)
    assert bodies == []  # the notice does not overtake the send in flight
    release.set()
    await asyncio.wait_for(task, WAIT_SECONDS)

    assert bodies[0] == b'data: {"type":"text-delta","delta":"one"}\n\n'
    assert b"server_shutdown" in bodies[1]
    assert bodies[1].endswith(DONE)
    assert [outcome.status for outcome in outcomes] == ["shutdown"]


async def test_a_client_gone_before_the_response_head_is_a_disconnect() -> None:
    started = False

    async def source() -> AsyncIterator[SSEItem]:
        nonlocal started
        started = True
        yield "never sent"

    async def send(message: Message) -> None:
        raise OSError("the client has gone (ASGI 2.4)")

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    outcomes: list[StreamOutcome] = []
    disconnects: list[None] = []
    response = sse(
        source(),
        on_close=outcomes.append,
        on_disconnect=lambda: disconnects.append(None),
        shutdown=ShutdownMonitor(),
    )
    await asyncio.wait_for(response(http_scope(), receive, send), WAIT_SECONDS)
    assert not started
    assert [outcome.status for outcome in outcomes] == ["cancelled"]
    assert disconnects == [None]


async def test_a_send_that_fails_otherwise_is_raised_after_the_hooks() -> None:
    client = Client()
    closed = asyncio.Event()

    async def source() -> AsyncIterator[SSEItem]:
        try:
            yield "one"
            yield "two"
            await asyncio.sleep(WAIT_SECONDS)
        finally:
            closed.set()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and b"two" in message.get("body", b""):
            raise RuntimeError("a middleware's bug")
        await client.send(message)

    outcomes: list[StreamOutcome] = []
    response = sse(source(), on_close=outcomes.append, shutdown=ShutdownMonitor())
    with pytest.raises(RuntimeError, match="a middleware's bug"):
        await asyncio.wait_for(response(http_scope(), client.receive, send), WAIT_SECONDS)
    assert closed.is_set()
    assert [outcome.status for outcome in outcomes] == ["error"]
    assert isinstance(outcomes[0].error, RuntimeError)


ONE = b'data: {"type":"text-delta","delta":"one"}\n\n'


async def test_a_source_that_raises_after_its_done_chunk_still_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Client()

    async def source() -> AsyncIterator[SSEItem]:
        yield "one"
        yield {"type": "done"}
        raise ValueError("cleanup failed")

    outcomes: list[StreamOutcome] = []
    response = sse(source(), on_close=outcomes.append, shutdown=ShutdownMonitor())
    # The done chunk ends the stream: the generator is closed at its yield, so it never raises.
    await asyncio.wait_for(response(http_scope(), client.receive, client.send), WAIT_SECONDS)
    # "one" and the done chunk were ready together: they leave in the stream's last send.
    assert [body for _, body in client.bodies][-1:] == [ONE + DONE]
    assert [outcome.status for outcome in outcomes] == ["completed"]

    async def emitter(emit: object) -> None:
        await emit("one")  # type: ignore[operator]  # the Emit callable
        await emit({"type": "done"})  # type: ignore[operator]
        raise ValueError("cleanup failed")

    client = Client()
    outcomes.clear()
    with caplog.at_level(logging.ERROR, logger="streamwire.server"):
        response = sse(emitter, on_close=outcomes.append, shutdown=ShutdownMonitor())
        await asyncio.wait_for(response(http_scope(), client.receive, client.send), WAIT_SECONDS)
    assert "raised after its done chunk" in caplog.text
    # Queued together, they leave in the last send, which ends the body.
    assert [body for _, body in client.bodies][-1:] == [ONE + DONE]
    assert [outcome.status for outcome in outcomes] == ["completed"]


async def test_a_broken_receive_leaves_the_stream_running() -> None:
    client = Client()

    async def receive() -> Message:
        raise RuntimeError("receive() is broken")

    outcomes: list[StreamOutcome] = []
    response = sse(["one", "two"], on_close=outcomes.append, shutdown=ShutdownMonitor())
    await asyncio.wait_for(response(http_scope(), receive, client.send), WAIT_SECONDS)
    assert [body for _, body in client.bodies][-1] == DONE  # the tail ends the body
    assert [outcome.status for outcome in outcomes] == ["completed"]


async def test_the_background_task_runs_after_the_stream() -> None:
    client = Client()
    order: list[str] = []

    async def source() -> AsyncIterator[SSEItem]:
        yield "one"
        order.append("streamed")

    response = sse(
        source(),
        on_close=lambda outcome: order.append(f"closed {outcome.status}"),
        background=BackgroundTask(order.append, "background"),
        shutdown=ShutdownMonitor(),
    )
    await asyncio.wait_for(response(http_scope(), client.receive, client.send), WAIT_SECONDS)
    assert order == ["streamed", "closed completed", "background"]


async def test_a_cancel_from_the_server_propagates_after_the_hooks() -> None:
    client = Client()
    closed = asyncio.Event()

    async def source() -> AsyncIterator[SSEItem]:
        try:
            yield "one"
            await asyncio.sleep(WAIT_SECONDS)
            yield "never"
        finally:
            closed.set()

    outcomes: list[StreamOutcome] = []
    response = sse(source(), on_close=outcomes.append, shutdown=ShutdownMonitor())
    task = asyncio.create_task(response(http_scope(), client.receive, client.send))
    await client.wait_until(lambda: len(client.bodies) == 1)
    task.cancel()  # e.g. uvicorn's forced exit
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_SECONDS)
    assert closed.is_set()
    assert [outcome.status for outcome in outcomes] == ["cancelled"]


async def test_a_stream_started_after_the_shutdown_request_sends_only_the_notice() -> None:
    client = Client()
    monitor = ShutdownMonitor()
    monitor.request()
    started = False

    async def source() -> AsyncIterator[SSEItem]:
        nonlocal started
        started = True
        yield "never"

    outcomes: list[StreamOutcome] = []
    response = sse(source(), on_close=outcomes.append, shutdown=monitor)
    await asyncio.wait_for(response(http_scope(), client.receive, client.send), WAIT_SECONDS)
    bodies = [body for _, body in client.bodies]
    assert b"server_shutdown" in bodies[0]
    assert bodies[-1].endswith(DONE)
    assert [outcome.status for outcome in outcomes] == ["shutdown"]
    assert not started


async def test_a_failed_chunked_source_sends_what_is_queued_then_aborts_the_body() -> None:
    from streamwire.server import StreamAbortedError, ndjson

    client = Client()

    async def source() -> AsyncIterator[dict[str, int]]:
        for n in range(3):
            yield {"n": n}
        raise ValueError("the model failed")

    outcomes: list[StreamOutcome] = []
    response = ndjson(source(), coalesce=True, on_close=outcomes.append, shutdown=ShutdownMonitor())
    with pytest.raises(StreamAbortedError):
        await asyncio.wait_for(response(http_scope(), client.receive, client.send), WAIT_SECONDS)
    sent = b"".join(body for _, body in client.bodies)
    assert sent == b'{"n":0}\n{"n":1}\n{"n":2}\n'  # every line produced, and no end of body
    assert [outcome.status for outcome in outcomes] == ["error"]
    assert isinstance(outcomes[0].error, ValueError)
