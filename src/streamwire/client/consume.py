"""``consume_stream``: drive a chunk stream through callbacks.

Callbacks may be plain functions or ``async`` ones (their result is awaited). Structured chunks
are reduced with :class:`~streamwire.protocol.structured.StructuredAccumulator` and
``on_structured`` receives the reduced state, never the raw chunk.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Iterator
from typing import Protocol, TypeVar

from streamwire.protocol.chunks import Chunk, Done, ErrorChunk, StructuredData, TextDelta
from streamwire.protocol.structured import StructuredAccumulator, StructuredState

__all__ = [
    "ChunkCallback",
    "DoneCallback",
    "ErrorCallback",
    "StructuredCallback",
    "TextCallback",
    "consume_stream",
    "consume_stream_sync",
]

_T = TypeVar("_T")


class ChunkCallback(Protocol):
    """Called with every chunk, first; returning ``False`` stops the stream."""

    def __call__(self, chunk: Chunk, /) -> bool | Awaitable[bool | None] | None: ...


class TextCallback(Protocol):
    """Called with the text of every ``text-delta`` chunk."""

    def __call__(self, delta: str, /) -> object: ...


class StructuredCallback(Protocol):
    """Called after every ``structured-data`` chunk with its stream id and the reduced state."""

    def __call__(self, stream_id: str, state: StructuredState, /) -> object: ...


class ErrorCallback(Protocol):
    """Called with every ``error`` chunk."""

    def __call__(self, error: ErrorChunk, /) -> object: ...


class DoneCallback(Protocol):
    """Called exactly once when consuming ends: with the ``done`` chunk, or ``None`` when the
    stream stopped without one (stopped by ``on_chunk``, or failed)."""

    def __call__(self, done: Done | None, /) -> object: ...


async def _call(result: _T | Awaitable[_T]) -> _T:
    if inspect.isawaitable(result):
        return await result
    return result


def _sync(result: object, name: str) -> object:
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if callable(close):
            close()  # do not leave a never-awaited coroutine behind
        raise TypeError(f"{name} returned an awaitable; use consume_stream for async callbacks")
    return result


async def _close(iterator: object) -> None:
    # Close what we iterated (a generator of read_stream closes its HTTP response).
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


async def consume_stream(
    stream: AsyncIterable[Chunk] | Iterable[Chunk],
    *,
    on_chunk: ChunkCallback | None = None,
    on_text: TextCallback | None = None,
    on_structured: StructuredCallback | None = None,
    on_error: ErrorCallback | None = None,
    on_done: DoneCallback | None = None,
) -> Done | None:
    """Read ``stream`` to its end, calling the callbacks for each chunk.

    For each chunk, ``on_chunk`` runs first (returning ``False`` stops at once; the other
    callbacks do not see that chunk), then the callback of its kind. Reading stops after a
    ``done`` chunk.

    Args:
        stream: an async or sync iterable of chunks, e.g. :func:`read_stream` or
            :func:`stream_chat_from_route`.
        on_chunk: called with every chunk; ``False`` stops.
        on_text: called with each ``text-delta``'s text.
        on_structured: called with ``(stream_id, state)`` after each ``structured-data`` chunk,
            ``state`` being the object rebuilt so far (structured chunks are reduced only when
            this callback is given).
        on_error: called with each ``error`` chunk.
        on_done: called exactly once at the end, also when stopped early or when reading
            failed: with the ``done`` chunk, or ``None`` when there was none.

    Returns:
        The ``done`` chunk, or ``None`` when the stream stopped before one.

    Raises:
        StructuredStreamError: a ``structured-data`` chunk could not be applied.
        Whatever the stream or a callback raises (see :func:`read_stream`), after ``on_done``.
        When stopping early the iterator is closed (so is its HTTP response).
    """
    accumulator = StructuredAccumulator()
    done: Done | None = None
    async_iterator: AsyncIterator[Chunk] | None = None
    sync_iterator: Iterator[Chunk] | None = None
    if isinstance(stream, AsyncIterable):
        async_iterator = aiter(stream)
    else:
        sync_iterator = iter(stream)
    try:
        while True:
            if async_iterator is not None:
                chunk = await anext(async_iterator, None)
            else:
                assert sync_iterator is not None
                chunk = next(sync_iterator, None)
            if chunk is None:
                break
            if on_chunk is not None and await _call(on_chunk(chunk)) is False:
                break
            match chunk:
                case TextDelta(delta=delta) if on_text is not None:
                    await _call(on_text(delta))
                case StructuredData() if on_structured is not None:
                    state = accumulator.apply(chunk)
                    await _call(on_structured(chunk.stream_id, state))
                case ErrorChunk() if on_error is not None:
                    await _call(on_error(chunk))
                case Done():
                    done = chunk
                    break
                case _:
                    pass
    finally:
        try:
            await _close(async_iterator if async_iterator is not None else sync_iterator)
        finally:
            if on_done is not None:
                await _call(on_done(done))
    return done


def consume_stream_sync(
    stream: Iterable[Chunk],
    *,
    on_chunk: ChunkCallback | None = None,
    on_text: TextCallback | None = None,
    on_structured: StructuredCallback | None = None,
    on_error: ErrorCallback | None = None,
    on_done: DoneCallback | None = None,
) -> Done | None:
    """The sync twin of :func:`consume_stream`: a sync iterable and plain-function callbacks.

    Returns:
        The ``done`` chunk, or ``None`` when the stream stopped before one.

    Raises:
        TypeError: a callback returned an awaitable (use :func:`consume_stream`).
        StructuredStreamError: a ``structured-data`` chunk could not be applied.
        Whatever the stream or a callback raises, after ``on_done``.
    """
    accumulator = StructuredAccumulator()
    done: Done | None = None
    iterator = iter(stream)
    try:
        for chunk in iterator:
            if on_chunk is not None and _sync(on_chunk(chunk), "on_chunk") is False:
                break
            match chunk:
                case TextDelta(delta=delta) if on_text is not None:
                    _sync(on_text(delta), "on_text")
                case StructuredData() if on_structured is not None:
                    state = accumulator.apply(chunk)
                    _sync(on_structured(chunk.stream_id, state), "on_structured")
                case ErrorChunk() if on_error is not None:
                    _sync(on_error(chunk), "on_error")
                case Done():
                    done = chunk
                    break
                case _:
                    pass
    finally:
        try:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        finally:
            if on_done is not None:
                _sync(on_done(done), "on_done")
    return done
