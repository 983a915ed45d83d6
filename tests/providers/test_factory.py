"""get_provider, StructuredRequest, and the Provider protocol."""

from __future__ import annotations

import pytest

from streamwire.protocol.chunks import Start, decode_chunk, encode_chunk
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.providers import (
    ERROR_CODES,
    PROVIDER_NAMES,
    AnthropicProvider,
    DemoProvider,
    OpenAIProvider,
    Provider,
    StructuredRequest,
    get_provider,
)
from tests.providers.fakes import chat, collect


def test_get_provider_makes_each_named_provider() -> None:
    assert PROVIDER_NAMES == ("demo", "openai", "anthropic")
    demo = get_provider("demo", tokens_per_second=0)
    openai = get_provider("openai", base_url="http://127.0.0.1:9/v1", api_key="sk-x")
    anthropic = get_provider("anthropic", api_key="sk-ant-x", max_tokens=10)
    assert isinstance(demo, DemoProvider)
    assert isinstance(openai, OpenAIProvider)
    assert isinstance(anthropic, AnthropicProvider)
    for provider in (demo, openai, anthropic):
        assert isinstance(provider, Provider)
    assert [p.name for p in (demo, openai, anthropic)] == list(PROVIDER_NAMES)


def test_unknown_provider_name_is_rejected_listing_the_names() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        get_provider("gemini")
    assert info.value.field == "provider"
    assert "demo, openai, anthropic" in str(info.value)


def test_unknown_option_is_rejected_naming_it_and_the_options() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        get_provider("demo", speed=3)
    assert info.value.field == "speed"
    assert "tokens_per_second" in str(info.value)


def test_bad_option_value_is_rejected_by_the_provider() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        get_provider("demo", tokens_per_second=-2)
    assert info.value.field == "tokens_per_second"


async def test_demo_chunks_round_trip_through_the_wire_form() -> None:
    prompt = "think, then export, check the weather, write an email draft"
    chunks = await collect(get_provider("demo", tokens_per_second=0).stream(chat(prompt)))
    assert not any(isinstance(c, Start) for c in chunks)
    assert [decode_chunk(encode_chunk(c)) for c in chunks] == chunks


def test_structured_request_holds_schema_and_field_spec() -> None:
    request = StructuredRequest(
        name="email_draft",
        json_schema={"type": "object"},
        fields={"title": "set", "body": "text-delta", "bullets": "append"},
    )
    assert request.fields["body"] == "text-delta"
    assert request.strict is False


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "email draft"}, "name"),
        ({"json_schema": ["not", "a", "dict"]}, "json_schema"),
        ({"fields": {"body": "stream"}}, "fields.body"),
    ],
)
def test_structured_request_rejects_what_cannot_work(kwargs: dict[str, object], field: str) -> None:
    options: dict[str, object] = {"name": "doc", "json_schema": {"type": "object"}, **kwargs}
    with pytest.raises(InvalidArgumentError) as info:
        StructuredRequest(**options)  # type: ignore[arg-type]  # the point of the test
    assert info.value.field == field


def test_every_error_code_is_documented() -> None:
    assert "demo_error" in ERROR_CODES
    assert all(description for description in ERROR_CODES.values())
