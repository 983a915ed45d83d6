"""Type-checked by mypy (pyproject lists tests/typing), never run: the client API's types.

pytest imports this module but finds no tests in it; the functions below only exist for mypy.
"""

from __future__ import annotations

from typing import assert_type

import httpx

from streamwire.chunks import Chunk, Done, ErrorChunk
from streamwire.client import (
    BufferedResult,
    BufferedToolCall,
    ChatStream,
    ChunkStream,
    EventSource,
    EventSourceChunks,
    ReconnectPolicy,
    StreamConnectionError,
    StreamErrorChunkError,
    StreamResponseError,
    StreamTimeoutError,
    collect,
    collect_sync,
    consume_stream,
    consume_stream_sync,
    read_stream,
    stream_chat_from_route,
)
from streamwire.errors import StreamwireError
from streamwire.sse import ServerSentEvent
from streamwire.structured import StructuredState


async def _read(response: httpx.Response) -> None:
    stream = read_stream(response, dialect="openai", raise_on_error=True, max_event_bytes=1024)
    assert_type(stream, ChunkStream)
    async for chunk in stream:
        assert_type(chunk, Chunk)
    assert_type(stream.chunks, list[Chunk])
    assert_type(stream.dialect, str | None)
    assert_type(stream.finished, bool)
    await stream.aclose()


def _read_sync(response: httpx.Response) -> None:
    with read_stream(response) as stream:
        for chunk in stream:
            assert_type(chunk, Chunk)


async def _consume(stream: ChunkStream) -> None:
    def on_chunk(chunk: Chunk) -> bool:
        return True

    async def on_text(delta: str) -> None:
        pass

    def on_structured(stream_id: str, state: StructuredState) -> None:
        pass

    async def on_error(error: ErrorChunk) -> None:
        pass

    def on_done(done: Done | None) -> None:
        pass

    result = await consume_stream(
        stream,
        on_chunk=on_chunk,
        on_text=on_text,
        on_structured=on_structured,
        on_error=on_error,
        on_done=on_done,
    )
    assert_type(result, Done | None)
    assert_type(consume_stream_sync([Done()], on_chunk=lambda c: None), Done | None)


async def _chat() -> None:
    stream = stream_chat_from_route(
        "http://127.0.0.1:8000/api/chat",
        [{"role": "user", "content": "Hi"}],
        session_id="s",
        headers={"authorization": "Bearer x"},
        timeout=5.0,
        model="demo",
    )
    assert_type(stream, ChatStream)
    async for chunk in stream:
        assert_type(chunk, Chunk)
    assert_type(stream.status_code, int | None)
    result = await collect("http://127.0.0.1:8000/api/chat", [{"role": "user", "content": "Hi"}])
    assert_type(result, BufferedResult)
    assert_type(result.text, str)
    assert_type(result.tool_calls, tuple[BufferedToolCall, ...])
    assert_type(result.error, ErrorChunk | None)
    assert_type(collect_sync("http://x", []), BufferedResult)


async def _event_source() -> None:
    policy = ReconnectPolicy(retry_seconds=1.0, max_attempts=None)
    assert_type(policy.delay_seconds(2, server_retry_ms=100, random_value=0.5), float)
    async with EventSource("http://x", reconnect=policy, idle_timeout_seconds=30.0) as source:
        async for event in source:
            assert_type(event, ServerSentEvent)
        assert_type(source.last_event_id, str)
        assert_type(source.retry_ms, int | None)
    chunks = EventSource("http://x").chunks(dialect="native")
    assert_type(chunks, EventSourceChunks)
    async for chunk in chunks:
        assert_type(chunk, Chunk)
    with EventSource("http://x") as sync_source:
        for event in sync_source:
            assert_type(event, ServerSentEvent)


def _errors(
    connection: StreamConnectionError,
    timeout: StreamTimeoutError,
    response: StreamResponseError,
    error_chunk: StreamErrorChunkError,
) -> None:
    root: StreamwireError = connection
    root = response
    root = error_chunk
    assert isinstance(root, StreamwireError)
    lost: StreamConnectionError = timeout
    assert_type(lost.attempts, int)
    assert_type(timeout.seconds, float | None)
    assert_type(response.status_code, int)
    assert_type(response.body, str)
    assert_type(error_chunk.chunk, ErrorChunk)
