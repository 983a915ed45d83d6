"""A stand-in for ``streamwire serve``: the demo page and the two native chat routes.

Run as ``python tests/browser/demo_app.py --port P --demo-speed 40``. It serves
``streamwire/static`` at ``/`` and streams the demo provider with :func:`streamwire.server.sse`
on ``POST /api/chat`` and ``GET /api/chat/stream?q=...``, writing one JSON log line per stream
with its outcome to stdout, like the real server's ``streamwire.serve`` log. The browser tests
use ``python -m streamwire serve`` when it can start and this app otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import resources
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from streamwire.chat.messages import ChatMessage, ChatRequest
from streamwire.providers.demo import DemoProvider
from streamwire.server import StreamOutcome, sse


def create_app(*, demo_speed: float) -> Starlette:
    """The stand-in app with the demo provider at ``demo_speed`` words a second."""
    provider = DemoProvider(tokens_per_second=demo_speed)
    counter = iter(range(1, 1_000_000))

    def stream(request: ChatRequest, route: str) -> Response:
        stream_id = f"s{next(counter)}"
        started = time.monotonic()

        def log(outcome: StreamOutcome) -> None:
            line = {
                "id": stream_id,
                "route": route,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
                "outcome": outcome.status,
            }
            print(json.dumps(line), flush=True)

        return sse(provider.stream(request), on_close=log)

    async def chat(request: Request) -> Response:
        body: Any = await request.json()
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return JSONResponse(
                {"error": {"message": "messages must be a non-empty list", "field": "messages"}},
                status_code=400,
            )
        parsed = tuple(
            ChatMessage(role=m.get("role", "user"), content=str(m.get("content", "")))
            for m in messages
            if isinstance(m, dict)
        )
        return stream(ChatRequest(messages=parsed), "/api/chat")

    async def chat_stream(request: Request) -> Response:
        prompt = request.query_params.get("q", "")
        if not prompt:
            return JSONResponse(
                {"error": {"message": "q is required", "field": "q"}}, status_code=400
            )
        message = ChatMessage(role="user", content=prompt)
        return stream(ChatRequest(messages=(message,)), "/api/chat/stream")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    static = resources.files("streamwire") / "static"
    return Starlette(
        routes=[
            Route("/api/chat", chat, methods=["POST"]),
            Route("/api/chat/stream", chat_stream, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Mount("/", StaticFiles(directory=str(static), html=True), name="static"),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Serve the stand-in app on 127.0.0.1."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--demo-speed", type=float, default=40.0)
    args = parser.parse_args(argv)
    print(f"demo app on http://127.0.0.1:{args.port}", flush=True)
    uvicorn.run(
        create_app(demo_speed=args.demo_speed),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
