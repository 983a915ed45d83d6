"""Structured streams: the reducer and the extractor (stable import path).

* :func:`apply_structured_chunk`, :class:`StructuredState`, :class:`StructuredAccumulator`:
  rebuild an object from its ``structured-data`` chunks (client side).
* :class:`StructuredExtractor`, :class:`FieldSpec`: turn a model's streamed JSON text into those
  chunks (server side).

See ``docs/structured.md``.
"""

from streamwire.protocol.chunks import StructuredData, StructuredKind
from streamwire.protocol.errors import StructuredOutputError, StructuredStreamError
from streamwire.protocol.structured import (
    StructuredAccumulator,
    StructuredState,
    StructuredStatus,
    apply_structured_chunk,
)

__all__ = [
    "StructuredAccumulator",
    "StructuredData",
    "StructuredKind",
    "StructuredOutputError",
    "StructuredState",
    "StructuredStatus",
    "StructuredStreamError",
    "apply_structured_chunk",
]
