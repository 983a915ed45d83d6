"""``ShutdownMonitor.register`` / ``unregister``: a stream's callback without a context manager
(issue 9), and ``subscribe`` built on them."""

from __future__ import annotations

import asyncio

import pytest

from streamwire.server.shutdown import ShutdownMonitor
from tests.server._support import WAIT_SECONDS


class Calls:
    """A callback that counts its calls and lets a test wait for the next one."""

    def __init__(self) -> None:
        self.count = 0
        self.called = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.called.set()

    async def wait(self) -> None:
        await asyncio.wait_for(self.called.wait(), WAIT_SECONDS)
        self.called.clear()


async def settle() -> None:
    """Let every callback scheduled with call_soon(_threadsafe) so far run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_registered_callback_runs_on_request() -> None:
    monitor = ShutdownMonitor()
    calls = Calls()
    monitor.register(calls)
    assert calls.count == 0
    monitor.request()
    await calls.wait()
    await settle()
    assert calls.count == 1


async def test_an_unregistered_callback_does_not_run_on_request() -> None:
    monitor = ShutdownMonitor()
    removed, kept = Calls(), Calls()
    # Registered first: had it still been registered, it would have run before the kept one.
    key = monitor.register(removed)
    monitor.register(kept)
    monitor.unregister(key)
    monitor.request()
    await kept.wait()
    await settle()
    assert removed.count == 0


async def test_register_returns_a_distinct_key_per_callback() -> None:
    monitor = ShutdownMonitor()
    first, second = Calls(), Calls()
    keys = {monitor.register(first), monitor.register(first), monitor.register(second)}
    assert len(keys) == 3
    for key in keys:
        monitor.unregister(key)
    monitor.request()
    await settle()
    assert first.count == second.count == 0


async def test_unregister_twice_or_an_unknown_key_is_harmless() -> None:
    monitor = ShutdownMonitor()
    removed, kept = Calls(), Calls()
    key = monitor.register(removed)
    monitor.register(kept)
    monitor.unregister(key)
    monitor.unregister(key)  # idempotent, as documented
    monitor.unregister(10_000)  # never handed out
    monitor.request()
    await kept.wait()
    await settle()
    assert removed.count == 0
    assert kept.count == 1


async def test_registering_after_a_request_schedules_the_callback_at_once() -> None:
    monitor = ShutdownMonitor()
    monitor.request()
    calls = Calls()
    monitor.register(calls)
    await calls.wait()


def test_register_without_a_running_loop_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        ShutdownMonitor().register(lambda: None)


async def test_subscribe_calls_the_callback_only_while_inside() -> None:
    monitor = ShutdownMonitor()
    calls = Calls()
    with monitor.subscribe(calls):
        monitor.request()
        await calls.wait()
    monitor.reset()
    monitor.request()
    await settle()
    assert calls.count == 1
