"""HTTP plumbing shared by the upstream providers: one streamed POST, safe errors, safe closing.

:func:`stream_sse` is the loop every HTTP provider runs: POST a JSON body, turn an HTTP error
into an error chunk (status and the upstream's own message, never the API key), feed the body to
our :class:`~streamwire.protocol.sse.SSEDecoder` and hand each event to the provider's mapper.

Closing is the delicate part. When the consumer leaves (``aclose()``) or its task is cancelled,
the upstream response must be closed, or the model keeps generating (and billing) for nobody.
Cleanup awaited in a ``finally`` of a cancelled task is easily skipped: a second cancellation
(anyio cancel scopes deliver one at every await) interrupts it. So the closing runs in its own
task, awaited through :func:`asyncio.shield`: if the wait is cancelled, the close still runs to
the end, and the task is kept referenced until it has.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Final, Protocol
from urllib.parse import urlsplit

import httpx

from streamwire.protocol.chunks import Chunk, Done, ErrorChunk, JSONValue
from streamwire.protocol.errors import InvalidArgumentError, SSEProtocolError
from streamwire.protocol.sse import ServerSentEvent, SSEDecoder
from streamwire.providers.base import FINISH_ERROR

logger = logging.getLogger("streamwire.providers")

#: The most bytes of an HTTP error body read to find the upstream's message: error bodies are
#: small JSON objects; a proxy's HTML error page is cut here.
MAX_ERROR_BODY_BYTES: Final = 64 * 1024
#: The longest upstream message put in an error chunk (longer ones are cut with "...").
MAX_ERROR_MESSAGE_CHARS: Final = 500
#: Default timeouts: 10 s to connect; 120 s between two reads, because reasoning models may
#: think for a long time before their first token.
DEFAULT_TIMEOUT: Final = httpx.Timeout(120.0, connect=10.0)

_REDACTED: Final = "[redacted]"

# Tasks closing upstream responses: referenced here until done, so that a close started by a
# cancelled task is not garbage-collected half-way.
_closing: set[asyncio.Task[None]] = set()


class EventMapper(Protocol):
    """A provider's sans-IO mapping from its wire events to chunks."""

    @property
    def finished(self) -> bool:
        """Whether the stream has ended (its terminator or an error was read)."""
        ...

    def feed(self, event: ServerSentEvent) -> list[Chunk]:
        """The chunks one upstream event carries (ending with ``Done`` once finished)."""
        ...

    def end_of_stream(self) -> list[Chunk]:
        """The chunks to send when the body ended: ``Done``, or an error if it ended early."""
        ...


def error_chunks(message: str, *, code: str, retryable: bool) -> list[Chunk]:
    """An error chunk followed by ``Done(finish_reason="error")``."""
    return [
        ErrorChunk(message=message, code=code, retryable=retryable),
        Done(finish_reason=FINISH_ERROR),
    ]


def safe_text(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` cut to :data:`MAX_ERROR_MESSAGE_CHARS`, with every secret replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    text = " ".join(text.split())
    if len(text) > MAX_ERROR_MESSAGE_CHARS:
        text = text[: MAX_ERROR_MESSAGE_CHARS - 3] + "..."
    return text


def describe_host(url: str) -> str:
    """The scheme, host and port of ``url``: no user info, path or query that could hold a
    secret."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def upstream_message(body: bytes) -> str:
    """The error message in an upstream's error body.

    Understands OpenAI's ``{"error": {"message": ...}}`` (also ``{"error": "..."}``, as some
    compatible servers send) and Anthropic's ``{"type": "error", "error": {"type": ...,
    "message": ...}}``; any other body is shown as text.
    """
    text = body.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    return error_object_message(obj) or text


def error_object_message(obj: JSONValue) -> str:
    """The message of an error object (``""`` when ``obj`` holds none)."""
    if not isinstance(obj, dict):
        return ""
    error = obj.get("error", obj)
    if isinstance(error, str):
        return error
    if not isinstance(error, dict):
        return ""
    message = error.get("message")
    kind = error.get("type")
    text = message if isinstance(message, str) else ""
    if isinstance(kind, str) and kind and kind not in text:
        text = f"{text} ({kind})" if text else kind
    return text


def status_error(
    provider: str, status: int, body: bytes, *, secrets: tuple[str, ...], retry_after: str | None
) -> list[Chunk]:
    """The error chunks for an HTTP error status answered by the upstream."""
    detail = safe_text(upstream_message(body), secrets)
    message = f"{provider} upstream answered HTTP {status}"
    if detail:
        message += f": {detail}"
    if status in (401, 403):
        code, retryable = "upstream_auth", False
    elif status == 429:
        code, retryable = "upstream_rate_limited", True
        if retry_after and retry_after.strip().isdigit():
            message += f" (retry after {int(retry_after)} s)"
    elif status >= 500:
        code, retryable = "upstream_error", True
    else:
        code, retryable = "upstream_bad_request", status in (408, 409)
    return error_chunks(message, code=code, retryable=retryable)


def _unavailable(message: str) -> list[Chunk]:
    return error_chunks(message, code="upstream_unavailable", retryable=True)


def _exception_text(exc: Exception, secrets: tuple[str, ...]) -> str:
    return safe_text(str(exc) or type(exc).__name__, secrets)


async def _read_limited(response: httpx.Response) -> bytes:
    body = bytearray()
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) >= MAX_ERROR_BODY_BYTES:
            break
    return bytes(body[:MAX_ERROR_BODY_BYTES])


async def close_surviving_cancellation(closers: list[Callable[[], Awaitable[None]]]) -> None:
    """Run ``closers`` in order in their own task and wait for it, shielded from cancellation.

    If the wait is cancelled, ``CancelledError`` propagates at once but the closing task goes on
    to the end. A closer that fails is logged and the next one still runs.
    """
    if not closers:
        return

    async def close_all() -> None:
        for close in closers:
            try:
                await close()
            except Exception:
                logger.warning("closing an upstream connection failed", exc_info=True)

    task = asyncio.ensure_future(close_all())
    _closing.add(task)
    task.add_done_callback(_closing.discard)
    await asyncio.shield(task)


async def stream_sse(
    *,
    provider: str,
    client: httpx.AsyncClient | None,
    http_timeout: httpx.Timeout,
    url: str,
    headers: Mapping[str, str],
    body: Mapping[str, JSONValue],
    mapper: EventMapper,
    secrets: tuple[str, ...],
) -> AsyncGenerator[Chunk, None]:
    """POST ``body`` to ``url`` and stream the chunks ``mapper`` makes of the SSE answer.

    Uses ``client`` when given (and leaves it open), otherwise a client of its own, closed at
    the end. Always ends with one ``Done``; never raises for the upstream's faults.
    """
    owned = client is None
    http = client if client is not None else httpx.AsyncClient(timeout=http_timeout)
    response: httpx.Response | None = None
    where = describe_host(url)
    try:
        request = http.build_request("POST", url, json=body, headers=dict(headers))
        try:
            response = await http.send(request, stream=True)
        except httpx.TimeoutException:
            for chunk in _unavailable(f"{provider} upstream at {where} timed out before answering"):
                yield chunk
            return
        except httpx.HTTPError as exc:
            reason = _exception_text(exc, secrets)
            for chunk in _unavailable(
                f"{provider} upstream at {where} could not be reached: {reason}"
            ):
                yield chunk
            return
        if response.status_code >= 400:
            try:
                error_body = await _read_limited(response)
            except httpx.HTTPError:
                error_body = b""
            for chunk in status_error(
                provider,
                response.status_code,
                error_body,
                secrets=secrets,
                retry_after=response.headers.get("retry-after"),
            ):
                yield chunk
            return
        decoder = SSEDecoder()
        try:
            async for data in response.aiter_bytes():
                for event in decoder.feed(data):
                    for chunk in mapper.feed(event):
                        yield chunk
                    if mapper.finished:
                        return
        except httpx.TimeoutException:
            for chunk in _unavailable(
                f"{provider} upstream at {where} stopped sending (read timeout)"
            ):
                yield chunk
            return
        except httpx.HTTPError as exc:
            reason = _exception_text(exc, secrets)
            for chunk in _unavailable(f"{provider} upstream connection broke: {reason}"):
                yield chunk
            return
        except SSEProtocolError as exc:
            for chunk in error_chunks(
                f"{provider} upstream sent an invalid event stream: {exc}",
                code="upstream_protocol",
                retryable=True,
            ):
                yield chunk
            return
        for chunk in mapper.end_of_stream():
            yield chunk
    finally:
        closers: list[Callable[[], Awaitable[None]]] = []
        if response is not None:
            closers.append(response.aclose)
        if owned:
            closers.append(http.aclose)
        await close_surviving_cancellation(closers)


def check_base_url(base_url: str) -> str:
    """``base_url`` without its trailing slash.

    Raises:
        InvalidArgumentError: it is not an http(s) URL.
    """
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise InvalidArgumentError(
            "base_url", f"must be an http:// or https:// URL (got {base_url!r})"
        )
    return base_url.rstrip("/")


def check_timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    """``timeout`` as an ``httpx.Timeout``.

    Raises:
        InvalidArgumentError: a number that is not positive.
    """
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InvalidArgumentError("timeout", f"must be a positive number (got {timeout!r})")
    return httpx.Timeout(float(timeout))
