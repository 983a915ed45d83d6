"""Structured-output schemas a chat server offers, by name.

A chat request asks for structured output with the body key ``"schema": "<name>"``. The server
looks the name up in its :class:`SchemaRegistry`, asks the provider for a JSON document matching
the schema (a :class:`~streamwire.providers.base.StructuredRequest`), and turns the document's
text into ``structured-data`` chunks with a
:class:`~streamwire.protocol.extract.StructuredExtractor` built from the schema's field spec.

``streamwire serve`` ships ``email_draft`` ({title, body, bullets}: title ``set``, body
``text-delta``, bullets ``append``); register more with :meth:`SchemaRegistry.register`:

    >>> from pydantic import BaseModel
    >>> class Recipe(BaseModel):
    ...     name: str
    ...     steps: list[str]
    >>> registry = default_schemas()
    >>> registry.register("recipe", Recipe, fields={"name": "set", "steps": "append"})
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from streamwire.protocol.chunks import JSONValue
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.protocol.extract import FieldKind, StructuredExtractor
from streamwire.providers.base import StructuredRequest

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["EMAIL_DRAFT_SCHEMA", "Schema", "SchemaRegistry", "default_schemas"]

#: The JSON Schema of the built-in ``email_draft`` document (OpenAI strict-mode compatible).
EMAIL_DRAFT_SCHEMA: Final[Mapping[str, JSONValue]] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "the subject line"},
        "body": {"type": "string", "description": "the email's text"},
        "bullets": {
            "type": "array",
            "items": {"type": "string"},
            "description": "the key points, one short line each",
        },
    },
    "required": ["title", "body", "bullets"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """One structured-output schema.

    Attributes:
        name: the name a request uses (``"schema": name``).
        json_schema: the document's JSON Schema, sent to the provider.
        fields: the extractor's field spec: which paths stream, and how.
        validator: what the finished document is validated against: a Pydantic model class,
            or the JSON Schema itself.
        description: what the document is, told to the model.
    """

    name: str
    json_schema: Mapping[str, JSONValue]
    fields: Mapping[str, FieldKind]
    validator: type[BaseModel] | Mapping[str, JSONValue]
    description: str = ""

    def request(self) -> StructuredRequest:
        """The provider request for this schema."""
        return StructuredRequest(
            name=self.name,
            json_schema=self.json_schema,
            fields=dict(self.fields),
            description=self.description,
            strict=self.json_schema.get("additionalProperties") is False,
        )

    def extractor(self, *, stream_id: str | None = None) -> StructuredExtractor:
        """A fresh extractor for one document (``stream_id`` defaults to a new unique id)."""
        return StructuredExtractor(
            self.fields,
            stream_id=stream_id or f"{self.name}-{uuid.uuid4().hex[:8]}",
            data_type=self.name,
            model=self.validator,
        )


@dataclass(slots=True)
class SchemaRegistry:
    """The schemas a server offers, by name."""

    _schemas: dict[str, Schema] = field(default_factory=dict)

    def register(
        self,
        name: str,
        schema: type[BaseModel] | Mapping[str, JSONValue],
        *,
        fields: Mapping[str, FieldKind],
        description: str = "",
    ) -> Schema:
        """Offer a schema under ``name``.

        Args:
            name: the name requests use (letters, digits, ``_``, ``-``; at most 64).
            schema: a Pydantic model class (its JSON Schema is derived, and it validates the
                finished document) or a JSON Schema dict.
            fields: which paths stream and how, e.g. ``{"body": "text-delta"}``.
            description: what the document is, told to the model.

        Returns:
            The registered :class:`Schema`.

        Raises:
            InvalidArgumentError: the name is taken or invalid, or the field spec cannot work
                (checked now, by building an extractor once).
        """
        if name in self._schemas:
            raise InvalidArgumentError("name", f"{name!r} is already registered")
        if isinstance(schema, Mapping):
            json_schema: Mapping[str, JSONValue] = schema
        else:
            json_schema = schema.model_json_schema()
        entry = Schema(
            name=name,
            json_schema=json_schema,
            fields=dict(fields),
            validator=schema,
            description=description,
        )
        entry.request()  # validates the name and kinds
        try:
            entry.extractor(stream_id="check")  # validates the field spec
        except ValueError as exc:
            raise InvalidArgumentError("fields", str(exc)) from exc
        self._schemas[name] = entry
        return entry

    def get(self, name: str) -> Schema:
        """The schema called ``name``.

        Raises:
            InvalidArgumentError: no schema has that name (``field`` is ``schema``).
        """
        entry = self._schemas.get(name)
        if entry is None:
            offered = ", ".join(sorted(self._schemas)) or "none"
            raise InvalidArgumentError(
                "schema", f"names no schema this server offers ({name!r}; offered: {offered})"
            )
        return entry

    def names(self) -> list[str]:
        """The names on offer, sorted."""
        return sorted(self._schemas)

    def __contains__(self, name: object) -> bool:
        return name in self._schemas

    def __iter__(self) -> Iterator[Schema]:
        return iter(self._schemas.values())

    def __len__(self) -> int:
        return len(self._schemas)


def default_schemas() -> SchemaRegistry:
    """A registry with the schemas ``streamwire serve`` ships: ``email_draft``."""
    registry = SchemaRegistry()
    registry.register(
        "email_draft",
        EMAIL_DRAFT_SCHEMA,
        fields={"title": "set", "body": "text-delta", "bullets": "append"},
        description="An email draft: a subject line, the body text and its key points.",
    )
    return registry
