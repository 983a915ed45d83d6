"""Model providers: async iterators of chunks, safe to cancel.

* ``demo`` (:class:`DemoProvider`): a deterministic local model, no network (the default);
* ``openai`` (:class:`OpenAIProvider`): any OpenAI-compatible ``/chat/completions`` stream;
* ``anthropic`` (:class:`AnthropicProvider`): the Anthropic Messages streaming API.

Example:
    >>> provider = get_provider("demo", tokens_per_second=0)
    >>> provider.name
    'demo'

See ``docs/providers.md``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Final

from streamwire.protocol.errors import InvalidArgumentError
from streamwire.providers.anthropic import AnthropicProvider
from streamwire.providers.base import ERROR_CODES, FINISH_ERROR, Provider, StructuredRequest
from streamwire.providers.demo import DEMO_TRIGGERS, DemoProvider
from streamwire.providers.openai import OpenAIProvider

__all__ = [
    "DEMO_TRIGGERS",
    "ERROR_CODES",
    "FINISH_ERROR",
    "PROVIDER_NAMES",
    "AnthropicProvider",
    "DemoProvider",
    "OpenAIProvider",
    "Provider",
    "StructuredRequest",
    "get_provider",
]

_FACTORIES: Final[dict[str, Callable[..., Provider]]] = {
    "demo": DemoProvider,
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
}

#: The names :func:`get_provider` accepts.
PROVIDER_NAMES: Final[tuple[str, ...]] = tuple(_FACTORIES)


def get_provider(name: str, **options: object) -> Provider:
    """Make the provider called ``name`` with ``options``.

    Args:
        name: ``demo``, ``openai`` or ``anthropic``.
        **options: the provider's keyword arguments (see :class:`DemoProvider`,
            :class:`OpenAIProvider`, :class:`AnthropicProvider`).

    Returns:
        The provider.

    Raises:
        InvalidArgumentError: no provider has that name, an option is unknown to it, or an
            option's value cannot work (the provider names the field).
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise InvalidArgumentError(
            "provider", f"must be one of {', '.join(PROVIDER_NAMES)} (got {name!r})"
        )
    accepted = inspect.signature(factory).parameters
    for option in options:
        if option not in accepted:
            raise InvalidArgumentError(
                option,
                f"is not an option of the {name} provider (options: {', '.join(sorted(accepted))})",
            )
    untyped: Any = factory  # options are checked by name above and by value in the provider
    provider: Provider = untyped(**options)
    return provider
