"""A client that leaves half-way closes the provider's upstream request (issues 4 and 11).

The chat server runs the real ``openai`` and ``anthropic`` providers against the fake upstreams
of ``tests/providers/fakes.py``; the fake answers part of a reply and then holds the response
open like a slow model. The client reads the first content and leaves; the fake must see its
connection closed within a second.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
import pytest

from streamwire.app import ServerSettings
from tests.app.helpers import READ_TIMEOUT_SECONDS, capture_serve_log, running_app, stream_lines
from tests.providers.fakes import (
    AnthropicBlock,
    FakeUpstream,
    Reply,
    anthropic_reply,
    openai_reply,
)

HOLD_SECONDS = 8.0
DISCONNECT_SECONDS = 1.0

# (route, body extras): each route's first content event, as its dialect writes it
ROUTES: list[tuple[str, dict[str, Any]]] = [
    ("/api/chat", {}),
    ("/v1/chat/completions", {"stream": True}),
    ("/api/chat/ui", {}),
]


def slow_reply(api: Literal["openai", "anthropic"], *, structured: bool) -> Reply:
    """Some content, then nothing for seconds (the model is still thinking)."""
    if api == "openai":
        pieces = ['{"title": "Hi', ' there", "bo'] if structured else ["Hel", "lo"]
        return openai_reply(text=pieces, partial=True, hold_open_seconds=HOLD_SECONDS)
    block = (
        AnthropicBlock(
            kind="tool_use", tool_name="email_draft", pieces=('{"title": "Hi', ' there", "bo')
        )
        if structured
        else AnthropicBlock(kind="text", pieces=("Hel", "lo"))
    )
    return anthropic_reply([block], partial=True, hold_open_seconds=HOLD_SECONDS)


def has_content(route: str, data: str) -> bool:
    """Whether an event carries the first piece of the answer (in any dialect)."""
    if data == "[DONE]":
        return False
    obj = json.loads(data)
    if route == "/v1/chat/completions":
        return any(choice["delta"].get("content") for choice in obj.get("choices", []))
    return obj.get("type") in ("text-delta", "structured-data")


@pytest.mark.parametrize("api", ["openai", "anthropic"])
@pytest.mark.parametrize(("route", "extra"), ROUTES, ids=[r for r, _ in ROUTES])
def test_leaving_half_way_closes_the_upstream(
    api: Literal["openai", "anthropic"], route: str, extra: dict[str, Any]
) -> None:
    with FakeUpstream(api, slow_reply(api, structured=False), api_key="sk-test") as fake:
        settings = ServerSettings(
            provider=api, base_url=fake.base_url, api_key="sk-test", model="m"
        )
        body = {"messages": [{"role": "user", "content": "hi"}], **extra}
        with (
            running_app(settings) as url,
            capture_serve_log() as log,
            httpx.Client(base_url=url, timeout=READ_TIMEOUT_SECONDS) as http,
        ):
            with http.stream("POST", route, json=body) as response:
                assert response.status_code == 200
                for event in stream_lines(response):
                    if has_content(route, event.data):
                        break
                else:
                    pytest.fail("the stream ended before any content")
            assert fake.wait_disconnected(DISCONNECT_SECONDS)
            (line,) = log.wait_for(1)
            assert line["outcome"] == "cancelled"
        assert fake.completed == 0


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_leaving_a_structured_stream_half_way_closes_the_upstream(
    api: Literal["openai", "anthropic"],
) -> None:
    # Issue 11: the extractor between the provider and the client must not keep it open.
    with FakeUpstream(api, slow_reply(api, structured=True), api_key="sk-test") as fake:
        settings = ServerSettings(provider=api, base_url=fake.base_url, api_key="sk-test")
        body = {"messages": [{"role": "user", "content": "hi"}], "schema": "email_draft"}
        with (
            running_app(settings) as url,
            httpx.Client(base_url=url, timeout=READ_TIMEOUT_SECONDS) as http,
        ):
            with http.stream("POST", "/api/chat", json=body) as response:
                for event in stream_lines(response):
                    obj = json.loads(event.data)
                    if obj["type"] == "structured-data":
                        assert obj == {
                            "type": "structured-data",
                            "streamId": obj["streamId"],
                            "kind": "set",
                            "path": "title",
                            "value": "Hi there",
                            "dataType": "email_draft",
                        }
                        break
                else:
                    pytest.fail("the stream ended before the title")
            assert fake.wait_disconnected(DISCONNECT_SECONDS)
