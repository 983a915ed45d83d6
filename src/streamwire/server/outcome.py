"""What a streaming response reports about itself: its outcome, and the callback types.

A stream ends exactly one way; :class:`StreamOutcome` says which, how many events went out and
how long it took. ``on_close(outcome)`` receives it exactly once, whatever happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, TypeVar

__all__ = [
    "CloseCallback",
    "DisconnectCallback",
    "Emit",
    "OutcomeStatus",
    "StreamOutcome",
]

#: How a stream ended:
#:
#: * ``completed``: the source finished (or a ``done`` chunk went out) and the client got it all;
#: * ``cancelled``: the client went away first;
#: * ``error``: the source raised; an ``error`` chunk and ``done`` were sent;
#: * ``shutdown``: the server began shutting down; ``server_shutdown`` and ``done`` were sent;
#: * ``timeout``: the client read nothing for ``send_timeout_seconds`` and was dropped.
OutcomeStatus: TypeAlias = Literal["completed", "cancelled", "error", "shutdown", "timeout"]

_T_contra = TypeVar("_T_contra", contravariant=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamOutcome:
    """How one stream ended.

    Attributes:
        status: which way it ended (see :data:`OutcomeStatus`).
        events_sent: events (or chunks, for a non-SSE stream) handed to the server, heartbeats
            not counted.
        duration_seconds: from the first byte of the response to the end, by a monotonic clock.
        error: the exception behind ``error`` (the source's) or ``timeout``; otherwise ``None``.
    """

    status: OutcomeStatus
    events_sent: int
    duration_seconds: float
    error: BaseException | None = None


class Emit(Protocol[_T_contra]):
    """The ``emit`` an emitter source receives: ``await emit(item)`` sends one item.

    The call returns once the item is buffered; it waits while the buffer is full (backpressure).

    Raises:
        StreamClosedError: the stream has already sent its ``done`` chunk.
        asyncio.CancelledError: the client left or the server is shutting down; let it propagate
            so that the emitter (and the model request it holds) stops.
    """

    async def __call__(self, item: _T_contra, /) -> None: ...


#: ``on_disconnect()``: called once, when the client goes away before the stream ends.
DisconnectCallback: TypeAlias = Callable[[], Awaitable[None] | None]

#: ``on_close(outcome)``: called exactly once, when the stream ends for any reason.
CloseCallback: TypeAlias = Callable[[StreamOutcome], Awaitable[None] | None]
