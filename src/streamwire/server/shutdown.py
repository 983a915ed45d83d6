"""Knowing that the server is shutting down, without patching the server.

An open stream must learn of a shutdown *before* the server waits for it to end: uvicorn, on
SIGTERM, stops accepting connections and then waits, without limit by default, for every open
response to finish; it sends the ASGI ``lifespan.shutdown`` message only after that. A stream
that waits for ``lifespan.shutdown`` therefore never hears it, and the server hangs.

A :class:`ShutdownMonitor` is told of a shutdown in three ways, all public and none touching the
server's code:

* **signals**: when the first stream starts on the main thread, the monitor installs a handler
  for SIGTERM and SIGINT *in front of* whatever handler is installed (uvicorn's, hypercorn's, a
  gunicorn worker's). Ours notes the shutdown, then calls the previous handler, so the server
  still sees the signal exactly as before. When the server restores its own handlers on exit,
  ours goes with them; the next stream installs it again if needed.
* **lifespan**: :class:`ShutdownMiddleware` wraps an app and requests a shutdown when the
  server sends ``lifespan.shutdown`` (servers that send it before draining connections), and
  resets the monitor on ``lifespan.startup``.
* **by hand**: :meth:`ShutdownMonitor.request`, e.g. from a readiness hook or a test.

Every stream registers a callback with the monitor while it is open; a request calls them all,
each on its own event loop (``call_soon_threadsafe``), so it is safe from a signal handler and
from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeAlias

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "SHUTDOWN_SIGNALS",
    "ShutdownMiddleware",
    "ShutdownMonitor",
    "shutdown_monitor",
]

logger = logging.getLogger("streamwire.server")

#: The signals after which a server drains and exits: SIGTERM (``kill``, Kubernetes, systemd)
#: and SIGINT (Ctrl+C).
SHUTDOWN_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)

_Handler: TypeAlias = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class ShutdownMonitor:
    """Tells open streams that the server is shutting down.

    Thread-safe and signal-safe: :meth:`request` may be called from a signal handler, another
    thread or a coroutine. Once requested, the monitor stays requested until :meth:`reset`.

    Example:
        >>> monitor = ShutdownMonitor()
        >>> monitor.requested
        False
        >>> monitor.request()
        >>> monitor.requested
        True
    """

    def __init__(self) -> None:
        self._requested = False
        self._lock = threading.Lock()
        self._callbacks: dict[int, tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = {}
        self._next_key = 0
        self._previous: dict[int, _Handler] = {}

    @property
    def requested(self) -> bool:
        """Whether a shutdown has been requested (and not reset since)."""
        return self._requested

    def request(self) -> None:
        """Ask every open stream to end with its shutdown notice; new streams end at once.

        Safe to call more than once and from any thread or signal handler.
        """
        self._requested = True
        # A snapshot: the dict may change on another thread; list() of it is one C call.
        for loop, callback in list(self._callbacks.values()):
            with contextlib.suppress(RuntimeError):  # that loop is already closed
                loop.call_soon_threadsafe(callback)

    def reset(self) -> None:
        """Forget a past request (a new server is starting in the same process)."""
        self._requested = False

    @contextlib.contextmanager
    def subscribe(self, callback: Callable[[], None]) -> Iterator[None]:
        """Call ``callback`` on the running loop when a shutdown is requested, while inside.

        The callback is called at most once per request. If a shutdown was already requested,
        it is scheduled at once.

        Raises:
            RuntimeError: no event loop is running.
        """
        key = self.register(callback)
        try:
            yield
        finally:
            self.unregister(key)

    def register(self, callback: Callable[[], None]) -> int:
        """Like :meth:`subscribe`, without a context manager: returns the key that
        :meth:`unregister` takes (a stream holds an int, not a generator).

        Raises:
            RuntimeError: no event loop is running.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            key = self._next_key
            self._next_key += 1
            self._callbacks[key] = (loop, callback)
        if self._requested:
            loop.call_soon(callback)
        return key

    def unregister(self, key: int) -> None:
        """Stop calling the callback that :meth:`register` returned ``key`` for (idempotent)."""
        with self._lock:
            self._callbacks.pop(key, None)

    def install_signal_handlers(
        self, signals: tuple[signal.Signals, ...] = SHUTDOWN_SIGNALS
    ) -> bool:
        """Put our handler in front of the current handler of each signal, if not there yet.

        Our handler requests a shutdown, then calls the handler it replaced (or, if that was the
        default action, performs it), so the server's own handling is unchanged.

        Returns:
            ``True`` if our handler is in place for every signal; ``False`` when not on the main
            thread (Python allows signal handlers only there), where nothing is changed.
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in signals:
            current = signal.getsignal(sig)
            if current == self._on_signal:
                continue
            self._previous[int(sig)] = current
            signal.signal(sig, self._on_signal)
        return True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request()
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            # The default action (terminate for SIGTERM, KeyboardInterrupt for SIGINT).
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        # SIG_IGN or unknown (set from C): nothing more to do.


#: The process-wide monitor that streams use unless given another.
shutdown_monitor = ShutdownMonitor()


class ShutdownMiddleware:
    """ASGI middleware: the ``lifespan`` messages drive a :class:`ShutdownMonitor`.

    On ``lifespan.startup`` the monitor is reset and its signal handlers installed; on
    ``lifespan.shutdown`` a shutdown is requested, before the wrapped app hears of it. Every
    other scope passes through untouched.

    Args:
        app: the ASGI app to wrap.
        monitor: the monitor to drive; the process-wide one by default.
    """

    def __init__(self, app: ASGIApp, *, monitor: ShutdownMonitor | None = None) -> None:
        self.app = app
        self.monitor = monitor if monitor is not None else shutdown_monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        monitor = self.monitor

        async def watching_receive() -> Message:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup":
                monitor.reset()
                monitor.install_signal_handlers()
            elif kind == "lifespan.shutdown":
                logger.info("lifespan shutdown: ending open streams")
                monitor.request()
            return message

        await self.app(scope, watching_receive, send)
