"""Helpers for the server tests: parse SSE bodies, record ASGI sends, read raw sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamwire.sse import ServerSentEvent, SSEDecoder

WAIT_SECONDS = 5.0  # the bound on every wait in these tests


def parse_events(body: bytes) -> list[ServerSentEvent]:
    """Every event in a complete SSE body."""
    decoder = SSEDecoder()
    events = decoder.feed(body)
    events.extend(decoder.close())
    return events


def chunk_dicts(body: bytes) -> list[dict[str, Any]]:
    """The JSON data of every event (native dialect: one chunk per event)."""
    return [json.loads(event.data) for event in parse_events(body)]


class SendRecorder:
    """ASGI middleware recording the body of every ``http.response.body`` send, per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies: dict[str, list[bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = scope["path"] + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        record = self.bodies.setdefault(key, [])

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                record.append(bytes(message.get("body", b"")))
            await send(message)

        await self.app(scope, receive, recording_send)


def raw_request(
    port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> socket.socket:
    """Open a socket and send an HTTP/1.1 request; the caller reads (or not) and closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_SECONDS)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def read_until(sock: socket.socket, marker: bytes, *, limit: int = 1 << 20) -> bytes:
    """Read from ``sock`` until ``marker`` appears (bounded by WAIT_SECONDS and ``limit``)."""
    data = b""
    deadline = time.monotonic() + WAIT_SECONDS
    while marker not in data:
        if time.monotonic() > deadline or len(data) > limit:
            raise AssertionError(f"{marker!r} not received; got {data[-300:]!r}")
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before {marker!r}; got {data[-300:]!r}")
        data += chunk
    return data


def wait_for(predicate: Callable[[], bool], *, seconds: float = WAIT_SECONDS) -> bool:
    """Poll ``predicate`` until true or ``seconds`` pass; return its last value."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        time.sleep(0.005)
    return True


class Gate:
    """A threading.Event the server's source awaits without blocking its event loop."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def open(self) -> None:
        self.event.set()

    async def wait(self) -> None:
        import asyncio

        deadline = time.monotonic() + WAIT_SECONDS
        while not self.event.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError("gate never opened")
            await asyncio.sleep(0.002)
