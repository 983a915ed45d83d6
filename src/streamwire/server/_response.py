"""The Starlette ``Response`` that runs a stream (private base of SSE and chunked responses)."""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, Generic, TypeVar

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from streamwire.protocol.errors import InvalidArgumentError
from streamwire.server._engine import Encoder, StreamRun, StreamSettings, check_source, is_emitter

__all__ = ["StreamingResponseBase", "build_headers"]

logger = logging.getLogger("streamwire.server")

_T = TypeVar("_T")

# Headers a user may not set: the framing of a streamed body is the server's business, and
# HTTP/2 forbids connection-specific headers (RFC 9113, 8.2.2).
_FORBIDDEN_HEADERS = {
    "connection": "is connection-specific and forbidden in HTTP/2; the server manages it",
    "keep-alive": "is connection-specific and forbidden in HTTP/2; the server manages it",
    "transfer-encoding": "is set by the server for a streamed body",
    "content-length": "cannot be known for a streamed body",
    "upgrade": "is connection-specific and forbidden in HTTP/2",
}


def build_headers(
    *,
    content_type: str,
    fixed: Mapping[str, str],
    user: Mapping[str, str] | None,
) -> list[tuple[bytes, bytes]]:
    """The raw response headers: content type, the stream's fixed headers, then the user's.

    A user header replaces a fixed header of the same name, except ``content-type`` and the
    connection and framing headers, which it may not set at all.

    Raises:
        InvalidArgumentError: (a ``ValueError``) a user header is ``content-type``, a
            connection or framing header, or a name or value contains CR, LF or NUL.
    """
    if not user:
        # The common case (no user headers) shares the encoded pairs between responses; each
        # response gets its own list, since Starlette's ``Response.headers`` edits it in place.
        key = (content_type, tuple(fixed.items()))
        cached = _FIXED_HEADERS.get(key)
        if cached is None:
            if len(_FIXED_HEADERS) >= _FIXED_HEADERS_MAX:
                _FIXED_HEADERS.clear()
            cached = _FIXED_HEADERS[key] = tuple(_merge(content_type, fixed, None).items())
        return list(cached)
    return list(_merge(content_type, fixed, user).items())


# Encoded header pairs by (content type, fixed headers): one entry per dialect and format in
# practice; the bound only guards against an app that builds fixed headers per request.
_FIXED_HEADERS: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[tuple[bytes, bytes], ...]] = {}
_FIXED_HEADERS_MAX = 64


def _merge(
    content_type: str, fixed: Mapping[str, str], user: Mapping[str, str] | None
) -> dict[bytes, bytes]:
    merged: dict[str, str] = {"content-type": content_type}
    merged.update({name.lower(): value for name, value in fixed.items()})
    for name, value in (user or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidArgumentError(
                f"headers[{name!r}]", f"names and values must be str (got {type(value).__name__})"
            )
        lower = name.lower()
        field = f"headers[{name!r}]"
        if lower == "content-type":
            raise InvalidArgumentError(
                field, "cannot be set as a header; the content type is an argument of the response"
            )
        if lower in _FORBIDDEN_HEADERS:
            raise InvalidArgumentError(field, _FORBIDDEN_HEADERS[lower])
        for part, text in (("name", name), ("value", value)):
            for index, char in enumerate(text):
                if char in "\r\n\0":
                    what = {"\r": "CR", "\n": "LF", "\0": "NUL"}[char]
                    raise InvalidArgumentError(
                        field, f"{part} must not contain CR, LF or NUL ({what} at index {index})"
                    )
        if not name or any(char in " \t:" for char in name):
            raise InvalidArgumentError(field, "name must be a non-empty token without ':' or space")
        merged[lower] = value
    return {name.encode("latin-1"): value.encode("latin-1") for name, value in merged.items()}


class StreamingResponseBase(Response, Generic[_T], abc.ABC):
    """A Starlette ``Response`` whose body is a stream run by the stream engine.

    Subclasses provide the encoder (the format) and the fixed headers. The response is a bare
    ASGI app too. ``HEAD`` gets the headers and an empty body; the source is never run.
    """

    def __init__(
        self,
        source: AsyncIterable[_T] | Iterable[_T] | Callable[..., Awaitable[None]],
        *,
        settings: StreamSettings,
        raw_headers: list[tuple[bytes, bytes]],
        status_code: int,
        background: BackgroundTask | None,
    ) -> None:
        check_source(source)
        if isinstance(status_code, bool) or not isinstance(status_code, int):
            raise InvalidArgumentError("status_code", "must be an int")
        if not 200 <= status_code <= 599 or status_code in (204, 304):
            raise InvalidArgumentError(
                "status_code", f"must be 200-599 and allow a body, not {status_code}"
            )
        # Response.__init__ is not called: it would render a body and set content-length.
        self.source = source
        self.settings = settings
        self.status_code = status_code
        self.background = background
        self.raw_headers = raw_headers
        self._used = False

    @abc.abstractmethod
    def new_encoder(self) -> Encoder[_T]:
        """A fresh encoder for one run of the stream."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        """Serve the stream on one HTTP connection (the ASGI app interface).

        A plain function returning the stream's one coroutine (no frame of its own stays alive
        while the stream is open); await it, as with any ASGI app.

        Raises:
            RuntimeError: the scope is not HTTP, or the source is a one-shot iterator that an
                earlier request already consumed.
            StreamAbortedError: (when awaited) a chunked stream's source failed (the body is
                left incomplete so the client can tell); the traceback is in the log already.
        """
        if scope["type"] != "http":
            raise RuntimeError(f"a streaming response serves HTTP, not {scope['type']!r}")
        start: Message = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        if scope.get("method", "GET").upper() == "HEAD":
            return _head(send, start)
        source = self.source
        if not is_emitter(source) and (hasattr(source, "__anext__") or hasattr(source, "__next__")):
            if self._used:
                raise RuntimeError(
                    "this response's source is a one-shot iterator that was already streamed; "
                    "pass an emitter or a re-iterable source to serve several requests"
                )
            self._used = True
        run = StreamRun(source, self.new_encoder(), self.settings)
        return run.run(receive, send, start, self.background)


async def _head(send: Send, start: Message) -> None:
    """A ``HEAD`` request: the headers and an empty body; the source is never run."""
    await send(start)
    await send({"type": "http.response.body", "body": b"", "more_body": False})
