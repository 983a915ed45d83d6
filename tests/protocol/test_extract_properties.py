"""Hypothesis properties of StructuredExtractor together with the reducer.

For any JSON document, written compactly or indented, with or without ASCII escapes, any field
spec drawn from its paths, and any split of its text into fragments:

* applying the chunks with the reducer never fails and gives exactly the document after final;
* before final, every text-delta field is a prefix of its final string and every append array a
  prefix of its final array;
* the chunks do not depend on the split (other than how text deltas are cut);
* any prefix of a valid document is accepted by feed(); arbitrary text gives chunks or
  StructuredOutputError, never another exception.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from streamwire.protocol.chunks import JSONValue, StructuredData, chunk_to_dict
from streamwire.protocol.errors import StructuredOutputError
from streamwire.protocol.extract import StructuredExtractor
from streamwire.protocol.structured import StructuredState, apply_structured_chunk, split_path
from tests.protocol.structured_strategies import (
    field_specs,
    json_documents,
    split_text,
    splits,
)
from tests.protocol.test_extract import merge_deltas

_MISSING = object()


def build(spec: dict[str, str]) -> StructuredExtractor:
    """An extractor with every entry of ``spec`` that does not conflict with earlier ones."""
    kept: dict[str, Any] = {}
    for path, kind in spec.items():
        try:
            StructuredExtractor({**kept, path: kind}, stream_id="s")
        except ValueError:
            continue
        kept[path] = kind
    return StructuredExtractor(kept, stream_id="s", data_type="t")


def at(value: JSONValue, path: str) -> Any:
    for segment in split_path(path):
        if isinstance(segment, int):
            if not isinstance(value, list) or segment >= len(value):
                return _MISSING
            value = value[segment]
        else:
            if not isinstance(value, dict) or segment not in value:
                return _MISSING
            value = value[segment]
    return value


@st.composite
def streamed(draw: st.DrawFn) -> tuple[JSONValue, str, dict[str, str], list[str]]:
    document = draw(json_documents)
    style = draw(st.sampled_from(["msgspec", "indent", "ascii", "fenced"]))
    if style == "msgspec":
        text = msgspec.json.encode(document).decode()
    elif style == "indent":
        text = json.dumps(document, indent=2, ensure_ascii=False)
    elif style == "ascii":
        text = json.dumps(document, ensure_ascii=True)  # \uXXXX escapes and surrogate pairs
    else:
        text = "```json\n" + json.dumps(document) + "\n```\n"
    spec = draw(field_specs(document))
    cuts = draw(splits(len(text)))
    return document, text, spec, split_text(text, cuts)


def extract(extractor: StructuredExtractor, fragments: list[str]) -> list[StructuredData]:
    chunks: list[StructuredData] = []
    for fragment in fragments:
        chunks += extractor.feed(fragment)
    return chunks + extractor.close()


@given(streamed())
def test_reducer_rebuilds_document_and_fields_grow_as_prefixes(
    case: tuple[JSONValue, str, dict[str, str], list[str]],
) -> None:
    document, _text, spec, fragments = case
    chunks = extract(build(spec), fragments)
    assert chunks[-1].kind == "final"
    assert all(chunk.kind != "final" for chunk in chunks[:-1])
    state: StructuredState | None = None
    for chunk in chunks[:-1]:
        state = apply_structured_chunk(state, chunk)  # never raises
        assert chunk.path is not None
        final_value = at(document, chunk.path)
        assert final_value is not _MISSING
        if chunk.kind == "text-delta":
            assert isinstance(final_value, str)
            assert final_value.startswith(at(state.data, chunk.path))
        elif chunk.kind == "append":
            so_far = at(state.data, chunk.path)
            assert final_value[: len(so_far)] == so_far
        else:
            assert at(state.data, chunk.path) == final_value
    state = apply_structured_chunk(state, chunks[-1])
    assert state.status == "done"
    assert state.data == document
    assert state.data_type == "t"


@given(streamed())
def test_chunks_do_not_depend_on_the_split(
    case: tuple[JSONValue, str, dict[str, str], list[str]],
) -> None:
    _document, text, spec, fragments = case
    whole = [chunk_to_dict(c) for c in extract(build(spec), [text])]
    split = [chunk_to_dict(c) for c in extract(build(spec), fragments)]
    assert merge_deltas(split) == merge_deltas(whole)


@given(json_documents, st.data())
def test_every_prefix_of_a_document_is_accepted(document: JSONValue, data: st.DataObject) -> None:
    text = json.dumps(document, ensure_ascii=data.draw(st.booleans()))
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    extractor = StructuredExtractor({}, stream_id="s")
    extractor.feed(text[:cut])  # never raises: it is the start of a valid document
    failure: StructuredOutputError | None = None
    try:
        extractor.close()
    except StructuredOutputError as exc:
        failure = exc
    if failure is not None:
        assert "cut off" in str(failure) or "no JSON document" in str(failure)
        assert failure.offset == cut


_jsonish = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                '"',
                "\\",
                "u",
                "d83d",
                "1",
                "e",
                "-",
                " ",
                "true",
                "nul",
                "`",
                "```",
                "\n",
                "\x00",
            ]
        ),
        st.text(max_size=3),
    ),
    max_size=30,
).map("".join)


@given(_jsonish, st.data())
def test_any_text_gives_chunks_or_structured_output_error(text: str, data: st.DataObject) -> None:
    extractor = StructuredExtractor({"a": "text-delta", "b.*": "set"}, stream_id="s")
    fragments = split_text(text, data.draw(splits(len(text))))
    try:
        chunks = extract(extractor, fragments)
    except StructuredOutputError:
        return
    # Whatever it accepted is JSON, and msgspec agrees on the value.
    body = text.strip(" \t\r\n")
    if not body.startswith("```"):
        assert chunks[-1].data == msgspec.json.decode(body)
