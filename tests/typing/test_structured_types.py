"""Type-checked, never run: what the structured API returns (mypy --strict checks this file)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import assert_type

from streamwire.chunks import ErrorChunk, StructuredData
from streamwire.server.structured import stream_structured
from streamwire.structured import (
    FieldSpec,
    StructuredAccumulator,
    StructuredExtractor,
    StructuredOutputError,
    StructuredState,
    StructuredStatus,
    apply_structured_chunk,
)


def check_reducer(chunk: StructuredData) -> None:
    state = apply_structured_chunk(None, chunk)
    assert_type(state, StructuredState)
    assert_type(apply_structured_chunk(state, chunk), StructuredState)
    assert_type(state.status, StructuredStatus)
    assert_type(state.data_type, str | None)
    acc = StructuredAccumulator()
    assert_type(acc.apply(chunk), StructuredState)
    assert_type(acc.get("id"), StructuredState | None)
    assert_type(acc.states, Mapping[str, StructuredState])
    assert_type(len(acc), int)


def check_extractor(error: StructuredOutputError) -> None:
    extractor = StructuredExtractor({"body": "text-delta"}, stream_id="d", data_type="draft")
    assert_type(extractor.feed("{"), list[StructuredData])
    assert_type(extractor.close(), list[StructuredData])
    assert_type(extractor.fields, tuple[FieldSpec, ...])
    StructuredExtractor([FieldSpec("a", "set")], stream_id="d", model={"type": "object"})
    assert_type(error.path, str)
    assert_type(error.offset, int | None)


def check_helper(texts: AsyncIterator[str], extractor: StructuredExtractor) -> None:
    assert_type(stream_structured(texts, extractor), AsyncIterator[StructuredData | ErrorChunk])
