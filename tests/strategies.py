"""Hypothesis strategies and test oracles shared by the test suite.

* Strategies for Server-Sent Events (events to encode, raw streams, ways to split a stream).
* :func:`reference_decode`: a literal, slow transcription of WHATWG HTML 9.2.6 "Interpreting an
  event stream", used as an oracle for the optimised :class:`~streamwire.sse.SSEDecoder`.
* :func:`feed_split`: feeds a stream to a decoder cut at given positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

from streamwire.protocol.sse import ServerSentEvent, SSEDecoder

__all__ = [
    "DecodeResult",
    "feed_split",
    "reference_decode",
    "split_points",
    "sse_events",
    "sse_streams",
]

# --- strategies -----------------------------------------------------------------------------

# Any Unicode text (no lone surrogates: UTF-8 cannot carry them), with the characters that
# matter to SSE framing made frequent: CR, LF, CRLF, spaces, colons, NUL, a BOM.
_framing = st.sampled_from(["\r", "\n", "\r\n", " ", "  ", ":", "\0", "\ufeff", "data: "])
sse_text = st.lists(st.one_of(st.text(max_size=8), _framing), max_size=8).map("".join)
_no_line_break = sse_text.map(lambda s: s.replace("\r", "").replace("\n", ""))


@st.composite
def sse_events(draw: st.DrawFn) -> ServerSentEvent:
    """Events that :func:`~streamwire.sse.encode` accepts: data and comments with any line
    breaks, event names and ids without them (ids without NUL), retry >= 0."""
    return ServerSentEvent(
        data=draw(sse_text),
        event=draw(st.none() | _no_line_break),
        id=draw(st.none() | _no_line_break.map(lambda s: s.replace("\0", ""))),
        retry=draw(st.none() | st.integers(min_value=0, max_value=2**40)),
        comment=draw(st.none() | sse_text),
    )


_stream_piece = st.one_of(
    st.sampled_from(
        [
            b"data",
            b"data:",
            b"data: ",
            b"event:",
            b"id:",
            b"id: \x00",
            b"retry: ",
            b"retry:12",
            b":",
            b"\r",
            b"\n",
            b"\r\n",
            b"\n\n",
            b"\xef\xbb\xbf",
            b"\xe2\x82",  # a truncated euro sign
            b"\xac",
            b"\xff",
            b" ",
        ]
    ),
    st.binary(max_size=6),
    st.text(max_size=4).map(str.encode),
)
sse_streams = st.lists(_stream_piece, max_size=24).map(b"".join)
"""Raw byte streams: SSE-like pieces and arbitrary bytes, invalid UTF-8 included."""


@st.composite
def split_points(draw: st.DrawFn, size: int) -> list[int]:
    """Sorted cut positions in ``range(1, size)`` (each may repeat: an empty feed)."""
    if size < 2:
        return []
    return sorted(draw(st.lists(st.integers(min_value=1, max_value=size - 1), max_size=8)))


# --- feeding --------------------------------------------------------------------------------


def feed_split(decoder: SSEDecoder, stream: bytes, cuts: list[int]) -> list[ServerSentEvent]:
    """Feed ``stream`` cut at ``cuts`` (sorted positions), then close; return all events."""
    events: list[ServerSentEvent] = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        events.extend(decoder.feed(stream[previous:cut]))
        previous = cut
    events.extend(decoder.close())
    return events


# --- the reference decoder ------------------------------------------------------------------

_LINE = re.compile(rb"\r\n|\r|\n")


@dataclass
class DecodeResult:
    """What :func:`reference_decode` found."""

    events: list[ServerSentEvent] = field(default_factory=list)
    last_event_id: str = ""
    retry: int | None = None
    error_offset: int | None = None  # where max_event_bytes was crossed, if it was


def reference_decode(stream: bytes, *, max_event_bytes: int | None = None) -> DecodeResult:
    """Decode a whole stream by the letter of WHATWG HTML 9.2.6, slowly and obviously.

    With ``max_event_bytes``, also find where an event first spans more bytes than that
    (counted from the start of its first line to the end of the current line's content).
    """
    result = DecodeResult()
    offset = 0
    if stream.startswith(b"\xef\xbb\xbf"):  # UTF-8 decode strips one leading BOM
        offset = 3
    data_buffer = ""
    event_type = ""
    id_buffer = ""
    event_start: int | None = None
    while True:
        match = _LINE.search(stream, offset)
        content_end = match.start() if match else len(stream)
        content = stream[offset:content_end]
        if content and event_start is None:
            event_start = offset
        if (
            max_event_bytes is not None
            and content
            and event_start is not None
            and content_end - event_start > max_event_bytes
        ):
            result.error_offset = event_start + max_event_bytes
            return result
        if match is None:
            break  # the end of the file: pending data is discarded
        offset = match.end()
        line = content.decode("utf-8", "replace")
        if line == "":
            event_start = None
            # dispatch: step 1, then steps 2-7
            result.last_event_id = id_buffer
            if data_buffer:
                if data_buffer.endswith("\n"):
                    data_buffer = data_buffer[:-1]
                result.events.append(
                    ServerSentEvent(
                        data=data_buffer, event=event_type or "message", id=id_buffer or None
                    )
                )
            data_buffer = ""
            event_type = ""
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "event":
            event_type = value
        elif name == "data":
            data_buffer += value + "\n"
        elif name == "id":
            if "\0" not in value:
                id_buffer = value
        elif name == "retry" and value != "" and all(c in "0123456789" for c in value):
            result.retry = int(value)
    return result
