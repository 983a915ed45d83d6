"""Every bad input to the chat routes is a 4xx with a JSON body naming the field (issue 4)."""

from __future__ import annotations

import httpx
import pytest

CHAT_ROUTES = ["/api/chat", "/api/chat/ui", "/v1/chat/completions"]

# (case id, raw body, field the answer must name)
BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not-json", b"{messages: nope", "body"),
    ("empty-body", b"", "body"),
    ("json-array", b"[1, 2]", "body"),
    ("json-string", b'"hello"', "body"),
    ("no-messages", b'{"stream": true}', "messages"),
    ("messages-not-a-list", b'{"messages": {"role": "user"}}', "messages"),
    ("empty-messages", b'{"messages": []}', "messages"),
    ("message-not-an-object", b'{"messages": ["hi"]}', "messages.0"),
    ("bad-role", b'{"messages": [{"role": "bot", "content": "x"}]}', "messages.0.role"),
    ("role-not-a-string", b'{"messages": [{"role": 7, "content": "x"}]}', "messages.0.role"),
    (
        "second-message-bad-role",
        b'{"messages": [{"role": "user", "content": "a"}, {"role": "", "content": "b"}]}',
        "messages.1.role",
    ),
    ("content-a-number", b'{"messages": [{"role": "user", "content": 5}]}', "messages.0.content"),
    (
        "stream-a-string",
        b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
        "stream",
    ),
    (
        "temperature-a-string",
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
        "temperature",
    ),
    (
        "max-tokens-zero",
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
        "max_tokens",
    ),
    (
        "unknown-schema",
        b'{"messages": [{"role": "user", "content": "x"}], "schema": "invoice"}',
        "schema",
    ),
    (
        "schema-not-a-string",
        b'{"messages": [{"role": "user", "content": "x"}], "schema": 3}',
        "schema",
    ),
]


def error_field(route: str, response: httpx.Response) -> str:
    """The field the error body names, in the route's own error shape."""
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in error["message"]
    if route == "/v1/chat/completions":
        assert error["type"] == "invalid_request_error"
        field: str = error["param"]
    else:
        field = error["field"]
    return field


@pytest.mark.parametrize("route", CHAT_ROUTES)
@pytest.mark.parametrize(
    ("body", "field"), [(b, f) for _, b, f in BAD_BODIES], ids=[i for i, _, _ in BAD_BODIES]
)
def test_a_bad_body_is_a_400_naming_the_field(
    client: httpx.Client, route: str, body: bytes, field: str
) -> None:
    response = client.post(route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert error_field(route, response) == field


@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_a_bad_role_names_messages_0_role_and_the_value(client: httpx.Client, route: str) -> None:
    body = {"messages": [{"role": "wizard", "content": "x"}]}
    response = client.post(route, json=body)
    assert response.status_code == 400
    assert error_field(route, response) == "messages.0.role"
    assert "wizard" in response.json()["error"]["message"]


@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_an_unknown_schema_names_the_schemas_on_offer(client: httpx.Client, route: str) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "schema": "invoice"}
    response = client.post(route, json=body)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "invoice" in message
    assert "email_draft" in message


def test_an_unknown_schema_on_the_get_stream_is_a_400_naming_schema(client: httpx.Client) -> None:
    response = client.get("/api/chat/stream", params={"q": "hi", "schema": "invoice"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "schema"


@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_a_too_large_body_is_a_413(client: httpx.Client, route: str) -> None:
    big = "x" * (2 * 1024 * 1024 + 1)
    response = client.post(route, json={"messages": [{"role": "user", "content": big}]})
    assert response.status_code == 413
    assert error_field(route, response) == "body"
    assert "limit" in response.json()["error"]["message"]


@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_too_many_messages_is_a_413(client: httpx.Client, route: str) -> None:
    messages = [{"role": "user", "content": "x"}] * 501
    response = client.post(route, json={"messages": messages})
    assert response.status_code == 413
    assert error_field(route, response) == "messages"


@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_unknown_keys_are_ignored(client: httpx.Client, route: str) -> None:
    body = {
        "messages": [{"role": "user", "content": "hi", "name": "x", "extra": [1]}],
        "frequency_penalty": 0.5,
        "anything": {"nested": True},
        "stream": True,
    }
    response = client.post(route, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
