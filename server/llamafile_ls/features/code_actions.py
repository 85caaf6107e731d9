"""Code actions on a selection: the edit, the slash and custom commands, and /fix where
the editor reports problems. Cheap: computing them never calls the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from llamafile_ls.features.edit_command import EDIT
from llamafile_ls.features.slash_commands import RUN_COMMAND

if TYPE_CHECKING:
    from llamafile_ls.edit import Action
    from llamafile_ls.server import LlamafileLanguageServer

_KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.Refactor, types.CodeActionKind.RefactorRewrite]


def _range(start_line: int, start_character: int, end_line: int, end_character: int) -> dict[str, Any]:
    return {
        "start": {"line": start_line, "character": start_character},
        "end": {"line": end_line, "character": end_character},
    }


def _kind_of(action: Action) -> types.CodeActionKind:
    if action.name == "fix":
        return types.CodeActionKind.QuickFix
    return types.CodeActionKind.RefactorRewrite if action.output == "edit" else types.CodeActionKind.Refactor


def _action(title: str, kind: types.CodeActionKind, command: str, argument: dict[str, Any]) -> types.CodeAction:
    return types.CodeAction(
        title=title, kind=kind, command=types.Command(title=title, command=command, arguments=[argument])
    )


def register(server: LlamafileLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=_KINDS))
    def code_actions(ls: LlamafileLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        from llamafile_ls.commands import Problem, describe_problems, group_problems, offered_actions
        from llamafile_ls.features.config_watch import current_config

        uri = params.text_document.uri
        selected = params.range
        found: list[types.CodeAction] = []
        actions = offered_actions(current_config(ls))
        # /fix, one action for each group of problems the editor reports here.
        if any(action.name == "fix" for action in actions):
            problems = [
                Problem(d.range.start.line, d.range.end.line, d.message)
                for d in params.context.diagnostics
                if d.source != "llamafile-ls"
            ]
            for group in group_problems(problems):
                first = min(p.start_line for p in group)
                last = max(p.end_line for p in group)
                if selected.start != selected.end:
                    first, last = min(first, selected.start.line), max(last, selected.end.line)
                message = " ".join(group[0].message.split())
                message = message if len(message) <= 60 else message[:57] + "…"
                more = f" (and {len(group) - 1} more)" if len(group) > 1 else ""
                argument = {"name": "fix", "uri": uri, "range": _range(first, 0, last + 1, 0),
                            "diagnostics": describe_problems(group)}  # fmt: skip
                found.append(_action(f"Llamafile: Fix “{message}”{more}", types.CodeActionKind.QuickFix,
                                     RUN_COMMAND, argument))  # fmt: skip
        if selected.start != selected.end:
            whole = _range(selected.start.line, selected.start.character, selected.end.line, selected.end.character)
            # The client asks the user for the instruction and adds it to the argument.
            found.append(
                _action(
                    "Llamafile: Edit selection…",
                    types.CodeActionKind.RefactorRewrite,
                    EDIT,
                    {"uri": uri, "range": whole},
                )
            )
            for action in actions:
                if action.name == "fix":
                    continue
                title = f"Llamafile: {action.description or '/' + action.name}"
                found.append(
                    _action(title, _kind_of(action), RUN_COMMAND, {"name": action.name, "uri": uri, "range": whole})
                )
        wanted = params.context.only
        if wanted:
            found = [a for a in found if any((a.kind or "").startswith(kind) for kind in wanted)]
        return found
