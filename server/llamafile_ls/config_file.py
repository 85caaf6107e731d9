"""Where the config comes from: the one place that reads config.yaml or config.json from disk.

Everything that touches the file system for the config is here: which file, whether it is
a regular file of a sane size (a FIFO must not hang the server), how it is encoded, and
whether what it needs of this machine is there (the ``ca_bundle_path`` file, the package
for a SOCKS proxy). Every problem is a
:class:`ConfigError` of one line, located in the file where it can be.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import attrs

from llamafile_ls.config import MAX_CONFIG_BYTES, Config, default_config, parse_config
from llamafile_ls.errors import ConfigError

ENV_VAR = "LLAMAFILE_LS_CONFIG"
_MB = 2**20


def default_paths() -> tuple[Path, Path]:
    """Continue's two config files, in the order Continue picks them: config.yaml wins."""
    folder = Path.home() / ".continue"
    return folder / "config.yaml", folder / "config.json"


def default_path() -> Path:
    """``~/.continue/config.yaml`` if it is there, else ``~/.continue/config.json``."""
    yaml, json = default_paths()
    try:
        return yaml if yaml.exists() else json  # a dangling link is no config.yaml
    except (OSError, ValueError):
        return json


def why_this_file(cli_path: str | None = None) -> str:
    """Why the config file in force is the one read, for ``llamafile-ls check``."""
    if cli_path:
        return "given with --config"
    if os.environ.get(ENV_VAR):
        return f"given by ${ENV_VAR}"
    yaml, json = default_paths()
    path = default_path()
    if path == yaml:
        return "config.yaml wins over config.json there" if json.exists() else "Continue's config.yaml"
    return "Continue's config.json; there is no config.yaml beside it"


def is_yaml(source: str | None, text: str) -> bool:
    """Whether a config is YAML: by its extension, else by its first character (a JSON
    config starts with ``{`` or a comment, a YAML one with a key)."""
    suffix = Path(source).suffix.lower() if source else ""
    if suffix in (".yaml", ".yml"):
        return True
    if suffix in (".json", ".jsonc"):
        return False
    start = text.lstrip("\ufeff \t\r\n")
    return not start.startswith(("{", "//", "/*", "[")) and bool(start)


def parse_config_text(text: str, source: str | None) -> Config:
    """Validate a config's text as config.yaml or config.json, whichever it is."""
    if is_yaml(source, text):
        from llamafile_ls.config_yaml import parse_config_yaml  # its YAML parser loads only for YAML

        return parse_config_yaml(text, source)
    return parse_config(text, source)


def resolve_path(
    cli_path: str | None = None, init_path: str | None = None, root: str | os.PathLike[str] | None = None
) -> tuple[Path, bool]:
    """The config file to read and whether it was asked for explicitly.

    Precedence: ``--config`` > LSP ``initializationOptions.configPath`` > ``$LLAMAFILE_LS_CONFIG``
    > ``~/.continue/config.yaml`` > ``~/.continue/config.json``. A relative ``configPath`` is taken relative to the
    workspace ``root`` (a path or a ``file:`` URI); without one it is a :class:`ConfigError`,
    since the server's working directory means nothing to the user. The path returned is
    absolute.
    """
    if init_path and not cli_path:
        path = _expand(init_path)
        if not path.is_absolute():
            base = workspace_path(root)
            if base is None:
                raise ConfigError(
                    f"configPath must be an absolute path (got {init_path!r} and the editor gave no workspace "
                    "folder to resolve it against); set initializationOptions.configPath to a full path"
                )
            path = base / path
        return _absolute(path), True
    for explicit in (cli_path, os.environ.get(ENV_VAR)):
        if explicit:
            return _absolute(_expand(explicit)), True
    return default_path(), False


def _expand(path: str) -> Path:
    """``~`` and ``~user`` expanded; a user that does not exist is a config error, not a crash."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # "Could not determine home directory", an unknown ~user
        raise ConfigError(
            f"config path {path!r}: cannot expand {path.split('/', 1)[0]!r} (no such user or home)"
        ) from None


def workspace_path(root: str | os.PathLike[str] | None) -> Path | None:
    """A workspace root given as a path or a ``file:`` URI, as an absolute path."""
    if root is None or not str(root):
        return None
    text = os.fspath(root)
    if text.startswith("file:"):
        text = url2pathname(unquote(urlsplit(text).path))
    path = Path(text).expanduser()
    return path if path.is_absolute() else None


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def load_config(
    cli_path: str | None = None, init_path: str | None = None, root: str | os.PathLike[str] | None = None
) -> Config:
    """Read and validate the config; no file at the default place → the built-in default.

    A file that was named explicitly but does not exist is an error, not a silent default.
    """
    path, explicit = resolve_path(cli_path, init_path, root)
    text = read_config_text(path)
    if text is None:
        if explicit:
            raise ConfigError(f"config file {path} does not exist")
        return default_config()
    return check_local(parse_config_text(text, str(path)))


def read_config_text(path: Path) -> str | None:
    """The text of the config file; None if there is no file. Refuses, as a ConfigError, what
    is not a regular file, what is too big, and what is not UTF-8 (or UTF-16/32 with a BOM)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read config file {path}: {_reason(error)}") from None
    _check_regular(path, info, "config file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(_too_big(path, info.st_size))
    try:
        # O_NONBLOCK: should a FIFO take the file's place after the check, opening it won't hang.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {_reason(error)}") from None
    try:
        _check_regular(path, os.fstat(descriptor), "config file")
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            raw = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {_reason(error)}") from None
    finally:
        os.close(descriptor)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(_too_big(path, len(raw)))
    return decode_config(raw, str(path))


def decode_config(raw: bytes, source: str) -> str:
    """The text of a config file's bytes: UTF-8 (with or without a BOM), or UTF-16/32 with a
    BOM. Lines end in ``\\n`` however the file ends them, as an editor counts them."""
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            label = encoding.upper()
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as error:
                raise ConfigError(
                    f"the config file starts with a {label} byte order mark but is not {label} text "
                    f"(bad bytes at byte offset {error.start}); save it as UTF-8",
                    file=source,
                ) from None
            return _newlines(text)
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
        skipped = len(codecs.BOM_UTF8)
    else:
        skipped = 0
        if len(raw) >= 2 and b"\0" in raw[:4]:
            raise ConfigError(
                "the config file looks like UTF-16 or UTF-32 text without a byte order mark; save it as UTF-8",
                file=source,
            )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        line = raw.count(b"\n", 0, error.start) + 1
        column = len(raw[line_start : error.start].decode("utf-8", "replace")) + 1
        raise ConfigError(
            f"the config file is not UTF-8 text: byte 0x{raw[error.start]:02x} at byte offset "
            f"{error.start + skipped} cannot be decoded; save it as UTF-8",
            file=source,
            line=line,
            column=column,
        ) from None
    return _newlines(text)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _check_regular(path: Path | str, info: os.stat_result, what: str) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{what} {path} is a directory, not a file")
    kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "not a regular file"
    if stat.S_ISSOCK(info.st_mode):
        kind = "a socket"
    elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        kind = "a device"
    raise ConfigError(f"{what} {path} is {kind}; it must be a regular file")


def _too_big(path: Path, size: int) -> str:
    return (
        f"config file {path} is {size / _MB:.1f} MB; the most llamafile-ls reads is {MAX_CONFIG_BYTES // _MB} MB, "
        "and a config needs a few kilobytes"
    )


def _reason(error: BaseException) -> str:
    return (error.strerror if isinstance(error, OSError) else None) or str(error)


# --- what the config needs of this machine ---------------------------------------------


def check_local(config: Config) -> Config:
    """Check what the config needs of this machine, where it is written: every file it names
    (``ca_bundle_path``) is a readable regular file holding PEM certificates, and a SOCKS
    proxy has its package installed. ``~`` is expanded and a relative path is taken from the
    config file's folder; the config returned holds the resulting absolute paths."""
    if not config.local:
        return config
    base = Path(config.source).parent if config.source else Path.cwd()
    resolved: dict[str, str] = {}
    for setting in config.local:
        if setting.name == "ca_bundle_path":
            path = _absolute(base / Path(setting.value).expanduser())
            problem = _ca_bundle_problem(path)
            resolved[setting.value] = str(path)
        else:
            problem = _socks_problem()
        if problem:
            raise ConfigError(
                f"{setting.where}: {problem}", file=config.source, line=setting.line, column=setting.column
            )
    if not resolved:
        return config
    models = tuple(
        attrs.evolve(
            model,
            request_options=attrs.evolve(
                model.request_options,
                ca_bundle_path=resolved.get(model.request_options.ca_bundle_path, model.request_options.ca_bundle_path),
            ),
        )
        if model.request_options.ca_bundle_path
        else model
        for model in config.models
    )
    return attrs.evolve(config, models=models)


def _socks_problem() -> str | None:
    import importlib.util

    if importlib.util.find_spec("socksio") is None:
        return "a SOCKS proxy needs the socksio package, which is not installed: run pip install 'httpx[socks]'"
    return None


def _ca_bundle_problem(path: Path) -> str | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"{path} does not exist; it must be a file of PEM certificates"
    except (OSError, ValueError) as error:
        return f"cannot read {path}: {_reason(error)}"
    try:
        _check_regular(path, info, "the file")
    except ConfigError as error:
        return f"{error.reason.removeprefix('the file ')}"
    try:
        with open(path, "rb") as stream:
            stream.read(1)
    except OSError as error:
        return f"cannot read {path}: {_reason(error)}"
    import ssl  # only here: most configs name no CA bundle

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as error:
        reason = " ".join(str(getattr(error, "reason", None) or error).split())
        return f"{path} is not a bundle of PEM certificates ({reason})"
    return None
