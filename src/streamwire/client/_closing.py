"""The context-manager half that every client stream object shares."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Closing"]


class Closing:
    """``async with`` calls ``aclose()`` and ``with`` calls ``close()`` on the way out.

    A subclass defines ``close()`` and ``aclose()``: the stream objects are read with ``for``
    (an ``httpx.Client``) or ``async for`` (an ``httpx.AsyncClient``), and either way leaving the
    block closes the connection at once, so the server sees the client leave.
    """

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
