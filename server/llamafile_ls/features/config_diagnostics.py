"""The config in the editor: diagnostics at the faulty line of the file, as the user types in
it and whenever it is (re)loaded, and one clear message when it is broken."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from lsprotocol import types

from llamafile_ls.config import Config
from llamafile_ls.config_file import parse_config_text
from llamafile_ls.config_store import ConfigState
from llamafile_ls.errors import ConfigError
from llamafile_ls.session import Event

if TYPE_CHECKING:
    from llamafile_ls.session import Session


class ConfigDiagnostics:
    def __init__(self, server: Session) -> None:
        self.server = server
        self.shown_error: str | None = None  # a broken config is shown once, not at every request
        self.published: Path | None = None  # the file whose diagnostics were last published

    def loaded(self, state: ConfigState) -> None:
        """Publish the file's diagnostics; show a broken config once; say when it is fixed."""
        server = self.server
        path = server.configs.path
        diagnostics = _warnings(state.config)
        if state.config.source is None or Path(state.config.source) != path:
            diagnostics = []  # the warnings belong to another file (or to no file)
        error = state.error
        if error is not None:
            diagnostics = [_error(error)]
            if self.shown_error != str(error):
                self.shown_error = str(error)
                kept = "the last good config" if state.config.source else "the built-in default model"
                server.show(f"config error, using {kept} until it is fixed: {error}")
        else:
            if self.shown_error:
                server.log(f"config {path} reloaded", types.MessageType.Info)
            self.shown_error = None
        if self.published is not None and self.published != path:
            # config.yaml took over from config.json (or gave way to it): clear the other's.
            server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=self.published.as_uri(), diagnostics=[])
            )
            self.published = None
        if path.exists() or error is not None:
            server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=path.as_uri(), diagnostics=diagnostics)
            )
            self.published = path

    def typed(self, uri: str) -> None:
        """Diagnostics as the user types in the config file; the config itself changes on save."""
        server = self.server
        if not server.is_config_uri(uri):
            return
        document = server.workspace.text_documents.get(unquote(uri))
        if document is None:
            return
        try:
            diagnostics = _warnings(parse_config_text(document.source, document.path or str(server.configs.path)))
        except ConfigError as error:
            diagnostics = [_error(error)]
        server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))


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


def register(server: Session) -> None:
    feature = ConfigDiagnostics(server)
    server.subscribe(Event.CONFIG, feature.loaded)
    server.subscribe(Event.OPENED, feature.typed)
    server.subscribe(Event.CHANGED, feature.typed)
