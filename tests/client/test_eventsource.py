"""EventSource: reconnection, Last-Event-ID, backoff, idle timeout, close, against uvicorn."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from streamwire.client import (
    EventSource,
    ReconnectPolicy,
    StreamConnectionError,
    StreamConsumedError,
    StreamErrorChunkError,
    StreamResponseError,
    StreamTimeoutError,
)
from streamwire.protocol.chunks import Done, TextDelta
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.protocol.sse import ServerSentEvent
from tests.client.conftest import Scripted
from tests.client.scripted import ANSWER
from tests.servers import free_port

WAIT_SECONDS = 5.0
FAST = ReconnectPolicy(retry_seconds=0.01, jitter=0.0)


# --- ReconnectPolicy --------------------------------------------------------------------------


def test_delay_doubles_from_the_base_up_to_the_cap() -> None:
    policy = ReconnectPolicy(retry_seconds=1.0, max_retry_seconds=5.0, multiplier=2.0, jitter=0.0)
    assert [policy.delay_seconds(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_the_server_retry_replaces_the_base() -> None:
    policy = ReconnectPolicy(retry_seconds=3.0, jitter=0.0)
    assert policy.delay_seconds(1, server_retry_ms=250) == 0.25
    assert policy.delay_seconds(3, server_retry_ms=250) == 1.0


def test_jitter_adds_up_to_its_fraction_and_stays_under_the_cap() -> None:
    policy = ReconnectPolicy(retry_seconds=2.0, max_retry_seconds=2.5, jitter=0.5)
    assert policy.delay_seconds(1, random_value=0.0) == 2.0
    assert policy.delay_seconds(1, random_value=0.4) == 2.4
    assert policy.delay_seconds(1, random_value=0.99) == 2.5


def test_gives_up_after_max_attempts() -> None:
    assert not ReconnectPolicy(max_attempts=2).gives_up(2)
    assert ReconnectPolicy(max_attempts=2).gives_up(3)
    assert ReconnectPolicy(max_attempts=0).gives_up(1)
    assert not ReconnectPolicy(max_attempts=None).gives_up(10_000)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"retry_seconds": -1}, "retry_seconds"),
        ({"max_retry_seconds": float("nan")}, "max_retry_seconds"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"jitter": "x"}, "jitter"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"max_attempts": 1.5}, "max_attempts"),
    ],
)
def test_bad_policy_values_name_their_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]  # wrong types on purpose
    assert info.value.field == field


def test_bad_timeouts_name_their_field() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        EventSource("http://127.0.0.1:1/", idle_timeout_seconds=0)
    assert info.value.field == "idle_timeout_seconds"
    with pytest.raises(InvalidArgumentError) as info:
        EventSource("http://127.0.0.1:1/", connect_timeout_seconds=-1)
    assert info.value.field == "connect_timeout_seconds"


# --- reconnection -----------------------------------------------------------------------------


async def test_resumes_after_a_drop_with_last_event_id_and_the_server_retry(
    scripted: Scripted,
) -> None:
    key = scripted.key()
    source = EventSource(f"{scripted.url}/resume?key={key}", reconnect=ReconnectPolicy(jitter=0))
    events = [event async for event in source]
    assert [(e.id, e.data) for e in events] == [
        ("1", "one"),
        ("2", "two"),
        ("3", "three"),
        ("3", '{"type":"done"}'),
    ]
    assert events[-1].event == "done"
    first, second = scripted.app.requests_for(key)
    assert "last-event-id" not in first.headers
    assert second.headers["last-event-id"] == "2"
    assert first.headers["accept"] == "text/event-stream"
    assert source.connections == 2
    assert source.retry_ms == 10
    assert source.last_event_id == "3"
    assert source.closed


def test_resumes_after_a_drop_sync(scripted: Scripted) -> None:
    key = scripted.key()
    with EventSource(f"{scripted.url}/resume?key={key}") as source:
        data = [event.data for event in source]
    assert data == ["one", "two", "three", '{"type":"done"}']
    assert scripted.app.requests_for(key)[1].headers["last-event-id"] == "2"


async def test_reconnects_after_a_clean_end_of_input(scripted: Scripted) -> None:
    key = scripted.key()
    source = EventSource(f"{scripted.url}/eof-then-done?key={key}", reconnect=FAST)
    assert [e.data async for e in source] == ["first", "second", '{"type":"done"}']
    assert scripted.app.requests_for(key)[1].headers["last-event-id"] == "a"


async def test_the_first_connection_sends_the_given_last_event_id(scripted: Scripted) -> None:
    key = scripted.key()
    async for _ in EventSource(f"{scripted.url}/native?key={key}", last_event_id="41"):
        pass
    assert scripted.app.requests_for(key)[0].headers["last-event-id"] == "41"


async def test_stops_after_the_native_done_event(scripted: Scripted) -> None:
    source = EventSource(f"{scripted.url}/native")
    events = [e async for e in source]
    assert len(events) == len(ANSWER)
    assert events[-1].event == "done"
    assert source.connections == 1


@pytest.mark.parametrize("path", ["/status/204", "/status/500", "/status/404", "/html"])
async def test_no_reconnection_when_the_answer_is_not_a_stream(
    scripted: Scripted, path: str
) -> None:
    key = scripted.key()
    source = EventSource(f"{scripted.url}{path}?key={key}", reconnect=FAST)
    with pytest.raises(StreamResponseError):
        [e async for e in source]
    assert len(scripted.app.requests_for(key)) == 1
    assert source.closed


def test_no_reconnection_on_204_sync(scripted: Scripted) -> None:
    key = scripted.key()
    with pytest.raises(StreamResponseError) as info:
        list(EventSource(f"{scripted.url}/status/204?key={key}", reconnect=FAST))
    assert info.value.status_code == 204
    assert len(scripted.app.requests_for(key)) == 1


async def test_gives_up_after_max_attempts_of_connection_refused() -> None:
    policy = ReconnectPolicy(retry_seconds=0.01, jitter=0.0, max_attempts=2)
    source = EventSource(f"http://127.0.0.1:{free_port()}/", reconnect=policy)
    with pytest.raises(StreamConnectionError) as info:
        [e async for e in source]
    assert info.value.attempts == 3
    assert "could not connect" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_gives_up_after_max_attempts_sync() -> None:
    policy = ReconnectPolicy(retry_seconds=0.01, jitter=0.0, max_attempts=1)
    with pytest.raises(StreamConnectionError) as info:
        list(EventSource(f"http://127.0.0.1:{free_port()}/", reconnect=policy))
    assert info.value.attempts == 2


async def test_idle_timeout_counts_as_a_dead_connection(scripted: Scripted) -> None:
    key = scripted.key()
    policy = ReconnectPolicy(retry_seconds=0.01, jitter=0.0, max_attempts=1)
    source = EventSource(
        f"{scripted.url}/silent?key={key}", reconnect=policy, idle_timeout_seconds=0.2
    )
    with pytest.raises(StreamTimeoutError) as info:
        [e async for e in source]
    assert info.value.attempts == 2
    assert info.value.seconds == pytest.approx(0.2)
    assert len(scripted.app.requests_for(key)) == 2


async def test_a_stalled_stream_is_reconnected_after_the_idle_timeout(scripted: Scripted) -> None:
    key = scripted.key()
    source = EventSource(
        f"{scripted.url}/stall?key={key}", reconnect=FAST, idle_timeout_seconds=0.2
    )
    async with source:
        async for _ in source:
            if source.connections == 2:
                break
    assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)
    assert len(scripted.app.requests_for(key)) == 2


def test_the_idle_timeout_applies_sync(scripted: Scripted) -> None:
    policy = ReconnectPolicy(retry_seconds=0.01, jitter=0.0, max_attempts=0)
    source = EventSource(f"{scripted.url}/silent", reconnect=policy, idle_timeout_seconds=0.2)
    with pytest.raises(StreamTimeoutError):
        list(source)


# --- chunks -----------------------------------------------------------------------------------


async def test_chunks_of_a_native_stream(scripted: Scripted) -> None:
    source = EventSource(f"{scripted.url}/native")
    chunks = source.chunks()
    assert [c async for c in chunks] == ANSWER
    assert chunks.chunks == ANSWER
    assert source.closed


def test_chunks_of_an_openai_stream_stop_at_done_sync(scripted: Scripted) -> None:
    source = EventSource(f"{scripted.url}/openai")
    chunks = list(source.chunks())
    assert "".join(c.delta for c in chunks if isinstance(c, TextDelta)) == "Hello, world"
    assert isinstance(chunks[-1], Done)
    assert source.connections == 1


async def test_chunks_continue_across_a_reconnection(scripted: Scripted) -> None:
    key = scripted.key()
    source = EventSource(f"{scripted.url}/native-resume?key={key}", reconnect=FAST)
    assert [c async for c in source.chunks()] == ANSWER
    assert source.connections == 2
    assert scripted.app.requests_for(key)[1].headers["last-event-id"] == "2"


def test_chunks_continue_across_a_reconnection_sync(scripted: Scripted) -> None:
    key = scripted.key()
    source = EventSource(f"{scripted.url}/native-resume?key={key}", reconnect=FAST)
    assert list(source.chunks(dialect="native")) == ANSWER


async def test_chunks_raise_on_error_on_request(scripted: Scripted) -> None:
    source = EventSource(f"{scripted.url}/error-chunk")
    chunks = source.chunks(raise_on_error=True)
    with pytest.raises(StreamErrorChunkError) as info:
        [c async for c in chunks]
    assert info.value.code == "upstream_error"
    assert chunks.chunks == [TextDelta(delta="Hi"), info.value.chunk]


# --- closing ----------------------------------------------------------------------------------


async def test_breaking_out_closes_the_connection(scripted: Scripted) -> None:
    key = scripted.key()
    async for _ in EventSource(f"{scripted.url}/slow?key={key}"):
        break
    assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


async def test_close_from_another_task_stops_the_reader_at_once(scripted: Scripted) -> None:
    key = scripted.key()
    source = EventSource(f"{scripted.url}/slow?key={key}")
    seen: list[ServerSentEvent] = []
    first = asyncio.Event()

    async def reader() -> None:
        async for event in source:
            seen.append(event)
            first.set()

    task = asyncio.create_task(reader())
    await asyncio.wait_for(first.wait(), WAIT_SECONDS)
    source.close()
    await asyncio.wait_for(task, WAIT_SECONDS)
    assert source.closed
    assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


async def test_cancelling_the_task_closes_the_connection(scripted: Scripted) -> None:
    key = scripted.key()
    first = asyncio.Event()

    async def reader() -> None:
        async for _ in EventSource(f"{scripted.url}/slow?key={key}"):
            first.set()

    task = asyncio.create_task(reader())
    await asyncio.wait_for(first.wait(), WAIT_SECONDS)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


async def test_aclose_during_the_backoff_wait_stops_at_once() -> None:
    policy = ReconnectPolicy(retry_seconds=30.0, jitter=0.0)
    source = EventSource(f"http://127.0.0.1:{free_port()}/", reconnect=policy)

    async def reader() -> None:
        async for _ in source:
            pass

    task = asyncio.create_task(reader())
    # The first connection fails (nothing listens): the source is then in its 30 s backoff.
    for _ in range(int(WAIT_SECONDS / 0.01)):
        if source._attempt:
            break
        await asyncio.sleep(0.01)
    assert source._attempt == 1, "the first connection never failed: no backoff to interrupt"
    assert not task.done()
    await source.aclose()
    await asyncio.wait_for(task, WAIT_SECONDS)
    assert source.closed


def test_close_from_another_thread_during_the_backoff_wait_sync() -> None:
    policy = ReconnectPolicy(retry_seconds=30.0, jitter=0.0)
    source = EventSource(f"http://127.0.0.1:{free_port()}/", reconnect=policy)
    received: list[list[ServerSentEvent]] = []
    reader = threading.Thread(target=lambda: received.append(list(source)), daemon=True)
    reader.start()
    # The first connection fails (nothing listens): the reader is then in its 30 s backoff.
    failed = threading.Event()
    for _ in range(int(WAIT_SECONDS / 0.01)):
        if source._attempt:
            failed.set()
            break
        failed.wait(0.01)
    assert failed.is_set(), "the first connection never failed: no backoff to interrupt"
    assert reader.is_alive()
    source.close()
    reader.join(WAIT_SECONDS)
    assert not reader.is_alive(), "close() did not wake the backoff wait"
    assert received == [[]]
    assert source.closed


async def test_async_context_manager_closes_on_exit(scripted: Scripted) -> None:
    key = scripted.key()
    async with EventSource(f"{scripted.url}/slow?key={key}") as source:
        iterator = aiter(source)
        assert (await anext(iterator)).data.startswith('{"type":"text-delta"')
    assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


def test_sync_break_closes_the_connection(scripted: Scripted) -> None:
    key = scripted.key()
    with EventSource(f"{scripted.url}/slow?key={key}") as source:
        for _ in source:
            break
    assert scripted.app.disconnect_event(key).wait(WAIT_SECONDS)


async def test_a_source_is_iterated_once(scripted: Scripted) -> None:
    source = EventSource(f"{scripted.url}/native")
    [e async for e in source]
    with pytest.raises(StreamConsumedError):
        aiter(source)


async def test_a_sync_client_for_async_iteration_is_refused() -> None:
    with httpx.Client() as client:
        source = EventSource("http://127.0.0.1:1/", client=client)
        with pytest.raises(InvalidArgumentError) as info:
            [e async for e in source]
    assert info.value.field == "client"


async def test_a_given_client_is_used_and_left_open(scripted: Scripted) -> None:
    async with httpx.AsyncClient(headers={"x-test": "yes"}) as client:
        key = scripted.key()
        async for _ in EventSource(f"{scripted.url}/native?key={key}", client=client):
            pass
        assert not client.is_closed
    assert scripted.app.requests_for(key)[0].headers["x-test"] == "yes"
