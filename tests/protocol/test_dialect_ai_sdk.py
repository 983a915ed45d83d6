"""The AI SDK dialect (UI message stream v1): encoder, decoder, and the AI SDK's own parser."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from streamwire.protocol.dialects import get_dialect
from streamwire.protocol.dialects.ai_sdk import DIALECT, HEADERS, AISDKDecoder, AISDKEncoder
from streamwire.protocol.errors import (
    InvalidArgumentError,
    MalformedStreamError,
    StructuredStreamError,
)
from streamwire.protocol.sse import ServerSentEvent, encode
from streamwire.protocol.structured import StructuredAccumulator

JS_DIR = Path(__file__).resolve().parents[1] / "js"
PARSE_SCRIPT = JS_DIR / "aisdk_parse.mjs"
NODE_TIMEOUT_SECONDS = 30

# Keys each part may carry: the keys AI SDK 5.0's strict schemas accept for that type (and 6 and
# 7 accept them too). A part with any other key would be rejected by older minors.
ALLOWED_KEYS: dict[str, set[str]] = {
    "start": {"type", "messageId"},
    "start-step": {"type"},
    "finish-step": {"type"},
    "finish": {"type"},
    "text-start": {"type", "id"},
    "text-delta": {"type", "id", "delta"},
    "text-end": {"type", "id"},
    "reasoning-start": {"type", "id"},
    "reasoning-delta": {"type", "id", "delta"},
    "reasoning-end": {"type", "id"},
    "tool-input-start": {"type", "toolCallId", "toolName"},
    "tool-input-delta": {"type", "toolCallId", "inputTextDelta"},
    "tool-input-available": {"type", "toolCallId", "toolName", "input"},
    "tool-output-available": {"type", "toolCallId", "output"},
    "tool-output-error": {"type", "toolCallId", "errorText"},
    "error": {"type", "errorText"},
}
DATA_KEYS = {"type", "id", "data", "transient"}


def encode_all(chunks: Sequence[Chunk], encoder: AISDKEncoder | None = None) -> list[str]:
    """The data of every event the encoder writes for ``chunks``, checking the allowed keys."""
    enc = encoder or AISDKEncoder()
    datas: list[str] = []
    for chunk in chunks:
        for event in enc.encode(chunk):
            assert event.id is None
            assert event.event is None
            datas.append(event.data)
    for data in datas:
        if data == "[DONE]":
            continue
        part = json.loads(data)
        allowed = DATA_KEYS if part["type"].startswith("data-") else ALLOWED_KEYS[part["type"]]
        assert set(part) <= allowed, part
    return datas


def parts(datas: Sequence[str]) -> list[Any]:
    return [json.loads(d) for d in datas if d != "[DONE]"]


def types(datas: Sequence[str]) -> list[str]:
    return [json.loads(d)["type"] if d != "[DONE]" else d for d in datas]


def decode_all(datas: Sequence[str], decoder: AISDKDecoder | None = None) -> list[Chunk]:
    dec = decoder or AISDKDecoder()
    return [chunk for data in datas for chunk in dec.decode(ServerSentEvent(data=data))]


def body(datas: Sequence[str]) -> bytes:
    return b"".join(encode(ServerSentEvent(data=d)) for d in datas)


ALL_KINDS: list[Chunk] = [
    Start(message_id="msg-1", session_id="s"),
    ReasoningDelta(delta="Thinking "),
    ReasoningDelta(delta="hard."),
    TextDelta(delta="Here is "),
    TextDelta(delta="a draft."),
    StructuredData(stream_id="draft", kind="set", path="title", value="Plan", data_type="draft"),
    StructuredData(stream_id="draft", kind="text-delta", path="body", delta="Hel"),
    StructuredData(stream_id="draft", kind="text-delta", path="body", delta="lo"),
    StructuredData(stream_id="draft", kind="append", path="bullets", items=["one"]),
    StructuredData(stream_id="draft", kind="append", path="bullets", items=["two"]),
    StructuredData(
        stream_id="draft",
        kind="final",
        data={"title": "Plan", "body": "Hello", "bullets": ["one", "two"]},
    ),
    ToolCallStart(tool_call_id="call-1", tool="weather"),
    ToolCallDelta(tool_call_id="call-1", input_delta='{"city": '),
    ToolCallDelta(tool_call_id="call-1", input_delta='"Oslo"}'),
    ToolCallEnd(tool_call_id="call-1", input={"city": "Oslo"}),
    ToolCallResult(tool_call_id="call-1", tool="weather", content={"celsius": 3}),
    ToolCallStart(tool_call_id="call-2", tool="search"),
    ToolCallEnd(tool_call_id="call-2", input={"q": "x"}),
    ToolCallResult(tool_call_id="call-2", tool="search", content="no results", is_error=True),
    Progress(value=1, total=3, message="step 1"),
    Progress(value=3, total=3, message="done"),
    Interrupt(
        request_id="ask-1",
        resume_token="tok",
        input=InterruptInput(kind="choice", question="Which?", options=["a", "b"]),
    ),
    TextDelta(delta=" The end."),
    Usage(input_tokens=12, output_tokens=34),
    Done(finish_reason="stop"),
]

# --- encoder ----------------------------------------------------------------------------------


def test_dialect_is_registered_with_its_header() -> None:
    dialect = get_dialect("ai-sdk")
    assert dialect is DIALECT
    assert dialect.headers == {"x-vercel-ai-ui-message-stream": "v1"} == HEADERS
    assert isinstance(dialect.new_encoder(), AISDKEncoder)
    assert isinstance(dialect.new_decoder(), AISDKDecoder)


def test_text_stream_opens_and_closes_its_part_and_always_finishes() -> None:
    datas = encode_all([Start(message_id="m"), TextDelta(delta="Hi"), TextDelta(delta="!"), Done()])
    assert parts(datas) == [
        {"type": "start", "messageId": "m"},
        {"type": "start-step"},
        {"type": "text-start", "id": "text-0"},
        {"type": "text-delta", "id": "text-0", "delta": "Hi"},
        {"type": "text-delta", "id": "text-0", "delta": "!"},
        {"type": "text-end", "id": "text-0"},
        {"type": "finish-step"},
        {"type": "finish"},
    ]
    assert datas[-1] == "[DONE]"


def test_start_is_sent_before_first_content_and_done_alone_is_a_full_stream() -> None:
    assert types(encode_all([Done()])) == ["start", "start-step", "finish-step", "finish", "[DONE]"]
    assert types(encode_all([TextDelta(delta="x")]))[:3] == ["start", "start-step", "text-start"]


def test_a_second_start_is_ignored() -> None:
    assert types(encode_all([Start(), Start(message_id="x")])) == ["start", "start-step"]


def test_switching_between_reasoning_text_and_ids_closes_the_open_part() -> None:
    datas = encode_all(
        [
            ReasoningDelta(delta="r"),
            TextDelta(delta="a", id="p1"),
            TextDelta(delta="b", id="p2"),
            TextDelta(delta="c"),
            ReasoningDelta(delta="s"),
        ]
    )
    assert parts(datas)[2:] == [
        {"type": "reasoning-start", "id": "reasoning-0"},
        {"type": "reasoning-delta", "id": "reasoning-0", "delta": "r"},
        {"type": "reasoning-end", "id": "reasoning-0"},
        {"type": "text-start", "id": "p1"},
        {"type": "text-delta", "id": "p1", "delta": "a"},
        {"type": "text-end", "id": "p1"},
        {"type": "text-start", "id": "p2"},
        {"type": "text-delta", "id": "p2", "delta": "b"},
        # no id: continues the open part
        {"type": "text-delta", "id": "p2", "delta": "c"},
        {"type": "text-end", "id": "p2"},
        {"type": "reasoning-start", "id": "reasoning-1"},
        {"type": "reasoning-delta", "id": "reasoning-1", "delta": "s"},
    ]


def test_empty_delta_opens_the_part_but_sends_no_delta() -> None:
    assert types(encode_all([TextDelta(delta="")]))[2:] == ["text-start"]


def test_tool_call_parts_close_open_text() -> None:
    datas = encode_all(ALL_KINDS[11:19])
    assert [p for p in parts(datas) if p["type"].startswith("tool")] == [
        {"type": "tool-input-start", "toolCallId": "call-1", "toolName": "weather"},
        {"type": "tool-input-delta", "toolCallId": "call-1", "inputTextDelta": '{"city": '},
        {"type": "tool-input-delta", "toolCallId": "call-1", "inputTextDelta": '"Oslo"}'},
        {
            "type": "tool-input-available",
            "toolCallId": "call-1",
            "toolName": "weather",
            "input": {"city": "Oslo"},
        },
        {"type": "tool-output-available", "toolCallId": "call-1", "output": {"celsius": 3}},
        {"type": "tool-input-start", "toolCallId": "call-2", "toolName": "search"},
        {
            "type": "tool-input-available",
            "toolCallId": "call-2",
            "toolName": "search",
            "input": {"q": "x"},
        },
        {"type": "tool-output-error", "toolCallId": "call-2", "errorText": "no results"},
    ]
    text_then_tool = types(
        encode_all([TextDelta(delta="a"), ToolCallStart(tool_call_id="c", tool="t")])
    )
    assert text_then_tool[-2:] == ["text-end", "tool-input-start"]


def test_tool_result_for_unseen_call_first_makes_the_call_known() -> None:
    datas = encode_all(
        [
            ToolCallResult(tool_call_id="c", tool="t", content={"x": 1}, is_error=True),
            ToolCallStart(tool_call_id="d", tool="u"),
            ToolCallDelta(tool_call_id="d", input_delta='{"a": 1}'),
            ToolCallResult(tool_call_id="d", tool="u", content=2),
            ToolCallStart(tool_call_id="e", tool="v"),
            ToolCallDelta(tool_call_id="e", input_delta="{broken"),
            ToolCallResult(tool_call_id="e", tool="v", content=3),
        ]
    )
    assert parts(datas)[2:] == [
        {"type": "tool-input-available", "toolCallId": "c", "toolName": "t", "input": None},
        {"type": "tool-output-error", "toolCallId": "c", "errorText": '{"x":1}'},
        {"type": "tool-input-start", "toolCallId": "d", "toolName": "u"},
        {"type": "tool-input-delta", "toolCallId": "d", "inputTextDelta": '{"a": 1}'},
        {"type": "tool-input-available", "toolCallId": "d", "toolName": "u", "input": {"a": 1}},
        {"type": "tool-output-available", "toolCallId": "d", "output": 2},
        {"type": "tool-input-start", "toolCallId": "e", "toolName": "v"},
        {"type": "tool-input-delta", "toolCallId": "e", "inputTextDelta": "{broken"},
        {"type": "tool-input-available", "toolCallId": "e", "toolName": "v", "input": None},
        {"type": "tool-output-available", "toolCallId": "e", "output": 3},
    ]


@pytest.mark.parametrize(
    "chunk",
    [
        ToolCallDelta(tool_call_id="nope", input_delta="{"),
        ToolCallEnd(tool_call_id="nope", input=1),
    ],
    ids=["delta", "end"],
)
def test_tool_chunk_for_unstarted_call_names_the_field(chunk: Chunk) -> None:
    with pytest.raises(InvalidArgumentError, match="never started") as info:
        AISDKEncoder().encode(chunk)
    assert info.value.field == "toolCallId"


def test_structured_data_is_the_reduced_object_under_a_stable_id() -> None:
    datas = encode_all(ALL_KINDS[5:11])
    structured = [p for p in parts(datas) if p["type"] == "data-structured"]
    assert {p["id"] for p in structured} == {"draft"}
    assert [p["data"] for p in structured] == [
        {"value": {"title": "Plan"}, "status": "streaming", "dataType": "draft"},
        {"value": {"title": "Plan", "body": "Hel"}, "status": "streaming", "dataType": "draft"},
        {"value": {"title": "Plan", "body": "Hello"}, "status": "streaming", "dataType": "draft"},
        {
            "value": {"title": "Plan", "body": "Hello", "bullets": ["one"]},
            "status": "streaming",
            "dataType": "draft",
        },
        {
            "value": {"title": "Plan", "body": "Hello", "bullets": ["one", "two"]},
            "status": "streaming",
            "dataType": "draft",
        },
        {
            "value": {"title": "Plan", "body": "Hello", "bullets": ["one", "two"]},
            "status": "done",
            "dataType": "draft",
        },
    ]


def test_structured_chunk_the_reducer_rejects_raises_and_keeps_the_encoder_usable() -> None:
    enc = AISDKEncoder()
    enc.encode(StructuredData(stream_id="s", kind="set", path="a", value="text"))
    with pytest.raises(StructuredStreamError):
        enc.encode(StructuredData(stream_id="s", kind="append", path="a", items=[1]))
    (event,) = enc.encode(StructuredData(stream_id="s", kind="set", path="b", value=2))
    assert json.loads(event.data)["data"]["value"] == {"a": "text", "b": 2}


def test_progress_interrupt_usage_and_error_parts() -> None:
    datas = encode_all(
        [
            Progress(value=1, total=2, message="m"),
            Progress(value=2),
            Interrupt(request_id="r", resume_token="t", input=InterruptInput(kind="text")),
            Usage(input_tokens=1, output_tokens=2),
            TextDelta(delta="x"),
            ErrorChunk(message="it broke", code="upstream_error", retryable=True),
            Done(),
        ]
    )
    assert parts(datas)[2:] == [
        {
            "type": "data-progress",
            "id": "progress",
            "data": {"value": 1, "total": 2, "message": "m"},
        },
        {"type": "data-progress", "id": "progress", "data": {"value": 2}},
        {
            "type": "data-interrupt",
            "id": "r",
            "data": {"requestId": "r", "resumeToken": "t", "input": {"kind": "text"}},
        },
        {"type": "data-usage", "data": {"inputTokens": 1, "outputTokens": 2}, "transient": True},
        {"type": "text-start", "id": "text-0"},
        {"type": "text-delta", "id": "text-0", "delta": "x"},
        {"type": "text-end", "id": "text-0"},
        {"type": "error", "errorText": "it broke"},
        {"type": "finish-step"},
        {"type": "finish"},
    ]


def test_nothing_is_sent_after_done() -> None:
    enc = AISDKEncoder()
    encode_all([Done()], enc)
    assert enc.encode(TextDelta(delta="late")) == []
    assert enc.encode(Done()) == []


# --- decoder ----------------------------------------------------------------------------------


def test_decoding_the_encoding_gives_equivalent_chunks() -> None:
    decoded = decode_all(encode_all(ALL_KINDS))
    # Text ids are made up by the encoder; the rest comes back as it went, except what the
    # wire cannot carry (sessionId, error code, finish reason) and structured deltas, which
    # come back as sets that rebuild the same object.
    texts = [c for c in decoded if isinstance(c, TextDelta)]
    assert "".join(c.delta for c in texts) == "Here is a draft. The end."
    assert [c.id for c in texts] == ["text-1", "text-1", "text-2"]
    assert [c for c in decoded if isinstance(c, ReasoningDelta)] == [
        ReasoningDelta(delta="Thinking ", id="reasoning-0"),
        ReasoningDelta(delta="hard.", id="reasoning-0"),
    ]
    assert decoded[0] == Start(message_id="msg-1")
    tools = [
        c
        for c in decoded
        if isinstance(c, ToolCallStart | ToolCallDelta | ToolCallEnd | ToolCallResult)
    ]
    assert tools == [c for c in ALL_KINDS if type(c) in {type(t) for t in tools}]
    assert [c for c in decoded if isinstance(c, Progress | Interrupt | Usage)] == [
        c for c in ALL_KINDS if isinstance(c, Progress | Interrupt | Usage)
    ]
    acc = StructuredAccumulator()
    for chunk in decoded:
        if isinstance(chunk, StructuredData):
            state = acc.apply(chunk)
            assert state.data_type == "draft"
    final = acc.get("draft")
    assert final is not None
    assert final.status == "done"
    assert final.data == {"title": "Plan", "body": "Hello", "bullets": ["one", "two"]}
    assert decoded[-1] == Done()


def test_structured_snapshots_become_sets_of_changed_top_level_keys() -> None:
    def snapshot(value: Any, status: str = "streaming") -> str:
        return json.dumps(
            {"type": "data-structured", "id": "s", "data": {"value": value, "status": status}}
        )

    decoded = decode_all(
        [
            snapshot({"a": 1}),
            snapshot({"a": 1, "b": [1]}),
            snapshot({"a": 2, "b": [1]}),
            snapshot([1]),
            snapshot([1, 2]),
            snapshot({"z": 0}, "done"),
        ]
    )
    assert decoded == [
        StructuredData(stream_id="s", kind="set", path="a", value=1),
        StructuredData(stream_id="s", kind="set", path="b", value=[1]),
        StructuredData(stream_id="s", kind="set", path="a", value=2),
        StructuredData(stream_id="s", kind="set", path="0", value=1),
        StructuredData(stream_id="s", kind="set", path="1", value=2),
        StructuredData(stream_id="s", kind="final", data={"z": 0}),
    ]


def test_finish_reason_from_newer_servers_is_kept_until_done() -> None:
    dec = AISDKDecoder()
    assert dec.decode(ServerSentEvent(data='{"type":"finish","finishReason":"length"}')) == []
    finished_before = dec.finished
    assert dec.decode(ServerSentEvent(data=" [DONE] ")) == [Done(finish_reason="length")]
    assert (finished_before, dec.finished) == (False, True)
    assert dec.decode(ServerSentEvent(data="anything")) == []


def test_error_part_becomes_an_error_chunk() -> None:
    assert decode_all(['{"type":"error","errorText":"bad"}']) == [
        ErrorChunk(message="bad", code="stream_error", retryable=False)
    ]


def test_parts_without_a_chunk_equivalent_are_skipped() -> None:
    datas = [
        '{"type":"start-step"}',
        '{"type":"source-url","sourceId":"s","url":"https://example.org"}',
        '{"type":"message-metadata","messageMetadata":{}}',
        '{"type":"data-weather","data":{"t":1}}',
        '{"type":"tool-output-denied","toolCallId":"x"}',
        "",
    ]
    assert decode_all(datas) == []


def test_tool_input_error_and_available_without_start() -> None:
    datas = [
        '{"type":"tool-input-available","toolCallId":"a","toolName":"f","input":{"x":1}}',
        '{"type":"tool-input-error","toolCallId":"b","toolName":"g","input":"?","errorText":"no"}',
        '{"type":"tool-output-error","toolCallId":"a","errorText":"failed"}',
    ]
    assert decode_all(datas) == [
        ToolCallStart(tool_call_id="a", tool="f"),
        ToolCallEnd(tool_call_id="a", input={"x": 1}),
        ToolCallStart(tool_call_id="b", tool="g"),
        ToolCallEnd(tool_call_id="b", input="?"),
        ToolCallResult(tool_call_id="b", tool="g", content="no", is_error=True),
        ToolCallResult(tool_call_id="a", tool="f", content="failed", is_error=True),
    ]


@pytest.mark.parametrize(
    ("datas", "reason"),
    [
        (["nope"], "neither JSON nor [DONE]"),
        (["[1]"], "must be a JSON object, found an array"),
        (['{"type": 3}'], "'type' must be a string, found a number"),
        (['{"type": "sparkle"}'], "unknown part type 'sparkle'"),
        (['{"type": "text-delta", "id": "t", "delta": "x"}'], "used without its text-start"),
        (['{"type": "reasoning-end", "id": "r"}'], "used without its reasoning-start"),
        (['{"type": "text-start"}'], "'id' of a 'text-start' part must be a string, found nothing"),
        (['{"type": "start", "messageId": 1}'], "'messageId' of a 'start' part must be a string"),
        (
            ['{"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": "{"}'],
            "names tool call 'c' before its start",
        ),
        (
            ['{"type": "tool-output-available", "toolCallId": "c", "output": 1}'],
            "names tool call 'c' before its start",
        ),
        (
            [
                '{"type": "tool-input-start", "toolCallId": "c", "toolName": "t"}',
                '{"type": "tool-output-available", "toolCallId": "c"}',
            ],
            "'output' of a 'tool-output-available' part is missing",
        ),
        (['{"type": "data-progress", "data": []}'], "'data' of a 'data-progress' part must be"),
        (['{"type": "data-progress", "data": {}}'], "missing required field 'value'"),
        (['{"type": "data-usage", "data": {"inputTokens": "1"}}'], "'data' of a 'data-usage'"),
        (['{"type": "data-structured", "id": "s", "data": {}}'], "'data.value' of a"),
        (
            ['{"type": "data-structured", "id": "s", "data": {"value": 1}}'],
            "'data.status' of a 'data-structured' part must be a string",
        ),
        (
            ['{"type": "data-structured", "id": "s", "data": {"value": {}, "status": "x"}}'],
            "'data.status' of a 'data-structured' part is 'x'",
        ),
        (
            ['{"type": "data-structured", "id": "s", "data": {"value": 1, "status": "streaming"}}'],
            "must be an object or an array, found a number",
        ),
        (
            [
                '{"type": "data-structured", "id": "s", "data": {"value": {"a.b": 1}, '
                '"status": "streaming"}}'
            ],
            "key 'a.b' of a 'data-structured' value cannot be addressed",
        ),
        (
            [
                '{"type": "data-structured", "id": "s", "data": {"value": {"7": 1}, '
                '"status": "streaming"}}'
            ],
            "key '7' of a 'data-structured' value cannot be addressed",
        ),
        (
            [
                '{"type": "data-structured", "id": "s", "data": {"value": {}, '
                '"status": "done", "dataType": 5}}'
            ],
            "'data.dataType' of a 'data-structured' part must be a string",
        ),
        (['{"type": "finish", "finishReason": 5}'], "'finishReason' of a 'finish' part"),
    ],
)
def test_malformed_parts_name_the_field_and_the_event(datas: list[str], reason: str) -> None:
    dec = AISDKDecoder()
    for data in datas[:-1]:
        dec.decode(ServerSentEvent(data=data))
    with pytest.raises(MalformedStreamError) as info:
        dec.decode(ServerSentEvent(data=datas[-1]))
    assert reason in info.value.reason
    assert info.value.index == len(datas) - 1
    with pytest.raises(MalformedStreamError):  # failed for good
        dec.decode(ServerSentEvent(data="[DONE]"))


@given(st.text())
def test_any_data_gives_chunks_or_malformed_stream_error(data: str) -> None:
    with contextlib.suppress(MalformedStreamError):
        AISDKDecoder().decode(ServerSentEvent(data=data))


_text_chunks = st.lists(
    st.one_of(
        st.builds(TextDelta, delta=st.text(min_size=1)),
        st.builds(ReasoningDelta, delta=st.text(min_size=1)),
    ),
    max_size=10,
)


@given(_text_chunks)
def test_any_text_and_reasoning_round_trip(chunks: list[TextDelta | ReasoningDelta]) -> None:
    decoded = decode_all(encode_all([*chunks, Done()]))
    assert [(type(c), c.delta) for c in decoded if isinstance(c, TextDelta | ReasoningDelta)] == [
        (type(c), c.delta) for c in chunks
    ]
    assert decoded[-1] == Done()


# --- the AI SDK's own parser (Node) ------------------------------------------------------------

node = pytest.mark.node


def run_ai_sdk(stream: bytes) -> dict[str, Any]:
    """Parse ``stream`` with the AI SDK (parseJsonEventStream + readUIMessageStream)."""
    node_bin = shutil.which("node")
    if node_bin is None or not (JS_DIR / "node_modules" / "ai").is_dir():
        pytest.skip("needs Node.js and tests/js/node_modules (npm ci in tests/js)")
    proc = subprocess.run(
        [node_bin, str(PARSE_SCRIPT)],
        input=stream,
        capture_output=True,
        cwd=JS_DIR,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    assert proc.stdout, proc.stderr.decode()
    result: dict[str, Any] = json.loads(proc.stdout)
    assert (proc.returncode == 0) == result["ok"]
    return result


@node
def test_ai_sdk_accepts_every_chunk_type_and_rebuilds_the_message() -> None:
    result = run_ai_sdk(body(encode_all(ALL_KINDS)))
    assert result["ok"], result
    message = result["message"]
    assert message["id"] == "msg-1"
    assert message["role"] == "assistant"
    by_type: dict[str, list[Any]] = {}
    for part in message["parts"]:
        by_type.setdefault(part["type"], []).append(part)
    assert [p["text"] for p in by_type["text"]] == ["Here is a draft.", " The end."]
    assert [p["text"] for p in by_type["reasoning"]] == ["Thinking hard."]
    (weather,) = by_type["tool-weather"]
    assert weather["state"] == "output-available"
    assert weather["input"] == {"city": "Oslo"}
    assert weather["output"] == {"celsius": 3}
    (search,) = by_type["tool-search"]
    assert search["state"] == "output-error"
    assert search["errorText"] == "no results"
    (draft,) = by_type["data-structured"]  # replaced in place: one part per stream id
    assert draft["id"] == "draft"
    assert draft["data"] == {
        "value": {"title": "Plan", "body": "Hello", "bullets": ["one", "two"]},
        "status": "done",
        "dataType": "draft",
    }
    (progress,) = by_type["data-progress"]
    assert progress["data"] == {"value": 3, "total": 3, "message": "done"}
    (interrupt,) = by_type["data-interrupt"]
    assert interrupt["data"]["input"]["options"] == ["a", "b"]
    assert "data-usage" not in by_type  # transient
    assert by_type["step-start"] == [{"type": "step-start"}]


@node
def test_ai_sdk_reports_the_error_part() -> None:
    stream = encode_all(
        [
            TextDelta(delta="partial"),
            ErrorChunk(message="model overloaded", code="upstream_error", retryable=True),
            Done(),
        ]
    )
    result = run_ai_sdk(body(stream))
    assert not result["ok"]
    assert result["error"] == "model overloaded"
    assert result["message"]["parts"][-1]["text"] == "partial"


@node
def test_ai_sdk_accepts_a_stream_with_only_done_and_heartbeats() -> None:
    stream = b": ping\n\n" + body(encode_all([Done()])) + b": ping\n\n"
    result = run_ai_sdk(stream)
    assert result["ok"], result
    # The SDK reports a message only once a part changes it; an empty answer may report none.
    assert result["message"] is None or result["message"]["parts"] == [{"type": "step-start"}]


@node
def test_ai_sdk_rejects_a_delta_without_its_start() -> None:
    # The check that makes the encoder's ordering matter: the SDK's reader enforces it.
    result = run_ai_sdk(body(['{"type":"start"}', '{"type":"text-delta","id":"x","delta":"a"}']))
    assert not result["ok"]
    assert 'missing text part with ID "x"' in result["error"]


@node
def test_ai_sdk_rejects_an_unknown_part_type() -> None:
    result = run_ai_sdk(body(['{"type":"start"}', '{"type":"sparkle"}']))
    assert not result["ok"]
    assert "Type validation failed" in result["error"]
