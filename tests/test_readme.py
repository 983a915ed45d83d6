"""Every code snippet in README.md runs, as a new user would run it.

Snippets are found by their fence and their content; a README change that adds a snippet without
a test here fails ``test_every_snippet_is_covered``.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamwire.app import ServerSettings, create_app
from streamwire.cli import main as streamwire_main
from streamwire.sse import SSEDecoder
from tests.servers import LiveServer

README = Path(__file__).resolve().parent.parent / "README.md"
DEMO_URL = "http://127.0.0.1:8000"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _snippets() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(README.read_text())]


def _snippet(language: str, marker: str) -> str:
    found = [code for lang, code in _snippets() if lang == language and marker in code]
    assert len(found) == 1, f"expected one {language} snippet containing {marker!r}"
    return found[0]


# (language, a string that identifies the snippet) for each snippet a test below runs.
_COVERED = [
    ("bash", "./scripts/demo"),
    ("bash", "curl -N -X POST"),
    ("python", "from fastapi import FastAPI"),
    ("python", "SSEDecoder()"),
    ("python", "stream_chat_from_route"),
    ("bash", "streamwire tail"),
    ("text", "streamwire serve"),
]


def test_every_snippet_is_covered() -> None:
    for language, code in _snippets():
        assert any(lang == language and marker in code for lang, marker in _COVERED), (
            f"README snippet without a test:\n{code}"
        )


def test_the_quickstart_commands_exist_and_ci_runs_the_test_one() -> None:
    code = _snippet("bash", "./scripts/demo")
    commands = [line.split("#")[0].split() for line in code.splitlines() if line.strip()]
    root = README.parent
    for words in commands:
        assert (root / words[0]).is_file(), words[0]
    assert "./scripts/test" in (root / ".ci" / "run").read_text()


@pytest.fixture(scope="module")
def demo_server() -> Any:
    with LiveServer(create_app(ServerSettings(demo_speed=0))) as server:
        yield server


def test_the_curl_example_streams_a_draft(demo_server: LiveServer) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    command = _snippet("bash", "curl -N -X POST").replace("\\\n", " ")
    args = shlex.split(command.replace("localhost:8000", demo_server.url))
    body = subprocess.run(args, capture_output=True, timeout=30, check=True).stdout
    events = SSEDecoder().feed(body)
    assert events[0].data.startswith('{"type":"start"')
    assert any('"structured-data"' in e.data for e in events)
    assert events[-1].event == "done"


def test_the_fastapi_route_streams_tokens_and_ends_with_done() -> None:
    namespace: dict[str, Any] = {}
    exec(_snippet("python", "from fastapi import FastAPI"), namespace)
    with (
        LiveServer(namespace["app"]) as server,
        httpx.stream("GET", f"{server.url}/stream", params={"q": "hi"}, timeout=10) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = SSEDecoder().feed(response.read())
    assert [e.data for e in events[:-1]] == [
        '{"type":"text-delta","delta":"You "}',
        '{"type":"text-delta","delta":"asked: "}',
        '{"type":"text-delta","delta":"hi "}',
    ]
    assert events[-1].event == "done"


def test_the_sans_io_example_runs() -> None:
    exec(_snippet("python", "SSEDecoder()"), {})


async def test_the_python_client_example_prints_the_answer(
    demo_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _snippet("python", "stream_chat_from_route").replace(DEMO_URL, demo_server.url)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    await namespace["main"]()
    printed = capsys.readouterr().out
    assert len(printed.split()) > 10


def test_the_tail_example_prints_the_draft(
    demo_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    command = _snippet("bash", "streamwire tail").replace("\\\n", " ")
    args = shlex.split(command.replace(DEMO_URL, demo_server.url))
    assert args[0] == "streamwire"
    assert streamwire_main(args[1:]) == 0
    printed = capsys.readouterr().out
    assert '"bullets"' in printed


def test_every_serve_option_in_the_usage_is_a_real_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    usage = _snippet("text", "streamwire serve")
    with pytest.raises(SystemExit) as exit_info:
        streamwire_main(["serve", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    options = re.findall(r"--[a-z-]+", usage)
    assert len(options) >= 8
    for option in options:
        assert re.search(rf"(^|\s){re.escape(option)}\b", help_text), option
