"""stream_structured: text fragments in, structured chunks out; the source is always closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    StructuredData,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from streamwire.protocol.errors import StructuredOutputError
from streamwire.protocol.extract import StructuredExtractor
from streamwire.server.structured import (
    INVALID_STRUCTURED_OUTPUT,
    extract_structured,
    stream_structured,
)


class Source:
    """An async generator of fragments that records how far it got and whether it closed."""

    def __init__(self, fragments: list[str], *, then_wait: bool = False) -> None:
        self.fragments = fragments
        self.then_wait = then_wait
        self.sent = 0
        self.closed = False
        self.waiting = asyncio.Event()

    async def __call__(self) -> AsyncIterator[str]:
        try:
            for fragment in self.fragments:
                self.sent += 1
                yield fragment
            if self.then_wait:
                self.waiting.set()
                await asyncio.sleep(60)  # a model that is slow to write; cancelled by the test
        finally:
            self.closed = True


def extractor() -> StructuredExtractor:
    return StructuredExtractor(
        {"title": "set", "body": "text-delta", "bullets": "append"}, stream_id="d"
    )


async def collect(source: Source, **kwargs: object) -> list[StructuredData | ErrorChunk]:
    return [chunk async for chunk in stream_structured(source(), extractor(), **kwargs)]  # type: ignore[arg-type]


async def test_chunks_stream_then_final() -> None:
    source = Source(['{"title": "Hi", "bo', 'dy": "a\\u00', 'e9b", "bullets": ["x"]}'])
    chunks = await collect(source)
    assert [(c.kind, c.path) for c in chunks if isinstance(c, StructuredData)] == [
        ("set", "title"),
        ("text-delta", "body"),
        ("text-delta", "body"),
        ("append", "bullets"),
        ("final", None),
    ]
    final = chunks[-1]
    assert isinstance(final, StructuredData)
    assert final.data == {"title": "Hi", "body": "a\u00e9b", "bullets": ["x"]}
    assert source.closed


async def test_invalid_document_gives_error_chunk_instead_of_final() -> None:
    source = Source(['{"title": "Hi"'])
    errors: list[StructuredOutputError] = []
    chunks = await collect(source, on_error=errors.append)
    assert isinstance(chunks[-1], ErrorChunk)
    assert chunks[-1].code == INVALID_STRUCTURED_OUTPUT
    assert chunks[-1].retryable is False
    assert "cut off" in chunks[-1].message
    assert "Traceback" not in chunks[-1].message
    assert not any(isinstance(c, StructuredData) and c.kind == "final" for c in chunks)
    assert len(errors) == 1
    assert errors[0].offset == 14
    assert source.closed


async def test_text_that_is_not_json_stops_reading_the_source() -> None:
    source = Source(["Sure! Here it is:", '{"title": "x"}', "never read"])
    chunks = await collect(source, on_error=None)
    assert len(chunks) == 1
    assert isinstance(chunks[0], ErrorChunk)
    assert source.sent == 1
    assert source.closed


async def test_default_on_error_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="streamwire.structured")
    await collect(Source(["nope"]))
    assert "invalid structured output" in caplog.text


async def test_long_reason_is_cut_in_the_error_chunk() -> None:
    key = "k" * 1000
    chunks = await collect(Source([f'{{"{key}": 1, "{key}": 2}}']), on_error=None)
    assert isinstance(chunks[-1], ErrorChunk)
    assert chunks[-1].message.endswith("...")
    assert len(chunks[-1].message) < 400


async def test_consumer_that_stops_early_closes_the_source() -> None:
    source = Source(['{"bullets": ["a", ', '"b", ', '"c"]}'])
    stream = stream_structured(source(), extractor())
    first = await anext(stream)
    assert isinstance(first, StructuredData)
    assert first.items == ["a"]
    await stream.aclose()  # type: ignore[attr-defined]
    assert source.closed
    assert source.sent == 1  # "a" was complete at the end of the first fragment


async def test_cancelling_the_consumer_closes_the_source() -> None:
    source = Source(['{"body": "a'], then_wait=True)
    received: list[StructuredData | ErrorChunk] = []

    async def consume() -> None:
        async for chunk in stream_structured(source(), extractor()):
            received.append(chunk)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(source.waiting.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert source.closed
    assert len(received) == 1


async def test_source_error_propagates_after_closing() -> None:
    closed = False

    async def failing() -> AsyncIterator[str]:
        nonlocal closed
        try:
            yield '{"a": '
            raise ConnectionError("upstream went away")
        finally:
            closed = True

    with pytest.raises(ConnectionError):
        async for _ in stream_structured(failing(), extractor()):
            pass
    assert closed


async def test_plain_async_iterable_without_aclose_is_accepted() -> None:
    class Fragments:
        def __init__(self) -> None:
            self.items = iter(['{"title": ', '"T"}'])

        def __aiter__(self) -> Fragments:
            return self

        async def __anext__(self) -> str:
            try:
                return next(self.items)
            except StopIteration:
                raise StopAsyncIteration from None

    chunks = [c async for c in stream_structured(Fragments(), extractor())]
    assert [c.kind for c in chunks if isinstance(c, StructuredData)] == ["set", "final"]


class ChunkSource:
    """A provider-like async generator of chunks that records whether it was closed."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self.chunks = chunks
        self.closed = False

    async def __call__(self) -> AsyncIterator[Chunk]:
        try:
            for chunk in self.chunks:
                yield chunk
        finally:
            self.closed = True


async def test_extract_structured_turns_text_into_chunks_and_passes_the_rest() -> None:
    source = ChunkSource(
        [
            TextDelta(delta='{"title": "Hi", "bo'),
            TextDelta(delta='dy": "Dear Ann", "bullets": ["a"]}'),
            Usage(input_tokens=1, output_tokens=9),
            Done(finish_reason="stop"),
        ]
    )
    out = [chunk async for chunk in extract_structured(source(), extractor())]
    assert not any(isinstance(c, TextDelta) for c in out)
    assert out[-3] == Usage(input_tokens=1, output_tokens=9)  # passed through in place
    final = out[-2]  # just before done
    assert isinstance(final, StructuredData)
    assert final.kind == "final"
    assert final.data == {"title": "Hi", "body": "Dear Ann", "bullets": ["a"]}
    assert out[-1] == Done(finish_reason="stop")
    assert source.closed


async def test_extract_structured_ends_an_invalid_document_with_an_error_and_closes_it() -> None:
    seen: list[StructuredOutputError] = []
    source = ChunkSource([TextDelta(delta="Sorry, I cannot"), TextDelta(delta=" do that.")])
    out = [c async for c in extract_structured(source(), extractor(), on_error=seen.append)]
    assert len(seen) == 1
    assert isinstance(out[0], ErrorChunk)
    assert out[0].code == INVALID_STRUCTURED_OUTPUT
    assert out[1:] == [Done(finish_reason="error")]
    assert source.closed


async def test_extract_structured_passes_a_provider_error_without_a_final() -> None:
    error = ErrorChunk(message="upstream failed", code="upstream_error", retryable=True)
    source = ChunkSource([TextDelta(delta='{"title": "H'), error, Done(finish_reason="error")])
    out = [c async for c in extract_structured(source(), extractor(), on_error=None)]
    assert out[-2:] == [error, Done(finish_reason="error")]
    assert not any(isinstance(c, StructuredData) and c.kind == "final" for c in out)


async def test_extract_structured_rejects_a_cut_off_document_at_done_without_on_error() -> None:
    source = ChunkSource([TextDelta(delta='{"title": "H'), Done(finish_reason="stop")])
    out = [c async for c in extract_structured(source(), extractor(), on_error=None)]
    assert isinstance(out[-2], ErrorChunk)
    assert out[-1] == Done(finish_reason="error")


def _tool_call(call_id: str, tool: str, arguments: list[str]) -> list[Chunk]:
    chunks: list[Chunk] = [ToolCallStart(tool_call_id=call_id, tool=tool)]
    chunks += [ToolCallDelta(tool_call_id=call_id, input_delta=a) for a in arguments]
    chunks.append(ToolCallEnd(tool_call_id=call_id, input=None))
    return chunks


async def test_extract_structured_follows_a_tool_calls_arguments_as_they_stream() -> None:
    source = ChunkSource(
        [
            TextDelta(delta="Let me write it."),
            *_tool_call("c0", "search", ['{"q": "x"}']),
            *_tool_call("c1", "send_email", ['{"title": "Hi", "bo', 'dy": "Dear', ' Ann"}']),
            *_tool_call("c2", "send_email", ['{"title": "ignored"}']),
            Done(finish_reason="tool-calls"),
        ]
    )
    out = [c async for c in extract_structured(source(), extractor(), tool="send_email")]
    # Nothing is swallowed: text and every tool-call chunk pass through, in order.
    assert [c for c in out if not isinstance(c, StructuredData)] == source.chunks
    structured = [c for c in out if isinstance(c, StructuredData)]
    deltas = "".join(c.delta or "" for c in structured if c.kind == "text-delta")
    assert deltas == "Dear Ann"
    final = structured[-1]
    assert final.kind == "final"
    assert final.data == {"title": "Hi", "body": "Dear Ann"}
    # The body grows while the call is still streaming, and final follows the call's end.
    first_piece = out.index(structured[0])
    end_of_call = out.index(source.chunks[8])  # c1's tool-call-end
    next_call = out.index(source.chunks[9])  # c2's tool-call-start
    assert first_piece < end_of_call < out.index(final) < next_call


async def test_extract_structured_rejects_a_followed_call_cut_off_by_done() -> None:
    chunks: list[Chunk] = [
        ToolCallStart(tool_call_id="c1", tool="send_email"),
        ToolCallDelta(tool_call_id="c1", input_delta='{"title": "H'),
        Done(finish_reason="stop"),
    ]
    source = ChunkSource(chunks)
    out = [c async for c in extract_structured(source(), extractor(), tool="send_email")]
    assert isinstance(out[-2], ErrorChunk)
    assert out[-2].code == INVALID_STRUCTURED_OUTPUT
    assert out[-1] == Done(finish_reason="error")
    assert source.closed


async def test_extract_structured_without_the_tool_passes_everything() -> None:
    chunks = [*_tool_call("c0", "search", ['{"q": 1}']), Done()]
    source = ChunkSource(chunks)
    out = [c async for c in extract_structured(source(), extractor(), tool="send_email")]
    assert out == chunks
