"""The ``llamafile-ls`` command: the language server (default), ``edit`` and ``check``.

Imports are lazy so that an editor starting the server, or ``--help``, pays only for what
it uses.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from llamafile_ls import __version__

if TYPE_CHECKING:
    from llamafile_ls.config import Config


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config.json to read (default: $LLAMAFILE_LS_CONFIG, else ~/.continue/config.json)",
    )
    parser = argparse.ArgumentParser(
        prog="llamafile-ls",
        parents=[common],
        description="A language server for code edits by a local LLM served by a llamafile. "
        "Without a command it serves LSP on stdio.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--tcp", action="store_true", help="serve LSP over TCP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="TCP address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (default: 2087)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    edit = commands.add_parser(
        "edit",
        parents=[common],
        help="edit lines of a file with the model, without an editor",
        description="Ask the model to rewrite lines of FILE. Prints a unified diff, or writes "
        "the file with --write. On any failure the file is left untouched.",
    )
    edit.add_argument("file", metavar="FILE")
    edit.add_argument("--lines", required=True, metavar="A-B", help="1-based inclusive line range, e.g. 10-24")
    edit.add_argument("--instruction", "-i", required=True, metavar="TEXT", help="what to do with the code")
    edit.add_argument("--model", metavar="TITLE", help="the model's title in the config (default: the first)")
    edit.add_argument("--write", action="store_true", help="write the file instead of printing a diff")
    edit.add_argument(
        "--stop-server",
        action="store_true",
        help="stop a llamafile that llamafile_command started for this edit (default: leave it running)",
    )

    commands.add_parser(
        "check",
        parents=[common],
        help="validate the config and probe every model's server",
        description="Validate the config file and ask each model's server whether it is up.",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config_path: str | None = getattr(args, "config", None)
    # Everything said on stderr (and on stdout by `check`) passes the redactor. The diff that
    # `edit` prints on stdout is the user's own file, kept byte for byte.
    streams = (sys.stdout, sys.stderr)
    sys.stderr = RedactingStream(sys.stderr)
    if args.command == "check":
        sys.stdout = RedactingStream(sys.stdout)
    try:
        return _run(args, config_path)
    except KeyboardInterrupt:  # Ctrl-C at any moment, loading modules included
        if args.command is not None:
            fail("interrupted; nothing was changed")
        return 130
    except Exception as error:  # the last line of defence: one line, never a traceback
        return crashed(error)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(ValueError, OSError):  # the editor may have closed the pipe
                stream.flush()
        sys.stdout, sys.stderr = streams


def _run(args: argparse.Namespace, config_path: str | None) -> int:
    if args.command == "edit":
        from llamafile_ls.cli_edit import run_edit_command

        return run_edit_command(args, config_path)
    if args.command == "check":
        from llamafile_ls.cli_check import run_check_command

        return run_check_command(config_path)
    from llamafile_ls.server import serve

    return serve(config_path=config_path, tcp=args.tcp, host=args.host, port=args.port)


def crashed(error: BaseException) -> int:
    """An error nobody foresaw: one line for the user, the traceback (redacted) in a log."""
    import traceback

    from llamafile_ls.redaction import redact

    details = redact("".join(traceback.format_exception(error)))
    where = ""
    try:
        log = crash_log_path()
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} llamafile-ls {__version__}\n{details}\n")
        where = f"; details in {log}"
    except OSError:
        pass
    summary = " ".join(str(error).split())
    summary = summary if len(summary) <= 200 else summary[:197] + "..."
    return fail(f"unexpected internal error ({type(error).__name__}: {summary}){where}; please report it")


def crash_log_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "llamafile-ls" / "crash.log"


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets before they reach the real one, a line at a time
    (a secret is never split across writes of one line)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in text or "\r" in text:
            self.flush()
        return len(text)

    def flush(self) -> None:
        from llamafile_ls.redaction import redact

        if self._pending:
            pending, self._pending = self._pending, ""
            self._stream.write(redact(pending))
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")


def fail(message: str, stream: TextIO | None = None) -> int:
    """Report a failure as the one line the CLI promises; return the exit code."""
    print(f"llamafile-ls: error: {' '.join(message.split())}", file=stream or sys.stderr)
    return 1


def loaded(config: Config, stream: TextIO | None = None) -> None:
    """A config was loaded: remember its secrets before anything is said, then say its warnings."""
    from llamafile_ls.redaction import remember

    remember(config)
    for problem in config.warnings:
        where = ":".join(str(p) for p in (config.source, problem.line) if p is not None)
        print(f"llamafile-ls: warning: {where}: {problem.message}", file=stream or sys.stderr)
