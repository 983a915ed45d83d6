"""The completion hook: learn the full text and usage of a stream once it ends, however it ends.

For logging, caching and storage. :func:`with_completion_hook` wraps a chunk iterator; when the
stream ends it calls the hook exactly once with a :class:`Completion`: after the last chunk, and
also when the consumer stops early (``aclose()``, a client that left) or its task is cancelled.

Why it is built the way it is:

* The hook runs in the wrapper's ``finally``, the one place every ending passes through.
* An async hook runs in its own task behind :func:`asyncio.shield`: inside a cancelled task
  (or a cancelled anyio scope, as in Starlette) an ``await`` is interrupted at once, so a
  cleanup awaited in place is easily skipped. The shielded task finishes even then.
* The source is closed (``aclose()``) before the hook runs, so that a provider releases its
  upstream request first.
* A hook that raises does not break the stream: the error is logged (logger
  ``streamwire.chat``) with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable
from dataclasses import dataclass
from typing import Literal, Protocol

from streamwire._aio import aclose
from streamwire.protocol.chunks import Chunk, Done, ErrorChunk, TextDelta, Usage

__all__ = ["Completion", "CompletionHook", "CompletionOutcome", "with_completion_hook"]

logger = logging.getLogger("streamwire.chat")

CompletionOutcome = Literal["completed", "cancelled", "error"]

# Async hooks still running after their stream's task was cancelled (strong references, so
# that they are not garbage-collected half-way).
_RUNNING_HOOKS: set[asyncio.Future[None]] = set()


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """How a stream ended, with what it said.

    Attributes:
        text: the text streamed so far (every ``text-delta`` joined).
        usage: the last ``usage`` chunk, if any.
        finish_reason: the ``done`` chunk's finish reason, if it arrived.
        outcome: ``completed`` (the stream ended or its ``done`` chunk was read), ``cancelled``
            (the consumer stopped early or was cancelled), or ``error`` (an ``error`` chunk was
            streamed or the source raised).
        error: the last ``error`` chunk, if any.
        exception: what the source raised, when it raised (an ``Exception``; never shown to a
            client).
        chunks: how many chunks the consumer was given.
    """

    text: str
    usage: Usage | None
    finish_reason: str | None
    outcome: CompletionOutcome
    error: ErrorChunk | None = None
    exception: Exception | None = None
    chunks: int = 0


class CompletionHook(Protocol):
    """``hook(completion)``, sync or async, called once when a stream ends."""

    def __call__(self, completion: Completion, /) -> Awaitable[None] | None:
        """Receive the completion of one stream."""
        ...


def _log_failure(future: asyncio.Future[None]) -> None:
    _RUNNING_HOOKS.discard(future)
    if not future.cancelled() and future.exception() is not None:
        logger.error("completion hook failed", exc_info=future.exception())


async def _call_hook(hook: CompletionHook, completion: Completion) -> None:
    try:
        result = hook(completion)
    except Exception:
        logger.exception("completion hook failed")
        return
    if result is None or not inspect.isawaitable(result):
        return
    future = asyncio.ensure_future(result)
    _RUNNING_HOOKS.add(future)
    future.add_done_callback(_log_failure)
    # If this task is cancelled while waiting, the hook keeps running in its own task.
    with contextlib.suppress(Exception):  # a failure is logged by _log_failure
        await asyncio.shield(future)


async def with_completion_hook(
    chunks: AsyncIterable[Chunk], hook: CompletionHook
) -> AsyncGenerator[Chunk, None]:
    """Pass ``chunks`` through unchanged and call ``hook`` exactly once when the stream ends.

    Args:
        chunks: the stream, e.g. a provider's output.
        hook: called with a :class:`Completion` (text, usage, finish reason, outcome) when
            the stream is exhausted, when the consumer closes the iterator early, when the
            consuming task is cancelled, and when the source raises.

    Returns:
        An async generator of the same chunks. Close it (``aclose()``) when you stop early, so
        that the hook runs at once rather than when the iterator is garbage-collected.

    Raises:
        Exception: whatever the source raises, after the hook ran (outcome ``error``).

    Example:
        >>> async def log(done: Completion) -> None:
        ...     print(done.outcome, len(done.text))
        >>> response = sse(with_completion_hook(provider.stream(request), log))  # doctest: +SKIP
    """
    iterator = aiter(chunks)
    text: list[str] = []
    usage: Usage | None = None
    error: ErrorChunk | None = None
    finish_reason: str | None = None
    done = False
    count = 0
    exhausted = False
    exception: Exception | None = None
    try:
        async for chunk in iterator:
            if isinstance(chunk, TextDelta):
                text.append(chunk.delta)
            elif isinstance(chunk, Usage):
                usage = chunk
            elif isinstance(chunk, ErrorChunk):
                error = chunk
            elif isinstance(chunk, Done):
                done = True
                finish_reason = chunk.finish_reason
            count += 1
            yield chunk
        exhausted = True
    except Exception as exc:
        exception = exc
        raise
    finally:
        outcome: CompletionOutcome
        if exception is not None or error is not None:
            outcome = "error"
        elif exhausted or done:
            # A consumer that stops right after the done chunk lost nothing: completed.
            outcome = "completed"
        else:
            outcome = "cancelled"
        completion = Completion(
            text="".join(text),
            usage=usage,
            finish_reason=finish_reason,
            outcome=outcome,
            error=error,
            exception=exception,
            chunks=count,
        )
        try:
            await aclose(iterator)  # a no-op when the source already ended
        finally:
            await _call_hook(hook, completion)
