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

The mapping itself is the OpenAI dialect's decoder (``streamwire.protocol.dialects.openai``),
in the two modes it has for upstreams: an error object ends the stream (no ``[DONE]`` follows
it) and a tool call starts once its id and name are known. The mapper adds what a provider
owes its caller: it stops at the first error and turns everything the upstream gets wrong (bad
data included) into a safe ``error`` chunk (API key redacted) then ``done``, and it accepts a
body that ends after the finish reason without ``[DONE]``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Mapping
from typing import Final

import httpx

from streamwire.chat.messages import ChatMessage, ChatRequest
from streamwire.protocol.chunks import Chunk, Done, ErrorChunk, JSONValue
from streamwire.protocol.dialects.openai import DONE_DATA, OpenAIDecodeError, OpenAIDecoder
from streamwire.protocol.sse import ServerSentEvent
from streamwire.providers._http import (
    DEFAULT_TIMEOUT,
    check_base_url,
    check_timeout,
    error_chunks,
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
# The code the dialect gives an error object that names neither a code nor a type.
_DIALECT_ERROR_CODE: Final = "upstream_error"


class OpenAIStreamMapper:
    """Maps the events of an OpenAI chat-completion stream to chunks (sans-IO, one stream).

    The mapping is the OpenAI dialect's decoder (with ``error_ends_stream`` and
    ``wait_for_call_id``); this class makes its output a provider's: everything the upstream
    gets wrong becomes a safe ``error`` chunk followed by ``Done``, secrets redacted.

    Args:
        secrets: strings to redact from any upstream message put in an error chunk.
    """

    __slots__ = ("_decoder", "_failed", "_secrets")

    def __init__(self, *, secrets: tuple[str, ...] = ()) -> None:
        self._secrets = secrets
        self._decoder = OpenAIDecoder(
            emit_start=False, error_ends_stream=True, wait_for_call_id=True
        )
        self._failed = False

    @property
    def finished(self) -> bool:
        """Whether ``[DONE]`` or an error has been read."""
        return self._failed or self._decoder.finished

    def feed(self, event: ServerSentEvent) -> list[Chunk]:
        """The chunks one event carries.

        Args:
            event: a decoded SSE event of the upstream's stream.

        Returns:
            Content chunks; once the stream ends (``[DONE]``, an error object, bad data), the
            last of them is ``Done``.
        """
        if self.finished:
            return []
        try:
            chunks = self._decoder.decode(event)
        except OpenAIDecodeError as exc:
            return self._fail(_protocol_problem(exc))
        return [self._provider_chunk(chunk) for chunk in chunks]

    def end_of_stream(self) -> list[Chunk]:
        """The chunks for the end of the body: ``Done`` if a choice had finished (some servers
        omit ``[DONE]``), else an error saying the stream was cut."""
        if self.finished:
            return []
        if self._decoder.finish_reason is not None:
            return self.feed(ServerSentEvent(data=DONE_DATA))
        return self._fail("openai upstream stream ended before [DONE]")

    def _provider_chunk(self, chunk: Chunk) -> Chunk:
        if isinstance(chunk, Done) and chunk.finish_reason is None:
            return Done(finish_reason="stop")
        if not isinstance(chunk, ErrorChunk):
            return chunk
        # The dialect's code is the upstream's code or type; it is kept in the message and
        # replaced by a provider code.
        detail = chunk.message
        if chunk.code != _DIALECT_ERROR_CODE and chunk.code not in detail:
            detail = f"{detail} ({chunk.code})"
        message = safe_text(detail, self._secrets)
        code = "upstream_rate_limited" if "rate" in message.lower() else "upstream_error"
        return ErrorChunk(message=f"openai upstream error: {message}", code=code, retryable=True)

    def _fail(self, message: str) -> list[Chunk]:
        self._failed = True
        return error_chunks(message, code="upstream_protocol", retryable=True)


def _protocol_problem(error: OpenAIDecodeError) -> str:
    """The message of the error chunk for an event the decoder could not read."""
    if error.tool_call_id is not None:
        tool = f" ({error.tool})" if error.tool else ""
        subject = f"tool call {error.tool_call_id!r}{tool} whose {error.field}"
    elif error.field:
        subject = f"an event whose {error.field}"
    else:
        subject = "an event that"
    at = f" at offset {error.offset}" if error.offset is not None else ""
    return f"openai upstream sent {subject} is not {error.expected} ({error.found}{at})"


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
