"""The SSE encoder and decoder: arguments, limits, states, and properties.

The parsing rules themselves are checked by the spec vectors (test_sse_vectors.py).
"""

from __future__ import annotations

import doctest
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import streamwire.protocol.sse as sse_module
from streamwire.errors import InvalidArgumentError, PeerProtocolError, StreamwireError
from streamwire.sse import (
    DEFAULT_MAX_EVENT_BYTES,
    ServerSentEvent,
    SSEDecoder,
    SSEProtocolError,
    encode,
)
from tests.strategies import (
    feed_split,
    reference_decode,
    split_points,
    sse_events,
    sse_streams,
)


def decode_all(stream: bytes, **options: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**options)
    return decoder.feed(stream) + decoder.close()


# --- encode ---------------------------------------------------------------------------------


def test_encode_single_line_data() -> None:
    assert encode(ServerSentEvent(data="hello")) == b"data: hello\n\n"


def test_encode_all_fields_in_order() -> None:
    event = ServerSentEvent(data="x", event="update", id="7", retry=1500, comment="note")
    assert encode(event) == b": note\nevent: update\nid: 7\nretry: 1500\ndata: x\n\n"


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        pytest.param("a\nb", b"data: a\ndata: b\n", id="lf"),
        pytest.param("a\rb", b"data: a\ndata: b\n", id="cr"),
        pytest.param("a\r\nb", b"data: a\ndata: b\n", id="crlf-is-one-break"),
        pytest.param("a\r\rb", b"data: a\ndata: \ndata: b\n", id="two-crs-are-two-breaks"),
        pytest.param("a\n", b"data: a\ndata: \n", id="trailing-break-keeps-an-empty-line"),
        pytest.param("\n", b"data: \ndata: \n", id="only-a-break"),
    ],
)
def test_encode_splits_data_on_cr_lf_and_crlf(data: str, lines: bytes) -> None:
    assert encode(ServerSentEvent(data=data)) == lines + b"\n"


def test_encode_keeps_leading_spaces_of_data() -> None:
    encoded = encode(ServerSentEvent(data="  two"))
    assert encoded == b"data:   two\n\n"
    assert decode_all(encoded)[0].data == "  two"


def test_encode_non_ascii_as_utf8() -> None:
    assert encode(ServerSentEvent(data="€😀")) == "data: €😀\n\n".encode()


@pytest.mark.parametrize(
    ("comment", "lines"),
    [
        pytest.param("ping", b": ping\n", id="one-line"),
        pytest.param("", b":\n", id="empty"),
        pytest.param("a\nb\r\nc", b": a\n: b\n: c\n", id="several-lines"),
        pytest.param("a\n\nb", b": a\n:\n: b\n", id="empty-middle-line"),
    ],
)
def test_encode_comments(comment: str, lines: bytes) -> None:
    assert encode(ServerSentEvent(comment=comment)) == lines + b"\n"


@pytest.mark.parametrize(
    ("event", "encoded"),
    [
        pytest.param(ServerSentEvent(), b"data: \n\n", id="empty-event-is-empty-data"),
        pytest.param(ServerSentEvent(comment="ping"), b": ping\n\n", id="comment-only"),
        pytest.param(ServerSentEvent(id="1"), b"id: 1\n\n", id="id-only"),
        pytest.param(ServerSentEvent(id=""), b"id: \n\n", id="id-reset-only"),
        pytest.param(ServerSentEvent(retry=10), b"retry: 10\n\n", id="retry-only"),
        pytest.param(
            ServerSentEvent(event="tick"), b"event: tick\ndata: \n\n", id="named-event-has-data"
        ),
        pytest.param(ServerSentEvent(data="x", id="1"), b"id: 1\ndata: x\n\n", id="data-with-id"),
    ],
)
def test_encode_no_data_line_rule(event: ServerSentEvent, encoded: bytes) -> None:
    # The rule of the module docstring: no data line for a comment, id or retry alone.
    assert encode(event) == encoded


def test_encoded_id_only_event_dispatches_nothing_but_sets_the_id() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(encode(ServerSentEvent(id="42", retry=5))) == []
    assert decoder.last_event_id == "42"
    assert decoder.retry == 5
    assert decoder.feed(encode(ServerSentEvent(data="x"))) == [
        ServerSentEvent(data="x", event="message", id="42")
    ]


def test_encoded_heartbeat_dispatches_nothing() -> None:
    assert decode_all(encode(ServerSentEvent(comment="ping"))) == []


@pytest.mark.parametrize(
    ("event", "field", "detail"),
    [
        pytest.param(ServerSentEvent(event="a\nb"), "event", "LF at index 1", id="event-lf"),
        pytest.param(ServerSentEvent(event="ab\r"), "event", "CR at index 2", id="event-cr"),
        pytest.param(ServerSentEvent(id="1\n2"), "id", "LF at index 1", id="id-lf"),
        pytest.param(ServerSentEvent(id="\r"), "id", "CR at index 0", id="id-cr"),
        pytest.param(ServerSentEvent(id="a\0"), "id", "NUL at index 1", id="id-nul"),
        pytest.param(ServerSentEvent(retry=-1), "retry", "negative (got -1)", id="retry-neg"),
        pytest.param(ServerSentEvent(data="\ud800"), "data", "index 0", id="data-surrogate"),
        pytest.param(
            ServerSentEvent(data="x", comment="a\udfff"), "comment", "index 1", id="comment-sur"
        ),
        pytest.param(ServerSentEvent(event="\udc00"), "event", "index 0", id="event-surrogate"),
        pytest.param(ServerSentEvent(id="ab\ud800"), "id", "index 2", id="id-surrogate"),
    ],
)
def test_encode_rejects_bad_fields_naming_them(
    event: ServerSentEvent, field: str, detail: str
) -> None:
    with pytest.raises(ValueError, match=field) as info:
        encode(event)
    assert isinstance(info.value, InvalidArgumentError)
    assert info.value.field == field
    assert detail in str(info.value)


def test_encode_allows_nul_in_event_names_and_data() -> None:
    assert encode(ServerSentEvent(data="a\0", event="b\0")) == b"event: b\0\ndata: a\0\n\n"


@pytest.mark.parametrize("retry", [True, 1.5, "10"])
def test_encode_rejects_a_retry_that_is_not_an_int(retry: object) -> None:
    event = ServerSentEvent(retry=retry)  # type: ignore[arg-type]  # the point of the test
    with pytest.raises(InvalidArgumentError, match="retry must be an int") as info:
        encode(event)
    assert info.value.field == "retry"


def test_encode_accepts_retry_zero() -> None:
    assert encode(ServerSentEvent(retry=0)) == b"retry: 0\n\n"


def test_docstring_examples_run() -> None:
    result = doctest.testmod(sse_module)
    assert result.attempted >= 3
    assert result.failed == 0


# --- the decoder's arguments and states -----------------------------------------------------


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "10"])
def test_decoder_rejects_a_bad_max_event_bytes(limit: object) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        SSEDecoder(max_event_bytes=limit)  # type: ignore[arg-type]  # the point of the test
    assert info.value.field == "max_event_bytes"


def test_decoder_defaults() -> None:
    decoder = SSEDecoder()
    assert decoder.max_event_bytes == DEFAULT_MAX_EVENT_BYTES
    assert decoder.last_event_id == ""
    assert decoder.retry is None


def test_empty_feed_returns_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == [ServerSentEvent(data="a", event="message")]


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r\n") == [ServerSentEvent(data="a\nb", event="message")]


def test_close_drops_the_incomplete_event_and_returns_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [ServerSentEvent(data="a", event="message")]
    assert decoder.close() == []


def test_after_close_a_new_stream_starts() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 30\nid: 9\ndata: a\n\nid: 10\ndata: b\r")
    decoder.close()
    # The cut-off event's id is discarded; the dispatched one and retry are kept.
    assert decoder.last_event_id == "9"
    assert decoder.retry == 30
    # A new stream: a leading LF is a blank line (not the end of the CRLF), and its BOM is
    # stripped again; the id buffer starts from the last event ID.
    assert decoder.feed(b"\n\xef\xbb\xbfdata: c\n\n") == []
    decoder.close()
    assert decoder.feed(b"\xef\xbb\xbfdata: c\n\n") == [
        ServerSentEvent(data="c", event="message", id="9")
    ]


def test_close_forgets_a_partial_bom() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    decoder.close()
    assert decoder.feed(b"\xbfdata: x\n\n") == []  # not a BOM any more: an unknown field
    assert decoder.feed(b"data: y\n\n") == [ServerSentEvent(data="y", event="message")]


def test_a_bom_prefix_that_turns_out_not_to_be_a_bom_is_content() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef") == []
    assert decoder.feed(b"data: x\n\ndata: y\n\n") == [ServerSentEvent(data="y", event="message")]


def test_a_long_event_in_small_feeds() -> None:
    payload = "x" * 300_000 + "é" * 1000
    stream = encode(ServerSentEvent(data=payload))
    decoder = SSEDecoder()
    events = []
    for start in range(0, len(stream), 1000):
        events += decoder.feed(stream[start : start + 1000])
    assert events == [ServerSentEvent(data=payload, event="message")]


# --- max_event_bytes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "limit", "offset"),
    [
        pytest.param(b"data: 0123456789\n\n", 10, 10, id="one-long-line"),
        pytest.param(b"data: 0123456789", 10, 10, id="unterminated-line"),
        pytest.param(b"data: a\ndata: 0123456789", 10, 10, id="unterminated-after-a-line"),
        pytest.param(b"\xef\xbb\xbfdata: 0123456789\n\n", 10, 13, id="after-a-bom"),
        pytest.param(b"data: a\n\ndata: 0123456789\n\n", 10, 19, id="second-event"),
        pytest.param(b": 012345\n: 012345\n\n", 10, 10, id="comments-count"),
        pytest.param(b"data: 1\r\ndata: 2\r\n\r\n", 15, 15, id="line-ends-between-lines-count"),
        pytest.param(b"data: 1\rdata: 2\r\r", 14, 14, id="cr-line-ends"),
        pytest.param(b"\n\n\ndata: 0123456789\n\n", 10, 13, id="after-blank-lines"),
    ],
)
def test_event_larger_than_max_event_bytes_raises_with_offset(
    stream: bytes, limit: int, offset: int
) -> None:
    for cuts in [[], list(range(1, len(stream))), [len(stream) // 2]]:
        decoder = SSEDecoder(max_event_bytes=limit)
        with pytest.raises(SSEProtocolError) as info:
            feed_split(decoder, stream, cuts)
        assert info.value.offset == offset
        assert info.value.limit == limit
        assert f"max_event_bytes ({limit} bytes)" in str(info.value)
        assert f"at byte offset {offset}" in str(info.value)


@pytest.mark.parametrize(
    ("stream", "limit"),
    [
        pytest.param(b"data: 0123456789\n\n", 16, id="exactly-the-limit"),
        pytest.param(b"data: 1\r\ndata: 2\r\n\r\n", 16, id="crlf-exactly-the-limit"),
        pytest.param(b"data: 01234\n\ndata: 56789\n\n", 11, id="limit-is-per-event"),
        pytest.param(b"data: 01234\n\n\n\n\n\n\ndata: 56789\n\n", 11, id="blank-lines-free"),
    ],
)
def test_events_within_max_event_bytes_decode(stream: bytes, limit: int) -> None:
    for cuts in [[], list(range(1, len(stream)))]:
        decoder = SSEDecoder(max_event_bytes=limit)
        assert len(feed_split(decoder, stream, cuts)) >= 1


def test_failed_decoder_stays_failed() -> None:
    decoder = SSEDecoder(max_event_bytes=4)
    with pytest.raises(SSEProtocolError) as info:
        decoder.feed(b"data: too long\n\n")
    error = info.value
    assert isinstance(error, PeerProtocolError)
    assert isinstance(error, StreamwireError)
    calls: list[Callable[[], object]] = [
        lambda: decoder.feed(b"data: x\n\n"),
        lambda: decoder.feed(b""),
        decoder.close,
    ]
    for call in calls:
        with pytest.raises(SSEProtocolError) as again:
            call()
        assert again.value is error


def test_default_limit_allows_a_large_event_and_stops_a_hostile_stream() -> None:
    big = encode(ServerSentEvent(data="x" * (DEFAULT_MAX_EVENT_BYTES - 100)))
    assert len(decode_all(big)) == 1
    decoder = SSEDecoder()
    piece = b"x" * 65536

    def endless_line() -> None:
        decoder.feed(b"data: ")
        for _ in range(DEFAULT_MAX_EVENT_BYTES // len(piece) + 2):
            decoder.feed(piece)

    with pytest.raises(SSEProtocolError) as info:
        endless_line()
    assert info.value.offset == DEFAULT_MAX_EVENT_BYTES


# --- properties -----------------------------------------------------------------------------


def _expected(events: list[ServerSentEvent]) -> tuple[list[ServerSentEvent], str, int | None]:
    # What decoding the encoding of ``events`` gives back: CR and CRLF in data come back as LF;
    # a comment, id or retry alone (no data, no name) dispatches nothing.
    decoded: list[ServerSentEvent] = []
    last_id = ""
    retry = None
    for event in events:
        if event.id is not None:
            last_id = event.id
        if event.retry is not None:
            retry = event.retry
        hint = event.comment is not None or event.id is not None or event.retry is not None
        if event.data == "" and event.event is None and hint:
            continue
        data = event.data.replace("\r\n", "\n").replace("\r", "\n")
        decoded.append(
            ServerSentEvent(data=data, event=event.event or "message", id=last_id or None)
        )
    return decoded, last_id, retry


@given(st.lists(sse_events(), max_size=6), st.data())
def test_decoding_the_encoding_gives_the_events_back(
    events: list[ServerSentEvent], data: st.DataObject
) -> None:
    stream = b"".join(encode(event) for event in events)
    cuts = data.draw(split_points(len(stream)), label="cuts")
    decoder = SSEDecoder()
    expected, last_id, retry = _expected(events)
    assert feed_split(decoder, stream, cuts) == expected
    assert decoder.last_event_id == last_id
    assert decoder.retry == retry


@given(sse_streams, st.data(), st.none() | st.integers(min_value=1, max_value=48))
def test_any_bytes_decode_as_the_reference_decoder_does(
    stream: bytes, data: st.DataObject, limit: int | None
) -> None:
    # Any bytes give events or SSEProtocolError (never another exception), the same as the
    # literal transcription of the standard, however the stream is split.
    cuts = data.draw(split_points(len(stream)), label="cuts")
    reference = reference_decode(stream, max_event_bytes=limit)
    decoder = SSEDecoder() if limit is None else SSEDecoder(max_event_bytes=limit)
    if reference.error_offset is not None:
        with pytest.raises(SSEProtocolError) as info:
            feed_split(decoder, stream, cuts)
        assert info.value.offset == reference.error_offset
        return
    assert feed_split(decoder, stream, cuts) == reference.events
    assert decoder.last_event_id == reference.last_event_id
    assert decoder.retry == reference.retry


@given(st.binary(max_size=200), st.data())
def test_arbitrary_bytes_never_raise_anything_else(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(split_points(len(stream)), label="cuts")
    decoder = SSEDecoder(max_event_bytes=data.draw(st.integers(1, 300), label="limit"))
    try:
        events = feed_split(decoder, stream, cuts)
    except SSEProtocolError:
        return
    assert all(isinstance(event, ServerSentEvent) for event in events)
