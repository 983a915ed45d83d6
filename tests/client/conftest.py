"""Fixtures of the client tests: one scripted server per module (see ``scripted.py``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.client.scripted import ScriptedApp
from tests.servers import LiveServer

_keys = itertools.count()


@dataclass
class Scripted:
    app: ScriptedApp
    url: str

    def key(self) -> str:
        """A fresh request key, so that per-key counts and disconnects are this test's own."""
        return f"k{next(_keys)}"


@pytest.fixture(scope="module")
def scripted() -> Iterator[Scripted]:
    app = ScriptedApp()
    # "critical": the /drop script ends responses unfinished on purpose; uvicorn logs that.
    with LiveServer(app, log_level="critical") as server:
        yield Scripted(app, server.url)
