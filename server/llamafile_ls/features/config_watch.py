"""Config in the editor: the path from initializationOptions, reloads when the file changes,
diagnostics on the file, and one clear message when it is broken."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from llamafile_ls.config import Config, default_config
from llamafile_ls.config_store import ConfigState
from llamafile_ls.errors import ConfigError
from llamafile_ls.redaction import remember

if TYPE_CHECKING:
    from llamafile_ls.server import LlamafileLanguageServer

_WATCHER_ID = "llamafile-ls-config-watcher"
logger = logging.getLogger(__name__)


def current_config(server: LlamafileLanguageServer) -> Config:
    """The config in force, after a cheap check that the file has not changed."""
    state = server.configs.refresh()
    if state.changed:
        report(server, state)
    return state.config


def report(server: LlamafileLanguageServer, state: ConfigState) -> None:
    """Publish the file's diagnostics; show a broken config once; remember secrets."""
    remember(state.config)  # before anything about it is said
    server.providers.keep_only({model.title for model in state.config.models})
    path = server.configs.path
    diagnostics = _warnings(state.config)
    if state.config.source is None or Path(state.config.source) != path:
        diagnostics = []  # the warnings belong to another file (or to no file)
    error = state.error
    if error is not None:
        diagnostics = [_error(error)]
        if server.shown_config_error != str(error):
            server.shown_config_error = str(error)
            kept = "the last good config" if state.config.source else "the built-in default model"
            server.show(f"config error, using {kept} until it is fixed: {error}")
    else:
        if server.shown_config_error:
            server.log(f"config {path} reloaded", types.MessageType.Info)
        server.shown_config_error = None
    if path.exists() or error is not None:
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=path.as_uri(), diagnostics=diagnostics)
        )


def _warnings(config: Config) -> list[types.Diagnostic]:
    return [_diagnostic(p.message, p.line, p.column, types.DiagnosticSeverity.Warning) for p in config.warnings]


def _error(error: ConfigError) -> types.Diagnostic:
    return _diagnostic(error.reason, error.line, error.column, types.DiagnosticSeverity.Error)


def _diagnostic(
    message: str, line: int | None, column: int | None, severity: types.DiagnosticSeverity
) -> types.Diagnostic:
    line0 = max((line or 1) - 1, 0)
    column0 = max((column or 1) - 1, 0)
    return types.Diagnostic(
        range=types.Range(types.Position(line0, column0), types.Position(line0 + 1, 0)),
        message=message,
        severity=severity,
        source="llamafile-ls",
    )


def _is_config_uri(server: LlamafileLanguageServer, uri: str) -> bool:
    from pygls.uris import to_fs_path

    path = to_fs_path(uri)
    return path is not None and server.configs.is_config_file(path)


def _validate_buffer(server: LlamafileLanguageServer, uri: str) -> None:
    """Diagnostics as the user types in config.json; the config itself changes on save."""
    from llamafile_ls.config import parse_config

    text = server.workspace.get_text_document(uri).source
    try:
        config = parse_config(text, str(server.configs.path))
        diagnostics = _warnings(config)
    except ConfigError as error:
        diagnostics = [_error(error)]
    server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))


def register(server: LlamafileLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def on_initialize(ls: LlamafileLanguageServer, params: types.InitializeParams) -> None:
        options: Any = params.initialization_options

        def ignored(name: str, value: Any, wanted: str) -> None:  # said, not silently dropped
            shown = json.dumps(value, default=str)
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
            ls.show(f"{name} must be {wanted}, not {shown}; it is ignored", types.MessageType.Warning)

        if options is not None and not isinstance(options, dict):
            ignored("initializationOptions", options, "an object")
        options = options if isinstance(options, dict) else {}
        config_path = options.get("configPath")
        model = options.get("model")
        if isinstance(model, str) and model:
            ls.selected_model = model
        elif model is not None and not isinstance(model, str):
            ignored("initializationOptions.model", model, "a model title (a string)")
        timeout = options.get("applyEditTimeout")
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout < 1e6:
            ls.apply_edit_timeout = float(timeout)
        elif timeout is not None:
            ignored("initializationOptions.applyEditTimeout", timeout, "a number of seconds above 0")
        if config_path is not None and not isinstance(config_path, str):
            ignored("initializationOptions.configPath", config_path, "a path (a string)")
        path = config_path if isinstance(config_path, str) and config_path else None
        folders = params.workspace_folders or []
        root = params.root_uri or params.root_path or (folders[0].uri if folders else None)
        try:
            ls.config_state = ls.configs.configure(path, root)  # a relative configPath is relative to it
        except Exception as error:  # never fail initialize: the editor could not start the server at all
            logger.error("could not load the config: %s", error, exc_info=error)
            ls.config_state = ConfigState(
                default_config(), ConfigError(f"the config could not be loaded: {error}"), True
            )

    @server.feature(types.INITIALIZED)
    async def on_initialized(ls: LlamafileLanguageServer, _params: types.InitializedParams) -> None:
        if ls.config_state is not None:
            report(ls, ls.config_state)
        workspace = ls.client_capabilities.workspace
        if not (workspace and workspace.workspace_edit and workspace.workspace_edit.document_changes):
            ls.log(
                "this editor takes no versioned edits (workspace.workspaceEdit.documentChanges): an edit "
                "cannot be checked against what was typed in the last moments before it arrives",
                types.MessageType.Warning,
            )
        await _watch_config_file(ls)
        # Load the HTTP stack now, off the event loop, so the first edit does not wait for it.
        await asyncio.to_thread(importlib.import_module, "llamafile_ls.providers.http")

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def on_watched_files(ls: LlamafileLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        if any(_is_config_uri(ls, change.uri) for change in params.changes):
            current_config(ls)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def on_save(ls: LlamafileLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        if _is_config_uri(ls, params.text_document.uri):
            current_config(ls)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def on_open(ls: LlamafileLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        if _is_config_uri(ls, params.text_document.uri):
            _validate_buffer(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def on_change(ls: LlamafileLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        if _is_config_uri(ls, params.text_document.uri):
            _validate_buffer(ls, params.text_document.uri)


async def _watch_config_file(server: LlamafileLanguageServer) -> None:
    """Ask the client to watch the config file, where it can; else each request stats it."""
    workspace = server.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if not (watched and watched.dynamic_registration):
        return
    path = server.configs.path
    pattern: types.GlobPattern = str(path)
    if watched.relative_pattern_support:
        pattern = types.RelativePattern(base_uri=path.parent.as_uri(), pattern=path.name)
    options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern=pattern)])
    registration = types.Registration(
        id=_WATCHER_ID, method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
    )
    try:
        await server.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
    except Exception as error:  # the stat before each request still catches changes
        server.log(f"the editor cannot watch {path} ({error}); it is checked before each request")
