"""Issue 11 through the running server: ``"schema": "email_draft"`` fills a draft live.

With the demo model, the fake OpenAI upstream (``response_format``) and the fake Anthropic
upstream (a forced tool whose input streams as ``input_json_delta``). Every check applies the
chunks with streamwire's own reducer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import openai
import pytest

from streamwire.app import ServerSettings
from streamwire.chat.schemas import EMAIL_DRAFT_SCHEMA
from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    Start,
    StructuredData,
    TextDelta,
    Usage,
)
from tests.app.helpers import (
    READ_TIMEOUT_SECONDS,
    chunks_of,
    reduce_structured,
    running_app,
    user,
)
from tests.providers.fakes import (
    AnthropicBlock,
    FakeUpstream,
    Reply,
    anthropic_reply,
    openai_chunk,
    openai_reply,
)

DRAFT = {"schema": "email_draft"}

# A model's JSON text with escapes (\", \\, \n, \t, \u00e9, a surrogate pair), raw multi-byte
# characters (2, 3 and 4 bytes in UTF-8) and insignificant whitespace.
DOCUMENT_TEXT = (
    '{"title": "Caf\\u00e9 \\"Z\\u00fcrich\\" \\ud83d\\ude00",\n'
    ' "body": "Line one\\nLine two \\u2014 na\u00efve \u2603 \U0001f680 back\\\\slash\\tend",\n'
    ' "bullets": ["gr\u00f6\u00dfer", "\\ud83c\\udf89 party", "plain"]}'
)
DOCUMENT = json.loads(DOCUMENT_TEXT)


def fragments(text: str, size: int) -> list[str]:
    """``text`` cut every ``size`` characters (so inside escapes and surrogate pairs)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def byte_frames(body: bytes) -> tuple[bytes | float, ...]:
    """The body written with a cut inside every multi-byte UTF-8 character, each cut a
    separate write with a pause between, so the server's provider reads split characters."""
    frames: list[bytes | float] = []
    start = 0
    for i in range(1, len(body)):
        if body[i] & 0xC0 == 0x80 and body[i - 1] & 0xC0 != 0x80:  # after a lead byte
            frames += [body[start:i], 0.002]
            start = i
    frames.append(body[start:])
    return tuple(frames)


def openai_document_reply(text: str, *, size: int = 3) -> Reply:
    """OpenAI streaming ``text`` as content, JSON with raw UTF-8 (not \\u escapes)."""
    objects = [openai_chunk({"role": "assistant", "content": ""})]
    objects += [openai_chunk({"content": piece}) for piece in fragments(text, size)]
    objects += [
        openai_chunk({}, finish_reason="stop"),
        openai_chunk(usage=(9, 30), no_choices=True),
    ]
    body = b"".join(f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode() for obj in objects)
    return Reply(frames=byte_frames(body + b"data: [DONE]\n\n"))


def anthropic_document_reply(text: str, *, size: int = 3) -> Reply:
    block = AnthropicBlock(
        kind="tool_use", tool_name="email_draft", pieces=tuple(fragments(text, size))
    )
    return anthropic_reply([block], output_tokens=30)


def check_draft_stream(chunks: list[Chunk]) -> dict[str, Any]:
    """The draft's chunks are well formed and fill it field by field; returns the final object.

    Start first, done last; one stream id; ``title`` set once; ``body`` grows by text deltas
    whose join is the final body, and every state before ``final`` is a prefix; ``bullets``
    grow by one item per append; ``final`` equals what the reducer rebuilt.
    """
    assert isinstance(chunks[0], Start)
    assert isinstance(chunks[-1], Done)
    assert chunks[-1].finish_reason == "stop"
    structured = [c for c in chunks if isinstance(c, StructuredData)]
    assert not any(isinstance(c, TextDelta) for c in chunks)  # the JSON text is not forwarded
    assert len({c.stream_id for c in structured}) == 1
    assert {c.data_type for c in structured} <= {"email_draft", None}
    assert structured[-1].kind == "final"
    final = structured[-1].data
    assert isinstance(final, dict)
    titles = [c for c in structured if c.kind == "set"]
    assert [(c.path, c.value) for c in titles] == [("title", final["title"])]
    deltas = [c for c in structured if c.kind == "text-delta"]
    assert {c.path for c in deltas} == {"body"}
    assert "".join(c.delta or "" for c in deltas) == final["body"]
    appends = [c for c in structured if c.kind == "append"]
    assert {c.path for c in appends} == {"bullets"}
    assert [item for c in appends for item in (c.items or [])] == final["bullets"]
    # Replay with the reducer: every intermediate state is a prefix of the final object.
    before_final = reduce_structured(structured[:-1])
    (state,) = before_final.states.values()
    assert isinstance(state.data, dict)
    assert final["body"].startswith(state.data.get("body", ""))
    after = reduce_structured(structured)
    (done_state,) = after.states.values()
    assert done_state.status == "done"
    assert done_state.data == final
    partial = reduce_structured([])
    for chunk in structured[:-1]:
        data = partial.apply(chunk).data
        assert isinstance(data, dict)
        assert final["body"].startswith(data.get("body", ""))
        bullets = data.get("bullets", [])
        assert bullets == final["bullets"][: len(bullets)]
    return final


# -- the demo model -----------------------------------------------------------------------------


def test_the_demo_fills_an_email_draft_live(client: httpx.Client) -> None:
    response = client.post("/api/chat", json=user("a draft about the launch", **DRAFT))
    assert response.status_code == 200
    chunks = chunks_of(response.content)
    final = check_draft_stream(chunks)
    assert chunks[-1] == Done(finish_reason="stop")
    assert set(final) == {"title", "body", "bullets"}
    assert final["title"]
    assert len([c for c in chunks if isinstance(c, StructuredData) and c.kind == "text-delta"]) > 3
    assert len(final["bullets"]) >= 2
    assert any(isinstance(c, Usage) for c in chunks)


def test_the_get_stream_fills_a_draft_too(client: httpx.Client) -> None:
    response = client.get("/api/chat/stream", params={"q": "draft it", "schema": "email_draft"})
    assert response.status_code == 200
    chunks = chunks_of(response.content)
    check_draft_stream(chunks)
    assert chunks[-1] == Done(finish_reason="stop")


def test_stream_false_carries_the_final_object(client: httpx.Client) -> None:
    streamed = check_draft_stream(
        chunks_of(client.post("/api/chat", json=user("q", **DRAFT)).content)
    )
    answer = client.post("/api/chat", json=user("q", stream=False, **DRAFT)).json()
    assert answer["error"] is None
    assert answer["finishReason"] == "stop"
    assert answer["text"] == ""
    (obj,) = answer["structured"].values()
    assert obj == streamed  # the demo is deterministic per prompt


def test_the_openai_dialect_passes_the_json_text_through(
    demo_url: str, client: httpx.Client
) -> None:
    native = check_draft_stream(
        chunks_of(client.post("/api/chat", json=user("q2", **DRAFT)).content)
    )
    with openai.OpenAI(
        base_url=f"{demo_url}/v1", api_key="unused", max_retries=0, timeout=READ_TIMEOUT_SECONDS
    ) as sdk:
        stream = sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "q2"}], stream=True, extra_body=DRAFT
        )
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert len([p for p in pieces if p]) > 3  # streamed, not sent at the end
        assert json.loads("".join(pieces)) == native
        completion = sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "q2"}], extra_body=DRAFT
        )
    content = completion.choices[0].message.content
    assert content is not None
    assert json.loads(content) == native


# -- the fake upstreams ---------------------------------------------------------------------------


@pytest.fixture
def openai_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", openai_document_reply(DOCUMENT_TEXT), api_key="sk-t") as fake:
        yield fake


@pytest.fixture
def anthropic_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("anthropic", anthropic_document_reply(DOCUMENT_TEXT), api_key="sk-t") as fake:
        yield fake


def served(fake: FakeUpstream) -> Any:
    """The chat server streaming from ``fake``."""
    api: Literal["openai", "anthropic"] = "openai" if fake.api == "openai" else "anthropic"
    return running_app(ServerSettings(provider=api, base_url=fake.base_url, api_key="sk-t"))


@pytest.mark.parametrize("size", [1, 3, 7])
def test_the_openai_upstream_document_split_anywhere_gives_the_object(size: int) -> None:
    with (
        FakeUpstream("openai", openai_document_reply(DOCUMENT_TEXT, size=size)) as fake,
        served(fake) as url,
    ):
        response = httpx.post(f"{url}/api/chat", json=user("q", **DRAFT), timeout=10)
    chunks = chunks_of(response.content)
    assert check_draft_stream(chunks) == DOCUMENT
    assert chunks[-1] == Done(finish_reason="stop")
    usage = next(c for c in chunks if isinstance(c, Usage))
    assert usage.output_tokens == 30


def test_the_openai_upstream_is_asked_for_the_json_schema(openai_upstream: FakeUpstream) -> None:
    with served(openai_upstream) as url:
        httpx.post(f"{url}/api/chat", json=user("q", **DRAFT), timeout=10)
    (request,) = openai_upstream.requests
    assert request.headers["authorization"] == "Bearer sk-t"
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "email_draft"
    assert response_format["json_schema"]["schema"] == EMAIL_DRAFT_SCHEMA
    assert response_format["json_schema"]["strict"] is True
    assert request.body["stream"] is True


def test_a_plain_request_asks_the_upstream_for_no_schema(openai_upstream: FakeUpstream) -> None:
    with served(openai_upstream) as url:
        httpx.post(f"{url}/api/chat", json=user("q"), timeout=10)
    assert "response_format" not in openai_upstream.requests[0].body


@pytest.mark.parametrize("size", [1, 4])
def test_the_anthropic_upstream_forced_tool_gives_the_object(size: int) -> None:
    with (
        FakeUpstream("anthropic", anthropic_document_reply(DOCUMENT_TEXT, size=size)) as fake,
        served(fake) as url,
    ):
        response = httpx.post(f"{url}/api/chat", json=user("q", **DRAFT), timeout=10)
    chunks = chunks_of(response.content)
    assert check_draft_stream(chunks) == DOCUMENT
    (request,) = fake.requests
    (tool,) = request.body["tools"]
    assert tool["name"] == "email_draft"
    assert tool["input_schema"] == EMAIL_DRAFT_SCHEMA
    assert request.body["tool_choice"] == {"type": "tool", "name": "email_draft"}


def test_the_anthropic_forced_tool_document_finishes_with_stop() -> None:
    # The document is the answer and no tool-call chunk was sent, so the finish reason is
    # "stop", as with OpenAI's response_format; "tool-calls" makes clients look for calls
    # (the OpenAI dialect then says finish_reason "tool_calls" with no tool_calls).
    with (
        FakeUpstream("anthropic", anthropic_document_reply(DOCUMENT_TEXT)) as fake,
        served(fake) as url,
    ):
        response = httpx.post(f"{url}/api/chat", json=user("q", **DRAFT), timeout=10)
    assert chunks_of(response.content)[-1] == Done(finish_reason="stop")


def test_stream_false_carries_the_upstream_object(anthropic_upstream: FakeUpstream) -> None:
    with served(anthropic_upstream) as url:
        answer = httpx.post(f"{url}/api/chat", json=user("q", stream=False, **DRAFT), timeout=10)
    body = answer.json()
    assert body["error"] is None
    assert list(body["structured"].values()) == [DOCUMENT]


def test_the_openai_dialect_passes_the_upstream_json_text_through(
    openai_upstream: FakeUpstream,
) -> None:
    with served(openai_upstream) as url:
        body = {**user("q", **DRAFT), "model": "m"}
        answer = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10).json()
    assert answer["choices"][0]["message"]["content"] == DOCUMENT_TEXT


# -- invalid documents --------------------------------------------------------------------------

INVALID_DOCUMENTS = {
    "body-not-a-string": '{"title": "T", "body": 3, "bullets": []}',
    "bullets-missing": '{"title": "T", "body": "b"}',
    "extra-key": '{"title": "T", "body": "b", "bullets": [], "cc": "x"}',
    "not-json": "Sorry, I cannot write that email.",
    "cut-off": '{"title": "T", "body": "b", "bull',
}


@pytest.mark.parametrize("text", INVALID_DOCUMENTS.values(), ids=INVALID_DOCUMENTS.keys())
@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_an_invalid_document_is_an_error_chunk_instead_of_final(
    api: Literal["openai", "anthropic"], text: str
) -> None:
    reply = openai_document_reply(text) if api == "openai" else anthropic_document_reply(text)
    with FakeUpstream(api, reply) as fake, served(fake) as url:
        response = httpx.post(f"{url}/api/chat", json=user("q", **DRAFT), timeout=10)
        buffered = httpx.post(
            f"{url}/api/chat", json=user("q", stream=False, **DRAFT), timeout=10
        ).json()
    chunks = chunks_of(response.content)
    assert not any(isinstance(c, StructuredData) and c.kind == "final" for c in chunks)
    error, done = chunks[-2:]
    assert isinstance(error, ErrorChunk)
    assert error.code == "invalid_structured_output"
    assert "Traceback" not in error.message
    assert isinstance(done, Done)
    assert done.finish_reason == "error"
    assert buffered["error"]["code"] == "invalid_structured_output"
    assert buffered["finishReason"] == "error"


def test_text_that_is_not_json_fails_at_once_and_closes_the_upstream() -> None:
    # The model starts with prose and then stalls: the error must not wait for the model.
    reply = openai_reply(text=["Sorry, ", "I "], partial=True, hold_open_seconds=8.0)
    with FakeUpstream("openai", reply) as fake, served(fake) as url:
        response = httpx.post(f"{url}/api/chat", json=user("q", **DRAFT), timeout=5)
        assert fake.wait_disconnected(1.0)
    error, done = chunks_of(response.content)[-2:]
    assert isinstance(error, ErrorChunk)
    assert error.code == "invalid_structured_output"
    assert "offset 0" in error.message
    assert done == Done(finish_reason="error")
