"""Wire dialects: one chunk stream, several wire formats (sans-IO).

A :class:`Dialect` turns streamwire chunks into the Server-Sent Events of one wire format and back:

* ``native``: the streamwire protocol (``docs/protocol.md``);
* ``openai``: OpenAI chat-completion chunks ending with ``data: [DONE]``;
* ``ai-sdk``: the Vercel AI SDK UI message stream v1.

Encoders and decoders are stateful and belong to one stream: ask the dialect for a new one per
stream. They never do IO; the server and the clients are the loops around them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from streamwire.protocol.chunks import Chunk
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.protocol.sse import ServerSentEvent

__all__ = ["DIALECT_NAMES", "ChunkDecoder", "ChunkEncoder", "Dialect", "get_dialect"]


class ChunkEncoder(Protocol):
    """Turns the chunks of one stream into the events of a wire format."""

    def encode(self, chunk: Chunk) -> list[ServerSentEvent]:
        """The events that carry ``chunk`` (none, one or several); a ``Done`` chunk yields the
        dialect's terminator."""
        ...


class ChunkDecoder(Protocol):
    """Turns the events of one stream in a wire format back into chunks."""

    @property
    def finished(self) -> bool:
        """Whether the dialect's terminator has been read."""
        ...

    def decode(self, event: ServerSentEvent) -> list[Chunk]:
        """The chunks that ``event`` carries.

        Raises:
            MalformedStreamError: the event is not valid in this dialect.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialect:
    """A wire format: its name, the response headers it needs, and its encoder and decoder.

    Attributes:
        name: the dialect's name (``native``, ``openai``, ``ai-sdk``).
        headers: extra response headers the format requires (lower-case names).
        new_encoder: makes the encoder for one stream.
        new_decoder: makes the decoder for one stream.
    """

    name: str
    new_encoder: Callable[[], ChunkEncoder]
    new_decoder: Callable[[], ChunkDecoder]
    headers: Mapping[str, str] = field(default_factory=dict)


# name -> the module that defines ``DIALECT``; imported on first use.
_MODULES: dict[str, str] = {
    "native": "streamwire.protocol.dialects.native",
    "openai": "streamwire.protocol.dialects.openai",
    "ai-sdk": "streamwire.protocol.dialects.ai_sdk",
}

#: The names :func:`get_dialect` accepts.
DIALECT_NAMES: tuple[str, ...] = tuple(_MODULES)


def get_dialect(name: str | Dialect) -> Dialect:
    """The dialect called ``name`` (a :class:`Dialect` is returned as it is).

    Raises:
        InvalidArgumentError: no dialect has that name.
    """
    if isinstance(name, Dialect):
        return name
    module = _MODULES.get(name)
    if module is None:
        raise InvalidArgumentError(
            "dialect", f"must be one of {', '.join(DIALECT_NAMES)} (got {name!r})"
        )
    dialect = _LOADED.get(name)
    if dialect is None:
        # Imported once: every streaming response looks its dialect up by name.
        dialect = _LOADED[name] = importlib.import_module(module).DIALECT
    return dialect


_LOADED: dict[str, Dialect] = {}
