"""with_completion_hook: called exactly once, however the stream ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from streamwire.chat import Completion, with_completion_hook
from streamwire.protocol.chunks import Chunk, Done, ErrorChunk, TextDelta, Usage

WAIT_SECONDS = 5.0


class Recorder:
    """A sync hook that records its calls."""

    def __init__(self) -> None:
        self.calls: list[Completion] = []

    def __call__(self, completion: Completion) -> None:
        self.calls.append(completion)

    @property
    def only(self) -> Completion:
        assert len(self.calls) == 1, self.calls
        return self.calls[0]


class Source:
    """An async generator source that records whether it was closed."""

    def __init__(self, chunks: list[Chunk], *, then_wait: bool = False, fail: bool = False) -> None:
        self.chunks = chunks
        self.then_wait = then_wait
        self.fail = fail
        self.closed = False
        self.waiting = asyncio.Event()

    async def __call__(self) -> AsyncIterator[Chunk]:
        try:
            for chunk in self.chunks:
                yield chunk
            if self.fail:
                raise RuntimeError("upstream broke")
            if self.then_wait:
                self.waiting.set()
                await asyncio.sleep(3600)
        finally:
            self.closed = True


FULL: list[Chunk] = [
    TextDelta(delta="Hel"),
    TextDelta(delta="lo"),
    Usage(input_tokens=2, output_tokens=3),
    Done(finish_reason="stop"),
]


async def test_exhausted_stream_is_completed_with_text_and_usage() -> None:
    hook = Recorder()
    source = Source(FULL)
    seen = [chunk async for chunk in with_completion_hook(source(), hook)]
    assert seen == FULL
    assert hook.only == Completion(
        text="Hello",
        usage=Usage(input_tokens=2, output_tokens=3),
        finish_reason="stop",
        outcome="completed",
        chunks=4,
    )
    assert source.closed


async def test_consumer_closing_early_is_cancelled_and_closes_the_source() -> None:
    hook = Recorder()
    source = Source(FULL)
    stream = with_completion_hook(source(), hook)
    assert await anext(stream) == TextDelta(delta="Hel")
    assert hook.calls == []
    await stream.aclose()
    assert hook.only.outcome == "cancelled"
    assert hook.only.text == "Hel"
    assert hook.only.usage is None
    assert source.closed
    await stream.aclose()  # closing again does not call the hook again
    assert len(hook.calls) == 1


async def test_consumer_stopping_right_after_done_is_completed() -> None:
    hook = Recorder()
    stream = with_completion_hook(Source(FULL)(), hook)
    async for chunk in stream:
        if isinstance(chunk, Done):
            break
    await stream.aclose()
    assert hook.only.outcome == "completed"


async def test_cancelled_consumer_task_calls_the_hook_once() -> None:
    hook = Recorder()
    source = Source([TextDelta(delta="partial")], then_wait=True)

    async def consume() -> None:
        async for _ in with_completion_hook(source(), hook):
            pass

    task = asyncio.create_task(consume())
    await asyncio.wait_for(source.waiting.wait(), WAIT_SECONDS)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_SECONDS)
    assert hook.only.outcome == "cancelled"
    assert hook.only.text == "partial"
    assert source.closed


async def test_async_hook_finishes_even_when_the_task_is_cancelled() -> None:
    finished = asyncio.Event()
    started = asyncio.Event()
    received: list[Completion] = []

    async def slow_hook(completion: Completion) -> None:
        started.set()
        await asyncio.sleep(0.01)
        received.append(completion)
        finished.set()

    source = Source([TextDelta(delta="x")], then_wait=True)

    async def consume() -> None:
        async for _ in with_completion_hook(source(), slow_hook):
            pass

    task = asyncio.create_task(consume())
    await asyncio.wait_for(source.waiting.wait(), WAIT_SECONDS)
    task.cancel()
    await asyncio.wait_for(started.wait(), WAIT_SECONDS)
    task.cancel()  # cancelled again while the hook is being awaited
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_SECONDS)
    await asyncio.wait_for(finished.wait(), WAIT_SECONDS)
    assert [c.outcome for c in received] == ["cancelled"]


async def test_source_exception_is_error_and_propagates() -> None:
    hook = Recorder()
    with pytest.raises(RuntimeError, match="upstream broke"):
        async for _ in with_completion_hook(Source([TextDelta(delta="a")], fail=True)(), hook):
            pass
    assert hook.only.outcome == "error"
    assert isinstance(hook.only.exception, RuntimeError)
    assert hook.only.text == "a"


async def test_error_chunk_makes_the_outcome_error() -> None:
    hook = Recorder()
    error = ErrorChunk(message="m", code="c", retryable=False)
    chunks: list[Chunk] = [TextDelta(delta="a"), error, Done(finish_reason="error")]
    async for _ in with_completion_hook(Source(chunks)(), hook):
        pass
    assert (hook.only.outcome, hook.only.error, hook.only.finish_reason) == (
        "error",
        error,
        "error",
    )


async def test_a_failing_hook_is_logged_and_does_not_break_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad_hook(completion: Completion) -> None:
        raise ValueError("hook bug")

    seen = [chunk async for chunk in with_completion_hook(Source(FULL)(), bad_hook)]
    assert seen == FULL
    assert "completion hook failed" in caplog.text


async def test_a_failing_async_hook_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def bad_hook(completion: Completion) -> None:
        raise ValueError("async hook bug")

    seen = [chunk async for chunk in with_completion_hook(Source(FULL)(), bad_hook)]
    assert seen == FULL
    await asyncio.sleep(0)  # let the done-callback run
    assert "completion hook failed" in caplog.text
