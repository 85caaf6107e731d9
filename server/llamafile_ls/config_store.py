"""The config a running server uses: reloaded when the file changes, and never lost.

A broken file keeps the last good config in force and reports the problem once.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from llamafile_ls.config import Config, default_config
from llamafile_ls.config_file import (
    check_local,
    default_path,
    default_paths,
    parse_config_text,
    read_config_text,
    resolve_path,
)
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
        self.from_client = False  # the path came from the client's initializationOptions
        self.config: Config = default_config()
        self.error: ConfigError | None = None
        self._path_error: ConfigError | None = None  # configPath cannot name a file
        try:
            self.path, self.explicit = resolve_path(cli_path)
        except ConfigError as error:  # the server must start all the same, and say so
            self.path, self.explicit = default_path(), True
            self._path_error = error
        self._stamp: tuple[int, int] | None = None  # (mtime_ns, size) of what was read

    def configure(self, init_path: str | None, root: str | os.PathLike[str] | None = None) -> ConfigState:
        """Set the path from LSP ``initializationOptions.configPath`` and load it.

        ``root`` is the workspace folder (a path or a ``file:`` URI) that a relative
        ``configPath`` is relative to. A relative one without a root is an error, and the
        built-in default model stays in force.
        """
        self.from_client = bool(init_path) and not self._cli_path
        self._stamp = None
        try:
            self.path, self.explicit = resolve_path(self._cli_path, init_path, root)
            self._path_error = None
        except ConfigError as error:
            self.path, self.explicit = default_path(), True  # a real path, for diagnostics
            self._path_error = error
            self.config = default_config()
        return self.refresh(force=True)

    def refresh(self, *, force: bool = False) -> ConfigState:
        """Reload if the file changed since it was read; cheap (one stat) when it did not."""
        if self._path_error is not None:
            self.error = self._path_error
            return ConfigState(self.config, self.error, changed=force)
        if not self.explicit:  # config.yaml appearing beside config.json takes over, as in Continue
            path = default_path()
            if path != self.path:
                self.path, self._stamp, force = path, None, True
        stamp = _stamp(self.path)
        if stamp == self._stamp and not force:
            return ConfigState(self.config, self.error, changed=False)
        self._stamp = stamp
        try:
            text = read_config_text(self.path) if stamp is not None else None
            if text is None:
                if self.explicit:
                    raise ConfigError(f"config file {self.path} does not exist")
                self.config, self.error = default_config(), None
            else:
                self.config, self.error = check_local(parse_config_text(text, str(self.path))), None
        except ConfigError as error:
            self.error = error  # the last good config stays in force
        return ConfigState(self.config, self.error, changed=True)

    def watched_paths(self) -> tuple[Path, ...]:
        """The files whose change may change the config: both of Continue's when none was
        named (a config.yaml created beside config.json takes over)."""
        return (self.path,) if self.explicit else default_paths()

    def is_config_file(self, path: str | os.PathLike[str]) -> bool:
        try:
            resolved = Path(path).resolve()
            return any(resolved == watched.resolve() for watched in self.watched_paths())
        except (OSError, ValueError):
            return False


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    return info.st_mtime_ns, info.st_size
