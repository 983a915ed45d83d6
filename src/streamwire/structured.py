"""Structured streams: the reducer and the extractor (stable import path).

* :func:`apply_structured_chunk`, :class:`StructuredState`, :class:`StructuredAccumulator`:
  rebuild an object from its ``structured-data`` chunks (client side).
* :class:`StructuredExtractor`, :class:`FieldSpec`: turn a model's streamed JSON text into those
  chunks (server side).

See ``docs/structured.md``.
"""

from streamwire.protocol.chunks import StructuredData, StructuredKind
from streamwire.protocol.errors import StructuredOutputError, StructuredStreamError
from streamwire.protocol.extract import (
    DEFAULT_MAX_DOCUMENT_CHARS,
    FieldKind,
    FieldSpec,
    StructuredExtractor,
    validate_json_schema,
)
from streamwire.protocol.structured import (
    StructuredAccumulator,
    StructuredState,
    StructuredStatus,
    apply_structured_chunk,
)

__all__ = [
    "DEFAULT_MAX_DOCUMENT_CHARS",
    "FieldKind",
    "FieldSpec",
    "StructuredAccumulator",
    "StructuredData",
    "StructuredExtractor",
    "StructuredKind",
    "StructuredOutputError",
    "StructuredState",
    "StructuredStatus",
    "StructuredStreamError",
    "apply_structured_chunk",
    "validate_json_schema",
]
