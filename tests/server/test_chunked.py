"""stream() and ndjson(): chunked bodies flushed piece by piece (issue 3)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from streamwire.errors import InvalidArgumentError
from streamwire.server import Emit, StreamOutcome, TextChunk, ndjson, stream
from tests.server._support import WAIT_SECONDS, SendRecorder, wait_for
from tests.servers import LiveServer

release = threading.Event()
sync_closed = threading.Event()
outcomes: list[StreamOutcome] = []


@dataclasses.dataclass
class Row:
    name: str
    score: float


async def csv(request: Request) -> Response:
    def rows() -> Iterator[TextChunk]:
        try:
            yield "name,score\n"
            # Blocks its worker thread until the test has talked to the server meanwhile:
            # if this ran on the event loop, the server could not answer and the test would
            # time out.
            if not release.wait(WAIT_SECONDS):
                raise TimeoutError("never released")
            yield b"ada,1\n"
        finally:
            sync_closed.set()

    return stream(rows(), content_type="text/csv; charset=utf-8", on_close=outcomes.append)


async def latin(request: Request) -> Response:
    return stream(["café"], content_type="text/plain; charset=latin-1")


async def lines(request: Request) -> Response:
    async def source() -> AsyncIterator[object]:
        yield {"n": 1}
        yield Row(name="ada", score=1.5)
        yield [1, "two", None]

    return ndjson(source())


async def emitted(request: Request) -> Response:
    async def produce(emit: Emit[TextChunk]) -> None:
        await emit("a")
        await emit(b"b")

    return stream(produce, content_type="text/plain")


async def failing(request: Request) -> Response:
    async def source() -> AsyncIterator[object]:
        yield {"n": 1}
        raise RuntimeError("upstream exploded")

    return ndjson(source(), on_close=outcomes.append)


async def ping(request: Request) -> Response:
    return PlainTextResponse("pong")


recorder = SendRecorder(
    Starlette(
        routes=[
            Route("/csv", csv),
            Route("/latin", latin),
            Route("/lines", lines),
            Route("/emitted", emitted),
            Route("/failing", failing),
            Route("/ping", ping),
        ]
    )
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(recorder) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as http:
        yield http


def test_sync_iterable_runs_in_a_thread_and_each_piece_is_flushed(
    client: httpx.Client, server: LiveServer
) -> None:
    outcomes.clear()
    with client.stream("GET", "/csv") as response:
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["x-accel-buffering"] == "no"
        pieces = response.iter_raw()
        assert next(pieces) == b"name,score\n"
        # The loop is free while the generator blocks in its thread.
        assert httpx.get(f"{server.url}/ping", timeout=WAIT_SECONDS).text == "pong"
        release.set()
        assert b"".join(pieces) == b"ada,1\n"
    assert sync_closed.wait(WAIT_SECONDS)
    assert recorder.bodies["/csv"] == [b"name,score\n", b"ada,1\n", b""]
    assert wait_for(lambda: len(outcomes) == 1)
    assert (outcomes[0].status, outcomes[0].events_sent) == ("completed", 2)


def test_str_is_encoded_with_the_content_type_charset(client: httpx.Client) -> None:
    assert client.get("/latin").content == "café".encode("latin-1")


def test_ndjson_writes_one_compact_json_value_per_line(client: httpx.Client) -> None:
    response = client.get("/lines")
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.content == b'{"n":1}\n{"name":"ada","score":1.5}\n[1,"two",null]\n'


def test_emitter_source_for_a_chunked_stream(client: httpx.Client) -> None:
    assert client.get("/emitted").content == b"ab"


def test_source_error_leaves_the_body_incomplete_and_logs_the_traceback(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes.clear()
    received: list[bytes] = []

    def read_all() -> None:
        with client.stream("GET", "/failing") as response:
            received.extend(response.iter_raw())

    with (
        caplog.at_level(logging.ERROR, logger="streamwire.server"),
        pytest.raises(httpx.RemoteProtocolError),
    ):
        read_all()
    assert b"".join(received) == b'{"n":1}\n'
    assert any("upstream exploded" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert wait_for(lambda: len(outcomes) == 1)
    assert outcomes[0].status == "error"
    assert isinstance(outcomes[0].error, RuntimeError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"content_type": ""}, "content_type"),
        ({"content_type": "text/plain; charset=klingon"}, "content_type"),
        (
            {"content_type": "text/plain", "headers": {"content-type": "x"}},
            "headers['content-type']",
        ),
        (
            {"content_type": "text/plain", "headers": {"Transfer-Encoding": "x"}},
            "headers['Transfer-Encoding']",
        ),
    ],
)
def test_invalid_stream_options_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        stream(["x"], **kwargs)
    assert info.value.field == field


def test_a_bytes_source_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="single bytes"):
        stream(b"abc", content_type="text/plain")  # type: ignore[arg-type]  # the point
