"""The protocol core imports nothing that waits or does IO (STYLE.md, Layout).

Each check runs in a fresh interpreter, so that modules the test suite itself has imported cannot
hide an import.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import streamwire.protocol

FORBIDDEN = ("asyncio", "anyio", "starlette", "httpx", "redis", "logging", "uvicorn")
SRC = Path(streamwire.protocol.__file__).parent.parent.parent


def _protocol_modules() -> list[str]:
    names = ["streamwire.protocol"]
    for info in pkgutil.walk_packages(streamwire.protocol.__path__, "streamwire.protocol."):
        names.append(info.name)
    return names


# The stable import paths that re-export the protocol core.
_REEXPORTS = [
    name
    for name in (
        "streamwire.sse",
        "streamwire.chunks",
        "streamwire.errors",
        "streamwire.structured",
    )
    if (SRC / Path(*name.split("."))).with_suffix(".py").exists()
]
MODULES = _protocol_modules() + _REEXPORTS

_PROBE = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
loaded = set(sys.modules) - before
forbidden = json.loads(sys.argv[2])
print(json.dumps(sorted(m for m in loaded if m.split(".")[0] in forbidden)))
"""


def _loaded_forbidden(module: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module, json.dumps(FORBIDDEN)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=SRC.parent,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_the_probe_sees_a_forbidden_import() -> None:
    # The check itself works: a module that imports asyncio is caught.
    assert "asyncio" in _loaded_forbidden("asyncio")


def test_every_protocol_module_is_listed() -> None:
    assert {"streamwire.protocol.sse", "streamwire.protocol.chunks"} <= set(MODULES)
    assert {"streamwire.sse", "streamwire.chunks", "streamwire.errors"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_importing_loads_no_io_library(module: str) -> None:
    assert _loaded_forbidden(module) == []
