"""Hypothesis strategies for structured streams: JSON values, chunk sequences, field specs.

* :data:`json_values`: any JSON value (keys and strings with quotes, backslashes, control
  characters, non-BMP characters; finite floats), the documents a model might write.
* :func:`structured_chunks`: sequences of valid-looking ``structured-data`` chunks for one stream
  (some of which a reducer will reject: the property is about purity, not validity).
* :func:`field_specs`: extractor field specs drawn from the paths a document really has, some
  with ``*``, with any kind (so that values of the "wrong" shape are exercised too).
* :func:`splits`: ways to cut a text into fragments.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from hypothesis import strategies as st

from streamwire.protocol.chunks import JSONValue, StructuredData

__all__ = [
    "addressable_paths",
    "field_specs",
    "json_values",
    "split_text",
    "splits",
    "structured_chunks",
]

# Characters that stress a JSON scanner: quotes, backslashes, control characters (escaped on
# the wire), a character outside the BMP (a surrogate pair when escaped), U+2028.
_tricky = st.sampled_from(['"', "\\", "\n", "\t", "\0", "\x1f", "/", "\U0001f600", "\u2028", "é"])
json_strings = st.lists(st.one_of(st.text(max_size=6), _tricky), max_size=6).map("".join)
_keys = st.one_of(
    st.sampled_from(["title", "body", "bullets", "sections", "a", "b", "0", "", "x.y"]),
    json_strings,
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    json_strings,
)
json_values: st.SearchStrategy[JSONValue] = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=25,
)
json_documents: st.SearchStrategy[JSONValue] = st.one_of(
    st.dictionaries(_keys, json_values, max_size=6), st.lists(json_values, max_size=4), json_values
)

_paths = st.lists(
    st.one_of(st.sampled_from(["a", "b", "body", "0", "1", "2"]), st.text(max_size=3)),
    min_size=1,
    max_size=4,
).map(".".join)


@st.composite
def structured_chunks(draw: st.DrawFn, stream_id: str = "s") -> list[StructuredData]:
    """A sequence of chunks of one stream, mixing every kind over a few overlapping paths."""
    chunks: list[StructuredData] = []
    for _ in range(draw(st.integers(min_value=0, max_value=10))):
        kind = draw(st.sampled_from(["set", "append", "text-delta", "text-delta", "final"]))
        if kind == "final":
            chunks.append(StructuredData(stream_id=stream_id, kind="final", data=draw(json_values)))
        elif kind == "set":
            chunks.append(
                StructuredData(
                    stream_id=stream_id, kind="set", path=draw(_paths), value=draw(json_values)
                )
            )
        elif kind == "append":
            items = draw(st.lists(json_values, max_size=3))
            chunks.append(
                StructuredData(stream_id=stream_id, kind="append", path=draw(_paths), items=items)
            )
        else:
            chunks.append(
                StructuredData(
                    stream_id=stream_id,
                    kind="text-delta",
                    path=draw(_paths),
                    delta=draw(json_strings),
                )
            )
    return chunks


def _addressable(key: str) -> bool:
    return bool(key) and "." not in key and not key.isdigit()


def addressable_paths(value: JSONValue, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every path (as segments) in ``value`` that a dotted path can name, parents first."""
    if isinstance(value, dict):
        for key, child in value.items():
            if _addressable(key):
                path = (*prefix, key)
                yield path
                yield from addressable_paths(child, path)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            path = (*prefix, str(index))
            yield path
            yield from addressable_paths(child, path)


@st.composite
def field_specs(draw: st.DrawFn, document: JSONValue) -> dict[str, str]:
    """Candidate field specs for ``document``: real paths, some segments replaced by ``*``.

    The result may contain entries that conflict (the caller drops what the extractor refuses).
    """
    paths = list(addressable_paths(document))
    spec: dict[str, str] = {}
    if not paths:
        return spec
    for path in draw(st.lists(st.sampled_from(paths), max_size=5, unique=True)):
        segments = [
            "*" if draw(st.integers(min_value=0, max_value=3)) == 0 else segment for segment in path
        ]
        if all(segment == "*" for segment in segments):
            segments[-1] = path[-1]
        spec[".".join(segments)] = draw(st.sampled_from(["set", "append", "text-delta"]))
    return spec


@st.composite
def splits(draw: st.DrawFn, length: int) -> list[int]:
    """Sorted cut positions in a text of ``length`` characters (possibly none, possibly all)."""
    if length <= 1:
        return []
    mode = draw(st.sampled_from(["random", "every", "none"]))
    if mode == "every":
        return list(range(1, length))
    if mode == "none":
        return []
    cuts = draw(st.lists(st.integers(min_value=1, max_value=length - 1), max_size=12))
    return sorted(set(cuts))


def split_text(text: str, cuts: list[int]) -> list[str]:
    """``text`` cut at ``cuts`` (sorted positions)."""
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]
