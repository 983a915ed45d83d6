"""``streamwire tail``: read an AI stream and print it live, like ``curl -N`` but parsed.

``streamwire tail URL [-d JSON | -d @file] [-H 'Name: value']... [--json] [--dialect NAME]``

It POSTs ``-d``'s JSON when given (``@file`` reads a file, ``@-`` standard input), else GETs.
Output:

* stdout: the answer's text as it arrives (flushed per delta); structured objects as they fill
  in (redrawn in place on a terminal, one JSON line per update otherwise); tool calls; progress
  as a live bar on a terminal;
* stderr: reasoning, progress lines when stdout is not a terminal, errors, and a last stats
  line (chunks, tokens, time to first token, total time);
* ``--json``: every chunk as one JSON line on stdout instead (stats still on stderr).

Exit codes (:data:`EXIT_CODES`): 0 the stream ended with ``done``; 1 it carried an ``error``
chunk; 2 bad arguments; 3 it was truncated (ended without its terminator); 4 it was malformed;
5 the server answered with an HTTP error or no event stream; 6 the connection failed or timed
out; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx
import msgspec

from streamwire.client import (
    StreamConnectionError,
    StreamResponseError,
    read_stream,
)
from streamwire.client._http import http_error_details
from streamwire.client.eventsource import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
)
from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    Interrupt,
    Progress,
    ReasoningDelta,
    StructuredData,
    TextDelta,
    ToolCallEnd,
    ToolCallResult,
    ToolCallStart,
    Usage,
    encode_chunk,
)
from streamwire.protocol.dialects import DIALECT_NAMES
from streamwire.protocol.errors import (
    PeerProtocolError,
    TruncatedStreamError,
)
from streamwire.protocol.structured import StructuredAccumulator, StructuredState

__all__ = [
    "EXIT_CODES",
    "EXIT_CONNECTION",
    "EXIT_ERROR_CHUNK",
    "EXIT_HTTP",
    "EXIT_INTERRUPTED",
    "EXIT_MALFORMED",
    "EXIT_OK",
    "EXIT_TRUNCATED",
    "EXIT_USAGE",
    "TailPrinter",
    "add_parser",
    "run",
    "tail",
]

EXIT_OK = 0
EXIT_ERROR_CHUNK = 1
EXIT_USAGE = 2  # also argparse's own code for bad options
EXIT_TRUNCATED = 3
EXIT_MALFORMED = 4
EXIT_HTTP = 5
EXIT_CONNECTION = 6
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell convention

#: Every exit code and what it means.
EXIT_CODES: Mapping[int, str] = {
    EXIT_OK: "the stream ended with done",
    EXIT_ERROR_CHUNK: "the stream carried an error chunk",
    EXIT_USAGE: "bad arguments",
    EXIT_TRUNCATED: "the stream ended before its terminator",
    EXIT_MALFORMED: "the stream was malformed",
    EXIT_HTTP: "the server answered with an HTTP error or no event stream",
    EXIT_CONNECTION: "the connection failed or timed out",
    EXIT_INTERRUPTED: "interrupted",
}

_BAR_WIDTH = 30
_DIM = "\x1b[2m"
_RED = "\x1b[31m"
_RESET = "\x1b[0m"
_CLEAR_LINE = "\r\x1b[K"


class _UsageError(Exception):
    pass


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``tail``'s options to its sub-parser."""
    parser.epilog = "exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items())
    parser.add_argument("url", help="the stream's URL")
    parser.add_argument(
        "-d",
        "--data",
        metavar="JSON",
        help="POST this JSON body (@file reads a file, @- standard input); GET without it",
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra request header (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print every chunk as a JSON line")
    parser.add_argument(
        "--dialect",
        choices=DIALECT_NAMES,
        help="the stream's dialect (default: detected from the headers and first event)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"give up after this long without a byte (default {DEFAULT_IDLE_TIMEOUT_SECONDS:g})",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``streamwire tail`` with parsed arguments; returns the exit code."""
    return tail(
        args.url,
        data=args.data,
        headers=args.header,
        json_lines=args.json,
        dialect=args.dialect,
        idle_timeout_seconds=args.timeout,
        out=sys.stdout,
        err=sys.stderr,
    )


def _body(data: str, stdin: TextIO) -> bytes:
    if data.startswith("@"):
        name = data[1:]
        try:
            text = stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise _UsageError(f"-d: cannot read {name!r}: {exc.strerror or exc}") from None
    else:
        text = data
    try:
        msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise _UsageError(f"-d: not valid JSON: {exc}") from None
    return text.encode()


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise _UsageError(f"-H: expected 'Name: value', got {line!r}")
        headers[name.strip()] = value.strip()
    return headers


@dataclass
class _Stats:
    started: float
    first_token: float | None = None
    chunks: int = 0
    text_deltas: int = 0
    usage: Usage | None = None
    finish_reason: str | None = None
    done: bool = False


class TailPrinter:
    """Prints chunks for a person: text live, structured objects redrawn, a progress bar.

    Args:
        out: where the answer goes (stdout).
        err: where reasoning, progress lines, errors and stats go (stderr).
        out_tty: whether ``out`` is a terminal (redraw, live bar, colour).
        err_tty: whether ``err`` is a terminal (dim reasoning, red errors).
        json_lines: print each chunk as a JSON line instead.
    """

    def __init__(
        self, out: TextIO, err: TextIO, *, out_tty: bool, err_tty: bool, json_lines: bool = False
    ) -> None:
        self.out = out
        self.err = err
        self.out_tty = out_tty
        self.err_tty = err_tty
        self.json_lines = json_lines
        self.structured = StructuredAccumulator()
        self.errors: list[ErrorChunk] = []
        self._line_open = False  # the last thing written to out did not end a line
        self._block_rows = 0  # rows of the structured block drawn last, if it is still last
        self._block_stream: str | None = None
        self._bar_open = False
        self._tools: dict[str, str] = {}  # tool call id -> tool name

    # --- low level ---------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        if self._bar_open:
            self.out.write(_CLEAR_LINE)
            self._bar_open = False
        self.out.write(text)
        if text:
            self._line_open = not text.endswith("\n")
            self._block_rows = 0
        self.out.flush()

    def _line(self, text: str) -> None:
        # A whole line on out, starting on a fresh line.
        self._write(("\n" if self._line_open else "") + text + "\n")

    def _err_line(self, text: str, colour: str = "") -> None:
        if self._line_open and self.out_tty and self.err_tty:
            self._write("\n")  # the same terminal: do not glue the message to the text
        if colour and self.err_tty:
            text = f"{colour}{text}{_RESET}"
        self.err.write(text + "\n")
        self.err.flush()

    # --- chunks ------------------------------------------------------------------------------

    def chunk(self, chunk: Chunk) -> None:
        """Print one chunk."""
        if self.json_lines:
            self.out.write(encode_chunk(chunk).decode() + "\n")
            self.out.flush()
            if isinstance(chunk, ErrorChunk):
                self.errors.append(chunk)
            return
        match chunk:
            case TextDelta(delta=delta):
                self._write(delta)
            case ReasoningDelta(delta=delta):
                self.err.write(f"{_DIM}{delta}{_RESET}" if self.err_tty else delta)
                self.err.flush()
            case StructuredData():
                self._structured(self.structured.apply(chunk))
            case ToolCallStart(tool_call_id=call_id, tool=tool):
                self._tools[call_id] = tool
                self._line(f"[tool {tool}] started")
            case ToolCallEnd(tool_call_id=call_id, input=value):
                self._line(f"[tool {self._tools.get(call_id, call_id)}] input {_dumps(value)}")
            case ToolCallResult(tool=tool, content=content, is_error=failed):
                what = "failed" if failed else "result"
                self._line(f"[tool {tool}] {what} {_dumps(content)}")
            case Progress():
                self._progress(chunk)
            case Interrupt(input=asked):
                self._line(f"[interrupt] {asked.question or asked.kind}")
            case ErrorChunk(message=message, code=code):
                self.errors.append(chunk)
                self._err_line(f"error [{code}]: {message}", _RED)
            case _:
                pass

    def _structured(self, state: StructuredState) -> None:
        if not self.out_tty:
            line = {"structured": state.stream_id, "status": state.status, "data": state.data}
            self._line(_dumps(line))
            return
        block = f"[{state.stream_id}{' ✓' if state.status == 'done' else ''}]\n"
        block += msgspec.json.format(msgspec.json.encode(state.data), indent=2).decode() + "\n"
        prefix = ""
        if self._block_rows and self._block_stream == state.stream_id:
            # Still the last thing on screen: move up over it and draw it again.
            prefix = f"\x1b[{self._block_rows}F\x1b[J"
        elif self._line_open:
            prefix = "\n"
        self._write(prefix + block)
        width = max(1, shutil.get_terminal_size().columns)
        self._block_rows = sum(
            max(1, math.ceil(len(line) / width)) for line in block.rstrip("\n").split("\n")
        )
        self._block_stream = state.stream_id

    def _progress(self, chunk: Progress) -> None:
        total = chunk.total
        label = chunk.message or ""
        if total:
            share = max(0.0, min(1.0, chunk.value / total))
            if self.out_tty:
                filled = round(share * _BAR_WIDTH)
                bar = "█" * filled + "░" * (_BAR_WIDTH - filled)
                if self._line_open and not self._bar_open:
                    self._write("\n")
                self.out.write(f"{_CLEAR_LINE}[{bar}] {share:4.0%} {label}".rstrip())
                self.out.flush()
                self._bar_open = share < 1
                if share >= 1:
                    self._write("\n")
                return
            self._err_line(f"[progress {chunk.value:g}/{total:g}] {label}".rstrip())
            return
        if self.out_tty:
            self._line(f"[progress {chunk.value:g}] {label}".rstrip())
        else:
            self._err_line(f"[progress {chunk.value:g}] {label}".rstrip())

    def finish(self) -> None:
        """End the output: close an open line or bar."""
        if self._bar_open or self._line_open:
            self._write("\n")

    def stats(self, stats: _Stats, *, ended: str) -> None:
        """Print the last line: how it ended, chunks, tokens, time to first token, total."""
        total = time.perf_counter() - stats.started
        parts = [ended, f"{stats.chunks} chunk{'' if stats.chunks == 1 else 's'}"]
        if stats.usage is not None:
            usage = stats.usage
            tokens = usage.input_tokens + usage.output_tokens
            parts.append(f"{tokens} tokens ({usage.input_tokens} in, {usage.output_tokens} out)")
        else:
            deltas = stats.text_deltas
            parts.append(f"{deltas} text delta{'' if deltas == 1 else 's'}")
        if stats.first_token is not None:
            parts.append(f"first token {stats.first_token - stats.started:.2f} s")
        parts.append(f"total {total:.2f} s")
        self._err_line(" · ".join(parts), _DIM)


def _dumps(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if isatty is not None else False


def tail(
    url: str,
    *,
    data: str | None = None,
    headers: list[str] | None = None,
    json_lines: bool = False,
    dialect: str | None = None,
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
    out: TextIO,
    err: TextIO,
    stdin: TextIO | None = None,
    client: httpx.Client | None = None,
) -> int:
    """Read the stream at ``url`` and print it (see the module docstring).

    Args:
        url: the stream's URL.
        data: the JSON body (or ``@file``, ``@-``) to POST; ``None`` GETs.
        headers: extra headers as ``"Name: value"`` lines.
        json_lines: print each chunk as a JSON line.
        dialect: the dialect, or ``None`` to detect it.
        idle_timeout_seconds: the longest silence before giving up.
        out: standard output.
        err: standard error.
        stdin: standard input, for ``-d @-``.
        client: the httpx client to use (tests); by default one is made.

    Returns:
        The exit code (see :data:`EXIT_CODES`).
    """
    printer = TailPrinter(
        out, err, out_tty=_is_tty(out), err_tty=_is_tty(err), json_lines=json_lines
    )
    try:
        request_headers = {"accept": "text/event-stream", **_headers(headers or [])}
        body = None
        if data is not None:
            body = _body(data, stdin if stdin is not None else sys.stdin)
            request_headers.setdefault("content-type", "application/json")
        if idle_timeout_seconds <= 0:
            raise _UsageError(f"--timeout must be positive (got {idle_timeout_seconds:g})")
    except _UsageError as exc:
        printer._err_line(f"streamwire tail: {exc}", _RED)
        return EXIT_USAGE
    timeout = httpx.Timeout(DEFAULT_CONNECT_TIMEOUT_SECONDS, read=idle_timeout_seconds)
    stats = _Stats(started=time.perf_counter())
    owned = client is None
    http = client if client is not None else httpx.Client()
    code = EXIT_OK
    ended = "done"
    try:
        request = http.build_request(
            "POST" if body is not None else "GET",
            url,
            content=body,
            headers=request_headers,
            timeout=timeout,
        )
        response = http.send(request, stream=True)
        with read_stream(response, dialect=dialect) as stream:
            for chunk in stream:
                stats.chunks += 1
                if stats.first_token is None and isinstance(
                    chunk, TextDelta | ReasoningDelta | StructuredData | ToolCallStart
                ):
                    stats.first_token = time.perf_counter()
                if isinstance(chunk, TextDelta):
                    stats.text_deltas += 1
                elif isinstance(chunk, Usage):
                    stats.usage = chunk
                elif isinstance(chunk, Done):
                    stats.finish_reason = chunk.finish_reason
                    stats.done = True
                printer.chunk(chunk)
        printer.finish()
        if printer.errors:
            code, ended = EXIT_ERROR_CHUNK, "error"
        else:
            ended = f"done ({stats.finish_reason})" if stats.finish_reason else "done"
    except KeyboardInterrupt:
        printer.finish()
        code, ended = EXIT_INTERRUPTED, "interrupted"
    except StreamResponseError as exc:
        printer.finish()
        if exc.status_code >= 300:
            message = http_error_details(exc.status_code, exc.body.encode())[0]
            printer._err_line(
                f"streamwire tail: HTTP {exc.status_code} from {url}: {message}", _RED
            )
        else:
            printer._err_line(f"streamwire tail: {exc}", _RED)
        code, ended = EXIT_HTTP, f"HTTP {exc.status_code}"
    except StreamConnectionError as exc:
        printer.finish()
        printer._err_line(f"streamwire tail: {exc}", _RED)
        code, ended = EXIT_CONNECTION, "connection failed"
    except httpx.TransportError as exc:  # before the response: connect, send
        printer.finish()
        printer._err_line(f"streamwire tail: cannot reach {url}: {exc}", _RED)
        code, ended = EXIT_CONNECTION, "connection failed"
    except TruncatedStreamError as exc:
        printer.finish()
        printer._err_line(f"streamwire tail: {exc}", _RED)
        code, ended = EXIT_TRUNCATED, "truncated"
    except PeerProtocolError as exc:
        printer.finish()
        printer._err_line(f"streamwire tail: malformed stream: {exc}", _RED)
        code, ended = EXIT_MALFORMED, "malformed"
    finally:
        if owned:
            http.close()
    printer.stats(stats, ended=ended)
    return code
