"""Chunks -> a streaming HTTP response in any dialect: thin wrappers over ``streamwire.server.sse``.

:func:`to_sse` picks the dialect and, for ``openai``, gives every response its own completion id
and creation time (the protocol core reads no clock). :func:`create_stream_response` also
attaches a completion hook. ``streamwire.server`` is imported when a response is made, so this
module imports without it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterable, Mapping
from typing import TYPE_CHECKING, TypedDict, Unpack

from streamwire.chat.hooks import CompletionHook, with_completion_hook
from streamwire.protocol.chunks import Chunk
from streamwire.protocol.dialects import Dialect
from streamwire.protocol.dialects.openai import DEFAULT_MODEL, openai_dialect

if TYPE_CHECKING:
    from starlette.background import BackgroundTask

    from streamwire.server import CloseCallback, DisconnectCallback, ShutdownMonitor, SSEResponse

__all__ = ["SSEOptions", "create_stream_response", "to_sse"]


class SSEOptions(TypedDict, total=False):
    """The options of :func:`streamwire.server.sse` that :func:`to_sse` passes through."""

    heartbeat_seconds: float | None
    send_timeout_seconds: float | None
    max_buffered_events: int
    on_disconnect: DisconnectCallback | None
    on_close: CloseCallback | None
    headers: Mapping[str, str] | None
    status_code: int
    retry_ms: int | None
    shutdown_grace_seconds: float
    coalesce: bool
    background: BackgroundTask | None
    shutdown: ShutdownMonitor | None


def _resolve(dialect: str | Dialect, model: str | None) -> str | Dialect:
    if dialect == "openai":
        return openai_dialect(
            model=model or DEFAULT_MODEL,
            completion_id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
        )
    return dialect


def to_sse(
    chunks: AsyncIterable[Chunk],
    *,
    dialect: str | Dialect = "native",
    model: str | None = None,
    **options: Unpack[SSEOptions],
) -> SSEResponse:
    """Stream chunks as Server-Sent Events in a dialect.

    Args:
        chunks: the stream, e.g. a provider's output.
        dialect: ``"native"``, ``"openai"``, ``"ai-sdk"`` or a :class:`Dialect`. For
            ``"openai"`` each response gets a fresh ``chatcmpl-<uuid>`` id and the current time.
        model: the model name the ``openai`` dialect reports (``"streamwire"`` by default).
        **options: passed to :func:`streamwire.server.sse` (``heartbeat_seconds``,
            ``on_close``, ``headers``...).

    Returns:
        The response: return it from a Starlette or FastAPI route.

    Raises:
        InvalidArgumentError: an unknown dialect or a bad option (from ``sse``).

    Example:
        >>> @app.post("/v1/chat/completions")  # doctest: +SKIP
        ... async def completions(request: Request):
        ...     chat = parse_chat_request_body(await request.body())
        ...     return to_sse(provider.stream(chat), dialect="openai", model=chat.model)
    """
    from streamwire.server import sse

    return sse(chunks, dialect=_resolve(dialect, model), **options)


def create_stream_response(
    chunks: AsyncIterable[Chunk],
    *,
    dialect: str | Dialect = "native",
    model: str | None = None,
    on_complete: CompletionHook | None = None,
    **options: Unpack[SSEOptions],
) -> SSEResponse:
    """Stream chunks as Server-Sent Events and report the completion when the stream ends.

    Args:
        chunks: the stream, e.g. a provider's output.
        dialect: as :func:`to_sse`.
        model: as :func:`to_sse`.
        on_complete: called once with a :class:`~streamwire.chat.hooks.Completion` (full text,
            usage, outcome) when the stream ends, also when the client leaves early.
        **options: passed to :func:`streamwire.server.sse`.

    Returns:
        The response.

    Raises:
        InvalidArgumentError: an unknown dialect or a bad option (from ``sse``).
    """
    source = chunks if on_complete is None else with_completion_hook(chunks, on_complete)
    return to_sse(source, dialect=dialect, model=model, **options)
