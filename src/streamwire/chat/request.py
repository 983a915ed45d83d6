"""Parse and validate a chat request body: JSON in, a :class:`ChatRequest` or a 4xx error out.

The accepted body is the union of what chat clients send:

* OpenAI chat completions: ``{"model", "messages": [{"role", "content", "name"?,
  "tool_call_id"?, "tool_calls"?}], "stream", "max_tokens", "temperature", "metadata"}``;
* the Vercel AI SDK's ``useChat``: messages with ``parts`` instead of ``content``;
* streamwire's own keys: ``schema``, ``sessionId`` / ``session_id``, ``workflowId`` /
  ``workflow_id``.

Rules: unknown keys are ignored (clients add their own); a known key of the wrong type is an
error naming it (``messages.0.role``), never quietly fixed. Ids are trimmed and a blank id counts
as absent. The body and the number of messages are limited: a body over the limit is a 413.
Content ``null`` is accepted for ``assistant`` messages only (the OpenAI SDK sends it with
``tool_calls``) and becomes ``""``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, cast

import msgspec

from streamwire.chat.messages import ChatMessage, ChatRequest, ContentPart, Role
from streamwire.protocol.chunks import JSONValue
from streamwire.protocol.errors import StreamwireError
from streamwire.protocol.structured import describe_json

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_MESSAGES",
    "MAX_ID_CHARS",
    "ChatRequestError",
    "parse_chat_request_body",
]

# 2 MiB: a long conversation is a few hundred KiB; images sent inline as data URLs are what
# gets near this. Larger bodies are almost always a mistake or an attack.
DEFAULT_MAX_BODY_BYTES: Final = 2 * 1024 * 1024

# 500 messages: far beyond any model's useful context, small enough to bound the work.
DEFAULT_MAX_MESSAGES: Final = 500

# Session and workflow ids are keys, not documents; 256 characters fits any UUID or ULID scheme.
MAX_ID_CHARS: Final = 256

_ROLES: Final[tuple[Role, ...]] = ("system", "user", "assistant", "tool")


class ChatRequestError(StreamwireError):
    """A chat request body that cannot be used; safe to send back to the client.

    Attributes:
        message: what was wrong, e.g. ``"must be one of system, user, assistant, tool (got
            'bot')"``.
        field: the dotted path of the first bad field (``messages.0.role``), or ``"body"`` when
            the body as a whole is bad.
        status: the HTTP status to answer with: 400, or 413 when the body is too large.
    """

    def __init__(self, message: str, *, field: str = "body", status: int = 400) -> None:
        self.message = message
        self.field = field
        self.status = status
        super().__init__(f"{field}: {message}")

    def to_json(self) -> dict[str, JSONValue]:
        """The error as the JSON body of the 4xx answer.

        Returns:
            ``{"error": {"message": ..., "field": ...}}``.
        """
        return {"error": {"message": self.message, "field": self.field}}


def _bad(field: str, expected: str, value: object) -> ChatRequestError:
    return ChatRequestError(f"must be {expected}, found {describe_json(value)}", field=field)


def _optional_str(body: Mapping[str, JSONValue], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(key, "a string", value)
    return value


def _id(body: Mapping[str, JSONValue], *keys: str) -> str | None:
    """The first of ``keys`` that is present, trimmed; blank counts as absent."""
    found: tuple[str, str] | None = None
    for key in keys:
        value = _optional_str(body, key)
        if value is None:
            continue
        value = value.strip()
        if not value:
            continue
        if len(value) > MAX_ID_CHARS:
            raise ChatRequestError(
                f"must be at most {MAX_ID_CHARS} characters (got {len(value)})", field=key
            )
        if found is not None and found[1] != value:
            raise ChatRequestError(
                f"disagrees with {found[0]} ({found[1]!r} vs {value!r}); send one of them",
                field=key,
            )
        found = (key, value)
    return None if found is None else found[1]


def _part(value: JSONValue, where: str) -> ContentPart:
    if not isinstance(value, Mapping):
        raise _bad(where, "an object", value)
    part_type = value.get("type")
    if not isinstance(part_type, str) or not part_type:
        raise _bad(f"{where}.type", "a non-empty string", part_type)
    text = value.get("text")
    if part_type == "text" and not isinstance(text, str):
        raise _bad(f"{where}.text", "a string", text)
    return ContentPart(type=part_type, text=text if part_type == "text" else None, data=dict(value))


def _content(
    message: Mapping[str, JSONValue], where: str, role: Role
) -> str | tuple[ContentPart, ...]:
    if "content" in message:
        key = "content"
        content = message["content"]
    elif "parts" in message:
        key = "parts"  # the AI SDK's UI messages
        content = message["parts"]
    else:
        raise ChatRequestError("is required (text or a list of parts)", field=f"{where}.content")
    if isinstance(content, str):
        return content
    if content is None and role == "assistant":
        return ""
    if not isinstance(content, list):
        raise _bad(f"{where}.{key}", "a string or an array of parts", content)
    return tuple(_part(part, f"{where}.{key}.{n}") for n, part in enumerate(content))


def _message(value: JSONValue, where: str) -> ChatMessage:
    if not isinstance(value, Mapping):
        raise _bad(where, "an object", value)
    role = value.get("role")
    if role not in _ROLES:
        found = repr(role) if isinstance(role, str) else describe_json(role)
        raise ChatRequestError(
            f"must be one of {', '.join(_ROLES)} (got {found})", field=f"{where}.role"
        )
    role = cast(Role, role)
    name = value.get("name")
    if name is not None and not isinstance(name, str):
        raise _bad(f"{where}.name", "a string", name)
    tool_call_id = None
    for key in ("tool_call_id", "toolCallId"):
        raw = value.get(key)
        if raw is None:
            continue
        if not isinstance(raw, str):
            raise _bad(f"{where}.{key}", "a string", raw)
        tool_call_id = raw.strip() or None
        break
    tool_calls = value.get("tool_calls")
    calls: tuple[Mapping[str, JSONValue], ...] = ()
    if tool_calls is not None:
        if not isinstance(tool_calls, list):
            raise _bad(f"{where}.tool_calls", "an array", tool_calls)
        for n, call in enumerate(tool_calls):
            if not isinstance(call, Mapping):
                raise _bad(f"{where}.tool_calls.{n}", "an object", call)
        calls = tuple(dict(call) for call in tool_calls)
    return ChatMessage(
        role=role,
        content=_content(value, where, role),
        name=name,
        tool_call_id=tool_call_id,
        tool_calls=calls,
    )


def _decode(body: bytes | str, max_body_bytes: int) -> JSONValue:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > max_body_bytes:
        raise ChatRequestError(
            f"is too large: {len(raw)} bytes, the limit is {max_body_bytes}", status=413
        )
    if not raw.strip():
        raise ChatRequestError("is empty; expected a JSON object")
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ChatRequestError(f"is not valid JSON: {reason}") from None


def parse_chat_request_body(
    body: bytes | str | Mapping[str, JSONValue],
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    default_stream: bool = True,
) -> ChatRequest:
    """Validate a chat request body and build the :class:`ChatRequest` it asks for.

    Args:
        body: the raw body (UTF-8 JSON bytes or text) or an already parsed JSON object (the
            size limit then does not apply).
        max_body_bytes: the largest raw body accepted, in bytes.
        max_messages: the most messages accepted.
        default_stream: ``stream`` when the body does not say (or says ``null``): ``True`` for
            streamwire's own routes, ``False`` for the OpenAI API, which answers with one JSON
            object unless asked to stream.

    Returns:
        The validated request; ``messages`` is never empty.

    Raises:
        ChatRequestError: the body is not a JSON object, too large (``status`` 413), has too
            many messages (413), or a known field is missing or of the wrong type. ``field``
            names the first bad field, e.g. ``messages.0.role``.

    Example:
        >>> request = parse_chat_request_body(b'{"messages": [{"role": "user", "content": "Hi"}]}')
        >>> request.last_user_text
        'Hi'
    """
    parsed: JSONValue = body if isinstance(body, Mapping) else _decode(body, max_body_bytes)
    if not isinstance(parsed, Mapping):
        raise _bad("body", "a JSON object", parsed)
    messages = parsed.get("messages")
    if messages is None:
        raise ChatRequestError("is required: a non-empty list of messages", field="messages")
    if not isinstance(messages, list):
        raise _bad("messages", "an array", messages)
    if not messages:
        raise ChatRequestError("must not be empty", field="messages")
    if len(messages) > max_messages:
        raise ChatRequestError(
            f"has {len(messages)} messages, the limit is {max_messages}",
            field="messages",
            status=413,
        )
    chat_messages = tuple(_message(m, f"messages.{n}") for n, m in enumerate(messages))

    stream = parsed.get("stream")
    if stream is None:
        stream = default_stream
    if not isinstance(stream, bool):
        raise _bad("stream", "a boolean", stream)
    model = _optional_str(parsed, "model")
    schema = _optional_str(parsed, "schema")
    max_tokens = parsed.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise _bad("max_tokens", "a positive integer", max_tokens)
    temperature = parsed.get("temperature")
    if temperature is not None:
        if not isinstance(temperature, int | float) or isinstance(temperature, bool):
            raise _bad("temperature", "a number", temperature)
        if not math.isfinite(temperature) or temperature < 0:
            raise ChatRequestError(
                f"must be a finite number >= 0 (got {temperature!r})", field="temperature"
            )
    metadata = parsed.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise _bad("metadata", "an object", metadata)
    return ChatRequest(
        messages=chat_messages,
        session_id=_id(parsed, "sessionId", "session_id"),
        workflow_id=_id(parsed, "workflowId", "workflow_id"),
        stream=stream,
        model=(model.strip() or None) if model is not None else None,
        schema=(schema.strip() or None) if schema is not None else None,
        max_tokens=max_tokens,
        temperature=float(temperature) if temperature is not None else None,
        metadata=dict(metadata),
    )
