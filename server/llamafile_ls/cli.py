"""The ``llamafile-ls`` command: the language server (default), ``edit`` and ``check``.

Imports are lazy so that an editor starting the server, or ``--help``, pays only for what
it uses.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

from llamafile_ls import __version__
from llamafile_ls.cli_output import RedactingStream, crashed, fail

if TYPE_CHECKING:
    pass


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config.yaml or config.json to read (default: $LLAMAFILE_LS_CONFIG, else ~/.continue/config.yaml, "
        "else ~/.continue/config.json)",
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
