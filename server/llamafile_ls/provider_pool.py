"""One provider (one HTTP connection pool) per model, shared by concurrent requests.

When the config changes a model's settings, new requests get a new provider; the old one
(or the one of a model gone from the config) is closed once its last request is done, so
a reload never breaks an answer mid-stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection
from typing import TYPE_CHECKING

from llamafile_ls.config import ModelConfig

if TYPE_CHECKING:
    from llamafile_ls.providers.base import Provider


class ProviderPool:
    def __init__(self) -> None:
        self._providers: dict[str, tuple[ModelConfig, Provider]] = {}
        self._users: dict[int, int] = {}  # id(provider) -> requests using it
        self._retired: list[Provider] = []

    @contextlib.asynccontextmanager
    async def use(self, model: ModelConfig) -> AsyncIterator[Provider]:
        from llamafile_ls.providers import registry as providers

        current = self._providers.get(model.title)
        if current is None or current[0] != model:
            if current is not None:
                self._retired.append(current[1])
            current = (model, providers.create(model))  # httpx is imported on first use only
            self._providers[model.title] = current
        provider = current[1]
        self._users[id(provider)] = self._users.get(id(provider), 0) + 1
        try:
            yield provider
        finally:
            self._users[id(provider)] -= 1
            await self._close_retired()

    def keep_only(self, titles: Collection[str]) -> None:
        """Models gone from the config (removed, renamed) go as changed ones do: closed once
        their last request is done. Kept by title, they stayed open for good."""
        for title in [title for title in self._providers if title not in titles]:
            self._retired.append(self._providers.pop(title)[1])

    async def _close_retired(self) -> None:
        idle = [p for p in self._retired if self._users.get(id(p), 0) == 0]
        for provider in idle:
            self._retired.remove(provider)
            self._users.pop(id(provider), None)
            await provider.aclose()

    async def aclose(self) -> None:
        for _model, provider in self._providers.values():
            await provider.aclose()
        for provider in self._retired:
            await provider.aclose()
        self._providers.clear()
        self._retired.clear()
