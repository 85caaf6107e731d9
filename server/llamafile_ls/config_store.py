"""The config a running server uses: reloaded when the file changes, and never lost.

A broken file keeps the last good config in force and reports the problem once.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from llamafile_ls.config import Config, default_config, parse_config
from llamafile_ls.config_file import resolve_path
from llamafile_ls.errors import ConfigError


@attrs.frozen
class ConfigState:
    """What a refresh found: the config in force and the file's problem, if it has one."""

    config: Config
    error: ConfigError | None
    changed: bool  # the file differs from the last look (so diagnostics may need updating)


class ConfigStore:
    def __init__(self, cli_path: str | None = None) -> None:
        self._cli_path = cli_path
        self._init_path: str | None = None
        self.path, self.explicit = resolve_path(cli_path)
        self.from_client = False  # the path came from the client's initializationOptions
        self.config: Config = default_config()
        self.error: ConfigError | None = None
        self._stamp: tuple[int, int] | None = None  # (mtime_ns, size) of what was read

    def configure(self, init_path: str | None) -> ConfigState:
        """Set the path from LSP ``initializationOptions.configPath`` and load it."""
        self._init_path = init_path
        self.path, self.explicit = resolve_path(self._cli_path, init_path)
        self.from_client = bool(init_path) and not self._cli_path
        self._stamp = None
        return self.refresh(force=True)

    def refresh(self, *, force: bool = False) -> ConfigState:
        """Reload if the file changed since it was read; cheap (one stat) when it did not."""
        stamp = _stamp(self.path)
        if stamp == self._stamp and not force:
            return ConfigState(self.config, self.error, changed=False)
        self._stamp = stamp
        if stamp is None:
            if self.explicit:
                self.error = ConfigError(f"config file {self.path} does not exist")
            else:
                self.config, self.error = default_config(), None
            return ConfigState(self.config, self.error, changed=True)
        try:
            text = self.path.read_text(encoding="utf-8-sig")
            self.config, self.error = parse_config(text, str(self.path)), None
        except ConfigError as error:
            self.error = error  # the last good config stays in force
        except (OSError, UnicodeDecodeError) as error:
            self.error = ConfigError(f"cannot read config file {self.path}: {error}")
        return ConfigState(self.config, self.error, changed=True)

    def is_config_file(self, path: str | os.PathLike[str]) -> bool:
        try:
            return Path(path).resolve() == self.path.resolve()
        except OSError:
            return False


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
