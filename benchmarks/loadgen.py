"""An asyncio load client for many concurrent SSE streams, and the server-side probes it reads.

``python benchmarks/loadgen.py paced URL --streams 1000 --n 250 --size 64 --interval-ms 20
--server-pid PID`` opens that many ``GET /stream`` requests at once and prints one JSON object:
stream duration against the nominal ``n * interval``, first-event latency, delivery latency (each
paced event carries its due time, see :mod:`apps`), the server's CPU time and peak RSS over the
run, and the client's own CPU use so a saturated client is visible rather than silently skewing
the numbers. ``idle URL --streams 2000 --server-pid PID`` holds that many streams open after their
first event and reports the server's resident memory per connection.

To keep up with tens of thousands of events per second on one core, the client is an
``asyncio.Protocol`` on uvloop with a minimal HTTP/1.1 reader: status line, headers, chunked
transfer coding, and just enough SSE to find events (blank-line terminated blocks, ``LF`` or
``CRLF``; a block with a ``data:`` line is an event, one with ``event: end`` ends the stream,
comment-only blocks such as heartbeats are skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import sys
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
# At most this many connects in flight at once: a burst larger than the kernel's SYN backlog
# (net.ipv4.tcp_max_syn_backlog, 2048 here) would be dropped and retried a second later,
# measuring the kernel rather than the server. Each stream's clock starts at its own connect.
CONNECT_CONCURRENCY = 1000
_DIGITS = re.compile(rb"[0-9]+")
# How long a stream may wait for its response head before its slot goes to the next one.
HEAD_TIMEOUT_SECONDS = 30.0
# How long an idle-memory run lets the server settle after the last stream opened.
IDLE_SETTLE_SECONDS = 1.0


# --- server probes (/proc) -------------------------------------------------------------------


def sched_seconds(pid: int) -> tuple[float, float]:
    """``(on CPU, waiting for a CPU)`` so far for the live threads of process ``pid``, in seconds.

    From each thread's ``/proc/PID/task/TID/schedstat`` (nanoseconds). The second figure is the
    time the process was ready to run but another process had its core: when it is a large share
    of a measurement, the machine was busy and the measurement is disturbed. ``(nan, nan)`` where
    schedstat is not available.
    """
    running = waiting = 0
    found = False
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with (
                contextlib.suppress(FileNotFoundError),
                open(f"/proc/{pid}/task/{tid}/schedstat") as f,
            ):
                fields = f.read().split()
                running += int(fields[0])
                waiting += int(fields[1])
                found = True
    except OSError:
        found = False
    if not found:
        return float("nan"), float("nan")
    return running / 1e9, waiting / 1e9


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by process ``pid``, in seconds.

    Uses schedstat (nanoseconds, see :func:`sched_seconds`) rather than ``/proc/PID/stat``,
    whose clock ticks (10 ms) are too coarse for a one-second measurement; falls back to
    ``stat`` where schedstat is not available.
    """
    running, _ = sched_seconds(pid)
    if running == running:  # not NaN
        return running
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name (field 2) may contain spaces; the fields after it are space-separated.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (peak resident) of process ``pid``, in KiB."""
    result: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                result[key] = int(value.split()[0])
    return result


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, 1 << 20) if hard == resource.RLIM_INFINITY else hard
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, by the nearest-rank method."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 1))))
    return float(sorted_values[rank - 1])


# --- one stream ------------------------------------------------------------------------------


class ProtocolViolation(Exception):
    """The server's response is not what the benchmark route promises.

    Attributes:
        offset: the byte offset in the response (headers included) where it was noticed.
        reason: what was wrong.
    """

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(f"{reason} (at response byte {offset})")


@dataclass(slots=True)
class StreamStats:
    """What one stream measured. Times are ``time.monotonic()`` seconds."""

    started: float = 0.0
    first_byte: float | None = None  # the response head arrived
    first_event: float | None = None
    first_token: float | None = None  # the first event holding the token marker
    ended: float | None = None
    events: int = 0
    tokens: int = 0  # events holding the token marker (chat mode)
    error: str | None = None
    # Delivery latency of each stamped event, in microseconds.
    latencies_us: array[int] = field(default_factory=lambda: array("q"))


class SSEStreamProtocol(asyncio.Protocol):
    """Reads one ``/stream`` response and records its timings in a :class:`StreamStats`."""

    def __init__(
        self,
        request: bytes,
        stats: StreamStats,
        done: asyncio.Future[None],
        *,
        stamped: bool,
        head_received: asyncio.Future[None] | None = None,
        token_marker: bytes | None = None,
    ) -> None:
        self.request = request
        self.stats = stats
        self.done = done
        self.stamped = stamped
        self.head_received = head_received
        self.token_marker = token_marker
        self.body_complete = False  # the chunked body's last (empty) chunk arrived
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.in_body = False
        self.chunked = False
        self.raw = bytearray()  # undecoded chunked body
        self.chunk_left = 0  # data bytes left in the current chunk
        self.chunk_crlf = False  # the CRLF after a chunk's data is still due
        self.body = bytearray()  # decoded body not yet parsed into events
        self.term = b""  # event terminator, b"\n\n" or b"\r\n\r\n", set by the first line end
        self.offset = 0  # bytes received, for error messages

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        try:
            if not self.in_body:
                self.head += data
                end = self.head.find(b"\r\n\r\n")
                if end < 0:
                    self.offset += len(data)
                    return
                self._read_head(bytes(self.head[:end]))
                data = bytes(self.head[end + 4 :])
                self.offset += len(data)
                self.head.clear()
                self.in_body = True
                self.stats.first_byte = now
                if self.head_received is not None and not self.head_received.done():
                    self.head_received.set_result(None)
            else:
                self.offset += len(data)
            if self.chunked:
                self._dechunk(data)
            else:
                self.body += data
            self._events(now)
            if self.body_complete and not self.done.done():
                # A body without an end event (the chat routes end with a done chunk).
                self.stats.ended = now
                self._finish(None)
        except ProtocolViolation as exc:
            self._finish(str(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self._finish(f"connection lost before the end event: {exc or 'closed by server'}")

    def _finish(self, error: str | None) -> None:
        if error is not None and self.stats.error is None:
            self.stats.error = error
        if not self.done.done():
            self.done.set_result(None)
        if self.head_received is not None and not self.head_received.done():
            self.head_received.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ", 2)
        if len(status) < 2 or status[1] != b"200":
            raise ProtocolViolation(0, f"expected status 200, got {lines[0]!r}")
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
                self.chunked = True

    def _dechunk(self, data: bytes) -> None:
        raw = self.raw
        raw += data
        pos = 0
        size_total = len(raw)
        body = self.body
        while True:
            if self.chunk_left:
                take = min(self.chunk_left, size_total - pos)
                if take == 0:
                    break
                body += raw[pos : pos + take]
                pos += take
                self.chunk_left -= take
                if self.chunk_left:
                    break
                self.chunk_crlf = True
            if self.chunk_crlf:
                if size_total - pos < 2:
                    break
                pos += 2
                self.chunk_crlf = False
            eol = raw.find(b"\r\n", pos)
            if eol < 0:
                break
            size_text = bytes(raw[pos:eol]).split(b";", 1)[0]
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolViolation(self.offset, f"bad chunk size {size_text!r}") from None
            pos = eol + 2
            if size == 0:
                self.body_complete = True
                break
            self.chunk_left = size
        del raw[:pos]

    def _events(self, now: float) -> None:
        body = self.body
        term = self.term
        if not term:
            lf = body.find(b"\n")
            if lf < 0:
                return
            term = self.term = b"\r\n\r\n" if lf > 0 and body[lf - 1] == 13 else b"\n\n"
        stats = self.stats
        pos = 0
        now_us = int(now * 1_000_000)
        latencies = stats.latencies_us
        stamped = self.stamped
        marker = self.token_marker
        while True:
            end = body.find(term, pos)
            if end < 0:
                break
            data_at = body.find(b"data: ", pos, end)
            if data_at >= 0:
                if body.find(b"event: end", pos, end) >= 0:
                    stats.ended = now
                    self._finish(None)
                    return
                stats.events += 1
                if marker is not None and body.find(marker, data_at, end) >= 0:
                    stats.tokens += 1
                    if stats.first_token is None:
                        stats.first_token = now
                if stats.first_event is None:
                    stats.first_event = now
                if stamped:
                    # The first digits after "data: ": the stamp may be wrapped in JSON (FastAPI
                    # quotes strings; streamwire sends a str as a text-delta chunk).
                    stamp = _DIGITS.search(body, data_at + 6, end)
                    if stamp is None:
                        raise ProtocolViolation(self.offset, "paced event without a timestamp")
                    latencies.append(now_us - int(stamp.group()))
            pos = end + len(term)
        del body[:pos]


# --- many streams ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where and what to request."""

    host: str
    port: int
    path: str

    @classmethod
    def from_url(cls, url: str) -> Target:
        """Split ``http://host:port`` (no path) into a target; the path is filled in later."""
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"url must look like http://127.0.0.1:PORT, got {url!r}")
        return cls(host=parts.hostname, port=parts.port, path="")

    def request(self, path: str, json_body: bytes | None = None) -> bytes:
        """The bytes of a ``GET path`` request, or a ``POST`` of ``json_body``."""
        head = f"Host: {self.host}:{self.port}\r\nAccept: text/event-stream\r\n"
        if json_body is None:
            return f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()
        return (
            f"POST {path} HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
            f"Content-Length: {len(json_body)}\r\n\r\n"
        ).encode() + json_body


async def open_stream(
    target: Target,
    request: bytes,
    slots: asyncio.Semaphore,
    *,
    stamped: bool,
    token_marker: bytes | None = None,
    not_before: float = 0.0,
) -> tuple[StreamStats, asyncio.Future[None], asyncio.Transport | None]:
    """Start one stream; return its stats, a future done at its end, and its transport.

    The stream connects no earlier than ``not_before`` (``time.monotonic()``), then holds one of
    ``slots`` from its connect until its response head arrives, so at most that many
    connections wait in the server's accept queue or for its response; each stream's clock
    (``started``) begins when it gets its slot.
    """
    loop = asyncio.get_running_loop()
    delay = not_before - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    stats = StreamStats()
    done: asyncio.Future[None] = loop.create_future()
    head: asyncio.Future[None] = loop.create_future()
    async with slots:
        stats.started = time.monotonic()
        try:
            transport, _ = await loop.create_connection(
                lambda: SSEStreamProtocol(
                    request,
                    stats,
                    done,
                    stamped=stamped,
                    head_received=head,
                    token_marker=token_marker,
                ),
                target.host,
                target.port,
            )
        except OSError as exc:
            stats.error = f"connect failed: {exc}"
            done.set_result(None)
            return stats, done, None
        await asyncio.wait({head}, timeout=HEAD_TIMEOUT_SECONDS)
    return stats, done, transport


async def fetch_one(target: Target, path: str) -> StreamStats:
    """Read one whole stream (used to warm the server up before measuring)."""
    slots = asyncio.Semaphore(1)
    stats, done, _ = await open_stream(target, target.request(path), slots, stamped=False)
    await asyncio.wait_for(done, 30)
    if stats.error:
        raise RuntimeError(f"warm-up stream failed: {stats.error}")
    return stats


async def run_paced(
    target: Target,
    *,
    streams: int,
    n: int,
    size: int,
    interval_ms: float,
    server_pid: int | None,
    connect_rate: float = 0.0,
) -> dict[str, Any]:
    """Run ``streams`` concurrent paced streams and summarise them (see the module docstring).

    ``connect_rate``: new connections per second (stream ``i`` connects ``i / rate`` seconds
    after the first); 0 opens them all at once.
    """
    await fetch_one(target, "/stream?n=2&size=16&interval_ms=0")
    nominal = n * interval_ms / 1000.0
    request = target.request(f"/stream?n={n}&size={size}&interval_ms={interval_ms:g}")
    cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    wait0 = sched_seconds(server_pid)[1] if server_pid else float("nan")
    mem0 = memory_kib(server_pid) if server_pid else {}
    own0 = os.times()
    load0 = os.getloadavg()[0]
    wall0 = time.monotonic()
    slots = asyncio.Semaphore(CONNECT_CONCURRENCY)
    spacing = 1.0 / connect_rate if connect_rate > 0 else 0.0
    opened = await asyncio.gather(
        *(
            open_stream(target, request, slots, stamped=True, not_before=wall0 + i * spacing)
            for i in range(streams)
        )
    )
    deadline = nominal * 3 + 60
    pending = [done for _, done, _ in opened if not done.done()]
    if pending:
        _, still = await asyncio.wait(pending, timeout=deadline)
    else:
        still = set()
    wall = time.monotonic() - wall0
    own1 = os.times()
    cpu1 = cpu_seconds(server_pid) if server_pid else 0.0
    wait1 = sched_seconds(server_pid)[1] if server_pid else float("nan")
    mem1 = memory_kib(server_pid) if server_pid else {}
    for stats, done, transport in opened:
        if not done.done():
            stats.error = f"no end event within {deadline:.0f} s"
            done.set_result(None)
        if transport is not None:
            transport.close()
    del still

    all_stats = [s for s, _, _ in opened]
    ok = [s for s in all_stats if s.error is None and s.ended is not None]
    errors: dict[str, int] = {}
    for s in all_stats:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    durations = sorted(s.ended - s.started for s in ok if s.ended is not None)
    firsts = sorted(s.first_event - s.started for s in ok if s.first_event is not None)
    # From the response head to the first event: the response's own start-up, without the
    # connection's wait to be accepted.
    after_head = sorted(
        s.first_event - s.first_byte
        for s in ok
        if s.first_event is not None and s.first_byte is not None
    )
    latencies = array("q")
    for s in ok:
        latencies.extend(s.latencies_us)
    lat_sorted = sorted(latencies)
    client_cpu = (own1.user - own0.user) + (own1.system - own0.system)
    events = sum(s.events for s in all_stats)
    return {
        "mode": "paced",
        "connect_rate": connect_rate,
        "streams": streams,
        "n": n,
        "size": size,
        "interval_ms": interval_ms,
        "ok": len(ok),
        "errors": errors,
        "events": events,
        "events_expected": streams * n,
        "nominal_s": nominal,
        "wall_s": wall,
        "duration_p50_s": percentile(durations, 0.50),
        "duration_p99_s": percentile(durations, 0.99),
        "duration_max_s": durations[-1] if durations else float("nan"),
        "duration_ratio_p50": percentile(durations, 0.50) / nominal if nominal else float("nan"),
        "duration_ratio_p99": percentile(durations, 0.99) / nominal if nominal else float("nan"),
        "first_event_p50_s": percentile(firsts, 0.50),
        "first_event_p99_s": percentile(firsts, 0.99),
        "first_event_after_head_p99_s": percentile(after_head, 0.99),
        "delivery_p50_ms": percentile(lat_sorted, 0.50) / 1000.0,
        "delivery_p99_ms": percentile(lat_sorted, 0.99) / 1000.0,
        "server_cpu_s": cpu1 - cpu0,
        "server_cpu_share": (cpu1 - cpu0) / wall if wall else float("nan"),
        # Time the server was ready to run while other processes had its core.
        "server_wait_share": (wait1 - wait0) / wall if wall else float("nan"),
        "server_rss_before_kib": mem0.get("VmRSS"),
        "server_rss_after_kib": mem1.get("VmRSS"),
        "server_rss_peak_kib": mem1.get("VmHWM"),
        "client_cpu_s": client_cpu,
        "client_cpu_share": client_cpu / wall if wall else float("nan"),
        # From the first connect until the last stream had its response head.
        "ramp_s": max((s.first_byte for s in all_stats if s.first_byte), default=wall0) - wall0,
        "load_average_1min": [load0, os.getloadavg()[0]],
    }


async def run_idle(target: Target, *, streams: int, server_pid: int) -> dict[str, Any]:
    """Hold ``streams`` streams open after their first event; report server RSS per stream."""
    await fetch_one(target, "/stream?n=2&size=16&interval_ms=0")
    await asyncio.sleep(IDLE_SETTLE_SECONDS)
    before = memory_kib(server_pid)["VmRSS"]
    # Two events an hour apart: the first arrives at once, then the stream idles.
    request = target.request("/stream?n=2&size=16&interval_ms=3600000")
    slots = asyncio.Semaphore(CONNECT_CONCURRENCY)
    opened = await asyncio.gather(
        *(open_stream(target, request, slots, stamped=True) for _ in range(streams))
    )
    try:
        wait_until = time.monotonic() + 60
        while time.monotonic() < wait_until:
            waiting = sum(1 for s, _, _ in opened if s.first_event is None and s.error is None)
            if waiting == 0:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(IDLE_SETTLE_SECONDS)
        after = memory_kib(server_pid)["VmRSS"]
        live = sum(1 for s, _, _ in opened if s.first_event is not None and s.error is None)
        errors: dict[str, int] = {}
        for s, _, _ in opened:
            if s.error is not None:
                errors[s.error] = errors.get(s.error, 0) + 1
    finally:
        for _, _, transport in opened:
            if transport is not None:
                transport.close()
    return {
        "mode": "idle",
        "streams": streams,
        "live": live,
        "errors": errors,
        "server_rss_before_kib": before,
        "server_rss_after_kib": after,
        "kib_per_stream": (after - before) / live if live else float("nan"),
        "load_average_1min": os.getloadavg()[0],
    }


# Prompts for the chat scenario: varied so the demo model gives answers of different lengths.
CHAT_PROMPTS = (
    "Tell me about streaming",
    "How do server-sent events work?",
    "Explain backpressure in one paragraph",
    "What is a token?",
    "Why stream responses at all?",
    "Summarise the history of HTTP",
    "Compare polling with streaming",
    "What makes a good API?",
)
TEXT_DELTA_MARKER = b'"type":"text-delta"'


async def run_chat(
    target: Target, *, path: str, requests: int, concurrency: int, server_pid: int | None
) -> dict[str, Any]:
    """POST ``requests`` chat requests, ``concurrency`` at a time; tokens/s and time to first byte.

    A token is a ``text-delta`` event. Per stream: tokens over the time from sending the request
    to the end of the body, and the time to the response head (first byte). Overall: all tokens
    over the wall time.
    """
    bodies = [
        json.dumps({"messages": [{"role": "user", "content": f"{prompt} ({i})"}]}).encode()
        for i, prompt in enumerate(CHAT_PROMPTS)
    ]
    warm = target.request(path, bodies[0])
    stats, done, _ = await open_stream(target, warm, asyncio.Semaphore(1), stamped=False)
    await asyncio.wait_for(done, 30)
    if stats.error:
        raise RuntimeError(f"warm-up chat request failed: {stats.error}")
    cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    load0 = os.getloadavg()[0]
    wall0 = time.monotonic()
    results: list[StreamStats] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        slots = asyncio.Semaphore(1)
        while next_index < requests:
            i = next_index
            next_index += 1
            request = target.request(path, bodies[i % len(bodies)])
            stats, done, transport = await open_stream(
                target, request, slots, stamped=False, token_marker=TEXT_DELTA_MARKER
            )
            try:
                await asyncio.wait_for(done, 60)
            except TimeoutError:
                stats.error = "no end of body within 60 s"
            finally:
                if transport is not None:
                    transport.close()
            results.append(stats)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.monotonic() - wall0
    cpu = (cpu_seconds(server_pid) - cpu0) if server_pid else float("nan")
    ok = [s for s in results if s.error is None and s.ended is not None]
    errors: dict[str, int] = {}
    for s in results:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    per_stream = sorted(
        s.tokens / (s.ended - s.started) for s in ok if s.ended is not None and s.ended > s.started
    )
    ttfb = sorted(s.first_byte - s.started for s in ok if s.first_byte is not None)
    ttft = sorted(s.first_token - s.started for s in ok if s.first_token is not None)
    tokens = sum(s.tokens for s in ok)
    return {
        "mode": "chat",
        "path": path,
        "requests": requests,
        "concurrency": concurrency,
        "ok": len(ok),
        "errors": errors,
        "tokens": tokens,
        "tokens_per_answer_p50": percentile(sorted(s.tokens for s in ok), 0.5),
        "wall_s": wall,
        "tokens_per_s": tokens / wall if wall else float("nan"),
        "stream_tokens_per_s_p50": percentile(per_stream, 0.5),
        "ttfb_p50_s": percentile(ttfb, 0.5),
        "ttfb_p99_s": percentile(ttfb, 0.99),
        "first_token_p50_s": percentile(ttft, 0.5),
        "first_token_p99_s": percentile(ttft, 0.99),
        "server_cpu_s": cpu,
        "server_cpu_us_per_token": cpu / tokens * 1e6 if tokens else float("nan"),
        "load_average_1min": [load0, os.getloadavg()[0]],
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run the load, print the JSON summary on stdout."""
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    paced = sub.add_parser("paced", help="many concurrent paced streams")
    paced.add_argument("url")
    paced.add_argument("--streams", type=int, required=True)
    paced.add_argument("--n", type=int, required=True)
    paced.add_argument("--size", type=int, default=64)
    paced.add_argument("--interval-ms", type=float, required=True)
    paced.add_argument("--server-pid", type=int, default=None)
    paced.add_argument(
        "--connect-rate",
        type=float,
        default=0.0,
        help="new connections per second (default 0: all at once)",
    )
    paced.add_argument("--cpu", type=int, default=None, help="pin the client to this core")
    idle = sub.add_parser("idle", help="server memory per idle stream")
    idle.add_argument("url")
    idle.add_argument("--streams", type=int, required=True)
    idle.add_argument("--server-pid", type=int, required=True)
    idle.add_argument("--cpu", type=int, default=None, help="pin the client to this core")
    chat = sub.add_parser("chat", help="tokens/s and time to first byte of a chat route")
    chat.add_argument("url")
    chat.add_argument("--path", default="/api/chat")
    chat.add_argument("--requests", type=int, required=True)
    chat.add_argument("--concurrency", type=int, default=1)
    chat.add_argument("--server-pid", type=int, default=None)
    chat.add_argument("--cpu", type=int, default=None, help="pin the client to this core")
    args = parser.parse_args(argv)
    if args.mode == "chat":
        args.streams = args.concurrency

    limit = raise_nofile_limit()
    if args.streams + 64 > limit:
        parser.error(f"--streams {args.streams} needs more open files than the limit {limit}")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    target = Target.from_url(args.url)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    if args.mode == "paced":
        result = runner(
            run_paced(
                target,
                streams=args.streams,
                n=args.n,
                size=args.size,
                interval_ms=args.interval_ms,
                server_pid=args.server_pid,
                connect_rate=args.connect_rate,
            )
        )
    elif args.mode == "chat":
        result = runner(
            run_chat(
                target,
                path=args.path,
                requests=args.requests,
                concurrency=args.concurrency,
                server_pid=args.server_pid,
            )
        )
    else:
        result = runner(run_idle(target, streams=args.streams, server_pid=args.server_pid))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()


if __name__ == "__main__":
    main()
