"""The ``openai`` provider: any OpenAI-compatible ``/chat/completions`` stream.

Works with OpenAI and with the servers that copy its API (vLLM, llama.cpp's server, Ollama,
LM Studio, ...). The request is a streamed chat completion with ``stream_options.include_usage``;
the answer's ``chat.completion.chunk`` events are mapped to chunks by :class:`OpenAIStreamMapper`
(sans-IO):

* ``delta.content`` (and ``delta.refusal``) -> ``text-delta``;
* ``delta.reasoning_content`` / ``delta.reasoning`` (vLLM, llama.cpp, DeepSeek, Ollama,
  OpenRouter) -> ``reasoning-delta``;
* ``delta.tool_calls``, by ``index``: ``tool-call-start`` once the call's id and name are known,
  ``tool-call-delta`` for each ``arguments`` fragment, ``tool-call-end`` with the parsed input
  when the choice finishes;
* ``usage`` -> one ``usage`` chunk before ``done``;
* ``data: [DONE]`` -> ``done`` with the choice's ``finish_reason`` in streamwire's spelling
  (``tool_calls`` -> ``tool-calls``, ``content_filter`` -> ``content-filter``);
* ``{"error": {...}}`` inside the stream -> an ``error`` chunk, then ``done``.

Only the first choice (``index`` 0) is streamed: a chat answer is one message.

The OpenAI *dialect* decoder (``streamwire.protocol.dialects.openai``) reads the same wire
format, but for a client: it yields ``start``, raises on bad data and expects ``[DONE]`` after an
error object. A provider must instead stop reading at the first error, turn everything the
upstream gets wrong into a safe ``error`` chunk (API key redacted, status-based codes) and
accept a body that ends after the finish reason without ``[DONE]``; so this mapper is the
provider's own. Both share the finish-reason spelling (:func:`from_openai_finish_reason`).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Final

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
from streamwire.protocol.dialects.openai import from_openai_finish_reason
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
    "DEFAULT_OPENAI_BASE_URL",
    "DEFAULT_OPENAI_MODEL",
    "OpenAIProvider",
    "OpenAIStreamMapper",
]

#: OpenAI's API; like the ``openai`` SDK, the base URL includes the version prefix.
DEFAULT_OPENAI_BASE_URL: Final = "https://api.openai.com/v1"
#: The model used when neither the provider nor the request names one: small, cheap, streams.
DEFAULT_OPENAI_MODEL: Final = "gpt-4o-mini"

_NAME: Final = "openai"


@dataclass(slots=True)
class _ToolCall:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    started: bool = False
    pending: str = ""  # argument fragments that arrived before the id and name


class OpenAIStreamMapper:
    """Maps the events of an OpenAI chat-completion stream to chunks (sans-IO, one stream).

    Args:
        secrets: strings to redact from any upstream message put in an error chunk.
    """

    __slots__ = ("_calls", "_finish_reason", "_finished", "_secrets", "_usage")

    def __init__(self, *, secrets: tuple[str, ...] = ()) -> None:
        self._secrets = secrets
        self._calls: dict[int, _ToolCall] = {}
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._finished = False

    @property
    def finished(self) -> bool:
        """Whether ``[DONE]`` or an error has been read."""
        return self._finished

    def feed(self, event: ServerSentEvent) -> list[Chunk]:
        """The chunks one event carries.

        Args:
            event: a decoded SSE event of the upstream's stream.

        Returns:
            Content chunks; once the stream ends (``[DONE]``, an error object, bad data), the
            last of them is ``Done``.
        """
        if self._finished:
            return []
        data = event.data
        if data.strip() == "[DONE]":
            return self._finish()
        try:
            obj = json.loads(data)
        except ValueError:
            return self._fail(f"openai upstream sent an event that is not JSON: {data[:80]!r}")
        if not isinstance(obj, dict):
            return self._fail("openai upstream sent an event that is not a JSON object")
        if "error" in obj and obj["error"] is not None:
            message = safe_text(error_object_message(obj), self._secrets) or "unknown error"
            self._finished = True
            code = "upstream_rate_limited" if "rate" in message.lower() else "upstream_error"
            return error_chunks(f"openai upstream error: {message}", code=code, retryable=True)
        chunks: list[Chunk] = []
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self._usage = Usage(
                input_tokens=_int(usage.get("prompt_tokens")),
                output_tokens=_int(usage.get("completion_tokens")),
            )
        choices = obj.get("choices")
        if not isinstance(choices, list):
            return chunks
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                problem = self._delta(delta, chunks)
                if problem:
                    return chunks + self._fail(problem)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self._finish_reason = reason
                ended = self._end_calls()
                if isinstance(ended, str):
                    return chunks + self._fail(ended)
                chunks.extend(ended)
        return chunks

    def end_of_stream(self) -> list[Chunk]:
        """The chunks for the end of the body: ``Done`` if a choice had finished (some servers
        omit ``[DONE]``), else an error saying the stream was cut."""
        if self._finished:
            return []
        if self._finish_reason is not None:
            return self._finish()
        return self._fail(
            "openai upstream stream ended before [DONE]", code="upstream_protocol", retryable=True
        )

    def _delta(self, delta: dict[str, JSONValue], out: list[Chunk]) -> str:
        for key in ("reasoning_content", "reasoning"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                out.append(ReasoningDelta(delta=text))
                break
        for key in ("content", "refusal"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                out.append(TextDelta(delta=text))
        tool_calls = delta.get("tool_calls")
        if not isinstance(tool_calls, list):
            return ""
        for item in tool_calls:
            if not isinstance(item, dict):
                return "openai upstream sent a tool call that is not an object"
            index = item.get("index", 0)
            if not isinstance(index, int):
                return f"openai upstream sent a tool call whose index is not an integer: {index!r}"
            call = self._calls.setdefault(index, _ToolCall(index=index))
            if isinstance(item.get("id"), str) and item["id"]:
                call.id = call.id or item["id"]
            function = item.get("function")
            fragment = ""
            if isinstance(function, dict):
                if isinstance(function.get("name"), str) and function["name"]:
                    call.name = call.name or function["name"]
                if isinstance(function.get("arguments"), str):
                    fragment = function["arguments"]
            if not call.started and call.id is not None and call.name is not None:
                call.started = True
                out.append(ToolCallStart(tool_call_id=call.id, tool=call.name))
                if call.pending:
                    out.append(ToolCallDelta(tool_call_id=call.id, input_delta=call.pending))
                    call.pending = ""
            if not fragment:
                continue
            call.arguments += fragment
            if call.started and call.id is not None:
                out.append(ToolCallDelta(tool_call_id=call.id, input_delta=fragment))
            else:
                call.pending += fragment
        return ""

    def _end_calls(self) -> list[Chunk] | str:
        out: list[Chunk] = []
        for index in sorted(self._calls):
            call = self._calls[index]
            if call.name is None:
                return f"openai upstream sent tool call {index} without a function name"
            if not call.started:
                # Some compatible servers send no id: name the call after its index.
                call.id = call.id or f"call_{index}"
                call.started = True
                out.append(ToolCallStart(tool_call_id=call.id, tool=call.name))
                if call.pending:
                    out.append(ToolCallDelta(tool_call_id=call.id, input_delta=call.pending))
            assert call.id is not None  # set by the start above
            try:
                value = json.loads(call.arguments) if call.arguments.strip() else {}
            except json.JSONDecodeError as exc:
                return (
                    f"openai upstream sent tool call {call.id!r} ({call.name}) arguments that "
                    f"are not JSON: {exc.msg} at offset {exc.pos}"
                )
            out.append(ToolCallEnd(tool_call_id=call.id, input=value))
        self._calls.clear()
        return out

    def _finish(self) -> list[Chunk]:
        out: list[Chunk] = []
        if self._calls:
            ended = self._end_calls()
            if isinstance(ended, str):
                return self._fail(ended)
            out.extend(ended)
        self._finished = True
        if self._usage is not None:
            out.append(self._usage)
        out.append(Done(finish_reason=from_openai_finish_reason(self._finish_reason) or "stop"))
        return out

    def _fail(
        self, message: str, *, code: str = "upstream_protocol", retryable: bool = True
    ) -> list[Chunk]:
        self._finished = True
        return error_chunks(message, code=code, retryable=retryable)


def _int(value: JSONValue) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _message(message: ChatMessage) -> dict[str, JSONValue]:
    content: JSONValue
    if isinstance(message.content, str):
        content = message.content
    else:
        content = [
            {"type": "text", "text": part.text}
            if part.type == "text" and part.text is not None
            else dict(part.data)
            for part in message.content
        ]
    out: dict[str, JSONValue] = {"role": message.role, "content": content}
    if message.name is not None:
        out["name"] = message.name
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


class OpenAIProvider:
    """Streams a model served by an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url: the API's base URL including its version prefix, as for the ``openai`` SDK
            (``https://api.openai.com/v1``, ``http://localhost:11434/v1`` for Ollama); the
            provider POSTs to ``{base_url}/chat/completions``.
        api_key: sent as ``Authorization: Bearer ...``; defaults to ``$OPENAI_API_KEY``; with
            neither, no ``Authorization`` header is sent (local servers need none).
        model: the model to use. When ``None``, the request's ``model`` is used, else
            :data:`DEFAULT_OPENAI_MODEL`. A configured model wins over the request's, so that
            a server's operator decides what its key pays for.
        timeout: seconds (or an ``httpx.Timeout``) for connecting and between two reads.
        headers: extra request headers (e.g. ``OpenAI-Organization``).
        client: an ``httpx.AsyncClient`` to use (connection reuse, proxies, custom transport);
            the provider never closes it. Without one, each stream uses its own client.
        include_usage: ask for token usage (``stream_options.include_usage``); turn off for a
            server that rejects ``stream_options``.

    Raises:
        InvalidArgumentError: ``base_url`` is not an http(s) URL, or ``timeout`` is not
            positive.

    Example:
        >>> provider = OpenAIProvider(base_url="http://localhost:11434/v1", model="llama3.2")
        >>> provider.name
        'openai'
    """

    name: str = _NAME

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_OPENAI_BASE_URL,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        include_usage: bool = True,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.model = model
        self.timeout = check_timeout(timeout)
        self.headers = dict(headers or {})
        self.client = client
        self.include_usage = include_usage

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"OpenAIProvider(base_url={self.base_url!r}, model={self.model!r}, api_key={key})"

    def build_body(
        self, request: ChatRequest, *, structured: StructuredRequest | None = None
    ) -> dict[str, JSONValue]:
        """The JSON body POSTed for ``request`` (exposed for logging and tests).

        Args:
            request: the conversation.
            structured: when given, ``response_format`` asks for a document matching its JSON
                schema (OpenAI structured outputs).

        Returns:
            The request body.
        """
        body: dict[str, JSONValue] = {
            "model": self.model or request.model or DEFAULT_OPENAI_MODEL,
            "messages": [_message(message) for message in request.messages],
            "stream": True,
        }
        if self.include_usage:
            body["stream_options"] = {"include_usage": True}
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if structured is not None:
            schema: dict[str, JSONValue] = {
                "name": structured.name,
                "schema": dict(structured.json_schema),
            }
            if structured.description:
                schema["description"] = structured.description
            if structured.strict:
                schema["strict"] = True
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        return body

    def stream(
        self, request: ChatRequest, *, structured: StructuredRequest | None = None
    ) -> AsyncGenerator[Chunk, None]:
        """Stream the model's answer to ``request``.

        Args:
            request: the conversation.
            structured: ask for one JSON document (streamed as text deltas).

        Returns:
            Content chunks ending with ``Done``; HTTP and stream errors arrive as an ``error``
            chunk then ``Done(finish_reason="error")``. Closing the iterator (or cancelling its
            task) closes the upstream request.
        """
        headers = {"accept": "text/event-stream", **self.headers}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        secrets = (self._api_key,) if self._api_key else ()
        return stream_sse(
            provider=_NAME,
            client=self.client,
            http_timeout=self.timeout,
            url=f"{self.base_url}/chat/completions",
            headers=headers,
            body=self.build_body(request, structured=structured),
            mapper=OpenAIStreamMapper(secrets=secrets),
            secrets=secrets,
        )
