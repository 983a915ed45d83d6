"""``POST /v1/chat/completions`` with the official ``openai`` SDK (issue 4)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.app.helpers import READ_TIMEOUT_SECONDS, events_of


@pytest.fixture
def sdk(demo_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{demo_url}/v1", api_key="unused", max_retries=0, timeout=READ_TIMEOUT_SECONDS
    ) as client:
        yield client


def test_the_sdk_streams_text_and_usage(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="streamwire-demo",
        messages=[{"role": "user", "content": "tell me about streams"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text: list[str] = []
    finish: list[str] = []
    usage = None
    ids: set[str] = set()
    for chunk in stream:
        ids.add(chunk.id)
        assert chunk.object == "chat.completion.chunk"
        assert chunk.model == "streamwire-demo"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    assert "tell me about streams" in "".join(text)
    assert finish == ["stop"]
    assert usage is not None
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert len(ids) == 1
    assert ids.pop().startswith("chatcmpl-")


def test_the_stream_has_no_usage_chunk_unless_asked(sdk: openai.OpenAI) -> None:
    # OpenAI sends the choice-less usage chunk only for stream_options.include_usage; clients
    # that read chunk.choices[0] would fail on it otherwise.
    chunks = list(
        sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert chunks, "the stream was empty"
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_the_sdk_gets_one_completion_when_not_streaming(sdk: openai.OpenAI) -> None:
    streamed = "".join(
        choice.delta.content or ""
        for chunk in sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "same words"}], stream=True
        )
        for choice in chunk.choices
    )
    completion = sdk.chat.completions.create(
        model="my-model", messages=[{"role": "user", "content": "same words"}]
    )
    assert completion.object == "chat.completion"
    assert completion.model == "my-model"
    (choice,) = completion.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == streamed
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0


def test_the_sdk_streams_a_tool_call(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "what's the weather in Kyoto"}],
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += delta.id or ""
                if delta.function is not None:
                    entry["name"] += delta.function.name or ""
                    entry["arguments"] += delta.function.arguments or ""
    (call,) = calls.values()
    assert call["name"] == "get_weather"
    assert call["id"]
    assert json.loads(call["arguments"]) == {"city": "Kyoto", "unit": "celsius"}


def test_the_sdk_gets_tool_calls_when_not_streaming(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "weather in Lisbon"}]
    )
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    (call,) = calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] == "Lisbon"


def test_the_stream_carries_no_id_or_retry_field(demo_url: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi tool"}], "stream": True}
    response = httpx.post(
        f"{demo_url}/v1/chat/completions", json=body, timeout=READ_TIMEOUT_SECONDS
    )
    assert response.status_code == 200
    raw = response.content
    assert not any(line.startswith((b"id:", b"retry:", b"event:")) for line in raw.splitlines()), (
        raw[:300]
    )
    events = events_of(raw)
    assert events[-1].data == "[DONE]"
    assert all(event.id is None and event.retry is None for event in events)


def test_a_stream_error_reaches_the_sdk_as_an_api_error(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "please fail"}], stream=True
    )
    with pytest.raises(openai.APIError, match="demo"):
        for _ in stream:
            pass


def test_bad_requests_get_openai_error_bodies(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model="m",
            messages=[{"role": "robot", "content": "x"}],  # type: ignore[misc,list-item]  # a bad role on purpose
        )
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["param"] == "messages.0.role"
    assert body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as empty:
        sdk.chat.completions.create(model="m", messages=[])
    assert isinstance(empty.value.body, dict)
    assert empty.value.body["param"] == "messages"
