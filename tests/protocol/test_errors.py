"""The error hierarchy: whose fault, the data each error carries, and its message."""

from __future__ import annotations

import pytest

from streamwire.errors import (
    ChunkDecodeError,
    InvalidArgumentError,
    MalformedStreamError,
    PeerProtocolError,
    SSEProtocolError,
    StreamwireError,
    StructuredOutputError,
    StructuredStreamError,
    TruncatedStreamError,
)


def test_caller_errors_are_value_errors() -> None:
    error = InvalidArgumentError("id", "must not contain LF (LF at index 1)")
    assert isinstance(error, ValueError)
    assert isinstance(error, StreamwireError)
    assert (error.field, error.reason) == ("id", "must not contain LF (LF at index 1)")
    assert str(error) == "id must not contain LF (LF at index 1)"


@pytest.mark.parametrize(
    "cls",
    [
        SSEProtocolError,
        ChunkDecodeError,
        StructuredStreamError,
        StructuredOutputError,
        MalformedStreamError,
        TruncatedStreamError,
    ],
)
def test_peer_errors_share_a_base(cls: type[Exception]) -> None:
    assert issubclass(cls, PeerProtocolError)
    assert issubclass(cls, StreamwireError)
    assert not issubclass(cls, ValueError)


def test_sse_protocol_error() -> None:
    error = SSEProtocolError("event too large", offset=12, limit=10)
    assert (error.reason, error.offset, error.limit) == ("event too large", 12, 10)
    assert str(error) == "event too large (at byte offset 12)"
    assert SSEProtocolError("x", offset=0).limit is None


def test_chunk_decode_error_message() -> None:
    assert str(ChunkDecodeError("bad", field="input.kind", data="{}")) == (
        "invalid chunk at 'input.kind': bad in '{}'"
    )
    assert str(ChunkDecodeError("not valid JSON")) == "invalid chunk: not valid JSON"


def test_structured_stream_error_message() -> None:
    error = StructuredStreamError("expected an array, found a string", path="items.3")
    assert error.path == "items.3"
    assert str(error) == "at 'items.3': expected an array, found a string"
    assert str(StructuredStreamError("streamId mismatch")) == "streamId mismatch"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "not JSON"),
        ({"path": "a.b"}, "at 'a.b': not JSON"),
        ({"offset": 7}, "at offset 7: not JSON"),
        ({"path": "a", "offset": 0}, "at 'a' at offset 0: not JSON"),
    ],
)
def test_structured_output_error_message(kwargs: dict[str, object], message: str) -> None:
    error = StructuredOutputError("not JSON", **kwargs)  # type: ignore[arg-type]  # test table
    assert str(error) == message
    assert error.path == kwargs.get("path", "")
    assert error.offset == kwargs.get("offset")


def test_malformed_stream_error_message() -> None:
    error = MalformedStreamError("not a chunk", event="x" * 300, index=4)
    assert len(error.event) == 200
    assert str(error).startswith("not a chunk (event 4): 'xxx")
    assert str(MalformedStreamError("not a chunk")) == "not a chunk"


def test_truncated_stream_error_message() -> None:
    error = TruncatedStreamError(received=3)
    assert error.received == 3
    assert str(error) == "stream ended before its terminator (after 3 chunks)"
