"""Field specs: which parts of a streamed JSON document stream, and how (sans-IO).

A :class:`~streamwire.protocol.extract.StructuredExtractor` is built with a field spec: dotted
path patterns (``"title"``, ``"sections.*.body"``), each with a kind (``"set"``, ``"append"``,
``"text-delta"``). This module checks a spec and compiles it into a trie of :class:`FieldNode`
that the extractor walks one path segment at a time, as the document's objects and arrays open.

Rules (see ``docs/structured.md``):

* ``*`` matches exactly one object key or array index and must be a whole segment; a path made
  only of ``*`` is refused (it would match every value at that depth).
* An all-digit segment matches that array index only (no leading zero); any other segment that
  object key only. Object keys that a dotted path cannot name (empty, containing ``.``, or all
  ASCII digits) are never matched (:func:`is_addressable_key`).
* Two entries that can match one concrete path must have the same kind, and no entry may lie
  below an ``append`` field (an appended item is sent whole).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "FieldKind",
    "FieldNode",
    "FieldSpec",
    "compile_field_spec",
    "find_kind",
    "is_addressable_key",
    "match_segment",
]

FieldKind = Literal["set", "append", "text-delta"]
_KINDS: Final = ("set", "append", "text-delta")

_INDEX = re.compile(r"[0-9]+")  # ASCII digits only, as in the reducer


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One entry of an extractor's field spec: a dotted path pattern and how it streams.

    Attributes:
        path: the dotted path, ``*`` matching one object key or array index
            (``"sections.*.body"``).
        kind: ``"set"``, ``"append"`` or ``"text-delta"``.
    """

    path: str
    kind: FieldKind

    @property
    def segments(self) -> tuple[str, ...]:
        """The path split on dots."""
        return tuple(self.path.split("."))


class FieldNode:
    """A node of the compiled field-spec trie (built by :func:`compile_field_spec`).

    Attributes:
        children: the nodes under a named segment (an object key or an array index).
        star: the node under ``*``, if any entry has ``*`` at this depth.
        kind: the kind of the entry that ends here, or ``None``.
        has_children: whether any entry continues below this node.
    """

    __slots__ = ("children", "has_children", "kind", "star")

    def __init__(self) -> None:
        self.children: dict[str, FieldNode] = {}
        self.star: FieldNode | None = None
        self.kind: FieldKind | None = None
        self.has_children = False


def _check_spec(spec: FieldSpec) -> None:
    path = spec.path
    if not isinstance(path, str) or not path:
        raise ValueError(f"field path {path!r}: must be a non-empty string")
    if spec.kind not in _KINDS:
        raise ValueError(
            f"field {path!r}: unknown kind {spec.kind!r} (expected 'set', 'append' or "
            "'text-delta'; 'final' is sent by close())"
        )
    segments = spec.segments
    for number, segment in enumerate(segments):
        if not segment:
            raise ValueError(f"field {path!r}: segment {number} is empty")
        if "*" in segment and segment != "*":
            raise ValueError(
                f"field {path!r}: segment {segment!r} mixes '*' with other characters ('*' "
                "must be a whole segment)"
            )
        if _INDEX.fullmatch(segment) and len(segment) > 1 and segment[0] == "0":
            raise ValueError(f"field {path!r}: index {segment!r} has a leading zero")
    if all(segment == "*" for segment in segments):
        raise ValueError(
            f"field {path!r}: a path made only of '*' would match every value at that depth; "
            "name at least one segment"
        )


def _compatible(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    # Can one concrete path match both patterns (same length assumed)?
    return all(x == y or x == "*" or y == "*" for x, y in zip(a, b, strict=True))


def compile_field_spec(specs: Iterable[FieldSpec]) -> FieldNode:
    """Check a field spec and compile it into a trie.

    Args:
        specs: the entries, in any order.

    Returns:
        The root of the trie: the document itself.

    Raises:
        ValueError: an entry cannot work (the message names its path): an empty path or
            segment, an unknown kind, ``*`` mixed into a segment or making up the whole path,
            an index with a leading zero, two kinds for one path, a field inside an ``append``
            field.
    """
    specs = tuple(specs)
    for spec in specs:
        _check_spec(spec)
    for i, first in enumerate(specs):
        a = first.segments
        for second in specs[i + 1 :]:
            b = second.segments
            if len(a) == len(b) and first.kind != second.kind and _compatible(a, b):
                raise ValueError(
                    f"fields {first.path!r} ({first.kind}) and {second.path!r} ({second.kind}) "
                    "can match the same path with two kinds"
                )
            for outer, inner in ((first, second), (second, first)):
                o, n = outer.segments, inner.segments
                if outer.kind == "append" and len(n) > len(o) and _compatible(o, n[: len(o)]):
                    raise ValueError(
                        f"field {inner.path!r} is inside {outer.path!r}, which streams with "
                        "'append': an appended item is sent whole; use 'set' or 'text-delta' "
                        f"fields under {outer.path + '.*'!r} instead"
                    )
    root = FieldNode()
    for spec in specs:
        node = root
        for segment in spec.segments:
            node.has_children = True
            if segment == "*":
                if node.star is None:
                    node.star = FieldNode()
                node = node.star
            else:
                node = node.children.setdefault(segment, FieldNode())
        node.kind = spec.kind
    return root


def is_addressable_key(key: str) -> bool:
    """Whether a dotted path can name the object key ``key``.

    Args:
        key: an object key of the document.

    Returns:
        ``False`` for an empty key, a key containing ``.``, or an all-digit key (a path segment
        of digits names an array index); ``True`` otherwise.
    """
    return bool(key) and "." not in key and _INDEX.fullmatch(key) is None


def match_segment(nodes: tuple[FieldNode, ...], segment: str) -> tuple[FieldNode, ...]:
    """Step one segment down the trie from every node in ``nodes``.

    Args:
        nodes: the nodes matching a container's path.
        segment: the key or index (as a string) of one of its members.

    Returns:
        The nodes matching the member's path (its named child and the ``*`` child of each
        node); empty when no entry can match at or below the member.
    """
    found: list[FieldNode] = []
    for node in nodes:
        child = node.children.get(segment)
        if child is not None:
            found.append(child)
        if node.star is not None:
            found.append(node.star)
    return tuple(found)


def find_kind(nodes: tuple[FieldNode, ...]) -> FieldKind | None:
    """The kind of the entry that ends at one of ``nodes``, or ``None`` when none does.

    Args:
        nodes: the nodes matching a value's path (from :func:`match_segment`).

    Returns:
        The kind; :func:`compile_field_spec` made sure that all entries matching one path
        agree on it.
    """
    for node in nodes:
        if node.kind is not None:
            return node.kind
    return None
