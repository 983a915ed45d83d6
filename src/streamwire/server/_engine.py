"""The stream lifecycle shared by every streaming response (private).

One stream is four cooperating parts (``docs/architecture.md`` draws them):

* the **producer** task runs the source (an async iterable, a sync iterable in a thread, or an
  emitter) and sends each encoded item itself when the sender is idle (not coalescing), or
  else puts it into the :class:`_Outbox`, waiting while it is full;
* the **sender**, which is the response's own task, takes items out and hands each to ASGI
  ``send`` at once (one send per item, or the items already waiting when coalescing), and a
  heartbeat when the stream's deadline in the loop's shared :class:`_Timers` finds nothing sent
  for ``heartbeat_seconds``; the same deadline drops the client when a send takes longer than
  ``send_timeout_seconds``;
* the **watcher** task reads ``receive()`` until ``http.disconnect``, so a client that leaves is
  noticed while the source still waits on the model, whatever ASGI spec version the server
  reports;
* the **shutdown** callback, from a :class:`~streamwire.server.shutdown.ShutdownMonitor`, ends
  the stream with the format's shutdown notice within ``shutdown_grace_seconds``.

The watcher, the shutdown callback and a failed send of the producer's interrupt the sender,
which then settles the outcome, cancels the rest, closes the source (``aclose()`` for async
generators, ``close()`` in a thread for sync ones), and calls ``on_disconnect`` / ``on_close``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import math
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
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
# 5 s: how long the response waits for a cancelled source to finish its cleanup before leaving
# it to finish on its own (and logging that it is slow).
SOURCE_CLOSE_TIMEOUT_SECONDS = 5.0

_background: set[asyncio.Task[None]] = set()


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
# The bounded buffer between producer and sender.

_TICK = object()  # the heartbeat interval passed with nothing to send
_END = object()  # nothing more will come
_DECIDE = object()  # the sender must hand over to the supervisor (see StreamRun._supervise)
_DONE = object()  # the sender sent the stream's last bytes

# 64 KiB: while the sender is not blocked in a send, a coalescing stream lets the producer run
# ahead of max_buffered_events up to this many bytes, so one send carries a big batch (about a
# socket buffer's worth, uvicorn's flow-control high-water mark); a stalled client still holds
# the producer at max_buffered_events.
COALESCE_MAX_BYTES = 64 * 1024


class _Outbox:
    """A bounded FIFO of encoded items; the producer waits while it is full.

    ``finish(tail)`` closes it for good with the stream's last bytes; the sender gets every
    item, then the tail, then ``_END``. Its deques are created on first use: an idle stream
    holds none.
    """

    __slots__ = (
        "_bytes",
        "_coalesce",
        "_getter",
        "_items",
        "_loop",
        "_maxsize",
        "_putters",
        "finished",
        "idle",
        "interrupted",
        "sending",
    )

    def __init__(self, maxsize: int, *, coalesce: bool, loop: asyncio.AbstractEventLoop) -> None:
        self._items: collections.deque[tuple[bytes, int]] | None = None
        self._bytes = 0
        self._maxsize = maxsize
        self._coalesce = coalesce
        self._loop = loop
        self._getter: asyncio.Future[None] | None = None
        self._putters: collections.deque[asyncio.Future[None]] | None = None
        self.finished = False
        #: True while the sender is inside an ASGI ``send`` (set by :class:`StreamRun`).
        self.sending = False
        #: True while the sender waits on :meth:`wait` for an item and nothing woke it yet: it
        #: holds no item and sends nothing, so the producer may send an item itself.
        self.idle = False
        #: Set by :meth:`interrupt`: something the sender must look at came (a disconnect, a
        #: shutdown, a failed send of the producer's); cleared by the sender.
        self.interrupted = False

    def __len__(self) -> int:
        items = self._items
        return len(items) if items is not None else 0

    def _wake_getter(self) -> None:
        self.idle = False
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def _wake_putter(self) -> None:
        putters = self._putters
        while putters:
            putter = putters.popleft()
            if not putter.done():
                putter.set_result(None)
                return

    def _full(self) -> bool:
        items = self._items
        if items is None or len(items) < self._maxsize:
            return False
        # Coalescing: items added while the sender is about to run leave in its next send,
        # so only a send in progress (a slow client) or the byte cap holds the producer.
        return not self._coalesce or self.sending or self._bytes >= COALESCE_MAX_BYTES

    async def put(self, data: bytes, events: int) -> None:
        while not self.finished and self._full():
            putter = self._loop.create_future()
            if self._putters is None:
                self._putters = collections.deque()
            self._putters.append(putter)
            try:
                await putter
            finally:
                with contextlib.suppress(ValueError):
                    self._putters.remove(putter)
        if self.finished:
            # The stream was ended (a shutdown) while this item waited: it can never go out.
            raise StreamClosedError("item")
        items = self._items
        if items is None:
            items = self._items = collections.deque()
        items.append((data, events))
        self._bytes += len(data)
        self.idle = False
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def finish(self, tail: tuple[bytes, int] | None) -> bool:
        """Close the outbox with ``tail`` as the last bytes; ``False`` if already finished."""
        if self.finished:
            return False
        self.finished = True
        if tail is not None and tail[0]:
            if self._items is None:
                self._items = collections.deque()
            self._items.append(tail)
            self._bytes += len(tail[0])
        self._wake_getter()
        putters = self._putters
        while putters:
            putter = putters.popleft()
            if not putter.done():
                putter.set_result(None)
        return True

    def interrupt(self) -> None:
        """Make the sender's next :meth:`poll` return ``_DECIDE`` (waking it if it waits)."""
        self.interrupted = True
        self._wake_getter()

    def tick(self) -> None:
        """Wake a waiting sender with nothing to send: its :meth:`poll` then gives ``_TICK``."""
        if not self._items and not self.finished:
            self._wake_getter()

    def take(self) -> tuple[bytes, int]:
        """Remove the oldest item (the caller knows there is one) and let a producer go on."""
        item = self._items.popleft()  # type: ignore[union-attr]  # the caller checked
        self._bytes -= len(item[0])
        if self._putters:
            self._wake_putter()
        return item

    def take_batch(self, data: bytes, events: int) -> tuple[bytes, int]:
        """``data`` joined with the items already waiting, up to ``COALESCE_MAX_BYTES``."""
        items = self._items
        if not items:
            return data, events
        parts = [data]
        size = len(data)
        taken = 0
        while items and size < COALESCE_MAX_BYTES:
            more, count = items.popleft()
            parts.append(more)
            size += len(more)
            taken += len(more)
            events += count
        self._bytes -= taken
        if self._putters:
            self._wake_putter()
        return b"".join(parts), events

    def poll(self, woken: bool) -> tuple[bytes, int] | object | None:
        """What the sender does next: ``_DECIDE`` after :meth:`interrupt`; else the next item;
        ``_END``; ``_TICK`` if ``woken`` (by :meth:`tick`) with none; ``None``: wait on
        :meth:`wait`'s future. (No coroutine: an idle stream's sender holds no frame for it.)"""
        if self.interrupted:
            return _DECIDE
        if self._items:
            return self.take()
        if self.finished:
            return _END
        return _TICK if woken else None

    def wait(self) -> asyncio.Future[None]:
        """The future the sender awaits until something arrives; call :meth:`waited` after."""
        getter = self._getter = self._loop.create_future()
        self.idle = True
        return getter

    def waited(self) -> None:
        """The sender stopped waiting (woken or cancelled)."""
        self._getter = None
        self.idle = False


# --------------------------------------------------------------------------------------------
# Shared timers: the heartbeat and send-timeout deadlines of every stream on one event loop.

# 1 s: the coarsest a stream's deadlines are rounded up to (a heartbeat or a send timeout fires
# at most this late); intervals under 8 s are rounded to an eighth of themselves instead.
TIMER_RESOLUTION_SECONDS = 1.0


class _Timers:
    """The deadlines of every stream on one event loop, grouped into shared loop timers.

    A deadline is rounded up to the stream's resolution; streams whose deadlines round to the
    same time share one ``TimerHandle`` (a *bucket*), so an open stream costs one set entry here
    instead of a timer of its own. A stream is in at most one bucket: its earliest deadline.
    """

    __slots__ = ("__weakref__", "_buckets", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[float, tuple[asyncio.TimerHandle, set[StreamRun[Any]]]] = {}

    def schedule(self, run: StreamRun[Any], when: float) -> None:
        """Call ``run._on_timer`` at ``when`` (rounded up), unless it is due earlier already."""
        resolution = run._resolution
        slot = math.ceil(when / resolution) * resolution
        current = run._timer_at
        if current is not None:
            if current <= slot:
                return
            self.cancel(run)
        bucket = self._buckets.get(slot)
        if bucket is None:
            members: set[StreamRun[Any]] = set()
            self._buckets[slot] = (self._loop.call_at(slot, self._fire, slot), members)
        else:
            members = bucket[1]
        members.add(run)
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
            members.discard(run)
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
# One stream.

# 256: the producer's direct sends in a row after which it yields to the event loop once. Sends
# that never block (a client that keeps up, or one that left under ASGI 2.3, where sends are
# dropped) would otherwise let a source that never waits hold the loop for good, and the watcher
# would never see the disconnect. One yield per 256 events costs well under 1% per event.
DIRECT_SENDS_BEFORE_YIELD = 256


class _SendTimeout(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"the client read nothing for {seconds} s (send_timeout_seconds)")


class _ClientGone(Exception):
    """A send failed because the client has gone (ASGI 2.4 servers raise OSError)."""


class _Interrupted(Exception):
    """The response's own send was cancelled because the client left (the watcher saw it)."""


class _StopStream(BaseException):
    """Ends the producer after its own send failed (the supervisor has the failure); a
    BaseException so that neither the source's error handling nor an emitter's
    ``except Exception`` takes it for a source error."""


class _Aborted(Exception):
    """The source failed and the format cannot say so in-band: abort the body."""


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


class StreamRun(Generic[_T]):
    """Runs one stream on one ASGI connection. Used once."""

    __slots__ = (
        "_abort",
        "_asgi_send",
        "_direct",
        "_direct_sends",
        "_disconnected",
        "_encoder",
        "_error",
        "_events_sent",
        "_heartbeat_seconds",
        "_idle_waiter",
        "_interrupting",
        "_loop",
        "_me",
        "_outbox",
        "_producer_task",
        "_raise",
        "_resolution",
        "_send_failure",
        "_send_task",
        "_send_timeout",
        "_sent_at",
        "_settings",
        "_shutdown",
        "_shutdown_requested",
        "_source",
        "_source_error",
        "_status",
        "_stop_after_send",
        "_supervising",
        "_timed_out",
        "_timer_at",
        "_timers",
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
        self._source_error: Exception | None = None
        self._abort = False
        self._shutdown = False
        self._send_timeout = settings.send_timeout_seconds
        # The heartbeat and the send timeout share one deadline per stream in the loop's
        # _Timers (rounded up to _resolution); the loop-clock time the last send began; and
        # the task whose send the timeout cancels.
        self._heartbeat_seconds = (
            settings.heartbeat_seconds if settings.heartbeat is not None else None
        )
        intervals = [
            seconds
            for seconds in (self._heartbeat_seconds, self._send_timeout)
            if seconds is not None
        ]
        self._resolution = min([TIMER_RESOLUTION_SECONDS, *(s / 8 for s in intervals)])
        self._timer_at: float | None = None
        self._sent_at = 0.0
        self._timed_out = False
        self._send_task: asyncio.Task[Any] | None = None
        # The producer sends an item itself when the sender is idle (no hop between tasks);
        # a send of its that fails is kept here for the supervisor.
        self._direct = not settings.coalesce
        self._direct_sends = 0
        self._producer_task: asyncio.Task[None] | None = None
        self._asgi_send: Send | None = None
        self._send_failure: Exception | None = None
        self._stop_after_send = False
        self._idle_waiter: asyncio.Future[None] | None = None
        # The response's own task, which is the sender; whether it runs the stream (so a
        # disconnect may interrupt its send); whether it is being interrupted.
        self._me: asyncio.Task[Any] | None = None
        self._supervising = False
        self._interrupting = False

    # ---- producer

    async def _emit(self, item: _T) -> None:
        encoder = self._encoder
        if encoder.finished:
            raise StreamClosedError(type(item).__name__)
        if self._send_failure is not None:
            raise _StopStream
        data, events = encoder.encode(item)
        if data:
            outbox = self._outbox
            # The sender waits for an item (so it holds none) and no send is in flight: send
            # from here, without a hop to the sender task.
            if self._direct and outbox.idle and not outbox.sending:
                await self._send_now(data, events)
            else:
                await outbox.put(data, events)

    async def _send_now(self, data: bytes, events: int) -> None:
        """Send an item from the producer task (the sender is idle and nothing is queued).

        The hot path of a stream that is not coalesced: it does what :meth:`_send` does, minus
        the wait for another send (there is none). :meth:`_produce` inlines the same steps for
        an iterable source (no coroutine per event).
        """
        outbox = self._outbox
        self._sent_at = started = self._loop.time()
        timeout = self._send_timeout
        if timeout is not None:
            at = self._timer_at
            if at is None or at > started + timeout:
                self._timers.schedule(self, started + timeout)
        self._send_task = self._producer_task
        outbox.sending = True
        try:
            await self._asgi_send(  # type: ignore[misc]  # set before the producer starts
                {"type": "http.response.body", "body": data, "more_body": True}
            )
        except BaseException as exc:
            self._direct_send_failed(exc)
        finally:
            outbox.sending = False
            if self._idle_waiter is not None:
                self._wake_idle()
        self._events_sent += events
        self._direct_sends += 1
        if self._direct_sends >= DIRECT_SENDS_BEFORE_YIELD or self._stop_after_send:
            await self._after_direct()

    def _direct_send_failed(self, exc: BaseException) -> None:
        """A direct send raised ``exc``: re-raise a cancel that is not the send timeout's;
        otherwise keep the failure for the supervisor and stop the producer."""
        failure: BaseException
        if isinstance(exc, asyncio.CancelledError):
            task = self._send_task
            if not (self._timed_out and task is not None and task.uncancel() == 0):
                raise exc
            failure = _SendTimeout(self._send_timeout or 0.0)
        elif isinstance(exc, OSError):
            failure = _ClientGone()  # ASGI 2.4: a send to a client that has gone
        elif isinstance(exc, Exception):
            failure = exc
        else:
            raise exc
        self._send_failure = failure
        self._decide()
        raise _StopStream from None

    def _wake_idle(self) -> None:
        idle_waiter = self._idle_waiter
        if idle_waiter is not None and not idle_waiter.done():
            idle_waiter.set_result(None)

    async def _after_direct(self) -> None:
        """Every ``DIRECT_SENDS_BEFORE_YIELD`` direct sends, or when a shutdown came during one."""
        if self._stop_after_send:
            # A shutdown came while this send was in flight: stop here, as a cancel would
            # have, without interrupting the send.
            raise asyncio.CancelledError
        # A send that does not block (a fast client, or one that has gone under ASGI 2.3, where
        # sends are dropped) never yields to the loop; nor may a fast source. Yield now and then
        # so the watcher (and every other stream) still runs.
        self._direct_sends = 0
        await asyncio.sleep(0)

    async def _produce(self) -> None:
        outbox = self._outbox
        encoder = self._encoder
        source = self._source
        iterator: AsyncIterator[_T] | None = None
        try:
            if is_emitter(source):
                await source(self._emit)  # type: ignore[operator]  # is_emitter: a callable
            else:
                if hasattr(source, "__aiter__"):
                    iterator = aiter(source)  # type: ignore[arg-type]  # has __aiter__
                else:
                    iterator = _ThreadIterator(source)  # type: ignore[arg-type]  # an iterable
                direct = self._direct
                encode = encoder.encode
                # An encoder may say how it frames a str item (JSON-encoded text between two
                # fixed byte strings); the loop then builds those bytes without a call.
                text_frame: tuple[bytes, bytes] | None = getattr(encoder, "text_frame", None)
                prefix, suffix = text_frame if text_frame is not None else (b"", b"")
                json_encode = msgspec.json.encode
                loop_time = self._loop.time
                # With a heartbeat no longer than the send timeout, the stream's deadline is
                # always armed and never later than a send's timeout: no check per send.
                timeout = self._send_timeout
                heartbeat = self._heartbeat_seconds
                if timeout is not None and heartbeat is not None and heartbeat <= timeout:
                    timeout = None
                me = self._producer_task
                asgi_send: Send = self._asgi_send  # type: ignore[assignment]  # set by run()
                in_a_row = 0
                async for item in iterator:
                    if text_frame is not None and type(item) is str:
                        data, events = prefix + json_encode(item) + suffix, 1
                    else:
                        data, events = encode(item)
                    if data:
                        # As in _emit: send from here when the sender is idle (the steps of
                        # _send_now, inlined: this is the hot path). Only the producer sends
                        # while the sender is idle, so no send is in flight.
                        if direct and outbox.idle:
                            self._sent_at = started = loop_time()
                            if timeout is not None:
                                at = self._timer_at
                                if at is None or at > started + timeout:
                                    self._timers.schedule(self, started + timeout)
                            self._send_task = me
                            outbox.sending = True
                            try:
                                await asgi_send(
                                    {"type": "http.response.body", "body": data, "more_body": True}
                                )
                            except BaseException as exc:
                                self._direct_send_failed(exc)
                            finally:
                                outbox.sending = False
                                if self._idle_waiter is not None:
                                    self._wake_idle()
                            self._events_sent += events
                            in_a_row += 1
                            if in_a_row >= DIRECT_SENDS_BEFORE_YIELD or self._stop_after_send:
                                in_a_row = 0
                                await self._after_direct()
                        else:
                            await outbox.put(data, events)
                    if encoder.finished:
                        break
            outbox.finish(encoder.end())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if encoder.finished:
                logger.exception("stream source raised after its done chunk")
                outbox.finish(None)
                return
            logger.exception("stream source raised; ending the stream with an error")
            self._source_error = exc
            tail = encoder.fail(exc)
            self._abort = tail is None
            outbox.finish(tail)
        finally:
            if iterator is not None:
                await _aclose(iterator)

    # ---- sender

    async def _send_loop(self, send: Send) -> object:
        """The sender: send what the outbox gives until the stream's last bytes (``_DONE``) or
        until :meth:`_Outbox.interrupt` hands over to the supervisor (``_DECIDE``).

        It runs in the response's own task (no task of its own).

        Raises:
            _SendTimeout, _ClientGone, _Interrupted: a send timed out, failed, or was cut
                short by a disconnect.
            _Aborted: the source failed and the format cannot say so in-band.
            Exception: whatever else ASGI ``send`` raised.
        """
        me = self._me
        outbox = self._outbox
        heartbeat = self._settings.heartbeat
        coalesce = self._settings.coalesce
        woken = False
        while True:
            got = outbox.poll(woken)
            if got is None:
                try:
                    await outbox.wait()
                finally:
                    outbox.waited()
                woken = True
                continue
            woken = False
            if got is _DECIDE:
                return _DECIDE
            if got is _END:
                if self._abort:
                    raise _Aborted
                await self._send(send, b"", more_body=False, task=me)
                return _DONE
            if got is _TICK:
                if heartbeat is not None:
                    await self._send(send, heartbeat, more_body=True, task=me)
                continue
            data: bytes
            events: int
            data, events = got  # type: ignore[misc]  # no sentinel: an item
            if coalesce:
                data, events = outbox.take_batch(data, events)
            last = outbox.finished and not outbox
            if last and self._abort:
                # Chunked formats cannot report an error in-band: send what was produced and
                # then abort, so the body is visibly incomplete.
                await self._send(send, data, more_body=True, task=me)
                self._events_sent += events
                raise _Aborted
            await self._send(send, data, more_body=not last, task=me)
            self._events_sent += events
            if last:
                return _DONE

    async def _send(
        self, send: Send, body: bytes, *, more_body: bool, task: asyncio.Task[Any] | None
    ) -> None:
        message: Message = {"type": "http.response.body", "body": body, "more_body": more_body}
        outbox = self._outbox
        if outbox.sending:
            # The producer's own send is in flight (only at shutdown or after a tick): ASGI
            # sends of one response must not overlap.
            waiter = self._idle_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._idle_waiter = None
        self._send_task = task
        # One timestamp per send is all the heartbeat and the send timeout cost per event: the
        # stream's deadline in the loop's shared timers compares it with the clock when it comes.
        self._sent_at = started = self._loop.time()
        timeout = self._send_timeout
        if timeout is not None:
            at = self._timer_at
            if at is None or at > started + timeout:
                self._timers.schedule(self, started + timeout)
        outbox.sending = True
        try:
            await send(message)
        except asyncio.CancelledError:
            task = self._send_task
            if self._timed_out and task is not None and task.uncancel() == 0:
                raise _SendTimeout(self._send_timeout or 0.0) from None
            if self._interrupting and task is not None:
                self._interrupting = False
                if task.uncancel() == 0:
                    raise _Interrupted from None
            raise
        except OSError as exc:
            # ASGI 2.4: a send to a client that has gone raises OSError.
            raise _ClientGone from exc
        else:
            if self._interrupting and task is not None:
                # The send swallowed the disconnect's cancel: undo it, and let the supervisor
                # (already interrupted through the outbox) see the disconnect.
                self._interrupting = False
                task.uncancel()
        finally:
            outbox.sending = False
            idle_waiter = self._idle_waiter
            if idle_waiter is not None and not idle_waiter.done():
                idle_waiter.set_result(None)

    def _on_timer(self, now: float) -> None:
        """The stream's deadline (heartbeat or send timeout) came; re-armed for the next one.

        A send in progress that began ``send_timeout_seconds`` ago is cancelled (the sender
        reports the timeout). With no send in progress, a heartbeat is due when nothing was sent
        for ``heartbeat_seconds``: the sender is woken with a tick. With no heartbeat and no
        send in progress, nothing is armed until the next send.
        """
        heartbeat = self._heartbeat_seconds
        sent_at = self._sent_at
        due = math.inf
        outbox = self._outbox
        if outbox.sending:
            timeout = self._send_timeout
            if timeout is not None:
                deadline = sent_at + timeout
                if now >= deadline:
                    task = self._send_task
                    if task is not None and not task.done():
                        self._timed_out = True
                        task.cancel()
                    return
                due = deadline
            if heartbeat is not None:
                beat = sent_at + heartbeat
                due = min(due, beat if beat > now else now + heartbeat)
        elif heartbeat is not None:
            due = sent_at + heartbeat
            if now >= due:
                outbox.tick()
                due = now + heartbeat
        if due != math.inf:
            self._timers.schedule(self, due)

    # ---- watcher

    async def _watch(self, receive: Receive) -> bool:
        """Read ``receive()`` until ``http.disconnect`` (True); False if receive() breaks."""
        try:
            while True:
                message = await receive()
                if message.get("type") == "http.disconnect":
                    return True
                # http.request: a body nobody read (e.g. a bare ASGI app); discard it.
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.debug(
                "receive() failed; disconnects are noticed at the next send", exc_info=True
            )
            return False

    # ---- the whole

    async def run(self, receive: Receive, send: Send, start: Message) -> StreamOutcome:
        """Send ``start`` and the stream; return how it ended (hooks already called).

        Raises:
            StreamAbortedError: a chunked stream's source failed; the body is left incomplete.
            Exception: whatever ASGI ``send`` raised other than a disconnect (after the hooks).
        """
        settings = self._settings
        began = time.monotonic()
        self._status: OutcomeStatus = "completed"
        self._error: BaseException | None = None
        self._disconnected = False
        self._raise: BaseException | None = None
        loop = self._loop = asyncio.get_running_loop()
        self._outbox = _Outbox(settings.max_buffered_events, coalesce=settings.coalesce, loop=loop)
        self._sent_at = loop.time()
        self._timers = _timers_of(loop)
        self._asgi_send = send
        self._shutdown_requested = False
        self._me = asyncio.current_task()
        tasks: list[asyncio.Task[Any]] = []
        monitor = settings.shutdown_monitor
        monitor.install_signal_handlers()
        subscription = monitor.register(self._request_shutdown)
        try:
            try:
                await send(start)
                opening = self._encoder.opening()
                if opening:
                    await self._send(send, opening, more_body=True, task=self._me)
            except (_ClientGone, OSError):
                self._status, self._disconnected = "cancelled", True
            else:
                if self._heartbeat_seconds is not None:
                    self._timers.schedule(self, self._sent_at + self._heartbeat_seconds)
                # This task is the sender: it is waiting for an item by the time the source
                # yields its first one, which then goes out directly, not via the outbox.
                producer = self._producer_task = asyncio.create_task(self._produce())
                watcher = asyncio.create_task(self._watch(receive))
                tasks = [producer, watcher]
                watcher.add_done_callback(self._watcher_done)
                self._supervising = True
                await self._supervise(send, producer, watcher)
        except asyncio.CancelledError:
            self._status = "cancelled"
            raise
        finally:
            self._supervising = False
            monitor.unregister(subscription)
            self._timers.cancel(self)
            for task in tasks:
                # A producer already being cancelled is closing its source: a second cancel
                # would interrupt that cleanup (e.g. closing the model's HTTP request), which
                # _settle gives a bounded time to finish instead.
                if task.cancelling() == 0:
                    task.cancel()
            if tasks:
                await _settle(tasks[0])
                for task in tasks[1:]:
                    with contextlib.suppress(BaseException):
                        await task
            if self._disconnected and settings.on_disconnect is not None:
                await call_callback("on_disconnect", settings.on_disconnect)
            if self._status == "completed" and self._source_error is not None:
                self._status, self._error = "error", self._source_error
            outcome = self._outcome(began)
            if settings.on_close is not None:
                await call_callback("on_close", settings.on_close, outcome)
        if self._raise is not None:
            raise self._raise
        return outcome

    async def _supervise(
        self, send: Send, producer: asyncio.Task[None], watcher: asyncio.Task[bool]
    ) -> None:
        """Run the sender until the first event that decides the outcome: the stream is sent
        (or a send failed or timed out), the client leaves, or a shutdown begins.

        Each of the others interrupts the sender (:meth:`_decide`), which then returns here.
        """
        receive_broke = False
        outbox = self._outbox
        while True:
            try:
                got = await self._send_loop(send)
            except _Interrupted:
                got = _DECIDE
            except Exception as exc:
                self._take_result(exc)
                return
            if got is _DONE:
                self._take_result(None)
                return
            outbox.interrupted = False
            if self._send_failure is not None:
                self._take_result(self._send_failure)
                return
            if watcher.done() and not receive_broke:
                if watcher.result():
                    self._status, self._disconnected = "cancelled", True
                    return
                receive_broke = True  # noticed at the next send instead
            if self._shutdown_requested:
                await self._drain_for_shutdown(send, producer, watcher)
                return

    def _decide(self) -> None:
        """Hand the sender over to the supervisor as soon as it is not sending (a request
        that comes before the stream starts is seen when it does)."""
        self._outbox.interrupt()

    def _watcher_done(self, watcher: asyncio.Task[bool]) -> None:
        if watcher.cancelled() or not self._supervising:
            return
        if not watcher.exception() and watcher.result():
            # The client left: a send of this task's that is blocked ends now.
            outbox = self._outbox
            me = self._me
            if outbox.sending and self._send_task is me and me is not None:
                self._interrupting = True
                me.cancel()
        self._decide()

    def _request_shutdown(self) -> None:
        self._shutdown_requested = True
        self._decide()

    def _outcome(self, began: float) -> StreamOutcome:
        return StreamOutcome(
            status=self._status,
            events_sent=self._events_sent,
            duration_seconds=time.monotonic() - began,
            error=self._error,
        )

    def _take_result(self, exc: BaseException | None) -> None:
        """Settle the outcome from how the sending ended (``None``: it sent the tail)."""
        if exc is None:
            self._status = "shutdown" if self._shutdown else "completed"
        elif isinstance(exc, _SendTimeout):
            logger.info("dropping a client that read nothing for %s s", exc.seconds)
            self._status, self._error = "timeout", TimeoutError(str(exc))
        elif isinstance(exc, _ClientGone):
            self._status, self._disconnected = "cancelled", True
        elif isinstance(exc, _Aborted):
            self._status, self._error = "error", self._source_error
            self._raise = StreamAbortedError("the stream's source failed; see the log")
        else:
            self._status, self._error, self._raise = "error", exc, exc

    async def _drain_for_shutdown(
        self, send: Send, producer: asyncio.Task[None], watcher: asyncio.Task[bool]
    ) -> None:
        """Stop the source, send what is buffered and the shutdown notice, within the grace."""
        grace = self._settings.shutdown_grace_seconds
        deadline = self._loop.time() + grace
        if self._outbox.sending and self._send_task is producer:
            self._stop_after_send = True  # it stops when its send is done
        else:
            producer.cancel()
        await asyncio.wait({producer}, timeout=grace)
        outbox = self._outbox
        if not outbox.finished:
            self._shutdown = outbox.finish(self._encoder.shutdown())
        self._status = "shutdown" if self._shutdown else "completed"
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    got = await self._send_loop(send)
            except TimeoutError:
                logger.info("a stream did not end within shutdown_grace_seconds=%s", grace)
                self._status = "shutdown"
                return
            except _Interrupted:
                got = _DECIDE
            except Exception as exc:
                self._take_result(exc)
                return
            if got is _DONE:
                self._take_result(None)
                return
            outbox.interrupted = False
            if watcher.done() and not watcher.cancelled() and watcher.result():
                self._status, self._disconnected = "cancelled", True
                return


async def _aclose(iterator: object) -> None:
    try:
        await aclose(iterator)
    except Exception:
        logger.exception("closing the stream source raised")


async def _settle(producer: asyncio.Task[None]) -> None:
    """Wait (bounded) for a cancelled producer to finish closing its source."""
    done, _ = await asyncio.wait({producer}, timeout=SOURCE_CLOSE_TIMEOUT_SECONDS)
    if not done:
        logger.warning(
            "the stream source is still closing after %s s; leaving it to finish",
            SOURCE_CLOSE_TIMEOUT_SECONDS,
        )
        _background.add(producer)
        producer.add_done_callback(_background.discard)
        return
    if (
        not producer.cancelled()
        and producer.exception() is not None
        and not isinstance(producer.exception(), _StopStream)
    ):
        logger.error("stream producer failed", exc_info=producer.exception())
