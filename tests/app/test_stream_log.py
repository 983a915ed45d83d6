"""One structured log line per stream: id, route, duration, tokens, outcome (issue 4)."""

from __future__ import annotations

import httpx

from streamwire.app import ServerSettings
from streamwire.protocol.chunks import Start, TextDelta, decode_chunk
from tests.app.helpers import (
    READ_TIMEOUT_SECONDS,
    capture_serve_log,
    chunks_of,
    running_app,
    stream_lines,
    user,
)

LINE_KEYS = {"event", "id", "route", "duration_ms", "tokens", "events", "outcome"}


def test_a_completed_stream_logs_one_line(client: httpx.Client) -> None:
    with capture_serve_log() as log:
        chunks = chunks_of(client.post("/api/chat", json=user("a normal question")).content)
        (line,) = log.wait_for(1)
    start = chunks[0]
    assert isinstance(start, Start)
    assert set(line) == LINE_KEYS
    assert line["event"] == "stream"
    assert line["id"] == start.message_id
    assert line["route"] == "/api/chat"
    assert line["outcome"] == "completed"
    assert line["tokens"] >= sum(isinstance(c, TextDelta) for c in chunks) > 0
    assert line["events"] == len(chunks)
    assert line["duration_ms"] >= 0


def test_each_route_logs_its_own_line(client: httpx.Client) -> None:
    with capture_serve_log() as log:
        client.get("/api/chat/stream", params={"q": "one"})
        client.post("/v1/chat/completions", json=user("two", stream=True))
        client.post("/v1/chat/completions", json=user("three"))
        client.post("/api/chat/ui", json=user("four"))
        client.post("/api/chat", json=user("five", stream=False))
        lines = log.wait_for(5)
    assert [line["route"] for line in lines] == [
        "/api/chat/stream",
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/api/chat/ui",
        "/api/chat",
    ]
    assert {line["outcome"] for line in lines} == {"completed"}
    assert len({line["id"] for line in lines}) == 5


def test_a_stream_that_ends_in_an_error_logs_outcome_error(client: httpx.Client) -> None:
    with capture_serve_log() as log:
        client.post("/api/chat", json=user("please fail now"))
        client.post("/api/chat", json=user("please fail again", stream=False))
        lines = log.wait_for(2)
    assert [line["outcome"] for line in lines] == ["error", "error"]


def test_a_client_that_leaves_logs_outcome_cancelled() -> None:
    # 20 tokens per second: the answer takes seconds, the client leaves after one word.
    with (
        running_app(ServerSettings(demo_speed=20)) as url,
        capture_serve_log() as log,
        httpx.Client(base_url=url, timeout=READ_TIMEOUT_SECONDS) as http,
    ):
        with http.stream("POST", "/api/chat", json=user("a long answer please")) as response:
            for event in stream_lines(response):
                if isinstance(decode_chunk(event.data), TextDelta):
                    break
        (line,) = log.wait_for(1)
    assert line["outcome"] == "cancelled"
    assert line["route"] == "/api/chat"
    assert line["tokens"] < 50
