"""The OpenAI dialect: encoder, decoder, the ``chat.completion`` object, and the official SDK."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai import APIError, OpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

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
from streamwire.protocol.dialects.openai import (
    DIALECT,
    OpenAIDecodeError,
    OpenAIDecoder,
    OpenAIEncoder,
    chat_completion_object,
    from_openai_finish_reason,
    openai_dialect,
    to_openai_finish_reason,
)
from streamwire.protocol.errors import InvalidArgumentError, MalformedStreamError
from streamwire.protocol.sse import ServerSentEvent, SSEDecoder, encode
from tests.servers import LiveServer

# --- helpers ----------------------------------------------------------------------------------


def encode_all(chunks: Sequence[Chunk], encoder: OpenAIEncoder | None = None) -> list[str]:
    """The data of every event the encoder writes for ``chunks``."""
    enc = encoder or OpenAIEncoder(model="m", completion_id="chatcmpl-1", created=7)
    events = [event for chunk in chunks for event in enc.encode(chunk)]
    for event in events:
        # openai-python breaks on a heartbeat after an id: field; the dialect never sends one.
        assert event.id is None
        assert event.retry is None
        assert event.event is None
        assert event.comment is None
    return [event.data for event in events]


def objects(datas: Sequence[str]) -> list[Any]:
    return [json.loads(d) for d in datas if d != "[DONE]"]


def deltas(datas: Sequence[str]) -> list[Any]:
    return [obj["choices"][0]["delta"] for obj in objects(datas) if obj["choices"]]


def decode_all(datas: Sequence[str], decoder: OpenAIDecoder | None = None) -> list[Chunk]:
    dec = decoder or OpenAIDecoder()
    return [chunk for data in datas for chunk in dec.decode(ServerSentEvent(data=data))]


TOOL_STREAM: list[Chunk] = [
    Start(message_id="m1"),
    TextDelta(delta="Let me check."),
    ToolCallStart(tool_call_id="call_a", tool="weather"),
    ToolCallDelta(tool_call_id="call_a", input_delta='{"city":'),
    ToolCallDelta(tool_call_id="call_a", input_delta='"Oslo"}'),
    ToolCallEnd(tool_call_id="call_a", input={"city": "Oslo"}),
    ToolCallStart(tool_call_id="call_b", tool="time"),
    ToolCallEnd(tool_call_id="call_b", input={"tz": "CET"}),
    Usage(input_tokens=11, output_tokens=22),
    Done(finish_reason="tool-calls"),
]

# --- encoder ----------------------------------------------------------------------------------


def test_text_stream_is_role_chunk_content_chunks_final_chunk_then_done() -> None:
    datas = encode_all([Start(), TextDelta(delta="Hel"), TextDelta(delta="lo"), Done()])
    assert datas[-1] == "[DONE]"
    objs = objects(datas)
    for obj in objs:
        assert obj["id"] == "chatcmpl-1"
        assert obj["object"] == "chat.completion.chunk"
        assert obj["created"] == 7
        assert obj["model"] == "m"
    assert [o["choices"][0]["delta"] for o in objs] == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    assert [o["choices"][0]["finish_reason"] for o in objs] == [None, None, None, "stop"]


def test_role_chunk_is_sent_before_first_content_without_start() -> None:
    datas = encode_all([TextDelta(delta="x"), Done()])
    assert deltas(datas)[:2] == [{"role": "assistant", "content": ""}, {"content": "x"}]


def test_done_alone_is_still_a_complete_stream() -> None:
    datas = encode_all([Done()])
    assert deltas(datas) == [{"role": "assistant", "content": ""}, {}]
    assert datas[-1] == "[DONE]"


def test_completion_id_defaults_to_message_id_of_start() -> None:
    enc = OpenAIEncoder()
    datas = encode_all([Start(message_id="abc"), TextDelta(delta="x"), Done()], enc)
    assert {o["id"] for o in objects(datas)} == {"chatcmpl-abc"}
    assert enc.completion_id == "chatcmpl-abc"
    assert {o["model"] for o in objects(datas)} == {"streamwire"}


def test_completion_id_has_a_fallback_without_any_id() -> None:
    datas = encode_all([TextDelta(delta="x"), Done()], OpenAIEncoder())
    assert {o["id"] for o in objects(datas)} == {"chatcmpl-streamwire"}


def test_empty_deltas_send_nothing() -> None:
    datas = encode_all([Start(), TextDelta(delta=""), ReasoningDelta(delta=""), Done()])
    assert deltas(datas) == [{"role": "assistant", "content": ""}, {}]


def test_reasoning_goes_out_as_reasoning_content() -> None:
    datas = encode_all([ReasoningDelta(delta="hmm"), TextDelta(delta="ok"), Done()])
    assert deltas(datas)[1:3] == [{"reasoning_content": "hmm"}, {"content": "ok"}]


def test_tool_calls_are_indexed_in_start_order_and_unstreamed_input_is_sent_whole() -> None:
    datas = encode_all(TOOL_STREAM)
    calls = [d["tool_calls"][0] for d in deltas(datas) if "tool_calls" in d]
    assert calls == [
        {
            "index": 0,
            "id": "call_a",
            "type": "function",
            "function": {"name": "weather", "arguments": ""},
        },
        {"index": 0, "function": {"arguments": '{"city":'}},
        {"index": 0, "function": {"arguments": '"Oslo"}'}},
        {
            "index": 1,
            "id": "call_b",
            "type": "function",
            "function": {"name": "time", "arguments": ""},
        },
        {"index": 1, "function": {"arguments": '{"tz":"CET"}'}},
    ]
    objs = objects(datas)
    assert objs[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_usage_chunk_follows_final_chunk_with_empty_choices() -> None:
    datas = encode_all(TOOL_STREAM)
    assert datas[-1] == "[DONE]"
    usage = json.loads(datas[-2])
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}


def test_usage_chunk_can_be_turned_off() -> None:
    enc = OpenAIEncoder(include_usage=False)
    datas = encode_all([Usage(input_tokens=1, output_tokens=2), Done()], enc)
    assert all("usage" not in o for o in objects(datas))


def test_default_finish_reason_is_tool_calls_after_a_tool_call() -> None:
    datas = encode_all(
        [ToolCallStart(tool_call_id="c", tool="t"), ToolCallEnd(tool_call_id="c", input={}), Done()]
    )
    assert objects(datas)[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_error_is_an_error_object_then_done_and_nothing_after() -> None:
    enc = OpenAIEncoder()
    datas = encode_all(
        [
            TextDelta(delta="par"),
            ErrorChunk(message="model overloaded", code="upstream_error", retryable=True),
        ],
        enc,
    )
    assert json.loads(datas[-2]) == {
        "error": {"message": "model overloaded", "type": "server_error", "code": "upstream_error"}
    }
    assert datas[-1] == "[DONE]"
    assert enc.encode(TextDelta(delta="more")) == []
    assert enc.encode(Done()) == []


def test_chunks_chat_completions_cannot_carry_are_dropped() -> None:
    enc = OpenAIEncoder()
    dropped: list[Chunk] = [
        StructuredData(stream_id="s", kind="set", path="a", value=1),
        ToolCallResult(tool_call_id="c", tool="t", content="r"),
        Interrupt(request_id="r", resume_token="t", input=InterruptInput(kind="text")),
        Progress(value=1),
    ]
    assert [enc.encode(chunk) for chunk in dropped] == [[], [], [], []]


@pytest.mark.parametrize(
    "chunk",
    [
        ToolCallDelta(tool_call_id="nope", input_delta="{"),
        ToolCallEnd(tool_call_id="nope", input={}),
    ],
    ids=["delta", "end"],
)
def test_tool_chunk_for_unstarted_call_names_the_field(chunk: Chunk) -> None:
    enc = OpenAIEncoder()
    with pytest.raises(InvalidArgumentError, match="never started") as info:
        enc.encode(chunk)
    assert info.value.field == "toolCallId"
    assert "'nope'" in str(info.value)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (None, "stop"),
        ("stop", "stop"),
        ("length", "length"),
        ("tool-calls", "tool_calls"),
        ("content-filter", "content_filter"),
        ("other", "other"),
    ],
)
def test_finish_reasons_map_both_ways(ours: str | None, theirs: str) -> None:
    assert to_openai_finish_reason(ours) == theirs
    assert from_openai_finish_reason(theirs) == (ours or "stop")


def test_dialect_registry_knows_openai() -> None:
    dialect = get_dialect("openai")
    assert dialect is DIALECT
    assert dialect.name == "openai"
    assert isinstance(dialect.new_encoder(), OpenAIEncoder)
    assert isinstance(dialect.new_decoder(), OpenAIDecoder)


def test_openai_dialect_factory_sets_encoder_options() -> None:
    dialect = openai_dialect(model="gpt-x", completion_id="chatcmpl-9", created=42)
    encoder = dialect.new_encoder()
    first = json.loads(encoder.encode(TextDelta(delta="x"))[0].data)
    assert (first["model"], first["id"], first["created"]) == ("gpt-x", "chatcmpl-9", 42)


# --- chat.completion --------------------------------------------------------------------------


def test_chat_completion_object_with_text_and_usage() -> None:
    obj = chat_completion_object(
        completion_id="chatcmpl-1",
        model="m",
        created=5,
        text="Hello",
        reasoning="why",
        usage=Usage(input_tokens=1, output_tokens=2),
        finish_reason="length",
    )
    assert obj == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 5,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello", "reasoning_content": "why"},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }


def test_chat_completion_object_with_only_tool_calls_has_null_content() -> None:
    obj = chat_completion_object(
        completion_id="c", model="m", created=0, text="", tool_calls=[("id1", "f", {"a": 1})]
    )
    choice = obj["choices"][0]
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {"id": "id1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    ]
    assert choice["finish_reason"] == "tool_calls"
    assert "usage" not in obj


# --- decoder ----------------------------------------------------------------------------------


def test_decoding_the_encoding_gives_the_chunks_back() -> None:
    decoded = decode_all(encode_all(TOOL_STREAM, OpenAIEncoder()))
    assert decoded == [
        Start(message_id="chatcmpl-m1"),
        TextDelta(delta="Let me check."),
        ToolCallStart(tool_call_id="call_a", tool="weather"),
        ToolCallDelta(tool_call_id="call_a", input_delta='{"city":'),
        ToolCallDelta(tool_call_id="call_a", input_delta='"Oslo"}'),
        ToolCallStart(tool_call_id="call_b", tool="time"),
        ToolCallDelta(tool_call_id="call_b", input_delta='{"tz":"CET"}'),
        ToolCallEnd(tool_call_id="call_a", input={"city": "Oslo"}),
        ToolCallEnd(tool_call_id="call_b", input={"tz": "CET"}),
        Usage(input_tokens=11, output_tokens=22),
        Done(finish_reason="tool-calls"),
    ]


def test_decoder_is_finished_only_after_done_and_ignores_what_follows() -> None:
    dec = OpenAIDecoder()
    datas = encode_all([TextDelta(delta="x"), Done()])
    for data in datas[:-1]:
        dec.decode(ServerSentEvent(data=data))
        assert not dec.finished
    assert dec.decode(ServerSentEvent(data="[DONE]")) == [Done(finish_reason="stop")]
    assert dec.finished
    assert dec.decode(ServerSentEvent(data='{"choices": 1}')) == []


def test_emit_start_false_leaves_start_to_the_caller() -> None:
    chunks = decode_all(encode_all([TextDelta(delta="x"), Done()]), OpenAIDecoder(emit_start=False))
    assert chunks == [TextDelta(delta="x"), Done(finish_reason="stop")]


# Streams as real servers send them (shapes from each server's documented wire format).
OPENAI_UPSTREAM = [
    '{"id":"chatcmpl-A","object":"chat.completion.chunk","created":1,"model":"gpt",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},'
    '"logprobs":null,"finish_reason":null}],"usage":null}',
    '{"id":"chatcmpl-A","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
    '"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},'
    '"finish_reason":null}],"usage":null}',
    '{"id":"chatcmpl-A","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
    '"function":{"arguments":"{\\"location\\":"}}]},"finish_reason":null}],"usage":null}',
    '{"id":"chatcmpl-A","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
    '"function":{"arguments":" \\"Paris\\"}"}}]},"finish_reason":null}],"usage":null}',
    '{"id":"chatcmpl-A","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],'
    '"usage":null}',
    '{"id":"chatcmpl-A","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,'
    '"total_tokens":13}}',
    "[DONE]",
]


def test_openai_upstream_with_tool_call_and_usage() -> None:
    assert decode_all(OPENAI_UPSTREAM) == [
        Start(message_id="chatcmpl-A"),
        ToolCallStart(tool_call_id="call_1", tool="get_weather"),
        ToolCallDelta(tool_call_id="call_1", input_delta='{"location":'),
        ToolCallDelta(tool_call_id="call_1", input_delta=' "Paris"}'),
        ToolCallEnd(tool_call_id="call_1", input={"location": "Paris"}),
        Usage(input_tokens=9, output_tokens=4),
        Done(finish_reason="tool-calls"),
    ]


def test_sse_body_split_at_every_position_decodes_the_same() -> None:
    body = b"".join(encode(ServerSentEvent(data=d)) for d in OPENAI_UPSTREAM[:3])
    body += b": keep-alive\n\n" + b"".join(
        encode(ServerSentEvent(data=d)) for d in OPENAI_UPSTREAM[3:]
    )
    expected = decode_all(OPENAI_UPSTREAM)
    for cut in range(len(body) + 1):
        sse = SSEDecoder()
        events = sse.feed(body[:cut]) + sse.feed(body[cut:]) + sse.close()
        dec = OpenAIDecoder()
        assert [c for e in events for c in dec.decode(e)] == expected, cut
        assert dec.finished


def test_keep_alive_events_and_done_with_whitespace_are_accepted() -> None:
    dec = OpenAIDecoder(emit_start=False)
    assert dec.decode(ServerSentEvent(data="")) == []
    assert dec.decode(ServerSentEvent(data="   ")) == []
    assert dec.decode(ServerSentEvent(data="{}", event="ping")) == []
    assert dec.decode(ServerSentEvent(data="[DONE]  \n")) == [Done()]
    assert dec.finished


def test_reasoning_field_of_ollama_and_reasoning_content_of_vllm() -> None:
    datas = [
        '{"choices":[{"index":0,"delta":{"reasoning":"a"}}]}',
        '{"choices":[{"index":0,"delta":{"reasoning_content":"b","reasoning":"b"}}]}',
        '{"choices":[{"index":0,"delta":{"content":"c"}}]}',
        "[DONE]",
    ]
    assert decode_all(datas, OpenAIDecoder(emit_start=False)) == [
        ReasoningDelta(delta="a"),
        ReasoningDelta(delta="b"),
        TextDelta(delta="c"),
        Done(),
    ]


def test_tool_call_name_after_id_missing_index_and_object_arguments() -> None:
    datas = [
        # id first, name later (llama.cpp-style), arguments kept meanwhile
        '{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"x","function":{"arguments":"{"}}]}}]}',
        '{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f",'
        '"arguments":"}"}}]}}]}',
        # no index, whole call at once with an object as arguments (Gemini-style)
        '{"choices":[{"delta":{"tool_calls":[{"id":"y","function":{"name":"g",'
        '"arguments":{"k":[1]}}}]}}]}',
        "[DONE]",
    ]
    assert decode_all(datas, OpenAIDecoder(emit_start=False)) == [
        ToolCallStart(tool_call_id="x", tool="f"),
        ToolCallDelta(tool_call_id="x", input_delta="{}"),
        ToolCallStart(tool_call_id="y", tool="g"),
        ToolCallDelta(tool_call_id="y", input_delta='{"k":[1]}'),
        ToolCallEnd(tool_call_id="x", input={}),
        ToolCallEnd(tool_call_id="y", input={"k": [1]}),
        Done(),
    ]


def test_repeated_usage_is_reported_once_before_done() -> None:
    datas = [
        '{"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}',
        '{"choices":[{"delta":{"content":"b"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}',
        '{"choices":[{"delta":{},"finish_reason":"length"}]}',
        "[DONE]",
    ]
    assert decode_all(datas, OpenAIDecoder(emit_start=False)) == [
        TextDelta(delta="a"),
        TextDelta(delta="b"),
        Usage(input_tokens=1, output_tokens=2),
        Done(finish_reason="length"),
    ]


def test_other_choices_are_ignored() -> None:
    datas = [
        '{"choices":[{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes"}}]}'
    ]
    assert decode_all(datas, OpenAIDecoder(emit_start=False)) == [TextDelta(delta="yes")]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            '{"error":{"message":"Rate limit reached","type":"requests",'
            '"code":"rate_limit_exceeded"}}',
            ErrorChunk(message="Rate limit reached", code="rate_limit_exceeded", retryable=True),
        ),
        (
            '{"object":"error","message":"bad request","type":"BadRequestError","code":400}',
            ErrorChunk(message="bad request", code="400", retryable=False),
        ),
        (
            '{"error":"boom"}',
            ErrorChunk(message="boom", code="upstream_error", retryable=False),
        ),
        (
            '{"error":{"type":"server_error"}}',
            ErrorChunk(
                message="the upstream stream reported an error", code="server_error", retryable=True
            ),
        ),
    ],
    ids=["openai", "vllm", "string", "no-message"],
)
def test_error_objects_become_error_chunks(data: str, expected: ErrorChunk) -> None:
    assert OpenAIDecoder().decode(ServerSentEvent(data=data)) == [expected]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("not json", "neither JSON nor [DONE]"),
        ("[1, 2]", "must be a JSON object, found an array"),
        ('{"choices": {}}', "'choices' must be an array, found an object"),
        ('{"choices": [3]}', "'choices.0' must be an object, found a number"),
        ('{"choices": [{"delta": []}]}', "'choices.0.delta' must be an object, found an array"),
        ('{"choices": [{"delta": {"content": 1}}]}', "'choices.0.delta.content' must be a string"),
        ('{"choices": [{"delta": {"reasoning": true}}]}', "found a boolean"),
        ('{"choices": [{"delta": {"tool_calls": {}}}]}', "'choices.0.delta.tool_calls' must be"),
        (
            '{"choices": [{"delta": {"tool_calls": [null]}}]}',
            "'choices.0.delta.tool_calls.0' must be an object, found null",
        ),
        (
            '{"choices": [{"delta": {"tool_calls": [{"index": "0"}]}}]}',
            "'choices.0.delta.tool_calls.0.index' must be an integer, found a string",
        ),
        (
            '{"choices": [{"delta": {"tool_calls": [{"index": 0, "function": 1}]}}]}',
            "'choices.0.delta.tool_calls.0.function' must be an object",
        ),
        (
            '{"choices": [{"delta": {"tool_calls": [{"index": 0, "id": 5}]}}]}',
            "'choices.0.delta.tool_calls.0.id' must be a string",
        ),
        (
            '{"choices": [{"delta": {"tool_calls": [{"function": {"name": 5}}]}}]}',
            "'choices.0.delta.tool_calls.0.function.name' must be a string",
        ),
        ('{"choices": [{"finish_reason": 1}]}', "'choices.0.finish_reason' must be a string"),
        ('{"usage": []}', "'usage' must be an object, found an array"),
        ('{"usage": {"prompt_tokens": 1.5}}', "'usage.prompt_tokens' must be an integer"),
        ('{"usage": {"completion_tokens": true}}', "'usage.completion_tokens' must be an integer"),
    ],
)
def test_malformed_chunks_name_the_field_and_the_event(data: str, reason: str) -> None:
    dec = OpenAIDecoder()
    dec.decode(ServerSentEvent(data=""))  # event 0
    with pytest.raises(MalformedStreamError) as info:
        dec.decode(ServerSentEvent(data=data))
    assert reason in info.value.reason
    assert info.value.index == 1
    assert info.value.event == data
    # failed for good
    with pytest.raises(MalformedStreamError):
        dec.decode(ServerSentEvent(data="[DONE]"))


def test_tool_call_without_name_or_with_bad_arguments_fails_at_the_end() -> None:
    dec = OpenAIDecoder(emit_start=False)
    dec.decode(
        ServerSentEvent(data='{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"q"}]}}]}')
    )
    with pytest.raises(MalformedStreamError, match="'q' ended without a function name"):
        dec.decode(ServerSentEvent(data="[DONE]"))
    dec = OpenAIDecoder(emit_start=False)
    dec.decode(
        ServerSentEvent(
            data='{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"q",'
            '"function":{"name":"f","arguments":"{oops"}}]}}]}'
        )
    )
    with pytest.raises(MalformedStreamError, match="arguments of tool call 'q' are not valid JSON"):
        dec.decode(ServerSentEvent(data='{"choices":[{"delta":{},"finish_reason":"stop"}]}'))


# --- properties -------------------------------------------------------------------------------

_text_chunks = st.lists(
    st.one_of(
        st.builds(TextDelta, delta=st.text()),
        st.builds(ReasoningDelta, delta=st.text()),
    ),
    max_size=10,
)


@given(_text_chunks)
def test_any_text_and_reasoning_round_trip(chunks: list[Chunk]) -> None:
    decoded = decode_all(encode_all([*chunks, Done()]), OpenAIDecoder(emit_start=False))
    assert decoded == [c for c in chunks if c.delta] + [Done(finish_reason="stop")]  # type: ignore[union-attr]


@given(st.text())
def test_any_data_gives_chunks_or_malformed_stream_error(data: str) -> None:
    with contextlib.suppress(MalformedStreamError):
        OpenAIDecoder().decode(ServerSentEvent(data=data))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "choices",
                    "delta",
                    "content",
                    "tool_calls",
                    "index",
                    "id",
                    "function",
                    "name",
                    "arguments",
                    "usage",
                    "finish_reason",
                    "error",
                    "object",
                    "reasoning",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(st.lists(_json, max_size=5))
def test_any_json_events_give_chunks_or_malformed_stream_error(values: list[Any]) -> None:
    dec = OpenAIDecoder()
    with contextlib.suppress(MalformedStreamError):
        for value in [*values, "[DONE]"]:
            data = value if value == "[DONE]" else json.dumps(value)
            dec.decode(ServerSentEvent(data=data))


# --- the official openai SDK ------------------------------------------------------------------


def _starlette_app(chunks: Sequence[Chunk], *, heartbeat_after: int | None = None) -> Any:
    async def completions(request: Request) -> Any:
        body = await request.json()
        if not body.get("stream"):
            text = "".join(c.delta for c in chunks if isinstance(c, TextDelta))
            return JSONResponse(
                chat_completion_object(
                    completion_id="chatcmpl-x",
                    model=body["model"],
                    created=1,
                    text=text,
                    usage=Usage(input_tokens=3, output_tokens=4),
                )
            )
        encoder = OpenAIEncoder(model=body["model"], completion_id="chatcmpl-x", created=1)

        async def body_iter() -> AsyncIterator[bytes]:
            for n, chunk in enumerate(chunks):
                if n == heartbeat_after:
                    yield b": ping\n\n"
                for event in encoder.encode(chunk):
                    yield encode(event)

        return StreamingResponse(body_iter(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


SDK_STREAM: list[Chunk] = [
    Start(message_id="m"),
    TextDelta(delta="Hello"),
    TextDelta(delta=", world"),
    ToolCallStart(tool_call_id="call_1", tool="lookup"),
    ToolCallDelta(tool_call_id="call_1", input_delta='{"q": "x"}'),
    ToolCallEnd(tool_call_id="call_1", input={"q": "x"}),
    Usage(input_tokens=5, output_tokens=6),
    Done(),
]


@pytest.mark.parametrize("heartbeat_after", [None, 2], ids=["plain", "heartbeat"])
def test_official_openai_sdk_reads_the_stream(heartbeat_after: int | None) -> None:
    with LiveServer(_starlette_app(SDK_STREAM, heartbeat_after=heartbeat_after)) as server:
        client = OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=10)
        stream = client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        received = list(stream)
        client.close()
    text = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert text == "Hello, world"
    args = "".join(
        call.function.arguments or ""
        for c in received
        if c.choices
        for call in c.choices[0].delta.tool_calls or ()
        if call.function is not None
    )
    assert json.loads(args) == {"q": "x"}
    assert {c.id for c in received} == {"chatcmpl-x"}
    assert {c.model for c in received} == {"demo"}
    finals = [c.choices[0].finish_reason for c in received if c.choices]
    assert finals[-1] == "tool_calls"
    assert received[-1].usage is not None
    assert received[-1].usage.total_tokens == 11


def test_official_openai_sdk_raises_the_error_object() -> None:
    chunks: list[Chunk] = [
        TextDelta(delta="partial"),
        ErrorChunk(message="upstream timed out", code="upstream_timeout", retryable=True),
        Done(finish_reason="error"),
    ]
    with LiveServer(_starlette_app(chunks)) as server:
        client = OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=10)
        stream = client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(APIError, match="upstream timed out"):
            list(stream)
        client.close()


def test_official_openai_sdk_reads_the_non_streaming_completion() -> None:
    with LiveServer(_starlette_app(SDK_STREAM)) as server:
        client = OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=10)
        completion = client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "hi"}]
        )
        client.close()
    assert completion.id == "chatcmpl-x"
    assert completion.choices[0].message.content == "Hello, world"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 3


def test_edge_cases_of_empty_values() -> None:
    assert from_openai_finish_reason(None) is None
    enc = OpenAIEncoder()
    enc.encode(ToolCallStart(tool_call_id="c", tool="t"))
    assert enc.encode(ToolCallDelta(tool_call_id="c", input_delta="")) == []
    datas = [
        '{"choices":[{"delta":{"reasoning":"","tool_calls":[{"index":0,"id":"c",'
        '"function":{"name":"f"}}]}}]}',
        # a started call with a delta that carries no arguments
        '{"choices":[{"delta":{"tool_calls":[{"index":0,"type":"function"}]}}]}',
        '{"choices":[{"delta":{},"finish_reason":"stop"}]}',
        # late arguments for a call that already ended are ignored
        '{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"x"}}]}}]}',
        "[DONE]",
    ]
    assert decode_all(datas, OpenAIDecoder(emit_start=False)) == [
        ToolCallStart(tool_call_id="c", tool="f"),
        ToolCallEnd(tool_call_id="c", input={}),
        Done(finish_reason="stop"),
    ]


# --- the provider modes: error_ends_stream, wait_for_call_id -----------------------------------


def test_error_ends_stream_adds_done_and_finishes() -> None:
    dec = OpenAIDecoder(emit_start=False, error_ends_stream=True)
    chunks = dec.decode(ServerSentEvent(data='{"error":{"message":"boom","type":"server_error"}}'))
    assert chunks == [
        ErrorChunk(message="boom", code="server_error", retryable=True),
        Done(finish_reason="error"),
    ]
    assert dec.finished
    assert dec.decode(ServerSentEvent(data="[DONE]")) == []


def test_finish_reason_is_known_before_done() -> None:
    dec = OpenAIDecoder(emit_start=False)
    reasons = [dec.finish_reason]
    dec.decode(ServerSentEvent(data='{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}'))
    reasons.append(dec.finish_reason)
    assert reasons == [None, "tool-calls"]
    assert not dec.finished


def test_refusal_is_text() -> None:
    datas = ['{"choices":[{"delta":{"refusal":"I can\'t."}}]}', "[DONE]"]
    assert decode_all(datas, OpenAIDecoder(emit_start=False)) == [
        TextDelta(delta="I can't."),
        Done(),
    ]


def test_wait_for_call_id_holds_arguments_until_the_id_comes() -> None:
    datas = [
        '{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f",'
        '"arguments":"{\\"a\\":"}}]}}]}',
        '{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":'
        '{"arguments":"1}"}}]}}]}',
        '{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}',
        "[DONE]",
    ]
    dec = OpenAIDecoder(emit_start=False, wait_for_call_id=True)
    assert [dec.decode(ServerSentEvent(data=d)) for d in datas] == [
        [],
        [
            ToolCallStart(tool_call_id="c1", tool="f"),
            ToolCallDelta(tool_call_id="c1", input_delta='{"a":'),
            ToolCallDelta(tool_call_id="c1", input_delta="1}"),
        ],
        [ToolCallEnd(tool_call_id="c1", input={"a": 1})],
        [Done(finish_reason="tool-calls")],
    ]


def test_wait_for_call_id_names_a_call_without_id_after_its_index_at_the_end() -> None:
    datas = [
        '{"choices":[{"delta":{"tool_calls":[{"index":3,"function":{"name":"f",'
        '"arguments":"{}"}}]}}]}',
        "[DONE]",
    ]
    assert decode_all(datas, OpenAIDecoder(emit_start=False, wait_for_call_id=True)) == [
        ToolCallStart(tool_call_id="call_3", tool="f"),
        ToolCallDelta(tool_call_id="call_3", input_delta="{}"),
        ToolCallEnd(tool_call_id="call_3", input={}),
        Done(),
    ]


@pytest.mark.parametrize(
    ("arguments", "found", "offset"),
    [
        ('{"a": NaN}', "NaN is not JSON", None),
        ("[" * 100_000, "nested too deeply", None),
        ('{"a" 1}', "Expecting ':' delimiter", 5),
    ],
    ids=["nan", "deep", "syntax"],
)
def test_bad_arguments_error_carries_the_call_and_the_offset(
    arguments: str, found: str, offset: int | None
) -> None:
    call = {"index": 0, "id": "q", "function": {"name": "f", "arguments": arguments}}
    dec = OpenAIDecoder(emit_start=False)
    dec.decode(ServerSentEvent(data=json.dumps({"choices": [{"delta": {"tool_calls": [call]}}]})))
    with pytest.raises(OpenAIDecodeError) as info:
        dec.decode(ServerSentEvent(data="[DONE]"))
    error = info.value
    assert (error.tool_call_id, error.tool, error.field) == ("q", "f", "function.arguments")
    assert (error.expected, error.found, error.offset) == ("JSON", found, offset)
    assert isinstance(error, MalformedStreamError)


def test_decode_error_names_field_expected_and_found() -> None:
    dec = OpenAIDecoder()
    with pytest.raises(OpenAIDecodeError) as info:
        dec.decode(ServerSentEvent(data='{"choices": [{"delta": {"content": 1}}]}'))
    error = info.value
    assert (error.field, error.expected, error.found) == (
        "choices.0.delta.content",
        "a string",
        "a number",
    )
    assert (error.tool_call_id, error.tool, error.offset) == (None, None, None)
    with pytest.raises(OpenAIDecodeError) as info:
        OpenAIDecoder().decode(ServerSentEvent(data="[1]"))
    assert (info.value.field, info.value.expected, info.value.found) == (
        "",
        "a JSON object",
        "an array",
    )
