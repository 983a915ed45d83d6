"""The stream engine's newer behaviours, driven in-process as a bare ASGI app (issue 9).

* a source that never awaits still notices a client that left under ASGI 2.3 (the stream
  yields to the loop every ``DIRECT_SENDS_BEFORE_YIELD`` direct sends);
* heartbeats and the send timeout run on loop-wide shared timers, whose deadlines are rounded
  up to ``min(1 s, interval / 8)``: a ping or a timeout comes at most that late;
* the watcher awaits ``receive()`` in the request's context; a source that swallows the
  cancel that stops it is not resumed, and the response task's cancel is taken back.

Each ASGI call is bounded by ``asyncio.wait_for``, and each source by an item count, so a
regression fails instead of hanging. The upper bounds on timings add a generous ``SLACK`` for a
busy machine; the lower bounds are exact (a deadline never fires early).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.types import Message, Scope

from streamwire.server import Emit, SSEItem, StreamOutcome, sse
from streamwire.server.shutdown import ShutdownMonitor
from tests.server._support import WAIT_SECONDS

PING = b": ping\n\n"
# How many items a never-awaiting source yields at most: far more than the engine needs to
# notice a disconnect, few enough that a regression ends in well under a second.
ITEM_LIMIT = 100_000
# Scheduling delay tolerated on top of the documented lateness (2 shared CPU cores).
SLACK = 0.2
# A loop-clock reading taken in our send may trail the engine's own by this much.
CLOCK_TOLERANCE = 0.01


def lateness(*intervals: float | None) -> float:
    """The most a shared-timer deadline may come late (docs/architecture.md, Shared timers)."""
    return min([1.0, *(seconds / 8 for seconds in intervals if seconds is not None)])


def http_scope() -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class Client:
    """An in-process ASGI 2.3 client: records each body send with the loop time it began.

    ``leave_after``: after that many body sends the client leaves: ``receive()`` returns
    ``http.disconnect`` and later sends return at once without raising (ASGI 2.3: dropped).
    ``stall_after``: after that many body sends the client stops reading: the next send blocks
    until it is cancelled. Until then every send returns without waiting.
    """

    def __init__(self, *, leave_after: int | None = None, stall_after: int | None = None) -> None:
        self.leave_after = leave_after
        self.stall_after = stall_after
        self.bodies: list[tuple[float, bytes]] = []
        self.started_at: float | None = None
        self.stalled_at: float | None = None
        self.gone = asyncio.Event()
        self.changed = asyncio.Event()
        self.stalled = asyncio.Event()  # a send is stuck (the client stopped reading)
        self._requested = False

    async def receive(self) -> Message:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        now = asyncio.get_running_loop().time()
        if message["type"] == "http.response.start":
            self.started_at = now
            return
        if self.gone.is_set():
            return  # ASGI 2.3: a send to a client that left is dropped
        if self.stall_after is not None and len(self.bodies) >= self.stall_after:
            self.stalled_at = now
            self.stalled.set()
            await asyncio.get_running_loop().create_future()  # never read: until cancelled
        self.bodies.append((now, bytes(message.get("body", b""))))
        self.changed.set()
        if self.leave_after is not None and len(self.bodies) >= self.leave_after:
            self.gone.set()

    def pings(self) -> list[float]:
        return [at for at, body in self.bodies if body == PING]

    def ping_gaps(self) -> list[float]:
        """The time from each ping to the send before it (the response start for the first)."""
        assert self.started_at is not None
        gaps = []
        previous = self.started_at
        for at, body in self.bodies:
            if body == PING:
                gaps.append(at - previous)
            previous = at
        return gaps

    async def wait_until(self, predicate: Any) -> None:
        """Wait (bounded) until ``predicate()`` holds after a send."""

        async def waiting() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(waiting(), WAIT_SECONDS)


# --------------------------------------------------------------------------------------------
# A source that never awaits, and a client that left under ASGI 2.3.


@pytest.mark.parametrize("kind", ["generator", "emitter"])
async def test_a_source_that_never_awaits_is_closed_when_the_client_leaves_under_asgi_2_3(
    kind: str,
) -> None:
    produced = 0
    closed = asyncio.Event()

    async def generator() -> AsyncIterator[SSEItem]:
        nonlocal produced
        try:
            while produced < ITEM_LIMIT:
                produced += 1
                yield "x"  # no await anywhere: only the engine can yield to the loop
        finally:
            closed.set()

    async def emitter(emit: Emit[SSEItem]) -> None:
        nonlocal produced
        try:
            while produced < ITEM_LIMIT:
                produced += 1
                await emit("x")  # a direct send that never blocks: never suspends
        finally:
            closed.set()

    outcomes: list[StreamOutcome] = []
    disconnects: list[None] = []
    client = Client(leave_after=10)
    response = sse(
        generator() if kind == "generator" else emitter,
        heartbeat_seconds=None,
        send_timeout_seconds=None,
        on_disconnect=lambda: disconnects.append(None),
        on_close=outcomes.append,
        shutdown=ShutdownMonitor(),
    )
    await asyncio.wait_for(response(http_scope(), client.receive, client.send), WAIT_SECONDS)

    # Without the engine's periodic yield the watcher never runs: the source would run to its
    # limit and the stream would end "completed".
    assert closed.is_set(), "the source was not closed"
    assert produced < ITEM_LIMIT, "the disconnect was not noticed while the source ran"
    assert [outcome.status for outcome in outcomes] == ["cancelled"]
    assert len(disconnects) == 1
    assert len(client.bodies) == 10


# --------------------------------------------------------------------------------------------
# Heartbeats on the shared timers.


async def test_an_idle_stream_pings_each_interval_at_most_the_timer_lateness_late() -> None:
    heartbeat = 0.25
    answer = asyncio.Event()

    async def source() -> AsyncIterator[SSEItem]:
        await answer.wait()  # the model is thinking
        yield "late"

    client = Client()
    response = sse(source(), heartbeat_seconds=heartbeat, shutdown=ShutdownMonitor())
    run = asyncio.create_task(response(http_scope(), client.receive, client.send))
    try:
        await client.wait_until(lambda: len(client.pings()) >= 3)
        answer.set()
        await asyncio.wait_for(run, WAIT_SECONDS)
    finally:
        run.cancel()
    gaps = client.ping_gaps()
    assert len(gaps) >= 3
    assert [body for _, body in client.bodies[:3]] == [PING] * 3
    assert any(b'"delta":"late"' in body for _, body in client.bodies)
    limit = heartbeat + lateness(heartbeat, 30.0) + SLACK
    for gap in gaps:
        assert heartbeat - CLOCK_TOLERANCE <= gap <= limit, (gap, gaps)


async def test_shared_timers_ping_each_stream_at_its_own_interval_never_while_flowing() -> None:
    fast_beat, slow_beat, flowing_beat = 0.15, 0.4, 0.3
    stop = asyncio.Event()

    async def idle() -> AsyncIterator[SSEItem]:
        await stop.wait()
        yield "end"

    async def flowing() -> AsyncIterator[SSEItem]:
        # Events 50 ms apart for longer than two heartbeat intervals: never idle long enough.
        for index in range(16):
            yield f"t{index}"
            await asyncio.sleep(0.05)

    fast, slow, flow = Client(), Client(), Client()
    monitor = ShutdownMonitor()
    runs = [
        asyncio.create_task(
            sse(source, heartbeat_seconds=beat, shutdown=monitor)(
                http_scope(), client.receive, client.send
            )
        )
        for source, beat, client in (
            (idle(), fast_beat, fast),
            (idle(), slow_beat, slow),
            (flowing(), flowing_beat, flow),
        )
    ]
    try:
        await asyncio.wait_for(runs[2], WAIT_SECONDS)
        await slow.wait_until(lambda: len(slow.pings()) >= 2)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*runs), WAIT_SECONDS)
    finally:
        for run in runs:
            run.cancel()

    assert flow.pings() == []
    assert sum(b"text-delta" in body for _, body in flow.bodies) == 16
    for client, beat in ((fast, fast_beat), (slow, slow_beat)):
        gaps = client.ping_gaps()
        assert len(gaps) >= 2
        limit = beat + lateness(beat, 30.0) + SLACK
        for gap in gaps:
            assert beat - CLOCK_TOLERANCE <= gap <= limit, (beat, gaps)
    # The fast stream pinged at its own pace while the slow one waited for its second ping.
    assert len(fast.pings()) > len(slow.pings())


# --------------------------------------------------------------------------------------------
# The send timeout on the shared timers.


@pytest.mark.parametrize(
    ("blocked_send", "heartbeat"),
    [
        pytest.param("item", None, id="item-no-heartbeat"),
        # A heartbeat no longer than the timeout keeps the deadline armed: the producer skips
        # its own per-send check, and the shared deadline must still catch the stalled send.
        pytest.param("item", 0.1, id="item-heartbeat-shorter-than-timeout"),
        pytest.param("item", 5.0, id="item-heartbeat-longer-than-timeout"),
        pytest.param("ping", 0.1, id="heartbeat-send"),
    ],
)
async def test_a_client_that_reads_nothing_is_dropped_within_the_timeout_plus_timer_lateness(
    blocked_send: str, heartbeat: float | None
) -> None:
    timeout = 0.3
    produced = 0
    closed = asyncio.Event()
    never = asyncio.Event()

    async def source() -> AsyncIterator[SSEItem]:
        nonlocal produced
        try:
            if blocked_send == "ping":
                await never.wait()  # idle: the first send is a heartbeat
            while produced < ITEM_LIMIT:
                produced += 1
                yield "x"
        finally:
            closed.set()

    outcomes: list[StreamOutcome] = []
    client = Client(stall_after=3 if blocked_send == "item" else 0)
    response = sse(
        source(),
        heartbeat_seconds=heartbeat,
        send_timeout_seconds=timeout,
        on_close=outcomes.append,
        shutdown=ShutdownMonitor(),
    )
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(response(http_scope(), client.receive, client.send), WAIT_SECONDS)
    ended_at = loop.time()

    assert closed.is_set(), "the source was not closed"
    assert [outcome.status for outcome in outcomes] == ["timeout"]
    assert isinstance(outcomes[0].error, TimeoutError)
    assert client.stalled_at is not None
    held = ended_at - client.stalled_at
    assert timeout - CLOCK_TOLERANCE <= held <= timeout + lateness(heartbeat, timeout) + SLACK
    if blocked_send == "item":
        assert len(client.bodies) == 3
    else:
        assert produced == 0


async def test_a_stalled_stream_is_dropped_while_another_on_the_same_timers_flows_on() -> None:
    timeout = 0.3
    stalled_closed = asyncio.Event()

    async def endless() -> AsyncIterator[SSEItem]:
        try:
            for _ in range(ITEM_LIMIT):
                yield "x"
        finally:
            stalled_closed.set()

    async def steady() -> AsyncIterator[SSEItem]:
        # 0.8 s of events, well past the other stream's timeout: this client reads them all.
        for index in range(16):
            yield f"t{index}"
            await asyncio.sleep(0.05)

    outcomes: dict[str, list[StreamOutcome]] = {"stalled": [], "reading": []}
    stalled, reading = Client(stall_after=2), Client()
    monitor = ShutdownMonitor()
    runs = [
        asyncio.create_task(
            sse(
                source,
                heartbeat_seconds=0.1,
                send_timeout_seconds=timeout,
                on_close=outcomes[name].append,
                shutdown=monitor,
            )(http_scope(), client.receive, client.send)
        )
        for name, source, client in (
            ("stalled", endless(), stalled),
            ("reading", steady(), reading),
        )
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*runs), WAIT_SECONDS)
    finally:
        for run in runs:
            run.cancel()
    assert stalled_closed.is_set()
    assert [outcome.status for outcome in outcomes["stalled"]] == ["timeout"]
    assert [outcome.status for outcome in outcomes["reading"]] == ["completed"]
    assert sum(b"text-delta" in body for _, body in reading.bodies) == 16


# --------------------------------------------------------------------------------------------
# The watcher's receive() and the response task's own cancel.

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


async def test_the_watcher_runs_receive_in_the_request_context_and_sees_the_disconnect() -> None:
    client = Client(leave_after=1)
    seen: list[str] = []
    closed = asyncio.Event()

    async def receive() -> Message:
        seen.append(REQUEST_ID.get())  # e.g. a tracing middleware wrapping receive()
        return await client.receive()

    async def source() -> AsyncIterator[SSEItem]:
        try:
            yield "one"
            await asyncio.sleep(WAIT_SECONDS)  # waits on the model until the client leaves
            yield "never"
        finally:
            closed.set()

    async def app() -> None:
        REQUEST_ID.set("request-1")
        response = sse(source(), on_close=outcomes.append, shutdown=ShutdownMonitor())
        await response(http_scope(), receive, client.send)

    outcomes: list[StreamOutcome] = []
    await asyncio.wait_for(app(), WAIT_SECONDS)

    assert closed.is_set()
    assert [outcome.status for outcome in outcomes] == ["cancelled"]
    # http.request (the body nobody read), then the wait that ends with http.disconnect.
    assert seen == ["request-1", "request-1"]


async def test_a_source_that_swallows_the_cancel_is_stopped_and_the_cancel_taken_back() -> None:
    client = Client(leave_after=1)
    after_cancel: list[str] = []
    response_task: list[asyncio.Task[Any]] = []

    async def source() -> AsyncIterator[SSEItem]:
        yield "one"
        with contextlib.suppress(asyncio.CancelledError):  # a source should not, but may
            await asyncio.sleep(WAIT_SECONDS)
        for item in ("after", "more"):
            after_cancel.append(item)
            yield item

    async def app() -> None:
        response_task.append(asyncio.current_task())  # type: ignore[arg-type]  # in a task
        outcomes: list[StreamOutcome] = []
        response = sse(source(), on_close=outcomes.append, shutdown=ShutdownMonitor())
        await response(http_scope(), client.receive, client.send)
        assert [outcome.status for outcome in outcomes] == ["cancelled"]

    # The response returns normally (a cancel left pending would end it with CancelledError).
    await asyncio.wait_for(app(), WAIT_SECONDS)

    assert after_cancel == ["after"], "the source was resumed after the stream was stopped"
    assert response_task[0].cancelling() == 0
    assert [body for _, body in client.bodies] == [b'data: {"type":"text-delta","delta":"one"}\n\n']
