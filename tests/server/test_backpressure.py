"""Backpressure: a client that does not read holds the producer, not memory (issue 3)."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamwire.server import SSEItem, StreamOutcome, sse
from streamwire.server._engine import COALESCE_MAX_BYTES
from tests.server._support import WAIT_SECONDS, wait_for
from tests.servers import LiveServer

EVENT_BYTES = 1024
BUFFERED = 8
STALLED_CLIENTS = 100
CLIENT_RCVBUF = 4096
# The server's kernel send buffer, fixed (Linux otherwise grows it to megabytes on loopback,
# which is kernel memory, not ours, but makes the test push hundreds of MB through loopback).
SERVER_SNDBUF = 32 * 1024
# What may legitimately sit between a blocked producer and a client that reads nothing: the
# response's buffer and the event in the sender's hand, one coalesced batch (the events the
# source had ready, up to COALESCE_MAX_BYTES and the item that crossed it), asyncio's transport
# buffer (uvicorn pauses at 64 KiB; one write may overshoot it), the kernel's send buffer and
# the client's receive buffer (the kernel doubles what was asked for both; getsockopt reports
# the result).
TRANSPORT_HIGH_WATER = 64 * 1024
BATCH_BYTES = COALESCE_MAX_BYTES + EVENT_BYTES


@dataclass
class Counter:
    produced: int = 0
    closed: threading.Event = field(default_factory=threading.Event)
    outcomes: list[StreamOutcome] = field(default_factory=list)


counters: dict[str, Counter] = {}


async def fast(request: Request) -> Response:
    counter = counters.setdefault(request.query_params["id"], Counter())
    timeout = request.query_params.get("timeout")
    payload = "x" * (EVENT_BYTES - 40)

    async def source() -> AsyncIterator[SSEItem]:
        try:
            while True:
                counter.produced += 1
                yield payload
        finally:
            counter.closed.set()

    return sse(
        source(),
        max_buffered_events=BUFFERED,
        send_timeout_seconds=float(timeout) if timeout else None,
        on_close=counter.outcomes.append,
    )


app = Starlette(routes=[Route("/fast", fast)])


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer(app)
    # Accepted sockets inherit the listening socket's buffer size.
    live._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SERVER_SNDBUF)
    with live:
        yield live


def _stalled_client(port: int, path: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)
    sock.settimeout(WAIT_SECONDS)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _all_blocked(keys: list[str]) -> bool:
    before = [counters[key].produced if key in counters else -1 for key in keys]
    threading.Event().wait(0.2)
    after = [counters[key].produced if key in counters else -1 for key in keys]
    return before == after and min(after) > 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc for RSS")
def test_100_stalled_clients_block_their_producers_and_memory_stays_bounded(
    server: LiveServer,
) -> None:
    rss_before = _rss_bytes()
    keys = [f"stalled-{index}" for index in range(STALLED_CLIENTS)]
    socks = [_stalled_client(server.port, f"/fast?id={key}") for key in keys]
    try:
        assert wait_for(lambda: _all_blocked(keys), seconds=3 * WAIT_SECONDS)
        rcvbuf = socks[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        sndbuf = server._sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        bound_bytes = (
            (BUFFERED + 2) * EVENT_BYTES
            + BATCH_BYTES
            + TRANSPORT_HIGH_WATER
            + EVENT_BYTES
            + sndbuf
            + rcvbuf
        )
        worst = max(counters[key].produced for key in keys)
        assert worst * EVENT_BYTES <= bound_bytes
        growth = _rss_bytes() - rss_before
        # Each stalled stream holds its bounded buffers (~100 KiB); without backpressure a fast
        # producer fills memory at hundreds of MB per second.
        assert growth < 64 * 1024 * 1024, f"RSS grew by {growth / 2**20:.1f} MiB"
    finally:
        for sock in socks:
            sock.close()
    assert all(counters[key].closed.wait(WAIT_SECONDS) for key in keys)


def test_client_that_reads_nothing_is_dropped_after_the_send_timeout(server: LiveServer) -> None:
    sock = _stalled_client(server.port, "/fast?id=timeout&timeout=0.3")
    try:
        counter_ready = wait_for(lambda: "timeout" in counters)
        assert counter_ready
        counter = counters["timeout"]
        assert counter.closed.wait(WAIT_SECONDS), "the source was not cancelled"
        assert wait_for(lambda: len(counter.outcomes) == 1)
        outcome = counter.outcomes[0]
        assert outcome.status == "timeout"
        assert isinstance(outcome.error, TimeoutError)
        assert "send_timeout_seconds" in str(outcome.error)
    finally:
        sock.close()


def test_a_reading_client_gets_everything_a_stalled_one_holds_back(server: LiveServer) -> None:
    # Reading resumes the producer: the count grows again once the client reads.
    sock = _stalled_client(server.port, "/fast?id=resume")
    try:
        assert wait_for(lambda: _all_blocked(["resume"]))
        held = counters["resume"].produced
        received = 0
        while received < 2 * 1024 * 1024:
            received += len(sock.recv(65536))
        assert counters["resume"].produced > held
    finally:
        sock.close()
