"""Before a request: make sure the model's server runs, starting llamafile_command if the
user's own config says so (never a command from a workspace's config)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from llamafile_ls.config import ModelConfig
from llamafile_ls.config_file import ENV_VAR

if TYPE_CHECKING:
    from llamafile_ls.features.progress import RequestProgress
    from llamafile_ls.providers.base import Provider
    from llamafile_ls.server import LlamafileLanguageServer


def may_launch(server: LlamafileLanguageServer, model: ModelConfig) -> bool:
    """A command runs only from the user's own config: not from a file in an opened folder
    that the client named (a workspace could point its settings at a file of its own).

    When the client names no folder at all, where the file lies relative to the project is
    unknown: then only the user's own config locations may launch.
    """
    if not model.llamafile_command or not server.configs.from_client:
        return True
    from pygls.uris import to_fs_path

    config = server.configs.path.resolve()
    roots = [folder.uri for folder in server.workspace.folders.values()]
    if server.workspace.root_uri:
        roots.append(server.workspace.root_uri)
    paths = [Path(root).resolve() for root in (to_fs_path(uri) for uri in roots) if root]
    inside = next((root for root in paths if config.is_relative_to(root)), None)
    if inside is not None:
        reason = f"the config {config} lies in the workspace {inside}"
    elif not paths and not any(config.is_relative_to(own) for own in own_config_locations()):
        reason = (
            f"the editor named no workspace folder, so the config {config} may belong to a project; put it in "
            f"{own_config_locations()[0]} or name it in ${ENV_VAR} to let it start servers"
        )
    else:
        return True
    server.log(
        f"llamafile_command of model {model.title!r} is ignored: {reason}, and commands run only from your own config",
        types.MessageType.Warning,
    )
    return False


def own_config_locations() -> list[Path]:
    """Where a user's own configuration lives (never inside a project they open)."""
    import os

    home = Path.home()
    places = [home / ".continue", Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")]
    configured = os.environ.get(ENV_VAR)
    if configured:
        places.append(Path(configured).expanduser())
    return [place.resolve() for place in places]


async def ensure_model_server(
    server: LlamafileLanguageServer, model: ModelConfig, provider: Provider, progress: RequestProgress
) -> None:
    if not model.llamafile_command or not may_launch(server, model):
        return

    def status(message: str) -> None:
        progress.report(f"Starting llamafile… {message}", force=True)

    launched = await server.launcher.ensure_running(model, provider, status)
    if launched is not None:
        pid = launched.process.pid
        server.log(f"started {launched.command[0]} (pid {pid}) for {model.title!r}; log: {launched.log}")
