"""The OpenAI dialect: chat-completion chunks on Server-Sent Events, ending with ``data: [DONE]``.

The wire format of ``POST /v1/chat/completions`` with ``"stream": true``, as OpenAI and every
OpenAI-compatible server (vLLM, llama.cpp's server, Ollama) speak it: each event's data is one
``chat.completion.chunk`` object, and the stream ends with the literal data ``[DONE]``.

Encoding (chunks -> events), by chunk type:

* ``start``: the first chunk, ``delta: {"role": "assistant", "content": ""}`` (sent before the
  first content even when no ``start`` came);
* ``text-delta``: ``delta.content``; ``reasoning-delta``: ``delta.reasoning_content`` (the field
  vLLM, DeepSeek and llama.cpp use for visible reasoning);
* ``tool-call-start`` / ``tool-call-delta``: ``delta.tool_calls[{index, id, type, function}]``,
  the ``index`` counting calls in order of their start; a ``tool-call-end`` whose input was never
  streamed sends the whole input as one ``arguments`` delta;
* ``usage``: kept, and sent after the final chunk as ``{"choices": [], "usage": {...}}``, as
  OpenAI does for ``stream_options.include_usage``;
* ``error``: ``{"error": {"message", "type", "code"}}`` and then ``[DONE]``, which is what
  OpenAI-compatible servers send when a stream fails midway (the official SDK raises
  ``APIError`` with that message); nothing is sent after it;
* ``done``: the final chunk with ``finish_reason``, the usage chunk, then ``[DONE]``.

Chunks that chat completions cannot carry are dropped on purpose: ``structured-data`` (the chat
route streams the model's JSON text as ``text-delta`` chunks for this dialect instead),
``tool-call-result``, ``interrupt`` and ``progress``.

Surprises, explained:

* The encoder never sends an ``id:`` or ``retry:`` field. openai-python fails with a
  ``JSONDecodeError`` on the first comment-only block (a heartbeat) that follows an ``id:``
  field, so this dialect carries neither, and heartbeats stay safe.
* The protocol core reads no clock and draws no random numbers: ``created`` and
  ``completion_id`` are options. Without a ``completion_id`` the encoder derives one from the
  ``start`` chunk's message id (``chatcmpl-<messageId>``).
* Finish reasons: streamwire's ``tool-calls`` and ``content-filter`` travel as OpenAI's
  ``tool_calls`` and ``content_filter`` and come back hyphenated; any other value is passed as
  it is. Without a reason, the final chunk says ``tool_calls`` when the stream called a tool and
  ``stop`` otherwise.

Decoding (events -> chunks) is lenient where real servers differ and strict where the data
would be wrong. It skips empty (keep-alive) events and events named ``ping``; accepts ``[DONE]``
with surrounding whitespace; reads ``reasoning_content`` or ``reasoning``, and ``refusal`` as
text; accepts a tool call whose name arrives after its id, or whose ``index`` is missing (the
position in the list is used); reads ``{"error": {...}}`` and ``{"object": "error", ...}`` as an
``error`` chunk; reads only choice 0. It keeps the last ``usage`` it saw and emits one
``usage`` chunk before ``done``, since some servers repeat usage on every chunk. A tool call ends
(``tool-call-end`` with the parsed input) at the first ``finish_reason`` or at ``[DONE]``.
``done`` is emitted at ``[DONE]``; events after it are ignored. Two options serve a provider
reading an upstream (see :class:`OpenAIDecoder`): ``error_ends_stream`` (no ``[DONE]`` follows
an error object) and ``wait_for_call_id`` (a tool call starts once its id is known too). A bad
event raises :class:`OpenAIDecodeError`, which names the field, what it must be and what was
found.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, assert_never

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
)
from streamwire.protocol.dialects import Dialect
from streamwire.protocol.errors import InvalidArgumentError, MalformedStreamError
from streamwire.protocol.sse import ServerSentEvent
from streamwire.protocol.structured import describe_json

__all__ = [
    "DEFAULT_MODEL",
    "DIALECT",
    "DONE_DATA",
    "OpenAIDecodeError",
    "OpenAIDecoder",
    "OpenAIEncoder",
    "chat_completion_object",
    "from_openai_finish_reason",
    "openai_dialect",
    "to_openai_finish_reason",
]

#: The terminator of an OpenAI stream: the data of its last event.
DONE_DATA: Final = "[DONE]"

# The finish reason of the ``done`` chunk that ends a stream after an error object (decoder
# option ``error_ends_stream``), as streamwire's providers spell it.
_FINISH_ERROR: Final = "error"

#: The model name the encoder reports when it is given none.
DEFAULT_MODEL: Final = "streamwire"

# The id of a completion whose producer named neither a completion id nor a message id.
_FALLBACK_ID: Final = "chatcmpl-streamwire"

# streamwire finish reason <-> OpenAI finish reason, where they are spelled differently.
_TO_OPENAI: Final[Mapping[str, str]] = {
    "tool-calls": "tool_calls",
    "content-filter": "content_filter",
    "function-call": "function_call",
}
_FROM_OPENAI: Final[Mapping[str, str]] = {value: key for key, value in _TO_OPENAI.items()}

# Error codes/types that say trying again may succeed (OpenAI, vLLM and Anthropic-style names).
_RETRYABLE: Final = frozenset(
    {
        "server_error",
        "rate_limit_exceeded",
        "rate_limit_error",
        "overloaded_error",
        "service_unavailable",
        "timeout",
        "500",
        "502",
        "503",
        "504",
        "429",
    }
)

# Named events that carry nothing (some proxies name their keep-alive events).
_KEEP_ALIVE_EVENTS: Final = frozenset({"ping", "keep-alive", "keepalive", "heartbeat"})

_json_encoder = msgspec.json.Encoder()


def _dumps(obj: JSONValue) -> str:
    return _json_encoder.encode(obj).decode()


def to_openai_finish_reason(reason: str | None, *, called_tools: bool = False) -> str:
    """The OpenAI spelling of a streamwire finish reason.

    Args:
        reason: the ``done`` chunk's finish reason, or ``None``.
        called_tools: whether the stream called a tool (the default reason is then
            ``tool_calls`` instead of ``stop``).

    Returns:
        ``tool_calls`` for ``tool-calls``, ``content_filter`` for ``content-filter``, any other
        reason as it is, and the default when ``reason`` is ``None``.
    """
    if reason is None:
        return "tool_calls" if called_tools else "stop"
    return _TO_OPENAI.get(reason, reason)


def from_openai_finish_reason(reason: str | None) -> str | None:
    """The streamwire spelling of an OpenAI finish reason (``tool_calls`` -> ``tool-calls``).

    Args:
        reason: the finish reason as the OpenAI wire spells it, or ``None``.

    Returns:
        The hyphenated name for ``tool_calls``, ``content_filter`` and ``function_call``; any
        other reason (and ``None``) as it is.
    """
    if reason is None:
        return None
    return _FROM_OPENAI.get(reason, reason)


@dataclass(slots=True)
class _EncodedCall:
    index: int
    tool: str
    streamed: bool = False


class OpenAIEncoder:
    """Chunks -> ``chat.completion.chunk`` events of one stream.

    Args:
        model: the model name every chunk reports.
        completion_id: the ``id`` every chunk carries (``chatcmpl-...``); by default derived
            from the ``start`` chunk's message id.
        created: the Unix time, in seconds, every chunk reports (the caller reads the clock).
        include_usage: whether to send the usage chunk when the stream reported usage.

    Raises:
        InvalidArgumentError: from :meth:`encode`, for a tool-call chunk whose call was never
            started (its name is unknown). The encoder stays usable.
    """

    __slots__ = (
        "_calls",
        "_created",
        "_finished",
        "_id",
        "_include_usage",
        "_model",
        "_started",
        "_usage",
    )

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        completion_id: str | None = None,
        created: int = 0,
        include_usage: bool = True,
    ) -> None:
        self._model = model
        self._id = completion_id
        self._created = created
        self._include_usage = include_usage
        self._started = False
        self._finished = False
        self._calls: dict[str, _EncodedCall] = {}
        self._usage: Usage | None = None

    @property
    def completion_id(self) -> str:
        """The id the chunks carry (fixed once the first chunk is out)."""
        return self._id or _FALLBACK_ID

    def _object(self, choices: list[JSONValue], **extra: JSONValue) -> ServerSentEvent:
        obj: dict[str, JSONValue] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        obj.update(extra)
        return ServerSentEvent(data=_dumps(obj))

    def _delta(
        self, delta: dict[str, JSONValue], finish_reason: str | None = None
    ) -> ServerSentEvent:
        return self._object([{"index": 0, "delta": delta, "finish_reason": finish_reason}])

    def _ensure_started(self, events: list[ServerSentEvent]) -> None:
        if not self._started:
            self._started = True
            if self._id is None:
                self._id = _FALLBACK_ID
            events.append(self._delta({"role": "assistant", "content": ""}))

    def _call(self, tool_call_id: str, chunk_type: str) -> _EncodedCall:
        call = self._calls.get(tool_call_id)
        if call is None:
            raise InvalidArgumentError(
                "toolCallId",
                f"of a {chunk_type} chunk names a call that was never started ({tool_call_id!r})",
            )
        return call

    def encode(self, chunk: Chunk) -> list[ServerSentEvent]:
        """The events that carry ``chunk``; see the module docstring for the mapping.

        Returns:
            Zero or more events; after an ``error`` or ``done`` chunk the stream is over and
            every later chunk yields nothing.

        Raises:
            InvalidArgumentError: a ``tool-call-delta`` or ``tool-call-end`` for a call that
                was never started (``field`` is ``toolCallId``).
        """
        if self._finished:
            return []
        events: list[ServerSentEvent] = []
        match chunk:
            case Start():
                if self._id is None and chunk.message_id:
                    self._id = f"chatcmpl-{chunk.message_id}"
                self._ensure_started(events)
            case TextDelta():
                self._ensure_started(events)
                if chunk.delta:
                    events.append(self._delta({"content": chunk.delta}))
            case ReasoningDelta():
                self._ensure_started(events)
                if chunk.delta:
                    events.append(self._delta({"reasoning_content": chunk.delta}))
            case ToolCallStart():
                self._ensure_started(events)
                call = _EncodedCall(index=len(self._calls), tool=chunk.tool)
                self._calls[chunk.tool_call_id] = call
                events.append(
                    self._delta(
                        {
                            "tool_calls": [
                                {
                                    "index": call.index,
                                    "id": chunk.tool_call_id,
                                    "type": "function",
                                    "function": {"name": chunk.tool, "arguments": ""},
                                }
                            ]
                        }
                    )
                )
            case ToolCallDelta():
                call = self._call(chunk.tool_call_id, "tool-call-delta")
                if chunk.input_delta:
                    call.streamed = True
                    events.append(self._arguments(call, chunk.input_delta))
            case ToolCallEnd():
                call = self._call(chunk.tool_call_id, "tool-call-end")
                if not call.streamed:
                    call.streamed = True
                    events.append(self._arguments(call, _dumps(chunk.input)))
            case Usage():
                self._usage = chunk
            case ErrorChunk():
                self._finished = True
                error = {"message": chunk.message, "type": "server_error", "code": chunk.code}
                events.append(ServerSentEvent(data=_dumps({"error": error})))
                events.append(ServerSentEvent(data=DONE_DATA))
            case Done():
                self._ensure_started(events)
                self._finished = True
                reason = to_openai_finish_reason(
                    chunk.finish_reason, called_tools=bool(self._calls)
                )
                events.append(self._delta({}, reason))
                if self._usage is not None and self._include_usage:
                    events.append(self._object([], usage=_usage_object(self._usage)))
                events.append(ServerSentEvent(data=DONE_DATA))
            case StructuredData() | ToolCallResult() | Interrupt() | Progress():
                # Chat completions have no place for these (see the module docstring).
                pass
            case _:  # pragma: no cover  (mypy checks that every chunk type has its case)
                assert_never(chunk)
        return events

    def _arguments(self, call: _EncodedCall, text: str) -> ServerSentEvent:
        return self._delta({"tool_calls": [{"index": call.index, "function": {"arguments": text}}]})


def _usage_object(usage: Usage) -> dict[str, JSONValue]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def chat_completion_object(
    *,
    completion_id: str,
    model: str,
    created: int,
    text: str,
    reasoning: str = "",
    tool_calls: Sequence[tuple[str, str, JSONValue]] = (),
    usage: Usage | None = None,
    finish_reason: str | None = None,
) -> dict[str, JSONValue]:
    """The non-streaming ``chat.completion`` object of a finished answer.

    Args:
        completion_id: the completion's id (``chatcmpl-...``).
        model: the model name to report.
        created: the Unix time, in seconds, to report.
        text: the answer's text (``content`` is ``null`` when it is empty and tools were called).
        reasoning: the visible reasoning, sent as ``reasoning_content`` when not empty.
        tool_calls: the calls the model made, as ``(id, tool name, input)`` tuples; the input is
            sent as its JSON text in ``function.arguments``.
        usage: the tokens used, when known.
        finish_reason: the streamwire finish reason (see :func:`to_openai_finish_reason`).

    Returns:
        A JSON-ready dict, e.g. ``{"id": ..., "object": "chat.completion", "choices": [...]}``.
    """
    message: dict[str, JSONValue] = {
        "role": "assistant",
        "content": None if not text and tool_calls else text,
    }
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": _dumps(arguments)},
            }
            for call_id, name, arguments in tool_calls
        ]
    result: dict[str, JSONValue] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": to_openai_finish_reason(
                    finish_reason, called_tools=bool(tool_calls)
                ),
            }
        ],
    }
    if usage is not None:
        result["usage"] = _usage_object(usage)
    return result


@dataclass(slots=True)
class _DecodedCall:
    index: int
    tool_call_id: str | None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)
    started: bool = False
    ended: bool = False


class OpenAIDecodeError(MalformedStreamError):
    """An event of a chat-completion stream that :class:`OpenAIDecoder` cannot read.

    Besides the message, it carries what was wrong as data, so that a caller can word its own
    report (the ``openai`` provider does, for its error chunks).

    Attributes:
        field: the dotted path of the bad value in the event (``"choices.0.delta.content"``);
            for a tool call, the path inside the call (``"function.arguments"``); ``""`` when
            the event as a whole is bad (not JSON, not an object).
        expected: what the value must be (``"a string"``, ``"a JSON object"``, ``"JSON"``).
        found: what was there instead: its JSON type (``"an array"``), ``"missing"``, or what
            the JSON parser said.
        offset: for tool call arguments that are not JSON, where in them parsing failed.
        tool_call_id: the tool call concerned, for a problem found when a call ends.
        tool: that call's function name, when known.
    """

    def __init__(
        self,
        reason: str,
        *,
        event: str = "",
        index: int | None = None,
        field: str = "",
        expected: str = "",
        found: str = "",
        offset: int | None = None,
        tool_call_id: str | None = None,
        tool: str | None = None,
    ) -> None:
        super().__init__(reason, event=event, index=index)
        self.field = field
        self.expected = expected
        self.found = found
        self.offset = offset
        self.tool_call_id = tool_call_id
        self.tool = tool

    def _at(self, event: str, index: int) -> OpenAIDecodeError:
        # The decoder's inner parts raise without knowing the event: place the error in it.
        MalformedStreamError.__init__(self, self.reason, event=event, index=index)
        return self


def _expect(value: JSONValue, kind: type | tuple[type, ...], where: str, noun: str) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        found = describe_json(value)
        raise OpenAIDecodeError(
            f"{where!r} must be {noun}, found {found}", field=where, expected=noun, found=found
        )


def _reject_constant(name: str) -> JSONValue:
    raise ValueError(f"{name} is not JSON")


def _parse_arguments(state: _DecodedCall, tool_call_id: str) -> JSONValue:
    text = "".join(state.arguments).strip()
    try:
        parsed: JSONValue = json.loads(text, parse_constant=_reject_constant) if text else {}
    except RecursionError:
        detail, offset = "nested too deeply", None
    except ValueError as exc:  # json.JSONDecodeError, or NaN/Infinity from _reject_constant
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        offset = exc.pos if isinstance(exc, json.JSONDecodeError) else None
    else:
        return parsed
    at = f" at offset {offset}" if offset is not None else ""
    raise OpenAIDecodeError(
        f"arguments of tool call {tool_call_id!r} are not valid JSON: {detail}{at}",
        field="function.arguments",
        expected="JSON",
        found=detail,
        offset=offset,
        tool_call_id=tool_call_id,
        tool=state.name,
    )


class OpenAIDecoder:
    """``chat.completion.chunk`` events -> chunks, for one stream.

    Args:
        emit_start: whether to emit a ``start`` chunk (message id = the completion id) on the
            first chunk; a provider that sends its own ``start`` passes ``False``.
        error_ends_stream: whether an error object ends the stream: the ``error`` chunk is then
            followed by ``Done(finish_reason="error")`` and the decoder is finished, for
            upstreams that send no ``[DONE]`` after an error (what a provider wants). By
            default the error chunk comes alone and ``[DONE]`` is still awaited.
        wait_for_call_id: whether a tool call starts only once its id is known too. The
            arguments that came before are then sent as one delta right after the start,
            before the starting event's own fragment, and a call that never gets an id starts
            when its choice finishes, as ``call_<index>``. By default a call starts as soon as
            its name is known (as ``call_<n>`` when it has no id yet, a later id then being a new
            call) with everything received so far as one delta.

    Raises:
        OpenAIDecodeError: from :meth:`decode`, for data that is neither JSON nor ``[DONE]``,
            a chunk that is not an object or has fields of the wrong type, or tool call
            arguments that are not JSON. ``index`` numbers the event, ``event`` holds its
            data, ``field``, ``expected`` and ``found`` say what was wrong. The decoder is then
            failed for good: later calls raise the same error.
    """

    __slots__ = (
        "_by_index",
        "_calls",
        "_count",
        "_emit_start",
        "_error",
        "_error_ends_stream",
        "_finish_reason",
        "_finished",
        "_usage",
        "_wait_for_call_id",
    )

    def __init__(
        self,
        *,
        emit_start: bool = True,
        error_ends_stream: bool = False,
        wait_for_call_id: bool = False,
    ) -> None:
        self._emit_start = emit_start
        self._error_ends_stream = error_ends_stream
        self._wait_for_call_id = wait_for_call_id
        self._finished = False
        self._count = 0
        self._calls: list[_DecodedCall] = []
        self._by_index: dict[int, _DecodedCall] = {}
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._error: OpenAIDecodeError | None = None

    @property
    def finished(self) -> bool:
        """Whether ``data: [DONE]`` (or, with ``error_ends_stream``, an error) has been read."""
        return self._finished

    @property
    def finish_reason(self) -> str | None:
        """The finish reason of choice 0 in streamwire's spelling, once one has been read."""
        return self._finish_reason

    def decode(self, event: ServerSentEvent) -> list[Chunk]:
        """The chunks that one event carries; see the module docstring for the mapping.

        Raises:
            OpenAIDecodeError: the event is not valid in this dialect (see the class).
        """
        if self._error is not None:
            raise self._error
        index = self._count
        self._count += 1
        if self._finished:
            return []
        data = event.data.strip()
        if not data or (event.event or "").lower() in _KEEP_ALIVE_EVENTS:
            return []
        try:
            if data.startswith(DONE_DATA):
                return self._done()
            try:
                obj = msgspec.json.decode(data)
            except msgspec.DecodeError as exc:
                raise OpenAIDecodeError(
                    f"data is neither JSON nor [DONE]: {exc}",
                    expected="JSON or [DONE]",
                    found=str(exc),
                ) from None
            if not isinstance(obj, dict):
                found = describe_json(obj)
                raise OpenAIDecodeError(
                    f"a chunk must be a JSON object, found {found}",
                    expected="a JSON object",
                    found=found,
                )
            return self._chunk(obj)
        except OpenAIDecodeError as exc:
            self._error = exc._at(event.data, index)
            raise self._error from None

    def _chunk(self, obj: dict[str, JSONValue]) -> list[Chunk]:
        out: list[Chunk] = []
        error = obj.get("error")
        if isinstance(error, dict):
            return self._error_object(error)
        if error is not None:
            text = error if isinstance(error, str) else _dumps(error)
            return self._error_object({"message": text})
        if obj.get("object") == "error":
            return self._error_object(obj)
        if self._emit_start:
            self._emit_start = False
            message_id = obj.get("id")
            out.append(Start(message_id=message_id if isinstance(message_id, str) else None))
        choices = obj.get("choices")
        if choices is not None:
            _expect(choices, list, "choices", "an array")
            for position, choice in enumerate(choices):
                where = f"choices.{position}"
                _expect(choice, dict, where, "an object")
                if choice.get("index", 0) != 0:
                    continue  # only the first choice is read (n > 1 is not streamed to people)
                self._choice(choice, where, out)
        usage = obj.get("usage")
        if usage is not None:
            self._usage = _usage_chunk(usage)
        return out

    def _error_object(self, error: Mapping[str, JSONValue]) -> list[Chunk]:
        out: list[Chunk] = [_error_chunk(error)]
        if self._error_ends_stream:
            self._finished = True
            out.append(Done(finish_reason=_FINISH_ERROR))
        return out

    def _choice(self, choice: dict[str, JSONValue], where: str, out: list[Chunk]) -> None:
        delta = choice.get("delta")
        if delta is None:
            delta = {}
        _expect(delta, dict, f"{where}.delta", "an object")
        # vLLM, DeepSeek and llama.cpp say reasoning_content; Ollama and OpenRouter say
        # reasoning. A server sending both sends the same text twice: read the first.
        for key in ("reasoning_content", "reasoning"):
            reasoning = delta.get(key)
            if reasoning is not None:
                _expect(reasoning, str, f"{where}.delta.{key}", "a string")
                if reasoning:
                    out.append(ReasoningDelta(delta=reasoning))
                break
        # A refusal is what the model says instead of an answer: text for the reader.
        for key in ("content", "refusal"):
            content = delta.get(key)
            if content is not None:
                _expect(content, str, f"{where}.delta.{key}", "a string")
                if content:
                    out.append(TextDelta(delta=content))
        tool_calls = delta.get("tool_calls")
        if tool_calls is not None:
            _expect(tool_calls, list, f"{where}.delta.tool_calls", "an array")
            for position, call in enumerate(tool_calls):
                self._tool_call(call, f"{where}.delta.tool_calls.{position}", position, out)
        finish_reason = choice.get("finish_reason")
        if finish_reason is not None:
            _expect(finish_reason, str, f"{where}.finish_reason", "a string")
            self._finish_reason = from_openai_finish_reason(finish_reason)
            self._end_calls(out)

    def _tool_call(self, call: JSONValue, where: str, position: int, out: list[Chunk]) -> None:
        _expect(call, dict, where, "an object")
        call_index = call.get("index", position)
        _expect(call_index, int, f"{where}.index", "an integer")
        function = call.get("function")
        if function is None:
            function = {}
        _expect(function, dict, f"{where}.function", "an object")
        call_id = call.get("id")
        if call_id is not None:
            _expect(call_id, str, f"{where}.id", "a string")
        name = function.get("name")
        if name is not None:
            _expect(name, str, f"{where}.function.name", "a string")
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            # Some servers send the arguments as an object instead of its JSON text.
            arguments = _dumps(arguments)
        state = self._by_index.get(call_index)
        if state is None or (call_id and state.tool_call_id not in (None, call_id)):
            # A new id at a known index is a new call (servers that send whole calls reuse
            # positions from chunk to chunk).
            default_id = None if self._wait_for_call_id else f"call_{len(self._calls)}"
            state = _DecodedCall(index=call_index, tool_call_id=call_id or default_id)
            self._by_index[call_index] = state
            self._calls.append(state)
        if state.ended:
            return
        if call_id and state.tool_call_id is None:
            state.tool_call_id = call_id  # an id that came after the arguments
        if name and state.name is None:
            state.name = name
        held = "".join(state.arguments)
        if arguments:
            state.arguments.append(arguments)
        if state.started:
            if arguments:
                out.append(ToolCallDelta(tool_call_id=_id(state), input_delta=arguments))
        elif state.name is not None and state.tool_call_id is not None:
            pieces = [held, arguments] if self._wait_for_call_id else [held + (arguments or "")]
            self._start(state, pieces, out)
        # else: wait for the name (and the id); the arguments so far are kept

    def _start(self, state: _DecodedCall, pieces: list[str | None], out: list[Chunk]) -> None:
        state.started = True
        tool_call_id = _id(state)
        assert state.name is not None  # checked by the callers
        out.append(ToolCallStart(tool_call_id=tool_call_id, tool=state.name))
        out.extend(
            ToolCallDelta(tool_call_id=tool_call_id, input_delta=piece) for piece in pieces if piece
        )

    def _end_calls(self, out: list[Chunk]) -> None:
        for state in self._calls:
            if state.ended:
                continue
            state.ended = True
            if state.tool_call_id is None:
                # Some compatible servers send no id: name the call after its index.
                state.tool_call_id = f"call_{state.index}"
            if not state.started:
                if state.name is None:
                    raise OpenAIDecodeError(
                        f"tool call {state.tool_call_id!r} ended without a function name",
                        field="function.name",
                        expected="a string",
                        found="missing",
                        tool_call_id=state.tool_call_id,
                    )
                self._start(state, ["".join(state.arguments)], out)
            parsed = _parse_arguments(state, state.tool_call_id)
            out.append(ToolCallEnd(tool_call_id=state.tool_call_id, input=parsed))

    def _done(self) -> list[Chunk]:
        out: list[Chunk] = []
        self._end_calls(out)
        if self._usage is not None:
            out.append(self._usage)
        out.append(Done(finish_reason=self._finish_reason))
        self._finished = True
        return out


def _id(state: _DecodedCall) -> str:
    assert state.tool_call_id is not None  # a call starts only once it has an id
    return state.tool_call_id


def _usage_chunk(usage: JSONValue) -> Usage:
    _expect(usage, dict, "usage", "an object")
    counts: list[int] = []
    for key in ("prompt_tokens", "completion_tokens"):
        value = usage.get(key)
        if value is None:
            value = 0
        _expect(value, int, f"usage.{key}", "an integer")
        counts.append(value)
    return Usage(input_tokens=counts[0], output_tokens=counts[1])


def _error_chunk(error: Mapping[str, JSONValue]) -> ErrorChunk:
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = "the upstream stream reported an error"
    raw_code = error.get("code")
    raw_type = error.get("type")
    code = next(
        (str(v) for v in (raw_code, raw_type) if v is not None and v != ""), "upstream_error"
    )
    retryable = any(str(v) in _RETRYABLE for v in (raw_code, raw_type) if v is not None)
    return ErrorChunk(message=message, code=code, retryable=retryable)


def openai_dialect(
    *,
    model: str = DEFAULT_MODEL,
    completion_id: str | None = None,
    created: int = 0,
    include_usage: bool = True,
) -> Dialect:
    """The OpenAI dialect with its encoder options set (model name, completion id, time).

    Args:
        model: the model name every chunk reports.
        completion_id: the ``id`` every chunk carries; by default ``chatcmpl-<messageId>``.
        created: the Unix time, in seconds, every chunk reports.
        include_usage: whether to send the usage chunk.

    Returns:
        A :class:`Dialect` named ``openai`` whose encoders use these options.
    """

    def new_encoder() -> OpenAIEncoder:
        return OpenAIEncoder(
            model=model, completion_id=completion_id, created=created, include_usage=include_usage
        )

    return Dialect(name="openai", new_encoder=new_encoder, new_decoder=OpenAIDecoder)


#: The OpenAI dialect with default encoder options (see :func:`openai_dialect`).
DIALECT = openai_dialect()
