"""``streamwire tail``: run through main() with captured output, and once as a subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from streamwire.cli import main
from streamwire.cli.tail import (
    EXIT_CODES,
    EXIT_CONNECTION,
    EXIT_ERROR_CHUNK,
    EXIT_HTTP,
    EXIT_MALFORMED,
    EXIT_OK,
    EXIT_TRUNCATED,
    EXIT_USAGE,
    TailPrinter,
)
from streamwire.protocol.chunks import (
    Done,
    Progress,
    ReasoningDelta,
    StructuredData,
    TextDelta,
    ToolCallResult,
    decode_chunk,
)
from tests.client.conftest import Scripted
from tests.client.scripted import ANSWER
from tests.servers import free_port

SUBPROCESS_TIMEOUT_SECONDS = 30


def run_tail(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["tail", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_prints_text_structured_tools_and_stats(
    scripted: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_tail(capsys, f"{scripted.url}/native")
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0] == "Hello, world"
    structured = [json.loads(line) for line in lines if line.startswith('{"structured"')]
    assert structured[-1] == {
        "structured": "s1",
        "status": "streaming",
        "data": {"title": "Plan", "items": ["a", "b"]},
    }
    assert len(structured) == 3
    assert "[tool search] started" in lines
    assert '[tool search] input {"q":"x"}' in lines
    assert "[progress 1/2] half" in err  # stdout is no terminal: progress goes to stderr
    stats = err.splitlines()[-1]
    assert stats.startswith("done (stop) · 12 chunks · 7 tokens (3 in, 4 out) · first token ")
    assert " total " in stats


def test_json_prints_every_chunk_as_a_json_line(
    scripted: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_tail(capsys, f"{scripted.url}/native", "--json")
    assert code == EXIT_OK
    assert [decode_chunk(line) for line in out.splitlines()] == ANSWER
    assert "12 chunks" in err


def test_posts_the_data_with_headers(
    scripted: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    key = scripted.key()
    body = '{"messages": [{"role": "user", "content": "one two"}]}'
    code, out, _ = run_tail(
        capsys, f"{scripted.url}/chat?key={key}", "-d", body, "-H", "X-Test: yes", "-H", "A:b"
    )
    assert code == EXIT_OK
    assert out == "one two \n"
    (request,) = scripted.app.requests_for(key)
    assert request.method == "POST"
    assert request.body == body.encode()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-test"] == "yes"
    assert request.headers["a"] == "b"


def test_reads_the_data_from_a_file(
    scripted: Scripted, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "body.json"
    path.write_text('{"messages": [{"role": "user", "content": "from file"}]}')
    code, out, _ = run_tail(capsys, f"{scripted.url}/chat", "-d", f"@{path}")
    assert code == EXIT_OK
    assert out == "from file \n"


def test_gets_without_data(scripted: Scripted, capsys: pytest.CaptureFixture[str]) -> None:
    key = scripted.key()
    run_tail(capsys, f"{scripted.url}/native?key={key}")
    assert scripted.app.requests_for(key)[0].method == "GET"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "{not json"], "-d: not valid JSON"),
        (["-d", "@/nonexistent/body.json"], "-d: cannot read"),
        (["-H", "no colon"], "-H: expected 'Name: value'"),
        (["--timeout", "0"], "--timeout must be positive"),
    ],
)
def test_bad_arguments_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run_tail(capsys, "http://127.0.0.1:1/", *args)
    assert code == EXIT_USAGE
    assert message in err


@pytest.mark.parametrize(
    ("path", "extra", "code", "message"),
    [
        ("/error-chunk", [], EXIT_ERROR_CHUNK, "error [upstream_error]: model overloaded"),
        ("/no-terminator", [], EXIT_TRUNCATED, "stream ended before its terminator"),
        ("/drop", [], EXIT_CONNECTION, "connection lost"),
        ("/junk", [], EXIT_MALFORMED, "malformed stream"),
        ("/status/500", [], EXIT_HTTP, "HTTP 500 from "),
        ("/status/204", [], EXIT_HTTP, "204 No Content"),
        ("/html", [], EXIT_HTTP, "expected content type text/event-stream"),
        ("/stall", ["--timeout", "0.3"], EXIT_CONNECTION, "idle timeout"),
    ],
)
def test_failures_have_distinct_exit_codes(
    scripted: Scripted,
    capsys: pytest.CaptureFixture[str],
    path: str,
    extra: list[str],
    code: int,
    message: str,
) -> None:
    got, _, err = run_tail(capsys, f"{scripted.url}{path}", *extra)
    assert got == code, err
    assert message in err
    assert " total " in err.splitlines()[-1]


def test_http_error_shows_the_server_message(
    scripted: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = run_tail(capsys, f"{scripted.url}/status/500")
    assert "scripted failure 500" in err


def test_connection_refused_exits_6(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_tail(capsys, f"http://127.0.0.1:{free_port()}/")
    assert code == EXIT_CONNECTION
    assert "connection failed" in err


def test_dialect_by_name(scripted: Scripted, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_tail(capsys, f"{scripted.url}/openai", "--dialect", "openai")
    assert code == EXIT_OK
    assert out.startswith("Hello, world\n")


def test_exit_codes_are_distinct_and_documented(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(set(EXIT_CODES)) == len(EXIT_CODES) == 8
    with pytest.raises(SystemExit):
        main(["tail", "--help"])
    assert "exit codes:" in capsys.readouterr().out


def test_runs_as_a_subprocess(scripted: Scripted) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamwire", "tail", f"{scripted.url}/native"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.startswith("Hello, world\n")
    assert "done (stop)" in result.stderr


# --- the terminal rendering -------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_structured_objects_are_redrawn_in_place_on_a_terminal() -> None:
    out, err = FakeTTY(), FakeTTY()
    printer = TailPrinter(out, err, out_tty=True, err_tty=True)
    printer.chunk(TextDelta(delta="Plan:"))
    printer.chunk(StructuredData(stream_id="s", kind="set", path="title", value="A"))
    first = out.getvalue()
    printer.chunk(StructuredData(stream_id="s", kind="set", path="title", value="B"))
    redraw = out.getvalue()[len(first) :]
    assert first == 'Plan:\n[s]\n{\n  "title": "A"\n}\n'
    # Up over the 4 rows of the block, clear, draw again.
    assert redraw == '\x1b[4F\x1b[J[s]\n{\n  "title": "B"\n}\n'
    printer.chunk(StructuredData(stream_id="s", kind="final", data={"title": "C"}))
    assert out.getvalue().endswith('[s ✓]\n{\n  "title": "C"\n}\n')


def test_a_structured_block_is_not_redrawn_over_later_text() -> None:
    out = FakeTTY()
    printer = TailPrinter(out, FakeTTY(), out_tty=True, err_tty=True)
    printer.chunk(StructuredData(stream_id="s", kind="set", path="a", value=1))
    printer.chunk(TextDelta(delta="text"))
    before = out.getvalue()
    printer.chunk(StructuredData(stream_id="s", kind="set", path="a", value=2))
    assert "\x1b[" not in out.getvalue()[len(before) :]


def test_progress_is_a_live_bar_on_a_terminal() -> None:
    out = FakeTTY()
    printer = TailPrinter(out, FakeTTY(), out_tty=True, err_tty=True)
    printer.chunk(TextDelta(delta="working"))
    printer.chunk(Progress(value=1, total=4, message="step 1"))
    printer.chunk(Progress(value=4, total=4, message="done"))
    printer.chunk(TextDelta(delta="after"))
    printer.finish()
    text = out.getvalue()
    assert text.startswith("working\n\r\x1b[K[")
    assert " 25% step 1" in text
    assert "█" * 30 + "] 100% done\n" in text
    assert text.endswith("after\n")


def test_reasoning_goes_dim_to_stderr_and_errors_red() -> None:
    out, err = FakeTTY(), FakeTTY()
    printer = TailPrinter(out, err, out_tty=False, err_tty=True)
    printer.chunk(ReasoningDelta(delta="hmm"))
    printer.chunk(ToolCallResult(tool_call_id="t", tool="calc", content=3, is_error=True))
    printer.chunk(Done())
    assert err.getvalue() == "\x1b[2mhmm\x1b[0m"
    assert out.getvalue() == "[tool calc] failed 3\n"
