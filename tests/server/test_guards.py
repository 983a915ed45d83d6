"""Guards in front of GET (EventSource) and POST (fetch) streams (issue 3)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from streamwire.errors import InvalidArgumentError
from streamwire.server import (
    GuardMiddleware,
    Guards,
    SSEItem,
    bearer_token,
    csrf,
    guard,
    rate_limit,
    sse,
)
from tests.server._support import WAIT_SECONDS, parse_events
from tests.servers import LiveServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


clock = FakeClock()


async def stream_route(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        yield "hello"

    return sse(source())


async def verify(token: str) -> bool:
    return token.startswith("user-")


def routes() -> list[Route]:
    return [Route("/stream", stream_route, methods=["GET", "POST"])]


auth = bearer_token(["s3cret", "other"], query_param="access_token")
custom_auth = bearer_token(verify)
csrf_guard = csrf(
    allowed_origins=["https://app.example.com"],
    token_header="x-csrf-token",
    token_cookie="csrf",
)
limit = rate_limit(requests=2, per_seconds=10, clock=clock)

fastapi_app = FastAPI()
fastapi_guards = Guards([bearer_token(["s3cret"])])


@fastapi_app.api_route("/stream", methods=["GET", "POST"])
async def fastapi_stream(
    request: Request, _: Annotated[None, Depends(fastapi_guards.dependency())]
) -> Response:
    return sse(["hello"])


app = Starlette(
    routes=[
        Mount("/auth", guard(Starlette(routes=routes()), auth)),
        Mount("/custom", guard(Starlette(routes=routes()), custom_auth)),
        Mount("/csrf", GuardMiddleware(Starlette(routes=routes()), guards=[csrf_guard])),
        Mount("/limited", guard(Starlette(routes=routes()), limit)),
        Mount("/chain", guard(Starlette(routes=routes()), auth, csrf_guard, limit)),
        Mount("/fastapi", fastapi_app),
    ]
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as http:
        yield http


def _streamed(response: httpx.Response) -> bool:
    events = parse_events(response.content)
    return response.status_code == 200 and events[-1].event == "done"


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    return error


METHODS = pytest.mark.parametrize("method", ["GET", "POST"])


@METHODS
def test_bearer_token_missing_is_401_with_challenge(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/auth/stream")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert _error(response) == {
        "message": "Missing bearer token.",
        "code": "unauthorized",
        "field": "authorization",
    }


@METHODS
def test_bearer_token_wrong_is_401_invalid_token(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/auth/stream", headers={"authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api", error="invalid_token"'
    assert _error(response)["message"] == "Invalid bearer token."


@METHODS
def test_bearer_token_malformed_header_is_401_invalid_request(
    client: httpx.Client, method: str
) -> None:
    response = client.request(method, "/auth/stream", headers={"authorization": "Basic abc"})
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


@METHODS
def test_bearer_token_valid_streams(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/auth/stream", headers={"authorization": "Bearer other"})
    assert _streamed(response)


def test_event_source_may_send_the_token_as_a_query_parameter(client: httpx.Client) -> None:
    assert _streamed(client.get("/auth/stream", params={"access_token": "s3cret"}))
    assert client.get("/auth/stream", params={"access_token": "bad"}).status_code == 401


@METHODS
def test_custom_verify_function_authenticates(client: httpx.Client, method: str) -> None:
    ok = client.request(method, "/custom/stream", headers={"authorization": "Bearer user-1"})
    assert _streamed(ok)
    bad = client.request(method, "/custom/stream", headers={"authorization": "Bearer admin"})
    assert bad.status_code == 401


def test_options_preflight_is_never_guarded(client: httpx.Client) -> None:
    response = client.options("/auth/stream")
    assert response.status_code != 401


def test_csrf_lets_get_streams_through_without_origin(client: httpx.Client) -> None:
    assert _streamed(client.get("/csrf/stream", headers={"cookie": "session=abc"}))


def test_csrf_lets_cookieless_post_through(client: httpx.Client) -> None:
    assert _streamed(client.post("/csrf/stream", headers={"origin": "https://evil.example"}))


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"origin": "https://evil.example"}, "origin"),
        ({"sec-fetch-site": "cross-site"}, "sec-fetch-site"),
        ({}, "x-csrf-token"),
        ({"x-csrf-token": "wrong"}, "x-csrf-token"),
    ],
)
def test_csrf_refuses_cookie_post_from_elsewhere_with_403(
    client: httpx.Client, headers: dict[str, str], field: str
) -> None:
    response = client.post("/csrf/stream", headers={"cookie": "session=abc; csrf=tok", **headers})
    assert response.status_code == 403
    error = _error(response)
    assert (error["code"], error["field"]) == ("forbidden", field)


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://app.example.com"},
        {"sec-fetch-site": "same-origin"},
        {"x-csrf-token": "tok", "origin": "https://evil.example"},
    ],
)
def test_csrf_allows_cookie_post_from_allowed_origin_same_origin_or_matching_token(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    response = client.post("/csrf/stream", headers={"cookie": "session=abc; csrf=tok", **headers})
    assert _streamed(response)


def test_csrf_accepts_the_requests_own_origin(client: httpx.Client, server: LiveServer) -> None:
    response = client.post("/csrf/stream", headers={"cookie": "session=abc", "origin": server.url})
    assert _streamed(response)


@METHODS
def test_rate_limit_429_with_retry_after_then_refills(client: httpx.Client, method: str) -> None:
    headers = {"authorization": f"Bearer key-{method}"}
    assert _streamed(client.request(method, "/limited/stream", headers=headers))
    assert _streamed(client.request(method, "/limited/stream", headers=headers))
    refused = client.request(method, "/limited/stream", headers=headers)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "5"  # 2 per 10 s: one token every 5 s
    assert _error(refused) == {"message": "Too many requests; retry later.", "code": "rate_limited"}
    # Another key has its own bucket.
    other = client.request(method, "/limited/stream", headers={"authorization": "Bearer x"})
    assert _streamed(other)
    clock.now += 5.0
    assert _streamed(client.request(method, "/limited/stream", headers=headers))


def test_chain_answers_with_the_first_rejection(client: httpx.Client) -> None:
    response = client.post(
        "/chain/stream", headers={"cookie": "session=1", "origin": "https://evil.example"}
    )
    assert response.status_code == 401  # auth runs before CSRF
    response = client.post(
        "/chain/stream",
        headers={
            "cookie": "session=1",
            "origin": "https://evil.example",
            "authorization": "Bearer s3cret",
        },
    )
    assert response.status_code == 403


@METHODS
def test_guards_as_fastapi_dependency(client: httpx.Client, method: str) -> None:
    refused = client.request(method, "/fastapi/stream")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="api"'
    assert json.loads(refused.content)["detail"]["field"] == "authorization"
    ok = client.request(method, "/fastapi/stream", headers={"authorization": "Bearer s3cret"})
    assert _streamed(ok)


def test_rate_limit_evicts_least_recently_used_keys_beyond_max_keys() -> None:
    own = rate_limit(requests=1, per_seconds=60, max_keys=2, clock=FakeClock())
    assert own.take("a") == 0.0
    assert own.take("b") == 0.0
    assert own.take("c") == 0.0  # "a" is evicted: its bucket starts full again
    assert own.take("a") == 0.0
    assert own.take("c") == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: bearer_token([]), "tokens"),
        (lambda: bearer_token("secret"), "tokens"),
        (lambda: bearer_token(["ok", ""]), "tokens[1]"),
        (lambda: csrf(allowed_origins=["app.example.com"]), "allowed_origins[0]"),
        (lambda: csrf(token_header="x-csrf"), "token_header"),
        (lambda: rate_limit(requests=0, per_seconds=1), "requests"),
        (lambda: rate_limit(requests=1, per_seconds=1, burst=0), "burst"),
    ],
)
def test_guard_options_are_checked_naming_the_field(factory: Any, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        factory()
    assert info.value.field == field


def test_an_object_without_check_is_not_a_guard() -> None:
    with pytest.raises(TypeError, match=r"guards\[0\]"):
        Guards([object()])  # type: ignore[list-item]  # the point of the test
