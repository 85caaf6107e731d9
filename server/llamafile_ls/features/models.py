"""``llamafile.listModels`` and ``llamafile.selectModel``: which model requests go to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInvalidParams

from llamafile_ls import contract
from llamafile_ls.contract import LIST_MODELS, SELECT_MODEL
from llamafile_ls.errors import ConfigError

if TYPE_CHECKING:
    from llamafile_ls.session import Session


def register(server: Session) -> None:
    @server.command(LIST_MODELS)
    async def list_models(ls: Session, *_args: Any) -> list[dict[str, Any]]:
        active = ls.model().title
        return [
            contract.write(contract.ModelInfo(m.title, m.provider, m.model, m.title == active))
            for m in ls.config().models
        ]

    @server.command(SELECT_MODEL)
    async def select_model(ls: Session, *args: Any) -> dict[str, Any]:
        argument = args[0] if args else None
        title = argument.get("title") if isinstance(argument, dict) else None
        if not isinstance(title, str):
            raise JsonRpcInvalidParams.of(ValueError(f'{SELECT_MODEL} takes {{"title": "<model title>"}}'))
        try:
            ls.config().model(title)
        except ConfigError as error:
            raise JsonRpcInvalidParams.of(ValueError(str(error))) from None
        ls.selected_model = title
        ls.log(f"model {title!r} selected")
        answer: dict[str, Any] = contract.write(contract.SelectModelResult(title))
        return answer
