"""Chat helpers: parse a chat request, stream the answer in any dialect, or buffer it.

* :func:`parse_chat_request_body` -> :class:`ChatRequest`, or :class:`ChatRequestError`
  (400/413 with ``{"error": {"message", "field"}}``);
* :func:`to_sse` / :func:`create_stream_response`: chunks -> a streaming response in the
  ``native``, ``openai`` or ``ai-sdk`` dialect;
* :func:`collect_buffered_stream` / :class:`BufferedCollector`: the ``"stream": false`` mode;
* :func:`with_completion_hook`: the full text and usage once a stream ends, however it ends.

The structured-output schemas (``SchemaRegistry``...) live in :mod:`streamwire.chat.schemas`
and are re-exported here.
"""

from __future__ import annotations

from streamwire.chat.buffered import (
    BufferedCollector,
    BufferedResult,
    BufferedToolCall,
    collect_buffered_stream,
)
from streamwire.chat.hooks import (
    Completion,
    CompletionHook,
    CompletionOutcome,
    with_completion_hook,
)
from streamwire.chat.messages import ChatMessage, ChatRequest, ContentPart, Role
from streamwire.chat.request import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_MESSAGES,
    ChatRequestError,
    parse_chat_request_body,
)
from streamwire.chat.responses import SSEOptions, create_stream_response, to_sse

# Last: schemas imports the providers, which import streamwire.chat.messages (already loaded).
from streamwire.chat.schemas import Schema, SchemaRegistry, default_schemas

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_MESSAGES",
    "BufferedCollector",
    "BufferedResult",
    "BufferedToolCall",
    "ChatMessage",
    "ChatRequest",
    "ChatRequestError",
    "Completion",
    "CompletionHook",
    "CompletionOutcome",
    "ContentPart",
    "Role",
    "SSEOptions",
    "Schema",
    "SchemaRegistry",
    "collect_buffered_stream",
    "create_stream_response",
    "default_schemas",
    "parse_chat_request_body",
    "to_sse",
    "with_completion_hook",
]
