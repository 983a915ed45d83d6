"""stream_chat_from_route and collect: POST a chat, read it, buffer it; HTTP failures as chunks."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from streamwire.chat.messages import ChatMessage, ContentPart
from streamwire.client import (
    BufferedResult,
    ChatStream,
    StreamConnectionError,
    StreamErrorChunkError,
    StreamResponseError,
    collect,
    collect_sync,
    stream_chat_from_route,
)
from streamwire.protocol.chunks import Done, ErrorChunk, Start, TextDelta, Usage
from streamwire.protocol.errors import InvalidArgumentError, TruncatedStreamError
from tests.client.conftest import Scripted
from tests.client.scripted import ANSWER
from tests.servers import free_port

WAIT_SECONDS = 5.0
HELLO = [{"role": "user", "content": "hello there world"}]


async def test_posts_json_and_streams_the_answer(scripted: Scripted) -> None:
    key = scripted.key()
    stream = stream_chat_from_route(
        f"{scripted.url}/chat?key={key}",
        HELLO,
        session_id="s-1",
        headers={"authorization": "Bearer t"},
        model="demo",
    )
    chunks = [c async for c in stream]
    assert chunks == [
        Start(session_id="s-1"),
        TextDelta(delta="hello "),
        TextDelta(delta="there "),
        TextDelta(delta="world "),
        Usage(input_tokens=1, output_tokens=3),
        Done(finish_reason="stop"),
    ]
    assert stream.chunks == chunks
    assert stream.status_code == 200
    assert stream.dialect == "native"
    (request,) = scripted.app.requests_for(key)
    assert request.method == "POST"
    assert json.loads(request.body) == {"messages": HELLO, "sessionId": "s-1", "model": "demo"}
    assert request.headers["authorization"] == "Bearer t"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["content-type"] == "application/json"


def test_streams_the_answer_sync(scripted: Scripted) -> None:
    chunks = list(stream_chat_from_route(f"{scripted.url}/chat", HELLO))
    assert "".join(c.delta for c in chunks if isinstance(c, TextDelta)) == "hello there world "


def test_chat_messages_are_sent_in_wire_form(scripted: Scripted) -> None:
    key = scripted.key()
    messages = [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="tool", content="42", tool_call_id="t1", name="calc"),
        ChatMessage(role="user", content=(ContentPart(type="text", text="hi you"),)),
    ]
    # The scripted /chat reads the last message's content as text: give it a plain one.
    messages.append(ChatMessage(role="user", content="ok"))
    list(stream_chat_from_route(f"{scripted.url}/chat?key={key}", messages))
    sent = json.loads(scripted.app.requests_for(key)[0].body)["messages"]
    assert sent == [
        {"role": "system", "content": "be brief"},
        {"role": "tool", "content": "42", "name": "calc", "toolCallId": "t1"},
        {"role": "user", "content": [{"type": "text", "text": "hi you"}]},
        {"role": "user", "content": "ok"},
    ]


async def test_an_http_failure_becomes_an_error_chunk_then_done(scripted: Scripted) -> None:
    stream = stream_chat_from_route(f"{scripted.url}/chat", HELLO, fail=400)
    chunks = [c async for c in stream]
    assert chunks == [
        ErrorChunk(message="messages: bad messages", code="http_400", retryable=False),
        Done(finish_reason="error"),
    ]
    assert stream.status_code == 400


def test_an_http_failure_without_a_json_body_says_request_failed(scripted: Scripted) -> None:
    chunks = list(stream_chat_from_route(f"{scripted.url}/chat", HELLO, fail=503, plain=True))
    assert chunks == [
        ErrorChunk(message="Request failed (503)", code="http_503", retryable=True),
        Done(finish_reason="error"),
    ]


async def test_an_http_failure_is_raised_on_request(scripted: Scripted) -> None:
    stream = stream_chat_from_route(f"{scripted.url}/chat", HELLO, fail=429, raise_on_error=True)
    with pytest.raises(StreamErrorChunkError) as info:
        [c async for c in stream]
    assert info.value.message == "messages: bad messages"
    assert info.value.retryable


async def test_no_connection_is_raised(scripted: Scripted) -> None:
    url = f"http://127.0.0.1:{free_port()}/chat"
    with pytest.raises(StreamConnectionError) as info:
        [c async for c in stream_chat_from_route(url, HELLO)]
    assert info.value.url == url
    with pytest.raises(StreamConnectionError):
        list(stream_chat_from_route(url, HELLO))


async def test_a_2xx_answer_that_is_not_a_stream_is_a_response_error(scripted: Scripted) -> None:
    with pytest.raises(StreamResponseError):
        [c async for c in stream_chat_from_route(f"{scripted.url}/html", HELLO)]


async def test_a_truncated_answer_keeps_its_chunks(scripted: Scripted) -> None:
    stream = stream_chat_from_route(f"{scripted.url}/no-terminator", HELLO)
    with pytest.raises(TruncatedStreamError):
        [c async for c in stream]
    assert stream.chunks == ANSWER[:3]


async def test_collect_buffers_the_whole_answer(scripted: Scripted) -> None:
    result = await collect(f"{scripted.url}/native", HELLO)
    assert isinstance(result, BufferedResult)
    assert result.text == "Hello, world"
    assert result.structured == {"s1": {"title": "Plan", "items": ["a", "b"]}}
    assert [(c.tool_call_id, c.tool, c.input) for c in result.tool_calls] == [
        ("t1", "search", {"q": "x"})
    ]
    assert result.usage == Usage(input_tokens=3, output_tokens=4)
    assert result.finish_reason == "stop"
    assert result.error is None
    assert result.message_id == "m1"
    assert result.done


def test_collect_sync_reports_an_http_failure_as_its_error(scripted: Scripted) -> None:
    result = collect_sync(f"{scripted.url}/chat", HELLO, fail=500)
    assert result.error == ErrorChunk(
        message="messages: bad messages", code="http_500", retryable=True
    )
    assert result.finish_reason == "error"
    assert result.text == ""


async def test_collect_of_an_openai_route(scripted: Scripted) -> None:
    result = await stream_chat_from_route(f"{scripted.url}/openai", HELLO).acollect()
    assert result.text == "Hello, world"
    assert result.finish_reason == "stop"


async def test_breaking_out_closes_the_connection(scripted: Scripted) -> None:
    key = scripted.key()
    async for _ in stream_chat_from_route(f"{scripted.url}/slow?key={key}", HELLO):
        break
    assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


async def test_cancelling_the_task_closes_the_connection(scripted: Scripted) -> None:
    key = scripted.key()
    first = asyncio.Event()

    async def reader() -> None:
        async for _ in stream_chat_from_route(f"{scripted.url}/slow?key={key}", HELLO):
            first.set()

    task = asyncio.create_task(reader())
    await asyncio.wait_for(first.wait(), WAIT_SECONDS)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


async def test_aclose_through_the_context_manager(scripted: Scripted) -> None:
    key = scripted.key()
    async with stream_chat_from_route(f"{scripted.url}/slow?key={key}", HELLO) as stream:
        assert isinstance(await anext(aiter(stream)), TextDelta)
    assert await asyncio.to_thread(scripted.app.disconnect_event(key).wait, WAIT_SECONDS)


def test_sync_break_closes_the_connection(scripted: Scripted) -> None:
    key = scripted.key()
    with stream_chat_from_route(f"{scripted.url}/slow?key={key}", HELLO) as stream:
        for _ in stream:
            break
    assert scripted.app.disconnect_event(key).wait(WAIT_SECONDS)


async def test_a_given_client_is_used_and_left_open(scripted: Scripted) -> None:
    async with httpx.AsyncClient() as client:
        result = await collect(f"{scripted.url}/native", HELLO, client=client)
        assert result.done
        assert not client.is_closed
    with httpx.Client() as sync_client:
        assert collect_sync(f"{scripted.url}/native", HELLO, client=sync_client).done


async def test_a_client_of_the_wrong_kind_is_refused(scripted: Scripted) -> None:
    with httpx.Client() as client:
        stream = stream_chat_from_route(f"{scripted.url}/native", HELLO, client=client)
        with pytest.raises(InvalidArgumentError) as info:
            [c async for c in stream]
    assert info.value.field == "client"


@pytest.mark.parametrize(
    ("messages", "extra", "field"),
    [
        ("hello", {}, "messages"),
        ([42], {}, "messages.0"),
        (HELLO, {"session_id": "a", "sessionId": "b"}, "sessionId"),
        (HELLO, {"dialect": "nope"}, "dialect"),
        (HELLO, {"max_event_bytes": -1}, "max_event_bytes"),
    ],
)
def test_bad_arguments_fail_at_once(messages: object, extra: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        stream_chat_from_route("http://127.0.0.1:1/", messages, **extra)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_chat_stream_is_iterated_once(scripted: Scripted) -> None:
    stream = stream_chat_from_route(f"{scripted.url}/native", HELLO)
    assert isinstance(stream, ChatStream)
    list(stream)
    with pytest.raises(Exception, match="iterated already"):
        list(stream)
