"""``--token`` and ``--rate-limit`` on the chat server: API routes guarded, page and health
check open (issue 4)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from streamwire.app import ServerSettings
from streamwire.protocol.chunks import Done
from tests.app.helpers import READ_TIMEOUT_SECONDS, chunks_of, running_app, user

TOKEN = "s3cret-token"

API_REQUESTS: list[tuple[str, str, dict[str, object] | None]] = [
    ("POST", "/api/chat", user("hi")),
    ("POST", "/api/chat/ui", user("hi")),
    ("POST", "/v1/chat/completions", user("hi")),
    ("GET", "/api/chat/stream?q=hi", None),
    ("GET", "/api/export.csv?rows=2", None),
    ("GET", "/api/export.ndjson?rows=2", None),
]


@pytest.fixture(scope="module")
def token_url() -> Iterator[str]:
    with running_app(ServerSettings(demo_speed=0, token=TOKEN)) as url:
        yield url


@pytest.fixture
def http(token_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=token_url, timeout=READ_TIMEOUT_SECONDS) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "body"), API_REQUESTS, ids=lambda v: str(v))
def test_api_routes_need_the_bearer_token(
    http: httpx.Client, method: str, path: str, body: dict[str, object] | None
) -> None:
    missing = http.request(method, path, json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].lower().startswith("bearer")
    assert TOKEN not in missing.text
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = http.request(method, path, json=body, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = http.request(method, path, json=body, headers={"authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200


def test_the_get_stream_accepts_the_token_in_the_query(http: httpx.Client) -> None:
    # EventSource cannot set headers.
    response = http.get("/api/chat/stream", params={"q": "hi", "token": TOKEN})
    assert response.status_code == 200
    assert isinstance(chunks_of(response.content)[-1], Done)
    assert http.get("/api/chat/stream", params={"q": "hi", "token": "bad"}).status_code == 401


def test_the_page_and_health_check_stay_open(http: httpx.Client) -> None:
    assert http.get("/").status_code == 200
    assert http.get("/streamwire.js").status_code == 200
    assert http.get("/healthz").status_code == 200


def test_the_rate_limit_answers_429_with_retry_after() -> None:
    with (
        running_app(ServerSettings(demo_speed=0, rate_limit=(2, 60.0))) as url,
        httpx.Client(base_url=url, timeout=READ_TIMEOUT_SECONDS) as http,
    ):
        assert http.get("/api/export.csv", params={"rows": 1}).status_code == 200
        assert http.post("/api/chat", json=user("hi")).status_code == 200
        limited = http.post("/api/chat", json=user("hi"))
        assert limited.status_code == 429
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert limited.json()["error"]["code"] == "rate_limited"
        assert http.get("/api/chat/stream", params={"q": "x"}).status_code == 429
        # The page and the health check are not counted or limited.
        for _ in range(3):
            assert http.get("/healthz").status_code == 200
            assert http.get("/").status_code == 200
