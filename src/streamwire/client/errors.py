"""The errors of the Python clients: the network's, the server's answer, and error chunks.

They sit under :class:`~streamwire.protocol.errors.StreamwireError` beside the peer's protocol
errors (:class:`~streamwire.protocol.errors.TruncatedStreamError`,
:class:`~streamwire.protocol.errors.MalformedStreamError`), which the clients raise as they are:

* :class:`StreamConnectionError`: the connection failed or broke (the network's fault);
  :class:`StreamTimeoutError` is the case where nothing arrived in time.
* :class:`StreamResponseError`: the server answered, but not with a stream (a status other than
  200, or a content type other than ``text/event-stream``). Never retried.
* :class:`StreamErrorChunkError`: the stream carried an ``error`` chunk and the caller asked for
  errors to be raised (``raise_on_error=True``).
* :class:`StreamConsumedError`: the caller iterated a one-shot stream a second time.
"""

from __future__ import annotations

from streamwire.protocol.chunks import ErrorChunk
from streamwire.protocol.errors import StreamwireError

__all__ = [
    "StreamConnectionError",
    "StreamConsumedError",
    "StreamErrorChunkError",
    "StreamResponseError",
    "StreamTimeoutError",
]

# How much of a response body an error keeps: enough to show the server's message.
_BODY_EXCERPT_CHARS = 500


class StreamConnectionError(StreamwireError):
    """The connection to the server could not be made, or broke while reading.

    Attributes:
        url: the URL the client was reading.
        reason: what happened, e.g. ``"connection refused"``.
        attempts: how many connections were tried in a row before giving up (1 when the client
            does not reconnect).
        received: how many events or chunks had been read before the failure.
    """

    def __init__(self, reason: str, *, url: str, attempts: int = 1, received: int = 0) -> None:
        self.reason = reason
        self.url = url
        self.attempts = attempts
        self.received = received
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{reason} ({url}{tries}; {received} received)")


class StreamTimeoutError(StreamConnectionError):
    """Nothing arrived for ``seconds`` seconds: no response, no bytes, not even a heartbeat.

    A subclass of :class:`StreamConnectionError`: an idle connection counts as a dead one.

    Attributes:
        seconds: the timeout that ran out.
    """

    def __init__(
        self,
        reason: str,
        *,
        url: str,
        seconds: float | None,
        attempts: int = 1,
        received: int = 0,
    ) -> None:
        self.seconds = seconds
        super().__init__(reason, url=url, attempts=attempts, received=received)


class StreamResponseError(StreamwireError):
    """The server answered, but not with an event stream; the client does not retry.

    Raised for a status other than 2xx (``204 No Content`` included: the server's way of saying
    there is nothing to stream, or nothing to resume), and for a content type other than
    ``text/event-stream``.

    Attributes:
        url: the URL that was asked.
        status_code: the HTTP status.
        content_type: the response's content type (``""`` when it had none).
        reason: what was expected.
        body: the start of the response body (at most 500 characters), to show the server's
            own explanation; ``""`` when it was empty or not read.
    """

    def __init__(
        self, reason: str, *, url: str, status_code: int, content_type: str = "", body: str = ""
    ) -> None:
        self.reason = reason
        self.url = url
        self.status_code = status_code
        self.content_type = content_type
        self.body = body[:_BODY_EXCERPT_CHARS]
        shown = f": {self.body!r}" if self.body else ""
        super().__init__(f"{reason} (HTTP {status_code} from {url}){shown}")


class StreamErrorChunkError(StreamwireError):
    """The stream carried an ``error`` chunk (raised only with ``raise_on_error=True``).

    Attributes:
        chunk: the error chunk, as received.
        message: its message (safe to show to a person).
        code: its machine-readable code.
        retryable: whether the server says trying again may succeed.
    """

    def __init__(self, chunk: ErrorChunk) -> None:
        self.chunk = chunk
        self.message = chunk.message
        self.code = chunk.code
        self.retryable = chunk.retryable
        again = ", retryable" if chunk.retryable else ""
        super().__init__(f"the stream reported an error [{chunk.code}{again}]: {chunk.message}")


class StreamConsumedError(StreamwireError, RuntimeError):
    """A one-shot stream was iterated again; its response is read (or closed) already.

    Attributes:
        what: the kind of object, e.g. ``"ChunkStream"``.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"this {what} has been iterated already; open a new one to read again")
