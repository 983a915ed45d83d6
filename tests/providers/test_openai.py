"""The openai provider against a fake OpenAI-compatible upstream on 127.0.0.1."""

from __future__ import annotations

import json

import httpx
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
from streamwire.providers import OpenAIProvider, StructuredRequest
from streamwire.providers.openai import OpenAIStreamMapper
from tests.providers.fakes import (
    FakeUpstream,
    OpenAIToolCall,
    Reply,
    chat,
    collect,
    json_reply,
    openai_chunk,
    openai_error_reply,
    openai_frames,
    openai_reply,
    text_of,
)

KEY = "sk-test-0123456789abcdef"


def provider(fake: FakeUpstream, **options: object) -> OpenAIProvider:
    return OpenAIProvider(base_url=fake.base_url, api_key=KEY, model="fake-model", **options)  # type: ignore[arg-type]  # options are per test


def event(obj: object) -> ServerSentEvent:
    return ServerSentEvent(data=obj if isinstance(obj, str) else json.dumps(obj))


async def test_text_deltas_usage_and_done() -> None:
    reply = openai_reply(text=["Hel", "lo", ", world"], usage=(9, 3))
    with FakeUpstream("openai", reply, api_key=KEY) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    assert chunks == [
        TextDelta(delta="Hel"),
        TextDelta(delta="lo"),
        TextDelta(delta=", world"),
        Usage(input_tokens=9, output_tokens=3),
        Done(finish_reason="stop"),
    ]


async def test_request_is_a_streamed_chat_completion_with_usage() -> None:
    request = ChatRequest(
        messages=(
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="hi", name="ana"),
            ChatMessage(role="assistant", content="hello"),
            ChatMessage(role="tool", content='{"ok":true}', tool_call_id="call_1"),
            ChatMessage(
                role="user",
                content=(
                    ContentPart(type="text", text="look:"),
                    ContentPart(
                        type="image_url",
                        data={"type": "image_url", "image_url": {"url": "http://x/y.png"}},
                    ),
                ),
            ),
        ),
        max_tokens=50,
        temperature=0.2,
    )
    with FakeUpstream("openai", openai_reply(text=["ok"]), api_key=KEY) as fake:
        await collect(provider(fake, headers={"OpenAI-Organization": "org-1"}).stream(request))
    [recorded] = fake.requests
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == f"Bearer {KEY}"
    assert recorded.headers["openai-organization"] == "org-1"
    assert recorded.body == {
        "model": "fake-model",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 50,
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi", "name": "ana"},
            {"role": "assistant", "content": "hello"},
            {"role": "tool", "content": '{"ok":true}', "tool_call_id": "call_1"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look:"},
                    {"type": "image_url", "image_url": {"url": "http://x/y.png"}},
                ],
            },
        ],
    }


async def test_model_precedence_configured_then_request_then_default() -> None:
    with FakeUpstream("openai", openai_reply(text=["ok"])) as fake:
        configured = OpenAIProvider(base_url=fake.base_url, api_key=KEY, model="mine")
        unconfigured = OpenAIProvider(base_url=fake.base_url, api_key=KEY)
        await collect(configured.stream(chat("hi", model="theirs")))
        await collect(unconfigured.stream(chat("hi", model="theirs")))
        await collect(unconfigured.stream(chat("hi")))
    assert [r.body["model"] for r in fake.requests] == ["mine", "theirs", "gpt-4o-mini"]


async def test_without_a_key_no_authorization_header_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeUpstream("openai", openai_reply(text=["local"])) as fake:
        chunks = await collect(OpenAIProvider(base_url=fake.base_url).stream(chat("hi")))
    assert text_of(chunks) == "local"
    assert "authorization" not in fake.requests[0].headers


async def test_api_key_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeUpstream("openai", openai_reply(text=["ok"]), api_key=KEY) as fake:
        chunks = await collect(OpenAIProvider(base_url=fake.base_url).stream(chat("hi")))
    assert text_of(chunks) == "ok"
    assert KEY not in repr(OpenAIProvider(base_url=fake.base_url))


async def test_tool_call_deltas_become_start_deltas_and_end_with_parsed_input() -> None:
    calls = [
        OpenAIToolCall(id="call_a", name="get_weather", fragments=('{"ci', 'ty": "Oslo"}')),
        OpenAIToolCall(id="call_b", name="get_time", fragments=("{}",), index=1),
    ]
    reply = openai_reply(text=["Checking."], tool_calls=calls, usage=(20, 11))
    with FakeUpstream("openai", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("weather?")))
    assert chunks == [
        TextDelta(delta="Checking."),
        ToolCallStart(tool_call_id="call_a", tool="get_weather"),
        ToolCallDelta(tool_call_id="call_a", input_delta='{"ci'),
        ToolCallDelta(tool_call_id="call_a", input_delta='ty": "Oslo"}'),
        ToolCallStart(tool_call_id="call_b", tool="get_time"),
        ToolCallDelta(tool_call_id="call_b", input_delta="{}"),
        ToolCallEnd(tool_call_id="call_a", input={"city": "Oslo"}),
        ToolCallEnd(tool_call_id="call_b", input={}),
        Usage(input_tokens=20, output_tokens=11),
        Done(finish_reason="tool-calls"),
    ]


async def test_reasoning_content_becomes_reasoning_deltas() -> None:
    reply = openai_reply(reasoning=["Let me ", "think."], text=["Answer."])
    with FakeUpstream("openai", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("why?")))
    assert chunks[:3] == [
        ReasoningDelta(delta="Let me "),
        ReasoningDelta(delta="think."),
        TextDelta(delta="Answer."),
    ]


async def test_error_object_inside_the_stream_becomes_an_error_chunk() -> None:
    frames = openai_frames(
        openai_chunk({"content": "Par"}),
        {"error": {"message": "The server had an error while processing", "type": "server_error"}},
        done=False,
    )
    with FakeUpstream("openai", Reply(frames=tuple(frames), hold_open_seconds=5)) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
        closed = fake.wait_disconnected(1.0)
    assert chunks[0] == TextDelta(delta="Par")
    error = chunks[1]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_error"
    assert "The server had an error while processing" in error.message
    assert chunks[2:] == [Done(finish_reason="error")]
    assert closed  # the provider stops reading and closes the upstream at once


@pytest.mark.parametrize(
    ("status", "message", "code", "retryable"),
    [
        (401, "Incorrect API key provided: sk-wr***ng.", "upstream_auth", False),
        (403, "Project does not have access to model", "upstream_auth", False),
        (429, "Rate limit reached for requests", "upstream_rate_limited", True),
        (500, "The server had an error processing your request.", "upstream_error", True),
        (503, "The engine is currently overloaded.", "upstream_error", True),
        (400, "Invalid value for 'temperature'", "upstream_bad_request", False),
    ],
)
async def test_http_errors_become_a_clear_error_chunk(
    status: int, message: str, code: str, retryable: bool
) -> None:
    with FakeUpstream("openai", openai_error_reply(status, message)) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    assert len(chunks) == 2
    error, done = chunks
    assert isinstance(error, ErrorChunk)
    assert error.code == code
    assert error.retryable is retryable
    assert error.message == f"openai upstream answered HTTP {status}: {message} (server_error)"
    assert done == Done(finish_reason="error")


async def test_wrong_api_key_gives_401_and_the_key_is_never_shown() -> None:
    with FakeUpstream("openai", openai_reply(text=["no"]), api_key="sk-the-right-one") as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_auth"
    assert "HTTP 401" in error.message
    assert "Incorrect API key provided" in error.message


async def test_an_upstream_echoing_the_key_has_it_redacted() -> None:
    reply = openai_error_reply(401, f"bad key {KEY} for this project")
    with FakeUpstream("openai", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert KEY not in error.message
    assert "bad key [redacted] for this project" in error.message


async def test_429_mentions_retry_after() -> None:
    reply = openai_error_reply(429, "Slow down", headers=[("retry-after", "7")])
    with FakeUpstream("openai", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.message.endswith("(retry after 7 s)")


async def test_non_json_error_body_is_shown_as_text_and_cut() -> None:
    reply = Reply(
        status=502,
        headers=(("content-type", "text/html"),),
        frames=(b"<html>Bad gateway " + b"x" * 2000 + b"</html>",),
    )
    with FakeUpstream("openai", reply) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.message.startswith("openai upstream answered HTTP 502: <html>Bad gateway")
    assert len(error.message) < 600
    assert error.message.endswith("...")


async def test_wrong_route_is_a_404_error_chunk() -> None:
    with FakeUpstream("openai", openai_reply(text=["x"])) as fake:
        wrong = OpenAIProvider(base_url=fake.url, api_key=KEY)  # forgot the /v1
        chunks = await collect(wrong.stream(chat("hi")))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_bad_request"
    assert "HTTP 404" in error.message


async def test_stream_cut_before_done_is_an_error() -> None:
    frames = openai_frames(openai_chunk({"content": "Half"}), done=False)
    with FakeUpstream("openai", Reply(frames=tuple(frames))) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    assert chunks[0] == TextDelta(delta="Half")
    error = chunks[1]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_protocol"
    assert "before [DONE]" in error.message
    assert chunks[2] == Done(finish_reason="error")


async def test_stream_with_finish_reason_but_no_done_marker_completes() -> None:
    with FakeUpstream("openai", openai_reply(text=["ok"], done=False)) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    assert chunks == [TextDelta(delta="ok"), Done(finish_reason="stop")]


async def test_unreachable_upstream_is_an_unavailable_error() -> None:
    with FakeUpstream("openai", openai_reply(text=["x"])) as fake:
        url = fake.base_url
    # The server is stopped now: nothing listens on its port.
    chunks = await collect(OpenAIProvider(base_url=url, api_key=KEY, timeout=2).stream(chat("hi")))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_unavailable"
    assert error.retryable
    assert "127.0.0.1" in error.message
    assert chunks[1] == Done(finish_reason="error")


async def test_read_timeout_mid_stream_is_an_unavailable_error() -> None:
    reply = openai_reply(text=["slow"], hold_open_seconds=5, done=False, finish_reason="stop")
    reply = Reply(frames=reply.frames[:2], hold_open_seconds=5)  # role chunk and one word
    with FakeUpstream("openai", reply) as fake:
        timeout = httpx.Timeout(5.0, read=0.3)
        chunks = await collect(provider(fake, timeout=timeout).stream(chat("hi")))
        closed = fake.wait_disconnected(1.0)
    assert chunks[0] == TextDelta(delta="slow")
    error = chunks[1]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_unavailable"
    assert "read timeout" in error.message
    assert closed


async def test_structured_request_sends_a_json_schema_response_format() -> None:
    structured = StructuredRequest(
        name="email_draft",
        json_schema={"type": "object", "properties": {"title": {"type": "string"}}},
        description="An email draft",
        strict=True,
    )
    with FakeUpstream("openai", openai_reply(text=['{"title"', ': "Hi"}'])) as fake:
        chunks = await collect(provider(fake).stream(chat("draft"), structured=structured))
    assert text_of(chunks) == '{"title": "Hi"}'
    assert fake.requests[0].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "email_draft",
            "schema": {"type": "object", "properties": {"title": {"type": "string"}}},
            "description": "An email draft",
            "strict": True,
        },
    }


async def test_injected_client_is_used_and_left_open() -> None:
    async with httpx.AsyncClient(headers={"x-from-client": "yes"}) as client:
        with FakeUpstream("openai", openai_reply(text=["ok"])) as fake:
            chunks = await collect(provider(fake, client=client).stream(chat("hi")))
        assert not client.is_closed
    assert text_of(chunks) == "ok"
    assert fake.requests[0].headers["x-from-client"] == "yes"


async def test_include_usage_can_be_turned_off() -> None:
    with FakeUpstream("openai", openai_reply(text=["ok"])) as fake:
        await collect(provider(fake, include_usage=False).stream(chat("hi")))
    assert "stream_options" not in fake.requests[0].body


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"base_url": "localhost:8000"}, "base_url"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.5}, "timeout"),
    ],
)
def test_bad_options_are_rejected_naming_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        OpenAIProvider(**options)  # type: ignore[arg-type]  # the point of the test
    assert info.value.field == field


# -- the sans-IO mapper, event by event ---------------------------------------------------------


def test_mapper_emits_a_tool_call_start_only_once_id_and_name_are_known() -> None:
    mapper = OpenAIStreamMapper()
    # A server that sends the arguments before the id and the name.
    early = {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}
    late = {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "1}"}}]}
    assert mapper.feed(event(openai_chunk(early))) == []
    assert mapper.feed(event(openai_chunk(late))) == [
        ToolCallStart(tool_call_id="c1", tool="f"),
        ToolCallDelta(tool_call_id="c1", input_delta='{"a":'),
        ToolCallDelta(tool_call_id="c1", input_delta="1}"),
    ]
    assert mapper.feed(event(openai_chunk(finish_reason="tool_calls"))) == [
        ToolCallEnd(tool_call_id="c1", input={"a": 1})
    ]
    assert mapper.feed(event("[DONE]")) == [Done(finish_reason="tool-calls")]
    assert mapper.finished


def test_mapper_names_a_call_without_an_id_after_its_index() -> None:
    mapper = OpenAIStreamMapper()
    delta = {"tool_calls": [{"index": 2, "function": {"name": "f", "arguments": "{}"}}]}
    assert mapper.feed(event(openai_chunk(delta))) == []
    assert mapper.feed(event(openai_chunk(finish_reason="tool_calls"))) == [
        ToolCallStart(tool_call_id="call_2", tool="f"),
        ToolCallDelta(tool_call_id="call_2", input_delta="{}"),
        ToolCallEnd(tool_call_id="call_2", input={}),
    ]


def test_mapper_reports_tool_arguments_that_are_not_json_with_the_offset() -> None:
    mapper = OpenAIStreamMapper()
    delta = {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{"}}]}
    mapper.feed(event(openai_chunk(delta)))
    chunks = mapper.feed(event(openai_chunk(finish_reason="tool_calls")))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert "'c1' (f)" in error.message
    assert "offset 1" in error.message
    assert chunks[1] == Done(finish_reason="error")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps(openai_chunk({"tool_calls": ["x"]})), "not an object"),
        (json.dumps(openai_chunk({"tool_calls": [{"index": "0"}]})), "index is not an integer"),
    ],
)
def test_mapper_turns_malformed_events_into_a_protocol_error(data: str, fragment: str) -> None:
    mapper = OpenAIStreamMapper()
    chunks = mapper.feed(ServerSentEvent(data=data))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_protocol"
    assert fragment in error.message
    assert chunks[1:] == [Done(finish_reason="error")]
    assert mapper.feed(event("[DONE]")) == []


def test_mapper_ignores_other_choices_and_empty_deltas() -> None:
    mapper = OpenAIStreamMapper()
    other = openai_chunk({"content": "x"})
    other["choices"][0]["index"] = 1
    assert mapper.feed(event(other)) == []
    assert mapper.feed(event(openai_chunk({"content": ""}))) == []
    assert mapper.feed(event(openai_chunk({"refusal": "I can't."}))) == [
        TextDelta(delta="I can't.")
    ]
    assert mapper.feed(event(openai_chunk({"reasoning": "hmm"}))) == [ReasoningDelta(delta="hmm")]


def test_mapper_error_object_with_rate_limit_message_is_rate_limited() -> None:
    mapper = OpenAIStreamMapper(secrets=("sk-x",))
    chunks = mapper.feed(event({"error": {"message": "Rate limit exceeded for sk-x"}}))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.code == "upstream_rate_limited"
    assert "sk-x" not in error.message


def test_json_error_body_with_a_plain_string_error_is_understood() -> None:
    mapper = OpenAIStreamMapper()
    chunks = mapper.feed(event({"error": "model not loaded"}))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.message == "openai upstream error: model not loaded"


async def test_plain_string_error_body_over_http() -> None:
    with FakeUpstream("openai", json_reply(404, {"error": "model 'x' not found"})) as fake:
        chunks = await collect(provider(fake).stream(chat("hi")))
    error = chunks[0]
    assert isinstance(error, ErrorChunk)
    assert error.message == "openai upstream answered HTTP 404: model 'x' not found"


def test_mapper_ends_at_a_vllm_style_error_object_and_skips_keep_alives() -> None:
    mapper = OpenAIStreamMapper(secrets=("sk-x",))
    assert mapper.feed(ServerSentEvent(data="")) == []
    assert mapper.feed(ServerSentEvent(data="{}", event="ping")) == []
    chunks = mapper.feed(
        event({"object": "error", "message": "bad sk-x", "type": "BadRequestError", "code": 400})
    )
    assert chunks == [
        ErrorChunk(
            message="openai upstream error: bad [redacted] (400)",
            code="upstream_error",
            retryable=True,
        ),
        Done(finish_reason="error"),
    ]
    assert mapper.finished
