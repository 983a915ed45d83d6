"""Server-Sent Events: the event type, the encoder and the incremental decoder (sans-IO).

The decoder follows the WHATWG HTML Standard, section 9.2 "Server-sent events", subsections
9.2.5 "Parsing an event stream" and 9.2.6 "Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html). Rules are cited beside the
lines that implement them as ``[spec: ...]``.

Deliberate choices, explained here because they may surprise:

* The decoder works on bytes and splits lines before decoding UTF-8. CR, LF and the colon are
  ASCII and never occur inside a multi-byte UTF-8 sequence, and the UTF-8 decoder ends a broken
  sequence at the first ASCII byte, so decoding line by line (or field by field) with
  replacement gives exactly the characters that decoding the whole stream would.
* ``last_event_id`` is the *last event ID string* of the standard: an ``id`` field sets the
  last event ID buffer, and the buffer is copied to ``last_event_id`` when the event is
  dispatched (by any blank line, even one that dispatches nothing) [spec: 9.2.6, dispatch
  step 1]. An ``id`` in an event cut off by the end of the stream therefore does not count, as
  in a browser. A decoded event's ``id`` is that string, or ``None`` when it is empty.
* ``retry`` is set at once by a ``retry`` field whose value is one or more ASCII digits; an
  empty value is ignored (it is no integer in base ten).
* ``max_event_bytes`` bounds the bytes one event may span on the wire: from the start of its
  first line (comments included) to the end of the current line, line ends between them
  included. The standard has no limit; without one, a hostile or broken peer could grow memory
  without bound. Crossing it raises :class:`SSEProtocolError` whose ``offset`` is the stream
  offset of the first byte beyond the limit, the same however the stream is split into feeds.
  The decoder is then failed for good.
* After :meth:`SSEDecoder.close` the decoder reads a new stream (as after a reconnect): the BOM
  rule applies again and ``last_event_id`` and ``retry`` are kept; the new stream's last event ID
  buffer starts from ``last_event_id``, as browsers do.
* The encoder writes a ``data`` line unless the event is only a comment, an ``id`` or a ``retry``
  hint (empty data, no event name): such blocks dispatch nothing on the client, which is exactly
  what a heartbeat, an id reset or a retry hint wants. An event with empty data and no event
  name therefore cannot carry an id; give it an event name or some data.
* Line breaks in ``data`` may be CR, LF or CRLF; each becomes a ``data:`` line and decodes back as
  LF, so CR and CRLF in data come back as LF.
"""

from __future__ import annotations

import msgspec

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
_LF = 10


class ServerSentEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One Server-Sent Event (an immutable ``msgspec`` struct with keyword-only fields).

    Attributes:
        data: the event's data; may contain line breaks (encoded as several ``data:`` lines).
        event: the event type; ``None`` means the default type, ``message``. Decoded events
            always carry it (``"message"`` when the stream named none).
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


def _check_field(name: str, value: str, *, nul: bool) -> None:
    if "\r" in value or "\n" in value or (nul and "\0" in value):
        forbidden = "\r\n\0" if nul else "\r\n"
        index, char = next((i, c) for i, c in enumerate(value) if c in forbidden)
        what = {"\r": "CR", "\n": "LF", "\0": "NUL"}[char]
        allowed = "CR, LF or NUL" if nul else "CR or LF"
        raise InvalidArgumentError(name, f"must not contain {allowed} ({what} at index {index})")


def _lines(text: str) -> list[str]:
    # CRLF first, then lone CR, then LF: the three line ends of the standard [spec: 9.2.5].
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _unencodable(event: ServerSentEvent) -> InvalidArgumentError:
    # Only reached when UTF-8 encoding failed: find the field with the lone surrogate.
    fields = (
        ("comment", event.comment),
        ("event", event.event),
        ("id", event.id),
        ("data", event.data),
    )
    for name, value in fields:  # pragma: no branch - one of them failed to encode
        if value is None:
            continue
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            return InvalidArgumentError(
                name, f"must be valid Unicode (lone surrogate at index {exc.start})"
            )
    raise AssertionError("unreachable: no field failed to encode")  # pragma: no cover


def encode(event: ServerSentEvent) -> bytes:
    """Encode one event as UTF-8 bytes, ending with the blank line that dispatches it.

    Data is split on CR, LF and CRLF into one ``data:`` line each; a comment on several lines
    becomes several comment lines. No ``data`` line is written when the data is empty, the event
    has no name, and a comment, an ``id`` or a ``retry`` is given (see the module docstring).

    Args:
        event: the event to encode.

    Returns:
        The bytes to write, e.g. ``b"data: hello\\n\\n"``.

    Raises:
        InvalidArgumentError: (a ``ValueError``) ``event`` or ``id`` contains CR or LF, ``id``
            contains NUL, ``retry`` is negative or not an int, or a text field holds a lone
            surrogate (which UTF-8 cannot encode). ``field`` names the field. Values are never
            silently rewritten: that would hide an injection.

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
        text = f"data: {data}\n\n"
    else:
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
        text = "".join(parts)
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise _unencodable(event) from None


class SSEDecoder:
    """An incremental, sans-IO Server-Sent Events decoder.

    Feed it bytes as they arrive; it returns the events those bytes complete. It never performs
    IO and holds at most ``max_event_bytes`` of one event's input. The result does not depend
    on how the stream is split into feeds.

    Args:
        max_event_bytes: the most bytes one event may span on the wire, from the start of its
            first line to the end of its last line (see the module docstring).

    Raises:
        InvalidArgumentError: ``max_event_bytes`` is not a positive int.

    Attributes:
        last_event_id: the last event ID string (``""`` when none or after a reset by an empty
            ``id``), updated when an event is dispatched.
        retry: the last valid reconnection time in milliseconds, or ``None``.
        max_event_bytes: the limit given.

    Example:
        >>> decoder = SSEDecoder()
        >>> decoder.feed(b"data: hel")
        []
        >>> decoder.feed(b"lo\\n\\n")
        [ServerSentEvent(data='hello', event='message', id=None, retry=None, comment=None)]
    """

    __slots__ = (
        "_data",
        "_event_type",
        "_failed",
        "_held",
        "_id_buffer",
        "_offset",
        "_parts",
        "_pending",
        "_pending_cr",
        "_started",
        "last_event_id",
        "max_event_bytes",
        "retry",
    )

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if isinstance(max_event_bytes, bool) or not isinstance(max_event_bytes, int):
            raise InvalidArgumentError(
                "max_event_bytes", f"must be an int, not {type(max_event_bytes).__name__}"
            )
        if max_event_bytes <= 0:
            raise InvalidArgumentError(
                "max_event_bytes", f"must be positive (got {max_event_bytes})"
            )
        self.max_event_bytes = max_event_bytes
        self.last_event_id = ""
        self.retry: int | None = None
        self._failed: SSEProtocolError | None = None
        self._reset()

    def _reset(self) -> None:
        # The state of one stream [spec: 9.2.6: the buffers start empty; the last event ID
        # buffer starts from the last event ID string, as browsers do on a reconnect].
        self._id_buffer = self.last_event_id
        self._data: list[str] = []  # the data buffer, one item per data line
        self._event_type = ""
        self._parts: list[bytes] = []  # an unterminated line, in the pieces it arrived in
        self._pending = 0  # len(b"".join(self._parts))
        self._held = 0  # bytes of the current event's complete lines, line ends included
        self._offset = 0  # stream offset of the first byte of self._parts
        self._pending_cr = False  # the last line ended with CR: a leading LF is its CRLF
        self._started = False  # the BOM check is done [spec: 9.2.6, one leading BOM]

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Decode more bytes of the stream.

        Args:
            data: the next bytes, split anywhere (inside a line, a CRLF or a character).

        Returns:
            The events completed by these bytes, in order.

        Raises:
            SSEProtocolError: an event grew past ``max_event_bytes``; ``offset`` is the stream
                offset of the first byte beyond the limit and ``limit`` the limit. The events
                completed earlier in the same call are lost with the stream; the decoder is
                failed for good and raises the same error on every later call.
        """
        if self._failed is not None:
            raise self._failed
        if not data:
            return []
        if self._pending_cr:
            self._pending_cr = False
            if data[0] == _LF:
                # [spec: 9.2.5] CRLF is one line end, even when split across two feeds.
                self._offset += 1
                if self._held:
                    self._held += 1
                data = data[1:]
                if not data:
                    return []
        if not self._started:
            if self._parts:
                data = self._parts[0] + data
                self._parts = []
                self._pending = 0
            if len(data) < 3 and _BOM.startswith(data):
                self._parts = [data]
                self._pending = len(data)
                return []
            self._started = True
            if data.startswith(_BOM):
                # [spec: 9.2.6] the UTF-8 decode algorithm strips one leading BOM; a later one
                # is content (it makes the field name unknown).
                data = data[3:]
                self._offset = 3
                if not data:
                    return []
        if b"\n" not in data and b"\r" not in data:
            # No line end: keep the pieces (joining them on every feed would be quadratic).
            self._parts.append(data)
            self._pending += len(data)
            if self._held + self._pending > self.max_event_bytes:
                self._fail(self._offset - self._held)
            return []
        if self._parts:
            self._parts.append(data)
            buf = b"".join(self._parts)
            self._parts = []
            self._pending = 0
        else:
            buf = data
        if self._held + len(buf) <= self.max_event_bytes:
            # No event can cross the limit within this buffer: take the fast path, unless the
            # buffer ends with CR (whose LF may be in the next feed).
            if b"\r" not in buf:
                return self._feed_fast(buf, cr=False)
            if buf[-1] != 13:
                return self._feed_fast(buf, cr=True)
        return self._feed_careful(buf)

    def close(self) -> list[ServerSentEvent]:
        """End the stream. An incomplete event is dropped [spec: 9.2.6, end of file].

        Returns:
            Always an empty list (kept for the ``feed``/``close`` surface every protocol object
            shares). The decoder may be fed again afterwards as a new stream: the BOM rule
            applies again, ``last_event_id`` and ``retry`` are kept, as on a reconnect.

        Raises:
            SSEProtocolError: the decoder had failed; it stays failed.
        """
        if self._failed is not None:
            raise self._failed
        self._reset()
        return []

    def _fail(self, event_start: int) -> None:
        self._failed = SSEProtocolError(
            f"event larger than max_event_bytes ({self.max_event_bytes} bytes)",
            offset=event_start + self.max_event_bytes,
            limit=self.max_event_bytes,
        )
        raise self._failed

    def _feed_fast(self, buf: bytes, *, cr: bool) -> list[ServerSentEvent]:
        # ``buf`` holds at least one line end. It has no CR unless ``cr``, and does not end with
        # CR. It may end with an unterminated line, kept for the next feed; decoding it here as
        # well is harmless (_interpret drops it) and cheaper than copying the buffer without it.
        end = buf.rfind(b"\n") + 1
        if cr:
            end = max(end, buf.rfind(b"\r", end) + 1)
        if end != len(buf):
            self._parts = [buf[end:]]
            self._pending = len(buf) - end
        events = self._interpret(buf.decode("utf-8", "replace"), cr=cr)
        # Where the current event starts: after the last blank line, if any. A blank line is
        # a line end right after another, or at the start of the buffer (which always starts a
        # line). Two line ends meet where LF or a lone CR is followed by CR or LF (a CR before
        # a LF is not lone: CRLF is one line end).
        last = buf.rfind(b"\n\n", 0, end)
        if cr:
            for pair in (b"\n\r", b"\r\r"):
                found = buf.rfind(pair, last + 1, end)
                if found > last:
                    last = found
        if last >= 0:
            start = last + 2
            if buf[last + 1] == 13 and buf[last + 2 : last + 3] == b"\n":
                start += 1  # the blank line ends with CRLF
            self._held = end - start
        elif buf[0] == _LF or buf[0] == 13:
            self._held = end - (2 if buf.startswith(b"\r\n") else 1)
        else:
            self._held += end
        self._offset += end
        return events

    def _feed_careful(self, buf: bytes) -> list[ServerSentEvent]:
        # Line by line, checking the limit at every line: for lone CRs and big buffers.
        events: list[ServerSentEvent] = []
        lines = buf.splitlines(True)  # bytes.splitlines breaks on CR, LF and CRLF only
        last = lines[-1]
        if last[-1] == _LF or last[-1] == 13:
            if last[-1] == 13:
                # The CR may be the first half of a CRLF whose LF is in the next feed.
                self._pending_cr = True
        else:
            lines.pop()
            self._parts = [last]
            self._pending = len(last)
        limit = self.max_event_bytes
        position = self._offset
        for line in lines:
            size = len(line)
            content = line.rstrip(b"\r\n")
            if content:
                if self._held + len(content) > limit:
                    self._fail(position - self._held)
                self._held += size
                self._line(content.decode("utf-8", "replace"), events)
            else:
                self._held = 0
                self._dispatch(events)
            position += size
        self._offset = position
        if self._pending and self._held + self._pending > limit:
            self._fail(position - self._held)
        return events

    def _interpret(self, text: str, *, cr: bool) -> list[ServerSentEvent]:
        # ``text`` is whole lines, then maybe an unterminated line, which is dropped. It has
        # no CR unless ``cr``. Split it into blocks at the blank lines that follow a line with
        # the same line end (LF LF, or CRLF CRLF when there are CRs): every block but the last
        # is followed by such a blank line, which dispatches it. Other blank lines are found
        # inside the blocks, line by line. (CRLF is always one line end, so "\r\n\r\n" is
        # always a line end and a blank line.)
        events: list[ServerSentEvent] = []
        blocks = text.split("\r\n\r\n" if cr else "\n\n")
        tail = blocks.pop()
        if blocks:
            if self._data or self._event_type:
                # The first block ends an event begun in an earlier feed.
                self._lines(blocks[0], events, cr=cr)
                self._dispatch(events)
                blocks[0] = ""
            append = events.append
            event = ServerSentEvent
            ident = self._id_buffer or None
            for block in blocks:
                if block[:6] == "data: " and "\n" not in block and not (cr and "\r" in block):
                    # The common event: one data line, then the blank line that dispatches it.
                    # [spec: 9.2.6] the one leading space is removed; the type defaults to
                    # "message" (dispatch step 5).
                    append(event(data=block[6:], event="message", id=ident))
                elif block:
                    self._lines(block, events, cr=cr)
                    self._dispatch(events)
                    ident = self._id_buffer or None
            # [spec: 9.2.6 dispatch step 1] every block ended with a dispatch, which sets the
            # last event ID string (an empty block dispatches nothing and changes nothing).
            self.last_event_id = self._id_buffer
        # The tail's last line is unterminated (empty when the text ends with a line end).
        self._lines(tail, events, cr=cr, last=False)
        return events

    def _lines(
        self, block: str, events: list[ServerSentEvent], *, cr: bool, last: bool = True
    ) -> None:
        # Interpret the lines of ``block`` (its last line too, unless ``last`` is false).
        if cr:
            # [spec: 9.2.5] CRLF, then a lone CR, then LF end a line.
            block = block.replace("\r\n", "\n").replace("\r", "\n")
        lines = block.split("\n")
        if not last:
            lines.pop()
        for line in lines:
            self._line(line, events)

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        # [spec: 9.2.6 dispatch step 1] the last event ID string takes the buffer's value;
        # the buffer is not reset.
        self.last_event_id = ident = self._id_buffer
        if self._data:
            events.append(
                ServerSentEvent(
                    # [spec: 9.2.6 dispatch step 3] joining the lines with LF is appending LF
                    # to each line and removing exactly one trailing LF.
                    data="\n".join(self._data),
                    # [spec: 9.2.6 dispatch steps 5-6] the type defaults to "message".
                    event=self._event_type or "message",
                    id=ident or None,
                )
            )
            self._data = []
        # [spec: 9.2.6 dispatch steps 2 and 7] an empty data buffer dispatches nothing, but the
        # event type buffer is reset all the same.
        self._event_type = ""

    def _line(self, line: str, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)  # [spec: 9.2.6] a blank line dispatches the event.
            return
        colon = line.find(":")
        if colon == 0:
            return  # [spec: 9.2.6] a line starting with a colon is a comment.
        if colon < 0:
            # [spec: 9.2.6] no colon: the whole line is the field name, the value is empty.
            name, value = line, ""
        else:
            name = line[:colon]
            value = line[colon + 1 :]
            if value[:1] == " ":
                value = value[1:]  # [spec: 9.2.6] exactly one leading space is removed.
        # [spec: 9.2.6] field names are compared literally (case-sensitively); unknown fields
        # are ignored.
        if name == "data":
            # [spec: 9.2.6] append the value (and a LF, see _dispatch) to the data buffer.
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:  # [spec: 9.2.6] an id containing NUL is ignored.
                # An empty id resets the last event ID buffer to the empty string.
                self._id_buffer = value
        # [spec: 9.2.6] only a value of ASCII digits alone sets the reconnection time.
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
