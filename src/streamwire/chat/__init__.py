"""Chat helpers: parse a chat request, stream the answer in any dialect, or buffer it.

* :func:`parse_chat_request_body` -> :class:`ChatRequest`, or :class:`ChatRequestError`
  (400/413 with ``{"error": {"message", "field"}}``);
* :func:`to_sse` / :func:`create_stream_response`: chunks -> a streaming response in the
  ``native``, ``openai`` or ``ai-sdk`` dialect;
* :func:`collect_buffered_stream` / :class:`BufferedCollector`: the ``"stream": false`` mode;
* :func:`with_completion_hook`: the full text and usage once a stream ends, however it ends.

The structured-output schemas (``SchemaRegistry``...) live in :mod:`streamwire.chat.schemas`
and are re-exported here on first use, since they depend on the providers package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
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

# Names re-exported from modules that import the providers (which import this package): loaded
# on first use, so that importing either package first works.
_LAZY = {
    "Schema": "streamwire.chat.schemas",
    "SchemaRegistry": "streamwire.chat.schemas",
    "default_schemas": "streamwire.chat.schemas",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'streamwire.chat' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
