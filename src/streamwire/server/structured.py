"""Stream a model's JSON as ``structured-data`` chunks from any async source of text.

:func:`stream_structured` is the adapter loop around the sans-IO
:class:`~streamwire.protocol.extract.StructuredExtractor`: read a fragment, feed it, yield the
chunks. Its output is an async iterator of chunks, so it goes straight into ``sse()`` or any
other streamwire response; closing or cancelling it closes the source.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable

from streamwire.protocol.chunks import ErrorChunk, StructuredData
from streamwire.protocol.errors import StructuredOutputError
from streamwire.protocol.extract import StructuredExtractor

__all__ = ["INVALID_STRUCTURED_OUTPUT", "stream_structured"]

#: The ``code`` of the ``error`` chunk sent instead of ``final`` for an invalid document.
INVALID_STRUCTURED_OUTPUT = "invalid_structured_output"

# The error chunk quotes the reason (it names a path and an offset in the model's own output,
# which the person already sees); cut it so that a huge enum or key cannot bloat the event.
_MAX_REASON_CHARS = 300

_log = logging.getLogger("streamwire.structured")


def _log_error(error: StructuredOutputError) -> None:
    _log.warning("invalid structured output: %s", error)


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
            reason = str(error)
            if len(reason) > _MAX_REASON_CHARS:
                reason = reason[: _MAX_REASON_CHARS - 3] + "..."
            yield ErrorChunk(
                message=f"The model's structured output is not valid: {reason}",
                code=INVALID_STRUCTURED_OUTPUT,
                retryable=False,
            )
            return
        for chunk in final:
            yield chunk
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
