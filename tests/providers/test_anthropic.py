"""The anthropic provider against a fake Anthropic Messages upstream on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from streamwire.chat.messages import ChatMessage, ChatRequest, ContentPart
from streamwire.protocol.chunks import (
    Done,
    ErrorChunk,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.protocol.sse import ServerSentEvent
from streamwire.providers import AnthropicProvider, StructuredRequest
from streamwire.providers.anthropic import AnthropicStreamMapper
from tests.providers.fakes import (
    AnthropicBlock,
    FakeUpstream,
    anthropic_error_reply,
    anthropic_event,
    anthropic_frames,
    anthropic_reply,
    chat,
    collect,
    text_of,
)

KEY = "sk-ant-test-0123456789"


def provider(fake: FakeUpstream, **options: object) -> AnthropicProvider:
    return AnthropicProvider(base_url=fake.base_url, api_key=KEY, model="claude-fake", **options)  # type: ignore[arg-type]  # options are per test


def event(obj: dict[str, object]) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(obj), event=str(obj["type"]))


async def test_text_usage_and_done() -> None:
    reply = anthropic_reply(
        [AnthropicBlock(kind="text", pieces=("Hello", "!"))], input_tokens=25, output_tokens=15
    )
    with FakeUpstream("anthropic", reply, api_key=KEY) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    assert chunks == [
        TextDelta(delta="Hello"),
        TextDelta(delta="!"),
        Usage(input_tokens=25, output_tokens=15),
        Done(finish_reason="stop"),
    ]


async def test_request_has_the_documented_headers_and_a_top_level_system() -> None:
    request = ChatRequest(
        messages=(
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="system", content="Answer in English."),
            ChatMessage(role="user", content="weather?"),
            ChatMessage(role="assistant", content="Let me check."),
            ChatMessage(role="tool", content='{"temp": 21}', tool_call_id="toolu_1"),
            ChatMessage(
                role="user",
                content=(
                    ContentPart(type="text", text="and this:"),
                    ContentPart(type="image", data={"type": "image", "source": {"type": "url"}}),
                ),
            ),
        ),
        temperature=0.5,
    )
    reply = anthropic_reply([AnthropicBlock(kind="text", pieces=("ok",))])
    with FakeUpstream("anthropic", reply, api_key=KEY) as fake:
        await collect(provider(fake, max_tokens=77).stream(request))
    [recorded] = fake.requests
    assert recorded.path == "/v1/messages"
    assert recorded.headers["x-api-key"] == KEY
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in recorded.headers
    assert recorded.body == {
        "model": "claude-fake",
        "max_tokens": 77,
        "stream": True,
        "temperature": 0.5,
        "system": "Be brief.\n\nAnswer in English.",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Let me check."},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "content": '{"temp": 21}', "tool_use_id": "toolu_1"}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and this:"},
                    {"type": "image", "source": {"type": "url"}},
                ],
            },
        ],
    }


async def test_request_max_tokens_wins_over_the_default() -> None:
    reply = anthropic_reply([AnthropicBlock(kind="text", pieces=("ok",))])
    request = ChatRequest(messages=(ChatMessage(role="user", content="hi"),), max_tokens=9)
    with FakeUpstream("anthropic", reply) as fake:
        await collect(provider(fake).stream(request))
    assert fake.requests[0].body["max_tokens"] == 9
    assert "system" not in fake.requests[0].body


async def test_thinking_then_text_then_tool_use() -> None:
    blocks = [
        AnthropicBlock(kind="thinking", pieces=("I should ", "check.")),
        AnthropicBlock(kind="text", pieces=("Checking.",)),
        AnthropicBlock(
            kind="tool_use",
            tool_id="toolu_01",
            tool_name="get_weather",
            pieces=("", '{"city": ', '"Oslo"}'),
        ),
    ]
    reply = anthropic_reply(blocks, input_tokens=40, output_tokens=30)
    with FakeUpstream("anthropic", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("weather in Oslo?")))
    assert chunks == [
        ReasoningDelta(delta="I should "),
        ReasoningDelta(delta="check."),
        TextDelta(delta="Checking."),
        ToolCallStart(tool_call_id="toolu_01", tool="get_weather"),
        ToolCallDelta(tool_call_id="toolu_01", input_delta='{"city": '),
        ToolCallDelta(tool_call_id="toolu_01", input_delta='"Oslo"}'),
        ToolCallEnd(tool_call_id="toolu_01", input={"city": "Oslo"}),
        Usage(input_tokens=40, output_tokens=30),
        Done(finish_reason="tool-calls"),
    ]


async def test_tool_use_without_input_deltas_ends_with_an_empty_object() -> None:
    blocks = [AnthropicBlock(kind="tool_use", tool_id="toolu_2", tool_name="now")]
    with FakeUpstream("anthropic", anthropic_reply(blocks)) as fake:
        chunks = await collect(provider(fake).stream(chat("time?")))
    assert ToolCallEnd(tool_call_id="toolu_2", input={}) in chunks


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content-filter"),
        ("pause_turn", "pause_turn"),
    ],
)
async def test_stop_reasons_map_to_the_shared_finish_reasons(
    stop_reason: str, finish_reason: str
) -> None:
    reply = anthropic_reply([AnthropicBlock(kind="text", pieces=("x",))], stop_reason=stop_reason)
    with FakeUpstream("anthropic", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    assert chunks[-1] == Done(finish_reason=finish_reason)


async def test_error_event_mid_stream_becomes_an_error_chunk_and_closes() -> None:
    reply = anthropic_reply(
        [AnthropicBlock(kind="text", pieces=("Par",))],
        error=("overloaded_error", "Overloaded"),
        hold_open_seconds=5,
    )
    with FakeUpstream("anthropic", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
        closed = fake.wait_disconnected(1.0)
    assert chunks == [
        TextDelta(delta="Par"),
        ErrorChunk(
            message="anthropic upstream error: Overloaded (overloaded_error)",
            code="upstream_error",
            retryable=True,
        ),
        Done(finish_reason="error"),
    ]
    assert closed


@pytest.mark.parametrize(
    ("status", "kind", "message", "code", "retryable"),
    [
        (401, "authentication_error", "invalid x-api-key", "upstream_auth", False),
        (403, "permission_error", "no access to this model", "upstream_auth", False),
        (429, "rate_limit_error", "Number of requests exceeded", "upstream_rate_limited", True),
        (500, "api_error", "Internal server error", "upstream_error", True),
        (529, "overloaded_error", "Overloaded", "upstream_error", True),
        (
            400,
            "invalid_request_error",
            "max_tokens: must be positive",
            "upstream_bad_request",
            False,
        ),
    ],
)
async def test_http_errors_become_a_clear_error_chunk(
    status: int, kind: str, message: str, code: str, retryable: bool
) -> None:
    with FakeUpstream("anthropic", anthropic_error_reply(status, kind, message)) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    assert chunks == [
        ErrorChunk(
            message=f"anthropic upstream answered HTTP {status}: {message} ({kind})",
            code=code,
            retryable=retryable,
        ),
        Done(finish_reason="error"),
    ]


async def test_wrong_key_is_a_401_that_never_shows_the_key() -> None:
    reply = anthropic_reply([AnthropicBlock(kind="text", pieces=("no",))])
    with FakeUpstream("anthropic", reply, api_key="sk-ant-right") as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_auth"
    assert KEY not in error.message
    assert "invalid x-api-key" in error.message


async def test_stream_cut_before_message_stop_is_an_error() -> None:
    reply = anthropic_reply([AnthropicBlock(kind="text", pieces=("Half",))], stop=False)
    with FakeUpstream("anthropic", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    assert chunks[0] == TextDelta(delta="Half")
    error = chunks[1]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_protocol"
    assert "before message_stop" in error.message
    assert chunks[2] == Done(finish_reason="error")


async def test_structured_request_forces_a_tool_and_streams_its_input_as_text() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    structured = StructuredRequest(name="email_draft", json_schema=schema, description="A draft")
    blocks = [
        AnthropicBlock(
            kind="tool_use",
            tool_id="toolu_doc",
            tool_name="email_draft",
            pieces=('{"tit', 'le": "H\\u00e9', 'llo"}'),
        )
    ]
    with FakeUpstream("anthropic", anthropic_reply(blocks)) as fake:
        chunks = await collect(provider(fake).stream(chat("draft"), structured=structured))
    assert text_of(chunks) == '{"title": "H\\u00e9llo"}'
    assert not any(isinstance(c, ToolCallStart | ToolCallEnd) for c in chunks)
    body = fake.requests[0].body
    assert body["tools"] == [
        {"name": "email_draft", "input_schema": schema, "description": "A draft"}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "email_draft"}


def test_missing_api_key_is_rejected_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(InvalidArgumentError) as info:
        AnthropicProvider()
    assert info.value.field == "api_key"
    assert "ANTHROPIC_API_KEY" in str(info.value)


def test_api_key_from_the_environment_is_used_and_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    assert KEY not in repr(AnthropicProvider())


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_options_are_rejected_naming_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        AnthropicProvider(api_key=KEY, **options)  # type: ignore[arg-type]  # the point of the test
    assert info.value.field == field


async def test_extra_headers_are_sent_beside_the_required_ones() -> None:
    # The fake refuses requests without anthropic-version, as the API does.
    reply = anthropic_reply([AnthropicBlock(kind="text", pieces=("x",))])
    with FakeUpstream("anthropic", reply) as fake:
        chunks = await collect(provider(fake, headers={"x-extra": "1"}).stream(chat("hi")))
    assert text_of(chunks) == "x"
    assert fake.requests[0].headers["x-extra"] == "1"


# -- the sans-IO mapper ---------------------------------------------------------------------


def test_mapper_skips_ping_signature_and_unknown_events_and_blocks() -> None:
    mapper = AnthropicStreamMapper()
    assert mapper.feed(event({"type": "ping"})) == []
    assert mapper.feed(event({"type": "some_future_event"})) == []
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "web_search"}}
    assert mapper.feed(event(start)) == []
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta"}}
    assert mapper.feed(event(delta)) == []
    assert mapper.feed(event({"type": "content_block_stop", "index": 0})) == []
    assert not mapper.finished


def test_mapper_sends_initial_block_text() -> None:
    mapper = AnthropicStreamMapper()
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": "Hi"},
    }
    assert mapper.feed(event(start)) == [TextDelta(delta="Hi")]


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        ({"type": "content_block_start", "content_block": {"type": "text"}}, "without index"),
        ({"type": "content_block_delta", "index": 0}, "without index/delta"),
        (
            {
                "type": "content_block_delta",
                "index": 3,
                "delta": {"type": "text_delta", "text": "x"},
            },
            "unknown block 3",
        ),
        (
            {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use"}},
            "without id or name",
        ),
    ],
)
def test_mapper_turns_malformed_events_into_a_protocol_error(
    obj: dict[str, object], fragment: str
) -> None:
    mapper = AnthropicStreamMapper()
    chunks = mapper.feed(event(obj))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_protocol"
    assert fragment in error.message
    assert chunks[1] == Done(finish_reason="error")
    assert mapper.finished
    assert mapper.feed(event({"type": "message_stop"})) == []


def test_mapper_reports_bad_tool_input_json_with_the_offset() -> None:
    mapper = AnthropicStreamMapper()
    frames = anthropic_frames(
        [AnthropicBlock(kind="tool_use", tool_id="toolu_x", tool_name="f", pieces=('{"a": ',))]
    )
    chunks = []
    for frame in frames:
        lines = frame.decode().splitlines()
        data = lines[1].removeprefix("data: ")
        chunks += mapper.feed(ServerSentEvent(data=data, event=lines[0].removeprefix("event: ")))
        if mapper.finished:
            break
    error = chunks[-2]
    assert isinstance(error, ErrorChunk)
    assert "'toolu_x'" in error.message
    assert "offset 6" in error.message


def test_mapper_not_json_event_is_a_protocol_error() -> None:
    mapper = AnthropicStreamMapper()
    chunks = mapper.feed(ServerSentEvent(data="{oops", event="message_start"))
    assert isinstance(chunks[0], ErrorChunk)
    assert "not JSON" in chunks[0].message
    assert AnthropicStreamMapper().feed(ServerSentEvent(data="[]"))[0] == ErrorChunk(
        message="anthropic upstream sent an event that is not a JSON object",
        code="upstream_protocol",
        retryable=True,
    )


def test_mapper_uses_the_latest_cumulative_usage() -> None:
    mapper = AnthropicStreamMapper()
    raw = [
        anthropic_event(
            {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}
        ),
        anthropic_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 9},
            }
        ),
        anthropic_event({"type": "message_stop"}),
    ]
    chunks = []
    for frame in raw:
        lines = frame.decode().splitlines()
        chunks += mapper.feed(ServerSentEvent(data=lines[1].removeprefix("data: ")))
    assert chunks == [Usage(input_tokens=5, output_tokens=9), Done(finish_reason="stop")]


async def test_reply_can_be_slow_and_still_complete() -> None:
    reply = anthropic_reply(
        [AnthropicBlock(kind="text", pieces=("a", "b", "c"))], delay_seconds=0.02
    )
    with FakeUpstream("anthropic", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    assert text_of(chunks) == "abc"
    assert fake.completed == 1
    assert not fake.disconnected.is_set()
