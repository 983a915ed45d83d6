"""The streaming chat server behind ``streamwire serve``: routes, providers and dialects wired up.

``create_app(settings)`` returns a Starlette app with these routes (see ``docs/chat.md``):

* ``POST /api/chat``: native SSE, or one JSON answer when the body says ``"stream": false``;
* ``GET /api/chat/stream?q=...``: native SSE for ``EventSource``;
* ``POST /v1/chat/completions``: the OpenAI chat-completions dialect (streaming or not);
* ``POST /api/chat/ui``: the Vercel AI SDK UI message stream (``useChat``);
* ``GET /api/export.csv?rows=N`` and ``GET /api/export.ndjson?rows=N``: chunked exports;
* ``GET /healthz``; ``GET /`` the demo chat page and ``/streamwire.js`` the browser module.

Every stream writes one structured log line (logger ``streamwire.serve``) when it ends: its id,
route, duration, tokens and outcome (``completed``, ``cancelled``, ``error``, ``shutdown``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from streamwire._aio import aclose
from streamwire.chat import (
    BufferedResult,
    ChatRequest,
    ChatRequestError,
    collect_buffered_stream,
    parse_chat_request_body,
)
from streamwire.chat.messages import ChatMessage
from streamwire.chat.schemas import SchemaRegistry, default_schemas
from streamwire.protocol.chunks import Chunk, ErrorChunk, Start, TextDelta, Usage
from streamwire.protocol.dialects import Dialect, get_dialect
from streamwire.protocol.dialects.openai import openai_dialect
from streamwire.providers import Provider, get_provider
from streamwire.server import ShutdownMiddleware, StreamOutcome, ndjson, sse, stream
from streamwire.server.guards import Guard, GuardMiddleware, Rejection, bearer_token, rate_limit
from streamwire.server.structured import extract_structured

__all__ = ["ServerSettings", "create_app"]

logger = logging.getLogger("streamwire.serve")

# Exports are generated on the fly; the cap only stops a typo from streaming for an hour.
MAX_EXPORT_ROWS = 10_000_000
DEFAULT_EXPORT_ROWS = 1000
DEMO_MODEL_NAME = "streamwire-demo"
_API_PREFIXES = ("/api/", "/v1/")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """How ``streamwire serve`` runs.

    Attributes:
        provider: ``demo``, ``openai`` or ``anthropic``.
        base_url: the provider's base URL (default: the provider's own).
        model: the model to ask for (a request's ``model`` overrides it).
        api_key: the provider's key; by default ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``.
        token: when set, the API routes require ``Authorization: Bearer <token>``.
        rate_limit: ``(requests, period_seconds)`` per client on the API routes, or ``None``.
        demo_speed: the demo model's pace in tokens per second (0 = as fast as it can).
        heartbeat_seconds: idle heartbeat interval for streams (``None`` = off).
    """

    provider: str = "demo"
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    token: str | None = None
    rate_limit: tuple[int, float] | None = None
    demo_speed: float = 40.0
    heartbeat_seconds: float | None = 15.0
    provider_options: Mapping[str, Any] = field(default_factory=dict)


def make_provider(settings: ServerSettings) -> Provider:
    """The provider that ``settings`` names, with its options and key."""
    options: dict[str, Any] = dict(settings.provider_options)
    if settings.provider == "demo":
        options.setdefault("tokens_per_second", settings.demo_speed)
    else:
        env = "OPENAI_API_KEY" if settings.provider == "openai" else "ANTHROPIC_API_KEY"
        key = settings.api_key if settings.api_key is not None else os.environ.get(env)
        if key:
            options.setdefault("api_key", key)
        if settings.base_url:
            options.setdefault("base_url", settings.base_url)
        if settings.model:
            options.setdefault("model", settings.model)
    return get_provider(settings.provider, **options)


@contextlib.asynccontextmanager
async def _closing(chunks: AsyncIterator[Chunk]) -> AsyncGenerator[AsyncIterator[Chunk], None]:
    """Close ``chunks`` (when it can be closed) however the block ends, so that a cancelled
    stream closes the provider's upstream request at once rather than when it is collected."""
    try:
        yield chunks
    finally:
        await aclose(chunks)


@dataclass(slots=True)
class _StreamStats:
    """What one stream produced, for its log line."""

    stream_id: str
    route: str
    started: float = field(default_factory=time.monotonic)
    text_deltas: int = 0
    output_tokens: int | None = None
    errored: bool = False


def _error_response(message: str, *, field_name: str | None, status: int) -> JSONResponse:
    error: dict[str, str] = {"message": message}
    if field_name is not None:
        error["field"] = field_name
    return JSONResponse({"error": error}, status_code=status)


class ChatServer:
    """The routes of the chat server, sharing one provider, schema registry and settings."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        provider: Provider | None = None,
        schemas: SchemaRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.provider = provider if provider is not None else make_provider(settings)
        self.schemas = schemas if schemas is not None else default_schemas()

    # -- the chunk pipeline ------------------------------------------------------------------

    async def _chunks(
        self, request: ChatRequest, stats: _StreamStats, *, extract: bool
    ) -> AsyncIterator[Chunk]:
        """Start, then the provider's chunks (structured when asked), counted for the log."""
        yield Start(message_id=stats.stream_id, session_id=request.session_id)
        schema = self.schemas.get(request.schema) if request.schema else None
        source = self.provider.stream(request, structured=schema.request() if schema else None)
        async with _closing(source) as upstream:
            chunks: AsyncIterator[Chunk] = upstream
            if schema is not None and extract:
                chunks = extract_structured(upstream, schema.extractor())
            async with _closing(chunks) as produced:
                async for chunk in produced:
                    if isinstance(chunk, TextDelta):
                        stats.text_deltas += 1
                    elif isinstance(chunk, Usage):
                        stats.output_tokens = chunk.output_tokens
                    elif isinstance(chunk, ErrorChunk):
                        stats.errored = True
                    yield chunk

    def _log(self, stats: _StreamStats, outcome: StreamOutcome) -> None:
        status = outcome.status
        if status == "completed" and stats.errored:
            status = "error"
        elif status in ("timeout",):
            status = "cancelled"
        tokens = stats.output_tokens if stats.output_tokens is not None else stats.text_deltas
        line = {
            "event": "stream",
            "id": stats.stream_id,
            "route": stats.route,
            "duration_ms": round(outcome.duration_seconds * 1000, 1),
            "tokens": tokens,
            "events": outcome.events_sent,
            "outcome": status,
        }
        logger.info(msgspec.json.encode(line).decode())

    def _stream(
        self, request: ChatRequest, route: str, dialect: str | Dialect, *, extract: bool = True
    ) -> Response:
        stats = _StreamStats(stream_id=f"msg_{uuid.uuid4().hex[:16]}", route=route)
        return sse(
            self._chunks(request, stats, extract=extract),
            dialect=dialect,
            heartbeat_seconds=self.settings.heartbeat_seconds,
            on_close=lambda outcome: self._log(stats, outcome),
        )

    async def _collect(
        self, request: ChatRequest, stats: _StreamStats, *, extract: bool
    ) -> BufferedResult:
        """The whole answer at once (``"stream": false``), logged like a stream."""
        result = await collect_buffered_stream(self._chunks(request, stats, extract=extract))
        outcome = StreamOutcome(
            status="completed",
            events_sent=0,
            duration_seconds=time.monotonic() - stats.started,
            error=None,
        )
        self._log(stats, outcome)
        return result

    # -- parsing ---------------------------------------------------------------------------

    async def _parse(self, request: Request, *, default_stream: bool = True) -> ChatRequest:
        raw = await request.body()
        chat = parse_chat_request_body(raw, default_stream=default_stream)
        if chat.schema is not None and chat.schema not in self.schemas:
            raise ChatRequestError(
                f"names no schema this server offers (got {chat.schema!r}; offered: "
                + ", ".join(self.schemas.names())
                + ")",
                field="schema",
            )
        return chat

    # -- routes ----------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        """``POST /api/chat``: native SSE, or JSON with ``"stream": false``."""
        try:
            chat = await self._parse(request)
        except ChatRequestError as exc:
            return JSONResponse(exc.to_json(), status_code=exc.status)
        if not chat.stream:
            stats = _StreamStats(stream_id=f"msg_{uuid.uuid4().hex[:16]}", route="/api/chat")
            answer = (await self._collect(chat, stats, extract=True)).to_json()
            answer["id"] = stats.stream_id
            return JSONResponse(answer)
        return self._stream(chat, "/api/chat", "native")

    async def chat_stream(self, request: Request) -> Response:
        """``GET /api/chat/stream?q=...``: native SSE for ``EventSource``."""
        prompt = request.query_params.get("q", "")
        if not prompt.strip():
            return _error_response("q is required: the prompt", field_name="q", status=400)
        schema = request.query_params.get("schema") or None
        if schema is not None and schema not in self.schemas:
            return _error_response(f"unknown schema {schema!r}", field_name="schema", status=400)
        chat = ChatRequest(messages=(ChatMessage(role="user", content=prompt),), schema=schema)
        return self._stream(chat, "/api/chat/stream", "native")

    async def openai_completions(self, request: Request) -> Response:
        """``POST /v1/chat/completions``: the OpenAI dialect."""
        try:
            chat = await self._parse(request, default_stream=False)
        except ChatRequestError as exc:
            return JSONResponse(
                {
                    "error": {
                        "message": exc.message,
                        "type": "invalid_request_error",
                        "param": exc.field,
                        "code": None,
                    }
                },
                status_code=exc.status,
            )
        model = chat.model or self.settings.model or DEMO_MODEL_NAME
        created = int(time.time())
        if not chat.stream:
            stats = _StreamStats(stream_id=uuid.uuid4().hex[:24], route="/v1/chat/completions")
            # The OpenAI dialect passes structured output through as the JSON text.
            result = await self._collect(chat, stats, extract=False)
            return JSONResponse(
                result.to_chat_completion(
                    model=model, completion_id=f"chatcmpl-{stats.stream_id}", created=created
                )
            )
        include_usage = _asks_for_usage(await request.body())
        dialect = openai_dialect(model=model, created=created, include_usage=include_usage)
        return self._stream(chat, "/v1/chat/completions", dialect, extract=False)

    async def ai_sdk_chat(self, request: Request) -> Response:
        """``POST /api/chat/ui``: the Vercel AI SDK UI message stream."""
        try:
            chat = await self._parse(request)  # the parser reads the AI SDK's `parts`
        except ChatRequestError as exc:
            return JSONResponse(exc.to_json(), status_code=exc.status)
        return self._stream(chat, "/api/chat/ui", get_dialect("ai-sdk"))

    async def export_csv(self, request: Request) -> Response:
        """``GET /api/export.csv?rows=N``: a CSV export, streamed row by row."""
        rows = _rows_param(request)
        if isinstance(rows, Response):
            return rows
        return stream(
            _csv_rows(rows),
            content_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="export.csv"'},
        )

    async def export_ndjson(self, request: Request) -> Response:
        """``GET /api/export.ndjson?rows=N``: an NDJSON export, one object per line."""
        rows = _rows_param(request)
        if isinstance(rows, Response):
            return rows
        return ndjson(_records(rows))

    async def healthz(self, request: Request) -> Response:
        """``GET /healthz``: liveness, and which provider is serving."""
        return JSONResponse({"status": "ok", "provider": self.settings.provider})


def _asks_for_usage(raw: bytes) -> bool:
    # OpenAI sends its choice-less usage chunk only for stream_options.include_usage; a client
    # that reads chunk.choices[0] on every chunk fails on it otherwise.
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return False
    options = body.get("stream_options") if isinstance(body, dict) else None
    return isinstance(options, dict) and options.get("include_usage") is True


def _rows_param(request: Request) -> int | Response:
    text = request.query_params.get("rows", str(DEFAULT_EXPORT_ROWS))
    if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= MAX_EXPORT_ROWS:
        return _error_response(
            f"rows must be a whole number from 0 to {MAX_EXPORT_ROWS} (got {text!r})",
            field_name="rows",
            status=400,
        )
    return int(text)


_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia")


def _records(rows: int) -> Iterator[dict[str, Any]]:
    for i in range(1, rows + 1):
        name = _NAMES[i % len(_NAMES)]
        yield {
            "id": i,
            "name": f"{name} {i}",
            "email": f"{name.lower()}{i}@example.com",
            "created_at": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        }


def _csv_rows(rows: int) -> Iterator[str]:
    yield "id,name,email,created_at\n"
    for record in _records(rows):
        yield f"{record['id']},{record['name']},{record['email']},{record['created_at']}\n"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith(_API_PREFIXES) or request.url.path == "/healthz":
        return _error_response(str(exc.detail), field_name=None, status=exc.status_code)
    return Response(str(exc.detail), status_code=exc.status_code, media_type="text/plain")


class _PageMount(Mount):
    """The static page files at ``/``, never answering for an API path.

    A catch-all mount fully matches every path, so it would answer ``GET /api/chat`` with the
    static files' 404 instead of the route's 405. API paths are left to the routes (405 for a
    wrong method) and the router's JSON 404.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if isinstance(path, str) and (path.startswith(_API_PREFIXES) or path == "/healthz"):
            return Match.NONE, {}
        return super().matches(scope)


class _OnAPIRoutes:
    """A guard that applies only to the API routes (the page and health check stay open)."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def check(self, conn: HTTPConnection) -> Rejection | None:
        if conn.url.path.startswith(_API_PREFIXES):
            return await self.guard.check(conn)
        return None


def create_app(
    settings: ServerSettings | None = None,
    *,
    provider: Provider | None = None,
    schemas: SchemaRegistry | None = None,
) -> Starlette:
    """The chat server as a Starlette app.

    Args:
        settings: how to run (provider, guards, pace); the defaults serve the demo model.
        provider: a provider to use instead of the one ``settings`` names (e.g. in tests).
        schemas: the structured-output schemas to offer (default: ``email_draft``).

    Returns:
        The ASGI app; run it with any ASGI server.

    Raises:
        InvalidArgumentError: a setting cannot work (e.g. an unknown provider or option).
    """
    settings = settings if settings is not None else ServerSettings()
    server = ChatServer(settings, provider=provider, schemas=schemas)
    static = resources.files("streamwire") / "static"
    routes = [
        Route("/api/chat", server.chat, methods=["POST"]),
        Route("/api/chat/stream", server.chat_stream, methods=["GET"]),
        Route("/v1/chat/completions", server.openai_completions, methods=["POST"]),
        Route("/api/chat/ui", server.ai_sdk_chat, methods=["POST"]),
        Route("/api/export.csv", server.export_csv, methods=["GET"]),
        Route("/api/export.ndjson", server.export_ndjson, methods=["GET"]),
        Route("/healthz", server.healthz, methods=["GET"]),
        _PageMount("/", StaticFiles(directory=str(static), html=True), name="static"),
    ]
    guards: list[Guard] = []
    if settings.token:
        # EventSource cannot set headers: GET streams may pass ?token=... instead.
        guards.append(_OnAPIRoutes(bearer_token([settings.token], query_param="token")))
    if settings.rate_limit:
        requests, period = settings.rate_limit
        guards.append(_OnAPIRoutes(rate_limit(requests=requests, per_seconds=period)))
    middleware = [Middleware(ShutdownMiddleware)]
    if guards:
        middleware.append(Middleware(GuardMiddleware, guards=guards))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_error},
    )
    app.state.chat_server = server
    return app
