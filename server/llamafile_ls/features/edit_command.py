"""``llamafile.edit``, and the runner that every command shares: one pipeline from a
selection to a safe workspace edit (or, for commands that answer in a new file or a
document, to :mod:`llamafile_ls.features.outputs`).

The edit is computed for the document version it was asked on. If the user typed
meanwhile, it is moved onto the current text when the selected lines are untouched, and
dropped (with a reason) when they were. Cancelling stops the model at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from llamafile_ls.errors import LlamafileLsError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from pygls.workspace import TextDocument

    from llamafile_ls import textedit
    from llamafile_ls.edit import Action
    from llamafile_ls.server import LlamafileLanguageServer

EDIT = "llamafile.edit"
logger = logging.getLogger(__name__)


@attrs.frozen
class EditArguments:
    uri: str
    start_line: int  # 0-based
    end_line: int  # 0-based, exclusive
    instruction: str = ""
    model: str | None = None
    preview: bool = False  # ask the editor to show the edit for confirmation first
    input: str = ""  # a slash or custom command's extra input
    diagnostics: str = ""  # the problems /fix is to fix
    name: str = ""  # llamafile.runCommand: the command's name


def parse_arguments(args: tuple[Any, ...], command: str = EDIT) -> EditArguments:
    """The command's one JSON object; a clear reason when it is not as documented."""
    needs = '"instruction"' if command == EDIT else '"name", "input"?'
    shape = f'{{"uri", "range": {{"start": {{"line", "character"}}, "end": {{...}}}}, {needs}, "model"?, "preview"?}}'
    argument = args[0] if len(args) == 1 else None
    if not isinstance(argument, dict):
        raise LlamafileLsError(f"{command} takes one object: {shape}")
    uri, rng = argument.get("uri"), argument.get("range")
    try:
        start, end = rng["start"], rng["end"]  # type: ignore[index]
        start_line, start_character = _position_number(start["line"]), _position_number(start["character"])
        end_line, end_character = _position_number(end["line"]), _position_number(end["character"])
    except (TypeError, KeyError, ValueError):
        raise LlamafileLsError(f"{command}: a range is needed: {shape}") from None
    if (end_line, end_character) < (start_line, start_character):
        raise LlamafileLsError(
            f"{command}: the range ends (line {end_line + 1}) before it starts (line {start_line + 1}); "
            "select the code again"
        )
    if not isinstance(uri, str):
        raise LlamafileLsError(f"{command}: a document uri is needed: {shape}")
    texts = {key: argument.get(key, "") for key in ("instruction", "input", "diagnostics", "name")}
    for key, value in texts.items():
        if not isinstance(value, str):
            raise LlamafileLsError(f"{command}: {key} must be a string")
    if command == EDIT and not texts["instruction"].strip():
        raise LlamafileLsError(f"{EDIT}: no instruction was given; say what to do with the code")
    if command != EDIT and not texts["name"].strip():
        raise LlamafileLsError(f"{command}: no command name was given: {shape}")
    model = argument.get("model")
    if model is not None and not isinstance(model, str):
        raise LlamafileLsError(f"{command}: model must be a model title")
    preview = argument.get("preview", False)
    if not isinstance(preview, bool):
        raise LlamafileLsError(f"{command}: preview must be true or false")
    # A selection that ends at the start of a line does not include that line.
    last = end_line if end_character > 0 or end_line == start_line else end_line - 1
    return EditArguments(
        uri, start_line, max(last, start_line) + 1, texts["instruction"].strip(), model, preview,
        texts["input"].strip(), texts["diagnostics"], texts["name"].strip(),
    )  # fmt: skip


def _position_number(value: Any) -> int:
    """A line or character: a non-negative integer, as LSP's ``uinteger``."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise ValueError(value)
    return value


def register(server: LlamafileLanguageServer) -> None:
    @server.command(EDIT)
    async def edit(ls: LlamafileLanguageServer, *args: Any) -> dict[str, Any]:
        from llamafile_ls.edit import EDIT as EDIT_ACTION

        return await run_command(ls, args, EDIT, lambda _arguments: EDIT_ACTION)


async def run_command(
    server: LlamafileLanguageServer,
    args: tuple[Any, ...],
    command: str,
    find_action: Callable[[EditArguments], Action],
) -> dict[str, Any]:
    """Parse a command's argument, run its action, and answer with secrets scrubbed."""
    from llamafile_ls.server import work_done_token

    try:
        arguments = parse_arguments(args, command)
        action = find_action(arguments)
    except LlamafileLsError as error:
        server.show(str(error))
        return {"applied": False, "reason": server.redact(str(error))}
    try:
        outcome = await run_action(server, arguments, action, work_done_token.get())
    except Exception as error:  # unforeseen: one line for the user, the traceback to the log
        logger.error("internal error in %s: %s", command, error, exc_info=error)
        reason = f"internal error ({type(error).__name__}); details in the server's log; nothing was changed"
        server.show(reason)
        return {"applied": False, "reason": reason}
    if "reason" in outcome:
        outcome["reason"] = server.redact(outcome["reason"])
    return outcome


async def run_action(
    server: LlamafileLanguageServer, arguments: EditArguments, action: Action, token: types.ProgressToken | None
) -> dict[str, Any]:
    from llamafile_ls.edit import EditRequest, EditResult, run_edit
    from llamafile_ls.features.model_server import ensure_model_server
    from llamafile_ls.features.models import active_model
    from llamafile_ls.features.progress import RequestProgress
    from llamafile_ls.languages import language_for

    try:
        model = active_model(server, arguments.model)
    except LlamafileLsError as error:
        server.show(str(error))
        return {"applied": False, "reason": str(error)}
    document = open_document(server, arguments.uri)
    if document is None:
        reason = f"{arguments.uri} is not open in the editor; open it and try again"
        server.show(reason)
        return {"applied": False, "reason": reason}
    snapshot, version = document.source, document.version
    request = EditRequest(
        text=snapshot,
        start_line=arguments.start_line,
        end_line=arguments.end_line,
        instruction=arguments.instruction,
        file_path=document.path if arguments.uri.startswith("file:") else "",  # untitled: has no file
        language=document.language_id or language_for(document.path),
        input=arguments.input,
        diagnostics=arguments.diagnostics,
    )
    lines = f"lines {arguments.start_line + 1}-{arguments.end_line}"
    doing = "editing" if action.name == "edit" else f"/{action.name}"
    progress = RequestProgress(server, token, f"llamafile: {model.title}")
    outcome = "failed"
    try:
        async with server.providers.use(model) as provider:

            def on_chunk(chunks: int) -> None:
                progress.report(f"{chunks} token{'s' if chunks != 1 else ''}")

            async def start_and_run() -> EditResult:
                await ensure_model_server(server, model, provider, progress)
                return await run_edit(request, model, provider, on_progress=on_chunk, action=action)

            generation = asyncio.ensure_future(start_and_run())
            await progress.begin(f"{doing} {lines}", on_cancel=generation)
            try:
                result = await generation
            except asyncio.CancelledError:
                outcome = "cancelled"
                if progress.cancelled_by_user and not _cancelling():
                    return {"applied": False, "reason": "cancelled"}
                raise
        if action.output != "edit":
            from llamafile_ls.features.outputs import deliver

            delivered = await deliver(server, action, request, result.new_code)
            outcome = "done" if delivered.get("applied") or delivered.get("uri") else "failed"
            return delivered
        if not result.changed:
            outcome = "unchanged"
            server.show("the model left the code unchanged", types.MessageType.Info)
            return {"applied": False, "reason": "the model left the code unchanged"}
        selection = result.selection
        assert selection is not None
        label = arguments.instruction if action.name == "edit" else f"/{action.name}"
        if arguments.preview:
            progress.report("waiting for your review in the preview", force=True)
        applying = asyncio.ensure_future(
            apply_edits(server, arguments.uri, snapshot, version, selection, result.edits, label, arguments.preview)
        )
        progress.watch(applying)  # the cancel button withdraws an edit the editor still holds
        try:
            applied, reason = await applying
        except asyncio.CancelledError:
            outcome = "cancelled"
            if progress.cancelled_by_user and not _cancelling():
                return {"applied": False, "reason": "cancelled"}
            raise
        outcome = "applied" if applied else "not applied"
        if not applied:
            server.show(reason, types.MessageType.Warning)
            return {"applied": False, "reason": reason}
        server.log(
            f"{model.title}: {doing} {lines} of {arguments.uri} ({result.answer_chunks} tokens, {result.seconds:.2f} s)"
        )
        return {"applied": True}
    except LlamafileLsError as error:
        server.show(str(error))
        return {"applied": False, "reason": str(error)}
    finally:
        progress.end(outcome)


def _cancelling() -> bool:
    """Whether this task itself is being cancelled (a $/cancelRequest), not just the model call."""
    task = asyncio.current_task()
    return bool(task is not None and getattr(task, "cancelling", lambda: 0)())


def open_document(server: LlamafileLanguageServer, uri: str) -> TextDocument | None:
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
    server: LlamafileLanguageServer,
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


def _apply_timeout(server: LlamafileLanguageServer) -> float:
    return server.apply_edit_timeout or APPLY_TIMEOUT


async def _version_change(server: LlamafileLanguageServer, uri: str, version: int | None, within: float) -> bool:
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
    server: LlamafileLanguageServer,
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
