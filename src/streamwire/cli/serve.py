"""``streamwire serve``: the streaming chat server in one command, with no API key.

By default it serves the built-in demo model; ``--provider openai`` or ``--provider anthropic``
streams a real model (keys from ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys

from streamwire.protocol.errors import InvalidArgumentError

__all__ = ["add_parser", "parse_rate_limit", "run"]

# 40 tokens/s reads like a fast model and keeps the demo's streaming visible.
DEFAULT_DEMO_SPEED = 40.0
DEFAULT_PORT = 8000

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_PER_SECONDS |= {"h": 3600, "hour": 3600}


def parse_rate_limit(text: str) -> tuple[int, float]:
    """Parse ``N/min`` (or ``N/s``, ``N/h``) into (requests, period in seconds).

    Raises:
        InvalidArgumentError: the text is not of that form or N is 0.
    """
    match = _RATE.match(text)
    if not match or int(match.group(1)) == 0:
        raise InvalidArgumentError(
            "--rate-limit", f"must look like 30/min, 5/s or 1000/h (got {text!r})"
        )
    return int(match.group(1)), float(_PER_SECONDS[match.group(2)])


def _rate_limit_option(text: str) -> tuple[int, float]:
    # argparse reports an ArgumentTypeError as a usage error (exit 2), without a traceback.
    try:
        return parse_rate_limit(text)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative_speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number (got {text!r})") from None
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must not be negative (got {text!r})")
    return value


def _log_stream_lines(level: str) -> None:
    """Print streamwire's log records (the per-stream line of ``streamwire.serve`` among them).

    uvicorn configures only its own loggers; without a handler here, every stream's log line
    would be dropped. Installed once per process.
    """
    logger = logging.getLogger("streamwire")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_streamwire_serve", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:  %(name)s %(message)s"))
        handler._streamwire_serve = True  # type: ignore[attr-defined]  # our marker
        logger.addHandler(handler)


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``serve``'s options to its sub-parser."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8000)")
    parser.add_argument(
        "--provider",
        choices=("demo", "openai", "anthropic"),
        default="demo",
        help="the model provider (default: the local demo model, no key needed)",
    )
    parser.add_argument("--base-url", help="the provider's base URL (OpenAI-compatible servers)")
    parser.add_argument("--model", help="the model name to ask the provider for")
    parser.add_argument(
        "--token",
        default=os.environ.get("STREAMWIRE_TOKEN"),
        help="require this bearer token on the API routes (default: $STREAMWIRE_TOKEN)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit_option,
        metavar="N/min",
        help="per-client request limit, e.g. 30/min",
    )
    parser.add_argument(
        "--demo-speed",
        type=_non_negative_speed,
        default=DEFAULT_DEMO_SPEED,
        metavar="TOKENS_PER_SECOND",
        help="the demo model's pace (default 40; 0 = as fast as it can)",
    )
    parser.add_argument(
        "--heartbeat", type=float, default=15.0, metavar="SECONDS", help="idle heartbeat interval"
    )
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )


def run(args: argparse.Namespace) -> int:
    """Start the server; returns the exit code when it has shut down.

    SIGTERM drains open streams (each gets a ``server_shutdown`` notice), then uvicorn
    re-raises the signal, so the process ends as killed by SIGTERM, as services expect. Ctrl+C
    (SIGINT) does the same and exits with code 130, without a traceback.
    """
    import uvicorn

    from streamwire.app import ServerSettings, create_app

    rate = args.rate_limit
    if isinstance(rate, str):  # a Namespace built by hand, not by the parser
        rate = parse_rate_limit(rate)
    settings = ServerSettings(
        provider=args.provider,
        base_url=args.base_url,
        model=args.model,
        token=args.token,
        rate_limit=rate,
        demo_speed=args.demo_speed,
        heartbeat_seconds=args.heartbeat or None,
    )
    app = create_app(settings)
    print(
        f"streamwire: serving the {args.provider} model on http://{args.host}:{args.port}",
        flush=True,
    )
    _log_stream_lines(args.log_level)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    return 0
