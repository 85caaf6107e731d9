"""The language server core: its state, its wiring, and how it starts. Thin on purpose:
each feature lives in its own module under :mod:`llamafile_ls.features`.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol.language_server import lsp_method

from llamafile_ls import __version__
from llamafile_ls.config_store import ConfigState, ConfigStore
from llamafile_ls.document import DocumentsProtocol
from llamafile_ls.launcher import Launcher
from llamafile_ls.provider_pool import ProviderPool

logger = logging.getLogger(__name__)

# The client's progress token for the command being run (each request runs in its own task).
work_done_token: contextvars.ContextVar[types.ProgressToken | None] = contextvars.ContextVar(
    "work_done_token", default=None
)


class LlamafileProtocol(DocumentsProtocol):  # documents split and addressed as LSP says
    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Any:  # type: ignore[override]
        """Run a command as the request's own task.

        pygls runs command handlers as a separate task that ``$/cancelRequest`` does not
        reach: the request is answered "cancelled" while the handler goes on (and would
        still apply its edit). Awaiting the handler here makes a cancel cancel it.
        """
        handler = self.fm.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams.of(ValueError(f"unknown command {params.command!r}"))
        work_done_token.set(params.work_done_token)
        return await handler(*(params.arguments or []))


class LlamafileLanguageServer(LanguageServer):
    def __init__(self, config_path: str | None = None) -> None:
        super().__init__("llamafile-ls", __version__, protocol_cls=LlamafileProtocol)
        self.configs = ConfigStore(config_path)
        self.providers = ProviderPool()
        self.launcher = Launcher(die_with_parent=True)  # what it starts ends with the session
        self.selected_model: str | None = None  # a title; None means the config's first model
        self.secrets: frozenset[str] = frozenset()  # api keys, scrubbed from every message
        self.config_state: ConfigState | None = None  # loaded at initialize, reported at initialized
        self.shown_config_error: str | None = None  # shown once, not at every request

    def shutdown(self) -> None:
        """Also on an exit without ``shutdown`` (the editor crashed): stop what we started."""
        self.launcher.kill_all_now()
        super().shutdown()  # type: ignore[no-untyped-call]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=self.redact(message)))

    def show(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        text = self.redact(message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"llamafile: {text}"))
        self.log(text, kind)


def build_server(config_path: str | None = None) -> LlamafileLanguageServer:
    from llamafile_ls.features import code_actions, config_watch, edit_command, lifecycle, models, slash_commands

    server = LlamafileLanguageServer(config_path)
    for feature in (lifecycle, config_watch, models, edit_command, slash_commands, code_actions):
        feature.register(server)
    return server


def serve(config_path: str | None = None, *, tcp: bool = False, host: str = "127.0.0.1", port: int = 2087) -> None:
    logging.basicConfig(level=logging.WARNING, format="llamafile-ls: %(levelname)s %(name)s: %(message)s")
    # A client cancels requests that already finished all the time (VS Code's code actions):
    # pygls warns about each; that is noise, not news.
    logging.getLogger("pygls.protocol.json_rpc").setLevel(logging.ERROR)
    server = build_server(config_path)
    if tcp:
        server.start_tcp(host, port)
    else:
        server.start_io()
