"""The ``anthropic`` provider: the Anthropic Messages streaming API.

``POST {base_url}/v1/messages`` with ``"stream": true``, headers ``x-api-key`` and
``anthropic-version: 2023-06-01``. System messages become the top-level ``system`` parameter;
``tool`` messages become ``tool_result`` blocks in a user turn. The answer's named events are
mapped to chunks by :class:`AnthropicStreamMapper` (sans-IO):

=========================================  =================================================
event                                      chunks
=========================================  =================================================
``message_start``                          (input tokens noted)
``content_block_start`` text / thinking    its initial text, if any
``content_block_start`` tool_use           ``tool-call-start``
``content_block_delta`` text_delta         ``text-delta``
``content_block_delta`` thinking_delta     ``reasoning-delta``
``content_block_delta`` input_json_delta   ``tool-call-delta``
``content_block_stop`` (tool_use)          ``tool-call-end`` with the parsed input
``message_delta``                          (stop reason and output tokens noted)
``message_stop``                           ``usage``, then ``done``
``ping``                                   nothing
``error``                                  ``error``, then ``done``
=========================================  =================================================

Other blocks (``redacted_thinking``, server tools) and deltas (``signature_delta``,
``citations_delta``) carry nothing a chat client shows and are skipped. Stop reasons map to the
shared vocabulary: ``end_turn`` and ``stop_sequence`` -> ``stop``, ``max_tokens`` -> ``length``,
``tool_use`` -> ``tool-calls``, ``refusal`` -> ``content-filter``.

Structured output uses a forced tool named after the schema: the tool's streamed input *is* the
document, so its ``input_json_delta`` fragments are sent as ``text-delta`` chunks (the same shape
the other providers give) instead of tool-call chunks.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Final, Literal

import httpx

from streamwire.chat.messages import ChatMessage, ChatRequest
from streamwire.protocol.chunks import (
    Chunk,
    Done,
    JSONValue,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.protocol.sse import ServerSentEvent
from streamwire.providers._http import (
    DEFAULT_TIMEOUT,
    check_base_url,
    check_timeout,
    error_chunks,
    error_object_message,
    safe_text,
    stream_sse,
)
from streamwire.providers.base import StructuredRequest

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_ANTHROPIC_BASE_URL",
    "DEFAULT_ANTHROPIC_MODEL",
    "DEFAULT_MAX_TOKENS",
    "AnthropicProvider",
    "AnthropicStreamMapper",
]

#: Anthropic's API; the provider POSTs to ``{base_url}/v1/messages``.
DEFAULT_ANTHROPIC_BASE_URL: Final = "https://api.anthropic.com"
#: The API version header the event shapes above are documented for.
ANTHROPIC_VERSION: Final = "2023-06-01"
#: The model used when neither the provider nor the request names one.
DEFAULT_ANTHROPIC_MODEL: Final = "claude-sonnet-4-5"
#: ``max_tokens`` is required by the Messages API; 4096 fits a long chat answer.
DEFAULT_MAX_TOKENS: Final = 4096

_NAME: Final = "anthropic"

_STOP_REASONS: Final[Mapping[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool-calls",
    "refusal": "content-filter",
}

_ERROR_CODES: Final[Mapping[str, tuple[str, bool]]] = {
    "authentication_error": ("upstream_auth", False),
    "permission_error": ("upstream_auth", False),
    "rate_limit_error": ("upstream_rate_limited", True),
    "overloaded_error": ("upstream_error", True),
    "api_error": ("upstream_error", True),
    "invalid_request_error": ("upstream_bad_request", False),
    "request_too_large": ("upstream_bad_request", False),
    "not_found_error": ("upstream_bad_request", False),
}


@dataclass(slots=True)
class _Block:
    kind: Literal["text", "thinking", "tool", "document", "other"]
    tool_call_id: str = ""
    json: str = ""


class AnthropicStreamMapper:
    """Maps the events of an Anthropic Messages stream to chunks (sans-IO, one stream).

    Args:
        structured_tool: the name of the forced tool whose input is a structured document
            (its input is sent as text deltas), or ``None``.
        secrets: strings to redact from any upstream message put in an error chunk.
    """

    __slots__ = (
        "_blocks",
        "_finished",
        "_input_tokens",
        "_output_tokens",
        "_secrets",
        "_stop_reason",
        "_structured_tool",
    )

    def __init__(
        self, *, structured_tool: str | None = None, secrets: tuple[str, ...] = ()
    ) -> None:
        self._structured_tool = structured_tool
        self._secrets = secrets
        self._blocks: dict[int, _Block] = {}
        self._input_tokens = 0
        self._output_tokens = 0
        self._stop_reason: str | None = None
        self._finished = False

    @property
    def finished(self) -> bool:
        """Whether ``message_stop`` or an error has been read."""
        return self._finished

    def feed(self, event: ServerSentEvent) -> list[Chunk]:
        """The chunks one event carries.

        Args:
            event: a decoded SSE event of the upstream's stream.

        Returns:
            Content chunks; once the stream ends (``message_stop``, ``error``, bad data), the
            last of them is ``Done``.
        """
        if self._finished:
            return []
        try:
            obj = json.loads(event.data)
        except ValueError:
            return self._fail(
                f"anthropic upstream sent an event that is not JSON: {event.data[:80]!r}"
            )
        if not isinstance(obj, dict):
            return self._fail("anthropic upstream sent an event that is not a JSON object")
        # The data's own "type" is authoritative; the SSE event name repeats it.
        kind = obj.get("type", event.event)
        if kind == "message_start":
            message = obj.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            self._note_usage(usage)
            return []
        if kind == "content_block_start":
            return self._block_start(obj)
        if kind == "content_block_delta":
            return self._block_delta(obj)
        if kind == "content_block_stop":
            return self._block_stop(obj)
        if kind == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self._stop_reason = delta["stop_reason"]
            self._note_usage(obj.get("usage"))
            return []
        if kind == "message_stop":
            self._finished = True
            reason = self._stop_reason or "end_turn"
            if reason == "tool_use" and self._structured_tool is not None:
                # The forced tool's input *is* the answer (a structured document), and no
                # tool-call chunk was sent: the model stopped as it does after any answer.
                reason = "end_turn"
            return [
                Usage(input_tokens=self._input_tokens, output_tokens=self._output_tokens),
                Done(finish_reason=_STOP_REASONS.get(reason, reason)),
            ]
        if kind == "error":
            return self._error(obj)
        return []  # ping, and event types added after this was written [Anthropic: versioning]

    def end_of_stream(self) -> list[Chunk]:
        """The chunks for the end of the body: an error, since ``message_stop`` never came."""
        if self._finished:
            return []
        return self._fail("anthropic upstream stream ended before message_stop")

    def _note_usage(self, usage: JSONValue) -> None:
        if not isinstance(usage, dict):
            return
        # Counts are cumulative: the latest value replaces the previous one.
        for key in ("input_tokens", "output_tokens"):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                if key == "input_tokens":
                    self._input_tokens = value
                else:
                    self._output_tokens = value

    def _index(self, obj: dict[str, JSONValue]) -> int | None:
        index = obj.get("index")
        return index if isinstance(index, int) and not isinstance(index, bool) else None

    def _block_start(self, obj: dict[str, JSONValue]) -> list[Chunk]:
        index = self._index(obj)
        block = obj.get("content_block")
        if index is None or not isinstance(block, dict):
            return self._fail("anthropic upstream sent content_block_start without index/block")
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = _Block(kind="text")
            text = block.get("text")
            return [TextDelta(delta=text)] if isinstance(text, str) and text else []
        if kind == "thinking":
            self._blocks[index] = _Block(kind="thinking")
            text = block.get("thinking")
            return [ReasoningDelta(delta=text)] if isinstance(text, str) and text else []
        if kind == "tool_use":
            name = block.get("name")
            call_id = block.get("id")
            if not isinstance(name, str) or not isinstance(call_id, str):
                return self._fail("anthropic upstream sent a tool_use block without id or name")
            if name == self._structured_tool:
                self._blocks[index] = _Block(kind="document")
                return []
            self._blocks[index] = _Block(kind="tool", tool_call_id=call_id)
            return [ToolCallStart(tool_call_id=call_id, tool=name)]
        self._blocks[index] = _Block(kind="other")
        return []

    def _block_delta(self, obj: dict[str, JSONValue]) -> list[Chunk]:
        index = self._index(obj)
        delta = obj.get("delta")
        if index is None or not isinstance(delta, dict):
            return self._fail("anthropic upstream sent content_block_delta without index/delta")
        block = self._blocks.get(index)
        if block is None:
            return self._fail(f"anthropic upstream sent a delta for unknown block {index}")
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
            return [TextDelta(delta=delta["text"])]
        if kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
            return [ReasoningDelta(delta=delta["thinking"])] if delta["thinking"] else []
        if kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            fragment: str = delta["partial_json"]
            if not fragment:
                return []
            if block.kind == "document":
                return [TextDelta(delta=fragment)]
            if block.kind == "tool":
                block.json += fragment
                return [ToolCallDelta(tool_call_id=block.tool_call_id, input_delta=fragment)]
        return []  # signature_delta, citations_delta, ...

    def _block_stop(self, obj: dict[str, JSONValue]) -> list[Chunk]:
        index = self._index(obj)
        block = self._blocks.pop(index, None) if index is not None else None
        if block is None or block.kind != "tool":
            return []
        try:
            value = json.loads(block.json) if block.json.strip() else {}
        except json.JSONDecodeError as exc:
            return self._fail(
                f"anthropic upstream sent tool call {block.tool_call_id!r} input that is not "
                f"JSON: {exc.msg} at offset {exc.pos}"
            )
        return [ToolCallEnd(tool_call_id=block.tool_call_id, input=value)]

    def _error(self, obj: dict[str, JSONValue]) -> list[Chunk]:
        error = obj.get("error")
        kind = error.get("type") if isinstance(error, dict) else None
        code, retryable = _ERROR_CODES.get(kind if isinstance(kind, str) else "", ("", True))
        message = safe_text(error_object_message(obj), self._secrets) or "unknown error"
        self._finished = True
        return error_chunks(
            f"anthropic upstream error: {message}",
            code=code or "upstream_error",
            retryable=retryable,
        )

    def _fail(self, message: str) -> list[Chunk]:
        self._finished = True
        return error_chunks(message, code="upstream_protocol", retryable=True)


def _content(message: ChatMessage) -> JSONValue:
    if isinstance(message.content, str):
        return message.content
    return [
        {"type": "text", "text": part.text}
        if part.type == "text" and part.text is not None
        else dict(part.data)
        for part in message.content
    ]


class AnthropicProvider:
    """Streams a Claude model through the Anthropic Messages API.

    Args:
        api_key: sent as ``x-api-key``; defaults to ``$ANTHROPIC_API_KEY``.
        base_url: the API's base URL, without ``/v1`` (the provider POSTs to
            ``{base_url}/v1/messages``).
        model: the model to use. When ``None``, the request's ``model`` is used, else
            :data:`DEFAULT_ANTHROPIC_MODEL`; a configured model wins over the request's.
        max_tokens: the answer's token limit when the request sets none (the API requires
            one).
        timeout: seconds (or an ``httpx.Timeout``) for connecting and between two reads.
        headers: extra request headers (e.g. ``anthropic-beta``).
        client: an ``httpx.AsyncClient`` to use; the provider never closes it. Without one,
            each stream uses its own client.

    Raises:
        InvalidArgumentError: no API key (argument or environment), ``base_url`` is not an
            http(s) URL, ``max_tokens`` or ``timeout`` is not positive.
    """

    name: str = _NAME

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_ANTHROPIC_BASE_URL,
        model: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise InvalidArgumentError(
                "api_key", "is required: pass api_key or set ANTHROPIC_API_KEY"
            )
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
            raise InvalidArgumentError("max_tokens", f"must be a positive int (got {max_tokens!r})")
        self._api_key = key
        self.base_url = check_base_url(base_url)
        self.model = model
        self.max_tokens = max_tokens
        self.timeout = check_timeout(timeout)
        self.headers = dict(headers or {})
        self.client = client

    def __repr__(self) -> str:
        return f"AnthropicProvider(base_url={self.base_url!r}, model={self.model!r}, api_key=set)"

    def build_body(
        self, request: ChatRequest, *, structured: StructuredRequest | None = None
    ) -> dict[str, JSONValue]:
        """The JSON body POSTed for ``request`` (exposed for logging and tests).

        Args:
            request: the conversation; its system messages become ``system``.
            structured: when given, a tool named ``structured.name`` whose ``input_schema`` is
                the JSON schema, and ``tool_choice`` forcing it.

        Returns:
            The request body.
        """
        system = "\n\n".join(m.text for m in request.messages if m.role == "system" and m.text)
        messages: list[JSONValue] = []
        for message in request.messages:
            if message.role == "system":
                continue
            if message.role == "tool":
                block: dict[str, JSONValue] = {"type": "tool_result", "content": message.text}
                if message.tool_call_id is not None:
                    block["tool_use_id"] = message.tool_call_id
                messages.append({"role": "user", "content": [block]})
                continue
            messages.append({"role": message.role, "content": _content(message)})
        body: dict[str, JSONValue] = {
            "model": self.model or request.model or DEFAULT_ANTHROPIC_MODEL,
            "max_tokens": request.max_tokens or self.max_tokens,
            "messages": messages,
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if structured is not None:
            tool: dict[str, JSONValue] = {
                "name": structured.name,
                "input_schema": dict(structured.json_schema),
            }
            if structured.description:
                tool["description"] = structured.description
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "tool", "name": structured.name}
        return body

    def stream(
        self, request: ChatRequest, *, structured: StructuredRequest | None = None
    ) -> AsyncGenerator[Chunk, None]:
        """Stream the model's answer to ``request``.

        Args:
            request: the conversation.
            structured: ask for one JSON document (the forced tool's input, streamed as text
                deltas).

        Returns:
            Content chunks ending with ``Done``; HTTP and stream errors arrive as an ``error``
            chunk then ``Done(finish_reason="error")``. Closing the iterator (or cancelling its
            task) closes the upstream request.
        """
        headers = {
            "accept": "text/event-stream",
            "anthropic-version": ANTHROPIC_VERSION,
            **self.headers,
            "x-api-key": self._api_key,
        }
        secrets = (self._api_key,)
        return stream_sse(
            provider=_NAME,
            client=self.client,
            http_timeout=self.timeout,
            url=f"{self.base_url}/v1/messages",
            headers=headers,
            body=self.build_body(request, structured=structured),
            mapper=AnthropicStreamMapper(
                structured_tool=structured.name if structured else None, secrets=secrets
            ),
            secrets=secrets,
        )
