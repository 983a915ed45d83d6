"""StructuredExtractor cost per byte, against a whole-document parse and a re-parse per fragment.

Run with ``.venv/bin/python benchmarks/extract.py`` (not collected by pytest). It builds
email-draft-like JSON documents of about 10 KB, 100 KB and 1 MB (a title, a long body with
escapes and non-ASCII text, bullets, sections with bodies), cuts each into 4-character fragments
(a model streams a few characters per token), and measures, in nanoseconds per byte of document:

* ``extractor``: ``StructuredExtractor`` with ``{"title": "set", "body": "text-delta",
  "bullets": "append", "sections.*.body": "text-delta"}`` fed every fragment, then ``close()``
  (which also parses the whole document with msgspec for ``final``);
* ``msgspec_whole``: one ``msgspec.json.decode`` of the finished document (the floor: what a
  server that waits for the whole document pays);
* ``jiter_reparse``: ``jiter.from_json(prefix, partial_mode="trailing-strings")`` on the whole
  buffer after every fragment, the usual way to follow a streamed document with a partial
  parser. Its cost grows with the document (quadratic in total), so it runs only up to
  ``REPARSE_MAX_BYTES`` (100 KB): at 1 MB it would parse about 125 GB of text, hours of CPU.

Each figure is the median of several runs. The extractor's cost per byte must stay flat as the
document grows; the script prints the ratio 1 MB / 10 KB and the results go to
``benchmarks/results/extract.json``.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import jiter
import msgspec

from streamwire.structured import StructuredExtractor

FRAGMENT_CHARS = 4
SIZES = {"10KB": 10_000, "100KB": 100_000, "1MB": 1_000_000}
REPARSE_MAX_BYTES = 100_000
SPEC = {
    "title": "set",
    "body": "text-delta",
    "bullets": "append",
    "sections.*.body": "text-delta",
}
RESULTS = Path(__file__).parent / "results" / "extract.json"

_SENTENCE = (
    'Thanks for the "quick" reply \u2014 here is the plan, caf\u00e9 at 10\\11 \U0001f600.\n'
)


def build_document(size: int) -> str:
    """An email-draft-like JSON document of about ``size`` bytes (UTF-8)."""
    body_chars = size // 3
    sections: list[dict[str, str]] = []
    document: dict[str, object] = {
        "title": "Project update",
        "body": (_SENTENCE * (body_chars // len(_SENTENCE) + 1))[:body_chars],
        "bullets": [],
        "sections": sections,
    }
    bullets: list[str] = []
    document["bullets"] = bullets
    while len(msgspec.json.encode(document)) < size * 2 // 3:
        bullets.append(f"Point {len(bullets)}: {_SENTENCE[:60]}")
    while len(msgspec.json.encode(document)) < size:
        sections.append({"heading": f"Part {len(sections)}", "body": _SENTENCE * 4})
    return json.dumps(document, ensure_ascii=False)


def fragments_of(text: str) -> list[str]:
    return [text[i : i + FRAGMENT_CHARS] for i in range(0, len(text), FRAGMENT_CHARS)]


def run_extractor(fragments: list[str]) -> None:
    extractor = StructuredExtractor(SPEC, stream_id="bench")
    for fragment in fragments:
        extractor.feed(fragment)
    extractor.close()


def run_msgspec(text: str) -> None:
    msgspec.json.decode(text)


def run_jiter_reparse(fragments: list[str]) -> None:
    buffer = bytearray()
    for fragment in fragments:
        buffer += fragment.encode()
        jiter.from_json(bytes(buffer), partial_mode="trailing-strings")


def measure(action: Callable[[], None], *, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    results: dict[str, dict[str, float | int | None]] = {}
    for name, size in SIZES.items():
        text = build_document(size)
        nbytes = len(text.encode())
        fragments = fragments_of(text)
        repeat = 5 if size <= 100_000 else 3
        row: dict[str, float | int | None] = {"bytes": nbytes, "fragments": len(fragments)}
        seconds = measure(partial(run_extractor, fragments), repeat=repeat)
        row["extractor_ns_per_byte"] = seconds / nbytes * 1e9
        seconds = measure(partial(run_msgspec, text), repeat=repeat * 5)
        row["msgspec_whole_ns_per_byte"] = seconds / nbytes * 1e9
        if nbytes <= REPARSE_MAX_BYTES * 1.1:
            seconds = measure(partial(run_jiter_reparse, fragments), repeat=3)
            row["jiter_reparse_ns_per_byte"] = seconds / nbytes * 1e9
        else:
            row["jiter_reparse_ns_per_byte"] = None  # skipped: quadratic, see the docstring
        results[name] = row
        print(
            f"{name:>6}: extractor {row['extractor_ns_per_byte']:8.1f} ns/B | msgspec whole "
            f"{row['msgspec_whole_ns_per_byte']:6.2f} ns/B | jiter re-parse "
            + (
                f"{row['jiter_reparse_ns_per_byte']:10.1f} ns/B"
                if row["jiter_reparse_ns_per_byte"] is not None
                else "   skipped"
            )
        )
    small = results["10KB"]["extractor_ns_per_byte"]
    large = results["1MB"]["extractor_ns_per_byte"]
    assert isinstance(small, float)
    assert isinstance(large, float)
    flatness = large / small
    print(f"extractor cost per byte, 1MB / 10KB: {flatness:.2f} (flat is about 1)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "fragment_chars": FRAGMENT_CHARS,
                "spec": SPEC,
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "msgspec": msgspec.__version__,
                "jiter": getattr(jiter, "__version__", "unknown"),
                "reparse_max_bytes": REPARSE_MAX_BYTES,
                "extractor_flatness_1MB_over_10KB": flatness,
                "results": results,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
