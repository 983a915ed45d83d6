"""Stream a model's JSON as ``structured-data`` chunks from any async source of text.

:func:`stream_structured` is the adapter loop around the sans-IO
:class:`~streamwire.protocol.extract.StructuredExtractor`: read a fragment, feed it, yield the
chunks. Its output is an async iterator of chunks, so it goes straight into ``sse()`` or any
other streamwire response; closing or cancelling it closes the source.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable

from streamwire._aio import aclose
from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    StructuredData,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from streamwire.protocol.errors import StructuredOutputError
from streamwire.protocol.extract import StructuredExtractor

__all__ = [
    "INVALID_STRUCTURED_OUTPUT",
    "extract_structured",
    "invalid_output_chunk",
    "stream_structured",
]

#: The ``code`` of the ``error`` chunk sent instead of ``final`` for an invalid document.
INVALID_STRUCTURED_OUTPUT = "invalid_structured_output"

# The error chunk quotes the reason (it names a path and an offset in the model's own output,
# which the person already sees); cut it so that a huge enum or key cannot bloat the event.
_MAX_REASON_CHARS = 300

_log = logging.getLogger("streamwire.structured")


def _log_error(error: StructuredOutputError) -> None:
    _log.warning("invalid structured output: %s", error)


def invalid_output_chunk(error: StructuredOutputError) -> ErrorChunk:
    """The ``error`` chunk sent instead of ``final`` for an invalid document: code
    ``invalid_structured_output``, not retryable, the reason cut to a safe length."""
    reason = str(error)
    if len(reason) > _MAX_REASON_CHARS:
        reason = reason[: _MAX_REASON_CHARS - 3] + "..."
    return ErrorChunk(
        message=f"The model's structured output is not valid: {reason}",
        code=INVALID_STRUCTURED_OUTPUT,
        retryable=False,
    )


async def stream_structured(
    texts: AsyncIterable[str],
    extractor: StructuredExtractor,
    *,
    on_error: Callable[[StructuredOutputError], None] | None = _log_error,
) -> AsyncIterator[StructuredData | ErrorChunk]:
    """Feed text fragments to ``extractor`` and yield its chunks as they come.

    At the end of ``texts`` it yields the ``final`` chunk. When the text is not a valid
    document (not JSON, cut off, text around it, or failing the extractor's model or schema),
    it yields one ``error`` chunk instead, with code ``invalid_structured_output``,
    ``retryable=False`` and a message that is safe to show, stops reading, and ends.

    Args:
        texts: the model's output as text fragments (a provider's text deltas).
        extractor: a fresh extractor with the field spec, stream id and validation to use.
        on_error: called with the :class:`StructuredOutputError` before the ``error`` chunk is
            yielded (the default logs it at WARNING on ``streamwire.structured``; ``None``:
            nothing).

    Yields:
        ``structured-data`` chunks, then ``final`` or one ``error`` chunk.

    Raises:
        Whatever ``texts`` raises, after closing it. Closing or cancelling the returned
        iterator closes ``texts`` (its ``aclose()``, when it has one).

    Example:
        >>> async def route():  # doctest: +SKIP
        ...     extractor = StructuredExtractor({"body": "text-delta"}, stream_id="draft")
        ...     return sse(stream_structured(provider_text(), extractor))
    """
    source = aiter(texts)
    try:
        try:
            async for text in source:
                for chunk in extractor.feed(text):
                    yield chunk
            final = extractor.close()
        except StructuredOutputError as error:
            if on_error is not None:
                on_error(error)
            yield invalid_output_chunk(error)
            return
        for chunk in final:
            yield chunk
    finally:
        await aclose(source)


async def extract_structured(
    chunks: AsyncIterable[Chunk],
    extractor: StructuredExtractor,
    *,
    tool: str | None = None,
    on_error: Callable[[StructuredOutputError], None] | None = _log_error,
) -> AsyncIterator[Chunk]:
    """:func:`stream_structured` for a provider's whole chunk stream.

    Without ``tool``, the document is the answer's text: a provider asked for structured output
    streams the document's JSON as ``text-delta`` chunks, which go through ``extractor`` and do
    not reach the client as text; the ``final`` chunk comes just before ``done``.

    With ``tool``, the document is the input of the first call to that tool: its
    ``tool-call-delta`` chunks pass through *and* feed ``extractor``, so the client sees the
    arguments fill in as an object while the model writes them; the ``final`` chunk follows the
    call's ``tool-call-end``. Text passes as it is.

    Every other chunk (``usage``, ``error``, ``done``...) passes as it is. Text that cannot be
    the document fails at once (``feed``), an invalid or cut-off document at its end
    (``close``): either way one ``error`` chunk with code ``invalid_structured_output`` and
    ``done(finish_reason="error")`` end the stream, and the source is closed. A ``done`` with
    finish reason ``error`` (the provider already reported its failure) passes without a
    ``final``.

    Args:
        chunks: the provider's chunks.
        extractor: a fresh extractor for the document.
        tool: follow the input of the first call to this tool instead of the text.
        on_error: as for :func:`stream_structured`.

    Yields:
        The chunks to send.
    """
    source = aiter(chunks)
    following: str | None = None  # the id of the tool call being followed
    document_open = tool is None  # whether a document is being read and not yet closed
    try:
        async for chunk in source:
            passes = True
            pieces: list[StructuredData] = []
            try:
                if tool is None and isinstance(chunk, TextDelta):
                    passes = False
                    pieces = extractor.feed(chunk.delta)
                elif isinstance(chunk, ToolCallStart):
                    if chunk.tool == tool and following is None:
                        following, document_open = chunk.tool_call_id, True
                elif isinstance(chunk, ToolCallDelta):
                    if document_open and chunk.tool_call_id == following:
                        pieces = extractor.feed(chunk.input_delta)
                elif isinstance(chunk, ToolCallEnd):
                    if document_open and chunk.tool_call_id == following:
                        document_open = False
                        pieces = extractor.close()
                elif isinstance(chunk, Done) and document_open and chunk.finish_reason != "error":
                    document_open = False
                    pieces = extractor.close()
            except StructuredOutputError as error:
                if on_error is not None:
                    on_error(error)
                yield invalid_output_chunk(error)
                yield Done(finish_reason="error")
                return
            # A followed tool call's own chunk goes first; the final object goes before done.
            if passes and not isinstance(chunk, Done):
                yield chunk
            for piece in pieces:
                yield piece
            if isinstance(chunk, Done):
                yield chunk
    finally:
        await aclose(source)
