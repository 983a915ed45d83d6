"""StructuredExtractor: the shared vectors (fed whole, character by character, split anywhere),
spec checking, validation, and the extractor's life cycle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pydantic
import pytest

from streamwire.protocol.chunks import StructuredData, chunk_to_dict
from streamwire.protocol.errors import InvalidArgumentError, StructuredOutputError
from streamwire.protocol.extract import FieldSpec, StructuredExtractor, validate_json_schema

VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "extract.json").read_text(encoding="utf-8")
)
CASES: list[dict[str, Any]] = VECTORS["cases"]


def run(case: dict[str, Any], fragments: list[str]) -> list[dict[str, Any]]:
    extractor = StructuredExtractor(
        case["spec"], stream_id="s", data_type=case.get("dataType"), model=case.get("schema")
    )
    chunks: list[StructuredData] = []
    for fragment in fragments:
        chunks += extractor.feed(fragment)
    chunks += extractor.close()
    return [chunk_to_dict(chunk) for chunk in chunks]


def merge_deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join consecutive text-delta chunks of one path (how a split may cut them differently)."""
    merged: list[dict[str, Any]] = []
    for chunk in chunks:
        last = merged[-1] if merged else None
        if (
            last is not None
            and chunk["kind"] == "text-delta"
            and last["kind"] == "text-delta"
            and last["path"] == chunk["path"]
        ):
            merged[-1] = {**last, "delta": last["delta"] + chunk["delta"]}
        else:
            merged.append(chunk)
    return merged


def splits_of(text: str) -> list[list[str]]:
    ways = [[text], list(text)]
    ways += [[text[:cut], text[cut:]] for cut in range(1, len(text))]
    return ways


def test_vector_file_is_documented_and_ids_are_unique() -> None:
    assert "format" in VECTORS
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    assert all(("chunks" in case) != ("error" in case) for case in CASES)


@pytest.mark.parametrize("case", [c for c in CASES if "chunks" in c], ids=lambda c: c["id"])
def test_vector_gives_expected_chunks_fed_whole(case: dict[str, Any]) -> None:
    assert run(case, [case["text"]]) == case["chunks"]


@pytest.mark.parametrize("case", [c for c in CASES if "chunks" in c], ids=lambda c: c["id"])
def test_vector_gives_same_chunks_split_anywhere(case: dict[str, Any]) -> None:
    expected = merge_deltas(case["chunks"])
    for fragments in splits_of(case["text"]):
        assert merge_deltas(run(case, fragments)) == expected, fragments


@pytest.mark.parametrize("case", [c for c in CASES if "error" in c], ids=lambda c: c["id"])
def test_vector_raises_expected_error_split_anywhere(case: dict[str, Any]) -> None:
    for fragments in splits_of(case["text"]) if case["text"] else [[""]]:
        with pytest.raises(StructuredOutputError) as info:
            run(case, fragments)
        assert info.value.offset == case["error"]["offset"], fragments
        assert info.value.path == case["error"]["path"], fragments
        assert case["error"]["contains"] in str(info.value), fragments


def test_text_delta_arrives_before_the_string_ends() -> None:
    ex = StructuredExtractor({"body": "text-delta"}, stream_id="s")
    assert ex.feed('{"body": "Dear') == [
        StructuredData(stream_id="s", kind="text-delta", path="body", delta="Dear")
    ]
    assert ex.feed(" Ann") == [
        StructuredData(stream_id="s", kind="text-delta", path="body", delta=" Ann")
    ]


def test_escape_and_surrogate_pair_cut_by_fragments_are_held_back() -> None:
    ex = StructuredExtractor({"body": "text-delta"}, stream_id="s")
    assert [c.delta for c in ex.feed('{"body": "a\\')] == ["a"]
    assert ex.feed("ud83d") == []
    assert ex.feed("\\ud") == []
    assert [c.delta for c in ex.feed("e00b")] == ["\U0001f600b"]
    assert [c.delta for c in ex.feed("\\")] == []
    assert [c.delta for c in ex.feed('n"}')] == ["\n"]
    assert ex.close()[0].data == {"body": "a\U0001f600b\n"}


def test_append_item_is_sent_once_it_is_complete() -> None:
    ex = StructuredExtractor({"bullets": "append"}, stream_id="s")
    assert ex.feed('{"bullets": ["one", {"a": [1') == [
        StructuredData(stream_id="s", kind="append", path="bullets", items=["one"])
    ]
    assert ex.feed("]") == []
    assert ex.feed("}") == [
        StructuredData(stream_id="s", kind="append", path="bullets", items=[{"a": [1]}])
    ]
    assert ex.feed(", 2") == []  # a number ends at the next delimiter
    assert ex.feed("]") == [StructuredData(stream_id="s", kind="append", path="bullets", items=[2])]


def test_top_level_number_ends_with_the_text() -> None:
    ex = StructuredExtractor({"a": "set"}, stream_id="s")
    assert ex.feed("-12") == []
    assert ex.feed(".5e1") == []
    assert ex.close()[0].data == -125.0


def test_data_type_is_on_first_chunk_and_final_only() -> None:
    ex = StructuredExtractor({"body": "text-delta"}, stream_id="s", data_type="note")
    chunks = ex.feed('{"body": "a') + ex.feed('b"}') + ex.close()
    assert [c.data_type for c in chunks] == ["note", None, "note"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"": "set"}, "must be a non-empty string"),
        ({"a..b": "set"}, "segment 1 is empty"),
        ({"a.": "set"}, "segment 1 is empty"),
        ({"a": "final"}, "unknown kind 'final'"),
        ({"a": "replace"}, "unknown kind 'replace'"),
        ({"*": "set"}, "made only of '*'"),
        ({"*.*": "set"}, "made only of '*'"),
        ({"a*": "set"}, "mixes '*'"),
        ({"a.01": "set"}, "leading zero"),
        ({"a.*": "set", "a.b": "text-delta"}, "two kinds"),
        ({"*.b": "append", "a.*": "set"}, "two kinds"),
        ({"items": "append", "items.*.body": "text-delta"}, "inside 'items'"),
        ({"x.*.body": "set", "x.*": "append"}, "inside 'x.*'"),
    ],
)
def test_bad_field_spec_is_refused_at_construction(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^.*" + message.replace("*", r"\*")):
        StructuredExtractor(fields, stream_id="s")


def test_same_kind_overlapping_patterns_are_fine() -> None:
    ex = StructuredExtractor(
        [FieldSpec("a.*", "set"), FieldSpec("*.b", "set"), FieldSpec("c", "text-delta")],
        stream_id="s",
    )
    assert [spec.path for spec in ex.fields] == ["a.*", "*.b", "c"]
    assert ex.fields[0].segments == ("a", "*")
    assert ex.stream_id == "s"
    chunks = ex.feed('{"a": {"b": 1}}') + ex.close()
    assert [(c.kind, c.path) for c in chunks] == [("set", "a.b"), ("final", None)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"stream_id": ""}, "stream_id"),
        ({"stream_id": "s", "max_document_chars": 0}, "max_document_chars"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        StructuredExtractor({}, **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"anyOf": []}, "keyword 'anyOf' is not supported"),
        ({"type": "text"}, "bad 'type'"),
        ({"properties": []}, "'properties' must be an object"),
        ({"properties": {"a": {"$ref": "#"}}}, "at #/properties/a: keyword '$ref'"),
        ({"required": "a"}, "'required' must be a list of strings"),
        ({"enum": "a"}, "'enum' must be a list"),
        ({"items": 3}, "at #/items: expected an object or a boolean"),
    ],
)
def test_unsupported_json_schema_is_refused(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("$", r"\$")):
        StructuredExtractor({}, stream_id="s", model=schema)


def test_not_a_model_is_refused() -> None:
    with pytest.raises(ValueError, match="Pydantic model class or a JSON Schema"):
        StructuredExtractor({}, stream_id="s", model=int)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "schema", "bad"),
    [
        (1, True, ("", "")),
        (1, False, ("", "no value is allowed here")),
        (1.0, {"type": "integer"}, ("", "")),
        (1.5, {"type": "integer"}, ("", "expected integer, found a number")),
        (True, {"type": "number"}, ("", "expected number, found a boolean")),
        (None, {"type": ["string", "null"]}, ("", "")),
        (None, {"type": "boolean", "title": "flag", "description": "d"}, ("", "expected boolean")),
        (False, {"type": "boolean", "default": True}, ("", "")),
        ([], {"type": "object"}, ("", "expected object, found an array")),
        ({}, {"type": "array"}, ("", "expected array, found an object")),
        (1, {"enum": [True]}, ("", "1 is not one of [True]")),
        (True, {"enum": [1, True]}, ("", "")),
        ([1, {"a": [None]}], {"enum": [[1, {"a": [None]}]]}, ("", "")),
        ({"a": 1}, {"enum": [{"b": 1}]}, ("", "{'a': 1} is not one of [{'b': 1}]")),
        ({"a": {"b": "x"}}, {"additionalProperties": {"type": "number"}}, ("a", "expected number")),
        (
            {"a": [1, "x"]},
            {"properties": {"a": {"items": {"type": "number"}}}},
            ("a.1", "expected"),
        ),
    ],
)
def test_json_schema_subset(value: Any, schema: Any, bad: tuple[str, str]) -> None:
    if isinstance(schema, dict):
        StructuredExtractor({}, stream_id="s", model=schema)  # a supported schema
    path, reason = validate_json_schema(value, schema)
    assert path == bad[0]
    assert reason.startswith(bad[1])


class Draft(pydantic.BaseModel):
    title: str
    body: str
    bullets: list[str]


def test_pydantic_model_validates_and_result_is_the_instance() -> None:
    ex = StructuredExtractor(
        {"title": "set", "body": "text-delta", "bullets": "append"},
        stream_id="d",
        data_type="email_draft",
        model=Draft,
    )
    assert ex.result is None
    ex.feed('{"title": "Hi", "body": "B", "bullets": ["x"]}')
    (final,) = ex.close()
    assert final.data == {"title": "Hi", "body": "B", "bullets": ["x"]}
    assert ex.result == Draft(title="Hi", body="B", bullets=["x"])


def test_pydantic_model_names_first_bad_path() -> None:
    ex = StructuredExtractor({"bullets": "append"}, stream_id="d", model=Draft)
    chunks = ex.feed('{"title": "Hi", "body": "B", "bullets": ["x", 2]}')
    assert len(chunks) == 2  # streamed before validation: final is the gate
    with pytest.raises(StructuredOutputError) as info:
        ex.close()
    assert info.value.path == "bullets.1"
    assert info.value.offset is None
    assert "does not match the model: Input should be a valid string" in str(info.value)


def test_failed_extractor_stays_failed() -> None:
    ex = StructuredExtractor({}, stream_id="s")
    with pytest.raises(StructuredOutputError) as first:
        ex.feed("nope")
    with pytest.raises(StructuredOutputError) as again:
        ex.feed("{}")
    assert again.value is first.value
    with pytest.raises(StructuredOutputError) as at_close:
        ex.close()
    assert at_close.value is first.value


def test_failed_at_close_stays_failed() -> None:
    ex = StructuredExtractor({}, stream_id="s")
    ex.feed("[")
    with pytest.raises(StructuredOutputError, match="cut off inside an array"):
        ex.close()
    with pytest.raises(StructuredOutputError, match="cut off"):
        ex.close()


def test_feed_after_close_and_close_twice_are_caller_errors() -> None:
    ex = StructuredExtractor({}, stream_id="s")
    assert ex.feed("") == []
    ex.feed("{}")
    ex.close()
    assert ex.result == {}
    with pytest.raises(InvalidArgumentError, match="after close"):
        ex.feed("x")
    with pytest.raises(InvalidArgumentError, match="twice"):
        ex.close()


def test_document_longer_than_limit_is_refused() -> None:
    ex = StructuredExtractor({}, stream_id="s", max_document_chars=10)
    ex.feed('{"a": ')
    with pytest.raises(StructuredOutputError) as info:
        ex.feed('"xxxx"}')
    assert info.value.offset == 10
    assert "max_document_chars (10)" in str(info.value)


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("``x", 0, "a JSON document or a code fence"),
        ("``", 0, "unexpected '``' at the end"),
        ("```json\n", 8, "no JSON document"),
        ("```json", 7, "no JSON document"),
        ("```json {}", 8, "a line break after the code fence's language tag"),
        ("{}\n``", 3, "expected nothing after the JSON document, found '`'"),
        ("{}\n``\n", 3, "nothing after the JSON document"),
        ("```\n{}``", 6, "unexpected '``'"),
        ("```\n{}`x`", 6, "nothing after the JSON document"),
        ("{} \u00e9", 3, "nothing after the JSON document"),
        ('{"a": "\ud800"}', 7, "a lone surrogate (U+D800)"),
        ('{"a": "\\ud83d\\', 14, "cut off inside a string"),
        ('{"a": "\\u', 9, "cut off inside a string"),
        ('{"a": "\\ud83d\\x', 7, "lone high surrogate"),
        ('{"a": "\\u12x', 7, "expected 4 hex digits"),
        ('{"a": 1', 7, "cut off inside a number"),
        ('{"a": 1 ', 8, "cut off inside a container"),
        ('{"a": 1.', 8, "cut off inside a number"),
        ('{"a": tru', 9, "cut off inside a literal"),
        ('{"a"', 4, "cut off after an object key"),
        ('{"a":', 5, "cut off where a value was expected"),
        ('{"a": 1,', 8, "cut off where an object key was expected"),
        ('{"a": 1,}', 8, "expected an object key in double quotes, found '}'"),
        ("{", 1, "cut off inside an object"),
        ("}", 0, "expected a JSON document or a code fence, found '}'"),
        ("[}", 1, "expected a JSON value, found '}'"),
        ("1.", 2, "cut off inside a number"),
        ("-", 1, "cut off inside a number"),
        ("tru", 3, "cut off inside a literal"),
        ("01", 0, "invalid number '01'"),
        ("[1.]", 1, "invalid number '1.'"),
    ],
)
def test_malformed_text_error_has_offset(text: str, offset: int, message: str) -> None:
    with pytest.raises(StructuredOutputError) as info:
        run({"spec": {"a": "text-delta"}}, [text])
    assert info.value.offset == offset
    assert message in str(info.value)


def test_chunks_are_valid_wire_chunks() -> None:
    ex = StructuredExtractor({"a": "append", "b": "text-delta"}, stream_id="s", data_type="t")
    for chunk in ex.feed('{"a": [1], "b": "x"}') + ex.close():
        assert msgspec.json.decode(msgspec.json.encode(chunk), type=StructuredData) == chunk


def test_importing_the_extractor_loads_no_io_library_nor_pydantic() -> None:
    code = (
        "import sys, streamwire.protocol.extract, streamwire.protocol.structured, "
        "streamwire.structured\n"
        "bad = [m for m in ('asyncio', 'anyio', 'starlette', 'httpx', 'logging', 'pydantic') "
        "if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
