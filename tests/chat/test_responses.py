"""to_sse / create_stream_response against a real uvicorn: each dialect, and the hook."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from openai import OpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamwire.chat import Completion, create_stream_response, to_sse
from streamwire.protocol.chunks import Chunk, Done, Start, TextDelta, Usage
from streamwire.protocol.dialects import get_dialect
from streamwire.protocol.sse import SSEDecoder
from tests.servers import LiveServer

WAIT_SECONDS = 10.0

ANSWER: list[Chunk] = [
    Start(message_id="m1"),
    TextDelta(delta="Hello"),
    TextDelta(delta=", world"),
    Usage(input_tokens=1, output_tokens=2),
    Done(finish_reason="stop"),
]


async def answer() -> AsyncIterator[Chunk]:
    for chunk in ANSWER:
        yield chunk


class HookRecorder:
    """A completion hook called from the server's thread; tests wait on it with a timeout."""

    def __init__(self) -> None:
        self.calls: list[Completion] = []
        self.called = threading.Event()

    def __call__(self, completion: Completion) -> None:
        self.calls.append(completion)
        self.called.set()

    def wait(self) -> Completion:
        assert self.called.wait(WAIT_SECONDS), "the completion hook was not called"
        assert len(self.calls) == 1, self.calls
        return self.calls[0]


STALLED = threading.Event()


async def stalled_answer() -> AsyncIterator[Chunk]:
    yield TextDelta(delta="first words")
    STALLED.set()
    await asyncio.sleep(3600)
    yield Done()  # pragma: no cover - the client leaves before


@pytest.fixture(scope="module")
def server_and_hooks() -> Iterator[tuple[LiveServer, dict[str, HookRecorder]]]:
    hooks: dict[str, HookRecorder] = {}

    async def native(request: Request) -> Response:
        return to_sse(answer(), heartbeat_seconds=None)

    async def openai_route(request: Request) -> Response:
        body = await request.json()
        return to_sse(answer(), dialect="openai", model=body["model"])

    async def ai_sdk(request: Request) -> Response:
        return to_sse(answer(), dialect="ai-sdk")

    async def hooked(request: Request) -> Response:
        hook = hooks[request.query_params["name"]] = HookRecorder()
        source = stalled_answer() if request.query_params.get("stall") else answer()
        return create_stream_response(source, on_complete=hook, heartbeat_seconds=None)

    app = Starlette(
        routes=[
            Route("/native", native),
            Route("/v1/chat/completions", openai_route, methods=["POST"]),
            Route("/ui", ai_sdk, methods=["POST"]),
            Route("/hooked", hooked),
        ]
    )
    with LiveServer(app) as server:
        yield server, hooks


def read_chunks(url: str, dialect: str, method: str = "GET") -> tuple[httpx.Response, list[Chunk]]:
    decoder = SSEDecoder()
    chunk_decoder = get_dialect(dialect).new_decoder()
    chunks: list[Chunk] = []
    with httpx.stream(method, url, timeout=WAIT_SECONDS) as response:
        for data in response.iter_bytes():
            for event in decoder.feed(data):
                chunks.extend(chunk_decoder.decode(event))
    assert chunk_decoder.finished
    return response, chunks


def test_native_dialect(server_and_hooks: tuple[LiveServer, dict[str, HookRecorder]]) -> None:
    server, _ = server_and_hooks
    response, chunks = read_chunks(server.url + "/native", "native")
    assert response.headers["content-type"].startswith("text/event-stream")
    assert chunks == ANSWER


def test_openai_dialect_has_a_fresh_id_and_time_per_response(
    server_and_hooks: tuple[LiveServer, dict[str, HookRecorder]],
) -> None:
    server, _ = server_and_hooks
    client = OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=WAIT_SECONDS)
    ids = []
    before = int(time.time())
    for _ in range(2):
        stream = client.chat.completions.create(
            model="demo-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        received = list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == (
            "Hello, world"
        )
        assert {c.model for c in received} == {"demo-model"}
        assert all(before - 1 <= c.created <= int(time.time()) + 1 for c in received)
        (completion_id,) = {c.id for c in received}
        assert completion_id.startswith("chatcmpl-")
        ids.append(completion_id)
    client.close()
    assert ids[0] != ids[1]


def test_ai_sdk_dialect_sends_its_header(
    server_and_hooks: tuple[LiveServer, dict[str, HookRecorder]],
) -> None:
    server, _ = server_and_hooks
    response, chunks = read_chunks(server.url + "/ui", "ai-sdk", method="POST")
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert "".join(c.delta for c in chunks if isinstance(c, TextDelta)) == "Hello, world"
    assert chunks[-1] == Done()


def test_hook_sees_a_completed_stream(
    server_and_hooks: tuple[LiveServer, dict[str, HookRecorder]],
) -> None:
    server, hooks = server_and_hooks
    _, chunks = read_chunks(server.url + "/hooked?name=full", "native")
    assert chunks == ANSWER
    completion = hooks["full"].wait()
    assert completion.outcome == "completed"
    assert completion.text == "Hello, world"
    assert completion.usage == Usage(input_tokens=1, output_tokens=2)


def test_hook_sees_a_client_that_left_early(
    server_and_hooks: tuple[LiveServer, dict[str, HookRecorder]],
) -> None:
    server, hooks = server_and_hooks
    STALLED.clear()
    with httpx.stream("GET", server.url + "/hooked?name=left&stall=1", timeout=WAIT_SECONDS) as r:
        for data in r.iter_bytes():
            if b"first words" in data:
                break
        assert STALLED.wait(WAIT_SECONDS)
    completion = hooks["left"].wait()
    assert completion.outcome == "cancelled"
    assert completion.text == "first words"
