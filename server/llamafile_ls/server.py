"""Starting the language server: the session core with every feature registered, on stdio
or TCP, its log passed through the redactor."""

from __future__ import annotations

import logging

from llamafile_ls.redaction import SECRETS
from llamafile_ls.session import Session


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return SECRETS.redact(super().format(record))


def build_server(config_path: str | None = None) -> Session:
    from llamafile_ls.features import code_actions, commands, config_diagnostics, inline_completion, models

    server = Session(config_path)
    for feature in (config_diagnostics, models, commands, code_actions, inline_completion):
        feature.register(server)
    return server


def serve(config_path: str | None = None, *, tcp: bool = False, host: str = "127.0.0.1", port: int = 2087) -> int:
    """Serve until the client says exit; the exit code says whether it said shutdown first
    (LSP: 0 after shutdown, 1 when the editor went away without it)."""
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:  # the log passes the redactor too
        handler.setFormatter(RedactingFormatter("llamafile-ls: %(levelname)s %(name)s: %(message)s"))
    # A client cancels requests that already finished all the time (VS Code's code actions):
    # pygls warns about each; that is noise, not news.
    logging.getLogger("pygls.protocol.json_rpc").setLevel(logging.ERROR)
    server = build_server(config_path)
    if tcp:
        server.start_tcp(host, port)
    else:
        server.start_io()
    return 0 if server.protocol._shutdown else 1
