"""The SSE decoder against the spec vectors in tests/vectors/sse.json.

Every vector is fed whole, byte by byte, and split in two at every position; each must give the
same events, last event ID and reconnection time. The slow reference decoder in
tests/strategies.py is checked against the same vectors, so that it can serve as an oracle for
the property tests.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from streamwire.sse import ServerSentEvent, SSEDecoder
from tests.strategies import feed_split, reference_decode

VECTORS = Path(__file__).parent.parent / "vectors" / "sse.json"
_DOC = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = _DOC["cases"]


def _stream(case: dict[str, Any]) -> bytes:
    if "input_b64" in case:
        return base64.b64decode(case["input_b64"], validate=True)
    text: str = case["input"]
    return text.encode("utf-8")


def _as_dicts(events: list[ServerSentEvent]) -> list[dict[str, str | None]]:
    return [{"data": e.data, "event": e.event, "id": e.id or ""} for e in events]


def _check(case: dict[str, Any], decoder: SSEDecoder, events: list[ServerSentEvent]) -> None:
    assert _as_dicts(events) == case["events"]
    if "last_event_id" in case:
        assert decoder.last_event_id == case["last_event_id"]
    if "retry" in case:
        assert decoder.retry == case["retry"]


def _splits(size: int) -> list[list[int]]:
    return [[]] + [[cut] for cut in range(1, size)] + [list(range(1, size))]


def test_vector_file_is_well_formed() -> None:
    assert isinstance(_DOC["format"], dict)
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        assert ("input" in case) != ("input_b64" in case), case["id"]
        assert case["spec"].startswith(("9.2.5", "9.2.6")), case["id"]
        allowed = {"id", "spec", "input", "input_b64", "events", "last_event_id", "retry", "note"}
        assert set(case) <= allowed, case["id"]
        for event in case["events"]:
            assert set(event) == {"data", "event", "id"}, case["id"]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_vector_fed_whole(case: dict[str, Any]) -> None:
    decoder = SSEDecoder()
    events = decoder.feed(_stream(case))
    events += decoder.close()
    _check(case, decoder, events)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_vector_fed_byte_by_byte(case: dict[str, Any]) -> None:
    stream = _stream(case)
    decoder = SSEDecoder()
    events = feed_split(decoder, stream, list(range(1, len(stream))))
    _check(case, decoder, events)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_vector_split_at_every_position(case: dict[str, Any]) -> None:
    stream = _stream(case)
    for cut in range(len(stream) + 1):
        decoder = SSEDecoder()
        events = feed_split(decoder, stream, [cut])
        _check(case, decoder, events)


def _smallest_limit(stream: bytes) -> int:
    # The smallest max_event_bytes that every event of the stream fits in.
    return next(
        limit
        for limit in range(1, len(stream) + 2)
        if reference_decode(stream, max_event_bytes=limit).error_offset is None
    )


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_vector_with_the_smallest_limit_that_fits(case: dict[str, Any]) -> None:
    # Buffers larger than the limit send the decoder down its careful, line-by-line path.
    stream = _stream(case)
    limit = _smallest_limit(stream)
    for cuts in _splits(len(stream)):
        decoder = SSEDecoder(max_event_bytes=limit)
        _check(case, decoder, feed_split(decoder, stream, cuts))


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_reference_decoder_agrees_with_vector(case: dict[str, Any]) -> None:
    result = reference_decode(_stream(case))
    assert _as_dicts(result.events) == case["events"]
    if "last_event_id" in case:
        assert result.last_event_id == case["last_event_id"]
    if "retry" in case:
        assert result.retry == case["retry"]
