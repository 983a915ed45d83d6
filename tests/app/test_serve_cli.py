"""``python -m streamwire serve`` as a subprocess: smoke path, options, SIGTERM (issue 4)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx
import pytest

from streamwire.protocol.chunks import Done, ErrorChunk, Start, TextDelta, decode_chunk
from tests.app.helpers import READ_TIMEOUT_SECONDS, chunks_of, stream_lines, user
from tests.servers import free_port, server_process

EXIT_SECONDS = 5.0


def serve_args(port: int, *options: str) -> list[str]:
    return ["-m", "streamwire", "serve", "--port", str(port), *options]


def stop(proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM the server, wait for it to exit, return everything it printed."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(EXIT_SECONDS)
    assert proc.returncode in (0, -signal.SIGTERM)
    assert proc.stdout is not None
    return proc.stdout.read().decode()


def test_help_lists_the_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamwire", "serve", "--help"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    out = result.stdout.decode()
    for option in (
        "--host",
        "--port",
        "--provider",
        "--base-url",
        "--model",
        "--token",
        "--rate-limit",
        "--demo-speed",
    ):
        assert option in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rate-limit", "lots"], "--rate-limit"),
        (["--rate-limit", "0/min"], "--rate-limit"),
        (["--demo-speed", "-1"], "--demo-speed"),
        (["--provider", "gemini"], "--provider"),
    ],
)
def test_bad_options_exit_with_a_message(options: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, *serve_args(free_port(), *options)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    output = (result.stdout + result.stderr).decode()
    assert message in output
    assert "Traceback" not in output


def test_serve_smoke_streams_the_demo_and_logs_one_line_per_stream() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with server_process(serve_args(port, "--demo-speed", "0"), ready_url=f"{url}/healthz") as proc:
        with httpx.Client(base_url=url, timeout=READ_TIMEOUT_SECONDS) as http:
            assert http.get("/healthz").json() == {"status": "ok", "provider": "demo"}
            chunks = chunks_of(http.post("/api/chat", json=user("hello")).content)
            assert http.get("/").status_code == 200
            assert len(http.get("/api/export.csv", params={"rows": 3}).text.splitlines()) == 4
        output = stop(proc)
    assert isinstance(chunks[0], Start)
    assert isinstance(chunks[-1], Done)
    assert any(isinstance(c, TextDelta) for c in chunks)
    assert f"http://127.0.0.1:{port}" in output
    lines = [
        json.loads(line[line.index("{") :])
        for line in output.splitlines()
        if '"event":"stream"' in line
    ]
    (line,) = lines
    assert line["id"] == chunks[0].message_id
    assert line["outcome"] == "completed"
    assert line["route"] == "/api/chat"


def test_serve_token_and_rate_limit_options() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        server_process(
            serve_args(port, "--demo-speed", "0", "--rate-limit", "2/min"),
            ready_url=f"{url}/healthz",
            env={"STREAMWIRE_TOKEN": "tok"},
        ),
        httpx.Client(base_url=url, timeout=READ_TIMEOUT_SECONDS) as http,
    ):
        assert http.post("/api/chat", json=user("x")).status_code == 401
        auth = {"authorization": "Bearer tok"}
        # The 401 was not counted: the token guard runs first.
        for _ in range(2):
            assert http.post("/api/chat", json=user("x"), headers=auth).status_code == 200
        limited = http.post("/api/chat", json=user("x"), headers=auth)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert http.get("/healthz").status_code == 200


def test_sigterm_ends_an_open_stream_with_server_shutdown_then_exits() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # 5 tokens per second: the answer would take a minute; SIGTERM arrives mid-stream.
    with server_process(serve_args(port, "--demo-speed", "5"), ready_url=f"{url}/healthz") as proc:
        seen = []
        with (
            httpx.Client(base_url=url, timeout=READ_TIMEOUT_SECONDS) as http,
            http.stream("POST", "/api/chat", json=user("a long story")) as response,
        ):
            for event in stream_lines(response):
                chunk = decode_chunk(event.data)
                seen.append(chunk)
                if isinstance(chunk, TextDelta) and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
        proc.wait(EXIT_SECONDS)
        # uvicorn re-raises SIGTERM after draining: the process ends as killed by it.
        assert proc.returncode in (0, -signal.SIGTERM)
        assert proc.stdout is not None
        output = proc.stdout.read().decode()
    error, done = seen[-2:]
    assert isinstance(error, ErrorChunk)
    assert error.code == "server_shutdown"
    assert error.retryable
    assert isinstance(done, Done)
    assert len([c for c in seen if isinstance(c, TextDelta)]) < 20
    assert '"outcome":"shutdown"' in output


def test_ctrl_c_exits_130_without_a_traceback() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with server_process(serve_args(port), ready_url=f"{url}/healthz") as proc:
        proc.send_signal(signal.SIGINT)
        proc.wait(EXIT_SECONDS)
        assert proc.stdout is not None
        output = proc.stdout.read().decode()
    assert proc.returncode in (0, 130)
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
