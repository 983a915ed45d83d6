"""The sans-IO protocol core: bytes and objects in, bytes and objects out.

Nothing under this package waits or does IO (no asyncio, anyio, starlette, httpx, logging); a
test checks it in a fresh interpreter. Adapters (``streamwire.server``, ``streamwire.client``,
``streamwire.providers``) import from here, never the other way round.
"""
