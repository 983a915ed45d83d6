"""Real servers for tests: uvicorn on a random loopback port, started and stopped by the test.

In-process test clients cannot stream, so every adapter test runs against a real uvicorn.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0


def free_socket(host: str = "127.0.0.1") -> socket.socket:
    """A bound loopback socket on a free port, for a server to take over."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A free loopback port (bound and released: fine for a subprocess started right away)."""
    with free_socket(host) as sock:
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """uvicorn serving ``app`` in a background thread on 127.0.0.1 and a random port.

    Use as a context manager; ``url`` is the base URL (no trailing slash).
    """

    def __init__(self, app: Any, **config: Any) -> None:
        config.setdefault("log_level", "warning")
        config.setdefault("lifespan", "auto")
        self._sock = free_socket()
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, **config))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(STOP_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(STOP_TIMEOUT_SECONDS)
        self._sock.close()


@contextlib.contextmanager
def server_process(
    args: Sequence[str], *, ready_url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python args...`` as a subprocess until ``ready_url`` answers; stop it afterwards.

    The process is sent SIGTERM on exit (SIGKILL if it does not stop), so every test that starts
    one also stops it.
    """
    import httpx

    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, *args], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"server exited early ({proc.returncode}):\n{out}")
            try:
                httpx.get(ready_url, timeout=0.5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not answer at {ready_url}") from None
                time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT_SECONDS)
        if proc.stdout:
            proc.stdout.close()
