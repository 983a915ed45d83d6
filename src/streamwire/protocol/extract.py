"""StructuredExtractor: a model's streamed JSON text in, ``structured-data`` chunks out (sans-IO).

A model asked for JSON writes it as text fragments. Feed the fragments to a
:class:`StructuredExtractor` built with a field spec (``{"title": "set", "body": "text-delta",
"bullets": "append", "sections.*.body": "text-delta"}``); it returns the chunks that each fragment
completes, and :meth:`~StructuredExtractor.close` returns the ``final`` chunk with the parsed
(and optionally validated) document. A client rebuilds the object with
:func:`~streamwire.protocol.structured.apply_structured_chunk`.

Why a scanner of our own: the cost must be linear in the document, and a ``text-delta`` field
must stream while its string is still open. ``msgspec`` and the standard library parse complete
documents only; ``jiter`` (checked at 0.19) offers ``partial_mode="trailing-strings"``, which
parses a whole *prefix* on every call, so following a stream with it re-reads the buffer on each
fragment (quadratic; ``benchmarks/extract.py`` measures it); ``ijson`` yields a string only once
it is complete. So this module runs a small incremental state machine over the characters,
tracking the path stack, and touches every character a bounded number of times (long runs
inside strings are skipped with one regular-expression search). It never builds values itself:
when a value is complete, its text is parsed by ``msgspec.json``, and at the end the whole
document is parsed by ``msgspec.json`` (and validated), which is the source of truth.

Two neighbours do the rest: :mod:`streamwire.protocol.field_spec` checks the field spec and
compiles it into the trie the scanner walks, and :mod:`streamwire.protocol.schema_validation`
validates the finished document (a JSON Schema subset or a Pydantic model).

Rules (see ``docs/structured.md``):

* Field paths are dotted. ``*`` matches exactly one object key or array index; an all-digit
  segment matches that array index only, any other segment that object key only. Emitted chunks
  carry concrete paths (``sections.2.body``). Object keys that a dotted path cannot name (empty,
  containing ``.``, or all ASCII digits) are never matched; such values reach the client in
  ``final`` only.
* ``text-delta``: each new piece of the string as soon as its characters are known; an escape or
  a surrogate pair cut by a fragment boundary is held back until complete. No empty deltas: the
  field appears on the client with its first character.
* ``append``: one ``append`` chunk per array item, as soon as the item is complete, in order.
  A spec entry below an ``append`` field is refused (an appended item is sent whole).
* ``set``: one ``set`` chunk once the value is complete.
* A field whose value has another shape than its kind needs (``null`` for a ``text-delta`` field,
  an object for an ``append`` field) is sent with ``set`` once complete; validation, when
  configured, then decides whether that document is acceptable.
* Array elements: the reducer refuses an index beyond the end of an array, so before a chunk
  addresses ``sections.2.body`` the extractor makes sure the client has ``sections.0`` and
  ``sections.1``; elements it has not sent yet (nothing in them matched the spec) are sent with
  ``set``, complete. This is the one case in which values outside the spec are streamed.
* ``dataType`` goes on the first chunk and on ``final``; the reducer keeps it.
* Accepted around the document, because models add them: leading and trailing whitespace, and a
  Markdown code fence (three backticks, an optional language tag such as ``json``, a line
  break) before it with an optional closing fence after it. Any other text before or after the
  document is a :class:`StructuredOutputError` with its offset.
* The JSON itself is RFC 8259, as strict as ``msgspec``: no comments, no trailing commas, no
  lone surrogates, no raw control characters in strings, and no duplicate object keys (a
  duplicated field would stream twice and contradict ``final``). Errors are raised by
  :meth:`~StructuredExtractor.feed` as soon as they are seen, with the character offset in the
  text fed so far; the extractor is then failed for good.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, Literal, cast

import msgspec

from streamwire.protocol.chunks import JSONValue, StructuredData
from streamwire.protocol.errors import InvalidArgumentError, StructuredOutputError
from streamwire.protocol.field_spec import (
    FieldKind,
    FieldNode,
    FieldSpec,
    compile_field_spec,
    find_kind,
    is_addressable_key,
    match_segment,
)
from streamwire.protocol.schema_validation import (
    check_json_schema,
    pydantic_adapter,
    validate_json_schema,
    validate_with_pydantic,
)

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter

__all__ = [
    "DEFAULT_MAX_DOCUMENT_CHARS",
    "FieldKind",
    "FieldSpec",
    "StructuredExtractor",
    "validate_json_schema",
]


# 4 Mi characters: the final chunk carries the whole document in one SSE event, and the SSE
# decoder's default limit is 4 MiB per event, so a larger document could not reach a client
# with default settings anyway. Far above any model's structured answer.
DEFAULT_MAX_DOCUMENT_CHARS: Final = 4 * 1024 * 1024

_WS = re.compile(r"[ \t\n\r]*")  # RFC 8259 section 2: the four whitespace characters
# Inside a string, the characters that need attention: the closing quote, an escape, a raw
# control character (RFC 8259 section 7: must be escaped) or a lone surrogate code point.
_STRING_SPECIAL = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')
_NUMBER_CHARS = re.compile(r"[0-9eE+\-.]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")  # RFC 8259 sec. 6
_LETTERS = re.compile(r"[a-z]*")
_LITERALS: Final = ("true", "false", "null")
_NUMBER_TAILS: Final = frozenset("0123456789")  # how a complete number can end
_VALUE_STARTS: Final = frozenset('{["-0123456789tfn')
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_FENCE_INFO = re.compile(r"[A-Za-z0-9_+.\-]*[ \t]*")
_SIMPLE_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}

# Scanner modes.
_PRE: Final = 0  # before the document: whitespace, an opening code fence
_FENCE_INFO_MODE: Final = 1  # after an opening fence: the language tag up to the line break
_VALUE: Final = 2  # a value is expected
_VALUE_OR_END: Final = 3  # after "[": a value or "]"
_KEY_OR_END: Final = 4  # after "{": a key or "}"
_KEY: Final = 5  # after "," in an object: a key
_COLON: Final = 6  # after a key
_AFTER: Final = 7  # after a value in a container: "," or the closing bracket
_STRING: Final = 8  # inside a string (a value or a key)
_NUMBER_MODE: Final = 9
_LITERAL: Final = 10
_POST: Final = 11  # after the document: whitespace, a closing code fence
_POST_FENCE: Final = 12  # after the closing fence: whitespace only

_WHERE: Final = {
    _PRE: "before the document",
    _FENCE_INFO_MODE: "in the code fence's first line",
    _VALUE: "where a value was expected",
    _VALUE_OR_END: "inside an array",
    _KEY_OR_END: "inside an object",
    _KEY: "where an object key was expected",
    _COLON: "after an object key",
    _AFTER: "inside a container",
    _STRING: "inside a string",
    _NUMBER_MODE: "inside a number",
    _LITERAL: "inside a literal",
}


def _join(path: str, segment: str) -> str:
    return f"{path}.{segment}" if path else segment


class _Frame:
    """An open object or array."""

    __slots__ = (
        "client_len",
        "elements",
        "index",
        "is_object",
        "key",
        "keys",
        "nodes",
        "path",
        "sets",
        "start",
        "streams_items",
    )

    def __init__(
        self,
        *,
        is_object: bool,
        path: str | None,
        nodes: tuple[FieldNode, ...],
        sets: bool,
        start: int,
        streams_items: bool,
    ) -> None:
        self.is_object = is_object
        self.path = path  # None: no field can match at or under this container
        self.nodes = nodes
        self.sets = sets  # send this container with "set" once complete
        self.start = start
        self.streams_items = streams_items  # an "append" field: send each item
        self.key: str | None = None
        self.keys: set[str] = set()
        self.index = 0
        self.client_len = 0  # how many elements the client has (see _ensure)
        # (start, end) of each complete element, kept when chunks may address its elements.
        self.elements: list[tuple[int, int]] | None = (
            [] if not is_object and any(n.has_children for n in nodes) else None
        )


class StructuredExtractor:
    """Turns a model's streamed JSON text into ``structured-data`` chunks, field by field.

    Args:
        fields: the field spec: a mapping of dotted path patterns to kinds (``"set"``,
            ``"append"``, ``"text-delta"``), or :class:`FieldSpec` objects.
        stream_id: the ``streamId`` of every chunk.
        data_type: the ``dataType`` to announce (on the first chunk and on ``final``).
        model: validate the finished document against this Pydantic model class (needs the
            ``pydantic`` extra) or this JSON Schema (a dict, see :func:`validate_json_schema`).
        max_document_chars: the most characters of text the extractor accepts in all.

    Raises:
        ValueError: a spec entry cannot work: an empty path or segment, an unknown kind, two
            kinds for one path, ``*`` mixed into a segment or making up the whole path, an
            index with a leading zero, a field inside an ``append`` field; or ``model`` is
            neither a Pydantic model class nor a supported JSON Schema.
        InvalidArgumentError: (a ``ValueError``) ``stream_id`` is empty or
            ``max_document_chars`` is not positive.

    Example:
        >>> ex = StructuredExtractor({"title": "set", "body": "text-delta"}, stream_id="d")
        >>> [c.kind for c in ex.feed('{"title": "Hi", "body": "Hel')]
        ['set', 'text-delta']
        >>> ex.feed('lo"}')[0].delta
        'lo'
        >>> ex.close()[0].data
        {'title': 'Hi', 'body': 'Hello'}
    """

    def __init__(
        self,
        fields: Mapping[str, str] | Iterable[FieldSpec],
        *,
        stream_id: str,
        data_type: str | None = None,
        model: type[BaseModel] | Mapping[str, JSONValue] | None = None,
        max_document_chars: int = DEFAULT_MAX_DOCUMENT_CHARS,
    ) -> None:
        if not isinstance(stream_id, str) or not stream_id:
            raise InvalidArgumentError("stream_id", "must be a non-empty string")
        if not isinstance(max_document_chars, int) or max_document_chars <= 0:
            raise InvalidArgumentError("max_document_chars", "must be a positive int")
        if isinstance(fields, Mapping):
            # Any str is accepted here (specs often come from configuration);
            # compile_field_spec checks it.
            specs = tuple(FieldSpec(path, cast(FieldKind, kind)) for path, kind in fields.items())
        else:
            specs = tuple(fields)
        self._specs = specs
        self._root = compile_field_spec(specs)
        self._stream_id = stream_id
        self._data_type = data_type
        self._max_chars = max_document_chars
        self._adapter: TypeAdapter[BaseModel] | None = None
        self._schema: Mapping[str, JSONValue] | None = None
        if isinstance(model, Mapping):
            check_json_schema(model, "#")
            self._schema = model
        elif model is not None:
            self._adapter = pydantic_adapter(model)
        # The text fed so far, as pieces, to cut values out of (see _text).
        self._parts: list[str] = []
        self._part_starts: list[int] = []
        self._total = 0
        self._carry = ""  # unconsumed tail: a cut escape, backticks of a fence
        self._mode = _PRE
        self._fenced = False
        self._stack: list[_Frame] = []
        self._root_start = -1
        self._root_end = -1
        # The scalar being scanned.
        self._scalar_start = 0
        self._scalar_path: str | None = None
        self._scalar_nodes: tuple[FieldNode, ...] = ()
        self._scalar_sets = False
        self._streaming = False  # a text-delta string: collect its characters
        self._is_key = False
        self._pieces: list[str] = []
        self._sent_any = False
        self._failed: StructuredOutputError | None = None
        self._closed = False
        self._result: JSONValue = None

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        """The field spec, as given."""
        return self._specs

    @property
    def stream_id(self) -> str:
        """The ``streamId`` of every chunk."""
        return self._stream_id

    @property
    def result(self) -> JSONValue:
        """After a successful :meth:`close`: the validated value (a model instance when a
        Pydantic model was given), else the parsed document. ``None`` before that."""
        return self._result

    # --- public surface -------------------------------------------------------------------

    def feed(self, text: str) -> list[StructuredData]:
        """Scan more of the document and return the chunks it completes, in document order.

        Args:
            text: the next fragment of the model's output, cut anywhere.

        Returns:
            ``set``, ``append`` and ``text-delta`` chunks (possibly none).

        Raises:
            StructuredOutputError: the text so far is not the start of one JSON document (with
                the accepted whitespace and code fence), or is longer than
                ``max_document_chars``; ``offset`` is the character offset in all the text fed,
                ``path`` where in the document it happened. The extractor is failed for good:
                every later call raises the same error.
            InvalidArgumentError: called after :meth:`close`.
        """
        if self._failed is not None:
            raise self._failed
        if self._closed:
            raise InvalidArgumentError("feed", "called after close()")
        if not text:
            return []
        out: list[StructuredData] = []
        try:
            if self._total + len(text) > self._max_chars:
                raise self._error(
                    f"the document is longer than max_document_chars ({self._max_chars})",
                    self._max_chars,
                )
            self._parts.append(text)
            self._part_starts.append(self._total)
            buf = self._carry + text if self._carry else text
            base = self._total - len(self._carry)
            self._total += len(text)
            self._carry = ""
            self._scan(buf, base, out)
        except StructuredOutputError as exc:
            self._failed = exc
            raise
        return out

    def close(self) -> list[StructuredData]:
        """End the document: parse it, validate it, and return the ``final`` chunk.

        Returns:
            A list holding the ``final`` chunk, whose ``data`` is the whole document parsed by
            ``msgspec`` (the source of truth) and whose ``dataType`` is ``data_type``.

        Raises:
            StructuredOutputError: no document, a document cut off (``offset`` is the end of the
                text), text after it, or a document that fails validation (``path`` names the
                first bad path). The extractor is failed for good.
            InvalidArgumentError: called twice.
        """
        if self._failed is not None:
            raise self._failed
        if self._closed:
            raise InvalidArgumentError("close", "called twice")
        try:
            chunks = self._finish()
        except StructuredOutputError as exc:
            self._failed = exc
            raise
        self._closed = True
        return chunks

    # --- chunks ---------------------------------------------------------------------------

    def _chunk(
        self,
        kind: Literal["set", "append", "text-delta"],
        path: str,
        value: JSONValue,
    ) -> StructuredData:
        data_type = None
        if not self._sent_any:
            self._sent_any = True
            data_type = self._data_type
        if kind == "set":
            return StructuredData(
                stream_id=self._stream_id, kind="set", path=path, value=value, data_type=data_type
            )
        if kind == "append":
            return StructuredData(
                stream_id=self._stream_id,
                kind="append",
                path=path,
                items=[value],
                data_type=data_type,
            )
        return StructuredData(
            stream_id=self._stream_id,
            kind="text-delta",
            path=path,
            delta=value,
            data_type=data_type,
        )

    def _text(self, start: int, end: int) -> str:
        """The text between two offsets (of all the text fed)."""
        parts = self._parts
        first = bisect.bisect_right(self._part_starts, start) - 1
        last = bisect.bisect_right(self._part_starts, end - 1) - 1
        offset = self._part_starts[first]
        if first == last:
            return parts[first][start - offset : end - offset]
        return "".join(parts[first : last + 1])[start - offset : end - offset]

    def _value(self, start: int, end: int) -> JSONValue:
        # The scanner has checked the syntax; msgspec builds the value.
        return msgspec.json.decode(self._text(start, end))

    def _ensure(self, depth: int, out: list[StructuredData]) -> None:
        """Make sure the client has every array element on the way to a chunk's path.

        The reducer refuses an index beyond the end of an array. Elements sent by nothing so
        far (no field matched in them) are sent now with ``set``, whole: they are complete.
        """
        for frame in self._stack[:depth]:
            if frame.is_object:
                continue
            index = frame.index
            if frame.client_len < index:
                assert frame.elements is not None
                assert frame.path is not None
                for missing in range(frame.client_len, index):
                    start, end = frame.elements[missing]
                    out.append(
                        self._chunk("set", _join(frame.path, str(missing)), self._value(start, end))
                    )
            if frame.client_len <= index:
                frame.client_len = index + 1

    # --- errors ---------------------------------------------------------------------------

    def _where(self) -> str:
        segments: list[str] = []
        for frame in self._stack:
            if frame.is_object:
                if frame.key is not None:
                    segments.append(frame.key)
            else:
                segments.append(str(frame.index))
        return ".".join(segments)

    def _error(self, reason: str, offset: int) -> StructuredOutputError:
        return StructuredOutputError(reason, path=self._where(), offset=offset)

    def _unexpected(self, buf: str, i: int, base: int, expected: str) -> StructuredOutputError:
        return self._error(f"expected {expected}, found {buf[i]!r}", base + i)

    # --- the scanner ----------------------------------------------------------------------

    def _start_value(self, buf: str, i: int, base: int) -> int:
        """Start the value whose first character is ``buf[i]``; return the next position."""
        stack = self._stack
        if stack:
            parent = stack[-1]
            if parent.nodes:
                segment = parent.key if parent.is_object else str(parent.index)
                assert segment is not None
                if parent.is_object and not is_addressable_key(segment):
                    nodes: tuple[FieldNode, ...] = ()
                else:
                    nodes = match_segment(parent.nodes, segment)
                assert parent.path is not None
                path: str | None = _join(parent.path, segment) if nodes else None
            else:
                nodes, path = (), None
        else:
            nodes, path = (self._root,), ""
            self._root_start = base + i
        kind = find_kind(nodes)
        ch = buf[i]
        if ch == "{" or ch == "[":
            is_object = ch == "{"
            streams_items = kind == "append" and not is_object
            stack.append(
                _Frame(
                    is_object=is_object,
                    path=path,
                    nodes=nodes,
                    sets=kind is not None and not streams_items,
                    start=base + i,
                    streams_items=streams_items,
                )
            )
            self._mode = _KEY_OR_END if is_object else _VALUE_OR_END
            return i + 1
        self._scalar_start = base + i
        self._scalar_path = path
        self._scalar_nodes = nodes
        if ch == '"':
            self._streaming = kind == "text-delta"
            self._scalar_sets = kind is not None and not self._streaming
            self._is_key = False
            self._mode = _STRING
            return i + 1
        self._scalar_sets = kind is not None
        if ch == "-" or "0" <= ch <= "9":
            self._pieces = []
            self._mode = _NUMBER_MODE
            return i
        if ch in "tfn":
            self._pieces = []
            self._mode = _LITERAL
            return i
        raise self._unexpected(buf, i, base, "a JSON value")

    def _value_done(
        self, path: str | None, sets: bool, start: int, end: int, out: list[StructuredData]
    ) -> None:
        """A value ended: send it if its field says so, then return to its container."""
        stack = self._stack
        if sets:
            assert path is not None
            self._ensure(len(stack), out)
            out.append(self._chunk("set", path, self._value(start, end)))
        if not stack:
            self._root_end = end
            self._mode = _POST
            return
        parent = stack[-1]
        if not parent.is_object:
            if parent.streams_items:
                assert parent.path is not None
                self._ensure(len(stack) - 1, out)
                out.append(self._chunk("append", parent.path, self._value(start, end)))
            elif parent.elements is not None:
                parent.elements.append((start, end))
        self._mode = _AFTER

    def _flush_delta(self, out: list[StructuredData]) -> None:
        if self._pieces:
            assert self._scalar_path is not None
            self._ensure(len(self._stack), out)
            out.append(self._chunk("text-delta", self._scalar_path, "".join(self._pieces)))
            self._pieces = []

    def _string(self, buf: str, i: int, base: int, out: list[StructuredData]) -> int:
        """Scan inside a string from ``buf[i]``; return where scanning stopped."""
        n = len(buf)
        collect = self._streaming or self._is_key
        pieces = self._pieces
        search = _STRING_SPECIAL.search
        while True:
            m = search(buf, i)
            if m is None:
                if collect and i < n:
                    pieces.append(buf[i:])
                return n
            j = m.start()
            if collect and j > i:
                pieces.append(buf[i:j])
            ch = buf[j]
            if ch == '"':
                self._end_string(base + j + 1, out)
                return j + 1
            if ch != "\\":
                what = "a raw control character" if ch < " " else "a lone surrogate"
                raise self._error(
                    f"{what} (U+{ord(ch):04X}) inside a string; JSON requires it escaped", base + j
                )
            # An escape (RFC 8259 section 7). Held back whole when the fragment cuts it.
            if j + 1 >= n:
                self._carry = buf[j:]
                return n
            e = buf[j + 1]
            simple = _SIMPLE_ESCAPES.get(e)
            if simple is not None:
                if collect:
                    pieces.append(simple)
                i = j + 2
                continue
            if e != "u":
                raise self._error(f"invalid escape '\\{e}' in a string", base + j)
            if j + 6 > n:
                if not all(c in _HEX_DIGITS for c in buf[j + 2 :]):
                    raise self._error("invalid \\u escape: expected 4 hex digits", base + j)
                self._carry = buf[j:]
                return n
            if not _HEX4.fullmatch(buf, j + 2, j + 6):
                raise self._error("invalid \\u escape: expected 4 hex digits", base + j)
            code = int(buf[j + 2 : j + 6], 16)
            if 0xDC00 <= code <= 0xDFFF:
                raise self._error(
                    f"lone low surrogate \\u{code:04x} (no high surrogate before it)", base + j
                )
            if 0xD800 <= code <= 0xDBFF:
                # A high surrogate must be followed by a low surrogate escape: one character.
                tail = buf[j + 6 : j + 12]
                if (
                    tail[:1] not in ("", "\\")
                    or tail[1:2] not in ("", "u")
                    or not all(c in _HEX_DIGITS for c in tail[2:])
                ):
                    raise self._error(
                        f"lone high surrogate \\u{code:04x} (expected a low surrogate escape "
                        "after it)",
                        base + j,
                    )
                if len(tail) < 6:
                    self._carry = buf[j:]
                    return n
                low = int(tail[2:], 16)
                if not 0xDC00 <= low <= 0xDFFF:
                    raise self._error(
                        f"lone high surrogate \\u{code:04x} (followed by \\u{low:04x}, not a "
                        "low surrogate)",
                        base + j,
                    )
                if collect:
                    pieces.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                i = j + 12
                continue
            if collect:
                pieces.append(chr(code))
            i = j + 6

    def _end_string(self, end: int, out: list[StructuredData]) -> None:
        if self._is_key:
            key = "".join(self._pieces)
            self._pieces = []
            frame = self._stack[-1]
            if key in frame.keys:
                frame.key = key
                raise self._error(f"duplicate key {key!r} in an object", self._scalar_start)
            frame.keys.add(key)
            frame.key = key
            self._mode = _COLON
            return
        if self._streaming:
            self._flush_delta(out)
            self._streaming = False
        self._value_done(self._scalar_path, self._scalar_sets, self._scalar_start, end, out)

    def _end_token(self, end: int, out: list[StructuredData]) -> None:
        """End the number or literal being scanned at offset ``end``."""
        token = "".join(self._pieces)
        self._pieces = []
        if self._mode == _NUMBER_MODE:
            if _NUMBER.fullmatch(token) is None:
                raise self._error(f"invalid number {token!r}", self._scalar_start)
        elif token not in _LITERALS:
            raise self._error(
                f"invalid literal {token!r} (expected true, false or null)", self._scalar_start
            )
        self._value_done(self._scalar_path, self._scalar_sets, self._scalar_start, end, out)

    def _close_container(self, end: int, out: list[StructuredData]) -> None:
        frame = self._stack.pop()
        self._value_done(frame.path, frame.sets, frame.start, end, out)

    def _scan(self, buf: str, base: int, out: list[StructuredData]) -> None:
        n = len(buf)
        i = 0
        ws = _WS.match
        while i < n:
            mode = self._mode
            if mode == _STRING:
                i = self._string(buf, i, base, out)
                continue
            if mode in (_NUMBER_MODE, _LITERAL):
                pattern = _NUMBER_CHARS if mode == _NUMBER_MODE else _LETTERS
                j = pattern.match(buf, i).end()  # type: ignore[union-attr]  # "*" always matches
                if j > i:
                    self._pieces.append(buf[i:j])
                    if mode == _LITERAL:
                        token = "".join(self._pieces)
                        if not any(lit.startswith(token) for lit in _LITERALS):
                            raise self._error(
                                f"invalid literal {token!r} (expected true, false or null)",
                                self._scalar_start,
                            )
                if j == n:
                    return
                self._end_token(base + j, out)
                i = j
                continue
            if mode == _FENCE_INFO_MODE:
                j = _FENCE_INFO.match(buf, i).end()  # type: ignore[union-attr]  # "*" matches
                if j == n:
                    return
                if buf[j] not in "\r\n":
                    raise self._unexpected(
                        buf, j, base, "a line break after the code fence's language tag"
                    )
                self._mode = _PRE
                i = j + 1
                continue
            i = ws(buf, i).end()  # type: ignore[union-attr]  # "*" always matches
            if i == n:
                return
            ch = buf[i]
            if mode == _VALUE:
                i = self._start_value(buf, i, base)
            elif mode == _AFTER:
                frame = self._stack[-1]
                if ch == ",":
                    if frame.is_object:
                        self._mode = _KEY
                    else:
                        frame.index += 1
                        self._mode = _VALUE
                    i += 1
                elif ch == ("}" if frame.is_object else "]"):
                    self._close_container(base + i + 1, out)
                    i += 1
                else:
                    closing = "'}'" if frame.is_object else "']'"
                    raise self._unexpected(buf, i, base, f"',' or {closing}")
            elif mode in (_KEY, _KEY_OR_END):
                if ch == '"':
                    self._scalar_start = base + i
                    self._is_key = True
                    self._streaming = False
                    self._pieces = []
                    self._mode = _STRING
                    i += 1
                elif ch == "}" and mode == _KEY_OR_END:
                    self._close_container(base + i + 1, out)
                    i += 1
                else:
                    expected = "an object key in double quotes"
                    if mode == _KEY_OR_END:
                        expected += " or '}'"
                    raise self._unexpected(buf, i, base, expected)
            elif mode == _COLON:
                if ch != ":":
                    raise self._unexpected(buf, i, base, "':' after the object key")
                self._mode = _VALUE
                i += 1
            elif mode == _VALUE_OR_END:
                if ch == "]":
                    self._close_container(base + i + 1, out)
                    i += 1
                else:
                    self._mode = _VALUE
            elif mode == _PRE:
                if ch == "`" and not self._fenced:
                    if n - i < 3 and "```".startswith(buf[i:]):
                        self._carry = buf[i:]
                        return
                    if not buf.startswith("```", i):
                        raise self._unexpected(buf, i, base, "a JSON document or a code fence")
                    self._fenced = True
                    self._mode = _FENCE_INFO_MODE
                    i += 3
                elif ch in _VALUE_STARTS:
                    self._mode = _VALUE
                else:
                    expected = (
                        "a JSON document" if self._fenced else "a JSON document or a code fence"
                    )
                    raise self._unexpected(buf, i, base, expected)
            elif mode == _POST:
                if ch == "`" and self._fenced:
                    if n - i < 3 and "```".startswith(buf[i:]):
                        self._carry = buf[i:]
                        return
                    if buf.startswith("```", i):
                        self._mode = _POST_FENCE
                        i += 3
                        continue
                raise self._unexpected(buf, i, base, "nothing after the JSON document")
            else:  # _POST_FENCE
                raise self._unexpected(buf, i, base, "nothing after the closing code fence")
        if self._mode == _STRING and self._streaming:
            self._flush_delta(out)

    # --- the end --------------------------------------------------------------------------

    def _finish(self) -> list[StructuredData]:
        out: list[StructuredData] = []
        mode = self._mode
        if mode in (_NUMBER_MODE, _LITERAL) and not self._stack:
            # A top-level number or literal ends with the text, unless it is cut off there.
            token = "".join(self._pieces)
            if token in _LITERALS if mode == _LITERAL else token[-1] in _NUMBER_TAILS:
                self._end_token(self._total, out)
                mode = self._mode
        if self._carry and mode in (_PRE, _POST):
            raise self._error(
                f"unexpected {self._carry!r} at the end of the text",
                self._total - len(self._carry),
            )
        if mode in (_PRE, _FENCE_INFO_MODE):
            raise self._error("no JSON document in the text", self._total)
        if mode not in (_POST, _POST_FENCE):
            raise self._error(f"the JSON document is cut off {_WHERE[mode]}", self._total)
        text = self._text(self._root_start, self._root_end)
        try:
            data = msgspec.json.decode(text)
        except (msgspec.DecodeError, UnicodeEncodeError) as exc:  # pragma: no cover
            # The scanner is as strict as msgspec; this would be a bug in one of them.
            raise self._error(f"not valid JSON: {exc}", self._root_start) from None
        self._result = data
        if self._adapter is not None:
            self._result = validate_with_pydantic(self._adapter, text)
        elif self._schema is not None:
            path, reason = validate_json_schema(data, self._schema)
            if reason:
                raise StructuredOutputError(f"does not match the schema: {reason}", path=path)
        self._sent_any = True
        out.append(
            StructuredData(
                stream_id=self._stream_id, kind="final", data=data, data_type=self._data_type
            )
        )
        return out
