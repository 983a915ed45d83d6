"""read_stream: typed chunks from a streaming httpx response, against a scripted uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import pytest

from streamwire.client import (
    ChunkStream,
    StreamConnectionError,
    StreamConsumedError,
    StreamErrorChunkError,
    StreamResponseError,
    StreamTimeoutError,
    read_stream,
)
from streamwire.client._decode import ChunkDecoding, dialect_from_event, dialect_from_headers
from streamwire.protocol.chunks import (
    Done,
    ErrorChunk,
    Progress,
    StructuredData,
    TextDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from streamwire.protocol.errors import (
    InvalidArgumentError,
    MalformedStreamError,
    SSEProtocolError,
    TruncatedStreamError,
)
from streamwire.protocol.sse import ServerSentEvent
from tests.client.conftest import Scripted
from tests.client.scripted import ANSWER, native_bytes

WAIT_SECONDS = 5.0


def text_of(chunks: Sequence[object]) -> str:
    return "".join(c.delta for c in chunks if isinstance(c, TextDelta))


# --- the sans-IO core -------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["whole", "byte-by-byte", "halves"])
def test_native_bytes_decode_to_the_same_chunks_however_split(split: str) -> None:
    data = native_bytes(ANSWER)
    pieces = {
        "whole": [data],
        "byte-by-byte": [data[i : i + 1] for i in range(len(data))],
        "halves": [data[: len(data) // 2], data[len(data) // 2 :]],
    }[split]
    decoding = ChunkDecoding()
    chunks = [c for piece in pieces for e in decoding.feed(piece) for c in decoding.decode(e)]
    assert chunks == ANSWER
    assert decoding.finished
    assert decoding.dialect == "native"
    assert decoding.received == len(ANSWER)
    decoding.close()  # finished: no TruncatedStreamError


def test_every_split_position_gives_the_same_chunks() -> None:
    data = native_bytes(ANSWER[:4])
    for cut in range(len(data) + 1):
        decoding = ChunkDecoding(dialect="native")
        events = decoding.feed(data[:cut]) + decoding.feed(data[cut:])
        assert [c for e in events for c in decoding.decode(e)] == ANSWER[:4], cut


def test_decoding_ignores_everything_after_the_terminator() -> None:
    decoding = ChunkDecoding()
    events = decoding.feed(native_bytes([Done()]) + b"data: junk\n\n")
    assert [c for e in events for c in decoding.decode(e)] == [Done()]
    assert decoding.feed(b"data: more junk\n\n") == []
    assert decoding.decode(ServerSentEvent(data="junk")) == []


def test_close_before_the_terminator_is_truncated_with_the_count() -> None:
    decoding = ChunkDecoding()
    for event in decoding.feed(native_bytes(ANSWER[:2])):
        decoding.decode(event)
    with pytest.raises(TruncatedStreamError) as info:
        decoding.close()
    assert info.value.received == 2


@pytest.mark.parametrize(
    ("data", "dialect"),
    [
        ('{"id":"c","object":"chat.completion.chunk","choices":[]}', "openai"),
        ("[DONE]", "openai"),
        (" [DONE] ", "openai"),
        ('{"type":"text-delta","delta":"chat.completion.chunk"}', "native"),
        ('{"object":"chat.completion.chunk"', "native"),
        ('{"type":"start"}', "native"),
        ("", "native"),
    ],
)
def test_dialect_from_the_first_event(data: str, dialect: str) -> None:
    assert dialect_from_event(ServerSentEvent(data=data)) == dialect


def test_dialect_from_headers_only_for_the_ai_sdk_header() -> None:
    assert dialect_from_headers(httpx.Headers({"X-Vercel-AI-UI-Message-Stream": "v1"})) == "ai-sdk"
    assert dialect_from_headers(httpx.Headers({"x-vercel-ai-ui-message-stream": "v2"})) is None
    assert dialect_from_headers(httpx.Headers({})) is None


def test_unknown_dialect_and_bad_limit_fail_at_once() -> None:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"})
    with pytest.raises(InvalidArgumentError) as info:
        read_stream(response, dialect="nope")
    assert info.value.field == "dialect"
    with pytest.raises(InvalidArgumentError) as info:
        read_stream(response, max_event_bytes=0)
    assert info.value.field == "max_event_bytes"


# --- against the scripted server --------------------------------------------------------------


async def test_native_stream_async(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/native") as response,
    ):
        stream = read_stream(response)
        chunks = [chunk async for chunk in stream]
    assert chunks == ANSWER
    assert stream.chunks == ANSWER
    assert stream.dialect == "native"
    assert stream.finished


def test_native_stream_sync(scripted: Scripted) -> None:
    with httpx.Client() as client, client.stream("GET", f"{scripted.url}/native") as response:
        stream = read_stream(response)
        assert list(stream) == ANSWER
    assert response.is_closed


async def test_openai_stream_is_detected_from_the_first_event(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/openai") as response,
    ):
        stream = read_stream(response)
        chunks = [chunk async for chunk in stream]
    assert stream.dialect == "openai"
    assert text_of(chunks) == "Hello, world"
    assert Usage(input_tokens=3, output_tokens=4) in chunks
    assert [c for c in chunks if isinstance(c, ToolCallEnd)] == [
        ToolCallEnd(tool_call_id="t1", input={"q": "x"})
    ]
    assert isinstance(chunks[-1], Done)
    assert chunks[-1].finish_reason == "stop"


def test_openai_stream_by_name_sync(scripted: Scripted) -> None:
    with httpx.Client() as client, client.stream("GET", f"{scripted.url}/openai") as response:
        chunks = list(read_stream(response, dialect="openai"))
    assert text_of(chunks) == "Hello, world"


async def test_ai_sdk_stream_is_detected_from_its_header(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/ai-sdk") as response,
    ):
        stream = read_stream(response)
        chunks = [chunk async for chunk in stream]
    assert stream.dialect == "ai-sdk"
    assert text_of(chunks) == "Hello, world"
    assert any(isinstance(c, ToolCallStart) and c.tool == "search" for c in chunks)
    assert isinstance(chunks[-1], Done)


async def test_an_openai_stream_read_as_native_is_malformed(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/openai") as response,
    ):
        with pytest.raises(MalformedStreamError) as info:
            [c async for c in read_stream(response, dialect="native")]
    assert info.value.index == 0
    assert "chat.completion.chunk" in info.value.event


async def test_clean_end_without_done_is_truncated_and_keeps_the_chunks(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/no-terminator") as response,
    ):
        stream = read_stream(response)
        seen: list[object] = []

        async def read_all() -> None:
            async for chunk in stream:
                seen.append(chunk)

        with pytest.raises(TruncatedStreamError) as info:
            await read_all()
    assert info.value.received == 3
    assert seen == stream.chunks == ANSWER[:3]


def test_clean_end_without_done_is_truncated_sync(scripted: Scripted) -> None:
    with (
        httpx.Client() as client,
        client.stream("GET", f"{scripted.url}/no-terminator") as response,
    ):
        stream = read_stream(response)
        with pytest.raises(TruncatedStreamError):
            list(stream)
    assert stream.chunks == ANSWER[:3]


async def test_connection_dropped_mid_event_is_a_connection_error(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/drop") as response,
    ):
        stream = read_stream(response)
        with pytest.raises(StreamConnectionError) as info:
            [c async for c in stream]
    assert not isinstance(info.value, StreamTimeoutError)
    assert info.value.received == 2
    assert "connection lost" in str(info.value)
    assert info.value.url.endswith("/drop")
    assert stream.chunks == ANSWER[:2]


def test_connection_dropped_mid_event_sync(scripted: Scripted) -> None:
    with httpx.Client() as client, client.stream("GET", f"{scripted.url}/drop") as response:
        stream = read_stream(response)
        with pytest.raises(StreamConnectionError):
            list(stream)
    assert stream.chunks == ANSWER[:2]


async def test_junk_event_is_malformed_and_shows_the_event(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/junk") as response,
    ):
        stream = read_stream(response)
        with pytest.raises(MalformedStreamError) as info:
            [c async for c in stream]
    assert info.value.event == "this is not json"
    assert info.value.index == 1
    assert "this is not json" in str(info.value)
    assert stream.chunks == ANSWER[:1]


async def test_a_stalled_stream_times_out_with_the_client_read_timeout(scripted: Scripted) -> None:
    key = scripted.key()
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.3)) as client,
        client.stream("GET", f"{scripted.url}/stall?key={key}") as response,
    ):
        stream = read_stream(response)
        with pytest.raises(StreamTimeoutError) as info:
            [c async for c in stream]
    assert info.value.seconds == pytest.approx(0.3)
    assert "idle timeout" in str(info.value)
    assert stream.chunks == ANSWER[:1]
    assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/status/500", 500, "expected a 2xx status, got 500"),
        ("/status/404", 404, "expected a 2xx status, got 404"),
        ("/status/204", 204, "nothing to stream (204 No Content)"),
        ("/html", 200, "expected content type text/event-stream, got 'text/html'"),
    ],
)
async def test_a_response_that_is_not_a_stream_is_a_response_error(
    scripted: Scripted, path: str, status: int, reason: str
) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}{path}") as response,
    ):
        with pytest.raises(StreamResponseError) as info:
            [c async for c in read_stream(response)]
    error = info.value
    assert error.status_code == status
    assert reason in error.reason
    if status >= 400:
        assert f"scripted failure {status}" in error.body
        assert error.content_type == "application/json"
    assert response.is_closed


def test_a_server_error_is_a_response_error_sync(scripted: Scripted) -> None:
    with (
        httpx.Client() as client,
        client.stream("GET", f"{scripted.url}/status/500") as response,
        pytest.raises(StreamResponseError) as info,
    ):
        list(read_stream(response))
    assert "scripted failure 500" in info.value.body


async def test_error_chunk_is_yielded_by_default(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/error-chunk") as response,
    ):
        chunks = [c async for c in read_stream(response)]
    assert [type(c) for c in chunks] == [TextDelta, ErrorChunk, Done]


async def test_error_chunk_is_raised_on_request(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/error-chunk") as response,
    ):
        stream = read_stream(response, raise_on_error=True)
        with pytest.raises(StreamErrorChunkError) as info:
            [c async for c in stream]
    error = info.value
    assert error.chunk == ErrorChunk(
        message="model overloaded", code="upstream_error", retryable=True
    )
    assert (error.message, error.code, error.retryable) == (
        "model overloaded",
        "upstream_error",
        True,
    )
    assert "model overloaded" in str(error)
    assert stream.chunks == [TextDelta(delta="Hi"), error.chunk]


def test_error_chunk_is_raised_on_request_sync(scripted: Scripted) -> None:
    with (
        httpx.Client() as client,
        client.stream("GET", f"{scripted.url}/error-chunk") as response,
        pytest.raises(StreamErrorChunkError),
    ):
        list(read_stream(response, raise_on_error=True))


async def test_an_event_past_max_event_bytes_fails(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/native") as response,
    ):
        with pytest.raises(SSEProtocolError) as info:
            [c async for c in read_stream(response, max_event_bytes=16)]
    assert info.value.limit == 16


async def test_a_stream_is_iterated_once(scripted: Scripted) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{scripted.url}/native") as response,
    ):
        stream = read_stream(response)
        [c async for c in stream]
        with pytest.raises(StreamConsumedError):
            aiter(stream)
        with pytest.raises(StreamConsumedError):
            iter(stream)


async def test_breaking_out_of_the_loop_closes_the_response_at_once(scripted: Scripted) -> None:
    key = scripted.key()
    async with httpx.AsyncClient() as client:
        request = client.build_request("GET", f"{scripted.url}/slow?key={key}")
        response = await client.send(request, stream=True)
        count = 0
        async for _ in read_stream(response, dialect="native"):
            count += 1
            if count == 2:
                break
        assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)
        assert response.is_closed


def test_breaking_out_of_the_loop_closes_the_response_sync(scripted: Scripted) -> None:
    key = scripted.key()
    with httpx.Client() as client:
        request = client.build_request("GET", f"{scripted.url}/slow?key={key}")
        response = client.send(request, stream=True)
        for _ in read_stream(response):
            break
        assert response.is_closed
        assert scripted.app.disconnect_event(key).wait(WAIT_SECONDS)


async def test_cancelling_the_task_closes_the_response_at_once(scripted: Scripted) -> None:
    key = scripted.key()
    first = asyncio.Event()

    async def reader(client: httpx.AsyncClient) -> None:
        request = client.build_request("GET", f"{scripted.url}/slow?key={key}")
        response = await client.send(request, stream=True)
        async for _ in read_stream(response):
            first.set()

    async with httpx.AsyncClient() as client:
        task = asyncio.create_task(reader(client))
        await asyncio.wait_for(first.wait(), WAIT_SECONDS)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


async def test_aclose_and_context_manager_close_the_response(scripted: Scripted) -> None:
    key = scripted.key()
    async with httpx.AsyncClient() as client:
        request = client.build_request("GET", f"{scripted.url}/slow?key={key}")
        response = await client.send(request, stream=True)
        async with read_stream(response) as stream:
            iterator = aiter(stream)
            assert isinstance(await anext(iterator), TextDelta)
        assert response.is_closed
        assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)
        await stream.aclose()  # idempotent


def test_close_and_context_manager_sync(scripted: Scripted) -> None:
    with httpx.Client() as client:
        request = client.build_request("GET", f"{scripted.url}/slow?key={scripted.key()}")
        response = client.send(request, stream=True)
        with read_stream(response) as stream:
            assert isinstance(next(iter(stream)), TextDelta)
        assert response.is_closed
        stream.close()


def test_chunk_stream_is_the_read_stream_type() -> None:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"})
    stream = read_stream(response)
    assert isinstance(stream, ChunkStream)
    assert stream.dialect is None
    assert not stream.finished


def test_structured_and_progress_chunks_come_typed(scripted: Scripted) -> None:
    with httpx.Client() as client, client.stream("GET", f"{scripted.url}/native") as response:
        chunks = list(read_stream(response))
    assert next(c for c in chunks if isinstance(c, Progress)).message == "half"
    assert sum(isinstance(c, StructuredData) for c in chunks) == 3
