"""Streams pass unchanged through common middleware and FastAPI routes (issue 3).

Each event is acknowledged by the test before the source produces the next one, so a middleware
that buffered even one event would make the test time out instead of pass.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from streamwire.server import SSEItem, StreamOutcome, ndjson, sse
from tests.server._support import WAIT_SECONDS, Gate, wait_for
from tests.servers import LiveServer

EVENTS = 3


@dataclass
class Lockstep:
    acks: list[Gate] = field(default_factory=lambda: [Gate() for _ in range(EVENTS)])
    closed: threading.Event = field(default_factory=threading.Event)
    order: list[str] = field(default_factory=list)
    outcomes: list[StreamOutcome] = field(default_factory=list)


runs: dict[str, Lockstep] = {}


def lockstep_source(run: Lockstep, *, wait_after_last: bool = False) -> AsyncIterator[SSEItem]:
    async def source() -> AsyncIterator[SSEItem]:
        try:
            for index in range(EVENTS):
                yield f"event-{index}"
                await run.acks[index].wait()
            if wait_after_last:
                await Gate().wait()  # hangs until cancelled (bounded by WAIT_SECONDS)
            run.order.append("source finished")
        finally:
            run.closed.set()

    return source()


async def sse_route(request: Request) -> Response:
    run = runs.setdefault(request.query_params["id"], Lockstep())
    hang = request.query_params.get("hang") == "1"
    return sse(lockstep_source(run, wait_after_last=hang), on_close=run.outcomes.append)


async def ndjson_route(request: Request) -> Response:
    run = runs.setdefault(request.query_params["id"], Lockstep())

    async def items() -> AsyncIterator[object]:
        async for item in lockstep_source(run):
            yield {"item": item}

    return ndjson(items())


class Passthrough(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["x-through-base"] = "1"
        return response


def sub_app(*middleware: Middleware) -> Starlette:
    return Starlette(
        routes=[Route("/sse", sse_route), Route("/ndjson", ndjson_route)],
        middleware=list(middleware),
    )


fastapi_app = FastAPI()


async def model_name() -> str:
    return "demo-model"


async def db_session(request: Request) -> AsyncIterator[str]:
    run = runs.setdefault(request.query_params["id"], Lockstep())
    run.order.append("session opened")
    try:
        yield "session"
    finally:
        run.order.append("session closed")


@fastapi_app.get("/sse")
async def fastapi_stream(
    request: Request,
    model: Annotated[str, Depends(model_name)],
    session: Annotated[str, Depends(db_session)],
) -> Response:
    run = runs[request.query_params["id"]]
    assert (model, session) == ("demo-model", "session")
    return sse(lockstep_source(run), on_close=run.outcomes.append)


app = Starlette(
    routes=[
        Mount("/plain", sub_app()),
        Mount("/base", sub_app(Middleware(Passthrough))),
        Mount("/gzip", sub_app(Middleware(GZipMiddleware, minimum_size=1))),
        Mount(
            "/gzip-all",
            sub_app(Middleware(GZipMiddleware, minimum_size=1, exclude_content_types=())),
        ),
        Mount(
            "/cors",
            sub_app(
                Middleware(
                    CORSMiddleware,
                    allow_origins=["https://app.example.com"],
                    allow_methods=["GET", "POST"],
                    allow_headers=["authorization"],
                )
            ),
        ),
        Mount("/fastapi", fastapi_app),
    ]
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(app) as live:
        yield live


def _read_in_lockstep(
    response: httpx.Response, run: Lockstep, *, gzip: bool, marker: Callable[[int], bytes]
) -> bytes:
    """Read the raw body, acknowledging each event as soon as it has arrived decoded."""
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
    text = b""
    next_index = 0
    for raw in response.iter_raw():
        text += decoder.decompress(raw) if decoder is not None else raw
        while next_index < EVENTS and marker(next_index) in text:
            run.acks[next_index].open()
            next_index += 1
    assert next_index == EVENTS
    return text


def _sse_marker(index: int) -> bytes:
    return f'"delta":"event-{index}"}}\n\n'.encode()


@pytest.mark.parametrize(
    ("prefix", "gzip"),
    [("plain", False), ("base", False), ("gzip", False), ("gzip-all", True), ("cors", False)],
)
def test_sse_events_arrive_one_by_one_through_middleware(
    server: LiveServer, prefix: str, gzip: bool
) -> None:
    key = f"sse-{prefix}"
    runs[key] = run = Lockstep()
    headers = {"accept-encoding": "gzip", "origin": "https://app.example.com"}
    with (
        httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as client,
        client.stream("GET", f"/{prefix}/sse", params={"id": key}, headers=headers) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert (response.headers.get("content-encoding") == "gzip") is gzip
        if prefix == "base":
            assert response.headers["x-through-base"] == "1"
        if prefix == "cors":
            assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        body = _read_in_lockstep(response, run, gzip=gzip, marker=_sse_marker)
    assert body.endswith(b'event: done\ndata: {"type":"done"}\n\n')
    assert run.order == ["source finished"]


def test_ndjson_lines_arrive_one_by_one_through_gzip(server: LiveServer) -> None:
    runs["ndjson-gzip"] = run = Lockstep()
    with (
        httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as client,
        client.stream(
            "GET", "/gzip/ndjson", params={"id": "ndjson-gzip"}, headers={"accept-encoding": "gzip"}
        ) as response,
    ):
        assert response.headers["content-encoding"] == "gzip"
        body = _read_in_lockstep(
            response, run, gzip=True, marker=lambda index: f'"event-{index}"}}\n'.encode()
        )
    assert body.count(b"\n") == EVENTS


def test_cors_preflight_for_a_post_stream_is_answered(server: LiveServer) -> None:
    response = httpx.options(
        f"{server.url}/cors/sse",
        headers={
            "origin": "https://app.example.com",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization",
        },
        timeout=WAIT_SECONDS,
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


def test_disconnect_is_noticed_behind_base_http_middleware(server: LiveServer) -> None:
    runs["base-drop"] = run = Lockstep()
    with (
        httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as client,
        client.stream("GET", "/base/sse", params={"id": "base-drop", "hang": "1"}) as response,
    ):
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    assert run.closed.wait(WAIT_SECONDS), "the source was not closed"
    assert wait_for(lambda: len(run.outcomes) == 1)
    assert run.outcomes[0].status == "cancelled"


def test_fastapi_route_with_dependencies_streams_and_yield_cleanup_runs_after_the_stream(
    server: LiveServer,
) -> None:
    runs["fastapi"] = run = Lockstep()
    with (
        httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as client,
        client.stream("GET", "/fastapi/sse", params={"id": "fastapi"}) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        # Mid-stream, the yield dependency's cleanup has not run.
        assert run.order == ["session opened"]
        run.acks[0].open()
        for index in range(1, EVENTS):
            assert next(lines) == ""
            assert f"event-{index}" in next(lines)
            run.acks[index].open()
        list(lines)
    assert wait_for(lambda: len(run.order) == 3)
    assert run.order == ["session opened", "source finished", "session closed"]
    assert run.outcomes[0].status == "completed"
