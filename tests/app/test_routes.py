"""Every route of the chat app against a running server (issue 4)."""

from __future__ import annotations

import json
import time

import httpx

from streamwire.protocol.chunks import (
    Done,
    Start,
    TextDelta,
    ToolCallEnd,
    ToolCallResult,
    ToolCallStart,
    Usage,
)
from tests.app.helpers import chunks_of, events_of, stream_lines, user


def test_post_chat_streams_native_sse_start_first_and_done_last(client: httpx.Client) -> None:
    response = client.post("/api/chat", json=user("hello there"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = events_of(response.content)
    chunks = chunks_of(response.content)
    assert isinstance(chunks[0], Start)
    assert (chunks[0].message_id or "").startswith("msg_")
    assert isinstance(chunks[-1], Done)
    assert chunks[-1].finish_reason == "stop"
    assert events[-1].event == "done"
    assert all(event.event == "message" for event in events[:-1])
    deltas = [c.delta for c in chunks if isinstance(c, TextDelta)]
    assert len(deltas) > 5
    assert "hello there" in "".join(deltas)
    assert any(isinstance(c, Usage) for c in chunks)


def test_post_chat_keeps_the_session_id(client: httpx.Client) -> None:
    response = client.post("/api/chat", json=user("hi", sessionId="  s-1  "))
    start = chunks_of(response.content)[0]
    assert isinstance(start, Start)
    assert start.session_id == "s-1"


def test_post_chat_streams_a_tool_call(client: httpx.Client) -> None:
    chunks = chunks_of(client.post("/api/chat", json=user("weather in Oslo?")).content)
    start = next(c for c in chunks if isinstance(c, ToolCallStart))
    end = next(c for c in chunks if isinstance(c, ToolCallEnd))
    result = next(c for c in chunks if isinstance(c, ToolCallResult))
    assert start.tool == "get_weather"
    assert end.tool_call_id == start.tool_call_id == result.tool_call_id
    assert isinstance(end.input, dict)
    assert end.input["city"] == "Oslo"


def test_post_chat_with_stream_false_answers_one_json_object(client: httpx.Client) -> None:
    streamed = chunks_of(client.post("/api/chat", json=user("same prompt")).content)
    response = client.post("/api/chat", json=user("same prompt", stream=False))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["text"] == "".join(c.delta for c in streamed if isinstance(c, TextDelta))
    assert answer["finishReason"] == "stop"
    assert answer["error"] is None
    assert answer["usage"]["outputTokens"] > 0
    assert answer["id"].startswith("msg_")
    assert answer["toolCalls"] == []


def test_post_chat_with_stream_false_carries_tool_calls(client: httpx.Client) -> None:
    answer = client.post("/api/chat", json=user("use a tool", stream=False)).json()
    (call,) = answer["toolCalls"]
    assert call["tool"] == "get_weather"
    assert set(call["input"]) == {"city", "unit"}
    assert call["result"]["city"] == call["input"]["city"]


def test_get_chat_stream_serves_eventsource_style_sse(client: httpx.Client) -> None:
    response = client.get(
        "/api/chat/stream", params={"q": "what is SSE"}, headers={"accept": "text/event-stream"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.content)
    chunks = chunks_of(response.content)
    assert isinstance(chunks[0], Start)
    assert "what is SSE" in "".join(c.delta for c in chunks if isinstance(c, TextDelta))
    assert events[-1].event == "done"


def test_get_chat_stream_without_q_is_a_400_naming_q(client: httpx.Client) -> None:
    for params in ({}, {"q": "   "}):
        response = client.get("/api/chat/stream", params=params)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["field"] == "q"


def test_exports_have_the_rows_asked_for(client: httpx.Client) -> None:
    csv = client.get("/api/export.csv", params={"rows": 25})
    assert csv.status_code == 200
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0] == "id,name,email,created_at"
    assert len(lines) == 26
    assert [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(1, 26)]

    nd = client.get("/api/export.ndjson", params={"rows": 25})
    assert nd.status_code == 200
    assert nd.headers["content-type"] == "application/x-ndjson"
    records = [json.loads(line) for line in nd.text.splitlines()]
    assert [r["id"] for r in records] == list(range(1, 26))
    assert set(records[0]) == {"id", "name", "email", "created_at"}


def test_exports_of_zero_rows(client: httpx.Client) -> None:
    assert client.get("/api/export.csv", params={"rows": 0}).text == "id,name,email,created_at\n"
    assert client.get("/api/export.ndjson", params={"rows": 0}).text == ""


def test_exports_default_to_a_thousand_rows(client: httpx.Client) -> None:
    assert len(client.get("/api/export.ndjson").text.splitlines()) == 1000


def test_bad_rows_is_a_400_naming_rows(client: httpx.Client) -> None:
    for route in ("/api/export.csv", "/api/export.ndjson"):
        for rows in ("x", "-1", "1.5", "", "99999999999", "١٢"):
            response = client.get(route, params={"rows": rows})
            assert response.status_code == 400, (route, rows)
            error = response.json()["error"]
            assert error["field"] == "rows"
            assert repr(rows) in error["message"]


def test_a_large_export_is_chunked_the_first_row_arrives_first(demo_url: str) -> None:
    # 2 million rows take seconds to produce; the first must arrive long before the last
    # exists, so the test reads the first rows, then leaves.
    with (
        httpx.Client(base_url=demo_url, timeout=10) as http,
        http.stream("GET", "/api/export.ndjson", params={"rows": 2_000_000}) as response,
    ):
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        started = time.monotonic()
        first = next(response.iter_lines())
        assert json.loads(first)["id"] == 1
        # Bounded wait, not a timing assert: the server is still producing.
        assert time.monotonic() - started < 10
    with (
        httpx.Client(base_url=demo_url, timeout=10) as http,
        http.stream("GET", "/api/export.csv", params={"rows": 2_000_000}) as response,
    ):
        lines = response.iter_lines()
        assert next(lines) == "id,name,email,created_at"
        assert next(lines).startswith("1,")


def test_healthz_reports_ok_and_the_provider(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "provider": "demo"}


def test_the_page_and_the_browser_module_are_served(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text
    module = client.get("/streamwire.js")
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]
    assert "export" in module.text


def test_unknown_api_paths_are_json_404s(client: httpx.Client) -> None:
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert "message" in response.json()["error"]
    assert client.get("/no-such-page").status_code == 404


def test_a_wrong_method_on_an_api_route_is_a_405(client: httpx.Client) -> None:
    for method, path in (
        ("GET", "/api/chat"),
        ("GET", "/v1/chat/completions"),
        ("POST", "/api/export.csv"),
        ("POST", "/api/chat/stream"),
    ):
        response = client.request(method, path)
        assert response.status_code == 405, (method, path)
        assert response.json()["error"]["message"]


def test_a_stream_arrives_event_by_event(demo_url: str) -> None:
    with (
        httpx.Client(base_url=demo_url, timeout=10) as http,
        http.stream("POST", "/api/chat", json=user("hi")) as response,
    ):
        seen = [event.event for event in stream_lines(response)]
    assert seen[-1] == "done"


def test_head_requests_answer_with_headers_only(client: httpx.Client) -> None:
    # HEAD on a streaming route must not hang on the stream (a common peer bug).
    for path in ("/api/chat/stream?q=hi", "/api/export.ndjson?rows=5000000", "/healthz", "/"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""
