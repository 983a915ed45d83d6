"""The native dialect (streamwire protocol v1 on SSE) and the dialect registry."""

from __future__ import annotations

import pytest

from streamwire.chunks import Chunk, Done, ErrorChunk, Start, TextDelta, Usage, encode_chunk
from streamwire.errors import InvalidArgumentError, MalformedStreamError
from streamwire.protocol.dialects import DIALECT_NAMES, Dialect, get_dialect
from streamwire.protocol.dialects.native import (
    DIALECT,
    NativeDecoder,
    NativeEncoder,
    encode_sse_chunk,
)
from streamwire.sse import ServerSentEvent, SSEDecoder, encode


def test_get_dialect_native() -> None:
    dialect = get_dialect("native")
    assert dialect is DIALECT
    assert dialect.name == "native"
    assert dict(dialect.headers) == {}
    assert isinstance(dialect.new_encoder(), NativeEncoder)
    assert isinstance(dialect.new_decoder(), NativeDecoder)


def test_get_dialect_returns_a_dialect_as_it_is() -> None:
    custom = Dialect(name="custom", new_encoder=NativeEncoder, new_decoder=NativeDecoder)
    assert get_dialect(custom) is custom


@pytest.mark.parametrize("name", ["", "Native", "sse", "openai-v2"])
def test_get_dialect_rejects_an_unknown_name(name: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        get_dialect(name)
    assert info.value.field == "dialect"
    assert repr(name) in str(info.value)
    for known in DIALECT_NAMES:
        assert known in str(info.value)


def test_dialect_names() -> None:
    assert "native" in DIALECT_NAMES


def test_encoder_sends_done_as_a_named_event() -> None:
    encoder = NativeEncoder()
    assert encoder.encode(Done(finish_reason="stop")) == [
        ServerSentEvent(data='{"type":"done","finishReason":"stop"}', event="done")
    ]


@pytest.mark.parametrize(
    "chunk",
    [Start(message_id="m"), TextDelta(delta="a\nb"), Usage(input_tokens=1, output_tokens=2)],
)
def test_encoder_sends_other_chunks_as_unnamed_events(chunk: Start | TextDelta | Usage) -> None:
    (event,) = NativeEncoder().encode(chunk)
    assert event == ServerSentEvent(data=encode_chunk(chunk).decode())
    assert "\n" not in event.data


@pytest.mark.parametrize(
    "chunk",
    [Start(), TextDelta(delta="é\r\n"), ErrorChunk(message="m", code="c", retryable=False), Done()],
)
def test_encode_sse_chunk_is_the_encoder_fast_path(
    chunk: Start | TextDelta | ErrorChunk | Done,
) -> None:
    (event,) = NativeEncoder().encode(chunk)
    assert encode_sse_chunk(chunk) == encode(event)


def test_a_stream_round_trips_through_sse() -> None:
    chunks: list[Chunk] = [Start(message_id="m1"), TextDelta(delta="Hi"), Done()]
    wire = b"".join(encode_sse_chunk(chunk) for chunk in chunks)
    decoder = NativeDecoder()
    assert not decoder.finished
    events = SSEDecoder().feed(wire)
    assert [event.event for event in events] == ["message", "message", "done"]
    decoded = [chunk for event in events for chunk in decoder.decode(event)]
    assert decoded == chunks
    assert decoder.finished


def test_decoder_rejects_data_that_is_not_a_chunk_with_its_index() -> None:
    decoder = NativeDecoder()
    decoder.decode(ServerSentEvent(data='{"type":"start"}'))
    with pytest.raises(MalformedStreamError) as info:
        decoder.decode(ServerSentEvent(data='{"type":"nope"}'))
    assert info.value.index == 1
    assert info.value.event == '{"type":"nope"}'
    assert "unknown chunk type" in str(info.value)
    assert "(event 1)" in str(info.value)
    assert not decoder.finished
