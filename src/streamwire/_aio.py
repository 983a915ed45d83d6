"""Small async helpers the IO adapters share (server, chat, client, app)."""

from __future__ import annotations

__all__ = ["aclose"]


async def aclose(iterator: object) -> None:
    """Close ``iterator`` if it can be closed (an async generator, a provider stream, an httpx
    body); do nothing for one that cannot.

    Closing what was iterated matters when the loop ends early: a suspended async generator
    would otherwise keep its upstream request (and the tokens it costs) open until collected.
    """
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
