"""The chunk vocabulary: round trips, the wire form, and strict decoding errors."""

from __future__ import annotations

import doctest
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import streamwire.protocol.chunks as chunks_module
from streamwire.chunks import (
    CHUNK_TYPES,
    Chunk,
    ChunkDecodeError,
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
    chunk_from_dict,
    chunk_to_dict,
    decode_chunk,
    encode_chunk,
)
from streamwire.errors import InvalidArgumentError, PeerProtocolError

# One example of every chunk type (and of every structured-data kind), with its wire form.
EXAMPLES: list[tuple[Chunk, dict[str, Any]]] = [
    (Start(), {"type": "start"}),
    (
        Start(message_id="m1", session_id="s1"),
        {"type": "start", "messageId": "m1", "sessionId": "s1"},
    ),
    (TextDelta(delta="Hel"), {"type": "text-delta", "delta": "Hel"}),
    (TextDelta(delta="", id="t1"), {"type": "text-delta", "delta": "", "id": "t1"}),
    (ReasoningDelta(delta="hmm"), {"type": "reasoning-delta", "delta": "hmm"}),
    (
        StructuredData(stream_id="s", kind="set", path="a.0", value=None),
        {"type": "structured-data", "streamId": "s", "kind": "set", "path": "a.0", "value": None},
    ),
    (
        StructuredData(stream_id="s", kind="append", path="items", items=[1, {"x": "y"}]),
        {
            "type": "structured-data",
            "streamId": "s",
            "kind": "append",
            "path": "items",
            "items": [1, {"x": "y"}],
        },
    ),
    (
        StructuredData(stream_id="s", kind="text-delta", path="body", delta="wo", data_type="Doc"),
        {
            "type": "structured-data",
            "streamId": "s",
            "kind": "text-delta",
            "path": "body",
            "delta": "wo",
            "dataType": "Doc",
        },
    ),
    (
        StructuredData(stream_id="s", kind="final", data={"title": "T", "n": [1.5, True]}),
        {
            "type": "structured-data",
            "streamId": "s",
            "kind": "final",
            "data": {"title": "T", "n": [1.5, True]},
        },
    ),
    (
        ToolCallStart(tool_call_id="c1", tool="search"),
        {"type": "tool-call-start", "toolCallId": "c1", "tool": "search"},
    ),
    (
        ToolCallDelta(tool_call_id="c1", input_delta='{"q":'),
        {"type": "tool-call-delta", "toolCallId": "c1", "inputDelta": '{"q":'},
    ),
    (
        ToolCallEnd(tool_call_id="c1", input={"q": "cats"}),
        {"type": "tool-call-end", "toolCallId": "c1", "input": {"q": "cats"}},
    ),
    (
        ToolCallResult(tool_call_id="c1", tool="search", content=["r1"]),
        {"type": "tool-call-result", "toolCallId": "c1", "tool": "search", "content": ["r1"]},
    ),
    (
        ToolCallResult(tool_call_id="c1", tool="search", content="boom", is_error=True),
        {
            "type": "tool-call-result",
            "toolCallId": "c1",
            "tool": "search",
            "content": "boom",
            "isError": True,
        },
    ),
    (
        Interrupt(request_id="r1", resume_token="tok", input=InterruptInput(kind="text")),
        {"type": "interrupt", "requestId": "r1", "resumeToken": "tok", "input": {"kind": "text"}},
    ),
    (
        Interrupt(
            request_id="r1",
            resume_token="tok",
            input=InterruptInput(kind="multi-choice", question="Which?", options=["a", "b"]),
        ),
        {
            "type": "interrupt",
            "requestId": "r1",
            "resumeToken": "tok",
            "input": {"kind": "multi-choice", "question": "Which?", "options": ["a", "b"]},
        },
    ),
    (Progress(value=3), {"type": "progress", "value": 3}),
    (
        Progress(value=0.5, total=1.0, message="half"),
        {"type": "progress", "value": 0.5, "total": 1.0, "message": "half"},
    ),
    (
        Usage(input_tokens=10, output_tokens=20),
        {"type": "usage", "inputTokens": 10, "outputTokens": 20},
    ),
    (
        ErrorChunk(message="The model is busy.", code="upstream_error", retryable=True),
        {
            "type": "error",
            "message": "The model is busy.",
            "code": "upstream_error",
            "retryable": True,
        },
    ),
    (Done(), {"type": "done"}),
    (Done(finish_reason="stop"), {"type": "done", "finishReason": "stop"}),
]
IDS = [f"{wire['type']}-{i}" for i, (_, wire) in enumerate(EXAMPLES)]


def test_every_chunk_type_has_an_example() -> None:
    assert {wire["type"] for _, wire in EXAMPLES} == set(CHUNK_TYPES)
    kinds = {wire["kind"] for _, wire in EXAMPLES if wire["type"] == "structured-data"}
    assert kinds == {"set", "append", "text-delta", "final"}


def test_chunk_types_table_maps_type_to_class() -> None:
    for name, cls in CHUNK_TYPES.items():
        assert cls.type_name == name


@pytest.mark.parametrize(("chunk", "wire"), EXAMPLES, ids=IDS)
def test_encode_gives_compact_camel_case_json(chunk: Chunk, wire: dict[str, Any]) -> None:
    encoded = encode_chunk(chunk)
    assert json.loads(encoded) == wire
    assert b" " not in encoded.replace(b'" "', b"").replace(b"The model is busy.", b"")
    assert b"\n" not in encoded
    assert next(iter(json.loads(encoded))) == "type"


@pytest.mark.parametrize(("chunk", "wire"), EXAMPLES, ids=IDS)
def test_every_chunk_round_trips(chunk: Chunk, wire: dict[str, Any]) -> None:
    assert decode_chunk(encode_chunk(chunk)) == chunk
    assert decode_chunk(encode_chunk(chunk).decode()) == chunk
    assert type(decode_chunk(json.dumps(wire))) is CHUNK_TYPES[wire["type"]]


@pytest.mark.parametrize(("chunk", "wire"), EXAMPLES, ids=IDS)
def test_chunk_to_dict_and_from_dict(chunk: Chunk, wire: dict[str, Any]) -> None:
    assert chunk_to_dict(chunk) == wire
    assert chunk_from_dict(wire) == chunk


def test_snake_case_keys_are_not_the_wire_form() -> None:
    # camelCase lives only on the wire: a snake_case key is an unknown key, ignored.
    with pytest.raises(ChunkDecodeError) as info:
        decode_chunk('{"type":"usage","input_tokens":1,"output_tokens":2}')
    assert info.value.field == "inputTokens"


def test_control_characters_stay_on_one_line() -> None:
    encoded = encode_chunk(TextDelta(delta="a\r\nb\u2028c\0"))
    assert b"\n" not in encoded
    assert b"\r" not in encoded
    assert decode_chunk(encoded) == TextDelta(delta="a\r\nb\u2028c\0")


def test_unknown_keys_are_ignored() -> None:
    chunk = decode_chunk('{"type":"text-delta","delta":"x","future":{"a":1},"providerId":7}')
    assert chunk == TextDelta(delta="x")
    assert chunk_from_dict({"type": "done", "extra": True}) == Done()
    assert decode_chunk(
        '{"type":"interrupt","requestId":"r","resumeToken":"t","input":{"kind":"text","x":1}}'
    ) == Interrupt(request_id="r", resume_token="t", input=InterruptInput(kind="text"))


def test_chunks_are_frozen() -> None:
    chunk = TextDelta(delta="x")
    with pytest.raises(AttributeError):
        chunk.delta = "y"  # type: ignore[misc]  # the point of the test


# --- strict decoding ------------------------------------------------------------------------

BAD: list[tuple[str, str, str, str]] = [
    # (test id, JSON, field, words in the reason)
    ("unknown-type", '{"type":"nope"}', "type", "unknown chunk type"),
    ("missing-type", '{"delta":"x"}', "type", "missing required field 'type'"),
    ("type-not-a-string", '{"type":5}', "type", "expected `str`"),
    ("missing-field", '{"type":"text-delta"}', "delta", "missing required field 'delta'"),
    ("mistyped-field", '{"type":"text-delta","delta":5}', "delta", "expected `str`, got `int`"),
    ("mistyped-optional", '{"type":"start","messageId":1}', "messageId", "expected `str | null`"),
    (
        "bool-is-not-int",
        '{"type":"usage","inputTokens":true,"outputTokens":1}',
        "inputTokens",
        "expected `int`",
    ),
    (
        "negative-tokens",
        '{"type":"usage","inputTokens":-1,"outputTokens":1}',
        "inputTokens",
        ">= 0",
    ),
    ("missing-second-field", '{"type":"usage","inputTokens":1}', "outputTokens", "missing"),
    ("progress-value-string", '{"type":"progress","value":"1"}', "value", "expected `int | float`"),
    (
        "error-missing-retryable",
        '{"type":"error","message":"m","code":"c"}',
        "retryable",
        "missing",
    ),
    ("tool-call-missing-id", '{"type":"tool-call-start","tool":"t"}', "toolCallId", "missing"),
    (
        "tool-call-end-missing-input",
        '{"type":"tool-call-end","toolCallId":"c"}',
        "input",
        "missing",
    ),
    (
        "nested-input-kind",
        '{"type":"interrupt","requestId":"r","resumeToken":"t","input":{"kind":"maybe"}}',
        "input.kind",
        "invalid enum value 'maybe'",
    ),
    (
        "nested-input-kind-missing",
        '{"type":"interrupt","requestId":"r","resumeToken":"t","input":{"question":"q"}}',
        "input.kind",
        "missing required field 'kind'",
    ),
    (
        "nested-options-item",
        '{"type":"interrupt","requestId":"r","resumeToken":"t",'
        '"input":{"kind":"choice","options":["a",3]}}',
        "input.options.1",
        "expected `str`",
    ),
    (
        "input-not-an-object",
        '{"type":"interrupt","requestId":"r","resumeToken":"t","input":[]}',
        "input",
        "expected `object`",
    ),
    (
        "structured-kind-unknown",
        '{"type":"structured-data","streamId":"s","kind":"merge","path":"a"}',
        "kind",
        "invalid enum value 'merge'",
    ),
    (
        "structured-missing-stream-id",
        '{"type":"structured-data","kind":"final","data":1}',
        "streamId",
        "missing",
    ),
    (
        "structured-final-with-path",
        '{"type":"structured-data","streamId":"s","kind":"final","path":"a","data":1}',
        "path",
        "must be absent when kind is 'final'",
    ),
    (
        "structured-final-without-data",
        '{"type":"structured-data","streamId":"s","kind":"final"}',
        "data",
        "is required when kind is 'final'",
    ),
    (
        "structured-set-without-path",
        '{"type":"structured-data","streamId":"s","kind":"set","value":1}',
        "path",
        "is required when kind is 'set'",
    ),
    (
        "structured-set-without-value",
        '{"type":"structured-data","streamId":"s","kind":"set","path":"a"}',
        "value",
        "is required when kind is 'set'",
    ),
    (
        "structured-append-without-items",
        '{"type":"structured-data","streamId":"s","kind":"append","path":"a"}',
        "items",
        "is required when kind is 'append'",
    ),
    (
        "structured-append-items-not-list",
        '{"type":"structured-data","streamId":"s","kind":"append","path":"a","items":1}',
        "items",
        "expected `array | null`",
    ),
    (
        "structured-text-delta-without-delta",
        '{"type":"structured-data","streamId":"s","kind":"text-delta","path":"a"}',
        "delta",
        "is required when kind is 'text-delta'",
    ),
    (
        "structured-text-delta-not-string",
        '{"type":"structured-data","streamId":"s","kind":"text-delta","path":"a","delta":1}',
        "delta",
        "expected `str | null`",
    ),
    (
        "structured-set-with-items",
        '{"type":"structured-data","streamId":"s","kind":"set","path":"a","value":1,"items":[]}',
        "items",
        "must be absent when kind is 'set'",
    ),
    (
        "structured-final-with-value",
        '{"type":"structured-data","streamId":"s","kind":"final","data":{},"value":1}',
        "value",
        "must be absent when kind is 'final'",
    ),
    ("not-an-object", "[]", "", "expected `object`, got `array`"),
    ("not-json", "nope", "", "not valid JSON"),
    ("empty", "", "", "not valid JSON"),
    ("truncated", '{"type":"done"', "", "not valid JSON"),
]


@pytest.mark.parametrize(
    ("text", "field", "reason"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_chunk_raises_naming_the_field(text: str, field: str, reason: str) -> None:
    with pytest.raises(ChunkDecodeError) as info:
        decode_chunk(text)
    error = info.value
    assert isinstance(error, PeerProtocolError)
    assert error.field == field
    assert reason in error.reason
    assert error.data == text[:200]
    if field:
        assert f"at {field!r}" in str(error)


@pytest.mark.parametrize(
    "data",
    [b'{"type":"text-delta","delta":"\xff"}', b'{"type":"text-delta","delta":"\xe2\x82"}'],
    ids=["invalid-byte", "truncated-sequence"],
)
def test_invalid_utf8_bytes_raise_chunk_decode_error(data: bytes) -> None:
    with pytest.raises(ChunkDecodeError) as info:
        decode_chunk(data)
    assert info.value.reason.startswith("not valid UTF-8 (")
    assert info.value.field == ""
    assert "\ufffd" in info.value.data


def test_bad_bytes_chunk_shows_its_text() -> None:
    with pytest.raises(ChunkDecodeError) as info:
        decode_chunk(b'{"type":"nope"}')
    assert info.value.data == '{"type":"nope"}'
    assert info.value.field == "type"


def test_error_data_is_cut_to_200_characters() -> None:
    text = '{"type":"text-delta","delta":' + "1" * 500 + "}"
    with pytest.raises(ChunkDecodeError) as info:
        decode_chunk(text)
    assert len(info.value.data) == 200


def test_chunk_from_dict_errors_name_the_field() -> None:
    with pytest.raises(ChunkDecodeError) as info:
        chunk_from_dict({"type": "interrupt", "requestId": "r", "resumeToken": "t", "input": {}})
    assert info.value.field == "input.kind"
    assert "'requestId'" in info.value.data
    with pytest.raises(ChunkDecodeError) as info:
        chunk_from_dict({"type": "structured-data", "streamId": "s", "kind": "set", "path": "a"})
    assert info.value.field == "value"
    with pytest.raises(ChunkDecodeError) as info:
        chunk_from_dict({"type": "text-delta", "delta": 1})
    assert info.value.field == "delta"


# --- structured-data construction in Python --------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"kind": "final"}, "data", "is required when kind is 'final'"),
        ({"kind": "final", "data": 1, "path": "a"}, "path", "must be absent"),
        ({"kind": "set"}, "path", "is required when kind is 'set'"),
        ({"kind": "set", "path": "a"}, "value", "is required"),
        ({"kind": "append", "path": "a"}, "items", "is required"),
        ({"kind": "text-delta", "path": "a"}, "delta", "is required"),
        ({"kind": "text-delta", "path": "a", "delta": "x", "items": []}, "items", "must be absent"),
        ({"kind": "append", "path": "a", "items": [], "data": 1}, "data", "must be absent"),
        ({"kind": "set", "path": "a", "value": 1, "delta": "x"}, "delta", "must be absent"),
        ({"kind": "merge", "path": "a"}, "kind", "must be one of 'set', 'append'"),
    ],
)
def test_structured_data_construction_checks_the_kind_rules(
    fields: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        StructuredData(stream_id="s", **fields)
    assert info.value.field == field
    assert reason in info.value.reason


def test_structured_set_value_may_be_null_but_not_absent() -> None:
    chunk = decode_chunk(
        '{"type":"structured-data","streamId":"s","kind":"set","path":"a","value":null}'
    )
    assert isinstance(chunk, StructuredData)
    assert chunk.value is None
    assert StructuredData(stream_id="s", kind="set", path="a", value=None).value is None
    assert StructuredData(stream_id="s", kind="final", data=None).data is None
    assert StructuredData(stream_id="s", kind="set", path="a", value=1).data is msgspec.UNSET


def test_docstring_examples_run() -> None:
    result = doctest.testmod(chunks_module)
    assert result.attempted >= 3
    assert result.failed == 0


# --- property ----------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
_text = st.text(max_size=10)
_chunks = st.one_of(
    st.builds(Start, message_id=st.none() | _text, session_id=st.none() | _text),
    st.builds(TextDelta, delta=_text, id=st.none() | _text),
    st.builds(ReasoningDelta, delta=_text),
    st.builds(StructuredData, stream_id=_text, kind=st.just("set"), path=_text, value=_json),
    st.builds(
        StructuredData,
        stream_id=_text,
        kind=st.just("append"),
        path=_text,
        items=st.lists(_json, max_size=3),
    ),
    st.builds(
        StructuredData,
        stream_id=_text,
        kind=st.just("text-delta"),
        path=_text,
        delta=_text,
        data_type=st.none() | _text,
    ),
    st.builds(StructuredData, stream_id=_text, kind=st.just("final"), data=_json),
    st.builds(
        ToolCallResult, tool_call_id=_text, tool=_text, content=_json, is_error=st.booleans()
    ),
    st.builds(
        Progress, value=st.integers(0, 100) | st.floats(0, 1), total=st.none() | st.integers(0, 100)
    ),
    st.builds(Usage, input_tokens=st.integers(0, 10**9), output_tokens=st.integers(0, 10**9)),
    st.builds(ErrorChunk, message=_text, code=_text, retryable=st.booleans()),
    st.builds(Done, finish_reason=st.none() | _text),
)


@given(_chunks)
def test_any_chunk_round_trips_through_json_and_dict(chunk: Chunk) -> None:
    assert decode_chunk(encode_chunk(chunk)) == chunk
    assert chunk_from_dict(chunk_to_dict(chunk)) == chunk
