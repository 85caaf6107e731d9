"""Answers that are not edits of the selection: a new test file (/test), or a Markdown
document to read (/explain, custom commands), shown with ``window/showDocument``."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from llamafile_ls.actions import candidate_test_files
from llamafile_ls.contract import CommandResult
from llamafile_ls.errors import LlamafileLsError

if TYPE_CHECKING:
    from llamafile_ls.actions import Action
    from llamafile_ls.edit import EditRequest
    from llamafile_ls.session import Session


def answers_directory() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "llamafile-ls" / "answers"


async def deliver(server: Session, action: Action, request: EditRequest, text: str) -> CommandResult:
    try:
        if action.output == "file":
            return await _new_test_file(server, request, text)
        return await _document(server, action, request, text)
    except OSError as error:  # a folder made read-only, a disk full, a path gone meanwhile
        where = f" {error.filename}" if error.filename else ""
        raise LlamafileLsError(
            f"/{action.name}: cannot write{where}: {error.strerror or type(error).__name__}; nothing was changed"
        ) from None


async def _new_test_file(server: Session, request: EditRequest, text: str) -> CommandResult:
    if not request.file_path:
        raise LlamafileLsError("/test needs a document saved as a file, to put the tests next to it")
    target = next(
        (Path(name) for name in candidate_test_files(request.file_path, request.language) if not Path(name).exists()),
        None,
    )
    if target is None:
        raise LlamafileLsError(f"/test: every test file name next to {request.file_path} is taken; tidy them up first")
    uri = target.as_uri()
    workspace = server.client_capabilities.workspace
    capability = workspace.workspace_edit if workspace else None
    operations = (capability.resource_operations or []) if capability else []
    if capability and capability.document_changes and types.ResourceOperationKind.Create in operations:
        edit = types.WorkspaceEdit(
            document_changes=[
                types.CreateFile(uri=uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False)),
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
                    edits=[
                        types.TextEdit(range=types.Range(types.Position(0, 0), types.Position(0, 0)), new_text=text)
                    ],
                ),
            ]
        )
        try:
            response = await server.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=edit, label=f"llamafile: tests in {target.name}")
            )
        except JsonRpcException as error:
            return CommandResult(applied=False, reason=f"the editor failed to create {target}: {error}")
        if response.applied is not True:
            reason = f"the editor did not create {target}: {response.failure_reason or 'no reason given'}"
            return CommandResult(applied=False, reason=reason)
    else:  # an editor that cannot create files: write it, then show it
        _write_new(target, text)
    await _show(server, uri)
    server.log(f"/test: wrote {target}")
    return CommandResult(applied=True, uri=uri)


async def _document(server: Session, action: Action, request: EditRequest, text: str) -> CommandResult:
    stem = Path(request.file_path).stem if request.file_path else "selection"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{stem}-{action.name}-{time.strftime('%Y%m%d-%H%M%S')}") + ".md"
    folder = answers_directory()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    where = f"{Path(request.file_path).name or 'selection'}, lines {request.start_line + 1}-{request.end_line}"
    title = f"# /{action.name}: {where}\n\n"
    target.write_text(title + text, encoding="utf-8")
    uri = target.as_uri()
    await _show(server, uri)
    return CommandResult(applied=False, uri=uri, text=text)


def _write_new(target: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    try:
        os.link(temporary, target)  # fails rather than overwrite a file that appeared meanwhile
    except FileExistsError:
        raise LlamafileLsError(f"{target} appeared meanwhile; nothing was written") from None
    finally:
        os.unlink(temporary)


async def _show(server: Session, uri: str) -> None:
    window = server.client_capabilities.window
    if not (window and window.show_document and window.show_document.support):
        server.show(f"the answer is in {uri}", types.MessageType.Info)
        return
    try:
        await server.window_show_document_async(types.ShowDocumentParams(uri=uri, take_focus=True))
    except JsonRpcException as error:
        server.log(f"the editor could not show {uri}: {error}", types.MessageType.Warning)
