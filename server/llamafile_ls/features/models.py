"""``llamafile.listModels`` and ``llamafile.selectModel``: which model edits are sent to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInvalidParams

from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import ConfigError
from llamafile_ls.features.config_watch import current_config

if TYPE_CHECKING:
    from llamafile_ls.server import LlamafileLanguageServer

LIST_MODELS = "llamafile.listModels"
SELECT_MODEL = "llamafile.selectModel"


def active_model(server: LlamafileLanguageServer, title: str | None = None) -> ModelConfig:
    """The model a request names, else the selected one, else the config's first."""
    config = current_config(server)
    if title:
        return config.model(title)
    if server.selected_model is not None:
        try:
            return config.model(server.selected_model)
        except ConfigError:
            server.log(f"the selected model {server.selected_model!r} is gone from the config; using the first")
            server.selected_model = None
    return config.model()


def register(server: LlamafileLanguageServer) -> None:
    @server.command(LIST_MODELS)
    async def list_models(ls: LlamafileLanguageServer, *_args: Any) -> list[dict[str, Any]]:
        active = active_model(ls).title
        return [
            {"title": m.title, "provider": m.provider, "model": m.model, "active": m.title == active}
            for m in current_config(ls).models
        ]

    @server.command(SELECT_MODEL)
    async def select_model(ls: LlamafileLanguageServer, *args: Any) -> dict[str, Any]:
        argument = args[0] if args else None
        title = argument.get("title") if isinstance(argument, dict) else None
        if not isinstance(title, str):
            raise JsonRpcInvalidParams.of(ValueError('llamafile.selectModel takes {"title": "<model title>"}'))
        try:
            current_config(ls).model(title)
        except ConfigError as error:
            raise JsonRpcInvalidParams.of(ValueError(str(error))) from None
        ls.selected_model = title
        ls.log(f"model {title!r} selected")
        return {"title": title}
