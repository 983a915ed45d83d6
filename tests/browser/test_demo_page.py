"""The demo chat page in a real headless Chromium against a server on loopback.

The server is ``python -m streamwire serve --demo-speed 40``; its output is
read for the per-stream log line with the stream's outcome.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from tests.servers import free_port, server_process

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# From FIELD-NOTES ("This machine"): without the networking flags Chromium keeps trying to reach
# hosts this machine cannot reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_SPEED = "40"  # words a second: a reply takes a few seconds, plenty of DOM updates
WAIT_MS = 20_000  # the longest any step may take before the test fails
# The README's screenshot: refreshed only on request, so running the tests leaves the tree clean.
SCREENSHOT = ROOT / "docs" / "img" / "demo.png"
UPDATE_SCREENSHOT = os.environ.get("STREAMWIRE_UPDATE_SCREENSHOT") == "1"


class RunningServer:
    """A server process and the lines it has printed so far."""

    def __init__(self, url: str, proc: Any) -> None:
        self.url = url
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: Any) -> None:
        for raw in iter(proc.stdout.readline, b""):
            self.lines.append(raw.decode("utf-8", "replace"))

    def wait_for_line(self, pattern: str, *, timeout: float = 10.0) -> str:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if regex.search(line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no server line matched {pattern!r}:\n{''.join(self.lines)}")


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["-m", "streamwire", "serve", "--port", str(port), "--demo-speed", DEMO_SPEED]
    with server_process(args, ready_url=f"{url}/healthz") as proc:
        yield RunningServer(url, proc)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def context(playwright: Playwright) -> Iterator[BrowserContext]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/bootstrap --tests"
    with tempfile.TemporaryDirectory(prefix="streamwire-chromium-") as profile:
        ctx = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 820},
        )
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def page(context: BrowserContext, server: RunningServer) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/")
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    try:
        yield page
    finally:
        page.close()
    assert errors == [], f"the page raised: {errors}"


# Records every change of the reply in flight: [text length, message state].
RECORD_REPLY = """
() => {
  window.__replies = [];
  const log = document.querySelector("#conversation");
  new MutationObserver(() => {
    const messages = log.querySelectorAll(".message.assistant");
    const last = messages[messages.length - 1];
    if (!last) return;
    const length = last.querySelector(".reply-text").textContent.length;
    const previous = window.__replies[window.__replies.length - 1];
    if (!previous || previous[0] !== length || previous[1] !== last.dataset.state) {
      window.__replies.push([length, last.dataset.state]);
    }
  }).observe(log, {subtree: true, childList: true, characterData: true, attributes: true});
}
"""


def last_assistant(page: Page, state: str) -> None:
    page.wait_for_selector(f".message.assistant:last-child[data-state={state}]", timeout=WAIT_MS)


def send(page: Page, prompt: str) -> None:
    page.get_by_label("Message").fill(prompt)
    page.keyboard.press("Enter")


def count_requests(page: Page, path: str) -> Callable[[], int]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if path in request.url else None)
    return lambda: len(seen)


def test_reply_grows_over_several_dom_updates_before_done(page: Page) -> None:
    page.evaluate(RECORD_REPLY)
    send(page, "Tell me a story about streaming rivers")
    last_assistant(page, "done")
    records: list[list[Any]] = page.evaluate("window.__replies")
    growing = [length for length, state in records if state == "streaming" and length > 0]
    assert len(set(growing)) >= 5, records
    assert growing == sorted(growing)
    final = page.locator(".message.assistant .reply-text").last.text_content() or ""
    assert len(final) >= max(growing)
    # The cursor shows only while streaming; the connection state says done.
    assert page.locator(".message.assistant .cursor").last.is_hidden()
    assert page.locator("#connection-text").text_content() == "Done"
    assert page.locator("#send").is_enabled()
    assert page.locator("#stop").is_disabled()


def test_stop_cancels_the_stream_and_the_server_records_it(
    page: Page, server: RunningServer
) -> None:
    already = len(server.lines)
    send(page, "Tell me everything about rivers, lakes and the sea")
    reply = page.locator(".message.assistant .reply-text").last
    page.wait_for_function(
        "() => { const r = document.querySelectorAll('.reply-text');"
        " return r.length && r[r.length - 1].textContent.length > 20; }",
        timeout=WAIT_MS,
    )
    assert page.locator("#stop").is_enabled()
    page.locator("#stop").click()
    last_assistant(page, "stopped")
    assert page.locator("#connection-text").text_content() == "Stopped"
    assert page.locator(".message.assistant .tag.stopped").last.is_visible()
    stopped_at = len(reply.text_content() or "")
    # The server saw the client leave and cancelled the model: its log line says so.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = server.lines[already:]
        if any(re.search(r'"outcome":\s*"cancelled"', line) for line in new):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("no cancelled stream in the server log:\n" + "".join(server.lines))
    assert len(reply.text_content() or "") == stopped_at
    assert page.locator(".message.assistant .error-box").last.is_hidden()


def test_eventsource_helper_closes_on_done_without_reconnecting(
    page: Page, server: RunningServer
) -> None:
    requests = count_requests(page, "/api/chat/stream")
    result = page.evaluate(
        """async () => {
          const { openEventSource } = await import("/streamwire.js");
          const handle = openEventSource("/api/chat/stream?q=" + encodeURIComponent("hello there"));
          const result = await handle.done;
          return { state: handle.source.readyState, text: result.text, done: result.done,
                   finish: result.finishReason, error: result.error };
        }"""
    )
    assert result["state"] == 2  # EventSource.CLOSED: the browser will not reconnect
    assert result["done"] is True
    assert result["finish"] == "stop"
    assert result["error"] is None
    assert len(result["text"]) > 20
    assert requests() == 1


def test_demo_page_over_eventsource_transport(page: Page) -> None:
    requests = count_requests(page, "/api/chat/stream")
    page.get_by_label("Transport").select_option("eventsource")
    send(page, "What is the weather in Oslo?")
    last_assistant(page, "done")
    tool = page.locator(".tool").last
    assert "get_weather" in (tool.text_content() or "")
    assert tool.get_attribute("data-status") == "done"
    assert requests() == 1


def test_error_chunk_shows_as_an_error_with_retry(page: Page) -> None:
    requests = count_requests(page, "/api/chat")
    page.get_by_role("button", name="Make it fail").click()
    last_assistant(page, "error")
    box = page.locator(".message.assistant .error-box").last
    assert box.is_visible()
    assert box.get_attribute("role") == "alert"
    assert "failed on purpose" in (box.text_content() or "")
    assert "demo_error" in (box.text_content() or "")
    assert page.locator("#connection-text").text_content() == "Error"
    assert requests() == 1
    box.get_by_role("button", name="Retry").click()
    page.wait_for_function("() => document.querySelectorAll('.message.assistant').length === 1")
    last_assistant(page, "error")
    assert requests() == 2


def test_structured_draft_fills_in_live(page: Page, tmp_path: Path) -> None:
    page.evaluate(
        """() => {
          window.__bodies = [];
          const body = document.querySelector("#draft-body");
          new MutationObserver(() => window.__bodies.push(body.textContent.length))
            .observe(body, {subtree: true, childList: true, characterData: true});
        }"""
    )
    send(page, "What is the weather in Oslo? Use the tool.")
    last_assistant(page, "done")
    page.get_by_role("button", name="Draft an email").click()
    page.wait_for_selector("#draft-status[data-state=done]", timeout=WAIT_MS)
    last_assistant(page, "done")
    bodies: list[int] = page.evaluate("window.__bodies")
    assert len(set(bodies)) >= 5, bodies
    assert page.locator("#draft-title").text_content()
    assert page.locator("#draft-bullets li").count() >= 1
    assert page.locator("#draft-status").text_content() == "complete"
    shot = SCREENSHOT if UPDATE_SCREENSHOT else tmp_path / "demo.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000


def test_keyboard_only_use(page: Page) -> None:
    prompt = page.get_by_label("Message")
    prompt.focus()
    page.keyboard.type("Tell me about lakes")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => { const r = document.querySelectorAll('.reply-text');"
        " return r.length && r[r.length - 1].textContent.length > 0; }",
        timeout=WAIT_MS,
    )
    page.keyboard.press("Escape")
    last_assistant(page, "stopped")
    # The page stays usable: send again with the keyboard.
    prompt.focus()
    page.keyboard.type("Again, please")
    page.keyboard.press("Enter")
    last_assistant(page, "done")
