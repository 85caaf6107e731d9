"""Where the config comes from: the one place that reads config.json from disk."""

from __future__ import annotations

import os
from pathlib import Path

from llamafile_ls.config import Config, default_config, parse_config
from llamafile_ls.errors import ConfigError

ENV_VAR = "LLAMAFILE_LS_CONFIG"


def default_path() -> Path:
    return Path.home() / ".continue" / "config.json"


def resolve_path(cli_path: str | None = None, init_path: str | None = None) -> tuple[Path, bool]:
    """The config file to read and whether it was asked for explicitly.

    Precedence: ``--config`` > LSP ``initializationOptions.configPath`` > ``$LLAMAFILE_LS_CONFIG``
    > ``~/.continue/config.json``.
    """
    for explicit in (cli_path, init_path, os.environ.get(ENV_VAR)):
        if explicit:
            return Path(explicit).expanduser(), True
    return default_path(), False


def load_config(cli_path: str | None = None, init_path: str | None = None) -> Config:
    """Read and validate the config; no file at the default place → the built-in default.

    A file that was named explicitly but does not exist is an error, not a silent default.
    """
    path, explicit = resolve_path(cli_path, init_path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return default_config()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    return parse_config(text, str(path))
