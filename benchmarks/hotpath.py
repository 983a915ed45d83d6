"""Where streamwire's ``sse()`` spends its time per event, in-process, without a network.

``.venv/bin/python benchmarks/hotpath.py`` runs ``sse()`` as a bare ASGI app against an ASGI
``send`` that only counts bytes and never blocks (as uvicorn's does while the client keeps up), on
uvloop, and reports CPU microseconds per event for variants that switch one cost off through
public options, next to a raw ASGI loop doing the same work. The difference between two rows is
what that part costs; ``run.py``'s end-to-end numbers add uvicorn's own ``send`` (about 2-3 µs
per call on the reference machine) and the socket.

Two shapes: one unpaced stream of ``--events`` small events (the throughput path) and
``--streams`` concurrent streams of events 1 ms apart (the paced path: every event wakes the
stream from an idle wait).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import uvloop

from streamwire.server import sse
from streamwire.sse import ServerSentEvent

Message = MutableMapping[str, Any]
DATA = "x" * 16


async def unpaced(n: int, item: Callable[[], object]) -> AsyncIterator[Any]:
    """``n`` items made by ``item()``, back to back."""
    for _ in range(n):
        yield item()


async def paced(n: int, interval: float) -> AsyncIterator[str]:
    """``n`` strings ``interval`` seconds apart."""
    for _ in range(n):
        await asyncio.sleep(interval)
        yield DATA


class Sink:
    """An ASGI ``send`` that counts bytes, and a ``receive`` that never disconnects."""

    def __init__(self) -> None:
        self.bytes = 0
        self.sends = 0
        self.forever: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def send(self, message: Message) -> None:
        self.sends += 1
        self.bytes += len(message.get("body", b""))

    async def receive(self) -> Message:
        await self.forever
        return {"type": "http.disconnect"}


SCOPE: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "query_string": b""}


async def raw_loop(n: int, sink: Sink) -> None:
    """The floor: encode a str as ``data: ...`` and send it, one send per event."""
    await sink.send({"type": "http.response.start", "status": 200, "headers": []})
    async for data in unpaced(n, lambda: DATA):
        await sink.send(
            {"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True}
        )
    await sink.send({"type": "http.response.body", "body": b"", "more_body": False})


Variant = Callable[[int, Sink], Awaitable[None]]


def sse_variant(item: Callable[[], object], **options: Any) -> Variant:
    """``sse()`` over ``n`` items made by ``item()`` with ``options``."""

    async def run(n: int, sink: Sink) -> None:
        await sse(unpaced(n, item), **options)(SCOPE, sink.receive, sink.send)

    return run


UNPACED: dict[str, Variant] = {
    "raw ASGI loop (f-string + send)": raw_loop,
    "sse() defaults (coalescing), str items": sse_variant(lambda: DATA),
    "sse(), ServerSentEvent items": sse_variant(lambda: ServerSentEvent(data=DATA)),
    "sse(coalesce=False), str items": sse_variant(lambda: DATA, coalesce=False),
    "sse(coalesce=False, send_timeout=None)": sse_variant(
        lambda: DATA, coalesce=False, send_timeout_seconds=None
    ),
    "sse(coalesce=False, send_timeout=None, heartbeat=None)": sse_variant(
        lambda: DATA, coalesce=False, send_timeout_seconds=None, heartbeat_seconds=None
    ),
}


def paced_variant(**options: Any) -> Callable[[int, int, float], Awaitable[int]]:
    """``streams`` concurrent ``sse()`` streams of ``n`` paced events; returns events sent."""

    async def run(streams: int, n: int, interval: float) -> int:
        sinks = [Sink() for _ in range(streams)]
        await asyncio.gather(
            *(sse(paced(n, interval), **options)(SCOPE, sink.receive, sink.send) for sink in sinks)
        )
        return sum(s.sends for s in sinks)

    return run


async def raw_paced(streams: int, n: int, interval: float) -> int:
    """The floor for the paced shape: sleep, encode, send."""
    sinks = [Sink() for _ in range(streams)]

    async def one(sink: Sink) -> None:
        await sink.send({"type": "http.response.start", "status": 200, "headers": []})
        async for data in paced(n, interval):
            await sink.send(
                {
                    "type": "http.response.body",
                    "body": f"data: {data}\n\n".encode(),
                    "more_body": True,
                }
            )
        await sink.send({"type": "http.response.body", "body": b"", "more_body": False})

    await asyncio.gather(*(one(s) for s in sinks))
    return sum(s.sends for s in sinks)


PACED: dict[str, Callable[[int, int, float], Awaitable[int]]] = {
    "raw ASGI loop": raw_paced,
    "sse() defaults (coalescing)": paced_variant(),
    "sse(coalesce=False)": paced_variant(coalesce=False),
    "sse(send_timeout_seconds=None)": paced_variant(send_timeout_seconds=None),
    "sse(heartbeat_seconds=None)": paced_variant(heartbeat_seconds=None),
    "sse(send_timeout=None, heartbeat=None)": paced_variant(
        send_timeout_seconds=None, heartbeat_seconds=None
    ),
}


async def measure_unpaced(variant: Variant, n: int) -> float:
    """CPU µs per event of one unpaced stream of ``n`` events."""
    sink = Sink()
    gc.collect()
    start = time.process_time()
    await variant(n, sink)
    return (time.process_time() - start) / n * 1e6


async def measure_paced(
    variant: Callable[[int, int, float], Awaitable[int]], streams: int, n: int
) -> float:
    """CPU µs per event of ``streams`` streams of ``n`` events 1 ms apart."""
    gc.collect()
    start = time.process_time()
    await variant(streams, n, 0.001)
    return (time.process_time() - start) / (streams * n) * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run every variant ``--runs`` times, interleaved; print the median µs per event."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--paced-events", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    unpaced_times: dict[str, list[float]] = {name: [] for name in UNPACED}
    paced_times: dict[str, list[float]] = {name: [] for name in PACED}
    for _ in range(args.runs):
        for name, variant in UNPACED.items():
            unpaced_times[name].append(uvloop.run(measure_unpaced(variant, args.events)))
        for name, paced_run in PACED.items():
            paced_times[name].append(
                uvloop.run(measure_paced(paced_run, args.streams, args.paced_events))
            )
    print(f"one unpaced stream of {args.events} events of {len(DATA)} B: CPU µs per event")
    for name, times in unpaced_times.items():
        print(
            f"  {name:50} {statistics.median(times):6.2f}  (runs {min(times):.2f}-{max(times):.2f})"
        )
    print(f"{args.streams} streams x {args.paced_events} events 1 ms apart: CPU µs per event")
    for name, times in paced_times.items():
        print(
            f"  {name:50} {statistics.median(times):6.2f}  (runs {min(times):.2f}-{max(times):.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
