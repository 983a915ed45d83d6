"""Helpers for the chat app's tests: a running app, SSE parsing, the per-stream log lines.

Every test here talks to a real uvicorn on 127.0.0.1 (``tests.servers.LiveServer``) or to a
``python -m streamwire serve`` subprocess.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamwire.app import ServerSettings, create_app
from streamwire.chat.schemas import SchemaRegistry
from streamwire.protocol.chunks import Chunk, StructuredData, decode_chunk
from streamwire.protocol.sse import ServerSentEvent, SSEDecoder
from streamwire.protocol.structured import StructuredAccumulator
from streamwire.providers import Provider
from streamwire.server.shutdown import shutdown_monitor
from tests.servers import LiveServer

__all__ = [
    "READ_TIMEOUT_SECONDS",
    "LogCapture",
    "capture_serve_log",
    "chunks_of",
    "events_of",
    "parse_with_ai_sdk",
    "reduce_structured",
    "running_app",
    "stream_lines",
    "user",
]

# Every HTTP wait in these tests is bounded by this (a demo answer at full speed takes < 1 s).
READ_TIMEOUT_SECONDS = 10.0


def user(text: str, **extra: Any) -> dict[str, Any]:
    """A chat request body with one user message and any extra keys."""
    return {"messages": [{"role": "user", "content": text}], **extra}


@contextlib.contextmanager
def running_app(
    settings: ServerSettings | None = None,
    *,
    provider: Provider | None = None,
    schemas: SchemaRegistry | None = None,
) -> Iterator[str]:
    """Serve ``create_app(...)`` on a random loopback port; yields the base URL.

    Stopping the server sends ``lifespan.shutdown``, which marks the process-wide shutdown
    monitor as requested; it is reset afterwards so that later servers' streams are unaffected.
    """
    app = create_app(settings or ServerSettings(demo_speed=0), provider=provider, schemas=schemas)
    try:
        with LiveServer(app, timeout_graceful_shutdown=2) as server:
            yield server.url
    finally:
        shutdown_monitor.reset()


def events_of(body: bytes) -> list[ServerSentEvent]:
    """The SSE events of a complete response body."""
    decoder = SSEDecoder()
    return [*decoder.feed(body), *decoder.feed(b"\n\n")]


def chunks_of(body: bytes) -> list[Chunk]:
    """The native chunks of a complete response body."""
    return [decode_chunk(event.data) for event in events_of(body)]


def reduce_structured(chunks: Iterable[Chunk]) -> StructuredAccumulator:
    """Apply every ``structured-data`` chunk with streamwire's reducer."""
    accumulator = StructuredAccumulator()
    for chunk in chunks:
        if isinstance(chunk, StructuredData):
            accumulator.apply(chunk)
    return accumulator


class LogCapture(logging.Handler):
    """Collects the JSON log lines of logger ``streamwire.serve`` (one per stream)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, Any]] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith("{"):
            return
        with self._changed:
            self.lines.append(json.loads(message))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = READ_TIMEOUT_SECONDS) -> list[dict[str, Any]]:
        """Wait (at most ``timeout`` seconds) for ``count`` stream lines; returns them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.lines) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} log lines, got {self.lines}")
                self._changed.wait(left)
            return list(self.lines)


@contextlib.contextmanager
def capture_serve_log() -> Iterator[LogCapture]:
    """Attach a :class:`LogCapture` to ``streamwire.serve`` (at INFO) for the block."""
    logger = logging.getLogger("streamwire.serve")
    handler = LogCapture()
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def stream_lines(response: httpx.Response) -> Iterator[ServerSentEvent]:
    """The events of a streaming response, as they arrive."""
    decoder = SSEDecoder()
    for data in response.iter_bytes():
        yield from decoder.feed(data)


JS_DIR = Path(__file__).resolve().parents[1] / "js"
NODE_TIMEOUT_SECONDS = 30


def parse_with_ai_sdk(stream: bytes) -> dict[str, Any]:
    """Parse a UI message stream with the AI SDK's own reader (``tests/js/aisdk_parse.mjs``).

    Returns ``{"ok": bool, "message": UIMessage | None, "chunks": n, "error"?: str}``; skips the
    test when Node.js or the npm packages are missing.
    """
    node_bin = shutil.which("node")
    if node_bin is None or not (JS_DIR / "node_modules" / "ai").is_dir():
        pytest.skip("needs Node.js and tests/js/node_modules (npm ci in tests/js)")
    proc = subprocess.run(
        [node_bin, str(JS_DIR / "aisdk_parse.mjs")],
        input=stream,
        capture_output=True,
        cwd=JS_DIR,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    assert proc.stdout, proc.stderr.decode()
    result: dict[str, Any] = json.loads(proc.stdout)
    assert (proc.returncode == 0) == result["ok"]
    return result
