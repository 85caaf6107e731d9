"""Applying an edit in the editor, safely: on the text the editor has now, one edit of a
document at a time, versioned where the editor allows, never on lines the user changed.

The edit was computed for the document as it was when asked. If the user typed meanwhile,
it is moved onto the current text when its lines are untouched, and dropped (with a
reason) when they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from llamafile_ls import textedit
    from llamafile_ls.session import Session


def open_document(server: Session, uri: str) -> TextDocument | None:
    """The document as the editor has it, or None: an edit is only ever made on what the
    editor sent (never on a copy read from disk, which the editor may have changed)."""
    from urllib.parse import unquote

    document: TextDocument | None = server.workspace.text_documents.get(unquote(uri))
    return document


# How long an editor may take to answer workspace/applyEdit: Vim's ALE never answers it;
# a preview waits for a person.
APPLY_TIMEOUT = 30.0
PREVIEW_TIMEOUT = 900.0
_WITHDRAW_WAIT = 2.0  # seconds to hear whether a withdrawn edit was applied meanwhile
_SETTLE = 2.0  # seconds to wait for the didChange of an applied edit before the next one
_MAX_REBASES = 200
_unreported: dict[str, int | None] = {}  # uri -> its version before an edit the editor has not reported
_apply_locks: dict[str, tuple[asyncio.Lock, int]] = {}  # uri -> (its lock, edits holding or awaiting it)


@contextlib.asynccontextmanager
async def _one_at_a_time(uri: str) -> AsyncIterator[None]:
    """Edits of one document, one after the other; the lock goes when no edit needs it."""
    lock, users = _apply_locks.get(uri, (asyncio.Lock(), 0))
    _apply_locks[uri] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _apply_locks[uri]
        if users == 1:
            del _apply_locks[uri]
        else:
            _apply_locks[uri] = (lock, users - 1)


async def apply_edits(
    server: Session,
    uri: str,
    snapshot: str,
    version: int | None,
    selection: textedit.Selection,
    edits: tuple[textedit.TextEdit, ...],
    label: str,
    preview: bool = False,
) -> tuple[bool, str]:
    """Apply edits computed on ``snapshot``, moved onto whatever the document holds now.

    Edits of one document are applied one at a time, each on the text the previous one left.
    If the editor refuses because the user typed in between, the edits are moved onto the
    new text and sent again, for as long as the lines they own are untouched; any other
    refusal is reported, not retried.
    """
    from llamafile_ls import textedit

    async with _one_at_a_time(uri):
        behind = _unreported.get(uri)
        if behind is not None:
            # The last edit applied here was never reported back (no didChange yet): this
            # server's copy is stale, and an edit moved onto it could land on the wrong lines.
            if not await _version_change(server, uri, behind, _SETTLE):
                return False, (
                    "the editor has not reported the previous edit of this document yet (no didChange); "
                    "nothing was applied, try again"
                )
            _unreported.pop(uri, None)
        for _attempt in range(_MAX_REBASES):
            document = open_document(server, uri)
            if document is None:
                return False, "the document was closed while the model was answering; nothing was applied"
            current, current_version = document.source, document.version
            moved = textedit.rebase_edits(snapshot, current, selection, edits)
            if moved is None:
                return False, "the selected lines changed while the model was answering; nothing was applied"
            params = types.ApplyWorkspaceEditParams(
                edit=_workspace_edit(server, document, moved, f"llamafile: {label}", preview),
                label=f"llamafile: {label}",
            )
            limit = PREVIEW_TIMEOUT if preview else _apply_timeout(server)
            request_id = f"llamafile-apply-{uuid.uuid4()}"
            pending = server.protocol.send_request_async(types.WORKSPACE_APPLY_EDIT, params, msg_id=request_id)
            pending.add_done_callback(lambda done: done.cancelled() or done.exception())  # read, even if late
            try:
                # Shielded: a late answer must find its request still there, not a cancelled one.
                response = await asyncio.wait_for(asyncio.shield(pending), limit)
            except asyncio.CancelledError:
                # Cancelled while the editor holds the edit (a preview, a slow editor): withdraw
                # it, and hear what the editor did. It may have applied the edit already (the
                # request crossed the cancel): then the answer must say so, not "cancelled".
                if not pending.done():
                    server.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
                    await asyncio.wait({pending}, timeout=_WITHDRAW_WAIT)
                if _was_applied(pending):
                    task = asyncio.current_task()
                    if task is not None and hasattr(task, "uncancel"):
                        task.uncancel()
                    return True, ""
                raise
            except asyncio.TimeoutError:
                return False, (
                    f"the editor did not answer the request to apply the edit within {limit:g} s; it may not "
                    "apply edits from a language server (Vim's ALE does not), so the edit may be missing"
                )
            except JsonRpcException as error:  # the editor answered applyEdit with an error
                return False, f"the editor failed to apply the edit: {error}"
            if response.applied is True:
                # The next edit must be moved onto this one: let the editor's didChange arrive.
                with contextlib.suppress(asyncio.CancelledError):  # too late to cancel: it is applied
                    if not await _version_change(server, uri, current_version, _SETTLE):
                        _unreported[uri] = current_version
                return True, ""
            if await _version_change(server, uri, current_version, 0.5):
                continue  # the user typed in between: move the edit onto what they have now
            if preview and not response.failure_reason:
                return False, "the edit was not accepted in the preview"
            reason = response.failure_reason or "no reason given"
            return False, f"the editor refused the edit: {reason}"
    return False, "the document kept changing while the edit was applied; nothing was applied"


def _was_applied(answer: asyncio.Future[Any]) -> bool:
    if not answer.done() or answer.cancelled() or answer.exception() is not None:
        return False
    return getattr(answer.result(), "applied", False) is True


def _apply_timeout(server: Session) -> float:
    return server.options.applyEditTimeout or APPLY_TIMEOUT


async def _version_change(server: Session, uri: str, version: int | None, within: float) -> bool:
    """Wait up to ``within`` seconds for the document to move past ``version``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        document = open_document(server, uri)
        if document is None or document.version != version:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.01)


_ANNOTATION = "llamafile-edit"


def _workspace_edit(
    server: Session,
    document: TextDocument,
    edits: tuple[textedit.TextEdit, ...],
    label: str,
    preview: bool,
) -> types.WorkspaceEdit:
    def position(pos: textedit.Position) -> types.Position:
        if pos.character == 0:  # the usual case: whole lines, the same in every encoding
            return types.Position(pos.line, 0)
        lines = document.lines  # splits the document: only for the end of a file without newline
        if pos.line >= len(lines):
            return types.Position(pos.line, pos.character)
        units = document.position_codec.client_num_units(lines[pos.line][: pos.character])
        return types.Position(pos.line, units)

    workspace = server.client_capabilities.workspace
    capability = workspace.workspace_edit if workspace else None
    versioned = bool(capability and capability.document_changes)
    # A change annotation that needs confirmation makes VS Code show its refactor preview.
    annotate = preview and versioned and bool(capability and capability.change_annotation_support)
    lsp_edits: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = []
    for edit in edits:
        span = types.Range(position(edit.start), position(edit.end))
        if annotate:
            lsp_edits.append(types.AnnotatedTextEdit(range=span, new_text=edit.new_text, annotation_id=_ANNOTATION))
        else:
            lsp_edits.append(types.TextEdit(range=span, new_text=edit.new_text))
    if not versioned:
        return types.WorkspaceEdit(changes={document.uri: lsp_edits})  # type: ignore[dict-item]
    identifier = types.OptionalVersionedTextDocumentIdentifier(uri=document.uri, version=document.version)
    change = types.TextDocumentEdit(text_document=identifier, edits=lsp_edits)
    if not annotate:
        return types.WorkspaceEdit(document_changes=[change])
    annotation = types.ChangeAnnotation(label=label, needs_confirmation=True)
    return types.WorkspaceEdit(document_changes=[change], change_annotations={_ANNOTATION: annotation})
