"""The stream lifecycle shared by every streaming response (private).

One stream is the response's own task plus, at most, one helper (``docs/architecture.md`` draws
them):

* the **response task** (the task the server runs the ASGI app in) runs the source (an async
  iterable, a sync iterable in a thread, or an emitter), encodes each item and hands the bytes
  to ASGI ``send`` itself: no hop between tasks, as in a hand-written ASGI loop. With
  ``coalesce`` (the default) it peeks at an iterable source after each item: the items it has
  ready leave in one send, the moment it would wait (:func:`_drive`);
* the **watcher** is a bare task awaiting ``receive()`` (no frame of ours), so a client that
  leaves is noticed while the source still waits on the model, whatever ASGI spec version the
  server reports;
* the **sender** task exists only while bytes wait in the :class:`_Outbox`: a coalescing
  emitter's items (everything waiting leaves in one send), a heartbeat, and the shutdown notice;
  it ends when the outbox is empty;
* the stream's deadline in the loop's shared :class:`_Timers` sends a heartbeat when nothing was
  sent for ``heartbeat_seconds`` and drops the client when one send takes longer than
  ``send_timeout_seconds``;
* the **shutdown** callback, from a :class:`~streamwire.server.shutdown.ShutdownMonitor`, queues
  the format's shutdown notice for the sender and stops the source; the notice goes out within
  ``shutdown_grace_seconds`` even while the source is still closing.

A disconnect, a failed or timed-out send and a shutdown each *decide* the outcome and stop the
source by cancelling the response task where it waits (its own send is spared at shutdown); the
response task then closes the source (``aclose()`` for async generators, ``close()`` in a thread
for sync ones), waits for the sender, and calls ``on_disconnect`` / ``on_close``.

An idle stream (the source waits on the model) therefore holds the watcher task and nothing
else of its own besides a few objects: no producer task, no timer handle, no buffer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import inspect
import logging
import math
import time
import weakref
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import msgspec
from starlette.types import Message, Receive, Send

from streamwire._aio import aclose
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.server.errors import StreamClosedError
from streamwire.server.outcome import (
    CloseCallback,
    DisconnectCallback,
    OutcomeStatus,
    StreamOutcome,
)
from streamwire.server.shutdown import ShutdownMonitor

logger = logging.getLogger("streamwire.server")

_T = TypeVar("_T")
_T_contra = TypeVar("_T_contra", contravariant=True)

# 15 s: below the 30-60 s idle timeouts of common proxies and load balancers (nginx 60 s, AWS
# ALB 60 s, Cloudflare 100 s), with room for one missed beat.
DEFAULT_HEARTBEAT_SECONDS = 15.0
# 30 s: a client that has read nothing for this long is gone or hopelessly slow; holding its
# buffer (and the model request behind it) longer only costs memory and money.
DEFAULT_SEND_TIMEOUT_SECONDS = 30.0
# 32 events: enough to ride out a slow moment of the network without stalling the model, small
# enough that a hundred stalled clients hold little memory (token events are ~100 bytes).
DEFAULT_MAX_BUFFERED_EVENTS = 32
# 1 s: long enough for the final notice to reach a client that is reading, short enough that a
# rolling restart is not held up by streams (uvicorn with 200 streams exits well within 2 s).
DEFAULT_SHUTDOWN_GRACE_SECONDS = 1.0
# 5 s: a cancelled source still closing after this long is logged as slow (the response waits
# for it: its ``finally`` closes the model's request, and ``on_close`` comes after it).
SOURCE_CLOSE_WARNING_SECONDS = 5.0
# 1 s: the coarsest a stream's deadlines are rounded up to (a heartbeat or a send timeout fires
# at most this late); intervals under 8 s are rounded to an eighth of themselves instead.
TIMER_RESOLUTION_SECONDS = 1.0


class Encoder(Protocol[_T_contra]):
    """The format half of a stream: turns source items into bytes and knows the endings."""

    @property
    def finished(self) -> bool:
        """Whether the format's terminator has been produced; nothing may follow it."""
        ...

    def encode(self, item: _T_contra) -> tuple[bytes, int]:
        """The bytes for one item and how many events they hold (0 bytes: nothing to send).

        Raises:
            TypeError: the item is not of a type the format accepts.
            ChunkDecodeError: a dict item is not a valid chunk.
        """
        ...

    def opening(self) -> bytes:
        """Bytes to send before the first item (``b""`` for none)."""
        ...

    def end(self) -> tuple[bytes, int]:
        """Bytes (and their event count) that end a stream whose source finished: the
        terminator, unless it was sent."""
        ...

    def fail(self, exc: Exception) -> tuple[bytes, int] | None:
        """Bytes and event count that end a stream whose source raised ``exc``; ``None`` to
        abort the body instead (a format that cannot report an error in-band)."""
        ...

    def shutdown(self) -> tuple[bytes, int]:
        """Bytes and event count that end a stream because the server is shutting down."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSettings:
    """The limits and timings of one stream, checked once at construction."""

    heartbeat_seconds: float | None
    heartbeat: bytes | None
    send_timeout_seconds: float | None
    max_buffered_events: int
    coalesce: bool
    shutdown_grace_seconds: float
    on_disconnect: DisconnectCallback | None
    on_close: CloseCallback | None
    shutdown_monitor: ShutdownMonitor
    #: The heartbeat interval if a heartbeat is sent at all (``heartbeat`` is not ``None``).
    beat_seconds: float | None = field(init=False, repr=False, compare=False)
    #: What the stream's deadlines are rounded up to in the shared timers: 1 s, or an eighth
    #: of the shortest interval under 8 s.
    resolution: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _positive_or_none("heartbeat_seconds", self.heartbeat_seconds)
        _positive_or_none("send_timeout_seconds", self.send_timeout_seconds)
        if isinstance(self.max_buffered_events, bool) or not isinstance(
            self.max_buffered_events, int
        ):
            raise InvalidArgumentError("max_buffered_events", "must be an int")
        if self.max_buffered_events < 1:
            raise InvalidArgumentError(
                "max_buffered_events", f"must be at least 1 (got {self.max_buffered_events})"
            )
        grace = self.shutdown_grace_seconds
        if isinstance(grace, bool) or not isinstance(grace, int | float) or grace < 0:
            raise InvalidArgumentError(
                "shutdown_grace_seconds", f"must be a number >= 0 (got {grace!r})"
            )
        beat = self.heartbeat_seconds if self.heartbeat is not None else None
        intervals = [s for s in (beat, self.send_timeout_seconds) if s is not None]
        object.__setattr__(self, "beat_seconds", beat)
        object.__setattr__(
            self, "resolution", min([TIMER_RESOLUTION_SECONDS, *(s / 8 for s in intervals)])
        )


# Settings without hooks, shared by the responses that pass the same options (a stream holds
# its settings for its whole life; building and checking them costs more than the rest of the
# response together). Settings with ``on_disconnect`` or ``on_close`` are never shared: those
# are usually closures over one request, which the cache would keep alive. The bound only guards
# against an app that varies the options per request.
_SHARED_SETTINGS: dict[tuple[object, ...], StreamSettings] = {}
_SHARED_SETTINGS_MAX = 64


def stream_settings(
    *,
    heartbeat_seconds: float | None,
    heartbeat: bytes | None,
    send_timeout_seconds: float | None,
    max_buffered_events: int,
    coalesce: bool,
    shutdown_grace_seconds: float,
    on_disconnect: DisconnectCallback | None,
    on_close: CloseCallback | None,
    shutdown_monitor: ShutdownMonitor,
) -> StreamSettings:
    """Checked :class:`StreamSettings` for these options, shared when they have no hooks.

    Raises:
        InvalidArgumentError: an option is out of range or of the wrong type.
    """
    key: tuple[object, ...] | None = None
    if on_disconnect is None and on_close is None:
        # The types are part of the key: 1, 1.0 and True are equal, but not equally valid.
        key = (
            heartbeat_seconds,
            type(heartbeat_seconds),
            heartbeat,
            send_timeout_seconds,
            type(send_timeout_seconds),
            max_buffered_events,
            type(max_buffered_events),
            coalesce,
            shutdown_grace_seconds,
            type(shutdown_grace_seconds),
            shutdown_monitor,
        )
        try:
            found = _SHARED_SETTINGS.get(key)
        except TypeError:  # an unhashable option: the checks below name it
            key = None
        else:
            if found is not None:
                return found
    settings = StreamSettings(
        heartbeat_seconds=heartbeat_seconds,
        heartbeat=heartbeat,
        send_timeout_seconds=send_timeout_seconds,
        max_buffered_events=max_buffered_events,
        coalesce=bool(coalesce),
        shutdown_grace_seconds=shutdown_grace_seconds,
        on_disconnect=on_disconnect,
        on_close=on_close,
        shutdown_monitor=shutdown_monitor,
    )
    if key is not None:
        if len(_SHARED_SETTINGS) >= _SHARED_SETTINGS_MAX:
            _SHARED_SETTINGS.clear()
        _SHARED_SETTINGS[key] = settings
    return settings


def _positive_or_none(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(name, f"must be a number or None (got {type(value).__name__})")
    if not value > 0:
        raise InvalidArgumentError(name, f"must be positive or None (got {value!r})")


# --------------------------------------------------------------------------------------------
# The source: async iterable, sync iterable (in a thread) or emitter.


class _ThreadIterator(Generic[_T]):
    """Iterates a sync iterable in the default executor, one ``next()`` per item.

    A ``next()`` in flight when the consumer is cancelled keeps running in its thread (threads
    cannot be interrupted); :meth:`aclose` waits for it, then closes the iterator there too.
    """

    def __init__(self, iterable: Iterable[_T]) -> None:
        self._iterator: Iterator[_T] = iter(iterable)
        self._pending: asyncio.Future[tuple[bool, _T | None]] | None = None

    def __aiter__(self) -> _ThreadIterator[_T]:
        return self

    def _step(self) -> tuple[bool, _T | None]:
        try:
            return True, next(self._iterator)
        except StopIteration:
            return False, None

    async def __anext__(self) -> _T:
        loop = asyncio.get_running_loop()
        pending = loop.run_in_executor(None, self._step)
        self._pending = pending
        try:
            has_item, item = await asyncio.shield(pending)
        except asyncio.CancelledError:
            raise  # the next() goes on in its thread: aclose() waits for it
        except BaseException:
            self._pending = None
            raise
        self._pending = None
        if not has_item:
            raise StopAsyncIteration
        return item  # type: ignore[return-value]  # has_item: the iterator gave an item

    async def aclose(self) -> None:
        pending = self._pending
        if pending is not None:
            if not pending.done():
                await asyncio.wait({pending})
            if not pending.cancelled() and pending.exception() is not None:
                logger.error("the sync source raised while closing", exc_info=pending.exception())
        close = getattr(self._iterator, "close", None)
        if callable(close):
            await asyncio.get_running_loop().run_in_executor(None, close)


def is_emitter(source: object) -> bool:
    """Whether ``source`` is an emitter: a callable that is not itself an iterable."""
    return callable(source) and not hasattr(source, "__aiter__") and not hasattr(source, "__iter__")


def check_source(source: object, *, allow_text: bool = False) -> None:
    """Reject at construction a source that cannot work.

    Raises:
        TypeError: not an async iterable, an iterable or an emitter (or a str/bytes, which
            would stream one character at a time).
    """
    if isinstance(source, str | bytes | bytearray | memoryview) and not allow_text:
        raise TypeError(
            f"source must be an iterable of items, not a single {type(source).__name__}"
        )
    if not (hasattr(source, "__aiter__") or hasattr(source, "__iter__") or callable(source)):
        raise TypeError(
            "source must be an async iterable, an iterable or an emitter "
            f"`async def produce(emit)`, not {type(source).__name__}"
        )


# --------------------------------------------------------------------------------------------
# The bounded buffer between the response task and the sender task.

# 64 KiB: the most one coalesced send carries (about a socket buffer's worth, uvicorn's
# flow-control high-water mark). An iterator's ready items join a batch up to this size; an
# emitter runs ahead of max_buffered_events up to it while no send is in flight (a stalled
# client still holds an emitter at max_buffered_events).
COALESCE_MAX_BYTES = 64 * 1024


class _Outbox:
    """A bounded FIFO of encoded items for the sender task; created on first use.

    :meth:`finish` closes it for good: with a tail, the body ends after the last item; with
    ``None`` (a chunked format whose source failed), what is queued is sent and the body is
    left unfinished.
    """

    __slots__ = ("_bytes", "_items", "_maxsize", "_putters", "ends_body", "finished")

    def __init__(self, maxsize: int) -> None:
        self._items: collections.deque[tuple[bytes, int]] = collections.deque()
        self._bytes = 0
        self._maxsize = maxsize
        self._putters: collections.deque[asyncio.Future[None]] | None = None
        self.finished = False
        self.ends_body = False

    def __len__(self) -> int:
        return len(self._items)

    def full(self, *, coalesce: bool, sending: bool) -> bool:
        """Whether a producer must wait for room before adding an item."""
        if len(self._items) < self._maxsize:
            return False
        # Coalescing: items added while the sender is about to run leave in its next send, so
        # only a send in progress (a slow client) or the byte cap holds the producer.
        return not coalesce or sending or self._bytes >= COALESCE_MAX_BYTES

    def append(self, data: bytes, events: int) -> None:
        self._items.append((data, events))
        self._bytes += len(data)

    async def room(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until the sender takes an item (or the outbox is finished)."""
        putter = loop.create_future()
        if self._putters is None:
            self._putters = collections.deque()
        self._putters.append(putter)
        try:
            await putter
        finally:
            with contextlib.suppress(ValueError):
                self._putters.remove(putter)

    def finish(self, tail: tuple[bytes, int] | None) -> None:
        """Close the outbox with ``tail`` as the last bytes (once; later calls do nothing)."""
        if self.finished:
            return
        self.finished = True
        if tail is not None:
            self.ends_body = True
            if tail[0]:
                self.append(*tail)
        self._wake_putters(every=True)

    def take(self, *, coalesce: bool) -> tuple[bytes, int]:
        """Remove the oldest item (the caller knows there is one), joined with the items
        waiting behind it up to ``COALESCE_MAX_BYTES`` when coalescing."""
        items = self._items
        data, events = items.popleft()
        size = len(data)
        if coalesce and items:
            parts = [data]
            while items and size < COALESCE_MAX_BYTES:
                more, count = items.popleft()
                parts.append(more)
                size += len(more)
                events += count
            data = b"".join(parts)
        self._bytes -= size
        self._wake_putters(every=False)
        return data, events

    def _wake_putters(self, *, every: bool) -> None:
        putters = self._putters
        while putters:
            putter = putters.popleft()
            if not putter.done():
                putter.set_result(None)
                if not every:
                    return


def _wait_for_task(task: asyncio.Task[Any]) -> Awaitable[Any]:
    """Wait for ``task`` to end however it ends, without taking its result or cancelling it."""
    return asyncio.wait((task,))


# --------------------------------------------------------------------------------------------
# Shared timers: the heartbeat and send-timeout deadlines of every stream on one event loop.


class _Timers:
    """The deadlines of every stream on one event loop, grouped into shared loop timers.

    A deadline is rounded up to the stream's resolution; streams whose deadlines round to the
    same time share one ``TimerHandle`` (a *bucket*), so an open stream costs one dict entry here
    instead of a timer of its own. A stream is in at most one bucket: its earliest deadline.
    (Buckets and registries here are ``dict[run, None]``: about half a set's bytes per entry.)
    """

    __slots__ = ("__weakref__", "_buckets", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[float, tuple[asyncio.TimerHandle, dict[StreamRun[Any], None]]] = {}

    def schedule(self, run: StreamRun[Any], when: float) -> None:
        """Call ``run._on_timer`` at ``when`` (rounded up), unless it is due earlier already."""
        resolution = run._settings.resolution
        slot = math.ceil(when / resolution) * resolution
        current = run._timer_at
        if current is not None:
            if current <= slot:
                return
            self.cancel(run)
        bucket = self._buckets.get(slot)
        if bucket is None:
            members: dict[StreamRun[Any], None] = {}
            self._buckets[slot] = (self._loop.call_at(slot, self._fire, slot), members)
        else:
            members = bucket[1]
        members[run] = None
        run._timer_at = slot

    def cancel(self, run: StreamRun[Any]) -> None:
        """Forget ``run``'s deadline, if it has one."""
        slot = run._timer_at
        if slot is None:
            return
        run._timer_at = None
        bucket = self._buckets.get(slot)
        if bucket is not None:
            members = bucket[1]
            members.pop(run, None)
            if not members:
                bucket[0].cancel()
                del self._buckets[slot]

    def _fire(self, slot: float) -> None:
        bucket = self._buckets.pop(slot, None)
        if bucket is None:
            return
        members = bucket[1]
        for run in members:
            run._timer_at = None
        now = self._loop.time()
        for run in members:
            try:
                run._on_timer(now)
            except Exception:  # one stream's failure must not stop the others' timers
                logger.exception("a stream's timer failed")


_TIMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Timers] = weakref.WeakKeyDictionary()


def _timers_of(loop: asyncio.AbstractEventLoop) -> _Timers:
    timers = _TIMERS.get(loop)
    if timers is None:
        timers = _TIMERS[loop] = _Timers(loop)
    return timers


# --------------------------------------------------------------------------------------------
# Shutdown: the open streams of one event loop, by the monitor they follow.


class _Shutdowns:
    """The open streams of one event loop by the :class:`ShutdownMonitor` they follow.

    The monitor holds one callback per monitor and loop, which asks each of the streams to
    shut down; an open stream costs one dict entry here instead of a registration of its own.
    """

    __slots__ = ("__weakref__", "_by_monitor", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._by_monitor: dict[ShutdownMonitor, tuple[int, dict[StreamRun[Any], None]]] = {}

    def add(self, monitor: ShutdownMonitor, run: StreamRun[Any]) -> None:
        """Call ``run._request_shutdown`` when ``monitor`` requests a shutdown (now, if it has
        already: a stream that starts during a shutdown sends only the notice)."""
        entry = self._by_monitor.get(monitor)
        if entry is None:
            # The first open stream of this loop (again): chain the monitor's signal handler in
            # front of the server's, if it is not there (a no-op off the main thread).
            monitor.install_signal_handlers()
            runs: dict[StreamRun[Any], None] = {run: None}
            # (register() also schedules the callback if a shutdown was requested already; a
            # second request is a no-op for a stream.)
            key = monitor.register(functools.partial(_request_shutdowns, runs))
            self._by_monitor[monitor] = (key, runs)
        else:
            entry[1][run] = None
        if monitor.requested:
            run._request_shutdown()

    def discard(self, monitor: ShutdownMonitor, run: StreamRun[Any]) -> None:
        entry = self._by_monitor.get(monitor)
        if entry is None:
            return
        key, runs = entry
        runs.pop(run, None)
        if not runs:
            monitor.unregister(key)
            del self._by_monitor[monitor]


def _request_shutdowns(runs: dict[StreamRun[Any], None]) -> None:
    for run in list(runs):  # a stream that ends now leaves the registry
        try:
            run._request_shutdown()
        except Exception:  # one stream's failure must not keep the others running
            logger.exception("a stream's shutdown failed")


_SHUTDOWNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shutdowns] = (
    weakref.WeakKeyDictionary()
)


def _shutdowns_of(loop: asyncio.AbstractEventLoop) -> _Shutdowns:
    shutdowns = _SHUTDOWNS.get(loop)
    if shutdowns is None:
        shutdowns = _SHUTDOWNS[loop] = _Shutdowns(loop)
    return shutdowns


# --------------------------------------------------------------------------------------------
# One stream.

# 256: the events sent directly in a row after which the response task yields to the event loop
# once. Sends that never block (a client that keeps up, or one that left under ASGI 2.3, where
# sends are dropped) would otherwise let a source that never waits hold the loop for good, and
# the watcher would never see the disconnect. One yield per 256 events costs well under 1% per
# event.
DIRECT_SENDS_BEFORE_YIELD = 256


class _StopStream(BaseException):
    """Ends the source loop once the outcome is decided (a failed send, a disconnect, a
    shutdown); a BaseException so that neither the source's error handling nor an emitter's
    ``except Exception`` takes it for a source error."""


class StreamAbortedError(Exception):
    """Raised to the server when a chunked stream's source fails, so the body is not completed
    and the client sees a truncated response rather than a short one that looks whole. The
    source's traceback has already been logged."""


async def call_callback(name: str, callback: Callable[..., object], *args: object) -> None:
    """Call a user hook (sync or async); log, never raise, what it raises."""
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("%s callback raised", name)


async def _aclose(iterator: object) -> None:
    try:
        await aclose(iterator)
    except Exception:
        logger.exception("closing the stream source raised")


_WATCHER_NAME = "streamwire: receive() until http.disconnect"


async def _agen() -> AsyncIterator[None]:
    yield None


_ASEND: type[Any] = type(
    anext(_agen())
)  # the step of an async generator (``async_generator_asend``)


async def _drive(step: Any, signal: object) -> Any:
    """Go on with a step of the source that a peek started: ``signal`` is what it yielded (the
    future it waits on, or ``None`` for a bare yield). Returns what the step returns.

    The loop waits on the very future the source waits on, then lets the step read the outcome
    (``send(None)``) or receives what the task threw (a cancel) and passes it on (``throw``):
    the source goes on as if it had been awaited from the start. (The hot loop in
    :meth:`StreamRun.run` awaits an async generator's step itself; this serves the others: a
    coroutine ``__anext__``, a future.)
    """
    while True:
        try:
            if signal is None:
                await asyncio.sleep(0)
            else:
                # As a task does with a future it is handed: else awaiting it again fails.
                signal._asyncio_future_blocking = False  # type: ignore[attr-defined]
                await signal  # type: ignore[misc]  # a future the step yielded
        except BaseException as exc:
            try:
                signal = step.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                signal = step.send(None)
            except StopIteration as stop:
                return stop.value


async def _abandon(step: Any) -> None:
    """Cancel a started step where it waits (the loop stopped between the peek and awaiting
    it) and wait for the source to settle, as a source cancelled while awaited would."""
    cancel = asyncio.CancelledError()
    try:
        signal = step.throw(cancel)
    except BaseException:
        return  # it ended: the cancel went through, or the source raised or returned
    try:
        await _drive(step, signal)
    except asyncio.CancelledError as exc:
        if exc is not cancel:
            raise
    except Exception:
        logger.debug("the stream source raised while cancelled", exc_info=True)


_json_encode = msgspec.json.encode


def _warn_slow_close() -> None:
    logger.warning(
        "the stream source is still closing %s s after it was cancelled",
        SOURCE_CLOSE_WARNING_SECONDS,
    )


class StreamRun(Generic[_T]):
    """Runs one stream on one ASGI connection. Used once."""

    __slots__ = (
        "_asgi_send",
        "_body_done",
        "_cancelled_me",
        "_direct_sends",
        "_disconnected",
        "_encoder",
        "_ended",
        "_error",
        "_events_sent",
        "_grace_handle",
        "_idle_waiter",
        "_interruptible",
        "_me",
        "_outbox",
        "_raise",
        "_receive",
        "_send_task",
        "_sender",
        "_sending",
        "_sent_at",
        "_settings",
        "_slow_close",
        "_source",
        "_source_error",
        "_status",
        "_stopping",
        "_timer_at",
        "_timers",
        "_watcher",
    )

    def __init__(
        self,
        source: AsyncIterable[_T] | Iterable[_T] | Callable[..., Awaitable[None]],
        encoder: Encoder[_T],
        settings: StreamSettings,
    ) -> None:
        self._source = source
        self._encoder = encoder
        self._settings = settings
        self._events_sent = 0
        self._direct_sends = 0  # an emitter's direct sends since it last yielded to the loop
        # The outcome, once decided (the first of: a disconnect, a failed or timed-out send, a
        # shutdown; a disconnect still overrides a shutdown whose notice did not go out), and
        # whether the source must stop because of it.
        self._status: OutcomeStatus | None = None
        self._error: BaseException | None = None
        self._raise: BaseException | None = None
        self._disconnected = False
        self._source_error: Exception | None = None
        self._stopping = False
        self._ended = False  # the response task is ending the body itself
        self._body_done = False  # the message with more_body=False was sent
        # Whether the response task may be cancelled to stop it (it waits in the source, in a
        # put or in its own send), and whether it was.
        self._interruptible = False
        self._cancelled_me = False
        # The send in flight (the response task's or the sender's), when it began on the loop
        # clock (also the heartbeat's reference), and who waits for it to end.
        self._sending = False
        self._send_task: asyncio.Task[Any] | None = None
        self._sent_at = 0.0
        self._idle_waiter: asyncio.Future[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._outbox: _Outbox | None = None
        self._timer_at: float | None = None
        self._grace_handle: asyncio.TimerHandle | None = None
        self._slow_close: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Future[Message] | None = None

    # ---- the whole

    async def run(
        self,
        receive: Receive,
        send: Send,
        start: Message,
        background: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Send ``start`` and the stream, call the hooks, then ``background`` if given.

        One coroutine runs the whole stream, the source's loop included: an idle stream holds
        this one frame, not one per layer.

        Raises:
            StreamAbortedError: a chunked stream's source failed; the body is left incomplete.
            Exception: whatever ASGI ``send`` raised other than a disconnect (after the hooks).
        """
        # Every local here is 8 bytes of every open stream's frame: only the hot loop's own.
        settings = self._settings
        # Only on_close reports the duration (a float is 24 bytes of every idle stream).
        began = time.monotonic() if settings.on_close is not None else 0.0
        loop = asyncio.get_running_loop()
        me = self._me = asyncio.current_task()
        self._asgi_send = send
        self._receive = receive
        self._timers = _timers_of(loop)
        encoder = self._encoder
        iterator: AsyncIterator[_T] | None = None
        # Encoded items the source had ready, not sent yet (see the hot loop), and the step of
        # the source a peek started when it would wait, with what it waits on.
        ready: list[bytes] | None = None
        ready_events = ready_bytes = 0
        peek: Any = None
        signal: object = None
        external_cancel = False
        try:
            try:
                await send(start)
                # Not held for the life of the stream (the message, its header list).
                del start
                data = encoder.opening()
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            except OSError:
                self._decide("cancelled", disconnected=True)
                return
            self._sent_at = loop.time()
            if settings.beat_seconds is not None:
                self._timers.schedule(self, self._sent_at + settings.beat_seconds)
            self._watch()
            _shutdowns_of(loop).add(settings.shutdown_monitor, self)
            source = self._source
            # The stream's last bytes if this task ends the body (the source ended or failed);
            # None with ``abort``: a chunked format cannot report the failure in-band.
            tail: tuple[bytes, int] | None = None
            abort = False
            self._interruptible = True
            try:
                if self._stopping:
                    pass  # a shutdown came before the stream began: the sender ends it
                elif is_emitter(source):
                    await source(self._emit)  # type: ignore[operator]  # is_emitter: a callable
                    tail = encoder.end()
                else:
                    if hasattr(source, "__aiter__"):
                        iterator = aiter(source)  # type: ignore[arg-type]  # has __aiter__
                    else:
                        iterator = _ThreadIterator(source)  # type: ignore[arg-type]  # iterable
                    # The hot path, inline in this frame: each item's bytes are sent from here.
                    # (No locals caching bound methods: each is 64 bytes of every idle stream.)
                    # An encoder may say how it frames a str item (JSON-encoded text between
                    # two fixed byte strings); the loop then builds those bytes without a call.
                    prefix, suffix = getattr(encoder, "text_frame", None) or (None, b"")
                    # With a heartbeat no longer than the send timeout, the stream's deadline is
                    # always armed and never later than a send's timeout: no check per send.
                    timeout = settings.send_timeout_seconds
                    if (
                        timeout is not None
                        and settings.beat_seconds is not None
                        and settings.beat_seconds <= timeout
                    ):
                        timeout = None
                    coalesce = settings.coalesce
                    in_a_row = 0
                    # Adaptive coalescing: after an item, the source is stepped once more
                    # without waiting (a peek). While it has items ready they join ``ready``;
                    # when it would wait (``peek``: that started step), or the batch reaches
                    # COALESCE_MAX_BYTES, what is ready leaves in one send before the loop goes
                    # on. A lone item therefore leaves at once; without coalescing, every item
                    # does. The source is not stepped while a send is in flight: a slow client
                    # holds it here, with at most one batch in the send.
                    try:
                        while True:
                            if ready is not None and (
                                peek is not None
                                or not coalesce
                                or ready_bytes >= COALESCE_MAX_BYTES
                            ):
                                data = ready[0] if len(ready) == 1 else b"".join(ready)
                                events, ready = ready_events, None
                                if self._sender is None:
                                    # The steps of _send_direct, inlined.
                                    self._sent_at = loop.time()
                                    if timeout is not None and (
                                        self._timer_at is None
                                        or self._timer_at > self._sent_at + timeout
                                    ):
                                        self._timers.schedule(self, self._sent_at + timeout)
                                    self._send_task = me
                                    self._sending = True
                                    try:
                                        await send(
                                            {
                                                "type": "http.response.body",
                                                "body": data,
                                                "more_body": True,
                                            }
                                        )
                                    except BaseException as exc:
                                        self._send_failed(exc, me)
                                    finally:
                                        self._sending = False
                                        if self._idle_waiter is not None:
                                            self._wake_idle()
                                    del data
                                    self._events_sent += events
                                    if self._stopping:
                                        raise _StopStream
                                    in_a_row += events
                                    if in_a_row >= DIRECT_SENDS_BEFORE_YIELD and peek is None:
                                        in_a_row = 0
                                        # Let the watcher (and every other stream) run now and then.
                                        await asyncio.sleep(0)
                                else:
                                    await self._queue(data, events)
                                    del data
                            if encoder.finished:
                                break
                            if peek is not None:
                                if type(peek) is _ASEND:
                                    # An async generator's step: await it where it stands.
                                    # Resumed, the source awaits its future again (its
                                    # blocking flag cleared, as a task does with a future it
                                    # is handed) or, after a bare yield, goes on after one
                                    # turn of the loop: as if it had been awaited throughout.
                                    if signal is None:
                                        await asyncio.sleep(0)
                                    else:
                                        signal._asyncio_future_blocking = False  # type: ignore[attr-defined]
                                    item = await peek
                                else:
                                    item = await _drive(peek, signal)
                                peek = signal = None
                            elif ready is None:
                                item = await anext(iterator)
                            else:
                                peek = anext(iterator).__await__()
                                try:
                                    signal = peek.send(None)
                                except StopIteration as stop:
                                    item = stop.value
                                    peek = None
                                else:
                                    continue
                            if self._stopping:
                                raise _StopStream
                            if prefix is not None and type(item) is str:
                                data, events = prefix + _json_encode(item) + suffix, 1
                            else:
                                data, events = encoder.encode(item)
                            # An idle stream's frame holds neither the last item nor its bytes.
                            del item
                            if data:
                                if ready is None:
                                    ready, ready_events, ready_bytes = [data], events, len(data)
                                else:
                                    ready.append(data)
                                    ready_events += events
                                    ready_bytes += len(data)
                                del data
                    except StopAsyncIteration:
                        peek = None  # the source ended
                    tail = encoder.end()
                    if ready is not None:
                        # What was ready leaves with the end, in the stream's last send.
                        tail = (b"".join(ready) + tail[0], ready_events + tail[1])
                        ready = None
            except asyncio.CancelledError:
                if not self._own_cancel():
                    raise
            except _StopStream:
                pass
            except Exception as exc:
                if self._stopping:
                    logger.debug("the stream source raised while stopping", exc_info=True)
                elif encoder.finished:
                    logger.exception("stream source raised after its done chunk")
                    tail = (b"", 0)
                else:
                    logger.exception("stream source raised; ending the stream with an error")
                    self._source_error = exc
                    tail = encoder.fail(exc)
                    abort = tail is None
                    if ready is not None:
                        # What the source had ready before it failed leaves first.
                        data = b"".join(ready)
                        if tail is None:
                            self._get_outbox().append(data, ready_events)
                        else:
                            tail = (data + tail[0], ready_events + tail[1])
            finally:
                self._interruptible = False
                if self._cancelled_me:
                    # Our cancel was swallowed by the source (it went on after it): take it back.
                    self._cancelled_me = False
                    me.uncancel()  # type: ignore[union-attr]  # run() runs in a task
            if (tail is not None or abort) and not self._stopping:
                await self._end_body(tail)
        except asyncio.CancelledError:
            external_cancel = True
            self._decide("cancelled")  # the response task itself was cancelled
            raise
        finally:
            try:
                if peek is not None:
                    await _abandon(peek)
                if iterator is not None:
                    await _aclose(iterator)
                if self._slow_close is not None:
                    self._slow_close.cancel()  # the source has closed
                if self._sender is not None and not external_cancel:
                    # The shutdown notice (bounded by the grace), or what a failed source left
                    # queued.
                    await _wait_for_task(self._sender)
            finally:
                await self._finish(began)
        if self._raise is not None:
            raise self._raise
        if background is not None:
            await background()

    async def _finish(self, began: float) -> None:
        """Release what the stream holds; call ``on_disconnect`` and ``on_close``."""
        settings = self._settings
        self._stopping = self._ended = True
        _shutdowns_of(self._loop).discard(settings.shutdown_monitor, self)
        self._timers.cancel(self)
        for handle in (self._grace_handle, self._slow_close):
            if handle is not None:
                handle.cancel()  # (again, if the source's close was cut short)
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
        if self._sender is not None:
            self._sender.cancel()
        if self._disconnected and settings.on_disconnect is not None:
            await call_callback("on_disconnect", settings.on_disconnect)
        if settings.on_close is not None:
            await call_callback("on_close", settings.on_close, self._outcome(began))

    def _outcome(self, began: float) -> StreamOutcome:
        status = self._status
        error = self._error
        if status is None:
            status = "completed"
            if self._source_error is not None:
                status, error = "error", self._source_error
        return StreamOutcome(
            status=status,
            events_sent=self._events_sent,
            duration_seconds=time.monotonic() - began,
            error=error,
        )

    def _decide(
        self,
        status: OutcomeStatus,
        *,
        error: BaseException | None = None,
        raise_: BaseException | None = None,
        disconnected: bool = False,
    ) -> bool:
        """Record the outcome unless one is decided already; the source must stop now.

        A disconnect still overrides a shutdown whose notice has not gone out.
        """
        self._stopping = True
        current = self._status
        if current is not None and not (
            current == "shutdown" and disconnected and not self._body_done
        ):
            return False
        self._status, self._error, self._raise = status, error, raise_
        self._disconnected = disconnected
        return True

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return self._timers._loop  # no slot of its own: every byte counts for an idle stream

    # ---- the source, in the response task

    async def _emit(self, item: _T) -> None:
        """The ``emit`` an emitter source is given."""
        encoder = self._encoder
        if encoder.finished:
            raise StreamClosedError(type(item).__name__)
        if self._stopping:
            raise _StopStream
        data, events = encoder.encode(item)
        if data:
            if not self._settings.coalesce and self._sender is None:
                await self._send_direct(data, events, more_body=True)
                if self._stopping:
                    raise _StopStream
                self._direct_sends += 1
                if self._direct_sends >= DIRECT_SENDS_BEFORE_YIELD:
                    self._direct_sends = 0
                    await asyncio.sleep(0)  # as in _loop_over
            else:
                await self._queue(data, events)

    async def _end_body(self, tail: tuple[bytes, int] | None) -> None:
        """The source ended (``tail``: the format's end) or failed (``None``: abort the body)."""
        self._ended = True  # a shutdown from now on only bounds how long this may take
        sender = self._sender
        if tail is not None and sender is None:
            self._interruptible = True
            try:
                await self._send_direct(*tail, more_body=False)
                self._body_done = True
            except asyncio.CancelledError:
                if not self._own_cancel():
                    raise
            except _StopStream:
                pass
            finally:
                self._interruptible = False
            return
        self._get_outbox().finish(tail)
        if tail is None:
            if self._outbox:
                await _wait_for_task(self._ensure_sender())
            # Chunked formats cannot report an error in-band: what was produced has been
            # sent; abort now, so the body is visibly incomplete.
            self._decide(
                "error",
                error=self._source_error,
                raise_=StreamAbortedError("the stream's source failed; see the log"),
            )
            return
        await _wait_for_task(self._ensure_sender())

    def _own_cancel(self) -> bool:
        """After a CancelledError in the response task: whether it was only ours (taken back)."""
        if not self._cancelled_me:
            return False
        self._cancelled_me = False
        return self._me.uncancel() == 0  # type: ignore[union-attr]  # set by run()

    def _interrupt(self, *, spare_send: bool = False) -> None:
        """Stop the response task where it waits (in the source, a put, or its own send unless
        ``spare_send``); it then closes the source."""
        me = self._me
        if not self._interruptible or self._cancelled_me or me is None:
            return
        if spare_send and self._sending and self._send_task is me:
            return  # it stops when this send is done
        self._cancelled_me = True
        me.cancel()
        if self._slow_close is None:
            self._slow_close = self._loop.call_later(SOURCE_CLOSE_WARNING_SECONDS, _warn_slow_close)

    # ---- sending

    async def _send_direct(self, data: bytes, events: int, *, more_body: bool) -> None:
        """Send from the response task (no other send is in flight or queued)."""
        await self._send_as(self._me, data, events, more_body=more_body)

    async def _send_as(
        self, task: asyncio.Task[Any] | None, data: bytes, events: int, *, more_body: bool
    ) -> None:
        """One ASGI send by ``task`` (the response task or the sender), timed for the timers.

        The response task's loop inlines the same steps (its hot path).

        Raises:
            _StopStream: the send failed; the outcome is decided.
        """
        self._begin_send(task)
        try:
            await self._asgi_send(
                {"type": "http.response.body", "body": data, "more_body": more_body}
            )
        except BaseException as exc:
            self._send_failed(exc, task)
        finally:
            self._sending = False
            if self._idle_waiter is not None:
                self._wake_idle()  # the sender waits for a send of the response task's
        self._events_sent += events

    def _begin_send(self, task: asyncio.Task[Any] | None) -> None:
        # One timestamp per send is all the heartbeat and the send timeout cost per event: the
        # stream's deadline in the loop's shared timers compares it with the clock when it comes.
        self._sent_at = started = self._loop.time()
        timeout = self._settings.send_timeout_seconds
        if timeout is not None:
            at = self._timer_at
            if at is None or at > started + timeout:
                self._timers.schedule(self, started + timeout)
        self._send_task = task
        self._sending = True

    def _send_failed(self, exc: BaseException, task: asyncio.Task[Any] | None) -> None:
        """A send of ``task``'s raised ``exc``: decide the outcome and raise ``_StopStream``, or
        re-raise ``exc`` (a cancel: whoever cancelled has decided already)."""
        if isinstance(exc, OSError):
            self._decide("cancelled", disconnected=True)  # ASGI 2.4: the client has gone
        elif isinstance(exc, Exception):
            self._decide("error", error=exc, raise_=exc)
        else:
            raise exc
        if task is not self._me:
            self._interrupt()
        raise _StopStream from None

    def _wake_idle(self) -> None:
        idle_waiter = self._idle_waiter
        if idle_waiter is not None and not idle_waiter.done():
            idle_waiter.set_result(None)

    def _get_outbox(self) -> _Outbox:
        outbox = self._outbox
        if outbox is None:
            outbox = self._outbox = _Outbox(self._settings.max_buffered_events)
        return outbox

    async def _queue(self, data: bytes, events: int) -> None:
        """Queue an item for the sender task, waiting while the outbox is full."""
        coalesce = self._settings.coalesce
        while True:
            # Looked up each time: a sender that found it empty has let it go meanwhile.
            outbox = self._get_outbox()
            if outbox.finished:
                raise _StopStream  # the shutdown notice is queued: nothing may follow it
            if not outbox.full(coalesce=coalesce, sending=self._sending):
                break
            await outbox.room(self._loop)
            if self._stopping:
                raise _StopStream
        outbox.append(data, events)
        self._ensure_sender()

    def _ensure_sender(self) -> asyncio.Task[None]:
        sender = self._sender
        if sender is None:
            sender = self._sender = self._loop.create_task(self._drain())
        return sender

    async def _drain(self) -> None:
        """The sender task: send what the outbox holds (joined when coalescing), then end."""
        me = asyncio.current_task()
        outbox: _Outbox = self._outbox  # type: ignore[assignment]  # created before this task
        coalesce = self._settings.coalesce
        try:
            while True:
                if self._sending:
                    # The response task's own send is in flight: sends must not overlap.
                    waiter = self._idle_waiter = self._loop.create_future()
                    try:
                        await waiter
                    finally:
                        self._idle_waiter = None
                    continue
                if not outbox:
                    if outbox.ends_body and not self._body_done:
                        data, events, last = b"", 0, True
                    else:
                        if not outbox.finished and self._outbox is outbox:
                            # Nothing waits: an idle stream holds no buffer (a deque
                            # allocates a block of 64 slots at once).
                            self._outbox = None
                        return
                else:
                    data, events = outbox.take(coalesce=coalesce)
                    last = outbox.ends_body and not outbox
                await self._send_as(me, data, events, more_body=not last)
                if last:
                    self._body_done = True
                    return
        except _StopStream:
            return
        finally:
            if self._sender is me:
                self._sender = None
            if self._send_task is me:
                self._send_task = None  # a finished task holds its coroutine

    # ---- the watcher, the timers, the shutdown: callbacks on the loop

    def _watch(self) -> None:
        """Await ``receive()`` in a bare task; the run itself (:meth:`__call__`) reads what it
        returns."""
        # One copy of the caller's context serves the task and its done-callback (each would
        # copy it otherwise): receive() wrappers still see the request's context variables.
        context = contextvars.copy_context()
        try:
            awaitable = self._receive()
            watcher: asyncio.Future[Message]
            if asyncio.iscoroutine(awaitable):
                # One shared name: the default builds a string per task.
                watcher = self._loop.create_task(awaitable, name=_WATCHER_NAME, context=context)
            else:
                watcher = asyncio.ensure_future(awaitable)
            self._watcher = watcher
        except Exception:
            logger.debug(
                "receive() failed; disconnects are noticed at the next send", exc_info=True
            )
            return
        # The run itself is the callback (see __call__): no bound-method object per stream.
        watcher.add_done_callback(self, context=context)

    def __call__(self, watcher: asyncio.Future[Message]) -> None:
        """The watcher's done-callback: read what ``receive()`` returned."""
        if watcher.cancelled() or watcher is not self._watcher:
            return
        exc = watcher.exception()
        if exc is not None:
            logger.debug("receive() failed; disconnects are noticed at the next send", exc_info=exc)
            return
        if watcher.result().get("type") == "http.disconnect":
            self._client_left()
        else:
            self._watch()  # http.request: a body nobody read (e.g. a bare ASGI app)

    def _client_left(self) -> None:
        if self._body_done or not self._decide("cancelled", disconnected=True):
            return
        if self._sender is not None:
            self._sender.cancel()
        self._interrupt()

    def _on_timer(self, now: float) -> None:
        """The stream's deadline (heartbeat or send timeout) came; re-armed for the next one.

        A send in progress that began ``send_timeout_seconds`` ago drops the client. With no
        send in progress, a heartbeat is due when nothing was sent for ``heartbeat_seconds``.
        With no heartbeat and no send in progress, nothing is armed until the next send.
        """
        settings = self._settings
        beat = settings.beat_seconds
        sent_at = self._sent_at
        due = math.inf
        if self._sending:
            timeout = settings.send_timeout_seconds
            if timeout is not None:
                deadline = sent_at + timeout
                if now >= deadline:
                    self._send_timed_out(timeout)
                    return
                due = deadline
            if beat is not None:
                next_beat = sent_at + beat
                due = min(due, next_beat if next_beat > now else now + beat)
        elif beat is not None:
            due = sent_at + beat
            if now >= due:
                if not self._stopping and self._sender is None:
                    self._get_outbox().append(settings.heartbeat, 0)  # type: ignore[arg-type]
                    self._ensure_sender()
                due = now + beat
        if due != math.inf:
            self._timers.schedule(self, due)

    def _send_timed_out(self, seconds: float) -> None:
        message = f"the client read nothing for {seconds} s (send_timeout_seconds)"
        if not self._decide("timeout", error=TimeoutError(message)):
            return
        logger.info("dropping a client that read nothing for %s s", seconds)
        task = self._send_task
        if task is not None and task is not self._me:
            task.cancel()
        self._interrupt()

    def _request_shutdown(self) -> None:
        if self._body_done or self._grace_handle is not None:
            return
        self._grace_handle = self._loop.call_later(
            self._settings.shutdown_grace_seconds, self._grace_expired
        )
        if self._stopping or self._ended:
            return  # the stream is ending already; the grace bounds how long it may take
        self._decide("shutdown")
        self._get_outbox().finish(self._encoder.shutdown())
        self._ensure_sender()
        # A send in flight is not cut short: the source stops when it is done.
        self._interrupt(spare_send=True)

    def _grace_expired(self) -> None:
        if self._body_done:
            return
        logger.info(
            "a stream did not end within shutdown_grace_seconds=%s",
            self._settings.shutdown_grace_seconds,
        )
        self._decide("shutdown")  # (keeps an outcome decided earlier; stops the source)
        if self._sender is not None:
            self._sender.cancel()
        self._interrupt()
