"""Code actions on a selection: cheap, they never call the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from llamafile_ls.features.edit_command import EDIT

if TYPE_CHECKING:
    from llamafile_ls.server import LlamafileLanguageServer


def register(server: LlamafileLanguageServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite]),
    )
    def code_actions(ls: LlamafileLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        selected = params.range
        if selected.start == selected.end:
            return []
        wanted = params.context.only
        if wanted and not any(types.CodeActionKind.RefactorRewrite.value.startswith(kind) for kind in wanted):
            return []
        # The client asks the user for the instruction and adds it to the argument.
        argument = {"uri": params.text_document.uri, "range": {
            "start": {"line": selected.start.line, "character": selected.start.character},
            "end": {"line": selected.end.line, "character": selected.end.character},
        }}  # fmt: skip
        return [
            types.CodeAction(
                title="Llamafile: Edit selection…",
                kind=types.CodeActionKind.RefactorRewrite,
                command=types.Command(title="Llamafile: Edit selection…", command=EDIT, arguments=[argument]),
            )
        ]
