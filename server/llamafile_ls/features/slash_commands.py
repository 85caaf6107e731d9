"""``llamafile.runCommand``: the built-in slash commands (/comment, /docstring, /fix,
/test, /explain) and the config's custom commands, on the same pipeline as the edit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llamafile_ls.edit import Action
    from llamafile_ls.features.edit_command import EditArguments
    from llamafile_ls.server import LlamafileLanguageServer

RUN_COMMAND = "llamafile.runCommand"


def register(server: LlamafileLanguageServer) -> None:
    @server.command(RUN_COMMAND)
    async def run_command_handler(ls: LlamafileLanguageServer, *args: Any) -> dict[str, Any]:
        from llamafile_ls.commands import find_action
        from llamafile_ls.features.config_watch import current_config
        from llamafile_ls.features.edit_command import run_command

        def action_for(arguments: EditArguments) -> Action:
            return find_action(current_config(ls), arguments.name)

        return await run_command(ls, args, RUN_COMMAND, action_for)
