"""Server-Sent Events: the event type, the encoder and the incremental decoder (sans-IO).

The decoder follows the WHATWG HTML Standard, section 9.2 "Server-sent events", subsections
"Parsing an event stream" (9.2.5) and "Interpreting an event stream" (9.2.6). Rules are cited
beside the lines that implement them as ``[spec: ...]``.

Deliberate choices, explained here because they may surprise:

* The decoder works on bytes and splits lines before decoding UTF-8. CR and LF are ASCII and never
  occur inside a multi-byte UTF-8 sequence, so decoding each line with replacement gives exactly
  the characters that decoding the whole stream would (a sequence cut by a line end becomes
  U+FFFD either way), while keeping the hot path on fast ``bytes`` operations.
* ``max_event_bytes`` bounds the bytes held for one event (its lines since the last blank line,
  plus any unterminated line). The standard has no limit; a hostile or broken peer could
  otherwise grow memory without bound. Crossing it raises :class:`SSEProtocolError` and the
  decoder is then failed for good.
* Decoded events carry ``event="message"`` when the stream named no type [spec: 9.2.6 dispatch
  step 5], and ``id`` is the last event ID at dispatch time (``None`` when it is empty).
* The encoder writes a ``data`` line unless the event is only a comment, an ``id`` or a ``retry``
  hint (empty data, no event name): such blocks dispatch nothing on the client, which is exactly
  what a heartbeat, an id reset or a retry hint wants.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamwire.protocol.errors import InvalidArgumentError, SSEProtocolError

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "SSEDecoder",
    "ServerSentEvent",
    "encode",
]

# 4 MiB: far above any single model chunk (a final structured object of a long document is the
# largest we send), yet small enough that a hostile stream cannot exhaust memory.
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSentEvent:
    """One Server-Sent Event.

    Attributes:
        data: the event's data; may contain line breaks (encoded as several ``data:`` lines).
        event: the event type; ``None`` means the default type, ``message``.
        id: the event ID; on a decoded event, the last event ID at dispatch (``None`` if empty).
        retry: the reconnection time in milliseconds (encoding only; decoded events carry
            ``None`` and the decoder keeps the value in :attr:`SSEDecoder.retry`).
        comment: a comment, sent before the fields (encoding only; comments are not dispatched).
    """

    data: str = ""
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None


def _first_line_break(value: str) -> tuple[str, int] | None:
    for i, ch in enumerate(value):
        if ch == "\r":
            return "CR", i
        if ch == "\n":
            return "LF", i
    return None


def _check_field(name: str, value: str, *, nul: bool) -> None:
    if "\r" in value or "\n" in value or (nul and "\0" in value):
        for i, ch in enumerate(value):
            if ch in "\r\n" or (nul and ch == "\0"):
                what = {"\r": "CR", "\n": "LF", "\0": "NUL"}[ch]
                allowed = "CR, LF or NUL" if nul else "CR or LF"
                raise InvalidArgumentError(
                    name, f"must not contain {allowed} ({what} at index {i})"
                )


def _lines(text: str) -> list[str]:
    # CRLF first, then lone CR, then LF: the three line ends of the standard [spec: 9.2.5].
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def encode(event: ServerSentEvent) -> bytes:
    """Encode one event as UTF-8 bytes, ending with the blank line that dispatches it.

    Data is split on CR, LF and CRLF into one ``data:`` line each; a comment on several lines
    becomes several comment lines.

    Args:
        event: the event to encode.

    Returns:
        The bytes to write, e.g. ``b"data: hello\\n\\n"``.

    Raises:
        InvalidArgumentError: (a ``ValueError``) ``event`` or ``id`` contains CR or LF, ``id``
            contains NUL, or ``retry`` is negative. Values are never silently rewritten: that
            would hide an injection.

    Example:
        >>> encode(ServerSentEvent(data="a\\nb", event="update"))
        b'event: update\\ndata: a\\ndata: b\\n\\n'
    """
    data = event.data
    name = event.event
    ident = event.id
    retry = event.retry
    comment = event.comment
    # Fast path: the overwhelmingly common event is a single line of data and nothing else.
    if (
        name is None
        and ident is None
        and retry is None
        and comment is None
        and "\n" not in data
        and "\r" not in data
    ):
        return f"data: {data}\n\n".encode()
    parts: list[str] = []
    if comment is not None:
        parts.extend(f": {line}\n" if line else ":\n" for line in _lines(comment))
    if name is not None:
        _check_field("event", name, nul=False)
        parts.append(f"event: {name}\n")
    if ident is not None:
        _check_field("id", ident, nul=True)
        parts.append(f"id: {ident}\n")
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int):
            raise InvalidArgumentError("retry", f"must be an int, not {type(retry).__name__}")
        if retry < 0:
            raise InvalidArgumentError("retry", f"must not be negative (got {retry})")
        parts.append(f"retry: {retry}\n")
    if data or name is not None or (comment is None and ident is None and retry is None):
        parts.extend(f"data: {line}\n" for line in _lines(data))
    parts.append("\n")
    return "".join(parts).encode()


class SSEDecoder:
    """An incremental, sans-IO Server-Sent Events decoder.

    Feed it bytes as they arrive; it returns the events those bytes complete. It never performs
    IO and holds at most ``max_event_bytes`` of undispatched input.

    Args:
        max_event_bytes: the most bytes the decoder holds for one event: its data lines up to
            the blank line that dispatches it, plus an unterminated line.

    Attributes:
        last_event_id: the last event ID seen (``""`` when none or after a reset).
        retry: the last valid reconnection time in milliseconds, or ``None``.

    Example:
        >>> decoder = SSEDecoder()
        >>> decoder.feed(b"data: hel")
        []
        >>> decoder.feed(b"lo\\n\\n")
        [ServerSentEvent(data='hello', event='message', id=None, retry=None, comment=None)]
    """

    __slots__ = (
        "_buffer",
        "_data",
        "_event_bytes",
        "_event_type",
        "_failed",
        "_offset",
        "_pending_cr",
        "_started",
        "last_event_id",
        "max_event_bytes",
        "retry",
    )

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if isinstance(max_event_bytes, bool) or not isinstance(max_event_bytes, int):
            raise InvalidArgumentError("max_event_bytes", "must be an int")
        if max_event_bytes <= 0:
            raise InvalidArgumentError(
                "max_event_bytes", f"must be positive (got {max_event_bytes})"
            )
        self.max_event_bytes = max_event_bytes
        self.last_event_id = ""
        self.retry: int | None = None
        self._buffer = b""  # an unterminated line (or the first bytes, until the BOM is decided)
        self._data: list[str] = []  # the data buffer, one item per data line
        self._event_type = ""
        self._event_bytes = 0  # bytes held in the data buffer
        self._offset = 0  # bytes consumed before the current buffer
        self._pending_cr = False  # the last line ended with CR: a leading LF is its CRLF
        self._started = False  # the BOM check is done [spec: 9.2.5, one BOM at the start]
        self._failed: SSEProtocolError | None = None

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Decode more bytes of the stream.

        Args:
            data: the next bytes, split anywhere (inside a line, a CRLF or a character).

        Returns:
            The events completed by these bytes, in order.

        Raises:
            SSEProtocolError: an event grew past ``max_event_bytes``; the decoder is failed for
                good and raises the same error on every later call.
        """
        if self._failed is not None:
            raise self._failed
        if not data:
            return []
        if self._pending_cr:
            self._pending_cr = False
            if data[:1] == b"\n":
                # [spec: 9.2.5] CRLF is one line end, even when split across two feeds.
                self._offset += 1
                data = data[1:]
                if not data:
                    return []
        buf = self._buffer + data if self._buffer else data
        if not self._started:
            if len(buf) < 3 and _BOM.startswith(buf):
                self._buffer = buf
                return []
            self._started = True
            if buf.startswith(_BOM):
                # [spec: 9.2.5] one leading U+FEFF BYTE ORDER MARK is ignored.
                buf = buf[3:]
                self._offset += 3
        events: list[ServerSentEvent] = []
        if b"\r" not in buf:
            lines = buf.split(b"\n")
            rest = lines.pop()
            position = self._offset
            for line in lines:
                position += len(line) + 1
                self._line(line, events, position)
        else:
            lines = buf.splitlines(True)  # bytes.splitlines breaks on CR, LF and CRLF only
            rest = b""
            if lines and not lines[-1].endswith((b"\r", b"\n")):
                rest = lines.pop()
            if buf.endswith(b"\r"):
                self._pending_cr = True
            position = self._offset
            for line in lines:
                position += len(line)
                self._line(line.rstrip(b"\r\n"), events, position)
        self._offset += len(buf) - len(rest)
        if len(rest) + self._event_bytes > self.max_event_bytes:
            self._fail(self._offset + len(rest))
        self._buffer = rest
        return events

    def close(self) -> list[ServerSentEvent]:
        """End the stream. An incomplete event is dropped [spec: 9.2.6, end of file].

        Returns:
            Always an empty list (kept for the ``feed``/``close`` surface every protocol object
            shares). The decoder may be fed again afterwards as a new stream (the BOM rule
            applies again and the last event ID is kept, as on a reconnect).

        Raises:
            SSEProtocolError: the decoder had already failed.
        """
        if self._failed is not None:
            raise self._failed
        self._buffer = b""
        self._data = []
        self._event_type = ""
        self._event_bytes = 0
        self._offset = 0
        self._pending_cr = False
        self._started = False
        return []

    def _fail(self, offset: int) -> None:
        self._failed = SSEProtocolError(
            f"event larger than max_event_bytes ({self.max_event_bytes} bytes)",
            offset=offset,
            limit=self.max_event_bytes,
        )
        raise self._failed

    def _line(self, line: bytes, events: list[ServerSentEvent], position: int) -> None:
        if not line:
            # [spec: 9.2.5] a blank line dispatches the event.
            self._event_bytes = 0
            if self._data:
                data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
                events.append(
                    ServerSentEvent(
                        data=data,
                        # [spec: 9.2.6 dispatch step 5] the type defaults to "message".
                        event=self._event_type or "message",
                        id=self.last_event_id or None,
                    )
                )
                self._data = []
            # [spec: 9.2.6 dispatch step 2] an empty data buffer dispatches nothing, but the
            # event type buffer is reset all the same.
            self._event_type = ""
            return
        colon = line.find(b":")
        if colon == 0:
            return  # [spec: 9.2.5] a line starting with a colon is a comment.
        if colon < 0:
            # [spec: 9.2.5] no colon: the whole line is the field name, the value is empty.
            field, value = line, b""
        else:
            field = line[:colon]
            value = line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]  # [spec: 9.2.5] exactly one leading space is removed.
        # [spec: 9.2.6] field names are compared case-sensitively; unknown fields are ignored.
        if field == b"data":
            # [spec: 9.2.6] append the value and a LF; joining the lines with LF is the same as
            # appending LF to each and removing exactly one trailing LF at dispatch.
            self._event_bytes += len(value) + 1
            if self._event_bytes > self.max_event_bytes:
                self._fail(position)
            self._data.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            self._event_type = value.decode("utf-8", "replace")
        elif field == b"id":
            if b"\0" not in value:  # [spec: 9.2.6] an id containing NUL is ignored.
                # An empty id resets the last event ID to the empty string.
                self.last_event_id = value.decode("utf-8", "replace")
        # [spec: 9.2.6] only a value of ASCII digits alone sets the reconnection time
        # (bytes.isdigit() is true for ASCII digits only).
        elif field == b"retry" and value.isdigit():
            self.retry = int(value)
