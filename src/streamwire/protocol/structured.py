"""The structured reducer: rebuild an object from its ``structured-data`` chunks (sans-IO).

A server streams one object as a sequence of chunks sharing a ``streamId``; a client folds them
with :func:`apply_structured_chunk` (or a :class:`StructuredAccumulator` for several streams). The
browser client implements the same rules and is tested against the same vector file,
``tests/vectors/structured.json``.

Rules (see ``docs/structured.md``):

* A path is dotted: ``sections.2.body``. A segment made only of the ASCII digits ``0-9`` is an
  array index, any other segment is an object key. An empty path, an empty segment and an index
  with a leading zero (``01``: it would name the same element as ``1``) are errors.
* Missing containers on the way are created: an array when the next segment is an index, an
  object otherwise. The root itself is created the same way by the first chunk of a stream.
* ``set`` replaces the value at the path; ``append`` extends the array there (creating it when
  missing); ``text-delta`` appends to the string there (creating ``""`` when missing); ``final``
  replaces the whole object and marks the stream done.
* An index equal to the array's length addresses the next element: ``set`` appends the value and
  a deeper path creates the element. An index beyond that is an error naming the index and the
  length: allowing it would leave holes, and a hole has no JSON spelling (``null`` would be a lie).
* ``data_type`` is kept from the last chunk that carries one.

Deliberate choices that may surprise:

* The reducer is pure and copies on write along the path only: the new state shares every
  untouched container with the old one. Treat ``StructuredState.data`` as read-only; mutating it
  would also change earlier states. Values taken from chunks (``value``, ``items``, ``data``) are
  shared the same way, never copied.
* An error leaves nothing half-applied (the input state is untouched), so a caller can report it
  and keep the last good state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import msgspec

from streamwire.protocol.chunks import JSONValue, StructuredData
from streamwire.protocol.errors import StructuredStreamError

__all__ = [
    "StructuredAccumulator",
    "StructuredState",
    "StructuredStatus",
    "apply_structured_chunk",
    "describe_json",
    "split_path",
]

StructuredStatus = Literal["streaming", "done"]

# ASCII digits only: str.isdigit() would also accept "²" or Arabic-Indic digits, which the
# browser client (and JSON) would not read as an index.
_INDEX = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class StructuredState:
    """The object rebuilt so far for one structured stream.

    Attributes:
        stream_id: the stream's ``streamId``.
        data: the object as rebuilt so far (any JSON value after ``final``). Read-only: it
            shares containers with earlier states.
        status: ``"streaming"`` until the ``final`` chunk, then ``"done"``.
        data_type: the last ``dataType`` a chunk carried, or ``None``.
    """

    stream_id: str
    data: JSONValue
    status: StructuredStatus
    data_type: str | None


def describe_json(value: object) -> str:
    """Name the JSON type of ``value`` for an error message: ``"an array"``, ``"null"``...

    Args:
        value: a JSON value (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``None``).

    Returns:
        The type with its article, as in "expected an array, found a string".
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def split_path(path: str) -> list[str | int]:
    """Split a dotted path into object keys (``str``) and array indices (``int``).

    Args:
        path: a dotted path such as ``"sections.2.body"``.

    Returns:
        The segments, e.g. ``["sections", 2, "body"]``.

    Raises:
        StructuredStreamError: the path is empty, has an empty segment, or an index with a
            leading zero. ``path`` names it.
    """
    if not path:
        raise StructuredStreamError("the path is empty", path=path)
    segments: list[str | int] = []
    for number, segment in enumerate(path.split(".")):
        if not segment:
            raise StructuredStreamError(f"segment {number} is empty", path=path)
        if _INDEX.fullmatch(segment):
            if len(segment) > 1 and segment[0] == "0":
                raise StructuredStreamError(
                    f"index {segment!r} (segment {number}) has a leading zero", path=path
                )
            segments.append(int(segment))
        else:
            segments.append(segment)
    return segments


def _new_container(segment: str | int) -> JSONValue:
    return [] if isinstance(segment, int) else {}


def _check_shape(container: JSONValue, segment: str | int, path: str, where: str) -> None:
    if isinstance(segment, int):
        if not isinstance(container, list):
            raise StructuredStreamError(
                f"{where} is indexed by {segment}: expected an array, found "
                f"{describe_json(container)}",
                path=path,
            )
        if segment > len(container):
            raise StructuredStreamError(
                f"index {segment} is beyond the end of the array at {where} (length "
                f"{len(container)}; the next element is index {len(container)})",
                path=path,
            )
    elif not isinstance(container, dict):
        raise StructuredStreamError(
            f"{where} has key {segment!r}: expected an object, found {describe_json(container)}",
            path=path,
        )


def _where(segments: list[str | int], depth: int) -> str:
    if depth == 0:
        return "the root"
    return repr(".".join(str(s) for s in segments[:depth]))


def _update(root: JSONValue, chunk: StructuredData, path: str) -> JSONValue:
    segments = split_path(path)
    # Walk down, remembering each container (copy-on-write happens on the way back up).
    containers: list[JSONValue] = []
    node = root
    for depth, segment in enumerate(segments):
        if node is msgspec.UNSET:
            node = _new_container(segment)
        _check_shape(node, segment, path, _where(segments, depth))
        containers.append(node)
        if isinstance(segment, int):
            node = node[segment] if segment < len(node) else msgspec.UNSET
        else:
            node = node.get(segment, msgspec.UNSET)

    kind = chunk.kind
    if kind == "set":
        leaf = chunk.value
    elif kind == "append":
        if node is msgspec.UNSET:
            node = []
        elif not isinstance(node, list):
            raise StructuredStreamError(
                f"append: expected an array, found {describe_json(node)}", path=path
            )
        assert chunk.items is not None  # guaranteed by StructuredData for kind "append"
        leaf = [*node, *chunk.items]
    else:  # "text-delta"
        if node is msgspec.UNSET:
            node = ""
        elif not isinstance(node, str):
            raise StructuredStreamError(
                f"text-delta: expected a string, found {describe_json(node)}", path=path
            )
        assert chunk.delta is not None  # guaranteed by StructuredData for kind "text-delta"
        leaf = node + chunk.delta

    # Rebuild the spine bottom-up: shallow copies of the containers on the path only.
    for segment, container in zip(reversed(segments), reversed(containers), strict=True):
        if isinstance(segment, int):
            copied_list = list(container)
            if segment == len(copied_list):
                copied_list.append(leaf)
            else:
                copied_list[segment] = leaf
            leaf = copied_list
        else:
            copied_dict = dict(container)
            copied_dict[segment] = leaf
            leaf = copied_dict
    return leaf


def apply_structured_chunk(state: StructuredState | None, chunk: StructuredData) -> StructuredState:
    """Apply one ``structured-data`` chunk and return the new state; the input is not changed.

    Args:
        state: the state so far, or ``None`` for the first chunk of a stream.
        chunk: the chunk to apply.

    Returns:
        A new :class:`StructuredState`. It shares unchanged containers with ``state``.

    Raises:
        StructuredStreamError: the chunk cannot be applied: an empty path or segment, an index
            with a leading zero or beyond the end of its array, a container of the wrong shape on
            the path (null, a scalar, an object where an array is needed or the reverse),
            ``append`` on a non-array, ``text-delta`` on a non-string, any chunk after
            ``final``, or a ``streamId`` other than the state's. ``path`` names the chunk's path.
            ``state`` stays valid.

    Example:
        >>> s = apply_structured_chunk(None, StructuredData(
        ...     stream_id="d", kind="text-delta", path="body", delta="Hel"))
        >>> s = apply_structured_chunk(s, StructuredData(
        ...     stream_id="d", kind="text-delta", path="body", delta="lo"))
        >>> s.data
        {'body': 'Hello'}
    """
    path = chunk.path or ""
    if state is not None:
        if chunk.stream_id != state.stream_id:
            raise StructuredStreamError(
                f"streamId {chunk.stream_id!r} does not match the stream being rebuilt "
                f"({state.stream_id!r})",
                path=path,
            )
        if state.status == "done":
            raise StructuredStreamError(
                f"a {chunk.kind!r} chunk arrived after 'final' (stream {state.stream_id!r} is "
                "done)",
                path=path,
            )
    data_type = chunk.data_type
    if data_type is None and state is not None:
        data_type = state.data_type
    if chunk.kind == "final":
        return StructuredState(
            stream_id=chunk.stream_id, data=chunk.data, status="done", data_type=data_type
        )
    root = msgspec.UNSET if state is None else state.data
    return StructuredState(
        stream_id=chunk.stream_id,
        data=_update(root, chunk, path),
        status="streaming",
        data_type=data_type,
    )


class StructuredAccumulator:
    """Rebuilds several structured streams at once, keyed by ``streamId``.

    Example:
        >>> acc = StructuredAccumulator()
        >>> _ = acc.apply(StructuredData(stream_id="a", kind="set", path="title", value="Hi"))
        >>> acc.get("a").data
        {'title': 'Hi'}
    """

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: dict[str, StructuredState] = {}

    def apply(self, chunk: StructuredData) -> StructuredState:
        """Apply a chunk to the stream it names and return that stream's new state.

        Args:
            chunk: a ``structured-data`` chunk of any stream.

        Returns:
            The stream's new state (also kept, see :attr:`states`).

        Raises:
            StructuredStreamError: as :func:`apply_structured_chunk`. The stream's previous
                state is kept and the accumulator stays usable.
        """
        state = apply_structured_chunk(self._states.get(chunk.stream_id), chunk)
        self._states[chunk.stream_id] = state
        return state

    def get(self, stream_id: str) -> StructuredState | None:
        """The state of ``stream_id``, or ``None`` when no chunk of it has been applied."""
        return self._states.get(stream_id)

    @property
    def states(self) -> Mapping[str, StructuredState]:
        """Every stream's state by ``streamId``, in order of first chunk (a read-only view)."""
        return MappingProxyType(self._states)

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self._states

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)
