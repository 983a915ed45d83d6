"""The streamwire stream protocol v1: the chunk vocabulary and its JSON form.

Every chunk is an immutable, slotted ``msgspec`` struct with keyword-only fields, discriminated by
its ``type``. On the wire a chunk is one compact JSON object whose keys are camelCase; in Python
the fields are snake_case. The table below is the one place that maps one to the other (msgspec's
``rename="camel"`` applies it):

=====================  ==========================  =============================================
type                   class                       wire fields (``?`` optional)
=====================  ==========================  =============================================
``start``              :class:`Start`              messageId?, sessionId?
``text-delta``         :class:`TextDelta`          delta, id?
``reasoning-delta``    :class:`ReasoningDelta`     delta, id?
``structured-data``    :class:`StructuredData`     streamId, kind, path (not for final),
                                                   value | items | delta | data, dataType?
``tool-call-start``    :class:`ToolCallStart`      toolCallId, tool
``tool-call-delta``    :class:`ToolCallDelta`      toolCallId, inputDelta
``tool-call-end``      :class:`ToolCallEnd`        toolCallId, input
``tool-call-result``   :class:`ToolCallResult`     toolCallId, tool, content, isError?
``interrupt``          :class:`Interrupt`          requestId, resumeToken,
                                                   input {kind, question?, options?}
``progress``           :class:`Progress`           value, total?, message?
``usage``              :class:`Usage`              inputTokens, outputTokens
``error``              :class:`ErrorChunk`         message, code, retryable
``done``               :class:`Done`               finishReason?
=====================  ==========================  =============================================

Decoding is strict where it matters: an unknown ``type``, a missing field or a field of the wrong
type raises :class:`ChunkDecodeError` naming the field (a dotted wire path such as
``input.kind``). Unknown *keys* are ignored, so that a newer server can add optional fields
without breaking older clients. A ``structured-data`` chunk carries exactly the payload field of
its ``kind`` (``value``, ``items``, ``delta`` or ``data``); another kind's field is an error, since
it would be ambiguous.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final, Literal, TypeAlias

import msgspec

from streamwire.protocol.errors import ChunkDecodeError, InvalidArgumentError

__all__ = [
    "CHUNK_TYPES",
    "Chunk",
    "ChunkDecodeError",
    "Done",
    "ErrorChunk",
    "Interrupt",
    "InterruptInput",
    "JSONValue",
    "Progress",
    "ReasoningDelta",
    "Start",
    "StructuredData",
    "StructuredKind",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallResult",
    "ToolCallStart",
    "Usage",
    "chunk_from_dict",
    "chunk_to_dict",
    "decode_chunk",
    "encode_chunk",
]

#: Any JSON value. (msgspec validates these as "any JSON"; the alias documents the intent.)
JSONValue: TypeAlias = Any

StructuredKind = Literal["set", "append", "text-delta", "final"]


class _Chunk(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    rename="camel",
    omit_defaults=True,
):
    """Base of every chunk: frozen, keyword-only, tagged by ``type``, camelCase on the wire."""

    type_name: ClassVar[str]


class Start(_Chunk, tag="start", frozen=True):
    """The stream has started. ``message_id`` names the assistant message being produced."""

    type_name: ClassVar[str] = "start"
    message_id: str | None = None
    session_id: str | None = None


class TextDelta(_Chunk, tag="text-delta", frozen=True):
    """A piece of the answer's text, to append to what came before (``id`` names the part)."""

    type_name: ClassVar[str] = "text-delta"
    delta: str
    id: str | None = None


class ReasoningDelta(_Chunk, tag="reasoning-delta", frozen=True):
    """A piece of the model's visible reasoning ("thinking"), kept apart from the answer."""

    type_name: ClassVar[str] = "reasoning-delta"
    delta: str
    id: str | None = None


class StructuredData(_Chunk, tag="structured-data", frozen=True):
    """An update to a structured object being built, identified by ``stream_id``.

    The ``kind`` says which other fields it carries:

    * ``set``: ``path`` and ``value`` (any JSON, ``null`` included): replace the value at path;
    * ``append``: ``path`` and ``items`` (a list): extend the array at path;
    * ``text-delta``: ``path`` and ``delta`` (a string): append to the string at path;
    * ``final``: ``data``, no path: the whole object, the source of truth; the stream is done.

    Raises:
        InvalidArgumentError: (a ``ValueError``) at construction, when the fields do not fit
            the kind (``ChunkDecodeError`` when decoding); ``field`` names the field.
    """

    type_name: ClassVar[str] = "structured-data"
    stream_id: str
    kind: StructuredKind
    path: str | None = None
    value: JSONValue | msgspec.UnsetType = msgspec.UNSET
    items: list[JSONValue] | None = None
    delta: str | None = None
    data: JSONValue | msgspec.UnsetType = msgspec.UNSET
    data_type: str | None = None

    def __post_init__(self) -> None:
        kind = self.kind
        payload = _PAYLOAD_FIELD.get(kind)
        if payload is None:
            # Only reachable by constructing in Python: decoding checks the literal first.
            kinds = ", ".join(repr(k) for k in _PAYLOAD_FIELD)
            raise InvalidArgumentError("kind", f"must be one of {kinds} (got {kind!r})")
        if kind == "final":
            if self.path is not None:
                raise InvalidArgumentError("path", "must be absent when kind is 'final'")
        elif self.path is None:
            raise InvalidArgumentError("path", f"is required when kind is {kind!r}")
        present = {
            "value": self.value is not msgspec.UNSET,
            "items": self.items is not None,
            "delta": self.delta is not None,
            "data": self.data is not msgspec.UNSET,
        }
        for name, there in present.items():
            if name == payload and not there:
                raise InvalidArgumentError(name, f"is required when kind is {kind!r}")
            if name != payload and there:
                raise InvalidArgumentError(name, f"must be absent when kind is {kind!r}")


# The one payload field each structured-data kind carries.
_PAYLOAD_FIELD: Final[dict[str, str]] = {
    "set": "value",
    "append": "items",
    "text-delta": "delta",
    "final": "data",
}


class ToolCallStart(_Chunk, tag="tool-call-start", frozen=True):
    """The model starts calling ``tool``; its input follows as deltas."""

    type_name: ClassVar[str] = "tool-call-start"
    tool_call_id: str
    tool: str


class ToolCallDelta(_Chunk, tag="tool-call-delta", frozen=True):
    """A fragment of the tool call's input JSON text."""

    type_name: ClassVar[str] = "tool-call-delta"
    tool_call_id: str
    input_delta: str


class ToolCallEnd(_Chunk, tag="tool-call-end", frozen=True):
    """The tool call's input is complete; ``input`` is the parsed value."""

    type_name: ClassVar[str] = "tool-call-end"
    tool_call_id: str
    input: JSONValue


class ToolCallResult(_Chunk, tag="tool-call-result", frozen=True):
    """The result of running a tool (``is_error`` when the tool failed)."""

    type_name: ClassVar[str] = "tool-call-result"
    tool_call_id: str
    tool: str
    content: JSONValue
    is_error: bool = False


class InterruptInput(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """What an interrupt asks the user for."""

    kind: Literal["text", "choice", "multi-choice"]
    question: str | None = None
    options: list[str] | None = None


class Interrupt(_Chunk, tag="interrupt", frozen=True):
    """The stream pauses for the user's answer; resume with ``resume_token``."""

    type_name: ClassVar[str] = "interrupt"
    request_id: str
    resume_token: str
    input: InterruptInput


class Progress(_Chunk, tag="progress", frozen=True):
    """Progress of a long step: ``value`` of ``total`` (when known), with a message."""

    type_name: ClassVar[str] = "progress"
    value: int | float
    total: int | float | None = None
    message: str | None = None


class Usage(_Chunk, tag="usage", frozen=True):
    """Tokens used by the model call."""

    type_name: ClassVar[str] = "usage"
    input_tokens: Annotated[int, msgspec.Meta(ge=0)]
    output_tokens: Annotated[int, msgspec.Meta(ge=0)]


class ErrorChunk(_Chunk, tag="error", frozen=True):
    """An error, safe to show to a person: never a traceback or a secret.

    ``code`` is machine-readable (``server_shutdown``, ``upstream_error``, ...); ``retryable``
    says whether trying again may succeed.
    """

    type_name: ClassVar[str] = "error"
    message: str
    code: str
    retryable: bool


class Done(_Chunk, tag="done", frozen=True):
    """The stream is complete. Every stream ends with exactly one."""

    type_name: ClassVar[str] = "done"
    finish_reason: str | None = None


Chunk: TypeAlias = (
    Start
    | TextDelta
    | ReasoningDelta
    | StructuredData
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | ToolCallResult
    | Interrupt
    | Progress
    | Usage
    | ErrorChunk
    | Done
)

#: Every chunk class by its wire ``type``.
CHUNK_TYPES: Final[dict[str, type[Chunk]]] = {
    cls.type_name: cls
    for cls in (
        Start,
        TextDelta,
        ReasoningDelta,
        StructuredData,
        ToolCallStart,
        ToolCallDelta,
        ToolCallEnd,
        ToolCallResult,
        Interrupt,
        Progress,
        Usage,
        ErrorChunk,
        Done,
    )
}

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Chunk] = msgspec.json.Decoder(Chunk)
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


def _dotted(msgspec_path: str) -> str:
    # "$.input.options[2]" arrives as ".input.options[2]" -> "input.options.2"
    path = msgspec_path.replace("[", ".").replace("]", "")
    return path.lstrip(".")


def _translate(exc: msgspec.ValidationError, data: str) -> ChunkDecodeError:
    message = str(exc)
    path = ""
    match = _AT.search(message)
    if match:
        path = _dotted(match.group("path"))
        message = message[: match.start()]
    cause = exc.__cause__
    if isinstance(cause, InvalidArgumentError):
        # A __post_init__ check (msgspec chains the error it raised).
        field = f"{path}.{cause.field}" if path else cause.field
        return ChunkDecodeError(cause.reason, field=field, data=data)
    missing = _MISSING.search(message)
    if missing:
        name = missing.group("name")
        field = f"{path}.{name}" if path else name
        return ChunkDecodeError(f"missing required field {name!r}", field=field, data=data)
    if path == "type" and message.startswith("Invalid value"):
        return ChunkDecodeError(f"unknown chunk type ({message})", field="type", data=data)
    return ChunkDecodeError(message[:1].lower() + message[1:], field=path, data=data)


def encode_chunk(chunk: Chunk) -> bytes:
    """Encode a chunk as compact JSON bytes (camelCase keys, optional fields omitted).

    Args:
        chunk: the chunk to encode.

    Returns:
        One line of UTF-8 JSON: the encoder escapes every control character, so the result
        never contains CR or LF and fits one SSE ``data:`` line.

    Example:
        >>> encode_chunk(TextDelta(delta="Hi"))
        b'{"type":"text-delta","delta":"Hi"}'
    """
    return _encoder.encode(chunk)


def decode_chunk(data: str | bytes) -> Chunk:
    """Decode one chunk from its JSON text.

    Args:
        data: the JSON text of one chunk (an SSE event's data), as ``str`` or UTF-8 bytes.

    Returns:
        The chunk, an instance of the class its ``type`` names. Unknown keys are ignored.

    Raises:
        ChunkDecodeError: the text is not JSON (or not UTF-8), its ``type`` is unknown or
            missing, a field is missing or of the wrong type, or a structured-data chunk's
            fields do not fit its kind. ``field`` names the bad field as a dotted wire path
            (``"input.kind"``).

    Example:
        >>> decode_chunk('{"type":"done","finishReason":"stop"}')
        Done(finish_reason='stop')
    """
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        raise _translate(exc, text) from None
    except msgspec.DecodeError as exc:
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        raise ChunkDecodeError(f"not valid JSON: {exc}", data=text) from None
    except UnicodeDecodeError as exc:
        # msgspec raises this (not a DecodeError) for invalid UTF-8 inside a JSON string.
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        raise ChunkDecodeError(f"not valid UTF-8 ({exc.reason})", data=text) from None


def chunk_to_dict(chunk: Chunk) -> dict[str, JSONValue]:
    """The chunk as a plain dict, exactly as it goes on the wire.

    Args:
        chunk: the chunk.

    Returns:
        A dict with camelCase keys and ``type``, optional fields left out when unset.

    Example:
        >>> chunk_to_dict(Usage(input_tokens=3, output_tokens=5))
        {'type': 'usage', 'inputTokens': 3, 'outputTokens': 5}
    """
    result: dict[str, JSONValue] = msgspec.to_builtins(chunk)
    return result


def chunk_from_dict(obj: dict[str, JSONValue]) -> Chunk:
    """Build a chunk from a plain dict in its wire form (camelCase keys, ``type`` included).

    Args:
        obj: the chunk as :func:`chunk_to_dict` gives it (or as parsed JSON).

    Returns:
        The chunk. Unknown keys are ignored.

    Raises:
        ChunkDecodeError: as :func:`decode_chunk` (the ``data`` attribute shows the dict).
    """
    try:
        chunk: Chunk = msgspec.convert(obj, Chunk)
        return chunk
    except msgspec.ValidationError as exc:
        raise _translate(exc, repr(obj)) from None
