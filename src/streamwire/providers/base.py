"""What every provider is: an async iterator of chunks for a chat request.

A provider turns a :class:`~streamwire.chat.messages.ChatRequest` into the content chunks of one
answer and ends with exactly one :class:`~streamwire.protocol.chunks.Done`. It never yields a
``Start`` chunk (the route that opens the stream adds it), and it never raises for the upstream's
faults: an HTTP error, a broken stream or an error object inside the stream becomes an
:class:`~streamwire.protocol.chunks.ErrorChunk`, safe to show (no API key, no traceback),
followed by ``Done(finish_reason="error")``.

Finish reasons use streamwire's spelling whatever the upstream: ``stop``, ``length``,
``tool-calls``, ``content-filter`` and ``error`` (an upstream's own value that has no
equivalent is passed on as it is).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

from streamwire.chat.messages import ChatRequest
from streamwire.protocol.chunks import Chunk, JSONValue
from streamwire.protocol.errors import InvalidArgumentError

__all__ = [
    "ERROR_CODES",
    "FINISH_ERROR",
    "Provider",
    "StructuredRequest",
]

#: The finish reason of a stream that ended with an error chunk.
FINISH_ERROR: Final = "error"

#: The ``code`` of every error chunk a provider may send, and what it means.
ERROR_CODES: Final[Mapping[str, str]] = {
    "upstream_auth": "the upstream refused the credentials (HTTP 401 or 403)",
    "upstream_rate_limited": "the upstream is rate limiting (HTTP 429 or a rate-limit error)",
    "upstream_bad_request": "the upstream refused the request (another HTTP 4xx)",
    "upstream_error": "the upstream failed (HTTP 5xx, or an error object inside its stream)",
    "upstream_unavailable": "the upstream could not be reached, or timed out",
    "upstream_protocol": "the upstream's stream broke its wire format, or ended early",
    "demo_error": "the demo provider's error, sent on request",
}

_STRUCTURED_KINDS: Final = frozenset({"set", "append", "text-delta"})


@dataclass(frozen=True, slots=True, kw_only=True)
class StructuredRequest:
    """A request for structured output: the model is asked to answer with one JSON document.

    The provider asks its upstream for a document matching ``json_schema`` (OpenAI:
    ``response_format`` with a JSON schema; Anthropic: a forced tool whose input is the
    document; demo: a document built from the schema) and streams the document's JSON text as
    :class:`~streamwire.protocol.chunks.TextDelta` chunks. Turning that text into
    ``structured-data`` chunks is the extractor's job, configured with ``fields``.

    Attributes:
        name: the schema's name (letters, digits, ``_`` and ``-``; at most 64 characters, the
            limit both OpenAI and Anthropic put on schema and tool names).
        json_schema: the JSON Schema of the document (an object schema).
        fields: the extractor's field spec, e.g. ``{"title": "set", "body": "text-delta",
            "bullets": "append"}``.
        description: what the document is, told to the model (Anthropic's tool description).
        strict: ask OpenAI for strict schema adherence (the schema must then meet OpenAI's
            strict-mode rules).

    Raises:
        InvalidArgumentError: ``name`` is empty, too long or has other characters;
            ``json_schema`` is not a dict; a ``fields`` kind is not ``set``, ``append`` or
            ``text-delta``.
    """

    name: str
    json_schema: Mapping[str, JSONValue]
    fields: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    strict: bool = False

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64:
            raise InvalidArgumentError("name", f"must have 1 to 64 characters (got {self.name!r})")
        bad = next((c for c in self.name if not (c.isascii() and (c.isalnum() or c in "_-"))), "")
        if bad:
            raise InvalidArgumentError(
                "name", f"may hold only letters, digits, '_' and '-' (found {bad!r})"
            )
        if not isinstance(self.json_schema, Mapping):
            raise InvalidArgumentError(
                "json_schema", f"must be a dict (got {type(self.json_schema).__name__})"
            )
        for path, kind in self.fields.items():
            if kind not in _STRUCTURED_KINDS:
                raise InvalidArgumentError(
                    f"fields.{path}",
                    f"must be one of 'set', 'append', 'text-delta' (got {kind!r})",
                )


@runtime_checkable
class Provider(Protocol):
    """A model: streams the chunks of one answer to a chat request.

    Attributes:
        name: the provider's name (``demo``, ``openai``, ``anthropic``).
    """

    name: str

    def stream(
        self, request: ChatRequest, *, structured: StructuredRequest | None = None
    ) -> AsyncIterator[Chunk]:
        """Stream the answer to ``request``.

        Args:
            request: the conversation.
            structured: ask for one JSON document instead of free text (its text is streamed
                as text deltas).

        Returns:
            An async iterator of content chunks ending with one ``Done``; no ``Start``. Close
            it (``aclose()``, or cancel the task reading it) to stop: the upstream request is
            closed at once.
        """
        ...
