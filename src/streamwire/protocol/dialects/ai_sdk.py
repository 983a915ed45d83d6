"""The AI SDK dialect: the Vercel AI SDK's UI message stream v1 on Server-Sent Events.

What ``useChat`` (AI SDK 5, 6 and 7) reads: every event's data is one JSON "UI message chunk",
the response carries the header ``x-vercel-ai-ui-message-stream: v1``, and the stream ends with
``data: [DONE]``.

Encoding (chunks -> parts), by chunk type:

=====================  ========================================================================
chunk                  UI message chunks
=====================  ========================================================================
``start``              ``start`` {messageId?}, then ``start-step`` (sent before the first content
                       even when no ``start`` came)
``text-delta``         ``text-start`` {id} when the part is new, then ``text-delta`` {id, delta}
``reasoning-delta``    ``reasoning-start`` / ``reasoning-delta`` {id, delta}
``tool-call-start``    ``tool-input-start`` {toolCallId, toolName}
``tool-call-delta``    ``tool-input-delta`` {toolCallId, inputTextDelta}
``tool-call-end``      ``tool-input-available`` {toolCallId, toolName, input}
``tool-call-result``   ``tool-output-available`` {toolCallId, output}, or ``tool-output-error``
                       {toolCallId, errorText} when ``isError``
``structured-data``    ``data-structured`` {id: streamId, data: {value, status, dataType?}}
``progress``           ``data-progress`` {id: "progress", data: {value, total?, message?}}
``interrupt``          ``data-interrupt`` {id: requestId, data: the interrupt's fields}
``usage``              ``data-usage`` {data: {inputTokens, outputTokens}, transient: true}
``error``              ``error`` {errorText}
``done``               ``text-end`` / ``reasoning-end`` of open parts, ``finish-step``,
                       ``finish``, then ``[DONE]``
=====================  ========================================================================

Choices, and why:

* **Only keys every supported SDK accepts.** AI SDK 5.0 and early 6/7 minors parse chunks with
  strict schemas that reject unknown keys, so every chunk carries only the keys listed above.
  That is why ``finish`` has no ``finishReason`` (added in AI SDK 6), why an ``error`` chunk
  loses its ``code`` and ``retryable``, and why ``start`` drops ``sessionId``.
* **Order rules of the SDK's reader.** ``readUIMessageStream`` rejects a ``text-delta`` before its
  ``text-start`` and a tool delta before its ``tool-input-start``. The encoder opens text and
  reasoning parts itself and closes the open one when the other kind, a tool call or an error
  comes; a ``tool-call-delta`` or ``tool-call-end`` for a call that was never started raises
  :class:`InvalidArgumentError`, since its tool name is unknown. A ``tool-call-result`` for a call
  the stream never showed first sends ``tool-input-available`` with the input it has (``null``
  when none), because the SDK attaches an output only to a known call. Text ids are the chunk's
  ``id`` or ``text-<n>`` / ``reasoning-<n>``.
* **Structured data is sent as the object so far.** ``useChat`` keeps one part per data type and
  id and replaces it when a part with the same id arrives, so ``data-structured`` with
  ``id = streamId`` and the reduced object in ``data.value`` renders as one object growing in
  place; ``data.status`` is ``streaming`` until the ``final`` chunk makes it ``done``. The
  reducer is :mod:`streamwire.protocol.structured`; each update resends the whole object, a cost
  paid for parts a UI can render without a reducer of its own.
* **Progress replaces itself** (fixed id ``progress``); **usage is transient** (``useChat``
  hands it to ``onData`` and keeps it out of the message).
* **finish is always sent**: a stream that ends without it makes clients hang or reconnect.

Decoding (parts -> chunks) is the reverse and as strict as the SDK's reader: a delta before its
start, an unknown chunk type or a field of the wrong type raises :class:`MalformedStreamError`.
``data-structured`` snapshots become ``set`` chunks for each top-level key (or index) that
changed, so that the reducer rebuilds the same object, and ``final`` when ``status`` is
``done``. Parts with no chunk equivalent (``start-step``, ``finish-step``, ``source-*``, ``file``,
``message-metadata``, other ``data-*`` parts...) are skipped. ``done`` is emitted at ``[DONE]``,
with the ``finishReason`` of ``finish`` when the server sent one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, assert_never

import msgspec

from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    Interrupt,
    JSONValue,
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
    chunk_from_dict,
    chunk_to_dict,
)
from streamwire.protocol.dialects import Dialect
from streamwire.protocol.errors import (
    ChunkDecodeError,
    InvalidArgumentError,
    MalformedStreamError,
)
from streamwire.protocol.sse import ServerSentEvent
from streamwire.protocol.structured import StructuredAccumulator, describe_json

__all__ = [
    "DIALECT",
    "DONE_DATA",
    "HEADERS",
    "PROGRESS_PART_ID",
    "AISDKDecoder",
    "AISDKEncoder",
]

#: The terminator of a UI message stream: the data of its last event.
DONE_DATA: Final = "[DONE]"

#: The response header that tells the AI SDK it is reading a UI message stream v1.
HEADERS: Final = {"x-vercel-ai-ui-message-stream": "v1"}

#: The id of the ``data-progress`` part, so that each progress update replaces the last.
PROGRESS_PART_ID: Final = "progress"

# The error code of an ``error`` chunk decoded from this dialect (its code is not on the wire).
_DECODED_ERROR_CODE: Final = "stream_error"

# Part types with no chunk equivalent: the decoder skips them.
_SKIPPED_TYPES: Final = frozenset(
    {
        "start-step",
        "finish-step",
        "reset-step",
        "source-url",
        "source-document",
        "file",
        "reasoning-file",
        "message-metadata",
        "custom",
        "steering-message",
        "abort",
        "tool-output-denied",
        "tool-approval-request",
        "tool-approval-response",
    }
)

# A top-level key the structured reducer reads as one object key (or an index in an array).
_ADDRESSABLE: Final = re.compile(r"[^.]+")

_json_encoder = msgspec.json.Encoder()

_PartKind = Literal["text", "reasoning"]


def _event(part: dict[str, JSONValue]) -> ServerSentEvent:
    return ServerSentEvent(data=_json_encoder.encode(part).decode())


@dataclass(slots=True)
class _EncodedCall:
    tool: str
    input_text: str = ""
    available: bool = False


class AISDKEncoder:
    """Chunks -> UI message stream parts of one stream (see the module docstring).

    Raises:
        InvalidArgumentError: from :meth:`encode`, for a ``tool-call-delta`` or
            ``tool-call-end`` whose call was never started. The encoder stays usable.
        StructuredStreamError: from :meth:`encode`, for a ``structured-data`` chunk the reducer
            cannot apply. The encoder stays usable; the object keeps its last good state.
    """

    __slots__ = (
        "_calls",
        "_counter",
        "_finished",
        "_open",
        "_started",
        "_structured",
    )

    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._open: tuple[_PartKind, str] | None = None
        self._counter = 0
        self._calls: dict[str, _EncodedCall] = {}
        self._structured = StructuredAccumulator()

    def _ensure_started(self, events: list[ServerSentEvent], message_id: str | None = None) -> None:
        if self._started:
            return
        self._started = True
        start: dict[str, JSONValue] = {"type": "start"}
        if message_id:
            start["messageId"] = message_id
        events.append(_event(start))
        events.append(_event({"type": "start-step"}))

    def _close_part(self, events: list[ServerSentEvent]) -> None:
        if self._open is not None:
            kind, part_id = self._open
            events.append(_event({"type": f"{kind}-end", "id": part_id}))
            self._open = None

    def _delta(
        self, events: list[ServerSentEvent], kind: _PartKind, part_id: str | None, delta: str
    ) -> None:
        self._ensure_started(events)
        if self._open is not None:
            open_kind, open_id = self._open
            if open_kind != kind or (part_id is not None and part_id != open_id):
                self._close_part(events)
        if self._open is None:
            if part_id is None:
                part_id = f"{kind}-{self._counter}"
                self._counter += 1
            events.append(_event({"type": f"{kind}-start", "id": part_id}))
            self._open = (kind, part_id)
        if delta:
            events.append(_event({"type": f"{kind}-delta", "id": self._open[1], "delta": delta}))

    def _call(self, tool_call_id: str, chunk_type: str) -> _EncodedCall:
        call = self._calls.get(tool_call_id)
        if call is None:
            raise InvalidArgumentError(
                "toolCallId",
                f"of a {chunk_type} chunk names a call that was never started ({tool_call_id!r})",
            )
        return call

    def encode(self, chunk: Chunk) -> list[ServerSentEvent]:
        """The parts that carry ``chunk``; see the module docstring for the mapping.

        Returns:
            Zero or more events; after ``done`` every later chunk yields nothing.

        Raises:
            InvalidArgumentError: a ``tool-call-delta`` or ``tool-call-end`` for a call that was
                never started (``field`` is ``toolCallId``).
            StructuredStreamError: a ``structured-data`` chunk that cannot be applied.
        """
        if self._finished:
            return []
        events: list[ServerSentEvent] = []
        match chunk:
            case Start():
                self._ensure_started(events, chunk.message_id)
            case TextDelta():
                self._delta(events, "text", chunk.id, chunk.delta)
            case ReasoningDelta():
                self._delta(events, "reasoning", chunk.id, chunk.delta)
            case ToolCallStart():
                self._ensure_started(events)
                self._close_part(events)
                self._calls[chunk.tool_call_id] = _EncodedCall(tool=chunk.tool)
                events.append(
                    _event(
                        {
                            "type": "tool-input-start",
                            "toolCallId": chunk.tool_call_id,
                            "toolName": chunk.tool,
                        }
                    )
                )
            case ToolCallDelta():
                call = self._call(chunk.tool_call_id, "tool-call-delta")
                call.input_text += chunk.input_delta
                events.append(
                    _event(
                        {
                            "type": "tool-input-delta",
                            "toolCallId": chunk.tool_call_id,
                            "inputTextDelta": chunk.input_delta,
                        }
                    )
                )
            case ToolCallEnd():
                call = self._call(chunk.tool_call_id, "tool-call-end")
                self._available(events, chunk.tool_call_id, call, chunk.input)
            case ToolCallResult():
                self._result(events, chunk)
            case StructuredData():
                state = self._structured.apply(chunk)
                self._ensure_started(events)
                data: dict[str, JSONValue] = {"value": state.data, "status": state.status}
                if state.data_type is not None:
                    data["dataType"] = state.data_type
                events.append(
                    _event({"type": "data-structured", "id": chunk.stream_id, "data": data})
                )
            case Progress():
                self._ensure_started(events)
                progress = chunk_to_dict(chunk)
                del progress["type"]
                events.append(
                    _event({"type": "data-progress", "id": PROGRESS_PART_ID, "data": progress})
                )
            case Interrupt():
                self._ensure_started(events)
                self._close_part(events)
                interrupt = chunk_to_dict(chunk)
                del interrupt["type"]
                events.append(
                    _event({"type": "data-interrupt", "id": chunk.request_id, "data": interrupt})
                )
            case Usage():
                self._ensure_started(events)
                usage = {"inputTokens": chunk.input_tokens, "outputTokens": chunk.output_tokens}
                events.append(_event({"type": "data-usage", "data": usage, "transient": True}))
            case ErrorChunk():
                self._ensure_started(events)
                self._close_part(events)
                events.append(_event({"type": "error", "errorText": chunk.message}))
            case Done():
                self._ensure_started(events)
                self._close_part(events)
                self._finished = True
                events.append(_event({"type": "finish-step"}))
                events.append(_event({"type": "finish"}))
                events.append(ServerSentEvent(data=DONE_DATA))
            case _:  # pragma: no cover  (mypy checks that every chunk type has its case)
                assert_never(chunk)
        return events

    def _available(
        self,
        events: list[ServerSentEvent],
        tool_call_id: str,
        call: _EncodedCall,
        tool_input: JSONValue,
    ) -> None:
        self._ensure_started(events)
        self._close_part(events)
        call.available = True
        events.append(
            _event(
                {
                    "type": "tool-input-available",
                    "toolCallId": tool_call_id,
                    "toolName": call.tool,
                    "input": tool_input,
                }
            )
        )

    def _result(self, events: list[ServerSentEvent], chunk: ToolCallResult) -> None:
        call = self._calls.get(chunk.tool_call_id)
        if call is None:
            call = _EncodedCall(tool=chunk.tool)
            self._calls[chunk.tool_call_id] = call
        if not call.available:
            # The SDK attaches an output only to a call whose input it has seen.
            try:
                tool_input = msgspec.json.decode(call.input_text) if call.input_text else None
            except msgspec.DecodeError:
                tool_input = None
            self._available(events, chunk.tool_call_id, call, tool_input)
        if chunk.is_error:
            content = chunk.content
            text = content if isinstance(content, str) else _json_encoder.encode(content).decode()
            part: dict[str, JSONValue] = {
                "type": "tool-output-error",
                "toolCallId": chunk.tool_call_id,
                "errorText": text,
            }
        else:
            part = {
                "type": "tool-output-available",
                "toolCallId": chunk.tool_call_id,
                "output": chunk.content,
            }
        events.append(_event(part))


class _Bad(Exception):
    """Raised inside the decoder; :meth:`AISDKDecoder.decode` adds the event and its index."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _field(
    obj: dict[str, JSONValue], key: str, kind: type, noun: str, part_type: str, prefix: str = ""
) -> object:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        found = "nothing" if key not in obj else describe_json(value)
        raise _Bad(f"{prefix + key!r} of a {part_type!r} part must be {noun}, found {found}")
    return value


def _str(obj: dict[str, JSONValue], key: str, part_type: str, prefix: str = "") -> str:
    value = _field(obj, key, str, "a string", part_type, prefix)
    assert isinstance(value, str)
    return value


class AISDKDecoder:
    """UI message stream parts -> chunks, for one stream (see the module docstring).

    Raises:
        MalformedStreamError: from :meth:`decode`, for data that is neither JSON nor
            ``[DONE]``, a part that is not an object, has an unknown ``type`` or a field of the
            wrong type, a delta before its start, or a tool output for an unknown call. ``index``
            numbers the event. The decoder is then failed for good: later calls raise the same
            error.
    """

    __slots__ = (
        "_count",
        "_error",
        "_finish_reason",
        "_finished",
        "_open",
        "_snapshots",
        "_tools",
    )

    def __init__(self) -> None:
        self._finished = False
        self._count = 0
        self._error: MalformedStreamError | None = None
        self._open: dict[str, set[str]] = {"text": set(), "reasoning": set()}
        self._tools: dict[str, str] = {}
        self._snapshots: dict[str, JSONValue] = {}
        self._finish_reason: str | None = None

    @property
    def finished(self) -> bool:
        """Whether ``data: [DONE]`` has been read."""
        return self._finished

    def decode(self, event: ServerSentEvent) -> list[Chunk]:
        """The chunks that one part carries; see the module docstring for the mapping.

        Raises:
            MalformedStreamError: the event is not valid in this dialect (see the class).
        """
        if self._error is not None:
            raise self._error
        index = self._count
        self._count += 1
        if self._finished:
            return []
        data = event.data.strip()
        if not data:
            return []
        try:
            if data == DONE_DATA:
                self._finished = True
                return [Done(finish_reason=self._finish_reason)]
            try:
                part = msgspec.json.decode(data)
            except msgspec.DecodeError as exc:
                raise _Bad(f"data is neither JSON nor [DONE]: {exc}") from None
            if not isinstance(part, dict):
                raise _Bad(f"a part must be a JSON object, found {describe_json(part)}")
            return self._part(part)
        except _Bad as exc:
            self._error = MalformedStreamError(exc.reason, event=event.data, index=index)
            raise self._error from None

    def _part(self, part: dict[str, JSONValue]) -> list[Chunk]:
        part_type = part.get("type")
        if not isinstance(part_type, str):
            raise _Bad(f"'type' must be a string, found {describe_json(part_type)}")
        match part_type:
            case "start":
                message_id = part.get("messageId")
                if message_id is not None:
                    message_id = _str(part, "messageId", part_type)
                return [Start(message_id=message_id)]
            case "text-start" | "reasoning-start":
                self._open[part_type.split("-")[0]].add(_str(part, "id", part_type))
                return []
            case "text-end" | "reasoning-end":
                kind = part_type.split("-")[0]
                self._require_open(kind, _str(part, "id", part_type))
                self._open[kind].discard(_str(part, "id", part_type))
                return []
            case "text-delta":
                part_id = self._require_open("text", _str(part, "id", part_type))
                return [TextDelta(delta=_str(part, "delta", part_type), id=part_id)]
            case "reasoning-delta":
                part_id = self._require_open("reasoning", _str(part, "id", part_type))
                return [ReasoningDelta(delta=_str(part, "delta", part_type), id=part_id)]
            case "tool-input-start":
                call_id = _str(part, "toolCallId", part_type)
                self._tools[call_id] = _str(part, "toolName", part_type)
                return [ToolCallStart(tool_call_id=call_id, tool=self._tools[call_id])]
            case "tool-input-delta":
                call_id = self._known_call(part)
                return [
                    ToolCallDelta(
                        tool_call_id=call_id, input_delta=_str(part, "inputTextDelta", part_type)
                    )
                ]
            case "tool-input-available":
                return self._input_available(part)
            case "tool-input-error":
                out = self._input_available(part)
                out.append(self._result(part, _str(part, "errorText", part_type), is_error=True))
                return out
            case "tool-output-available":
                if "output" not in part:
                    raise _Bad("'output' of a 'tool-output-available' part is missing")
                return [self._result(part, part["output"], is_error=False)]
            case "tool-output-error":
                return [self._result(part, _str(part, "errorText", part_type), is_error=True)]
            case "error":
                return [
                    ErrorChunk(
                        message=_str(part, "errorText", part_type),
                        code=_DECODED_ERROR_CODE,
                        retryable=False,
                    )
                ]
            case "finish":
                reason = part.get("finishReason")
                if reason is not None:
                    self._finish_reason = _str(part, "finishReason", part_type)
                return []
            case "data-structured":
                return self._structured(part)
            case "data-progress":
                return [self._convert(part, "progress")]
            case "data-interrupt":
                return [self._convert(part, "interrupt")]
            case "data-usage":
                return [self._convert(part, "usage")]
            case _ if part_type in _SKIPPED_TYPES or part_type.startswith("data-"):
                return []
            case _:
                raise _Bad(f"unknown part type {part_type!r}")

    def _require_open(self, kind: str, part_id: str) -> str:
        if part_id not in self._open[kind]:
            raise _Bad(f"a {kind} part {part_id!r} is used without its {kind}-start")
        return part_id

    def _known_call(self, part: dict[str, JSONValue]) -> str:
        part_type = str(part["type"])
        call_id = _str(part, "toolCallId", part_type)
        if call_id not in self._tools:
            raise _Bad(f"a {part['type']!r} part names tool call {call_id!r} before its start")
        return call_id

    def _input_available(self, part: dict[str, JSONValue]) -> list[Chunk]:
        part_type = str(part["type"])
        call_id = _str(part, "toolCallId", part_type)
        tool = _str(part, "toolName", part_type)
        out: list[Chunk] = []
        if call_id not in self._tools:
            self._tools[call_id] = tool
            out.append(ToolCallStart(tool_call_id=call_id, tool=tool))
        out.append(ToolCallEnd(tool_call_id=call_id, input=part.get("input")))
        return out

    def _result(self, part: dict[str, JSONValue], content: JSONValue, *, is_error: bool) -> Chunk:
        call_id = self._known_call(part)
        return ToolCallResult(
            tool_call_id=call_id, tool=self._tools[call_id], content=content, is_error=is_error
        )

    def _convert(self, part: dict[str, JSONValue], chunk_type: str) -> Chunk:
        part_type = str(part["type"])
        data = _field(part, "data", dict, "an object", part_type)
        assert isinstance(data, dict)
        try:
            return chunk_from_dict({**data, "type": chunk_type})
        except ChunkDecodeError as exc:
            raise _Bad(f"'data' of a {part['type']!r} part: {exc}") from None

    def _structured(self, part: dict[str, JSONValue]) -> list[Chunk]:
        part_type = str(part["type"])
        stream_id = _str(part, "id", part_type)
        data = _field(part, "data", dict, "an object", part_type)
        assert isinstance(data, dict)
        if "value" not in data:
            raise _Bad("'data.value' of a 'data-structured' part is missing")
        value = data["value"]
        status = _str(data, "status", part_type, "data.")
        data_type = data.get("dataType")
        if data_type is not None:
            data_type = _str(data, "dataType", part_type, "data.")
        if status == "done":
            self._snapshots[stream_id] = value
            return [
                StructuredData(stream_id=stream_id, kind="final", data=value, data_type=data_type)
            ]
        if status != "streaming":
            raise _Bad(f"'data.status' of a 'data-structured' part is {status!r}")
        previous = self._snapshots.get(stream_id)
        self._snapshots[stream_id] = value
        changes: list[tuple[str, JSONValue]]
        if isinstance(value, dict):
            old = previous if isinstance(previous, dict) else {}
            changes = [(k, v) for k, v in value.items() if k not in old or old[k] != v]
        elif isinstance(value, list):
            old_list = previous if isinstance(previous, list) else []
            changes = [
                (str(i), v) for i, v in enumerate(value) if i >= len(old_list) or old_list[i] != v
            ]
        else:
            raise _Bad(
                "'data.value' of a streaming 'data-structured' part must be an object or an "
                f"array, found {describe_json(value)}"
            )
        for path, _ in changes:
            if not _ADDRESSABLE.fullmatch(path) or (isinstance(value, dict) and path.isdigit()):
                raise _Bad(
                    f"key {path!r} of a 'data-structured' value cannot be addressed by a path"
                )
        return [
            StructuredData(stream_id=stream_id, kind="set", path=path, value=v, data_type=data_type)
            for path, v in changes
        ]


#: The AI SDK UI message stream v1 dialect.
DIALECT = Dialect(
    name="ai-sdk", new_encoder=AISDKEncoder, new_decoder=AISDKDecoder, headers=HEADERS
)
