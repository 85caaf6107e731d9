"""A real JSON-RPC client (pytest-lsp) in front of the real server process, plus a small
editor model that behaves like VS Code where it matters: it keeps document versions, sends
incremental didChange, and refuses a versioned workspace edit for a stale version."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "llamafile_ls"])


def capabilities(
    *, document_changes: bool = True, progress: bool = True, watch: bool = False, annotations: bool = False
) -> types.ClientCapabilities:
    annotation_support = types.ChangeAnnotationsSupportOptions(groups_on_label=True) if annotations else None
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(
                document_changes=document_changes, change_annotation_support=annotation_support
            ),
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(
                dynamic_registration=watch, relative_pattern_support=watch
            ),
        ),
        window=types.WindowClientCapabilities(work_done_progress=progress),
    )


def utf16_to_index(line: str, units: int) -> int:
    count = 0
    for index, char in enumerate(line):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(line)


def offset_of(text: str, position: types.Position) -> int:
    import re  # LSP breaks lines at \n, \r\n and \r only; str.splitlines breaks at \f, U+2028 and more

    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+", text)
    if position.line >= len(lines):
        return len(text)
    content = lines[position.line].rstrip("\r\n")  # a character past the line's end means its end
    return sum(map(len, lines[: position.line])) + utf16_to_index(content, position.character)


def _read_code_actions_as_the_spec_says(client: LanguageClient) -> None:
    """lsprotocol reads any code action that has a ``command`` as a Command; the spec (and
    VS Code) tell them apart by ``command`` being a string. Fix the test client's reading."""
    converter = client.protocol._converter

    def structure(value: Any, _type: Any) -> types.Command | types.CodeAction:
        kind = types.Command if isinstance(value.get("command"), str) else types.CodeAction
        return converter.structure(value, kind)  # type: ignore[no-any-return]

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


class Editor:
    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.docs: dict[str, tuple[int, str]] = {}
        self.apply_requests: list[types.ApplyWorkspaceEditParams] = []
        # Called inside an applyEdit before it is applied: lets a test "type" at the worst time.
        self.before_apply: Callable[[], None] | None = None
        self.decline_next = False  # like dismissing VS Code's refactor preview

        def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            return self._apply_edit(params)

        client.feature(types.WORKSPACE_APPLY_EDIT)(apply_edit)
        self._answer_at_once = client.protocol.fm.features[types.WORKSPACE_APPLY_EDIT]
        self.registrations: list[types.Registration] = []
        self.server_capabilities: types.ServerCapabilities | None = None  # what initialize answered

        def register_capability(params: types.RegistrationParams) -> None:
            self.registrations.extend(params.registrations)

        client.feature(types.CLIENT_REGISTER_CAPABILITY)(register_capability)
        _read_code_actions_as_the_spec_says(client)

    def open(self, path: Path, text: str, language_id: str = "python") -> str:
        uri = path.as_uri()
        self.docs[uri] = (1, text)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)
            )
        )
        return uri

    def open_uri(self, uri: str, text: str, language_id: str = "python", version: int = 1) -> str:
        """didOpen of any URI (``untitled:``, a second didOpen of an open one …)."""
        self.docs[uri] = (version, text)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id=language_id, version=version, text=text)
            )
        )
        return uri

    def close(self, uri: str) -> None:
        """didClose; the last text stays in ``docs`` to be compared."""
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )

    def hold_applies(self, hook: Callable[[types.ApplyWorkspaceEditParams], Awaitable[None]] | None) -> None:
        """Make each workspace/applyEdit await ``hook`` before it is applied: a slow editor, a
        person at a preview, or (a hook that never returns) an editor that never answers, like
        Vim's ALE. A $/cancelRequest from the server cancels a held request, which then applies
        nothing. None answers at once again, as by default."""
        features = self.client.protocol.fm.features
        if hook is None:
            features[types.WORKSPACE_APPLY_EDIT] = self._answer_at_once
            return
        wait = hook

        async def held(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            await wait(params)
            return self._apply_edit(params)

        features[types.WORKSPACE_APPLY_EDIT] = held

    def text(self, uri: str) -> str:
        return self.docs[uri][1]

    def type(self, uri: str, start: tuple[int, int], end: tuple[int, int], new_text: str) -> None:
        """The user replaces a range (line, utf-16 column) with ``new_text``."""
        version, text = self.docs[uri]
        rng = types.Range(types.Position(*start), types.Position(*end))
        text = text[: offset_of(text, rng.start)] + new_text + text[offset_of(text, rng.end) :]
        self.docs[uri] = (version + 1, text)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version + 1),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new_text)],
            )
        )

    def _apply_edit(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        self.apply_requests.append(params)
        if self.before_apply is not None:
            hook, self.before_apply = self.before_apply, None
            hook()
        if self.decline_next:
            self.decline_next = False
            return types.ApplyWorkspaceEditResult(applied=False)
        edit = params.edit
        changes: list[tuple[str, int | None, list[Any]]] = []
        for change in edit.document_changes or []:
            if isinstance(change, types.CreateFile):
                if change.uri in self.docs or Path(change.uri.removeprefix("file://")).exists():
                    return types.ApplyWorkspaceEditResult(applied=False, failure_reason=f"{change.uri} exists")
                self.docs[change.uri] = (0, "")
                continue
            assert isinstance(change, types.TextDocumentEdit)
            changes.append((change.text_document.uri, change.text_document.version, list(change.edits)))
        for uri, edits in (edit.changes or {}).items():
            changes.append((uri, None, list(edits)))
        for uri, version, _edits in changes:
            if version is not None and version != self.docs[uri][0]:
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="the document version is stale")
        for uri, _version, edits in changes:
            version_now, text = self.docs[uri]
            spans = sorted(
                ((offset_of(text, e.range.start), offset_of(text, e.range.end), e) for e in edits),
                key=lambda s: s[0],
                reverse=True,
            )
            for start, end, e in spans:
                text = text[:start] + e.new_text + text[end:]
            self.docs[uri] = (version_now + 1, text)
            self.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version_now + 1),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                )
            )
        return types.ApplyWorkspaceEditResult(applied=True)


async def start(
    config: Path | None,
    *,
    caps: types.ClientCapabilities | None = None,
    env: dict[str, str] | None = None,
    root: Path | None = None,
    **options: Any,
) -> tuple[LanguageClient, Editor]:
    server = SERVER if env is None else ClientServerConfig(SERVER.server_command, server_env={**os.environ, **env})
    client = await server.start()
    assert isinstance(client, LanguageClient)
    editor = Editor(client)
    init_options = {"configPath": str(config)} if config else {}
    init_options.update(options)
    editor.server_capabilities = (
        await client.initialize_session(
            types.InitializeParams(
                capabilities=caps or capabilities(),
                initialization_options=init_options,
                root_uri=root.as_uri() if root else None,
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)] if root else None,
            )
        )
    ).capabilities
    return client, editor


async def stop(client: LanguageClient) -> None:
    await client.shutdown_session()
    await client.stop()


def edit_args(uri: str, first: int, last: int, instruction: str = "rewrite it", **extra: Any) -> dict[str, Any]:
    """llamafile.edit's argument for whole lines ``first``..``last`` (0-based, inclusive)."""
    rng = {"start": {"line": first, "character": 0}, "end": {"line": last + 1, "character": 0}}
    return {"uri": uri, "range": rng, "instruction": instruction, **extra}


async def execute(
    client: LanguageClient, command: str, *arguments: Any, token: str | None = None, msg_id: str | None = None
) -> Any:
    params = types.ExecuteCommandParams(command=command, arguments=list(arguments), work_done_token=token)
    if token is not None:
        client.progress_reports.setdefault(token, [])  # a client-made token, as VS Code makes
    return await client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=msg_id)


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for a condition")
        await asyncio.sleep(0.01)
