"""sse(): what goes on the wire, against a real uvicorn (issue 3)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamwire.chunks import Done, Start, TextDelta
from streamwire.errors import InvalidArgumentError
from streamwire.protocol.dialects import Dialect
from streamwire.server import (
    Emit,
    SafeStreamError,
    SSEItem,
    StreamClosedError,
    StreamOutcome,
    sse,
)
from streamwire.sse import ServerSentEvent
from tests.server._support import (
    WAIT_SECONDS,
    Gate,
    SendRecorder,
    chunk_dicts,
    parse_events,
    wait_for,
)
from tests.servers import LiveServer


class State:
    """What the sources did, shared between the server thread and the test."""

    def __init__(self) -> None:
        self.outcomes: dict[str, list[StreamOutcome]] = {}
        self.gate = Gate()
        self.source_finished = threading.Event()
        self.head_source_ran = threading.Event()
        self.emit_error: list[BaseException] = []

    def on_close(self, name: str) -> Any:
        def record(outcome: StreamOutcome) -> None:
            self.outcomes.setdefault(name, []).append(outcome)

        return record


state = State()


class _Upper:
    """A test dialect: data is the chunk type in upper case; done is ``[END]``."""

    def encode(self, chunk: Any) -> list[ServerSentEvent]:
        if isinstance(chunk, Done):
            return [ServerSentEvent(data="[END]")]
        return [ServerSentEvent(data=chunk.type_name.upper()), ServerSentEvent(data="+")]


UPPER = Dialect(
    name="upper",
    new_encoder=_Upper,
    new_decoder=lambda: None,  # type: ignore[arg-type,return-value]  # encode-only test dialect
    headers={"x-dialect": "upper"},
)


async def mixed(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        yield Start(message_id="m1")
        yield "plain text"
        yield {"type": "usage", "inputTokens": 1, "outputTokens": 2}
        yield ServerSentEvent(data="raw", event="custom")

    return sse(source(), on_close=state.on_close("mixed"))


async def done_twice(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        yield "a"
        yield Done(finish_reason="stop")
        yield "after done"
        yield Done()

    return sse(source(), on_close=state.on_close("done_twice"))


async def first_byte(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        yield "first"
        await state.gate.wait()
        yield "second"
        state.source_finished.set()

    return sse(source())


async def failing(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        yield "partial"
        raise RuntimeError("secret database password is hunter2")

    return sse(source(), on_close=state.on_close("failing"))


async def safe_failing(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        yield "partial"
        raise SafeStreamError("The model is overloaded.", code="upstream_busy", retryable=True)

    return sse(source())


async def bad_dict(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        yield {"type": "text-delta"}

    return sse(source())


async def emitter(request: Request) -> Response:
    async def produce(emit: Emit[SSEItem]) -> None:
        await emit("one")
        await emit(TextDelta(delta="two"))
        await emit(Done())
        try:
            await emit("three")
        except StreamClosedError as exc:
            state.emit_error.append(exc)

    return sse(produce, on_close=state.on_close("emitter"))


async def sync_list(request: Request) -> Response:
    return sse(["x", "y"])


async def heartbeat(request: Request) -> Response:
    flowing = request.query_params.get("mode") == "flowing"
    seconds = None if request.query_params.get("mode") == "off" else 0.5 if flowing else 0.05

    async def source() -> AsyncIterator[SSEItem]:
        if flowing:
            # 0.75 s of events, 50 ms apart: longer than one 0.5 s heartbeat interval, so a
            # heartbeat on a fixed timer would show; idle gaps stay 10x under the interval.
            for index in range(15):
                yield f"t{index}"
                await asyncio.sleep(0.05)
        elif request.query_params.get("mode") == "idle":
            await state.gate.wait()  # idle until the test has seen a heartbeat
            yield "late"
        else:
            await asyncio.sleep(0.3)  # six 50 ms intervals of silence
            yield "late"

    return sse(source(), heartbeat_seconds=seconds)


async def retry(request: Request) -> Response:
    return sse(["x"], retry_ms=2500)


async def head_route(request: Request) -> Response:
    async def source() -> AsyncIterator[SSEItem]:
        state.head_source_ran.set()
        yield "x"

    return sse(source())


async def dialect(request: Request) -> Response:
    return sse([TextDelta(delta="a")], dialect=UPPER)


async def coalesced(request: Request) -> Response:
    async def produce(emit: Emit[SSEItem]) -> None:
        await emit("alone")
        await state.gate.wait()
        # The sender is parked on a gate: these pile up and leave together.
        for index in range(5):
            await emit(f"burst{index}")

    return sse(produce, coalesce=True, max_buffered_events=16)


async def custom_headers(request: Request) -> Response:
    return sse(["x"], headers={"X-Request-Id": "r1", "Cache-Control": "no-store"}, status_code=201)


recorder = SendRecorder(
    Starlette(
        routes=[
            Route("/mixed", mixed),
            Route("/done-twice", done_twice),
            Route("/first-byte", first_byte),
            Route("/failing", failing),
            Route("/safe-failing", safe_failing),
            Route("/bad-dict", bad_dict),
            Route("/emitter", emitter),
            Route("/sync-list", sync_list),
            Route("/heartbeat", heartbeat),
            Route("/retry", retry),
            Route("/head", head_route, methods=["GET", "HEAD"]),
            Route("/dialect", dialect),
            Route("/coalesced", coalesced),
            Route("/headers", custom_headers),
        ]
    )
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(recorder) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as http:
        yield http


def test_headers_are_the_sse_set_and_no_connection_header(client: httpx.Client) -> None:
    response = client.get("/mixed")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "connection" not in response.headers
    assert "content-length" not in response.headers


def test_user_headers_merge_and_status_code_applies(client: httpx.Client) -> None:
    response = client.get("/headers")
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "r1"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"


def test_chunks_str_dict_and_raw_events_are_encoded_and_done_appended(
    client: httpx.Client,
) -> None:
    state.outcomes.pop("mixed", None)
    body = client.get("/mixed").content
    events = parse_events(body)
    assert [event.event for event in events] == ["message"] * 3 + ["custom", "done"]
    assert events[3].data == "raw"
    assert [json.loads(event.data) for event in events[:3]] == [
        {"type": "start", "messageId": "m1"},
        {"type": "text-delta", "delta": "plain text"},
        {"type": "usage", "inputTokens": 1, "outputTokens": 2},
    ]
    assert events[-1].data == '{"type":"done"}'
    assert wait_for(lambda: bool(state.outcomes.get("mixed")))
    outcome = state.outcomes["mixed"][0]
    assert (outcome.status, outcome.events_sent, outcome.error) == ("completed", 5, None)


def test_done_from_the_source_is_not_duplicated_and_nothing_follows_it(
    client: httpx.Client,
) -> None:
    chunks = chunk_dicts(client.get("/done-twice").content)
    assert chunks == [
        {"type": "text-delta", "delta": "a"},
        {"type": "done", "finishReason": "stop"},
    ]


def test_first_byte_arrives_before_the_source_finishes(client: httpx.Client) -> None:
    with client.stream("GET", "/first-byte") as response:
        lines = response.iter_lines()
        assert next(lines) == 'data: {"type":"text-delta","delta":"first"}'
        assert not state.source_finished.is_set()
        state.gate.open()
        rest = "\n".join(lines)
    state.gate = Gate()
    assert '"second"' in rest
    assert "event: done" in rest


def test_each_event_is_one_asgi_send_with_more_body(client: httpx.Client) -> None:
    client.get("/sync-list")
    sends = recorder.bodies["/sync-list"]
    assert sends == [
        b'data: {"type":"text-delta","delta":"x"}\n\n',
        b'data: {"type":"text-delta","delta":"y"}\n\n',
        b'event: done\ndata: {"type":"done"}\n\n',
    ]


def test_source_exception_becomes_a_safe_error_chunk_and_the_traceback_is_logged(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="streamwire.server"):
        body = client.get("/failing").content
    assert chunk_dicts(body) == [
        {"type": "text-delta", "delta": "partial"},
        {
            "type": "error",
            "message": "The stream failed.",
            "code": "internal_error",
            "retryable": False,
        },
        {"type": "done"},
    ]
    assert b"hunter2" not in body
    assert any(
        record.name == "streamwire.server"
        and record.exc_info
        and "hunter2" in str(record.exc_info[1])
        for record in caplog.records
    )
    assert wait_for(lambda: bool(state.outcomes.get("failing")))
    outcome = state.outcomes["failing"][0]
    assert outcome.status == "error"
    assert isinstance(outcome.error, RuntimeError)


def test_safe_stream_error_shows_its_own_message_and_code(client: httpx.Client) -> None:
    error = chunk_dicts(client.get("/safe-failing").content)[1]
    assert error == {
        "type": "error",
        "message": "The model is overloaded.",
        "code": "upstream_busy",
        "retryable": True,
    }


def test_invalid_dict_item_is_logged_naming_the_field_and_sent_as_error(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="streamwire.server"):
        chunks = chunk_dicts(client.get("/bad-dict").content)
    assert [chunk["type"] for chunk in chunks] == ["error", "done"]
    errors = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert any(
        isinstance(exc, InvalidArgumentError) and exc.field == "item.delta" for exc in errors
    )


def test_emitter_sends_each_emit_and_refuses_emits_after_done(client: httpx.Client) -> None:
    chunks = chunk_dicts(client.get("/emitter").content)
    assert chunks == [
        {"type": "text-delta", "delta": "one"},
        {"type": "text-delta", "delta": "two"},
        {"type": "done"},
    ]
    assert wait_for(lambda: bool(state.emit_error))
    assert isinstance(state.emit_error[0], StreamClosedError)


def test_heartbeat_comment_after_idle_interval(client: httpx.Client) -> None:
    with client.stream("GET", "/heartbeat", params={"mode": "idle"}) as response:
        chunks = response.iter_raw()
        # The source is idle until the gate opens: a ping is all there can be so far.
        first = next(chunks)
        state.gate.open()
        body = first + b"".join(chunks)
    state.gate = Gate()
    assert first.startswith(b": ping\n\n")
    events = parse_events(body)
    assert [json.loads(event.data) for event in events[:1]] == [
        {"type": "text-delta", "delta": "late"}
    ]
    assert [event.event for event in events] == ["message", "done"]


def test_no_heartbeat_while_events_flow(client: httpx.Client) -> None:
    body = client.get("/heartbeat", params={"mode": "flowing"}).content
    assert b": ping" not in body
    assert body.count(b"text-delta") == 15


def test_heartbeat_can_be_turned_off(client: httpx.Client) -> None:
    body = client.get("/heartbeat", params={"mode": "off"}).content
    assert b": ping" not in body


def test_retry_hint_goes_first(client: httpx.Client) -> None:
    assert client.get("/retry").content.startswith(b"retry: 2500\n\n")


def test_head_sends_headers_only_and_never_runs_the_source(client: httpx.Client) -> None:
    response = client.head("/head")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.content == b""
    assert not state.head_source_ran.is_set()


def test_dialect_encodes_chunks_and_adds_its_headers(client: httpx.Client) -> None:
    response = client.get("/dialect")
    assert response.headers["x-dialect"] == "upper"
    assert [event.data for event in parse_events(response.content)] == [
        "TEXT-DELTA",
        "+",
        "[END]",
    ]


def test_coalesce_sends_waiting_events_together_and_a_lone_event_at_once(
    client: httpx.Client,
) -> None:
    with client.stream("GET", "/coalesced") as response:
        lines = response.iter_lines()
        assert next(lines) == 'data: {"type":"text-delta","delta":"alone"}'
        state.gate.open()
        rest = "\n".join(lines)
    state.gate = Gate()
    assert rest.count("burst") == 5
    sends = recorder.bodies["/coalesced"]
    assert sends[0] == b'data: {"type":"text-delta","delta":"alone"}\n\n'
    assert len(sends) < 1 + 5 + 1  # the burst left in fewer sends than events


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"headers": {"Content-Type": "text/plain"}}, "headers['Content-Type']"),
        ({"headers": {"Connection": "keep-alive"}}, "headers['Connection']"),
        ({"headers": {"x-a": "b\r\nx-c: d"}}, "headers['x-a']"),
        ({"heartbeat_seconds": 0}, "heartbeat_seconds"),
        ({"send_timeout_seconds": -1}, "send_timeout_seconds"),
        ({"max_buffered_events": 0}, "max_buffered_events"),
        ({"shutdown_grace_seconds": -0.1}, "shutdown_grace_seconds"),
        ({"retry_ms": -5}, "retry_ms"),
        ({"dialect": "klingon"}, "dialect"),
        ({"status_code": 204}, "status_code"),
    ],
)
def test_invalid_options_are_rejected_at_construction_naming_the_field(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        sse(["x"], **kwargs)
    assert info.value.field == field


def test_a_str_or_non_iterable_source_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="single str"):
        sse("tokens")
    with pytest.raises(TypeError, match="not int"):
        sse(42)  # type: ignore[arg-type]  # the point of the test
