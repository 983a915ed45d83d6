"""Fake upstream model servers for tests: real HTTP on 127.0.0.1, scripted per test.

:class:`FakeUpstream` is a raw ASGI app served by ``tests.servers.LiveServer`` (uvicorn on a
random loopback port). It speaks the documented wire format of one API:

* ``FakeUpstream("openai")``: ``POST /v1/chat/completions`` (OpenAI chat completions, SSE
  ``data: {chunk}`` events ending with ``data: [DONE]``), API key as ``Authorization: Bearer``;
* ``FakeUpstream("anthropic")``: ``POST /v1/messages`` (Anthropic Messages streaming, named SSE
  events), API key as ``x-api-key``, ``anthropic-version`` header required.

Each request gets the next scripted :class:`Reply` (the last one is repeated). A reply is a
status, headers and *frames*: ``bytes`` are written as they are, a ``float`` waits that many
seconds. ``hold_open_seconds`` keeps the response open afterwards (a slow model), ending early
when the client leaves. The fake records every request (:attr:`FakeUpstream.requests`) and sets
:attr:`FakeUpstream.disconnected` when a client closes its connection before the reply is
complete, so a test can check that the consumer's leaving reached the upstream::

    with FakeUpstream("openai", openai_reply(text=["Hel", "lo"])) as fake:
        provider = OpenAIProvider(base_url=fake.base_url, api_key="sk-test")
        ...
        assert fake.wait_disconnected(1.0)

Builders make replies in each wire format: :func:`openai_reply`, :func:`openai_error_reply`,
:func:`openai_chunk`, :func:`openai_frames`; :func:`anthropic_reply`,
:func:`anthropic_error_reply`, :func:`anthropic_frames`, :func:`anthropic_event`; and the
generic :func:`json_reply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, Literal

from streamwire.chat.messages import ChatMessage, ChatRequest
from streamwire.protocol.chunks import Chunk, TextDelta
from tests.servers import LiveServer

__all__ = [
    "AnthropicBlock",
    "FakeUpstream",
    "OpenAIToolCall",
    "RecordedRequest",
    "Reply",
    "anthropic_error_reply",
    "anthropic_event",
    "anthropic_frames",
    "anthropic_reply",
    "chat",
    "collect",
    "json_reply",
    "openai_chunk",
    "openai_error_reply",
    "openai_frames",
    "openai_reply",
    "text_of",
]

Frame = bytes | float
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
)
# How long a fake keeps a held-open reply at most: a test that forgets to close still ends.
MAX_HOLD_SECONDS = 10.0


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer.

    Attributes:
        status: the HTTP status.
        headers: response headers (lower-case names).
        frames: the body: ``bytes`` are written as one chunk each, a ``float`` waits that many
            seconds (ending early if the client leaves).
        hold_open_seconds: after the frames, keep the response open this long (at most
            :data:`MAX_HOLD_SECONDS`) or until the client leaves.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = SSE_HEADERS
    frames: tuple[Frame, ...] = ()
    hold_open_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """A request the fake received: method, path, headers (lower-case names) and JSON body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


class FakeUpstream:
    """A scripted fake of the OpenAI or Anthropic streaming API (see the module docstring).

    Args:
        api: ``openai`` or ``anthropic``: the route and the auth rules.
        *replies: the replies, in order (the last is repeated); at least one.
        api_key: when set, requests without this key get the API's documented 401 body.

    Attributes:
        requests: every request received, in order.
        disconnected: set when a client left before its reply was complete.
        completed: how many replies were sent to the end.
    """

    def __init__(self, api: Literal["openai", "anthropic"], *replies: Reply, api_key: str = ""):
        if not replies:
            raise ValueError("FakeUpstream needs at least one reply")
        self.api = api
        self.path = "/v1/chat/completions" if api == "openai" else "/v1/messages"
        self._replies = list(replies)
        self._next = 0
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.disconnected = threading.Event()
        self.disconnected_at: float | None = None
        self.completed = 0
        self._server: LiveServer | None = None
        self._url = ""

    # -- running ------------------------------------------------------------------------------

    def __enter__(self) -> FakeUpstream:
        # A short graceful-shutdown timeout: a held-open reply must not delay the test's end.
        self._server = LiveServer(self, timeout_graceful_shutdown=1)
        self._server.__enter__()
        self._url = self._server.url
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.__exit__(*exc)
            self._server = None

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:54321`` (kept after it stops)."""
        if not self._url:
            raise RuntimeError("the fake upstream was never started (use it as a context manager)")
        return self._url

    @property
    def base_url(self) -> str:
        """The base URL a provider takes: with ``/v1`` for OpenAI, without for Anthropic."""
        return f"{self.url}/v1" if self.api == "openai" else self.url

    def add(self, *replies: Reply) -> None:
        """Script more replies, used after the ones already given."""
        self._replies.extend(replies)

    def wait_disconnected(self, timeout: float = 1.0) -> bool:
        """Wait up to ``timeout`` seconds for a client to leave early; whether one did."""
        return self.disconnected.wait(timeout)

    # -- ASGI ---------------------------------------------------------------------------------

    def _take_reply(self) -> Reply:
        reply = self._replies[min(self._next, len(self._replies) - 1)]
        self._next += 1
        return reply

    def _auth_error(self, headers: Mapping[str, str]) -> Reply | None:
        if self.api == "openai":
            if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
                given = headers.get("authorization", "").removeprefix("Bearer ")
                masked = f"{given[:3]}***{given[-2:]}" if len(given) > 5 else "***"
                return openai_error_reply(
                    401,
                    f"Incorrect API key provided: {masked}.",
                    type="invalid_request_error",
                    code="invalid_api_key",
                )
            return None
        if "anthropic-version" not in headers:
            return anthropic_error_reply(
                400, "invalid_request_error", "anthropic-version: header is required"
            )
        if self.api_key and headers.get("x-api-key") != self.api_key:
            return anthropic_error_reply(401, "authentication_error", "invalid x-api-key")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(
            RecordedRequest(method=scope["method"], path=scope["path"], headers=headers, body=body)
        )
        if scope["method"] != "POST" or scope["path"] != self.path:
            reply = json_reply(404, {"error": {"message": f"no route {scope['path']}"}})
        else:
            reply = self._auth_error(headers) or self._take_reply()
        await self._send_reply(reply, receive, send)

    async def _send_reply(self, reply: Reply, receive: Receive, send: Send) -> None:
        left = asyncio.Event()
        complete = False

        async def watch() -> None:
            message = await receive()
            if message["type"] == "http.disconnect" and not complete:
                self.disconnected_at = time.monotonic()
                self.disconnected.set()
                left.set()

        watcher = asyncio.create_task(watch())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": reply.status,
                    "headers": [(k.encode(), v.encode()) for k, v in reply.headers],
                }
            )
            for frame in reply.frames:
                if left.is_set():
                    return
                if isinstance(frame, float | int):
                    await _wait(left, float(frame))
                else:
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
            if reply.hold_open_seconds:
                await _wait(left, min(reply.hold_open_seconds, MAX_HOLD_SECONDS))
            if left.is_set():
                return
            complete = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.completed += 1
        finally:
            watcher.cancel()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def json_reply(status: int, body: Any, *, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    """A plain JSON answer (an HTTP error body, say)."""
    return Reply(
        status=status,
        headers=(("content-type", "application/json"), *headers),
        frames=(json.dumps(body).encode(),),
    )


def _paced(frames: Sequence[bytes], delay_seconds: float) -> tuple[Frame, ...]:
    if not delay_seconds:
        return tuple(frames)
    out: list[Frame] = []
    for frame in frames:
        out.extend([float(delay_seconds), frame])
    return tuple(out)


# -- OpenAI chat completions ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OpenAIToolCall:
    """A tool call to stream: its ``arguments`` text arrives in ``fragments``."""

    id: str
    name: str
    fragments: tuple[str, ...] = ()
    index: int = 0


def openai_chunk(
    delta: Mapping[str, Any] | None = None,
    *,
    finish_reason: str | None = None,
    usage: tuple[int, int] | None = None,
    no_choices: bool = False,
    model: str = "fake-model",
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` object (``usage`` is ``(prompt, completion)`` tokens)."""
    chunk: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": []
        if no_choices
        else [
            {
                "index": 0,
                "delta": dict(delta or {}),
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage is not None:
        chunk["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
    return chunk


def openai_frames(*objects: Mapping[str, Any] | str, done: bool = True) -> list[bytes]:
    """SSE frames ``data: <json>`` for each object (a ``str`` is sent as the data as it is),
    then ``data: [DONE]``."""
    frames = [
        f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode() for obj in objects
    ]
    if done:
        frames.append(b"data: [DONE]\n\n")
    return frames


def openai_reply(
    *,
    text: Sequence[str] = (),
    reasoning: Sequence[str] = (),
    tool_calls: Sequence[OpenAIToolCall] = (),
    usage: tuple[int, int] | None = None,
    finish_reason: str | None = None,
    done: bool = True,
    partial: bool = False,
    delay_seconds: float = 0.0,
    hold_open_seconds: float = 0.0,
) -> Reply:
    """A streamed chat completion as OpenAI sends it.

    A first chunk with ``role``, then ``reasoning_content`` pieces, ``content`` pieces, tool
    calls (a first delta with id, type and name, then one delta per arguments fragment), a chunk
    with ``finish_reason`` (``stop``, or ``tool_calls`` when there are calls), a usage chunk
    without choices when ``usage`` is given (``stream_options.include_usage``), and ``[DONE]``
    unless ``done`` is false. ``partial`` stops after the content, mid-answer (no finish
    reason, usage or ``[DONE]``): with ``hold_open_seconds``, a model that is slow to go on.
    """
    objects: list[Mapping[str, Any]] = [openai_chunk({"role": "assistant", "content": ""})]
    objects += [openai_chunk({"reasoning_content": piece}) for piece in reasoning]
    objects += [openai_chunk({"content": piece}) for piece in text]
    for call in tool_calls:
        first = {
            "index": call.index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        objects.append(openai_chunk({"tool_calls": [first]}))
        objects += [
            openai_chunk({"tool_calls": [{"index": call.index, "function": {"arguments": f}}]})
            for f in call.fragments
        ]
    if not partial:
        reason = finish_reason or ("tool_calls" if tool_calls else "stop")
        objects.append(openai_chunk({}, finish_reason=reason))
        if usage is not None:
            objects.append(openai_chunk(usage=usage, no_choices=True))
    return Reply(
        frames=_paced(openai_frames(*objects, done=done and not partial), delay_seconds),
        hold_open_seconds=hold_open_seconds,
    )


def openai_error_reply(
    status: int,
    message: str,
    *,
    type: str = "server_error",
    code: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Reply:
    """An HTTP error with OpenAI's error body ``{"error": {message, type, param, code}}``."""
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return json_reply(status, body, headers=headers)


# -- Anthropic Messages -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AnthropicBlock:
    """A content block to stream.

    ``kind`` ``text`` and ``thinking`` stream ``pieces`` as text or thinking deltas;
    ``tool_use`` streams them as ``input_json_delta`` fragments of the tool's input.
    """

    kind: Literal["text", "thinking", "tool_use"]
    pieces: tuple[str, ...] = ()
    tool_id: str = "toolu_fake"
    tool_name: str = "tool"


def anthropic_event(data: Mapping[str, Any]) -> bytes:
    """One named SSE event, ``event: <type>`` then ``data: <json>``."""
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def anthropic_frames(
    blocks: Sequence[AnthropicBlock],
    *,
    input_tokens: int = 12,
    output_tokens: int = 0,
    stop_reason: str | None = None,
    ping: bool = True,
    stop: bool = True,
    model: str = "claude-fake",
) -> list[bytes]:
    """The events of one streamed message, in the documented order: ``message_start``, a
    ``ping``, each block's ``content_block_start`` / ``content_block_delta``\\* /
    ``content_block_stop``, ``message_delta`` (stop reason and cumulative usage) and
    ``message_stop`` (left out when ``stop`` is false)."""
    events: list[bytes] = [
        anthropic_event(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": model,
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                },
            }
        )
    ]
    if ping:
        events.append(anthropic_event({"type": "ping"}))
    for index, block in enumerate(blocks):
        content_block: dict[str, Any]
        if block.kind == "text":
            content_block = {"type": "text", "text": ""}
        elif block.kind == "thinking":
            content_block = {"type": "thinking", "thinking": ""}
        else:
            content_block = {
                "type": "tool_use",
                "id": block.tool_id,
                "name": block.tool_name,
                "input": {},
            }
        events.append(
            anthropic_event(
                {"type": "content_block_start", "index": index, "content_block": content_block}
            )
        )
        for piece in block.pieces:
            delta: dict[str, Any]
            if block.kind == "text":
                delta = {"type": "text_delta", "text": piece}
            elif block.kind == "thinking":
                delta = {"type": "thinking_delta", "thinking": piece}
            else:
                delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(
                anthropic_event({"type": "content_block_delta", "index": index, "delta": delta})
            )
        if block.kind == "thinking":
            signature = {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"}
            events.append(
                anthropic_event({"type": "content_block_delta", "index": index, "delta": signature})
            )
        events.append(anthropic_event({"type": "content_block_stop", "index": index}))
    reason = stop_reason or (
        "tool_use" if any(b.kind == "tool_use" for b in blocks) else "end_turn"
    )
    events.append(
        anthropic_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            }
        )
    )
    if stop:
        events.append(anthropic_event({"type": "message_stop"}))
    return events


def anthropic_reply(
    blocks: Sequence[AnthropicBlock],
    *,
    input_tokens: int = 12,
    output_tokens: int = 0,
    stop_reason: str | None = None,
    stop: bool = True,
    partial: bool = False,
    error: tuple[str, str] | None = None,
    delay_seconds: float = 0.0,
    hold_open_seconds: float = 0.0,
) -> Reply:
    """A streamed message as Anthropic sends it (see :func:`anthropic_frames`).

    ``error=(type, message)`` sends an ``error`` event after the blocks instead of the message's
    end, as Anthropic does when it fails mid-stream (e.g. ``overloaded_error``). ``partial``
    stops inside the last block, mid-answer (no ``content_block_stop``, ``message_delta`` or
    ``message_stop``): with ``hold_open_seconds``, a model that is slow to go on.
    """
    frames = anthropic_frames(
        blocks,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        stop_reason=stop_reason,
        stop=stop and error is None,
    )
    if partial:
        frames = frames[:-2]  # no content_block_stop, no message_delta
    if error is not None:
        frames = frames[:-1]  # no message_delta: the message never finished
        frames.append(
            anthropic_event({"type": "error", "error": {"type": error[0], "message": error[1]}})
        )
    return Reply(frames=_paced(frames, delay_seconds), hold_open_seconds=hold_open_seconds)


def anthropic_error_reply(
    status: int, type: str, message: str, *, headers: Iterable[tuple[str, str]] = ()
) -> Reply:
    """An HTTP error with Anthropic's error body ``{"type": "error", "error": {type, message}}``."""
    body = {"type": "error", "error": {"type": type, "message": message}}
    return json_reply(status, body, headers=headers)


# -- helpers for tests that drive a provider --------------------------------------------------


def chat(text: str, *, system: str | None = None, model: str | None = None) -> ChatRequest:
    """A chat request with one user message (and a system message first, when given)."""
    messages = [ChatMessage(role="user", content=text)]
    if system is not None:
        messages.insert(0, ChatMessage(role="system", content=system))
    return ChatRequest(messages=tuple(messages), model=model)


async def collect(chunks: AsyncIterator[Chunk], *, timeout_seconds: float = 10.0) -> list[Chunk]:
    """Every chunk of a provider's stream, within ``timeout_seconds``."""
    out: list[Chunk] = []

    async def run() -> None:
        async for chunk in chunks:
            out.append(chunk)

    await asyncio.wait_for(run(), timeout_seconds)
    return out


def text_of(chunks: Iterable[Chunk]) -> str:
    """The text deltas of ``chunks`` joined."""
    return "".join(chunk.delta for chunk in chunks if isinstance(chunk, TextDelta))
