"""Leaving a provider's stream closes the upstream request, within a second, however it is left.

Each test streams a slow reply from a fake upstream (real HTTP on 127.0.0.1) that records when
its client's connection closes, then leaves: ``aclose()``, cancelling the reading task (also
repeatedly, as anyio cancel scopes do), or dropping the iterator.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest

from streamwire.protocol.chunks import Chunk, TextDelta
from streamwire.providers import AnthropicProvider, OpenAIProvider, Provider
from streamwire.providers._http import close_surviving_cancellation
from tests.providers.fakes import (
    AnthropicBlock,
    FakeUpstream,
    anthropic_reply,
    chat,
    openai_reply,
)

# The bound on "a fraction of a second": the fake must see the close within this.
CLOSE_SECONDS = 1.0
FIRST_CHUNK_SECONDS = 5.0


def _slow_openai() -> FakeUpstream:
    # "Hello there", then nothing for a long time: a model that is slow to go on.
    return FakeUpstream(
        "openai", openai_reply(text=["Hello", " there"], partial=True, hold_open_seconds=8)
    )


def _slow_anthropic() -> FakeUpstream:
    reply = anthropic_reply(
        [AnthropicBlock(kind="text", pieces=("Hello", " there"))],
        partial=True,
        hold_open_seconds=8,
    )
    return FakeUpstream("anthropic", reply)


@pytest.fixture(params=["openai", "anthropic"])
def upstream(request: pytest.FixtureRequest) -> Iterator[tuple[FakeUpstream, Provider]]:
    fake = _slow_openai() if request.param == "openai" else _slow_anthropic()
    with fake:
        provider: Provider
        if request.param == "openai":
            provider = OpenAIProvider(base_url=fake.base_url, api_key="sk-test")
        else:
            provider = AnthropicProvider(base_url=fake.base_url, api_key="sk-ant-test")
        yield fake, provider


async def _closed(fake: FakeUpstream) -> bool:
    return await asyncio.to_thread(fake.wait_disconnected, CLOSE_SECONDS)


async def _first_text(stream: AsyncIterator[Chunk]) -> Chunk:
    async def first() -> Chunk:
        async for chunk in stream:
            if isinstance(chunk, TextDelta):
                return chunk
        raise AssertionError("the stream ended without text")

    return await asyncio.wait_for(first(), FIRST_CHUNK_SECONDS)


async def test_aclose_closes_the_upstream(upstream: tuple[FakeUpstream, Provider]) -> None:
    fake, provider = upstream
    stream = provider.stream(chat("hi"))
    assert await _first_text(stream) == TextDelta(delta="Hello")
    assert not fake.disconnected.is_set()
    await stream.aclose()  # type: ignore[attr-defined]  # every provider stream is an async generator
    assert await _closed(fake)


async def test_cancelling_the_reading_task_closes_the_upstream(
    upstream: tuple[FakeUpstream, Provider],
) -> None:
    fake, provider = upstream
    got = asyncio.Event()

    async def read() -> None:
        async for chunk in provider.stream(chat("hi")):
            if isinstance(chunk, TextDelta):
                got.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(got.wait(), FIRST_CHUNK_SECONDS)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _closed(fake)


async def test_close_survives_a_second_cancellation(
    upstream: tuple[FakeUpstream, Provider],
) -> None:
    fake, provider = upstream
    got = asyncio.Event()

    async def read() -> None:
        async for _chunk in provider.stream(chat("hi")):
            got.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(got.wait(), FIRST_CHUNK_SECONDS)
    task.cancel()
    await asyncio.sleep(0)  # the first cancellation lands; the close starts
    task.cancel()  # and is itself cancelled
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _closed(fake)


async def test_anyio_cancel_scope_closes_the_upstream(
    upstream: tuple[FakeUpstream, Provider],
) -> None:
    # anyio delivers a cancellation at every await inside a cancelled scope: cleanup that
    # awaits unshielded would be interrupted.
    fake, provider = upstream
    with anyio.CancelScope() as scope:
        async for chunk in provider.stream(chat("hi")):
            if isinstance(chunk, TextDelta):
                scope.cancel()
    assert scope.cancelled_caught
    assert await _closed(fake)


async def test_dropping_the_iterator_closes_the_upstream(
    upstream: tuple[FakeUpstream, Provider],
) -> None:
    fake, provider = upstream
    stream = provider.stream(chat("hi"))
    await _first_text(stream)
    del stream  # never closed explicitly: the event loop's async-generator hook closes it
    gc.collect()
    assert await _closed(fake)


async def test_an_injected_client_survives_the_close() -> None:
    fake = _slow_openai()
    with fake:
        async with httpx.AsyncClient() as client:
            provider = OpenAIProvider(base_url=fake.base_url, api_key="sk-test", client=client)
            stream = provider.stream(chat("hi"))
            await _first_text(stream)
            await stream.aclose()
            assert await _closed(fake)
            assert not client.is_closed


async def test_close_helper_finishes_closing_even_when_its_waiter_is_cancelled() -> None:
    finished = asyncio.Event()
    started = asyncio.Event()

    async def slow_close() -> None:
        started.set()
        await asyncio.sleep(0.05)
        finished.set()

    async def failing_close() -> None:
        raise OSError("already gone")

    waiter = asyncio.create_task(close_surviving_cancellation([failing_close, slow_close]))
    await asyncio.wait_for(started.wait(), 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(finished.wait(), 1)
