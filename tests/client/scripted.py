"""A scripted ASGI server for the client tests: each path misbehaves in one precise way.

Served by :class:`tests.servers.LiveServer` (a real uvicorn on 127.0.0.1). Every handler that
waits also watches for the client's disconnect and is bounded, so the server always stops.

Paths (query ``key=...`` names the request in :attr:`ScriptedApp.disconnects`):

* ``/native``: a full native stream (start, text, structured, progress, usage, done);
* ``/openai``, ``/ai-sdk``: the same answer in those dialects;
* ``/error-chunk``: text, an ``error`` chunk, then ``done``;
* ``/no-terminator``: chunks, then a clean end of the body without ``done``;
* ``/drop``: chunks, then half an event, then the connection is dropped;
* ``/stall``: one chunk, then silence until the client leaves;
* ``/silent``: headers, then nothing at all until the client leaves;
* ``/slow``: a chunk every 20 ms until the client leaves (records the disconnect);
* ``/junk``: an event whose data is not a chunk;
* ``/status/<code>``: that status with a JSON error body (``/status/204`` has none);
* ``/html``: 200 with ``text/html``;
* ``/resume``: ``retry: 10`` and ids 1-2, then a drop; on reconnection with
  ``Last-Event-ID: 2``, event 3 and ``done`` (any other id gets a 409);
* ``/native-resume``: the native answer with ids; the first connection drops after two
  chunks, a reconnection resumes after its ``Last-Event-ID``;
* ``/eof-then-done``: first connection ends cleanly after an event; the second sends done;
* ``/chat``: POST; streams the last message's text back word by word; a body with
  ``"fail": <status>`` answers that status with a JSON error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    Progress,
    Start,
    StructuredData,
    TextDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from streamwire.protocol.dialects import get_dialect
from streamwire.protocol.dialects.native import encode_sse_chunk
from streamwire.protocol.sse import encode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The longest any handler waits: far beyond every test's own timeout.
MAX_WAIT_SECONDS = 10.0

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]

ANSWER: list[Chunk] = [
    Start(message_id="m1"),
    TextDelta(delta="Hello"),
    TextDelta(delta=", world"),
    StructuredData(stream_id="s1", kind="set", path="title", value="Plan"),
    StructuredData(stream_id="s1", kind="append", path="items", items=["a"]),
    StructuredData(stream_id="s1", kind="append", path="items", items=["b"]),
    ToolCallStart(tool_call_id="t1", tool="search"),
    ToolCallEnd(tool_call_id="t1", input={"q": "x"}),
    Progress(value=1, total=2, message="half"),
    Progress(value=2, total=2),
    Usage(input_tokens=3, output_tokens=4),
    Done(finish_reason="stop"),
]


def native_bytes(chunks: list[Chunk]) -> bytes:
    return b"".join(encode_sse_chunk(chunk) for chunk in chunks)


def dialect_bytes(name: str, chunks: list[Chunk]) -> bytes:
    encoder = get_dialect(name).new_encoder()
    return b"".join(encode(event) for chunk in chunks for event in encoder.encode(chunk))


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    key: str


@dataclass
class ScriptedApp:
    """The ASGI app; inspect :attr:`requests` and :attr:`disconnects` from the test."""

    requests: list[Request] = field(default_factory=list)
    disconnects: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def disconnect_event(self, key: str) -> threading.Event:
        with self._lock:
            return self.disconnects.setdefault(key, threading.Event())

    def requests_for(self, key: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.key == key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        key = query.get("key", path)
        with self._lock:
            self.requests.append(Request(scope["method"], path, headers, body, key))
            # Connections so far for this path and key: scripts that change on reconnection
            # use it, and tests give each run its own key.
            count = sum(1 for r in self.requests if r.path == path and r.key == key)
        conn = _Conn(receive, send, self.disconnect_event(key))
        await _route(conn, path, query, headers, body, count)


class _Conn:
    def __init__(self, receive: Receive, send: Send, gone: threading.Event) -> None:
        self.receive = receive
        self.send = send
        self.gone = gone
        self.left = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.left.set()
                self.gone.set()
                return

    async def start(
        self, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        await self.send(
            {"type": "http.response.start", "status": status, "headers": headers or SSE_HEADERS}
        )
        self._watcher = asyncio.create_task(self._watch())

    async def body(self, data: bytes) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, data: bytes = b"") -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": False})
        await self.stop_watching()

    async def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)

    async def wait_left(self, seconds: float = MAX_WAIT_SECONDS) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.left.wait(), seconds)

    async def json(self, status: int, obj: Any) -> None:
        await self.start(status, [(b"content-type", b"application/json")])
        await self.end(json.dumps(obj).encode())


async def _route(
    conn: _Conn, path: str, query: dict[str, str], headers: dict[str, str], body: bytes, count: int
) -> None:
    if path == "/native":
        await conn.start()
        await conn.end(native_bytes(ANSWER))
    elif path in ("/openai", "/ai-sdk"):
        name = path[1:]
        extra = [(b"x-vercel-ai-ui-message-stream", b"v1")] if name == "ai-sdk" else []
        await conn.start(200, SSE_HEADERS + extra)
        await conn.end(dialect_bytes(name, [c for c in ANSWER if not isinstance(c, Progress)]))
    elif path == "/error-chunk":
        await conn.start()
        error = ErrorChunk(message="model overloaded", code="upstream_error", retryable=True)
        await conn.end(native_bytes([TextDelta(delta="Hi"), error, Done(finish_reason="error")]))
    elif path == "/no-terminator":
        await conn.start()
        await conn.end(native_bytes(ANSWER[:3]))
    elif path == "/drop":
        await conn.start()
        await conn.body(native_bytes(ANSWER[:2]) + b'data: {"type":"text-de')
        await conn.stop_watching()
        # Returning without the final body message makes uvicorn drop the connection.
    elif path == "/stall":
        await conn.start()
        await conn.body(native_bytes(ANSWER[:1]))
        await conn.wait_left()
        await conn.stop_watching()
    elif path == "/silent":
        await conn.start()
        await conn.wait_left()
        await conn.stop_watching()
    elif path == "/slow":
        await conn.start()
        for i in range(int(MAX_WAIT_SECONDS / 0.02)):
            if conn.left.is_set():
                break
            await conn.body(encode_sse_chunk(TextDelta(delta=f"{i} ")))
            await asyncio.sleep(0.02)
        await conn.stop_watching()
    elif path == "/junk":
        await conn.start()
        await conn.end(native_bytes(ANSWER[:1]) + b"data: this is not json\n\n")
    elif path.startswith("/status/"):
        status = int(path.rsplit("/", 1)[1])
        if status == 204:
            await conn.start(204, [])
            await conn.end()
        else:
            await conn.json(status, {"error": {"message": f"scripted failure {status}"}})
    elif path == "/html":
        await conn.start(200, [(b"content-type", b"text/html")])
        await conn.end(b"<html>not a stream</html>")
    elif path == "/resume":
        await _resume(conn, headers, count)
    elif path == "/native-resume":
        await conn.start()
        if count == 1:
            await conn.body(_with_ids(ANSWER[:2], 1) + b"id: 3\ndata: {")
            await conn.stop_watching()
            return  # dropped mid-event
        start = int(headers.get("last-event-id", "0"))
        await conn.end(_with_ids(ANSWER[start:], start + 1))
    elif path == "/eof-then-done":
        await conn.start()
        if count == 1:
            await conn.end(b"id: a\ndata: first\n\n")
        else:
            await conn.end(b'data: second\n\nevent: done\ndata: {"type":"done"}\n\n')
    elif path == "/chat":
        await _chat(conn, body)
    else:
        await conn.json(404, {"error": {"message": f"no route {path}"}})


def _with_ids(chunks: list[Chunk], first: int) -> bytes:
    return b"".join(
        f"id: {first + i}\n".encode() + encode_sse_chunk(chunk) for i, chunk in enumerate(chunks)
    )


async def _resume(conn: _Conn, headers: dict[str, str], count: int) -> None:
    if count == 1:
        await conn.start()
        await conn.body(b"retry: 10\nid: 1\ndata: one\n\nid: 2\ndata: two\n\nid: 3\ndata: th")
        await conn.stop_watching()
        return  # dropped mid-event: event 3 is lost and must be sent again
    if headers.get("last-event-id") != "2":
        await conn.json(
            409, {"error": {"message": f"bad Last-Event-ID {headers.get('last-event-id')!r}"}}
        )
        return
    await conn.start()
    await conn.end(b'id: 3\ndata: three\n\nevent: done\ndata: {"type":"done"}\n\n')


async def _chat(conn: _Conn, body: bytes) -> None:
    request = json.loads(body)
    if "fail" in request:
        status = int(request["fail"])
        if request.get("plain"):
            await conn.start(status, [(b"content-type", b"text/plain")])
            await conn.end(b"nope")
        else:
            await conn.json(status, {"error": {"message": "bad messages", "field": "messages"}})
        return
    text = request["messages"][-1]["content"]
    chunks: list[Chunk] = [Start(session_id=request.get("sessionId"))]
    chunks += [TextDelta(delta=word + " ") for word in text.split()]
    chunks += [Usage(input_tokens=1, output_tokens=len(text.split())), Done(finish_reason="stop")]
    await conn.start()
    await conn.end(native_bytes(chunks))
