"""The structured reducer: the shared vectors, purity, and the accumulator."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given

from streamwire.protocol.chunks import StructuredData, chunk_from_dict
from streamwire.protocol.errors import StructuredStreamError
from streamwire.protocol.structured import (
    StructuredAccumulator,
    StructuredState,
    apply_structured_chunk,
    describe_json,
    split_path,
)
from tests.protocol.structured_strategies import structured_chunks

VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "structured.json").read_text(encoding="utf-8")
)
CASES: list[dict[str, Any]] = VECTORS["cases"]


def _chunks(case: dict[str, Any]) -> list[StructuredData]:
    chunks = [chunk_from_dict(raw) for raw in case["chunks"]]
    assert all(isinstance(chunk, StructuredData) for chunk in chunks)
    return chunks  # type: ignore[return-value]


def test_vector_file_is_documented_and_ids_are_unique() -> None:
    assert "format" in VECTORS
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    assert all(("expect" in case) != ("error" in case) for case in CASES)


@pytest.mark.parametrize("case", [c for c in CASES if "expect" in c], ids=lambda c: c["id"])
def test_vector_gives_expected_state(case: dict[str, Any]) -> None:
    state: StructuredState | None = None
    for chunk in _chunks(case):
        state = apply_structured_chunk(state, chunk)
    assert state is not None
    expect = case["expect"]
    assert state.data == expect["data"]
    assert state.status == expect["status"]
    assert state.data_type == expect.get("dataType")
    assert state.stream_id == case["chunks"][0]["streamId"]


@pytest.mark.parametrize("case", [c for c in CASES if "error" in c], ids=lambda c: c["id"])
def test_vector_raises_expected_error(case: dict[str, Any]) -> None:
    *good, bad = _chunks(case)
    state: StructuredState | None = None
    for chunk in good:
        state = apply_structured_chunk(state, chunk)
    before = copy.deepcopy(state)
    with pytest.raises(StructuredStreamError) as info:
        apply_structured_chunk(state, bad)
    assert info.value.path == case["error"]["path"]
    assert case["error"]["contains"] in str(info.value)
    assert state == before  # nothing half-applied


def test_error_message_names_path_and_what_was_found() -> None:
    state = apply_structured_chunk(
        None, StructuredData(stream_id="s", kind="set", path="items", value=[1, "x"])
    )
    with pytest.raises(StructuredStreamError) as info:
        apply_structured_chunk(
            state, StructuredData(stream_id="s", kind="text-delta", path="items.1.a", delta="")
        )
    assert str(info.value) == (
        "at 'items.1.a': 'items.1' has key 'a': expected an object, found a string"
    )


def test_untouched_containers_are_shared_not_copied() -> None:
    big = {"k": list(range(1000))}
    state = apply_structured_chunk(
        None, StructuredData(stream_id="s", kind="set", path="big", value=big)
    )
    after = apply_structured_chunk(
        state, StructuredData(stream_id="s", kind="text-delta", path="body", delta="x")
    )
    assert after.data["big"] is state.data["big"]
    assert after.data is not state.data


@given(structured_chunks())
def test_reducer_never_mutates_its_input(chunks: list[StructuredData]) -> None:
    state: StructuredState | None = None
    for chunk in chunks:
        snapshot_state = copy.deepcopy(state)
        snapshot_chunk = msgspec.json.encode(chunk)
        new: StructuredState | None
        try:
            new = apply_structured_chunk(state, chunk)
        except StructuredStreamError:
            new = state
        assert state == snapshot_state
        assert msgspec.json.encode(chunk) == snapshot_chunk
        state = new


def test_split_path_segments() -> None:
    assert split_path("sections.2.body") == ["sections", 2, "body"]
    assert split_path("0") == [0]
    assert split_path("a.\u0663") == ["a", "\u0663"]  # Arabic-Indic digit: a key, not an index


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "a boolean"),
        (1, "a number"),
        (1.5, "a number"),
        ("x", "a string"),
        ([], "an array"),
        ({}, "an object"),
        (object(), "a object"),
    ],
)
def test_describe_json(value: object, expected: str) -> None:
    assert describe_json(value) == expected


def test_accumulator_keeps_streams_apart() -> None:
    acc = StructuredAccumulator()
    a1 = acc.apply(StructuredData(stream_id="a", kind="text-delta", path="body", delta="He"))
    acc.apply(StructuredData(stream_id="b", kind="set", path="n", value=1))
    a2 = acc.apply(StructuredData(stream_id="a", kind="text-delta", path="body", delta="y"))
    assert a1.data == {"body": "He"}
    assert a2.data == {"body": "Hey"}
    assert len(acc) == 2
    assert "a" in acc
    assert "c" not in acc
    assert list(acc) == ["a", "b"]
    assert acc.get("b") == StructuredState(
        stream_id="b", data={"n": 1}, status="streaming", data_type=None
    )
    assert acc.get("c") is None
    assert dict(acc.states) == {"a": a2, "b": acc.get("b")}
    with pytest.raises(TypeError):
        acc.states["x"] = a1  # type: ignore[index]


def test_accumulator_keeps_last_good_state_after_error() -> None:
    acc = StructuredAccumulator()
    acc.apply(StructuredData(stream_id="a", kind="final", data={"x": 1}))
    with pytest.raises(StructuredStreamError, match="after 'final'"):
        acc.apply(StructuredData(stream_id="a", kind="set", path="x", value=2))
    state = acc.get("a")
    assert state is not None
    assert state.data == {"x": 1}
    assert state.status == "done"
