"""``llamafile.edit`` and ``llamafile.runCommand``: one pipeline for every action, from a
selection to a safe workspace edit, a new file, or a document to read.

Cancelling stops the model at once; an edit the editor still holds is withdrawn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import attrs
from lsprotocol import types

from llamafile_ls import actions, contract
from llamafile_ls.actions import Action
from llamafile_ls.contract import EDIT, RUN_COMMAND
from llamafile_ls.edit import EditRequest, EditResult, run_edit
from llamafile_ls.errors import LlamafileLsError
from llamafile_ls.languages import language_for
from llamafile_ls.lsp.apply import apply_edits, open_document
from llamafile_ls.lsp.outputs import deliver
from llamafile_ls.lsp.progress import RequestProgress
from llamafile_ls.protocol import work_done_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from llamafile_ls.session import Session

logger = logging.getLogger(__name__)


@attrs.frozen
class Request:
    """A command's arguments, checked, with the whole lines the range covers."""

    arguments: contract.EditArguments | contract.RunCommandArguments
    start_line: int  # 0-based, the first line the range touches
    end_line: int  # 0-based, exclusive

    @property
    def uri(self) -> str:
        return self.arguments.uri

    @property
    def lines(self) -> str:
        return f"lines {self.start_line + 1}-{self.end_line}"


def parse_arguments(args: tuple[Any, ...], command: str = EDIT) -> Request:
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
    span = contract.Range(contract.Position(start_line, start_character), contract.Position(end_line, end_character))
    checked: contract.EditArguments | contract.RunCommandArguments
    if command == EDIT:
        checked = contract.EditArguments(uri, span, texts["instruction"].strip(), model, preview)
    else:
        checked = contract.RunCommandArguments(
            texts["name"].strip(), uri, span, texts["input"].strip(), texts["diagnostics"], model, preview
        )
    # A selection that ends at the start of a line does not include that line.
    last = end_line if end_character > 0 or end_line == start_line else end_line - 1
    return Request(checked, start_line, max(last, start_line) + 1)


def _position_number(value: Any) -> int:
    """A line or character: a non-negative integer, as LSP's ``uinteger``."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise ValueError(value)
    return value


def register(server: Session) -> None:
    @server.command(EDIT)
    async def edit(ls: Session, *args: Any) -> dict[str, Any]:
        return await run_command(ls, args, EDIT, lambda _request: actions.EDIT)

    @server.command(RUN_COMMAND)
    async def run(ls: Session, *args: Any) -> dict[str, Any]:
        def action_for(request: Request) -> Action:
            assert isinstance(request.arguments, contract.RunCommandArguments)
            return actions.find(ls.config(), request.arguments.name)

        return await run_command(ls, args, RUN_COMMAND, action_for)


async def run_command(
    server: Session, args: tuple[Any, ...], command: str, find_action: Callable[[Request], Action]
) -> dict[str, Any]:
    """Parse a command's argument, run its action, and answer (secrets scrubbed). A failure
    reaches the user once: shown by the server, unless the client shows answers itself."""
    try:
        request = parse_arguments(args, command)
        action = find_action(request)
        result, kind = await run_action(server, request, action, work_done_token.get())
    except LlamafileLsError as error:
        result, kind = contract.CommandResult(applied=False, reason=str(error)), types.MessageType.Error
    except Exception as error:  # unforeseen: one line for the user, the traceback to the log
        logger.error("internal error in %s: %s", command, error, exc_info=error)
        reason = f"internal error ({type(error).__name__}); details in the server's log; nothing was changed"
        result, kind = contract.CommandResult(applied=False, reason=reason), types.MessageType.Error
    if result.reason is not None:
        reason = server.redact(result.reason)
        result = attrs.evolve(result, reason=reason)
        if not server.options.showsResults and reason != "cancelled":
            server.show(reason, kind)
    answer: dict[str, Any] = contract.write(result)
    return answer


Outcome = tuple[contract.CommandResult, types.MessageType]  # the answer, and how bad a failure is


async def run_action(server: Session, request: Request, action: Action, token: types.ProgressToken | None) -> Outcome:
    arguments = request.arguments
    model = server.model(arguments.model, role=action.role)
    document = open_document(server, request.uri)
    if document is None:
        raise LlamafileLsError(f"{request.uri} is not open in the editor; open it and try again")
    snapshot, version = document.source, document.version
    edit_request = EditRequest(
        text=snapshot,
        start_line=request.start_line,
        end_line=request.end_line,
        instruction=arguments.instruction if isinstance(arguments, contract.EditArguments) else "",
        file_path=document.path if request.uri.startswith("file:") else "",  # untitled: has no file
        language=document.language_id or language_for(document.path),
        input=arguments.input if isinstance(arguments, contract.RunCommandArguments) else "",
        diagnostics=arguments.diagnostics if isinstance(arguments, contract.RunCommandArguments) else "",
    )
    progress = RequestProgress(server, token, model.title)
    outcome = "failed"
    try:
        async with server.providers.use(model) as provider:

            def starting(message: str) -> None:
                progress.starting(message)

            async def start_and_run() -> EditResult:
                await server.ensure_model_server(model, provider, starting)
                return await run_edit(edit_request, model, provider, on_progress=progress.tokens, action=action)

            generation = asyncio.ensure_future(start_and_run())
            await progress.begin(f"{action.label} {request.lines}", on_cancel=generation)
            try:
                result = await generation
            except asyncio.CancelledError:
                outcome = "cancelled"
                if progress.cancelled_by_user and not _cancelling():
                    return _CANCELLED
                raise
        if action.output != "edit":
            delivered = await deliver(server, action, edit_request, result.new_code)
            outcome = "done" if delivered.applied or delivered.uri else "failed"
            return delivered, types.MessageType.Warning
        if not result.changed:
            outcome = "unchanged"
            return contract.CommandResult(
                applied=False, reason="the model left the code unchanged"
            ), types.MessageType.Info
        selection = result.selection
        assert selection is not None
        label = arguments.instruction if isinstance(arguments, contract.EditArguments) else f"/{action.name}"
        if arguments.preview:
            progress.applying("waiting for your review in the preview")
        else:
            progress.applying()
        applying = asyncio.ensure_future(
            apply_edits(server, request.uri, snapshot, version, selection, result.edits, label, arguments.preview)
        )
        progress.watch(applying)  # the cancel button withdraws an edit the editor still holds
        try:
            applied, reason = await applying
        except asyncio.CancelledError:
            outcome = "cancelled"
            if progress.cancelled_by_user and not _cancelling():
                return _CANCELLED
            raise
        outcome = "applied" if applied else "not applied"
        if not applied:
            return contract.CommandResult(applied=False, reason=reason), types.MessageType.Warning
        server.log(
            f"{model.title}: {action.label} {request.lines} of {request.uri} "
            f"({result.answer_chunks} tokens, {result.seconds:.2f} s)"
        )
        return contract.CommandResult(applied=True), types.MessageType.Info
    finally:
        progress.end(outcome)


_CANCELLED: Outcome = (contract.CommandResult(applied=False, reason="cancelled"), types.MessageType.Info)


def _cancelling() -> bool:
    """Whether this task itself is being cancelled (a $/cancelRequest), not just the model call."""
    task = asyncio.current_task()
    return bool(task is not None and getattr(task, "cancelling", lambda: 0)())
