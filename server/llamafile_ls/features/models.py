"""``llamafile.listModels`` and ``llamafile.selectModel``: which model requests go to, by role."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInvalidParams

from llamafile_ls import contract
from llamafile_ls.config import ROLES, SERVED_ROLES
from llamafile_ls.contract import LIST_MODELS, SELECT_MODEL
from llamafile_ls.errors import ConfigError

if TYPE_CHECKING:
    from llamafile_ls.config import ModelConfig
    from llamafile_ls.session import Session


def register(server: Session) -> None:
    @server.command(LIST_MODELS)
    async def list_models(ls: Session, *_args: Any) -> list[dict[str, Any]]:
        config = ls.config()
        serving: dict[str, ModelConfig | None] = {
            role: ls.model(role=role) if role != "autocomplete" else ls.autocomplete_model() for role in SERVED_ROLES
        }
        active = serving["edit"]
        return [
            contract.write(
                contract.ModelInfo(
                    m.title,
                    m.provider,
                    m.model,
                    m is active,
                    # the roles requests pick it for now, then the others the config gives it
                    [r for r in SERVED_ROLES if serving[r] is m]
                    + [r for r in ROLES if r in m.roles and r not in SERVED_ROLES],
                )
            )
            for m in config.models
        ]

    @server.command(SELECT_MODEL)
    async def select_model(ls: Session, *args: Any) -> dict[str, Any]:
        argument = args[0] if len(args) == 1 else None
        try:
            chosen = contract.read(contract.SelectModelArguments, argument, SELECT_MODEL)
        except contract.ContractError as error:
            usage = f'{SELECT_MODEL} takes {{"title": "<model title>"}}, and "role" to pick it for one role only'
            raise JsonRpcInvalidParams.of(ValueError(f"{error}; {usage}")) from None
        try:
            ls.config().model(chosen.title)
        except ConfigError as error:
            raise JsonRpcInvalidParams.of(ValueError(str(error))) from None
        ls.select(chosen.title, chosen.role)
        ls.log(f"model {chosen.title!r} selected" + (f" for {chosen.role}" if chosen.role else ""))
        answer: dict[str, Any] = contract.write(contract.SelectModelResult(chosen.title, chosen.role))
        return answer
