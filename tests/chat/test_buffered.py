"""collect_buffered_stream / BufferedCollector: every chunk type gathered into one result."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from streamwire.chat import BufferedCollector, BufferedResult, collect_buffered_stream
from streamwire.chat.buffered import BufferedToolCall
from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    Interrupt,
    InterruptInput,
    Progress,
    ReasoningDelta,
    Start,
    StructuredData,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallResult,
    ToolCallStart,
    Usage,
)
from streamwire.protocol.errors import StructuredStreamError

STREAM: list[Chunk] = [
    Start(message_id="m1", session_id="s1"),
    ReasoningDelta(delta="Let me "),
    ReasoningDelta(delta="think."),
    TextDelta(delta="Hello"),
    StructuredData(stream_id="d", kind="set", path="title", value="T", data_type="draft"),
    StructuredData(stream_id="d", kind="text-delta", path="body", delta="Hi"),
    StructuredData(stream_id="d", kind="append", path="bullets", items=["a", "b"]),
    StructuredData(stream_id="e", kind="set", path="x", value=1),
    StructuredData(stream_id="e", kind="final", data={"x": 2}),
    ToolCallStart(tool_call_id="c1", tool="weather"),
    ToolCallDelta(tool_call_id="c1", input_delta='{"city":'),
    ToolCallDelta(tool_call_id="c1", input_delta=' "Oslo"}'),
    ToolCallEnd(tool_call_id="c1", input={"city": "Oslo"}),
    ToolCallResult(tool_call_id="c1", tool="weather", content={"t": 3}),
    ToolCallStart(tool_call_id="c2", tool="search"),
    ToolCallDelta(tool_call_id="c2", input_delta='{"q": "x'),
    Progress(value=1, total=2),
    TextDelta(delta=", world"),
    Usage(input_tokens=4, output_tokens=9),
    Done(finish_reason="tool-calls"),
]


async def agen(chunks: list[Chunk]) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk


async def test_collects_every_chunk_type() -> None:
    result = await collect_buffered_stream(agen(STREAM))
    assert result.message_id == "m1"
    assert result.session_id == "s1"
    assert result.text == "Hello, world"
    assert result.reasoning == "Let me think."
    assert result.structured == {
        "d": {"title": "T", "body": "Hi", "bullets": ["a", "b"]},
        "e": {"x": 2},
    }
    assert result.structured_done == frozenset({"e"})
    assert result.tool_calls == (
        BufferedToolCall(
            tool_call_id="c1",
            tool="weather",
            input={"city": "Oslo"},
            input_text='{"city": "Oslo"}',
            complete=True,
            result={"t": 3},
            has_result=True,
        ),
        BufferedToolCall(tool_call_id="c2", tool="search", input_text='{"q": "x'),
    )
    assert result.usage == Usage(input_tokens=4, output_tokens=9)
    assert result.progress == Progress(value=1, total=2)
    assert result.finish_reason == "tool-calls"
    assert result.done
    assert result.error is None


async def test_to_json_is_one_camel_case_object() -> None:
    result = await collect_buffered_stream(agen(STREAM))
    assert result.to_json() == {
        "messageId": "m1",
        "text": "Hello, world",
        "reasoning": "Let me think.",
        "structured": {"d": {"title": "T", "body": "Hi", "bullets": ["a", "b"]}, "e": {"x": 2}},
        "toolCalls": [
            {
                "toolCallId": "c1",
                "tool": "weather",
                "input": {"city": "Oslo"},
                "result": {"t": 3},
                "isError": False,
            },
            # incomplete input that is not valid JSON yet
            {"toolCallId": "c2", "tool": "search", "input": None},
        ],
        "usage": {"inputTokens": 4, "outputTokens": 9},
        "finishReason": "tool-calls",
        "error": None,
    }


def test_empty_result_to_json() -> None:
    assert BufferedResult().to_json() == {
        "messageId": None,
        "text": "",
        "reasoning": "",
        "structured": {},
        "toolCalls": [],
        "usage": None,
        "finishReason": None,
        "error": None,
    }


def test_error_and_interrupt_are_reported() -> None:
    collector = BufferedCollector()
    chunks: list[Chunk] = [
        TextDelta(delta="par"),
        Interrupt(
            request_id="r", resume_token="t", input=InterruptInput(kind="text", question="?")
        ),
        ErrorChunk(message="boom", code="upstream_error", retryable=True),
        Done(finish_reason="error"),
    ]
    for chunk in chunks:
        collector.feed(chunk)
    body = collector.result().to_json()
    assert body["error"] == {"message": "boom", "code": "upstream_error", "retryable": True}
    assert body["interrupt"] == {
        "requestId": "r",
        "resumeToken": "t",
        "input": {"kind": "text", "question": "?"},
    }
    assert body["finishReason"] == "error"


def test_tool_chunks_without_a_start_still_count() -> None:
    collector = BufferedCollector()
    collector.feed(ToolCallDelta(tool_call_id="x", input_delta="[1]"))
    collector.feed(ToolCallResult(tool_call_id="x", tool="t", content="r", is_error=True))
    collector.feed(ToolCallResult(tool_call_id="y", tool="u", content=None))
    (x, y) = collector.result().tool_calls
    assert (x.tool, x.input_text, x.result, x.is_error, x.complete) == (
        "t",
        "[1]",
        "r",
        True,
        False,
    )
    assert x.to_json()["input"] == [1]
    assert (y.tool, y.has_result, y.result) == ("u", True, None)


def test_result_is_a_snapshot_and_collector_keeps_going() -> None:
    collector = BufferedCollector()
    collector.feed(TextDelta(delta="a"))
    first = collector.result()
    collector.feed(TextDelta(delta="b"))
    assert (first.text, collector.result().text) == ("a", "ab")
    assert not first.done


def test_bad_structured_chunk_raises_and_collector_stays_usable() -> None:
    collector = BufferedCollector()
    collector.feed(StructuredData(stream_id="d", kind="set", path="a", value="text"))
    with pytest.raises(StructuredStreamError):
        collector.feed(StructuredData(stream_id="d", kind="append", path="a", items=[1]))
    collector.feed(TextDelta(delta="still here"))
    result = collector.result()
    assert result.structured == {"d": {"a": "text"}}
    assert result.text == "still here"


async def test_source_is_closed_when_collection_fails() -> None:
    closed = []

    async def source() -> AsyncIterator[Chunk]:
        try:
            yield StructuredData(stream_id="d", kind="set", path="a", value="text")
            yield StructuredData(stream_id="d", kind="append", path="a", items=[1])
            yield TextDelta(delta="never")
        finally:
            closed.append(True)

    with pytest.raises(StructuredStreamError):
        await collect_buffered_stream(source())
    assert closed == [True]


async def test_to_chat_completion_uses_the_openai_shape() -> None:
    result = await collect_buffered_stream(agen(STREAM))
    completion = result.to_chat_completion(model="m", completion_id="chatcmpl-1", created=3)
    message = completion["choices"][0]["message"]
    assert message["content"] == "Hello, world"
    assert message["reasoning_content"] == "Let me think."
    assert [c["id"] for c in message["tool_calls"]] == ["c1", "c2"]
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert completion["usage"]["total_tokens"] == 13
