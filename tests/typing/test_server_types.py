"""Type-checked, never run: what the streamwire.server API returns (issue 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import assert_type

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp

from streamwire.chunks import TextDelta
from streamwire.server import (
    BearerToken,
    ChunkedResponse,
    CSRFProtection,
    Emit,
    GuardMiddleware,
    Guards,
    OutcomeStatus,
    RateLimit,
    Rejection,
    ShutdownMonitor,
    SSEItem,
    SSEResponse,
    StreamOutcome,
    TextChunk,
    bearer_token,
    csrf,
    guard,
    ndjson,
    rate_limit,
    shutdown_monitor,
    sse,
    stream,
)


async def tokens() -> AsyncIterator[SSEItem]:
    yield TextDelta(delta="Hi")
    yield "there"
    yield {"type": "done"}


async def produce(emit: Emit[SSEItem]) -> None:
    await emit("Hi")


def rows() -> Iterator[TextChunk]:
    yield "a,b\n"


def on_close(outcome: StreamOutcome) -> None:
    assert_type(outcome.status, OutcomeStatus)
    assert_type(outcome.events_sent, int)
    assert_type(outcome.duration_seconds, float)
    assert_type(outcome.error, BaseException | None)


async def on_disconnect() -> None:
    return None


def check_responses() -> None:
    response = sse(tokens(), on_close=on_close, on_disconnect=on_disconnect, heartbeat_seconds=None)
    assert_type(response, SSEResponse)
    as_response: Response = response
    as_app: ASGIApp = response
    assert_type(sse(produce), SSEResponse)
    assert_type(sse(["a", "b"]), SSEResponse)
    assert_type(stream(rows(), content_type="text/csv"), ChunkedResponse[TextChunk])
    assert_type(ndjson([{"n": 1}]), ChunkedResponse[object])
    assert_type(shutdown_monitor, ShutdownMonitor)
    del as_response, as_app


async def check_guards(app: ASGIApp, conn: HTTPConnection) -> None:
    auth = bearer_token(["secret"])
    assert_type(auth, BearerToken)
    assert_type(csrf(allowed_origins=["https://app.example.com"]), CSRFProtection)
    limit = rate_limit(requests=10, per_seconds=60)
    assert_type(limit, RateLimit)
    assert_type(guard(app, auth, limit), GuardMiddleware)
    assert_type(await auth.check(conn), Rejection | None)
    assert_type(await Guards([auth, limit]).check(conn), Rejection | None)
