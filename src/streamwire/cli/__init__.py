"""The ``streamwire`` command: ``streamwire serve`` and ``streamwire tail``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int`` (the exit code); this module only dispatches, and imports a subcommand's
module only when it runs, so that ``streamwire tail`` does not load the server stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from streamwire._version import __version__

__all__ = ["main"]

# subcommand -> (module, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("streamwire.cli.serve", "run the streaming chat server (demo model by default)"),
    "tail": ("streamwire.cli.tail", "read an AI stream and print it live"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand's options.

    A subcommand module's ``add_parser(parser)`` adds its options to its own sub-parser.
    """
    parser = argparse.ArgumentParser(
        prog="streamwire", description="Stream AI responses to people in real time."
    )
    parser.add_argument("--version", action="version", version=f"streamwire {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in _COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``streamwire`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    module = importlib.import_module(_COMMANDS[args.command][0])
    code: int = module.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
