"""Validating a finished structured document: a JSON Schema subset, or a Pydantic model (sans-IO).

A :class:`~streamwire.protocol.extract.StructuredExtractor` built with ``model=`` validates the
whole document when it is closed. ``model`` is either a JSON Schema (a dict) or a Pydantic model
class:

* A JSON Schema is checked once, when the extractor is built (:func:`check_json_schema`), and a
  document is validated by :func:`validate_json_schema`, which supports a small subset of the
  keywords: enough for the flat-ish objects models are asked for, with a message naming the first
  bad path. Anything richer: pass a Pydantic model.
* A Pydantic model (the optional ``pydantic`` extra, imported only when a model is given) is
  wrapped once by :func:`pydantic_adapter`; :func:`validate_with_pydantic` parses and validates
  the document's text and returns the model instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from streamwire.protocol.chunks import JSONValue
from streamwire.protocol.errors import StructuredOutputError
from streamwire.protocol.structured import describe_json

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter

__all__ = [
    "check_json_schema",
    "pydantic_adapter",
    "validate_json_schema",
    "validate_with_pydantic",
]


def _json_equal(a: JSONValue, b: JSONValue) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


_SCHEMA_KEYWORDS: Final = frozenset(
    {"type", "properties", "required", "items", "enum", "additionalProperties"}
)
_SCHEMA_ANNOTATIONS: Final = frozenset(
    {"title", "description", "$schema", "$id", "$comment", "default", "examples"}
)
_SCHEMA_TYPES: Final = frozenset(
    {"string", "number", "integer", "boolean", "null", "object", "array"}
)


def check_json_schema(schema: JSONValue, where: str = "#") -> None:
    """Check that a JSON Schema uses only what :func:`validate_json_schema` supports.

    Args:
        schema: the schema: an object or a boolean.
        where: the JSON Pointer of ``schema`` in the whole schema, for messages.

    Raises:
        ValueError: the schema is neither an object nor a boolean, uses an unsupported keyword,
            or gives a keyword a value of the wrong shape; the message names where.
    """
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise ValueError(f"JSON Schema at {where}: expected an object or a boolean")
    for keyword, value in schema.items():
        if keyword in _SCHEMA_ANNOTATIONS:
            continue
        if keyword not in _SCHEMA_KEYWORDS:
            raise ValueError(
                f"JSON Schema at {where}: keyword {keyword!r} is not supported (supported: "
                f"{', '.join(sorted(_SCHEMA_KEYWORDS))}; or pass a Pydantic model)"
            )
        if keyword == "type":
            types = [value] if isinstance(value, str) else value
            if not isinstance(types, list) or not all(t in _SCHEMA_TYPES for t in types):
                raise ValueError(f"JSON Schema at {where}: bad 'type' {value!r}")
        elif keyword == "properties":
            if not isinstance(value, Mapping):
                raise ValueError(f"JSON Schema at {where}: 'properties' must be an object")
            for name, sub in value.items():
                check_json_schema(sub, f"{where}/properties/{name}")
        elif keyword == "required":
            if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
                raise ValueError(f"JSON Schema at {where}: 'required' must be a list of strings")
        elif keyword == "enum":
            if not isinstance(value, list):
                raise ValueError(f"JSON Schema at {where}: 'enum' must be a list")
        else:  # "items" and "additionalProperties": one schema each
            check_json_schema(value, f"{where}/{keyword}")


def _type_matches(value: JSONValue, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # "integer": JSON Schema counts 1.0 as an integer (a number with no fractional part).
    return name == "number" or isinstance(value, int) or value.is_integer()


def _join(path: str, segment: str) -> str:
    return f"{path}.{segment}" if path else segment


def validate_json_schema(value: JSONValue, schema: JSONValue, path: str = "") -> tuple[str, str]:
    """Check ``value`` against a JSON Schema using the subset the extractor supports.

    Supported keywords: ``type`` (one name or a list), ``properties``, ``required``, ``items``
    (one schema for every element), ``enum``, ``additionalProperties`` (a boolean or a schema);
    boolean schemas; annotations (``title``, ``description``, ``default``...) are ignored.

    Args:
        value: a parsed JSON value.
        schema: the schema, checked by :func:`check_json_schema` beforehand.
        path: the dotted path of ``value`` in the document.

    Returns:
        ``("", "")`` when the value is valid, else the first bad path and the reason. "First"
        is depth-first: an object's missing required properties, then its members in document
        order; an array's elements in order.
    """
    if schema is True:
        return "", ""
    if schema is False:
        return path, "no value is allowed here"
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_type_matches(value, name) for name in names):
            expected = " or ".join(names)
            return path, f"expected {expected}, found {describe_json(value)}"
    if "enum" in schema and not any(_json_equal(value, option) for option in schema["enum"]):
        return path, f"{value!r} is not one of {schema['enum']!r}"
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                return _join(path, name), "required property is missing"
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties", True)
        for key, member in value.items():
            if key in properties:
                sub = properties[key]
            elif additional is False:
                return _join(path, key), "additional property is not allowed"
            else:
                sub = additional
            bad = validate_json_schema(member, sub, _join(path, key))
            if bad[1]:
                return bad
    elif isinstance(value, list) and "items" in schema:
        for index, element in enumerate(value):
            bad = validate_json_schema(element, schema["items"], _join(path, str(index)))
            if bad[1]:
                return bad
    return "", ""


def pydantic_adapter(model: object) -> TypeAdapter[BaseModel]:
    """Wrap a Pydantic model class for validating JSON text.

    Args:
        model: a subclass of ``pydantic.BaseModel``.

    Returns:
        A ``pydantic.TypeAdapter`` for the model.

    Raises:
        ValueError: ``model`` is not a Pydantic model class, or pydantic is not installed.
    """
    try:
        import pydantic  # optional dependency: imported only when a model is given
    except ImportError:  # pragma: no cover - pydantic is installed in the test environment
        raise ValueError(
            "validating with a Pydantic model needs pydantic: pip install 'streamwire[pydantic]'"
        ) from None
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        raise ValueError(
            f"model must be a Pydantic model class or a JSON Schema dict, not {model!r}"
        )
    return pydantic.TypeAdapter(model)


def validate_with_pydantic(adapter: TypeAdapter[BaseModel], text: str) -> BaseModel:
    """Parse and validate a JSON document with a Pydantic model.

    Args:
        adapter: from :func:`pydantic_adapter`.
        text: the document's JSON text.

    Returns:
        The model instance.

    Raises:
        StructuredOutputError: the document does not match the model; ``path`` is the dotted
            path of pydantic's first error.
    """
    import pydantic  # already imported by pydantic_adapter: a dict lookup

    try:
        return adapter.validate_json(text)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        path = ".".join(str(part) for part in first["loc"])
        raise StructuredOutputError(
            f"does not match the model: {first['msg']}", path=path
        ) from None
