"""The demo provider: deterministic answers, every trigger, pacing by count, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from streamwire.chat.messages import ChatMessage, ChatRequest
from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    Progress,
    ReasoningDelta,
    StructuredData,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallResult,
    ToolCallStart,
    Usage,
)
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.providers import DEMO_TRIGGERS, DemoProvider, StructuredRequest
from tests.providers.fakes import chat, collect, text_of

EMAIL_SCHEMA = {
    "title": "EmailDraft",
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "body": {"type": "string"},
        "bullets": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title", "body", "bullets"],
}


class RecordingSleep:
    """Stands in for asyncio.sleep: records each wait, gives the loop a turn."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def fast() -> DemoProvider:
    return DemoProvider(tokens_per_second=0)


def kinds(chunks: list[Chunk]) -> list[str]:
    return [chunk.type_name for chunk in chunks]


async def test_same_prompt_gives_the_same_answer() -> None:
    first = await collect(fast().stream(chat("How does streaming work?")))
    second = await collect(
        DemoProvider(tokens_per_second=0).stream(chat("How does streaming work?"))
    )
    assert first == second


async def test_different_prompts_give_different_answers() -> None:
    prompts = [f"question number {n}" for n in range(8)]
    texts = {text_of(await collect(fast().stream(chat(p)))) for p in prompts}
    assert len(texts) == len(prompts)


async def test_plain_answer_is_several_sentences_of_words_then_usage_and_done() -> None:
    chunks = await collect(fast().stream(chat("Tell me about good tests")))
    assert isinstance(chunks[-1], Done)
    assert chunks[-1].finish_reason == "stop"
    assert isinstance(chunks[-2], Usage)
    assert set(kinds(chunks[:-2])) == {"text-delta"}
    text = text_of(chunks)
    assert text.count(". ") >= 3
    assert "Tell me about good tests" in text
    # One word per delta: no delta holds two words.
    assert all(len(chunk.delta.split()) == 1 for chunk in chunks if isinstance(chunk, TextDelta))
    assert "  " not in text


async def test_some_answers_contain_a_markdown_list() -> None:
    texts = [text_of(await collect(fast().stream(chat(f"topic {n}")))) for n in range(12)]
    with_list = [t for t in texts if "\n- " in t]
    assert 0 < len(with_list) < len(texts)


async def test_usage_counts_prompt_words_and_output_tokens() -> None:
    request = ChatRequest(
        messages=(
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Explain heartbeats in three words"),
        )
    )
    chunks = await collect(fast().stream(request))
    usage = chunks[-2]
    assert isinstance(usage, Usage)
    assert usage.input_tokens == 2 + 5
    assert usage.output_tokens == sum(isinstance(c, TextDelta) for c in chunks)


async def test_no_start_chunk_is_yielded() -> None:
    chunks = await collect(fast().stream(chat("hello")))
    assert "start" not in kinds(chunks)


async def test_think_trigger_sends_reasoning_before_the_answer() -> None:
    chunks = await collect(fast().stream(chat("Think about why the sky is blue")))
    names = kinds(chunks)
    assert names[0] == "reasoning-delta"
    first_text = names.index("text-delta")
    assert set(names[:first_text]) == {"reasoning-delta"}
    reasoning = "".join(c.delta for c in chunks if isinstance(c, ReasoningDelta))
    assert len(reasoning.split()) >= 10


async def test_weather_trigger_sends_a_whole_tool_call_and_its_result() -> None:
    chunks = await collect(fast().stream(chat("What's the weather in Kyoto?")))
    start = next(c for c in chunks if isinstance(c, ToolCallStart))
    deltas = [c for c in chunks if isinstance(c, ToolCallDelta)]
    end = next(c for c in chunks if isinstance(c, ToolCallEnd))
    result = next(c for c in chunks if isinstance(c, ToolCallResult))
    assert start.tool == "get_weather" == result.tool
    assert {start.tool_call_id, end.tool_call_id, result.tool_call_id} == {start.tool_call_id}
    assert len(deltas) > 1
    assert json.loads("".join(d.input_delta for d in deltas)) == end.input
    assert end.input == {"city": "Kyoto", "unit": "celsius"}
    assert result.content["city"] == "Kyoto"
    names = kinds(chunks)
    assert names.index("tool-call-start") < names.index("tool-call-end")
    assert names.index("tool-call-end") < names.index("tool-call-result")
    assert "in Kyoto right now" in text_of(chunks)


async def test_tool_trigger_without_a_city_picks_one_deterministically() -> None:
    a = await collect(fast().stream(chat("use a tool please")))
    b = await collect(fast().stream(chat("use a tool please")))
    end_a = next(c for c in a if isinstance(c, ToolCallEnd))
    end_b = next(c for c in b if isinstance(c, ToolCallEnd))
    assert end_a == end_b
    assert isinstance(end_a.input["city"], str)


async def test_export_trigger_sends_a_progress_sequence() -> None:
    chunks = await collect(fast().stream(chat("Export my data as CSV")))
    steps = [c for c in chunks if isinstance(c, Progress)]
    assert [s.value for s in steps] == [0, 1, 2, 3, 4, 5]
    assert {s.total for s in steps} == {5}
    assert all(s.message for s in steps)
    assert "The export is ready" in text_of(chunks)


async def test_draft_trigger_streams_a_structured_draft() -> None:
    chunks = await collect(fast().stream(chat("Write an email to the team")))
    structured = [c for c in chunks if isinstance(c, StructuredData)]
    assert {c.stream_id for c in structured} == {"draft"}
    title = next(c for c in structured if c.kind == "set" and c.path == "title")
    body = [c.delta for c in structured if c.kind == "text-delta" and c.path == "body"]
    bullets = [c.items for c in structured if c.kind == "append" and c.path == "bullets"]
    final = structured[-1]
    assert final.kind == "final"
    assert final.data == {
        "title": title.value,
        "body": "".join(d or "" for d in body),
        "bullets": [item for items in bullets for item in items or []],
    }
    assert len(body) > 10
    assert all(len(d.split()) <= 1 for d in body if d)  # word by word
    assert [len(items or []) for items in bullets] == [1, 1, 1]  # one item at a time
    assert structured.index(title) < len(structured) - 1


async def test_error_trigger_sends_an_error_then_done_error() -> None:
    chunks = await collect(fast().stream(chat("Please fail now")))
    assert kinds(chunks)[-3:] == ["usage", "error", "done"]
    error = chunks[-2]
    assert isinstance(error, ErrorChunk)
    assert error.code == "demo_error"
    assert chunks[-1] == Done(finish_reason="error")
    assert text_of(chunks)  # some text came first


@pytest.mark.parametrize(
    ("trigger", "word"),
    [(trigger, word) for trigger, words in DEMO_TRIGGERS.items() for word in words],
)
async def test_every_documented_trigger_word_works(trigger: str, word: str) -> None:
    chunks = await collect(fast().stream(chat(f"Could you {word.upper()}ing this?")))
    expected = {
        "reasoning": ReasoningDelta,
        "progress": Progress,
        "tool": ToolCallStart,
        "draft": StructuredData,
        "error": ErrorChunk,
    }[trigger]
    assert any(isinstance(c, expected) for c in chunks)


async def test_trigger_words_match_only_at_the_start_of_a_word() -> None:
    chunks = await collect(fast().stream(chat("a footool and a redraft")))
    assert not any(isinstance(c, ToolCallStart | StructuredData) for c in chunks)


async def test_structured_request_streams_a_json_document_matching_the_schema() -> None:
    structured = StructuredRequest(
        name="email_draft",
        json_schema=EMAIL_SCHEMA,
        fields={"title": "set", "body": "text-delta", "bullets": "append"},
    )
    chunks = await collect(fast().stream(chat("an email please"), structured=structured))
    assert not any(isinstance(c, StructuredData) for c in chunks)
    pieces = [c.delta for c in chunks if isinstance(c, TextDelta)]
    assert len(pieces) > 10
    document = json.loads("".join(pieces))
    assert set(document) == {"title", "body", "bullets"}
    assert isinstance(document["title"], str)
    assert isinstance(document["body"], str)
    assert len(document["bullets"]) == 3
    assert all(isinstance(item, str) for item in document["bullets"])
    assert chunks[-1] == Done(finish_reason="stop")


async def test_structured_document_follows_refs_enums_numbers_and_limits() -> None:
    schema = {
        "type": "object",
        "properties": {
            "status": {"enum": ["draft", "sent"]},
            "kind": {"const": "memo"},
            "count": {"type": "integer", "minimum": 3, "maximum": 4},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "urgent": {"type": "boolean"},
            "owner": {"$ref": "#/$defs/Person"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
            "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "nothing": {"type": "null"},
        },
        "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    structured = StructuredRequest(name="memo", json_schema=schema)
    chunks = await collect(fast().stream(chat("memo"), structured=structured))
    document = json.loads(text_of(chunks))
    assert document["status"] in ("draft", "sent")
    assert document["kind"] == "memo"
    assert document["count"] in (3, 4)
    assert 0 <= document["score"] <= 1
    assert isinstance(document["urgent"], bool)
    assert isinstance(document["owner"]["name"], str)
    assert len(document["tags"]) == 2
    assert isinstance(document["note"], str)
    assert document["nothing"] is None


async def test_recursive_schema_is_cut_at_a_bounded_depth() -> None:
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
    }
    structured = StructuredRequest(name="tree", json_schema=schema)
    chunks = await collect(fast().stream(chat("tree"), structured=structured))
    document = json.loads(text_of(chunks))
    depth = 0
    while isinstance(document, dict):
        document = document["child"]
        depth += 1
    assert document is None
    assert depth < 10


async def test_pacing_waits_once_per_token_at_the_set_rate() -> None:
    sleep = RecordingSleep()
    provider = DemoProvider(tokens_per_second=20, sleep=sleep)
    chunks = await collect(provider.stream(chat("Explain backpressure")))
    tokens = sum(isinstance(c, TextDelta) for c in chunks)
    assert len(sleep.waits) == tokens
    assert sleep.waits == [pytest.approx(1 / 20)] * tokens


async def test_progress_steps_are_paced_slower_than_words() -> None:
    sleep = RecordingSleep()
    provider = DemoProvider(tokens_per_second=10, sleep=sleep)
    chunks = await collect(provider.stream(chat("export")))
    steps = sum(isinstance(c, Progress) for c in chunks)
    slow = [w for w in sleep.waits if w > 0.1 + 1e-9]
    assert len(slow) == steps
    assert all(w == pytest.approx(0.8) for w in slow)


async def test_zero_tokens_per_second_never_waits_but_yields_to_the_loop() -> None:
    sleep = RecordingSleep()
    provider = DemoProvider(tokens_per_second=0, sleep=sleep)
    await collect(provider.stream(chat("hi")))
    assert sleep.waits
    assert set(sleep.waits) == {0.0}


async def test_real_pacing_streams_words_over_time() -> None:
    provider = DemoProvider(tokens_per_second=200)
    got: list[Chunk] = []
    stream = provider.stream(chat("hello there"))
    async with contextlib.aclosing(stream):
        async for chunk in stream:
            got.append(chunk)
            if len(got) == 5:
                break
    assert len(got) == 5


@pytest.mark.parametrize("bad", [-1, float("inf"), float("nan"), "fast", True])
def test_bad_tokens_per_second_is_rejected_naming_the_field(bad: object) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        DemoProvider(tokens_per_second=bad)  # type: ignore[arg-type]  # the point of the test
    assert info.value.field == "tokens_per_second"


async def test_aclose_stops_the_stream() -> None:
    sleep = RecordingSleep()
    stream = DemoProvider(tokens_per_second=5, sleep=sleep).stream(chat("hello"))
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await stream.aclose()
    waits = len(sleep.waits)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert len(sleep.waits) == waits


async def test_cancelling_the_reading_task_stops_the_stream() -> None:
    provider = DemoProvider(tokens_per_second=50)
    request = chat("a long answer please")
    stream = provider.stream(request)
    got: list[Chunk] = []
    started = asyncio.Event()

    async def read() -> None:
        async for chunk in stream:
            got.append(chunk)
            started.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The cancellation went through the provider's own wait: its generator is finished (a
    # parked one would hand out the next word here), and nothing more comes out of it.
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert 0 < len(got) < len(provider.compose(request))
    assert not any(isinstance(c, Done) for c in got)
