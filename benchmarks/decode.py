"""Decoder throughput: streamwire's SSEDecoder against httpx-sse, the openai SDK and sseclient-py.

Run with ``.venv/bin/python benchmarks/decode.py`` (not collected by pytest). It builds about
50 MB of realistic SSE input (small token events and larger JSON events; one half with LF line
ends, one with CRLF), cuts it at random boundaries, decodes it with every decoder, checks that all
of them yield the same events (data, event type, id), and reports MB/s as the median of several
interleaved runs, with the ratio to httpx-sse per run. The results go to
``benchmarks/results/decode.json``.

Each peer is driven the way it drives itself:

* httpx-sse: an incremental UTF-8 decoder (what ``httpx.Response.iter_text`` uses), then
  ``SSELineDecoder`` and ``SSEDecoder`` as ``EventSource.iter_sse`` does;
* openai: ``openai._streaming.SSEDecoder().iter_bytes`` over the chunks;
* sseclient-py: ``SSEClient(chunks).events()``.

Options: ``--mb`` (input size, default 50), ``--runs`` (default 3), ``--seed``.
"""

from __future__ import annotations

import argparse
import codecs
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx_sse
import openai
import sseclient
from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
from httpx_sse._decoders import SSELineDecoder as HttpxLineDecoder
from openai._streaming import SSEDecoder as OpenAISSEDecoder

import streamwire
from streamwire.sse import SSEDecoder

Event = tuple[str, str, str]  # (data, event type, id): what every decoder must agree on
RESULTS = Path(__file__).parent / "results" / "decode.json"

_WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "streaming",
    "tokens",
    "to",
    "people",
    "in",
    "real",
    "time",
    "über",
    "naïve",
    "café",
    "東京",
    "données",
    "✓",
    "résumé",
]


def _token_event(rng: random.Random) -> str:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))
    return json.dumps({"type": "text-delta", "delta": " " + words}, ensure_ascii=False)


def _large_event(rng: random.Random) -> str:
    items = [
        {"id": i, "title": " ".join(rng.choice(_WORDS) for _ in range(8)), "score": rng.random()}
        for i in range(rng.randint(10, 40))
    ]
    chunk = {"type": "structured-data", "streamId": "s1", "kind": "final", "data": items}
    return json.dumps(chunk, ensure_ascii=False)


def build_stream(size: int, rng: random.Random, line_end: str) -> bytes:
    """About ``size`` bytes of SSE: ~93% token events, ~6% large JSON events, ~1% named ones."""
    parts: list[str] = []
    total = 0
    while total < size:
        roll = rng.random()
        if roll < 0.93:
            block = f"data: {_token_event(rng)}{line_end}{line_end}"
        elif roll < 0.99:
            block = f"data: {_large_event(rng)}{line_end}{line_end}"
        else:
            block = f"event: usage{line_end}data: {_token_event(rng)}{line_end}{line_end}"
        parts.append(block)
        total += len(block.encode())
    return "".join(parts).encode()


def cut(stream: bytes, rng: random.Random) -> list[bytes]:
    """Cut at random boundaries: chunks of 16 B to 16 KiB, like network reads."""
    chunks = []
    position = 0
    while position < len(stream):
        step = rng.randint(16, 16384)
        chunks.append(stream[position : position + step])
        position += step
    return chunks


# Each decoder runs as its own loop and keeps the event objects it produces; the conversion to
# comparable tuples happens outside the timed part (see ``as_tuples``).


def decode_streamwire(chunks: list[bytes]) -> list[Any]:
    decoder = SSEDecoder()
    out: list[Any] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    out += decoder.close()
    return out


def decode_httpx_sse(chunks: list[bytes]) -> list[Any]:
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    line_decoder = HttpxLineDecoder()
    decoder = HttpxSSEDecoder()
    out: list[Any] = []

    def lines() -> Iterator[str]:
        for chunk in chunks:
            text = text_decoder.decode(chunk)
            if text:
                yield from line_decoder.decode(text)
        text = text_decoder.decode(b"", True)
        if text:
            yield from line_decoder.decode(text)
        yield from line_decoder.flush()

    for line in lines():
        sse = decoder.decode(line.rstrip("\n"))
        if sse is not None:
            out.append(sse)
    return out


def decode_openai(chunks: list[bytes]) -> list[Any]:
    return list(OpenAISSEDecoder().iter_bytes(iter(chunks)))


def decode_sseclient(chunks: list[bytes]) -> list[Any]:
    return list(sseclient.SSEClient(iter(chunks)).events())


def as_tuples(events: list[Any]) -> list[Event]:
    """(data, event type, id) of each event, with each decoder's "none" spelled alike."""
    return [(e.data, e.event or "message", e.id or "") for e in events]


DECODERS: dict[str, Callable[[list[bytes]], list[Any]]] = {
    "streamwire": decode_streamwire,
    "httpx-sse": decode_httpx_sse,
    "openai": decode_openai,
    "sseclient-py": decode_sseclient,
}
VERSIONS = {
    "streamwire": streamwire.__version__,
    "httpx-sse": getattr(httpx_sse, "__version__", "0.4.3"),
    "openai": openai.__version__,
    "sseclient-py": getattr(sseclient, "__version__", "1.9.0"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="input size in MB (total)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs (>= 3)")
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    half = int(args.mb * 1_000_000 / 2)
    inputs = {
        "lf": build_stream(half, rng, "\n"),
        "crlf": build_stream(half, rng, "\r\n"),
    }
    cuts = {name: cut(stream, rng) for name, stream in inputs.items()}
    total_bytes = sum(len(s) for s in inputs.values())
    print(f"input: {total_bytes / 1e6:.1f} MB ({', '.join(inputs)}), {args.runs} runs")

    # Every decoder must yield the same events before any speed is worth reporting.
    expected_counts = {}
    for variant, chunks in cuts.items():
        reference = as_tuples(decode_streamwire(chunks))
        expected_counts[variant] = len(reference)
        for name, decode in DECODERS.items():
            got = as_tuples(decode(chunks))
            if got != reference:
                first = next(
                    (i for i, (a, b) in enumerate(zip(got, reference, strict=False)) if a != b),
                    min(len(got), len(reference)),
                )
                print(f"MISMATCH: {name} on {variant} differs at event {first}", file=sys.stderr)
                return 1
    print(f"all decoders agree: {expected_counts} events")

    seconds: dict[str, list[float]] = {name: [] for name in DECODERS}
    for run in range(args.runs):
        order = list(DECODERS)
        rng.shuffle(order)  # interleaved, in a different order each run
        for name in order:
            started = time.perf_counter()
            for chunks in cuts.values():
                DECODERS[name](chunks)
            seconds[name].append(time.perf_counter() - started)
        line = ", ".join(f"{n} {total_bytes / 1e6 / seconds[n][run]:.1f}" for n in DECODERS)
        print(f"run {run + 1}: MB/s {line}")

    results: dict[str, Any] = {
        "input_bytes": total_bytes,
        "events": expected_counts,
        "runs": args.runs,
        "python": platform.python_version(),
        "versions": VERSIONS,
        "decoders": {},
    }
    baseline = seconds["httpx-sse"]
    for name, times in seconds.items():
        mbps = [total_bytes / 1e6 / t for t in times]
        results["decoders"][name] = {
            "mb_per_s_runs": [round(x, 2) for x in mbps],
            "mb_per_s_median": round(statistics.median(mbps), 2),
            "ratio_vs_httpx_sse_runs": [
                round(b / t, 2) for b, t in zip(baseline, times, strict=True)
            ],
        }
    ratio = statistics.median(results["decoders"]["streamwire"]["ratio_vs_httpx_sse_runs"])
    fastest_peer = max(
        statistics.median(results["decoders"][n]["mb_per_s_runs"])
        for n in DECODERS
        if n != "streamwire"
    )
    results["streamwire_ratio_vs_httpx_sse_median"] = ratio
    results["streamwire_ratio_vs_fastest_peer"] = round(
        results["decoders"]["streamwire"]["mb_per_s_median"] / fastest_peer, 2
    )
    for name, entry in results["decoders"].items():
        print(f"{name:>13}: median {entry['mb_per_s_median']:7.1f} MB/s")
    print(
        f"streamwire vs httpx-sse: {ratio}x (median of per-run ratios); "
        f"vs the fastest peer: {results['streamwire_ratio_vs_fastest_peer']}x"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
