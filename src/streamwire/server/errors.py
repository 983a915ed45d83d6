"""Errors of the server half: the one a source raises to show its message, and misuse errors.

Whatever leaves the process is safe to show. An exception from a stream's source becomes the
generic ``internal_error`` chunk; only a :class:`SafeStreamError` passes its own message and code
through, because raising it is the author's statement that the text is fit for the client.
"""

from __future__ import annotations

from streamwire.protocol.errors import StreamwireError

__all__ = ["SafeStreamError", "StreamClosedError"]


class SafeStreamError(StreamwireError):
    """An error whose message is safe to send to the client as the stream's ``error`` chunk.

    Raise it from a stream's source to end the stream with your own message and code instead of
    the generic "The stream failed." (the traceback still goes to the log).

    Args:
        message: shown to the person at the other end; no secrets, no internals.
        code: machine-readable, e.g. ``"rate_limited"`` or ``"upstream_error"``.
        retryable: whether trying again may succeed.

    Raises:
        InvalidArgumentError: ``message`` or ``code`` is empty.

    Example:
        >>> raise SafeStreamError("The model is overloaded.", code="upstream_busy", retryable=True)
        Traceback (most recent call last):
        ...
        streamwire.server.errors.SafeStreamError: The model is overloaded. (code 'upstream_busy')
    """

    def __init__(self, message: str, *, code: str, retryable: bool = False) -> None:
        from streamwire.protocol.errors import InvalidArgumentError

        if not message:
            raise InvalidArgumentError("message", "must not be empty")
        if not code:
            raise InvalidArgumentError("code", "must not be empty")
        self.message = message
        self.code = code
        self.retryable = retryable
        super().__init__(f"{message} (code {code!r})")


class StreamClosedError(StreamwireError):
    """``emit()`` was called after the stream sent its ``done`` chunk; nothing more can go out.

    Attributes:
        item_type: the type name of the item that could not be sent.
    """

    def __init__(self, item_type: str) -> None:
        self.item_type = item_type
        super().__init__(f"cannot emit a {item_type}: the stream already sent its done chunk")
