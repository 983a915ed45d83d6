"""``POST /api/chat/ui``: the AI SDK's ``useChat`` body in, its UI message stream out, read
with the AI SDK's own parser (issues 4 and 11)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.app.helpers import events_of, parse_with_ai_sdk

pytestmark = pytest.mark.node


def ui_body(text: str, **extra: Any) -> dict[str, Any]:
    """What ``useChat``'s default transport posts: the chat id, UIMessages with parts."""
    return {
        "id": "chat-1",
        "messages": [
            {"id": "m0", "role": "system", "parts": [{"type": "text", "text": "Be brief."}]},
            {
                "id": "m1",
                "role": "user",
                "parts": [{"type": "text", "text": text}, {"type": "file", "url": "x"}],
            },
        ],
        "trigger": "submit-message",
        "messageId": None,
        **extra,
    }


def test_the_ai_sdk_reads_the_answer(client: httpx.Client) -> None:
    response = client.post("/api/chat/ui", json=ui_body("hello from useChat"))
    assert response.status_code == 200
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.content)
    assert events[-1].data == "[DONE]"
    assert json.loads(events[-2].data)["type"] == "finish"
    result = parse_with_ai_sdk(response.content)
    assert result["ok"], result
    message = result["message"]
    assert message["role"] == "assistant"
    assert message["id"].startswith("msg_")
    text = "".join(p["text"] for p in message["parts"] if p["type"] == "text")
    assert "hello from useChat" in text


def test_the_ai_sdk_reads_a_tool_call_and_its_result(client: httpx.Client) -> None:
    response = client.post("/api/chat/ui", json=ui_body("weather in Nairobi"))
    result = parse_with_ai_sdk(response.content)
    assert result["ok"], result
    (tool,) = [p for p in result["message"]["parts"] if p["type"] == "tool-get_weather"]
    assert tool["state"] == "output-available"
    assert tool["input"] == {"city": "Nairobi", "unit": "celsius"}
    assert tool["output"]["city"] == "Nairobi"


def test_the_ai_sdk_reads_the_structured_draft_as_a_data_part(client: httpx.Client) -> None:
    # Issue 11: structured chunks travel as data-* parts, replaced in place per stream.
    response = client.post("/api/chat/ui", json=ui_body("write it", schema="email_draft"))
    result = parse_with_ai_sdk(response.content)
    assert result["ok"], result
    (draft,) = [p for p in result["message"]["parts"] if p["type"] == "data-structured"]
    assert draft["data"]["status"] == "done"
    assert draft["data"]["dataType"] == "email_draft"
    value = draft["data"]["value"]
    assert set(value) == {"title", "body", "bullets"}
    assert value["body"]
    assert value["bullets"], "the draft has no bullets"
    assert all(isinstance(b, str) and b for b in value["bullets"])


def test_the_ai_sdk_reports_a_stream_error(client: httpx.Client) -> None:
    response = client.post("/api/chat/ui", json=ui_body("make it fail"))
    assert response.status_code == 200
    assert events_of(response.content)[-1].data == "[DONE]"
    result = parse_with_ai_sdk(response.content)
    assert not result["ok"]
    assert "demo" in result["error"].lower()


def test_a_ui_body_without_text_parts_is_a_400(client: httpx.Client) -> None:
    body = {"messages": [{"id": "m1", "role": "user"}]}
    response = client.post("/api/chat/ui", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["field"].startswith("messages.0")
    bad_role = {"messages": [{"role": "robot", "parts": [{"type": "text", "text": "x"}]}]}
    response = client.post("/api/chat/ui", json=bad_role)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "messages.0.role"
