"""Serve one benchmarked implementation: ``python benchmarks/serve.py IMPL --port P [--cpu C]``.

uvicorn with httptools and uvloop, one worker, no access log, lifespan on. Before starting it
raises the open-file limit to the hard limit (thousands of sockets) and, with ``--cpu``, pins
itself to that core. :mod:`run` starts one of these per measurement and stops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from apps import IMPLEMENTATIONS
from loadgen import raise_nofile_limit

# Larger than the default 2048 so thousands of simultaneous connects are not dropped (the kernel
# caps it at net.core.somaxconn).
BACKLOG = 8192


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run uvicorn until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("impl", choices=sorted(IMPLEMENTATIONS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this core")
    args = parser.parse_args(argv)
    raise_nofile_limit()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    factory, _label = IMPLEMENTATIONS[args.impl]
    uvicorn.run(
        factory(),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
        lifespan="on",
        backlog=BACKLOG,
        timeout_graceful_shutdown=1,
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
