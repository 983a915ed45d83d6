"""Fixtures for the chat app's tests: one demo server per module, an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.app.helpers import READ_TIMEOUT_SECONDS, running_app


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    """The base URL of a chat server with the demo model at full speed."""
    with running_app() as url:
        yield url


@pytest.fixture
def client(demo_url: str) -> Iterator[httpx.Client]:
    """An HTTP client for the demo server."""
    with httpx.Client(base_url=demo_url, timeout=READ_TIMEOUT_SECONDS) as http:
        yield http
