"""consume_stream: callbacks (sync or async), early stop, on_done exactly once, structured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from streamwire.client import consume_stream, consume_stream_sync, read_stream
from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    Start,
    StructuredData,
    TextDelta,
)
from streamwire.protocol.errors import StructuredStreamError, TruncatedStreamError
from streamwire.protocol.structured import StructuredState
from tests.client.conftest import Scripted
from tests.client.scripted import ANSWER

WAIT_SECONDS = 5.0
ERROR = ErrorChunk(message="boom", code="upstream_error", retryable=False)


async def agen(chunks: list[Chunk], closed: list[bool] | None = None) -> AsyncIterator[Chunk]:
    try:
        for chunk in chunks:
            yield chunk
    finally:
        if closed is not None:
            closed.append(True)


def gen(chunks: list[Chunk], closed: list[bool] | None = None) -> Iterator[Chunk]:
    try:
        yield from chunks
    finally:
        if closed is not None:
            closed.append(True)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def chunk(self, chunk: Chunk) -> None:
        self.calls.append(("chunk", chunk.type_name))

    def text(self, delta: str) -> None:
        self.calls.append(("text", delta))

    def structured(self, stream_id: str, state: StructuredState) -> None:
        self.calls.append(("structured", (stream_id, state.data)))

    def error(self, error: ErrorChunk) -> None:
        self.calls.append(("error", error.message))

    def done(self, done: Done | None) -> None:
        self.calls.append(("done", done))

    def of(self, kind: str) -> list[object]:
        return [value for name, value in self.calls if name == kind]


async def test_every_callback_sees_its_chunks_in_order() -> None:
    rec = Recorder()
    result = await consume_stream(
        agen([*ANSWER[:6], ERROR, *ANSWER[6:]]),
        on_chunk=rec.chunk,
        on_text=rec.text,
        on_structured=rec.structured,
        on_error=rec.error,
        on_done=rec.done,
    )
    assert result == Done(finish_reason="stop")
    assert rec.of("text") == ["Hello", ", world"]
    assert rec.of("structured") == [
        ("s1", {"title": "Plan"}),
        ("s1", {"title": "Plan", "items": ["a"]}),
        ("s1", {"title": "Plan", "items": ["a", "b"]}),
    ]
    assert rec.of("error") == ["boom"]
    assert rec.of("done") == [Done(finish_reason="stop")]
    assert len(rec.of("chunk")) == len(ANSWER) + 1
    assert rec.calls[-1][0] == "done"


async def test_async_callbacks_are_awaited() -> None:
    seen: list[str] = []

    async def on_text(delta: str) -> None:
        await asyncio.sleep(0)
        seen.append(delta)

    async def on_done(done: Done | None) -> None:
        seen.append("done")

    await consume_stream(agen(ANSWER), on_text=on_text, on_done=on_done)
    assert seen == ["Hello", ", world", "done"]


async def test_false_from_on_chunk_stops_and_closes_the_stream() -> None:
    closed: list[bool] = []
    rec = Recorder()

    def on_chunk(chunk: Chunk) -> bool:
        return not isinstance(chunk, TextDelta)

    result = await consume_stream(
        agen(ANSWER, closed), on_chunk=on_chunk, on_text=rec.text, on_done=rec.done
    )
    assert result is None
    assert rec.of("text") == []  # the stopping chunk reaches no other callback
    assert rec.of("done") == [None]
    assert closed == [True]


async def test_async_on_chunk_can_stop_too() -> None:
    async def on_chunk(chunk: Chunk) -> bool:
        return not isinstance(chunk, StructuredData)

    texts: list[str] = []
    await consume_stream(agen(ANSWER), on_chunk=on_chunk, on_text=texts.append)
    assert texts == ["Hello", ", world"]


async def test_on_done_runs_once_when_the_stream_fails() -> None:
    async def failing() -> AsyncIterator[Chunk]:
        yield Start()
        raise TruncatedStreamError(received=1)

    rec = Recorder()
    with pytest.raises(TruncatedStreamError):
        await consume_stream(failing(), on_done=rec.done)
    assert rec.of("done") == [None]


async def test_on_done_runs_once_when_a_callback_fails() -> None:
    rec = Recorder()

    def on_text(delta: str) -> None:
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        await consume_stream(agen(ANSWER), on_text=on_text, on_done=rec.done)
    assert rec.of("done") == [None]


async def test_a_bad_structured_chunk_raises_after_on_done() -> None:
    bad: list[Chunk] = [
        StructuredData(stream_id="s", kind="set", path="a", value=1),
        StructuredData(stream_id="s", kind="append", path="a", items=[2]),
        Done(),
    ]
    rec = Recorder()
    with pytest.raises(StructuredStreamError) as info:
        await consume_stream(agen(bad), on_structured=rec.structured, on_done=rec.done)
    assert info.value.path == "a"
    assert rec.of("done") == [None]


async def test_structured_chunks_are_not_reduced_without_on_structured() -> None:
    bad: list[Chunk] = [
        StructuredData(stream_id="s", kind="append", path="01", items=[2]),
        Done(),
    ]
    assert await consume_stream(agen(bad)) == Done()


async def test_a_sync_iterable_is_accepted() -> None:
    closed: list[bool] = []
    texts: list[str] = []
    assert await consume_stream(gen(ANSWER, closed), on_text=texts.append) == ANSWER[-1]
    assert texts == ["Hello", ", world"]
    assert closed == [True]


async def test_stops_after_done_even_if_more_follows() -> None:
    rec = Recorder()
    await consume_stream(agen([Done(), TextDelta(delta="late")]), on_text=rec.text)
    assert rec.of("text") == []


async def test_a_stream_without_done_reports_none() -> None:
    rec = Recorder()
    assert await consume_stream(agen(ANSWER[:2]), on_done=rec.done) is None
    assert rec.of("done") == [None]


def test_sync_twin() -> None:
    rec = Recorder()
    closed: list[bool] = []
    result = consume_stream_sync(
        gen([*ANSWER[:6], ERROR, *ANSWER[6:]], closed),
        on_chunk=rec.chunk,
        on_text=rec.text,
        on_structured=rec.structured,
        on_error=rec.error,
        on_done=rec.done,
    )
    assert result == ANSWER[-1]
    assert rec.of("text") == ["Hello", ", world"]
    assert len(rec.of("structured")) == 3
    assert rec.of("error") == ["boom"]
    assert rec.of("done") == [ANSWER[-1]]
    assert closed == [True]


def test_sync_twin_stops_on_false() -> None:
    rec = Recorder()
    result = consume_stream_sync(gen(ANSWER), on_chunk=lambda c: False, on_done=rec.done)
    assert result is None
    assert rec.of("done") == [None]


def test_sync_twin_refuses_async_callbacks() -> None:
    async def on_text(delta: str) -> None:
        pass

    rec = Recorder()
    with pytest.raises(TypeError, match="on_text returned an awaitable"):
        consume_stream_sync(gen(ANSWER), on_text=on_text, on_done=rec.done)
    assert rec.of("done") == [None]


async def test_stopping_a_read_stream_closes_the_http_response(scripted: Scripted) -> None:
    key = scripted.key()
    async with httpx.AsyncClient() as client:
        request = client.build_request("GET", f"{scripted.url}/slow?key={key}")
        response = await client.send(request, stream=True)
        count = 0

        def on_chunk(chunk: Chunk) -> bool:
            nonlocal count
            count += 1
            return count < 3

        await consume_stream(read_stream(response), on_chunk=on_chunk)
        assert response.is_closed
        assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


def test_a_read_stream_consumed_sync(scripted: Scripted) -> None:
    rec = Recorder()
    with httpx.Client() as client, client.stream("GET", f"{scripted.url}/native") as response:
        consume_stream_sync(read_stream(response), on_structured=rec.structured, on_done=rec.done)
    assert rec.of("structured")[-1] == ("s1", {"title": "Plan", "items": ["a", "b"]})
    assert rec.of("done") == [ANSWER[-1]]
