"""Run every benchmark scenario against every implementation (``benchmarks/run.py``).

``--quick`` shrinks every scenario and runs it once (a smoke check of about a minute; its results
go to ``benchmarks/results/quick/`` so they never replace a full run's). The full run takes up to
about 20 minutes and writes ``benchmarks/results/results.json``, ``summary.md`` and
``benchmarks.png``. See ``benchmarks/README.md`` for what is measured and how.

Method: each measurement gets a fresh server process (``serve.py``: uvicorn, httptools, uvloop,
one worker) pinned to core 0, and the client (curl or ``loadgen.py``) pinned to core 1. Every
scenario runs ``--runs`` times; within a run every implementation is measured once, in an order
rotated from run to run, so slow drift of the machine (other work, thermal state) spreads over
all of them. Reports give medians and ranges, and ratios are taken run by run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from apps import IMPLEMENTATIONS, available
from loadgen import cpu_seconds, memory_kib, sched_seconds

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
SERVER_CPU = 0
CLIENT_CPU = 1
SERVER_START_TIMEOUT_SECONDS = 20.0
SERVER_STOP_TIMEOUT_SECONDS = 5.0
CURL_TIMEOUT_SECONDS = 600.0
# The environment of every server and decoder process; ``--commit`` points PYTHONPATH at a
# snapshot of that commit's ``src`` so the servers import it instead of the working tree.
CHILD_ENV: dict[str, str] = dict(os.environ)
# Time left for the machine to settle between measurements (sockets in TIME_WAIT, page cache).
PAUSE_SECONDS = 0.3


@dataclass(frozen=True, slots=True, kw_only=True)
class OneStream:
    """Scenario 1: one unpaced stream read by curl."""

    key: str
    n: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Paced:
    """Scenario 2: many concurrent paced streams read by ``loadgen.py paced``."""

    key: str
    streams: int
    n: int
    interval_ms: float
    size: int = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Idle:
    """Scenario 3: streams held open after their first event, read by ``loadgen.py idle``."""

    key: str
    streams: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Everything one invocation measures."""

    runs: int
    one_stream: tuple[OneStream, ...]
    paced: tuple[Paced, ...]
    idle: tuple[Idle, ...]


FULL = Plan(
    runs=3,
    one_stream=(
        OneStream(key="small", n=200_000, size=16),
        OneStream(key="large", n=20_000, size=1024),
    ),
    paced=(
        Paced(key="pace50", streams=1000, n=250, interval_ms=20),
        Paced(key="pace10", streams=5000, n=100, interval_ms=100),
    ),
    idle=(Idle(key="idle", streams=2000),),
)

QUICK = Plan(
    runs=1,
    one_stream=(
        OneStream(key="small", n=20_000, size=16),
        OneStream(key="large", n=2_000, size=1024),
    ),
    paced=(
        Paced(key="pace50", streams=200, n=50, interval_ms=20),
        Paced(key="pace10", streams=500, n=10, interval_ms=100),
    ),
    idle=(Idle(key="idle", streams=200),),
)


class BenchmarkError(RuntimeError):
    """A measurement could not be taken (a server did not start, a client failed).

    Attributes:
        impl: the implementation being measured.
        scenario: the scenario key.
        reason: what went wrong.
    """

    def __init__(self, impl: str, scenario: str, reason: str) -> None:
        self.impl = impl
        self.scenario = scenario
        self.reason = reason
        super().__init__(f"{impl} / {scenario}: {reason}")


def pinned(cpu: int) -> list[str]:
    """A ``taskset`` prefix pinning a command to ``cpu`` (empty on a one-core machine)."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(
    impl: str, scenario: str, log_dir: Path, command: list[str] | None = None
) -> Iterator[tuple[int, str]]:
    """Start ``serve.py impl`` (or ``command`` + ``--port P``) on a free port pinned to the
    server core; yield ``(pid, base_url)``; always stop it (SIGTERM, then SIGKILL)."""
    port = free_port()
    log_path = log_dir / f"{impl}-{scenario}-{port}.log"
    if command is None:
        cpu = ["--cpu", str(SERVER_CPU)] if (os.cpu_count() or 1) >= 2 else []
        argv = [PYTHON, str(HERE / "serve.py"), impl, "--port", str(port), *cpu]
    else:
        argv = [*pinned(SERVER_CPU), *command, "--port", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=HERE, env=CHILD_ENV)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise BenchmarkError(impl, scenario, f"server exited ({proc.returncode}):\n{tail}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise BenchmarkError(impl, scenario, "server did not start listening")
            time.sleep(0.05)
        try:
            yield proc.pid, f"http://127.0.0.1:{port}"
        except BenchmarkError as exc:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise BenchmarkError(impl, scenario, f"{exc.reason}\nserver log:\n{tail}") from exc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(SERVER_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(SERVER_STOP_TIMEOUT_SECONDS)


def measure_one_stream(impl: str, case: OneStream, log_dir: Path) -> dict[str, Any]:
    """Scenario 1 for one implementation: curl reads the whole stream; events/s and CPU/event."""
    with server(impl, case.key, log_dir) as (pid, url):
        stream_url = f"{url}/stream?n={case.n}&size={case.size}&interval_ms=0"
        # Warm up (imports done on first request, first allocations) outside the measurement.
        subprocess.run(
            ["curl", "-sN", "-o", "/dev/null", f"{url}/stream?n=10&size=16&interval_ms=0"],
            check=True,
            timeout=30,
        )
        cpu0 = cpu_seconds(pid)
        wait0 = sched_seconds(pid)[1]
        start = time.monotonic()
        done = subprocess.run(
            [
                *pinned(CLIENT_CPU),
                "curl",
                "-sN",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download}",
                stream_url,
            ],
            capture_output=True,
            text=True,
            timeout=CURL_TIMEOUT_SECONDS,
            check=False,
        )
        wall = time.monotonic() - start
        cpu = cpu_seconds(pid) - cpu0
        wait = sched_seconds(pid)[1] - wait0
        peak = memory_kib(pid).get("VmHWM")
    status, _, size_text = done.stdout.partition(" ")
    if done.returncode != 0 or status != "200":
        raise BenchmarkError(impl, case.key, f"curl failed ({done.returncode}, {done.stdout!r})")
    received = int(size_text)
    # Each event is at least "data: " + size bytes + a blank line.
    if received < case.n * (case.size + 8):
        raise BenchmarkError(
            impl, case.key, f"curl received {received} bytes, fewer than {case.n} events"
        )
    return {
        "wall_s": wall,
        "events_per_s": case.n / wall,
        "bytes": received,
        "mb_per_s": received / wall / 1e6,
        "server_cpu_s": cpu,
        "server_cpu_us_per_event": cpu / case.n * 1e6,
        "server_wait_share": wait / wall,
        "load_average_1min": os.getloadavg()[0],
        "server_rss_peak_kib": peak,
    }


def run_loadgen(impl: str, scenario: str, args: list[str]) -> dict[str, Any]:
    """Run ``loadgen.py args`` pinned to the client core; return its JSON result."""
    cpu = ["--cpu", str(CLIENT_CPU)] if (os.cpu_count() or 1) >= 2 else []
    done = subprocess.run(
        [PYTHON, str(HERE / "loadgen.py"), *args, *cpu],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=HERE,
    )
    if done.returncode != 0:
        raise BenchmarkError(impl, scenario, f"loadgen failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure_paced(impl: str, case: Paced, log_dir: Path) -> dict[str, Any]:
    """Scenario 2 for one implementation (see ``loadgen.run_paced``)."""
    with server(impl, case.key, log_dir) as (pid, url):
        return run_loadgen(
            impl,
            case.key,
            [
                "paced",
                url,
                "--streams",
                str(case.streams),
                "--n",
                str(case.n),
                "--size",
                str(case.size),
                "--interval-ms",
                f"{case.interval_ms:g}",
                "--server-pid",
                str(pid),
            ],
        )


def measure_idle(impl: str, case: Idle, log_dir: Path) -> dict[str, Any]:
    """Scenario 3 for one implementation (see ``loadgen.run_idle``)."""
    with server(impl, case.key, log_dir) as (pid, url):
        return run_loadgen(
            impl, case.key, ["idle", url, "--streams", str(case.streams), "--server-pid", str(pid)]
        )


def rotated(names: list[str], run: int) -> list[str]:
    """``names`` rotated by ``run`` places: each run starts with a different implementation."""
    k = run % len(names)
    return names[k:] + names[:k]


def measure_all(
    impls: list[str],
    runs: int,
    key: str,
    measure: Callable[[str], dict[str, Any]],
    log: Callable[[str], None],
) -> dict[str, list[dict[str, Any]]]:
    """Measure every implementation ``runs`` times, interleaved; results indexed by run."""
    results: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
    for run in range(runs):
        for impl in rotated(impls, run):
            log(f"  run {run + 1}/{runs} {key:7} {impl}")
            try:
                results[impl].append(measure(impl))
            except BenchmarkError as exc:
                log(f"    FAILED: {exc}")
                results[impl].append({"error": str(exc)})
            time.sleep(PAUSE_SECONDS)
    return results


def versions() -> dict[str, str]:
    """Versions of the measured libraries and the server stack."""
    names = [
        "streamwire",
        "uvicorn",
        "uvloop",
        "httptools",
        "starlette",
        "sse-starlette",
        "fastapi",
    ]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@contextlib.contextmanager
def snapshot(rev: str) -> Iterator[str]:
    """Extract ``src/`` of commit ``rev`` into a temporary directory; yield the full commit id.

    Servers started meanwhile import streamwire from there (``CHILD_ENV["PYTHONPATH"]``), so a
    run measures exactly that commit while others keep editing the working tree.
    """
    import io
    import tarfile

    full = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if full.returncode != 0:
        raise SystemExit(f"--commit: {rev!r} is not a commit: {full.stderr.strip()}")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", full.stdout.strip(), "src"],
        capture_output=True,
        cwd=ROOT,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="streamwire-src-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        previous = CHILD_ENV.get("PYTHONPATH")
        CHILD_ENV["PYTHONPATH"] = os.pathsep.join(
            [str(Path(tmp) / "src"), *([previous] if previous else [])]
        )
        try:
            yield full.stdout.strip()
        finally:
            if previous is None:
                CHILD_ENV.pop("PYTHONPATH", None)
            else:
                CHILD_ENV["PYTHONPATH"] = previous


def machine(commit: str | None = None) -> dict[str, Any]:
    """What the numbers were measured on; ``commit``: the snapshot measured (else the tree)."""
    """What the numbers were measured on."""
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    snap = commit is not None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", commit or "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    # Servers import the working tree: uncommitted changes under src/ make the commit inexact.
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.split("\n")
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg(),
        "git_commit": commit,
        "src_uncommitted": sorted(line[3:] for line in dirty if line.strip()) if not snap else [],
        "measured": f"commit {commit} (a snapshot of src/)" if snap else "the working tree",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "server_cpu": SERVER_CPU,
        "client_cpu": CLIENT_CPU,
    }


def run_decode(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Scenario 4: run ``decode.py`` (owned separately) pinned to one core; return its JSON.

    ``decode.py`` always writes ``results/decode.json``, which belongs to its own committed
    results; the previous file is restored afterwards, and the numbers of this run live in
    ``results.json`` only.
    """
    script = HERE / "decode.py"
    if not script.exists():
        return {"status": "not yet measured", "reason": "benchmarks/decode.py does not exist"}
    target = HERE / "results" / "decode.json"
    previous = target.read_bytes() if target.exists() else None
    log(f"scenario 4: decoders ({'2' if quick else '50'} MB)")
    try:
        done = subprocess.run(
            [
                *pinned(CLIENT_CPU),
                PYTHON,
                str(script),
                "--mb",
                "2" if quick else "50",
                "--runs",
                "3",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            cwd=ROOT,
            env=CHILD_ENV,
        )
        if done.returncode != 0:
            log(f"    FAILED: decode.py exited {done.returncode}")
            return {"status": "failed", "reason": (done.stdout + done.stderr)[-2000:]}
        result: dict[str, Any] = json.loads(target.read_text())
        return {"status": "measured", **result}
    finally:
        if previous is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(previous)


def run_chat(quick: bool, runs: int, log_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Scenario 5: ``POST /api/chat`` on ``streamwire serve --demo-speed 0`` (the demo model at
    full speed), one request at a time (latency) and 32 at a time (throughput)."""
    if importlib.util.find_spec("streamwire.app") is None:
        return {
            "status": "not yet measured",
            "reason": "the chat server (streamwire.app, `streamwire serve`) does not exist yet",
        }
    command = [PYTHON, "-m", "streamwire", "serve", "--demo-speed", "0", "--log-level", "warning"]
    shapes = {"c1": (20 if quick else 300, 1), "c32": (64 if quick else 2000, 32)}
    out: dict[str, Any] = {"status": "measured", "route": "/api/chat", "shapes": {}, "runs": {}}
    log("scenario 5: chat route, demo provider at full speed")
    for key, (requests, concurrency) in shapes.items():
        out["shapes"][key] = {"requests": requests, "concurrency": concurrency}
        out["runs"][key] = []
        for run in range(runs):
            log(f"  run {run + 1}/{runs} chat    {concurrency} at a time")
            try:
                with server("chat", key, log_dir, command) as (pid, url):
                    out["runs"][key].append(
                        run_loadgen(
                            "chat",
                            key,
                            [
                                "chat",
                                url,
                                "--requests",
                                str(requests),
                                "--concurrency",
                                str(concurrency),
                                "--server-pid",
                                str(pid),
                            ],
                        )
                    )
            except BenchmarkError as exc:
                log(f"    FAILED: {exc}")
                out["runs"][key].append({"error": str(exc)})
            time.sleep(PAUSE_SECONDS)
    return out


# The bench dependency group (pyproject.toml): the peers compared and the chart. Without them a
# run would skip the comparisons it exists for.
BENCH_MODULES = ("sse_starlette", "httpx_sse", "sseclient", "matplotlib", "uvloop", "httptools")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the plan, write the JSON, the summary and the chart."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run (~1 minute)")
    parser.add_argument("--runs", type=int, default=None, help="override the number of runs")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated implementations to measure (default: all available)",
    )
    parser.add_argument(
        "--scenarios",
        default="one,paced,idle,decode,chat",
        help="comma-separated scenarios: one, paced, idle, decode, chat",
    )
    parser.add_argument("--out", type=Path, default=None, help="results directory")
    parser.add_argument(
        "--commit",
        default=None,
        help="measure this commit's src/ (extracted to a temporary directory) instead of the "
        "working tree, e.g. HEAD while others have uncommitted edits",
    )
    args = parser.parse_args(argv)
    if args.commit is None:
        return run(args, parser, None)
    with snapshot(args.commit) as commit:
        return run(args, parser, commit)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser, commit: str | None) -> int:
    """Run the plan that ``args`` describe (see :func:`main`)."""
    plan = QUICK if args.quick else FULL
    runs = args.runs or plan.runs
    impls = available()
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in IMPLEMENTATIONS]
        if unknown:
            parser.error(
                f"--only: unknown implementation(s) {unknown}; know {list(IMPLEMENTATIONS)}"
            )
        impls = [i for i in impls if i in wanted]
    scenarios = set(args.scenarios.split(","))
    out = args.out or (HERE / "results" / ("quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    if shutil.which("curl") is None and "one" in scenarios:
        parser.error("curl is needed for the one-stream scenario (scripts/bootstrap --bench)")
    absent = [name for name in BENCH_MODULES if importlib.util.find_spec(name) is None]
    if absent:
        parser.error(
            f"the bench dependency group is not installed (missing: {', '.join(absent)}); "
            "run scripts/bootstrap --bench"
        )

    def log(message: str) -> None:
        print(message, flush=True)

    missing = [i for i in IMPLEMENTATIONS if i not in impls]
    log(
        f"implementations: {', '.join(impls)}"
        + (f" (skipped: {', '.join(missing)})" if missing else "")
    )
    results: dict[str, Any] = {
        "quick": args.quick,
        "runs": runs,
        "implementations": {i: IMPLEMENTATIONS[i][1] for i in impls},
        "machine": machine(commit),
        "versions": versions(),
        "plan": {
            "one_stream": [asdict(c) for c in plan.one_stream],
            "paced": [asdict(c) for c in plan.paced],
            "idle": [asdict(c) for c in plan.idle],
        },
        "one_stream": {},
        "paced": {},
        "idle": {},
        "decode": None,
        "chat": None,
    }
    started = time.monotonic()
    json_path = out / "results.json"
    partial_path = out / "results.partial.json"

    def checkpoint() -> None:
        # Saved after every scenario, so an interrupted run keeps what it measured.
        partial_path.write_text(json.dumps(results, indent=1) + "\n")

    with tempfile.TemporaryDirectory(prefix="streamwire-bench-") as tmp:
        log_dir = Path(tmp)
        if "one" in scenarios:
            for one in plan.one_stream:
                log(f"scenario 1: one stream of {one.n} events of {one.size} B")
                results["one_stream"][one.key] = measure_all(
                    impls,
                    runs,
                    one.key,
                    partial(measure_one_stream, case=one, log_dir=log_dir),
                    log,
                )
                checkpoint()
        if "paced" in scenarios:
            for paced in plan.paced:
                log(
                    f"scenario 2: {paced.streams} streams of {paced.n} events "
                    f"every {paced.interval_ms:g} ms"
                )
                results["paced"][paced.key] = measure_all(
                    impls, runs, paced.key, partial(measure_paced, case=paced, log_dir=log_dir), log
                )
                checkpoint()
        if "idle" in scenarios:
            for idle in plan.idle:
                log(f"scenario 3: {idle.streams} idle streams")
                results["idle"][idle.key] = measure_all(
                    impls, runs, idle.key, partial(measure_idle, case=idle, log_dir=log_dir), log
                )
                checkpoint()
        if "chat" in scenarios:
            results["chat"] = run_chat(args.quick, runs, log_dir, log)
            checkpoint()
    if "decode" in scenarios:
        results["decode"] = run_decode(args.quick, log)
    results["elapsed_s"] = time.monotonic() - started

    json_path.write_text(json.dumps(results, indent=1) + "\n")
    partial_path.unlink(missing_ok=True)
    from report import write_report

    summary, chart = write_report(results, out)
    log(f"wrote {json_path}, {summary} and {chart} in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
