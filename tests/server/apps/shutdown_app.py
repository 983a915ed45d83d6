"""An app for the SIGTERM test: streams that wait on a model forever (issue 3).

Run with ``python -m uvicorn tests.server.apps.shutdown_app:app``. ``/stream`` sends one token
and then waits; only the server's shutdown ends it. ``/health`` answers when the server is up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from streamwire.server import SSEItem, sse


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def stream(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        yield "hello"
        await asyncio.Event().wait()  # the model never answers
        yield "never sent"

    return sse(source(), heartbeat_seconds=None)


app = Starlette(routes=[Route("/health", health), Route("/stream", stream)])
