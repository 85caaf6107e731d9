"""The end of a session: stop the model servers this session started, close connections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from llamafile_ls.server import LlamafileLanguageServer


def register(server: LlamafileLanguageServer) -> None:
    @server.feature(types.SHUTDOWN)
    async def on_shutdown(ls: LlamafileLanguageServer, *_args: object) -> None:
        await ls.launcher.stop_all()
        await ls.providers.aclose()
