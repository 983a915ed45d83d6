"""parse_chat_request_body: valid bodies, every rejected field, limits, and any JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamwire.chat import (
    ChatMessage,
    ChatRequest,
    ChatRequestError,
    ContentPart,
    parse_chat_request_body,
)
from streamwire.errors import StreamwireError

USER = {"role": "user", "content": "Hi"}


def body(**fields: Any) -> bytes:
    fields.setdefault("messages", [USER])
    return json.dumps(fields).encode()


def test_minimal_body_gives_defaults() -> None:
    request = parse_chat_request_body(body())
    assert request == ChatRequest(messages=(ChatMessage(role="user", content="Hi"),))
    assert request.stream is True
    assert request.last_user_text == "Hi"


@pytest.mark.parametrize("kind", ["bytes", "str", "mapping"])
def test_bytes_text_and_mapping_are_accepted(kind: str) -> None:
    raw = body(model="m")
    value: bytes | str | dict[str, Any] = {
        "bytes": raw,
        "str": raw.decode(),
        "mapping": json.loads(raw),
    }[kind]
    assert parse_chat_request_body(value).model == "m"


def test_every_known_field_is_read() -> None:
    request = parse_chat_request_body(
        body(
            messages=[
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Hello"},
                        {"type": "image_url", "image_url": {"url": "x"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "content": "42", "tool_call_id": " c1 ", "name": "f"},
            ],
            stream=False,
            model=" gpt ",
            schema="email_draft",
            max_tokens=100,
            temperature=0.5,
            metadata={"k": "v"},
            sessionId="  s-1 ",
            workflow_id="w-1",
            unknown_key={"ignored": True},
        )
    )
    system, user, assistant, tool = request.messages
    assert system == ChatMessage(role="system", content="Be brief.")
    assert isinstance(user.content, tuple)
    assert user.content[0] == ContentPart(
        type="text", text="Hello", data={"type": "text", "text": "Hello"}
    )
    assert user.content[1].type == "image_url"
    assert user.content[1].text is None
    assert user.content[1].data["image_url"] == {"url": "x"}
    assert user.text == "Hello"
    assert assistant.content == ""
    assert assistant.tool_calls[0]["id"] == "c1"
    assert tool.tool_call_id == "c1"
    assert tool.name == "f"
    assert request.stream is False
    assert request.model == "gpt"
    assert request.schema == "email_draft"
    assert request.max_tokens == 100
    assert request.temperature == 0.5
    assert request.metadata == {"k": "v"}
    assert request.session_id == "s-1"
    assert request.workflow_id == "w-1"


def test_ai_sdk_ui_messages_with_parts_are_accepted() -> None:
    request = parse_chat_request_body(
        body(
            id="chat-1",
            messages=[{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Yo"}]}],
            trigger="submit-message",
        )
    )
    assert request.last_user_text == "Yo"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"sessionId": "   "}, None),
        ({"session_id": ""}, None),
        ({"sessionId": " a ", "session_id": "a"}, "a"),
        ({"sessionId": "", "session_id": "b"}, "b"),
    ],
)
def test_session_ids_are_trimmed_and_blank_ones_dropped(
    fields: dict[str, Any], expected: str | None
) -> None:
    assert parse_chat_request_body(body(**fields)).session_id == expected


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (b"", "body", "is empty"),
        (b"{not json", "body", "is not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "body", "is not valid JSON"),
        (b"\xff\xfe", "body", "is not valid JSON"),
        (b"[]", "body", "must be a JSON object, found an array"),
        (b"{}", "messages", "is required"),
        (b'{"messages": null}', "messages", "is required"),
        (b'{"messages": {}}', "messages", "must be an array, found an object"),
        (b'{"messages": []}', "messages", "must not be empty"),
        (b'{"messages": [1]}', "messages.0", "must be an object, found a number"),
        (
            b'{"messages": [{"content": "x"}]}',
            "messages.0.role",
            "must be one of system, user, assistant, tool (got null)",
        ),
        (b'{"messages": [{"role": "bot", "content": "x"}]}', "messages.0.role", "(got 'bot')"),
        (b'{"messages": [{"role": "user"}]}', "messages.0.content", "is required"),
        (b'{"messages": [{"role": "user", "content": null}]}', "messages.0.content", "found null"),
        (
            b'{"messages": [{"role": "user", "content": 5}]}',
            "messages.0.content",
            "a string or an array of parts",
        ),
        (
            b'{"messages": [{"role": "user", "parts": 5}]}',
            "messages.0.parts",
            "a string or an array of parts",
        ),
        (
            b'{"messages": [{"role": "user", "content": [7]}]}',
            "messages.0.content.0",
            "must be an object",
        ),
        (
            b'{"messages": [{"role": "user", "content": [{}]}]}',
            "messages.0.content.0.type",
            "a non-empty string",
        ),
        (
            b'{"messages": [{"role": "user", "content": [{"type": "text"}]}]}',
            "messages.0.content.0.text",
            "must be a string, found null",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x", "name": 1}]}',
            "messages.0.name",
            "a string",
        ),
        (
            b'{"messages": [{"role": "tool", "content": "x", "tool_call_id": 1}]}',
            "messages.0.tool_call_id",
            "a string",
        ),
        (
            b'{"messages": [{"role": "assistant", "content": "x", "tool_calls": {}}]}',
            "messages.0.tool_calls",
            "an array",
        ),
        (
            b'{"messages": [{"role": "assistant", "content": "x", "tool_calls": [1]}]}',
            "messages.0.tool_calls.0",
            "an object",
        ),
        (body(stream="yes"), "stream", "must be a boolean, found a string"),
        (body(model=3), "model", "must be a string"),
        (body(schema=[]), "schema", "must be a string"),
        (body(max_tokens=0), "max_tokens", "a positive integer"),
        (body(max_tokens=True), "max_tokens", "a positive integer"),
        (body(max_tokens=1.5), "max_tokens", "a positive integer"),
        (body(temperature="hot"), "temperature", "must be a number"),
        (body(temperature=-1), "temperature", "a finite number >= 0"),
        (body(metadata=[1]), "metadata", "must be an object"),
        (body(sessionId=5), "sessionId", "must be a string"),
        (body(workflowId="x" * 257), "workflowId", "at most 256 characters"),
        (body(sessionId="a", session_id="b"), "session_id", "disagrees with sessionId"),
        (
            b'{"messages": [{"role": "user", "content": "ok"}, {"role": "x", "content": 1}]}',
            "messages.1.role",
            "must be one of",
        ),
    ],
)
def test_bad_fields_are_named(raw: bytes, field: str, message: str) -> None:
    with pytest.raises(ChatRequestError) as info:
        parse_chat_request_body(raw)
    error = info.value
    assert isinstance(error, StreamwireError)
    assert error.field == field
    assert message in error.message
    assert error.status == 400
    assert error.to_json() == {"error": {"message": error.message, "field": field}}


def test_body_over_the_limit_is_413() -> None:
    raw = body(messages=[{"role": "user", "content": "x" * 200}])
    with pytest.raises(ChatRequestError) as info:
        parse_chat_request_body(raw, max_body_bytes=100)
    assert info.value.status == 413
    assert info.value.field == "body"
    assert f"{len(raw)} bytes, the limit is 100" in info.value.message
    assert parse_chat_request_body(raw, max_body_bytes=len(raw)).messages


def test_too_many_messages_is_413_naming_messages() -> None:
    raw = body(messages=[USER] * 4)
    with pytest.raises(ChatRequestError) as info:
        parse_chat_request_body(raw, max_messages=3)
    assert (info.value.status, info.value.field) == (413, "messages")
    assert "has 4 messages, the limit is 3" in info.value.message


def test_non_finite_temperature_in_a_mapping_is_rejected() -> None:
    with pytest.raises(ChatRequestError, match="finite"):
        parse_chat_request_body({"messages": [USER], "temperature": float("inf")})


# --- properties -------------------------------------------------------------------------------

_keys = st.sampled_from(
    [
        "messages",
        "role",
        "content",
        "parts",
        "type",
        "text",
        "stream",
        "model",
        "schema",
        "max_tokens",
        "temperature",
        "metadata",
        "sessionId",
        "session_id",
        "workflowId",
        "workflow_id",
        "name",
        "tool_call_id",
        "tool_calls",
    ]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["user", "system", "assistant", "tool", "text"])
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_keys | st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=25,
)


def parse_or_error(raw: bytes) -> ChatRequest | ChatRequestError:
    try:
        return parse_chat_request_body(raw)
    except ChatRequestError as exc:
        return exc


@given(_json)
def test_any_json_body_gives_a_request_or_a_chat_request_error(value: Any) -> None:
    outcome = parse_or_error(json.dumps(value).encode())
    if isinstance(outcome, ChatRequestError):
        assert outcome.status in (400, 413)
        assert outcome.field
        json.dumps(outcome.to_json())
    else:
        assert outcome.messages


@given(st.binary(max_size=200))
def test_any_bytes_give_a_request_or_a_chat_request_error(raw: bytes) -> None:
    outcome = parse_or_error(raw)
    assert isinstance(outcome, ChatRequest) or outcome.status == 400


def test_stream_null_means_the_default() -> None:
    assert parse_chat_request_body(body(stream=None)).stream is True


def test_default_stream_applies_only_when_the_body_does_not_say() -> None:
    # The OpenAI route: one JSON answer unless the body asks for a stream.
    assert parse_chat_request_body(body(), default_stream=False).stream is False
    assert parse_chat_request_body(body(stream=None), default_stream=False).stream is False
    assert parse_chat_request_body(body(stream=True), default_stream=False).stream is True
    assert parse_chat_request_body(body(stream=False), default_stream=True).stream is False


def test_schema_names_are_re_exported() -> None:
    import streamwire.chat as chat
    from streamwire.chat.schemas import SchemaRegistry

    assert chat.SchemaRegistry is SchemaRegistry
