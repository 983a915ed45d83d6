"""Turn ``results.json`` into ``summary.md`` (tables and targets) and ``benchmarks.png``.

``run.py`` calls :func:`write_report` at the end; to redraw from saved results run
``.venv/bin/python benchmarks/report.py benchmarks/results/results.json``.

Every figure is the median over runs with the range (min-max) in brackets; a ratio between two
implementations is computed run by run (run ``r`` of one against run ``r`` of the other, which
were measured minutes apart on the same machine state) and then summarised the same way.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import textwrap
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

Runs = list[dict[str, Any]]

# Client CPU share above which the load client may itself have been the bottleneck.
CLIENT_SATURATED_SHARE = 0.85

# Share of a measurement the server spent ready to run but without a core, above which the
# measurement is flagged as disturbed by other work on the machine.
DISTURBED_WAIT_SHARE = 0.10

# Short x-axis labels for the chart.
CHART_LABELS = {
    "raw": "raw ASGI\n(floor)",
    "raw-watch": "raw ASGI\n+ watch",
    "raw-coalesce": "raw ASGI\ncoalescing",
    "sse-starlette": "sse-starlette",
    "fastapi": "FastAPI",
    "streamwire": "streamwire\nsse()",
    "streamwire-each": "streamwire\ncoalesce=False",
}

PACED_TARGETS = {"pace50": 1.05, "pace10": 1.10}
FIRST_EVENT_P99_TARGET_S = 0.5
IDLE_RATIO_TARGET = 1.2
COALESCE_VS_SSE_STARLETTE_TARGET = 5.0
DECODE_VS_HTTPX_SSE_TARGET = 2.0


def values(runs: Runs, key: str) -> list[float]:
    """The finite values of ``key`` over the runs that succeeded."""
    out = []
    for run in runs:
        value = run.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            out.append(float(value))
    return out


def ratios(a: Runs, b: Runs, key: str) -> list[float]:
    """``a[key] / b[key]`` run by run, over the runs where both succeeded."""
    out = []
    for x, y in zip(a, b, strict=False):
        vx, vy = x.get(key), y.get(key)
        if isinstance(vx, int | float) and isinstance(vy, int | float) and vy:
            out.append(float(vx) / float(vy))
    return out


def summary(xs: Sequence[float]) -> tuple[float, float, float] | None:
    """``(median, min, max)`` or ``None`` when there is nothing."""
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs)


def human(x: float) -> str:
    """A rate in a short form: 950, 13.6k, 136k, 1.10M."""
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e5:
        return f"{x / 1e3:.0f}k"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def cell(xs: Sequence[float], fmt: Callable[[float], str], *, show_range: bool = True) -> str:
    """``median (min-max)`` formatted with ``fmt``; ``-`` when there is nothing."""
    s = summary(xs)
    if s is None:
        return "-"
    med, lo, hi = s
    if not show_range or len(xs) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(lo)}-{fmt(hi)})"


def errors_of(runs: Runs) -> str:
    """How many runs failed and how many streams had errors, or an empty string."""
    failed = sum(1 for r in runs if "error" in r)
    stream_errors = sum(sum(r.get("errors", {}).values()) for r in runs if "error" not in r)
    parts = []
    if failed:
        parts.append(f"{failed} run(s) failed")
    if stream_errors:
        parts.append(f"{stream_errors} stream error(s)")
    return "; ".join(parts)


def _label(results: dict[str, Any], impl: str) -> str:
    label: str = results["implementations"].get(impl, impl)
    return label


def _plan(results: dict[str, Any], section: str, key: str) -> dict[str, Any]:
    for entry in results["plan"][section]:
        if entry["key"] == key:
            found: dict[str, Any] = entry
            return found
    raise KeyError(f"plan has no {section} case {key!r}")


def _one_stream_table(results: dict[str, Any]) -> list[str]:
    data = results["one_stream"]
    if not data:
        return ["Not measured in this run."]
    keys = list(data)
    head = ["implementation"]
    for key in keys:
        p = _plan(results, "one_stream", key)
        head += [f"{p['size']} B x {p['n']:,}: events/s", "server CPU µs/event"]
    head += ["vs raw floor (16 B)", "vs sse-starlette (16 B)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    small = data.get("small", {})
    for impl in results["implementations"]:
        row = [_label(results, impl)]
        for key in keys:
            runs = data[key].get(impl, [])
            row.append(cell(values(runs, "events_per_s"), human))
            row.append(cell(values(runs, "server_cpu_us_per_event"), lambda x: f"{x:.1f}"))
        for base in ("raw", "sse-starlette"):
            if impl == base or base not in small or impl not in small:
                row.append("1.00x" if impl == base else "-")
            else:
                row.append(
                    cell(ratios(small[impl], small[base], "events_per_s"), lambda x: f"{x:.2f}x")
                )
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _paced_table(results: dict[str, Any], key: str) -> list[str]:
    data = results["paced"][key]
    head = [
        "implementation",
        "duration p50 (x nominal)",
        "duration p99 (x nominal)",
        "first event p50",
        "first event p99",
        "delivery p99",
        "server CPU",
        "server waited",
        "peak RSS",
        "client CPU",
        "errors",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for impl in results["implementations"]:
        runs = data.get(impl, [])
        ok = [r for r in runs if "error" not in r]
        row = [
            _label(results, impl),
            cell(values(ok, "duration_ratio_p50"), lambda x: f"{x:.3f}"),
            cell(values(ok, "duration_ratio_p99"), lambda x: f"{x:.3f}"),
            cell(values(ok, "first_event_p50_s"), lambda x: f"{x * 1000:.0f} ms"),
            cell(values(ok, "first_event_p99_s"), lambda x: f"{x * 1000:.0f} ms"),
            cell(values(ok, "delivery_p99_ms"), lambda x: f"{x:.0f} ms"),
            cell(values(ok, "server_cpu_share"), lambda x: f"{x * 100:.0f}%"),
            cell(values(ok, "server_wait_share"), lambda x: f"{x * 100:.0f}%"),
            cell(values(ok, "server_rss_peak_kib"), lambda x: f"{x / 1024:.0f} MiB"),
            cell(values(ok, "client_cpu_share"), lambda x: f"{x * 100:.0f}%", show_range=False),
            errors_of(runs) or "none",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _idle_table(results: dict[str, Any], key: str) -> list[str]:
    data = results["idle"][key]
    head = ["implementation", "KiB per idle stream", "vs raw ASGI", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for impl in results["implementations"]:
        runs = data.get(impl, [])
        if impl == "raw" or "raw" not in data:
            vs = "1.00x" if impl == "raw" else "-"
        else:
            vs = cell(ratios(runs, data["raw"], "kib_per_stream"), lambda x: f"{x:.2f}x")
        row = [
            _label(results, impl),
            cell(values(runs, "kib_per_stream"), lambda x: f"{x:.1f}"),
            vs,
            errors_of(runs) or "none",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _decode_table(results: dict[str, Any]) -> list[str]:
    decode = results.get("decode")
    if not decode or decode.get("status") != "measured":
        reason = (decode or {}).get("reason", "scenario not run")
        return [f"Not yet measured ({reason.strip().splitlines()[-1] if reason else ''})."]
    lines = [
        f"Input: {decode['input_bytes'] / 1e6:.0f} MB cut at random boundaries, LF and CRLF "
        "halves; every decoder yields the same events (checked before timing).",
        "",
        "| decoder | MB/s | vs httpx-sse |",
        "|---|---|---|",
    ]
    for name, entry in decode["decoders"].items():
        lines.append(
            f"| {name} | {cell(entry['mb_per_s_runs'], lambda x: f'{x:.0f}')} | "
            f"{cell(entry['ratio_vs_httpx_sse_runs'], lambda x: f'{x:.2f}x')} |"
        )
    return lines


def _chat_section(results: dict[str, Any]) -> list[str]:
    chat = results.get("chat")
    if not chat or chat.get("status") != "measured":
        reason = (chat or {}).get("reason", "scenario not run")
        return [f"**Not yet measured**: {reason}."]
    head = [
        "requests at a time",
        "tokens/s (all streams)",
        "tokens/s per stream",
        "tokens per answer",
        "first byte p50 / p99",
        "first token p50 / p99",
        "server CPU µs/token",
        "errors",
    ]
    lines = [
        f"`POST {chat['route']}` on `streamwire serve --demo-speed 0`; a token is a "
        "`text-delta` event; first byte (the response head) and first token are timed from the "
        "connect.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for key, runs in chat["runs"].items():
        shape = chat["shapes"][key]
        ok = [r for r in runs if "error" not in r]
        lines.append(
            "| "
            + " | ".join(
                [
                    f"{shape['concurrency']} ({shape['requests']} requests)",
                    cell(values(ok, "tokens_per_s"), human),
                    cell(values(ok, "stream_tokens_per_s_p50"), human),
                    cell(values(ok, "tokens_per_answer_p50"), lambda x: f"{x:.0f}"),
                    cell(values(ok, "ttfb_p50_s"), lambda x: f"{x * 1000:.1f}")
                    + " / "
                    + cell(values(ok, "ttfb_p99_s"), lambda x: f"{x * 1000:.1f} ms"),
                    cell(values(ok, "first_token_p50_s"), lambda x: f"{x * 1000:.1f}")
                    + " / "
                    + cell(values(ok, "first_token_p99_s"), lambda x: f"{x * 1000:.1f} ms"),
                    cell(values(ok, "server_cpu_us_per_token"), lambda x: f"{x:.1f}"),
                    errors_of(runs) or "none",
                ]
            )
            + " |"
        )
    return lines


def evaluate_targets(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(target, PASS/FAIL/not measured, evidence)`` for every target of issue 9."""
    out: list[tuple[str, str, str]] = []
    impls = results["implementations"]
    small = results["one_stream"].get("small", {})

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("PASS" if ok else "FAIL")

    def ratio_target(
        name: str, a: str, b: str, key: str, bound: float, data: dict[str, Runs]
    ) -> None:
        if a not in impls or a not in data or b not in data:
            out.append((name, "not measured", f"{a} or {b} missing"))
            return
        s = summary(ratios(data[a], data[b], key))
        if s is None:
            out.append((name, "not measured", "no successful runs"))
            return
        med, lo, hi = s
        out.append((name, verdict(med >= bound), f"median {med:.2f}x (runs {lo:.2f}-{hi:.2f}x)"))

    ratio_target(
        "one stream, 16 B events: streamwire sse() >= raw floor events/s",
        "streamwire",
        "raw",
        "events_per_s",
        1.0,
        small,
    )
    ratio_target(
        f"one stream, 16 B events: streamwire sse() >= {COALESCE_VS_SSE_STARLETTE_TARGET:g}x "
        "sse-starlette",
        "streamwire",
        "sse-starlette",
        "events_per_s",
        COALESCE_VS_SSE_STARLETTE_TARGET,
        small,
    )
    for key, bound in PACED_TARGETS.items():
        data = results["paced"].get(key)
        plan = next((p for p in results["plan"]["paced"] if p["key"] == key), None)
        if plan is None:
            continue
        rate = 1000 / plan["interval_ms"]
        shape = f"{plan['streams']} streams at {rate:g} events/s"
        for impl in ("streamwire", "streamwire-each"):
            runs = [r for r in (data or {}).get(impl, []) if "error" not in r]
            durations = summary(values(runs, "duration_ratio_p50"))
            name = f"{shape}: {impl} duration within {round((bound - 1) * 100)}% of nominal"
            if durations is None:
                out.append((name, "not measured", ""))
                continue
            p99 = summary(values(runs, "duration_ratio_p99"))
            ok = durations[0] <= bound and not errors_of(runs)
            evidence = f"median stream {durations[0]:.3f}x nominal"
            if p99 is not None:
                evidence += f" (p99 stream {p99[0]:.3f}x)"
            if errors_of(runs):
                evidence += f"; {errors_of(runs)}"
            out.append((name, verdict(ok), evidence))
            if key == "pace50":
                first = summary(values(runs, "first_event_p99_s"))
                assert first is not None
                out.append(
                    (
                        f"{shape}: {impl} first-event p99 < {FIRST_EVENT_P99_TARGET_S:g} s",
                        verdict(first[0] < FIRST_EVENT_P99_TARGET_S),
                        f"median {first[0] * 1000:.0f} ms (runs {first[1] * 1000:.0f}-"
                        f"{first[2] * 1000:.0f} ms)",
                    )
                )
    idle = results["idle"].get("idle", {})
    for impl in ("streamwire", "streamwire-each"):
        if impl not in idle or "raw" not in idle:
            out.append((f"idle memory: {impl} <= 1.2x raw ASGI", "not measured", ""))
            continue
        s = summary(ratios(idle[impl], idle["raw"], "kib_per_stream"))
        if s is None:
            out.append((f"idle memory: {impl} <= 1.2x raw ASGI", "not measured", ""))
            continue
        out.append(
            (
                f"idle memory: {impl} <= {IDLE_RATIO_TARGET:g}x raw ASGI",
                verdict(s[0] <= IDLE_RATIO_TARGET),
                f"median {s[0]:.2f}x (runs {s[1]:.2f}-{s[2]:.2f}x)",
            )
        )
    decode = results.get("decode") or {}
    if decode.get("status") == "measured":
        r = decode["decoders"]["streamwire"]["ratio_vs_httpx_sse_runs"]
        s = summary(r)
        assert s is not None
        out.append(
            (
                f"decoder >= {DECODE_VS_HTTPX_SSE_TARGET:g}x httpx-sse MB/s",
                verdict(s[0] >= DECODE_VS_HTTPX_SSE_TARGET),
                f"median {s[0]:.2f}x (runs {s[1]:.2f}-{s[2]:.2f}x)",
            )
        )
    else:
        out.append(
            (f"decoder >= {DECODE_VS_HTTPX_SSE_TARGET:g}x httpx-sse MB/s", "not measured", "")
        )
    return out


def _client_warnings(results: dict[str, Any]) -> list[str]:
    notes = []
    for section in ("one_stream", "paced"):
        for key, data in results[section].items():
            for impl, runs in data.items():
                shares = values(runs, "server_wait_share")
                if shares and max(shares) > DISTURBED_WAIT_SHARE:
                    notes.append(
                        f"- {key} / {impl}: the server waited for its core "
                        f"{max(shares) * 100:.0f}% of the time in one run (other processes "
                        "were running); that run is disturbed."
                    )
    for key, data in results["paced"].items():
        for impl, runs in data.items():
            shares = values(runs, "client_cpu_share")
            if shares and max(shares) > CLIENT_SATURATED_SHARE:
                notes.append(
                    f"- {key} / {impl}: the load client used {max(shares) * 100:.0f}% of its core "
                    "in one run; it may have been the bottleneck there."
                )
    return notes


def render_summary(results: dict[str, Any]) -> str:
    """The markdown summary: method line, one table per scenario, then the targets."""
    m = results["machine"]
    v = results["versions"]
    runs = results["runs"]
    lines = [
        "<!-- generated by benchmarks/run.py; edit the generator, not this file -->",
        "",
        f"Measured {m['date'][:10]} at commit `{m['git_commit']}`"
        f"{' (src/ exactly as committed)' if m.get('measured', '').startswith('commit') else ''} "
        f"on {m['cpu'] or 'unknown CPU'} "
        f"({m['cpus']} cores), Python {m['python']}, uvicorn {v['uvicorn']} (httptools "
        f"{v['httptools']}, uvloop {v['uvloop']}, one worker); server pinned to core "
        f"{m['server_cpu']}, client to core {m['client_cpu']}; a fresh server per measurement; "
        f"median of {runs} run{'s' if runs != 1 else ''} with the range in brackets, "
        "implementations interleaved, ratios taken run by run. Versions: "
        f"streamwire {v['streamwire']}, sse-starlette {v['sse-starlette']}, FastAPI "
        f"{v['fastapi']}, Starlette {v['starlette']}. Reproduce with "
        "`.venv/bin/python benchmarks/run.py` (see benchmarks/README.md).",
        "",
    ]
    dirty = m.get("src_uncommitted") or []
    if dirty:
        lines += [
            f"The working tree had uncommitted changes in {', '.join(f'`{d}`' for d in dirty)} "
            "when the run started (the servers import the working tree).",
            "",
        ]
    if results["quick"]:
        lines += ["**Quick smoke run: small sizes, one run; not comparable to a full run.**", ""]
    lines += ["### One stream, read by curl (scenario 1)", "", *_one_stream_table(results), ""]
    for key in results["paced"]:
        p = _plan(results, "paced", key)
        nominal = p["n"] * p["interval_ms"] / 1000
        lines += [
            f"### {p['streams']} concurrent streams of {p['n']} events every "
            f"{p['interval_ms']:g} ms ({1000 / p['interval_ms']:g} events/s, nominal "
            f"{nominal:g} s; scenario 2)",
            "",
            *_paced_table(results, key),
            "",
        ]
    for key in results["idle"]:
        p = _plan(results, "idle", key)
        lines += [
            f"### {p['streams']} idle streams: server memory per stream (scenario 3)",
            "",
            *_idle_table(results, key),
            "",
        ]
    lines += ["### Decoding (scenario 4, benchmarks/decode.py)", "", *_decode_table(results), ""]
    lines += [
        "### Chat route, demo provider at full speed (scenario 5)",
        "",
        *_chat_section(results),
        "",
    ]
    lines += ["### Targets (issue 9)", "", "| target | result | measured |", "|---|---|---|"]
    for name, verdict, evidence in evaluate_targets(results):
        lines.append(f"| {name} | {verdict} | {evidence} |")
    warnings = _client_warnings(results)
    if warnings:
        lines += ["", "Measurement notes:", *warnings]
    return "\n".join(lines) + "\n"


def _series(data: dict[str, Runs], key: str, impl: str) -> list[float]:
    """The values of ``key`` over the runs of ``impl`` in one scenario's ``data``."""
    return values(data.get(impl, []), key)


def render_chart(results: dict[str, Any], path: Path) -> None:
    """Draw the headline numbers as bars (median) with range whiskers into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    impls = list(results["implementations"])
    labels = [
        CHART_LABELS.get(i) or textwrap.fill(_label(results, i), 14, break_long_words=False)
        for i in impls
    ]
    colors = [f"C{i}" for i in range(len(impls))]
    panels: list[tuple[str, str, Callable[[str], list[float]], float | None, bool]] = []
    one = results["one_stream"]
    for key in one:
        p = _plan(results, "one_stream", key)
        panels.append(
            (
                f"One stream, {p['size']} B events: events/s",
                "events/s",
                partial(_series, one[key], "events_per_s"),
                None,
                True,
            )
        )
    for key, bound in PACED_TARGETS.items():
        if key not in results["paced"]:
            continue
        p = _plan(results, "paced", key)
        panels.append(
            (
                f"{p['streams']} streams at {1000 / p['interval_ms']:g}/s: duration / nominal",
                "median stream, x nominal",
                partial(_series, results["paced"][key], "duration_ratio_p50"),
                bound,
                False,
            )
        )
    if "pace50" in results["paced"]:
        p = _plan(results, "paced", "pace50")
        panels.append(
            (
                f"{p['streams']} streams at {1000 / p['interval_ms']:g}/s: first-event p99",
                "seconds",
                partial(_series, results["paced"]["pace50"], "first_event_p99_s"),
                FIRST_EVENT_P99_TARGET_S,
                False,
            )
        )
    for key in results["idle"]:
        panels.append(
            (
                "Idle streams: server KiB per stream",
                "KiB",
                partial(_series, results["idle"][key], "kib_per_stream"),
                None,
                False,
            )
        )
    if not panels:
        return
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (title, ylabel, get, target_line, log) in zip(axes.flat, panels, strict=False):
        meds, lows, highs = [], [], []
        for impl in impls:
            med, lo, hi = summary(get(impl)) or (0.0, 0.0, 0.0)
            meds.append(med)
            lows.append(med - lo)
            highs.append(hi - med)
        x = range(len(impls))
        ax.bar(x, meds, color=colors, yerr=[lows, highs], capsize=3)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.set_xticks(list(x), labels, fontsize=7, rotation=0)
        if log:
            ax.set_yscale("log")
        elif (
            target_line is not None and target_line > 1
        ):  # a duration ratio: the interesting part is > 1
            ax.set_ylim(
                bottom=0.9,
                top=max([target_line * 1.05, *(m + h for m, h in zip(meds, highs, strict=True))])
                * 1.03,
            )
        if target_line is not None:
            ax.axhline(target_line, color="red", linestyle="--", linewidth=1, label="target")
            ax.legend(fontsize=7)
        for xi, med in zip(x, meds, strict=True):
            if med:
                text = human(med) if log else (f"{med:.3f}" if med < 10 else f"{med:.1f}")
                ax.annotate(text, (xi, med), ha="center", va="bottom", fontsize=7)
    runs = results["runs"]
    fig.suptitle(
        f"streamwire benchmarks ({results['machine']['cpus']} cores; median of {runs} run"
        f"{'s' if runs != 1 else ''}, whiskers = range)"
        + (" - QUICK SMOKE RUN" if results["quick"] else ""),
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``benchmarks.png`` into ``out``; return their paths."""
    summary_path = out / "summary.md"
    summary_path.write_text(render_summary(results))
    chart_path = out / "benchmarks.png"
    render_chart(results, chart_path)
    return summary_path, chart_path


def main(argv: list[str] | None = None) -> int:
    """Redraw the summary and chart from a saved ``results.json``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: report.py RESULTS_JSON", file=sys.stderr)
        return 2
    path = Path(args[0])
    results = json.loads(path.read_text())
    summary_path, chart_path = write_report(results, path.parent)
    print(f"wrote {summary_path} and {chart_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
