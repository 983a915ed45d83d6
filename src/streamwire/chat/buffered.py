"""The non-streaming mode: read a whole chunk stream and return one result.

:class:`BufferedCollector` folds chunks one at a time (no IO, usable from sync code such as the
Python client); :func:`collect_buffered_stream` drives it over an async iterator. The result
holds the text, the reasoning, every structured object reduced by its stream id (with the
reducer of :mod:`streamwire.protocol.structured`), the tool calls with their inputs and results,
the usage, the finish reason and the error, and renders as one JSON object
(:meth:`BufferedResult.to_json`) or as an OpenAI ``chat.completion``
(:meth:`BufferedResult.to_chat_completion`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field, replace

import msgspec

from streamwire._aio import aclose
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
    chunk_to_dict,
)
from streamwire.protocol.dialects.openai import chat_completion_object
from streamwire.protocol.structured import StructuredAccumulator

__all__ = [
    "BufferedCollector",
    "BufferedResult",
    "BufferedToolCall",
    "collect_buffered_stream",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferedToolCall:
    """One tool call of a buffered answer.

    Attributes:
        tool_call_id: the call's id.
        tool: the tool's name.
        input: the parsed input (from ``tool-call-end``; ``None`` until then).
        input_text: the input's JSON text as it was streamed (``tool-call-delta`` chunks).
        complete: whether the input is complete (a ``tool-call-end`` arrived).
        result: the tool's result, when a ``tool-call-result`` arrived (``None`` otherwise).
        has_result: whether a result arrived (``result`` may itself be ``null``).
        is_error: whether the result is an error.
    """

    tool_call_id: str
    tool: str
    input: JSONValue = None
    input_text: str = ""
    complete: bool = False
    result: JSONValue = None
    has_result: bool = False
    is_error: bool = False

    def to_json(self) -> dict[str, JSONValue]:
        """The call as JSON: ``{"toolCallId", "tool", "input", "result"?, "isError"?}``."""
        out: dict[str, JSONValue] = {
            "toolCallId": self.tool_call_id,
            "tool": self.tool,
            "input": self.input if self.complete else _partial_input(self.input_text),
        }
        if self.has_result:
            out["result"] = self.result
            out["isError"] = self.is_error
        return out


def _partial_input(text: str) -> JSONValue:
    try:
        return msgspec.json.decode(text) if text else None
    except msgspec.DecodeError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferedResult:
    """Everything a chunk stream said, gathered.

    Attributes:
        message_id: the ``start`` chunk's message id, if any.
        session_id: the ``start`` chunk's session id, if any.
        text: the answer's text, every ``text-delta`` joined.
        reasoning: the visible reasoning, every ``reasoning-delta`` joined.
        structured: each structured object by its ``streamId``, as the reducer rebuilt it.
        structured_done: the ``streamId`` of every structured object whose ``final`` arrived.
        tool_calls: the tool calls, in order of their start.
        usage: the last ``usage`` chunk, if any.
        finish_reason: the ``done`` chunk's finish reason.
        error: the last ``error`` chunk, if any.
        interrupt: the last ``interrupt`` chunk, if any (the stream paused for the user).
        progress: the last ``progress`` chunk, if any.
        done: whether the ``done`` chunk arrived.
    """

    message_id: str | None = None
    session_id: str | None = None
    text: str = ""
    reasoning: str = ""
    structured: Mapping[str, JSONValue] = field(default_factory=dict)
    structured_done: frozenset[str] = frozenset()
    tool_calls: tuple[BufferedToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    error: ErrorChunk | None = None
    interrupt: Interrupt | None = None
    progress: Progress | None = None
    done: bool = False

    def to_json(self) -> dict[str, JSONValue]:
        """The result as one JSON object, the body of a ``"stream": false`` answer.

        Returns:
            ``{"messageId", "text", "reasoning", "structured", "toolCalls", "usage",
            "finishReason", "error"}`` (camelCase, like the wire), plus ``"interrupt"`` when
            the stream paused for the user. ``usage`` and ``error`` are ``null`` when absent;
            ``error`` is ``{"message", "code", "retryable"}``.
        """
        out: dict[str, JSONValue] = {
            "messageId": self.message_id,
            "text": self.text,
            "reasoning": self.reasoning,
            "structured": dict(self.structured),
            "toolCalls": [call.to_json() for call in self.tool_calls],
            "usage": None
            if self.usage is None
            else {"inputTokens": self.usage.input_tokens, "outputTokens": self.usage.output_tokens},
            "finishReason": self.finish_reason,
            "error": None
            if self.error is None
            else {
                "message": self.error.message,
                "code": self.error.code,
                "retryable": self.error.retryable,
            },
        }
        if self.interrupt is not None:
            interrupt = chunk_to_dict(self.interrupt)
            del interrupt["type"]
            out["interrupt"] = interrupt
        return out

    def to_chat_completion(
        self, *, model: str, completion_id: str, created: int
    ) -> dict[str, JSONValue]:
        """The result as an OpenAI ``chat.completion`` object (see
        :func:`~streamwire.protocol.dialects.openai.chat_completion_object`).

        Args:
            model: the model name to report.
            completion_id: the completion's id (``chatcmpl-...``).
            created: the Unix time, in seconds, to report.

        Returns:
            A JSON-ready dict. Structured objects are not included: the OpenAI route streams
            a model's JSON as text, so it is in ``text``.
        """
        return chat_completion_object(
            completion_id=completion_id,
            model=model,
            created=created,
            text=self.text,
            reasoning=self.reasoning,
            tool_calls=[(c.tool_call_id, c.tool, c.input) for c in self.tool_calls],
            usage=self.usage,
            finish_reason=self.finish_reason,
        )


class BufferedCollector:
    """Folds the chunks of one stream into a :class:`BufferedResult`, one chunk at a time.

    Sans-IO: feed it from any loop, sync or async.

    Example:
        >>> collector = BufferedCollector()
        >>> for chunk in (TextDelta(delta="Hel"), TextDelta(delta="lo"), Done()):
        ...     collector.feed(chunk)
        >>> collector.result().text
        'Hello'
    """

    __slots__ = ("_calls", "_reasoning", "_result", "_structured", "_text")

    def __init__(self) -> None:
        self._result = BufferedResult()
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[str, BufferedToolCall] = {}
        self._structured = StructuredAccumulator()

    def feed(self, chunk: Chunk) -> None:
        """Take one chunk into the result.

        Args:
            chunk: the next chunk of the stream.

        Raises:
            StructuredStreamError: a ``structured-data`` chunk the reducer cannot apply. The
                chunk is ignored and the collector stays usable (the object keeps its last good
                state).
        """
        result = self._result
        match chunk:
            case TextDelta():
                self._text.append(chunk.delta)
            case ReasoningDelta():
                self._reasoning.append(chunk.delta)
            case Start():
                self._result = replace(
                    result,
                    message_id=chunk.message_id or result.message_id,
                    session_id=chunk.session_id or result.session_id,
                )
            case StructuredData():
                self._structured.apply(chunk)
            case ToolCallStart():
                self._calls[chunk.tool_call_id] = BufferedToolCall(
                    tool_call_id=chunk.tool_call_id, tool=chunk.tool
                )
            case ToolCallDelta():
                call = self._call(chunk.tool_call_id, "")
                self._calls[chunk.tool_call_id] = replace(
                    call, input_text=call.input_text + chunk.input_delta
                )
            case ToolCallEnd():
                call = self._call(chunk.tool_call_id, "")
                self._calls[chunk.tool_call_id] = replace(call, input=chunk.input, complete=True)
            case ToolCallResult():
                call = self._call(chunk.tool_call_id, chunk.tool)
                self._calls[chunk.tool_call_id] = replace(
                    call,
                    tool=call.tool or chunk.tool,
                    result=chunk.content,
                    has_result=True,
                    is_error=chunk.is_error,
                )
            case Usage():
                self._result = replace(result, usage=chunk)
            case ErrorChunk():
                self._result = replace(result, error=chunk)
            case Interrupt():
                self._result = replace(result, interrupt=chunk)
            case Progress():
                self._result = replace(result, progress=chunk)
            case Done():
                self._result = replace(result, finish_reason=chunk.finish_reason, done=True)

    def _call(self, tool_call_id: str, tool: str) -> BufferedToolCall:
        # A delta, end or result for a call that never started still counts (lenient: the
        # buffered answer shows what the stream said).
        call = self._calls.get(tool_call_id)
        if call is None:
            call = BufferedToolCall(tool_call_id=tool_call_id, tool=tool)
            self._calls[tool_call_id] = call
        return call

    def result(self) -> BufferedResult:
        """The result so far (call again after more chunks for a fresh one).

        Returns:
            A :class:`BufferedResult`; ``done`` says whether the stream was complete.
        """
        states = self._structured.states
        return replace(
            self._result,
            text="".join(self._text),
            reasoning="".join(self._reasoning),
            structured={stream_id: state.data for stream_id, state in states.items()},
            structured_done=frozenset(
                stream_id for stream_id, state in states.items() if state.status == "done"
            ),
            tool_calls=tuple(self._calls.values()),
        )


async def collect_buffered_stream(chunks: AsyncIterable[Chunk]) -> BufferedResult:
    """Read a whole chunk stream and gather it into one result (the ``"stream": false`` mode).

    Args:
        chunks: the stream, e.g. a provider's output.

    Returns:
        The :class:`BufferedResult`. An ``error`` chunk does not raise: it is in ``error``.

    Raises:
        StructuredStreamError: a ``structured-data`` chunk the reducer cannot apply.
        Exception: whatever the iterator raises, unchanged.

    Example:
        >>> result = await collect_buffered_stream(provider.stream(request))  # doctest: +SKIP
        >>> result.to_json()["text"]  # doctest: +SKIP
    """
    collector = BufferedCollector()
    iterator = aiter(chunks)
    try:
        async for chunk in iterator:
            collector.feed(chunk)
    finally:
        # On an early exit (a bad structured chunk, a cancellation) the source must not stay
        # suspended: close it, so that a provider can close its upstream request.
        await aclose(iterator)
    return collector.result()
