"""Before a request: make sure the model's server runs, starting llamafile_command if the
user's own config says so (never a command from a workspace's config)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from llamafile_ls.config import ModelConfig

if TYPE_CHECKING:
    from llamafile_ls.features.progress import RequestProgress
    from llamafile_ls.llamafile import LlamafileProvider
    from llamafile_ls.server import LlamafileLanguageServer


def may_launch(server: LlamafileLanguageServer, model: ModelConfig) -> bool:
    """A command runs only from the user's own config: not from a file in an opened folder
    that the client named (a workspace could point its settings at a file of its own)."""
    if not model.llamafile_command or not server.configs.from_client:
        return True
    from pygls.uris import to_fs_path

    config = server.configs.path.resolve()
    roots = [folder.uri for folder in server.workspace.folders.values()]
    if server.workspace.root_uri:
        roots.append(server.workspace.root_uri)
    for uri in roots:
        root = to_fs_path(uri)
        if root and config.is_relative_to(Path(root).resolve()):
            server.log(
                f"llamafile_command of model {model.title!r} is ignored: the config {config} lies in the "
                f"workspace {root}, and commands run only from your own config",
                types.MessageType.Warning,
            )
            return False
    return True


async def ensure_model_server(
    server: LlamafileLanguageServer, model: ModelConfig, provider: LlamafileProvider, progress: RequestProgress
) -> None:
    if not model.llamafile_command or not may_launch(server, model):
        return

    def status(message: str) -> None:
        progress.report(f"Starting llamafile… {message}", force=True)

    launched = await server.launcher.ensure_running(model, provider, status)
    if launched is not None:
        pid = launched.process.pid
        server.log(f"started {launched.command[0]} (pid {pid}) for {model.title!r}; log: {launched.log}")
