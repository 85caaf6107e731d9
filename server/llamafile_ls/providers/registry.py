"""The registry of providers, by Continue's provider names: the only way to a provider.

A new provider is one module (a :class:`~llamafile_ls.providers.base.Provider`) and one line
in :data:`KINDS`. Importing this package loads no HTTP stack: a provider's module is imported
when the first model of its kind is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    import httpx

    from llamafile_ls.config import ModelConfig
    from llamafile_ls.providers.base import Provider


@attrs.frozen
class Kind:
    """A provider name: the class that speaks to it, and where its server usually is."""

    implementation: str  # "module:Class"
    api_base: str  # the default when the config gives none


_LLAMA_CPP = Kind("llamafile_ls.providers.llamacpp:LlamaCppProvider", "http://localhost:8080")
_OPENAI = "llamafile_ls.providers.openai:OpenAIProvider"

KINDS: dict[str, Kind] = {
    "llamafile": _LLAMA_CPP,
    "llama.cpp": _LLAMA_CPP,
    "llamacpp": _LLAMA_CPP,
    "llama_cpp": _LLAMA_CPP,
    "openai": Kind(_OPENAI, "https://api.openai.com/v1"),
    "lmstudio": Kind(_OPENAI, "http://localhost:1234/v1"),
    "ollama": Kind("llamafile_ls.providers.ollama:OllamaProvider", "http://localhost:11434"),
    "vllm": Kind(_OPENAI, "http://localhost:8000/v1"),
}
NAMES = frozenset(KINDS)


def create(model: ModelConfig, transport: httpx.AsyncBaseTransport | None = None) -> Provider:
    """The provider for ``model`` (its ``provider`` name must be one of :data:`NAMES`)."""
    module, _, name = KINDS[model.provider].implementation.partition(":")
    cls = getattr(importlib.import_module(module), name)
    provider: Provider = cls(model, transport)
    return provider
