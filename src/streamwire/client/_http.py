"""What the client loops share about HTTP: response checks and error translation."""

from __future__ import annotations

import httpx
import msgspec

from streamwire.client.errors import (
    StreamConnectionError,
    StreamResponseError,
    StreamTimeoutError,
)

__all__ = [
    "EVENT_STREAM",
    "connection_error",
    "http_error_details",
    "response_error",
    "stream_problem",
]

EVENT_STREAM = "text/event-stream"

# Statuses at which trying again later may succeed.
_RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def media_type(response: httpx.Response) -> str:
    """The response's media type, lower case, without parameters (``""`` when absent)."""
    value: str = response.headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


def stream_problem(response: httpx.Response) -> str | None:
    """Why ``response`` is not an event stream, or ``None`` when it is one."""
    status = response.status_code
    if status == 204:
        return "the server has nothing to stream (204 No Content)"
    if not 200 <= status < 300:
        return f"expected a 2xx status, got {status} {response.reason_phrase}".rstrip()
    kind = media_type(response)
    if kind != EVENT_STREAM:
        shown = repr(kind) if kind else "none"
        return f"expected content type {EVENT_STREAM}, got {shown}"
    return None


def response_error(response: httpx.Response, reason: str, body: bytes) -> StreamResponseError:
    """A :class:`StreamResponseError` for ``response`` whose (start of) body is ``body``."""
    return StreamResponseError(
        reason,
        url=str(response.request.url),
        status_code=response.status_code,
        content_type=response.headers.get("content-type", ""),
        body=body[:2000].decode("utf-8", "replace"),
    )


def _timeout_seconds(exc: httpx.TimeoutException) -> float | None:
    try:
        timeouts = exc.request.extensions.get("timeout", {})
    except RuntimeError:  # the exception carries no request
        return None
    key = {
        httpx.ConnectTimeout: "connect",
        httpx.ReadTimeout: "read",
        httpx.WriteTimeout: "write",
        httpx.PoolTimeout: "pool",
    }.get(type(exc), "read")
    value = timeouts.get(key)
    return float(value) if isinstance(value, int | float) else None


def connection_error(
    exc: httpx.TransportError, *, url: str, attempts: int = 1, received: int = 0
) -> StreamConnectionError:
    """The streamwire error for an httpx transport error (a timeout or a broken connection)."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        seconds = _timeout_seconds(exc)
        limit = f" in {seconds:g} s" if seconds is not None else ""
        what = {
            httpx.ConnectTimeout: f"could not connect{limit}",
            httpx.ReadTimeout: f"no bytes arrived{limit} (idle timeout)",
            httpx.WriteTimeout: f"could not send the request{limit}",
            httpx.PoolTimeout: f"no free connection{limit}",
        }.get(type(exc), f"timed out{limit}")
        return StreamTimeoutError(
            what, url=url, seconds=seconds, attempts=attempts, received=received
        )
    if isinstance(exc, httpx.ConnectError):
        reason = f"could not connect: {detail}"
    else:
        reason = f"connection lost: {detail}"
    return StreamConnectionError(reason, url=url, attempts=attempts, received=received)


def http_error_details(status: int, body: bytes) -> tuple[str, str, bool]:
    """The (message, code, retryable) of an HTTP failure, from its JSON body when it has one.

    The message is the body's ``error.message`` (prefixed with ``error.field`` when the body
    names one), or a string ``error`` or ``detail``, else ``Request failed (<status>)``; the
    code is the body's ``error.code`` or ``http_<status>``.
    """
    message = f"Request failed ({status})"
    code = f"http_{status}"
    try:
        obj = msgspec.json.decode(body) if body else None
    except msgspec.DecodeError:
        obj = None
    if isinstance(obj, dict):
        error = obj.get("error")
        if isinstance(error, dict):
            text = error.get("message")
            if isinstance(text, str) and text.strip():
                field = error.get("field")
                # streamwire's 400s name the bad field apart: "messages.0.role: must be ..."
                message = f"{field}: {text}" if isinstance(field, str) and field else text
            raw_code = error.get("code")
            if isinstance(raw_code, str) and raw_code:
                code = raw_code
        elif isinstance(error, str) and error.strip():
            message = error
        elif isinstance(obj.get("detail"), str) and obj["detail"].strip():
            message = obj["detail"]
    return message, code, status in _RETRYABLE_STATUSES
