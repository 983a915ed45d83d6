"""The chat request vocabulary shared by the chat routes and the providers.

These are plain values; :func:`streamwire.chat.parse_chat_request_body` builds them from a
request body and validates every field, so a provider can trust what it receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from streamwire.protocol.chunks import JSONValue

__all__ = ["ChatMessage", "ChatRequest", "ContentPart", "Role"]

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentPart:
    """One part of a multi-part message content.

    Attributes:
        type: the part's type, e.g. ``"text"`` or ``"image_url"``.
        text: the text of a ``text`` part (``None`` for other parts).
        data: the whole part as it was received, for providers that pass other parts through.
    """

    type: str
    text: str | None = None
    data: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    """One message of a conversation.

    Attributes:
        role: ``system``, ``user``, ``assistant`` or ``tool``.
        content: plain text, or a tuple of parts.
        name: an optional participant name.
        tool_call_id: for a ``tool`` message, the call it answers.
        tool_calls: for an ``assistant`` message, the tool calls it made, as the client sent
            them (OpenAI's ``{"id", "type", "function": {"name", "arguments"}}`` objects).
    """

    role: Role
    content: str | tuple[ContentPart, ...]
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[Mapping[str, JSONValue], ...] = ()

    @property
    def text(self) -> str:
        """The message's text: the content itself, or its text parts joined."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if part.text is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """A validated chat request.

    Attributes:
        messages: the conversation, never empty.
        session_id: the client's session id (trimmed; ``None`` when absent or blank).
        workflow_id: the client's workflow id (trimmed; ``None`` when absent or blank).
        stream: ``False`` asks for one buffered JSON answer instead of a stream.
        model: the model to use, when the client names one.
        schema: the name of a structured-output schema the server offers, when asked for.
        max_tokens: the most tokens the answer may take, when given.
        temperature: the sampling temperature, when given.
        metadata: the client's free-form metadata (a JSON object).
    """

    messages: tuple[ChatMessage, ...]
    session_id: str | None = None
    workflow_id: str | None = None
    stream: bool = True
    model: str | None = None
    schema: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    metadata: Mapping[str, JSONValue] = field(default_factory=dict)

    @property
    def last_user_text(self) -> str:
        """The text of the last ``user`` message (``""`` when there is none)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text
        return ""
