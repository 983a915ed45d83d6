"""The clients against the real chat server (``streamwire.app``, the demo model, on uvicorn)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from streamwire.app import ServerSettings
from streamwire.chunks import Done, ErrorChunk, Progress, Start, StructuredData, TextDelta
from streamwire.cli import main
from streamwire.client import (
    EventSource,
    StreamErrorChunkError,
    collect,
    collect_sync,
    consume_stream,
    stream_chat_from_route,
)
from streamwire.structured import StructuredState
from tests.app.helpers import capture_serve_log, running_app

HTTP_TIMEOUT_SECONDS = 10.0
SUBPROCESS_TIMEOUT_SECONDS = 30


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    """A chat server with the demo model at full speed."""
    with running_app(ServerSettings(demo_speed=0)) as url:
        yield url


@pytest.fixture(scope="module")
def slow_demo() -> Iterator[str]:
    """A chat server whose demo model is slow enough to leave in the middle of an answer."""
    with running_app(ServerSettings(demo_speed=20)) as url:
        yield url


async def test_native_route_streams_typed_chunks(demo: str) -> None:
    stream = stream_chat_from_route(f"{demo}/api/chat", user("hello"), session_id="s-9")
    chunks = [c async for c in stream]
    assert stream.dialect == "native"
    assert isinstance(chunks[0], Start)
    assert chunks[0].session_id == "s-9"
    assert "".join(c.delta for c in chunks if isinstance(c, TextDelta))
    assert isinstance(chunks[-1], Done)


async def test_collect_equals_the_servers_buffered_mode(demo: str) -> None:
    result = await collect(f"{demo}/api/chat", user("tell me about rivers"))
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as client:
        answer = (
            await client.post(
                f"{demo}/api/chat",
                json={"messages": user("tell me about rivers"), "stream": False},
            )
        ).json()
    ours = result.to_json()
    for key in ("text", "structured", "toolCalls", "usage", "finishReason", "error"):
        assert ours[key] == answer[key], key


def test_collect_a_structured_draft_and_a_tool_call_sync(demo: str) -> None:
    draft = collect_sync(f"{demo}/api/chat", user("write an email draft"))
    assert set(draft.structured["draft"]) >= {"title", "body"}
    weather = collect_sync(f"{demo}/api/chat", user("what is the weather"))
    assert [call.tool for call in weather.tool_calls] == ["get_weather"]
    assert weather.tool_calls[0].has_result


async def test_an_error_answer_is_a_chunk_or_raised(demo: str) -> None:
    result = await collect(f"{demo}/api/chat", user("please fail"))
    assert result.error is not None
    assert result.error.code == "demo_error"
    assert result.finish_reason == "error"
    stream = stream_chat_from_route(f"{demo}/api/chat", user("please fail"), raise_on_error=True)
    with pytest.raises(StreamErrorChunkError) as info:
        [c async for c in stream]
    assert info.value.code == "demo_error"


async def test_a_bad_request_becomes_an_error_chunk_with_the_servers_message(demo: str) -> None:
    chunks = [c async for c in stream_chat_from_route(f"{demo}/api/chat", [])]
    assert len(chunks) == 2
    error, done = chunks
    assert isinstance(error, ErrorChunk)
    assert error.code == "http_400"
    assert error.message == "messages: must not be empty"
    assert done == Done(finish_reason="error")


async def test_openai_route_is_detected(demo: str) -> None:
    stream = stream_chat_from_route(
        f"{demo}/v1/chat/completions", user("hello"), model="streamwire-demo", stream=True
    )
    chunks = [c async for c in stream]
    assert stream.dialect == "openai"
    assert "".join(c.delta for c in chunks if isinstance(c, TextDelta))
    assert isinstance(chunks[-1], Done)


async def test_ai_sdk_route_is_detected_from_its_header(demo: str) -> None:
    stream = stream_chat_from_route(f"{demo}/api/chat/ui", user("hello"))
    chunks = [c async for c in stream]
    assert stream.dialect == "ai-sdk"
    assert "".join(c.delta for c in chunks if isinstance(c, TextDelta))
    assert isinstance(chunks[-1], Done)


async def test_event_source_reads_the_get_route_and_stops_at_done(demo: str) -> None:
    source = EventSource(f"{demo}/api/chat/stream?q=show+progress")
    chunks = [c async for c in source.chunks()]
    assert any(isinstance(c, Progress) for c in chunks)
    assert isinstance(chunks[-1], Done)
    assert source.connections == 1
    assert source.closed


async def test_consume_stream_reduces_the_structured_draft(demo: str) -> None:
    states: list[StructuredState] = []
    done = await consume_stream(
        stream_chat_from_route(f"{demo}/api/chat", user("write an email draft")),
        on_structured=lambda stream_id, state: states.append(state),
    )
    assert done is not None
    assert states[-1].stream_id == "draft"
    assert len(states) == sum(1 for _ in states)  # one state per structured chunk
    assert "body" in states[-1].data


async def test_leaving_early_cancels_the_answer_on_the_server(slow_demo: str) -> None:
    with capture_serve_log() as log:
        async for chunk in stream_chat_from_route(f"{slow_demo}/api/chat", user("hello")):
            if isinstance(chunk, TextDelta):
                break
        # The loop must run for the response to close: wait in a thread.
        (line,) = await asyncio.to_thread(log.wait_for, 1)
    assert line["outcome"] == "cancelled"


def test_tail_prints_a_chat_answer(demo: str, capsys: pytest.CaptureFixture[str]) -> None:
    body = '{"messages": [{"role": "user", "content": "write an email draft"}]}'
    code = main(["tail", f"{demo}/api/chat", "-d", body])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert '{"structured":"draft"' in captured.out
    assert captured.err.splitlines()[-1].startswith("done")


def test_tail_subprocess_exits_1_on_an_error_answer(demo: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamwire", "tail", f"{demo}/api/chat/stream?q=fail", "--json"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert '"type":"error"' in result.stdout
    assert "demo_error" in result.stdout


def test_structured_chunks_reach_the_tail_json_output(demo: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamwire", "tail", f"{demo}/api/chat/stream?q=draft", "--json"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"type":"structured-data"' in result.stdout
    assert StructuredData.type_name in result.stdout
