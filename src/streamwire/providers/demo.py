"""The ``demo`` provider: a deterministic local model, no network, no API key.

It composes readable answers from a small built-in corpus, chosen by a hash of the last user
message: the same prompt always gives the same answer, different prompts give different ones.
It streams one word per text delta at ``tokens_per_second`` (``0``: as fast as it can).

Words in the last user message (any case, any ending: "emails", "thinking", "exported") make
the demo show the other chunk types, so that every one of them can be seen in a demo:

============================  ==============================================================
trigger words                 what the answer contains
============================  ==============================================================
``think``, ``reason``         reasoning deltas first
``progress``, ``export``      a progress sequence (0 to 5 of 5), then a short text
``tool``, ``weather``         a ``get_weather`` tool call (start, input deltas, end), its
                              ``tool-call-result``, then a sentence about the weather
``draft``, ``email``          a structured draft, stream id ``draft``: ``title`` set, ``body``
                              grown by text deltas word by word, ``bullets`` grown by append
                              one item at a time, then ``final``
``error``, ``fail``           an ``error`` chunk (code ``demo_error``) after a first sentence
============================  ==============================================================

Several triggers combine in the order of the table. Every answer ends with ``usage`` (words
counted as tokens) and ``done``; after an error, ``done`` has ``finish_reason="error"``.

With a :class:`~streamwire.providers.base.StructuredRequest`, the demo instead writes one JSON
document matching the request's schema, as text fragments of a few characters at its usual
pace, exactly like a model asked for structured output; so the structured-output path runs for
real without a model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Final

from streamwire.chat.messages import ChatRequest
from streamwire.protocol.chunks import (
    Chunk,
    Done,
    ErrorChunk,
    JSONValue,
    Progress,
    ReasoningDelta,
    StructuredData,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallResult,
    ToolCallStart,
    Usage,
)
from streamwire.protocol.errors import InvalidArgumentError
from streamwire.providers import _corpus
from streamwire.providers.base import FINISH_ERROR, StructuredRequest

__all__ = [
    "DEFAULT_DEMO_TOKENS_PER_SECOND",
    "DEMO_TRIGGERS",
    "DemoProvider",
]

#: 40 words a second: about the pace of a fast hosted model, slow enough to watch.
DEFAULT_DEMO_TOKENS_PER_SECOND: Final = 40.0

#: Trigger name -> the word stems that trigger it (matched at the start of a word).
DEMO_TRIGGERS: Final[Mapping[str, tuple[str, ...]]] = {
    "reasoning": ("think", "reason"),
    "progress": ("progress", "export"),
    "tool": ("tool", "weather"),
    "draft": ("draft", "email"),
    "error": ("error", "fail"),
}

#: A progress step is paced like this many tokens, so that the steps can be seen.
_PROGRESS_STEP_TOKENS: Final = 8
_PROGRESS_STEPS: Final = 5
_DRAFT_STREAM_ID: Final = "draft"
_DRAFT_DATA_TYPE: Final = "email_draft"
_WEATHER_TOOL: Final = "get_weather"
_MAX_SCHEMA_DEPTH: Final = 6  # a recursive schema is cut here (with an empty value)

_TOKEN = re.compile(r"\s*\S+")

Sleep = Callable[[float], Awaitable[None]]


def _seed(text: str) -> int:
    # A stable hash (not hash(), which is salted per process).
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _tokens(text: str) -> list[str]:
    """Words with the whitespace before them: joined, they give ``text`` back (stripped)."""
    return _TOKEN.findall(text)


def _triggers(prompt: str) -> set[str]:
    lowered = prompt.lower()
    return {
        name
        for name, stems in DEMO_TRIGGERS.items()
        if any(re.search(rf"\b{re.escape(stem)}", lowered) for stem in stems)
    }


def _topic(prompt: str) -> str:
    words = re.findall(r"[\w'-]+", prompt)
    if not words:
        return "your question"
    shown = " ".join(words[:6])
    return f'"{shown}..."' if len(words) > 6 else f'"{shown}"'


class _Composer:
    """Builds the demo's answer to one prompt: a list of chunks, before pacing."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.rng = random.Random(_seed(prompt))
        self.topic = _topic(prompt)
        self.id = f"{_seed(prompt) % 16**8:08x}"
        self.used: set[str] = set()
        self.text_written = False

    def sentences(self, count: int) -> list[str]:
        """``count`` sentences of one topic, none used before in this answer."""
        topics = [t for t in _corpus.TOPICS if len(set(t) - self.used) >= count]
        topic = self.rng.choice(topics or list(_corpus.TOPICS))
        fresh = [sentence for sentence in topic if sentence not in self.used] or list(topic)
        chosen = self.rng.sample(fresh, min(count, len(fresh)))
        self.used.update(chosen)
        return chosen

    def text(self, text: str) -> list[Chunk]:
        """Text deltas, one per word, separated by a blank line from the text before."""
        if self.text_written:
            text = "\n\n" + text
        self.text_written = True
        return [TextDelta(delta=token) for token in _tokens(text)]

    def answer(self) -> str:
        rng = self.rng
        opening = rng.choice(_corpus.OPENINGS).format(topic=self.topic)
        first = " ".join([opening, *self.sentences(rng.randint(2, 3))])
        parts = [first]
        if rng.random() < 0.5:
            items = self.sentences(rng.randint(3, 4))
            parts.append(
                rng.choice(_corpus.LIST_INTROS) + "\n" + "\n".join(f"- {i}" for i in items)
            )
        parts.append(" ".join([*self.sentences(rng.randint(1, 2)), rng.choice(_corpus.CLOSINGS)]))
        return "\n\n".join(parts)

    def reasoning(self) -> list[Chunk]:
        lines = self.rng.sample(_corpus.REASONING, 2)
        text = " ".join(line.format(topic=self.topic) for line in lines)
        return [ReasoningDelta(delta=token) for token in _tokens(text)]

    def progress(self) -> list[Chunk]:
        rows = self.rng.randint(2, 9) * 1000
        out: list[Chunk] = [
            Progress(value=0, total=_PROGRESS_STEPS, message="Preparing the export")
        ]
        out.extend(
            Progress(
                value=step,
                total=_PROGRESS_STEPS,
                message=f"Exported part {step} of {_PROGRESS_STEPS}",
            )
            for step in range(1, _PROGRESS_STEPS + 1)
        )
        out.extend(self.text(f"The export is ready: {rows} rows in {_PROGRESS_STEPS} parts."))
        return out

    def tool(self) -> list[Chunk]:
        lowered = self.prompt.lower()
        city = next((c for c in _corpus.CITIES if c.lower() in lowered), None)
        city = city or self.rng.choice(_corpus.CITIES)
        call_id = f"call_demo_{self.id}"
        arguments: dict[str, JSONValue] = {"city": city, "unit": "celsius"}
        text = json.dumps(arguments)
        result: dict[str, JSONValue] = {
            "city": city,
            "temperature": self.rng.randint(4, 31),
            "unit": "celsius",
            "conditions": self.rng.choice(_corpus.CONDITIONS),
        }
        out: list[Chunk] = [ToolCallStart(tool_call_id=call_id, tool=_WEATHER_TOOL)]
        out.extend(
            ToolCallDelta(tool_call_id=call_id, input_delta=text[i : i + 8])
            for i in range(0, len(text), 8)
        )
        out.append(ToolCallEnd(tool_call_id=call_id, input=arguments))
        out.append(ToolCallResult(tool_call_id=call_id, tool=_WEATHER_TOOL, content=result))
        temperature, conditions = result["temperature"], result["conditions"]
        out.extend(self.text(f"It is {temperature} °C and {conditions} in {city} right now."))
        return out

    def draft(self) -> list[Chunk]:
        rng = self.rng
        title = rng.choice(_corpus.DRAFT_SUBJECTS)
        body = "Hi team,\n\n" + " ".join(self.sentences(3)) + "\n\nBest regards"
        bullets = rng.sample(_corpus.DRAFT_BULLETS, 3)
        out = self.text("Here is a draft to start from.")
        sid, dtype = _DRAFT_STREAM_ID, _DRAFT_DATA_TYPE
        out.append(
            StructuredData(stream_id=sid, kind="set", path="title", value=title, data_type=dtype)
        )
        out.append(
            StructuredData(stream_id=sid, kind="set", path="body", value="", data_type=dtype)
        )
        out.extend(
            StructuredData(
                stream_id=sid, kind="text-delta", path="body", delta=token, data_type=dtype
            )
            for token in _tokens(body)
        )
        out.append(
            StructuredData(stream_id=sid, kind="set", path="bullets", value=[], data_type=dtype)
        )
        out.extend(
            StructuredData(
                stream_id=sid, kind="append", path="bullets", items=[item], data_type=dtype
            )
            for item in bullets
        )
        document: dict[str, JSONValue] = {"title": title, "body": body, "bullets": bullets}
        out.append(StructuredData(stream_id=sid, kind="final", data=document, data_type=dtype))
        return out

    def error(self) -> list[Chunk]:
        opening = self.rng.choice(_corpus.OPENINGS).format(topic=self.topic)
        out = self.text(opening)
        out.append(
            ErrorChunk(
                message="The demo model failed on purpose: the prompt asked for an error.",
                code="demo_error",
                retryable=True,
            )
        )
        return out

    def document(self, structured: StructuredRequest) -> list[Chunk]:
        schema = structured.json_schema
        value = self.value(schema, schema, key=structured.name, depth=0)
        text = json.dumps(value, ensure_ascii=False)
        out: list[Chunk] = []
        position = 0
        while position < len(text):
            size = self.rng.randint(3, 9)
            out.append(TextDelta(delta=text[position : position + size]))
            position += size
        return out

    def value(
        self,
        schema: Mapping[str, JSONValue],
        root: Mapping[str, JSONValue],
        *,
        key: str,
        depth: int,
    ) -> JSONValue:
        """A value matching ``schema`` (the JSON Schema keywords a model's schema uses)."""
        rng = self.rng
        if depth > _MAX_SCHEMA_DEPTH:
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.value(_resolve(ref, root), root, key=key, depth=depth + 1)
        if "const" in schema:
            const: JSONValue = schema["const"]
            return const
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            choice: JSONValue = rng.choice(enum)
            return choice
        for combinator in ("anyOf", "oneOf", "allOf"):
            options = schema.get(combinator)
            if isinstance(options, list) and options:
                usable = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
                if usable:
                    return self.value(usable[0], root, key=key, depth=depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        if kind == "object":
            properties = schema.get("properties")
            if not isinstance(properties, dict):
                return {}
            return {
                name: self.value(sub, root, key=name, depth=depth + 1)
                for name, sub in properties.items()
                if isinstance(sub, dict)
            }
        if kind == "array":
            items = schema.get("items")
            low = schema.get("minItems", 0)
            high = schema.get("maxItems", 5)
            low = low if isinstance(low, int) else 0
            high = high if isinstance(high, int) else 5
            count = max(low, min(3, high))
            item_schema = items if isinstance(items, dict) else {}
            singular = key[:-1] if key.endswith("s") else key
            return [
                self.value(item_schema, root, key=singular, depth=depth + 1) for _ in range(count)
            ]
        if kind in ("integer", "number"):
            low = schema.get("minimum", 1)
            high = schema.get("maximum", 100)
            low = low if isinstance(low, int | float) else 1
            high = high if isinstance(high, int | float) else 100
            number = rng.randint(math.ceil(low), max(math.ceil(low), math.floor(high)))
            return number if kind == "integer" else number + 0.5 if number + 0.5 <= high else number
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        return self.string(key)

    def string(self, key: str) -> str:
        lowered = key.lower()
        if lowered in ("title", "subject", "name", "heading", "headline"):
            return self.rng.choice(_corpus.DRAFT_SUBJECTS)
        if lowered in ("body", "text", "content", "description", "summary", "answer", "message"):
            return " ".join(self.sentences(3))
        if lowered in ("bullet", "item", "point", "step", "task"):
            return self.rng.choice(_corpus.DRAFT_BULLETS)
        return self.sentences(1)[0]


def _resolve(ref: str, root: Mapping[str, JSONValue]) -> Mapping[str, JSONValue]:
    # Local references only ("#/$defs/Name"), as Pydantic writes them; others give "any".
    if not ref.startswith("#/"):
        return {}
    node: JSONValue = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict):
            return {}
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node if isinstance(node, dict) else {}


def _weight(chunk: Chunk) -> int:
    """How many tokens of pacing a chunk costs (0: sent without waiting)."""
    if isinstance(chunk, TextDelta | ReasoningDelta | ToolCallDelta):
        return 1
    if isinstance(chunk, StructuredData):
        return 0 if chunk.kind == "final" else 1
    if isinstance(chunk, Progress):
        return _PROGRESS_STEP_TOKENS
    return 0


class DemoProvider:
    """A deterministic local model: readable answers, every chunk type on request, no network.

    Args:
        tokens_per_second: the pace; ``0`` streams as fast as it can (still giving the event
            loop a turn between chunks).
        sleep: the coroutine used to wait between tokens (``asyncio.sleep``); tests inject
            one that records the waits.

    Raises:
        InvalidArgumentError: ``tokens_per_second`` is negative, not finite, or not a number.

    Example:
        >>> provider = DemoProvider(tokens_per_second=0)
        >>> provider.name
        'demo'
    """

    name: str = "demo"

    def __init__(
        self,
        *,
        tokens_per_second: float = DEFAULT_DEMO_TOKENS_PER_SECOND,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if (
            isinstance(tokens_per_second, bool)
            or not isinstance(tokens_per_second, int | float)
            or not math.isfinite(tokens_per_second)
            or tokens_per_second < 0
        ):
            raise InvalidArgumentError(
                "tokens_per_second",
                f"must be a finite number >= 0 (got {tokens_per_second!r})",
            )
        self.tokens_per_second = float(tokens_per_second)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"DemoProvider(tokens_per_second={self.tokens_per_second})"

    def compose(
        self, request: ChatRequest, *, structured: StructuredRequest | None = None
    ) -> list[Chunk]:
        """The whole answer to ``request``, unpaced: what :meth:`stream` yields, in order.

        Args:
            request: the conversation; the last user message picks the answer.
            structured: write a JSON document matching its schema instead.

        Returns:
            The content chunks, then ``usage``, then ``done``.
        """
        prompt = request.last_user_text
        composer = _Composer(prompt)
        triggers = _triggers(prompt)
        chunks: list[Chunk] = []
        if "reasoning" in triggers:
            chunks.extend(composer.reasoning())
        failed = False
        if structured is not None:
            chunks.extend(composer.document(structured))
        elif "error" in triggers:
            chunks.extend(composer.error())
            failed = True
        else:
            if "progress" in triggers:
                chunks.extend(composer.progress())
            if "tool" in triggers:
                chunks.extend(composer.tool())
            if "draft" in triggers:
                chunks.extend(composer.draft())
            else:
                chunks.extend(composer.text(composer.answer()))
        input_tokens = sum(len(_tokens(message.text)) for message in request.messages)
        output_tokens = sum(
            1 for chunk in chunks if _weight(chunk) and not isinstance(chunk, Progress)
        )
        usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        if failed:
            # The usage so far, then the error chunk is followed directly by done.
            error = chunks.pop()
            chunks.extend([usage, error, Done(finish_reason=FINISH_ERROR)])
        else:
            chunks.extend([usage, Done(finish_reason="stop")])
        return chunks

    async def stream(
        self, request: ChatRequest, *, structured: StructuredRequest | None = None
    ) -> AsyncGenerator[Chunk, None]:
        """Stream the demo's answer to ``request`` at ``tokens_per_second``.

        Args:
            request: the conversation; the last user message picks the answer and triggers.
            structured: write a JSON document matching its schema (as text deltas).

        Returns:
            Content chunks, ``usage``, then ``done``; the same chunks for the same request.
        """
        delay = 1.0 / self.tokens_per_second if self.tokens_per_second else 0.0
        for chunk in self.compose(request, structured=structured):
            weight = _weight(chunk)
            if weight:
                await self._sleep(delay * weight)
            yield chunk
