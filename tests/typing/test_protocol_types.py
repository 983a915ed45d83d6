"""Type-checked by mypy (pyproject lists tests/typing), never run: the public protocol API's types.

pytest imports this module but finds no tests in it; the functions below only exist for mypy.
"""

from __future__ import annotations

from typing import assert_never, assert_type

from streamwire.chunks import (
    CHUNK_TYPES,
    Chunk,
    Done,
    ErrorChunk,
    Interrupt,
    InterruptInput,
    JSONValue,
    Progress,
    ReasoningDelta,
    Start,
    StructuredData,
    StructuredKind,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallResult,
    ToolCallStart,
    Usage,
    chunk_from_dict,
    chunk_to_dict,
    decode_chunk,
    encode_chunk,
)
from streamwire.errors import ChunkDecodeError, InvalidArgumentError, SSEProtocolError
from streamwire.sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder, encode


def check_sse() -> None:
    event = ServerSentEvent(data="x", event="e", id="1", retry=10, comment="c")
    assert_type(event.data, str)
    assert_type(event.event, str | None)
    assert_type(event.id, str | None)
    assert_type(event.retry, int | None)
    assert_type(event.comment, str | None)
    assert_type(encode(event), bytes)

    decoder = SSEDecoder(max_event_bytes=DEFAULT_MAX_EVENT_BYTES)
    assert_type(decoder.feed(b"data: x\n\n"), list[ServerSentEvent])
    assert_type(decoder.close(), list[ServerSentEvent])
    assert_type(decoder.last_event_id, str)
    assert_type(decoder.retry, int | None)
    assert_type(decoder.max_event_bytes, int)
    assert_type(DEFAULT_MAX_EVENT_BYTES, int)


def check_errors(sse: SSEProtocolError, chunk: ChunkDecodeError, arg: InvalidArgumentError) -> None:
    assert_type(sse.offset, int)
    assert_type(sse.limit, int | None)
    assert_type(chunk.field, str)
    assert_type(chunk.data, str)
    assert_type(arg.field, str)
    assert_type(arg.reason, str)


def check_chunk_codec(text: str, raw: bytes, wire: dict[str, JSONValue]) -> None:
    assert_type(decode_chunk(text), Chunk)
    assert_type(decode_chunk(raw), Chunk)
    assert_type(chunk_from_dict(wire), Chunk)
    assert_type(encode_chunk(TextDelta(delta="x")), bytes)
    assert_type(chunk_to_dict(Done()), dict[str, JSONValue])
    assert_type(CHUNK_TYPES["done"], type[Chunk])


def check_chunk_fields() -> None:
    structured = StructuredData(stream_id="s", kind="set", path="a", value=1)
    assert_type(structured.kind, StructuredKind)
    assert_type(structured.path, str | None)
    assert_type(structured.items, list[JSONValue] | None)
    assert_type(structured.delta, str | None)
    interrupt = Interrupt(request_id="r", resume_token="t", input=InterruptInput(kind="choice"))
    assert_type(interrupt.input.options, list[str] | None)
    assert_type(Usage(input_tokens=1, output_tokens=2).input_tokens, int)
    assert_type(Progress(value=0.5).total, int | float | None)
    assert_type(ErrorChunk(message="m", code="c", retryable=True).retryable, bool)
    assert_type(ToolCallResult(tool_call_id="c", tool="t", content=1).is_error, bool)


def describe(chunk: Chunk) -> str:
    # The chunk union is closed: a match over every type is exhaustive (assert_never checks).
    match chunk:
        case Start():
            return "start"
        case TextDelta() | ReasoningDelta():
            return chunk.delta
        case StructuredData():
            return chunk.stream_id
        case ToolCallStart() | ToolCallDelta() | ToolCallEnd() | ToolCallResult():
            return chunk.tool_call_id
        case Interrupt():
            return chunk.request_id
        case Progress():
            return str(chunk.value)
        case Usage():
            return str(chunk.input_tokens + chunk.output_tokens)
        case ErrorChunk():
            return chunk.message
        case Done():
            return "done"
        case _:
            assert_never(chunk)
