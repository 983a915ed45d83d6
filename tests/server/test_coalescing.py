"""Adaptive coalescing of an iterator source, driven in-process as a bare ASGI app (issue 9).

The response task peeks: after an item it steps the source once more without waiting. Items the
source has ready join one send; the moment it would wait, what is ready leaves, then the loop
waits on that started step. These tests pin what a client sees (batches, a lone item at once,
the bounds of a batch) and the paths where a started step is abandoned (a disconnect or a
shutdown during the batch's send).

Every ASGI call is bounded by ``asyncio.wait_for`` and every source by an item count.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator

import pytest

from streamwire.protocol.errors import InvalidArgumentError
from streamwire.server import SSEItem, StreamOutcome, ndjson, sse
from streamwire.server._engine import COALESCE_MAX_BYTES, _abandon, _drive
from streamwire.server.shutdown import ShutdownMonitor
from tests.server._support import WAIT_SECONDS
from tests.server.test_engine_behaviours import Client, http_scope

DONE = b'event: done\ndata: {"type":"done"}\n\n'


def delta(text: str) -> bytes:
    return b'data: {"type":"text-delta","delta":"' + text.encode() + b'"}\n\n'


async def run(response: object, client: Client) -> None:
    await asyncio.wait_for(
        response(http_scope(), client.receive, client.send),  # type: ignore[operator]
        WAIT_SECONDS,
    )


async def leave_during_a_stuck_send(response: object, client: Client) -> None:
    """Run ``response`` until its send is stuck, then let the client leave; wait for the end."""
    task = asyncio.create_task(run(response, client))
    try:
        await asyncio.wait_for(client.stalled.wait(), WAIT_SECONDS)
        client.gone.set()
        await task
    finally:
        task.cancel()


async def test_ready_items_leave_in_one_send_before_the_source_waits() -> None:
    client = Client()
    gate = asyncio.Event()

    async def source() -> AsyncIterator[SSEItem]:
        yield "a"
        yield "b"
        yield "c"
        await gate.wait()  # the batch must be out before this wait, not after it
        yield "d"

    task = asyncio.create_task(run(sse(source(), shutdown=ShutdownMonitor()), client))
    try:
        await asyncio.wait_for(client.changed.wait(), WAIT_SECONDS)
        assert [body for _, body in client.bodies] == [delta("a") + delta("b") + delta("c")]
        gate.set()
        await task
    finally:
        task.cancel()
    # "d" was the last item: it leaves with the end of the stream.
    assert [body for _, body in client.bodies][1:] == [delta("d") + DONE]


async def test_a_lone_item_leaves_at_once_each_time_the_source_waits() -> None:
    client = Client()

    async def source() -> AsyncIterator[SSEItem]:
        for text in "abc":
            yield text
            await asyncio.sleep(0)

    await run(sse(source(), shutdown=ShutdownMonitor()), client)
    assert [body for _, body in client.bodies] == [delta("a"), delta("b"), delta("c"), DONE]


async def test_a_burst_leaves_in_one_send_whatever_max_buffered_events_says() -> None:
    client = Client()

    async def source() -> AsyncIterator[SSEItem]:
        for n in range(10):
            yield str(n)

    # max_buffered_events bounds what waits behind a send in flight; a batch the source had
    # ready is bounded by its bytes (COALESCE_MAX_BYTES) alone.
    await run(sse(source(), max_buffered_events=4, shutdown=ShutdownMonitor()), client)
    bodies = [body for _, body in client.bodies]
    assert bodies == [b"".join(delta(str(n)) for n in range(10)) + DONE]


async def test_a_batch_closes_once_it_reaches_the_byte_cap() -> None:
    client = Client()
    piece = "x" * (40 * 1024)

    async def source() -> AsyncIterator[dict[str, str]]:
        for _ in range(6):
            yield {"text": piece}

    await run(ndjson(source(), shutdown=ShutdownMonitor()), client)
    sizes = [len(body) for _, body in client.bodies if body]
    line = len(piece) + len('{"text":""}\n')
    assert sum(sizes) == 6 * line
    assert all(size <= COALESCE_MAX_BYTES + line for size in sizes)
    assert sizes == [2 * line, 2 * line, 2 * line]


async def test_without_coalesce_each_item_has_its_own_send() -> None:
    client = Client()

    async def source() -> AsyncIterator[SSEItem]:
        for text in "abc":
            yield text

    await run(sse(source(), coalesce=False, shutdown=ShutdownMonitor()), client)
    assert [body for _, body in client.bodies] == [delta("a"), delta("b"), delta("c"), DONE]


async def test_items_ready_before_the_source_fails_precede_the_error_event() -> None:
    client = Client()

    async def source() -> AsyncIterator[SSEItem]:
        yield "a"
        yield "b"
        raise ValueError("the model failed")

    outcomes: list[StreamOutcome] = []
    await run(sse(source(), on_close=outcomes.append, shutdown=ShutdownMonitor()), client)
    bodies = [body for _, body in client.bodies]
    assert len(bodies) == 1
    assert bodies[0].startswith(delta("a") + delta("b") + b'data: {"type":"error"')
    assert bodies[0].endswith(DONE)
    assert [outcome.status for outcome in outcomes] == ["error"]


async def test_a_client_gone_during_a_batch_send_cancels_the_started_step_and_waits_for_it() -> (
    None
):
    client = Client(stall_after=0)  # the first body send never ends
    seen: list[str] = []

    async def source() -> AsyncIterator[SSEItem]:
        yield "a"
        try:
            await asyncio.sleep(WAIT_SECONDS)  # the peek leaves the source here
        except asyncio.CancelledError:
            seen.append("cancelled")
            await asyncio.sleep(0.01)  # a cleanup that awaits is waited for
            seen.append("cleaned up")
            raise
        yield "never"

    outcomes: list[StreamOutcome] = []
    response = sse(
        source(),
        heartbeat_seconds=None,
        send_timeout_seconds=None,
        on_close=outcomes.append,
        shutdown=ShutdownMonitor(),
    )
    await leave_during_a_stuck_send(response, client)
    assert seen == ["cancelled", "cleaned up"]
    assert [outcome.status for outcome in outcomes] == ["cancelled"]


async def test_a_started_step_that_swallows_its_cancel_is_closed_anyway() -> None:
    client = Client(stall_after=0)
    closed = asyncio.Event()

    async def source() -> AsyncIterator[SSEItem]:
        try:
            yield "a"
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(WAIT_SECONDS)  # swallowed: the source goes on to "b"
            yield "b"
            yield "never"
        finally:
            closed.set()

    outcomes: list[StreamOutcome] = []
    response = sse(source(), heartbeat_seconds=None, on_close=outcomes.append)
    await leave_during_a_stuck_send(response, client)
    assert closed.is_set()
    assert [outcome.status for outcome in outcomes] == ["cancelled"]


async def test_a_shutdown_during_a_batch_send_sends_the_notice_after_it() -> None:
    release = asyncio.Event()
    sending = asyncio.Event()
    bodies: list[bytes] = []
    monitor = ShutdownMonitor()
    closed = asyncio.Event()

    async def receive() -> dict[str, object]:
        await asyncio.sleep(WAIT_SECONDS)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] != "http.response.body":
            return
        body = message.get("body", b"")
        assert isinstance(body, bytes)
        bodies.append(body)
        if len(bodies) == 1:
            sending.set()
            await release.wait()  # the batch's send is slow

    async def source() -> AsyncIterator[SSEItem]:
        try:
            yield "a"
            yield "b"
            await asyncio.sleep(WAIT_SECONDS)
            yield "never"
        finally:
            closed.set()

    outcomes: list[StreamOutcome] = []
    response = sse(source(), heartbeat_seconds=None, on_close=outcomes.append, shutdown=monitor)
    task = asyncio.create_task(response(http_scope(), receive, send))  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(sending.wait(), WAIT_SECONDS)
        monitor.request()
        await asyncio.sleep(0)  # the monitor's callback (call_soon) runs before this resumes
        release.set()
        await asyncio.wait_for(task, WAIT_SECONDS)
    finally:
        task.cancel()
    assert bodies[0] == delta("a") + delta("b")
    assert b"server_shutdown" in b"".join(bodies[1:])
    assert closed.is_set()
    assert [outcome.status for outcome in outcomes] == ["shutdown"]


async def test_driving_a_started_step_passes_on_results_exceptions_and_cancels() -> None:
    async def step(wait: asyncio.Future[int]) -> int:
        await asyncio.sleep(0)  # a bare yield
        return await wait + 1

    loop = asyncio.get_running_loop()
    wait = loop.create_future()
    coro = step(wait)
    first = coro.send(None)  # the peek: a bare yield
    assert first is None
    loop.call_soon(wait.set_result, 1)
    assert await asyncio.wait_for(_drive(coro, first), WAIT_SECONDS) == 2

    failing = loop.create_future()
    coro = step(failing)
    loop.call_soon(failing.set_exception, KeyError("upstream"))
    with pytest.raises(KeyError):  # raised inside the source, where it awaited
        await asyncio.wait_for(_drive(coro, coro.send(None)), WAIT_SECONDS)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED

    never = loop.create_future()
    coro = step(never)
    driver = asyncio.create_task(_drive(coro, coro.send(None)))
    for _ in range(3):
        await asyncio.sleep(0)
    driver.cancel()  # the task's cancel reaches the source at its await
    with pytest.raises(asyncio.CancelledError):
        await driver
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


async def test_abandoning_a_step_passes_on_a_cancel_of_its_own() -> None:
    other = asyncio.CancelledError("the server's own")

    async def step() -> None:
        try:
            await asyncio.sleep(WAIT_SECONDS)
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # it settles, then meets a different cancel
            raise other from None

    coro = step()
    assert coro.send(None) is not None  # started: it waits on the sleep's future
    with pytest.raises(asyncio.CancelledError) as info:
        await _abandon(coro)
    assert info.value is other


async def test_abandoning_a_step_that_already_ended_does_nothing() -> None:
    async def step() -> int:
        return 1

    coro = step()
    with pytest.raises(StopIteration):
        coro.send(None)
    await _abandon(coro)  # the throw finds it ended


def test_responses_with_the_same_options_share_checked_settings() -> None:
    first = sse(["a"], heartbeat_seconds=5)
    again = sse(["b"], heartbeat_seconds=5)
    assert first.settings is again.settings
    assert sse(["c"], heartbeat_seconds=6).settings is not first.settings
    # Equal but not equally valid options are not served from the cache.
    assert sse(["d"], max_buffered_events=1).settings.max_buffered_events == 1
    with pytest.raises(InvalidArgumentError) as info:
        sse(["e"], max_buffered_events=True)
    assert info.value.field == "max_buffered_events"
    with pytest.raises(InvalidArgumentError) as info:
        sse(["f"], max_buffered_events=[1])  # type: ignore[arg-type]  # unhashable, and wrong
    assert info.value.field == "max_buffered_events"
    # Settings with hooks are the response's own.
    hooked = sse(["g"], on_close=lambda outcome: None)
    assert hooked.settings is not sse(["h"], on_close=lambda outcome: None).settings
