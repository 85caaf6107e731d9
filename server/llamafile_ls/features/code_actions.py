"""Code actions on a selection: the edit, the slash and custom commands, and each action that
answers problems (/fix) once per group of problems the editor reports. Cheap: computing them
never calls the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from llamafile_ls import actions
from llamafile_ls.contract import EDIT, RUN_COMMAND

if TYPE_CHECKING:
    from llamafile_ls.session import Session

_KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.Refactor, types.CodeActionKind.RefactorRewrite]
_KIND: dict[actions.Kind, types.CodeActionKind] = {
    "quickfix": types.CodeActionKind.QuickFix,
    "refactor.rewrite": types.CodeActionKind.RefactorRewrite,
    "refactor": types.CodeActionKind.Refactor,
}


def _range(start_line: int, start_character: int, end_line: int, end_character: int) -> dict[str, Any]:
    return {
        "start": {"line": start_line, "character": start_character},
        "end": {"line": end_line, "character": end_character},
    }


def _action(title: str, kind: types.CodeActionKind, command: str, argument: dict[str, Any]) -> types.CodeAction:
    return types.CodeAction(
        title=title, kind=kind, command=types.Command(title=title, command=command, arguments=[argument])
    )


def _title(action: actions.Action) -> str:
    return f"Llamafile: {action.description or '/' + action.name}"


def register(server: Session) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=_KINDS))
    def code_actions(ls: Session, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        selected = params.range
        found: list[types.CodeAction] = []
        offered = actions.offered(ls.config())
        problems = [
            actions.Problem(d.range.start.line, d.range.end.line, d.message)
            for d in params.context.diagnostics
            if d.source != "llamafile-ls"
        ]
        # The actions that answer problems: one code action for each group of them here.
        for action in (a for a in offered if a.on_problems):
            for group in actions.group_problems(problems):
                first = min(p.start_line for p in group)
                last = max(p.end_line for p in group)
                if selected.start != selected.end:
                    first, last = min(first, selected.start.line), max(last, selected.end.line)
                message = " ".join(group[0].message.split())
                message = message if len(message) <= 60 else message[:57] + "…"
                more = f" (and {len(group) - 1} more)" if len(group) > 1 else ""
                argument = {"name": action.name, "uri": uri, "range": _range(first, 0, last + 1, 0),
                            "diagnostics": actions.describe_problems(group)}  # fmt: skip
                title = f"Llamafile: {action.name.capitalize()} “{message}”{more}"
                found.append(_action(title, _KIND[action.kind], RUN_COMMAND, argument))
        if selected.start != selected.end:
            whole = _range(selected.start.line, selected.start.character, selected.end.line, selected.end.character)
            # The client asks the user for the instruction and adds it to the argument.
            edit = actions.EDIT
            found.append(
                _action(f"Llamafile: {edit.description}…", _KIND[edit.kind], EDIT, {"uri": uri, "range": whole})
            )
            for action in offered:
                if action.on_problems:
                    continue
                argument = {"name": action.name, "uri": uri, "range": whole}
                found.append(_action(_title(action), _KIND[action.kind], RUN_COMMAND, argument))
        wanted = params.context.only
        if wanted:
            found = [a for a in found if any((a.kind or "").startswith(kind) for kind in wanted)]
        return found
